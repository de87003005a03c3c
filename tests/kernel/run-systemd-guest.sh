#!/bin/bash
# The test guest of run-guest.sh (QEMU TCG, -nic none, intel-iommu, an iGPU
# on the root bus and a "discrete GPU" VGA + HDA behind a root port), booted
# with systemd as PID 1: the host's root over 9p (read-only) under a tmpfs
# overlay, onto which the project is installed as a user installs it
# (make install), with vfiod-test.target as the only target and
# vfiod-test-run.service running SCRIPT (a path relative to the checkout)
# once dbus, libvirtd and vfiod are up.
#   run-systemd-guest.sh BUILD SCRIPT [LOG]
# Exit status: the script's. Its lines are printed as they come.
# VFIOD_GUEST_TIMEOUT: the guest's deadline in seconds (default 600).
# VFIOD_GUEST_DEBUG=1: the kernel's and systemd's messages on the console.
# VFIOD_GUEST_OVERLAY=DIR: copied onto the guest's root after the install.
set -euo pipefail
build=$1 script=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/kernel
log=${3:-$top/$build/guest/$(basename "$script" .sh).log}
mkdir -p "$top/$build/guest"

kernel=${VFIOD_TEST_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)}
[ -r "$kernel" ] || { echo "run-systemd-guest: no readable kernel in /boot (apt-get install linux-image-amd64)"; exit 1; }
kver=${kernel#/boot/vmlinuz-}
[ -d "/lib/modules/$kver" ] || { echo "run-systemd-guest: no /lib/modules/$kver for $kernel"; exit 1; }
[ -x /lib/systemd/systemd ] || { echo "run-systemd-guest: no /lib/systemd/systemd (apt-get install systemd)"; exit 1; }
[ -e "$top/$script" ] || { echo "run-systemd-guest: no $script in $top"; exit 1; }

initrd=$top/$build/guest/initramfs-systemd-$kver.cpio.gz
if [ ! -e "$initrd" ] || [ "$here/systemd-guest-init" -nt "$initrd" ] || [ "$here/mkinitramfs-systemd.sh" -nt "$initrd" ]; then
        "$here/mkinitramfs-systemd.sh" "$initrd" "$kver"
fi

# ---- The tree the guest's init copies onto its overlay (/ of the guest) ----
# One per run: another run of this harness in the same checkout keeps its own.
# Its mode becomes that of the guest's /.
stage=$(mktemp -d "$top/$build/guest/root.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
# The project, installed as a user does. -o all: BUILD is built already;
# this harness compiles nothing.
if ! make -s -C "$top" -o all install BUILD="$build" DESTDIR="$stage" PREFIX=/usr > "$top/$build/guest/install.log" 2>&1; then
        echo "run-systemd-guest: make install failed:"
        sed 's/^/    /' "$top/$build/guest/install.log"
        exit 1
fi
# On a merged-/usr root, /lib, /bin and /sbin are links: what make install
# put there goes under /usr, or the copy would replace the links.
for d in lib lib64 bin sbin; do
        if [ -d "$stage/$d" ] && [ ! -L "$stage/$d" ] && [ -L "/$d" ]; then
                mkdir -p "$stage/usr/$d"
                cp -a "$stage/$d/." "$stage/usr/$d/"
                rm -rf "${stage:?}/$d"
        fi
done
units=$stage/etc/systemd/system
mkdir -p "$units" "$stage/usr/lib/vfiod-test"
# As the README's installation says: systemctl enable vfiod (its
# multi-user.target.wants/ link; the test target pulls it in anyway).
if [ -e "$stage/usr/lib/systemd/system/vfiod.service" ] &&
   ! systemctl --root="$stage" enable vfiod.service > "$top/$build/guest/enable.log" 2>&1; then
        echo "run-systemd-guest: systemctl --root enable vfiod.service failed:"
        sed 's/^/    /' "$top/$build/guest/enable.log"
        exit 1
fi
have_unit() { # NAME: installed by make install, or on the host's root
        local d
        for d in "$stage/usr/lib/systemd/system" "$stage/etc/systemd/system" /lib/systemd/system /etc/systemd/system; do
                [ -e "$d/$1" ] && return 0
        done
        return 1
}
# Until make install ships units/vfiod.service: a stand-in.
have_unit vfiod.service || install -m644 "$here/systemd-units/vfiod.service" "$units/"
# Until make install ships units/org.vfiod1.conf: vfiod must own its name.
if [ ! -e "$stage/usr/share/dbus-1/system.d/org.vfiod1.conf" ] && [ ! -e "$stage/etc/dbus-1/system.d/org.vfiod1.conf" ]; then
        install -Dm644 "$here/systemd-units/org.vfiod1.conf" "$stage/usr/share/dbus-1/system.d/org.vfiod1.conf"
fi
# libvirt-daemon-system (libvirtd's and virtlogd's units) may not be installed.
for u in libvirtd.service virtlogd.socket virtlogd.service; do
        have_unit "$u" || install -m644 "$here/systemd-units/$u" "$units/"
done
install -m644 "$here/systemd-units/vfiod-test.target" "$here/systemd-units/vfiod-test-run.service" "$units/"
install -m755 "$here/systemd-guest-run" "$stage/usr/lib/vfiod-test/run"

# Masked: what would hang, reach for a network, or only cost boot time in a
# test VM: every unit this host enabled (its *.wants/), gettys, networking,
# timers, sysinit's extras. The journal stays in /run/log/journal (no flush to
# /var). Kept: what the test is about.
masks=(getty.target console-getty.service serial-getty@ttyS0.service getty@tty1.service
       systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service
       NetworkManager.service NetworkManager-wait-online.service networking.service
       systemd-timesyncd.service systemd-resolved.service remote-fs.target
       systemd-pstore.service systemd-firstboot.service systemd-repart.service
       systemd-binfmt.service proc-sys-fs-binfmt_misc.automount
       apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer
       e2scrub_reap.service fstrim.timer man-db.timer logrotate.timer
       systemd-journal-flush.service systemd-sysusers.service systemd-remount-fs.service
       systemd-update-utmp.service dev-hugepages.mount sys-kernel-debug.mount
       sys-kernel-tracing.mount sys-fs-fuse-connections.mount sys-kernel-config.mount)
for w in /etc/systemd/system/*.wants/* /etc/systemd/system/*.requires/*; do
        [ -e "$w" ] || [ -L "$w" ] || continue
        case ${w##*/} in
        dbus*|libvirt*|virtlog*|virtlock*|vfiod*|windows-vm*|systemd-journald*|systemd-udevd*|polkit*) ;;
        *) masks+=("${w##*/}") ;;
        esac
