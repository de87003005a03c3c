#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vfiod's D-Bus API and vfioctl as its client, for real: a private
# dbus-daemon with the system bus's default policy plus units/org.vfiod1.conf,
# the real vfiod as root on a fake GPU (build/tests/fakegpu: a umockdev
# testbed, nvidia + snd_hda_intel, IOMMU group 13), clients as root and as
# uid nobody (with and without the configured group), a stand-in polkit
# (build/tests/fake-polkit), and libvirt's test:///default driver for the VM.
# Every check looks at what happened: the drivers in the (fake) sysfs, the
# reply, the exit code, the PropertiesChanged a follower saw, vfiod's log.
#   test-dbus-api.sh BUILD
set -uo pipefail
self=$(readlink -f "$0")
top=$(cd "$(dirname "$self")/../.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
GPU=0000:01:00.0 AUDIO=0000:01:00.1
GPU_PATH=/org/vfiod1/gpu/pci_0000_01_00_0

# ---- stage 2: under fakegpu (the fake /sys in the preload) ----
if [ "${1:-}" = --scenarios ]; then
        build=$2 W=$3
        n=0 fail=0
        ok() { n=$((n + 1)); echo "ok $n - $*"; }
        not_ok() { n=$((n + 1)); fail=1; echo "not ok $n - $*"; }
        check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
        driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver")" 2> /dev/null || echo none; }
        on() { [ "$(driver $GPU)" = "$1" ] && [ "$(driver $AUDIO)" = "$2" ]; }
        nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
        member() { setpriv --reuid=65534 --regid=65534 --groups=100 "$@"; }
        # Event-driven (tail -f follows with inotify), with a deadline; grep
        # answers at the first match, the tail behind it ends with its timeout.
        follower=0
        saw() { grep -q -m1 -- "$2" < <(timeout 10 tail --pid=$follower -n +1 -f "$1"); }
        saw_twice() { awk -v p="$2" 'index($0, p) { if (++n == 2) { found = 1; exit } } END { exit !found }' \
                        < <(timeout 10 tail --pid=$follower -n +1 -f "$1"); }
        ctl=$build/vfioctl

        # VFIOD_TEST_VALGRIND=1: the real vfiod, with its workers and writers,
        # under valgrind (exit 99 on any error, a leak included).
        vg=()
        [ "${VFIOD_TEST_VALGRIND:-0}" = 1 ] &&
                vg=(valgrind -q --error-exitcode=99 --trace-children=yes --child-silent-after-fork=no
                    --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
                    --error-markers=VGERR-BEGIN,VGERR-END --suppressions="$top/tests/valgrind.supp")
        "${vg[@]}" "$build/vfiod" -c "$W/vfiod.conf" > "$W/vfiod.log" 2>&1 &
        vfiod=$!
        check "vfiod owns org.vfiod1 on the bus" "$build/tests/vfiod-wait" bus-name 20s org.vfiod1

        nobody busctl --system introspect org.vfiod1 $GPU_PATH > "$W/introspect" 2>&1
        check "uid nobody introspects the Gpu object: methods and properties" \
                grep -q '^\.ToVfio .*method' "$W/introspect"
        grep -q '^\.Functions .*a(sssss)' "$W/introspect" && grep -q '^\.Progress .*signal' "$W/introspect" ||
                not_ok "introspection lacks Functions or Progress"

        nobody "$W/vfio-status" > "$W/out" 2>&1; rc=$?
        check "vfio-status (as nobody, through the link) shows the host owning both functions" \
                bash -c "[ $rc = 0 ] && grep -q 'Owner: *Linux (host)' '$W/out' && grep -q '$GPU .*nvidia' '$W/out' && grep -q '$AUDIO .*snd_hda_intel' '$W/out'"

        nobody "$ctl" status --json > "$W/json" 2>&1
        check "status --json: the documented fields, drivers as they are" bash -c "
                grep -q '^{\"gpu\":\"$GPU\",\"owner\":\"host\",\"status\":\"[^\"]*\",\"iommu_group\":13,\"functions\":\[' '$W/json' &&
                grep -q '{\"address\":\"$GPU\",\"role\":\"gpu\",\"class\":\"0300\",\"ids\":\"10de:2203\",\"driver\":\"nvidia\"}' '$W/json' &&
                grep -q '\"holders\":\[\],\"last_error\":\"\",\"vm\":null}$' '$W/json'"

        # A follower: every change as one waybar line.
        nobody "$ctl" status --waybar --follow > "$W/follow" 2>&1 &
        follower=$!
        saw "$W/follow" '"text":"GPU: Linux"' || { not_ok "the waybar follower printed nothing"; cat "$W/follow"; }

        nobody "$ctl" to-vfio > "$W/out" 2>&1; rc=$?
        check "nobody's to-vfio is refused (exit 9, access denied) and nothing moves" \
                bash -c "[ $rc = 9 ] && grep -q 'Access denied' '$W/out' && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on nvidia snd_hda_intel"
        check "the refusal is in vfiod's log with the caller's uid" grep -q 'Denied org.vfiod1.Gpu.ToVfio() to uid 65534' "$W/vfiod.log"

        member "$ctl" to-vfio > "$W/out" 2>&1; rc=$?
        check "a member of Group= hands the GPU over; every step is shown as it happens" \
                bash -c "[ $rc = 0 ] && grep -q 'nvidia -> vfio-pci' '$W/out' && grep -q 'snd_hda_intel -> vfio-pci' '$W/out' && grep -q 'every function is on vfio-pci' '$W/out'"
        check "both functions are on vfio-pci" on vfio-pci vfio-pci
        check "the follower saw the GPU leave the host (PropertiesChanged)" saw "$W/follow" '"alt":"vfio"'
        busctl --system get-property org.vfiod1 $GPU_PATH org.vfiod1.Gpu Owner > "$W/out"
        check "Gpu.Owner is vfio (no VM configured)" grep -qx 's "vfio"' "$W/out"

        "$ctl" to-host > "$W/out" 2>&1; rc=$?
        check "root's to-host gives both functions back" bash -c "[ $rc = 0 ] && grep -q 'back on its host driver' '$W/out'"
        check "nvidia and snd_hda_intel again" on nvidia snd_hda_intel
        check "the follower saw the GPU come back" saw_twice "$W/follow" '"text":"GPU: Linux"'

        # polkit: asked when the caller is neither root nor in the group.
        "$build/tests/fake-polkit" org.vfiod1.handoff > "$W/polkit.log" 2>&1 &
        polkit=$!
        "$build/tests/vfiod-wait" bus-name 10s org.freedesktop.PolicyKit1 || not_ok "fake polkit did not start"
        nobody "$ctl" to-vfio > "$W/out" 2>&1; rc=$?
        check "polkit authorizes org.vfiod1.handoff for nobody: to-vfio done" bash -c "[ $rc = 0 ] && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on vfio-pci vfio-pci"
        check "polkit was asked for uid 65534, interactively" grep -qx 'org.vfiod1.handoff uid=65534 interactive=1' "$W/polkit.log"
        nobody "$ctl" reload > "$W/out" 2>&1; rc=$?
        check "polkit says no to org.vfiod1.reload: exit 9" bash -c "[ $rc = 9 ] && grep -q 'polkit said no' '$W/out'"
        "$ctl" -q to-host > "$W/out" 2>&1; rc=$?
        check "-q: nothing printed, GPU back" bash -c "[ $rc = 0 ] && [ ! -s '$W/out' ] && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on nvidia snd_hda_intel"
        kill $polkit; wait $polkit 2> /dev/null

        # install-hooks into a private root: idempotent, and --remove takes
        # only what it wrote.
        R=$W/root hookf=$W/root/etc/libvirt/hooks/qemu.d/vfiod
        "$ctl" install-hooks --root="$R" > "$W/out" 2>&1; rc=$?
        check "install-hooks writes an executable qemu.d/vfiod that runs vfioctl hook, and says to restart libvirtd" \
                bash -c "[ $rc = 0 ] && [ -x '$hookf' ] && [ \$(stat -c %a '$hookf') = 755 ] &&
                        grep -qx \"exec '$(readlink -f "$ctl")' hook \\\"\\\$@\\\"\" '$hookf' && grep -q 'systemctl restart libvirtd' '$W/out'"
        cp "$hookf" "$W/hook.before"
        "$ctl" install-hooks --root="$R" > "$W/out" 2>&1; rc=$?
        check "install-hooks again: up to date, the file unchanged" \
                bash -c "[ $rc = 0 ] && grep -q 'is installed and up to date' '$W/out' && cmp -s '$hookf' '$W/hook.before'"
        chmod 644 "$hookf"
        "$ctl" install-hooks --root="$R" > /dev/null 2>&1
        check "install-hooks mends a hook that lost its x bit" test -x "$hookf"
        "$ctl" install-hooks --root="$R" --remove > "$W/out" 2>&1; rc=$?
        check "install-hooks --remove removes it" bash -c "[ $rc = 0 ] && [ ! -e '$hookf' ] && grep -q '^Removed ' '$W/out'"
        "$ctl" install-hooks --root="$R" --remove > "$W/out" 2>&1; rc=$?
        check "install-hooks --remove again: not installed, exit 0" bash -c "[ $rc = 0 ] && grep -q 'is not installed' '$W/out'"
        printf '#!/bin/sh\n# the user'"'"'s own hook\n' > "$hookf"
        "$ctl" install-hooks --root="$R" --remove > "$W/out" 2>&1; rc=$?
        check "install-hooks --remove leaves a hook vfioctl did not write" \
                bash -c "[ $rc = 1 ] && grep -q 'was not written by vfioctl' '$W/out' && grep -q 'own hook' '$hookf'"
        "$ctl" install-hooks --root="$R" --user=nobody > "$W/out" 2>&1; rc=$?
        check "install-hooks --user=: usage error, nothing written" \
                bash -c "[ $rc = 2 ] && grep -q 'own hook' '$hookf' && [ \$(wc -l < '$W/out') = 1 ]"
        # libvirtd runs the hook as root: never one that runs a vfioctl that
        # others can change; a path with quotes and spaces is quoted for sh.
        rm -f "$hookf"
        mkdir -p "$W/user-bin" && cp "$(readlink -f "$ctl")" "$W/user-bin/vfioctl" && chown -R nobody "$W/user-bin"
        "$W/user-bin/vfioctl" install-hooks --root="$R" > "$W/out" 2>&1; rc=$?
        check "install-hooks from a vfioctl that uid 65534 owns: refused, no hook written" \
                bash -c "[ $rc = 1 ] && [ ! -e '$hookf' ] && grep -q 'is not owned by root' '$W/out'"
        chown -R root "$W/user-bin" && chmod 777 "$W/user-bin"
        "$W/user-bin/vfioctl" install-hooks --root="$R" > "$W/out" 2>&1; rc=$?
        check "install-hooks from a world-writable directory: refused, no hook written" \
                bash -c "[ $rc = 1 ] && [ ! -e '$hookf' ] && grep -q 'user-bin is writable by others than root' '$W/out'"
        odd="$W/it's a dir"
        mkdir -p "$odd" && cp "$(readlink -f "$ctl")" "$odd/vfioctl"
        "$odd/vfioctl" install-hooks --root="$R" > "$W/out" 2>&1; rc=$?
        echo "[VM]" > "$W/nohook.conf"
        VFIOD_CONFIG="$W/nohook.conf" sh "$hookf" win prepare begin - < /dev/null > "$W/hook.out" 2>&1; hrc=$?
        check "a vfioctl under a path with a quote and a space: the hook runs it (exit $hrc)" \
                bash -c "[ $rc = 0 ] && [ $hrc = 0 ] && [ ! -s '$W/hook.out' ]"
        rm -f "$hookf"
        "$ctl" install-hooks --root="$R" > /dev/null 2>&1 || not_ok "install-hooks for the hook checks"

        lgf=$R/etc/vfiod/vfiod.conf.d/50-looking-glass.conf
        "$ctl" install-services --root="$R" --user=nobody > "$W/out" 2>&1; rc=$?
        check "install-services --user=nobody: the Looking Glass drop-in names the user" \
                bash -c "[ $rc = 0 ] && grep -qx 'User=nobody' '$lgf' && grep -qx '\[LookingGlass\]' '$lgf'"
        "$ctl" install-services --root="$R" --user=nobody > "$W/out" 2>&1; rc=$?
        check "install-services again: up to date" bash -c "[ $rc = 0 ] && grep -q 'up to date' '$W/out'"
        "$ctl" install-services --root="$R" --user=no-such-user-here > "$W/out" 2>&1; rc=$?
        check "install-services --user= of no user: exit 2, the drop-in unchanged" \
                bash -c "[ $rc = 2 ] && grep -q 'no such user' '$W/out' && grep -qx 'User=nobody' '$lgf'"
        "$ctl" install-services --root="$R" --remove > "$W/out" 2>&1; rc=$?
        check "install-services --remove" bash -c "[ $rc = 0 ] && [ ! -e '$lgf' ]"

        # The installed hook as libvirtd runs it (DOMAIN OP SUB EXTRA, the XML on
        # stdin) against this vfiod; its config names the domain "win".
        printf '[GPU]\nAddress=%s\n[VM]\nDomain=win\n' "$GPU" > "$W/hook.conf"
        hook() { echo '<domain/>' | VFIOD_CONFIG=$W/hook.conf "$hookf" "$@"; }
        # A Linux process renders on the GPU (its DRM render node open).
        sleep 300 < /dev/dri/renderD128 &
        holder=$!
        hook win prepare begin - > "$W/out" 2>&1; rc=$?
        check "hook prepare while a process renders on the GPU: exit 4 naming it, nothing moves" \
                bash -c "[ $rc = 4 ] && grep -q 'in use by $holder sleep (user root, fd) on /dev/dri/renderD128' '$W/out' && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on nvidia snd_hda_intel"
        # The same holder through GetHolders (a scan off vfiod's loop) and vfio-status, for anyone.
        nobody busctl --system call org.vfiod1 $GPU_PATH org.vfiod1.Gpu GetHolders > "$W/out" 2>&1; sed "s/^/# /" "$W/out"
        check "Gpu.GetHolders as nobody: the holder, its node and how it holds it" \
                grep -q "^a(usssss) 1 $holder \"root\" \"sleep\" \"/dev/dri/renderD128\" \"fd\" \"\"" "$W/out"
        nobody "$W/vfio-status" > "$W/out" 2>&1
        check "vfio-status as nobody names it" grep -q "^Holders: *$holder sleep (user root, fd) on /dev/dri/renderD128" "$W/out"
        busctl --system get-property org.vfiod1 $GPU_PATH org.vfiod1.Gpu Holders > "$W/out" 2>&1
        check "the Holders property is the last scan's" grep -q "^a(usssss) 1 $holder " "$W/out"
        # --drain signals other users' processes: Group= does not grant it, polkit is asked for its own action.
        "$build/tests/fake-polkit" org.vfiod1.handoff > "$W/polkit.log" 2>&1 &
        polkit=$!
        "$build/tests/vfiod-wait" bus-name 10s org.freedesktop.PolicyKit1 || not_ok "fake polkit did not start"
        member "$ctl" to-vfio --drain > "$W/out" 2>&1; rc=$?
        check "a member of Group= asking to-vfio --drain: polkit says no to org.vfiod1.drain, exit 9, the holder untouched" \
                bash -c "[ $rc = 9 ] && grep -qx 'org.vfiod1.drain uid=65534 interactive=1' '$W/polkit.log' && kill -0 $holder && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on nvidia snd_hda_intel"
        kill $polkit; wait $polkit 2> /dev/null
        kill $holder; wait $holder 2> /dev/null
        hook other prepare begin - > "$W/out" 2>&1; rc=$?
        check "hook prepare of another domain: exit 0, the GPU stays on the host" \
                bash -c "[ $rc = 0 ] && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on nvidia snd_hda_intel"
        hook win prepare begin - > "$W/out" 2>&1; rc=$?
        check "hook prepare once nobody uses the GPU: exit 0, both functions on vfio-pci" \
                bash -c "[ $rc = 0 ] && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on vfio-pci vfio-pci"
        hook win started begin - > "$W/out" 2>&1; rc=$?
        check "hook started: nothing to do, the GPU stays on vfio-pci" \
                bash -c "[ $rc = 0 ] && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on vfio-pci vfio-pci"
        hook win release end - > "$W/out" 2>&1; rc=$?
        check "hook release: exit 0, both functions back on nvidia + snd_hda_intel" \
                bash -c "[ $rc = 0 ] && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on nvidia snd_hda_intel"
        hook win prepare > "$W/out" 2>&1; rc=$?
        check "hook with too few arguments: exit 2, one usage line" bash -c "[ $rc = 2 ] && [ \$(wc -l < '$W/out') = 1 ]"

        # qemu:///system with its libvirtd away: vfiod tries libvirt only while
        # the GPU is off the host and goes back to libvirt's status records
        # after. Closing emits PropertiesChanged after reconcile's pass: the
        # getters refresh the GPU, whose driver names that pass holds.
        cp "$W/vfiod.conf" "$W/vfiod.conf.plain"
        printf '[VM]\nDomain=win\nURI=qemu+unix:///system?socket=%s/no-libvirtd.sock\n' "$W" >> "$W/vfiod.conf"
        "$ctl" reload > "$W/out" 2>&1 || not_ok "reload with a qemu:///system VM: $(cat "$W/out")"
        busctl --system get-property org.vfiod1 /org/vfiod1/vm/win org.vfiod1.Vm State > "$W/out" 2>&1
        check "Vm.State of a qemu:///system domain with no status record: shut off" grep -qx 's "shut off"' "$W/out"
        "$ctl" -q to-vfio > "$W/out" 2>&1; rc=$?
        check "to-vfio: the GPU leaves the host, and vfiod tries libvirt (nobody answers)" \
                bash -c "[ $rc = 0 ] && grep -q 'no-libvirtd.sock is not reachable' '$W/vfiod.log'"
        "$ctl" -q to-host > "$W/out" 2>&1; rc=$?
        check "to-host: the GPU back on nvidia + snd_hda_intel" \
                bash -c "[ $rc = 0 ] && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on nvidia snd_hda_intel"
        check "then vfiod stops trying libvirt" saw "$W/vfiod.log" 'Stopped trying to reach libvirt'
        busctl --system get-property org.vfiod1 $GPU_PATH org.vfiod1.Gpu Status > "$W/out" 2>&1
        check "Gpu.Status after it, whole: $(cat "$W/out")" grep -qx "s \"$GPU on the host (nvidia)\"" "$W/out"
        mv "$W/vfiod.conf.plain" "$W/vfiod.conf"
        "$ctl" reload > "$W/out" 2>&1 || not_ok "reload without the VM: $(cat "$W/out")"

        # Reload: a bad file is refused with its words and changes nothing.
        { cat "$W/vfiod.conf"; printf '\n[VM]\nDomain=test\nURI=test:///default\nShutdownTimeoutSec=soon\n'; } > "$W/new"
        # inotify reloads too; the file is invalid, so vfiod keeps the old one.
        mv "$W/new" "$W/vfiod.conf"
        "$ctl" reload > "$W/out" 2>&1; rc=$?
        check "reload of an invalid file: exit 3 and the file:line: what words" \
                bash -c "[ $rc = 3 ] && grep -q 'vfiod.conf:[0-9]*: ShutdownTimeoutSec=soon is not a positive time span' '$W/out'"
        busctl --system get-property org.vfiod1 /org/vfiod1 org.vfiod1.Manager Vms > "$W/out"
        check "no VM after the refused reload" grep -qx 'ao 0' "$W/out"

        # Now a valid VM: libvirt's test driver, whose domain "test" runs.
        sed -i 's/^ShutdownTimeoutSec=soon/ShutdownTimeoutSec=90s/' "$W/vfiod.conf"
        "$ctl" reload > "$W/out" 2>&1; rc=$?
        check "reload (Manager.Reload) of a valid file" test $rc = 0
        VM_PATH=$(busctl --system get-property org.vfiod1 /org/vfiod1 org.vfiod1.Manager Vms | cut -d'"' -f2)
        check "the Vm object is /org/vfiod1/vm/test" test "$VM_PATH" = /org/vfiod1/vm/test
        busctl --system get-property org.vfiod1 "$VM_PATH" org.vfiod1.Vm State > "$W/out" 2>&1
        check "Vm.State is running (test driver)" grep -qx 's "running"' "$W/out"
        "$ctl" start > "$W/out" 2>&1; rc=$?
        check "start of a running VM: nothing to do, exit 0" bash -c "[ $rc = 0 ] && grep -q 'test already runs' '$W/out'"
        "$W/vm-health" > "$W/out" 2>&1; rc=$?
        check "vm-health: state, vCPUs, memory; no hostdev for the GPU: exit 3" \
                bash -c "[ $rc = 3 ] && grep -q 'VM: *test (running)' '$W/out' && grep -q 'vCPUs: *2' '$W/out' && grep -q 'Match: *no: $GPU is not passed through' '$W/out'"
        "$ctl" health --json > "$W/out" 2>&1
        check "vm-health --json" grep -q '^{"vm":"test","state":"running","vcpus":2,"memory_kib":8388608,"hostdevs":\[\],"gpu":"0000:01:00.0","iommu_group":13,"owner":"host","hostdevs_match_group":false' "$W/out"
        "$ctl" to-vfio > /dev/null 2>&1
        busctl --system get-property org.vfiod1 $GPU_PATH org.vfiod1.Gpu Owner > "$W/out"
        check "on vfio-pci with the domain running: Gpu.Owner is the domain" grep -qx 's "test"' "$W/out"
        "$W/gpu-rebind-nvidia" > "$W/out" 2>&1; rc=$?
        check "gpu-rebind-nvidia under a running VM is refused, nothing taken" \
                bash -c "[ $rc = 1 ] && grep -q 'test runs and owns the GPU: stop it first' '$W/out' && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on vfio-pci vfio-pci"
        nobody busctl --system call org.vfiod1 "$VM_PATH" org.vfiod1.Vm Prepare b false > "$W/out" 2>&1
        check "Vm.Prepare (libvirt's prepare hook) as nobody: access denied" grep -q 'Access denied' "$W/out"
        busctl --system call org.vfiod1 "$VM_PATH" org.vfiod1.Vm Prepare b false > "$W/out" 2>&1
        check "Vm.Prepare as root with the GPU already the running domain's: done, nothing moves" \
                bash -c "grep -q '^s \".*already on vfio-pci' '$W/out' && $(declare -f driver on); GPU=$GPU AUDIO=$AUDIO on vfio-pci vfio-pci"
        busctl --system call org.vfiod1 "$VM_PATH" org.vfiod1.Vm Stop t 100000000000 > "$W/out" 2>&1
        check "Vm.Stop with a timeout over a day: InvalidArgs" grep -q 'longer than a day' "$W/out"
        busctl --system call org.vfiod1 $GPU_PATH org.vfiod1.Gpu ToVfio s yes > "$W/out" 2>&1
        check "a call with the wrong signature is refused by sd-bus" grep -q 'Invalid argument\|InvalidArgs\|signature' "$W/out"

        # Bad input to vfioctl: one line, exit 2, no call made.
        "$ctl" --gpu=zz to-vfio > "$W/out" 2>&1; rc=$?
        check "--gpu without --direct: usage error" bash -c "[ $rc = 2 ] && [ \$(wc -l < '$W/out') = 1 ]"
        "$ctl" stop --timeout=later > "$W/out" 2>&1; rc=$?
        check "--timeout=later: usage error" bash -c "[ $rc = 2 ] && grep -q 'not a positive time span' '$W/out'"

        kill $follower 2> /dev/null; wait $follower 2> /dev/null
        kill $vfiod; wait $vfiod; rc=$?
        check "vfiod exits 0 on SIGTERM${vg:+, valgrind found no error in it or its workers}" \
                bash -c "[ $rc = 0 ] && ! grep -q VGERR-BEGIN '$W/vfiod.log'"
        nobody "$W/vfio-status" > "$W/out" 2>&1; rc=$?
        check "vfio-status with vfiod stopped: exit 8, one clear line" \
                bash -c "[ $rc = 8 ] && grep -q 'vfiod is not running' '$W/out' && [ \$(wc -l < '$W/out') = 1 ]"
        before="$(driver $GPU) $(driver $AUDIO)"
        hook win prepare begin - > "$W/out" 2>&1; rc=$?
        check "hook prepare with vfiod stopped: exit 8 (the start fails), no driver changed ($before)" \
                eval '[ $rc = 8 ] && grep -q "vfiod is not running" "$W/out" && [ "$(driver $GPU) $(driver $AUDIO)" = "$before" ]'
        hook win release end - > "$W/out" 2>&1; rc=$?
        check "hook release with vfiod stopped: exit 0 (libvirt ignores it; vfiod gives back when it runs)" test $rc = 0
        [ $fail = 0 ] || { echo "--- vfiod's log:"; cat "$W/vfiod.log"; }
        exit $fail
