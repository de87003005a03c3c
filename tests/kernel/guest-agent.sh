#!/bin/bash
# Runs inside the test guest (tests/kernel/run-guest.sh): the whole agent on
# a real kernel. The "discrete GPU" (bochs VGA + Intel HDA) is lent to a
# nested QEMU that holds /dev/vfio/N; vfiod keeps it there while QEMU runs,
# and when QEMU is killed with SIGKILL vfiod gives every function back to
# bochs-drm and snd_hda_intel with no command typed.
set -u
. tests/kernel/lib.sh
export VFIOD_LOG_TARGET=console
# Waits for a line matching PATTERN in FILE (tail -f follows it with inotify).
wait_line() { timeout "$3" tail -n +1 -f "$2" | grep -q -m 1 -- "$1"; }
guest_gpus vfio_iommu_type1

"$B/vfioctl" --direct to-vfio > /run/out 2>&1; rc=$?
check "vfioctl to-vfio lends both functions to vfio-pci" \
        test $rc = 0 -a "$(driver "$GPU") $(driver "$AUDIO")" = "vfio-pci vfio-pci" -a -c "/dev/vfio/$GROUP" ||
        cat /run/out

# The VM: a nested QEMU (TCG, no network, no OS: it only has to run) with
# both functions assigned. -daemonize returns once its devices are set up.
qemu-system-x86_64 -machine q35 -accel tcg -m 64 -nodefaults -no-user-config -nic none \
        -display none -serial none -monitor none \
        -device "vfio-pci,host=$GPU" -device "vfio-pci,host=$AUDIO" \
        -daemonize -pidfile /run/nested.pid > /run/qemu.log 2>&1
qemu=$(cat /run/nested.pid 2>/dev/null)
check "a nested QEMU runs with the GPU assigned" test -n "$qemu" -a -d "/proc/${qemu:-0}" || cat /run/qemu.log
held=no
for fd in /proc/"${qemu:-0}"/fd/*; do [ "$(readlink "$fd")" = "/dev/vfio/$GROUP" ] && held=yes; done
check "the nested QEMU holds /dev/vfio/$GROUP" test $held = yes

mkdir -p /run/vfiod
printf '[GPU]\nAddress=%s\n[Handoff]\nOrphanGraceSec=1s\n' "$GPU" > /run/vfiod/vfiod.conf
: > /run/vfiod.log
t0=$(ms)
"$B/vfiod" --config /run/vfiod/vfiod.conf >> /run/vfiod.log 2>&1 &
vfiod=$!
check "vfiod sees the VM's QEMU on /dev/vfio/$GROUP and leaves the GPU to it" \
        wait_line "in use by $qemu " /run/vfiod.log 60
echo "# vfiod start-up to its first status: $(( $(ms) - t0 )) ms"
check "the GPU is still on vfio-pci while the VM runs" \
        test "$(driver "$GPU") $(driver "$AUDIO")" = "vfio-pci vfio-pci"

# The crash.
t0=$(ms)
kill -KILL "$qemu"
check "after SIGKILL of QEMU, vfiod gives the GPU back by itself" wait_line "Recovered: $GPU" /run/vfiod.log 60
echo "# QEMU killed to GPU back on its host drivers: $(( $(ms) - t0 )) ms (OrphanGraceSec=1s included)"
check "both functions are back on bochs-drm and snd_hda_intel" \
        test "$(driver "$GPU") $(driver "$AUDIO")" = "bochs-drm snd_hda_intel"
check "/dev/vfio/$GROUP is gone" test ! -e "/dev/vfio/$GROUP"
check "vfiod reports the host owning it" wait_line "Status: $GPU on the host (bochs-drm)" /run/vfiod.log 10

kill -TERM "$vfiod"
wait "$vfiod"; rc=$?
check "vfiod stops on SIGTERM (exit 0) and leaves the GPU where it is" \
        test $rc = 0 -a "$(driver "$GPU")" = bochs-drm
sed 's/^/# vfiod: /' /run/vfiod.log

# The audio function without a driver (users blacklist the GPU's
# snd_hda_intel; a function not probed yet at boot looks the same) and a
# process rendering on the GPU: vfiod started with no VM must leave it all
# alone, and a round trip must bring the audio function back to no driver.
echo "$AUDIO" > /sys/bus/pci/drivers/snd_hda_intel/unbind
rmmod snd_hda_intel
# The guest's root is read-only: the blacklist goes on a tmpfs over modprobe.d.
mount -t tmpfs tmpfs /etc/modprobe.d
echo "install snd_hda_intel /bin/false" > /etc/modprobe.d/vfiod-test-blacklist.conf
check "the audio function has no driver, snd_hda_intel cannot load" \
        bash -c "[ '$(driver "$AUDIO")' = none ] && ! modprobe snd_hda_intel 2>/dev/null"
card=$(ls "/sys/bus/pci/devices/$GPU/drm" | grep '^card' | head -n 1)
if start_holder fd "/dev/dri/$card"; then
        : > /run/vfiod.log
        "$B/vfiod" --config /run/vfiod/vfiod.conf >> /run/vfiod.log 2>&1 &
        vfiod=$!
        check "vfiod with a driverless audio function and no VM: the GPU is the host's" \
                wait_line "Status: $GPU on the host (bochs-drm)" /run/vfiod.log 60
        check "nothing moved: bochs-drm and no driver, the renderer alive" \
                bash -c "[ '$(driver "$GPU") $(driver "$AUDIO")' = 'bochs-drm none' ] && kill -0 $HPID"
        check "vfiod wrote no driver change" bash -c "! grep -q -- ' -> ' /run/vfiod.log"
        kill -TERM "$vfiod"
        wait "$vfiod"
        release_holder
else
        not_ok "a holder of /dev/dri/$card"
fi
"$B/vfioctl" --direct to-vfio > /run/out 2>&1; rc=$?
check "to-vfio with the audio function driverless: exit 0, both on vfio-pci ($rc)" \
        test $rc = 0 -a "$(driver "$GPU") $(driver "$AUDIO")" = "vfio-pci vfio-pci" || cat /run/out
"$B/vfioctl" --direct to-host > /run/out 2>&1; rc=$?
check "to-host: exit 0, the GPU on bochs-drm, the audio function on no driver again ($rc)" \
        test $rc = 0 -a "$(driver "$GPU") $(driver "$AUDIO")" = "bochs-drm none" || cat /run/out
check "no override and no record left" \
        bash -c "[ \"\$(cat /sys/bus/pci/devices/$AUDIO/driver_override)\" = '(null)' ] && ! ls /run/vfiod/*.state 2>/dev/null"
umount /etc/modprobe.d

finish
