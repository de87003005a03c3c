#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vfio-status from command to output, against a running vfiod, beside the
# common shell approach (lspci -nnk, then fuser on the GPU's nodes), on this
# machine's own CPU. vfiod serves the fake GPU (build/tests/fakegpu) on a
# private bus; the client runs outside the fake sysfs, as on a workstation.
# lspci reads this machine's real PCI bus, fuser scans every process for
# three stand-ins of /dev/nvidia0, /dev/nvidiactl and /dev/nvidia-uvm (as
# it does for the real nodes). Root; needs lspci (pciutils) and fuser (psmisc).
#   bench/status-bench.sh [BUILD] [RUNS]
# Prints "BENCH name=value" lines: median and 90th percentile in ms.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build} runs=${2:-200}
case $build in /*) ;; *) build=$top/$build ;; esac
for c in lspci fuser dbus-daemon python3; do
        command -v $c > /dev/null || { echo "status-bench: $c is missing (make bench-deps)"; exit 1; }
done
W=$(mktemp -d /tmp/vfiod-status-bench.XXXXXX)
bus_pid= gpu_pid=
cleanup() {
        [ -n "$gpu_pid" ] && kill "$gpu_pid" 2> /dev/null && wait "$gpu_pid" 2> /dev/null
        [ -n "$bus_pid" ] && kill "$bus_pid" 2> /dev/null
        rm -rf "$W"
}
trap cleanup EXIT
. "$top/tests/scripts/private-bus.sh"
private_bus "$W" "$top" || { echo "status-bench: dbus-daemon did not start"; exit 1; }
export VFIOD_RUNTIME_DIR=$W/run VFIOD_MODPROBE_DIR=$W/modprobe VFIOD_LOG_TARGET=console
mkdir -p "$W/run" "$W/modprobe"
printf '[GPU]\nAddress=0000:01:00.0\n' > "$W/vfiod.conf"
"$build/tests/fakegpu" -- "$build/vfiod" -c "$W/vfiod.conf" > "$W/vfiod.log" 2>&1 &
gpu_pid=$!
"$build/tests/vfiod-wait" bus-name 20s org.vfiod1 || { echo "status-bench: vfiod did not come up"; cat "$W/vfiod.log"; exit 1; }
ln -s "$build/vfioctl" "$W/vfio-status"
touch "$W/nvidia0" "$W/nvidiactl" "$W/nvidia-uvm"
"$W/vfio-status" | grep -q 'Owner: *Linux' || { echo "status-bench: vfio-status does not answer"; exit 1; }

python3 - "$runs" "$W/vfio-status" "lspci -nnk > /dev/null; fuser -v $W/nvidia0 $W/nvidiactl $W/nvidia-uvm > /dev/null 2>&1; true" << 'EOF'
import subprocess, sys, time
runs, status, shell = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def timed(argv, **kw):
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=False, **kw)
        t.append((time.perf_counter() - t0) * 1000)
    t.sort()
    return t[len(t) // 2], t[int(len(t) * 0.9)]
for name, argv, kw in (("vfio_status", [status], {}), ("vfio_status_json", [status, "--json"], {}),
                       ("lspci_fuser", shell, {"shell": True})):
    med, p90 = timed(argv, **kw)
    print(f"BENCH {name}_ms={med:.2f} p90={p90:.2f} runs={runs}")
EOF
