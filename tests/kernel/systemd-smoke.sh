#!/bin/bash
# Runs inside the systemd test guest (tests/kernel/run-systemd-guest.sh):
# systemd is PID 1, dbus, libvirtd and vfiod (installed by make install)
# come up as units, vfiod finds the discrete GPU on its host driver, logs
# its start to the journal and libvirt answers on qemu:///system.
set -u
. tests/kernel/lib.sh

out=/run/vfiod-smoke.out
# check_show WHAT CMD...: check, and on failure show $out (CMD's output).
check_show() {
        local what=$1; shift
        if "$@" > "$out" 2>&1; then ok "$what"; else not_ok "$what"; sed 's/^/#   /' "$out"; fi
}

exe=$(readlink /proc/1/exe)
check "systemd is PID 1 ($exe)" test "${exe##*/}" = systemd

# The end of the boot transaction: an event, not a poll.
state=$(timeout 300 systemctl is-system-running --wait 2>&1)
echo "# boot finished after $(cut -d' ' -f1 /proc/uptime)s of uptime: $state"
check "the boot reached vfiod-test.target with no unit failed (is-system-running: $state)" test "$state" = running
[ "$state" = running ] || systemctl --failed --no-legend --no-pager | sed 's/^/#   /'
systemd-analyze time 2>/dev/null | sed 's/^/# /'

states=$(systemctl is-active dbus libvirtd vfiod | tr '\n' ' ')
check "dbus, libvirtd and vfiod are active ($states)" test "$states" = "active active active "

GPU=$VFIOD_TEST_GPU
AUDIO=${GPU%.0}.1
# udevd loaded the host drivers at boot (nobody typed modprobe).
udevadm settle -t 60
check "udev bound the discrete GPU to bochs-drm and its audio to snd_hda_intel" \
        test "$(driver "$GPU") $(driver "$AUDIO")" = "bochs-drm snd_hda_intel"

status() { systemctl show -p StatusText --value vfiod; }
check "vfiod's StatusText says the GPU is on the host ($(status))" \
        wait_for 30 eval '[[ "$(status)" == *"$GPU on the host (bochs-drm)"* ]]'

check_show "busctl --system status answers" busctl --system --no-pager status
busstatus() { busctl --system get-property org.vfiod1 /org/vfiod1 org.vfiod1.Manager Status; }
check_show "vfiod owns org.vfiod1 on the system bus: Manager.Status says the GPU is on the host" \
        eval 'busstatus && [[ "$(busstatus)" == *"$GPU on the host (bochs-drm)"* ]]'

started() { journalctl -u vfiod -o json --no-pager "MESSAGE_ID=$ID_AGENT" | grep -q "\"VFIOD_GPU\":\"$GPU\""; }
check "the journal has vfiod's start entry (MESSAGE_ID=$ID_AGENT, VFIOD_GPU=$GPU)" started
started || journalctl -u vfiod --no-pager -o verbose | tail -n 40 | sed 's/^/#   /'

check_show "virsh -c qemu:///system list --all answers" virsh -c qemu:///system list --all

finish
