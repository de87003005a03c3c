# Sourced by the scripts that run inside the test guest (run-guest.sh):
# TAP-like checks, and the guest's two GPUs found from sysfs.
B=${VFIOD_BUILD:-build}
export VFIOD_RUNTIME_DIR=/run/vfiod VFIOD_MODPROBE_DIR=/run/modprobe.d
pass=0 fail=0
. tests/message-ids.sh
# The systemd guest's domain (systemd-guest-init writes it into vfiod.conf),
# its journal, and the waiter for events with deadlines.
DOMAIN=win
URI=qemu:///system
J=/run/log/journal
VW=$B/tests/vfiod-wait
ms() { echo $(( $(date +%s%N) / 1000000 )); }
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
driver() { local l; l=$(readlink "/sys/bus/pci/devices/$1/driver") && basename "$l" || echo none; }
finish() { echo "# guest: $pass passed, $fail failed"; [ $fail = 0 ]; }

# wait_for DEADLINE_S CMD...: for what has no event to wait on (a unit's
# state); CMD is tried every 0.2 s until it succeeds or the deadline passes.
wait_for() {
        local end=$((SECONDS + $1)); shift
        until "$@"; do
                [ $SECONDS -lt $end ] || return 1
                sleep 0.2
        done
}

# domain_xml NAME ADDRESS...: a libvirt domain that passes the functions
# through (<hostdev managed='no'>: vfiod moves them) and has nothing else a
# VM would have: TCG, 64 MiB, no disk, no network interface, no OS.
domain_xml() {
        local name=$1 a; shift
        echo "<domain type='qemu'>"
        echo "  <name>$name</name>"
        echo "  <memory unit='MiB'>64</memory>"
        echo "  <vcpu>1</vcpu>"
        echo "  <os><type arch='x86_64' machine='pc'>hvm</type></os>"
        echo "  <on_crash>destroy</on_crash>"
        echo "  <devices>"
        echo "    <emulator>/usr/bin/qemu-system-x86_64</emulator>"
        echo "    <controller type='usb' model='none'/>"
        echo "    <memballoon model='none'/>"
        for a in "$@"; do
                echo "    <hostdev mode='subsystem' type='pci' managed='no'><source>"
                echo "      <address domain='0x${a:0:4}' bus='0x${a:5:2}' slot='0x${a:8:2}' function='0x${a:11:1}'/>"
                echo "    </source></hostdev>"
        done
        echo "  </devices>"
        echo "</domain>"
}

# No udevd here: load the host drivers (and MODULES...) by hand, as udev
# would at boot; then GPU, AUDIO, GROUP (the discrete GPU behind the root
# port) and IGPU (the boot display).
guest_gpus() {
        local m
        # The codec driver first: the kernel's own request for it runs in the
        # initramfs's root, which has no modules. With it the audio function
        # gets ALSA nodes (control, PCM, hwdep), as every GPU's HDMI audio has.
        for m in bochs snd_hda_codec_generic snd_hda_intel "$@"; do
                modprobe "$m" || { echo "not ok - loading $m"; exit 1; }
        done
        GPU= IGPU=
        for d in /sys/bus/pci/devices/*; do
                [ "$(cat "$d/class")" = 0x030000 ] || continue
                if [ "$(cat "$d/boot_vga")" = 1 ]; then IGPU=${d##*/}; else GPU=${d##*/}; fi
        done
        AUDIO=${GPU%.0}.1
        GROUP=$(basename "$(readlink "/sys/bus/pci/devices/$GPU/iommu_group")")
        echo "# discrete GPU $GPU + $AUDIO in IOMMU group $GROUP; boot display $IGPU"
}

# The GPU's audio card's control node, once the codec probe (asynchronous) made it.
audio_ready() {
        local c
        c=$(ls "/sys/bus/pci/devices/$AUDIO/sound" 2>/dev/null | grep '^card' | head -n 1)
        [ -n "$c" ] && "$VW" path 30 "/dev/snd/controlC${c#card}" >/dev/null
}

# start_holder MODE NODE: a process that holds NODE (tests/kernel/hold-node.py:
# fd, mmap, dumb) until release_holder; HPID is its pid.
start_holder() {
        local word
        rm -f /run/holder.in /run/holder.out
        mkfifo /run/holder.in /run/holder.out
        python3 tests/kernel/hold-node.py "$@" < /run/holder.in > /run/holder.out &
        HPID=$!
        exec 7>/run/holder.in
        read -r word _ < /run/holder.out
        [ "$word" = ready ] || { echo "# the holder of $2 did not start"; return 1; }
}
release_holder() { exec 7>&-; wait "$HPID"; }
no_stuck() { ! ls /run/vfiod/*.stuck >/dev/null 2>&1; }
