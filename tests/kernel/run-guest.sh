#!/bin/bash
# Boots the Debian kernel under QEMU (TCG: KVM does not work here) with a
# virtual IOMMU, an "iGPU" (QEMU's default VGA on the root bus: boot_vga=1)
# and a "discrete GPU" (VGA + HDA at functions 0 and 1 of one slot behind a
# PCIe root port: one IOMMU group), then runs SCRIPT inside, in a chroot of
# this machine's root mounted read-only over virtio-9p. No network: -nic none.
#   run-guest.sh BUILD SCRIPT [LOG]
# Exit status: the script's. Its lines are printed as they come.
set -euo pipefail
build=$1 script=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
log=${3:-$top/$build/guest/$(basename "$script" .sh).log}
mkdir -p "$top/$build/guest"

kernel=${VFIOD_TEST_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)}
[ -r "$kernel" ] || { echo "run-guest: no readable kernel in /boot (apt-get install linux-image-amd64)"; exit 1; }
kver=${kernel#/boot/vmlinuz-}
[ -d "/lib/modules/$kver" ] || { echo "run-guest: no /lib/modules/$kver for $kernel"; exit 1; }

initrd=$top/$build/guest/initramfs-$kver.cpio.gz
if [ ! -e "$initrd" ] || [ "$top/tests/kernel/guest-init" -nt "$initrd" ]; then
        "$top/tests/kernel/mkinitramfs.sh" "$initrd" "$kver"
fi

# The guest gets at most this long; a hang fails the test instead of CI.
deadline=${VFIOD_GUEST_TIMEOUT:-600}
set +e
timeout --foreground -k 5 "$deadline" qemu-system-x86_64 \
        -machine q35 -accel tcg -cpu max -smp 1 -m 1024 \
        -nographic -no-reboot -nic none -serial mon:stdio -monitor none \
        -device intel-iommu,caching-mode=on \
        -device VGA,bus=pcie.0,addr=0x10 \
        -device pcie-root-port,id=rp1,bus=pcie.0,addr=0x1c,chassis=1,port=1 \
        -device VGA,bus=rp1,addr=0x0.0,multifunction=on \
        -audiodev none,id=snd0 \
        -device ich9-intel-hda,id=hda1,bus=rp1,addr=0x0.1 \
        -device hda-duplex,bus=hda1.0,audiodev=snd0 \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet loglevel=3 intel_iommu=on panic=-1 modprobe.blacklist=kvm,kvm_amd,kvm_intel vfiod.dir=$top vfiod.build=$build vfiod.script=$script" \
        </dev/null 2>&1 | tr -d '\r' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e

rc=$(sed -n 's/^GUEST-EXIT \([0-9]*\).*/\1/p' "$log" | tail -n 1)
if [ -z "$rc" ]; then
        echo "run-guest: the guest did not finish (qemu exit $qemu_rc, log $log)"
        exit 1
fi
exit "$rc"