done
for u in "${masks[@]}"; do
        [ -e "$units/$u" ] || ln -s /dev/null "$units/$u"
done

# libvirt's configuration: root's QEMU, nothing of the host's (no networks
# or domains to autostart), no security driver. QEMU's own log via virtlogd.
mkdir -p "$stage/etc/libvirt"
[ -e /etc/libvirt/libvirt.conf ] && cp /etc/libvirt/libvirt.conf "$stage/etc/libvirt/"
cat > "$stage/etc/libvirt/qemu.conf" <<'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "logd"
EOF
cat > "$stage/etc/libvirt/libvirtd.conf" <<'EOF'
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
EOF
# The QEMU driver resolves its compiled-in user (Debian: libvirt-qemu)
# before it reads qemu.conf; libvirt-daemon-system would create it.
if ! getent passwd libvirt-qemu > /dev/null || ! getent group libvirt-qemu > /dev/null; then
        cp /etc/passwd /etc/group "$stage/etc/"
        getent passwd libvirt-qemu > /dev/null ||
                echo 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin' >> "$stage/etc/passwd"
        getent group libvirt-qemu > /dev/null || echo 'libvirt-qemu:x:64055:' >> "$stage/etc/group"
fi

# VFIOD_GUEST_OVERLAY=DIR: a tree copied over all of this (drop-ins, a
# changed unit) to try a fix without touching the checkout's install.
if [ -n "${VFIOD_GUEST_OVERLAY:-}" ]; then
        cp -a "$VFIOD_GUEST_OVERLAY/." "$stage/"