fi

# ---- stage 1: the bus, the configuration, then stage 2 under fakegpu ----
[ "$(id -u)" = 0 ] || { echo "test-dbus-api: needs root (vfiod writes the fake sysfs as root, clients switch to nobody)"; exit 1; }
W=$(mktemp -d /tmp/vfiod-dbus.XXXXXX)
chmod 755 "$W"
bus_pid=
cleanup() { [ -n "$bus_pid" ] && kill "$bus_pid" 2> /dev/null; rm -rf "$W"; }
trap cleanup EXIT

. "$top/tests/scripts/private-bus.sh"
private_bus "$W" "$top" || { echo "test-dbus-api: dbus-daemon did not start"; exit 1; }
export VFIOD_RUNTIME_DIR=$W/run VFIOD_MODPROBE_DIR=$W/modprobe VFIOD_LOG_TARGET=console
export VFIOD_LIBVIRT_RUN_DIR=$W/libvirt-run
mkdir -p "$W/vfiod.conf.d" "$W/libvirt-run"
printf '[GPU]\nAddress=%s\n\n[Access]\nGroup=users\n' "$GPU" > "$W/vfiod.conf"
for l in vfio-status vm-health gpu-rebind-nvidia; do ln -s "$build/vfioctl" "$W/$l"; done

timeout -s KILL 300 "$build/tests/fakegpu" -- "$self" --scenarios "$build" "$W"
