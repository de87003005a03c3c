#!/bin/bash
# vfioctl doctor against good and broken workstations: the files under
# --root (kernel command line, ACPI tables, IOMMU groups, modprobe.d,
# dracut, the hook, /lib/modules, /proc's processes, vtconsoles, EGL and
# Vulkan ICDs, environment files) made in a temporary directory, the PCI
# tree from fakegpu's umockdev testbed (with ALSA cards, framebuffers and
# the iGPU's DRM card added to it where a test needs them), libvirt from
# its test driver.
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

# Whose session the doctor reads comes from the config here, not from sudo.
unset SUDO_USER
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
        # nvidia's and Mesa's EGL and Vulkan ICDs, and the session kept on Mesa's.
        mkdir -p "$r"/usr/share/glvnd/egl_vendor.d "$r"/usr/share/vulkan/icd.d
        for f in glvnd/egl_vendor.d/10_nvidia.json glvnd/egl_vendor.d/50_mesa.json vulkan/icd.d/nvidia_icd.json \
                 vulkan/icd.d/intel_icd.x86_64.json vulkan/icd.d/intel_icd.i686.json; do
                echo '{"file_format_version": "1.0.0"}' > "$r/usr/share/$f"
        done
        printf '%s\n' "__EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/50_mesa.json" \
                "VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/intel_icd.x86_64.json:/usr/share/vulkan/icd.d/intel_icd.i686.json" \
                > "$r/etc/environment"
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

