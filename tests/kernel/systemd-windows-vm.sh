#!/bin/bash
# Runs inside the systemd test guest (tests/kernel/run-systemd-guest.sh):
# the units as a user has them after make install. A libvirt domain "win"
# (TCG, no disk, no network interface at all) gets both functions of the
# discrete GPU as <hostdev managed='no'>. Then, in order:
# - `systemctl start windows-vm.target` (vfioctl run-vm: Vm.Start through
#   vfiod) moves them to vfio-pci and runs it; vfio-status and systemctl
#   status show the VM owning the GPU;
# - QEMU killed with SIGKILL gives them back to bochs-drm/snd_hda_intel,
#   leaves windows-vm.service failed, and vfiod's journal tells it in order;
# - started again, `systemctl stop windows-vm.target` asks for an ACPI
#   shutdown, which a guest with no OS ignores: destroyed after
#   ShutdownTimeoutSec= (3s here), the GPU back, the service inactive;
# - `vfioctl install-hooks` and a libvirtd restart, then `virsh start win`
#   (as virt-manager does) gets the GPU through the hook, and `virsh
#   destroy win` gives it back;
# - `vfioctl doctor` on that set-up fails nothing.
# Waits are events (uevents, journal entries: build/tests/vfiod-wait, the
# end of a systemctl job), each with a deadline.
set -u
. tests/kernel/lib.sh

ME=_SYSTEMD_UNIT=vfiod.service
out=/run/vfiod-test.out

check_show() { # WHAT CMD...: check; on failure show CMD's output
        local what=$1; shift
        if "$@" > "$out" 2>&1; then ok "$what"; else not_ok "$what"; sed 's/^/#   /' "$out"; return 1; fi
}
# jwait TIMEOUT --after CURSOR MATCH...: the entry's cursor in $cursor.
cursor=
jwait() {
        local t=$1; shift
        cursor=$("$VW" journal "$J" "$t" "$@" 2> "$out") && sed 's/^/#   /' "$out"
}
jcheck() { # WHAT TIMEOUT MATCH...
        local what=$1; shift
        if jwait "$@"; then ok "$what"; else not_ok "$what"; sed 's/^/#   /' "$out"; fi
}
# What libvirtd and QEMU are doing: for a libvirt call that did not return.
libvirt_diag() {
        local p t
        for p in $(pgrep -x libvirtd) $(pgrep -f qemu-system); do
                echo "#   pid $p $(tr '\0' ' ' < /proc/$p/cmdline 2> /dev/null | cut -c1-160)"
                for t in /proc/$p/task/*; do
                        echo "#     task ${t##*/} $(cat $t/comm 2> /dev/null) state $(cut -d' ' -f3 $t/stat 2> /dev/null) wchan $(cat $t/wchan 2> /dev/null)"
                done
        done
        journalctl -b --no-pager -o short-monotonic -u libvirtd | tail -n 20 | sed 's/^/#   libvirtd: /'
}
# virshq TIMEOUT ARGS...: virsh against $URI, which must answer in time.
virshq() {
        local t=$1; shift
        timeout "$t" virsh -q -c $URI "$@" && return 0
        local rc=$?
        [ $rc = 124 ] && { echo "#   virsh $* did not return in ${t}s"; libvirt_diag; }
        return $rc
}
bail() {
        echo "Bail out! $*"
        journalctl -b --no-pager -o short-monotonic -u vfiod -u windows-vm.service -u libvirtd | tail -n 60 | sed 's/^/#   /'
        tail -n 20 "/var/log/libvirt/qemu/$DOMAIN.log" 2> /dev/null | sed 's/^/#   qemu: /'
        finish
        exit 1
}

[ -x "$VW" ] || { echo "not ok - $VW is missing (make all tests)"; exit 1; }
GPU=$VFIOD_TEST_GPU
AUDIO=${GPU%.0}.1
GROUP=$(basename "$(readlink "/sys/bus/pci/devices/$GPU/iommu_group")")
echo "# discrete GPU $GPU + $AUDIO in IOMMU group $GROUP"

