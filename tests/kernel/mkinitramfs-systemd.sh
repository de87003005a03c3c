#!/bin/bash
# Builds the busybox initramfs of the systemd test guest: it mounts the
# host's root read-only over virtio-9p under a tmpfs overlay and hands it
# to systemd (see systemd-guest-init). Output: $1, for kernel version $2.
set -euo pipefail
out=$1 kver=$2
here=$(dirname "$(readlink -f "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work"/{bin,dev,proc,sys,mnt/host,mnt/rw,newroot,lib/modules}
cp /bin/busybox "$work/bin/busybox"
for t in sh mount umount insmod mkdir poweroff cat echo sync cp rm switch_root; do
        ln -s busybox "$work/bin/$t"
done
# Only what it takes to reach the host's root: 9p over virtio-pci, overlay.
modprobe -S "$kver" --show-depends -a 9p 9pnet_virtio virtio_pci overlay |
        awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' > "$work/modules.order"
while read -r ko; do
        cp "$ko" "$work/lib/modules/"
done < "$work/modules.order"
sed -i 's|.*/||' "$work/modules.order"
install -m755 "$here/systemd-guest-init" "$work/init"
(cd "$work" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
