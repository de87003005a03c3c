#!/bin/bash
# Runs inside the test guest (tests/kernel/run-guest.sh), on a real kernel
# with a virtual IOMMU: the freshly built vfioctl moves the "discrete GPU"
# (bochs VGA + Intel HDA in one slot) to vfio-pci and back, 20 times, and
# a process holding the card's DRM node blocks the move.
set -u
. tests/kernel/lib.sh
guest_gpus
check "the guest has a boot display and a discrete GPU in an IOMMU group" test -n "$GPU" -a -n "$IGPU" -a -n "$GROUP"
check "the GPU starts on bochs-drm and snd_hda_intel" \
        test "$(driver "$GPU") $(driver "$AUDIO")" = "bochs-drm snd_hda_intel"

"$B/vfioctl" --direct status > /run/status.txt 2>&1
cat /run/status.txt
check "vfioctl status finds the discrete GPU by itself and shows both functions with drivers" \
        grep -q "^GPU: *$GPU" /run/status.txt
check "status lists the audio function on snd_hda_intel" grep -q "$AUDIO .*snd_hda_intel" /run/status.txt

# 20 cycles: every function to vfio-pci and back, /dev/vfio/N with it.
cycles_ok=0
for i in $(seq 1 20); do
        "$B/vfioctl" --direct to-vfio > /run/out 2>&1; rc=$?
        on_vfio="$(driver "$GPU") $(driver "$AUDIO")"
        node=no; [ -c "/dev/vfio/$GROUP" ] && node=yes
        "$B/vfioctl" --direct to-host >> /run/out 2>&1; rc2=$?
        on_host="$(driver "$GPU") $(driver "$AUDIO")"
        gone=yes; [ -e "/dev/vfio/$GROUP" ] && gone=no
        if [ $rc = 0 ] && [ $rc2 = 0 ] && [ "$on_vfio" = "vfio-pci vfio-pci" ] && [ $node = yes ] &&
           [ "$on_host" = "bochs-drm snd_hda_intel" ] && [ $gone = yes ]; then
                cycles_ok=$((cycles_ok + 1))
        else
                echo "# cycle $i: to-vfio rc=$rc ($on_vfio, /dev/vfio/$GROUP: $node), to-host rc=$rc2 ($on_host, node gone: $gone)"
                cat /run/out
        fi
done
check "20 cycles in a row: both functions on vfio-pci with /dev/vfio/$GROUP, then back on bochs-drm and snd_hda_intel ($cycles_ok/20)" \
        test $cycles_ok = 20

# A holder: a process with the card's DRM node open blocks the move.
card=$(ls "/sys/bus/pci/devices/$GPU/drm" | grep '^card' | head -n 1)
mkfifo /run/release /run/ready
( exec 3<"/dev/dri/$card"; echo ready > /run/ready; read -r _ < /run/release ) &
holder=$!
read -r _ < /run/ready   # the holder has the node open
"$B/vfioctl" --direct --gpu "$GPU" to-vfio > /run/out 2>&1; rc=$?
cat /run/out
check "a process holding /dev/dri/$card makes to-vfio refuse with exit 4" test $rc = 4
check "the refusal names the holder's pid and node" grep -q "$holder .*/dev/dri/$card" /run/out
check "nothing moved while it was held" test "$(driver "$GPU") $(driver "$AUDIO")" = "bochs-drm snd_hda_intel"
echo go > /run/release
wait $holder
"$B/vfioctl" --direct --gpu "$GPU" to-vfio > /run/out 2>&1; rc=$?
check "once the holder is gone, to-vfio succeeds" test $rc = 0 -a "$(driver "$GPU")" = vfio-pci
"$B/vfioctl" --direct --gpu "$GPU" to-host > /run/out 2>&1
check "and the GPU comes back" test "$(driver "$GPU") $(driver "$AUDIO")" = "bochs-drm snd_hda_intel"

finish
