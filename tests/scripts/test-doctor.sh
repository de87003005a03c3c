#!/bin/bash
# vfioctl doctor against good and broken workstations: the files under
# --root (kernel command line, ACPI tables, IOMMU groups, modprobe.d,
# dracut, the hook, /lib/modules) made in a temporary directory, the PCI
# tree from fakegpu's umockdev testbed, libvirt from its test driver.
#   test-doctor.sh BUILD
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: test-doctor.sh BUILD}
case $build in /*) ;; *) build=$top/$build ;; esac
vfioctl=$build/vfioctl fakegpu=$build/tests/fakegpu
for f in "$vfioctl" "$fakegpu"; do
        [ -x "$f" ] || { echo "not ok - $f is not built (make all tests)"; exit 1; }
done
# An ASan build (build-asan) under umockdev's preload: as run-tests.sh sets it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:verify_asan_link_order=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

work=$(mktemp -d /tmp/vfiod-doctor.XXXXXX)
trap 'rm -rf "$work"' EXIT
kver=$(uname -r)
failures=0

# The domain win11 as libvirt's test driver serves it: both GPU functions, managed='no'.
hostdev() { # FUNCTION MANAGED
        echo "    <hostdev mode='subsystem' type='pci' managed='$2'>"
        echo "      <source><address domain='0x0000' bus='0x01' slot='0x00' function='$1'/></source>"
        echo "    </hostdev>"
}
domain_xml() { # HOSTDEV-LINES...
        echo "<domain type='test'><name>win11</name><memory>1048576</memory><os><type>hvm</type></os><devices>"
        printf '%s\n' "$@"
        echo "</devices></domain>"
}
domain_xml "$(hostdev 0x0 no)" "$(hostdev 0x1 no)" > "$work/good.xml"
domain_xml "$(hostdev 0x0 yes)" "$(hostdev 0x1 yes)" > "$work/managed.xml"
domain_xml "$(hostdev 0x0 no)" > "$work/no-audio.xml"
{ echo "<node>"; cat "$work/good.xml"; echo "</node>"; } > "$work/node.xml"

# A workstation set up right (Fedora-like: no /etc/debian_version).
make_root() { # DIR
        local r=$1
        mkdir -p "$r"/{proc,sys/firmware/acpi/tables,sys/kernel/iommu_groups/{0,1,13},etc/default,etc/modprobe.d} \
                 "$r"/{usr/lib/modprobe.d,etc/dracut.conf.d,etc/libvirt/hooks/qemu.d,lib/modules/$kver,etc/vfiod}
        echo "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro rhgb quiet intel_iommu=on iommu=pt" > "$r/proc/cmdline"
        printf 'processor\t: 0\nvendor_id\t: GenuineIntel\n' > "$r/proc/cpuinfo"
        : > "$r/sys/firmware/acpi/tables/DMAR"
        echo 'GRUB_CMDLINE_LINUX="rhgb quiet intel_iommu=on iommu=pt"' > "$r/etc/default/grub"
        echo "kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/vfio.ko.xz" > "$r/lib/modules/$kver/modules.dep"
        : > "$r/lib/modules/$kver/modules.builtin"
        echo "blacklist nouveau" > "$r/usr/lib/modprobe.d/nvidia.conf"  # the nvidia package's: fine
        printf '#!/bin/sh\nexec vfioctl hook "$@"\n' > "$r/etc/libvirt/hooks/qemu.d/vfiod"
        chmod 755 "$r/etc/libvirt/hooks/qemu.d/vfiod"
        printf '[GPU]\nAddress=0000:01:00.0\n[VM]\nDomain=win11\nURI=test://%s\n' "$work/node.xml" > "$r/etc/vfiod/vfiod.conf"
}

n=0
# doctor [FAKEGPU-OPTION...] -- DOCTOR-ARGS...: runs vfioctl doctor on the
# fake GPU with --root=$root and its config; $out, $err, $rc after.
doctor() {
        local opts=()
        while [ "$1" != -- ]; do opts+=("$1"); shift; done
        shift
        n=$((n + 1))
        out=$work/out.$n err=$work/err.$n
        "$fakegpu" "${opts[@]}" -- "$vfioctl" doctor --root="$root" -c "$root/etc/vfiod/vfiod.conf" "$@" \
                > "$out" 2> "$err"
        rc=$?
}

fail() { # NAME WHY
        echo "not ok - $1: $2"
        echo "  --- stdout"; sed 's/^/  | /' "$out"
        echo "  --- stderr"; sed 's/^/  | /' "$err"
        failures=$((failures + 1))
}
# expect NAME RC LINE...: exit status RC and every LINE in stdout, exactly.
expect() {
        local name=$1 want=$2 line
        shift 2
        if [ "$rc" != "$want" ]; then fail "$name" "exit $rc, expected $want"; return; fi
        for line in "$@"; do
                if ! grep -Fxq -- "$line" "$out"; then fail "$name" "no line: $line"; return; fi
        done
        grep -q 'ERROR: AddressSanitizer\|runtime error:' "$err" && { fail "$name" "sanitizer report"; return; }
        echo "ok - $name"
}
# refute NAME TEXT: TEXT appears nowhere in stdout.
refute() {
        if grep -Fq -- "$2" "$out"; then fail "$1" "unexpected: $2"; else echo "ok - $1"; fi
}
fresh() { # NAME: $root = a copy of the good workstation
        root=$work/root-$1
        make_root "$root"
}

GRUB_FIX='      in /etc/default/grub: GRUB_CMDLINE_LINUX="rhgb quiet intel_iommu=on iommu=pt", then: grub2-mkconfig -o /boot/grub2/grub.cfg and reboot'

# ---- all good: every check passes but the two that cannot here ----
fresh good
doctor -- --domain-xml="$work/good.xml"
cat > "$work/want" <<EOF
PASS  GPU: 0000:01:00.0 NVIDIA Corporation GA102 [GeForce RTX 3090 Ti] [10de:2203] on nvidia
PASS  kernel command line: intel_iommu=on
PASS  kernel command line: iommu=pt
PASS  firmware: ACPI DMAR table (Intel VT-d on)
PASS  IOMMU groups: 3 in /sys/kernel/iommu_groups
PASS  display: the boot display is 0000:00:02.0, not the GPU
PASS  display: nobody uses /dev/dri/card1, /dev/dri/renderD128
PASS  IOMMU group 13: only the GPU's functions (0000:01:00.0, 0000:01:00.1)
PASS  vfio-pci: a module of kernel $kver
PASS  static binding: none (modprobe.d, dracut, kernel command line): the GPU boots on its host driver
PASS  libvirt: connected to test://$work/node.xml
PASS  domain: win11 is defined at test://$work/node.xml
PASS  hostdevs: win11 passes through the GPU's IOMMU group 13: 0000:01:00.0, 0000:01:00.1, managed='no'
PASS  libvirt hook: /etc/libvirt/hooks/qemu.d/vfiod
WARN  vfiod.service: not running under systemd, not checked
      systemctl enable --now vfiod.service
WARN  Looking Glass: not checked here; run lg-test for Looking Glass
      vfioctl lg-test
16 checks: 0 failed, 2 warned
EOF
if [ "$rc" = 0 ] && diff -u "$work/want" "$out" > "$work/diff"; then
        echo "ok - all good: exit 0, only the systemd and Looking Glass WARNs"
else
        fail "all good" "exit $rc, output differs:"; cat "$work/diff"
fi

# The same, the hostdevs read from libvirt (the test driver's win11) instead of a file.
doctor --
expect "all good, domain XML from libvirt" 0 \
        "PASS  hostdevs: win11 passes through the GPU's IOMMU group 13: 0000:01:00.0, 0000:01:00.1, managed='no'"

doctor -- --domain-xml="$work/good.xml" --json
if [ "$rc" = 0 ] && python3 - "$out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["failed"] == 0 and d["warned"] == 2, d
assert len(d["checks"]) == 16
c = {x["name"]: x for x in d["checks"]}
assert c["iommu-cmdline"] == {"name": "iommu-cmdline", "result": "pass", "message": "kernel command line: intel_iommu=on", "fix": None}, c["iommu-cmdline"]
assert c["looking-glass"]["result"] == "warn" and c["looking-glass"]["fix"] == "vfioctl lg-test"
EOF
then echo "ok - --json: one object, 16 checks, failed 0, warned 2"; else fail "--json" "exit $rc or bad JSON"; fi

# ---- IOMMU ----
fresh no-intel-iommu
echo "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro rhgb quiet" > "$root/proc/cmdline"
echo 'GRUB_CMDLINE_LINUX="rhgb quiet"' > "$root/etc/default/grub"
doctor -- --domain-xml="$work/good.xml"
expect "no intel_iommu=on, IOMMU on by default: WARN with the GRUB line" 0 \
        "WARN  kernel command line has no intel_iommu=on: the IOMMU is on by the kernel's default only" "$GRUB_FIX" \
        "WARN  kernel command line has no iommu=pt (advised: the host's own devices skip IOMMU translation)"
rm -r "$root"/sys/kernel/iommu_groups/*
doctor -- --domain-xml="$work/good.xml"
expect "no intel_iommu=on and no IOMMU groups: FAIL" 1 \
        "FAIL  kernel command line has no intel_iommu=on" "$GRUB_FIX" \
        "FAIL  IOMMU groups: none in /sys/kernel/iommu_groups: the kernel runs without an IOMMU" \
        "16 checks: 2 failed, 3 warned"

fresh iommu-off
echo "ro quiet intel_iommu=off" > "$root/proc/cmdline"
echo 'GRUB_CMDLINE_LINUX="quiet intel_iommu=off"' > "$root/etc/default/grub"
: > "$root/etc/debian_version"
doctor -- --domain-xml="$work/good.xml"
expect "intel_iommu=off on Debian: FAIL, update-grub" 1 \
        "FAIL  kernel command line: intel_iommu=off turns the IOMMU off" \
        '      in /etc/default/grub: GRUB_CMDLINE_LINUX="quiet intel_iommu=on iommu=pt", then: update-grub and reboot'

fresh no-acpi
rm "$root/sys/firmware/acpi/tables/DMAR"
doctor -- --domain-xml="$work/good.xml"
expect "no DMAR or IVRS table: FAIL, firmware fix" 1 \
        "FAIL  firmware: no ACPI DMAR or IVRS table in /sys/firmware/acpi/tables: the IOMMU is off in the firmware" \
        "      enable Intel VT-d (AMD: AMD-Vi / IOMMU) in the firmware setup, then reboot"

fresh amd
printf 'vendor_id\t: AuthenticAMD\n' > "$root/proc/cpuinfo"
mv "$root/sys/firmware/acpi/tables/DMAR" "$root/sys/firmware/acpi/tables/IVRS"
echo "ro quiet" > "$root/proc/cmdline"
echo 'GRUB_CMDLINE_LINUX="quiet"' > "$root/etc/default/grub"
doctor -- --domain-xml="$work/good.xml"
expect "AMD: IVRS passes, the fix says amd_iommu=on" 0 \
        "PASS  firmware: ACPI IVRS table (AMD-Vi on)" \
        "WARN  kernel command line has no amd_iommu=on: the IOMMU is on by the kernel's default only" \
        '      in /etc/default/grub: GRUB_CMDLINE_LINUX="quiet amd_iommu=on iommu=pt", then: grub2-mkconfig -o /boot/grub2/grub.cfg and reboot'

# A VM (QEMU's intel-iommu under TCG): an AMD CPU, an Intel vIOMMU, intel_iommu=on
# passed by hand: the fix keeps intel_iommu=on, not the CPU's amd_iommu=on.
fresh amd-cpu-intel-iommu
printf 'vendor_id\t: AuthenticAMD\n' > "$root/proc/cpuinfo"
echo "ro quiet intel_iommu=on" > "$root/proc/cmdline"
echo 'GRUB_CMDLINE_LINUX="quiet"' > "$root/etc/default/grub"
doctor -- --domain-xml="$work/good.xml"
expect "AMD CPU, DMAR table, intel_iommu=on: the fix for iommu=pt keeps intel_iommu=on" 0 \
        "PASS  kernel command line: intel_iommu=on" \
        "WARN  kernel command line has no iommu=pt (advised: the host's own devices skip IOMMU translation)" \
        '      in /etc/default/grub: GRUB_CMDLINE_LINUX="quiet intel_iommu=on iommu=pt", then: grub2-mkconfig -o /boot/grub2/grub.cfg and reboot'

# ---- the display and the group ----
fresh dgpu-boots
doctor --dgpu-boots -- --domain-xml="$work/good.xml"
expect "the GPU is the boot display: FAIL" 1 \
        "FAIL  display: the GPU 0000:01:00.0 is the boot display" \
        "      set the iGPU as primary display in firmware, plug monitors into it"

fresh desktop
mkdir -p "$root/proc/4242/fd"
echo sway > "$root/proc/4242/comm"
printf 'Name:\tsway\nUid:\t0\t0\t0\t0\n' > "$root/proc/4242/status"
# The fd links to the testbed's node, which only exists under fakegpu: link it there.
n=$((n + 1)); out=$work/out.$n err=$work/err.$n
"$fakegpu" -- bash -c 'ln -s "$UMOCKDEV_DIR/dev/dri/card1" "$1/proc/4242/fd/3" && exec "$2" doctor --root="$1" -c "$1/etc/vfiod/vfiod.conf" --domain-xml="$3"' \
        - "$root" "$vfioctl" "$work/good.xml" > "$out" 2> "$err"
rc=$?
expect "a compositor on the GPU's card1: FAIL naming pid, command, user" 1 \
        "FAIL  display: the desktop runs on the GPU: 4242 sway (user root, fd) on /dev/dri/card1" \
        "      run the desktop on the iGPU only: WLR_DRM_DEVICES=/dev/dri/cardN (the iGPU's) for sway and other wlroots compositors, or a udev rule SUBSYSTEM==\"drm\", KERNELS==\"0000:01:00.0\", TAG+=\"mutter-device-ignore\" for GNOME; then log in again"

fresh foreign
doctor --foreign -- --domain-xml="$work/good.xml"
expect "a foreign device in the GPU's IOMMU group: FAIL naming it" 1 \
        "FAIL  IOMMU group 13 also holds 0000:00:14.0 (USB controller [8086:7ae0], on xhci_hcd): it cannot go to the VM without them" \
        "      move the GPU to another slot (one whose IOMMU group holds only it), or enable ACS on its upstream port in firmware"

# ---- vfio-pci ----
fresh no-vfio
echo "kernel/drivers/vfio/vfio.ko.xz:" > "$root/lib/modules/$kver/modules.dep"
doctor -- --domain-xml="$work/good.xml"
expect "vfio-pci nowhere: FAIL" 1 \
        "FAIL  vfio-pci: not in /lib/modules/$kver (modules.dep, modules.builtin) and not loaded" \
        "      boot a kernel with CONFIG_VFIO_PCI: dnf install kernel-modules-core"
echo "kernel/drivers/vfio/pci/vfio-pci.ko" > "$root/lib/modules/$kver/modules.builtin"
doctor -- --domain-xml="$work/good.xml"
expect "vfio-pci built in" 0 "PASS  vfio-pci: built into kernel $kver"
mkdir -p "$root/sys/module/vfio_pci"
doctor -- --domain-xml="$work/good.xml"
expect "vfio-pci loaded" 0 "PASS  vfio-pci: loaded"

# ---- static binding: the installation's step 3 ----
fresh step3
echo "options vfio-pci ids=10de:2203,10de:1aef disable_vga=1" > "$root/etc/modprobe.d/vfio.conf"
printf 'blacklist nouveau\nblacklist nova_core\nblacklist nvidia\nblacklist nvidia_drm\nblacklist nvidia_modeset\n' \
        > "$root/etc/modprobe.d/blacklist-nvidia.conf"
doctor -- --domain-xml="$work/good.xml"
expect "modprobe.d: vfio-pci ids= and blacklist nvidia: FAIL each, remove" 1 \
        "FAIL  static binding: /etc/modprobe.d/vfio.conf: line 1: options vfio-pci ids=10de:2203,10de:1aef binds the GPU to vfio-pci at boot (the installation's step 3, which vfiod replaces: it binds at run time)" \
        "      rm /etc/modprobe.d/vfio.conf && dracut --force" \
        "FAIL  static binding: /etc/modprobe.d/blacklist-nvidia.conf: line 3: blacklist nvidia keeps the host driver from loading; line 4: blacklist nvidia_drm keeps the host driver from loading; line 5: blacklist nvidia_modeset keeps the host driver from loading (the installation's step 3, which vfiod replaces: it binds at run time)" \
        "      sed -i '3d;4d;5d' /etc/modprobe.d/blacklist-nvidia.conf && dracut --force" \
        "17 checks: 2 failed, 2 warned"
refute "blacklist nouveau alone is fine (the host driver is nvidia)" "usr/lib/modprobe.d"

fresh step3-debian
: > "$root/etc/debian_version"
echo "options vfio_pci ids=10de:1aef" > "$root/usr/lib/modprobe.d/vfio.conf"
printf 'softdep nvidia pre: vfio-pci\ninstall snd_hda_intel /bin/false\n' > "$root/etc/modprobe.d/early.conf"
doctor -- --domain-xml="$work/good.xml"
expect "modprobe.d on Debian: ids= of the audio function, softdep, install /bin/false" 1 \
        "FAIL  static binding: /usr/lib/modprobe.d/vfio.conf: line 1: options vfio_pci ids=10de:1aef binds the GPU to vfio-pci at boot (the installation's step 3, which vfiod replaces: it binds at run time)" \
        "      rm /usr/lib/modprobe.d/vfio.conf && update-initramfs -u" \
        "FAIL  static binding: /etc/modprobe.d/early.conf: line 1: softdep nvidia loads vfio-pci before it; line 2: install snd_hda_intel /bin/false keeps the host driver from loading (the installation's step 3, which vfiod replaces: it binds at run time)" \
        "      rm /etc/modprobe.d/early.conf && update-initramfs -u"
# A file in /etc hides the one of the same name in /usr/lib, as for modprobe.
echo "# nothing" > "$root/etc/modprobe.d/vfio.conf"
doctor -- --domain-xml="$work/good.xml"
refute "/etc/modprobe.d hides /usr/lib/modprobe.d's file of the same name" "/usr/lib/modprobe.d/vfio.conf"

fresh dracut
echo 'force_drivers+=" vfio vfio_pci vfio_iommu_type1 "' > "$root/etc/dracut.conf.d/vfio.conf"
doctor -- --domain-xml="$work/good.xml"
expect "dracut force_drivers+= vfio: WARN, remove and dracut --force" 0 \
        "WARN  static binding: /etc/dracut.conf.d/vfio.conf: line 1: force_drivers loads vfio-pci into the initramfs, before the host driver (the installation's step 3, which vfiod replaces: it binds at run time)" \
        "      rm /etc/dracut.conf.d/vfio.conf && dracut --force"

fresh cmdline
echo "ro quiet intel_iommu=on iommu=pt rd.driver.pre=vfio-pci vfio-pci.ids=10de:2203,10de:1aef modprobe.blacklist=nouveau,nvidia" \
        > "$root/proc/cmdline"
echo 'GRUB_CMDLINE_LINUX="quiet intel_iommu=on iommu=pt rd.driver.pre=vfio-pci vfio-pci.ids=10de:2203,10de:1aef modprobe.blacklist=nouveau,nvidia"' \
        > "$root/etc/default/grub"
doctor -- --domain-xml="$work/good.xml"
expect "kernel command line: rd.driver.pre, vfio-pci.ids, modprobe.blacklist: FAIL, the GRUB line without them" 1 \
        "FAIL  static binding: kernel command line: rd.driver.pre=vfio-pci loads vfio-pci in the initramfs, before the host driver; vfio-pci.ids=10de:2203,10de:1aef binds the GPU to vfio-pci at boot; modprobe.blacklist=nouveau,nvidia keeps the host driver (nvidia) from loading (the installation's step 1 put a static binding there, which vfiod replaces: it binds at run time)" \
        '      in /etc/default/grub: GRUB_CMDLINE_LINUX="quiet intel_iommu=on iommu=pt modprobe.blacklist=nouveau", then: grub2-mkconfig -o /boot/grub2/grub.cfg and reboot'

# ---- libvirt and the domain ----
fresh managed
doctor -- --domain-xml="$work/managed.xml"
expect "managed='yes': WARN, managed='no'" 0 \
        "WARN  hostdevs: win11 has managed='yes' for 0000:01:00.0, 0000:01:00.1: libvirt would detach and reattach it behind vfiod's back" \
        "      managed='no' on the <hostdev> of 0000:01:00.0, 0000:01:00.1 (virsh edit win11): vfiod hands the GPU over in the prepare hook"

fresh no-audio
doctor -- --domain-xml="$work/no-audio.xml"
expect "the audio function missing from the hostdevs: FAIL with its <hostdev>" 1 \
        "FAIL  hostdevs: win11 lacks 0000:01:00.1 (Audio device) of the GPU's IOMMU group 13" \
        "      in <devices> of win11 (virsh edit win11): <hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/></source></hostdev>"

fresh test-default
printf '[GPU]\nAddress=0000:01:00.0\n[VM]\nDomain=test\nURI=test:///default\n' > "$root/etc/vfiod/vfiod.conf"
doctor --
expect "test:///default, Domain=test: defined, no hostdevs: FAIL" 1 \
        "PASS  libvirt: connected to test:///default" \
        "PASS  domain: test is defined at test:///default" \
        "FAIL  hostdevs: test lacks 0000:01:00.0 (VGA compatible controller), 0000:01:00.1 (Audio device) of the GPU's IOMMU group 13"

fresh unknown-domain
printf '[GPU]\nAddress=0000:01:00.0\n[VM]\nDomain=win10\nURI=test:///default\n' > "$root/etc/vfiod/vfiod.conf"
doctor --
expect "a domain libvirt does not know: FAIL naming the defined ones" 1 \
        "FAIL  domain: win10 is not defined at test:///default (defined: test)" \
        "      virsh -c test:///default define DOMAIN.xml, or Domain= one of the defined ones in $root/etc/vfiod/vfiod.conf"

fresh no-domain
printf '[GPU]\nAddress=0000:01:00.0\n[VM]\nURI=test:///default\n' > "$root/etc/vfiod/vfiod.conf"
doctor --
expect "no Domain=: WARN" 0 \
        "WARN  domain: no Domain= in $root/etc/vfiod/vfiod.conf: vfiod follows no VM" \
        "      Domain=NAME under [VM] in $root/etc/vfiod/vfiod.conf (virsh list --all names them)"

fresh no-libvirtd
printf '[GPU]\nAddress=0000:01:00.0\n[VM]\nDomain=win11\nURI=qemu+unix:///system?socket=%s/none.sock\n' "$work" \
        > "$root/etc/vfiod/vfiod.conf"
doctor -- --domain-xml="$work/good.xml"
expect "libvirtd unreachable: FAIL, enable it" 1 "      systemctl enable --now libvirtd" \
        "PASS  hostdevs: win11 passes through the GPU's IOMMU group 13: 0000:01:00.0, 0000:01:00.1, managed='no'"
grep -q "^FAIL  libvirt: cannot connect to qemu+unix:///system?socket=$work/none.sock: ." "$out" \
        && echo "ok - libvirt's own words in the FAIL" || fail "libvirtd unreachable" "no FAIL line with libvirt's error"

# ---- the hook ----
fresh no-hook
rm "$root/etc/libvirt/hooks/qemu.d/vfiod"
doctor -- --domain-xml="$work/good.xml"
expect "no hook: FAIL, install-hooks" 1 \
        "FAIL  libvirt hook: /etc/libvirt/hooks/qemu.d/vfiod is missing: vfiod would not hand the GPU over when the VM starts" \
        "      vfioctl install-hooks"
fresh hook-not-executable
chmod 644 "$root/etc/libvirt/hooks/qemu.d/vfiod"
doctor -- --domain-xml="$work/good.xml"
expect "a hook that is not executable: FAIL" 1 \
        "FAIL  libvirt hook: /etc/libvirt/hooks/qemu.d/vfiod is not an executable file" "      vfioctl install-hooks"

# ---- usage ----
fresh usage
doctor -- --no-such-option
expect "an unknown option: exit 2" 2
doctor -- extra
expect "an extra argument: exit 2" 2
doctor -- --gpu=nonsense
expect "--gpu that is no PCI address: exit 2" 2
"$vfioctl" doctor --root="$work/none" > "$work/out.x" 2>&1; rc=$? out=$work/out.x err=/dev/null
expect "--root that is no directory: exit 2" 2
"$vfioctl" doctor --help > "$work/out.h" 2>&1; rc=$? out=$work/out.h
expect "--help: exit 0" 0 "vfioctl doctor [OPTIONS]"

if [ $failures -gt 0 ]; then
        echo "$failures failed"
        exit 1
fi
exit 0
