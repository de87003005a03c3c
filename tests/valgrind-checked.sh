#!/bin/bash
# valgrind-checked.sh COMMAND...: runs COMMAND (a valgrind run with
# --error-markers=VGERR-BEGIN,VGERR-END) and fails also on an error that a
# child process reported (a handoff worker, a sysfs writer): its parent may
# not pass that child's exit status on.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" = 0 ] && grep -q VGERR-BEGIN "$out"; then
        echo "valgrind-checked: a process reported errors (see VGERR-BEGIN above)"
        rc=98
fi
exit "$rc"