fi

# ---- The guest ----
# nokaslr: a hung guest's vCPU addresses are System.map's (guest-cpus.py).
# No kvm modules: TCG's "max" CPU has SVM, so the guest loaded kvm_amd, and
# libvirtd's first QEMU (its capability probe, accel=kvm:tcg, run by the
# first virsh call) ran a nested KVM guest on emulated SVM. That fits the
# rare hang of the whole guest at the first virsh call (both vCPUs busy,
# nothing printed, `timeout 180 virsh define` never returning). Taking svm
# out of -cpu instead broke the guest's static binaries.
append="console=ttyS0 intel_iommu=on panic=-1 nokaslr modprobe.blacklist=kvm,kvm_amd,kvm_intel"
append+=" systemd.unit=vfiod-test.target systemd.firstboot=0"
if [ "${VFIOD_GUEST_DEBUG:-0}" = 1 ]; then
        append+=" loglevel=6 systemd.show_status=yes"
else
        append+=" quiet loglevel=3 systemd.show_status=error"
fi
# The guest gets at most this long; a hang fails the test instead of CI.
deadline=${VFIOD_GUEST_TIMEOUT:-600}
append+=" vfiod.stage=$stage vfiod.dir=$top vfiod.build=$build vfiod.script=$script vfiod.deadline=$deadline"

# Shortly before the deadline, where the vCPUs are (a watchdog timer, not a
# wait for anything): a guest whose own watchdog (systemd-guest-run) said
# nothing by then is stuck in its kernel or below.
qmp=$top/$build/guest/qmp-$$.sock
rm -f "$qmp"
# Its sleep is killed with it: it holds our stdout, which a reader waits on.
( trap 'kill $timer 2> /dev/null; exit 0' TERM
  sleep $((deadline > 60 ? deadline - 25 : deadline / 2)) &
  timer=$!
  wait $timer
  [ -S "$qmp" ] && python3 "$here/guest-cpus.py" "$qmp" "/boot/System.map-$kver" | sed -u 's/^# /run-systemd-guest: /' ) &
sampler=$!
start=$SECONDS
set +e
timeout --foreground -k 5 "$deadline" qemu-system-x86_64 \
        -machine q35 -accel tcg -cpu max -smp 2 -m 2048 \
        -nographic -no-reboot -nic none -serial mon:stdio -monitor none \
        -qmp "unix:$qmp,server=on,wait=off" \
        -device intel-iommu,caching-mode=on \
        -device VGA,bus=pcie.0,addr=0x10 \
        -device pcie-root-port,id=rp1,bus=pcie.0,addr=0x1c,chassis=1,port=1 \
        -device VGA,bus=rp1,addr=0x0.0,multifunction=on \
        -audiodev none,id=snd0 \
        -device ich9-intel-hda,id=hda1,bus=rp1,addr=0x0.1 \
        -device hda-duplex,bus=hda1.0,audiodev=snd0 \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -kernel "$kernel" -initrd "$initrd" -append "$append" \
        </dev/null 2>&1 | sed -u 's/\r//g' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
kill "$sampler" 2> /dev/null
wait "$sampler" 2> /dev/null
rm -f "$qmp"
set -e
echo "# run-systemd-guest: guest wall time $((SECONDS - start)) s"

rc=$(sed -n 's/^GUEST-EXIT \([0-9]*\).*/\1/p' "$log" | tail -n 1)
if [ -z "$rc" ]; then
        echo "run-systemd-guest: the guest did not finish (qemu exit $qemu_rc, log $log)"
        exit 1
fi
exit "$rc"
