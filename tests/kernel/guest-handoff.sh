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

# Every kind of holder a desktop has (WirePlumber on the HDMI audio card's
# control node, a player on its PCM, fbdev users, a compositor's scan-out
# buffer mapped with its fd closed): snd_hda_intel's unbind would wait for
# them in D state, bochs-drm's would take the GPU from them. Refused, named
# with how they hold it, nothing moved, nothing stuck, the holder alive.
audio_ready
card=$(ls "/sys/bus/pci/devices/$GPU/drm" | grep '^card' | head -n 1)
fb=$(ls "/sys/bus/pci/devices/$GPU/graphics" | grep '^fb' | head -n 1)
snd=$(ls "/sys/bus/pci/devices/$AUDIO/sound" | grep '^card' | head -n 1); snd=${snd#card}
for holder in "fd /dev/snd/controlC$snd" "fd /dev/snd/pcmC${snd}D0p" "fd /dev/$fb" "mmap /dev/$fb" \
              "fd /dev/dri/$card" "dumb /dev/dri/$card"; do
        set -- $holder
        how=fd; [ "$1" = fd ] || how=mapping
        start_holder "$1" "$2" || { not_ok "a holder of $2 ($1)"; continue; }
        timeout 60 "$B/vfioctl" --direct --gpu "$GPU" to-vfio > /run/out 2>&1; rc=$?
        cat /run/out
        check "$2 held ($1): to-vfio refuses with exit 4" test $rc = 4
        check "$2 held ($1): the refusal names pid $HPID, how ($how) and the node" \
                grep -q "$HPID python3 (user root, $how) on $2" /run/out
        check "$2 held ($1): every function is still on its driver" \
                test "$(driver "$GPU") $(driver "$AUDIO")" = "bochs-drm snd_hda_intel"
        check "$2 held ($1): no write is stuck and the holder is alive" bash -c "$(declare -f no_stuck); no_stuck && kill -0 $HPID"
        release_holder
done

# fbcon on the GPU's framebuffer: a user inside the kernel, no pid to name.
python3 tests/kernel/hold-node.py con2fb 1 "${fb#fb}"
timeout 60 "$B/vfioctl" --direct --gpu "$GPU" to-vfio > /run/out 2>&1; rc=$?
python3 tests/kernel/hold-node.py con2fb 1 0
cat /run/out
check "console 1 on the GPU's /dev/$fb: to-vfio refuses with exit 4" test $rc = 4
check "the refusal names fbcon on /dev/$fb and how to move the console" \
        grep -q "fbcon (kernel) on /dev/$fb: console 1 is on it" /run/out
check "nothing moved under fbcon" test "$(driver "$GPU") $(driver "$AUDIO")" = "bochs-drm snd_hda_intel"

# The GPU's PCM open through a file that no process has in its fd table
# (sent over a socket, not received): snd_card_free() would wait for it.
# ALSA's /proc/asound says the stream is open: a holder inside the kernel.
pcm=/dev/snd/pcmC${snd}D0p
if start_holder inflight "$pcm"; then
        timeout 60 "$B/vfioctl" --direct --gpu "$GPU" to-vfio > /run/out 2>&1; rc=$?
        cat /run/out
        check "$pcm open in a socket only: to-vfio refuses with exit 4" test $rc = 4
        check "the refusal names the sound card, its open PCM and what to do" \
                grep -q "sound card $snd (kernel) on $pcm: $pcm is open, but by no process vfiod can see" /run/out
        check "$pcm in flight: every function still on its driver, nothing stuck" \
                bash -c "$(declare -f no_stuck); no_stuck && [ '$(driver "$GPU") $(driver "$AUDIO")' = 'bochs-drm snd_hda_intel' ]"
        release_holder
else
        not_ok "a holder of $pcm (inflight)"
fi

# The VM's QEMU holds /dev/vfio/N: to-host --drain refuses and signals nobody.
"$B/vfioctl" --direct --gpu "$GPU" to-vfio > /run/out 2>&1
check "to-vfio with nobody on the GPU" test "$(driver "$GPU") $(driver "$AUDIO")" = "vfio-pci vfio-pci"
start_holder fd "/dev/vfio/$GROUP" || not_ok "a holder of /dev/vfio/$GROUP"
timeout 60 "$B/vfioctl" --direct --gpu "$GPU" to-host --drain > /run/out 2>&1; rc=$?
cat /run/out
check "/dev/vfio/$GROUP held: to-host --drain refuses with exit 4" test $rc = 4
check "the refusal names the holder and says a VM's process is never signalled" \
        grep -q "$HPID python3 (user root, fd) on /dev/vfio/$GROUP.*never signals" /run/out
check "the holder of /dev/vfio/$GROUP is alive and both functions stay on vfio-pci" \
        bash -c "kill -0 $HPID && [ '$(driver "$GPU") $(driver "$AUDIO")' = 'vfio-pci vfio-pci' ]"
release_holder
"$B/vfioctl" --direct --gpu "$GPU" to-host > /run/out 2>&1
check "once it let go, the GPU comes back" test "$(driver "$GPU") $(driver "$AUDIO")" = "bochs-drm snd_hda_intel"

finish
