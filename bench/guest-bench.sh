#!/bin/bash
# Runs inside the test guest: one to-vfio + to-host cycle of the discrete
# GPU (2 functions), timed three ways on the same device in one boot:
#   bare    the sysfs writes alone (bench/bare-handoff.c)
#   vfioctl vfioctl to-vfio + vfioctl to-host (two processes, all checks)
#   virsh   virsh nodedev-detach + nodedev-reattach (libvirtd), if present
set -u
B=${VFIOD_BUILD:-build}
N=${VFIOD_BENCH_CYCLES:-20}
export VFIOD_RUNTIME_DIR=/run/vfiod VFIOD_MODPROBE_DIR=/run/modprobe.d
# The codec driver before snd_hda_intel (tests/kernel/lib.sh says why).
modprobe bochs; modprobe snd_hda_codec_generic; modprobe snd_hda_intel; modprobe vfio-pci
for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/class")" = 0x030000 ] && [ "$(cat "$d/boot_vga")" = 0 ] && GPU=${d##*/}
done
AUDIO=${GPU%.0}.1
now() { date +%s%N; }
drivers() { echo "$(basename "$(readlink /sys/bus/pci/devices/$GPU/driver)") $(basename "$(readlink /sys/bus/pci/devices/$AUDIO/driver)")"; }

# Warm up each path once (page cache over 9p), then measure.
"$B/bench/bare-handoff" 1 "$GPU=bochs-drm" "$AUDIO=snd_hda_intel" > /dev/null
bare=$("$B/bench/bare-handoff" "$N" "$GPU=bochs-drm" "$AUDIO=snd_hda_intel")
echo "BENCH bare_us=$bare drivers=$(drivers)"
# The same writes as two commands, as vfioctl is run: to-vfio, then to-host.
t0=$(now)
for _ in $(seq 1 "$N"); do
        "$B/bench/bare-handoff" to-vfio "$GPU=bochs-drm" "$AUDIO=snd_hda_intel"
        "$B/bench/bare-handoff" to-host "$GPU=bochs-drm" "$AUDIO=snd_hda_intel"
done
t1=$(now)
echo "BENCH bare_cmd_us=$(( (t1 - t0) / 1000 / N )) drivers=$(drivers)"

"$B/vfioctl" --direct to-vfio > /dev/null && "$B/vfioctl" --direct to-host > /dev/null
t0=$(now)
for _ in $(seq 1 "$N"); do
        "$B/vfioctl" --direct to-vfio > /dev/null || echo "BENCH-ERROR vfioctl to-vfio"
        "$B/vfioctl" --direct to-host > /dev/null || echo "BENCH-ERROR vfioctl to-host"
done
t1=$(now)
echo "BENCH vfioctl_us=$(( (t1 - t0) / 1000 / N )) drivers=$(drivers)"

# The engine alone, without the two process start-ups: one process, N cycles.
"$B/bench/engine-cycles" --parts "$N" "$GPU" | sed "s/^/BENCH-PART /"
if [ -x "$B/bench/engine-cycles" ]; then
        echo "BENCH engine_us=$("$B/bench/engine-cycles" "$N" "$GPU") drivers=$(drivers)"
fi

if command -v libvirtd > /dev/null && command -v virsh > /dev/null; then
        # The root is read-only over 9p: libvirtd's own state goes to tmpfs.
        for d in /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
                [ -d "$d" ] && mount -t tmpfs tmpfs "$d"
        done
        # and its config directory must be writable (it creates secrets/ and more)
        mkdir -p /run/etc-libvirt && cp -a /etc/libvirt/. /run/etc-libvirt/ && mount --bind /run/etc-libvirt /etc/libvirt
        # libvirtd's QEMU driver looks its default user up before reading
        # qemu.conf: give it one (libvirt-daemon-system would), run QEMU as root.
        for f in passwd group; do cp "/etc/$f" "/run/$f" && mount --bind "/run/$f" "/etc/$f"; done
        echo 'libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin' >> /etc/passwd
        echo 'libvirt-qemu:x:64055:' >> /etc/group
        printf 'user = "root"\ngroup = "root"\n' >> /etc/libvirt/qemu.conf
        libvirtd -d --pid-file=/run/libvirtd.pid > /run/libvirtd.log 2>&1
        for _ in $(seq 1 200); do [ -S /var/run/libvirt/libvirt-sock ] && break; sleep 0.1; done
        v() { virsh -q -c qemu:///system "$@" > /dev/null; }
        n0=pci_${GPU//[:.]/_} n1=pci_${AUDIO//[:.]/_}
        if v nodedev-detach "$n1" && v nodedev-detach "$n0" && v nodedev-reattach "$n0" && v nodedev-reattach "$n1"; then
                t0=$(now)
                for _ in $(seq 1 "$N"); do
                        v nodedev-detach "$n1"; v nodedev-detach "$n0"; v nodedev-reattach "$n0"; v nodedev-reattach "$n1"
                done
                t1=$(now)
                echo "BENCH virsh_us=$(( (t1 - t0) / 1000 / N )) drivers=$(drivers)"
        else
                echo "BENCH virsh_us=unavailable ($(tail -n 3 /run/libvirtd.log | tr '\n' ' '))"
        fi
else
        echo "BENCH virsh_us=unavailable (libvirt not installed)"
fi
