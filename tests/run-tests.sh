#!/bin/bash
# Runs the test suites and ends with one line: "N passed, N failed".
# A skipped test (exit 77) counts as a failure of the run: a green run in
# which tests did not run would be a lie.
#   run-tests.sh --build DIR [--asan DIR] [--valgrind] [--kernel | --only-kernel | --only-system]
# System tests (tests/system/test-*.sh BUILD_DIR: the agent with a real
# libvirtd and QEMU, as root) run after the umockdev tests; --only-system
# runs only them.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=build asan= valgrind=0 kernel=0 only_kernel=0 only_system=0
while [ $# -gt 0 ]; do
        case $1 in
        --build) build=$2; shift ;;
        --asan) asan=$2; shift ;;
        --valgrind) valgrind=1 ;;
        --kernel) kernel=1 ;;
        --only-kernel) kernel=1 only_kernel=1 ;;
        --only-system) only_system=1 ;;
        *) echo "run-tests: unknown option $1" >&2; exit 2 ;;
        esac
        shift
done

logdir=$top/$build/test-logs
mkdir -p "$logdir"
pass=0 fail=0 skip=0
failed=()

run() { # NAME COMMAND...
        local name=$1; shift
        local log=$logdir/$name.log start=$SECONDS rc
        # A hung test must not eat the CI budget; the test binaries block
        # SIGTERM (they hand signals to sd-event), so KILL.
        timeout -s KILL "${VFIOD_TEST_TIMEOUT:-900}" "$@" > "$log" 2>&1 < /dev/null
        rc=$?
        [ $rc = 137 ] && echo "killed after ${VFIOD_TEST_TIMEOUT:-900}s" >> "$log"
        if [ $rc = 0 ]; then
                pass=$((pass + 1)); printf 'PASS  %-34s %4ds\n' "$name" $((SECONDS - start))
        elif [ $rc = 77 ]; then
                skip=$((skip + 1)); failed+=("$name (skipped)"); printf 'SKIP  %s\n' "$name"
        else
                fail=$((fail + 1)); failed+=("$name"); printf 'FAIL  %-34s exit %d, log %s\n' "$name" $rc "$log"
                tail -n 30 "$log" | sed 's/^/    | /'
        fi
}

unit=() umock=() system=()
for t in tests/unit/test-*.c; do [ -e "$t" ] && unit+=("$(basename "$t" .c)"); done
for t in tests/umockdev/test-*.c; do [ -e "$t" ] && umock+=("$(basename "$t" .c)"); done
for t in tests/system/test-*.sh; do [ -e "$t" ] && system+=("$(basename "$t" .sh)"); done

if [ $only_system = 1 ]; then
        for t in "${system[@]}"; do run "system-$t" "tests/system/$t.sh" "$build"; done
elif [ $only_kernel = 0 ]; then
        for t in "${unit[@]}"; do run "$t" "$build/tests/$t"; done
        for t in "${umock[@]}"; do run "$t" umockdev-wrapper "$build/tests/$t"; done
        for t in "${system[@]}"; do run "system-$t" "tests/system/$t.sh" "$build"; done
        for t in tests/scripts/test-*.sh; do [ -e "$t" ] && run "$(basename "$t" .sh)" "$t" "$build"; done
        if [ -n "$asan" ]; then
                # clang links its ASan runtime statically, so umockdev's preload may come first.
                export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:verify_asan_link_order=0
                export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
                for t in "${unit[@]}"; do run "asan-$t" "$asan/tests/$t"; done
                for t in "${umock[@]}"; do run "asan-$t" umockdev-wrapper "$asan/tests/$t"; done
                # The real vfiod and vfioctl, built with the sanitizers, through the D-Bus API.
                run "asan-test-dbus-api" tests/scripts/test-dbus-api.sh "$asan"
                unset ASAN_OPTIONS UBSAN_OPTIONS
        fi
        if [ $valgrind = 1 ]; then
                vg=(valgrind -q --error-exitcode=99 --error-markers=VGERR-BEGIN,VGERR-END --leak-check=full
                    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
                    --suppressions=tests/valgrind.supp)
                for t in "${unit[@]}"; do run "valgrind-$t" tests/valgrind-checked.sh "${vg[@]}" "$build/tests/$t"; done
                # The preload first, then valgrind: VFIOD_TEST_REEXEC keeps the test from re-executing itself.
                for t in "${umock[@]}"; do
                        run "valgrind-$t" tests/valgrind-checked.sh env VFIOD_TEST_REEXEC=1 umockdev-wrapper \
                                "${vg[@]}" "$build/tests/$t"
                done
                # The real vfiod binary, its workers and writers, serving the D-Bus API.
                run "valgrind-test-dbus-api" env VFIOD_TEST_VALGRIND=1 tests/scripts/test-dbus-api.sh "$build"
        fi
fi
if [ $kernel = 1 ]; then
        for s in tests/kernel/guest-*.sh; do
                run "kernel-$(basename "$s" .sh)" tests/kernel/run-guest.sh "$build" "$s"
        done
        # The same guest with systemd as PID 1 and the project installed (make install).
        for s in tests/kernel/systemd-*.sh; do
                [ -e "$s" ] && run "kernel-$(basename "$s" .sh)" tests/kernel/run-systemd-guest.sh "$build" "$s"
        done
        # make demo works as the README says (it checks each step it shows).
        run "kernel-demo" tests/kernel/run-demo.sh "$build"
fi

if [ ${#failed[@]} -gt 0 ]; then
        echo "Failed: ${failed[*]}"
fi
echo "$pass passed, $((fail + skip)) failed"
[ $fail = 0 ] && [ $skip = 0 ]
