#!/bin/bash
# units/vfiod.catalog: journalctl accepts it, and it explains every
# MESSAGE_ID that agent/event-log.c sends, with a subject each; the tests'
# copy of the IDs (tests/message-ids.sh) is among them.
#   test-catalog.sh BUILD
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
root=$(mktemp -d /tmp/vfiod-catalog.XXXXXX)
trap 'rm -rf "$root"' EXIT
fail=0
mkdir -p "$root/usr/lib/systemd/catalog"
cp "$top/units/vfiod.catalog" "$root/usr/lib/systemd/catalog/"
if ! journalctl --root="$root" --update-catalog 2> "$root/err" || [ -s "$root/err" ]; then
        echo "not ok - journalctl --update-catalog rejects units/vfiod.catalog:"; cat "$root/err"; exit 1
fi
journalctl --root="$root" --list-catalog > "$root/list"
ids=$(sed -n 's/^ *\[EVENT_[A-Z_]*\] = "\([0-9a-f]\{32\}\)",$/\1/p' "$top/agent/event-log.c")
n=$(echo "$ids" | wc -w)
[ "$n" -ge 10 ] || { echo "not ok - found only $n MESSAGE_IDs in agent/event-log.c"; exit 1; }
for id in $ids; do
        if grep -q "^$id vfiod: ." "$root/list"; then
                echo "ok - $id: $(grep "^$id" "$root/list" | cut -d' ' -f2-)"
        else
                echo "not ok - $id has no catalog entry"; fail=1
        fi
done
# The tests that read the journal take their IDs from tests/message-ids.sh.
. "$top/tests/message-ids.sh"
for pair in ID_STARTED=HANDOFF_STARTED ID_DONE=HANDOFF_DONE ID_RECOVERY=RECOVERY ID_DOMAIN=DOMAIN \
            ID_LIBVIRT=LIBVIRT ID_AGENT=AGENT; do
        v=${pair%=*} event=EVENT_${pair#*=}
        want=$(sed -n "s/^ *\[$event\] = \"\([0-9a-f]\{32\}\)\",\$/\1/p" "$top/agent/event-log.c")
        if [ -n "$want" ] && [ "${!v}" = "$want" ]; then
                echo "ok - tests/message-ids.sh: $v is $event's"
        else
                echo "not ok - tests/message-ids.sh: $v=${!v}, agent/event-log.c's $event is ${want:-missing}"; fail=1
        fi
done
# journalctl -x fills in the fields of an entry: the text names them.
grep -q "@VFIOD_GPU@" "$top/units/vfiod.catalog" || { echo "not ok - the catalog uses no @VFIOD_GPU@"; fail=1; }
exit $fail
