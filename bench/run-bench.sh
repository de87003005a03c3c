#!/bin/bash
# Boots the test guest once and times a to-vfio + to-host cycle of its
# discrete GPU three ways (see guest-bench.sh); prints the ratios.
#   bench/run-bench.sh [BUILD]
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
log=$top/$build/guest/bench.log
# libvirtd's directories, which the guest (read-only root) mounts tmpfs on.
if command -v libvirtd > /dev/null; then mkdir -p /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; fi
"$top/tests/kernel/run-guest.sh" "$build" bench/guest-bench.sh "$log" > /dev/null || true
get() { sed -n "s/^BENCH $1=\([0-9a-z]*\).*/\1/p" "$log" | tail -n 1; }
bare=$(get bare_us) bare_cmd=$(get bare_cmd_us) ctl=$(get vfioctl_us) eng=$(get engine_us) virsh=$(get virsh_us)
grep "^BENCH" "$log"
[ -n "$bare" ] && [ -n "$ctl" ] || { echo "bench: the guest gave no figures, see $log"; exit 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b ~ /^[0-9]+$/ && b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
printf '%-44s %10s %8s\n' "one to-vfio + to-host cycle, 2 functions" "µs (TCG)" "ratio"
echo "in one process:"
printf '  %-42s %10s %8s\n' "bare sysfs writes" "$bare" "1.00x"
printf '  %-42s %10s %8s\n' "vfiod handoff engine" "${eng:-n/a}" "$(ratio "${eng:-0}" "$bare")"
echo "as commands (two per cycle):"
printf '  %-42s %10s %8s\n' "bare-handoff to-vfio; bare-handoff to-host" "$bare_cmd" "1.00x"
printf '  %-42s %10s %8s\n' "vfioctl to-vfio; vfioctl to-host" "$ctl" "$(ratio "$ctl" "$bare_cmd")"
printf '  %-42s %10s %8s\n' "virsh nodedev-detach/-reattach (x2 each)" "${virsh:-n/a}" "$(ratio "${virsh:-0}" "$bare_cmd")"

# The agent: start-up, footprint, idle wakeups, crash recovery (agent-bench.py).
alog=$top/$build/guest/agent-bench.log
"$top/tests/kernel/run-guest.sh" "$build" bench/guest-agent-bench.sh "$alog" > /dev/null || true
grep "^BENCH agent" "$alog"
grep -q "^BENCH agent_reaction_ms" "$alog" || { echo "bench: the agent bench did not finish, see $alog"; exit 1; }

# The agent on this machine's own CPU: start-up and idle against the fake
# GPU (agent-native.py), and a real libvirtd's QEMU killed 5 times (the
# system test's set-up, tests/system/test-libvirtd.sh).
"$top/$build/tests/fakegpu" -- python3 "$top/bench/agent-native.py" "$build" 20 60 2> /dev/null | grep "^BENCH"
runs=$(mktemp)
for i in 1 2 3 4 5; do
        VFIOD_BENCH_IDLE_S=$([ $i = 1 ] && echo 60) "$top/tests/system/test-libvirtd.sh" "$build" >> "$runs" 2>&1
done
stats() { awk -v name="$1" '{ n++; s += $1; if (n == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }
        END { if (n) printf "BENCH %s=%.1f min=%.1f max=%.1f n=%d\n", name, s / n, lo, hi, n }'; }
sed -n 's/.*Recovered: .*(\([0-9.]*\) ms from the event to the first write.*/\1/p' "$runs" | stats native_reaction_ms
sed -n 's/^# kill -9 QEMU -> host drivers bound: \([0-9]*\) ms.*/\1/p' "$runs" | stats native_kill_to_host_ms
sed -n 's/^# of which kill -9 -> vfiod told of the stop by libvirt: \([0-9]*\) ms.*/\1/p' "$runs" | stats native_libvirt_event_ms
for f in RSS anonymous PSS; do
        sed -n "s/^# vfiod after start-up, GPU on the host, libvirt not loaded: .*\b$f \([0-9]*\) KiB.*/\1/p" "$runs" |
                stats "native_${f}_kib"
        sed -n "s/^# vfiod following .*, libvirt connected: .*\b$f \([0-9]*\) KiB.*/\1/p" "$runs" |
                stats "native_following_${f}_kib"
        sed -n "s/^# vfiod after the VM stopped, connection closed, libvirt still mapped: .*\b$f \([0-9]*\) KiB.*/\1/p" \
                "$runs" | stats "native_after_vm_${f}_kib"
done
sed -n 's/^# vfiod idle, libvirtd running: \([0-9]*\) context switches.*/\1/p' "$runs" | stats native_idle_libvirtd_switches
rm -f "$runs"

# vfio-status against vfiod, beside lspci -nnk + fuser (status-bench.sh).
"$top/bench/status-bench.sh" "$build" 200 2> /dev/null

# vfiod's holder scan (every /proc/PID/fd and maps) against fuser -v and
# lsof on the same nodes, 300 processes of its own in /proc (holders-bench.py).
python3 "$top/bench/holders-bench.py" "$build" 300 100