state=$(timeout 300 systemctl is-system-running --wait 2>&1)
echo "# boot finished after $(cut -d' ' -f1 /proc/uptime)s of uptime: $state"
check "the boot reached vfiod-test.target with no unit failed ($state)" test "$state" = running
[ "$state" = running ] || systemctl --failed --no-legend --no-pager | sed 's/^/#   /'
ON_HOST=("$GPU=bochs-drm" "$AUDIO=snd_hda_intel" "-/dev/vfio/$GROUP")
ON_VFIO=("$GPU=vfio-pci" "$AUDIO=vfio-pci" "+/dev/vfio/$GROUP")
check_show "the GPU is on bochs-drm + snd_hda_intel (udev at boot)" "$VW" sysfs 60 "${ON_HOST[@]}"
check "vfiod is active" systemctl is-active --quiet vfiod
# run-systemd-guest.sh keeps KVM out of the guest: libvirtd's probe must use TCG.
check "no /dev/kvm in the guest (a nested KVM on emulated SVM froze it)" test ! -e /dev/kvm
# libvirt_mapped: vfiod has libvirt's client library loaded.
libvirt_mapped() { grep -q 'libvirt\.so' "/proc/$(systemctl show -p MainPID --value vfiod)/maps"; }
check "the GPU on the host, win shut off: vfiod has not loaded libvirt" eval '! libvirt_mapped'
for u in windows-vm.target windows-vm.service; do
        check "$u is installed" test -n "$(systemctl show -p FragmentPath --value $u)"
done

# The domain: both functions of the GPU, nothing else a VM would have.
domain_xml $DOMAIN "$GPU" "$AUDIO" > /run/$DOMAIN.xml
if grep -q '<interface' /run/$DOMAIN.xml; then bail "the domain must have no network"; fi
check_show "domain $DOMAIN defined (TCG, 64 MiB, no disk, no network, both functions as hostdev)" \
        virshq 180 define /run/$DOMAIN.xml || bail "cannot define $DOMAIN"

