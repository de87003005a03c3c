# Sourced by the scripts that run inside the test guest (run-guest.sh):
# TAP-like checks, and the guest's two GPUs found from sysfs.
B=${VFIOD_BUILD:-build}
export VFIOD_RUNTIME_DIR=/run/vfiod VFIOD_MODPROBE_DIR=/run/modprobe.d
pass=0 fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
driver() { local l; l=$(readlink "/sys/bus/pci/devices/$1/driver") && basename "$l" || echo none; }
finish() { echo "# guest: $pass passed, $fail failed"; [ $fail = 0 ]; }

# No udevd here: load the host drivers (and MODULES...) by hand, as udev
# would at boot; then GPU, AUDIO, GROUP (the discrete GPU behind the root
# port) and IGPU (the boot display).
guest_gpus() {
        local m
        for m in bochs snd_hda_intel "$@"; do
                modprobe "$m" || { echo "not ok - loading $m"; exit 1; }
        done
        GPU= IGPU=
        for d in /sys/bus/pci/devices/*; do
                [ "$(cat "$d/class")" = 0x030000 ] || continue
                if [ "$(cat "$d/boot_vga")" = 1 ]; then IGPU=${d##*/}; else GPU=${d##*/}; fi
        done
        AUDIO=${GPU%.0}.1
        GROUP=$(basename "$(readlink "/sys/bus/pci/devices/$GPU/iommu_group")")
        echo "# discrete GPU $GPU + $AUDIO in IOMMU group $GROUP; boot display $IGPU"
}
