#!/bin/bash
# make demo: boots the test guest with systemd as PID 1 and the project
# installed (run-systemd-guest.sh), runs tests/kernel/demo.sh in it, and
# shows its story: vfio-status, windows-start, the VM running, a crash, the
# GPU coming back, the journal. No GPU, no KVM, no network needed.
#   tests/kernel/run-demo.sh BUILD
# Exit status: 0 when every step did what it shows.
set -uo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
log=$top/$build/guest/demo.log
mkdir -p "$top/$build/guest"
cat << 'EOF2'
vfiod demo: a Linux guest under QEMU (software emulation, no network) with an
iGPU and a "discrete GPU" (a VGA + an HDMI-audio function in one IOMMU group),
booted with systemd as PID 1 and this project installed by make install.
Booting it takes a minute or so; every step below is then timed.
EOF2
start=$SECONDS
"$top/tests/kernel/run-systemd-guest.sh" "$build" tests/kernel/demo.sh "$log" |
        sed -un -e 's/^DEMO //p' -e '/^run-systemd-guest:/p'
rc=${PIPESTATUS[0]}
echo
echo "In all $((SECONDS - start)) s, most of it booting under emulation. The guest's console: $log"
[ "$rc" = 0 ] || echo "The demo failed (exit $rc): see $log"
exit "$rc"