# The testbed's additions, run inside fakegpu ($UMOCKDEV_DIR) with $ROOT the
# fake root.
# tb_dev FUNCTION PATH SUBSYSTEM [MAJOR:MINOR DEVNAME] [KEY=VALUE...]: a
# device PATH below the PCI function, as the kernel makes it: a "dev"
# attribute and the node in the testbed's /dev when it has a number, and
# the uevent (DEVNAME, KEY=VALUE: what udev's database would hold).
tb_dev() {
        local d
        d=$(readlink -f "$UMOCKDEV_DIR/sys/bus/pci/devices/$1")/$2
        mkdir -p "$d" "$UMOCKDEV_DIR/sys/class/$3"
        ln -sfn "$UMOCKDEV_DIR/sys/class/$3" "$d/subsystem"
        : > "$d/uevent"
        shift 3
        if [[ $# -ge 2 && $1 == *:* && $1 != *=* ]]; then
                echo "$1" > "$d/dev"
                printf 'MAJOR=%s\nMINOR=%s\nDEVNAME=%s\n' "${1%:*}" "${1#*:}" "$2" >> "$d/uevent"
                mkdir -p "$(dirname "$UMOCKDEV_DIR/dev/$2")"
                : > "$UMOCKDEV_DIR/dev/$2"
                shift 2
        fi
        local kv
        for kv; do echo "$kv" >> "$d/uevent"; done
}
# tb_proc PID COMM NODE...: process PID, named COMM, of root, has each node
# of the testbed's /dev open (fds 3, 4, ...).
tb_proc() {
        local pid=$1 comm=$2 fd=3
        shift 2
        mkdir -p "$ROOT/proc/$pid/fd"
        echo "$comm" > "$ROOT/proc/$pid/comm"
        printf 'Name:\t%s\nUid:\t0\t0\t0\t0\n' "$comm" > "$ROOT/proc/$pid/status"
        for node; do ln -sfn "$UMOCKDEV_DIR/dev/$node" "$ROOT/proc/$pid/fd/$fd"; fd=$((fd + 1)); done
}
# The GPU's HDMI audio as ALSA makes it: card1 with its control and PCM nodes.
tb_audio() { # [KEY=VALUE...] (the card's udev properties)
        tb_dev 0000:01:00.1 sound/card1 sound "$@"
        tb_dev 0000:01:00.1 sound/card1/controlC1 sound 116:2 snd/controlC1
        tb_dev 0000:01:00.1 sound/card1/pcmC1D3p sound 116:3 snd/pcmC1D3p
}
# doctor_tb SETUP [FAKEGPU-OPTION...] -- DOCTOR-ARGS...: as doctor, after
# running the shell code SETUP in the testbed.
doctor_tb() {
        local setup=$1 opts=()
        shift
        while [ "$1" != -- ]; do opts+=("$1"); shift; done
        shift
        n=$((n + 1))
        out=$work/out.$n err=$work/err.$n
        ROOT=$root "$fakegpu" "${opts[@]}" -- bash -c "$(declare -f tb_dev tb_proc tb_audio)
                set -e; $setup; set +e
                exec \"\$0\" doctor --root=\"\$ROOT\" -c \"\$ROOT/etc/vfiod/vfiod.conf\" \"\$@\"" \
                "$vfioctl" "$@" > "$out" 2> "$err"
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
PASS  audio: the GPU has no sound card
PASS  console: the GPU has no framebuffer
PASS  EGL: /usr/share/glvnd/egl_vendor.d/10_nvidia.json is installed, and __EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/50_mesa.json (/etc/environment) keeps programs off it
PASS  Vulkan: /usr/share/vulkan/icd.d/nvidia_icd.json is installed, and VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/intel_icd.x86_64.json:/usr/share/vulkan/icd.d/intel_icd.i686.json (/etc/environment) keeps programs off it
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
20 checks: 0 failed, 2 warned
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
assert len(d["checks"]) == 20
c = {x["name"]: x for x in d["checks"]}
assert c["iommu-cmdline"] == {"name": "iommu-cmdline", "result": "pass", "message": "kernel command line: intel_iommu=on", "fix": None}, c["iommu-cmdline"]
assert c["looking-glass"]["result"] == "warn" and c["looking-glass"]["fix"] == "vfioctl lg-test"
EOF
then echo "ok - --json: one object, 20 checks, failed 0, warned 2"; else fail "--json" "exit $rc or bad JSON"; fi

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
        "20 checks: 2 failed, 3 warned"

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

# The GPU is the boot display: the fixes name the other display controller
# (the iGPU at 0000:00:02.0), never the GPU, and fbcon's consoles on the
# GPU's fb0 go to the iGPU's fb1.
fresh dgpu-fixes
mkdir -p "$root"/sys/class/vtconsole/vtcon1
echo "(M) frame buffer device" > "$root/sys/class/vtconsole/vtcon1/name"
echo 1 > "$root/sys/class/vtconsole/vtcon1/bind"
doctor_tb 'tb_proc 4242 sway dri/card1
           tb_dev 0000:01:00.0 graphics/fb0 graphics 29:0 fb0; tb_dev 0000:00:02.0 graphics/fb1 graphics 29:1 fb1' \
        --dgpu-boots -- --domain-xml="$work/good.xml"
expect "the GPU boots: FAIL, and every fix names the iGPU 0000:00:02.0 and its fb1" 1 \
        "FAIL  display: the GPU 0000:01:00.0 is the boot display" \
        "      echo 'SUBSYSTEM==\"drm\", KERNEL==\"card[0-9]*\", ENV{DEVTYPE}==\"drm_minor\", KERNELS==\"0000:00:02.0\", SYMLINK+=\"dri/vfiod-igpu\"' > /etc/udev/rules.d/61-vfiod-igpu.rules && udevadm control --reload && udevadm trigger --action=change --subsystem-match=drm; then WLR_DRM_DEVICES=/dev/dri/vfiod-igpu in /etc/environment (wlroots then opens the iGPU only), then log in again" \
        "WARN  console: fbcon has the text consoles on the GPU's /dev/fb0 (the kernel's default map, fb0): its unbind would wait for fbcon"
grep -q 'for good, fbcon=map:1, the iGPU.s /dev/fb1' "$out" && ! grep -q 'KERNELS==\"0000:01:00.0\", SYMLINK' "$out" &&
        echo "ok - the GPU boots: fbcon=map:1 (the iGPU's fb1), no link rule for the GPU" ||
        fail "the GPU boots" "a fix names the GPU"

fresh desktop
# The iGPU's card by a link of its own: cardN follows the probe order.
IGPU_LINK="echo 'SUBSYSTEM==\"drm\", KERNEL==\"card[0-9]*\", ENV{DEVTYPE}==\"drm_minor\", KERNELS==\"0000:00:02.0\", SYMLINK+=\"dri/vfiod-igpu\"' > /etc/udev/rules.d/61-vfiod-igpu.rules && udevadm control --reload && udevadm trigger --action=change --subsystem-match=drm; then"
doctor_tb 'tb_proc 4242 sway dri/card1' -- --domain-xml="$work/good.xml"
expect "a compositor on the GPU's card1: FAIL naming pid, command, user, and sway's switch" 1 \
        "FAIL  display: the desktop runs on the GPU: 4242 sway (user root, fd) on /dev/dri/card1" \
        "      $IGPU_LINK WLR_DRM_DEVICES=/dev/dri/vfiod-igpu in /etc/environment (wlroots then opens the iGPU only), then log in again"
grep -q '"name":"compositor","result":"fail"' < <(doctor_tb 'tb_proc 4242 sway dri/card1' -- --domain-xml="$work/good.xml" --json; cat "$out") &&
        echo "ok - --json: the check is named compositor" || fail "compositor --json" "no compositor check"

# Each compositor with its own switch, the iGPU's card named; anybody else is a WARN.
fresh compositors
doctor_tb 'tb_dev 0000:00:02.0 drm/card0 drm 226:0 dri/card0
           tb_proc 4242 sway dri/card1; tb_proc 4243 kwin_wayland dri/card1; tb_proc 4244 gnome-shell dri/renderD128
           tb_proc 4245 Hyprland dri/card1; tb_proc 4246 Xorg dri/card1; tb_proc 4247 python3 dri/renderD128' \
        -- --domain-xml="$work/good.xml"
expect "sway, kwin_wayland, gnome-shell, Hyprland, Xorg and python3 on the GPU: one line each kind, each its fix" 1 \
        "FAIL  display: the desktop runs on the GPU: 4242 sway (user root, fd) on /dev/dri/card1" \
        "      $IGPU_LINK WLR_DRM_DEVICES=/dev/dri/vfiod-igpu in /etc/environment (wlroots then opens the iGPU only), then log in again" \
        "FAIL  display: the desktop runs on the GPU: 4245 Hyprland (user root, fd) on /dev/dri/card1" \
        "      $IGPU_LINK AQ_DRM_DEVICES=/dev/dri/vfiod-igpu in /etc/environment (Hyprland then opens the iGPU only; Hyprland's env= comes too late; before Hyprland 0.42: WLR_DRM_DEVICES), then log in again" \
        "FAIL  display: the desktop runs on the GPU: 4243 kwin_wayland (user root, fd) on /dev/dri/card1" \
        "      $IGPU_LINK KWIN_DRM_DEVICES=/dev/dri/vfiod-igpu in /etc/environment (KWin then opens the iGPU only), then log in again" \
        "FAIL  display: the desktop runs on the GPU: 4244 gnome-shell (user root, fd) on /dev/dri/renderD128" \
        "      echo 'SUBSYSTEM==\"drm\", KERNELS==\"0000:01:00.0\", TAG+=\"mutter-device-ignore\"' > /etc/udev/rules.d/61-vfiod-mutter.rules && udevadm control --reload && udevadm trigger --action=change --subsystem-match=drm, then log in again" \
        "FAIL  display: the desktop runs on the GPU: 4246 Xorg (user root, fd) on /dev/dri/card1" \
        "      in /etc/X11/xorg.conf.d/10-vfiod-igpu.conf: Section \"ServerFlags\" Option \"AutoAddGPU\" \"off\" EndSection and Section \"Device\" Identifier \"iGPU\" BusID \"PCI:0:2:0\" EndSection, then log in again" \
        "WARN  display: in use (vfiod refuses to take it meanwhile): 4247 python3 (user root, fd) on /dev/dri/renderD128" \
        "      quit them before the VM starts, or start it with: vfioctl start --drain"

# Xorg's BusID of an iGPU in PCI domain 1: BUS@DOMAIN, as xf86pciBus.c reads it.
doctor_tb 'tb_proc 4246 Xorg dri/card1' --igpu=0001:00:02.0 -- --domain-xml="$work/good.xml"
expect "Xorg, the iGPU at 0001:00:02.0: BusID PCI:0@1:2:0" 1 \
        "      in /etc/X11/xorg.conf.d/10-vfiod-igpu.conf: Section \"ServerFlags\" Option \"AutoAddGPU\" \"off\" EndSection and Section \"Device\" Identifier \"iGPU\" BusID \"PCI:0@1:2:0\" EndSection, then log in again"

# ---- the desktop off the GPU: sound server, fbcon, EGL/Vulkan ICDs ----
AUDIO_FILES="/dev/snd/controlC1, /dev/snd/pcmC1D3p"
fresh audio
CONF=$root/etc/vfiod/vfiod.conf
doctor_tb 'tb_audio' -- --domain-xml="$work/good.xml"
expect "the GPU's ALSA card, nobody on it: PASS naming its nodes" 0 \
        "PASS  audio: nobody uses the GPU's card1 ($AUDIO_FILES)"
doctor_tb 'tb_audio; tb_proc 77 wireplumber snd/controlC1' -- --domain-xml="$work/good.xml"
expect "WirePlumber on the GPU's card1, HideGpuAudio= off: WARN, the switch, the trigger and the restart" 0 \
        "WARN  audio: the sound server has the GPU's card1 (HDMI audio) open, vfiod refuses meanwhile: 77 wireplumber (user root, fd) on /dev/snd/controlC1" \
        "      HideGpuAudio=yes under [Desktop] in $CONF (PipeWire, WirePlumber and PulseAudio then leave card1 alone), then: udevadm trigger --action=change /sys/class/sound/card1; and as root: systemctl --user -M root@ restart wireplumber (before systemd 248: systemctl --user restart, as that user)"
doctor_tb 'tb_audio; tb_proc 78 pulseaudio snd/controlC1; tb_proc 79 firefox snd/pcmC1D3p' -- --domain-xml="$work/good.xml"
expect "PulseAudio and another program on card1: a WARN each, PulseAudio restarted" 0 \
        "WARN  audio: the sound server has the GPU's card1 (HDMI audio) open, vfiod refuses meanwhile: 78 pulseaudio (user root, fd) on /dev/snd/controlC1" \
        "      HideGpuAudio=yes under [Desktop] in $CONF (PipeWire, WirePlumber and PulseAudio then leave card1 alone), then: udevadm trigger --action=change /sys/class/sound/card1; and as root: systemctl --user -M root@ restart pulseaudio (before systemd 248: systemctl --user restart, as that user)" \
        "WARN  audio: in use (vfiod refuses to take it meanwhile): 79 firefox (user root, fd) on /dev/snd/pcmC1D3p" \
        "      quit them before the VM starts, or start it with: vfioctl start --drain"

printf '[Desktop]\nHideGpuAudio=yes\n' >> "$CONF"
doctor_tb 'tb_audio' -- --domain-xml="$work/good.xml"
expect "HideGpuAudio=yes without 71-vfiod-audio.rules installed: WARN, make install" 0 \
        "WARN  audio: HideGpuAudio=yes, but card1 has no ACP_IGNORE: the sound servers open it when they start" \
        "      make install, which puts 71-vfiod-audio.rules (HideGpuAudio=yes needs it) in udev's rules directory, then: udevadm control --reload && udevadm trigger --action=change /sys/class/sound/card1"
mkdir -p "$root/usr/lib/udev/rules.d"
cp "$top/rules/71-vfiod-audio.rules" "$root/usr/lib/udev/rules.d/"
doctor_tb 'tb_audio; tb_proc 77 wireplumber snd/controlC1' -- --domain-xml="$work/good.xml"
expect "HideGpuAudio=yes, the rule installed, the card not triggered: WARN, trigger and restart" 0 \
        "WARN  audio: the sound server has the GPU's card1 (HDMI audio) open, vfiod refuses meanwhile: 77 wireplumber (user root, fd) on /dev/snd/controlC1" \
        "      udevadm control --reload && udevadm trigger --action=change /sys/class/sound/card1 (71-vfiod-audio.rules then sets ACP_IGNORE and PULSE_IGNORE on it); and as root: systemctl --user -M root@ restart wireplumber (before systemd 248: systemctl --user restart, as that user)"
doctor_tb 'tb_audio ACP_IGNORE=1 PULSE_IGNORE=1; tb_proc 77 wireplumber snd/controlC1' -- --domain-xml="$work/good.xml"
expect "card1 has ACP_IGNORE but WirePlumber still has it open: WARN, restart it" 0 \
        "      as root: systemctl --user -M root@ restart wireplumber (before systemd 248: systemctl --user restart, as that user) (it opened card1 before HideGpuAudio=yes took effect)"
doctor_tb 'tb_audio ACP_IGNORE=1 PULSE_IGNORE=1' -- --domain-xml="$work/good.xml"
expect "HideGpuAudio=yes applied, nobody on card1: PASS" 0 \
        "PASS  audio: the sound servers leave the GPU's card1 alone (HideGpuAudio=yes), nobody uses $AUDIO_FILES"
mkdir -p "$root/etc/udev/rules.d" && ln -s /dev/null "$root/etc/udev/rules.d/71-vfiod-audio.rules"
doctor_tb 'tb_audio' -- --domain-xml="$work/good.xml"
expect "71-vfiod-audio.rules masked in /etc/udev/rules.d: taken for not installed" 0 \
        "      make install, which puts 71-vfiod-audio.rules (HideGpuAudio=yes needs it) in udev's rules directory, then: udevadm control --reload && udevadm trigger --action=change /sys/class/sound/card1"

# fbcon: the GPU's fb1, the iGPU's fb0; vtcon1 is fbcon.
fresh fbcon
mkdir -p "$root"/sys/class/vtconsole/vtcon{0,1}
echo "(S) dummy device" > "$root/sys/class/vtconsole/vtcon0/name"
echo 1 > "$root/sys/class/vtconsole/vtcon0/bind"
echo "(M) frame buffer device" > "$root/sys/class/vtconsole/vtcon1/name"
echo 1 > "$root/sys/class/vtconsole/vtcon1/bind"
FB='tb_dev 0000:01:00.0 graphics/fb1 graphics 29:1 fb1; tb_dev 0000:00:02.0 graphics/fb0 graphics 29:0 fb0'
doctor_tb "$FB" -- --domain-xml="$work/good.xml"
expect "fbcon bound, the consoles on fb0 by default, the GPU's fb1: PASS" 0 \
        "PASS  console: fbcon is bound, not on the GPU's /dev/fb1 (the kernel's default map, fb0)"
echo "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro rhgb quiet intel_iommu=on iommu=pt fbcon=map:1" > "$root/proc/cmdline"
echo 'GRUB_CMDLINE_LINUX="rhgb quiet intel_iommu=on iommu=pt fbcon=map:1"' > "$root/etc/default/grub"
doctor_tb "$FB" -- --domain-xml="$work/good.xml"
expect "fbcon=map:1 puts the consoles on the GPU's fb1: WARN, unbind now, map:0 in GRUB for good" 0 \
        "WARN  console: fbcon has the text consoles on the GPU's /dev/fb1 (fbcon=map:1 on the kernel command line): its unbind would wait for fbcon" \
        '      echo 0 > /sys/class/vtconsole/vtcon1/bind now (every text console goes dark); for good, fbcon=map:0, the iGPU'"'"'s /dev/fb0 (while its driver probes before the GPU'"'"'s, as from the initramfs): in /etc/default/grub: GRUB_CMDLINE_LINUX="rhgb quiet intel_iommu=on iommu=pt fbcon=map:0", then: grub2-mkconfig -o /boot/grub2/grub.cfg and reboot'
grep -q '"name":"fbcon","result":"warn"' < <(doctor_tb "$FB" -- --domain-xml="$work/good.xml" --json; cat "$out") &&
        echo "ok - --json: the check is named fbcon" || fail "fbcon --json" "no fbcon check"
echo 0 > "$root/sys/class/vtconsole/vtcon1/bind"
doctor_tb "$FB" -- --domain-xml="$work/good.xml"
expect "fbcon unbound: PASS" 0 "PASS  console: fbcon is not bound (/sys/class/vtconsole), it holds no framebuffer"
# One command-line fix for every check that shows one: pasting the IOMMU's
# and then fbcon's must not undo either.
echo 1 > "$root/sys/class/vtconsole/vtcon1/bind"
echo "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro rhgb quiet fbcon=map:1" > "$root/proc/cmdline"
echo 'GRUB_CMDLINE_LINUX="rhgb quiet fbcon=map:1"' > "$root/etc/default/grub"
doctor_tb "$FB" -- --domain-xml="$work/good.xml"
BOTH='in /etc/default/grub: GRUB_CMDLINE_LINUX="rhgb quiet intel_iommu=on iommu=pt fbcon=map:0", then: grub2-mkconfig -o /boot/grub2/grub.cfg and reboot'
expect "no IOMMU words and fbcon on the GPU: the IOMMU's fix and fbcon's are one GRUB line with both" 0 \
        "WARN  kernel command line has no intel_iommu=on: the IOMMU is on by the kernel's default only" "      $BOTH" \
        "      echo 0 > /sys/class/vtconsole/vtcon1/bind now (every text console goes dark); for good, fbcon=map:0, the iGPU's /dev/fb0 (while its driver probes before the GPU's, as from the initramfs): $BOTH"
# Fedora's boot loader entries: grubby, from the running command line.
mkdir -p "$root/boot/loader/entries" "$root/usr/sbin" && : > "$root/usr/sbin/grubby"
doctor_tb "$FB" -- --domain-xml="$work/good.xml"
GRUBBY='grubby --update-kernel=ALL --args="intel_iommu=on iommu=pt fbcon=map:0" --remove-args="fbcon=map:1", then reboot'
expect "boot loader entries (BLS): the fix is grubby's, adding and removing words" 0 \
        "      $GRUBBY" \
        "      echo 0 > /sys/class/vtconsole/vtcon1/bind now (every text console goes dark); for good, fbcon=map:0, the iGPU's /dev/fb0 (while its driver probes before the GPU's, as from the initramfs): $GRUBBY"
refute "boot loader entries: no grub2-mkconfig" "grub2-mkconfig"
# grubby and rpm-ostree replace every word of a key with the one given:
# fbcon's map joins the fbcon= word there is, and an IOMMU option already
# in a comma list (intel_iommu=on,igfx_off) is not added again.
echo "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro rhgb quiet intel_iommu=on,igfx_off fbcon=font:TER16x32,map:1" > "$root/proc/cmdline"
doctor_tb "$FB" -- --domain-xml="$work/good.xml"
GRUBBY='grubby --update-kernel=ALL --args="fbcon=font:TER16x32,map:0 iommu=pt" --remove-args="fbcon=font:TER16x32,map:1", then reboot'
expect "grubby, fbcon=font:X,map:1 and intel_iommu=on,igfx_off: one fbcon word keeps its font, no second intel_iommu" 0 \
        "PASS  kernel command line: intel_iommu=on" "      $GRUBBY"
# Fedora Atomic (ostree): rpm-ostree kargs.
: > "$root/run/ostree-booted" 2> /dev/null || { mkdir -p "$root/run" && : > "$root/run/ostree-booted"; }
doctor_tb "$FB" -- --domain-xml="$work/good.xml"
expect "ostree: rpm-ostree kargs, each word deleted and appended" 0 \
        "      rpm-ostree kargs --delete=fbcon=font:TER16x32,map:1 --append=fbcon=font:TER16x32,map:0 --append=iommu=pt, then reboot"
refute "ostree: no grubby" "grubby"
rm "$root/run/ostree-booted" "$root/usr/sbin/grubby"
# systemd-boot: entries, no grubby: the line to write, without BOOT_IMAGE.
doctor_tb "$FB" -- --domain-xml="$work/good.xml"
expect "boot loader entries without grubby (systemd-boot): the whole line for the entries and /etc/kernel/cmdline" 0 \
        "      the options line of each /boot/loader/entries/*.conf, and /etc/kernel/cmdline: root=/dev/sda1 ro rhgb quiet intel_iommu=on,igfx_off fbcon=font:TER16x32,map:0 iommu=pt, then reboot"
rm -r "$root/boot/loader"
echo "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro rhgb quiet fbcon=map:1" > "$root/proc/cmdline"
# fbcon=map: takes a digit a console: an iGPU on fb12 cannot be named there.
doctor_tb 'tb_dev 0000:01:00.0 graphics/fb1 graphics 29:1 fb1; tb_dev 0000:00:02.0 graphics/fb12 graphics 29:12 fb12' \
        -- --domain-xml="$work/good.xml"
expect "the iGPU's framebuffer is fb12: no fbcon=map:12, unbind at every boot; the GRUB line leaves the map alone" 0 \
        "      echo 0 > /sys/class/vtconsole/vtcon1/bind, at every boot (every text console goes dark): fbcon=map: would name the iGPU's /dev/fb12 by the character '<', which the boot loader's script may not pass on" \
        '      in /etc/default/grub: GRUB_CMDLINE_LINUX="rhgb quiet fbcon=map:1 intel_iommu=on iommu=pt", then: grub2-mkconfig -o /boot/grub2/grub.cfg and reboot'

# nvidia's ICDs with nothing that keeps programs off them.
fresh icd
rm "$root/etc/environment"
doctor -- --domain-xml="$work/good.xml"
expect "nvidia's EGL and Vulkan ICDs unrestricted: a WARN each, Mesa's EGL and the iGPU's Vulkan ICDs in /etc/environment" 0 \
        "WARN  EGL: /usr/share/glvnd/egl_vendor.d/10_nvidia.json makes every EGL program (GTK 4, Electron, Firefox) load nvidia's driver, which opens /dev/nvidia*: vfiod refuses while they run" \
        "      in /etc/environment: __EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/50_mesa.json, then log in again (a program meant for the GPU: __EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/10_nvidia.json PROGRAM)" \
        "WARN  Vulkan: /usr/share/vulkan/icd.d/nvidia_icd.json makes every Vulkan program load nvidia's driver, which opens /dev/nvidia*: vfiod refuses while they run" \
        "      in /etc/environment: VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/intel_icd.i686.json:/usr/share/vulkan/icd.d/intel_icd.x86_64.json, then log in again (a program meant for the GPU: VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/nvidia_icd.json PROGRAM)"
grep -q '"name":"nvidia-icd","result":"warn"' < <(doctor -- --domain-xml="$work/good.xml" --json; cat "$out") &&
        echo "ok - --json: the check is named nvidia-icd" || fail "nvidia-icd --json" "no nvidia-icd check"
echo "VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/nvidia_icd.json:/usr/share/vulkan/icd.d/intel_icd.x86_64.json" \
        > "$root/etc/environment"
doctor -- --domain-xml="$work/good.xml"
expect "VK_ICD_FILENAMES that still names nvidia's: no restriction" 0 \
        "WARN  Vulkan: /usr/share/vulkan/icd.d/nvidia_icd.json makes every Vulkan program load nvidia's driver, which opens /dev/nvidia*: vfiod refuses while they run"
# The desktop user's own environment.d ([LookingGlass] User=, home from the root's passwd).
rm "$root/etc/environment"
printf '[LookingGlass]\nUser=alice\n' >> "$root/etc/vfiod/vfiod.conf"
echo "alice:x:1000:1000:Alice:/home/alice:/bin/bash" > "$root/etc/passwd"
mkdir -p "$root/home/alice/.config/environment.d"
printf '%s\n' '# keep the desktop on the iGPU' 'export __EGL_VENDOR_LIBRARY_DIRS="/usr/share/vfiod-none"' \
        "VK_LOADER_DRIVERS_SELECT='*intel*'" > "$root/home/alice/.config/environment.d/60-igpu.conf"
doctor -- --domain-xml="$work/good.xml"
expect "restrictions in the desktop user's environment.d: PASS, each naming its file" 0 \
        "PASS  EGL: /usr/share/glvnd/egl_vendor.d/10_nvidia.json is installed, and __EGL_VENDOR_LIBRARY_DIRS=/usr/share/vfiod-none (/home/alice/.config/environment.d/60-igpu.conf) keeps programs off it" \
        "PASS  Vulkan: /usr/share/vulkan/icd.d/nvidia_icd.json is installed, and VK_LOADER_DRIVERS_SELECT=*intel* (/home/alice/.config/environment.d/60-igpu.conf) keeps programs off it"
# environment.d as systemd reads it: the files in the order of their names
# across the directories, a name in /etc hiding (a link to /dev/null:
# masking) the same name in /usr/lib.
EGL_WARN="WARN  EGL: /usr/share/glvnd/egl_vendor.d/10_nvidia.json makes every EGL program (GTK 4, Electron, Firefox) load nvidia's driver, which opens /dev/nvidia*: vfiod refuses while they run"
rm -r "$root/home/alice/.config/environment.d"
mkdir -p "$root/etc/environment.d" "$root/usr/lib/environment.d"
echo "__EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/50_mesa.json" > "$root/usr/lib/environment.d/60-igpu.conf"
ln -s /dev/null "$root/etc/environment.d/60-igpu.conf"
doctor -- --domain-xml="$work/good.xml"
expect "environment.d: /usr/lib's 60-igpu.conf masked by /etc's link to /dev/null: no restriction" 0 "$EGL_WARN"
rm "$root/etc/environment.d/60-igpu.conf"
echo "__EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/10_nvidia.json" > "$root/usr/lib/environment.d/90-nvidia.conf"
mv "$root/usr/lib/environment.d/60-igpu.conf" "$root/etc/environment.d/"
doctor -- --domain-xml="$work/good.xml"
expect "environment.d: /usr/lib's 90-nvidia.conf comes after /etc's 60-igpu.conf (name order) and undoes it" 0 "$EGL_WARN"
rm "$root/usr/lib/environment.d/90-nvidia.conf"
doctor -- --domain-xml="$work/good.xml"
expect "environment.d: /etc's 60-igpu.conf alone: PASS" 0 \
        "PASS  EGL: /usr/share/glvnd/egl_vendor.d/10_nvidia.json is installed, and __EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/50_mesa.json (/etc/environment.d/60-igpu.conf) keeps programs off it"
rm "$root/etc/environment.d/60-igpu.conf"
# A relative directory is the program's working directory's, never the root's.
mkdir -p "$root-x/usr/share/glvnd/egl_vendor.d" && : > "$root-x/usr/share/glvnd/egl_vendor.d/10_nvidia.json"
echo "__EGL_VENDOR_LIBRARY_DIRS=-x/usr/share/glvnd/egl_vendor.d" > "$root/etc/environment.d/60-igpu.conf"
doctor -- --domain-xml="$work/good.xml"
expect "__EGL_VENDOR_LIBRARY_DIRS with a relative directory: taken for no nvidia file (none of the root's)" 0 \
        "PASS  EGL: /usr/share/glvnd/egl_vendor.d/10_nvidia.json is installed, and __EGL_VENDOR_LIBRARY_DIRS=-x/usr/share/glvnd/egl_vendor.d (/etc/environment.d/60-igpu.conf) keeps programs off it"
rm -r "$root-x" "$root/etc/environment.d/60-igpu.conf"
# Under --root, the user who ran sudo here is nobody of that root's.
sed -i '/^\[LookingGlass\]/,$d' "$root/etc/vfiod/vfiod.conf"
mkdir -p "$root/home/alice/.config/environment.d"
echo "__EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/50_mesa.json" > "$root/home/alice/.config/environment.d/60-igpu.conf"
SUDO_USER=alice doctor -- --domain-xml="$work/good.xml"
expect "--root, no User=, SUDO_USER=alice: alice's environment.d not read (SUDO_USER is this machine's)" 0 "$EGL_WARN"
rm "$root"/usr/share/glvnd/egl_vendor.d/10_nvidia.json "$root"/usr/share/vulkan/icd.d/nvidia_icd.json
doctor -- --domain-xml="$work/good.xml"
expect "no nvidia ICD installed: PASS" 0 \
        "PASS  EGL, Vulkan: nvidia's ICDs are not installed (glvnd/egl_vendor.d, vulkan/icd.d): programs do not load nvidia's driver by themselves"

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
        "21 checks: 2 failed, 2 warned"
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