# Through vfiod, what a desktop holds: WirePlumber keeps every card's
# control node open; a compositor's scan-out buffer is a mapping whose fd
# may be closed. windows-start refuses (exit 4) and names the holder and how
# it holds, vfio-status lists it the same way, and nothing moves.
snd=$(ls "/sys/bus/pci/devices/$AUDIO/sound" 2> /dev/null | grep '^card' | head -n 1); snd=${snd#card}
card=$(ls "/sys/bus/pci/devices/$GPU/drm" | grep '^card' | head -n 1)
check "the GPU's audio function has its ALSA control node" "$VW" path 30 "/dev/snd/controlC${snd:-X}"
if start_holder fd "/dev/snd/controlC$snd"; then
        timeout 120 windows-start > "$out" 2>&1; rc=$?
        check "windows-start with /dev/snd/controlC$snd held: exit 4, the holder named with its fd" \
                eval '[ $rc = 4 ] && grep -q "$HPID python3 (user root, fd) on /dev/snd/controlC$snd" "$out"'
        [ $rc = 4 ] || sed 's/^/#   /' "$out"
        check_show "nothing moved" "$VW" sysfs 5 "${ON_HOST[@]}"
        vfio-status > "$out" 2>&1
        check "vfio-status names the holder, its fd and the node" \
                grep -q "^Holders: *$HPID python3 (user root, fd) on /dev/snd/controlC$snd" "$out"
        release_holder
else
        not_ok "a holder of /dev/snd/controlC$snd"
fi
if start_holder dumb "/dev/dri/$card"; then
        timeout 120 vfioctl to-vfio > "$out" 2>&1; rc=$?
        check "vfioctl to-vfio with a DRM buffer of /dev/dri/$card mapped, its fd closed: exit 4, 'mapping'" \
                eval '[ $rc = 4 ] && grep -q "$HPID python3 (user root, mapping) on /dev/dri/$card" "$out"'
        [ $rc = 4 ] || sed 's/^/#   /' "$out"
        vfio-status --json > "$out" 2>&1
        check "vfio-status --json: the holder with \"how\":\"mapping\"" \
                grep -q "{\"pid\":$HPID,\"user\":\"root\",\"command\":\"python3\",\"node\":\"/dev/dri/$card\",\"how\":\"mapping\",\"fix\":null}" "$out"
        release_holder
        check_show "nothing moved" "$VW" sysfs 5 "${ON_HOST[@]}"
else
        not_ok "a holder of /dev/dri/$card"
fi

# [Desktop] HideGpuAudio= through the installed 71-vfiod-audio.rules and the
# real udevd: a change event of the GPU's card gives it ACP_IGNORE=1 and
# PULSE_IGNORE=1 (what WirePlumber and PulseAudio skip a card for) only
# while the switch is on. trigger --settle returns once udevd handled it.
props() { udevadm info -q property "/sys/class/sound/card$snd" | grep -E '^(ACP|PULSE)_IGNORE=' | sort | tr '\n' ' '; }
check "the GPU's card$snd: no ACP_IGNORE/PULSE_IGNORE by default ($(props))" test -z "$(props)"
cp /etc/vfiod/vfiod.conf /run/vfiod.conf.saved
printf '[Desktop]\nHideGpuAudio=yes\n' >> /etc/vfiod/vfiod.conf
timeout 60 udevadm trigger --settle --action=change "/sys/class/sound/card$snd"
check "HideGpuAudio=yes, a change event: the GPU's card$snd has ACP_IGNORE=1 PULSE_IGNORE=1 ($(props))" \
        test "$(props)" = "ACP_IGNORE=1 PULSE_IGNORE=1 "
cp /run/vfiod.conf.saved /etc/vfiod/vfiod.conf
timeout 60 udevadm trigger --settle --action=change "/sys/class/sound/card$snd"
check "the switch off again, a change event: the properties are gone ($(props))" test -z "$(props)"
# A bad line, as a user might write it: udevd keeps the program's stderr
# for its debug log, so vfioctl tells the journal which line, and the card
# gets nothing.
mark=$("$VW" cursor "$J")
printf '[Desktop]\nHideGpuAudio=hdmi\n' >> /etc/vfiod/vfiod.conf
timeout 60 udevadm trigger --settle --action=change "/sys/class/sound/card$snd"
jcheck "HideGpuAudio=hdmi, a change event: the journal names the line" 30 --after "$mark" \
        SYSLOG_IDENTIFIER=vfioctl "MESSAGE~HideGpuAudio=hdmi is not a boolean"
check "HideGpuAudio=hdmi: the card gets no properties ($(props))" test -z "$(props)"
cp /run/vfiod.conf.saved /etc/vfiod/vfiod.conf

# Start: the target pulls windows-vm.service (Type=notify: READY=1 once the
# domain runs); systemctl returns when the job is done.
mark=$("$VW" cursor "$J")
t0=$(ms)
check_show "systemctl start windows-vm.target" timeout 240 systemctl start windows-vm.target
echo "# systemctl start windows-vm.target took $(( $(ms) - t0 )) ms"
# Active right after the job: run-vm must not take the domain for stopped
# before vfiod has seen it start.
states=$(systemctl is-active windows-vm.service windows-vm.target | tr '\n' ' ')
check "windows-vm.service and windows-vm.target are active ($states)" test "$states" = "active active "
[ "$states" = "active active " ] ||
        journalctl -b --no-pager -o short-monotonic -u windows-vm.service -u vfiod | tail -n 30 | sed 's/^/#   /'
check_show "both functions on vfio-pci, /dev/vfio/$GROUP exists" "$VW" sysfs 30 "${ON_VFIO[@]}" ||
        bail "the GPU is not on vfio-pci"
check "virsh domstate $DOMAIN: running" test "$(virshq 60 domstate $DOMAIN 2>&1)" = running
# qemu_holds STEP: sets $q to the domain's QEMU; checks it holds /dev/vfio/N.
qemu_holds() {
        local held=no fd
        q=$(cat /run/libvirt/qemu/$DOMAIN.pid 2> /dev/null)
        for fd in /proc/"${q:-0}"/fd/*; do [ "$(readlink "$fd")" = "/dev/vfio/$GROUP" ] && held=yes; done
        check "$1: the domain's QEMU (pid ${q:-none}) holds /dev/vfio/$GROUP" test $held = yes
        [ -n "$q" ] || bail "no QEMU"
}
qemu_holds "windows-vm.target"
vfio-status > "$out" 2>&1
check "vfio-status: the VM owns the GPU, both functions on vfio-pci, QEMU on /dev/vfio/$GROUP" \
        eval 'grep -q "^Owner: *$DOMAIN (VM)" "$out" && grep -q "^VM: *$DOMAIN (running)" "$out" &&
              grep -q "$GPU .*vfio-pci" "$out" && grep -q "$AUDIO .*vfio-pci" "$out" &&
              grep -q "$q qemu-system-x86 (user root, fd) on /dev/vfio/$GROUP" "$out"'
sed 's/^/# vfio-status: /' "$out"
systemctl status --no-pager windows-vm.target > "$out" 2>&1
check "systemctl status windows-vm.target: active" grep -q "Active: active" "$out"
grep -q "Active: active" "$out" || sed 's/^/#   /' "$out"
jcheck "journal: vfiod connected to libvirt for the start" 30 --after "$mark" $ME MESSAGE_ID=$ID_LIBVIRT \
        "MESSAGE~Connected to libvirt at"
jcheck "journal: handoff started, to-vfio, for $DOMAIN" 30 --after "$mark" $ME MESSAGE_ID=$ID_STARTED \
        VFIOD_GPU=$GPU VFIOD_DIRECTION=to-vfio
jcheck "journal: then handoff done, to-vfio" 30 --after "$cursor" $ME MESSAGE_ID=$ID_DONE \
        VFIOD_GPU=$GPU VFIOD_DIRECTION=to-vfio
jcheck "journal: then domain $DOMAIN started" 30 --after "$cursor" $ME MESSAGE_ID=$ID_DOMAIN \
        VFIOD_DOMAIN=$DOMAIN "MESSAGE~started"

# The crash.
mark=$("$VW" cursor "$J")
t0=$(ms)
kill -KILL "$q"
check_show "QEMU killed (SIGKILL): both functions back on bochs-drm + snd_hda_intel, /dev/vfio/$GROUP gone" \
        "$VW" sysfs 60 "${ON_HOST[@]}"
echo "# kill -9 QEMU to host drivers bound: $(( $(ms) - t0 )) ms"
check "windows-vm.service failed (run-vm: the VM did not shut down by itself)" \
        wait_for 60 systemctl is-failed --quiet windows-vm.service
check "windows-vm.target went down with it (BindsTo=)" \
        wait_for 30 eval '[ "$(systemctl is-active windows-vm.target)" = inactive ]'
check "virsh domstate $DOMAIN: shut off" test "$(virshq 60 domstate $DOMAIN 2>&1)" = "shut off"
jcheck "journal: domain $DOMAIN stopped" 30 --after "$mark" $ME MESSAGE_ID=$ID_DOMAIN VFIOD_DOMAIN=$DOMAIN \
        "MESSAGE~stopped"
jcheck "journal: then handoff started, to-host" 30 --after "$cursor" $ME MESSAGE_ID=$ID_STARTED \
        VFIOD_GPU=$GPU VFIOD_DIRECTION=to-host
jcheck "journal: then the recovery entry (to-host, done)" 30 --after "$cursor" $ME MESSAGE_ID=$ID_RECOVERY \
        VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN VFIOD_DIRECTION=to-host VFIOD_OUTCOME=done
status() { systemctl show -p StatusText --value vfiod; }
check "vfiod's StatusText: the GPU is on the host ($(status))" \
        wait_for 10 eval '[[ "$(status)" == *"$GPU on the host (bochs-drm)"* ]]'
journalctl -b --no-pager -o cat -u windows-vm.service | tail -n 5 | sed 's/^/# windows-vm.service: /'

# ---- A graceful stop: systemctl stop windows-vm.target ----
check_show "systemctl start windows-vm.target again" timeout 240 systemctl start windows-vm.target
check_show "both functions on vfio-pci again" "$VW" sysfs 30 "${ON_VFIO[@]}" || bail "the GPU is not on vfio-pci"
qemu_holds "started again"
mark=$("$VW" cursor "$J")
t0=$(ms)
# The target's own stop job ends first (it is ordered After= the service,
# so it stops before it); the service's stop (ExecStop=vfioctl stop: the
# shutdown, then the give-back) goes on, and is what the user waits for.
check_show "systemctl stop windows-vm.target" timeout 120 systemctl stop windows-vm.target
check "windows-vm.service stops (ExecStop=vfioctl stop)" \
        wait_for 60 eval '[ "$(systemctl is-active windows-vm.service)" = inactive ]'
echo "# systemctl stop windows-vm.target until windows-vm.service is inactive: $(( $(ms) - t0 )) ms (ShutdownTimeoutSec=3s: a guest with no OS ignores ACPI)"
check_show "after the stop: both functions back on bochs-drm + snd_hda_intel" "$VW" sysfs 30 "${ON_HOST[@]}"
states=$(systemctl is-active windows-vm.service windows-vm.target | tr '\n' ' ')
check "windows-vm.service and the target are inactive, not failed ($states)" test "$states" = "inactive inactive "
journalctl -b --no-pager -o cat -u windows-vm.service | tail -n 4 | sed 's/^/# windows-vm.service: /'
check "virsh domstate $DOMAIN: shut off" test "$(virshq 60 domstate $DOMAIN 2>&1)" = "shut off"
jcheck "journal: the ACPI shutdown asked for" 30 --after "$mark" $ME MESSAGE_ID=$ID_DOMAIN VFIOD_DOMAIN=$DOMAIN \
        VFIOD_STEP=shutdown VFIOD_OUTCOME=done
jcheck "journal: then no shutdown in time, destroyed" 30 --after "$cursor" $ME MESSAGE_ID=$ID_DOMAIN \
        VFIOD_DOMAIN=$DOMAIN VFIOD_STEP=destroy "MESSAGE~did not shut down in time"
jcheck "journal: then the GPU given back (handoff done, to-host)" 30 --after "$cursor" $ME MESSAGE_ID=$ID_DONE \
        VFIOD_GPU=$GPU VFIOD_DIRECTION=to-host VFIOD_OUTCOME=done
jcheck "journal: then vfiod closed its libvirt connection" 30 --after "$cursor" $ME MESSAGE_ID=$ID_LIBVIRT \
        "MESSAGE~Closed the connection to libvirt"

# ---- virsh start through the installed libvirt hook ----
vfioctl install-hooks > "$out" 2>&1
check "vfioctl install-hooks installs /etc/libvirt/hooks/qemu.d/vfiod" \
        eval 'grep -q "^Installed /etc/libvirt/hooks/qemu.d/vfiod" "$out" && [ -x /etc/libvirt/hooks/qemu.d/vfiod ]'
sed 's/^/# install-hooks: /' "$out"
mark=$("$VW" cursor "$J")
check_show "systemctl restart libvirtd (it reads its hooks when it starts)" timeout 120 systemctl restart libvirtd
# vfiod holds no connection while the GPU is the host's: nothing to lose.
n_libvirt=$("$VW" count "$J" --after "$mark" $ME MESSAGE_ID=$ID_LIBVIRT 2> "$out")
check "journal: libvirtd's restart is nothing to vfiod: no libvirt entry (${n_libvirt:-?})" test "${n_libvirt:-?}" = 0
mark=$("$VW" cursor "$J")
t0=$(ms)
check_show "virsh start $DOMAIN (as virt-manager does)" virshq 180 start $DOMAIN
echo "# virsh start took $(( $(ms) - t0 )) ms"
check_show "through the hook: both functions on vfio-pci" "$VW" sysfs 30 "${ON_VFIO[@]}" || bail "the hook did not hand the GPU over"
qemu_holds "virsh start"
jcheck "journal: handoff started, to-vfio" 30 --after "$mark" $ME MESSAGE_ID=$ID_STARTED VFIOD_GPU=$GPU \
        VFIOD_DIRECTION=to-vfio
jcheck "journal: then handoff done, to-vfio" 30 --after "$cursor" $ME MESSAGE_ID=$ID_DONE VFIOD_GPU=$GPU \
        VFIOD_DIRECTION=to-vfio VFIOD_OUTCOME=done
jcheck "journal: then domain $DOMAIN started" 30 --after "$cursor" $ME MESSAGE_ID=$ID_DOMAIN VFIOD_DOMAIN=$DOMAIN \
        "MESSAGE~started"
mark=$("$VW" cursor "$J")
check_show "virsh destroy $DOMAIN" virshq 60 destroy $DOMAIN
check_show "after virsh destroy: both functions back on bochs-drm + snd_hda_intel" "$VW" sysfs 60 "${ON_HOST[@]}"
jcheck "journal: domain $DOMAIN stopped (destroyed)" 30 --after "$mark" $ME MESSAGE_ID=$ID_DOMAIN \
        VFIOD_DOMAIN=$DOMAIN "MESSAGE~destroyed"
# Whoever comes first gives it back: vfiod on the stop event (a recovery
# entry) or the release hook's ToHost (handoff done); the other is told so.
jcheck "journal: then the GPU given back (to-host, done)" 30 --after "$cursor" $ME VFIOD_GPU=$GPU \
        VFIOD_DIRECTION=to-host VFIOD_OUTCOME=done

# ---- vfioctl doctor against this guest: a set-up that is right ----
vfioctl doctor > "$out" 2>&1
rc=$?
sed 's/^/# doctor: /' "$out"
check "vfioctl doctor: no FAIL here (exit $rc)" test $rc = 0
vfioctl doctor --json > /run/doctor.json 2>&1
check_show "vfioctl doctor --json: IOMMU, the display on the iGPU, a clean group, vfio-pci, libvirt, the domain's hostdevs, the hook and vfiod.service pass" \
        python3 - /run/doctor.json << 'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))
c = {x["name"]: x["result"] for x in d["checks"]}
must = ["iommu-cmdline", "iommu-firmware", "iommu-groups", "boot-display", "gpu-users", "iommu-group", "vfio-pci",
        "static-binding", "libvirt", "domain", "hostdevs", "hook", "service"]
bad = [f"{n}={c.get(n)}" for n in must if c.get(n) != "pass"]
assert not bad and d["failed"] == 0, (bad, d["failed"])
EOF2

finish
