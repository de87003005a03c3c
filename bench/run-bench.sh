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
grep "^BENCH agent" "$alog" || { echo "bench: the agent bench gave no figures, see $alog"; exit 1; }
