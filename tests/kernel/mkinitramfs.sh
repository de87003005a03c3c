#!/bin/bash
# Builds a busybox initramfs that mounts the host's root read-only over
# virtio-9p and runs a test script there (see guest-init). Output: $1.
set -euo pipefail
out=$1 kver=$2
here=$(dirname "$(readlink -f "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work"/{bin,dev,proc,sys,mnt/host,lib/modules}
cp /bin/busybox "$work/bin/busybox"
for t in sh mount umount insmod mkdir chroot poweroff cat echo mknod sync; do
        ln -s busybox "$work/bin/$t"
done
# Only what it takes to reach the host's root: 9p over virtio-pci.
modprobe -S "$kver" --show-depends -a 9p 9pnet_virtio virtio_pci |
        awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' > "$work/modules.order"
while read -r ko; do
        cp "$ko" "$work/lib/modules/"
done < "$work/modules.order"
sed -i 's|.*/||' "$work/modules.order"
install -m755 "$here/guest-init" "$work/init"
(cd "$work" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
