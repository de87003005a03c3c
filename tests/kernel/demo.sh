#!/bin/bash
# make demo, the guest's side (tests/kernel/run-demo.sh boots it): the
# user's own commands against the project as make install put it, in a
# guest with systemd as PID 1, dbus, libvirtd and vfiod running as units,
# a "discrete GPU" (VGA + HDA behind a root port) on bochs-drm and
# snd_hda_intel, and a libvirt domain "win" that passes both through (TCG,
# no disk, no network: it only has to run). Every line for the person
# watching starts with "DEMO "; each step checks its outcome and the demo
# stops with the reason when one is not what it shows.
set -u
. tests/kernel/lib.sh

GPU=$VFIOD_TEST_GPU
AUDIO=${GPU%.0}.1
GROUP=$(basename "$(readlink "/sys/bus/pci/devices/$GPU/iommu_group")")
ON_HOST=("$GPU=bochs-drm" "$AUDIO=snd_hda_intel" "-/dev/vfio/$GROUP")
ON_VFIO=("$GPU=vfio-pci" "$AUDIO=vfio-pci" "+/dev/vfio/$GROUP")
out=/run/vfiod-demo.out

say() { echo "DEMO $*"; }
show() { sed 's/^/DEMO     /' "$@"; }
step_start=0 step=0
caption() { # TEXT: a new step
        step=$((step + 1))
        say ""
        say "== $step. $*"
        step_start=$(ms)
}
took() { say "   ($(( $(ms) - step_start )) ms)"; }
die() {
        say ""
        say "The demo stopped: $*"
        journalctl -b --no-pager -o short-monotonic -u vfiod -u libvirtd | tail -n 30 | show
        exit 1
}
# run CMD...: shows "$ CMD", its output, and fails the demo if it fails.
run() {
        say "   \$ $*"
        "$@" > "$out" 2>&1
        local rc=$?
        show "$out"
        [ $rc = 0 ] || die "'$*' exited with $rc"
}

[ -x "$VW" ] || die "$VW is missing (make all tests)"
systemctl is-system-running --wait > /dev/null 2>&1
say "The guest is up after $(cut -d' ' -f1 /proc/uptime) s (systemd, dbus, libvirtd and vfiod as units)."
say "Its discrete GPU: $GPU (VGA) and $AUDIO (HDMI audio), IOMMU group $GROUP."
"$VW" sysfs 60 "${ON_HOST[@]}" > /dev/null 2>&1 || die "the GPU is not on its host drivers after the boot"

# The domain a user would have made in virt-manager, minus the OS.
domain_xml $DOMAIN "$GPU" "$AUDIO" > /run/$DOMAIN.xml
timeout 180 virsh -q -c $URI define /run/$DOMAIN.xml > /dev/null 2>&1 || die "virsh define $DOMAIN failed"
mark=$("$VW" cursor "$J")

caption "Before: Linux has the GPU"
run vfio-status
took

caption "windows-start: every function to vfio-pci, then the VM"
run windows-start
"$VW" sysfs 30 "${ON_VFIO[@]}" > /dev/null 2>&1 || die "the GPU is not on vfio-pci"
took

caption "While the VM runs"
run vfio-status
run vm-health
took

caption "A crash: the VM's QEMU killed with SIGKILL, nobody types anything"
q=$(cat /run/libvirt/qemu/$DOMAIN.pid 2> /dev/null)
[ -n "$q" ] || die "no QEMU runs for $DOMAIN"
say "   \$ kill -9 $q    # qemu-system-x86_64 of $DOMAIN"
kill -KILL "$q"
"$VW" sysfs 60 "${ON_HOST[@]}" > /dev/null 2>&1 || die "the GPU did not come back"
say "   both functions are back on bochs-drm and snd_hda_intel"
took

caption "After: Linux has the GPU again"
run vfio-status
took

caption "journalctl -u vfiod: what happened, and why"
journalctl --sync 2> /dev/null
say "   \$ journalctl -u vfiod --since <windows-start>"
# --cursor, not --after-cursor: with a match, journalctl 252 skips the first entry after the cursor.
journalctl -D "$J" --no-pager -o short-monotonic --cursor="$mark" _SYSTEMD_UNIT=vfiod.service | show
# Every line readable: journalctl shows a message with bytes that are not
# text as "[NB blob data]" (once the status after a give-back: a driver
# name read after it was freed).
blobs=$(journalctl -D "$J" --no-pager -o json _SYSTEMD_UNIT=vfiod.service | grep -c '"MESSAGE":\[')
[ "$blobs" = 0 ] || die "$blobs of vfiod's journal messages are not text"
say "   the recovery's entry, field by field (journalctl -u vfiod -o verbose MESSAGE_ID=$ID_RECOVERY):"
"$VW" journal "$J" 10 --after "$mark" _SYSTEMD_UNIT=vfiod.service MESSAGE_ID=$ID_RECOVERY \
        > /dev/null 2> "$out" || { show "$out"; die "no recovery entry in vfiod's journal"; }
sed -n 's/^vfiod-wait: journal: //p' "$out" | tr ';' '\n' | sed -n 's/^ *\(MESSAGE=.*\|VFIOD_[A-Z_]*=.*\)$/\1/p' | show
took
say ""
say "The end: the GPU went to the VM and came back by itself, with no reboot."
