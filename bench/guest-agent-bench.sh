#!/bin/bash
# Runs inside the test guest (tests/kernel/run-guest.sh): the agent's
# figures on a real kernel (bench/agent-bench.py).
set -u
B=${VFIOD_BUILD:-build}
modprobe bochs && modprobe snd_hda_intel && modprobe vfio_iommu_type1 || exit 1
GPU=
for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/class")" = 0x030000 ] && [ "$(cat "$d/boot_vga")" = 0 ] && GPU=${d##*/}
done
GROUP=$(basename "$(readlink "/sys/bus/pci/devices/$GPU/iommu_group")")
python3 bench/agent-bench.py "$B" "$GPU" "${GPU%.0}.1" "$GROUP" 60 5
