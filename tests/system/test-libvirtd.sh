#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real vfiod binary against a real libvirtd and a QEMU domain that is
# started, killed with SIGKILL, and left running while libvirtd restarts.
#   tests/system/test-libvirtd.sh BUILD_DIR
#
# Everything runs in private namespaces (mount, PID, network): tmpfs over
# /run and libvirt's state directories, a private /etc/libvirt, a private
# systemd-journald that vfiod logs to (VFIOD_LOG_TARGET=journal), virtlogd
# and libvirtd started here as root. The domain is TCG, 64 MiB, no disk, no
# network (no <interface>; the namespace has no network either). The GPU is
# fake: build/tests/fakegpu serves a umockdev testbed (a 2-function GPU on
# nvidia + snd_hda_intel, IOMMU group 13) to vfiod and to the checks here.
# Nothing waits by sleeping: build/tests/vfiod-wait waits for uevents,
# paths, processes and journal entries, each with a deadline.
#
# Prints TAP ("ok N - ...", "not ok N - ..."); exits 0 when everything
# passed, 1 otherwise, 77 when not run as root. When the namespace's first
# process dies (a SIGKILL from the CI's timeout included) the kernel kills
# everything started in it and its mounts go away.
set -uo pipefail

self=$(readlink -f "$0")
top=$(cd "$(dirname "$self")/../.." && pwd)

GPU=0000:01:00.0
AUDIO=0000:01:00.1
GROUP=13
DOMAIN=vfiodtest
URI=qemu:///system
JOURNAL=/run/log/journal

. "$top/tests/message-ids.sh"

# ---- stage 1: on the host ----

host_main() {
        local build=${1:?usage: test-libvirtd.sh BUILD_DIR}
        if [ "$(id -u)" != 0 ]; then
                echo "1..0 # SKIP needs root (libvirtd, mounts, namespaces)"
                exit 77
        fi
        build=$(cd "$top" && cd "$build" && pwd) || { echo "not ok 1 - build directory $1"; exit 1; }
        local missing=() f
        for f in /usr/sbin/libvirtd /usr/sbin/virtlogd /usr/bin/virsh /usr/bin/qemu-system-x86_64 \
                 /lib/systemd/systemd-journald /usr/bin/umockdev-wrapper /usr/bin/unshare \
                 "$build/vfiod" "$build/vfioctl" "$build/tests/fakegpu" "$build/tests/vfiod-wait"; do
                [ -x "$f" ] || missing+=("$f")
        done
        if [ ${#missing[@]} -gt 0 ]; then
                echo "not ok 1 - prerequisites: missing ${missing[*]} (make deps; make all tests)"
                exit 1
        fi

        local work rc
        work=$(mktemp -d /tmp/vfiod-system.XXXXXX) || exit 1
        # --kill-child: if unshare is killed, so is the namespace's first
        # process, and with it everything in the PID namespace.
        unshare --mount --propagation private --pid --fork --kill-child --mount-proc --net \
                "$self" --namespace "$build" "$work"
        rc=$?
        if [ $rc = 0 ]; then
                rm -rf "$work"
        else
                echo "# kept $work (logs, the journal)"
        fi
        exit $rc
}

# ---- stage 2: PID 1 of the namespaces ----

mount_tmpfs() {
        mkdir -p "$1" && mount -t tmpfs -o mode=0755 tmpfs "$1"
}

namespace_main() {
        local build=$1 work=$2 d
        # A fresh /run hides the host's: its D-Bus (no machined, no systemd
        # for this libvirtd), journald and libvirt sockets.
        mount_tmpfs /run || { echo "not ok 1 - private /run"; exit 1; }
        mkdir -p /run/lock /run/libvirt /run/systemd /run/log
        for d in /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
                mount_tmpfs "$d" || { echo "not ok 1 - private $d"; exit 1; }
        done
        if [ -d /var/log/journal ]; then
                mount -t tmpfs tmpfs /var/log/journal || { echo "not ok 1 - private /var/log/journal"; exit 1; }
        fi

        # libvirt's configuration: only ours, nothing of the host's (no
        # networks or domains to autostart). No cgroups, no security driver,
        # no private /dev: there is no systemd here.
        mkdir -p "$work/etc-libvirt"
        [ -e /etc/libvirt/libvirt.conf ] && cp /etc/libvirt/libvirt.conf "$work/etc-libvirt/"
        cat > "$work/etc-libvirt/qemu.conf" <<-'EOF'
	user = "root"
	group = "root"
	dynamic_ownership = 0
	remember_owner = 0
	security_driver = "none"
	cgroup_controllers = [ ]
	namespaces = [ ]
	stdio_handler = "logd"
	EOF
        cat > "$work/etc-libvirt/libvirtd.conf" <<-'EOF'
	unix_sock_group = "root"
	unix_sock_ro_perms = "0700"
	unix_sock_rw_perms = "0700"
	auth_unix_ro = "none"
	auth_unix_rw = "none"
	log_outputs = "3:stderr"
	EOF
        echo 'log_outputs = "3:stderr"' > "$work/etc-libvirt/virtlogd.conf"
        mkdir -p /etc/libvirt
        mount --bind "$work/etc-libvirt" /etc/libvirt || { echo "not ok 1 - private /etc/libvirt"; exit 1; }

        # The QEMU driver resolves its compiled-in user (Debian: libvirt-qemu)
        # before it reads qemu.conf; without libvirt-daemon-system that user
        # does not exist.
        if ! getent passwd libvirt-qemu > /dev/null || ! getent group libvirt-qemu > /dev/null; then
                cp /etc/passwd "$work/passwd"
                cp /etc/group "$work/group"
                getent passwd libvirt-qemu > /dev/null ||
                        echo 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin' >> "$work/passwd"
                getent group libvirt-qemu > /dev/null || echo 'libvirt-qemu:x:64055:' >> "$work/group"
                mount --bind "$work/passwd" /etc/passwd && mount --bind "$work/group" /etc/group ||
                        { echo "not ok 1 - private /etc/passwd with libvirt-qemu"; exit 1; }
        fi
        if [ ! -s /etc/machine-id ]; then
                # journald names its directory after it.
                if [ -e /etc/machine-id ]; then
                        systemd-id128 new > "$work/machine-id" && mount --bind "$work/machine-id" /etc/machine-id
                else
                        echo "not ok 1 - /etc/machine-id is missing (journald needs it)"
                        exit 1
                fi
        fi

        # This shell stays PID 1: it reaps what it inherits (QEMU, which
        # libvirtd daemonizes), as an init does, while it waits for fakegpu.
        "$build/tests/fakegpu" -- "$self" --scenarios "$build" "$work"
}

# ---- stage 3: the scenarios, fakegpu's child (the fake /sys in the preload) ----

n=0 failed=0
ok() {
        n=$((n + 1))
        echo "ok $n - $*"
}
not_ok() {
        n=$((n + 1)) failed=$((failed + 1))
        echo "not ok $n - $*"
}
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds; its output is
# shown as comments. COMMAND runs in this shell: what it starts is ours.
check() {
        local desc=$1 rc
        shift
        "$@" > "$work/check.out" 2>&1
        rc=$?
        sed 's/^/# /' "$work/check.out"
        if [ $rc = 0 ]; then ok "$desc"; else not_ok "$desc"; fi
        return $rc
}
bail() {
        failed=$((failed + 1))
        echo "Bail out! $*"
        exit 1
}

# Without the preload: the real /sys and /dev, for the daemons and virsh.
# An array, not a function, for what runs in the background: $! must be
# the daemon's pid (env execs it), not a subshell's.
REAL=(env -u LD_PRELOAD -u UMOCKDEV_DIR)
real() {
        "${REAL[@]}" "$@"
}
vwait() {
        "$build/tests/vfiod-wait" "$@"
}

# jwait TIMEOUT_S MATCH...: the cursor of the first journal entry matching,
# in $cursor; the entry is shown as a comment.
cursor=
jwait() {
        local timeout=$1 out rc
        shift
        out=$(real "$build/tests/vfiod-wait" journal "$JOURNAL" "$timeout" "$@" 2> "$work/jwait.err")
        rc=$?
        sed 's/^/# /' "$work/jwait.err"
        cursor=$out
        return $rc
}
# jcount MATCH...: how many entries match (no waiting), in $count.
count=
jcount() {
        count=$(real "$build/tests/vfiod-wait" count "$JOURNAL" "$@" 2> "$work/jcount.err")
        local rc=$?
        sed 's/^/# /' "$work/jcount.err"
        return $rc
}
jmark() {
        real "$build/tests/vfiod-wait" cursor "$JOURNAL"
}

driver_of() {
        local l
        l=$(readlink "/sys/bus/pci/devices/$1/driver") && basename "$l" || echo none
}
show_gpu() {
        echo "# sysfs: $GPU on $(driver_of $GPU), $AUDIO on $(driver_of $AUDIO)," \
                "/dev/vfio/$GROUP $( [ -e /dev/vfio/$GROUP ] && echo exists || echo absent)"
}
ON_HOST=("$GPU=nvidia" "$AUDIO=snd_hda_intel" "-/dev/vfio/$GROUP")
ON_VFIO=("$GPU=vfio-pci" "$AUDIO=vfio-pci" "+/dev/vfio/$GROUP")

# ---- the daemons (by pid; cleanup() stops what runs) ----

journald_pid= virtlogd_pid= libvirtd_pid= vfiod_pid= me= q= lent_c=

start_journald() {
        "${REAL[@]}" /lib/systemd/systemd-journald > "$work/journald.log" 2>&1 &
        journald_pid=$!
        check "journald (pid $journald_pid) listens on /run/systemd/journal/socket" \
                vwait path 30 /run/systemd/journal/socket
}

start_virtlogd() {
        "${REAL[@]}" /usr/sbin/virtlogd -p /run/libvirt/virtlogd.pid >> "$work/virtlogd.log" 2>&1 &
        virtlogd_pid=$!
        check "virtlogd (pid $virtlogd_pid) listens" vwait path 30 /run/libvirt/virtlogd-sock
}

start_libvirtd() {
        # The last one removed its socket on exit: a stale one would pass the wait.
        vwait path 30 '!/run/libvirt/libvirt-sock' || return 1
        "${REAL[@]}" /usr/sbin/libvirtd -p /run/libvirt/libvirtd.pid >> "$work/libvirtd.log" 2>&1 &
        libvirtd_pid=$!
        vwait path 60 /run/libvirt/libvirt-sock || return 1
        # Clients wait in the socket's backlog until the drivers are up.
        real timeout 60 virsh -q -c "$URI" version
}

# stop PID NAME TIMEOUT: SIGTERM, then SIGKILL after TIMEOUT seconds.
stop() {
        local pid=$1 name=$2 timeout=$3
        [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null || return 0
        kill -TERM "$pid" 2> /dev/null
        if ! vwait exit "$timeout" "$pid" > /dev/null 2>&1; then
                echo "# $name (pid $pid) did not stop on SIGTERM within ${timeout}s: SIGKILL"
                kill -KILL "$pid" 2> /dev/null
        fi
        wait "$pid" 2> /dev/null
}

qemu_pid() {
        local p
        p=$(cat /run/libvirt/qemu/$DOMAIN.pid 2> /dev/null) && [ -n "$p" ] && echo "$p"
}

cleanup() {
        local rc=$? q
        trap - EXIT INT TERM
        [ $failed -gt 0 ] && rc=1
        if [ $rc != 0 ] && [ -n "$journald_pid" ]; then
                echo "# --- vfiod's journal ---"
                real journalctl -D "$JOURNAL" --no-pager -o short-monotonic _COMM=vfiod 2>&1 | tail -n 80 | sed 's/^/# /'
                echo "# --- libvirtd (stderr) ---"
                tail -n 30 "$work/libvirtd.log" 2> /dev/null | sed 's/^/# /'
                echo "# --- vfiod (stderr) ---"
                tail -n 30 "$work/vfiod.log" 2> /dev/null | sed 's/^/# /'
                show_gpu
        fi
        stop "$vfiod_pid" vfiod 20
        if q=$(qemu_pid) && [ "$(cat /proc/$q/comm 2> /dev/null)" = qemu-system-x86 ]; then
                real timeout 30 virsh -q -c "$URI" destroy $DOMAIN > /dev/null 2>&1 || kill -KILL "$q" 2> /dev/null
        fi
        stop "$libvirtd_pid" libvirtd 30
        stop "$virtlogd_pid" virtlogd 10
        if [ $rc != 0 ] && [ -n "$journald_pid" ]; then
                real journalctl -D "$JOURNAL" --sync > /dev/null 2>&1
                cp -r "$JOURNAL" "$work/journal" 2> /dev/null
        fi
        stop "$journald_pid" journald 10
        echo "1..$n"
        echo "# $((n - failed)) passed, $failed failed"
        exit $rc
}

# The hook that hands the GPU to vfio-pci before QEMU starts: libvirt's qemu
# hook, as the project's hooks are to do it (README: "libvirt hooks", not
# yet written); vfiod hands nothing over itself (docs/architecture.md:
# "all on host drivers ... nothing: host"). It only acts on "prepare
# begin": a stop or a crash is left to vfiod.
write_hook() {
        mkdir -p /etc/libvirt/hooks
        cat > /etc/libvirt/hooks/qemu <<-EOF
	#!/bin/sh
	# libvirt's qemu hook: \$1 domain, \$2 operation, \$3 sub-operation; the domain XML on stdin.
	cat > /dev/null
	[ "\$1" = $DOMAIN ] && [ "\$2" = prepare ] && [ "\$3" = begin ] || exit 0
	exec >> $work/hook.log 2>&1
	echo "hook: \$*"
	/usr/bin/env VFIOD_RUNTIME_DIR=$work/run VFIOD_MODPROBE_DIR=$work/modprobe.d UMOCKDEV_DIR=$UMOCKDEV_DIR \\
	        /usr/bin/umockdev-wrapper $build/vfioctl --direct to-vfio --config $work/vfiod.conf < /dev/null
	rc=\$?
	echo "vfioctl to-vfio: exit \$rc"
	exit \$rc
	EOF
        chmod 755 /etc/libvirt/hooks/qemu
}

# lend STEP: starts the domain; the GPU goes to vfio-pci (the hook's
# vfioctl, or vfiod itself with VFIOD_TEST_HANDOVER=agent). Sets $lent_c,
# the cursor of vfiod's status "lent to", and $q, QEMU's pid.
lend() {
        local p=$1 mark dom_c hook_lines
        mark=$(jmark)
        hook_lines=$(cat "$work/hook.log" 2> /dev/null | wc -l)
        check "$p: virsh start $DOMAIN" real timeout 90 virsh -q -c "$URI" start $DOMAIN ||
                bail "the domain did not start"
        q=$(qemu_pid) && kill -0 "$q" && ok "$p: QEMU runs (pid $q)" || not_ok "$p: QEMU runs"
        jwait 60 --after "$mark" MESSAGE_ID=$ID_DOMAIN $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN "MESSAGE~started" &&
                ok "$p: vfiod's domain entry: $DOMAIN started" || bail "vfiod did not see $DOMAIN start"
        dom_c=$cursor
        if [ "$HANDOVER" = agent ]; then
                jwait 60 --after "$dom_c" MESSAGE_ID=$ID_STARTED $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN \
                        VFIOD_DIRECTION=to-vfio && ok "$p: handoff-started entry (to-vfio) after the domain entry" ||
                        bail "vfiod did not hand the GPU over to $DOMAIN"
                jwait 60 --after "$cursor" MESSAGE_ID=$ID_DONE $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN \
                        VFIOD_DIRECTION=to-vfio VFIOD_OUTCOME=done && ok "$p: handoff-done entry (to-vfio, done)" ||
                        not_ok "$p: handoff-done entry (to-vfio, done)"
        else
                tail -n +$((hook_lines + 1)) "$work/hook.log" | sed 's/^/# hook.log: /'
                [ "$(tail -n 1 "$work/hook.log")" = "vfioctl to-vfio: exit 0" ] &&
                        ok "$p: libvirt's prepare hook ran vfioctl to-vfio before QEMU started" ||
                        not_ok "$p: libvirt's prepare hook ran vfioctl to-vfio"
        fi
        check "$p: both functions on vfio-pci, /dev/vfio/$GROUP exists" vwait sysfs 30 "${ON_VFIO[@]}" ||
                bail "the GPU is not on vfio-pci"
        # Lent as soon as vfiod sees both: libvirt's status record of the
        # domain may exist before the hook runs, or only from the started event.
        jwait 60 --after "$mark" $me "MESSAGE~Status: $GPU lent to $DOMAIN" &&
                ok "$p: vfiod's status: lent to $DOMAIN" || not_ok "$p: vfiod's status: lent to $DOMAIN"
        lent_c=$cursor
}

libvirt_mapped() {
        grep -q 'libvirt\.so' "/proc/$vfiod_pid/maps"
}
switches() {
        awk '/ctxt_switches/ { s += $2 } END { print s }' "/proc/$1/status"
}
# footprint WHEN: vfiod's memory (README, "The agent"; bench/run-bench.sh
# reads it). The umockdev preload that serves the fake GPU is not vfiod's:
# its mappings are left out. PSS shares libvirt's pages with libvirtd.
footprint() {
        awk -v when="$1" '/^[0-9a-f]+-[0-9a-f]+ / { skip = ($6 ~ /umockdev/) }
             !skip && /^Rss:/ { r += $2 } !skip && /^Pss:/ { p += $2 } !skip && /^Anonymous:/ { a += $2 }
             END { printf "# vfiod %s: RSS %d KiB, anonymous %d KiB, PSS %d KiB (umockdev left out)\n", when, r, a, p }' \
                "/proc/$vfiod_pid/smaps"
}

# Sets $vfiod_pid and $me, the journal match of its entries.
start_vfiod() {
        VFIOD_LOG_TARGET=journal VFIOD_RUNTIME_DIR="$work/run" VFIOD_MODPROBE_DIR="$work/modprobe.d" \
                "$build/vfiod" --config "$work/vfiod.conf" --verbose >> "$work/vfiod.log" 2>&1 &
        vfiod_pid=$!
        me="_PID=$vfiod_pid"
}

# handoffs AFTER N STEP: vfiod started N handoffs since the cursor AFTER.
handoffs() {
        jcount --after "$1" MESSAGE_ID=$ID_STARTED $me
        [ "$count" = "$2" ] && ok "$3" || not_ok "$3 (vfiod started $count)"
}

scenarios_main() {
        build=$1 work=$2
        trap cleanup EXIT
        trap 'exit 1' INT TERM
        HANDOVER=${VFIOD_TEST_HANDOVER:-hook}
        echo "# work directory $work; fake sysfs $UMOCKDEV_DIR; hand-over to vfio-pci by the $HANDOVER"
        mkdir -p "$work/run" "$work/modprobe.d"

        start_journald || bail "no journald"
        start_virtlogd || bail "no virtlogd"
        [ "$HANDOVER" = agent ] || write_hook
        check "libvirtd serves $URI" start_libvirtd || bail "no libvirtd"
        echo "# libvirtd is pid $libvirtd_pid"

        cat > "$work/$DOMAIN.xml" <<-EOF
	<domain type='qemu'>
	  <name>$DOMAIN</name>
	  <memory unit='MiB'>64</memory>
	  <vcpu>1</vcpu>
	  <os><type arch='x86_64' machine='pc'>hvm</type></os>
	  <on_crash>destroy</on_crash>
	  <devices>
	    <emulator>/usr/bin/qemu-system-x86_64</emulator>
	    <controller type='usb' model='none'/>
	    <memballoon model='none'/>
	  </devices>
	</domain>
	EOF
        if grep -q '<interface' "$work/$DOMAIN.xml"; then bail "the domain must have no network"; fi
        check "domain $DOMAIN defined (TCG, 64 MiB, no disk, no network)" \
                real virsh -q -c "$URI" define "$work/$DOMAIN.xml" || bail "cannot define $DOMAIN"

        cat > "$work/vfiod.conf" <<-EOF
	[GPU]
	Address=$GPU
	HostDriver=nvidia
	[VM]
	Domain=$DOMAIN
	URI=$URI
	[Handoff]
	# Long: a give-back in time comes from the domain's stop, not from the orphan timer.
	OrphanGraceSec=10min
	EOF

        local mark lost_c stop_c t_kill t_bound state

        # a. vfiod starts while the domain does not run: the GPU stays on the host.
        mark=$(jmark)
        start_vfiod
        jwait 30 --after "$mark" MESSAGE_ID=$ID_AGENT $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN &&
                ok "a: vfiod (pid $vfiod_pid) started: agent entry with VFIOD_GPU and VFIOD_DOMAIN" ||
                bail "vfiod did not start"
        jwait 30 --after "$mark" $me "MESSAGE~Domain $DOMAIN is shut off (/run/libvirt/qemu/$DOMAIN.xml)" &&
                ok "a: vfiod sees $DOMAIN shut off in libvirt's status records" ||
                not_ok "a: vfiod sees $DOMAIN shut off in libvirt's status records"
        jwait 30 --after "$mark" $me "MESSAGE~Status: $GPU on the host (nvidia)" &&
                ok "a: vfiod's status: the GPU is the host's" || not_ok "a: vfiod's status: the GPU is the host's"
        check "a: the GPU stays on nvidia + snd_hda_intel, no /dev/vfio/$GROUP" vwait sysfs 0 "${ON_HOST[@]}"
        handoffs "$mark" 0 "a: no handoff started"
        jcount --after "$mark" MESSAGE_ID=$ID_LIBVIRT $me
        [ "$count" = 0 ] && ! libvirt_mapped && ok "a: the GPU on the host, $DOMAIN shut off: libvirt not loaded" ||
                not_ok "a: libvirt not loaded ($count libvirt entries; $(libvirt_mapped && echo mapped))"
        footprint "after start-up, GPU on the host, libvirt not loaded"
        if [ -n "${VFIOD_BENCH_IDLE_S:-}" ]; then
                # A figure for bench/run-bench.sh, not a check: wakeups of the
                # idle agent while libvirtd runs (its keepalive would be 1 in 5 s).
                local c0
                c0=$(switches "$vfiod_pid")
                sleep "$VFIOD_BENCH_IDLE_S"
                echo "# vfiod idle, libvirtd running: $(( $(switches "$vfiod_pid") - c0 )) context switches" \
                        "over ${VFIOD_BENCH_IDLE_S}s"
        fi

        # b. The domain starts: the GPU goes to vfio-pci, and vfiod sees it lent.
        lend b
        # The hook's handoff (or vfiod's own) made vfiod connect, inside
        # libvirtd's start of the domain: the domain entry above came through it.
        jwait 30 --after "$mark" MESSAGE_ID=$ID_LIBVIRT $me VFIOD_DOMAIN=$DOMAIN "MESSAGE~Connected to libvirt at $URI" &&
                libvirt_mapped && ok "b: vfiod connected to libvirtd when the GPU left the host" ||
                not_ok "b: vfiod connected to libvirtd when the GPU left the host"
        footprint "following $DOMAIN, libvirt connected"
        if [ "$HANDOVER" = agent ]; then
                handoffs "$mark" 1 "b: vfiod started one handoff, to the VM"
        else
                handoffs "$mark" 0 "b: vfiod started no handoff of its own"
        fi

        # c. QEMU is killed with SIGKILL: vfiod gives the GPU back by itself.
        [ -n "$q" ] || bail "no QEMU pid in /run/libvirt/qemu/$DOMAIN.pid"
        t_kill=$(date +%s%N)
        kill -KILL "$q"
        if t_bound=$(vwait sysfs 60 --bound-at "${ON_HOST[@]}"); then
                ok "c: QEMU killed (SIGKILL): both functions back on nvidia + snd_hda_intel, /dev/vfio/$GROUP gone"
                echo "# kill -9 QEMU -> host drivers bound: $(( (t_bound - t_kill) / 1000000 )) ms" \
                        "(the newer driver link's mtime)"
        else
                not_ok "c: the GPU came back to the host after QEMU was killed"
                bail "no give-back"
        fi
        # libvirt reports a QEMU that died under it as "stopped (failed)".
        jwait 30 --after "$lent_c" MESSAGE_ID=$ID_DOMAIN $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN "MESSAGE~stopped" &&
                grep -q -e 'stopped (failed)' -e 'stopped (crashed)' "$work/jwait.err" &&
                ok "c: vfiod's domain entry for the crash" || not_ok "c: vfiod's domain entry for the crash"
        stop_c=$cursor
        local t_event
        t_event=$(sed -n 's/.*_SOURCE_REALTIME_TIMESTAMP=\([0-9]*\);.*/\1/p' "$work/jwait.err")
        [ -n "$t_event" ] && [ -n "$t_bound" ] &&
                echo "# of which kill -9 -> vfiod told of the stop by libvirt: $(( (t_event * 1000 - t_kill) / 1000000 )) ms," \
                        "its give-back: $(( (t_bound - t_event * 1000) / 1000000 )) ms"
        jwait 30 --after "$stop_c" MESSAGE_ID=$ID_STARTED $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN \
                VFIOD_DIRECTION=to-host && ok "c: handoff-started entry (to-host) after it" ||
                not_ok "c: handoff-started entry (to-host) after it"
        jwait 30 --after "$cursor" MESSAGE_ID=$ID_RECOVERY $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN \
                VFIOD_DIRECTION=to-host VFIOD_OUTCOME=done &&
                ok "c: recovery entry (VFIOD_GPU, VFIOD_DOMAIN, to-host, done) after the crash entry" ||
                not_ok "c: recovery entry after the crash entry"
        handoffs "$lent_c" 1 "c: one handoff since the GPU was lent (the give-back)"
        jwait 30 --after "$stop_c" MESSAGE_ID=$ID_LIBVIRT $me VFIOD_DOMAIN=$DOMAIN "MESSAGE~Closed the connection" &&
                ok "c: the GPU back on the host, $DOMAIN shut off: vfiod closed its libvirt connection" ||
                not_ok "c: vfiod closed its libvirt connection"
        footprint "after the VM stopped, connection closed, libvirt still mapped"
        state=$(real timeout 30 virsh -q -c "$URI" domstate $DOMAIN --reason 2>&1)
        [[ $state == "shut off"* ]] && ok "c: libvirt says $DOMAIN is $state" || not_ok "c: libvirt says $DOMAIN is $state"

        # d. libvirtd restarts under a running domain: the GPU stays with it.
        lend d
        kill -TERM "$libvirtd_pid"
        check "d: libvirtd (pid $libvirtd_pid) stopped on SIGTERM" vwait exit 60 "$libvirtd_pid"
        wait "$libvirtd_pid" 2> /dev/null
        libvirtd_pid=
        kill -0 "$q" && ok "d: QEMU (pid $q) still runs" || not_ok "d: QEMU (pid $q) still runs"
        jwait 30 --after "$lent_c" MESSAGE_ID=$ID_LIBVIRT $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN "MESSAGE~lost" &&
                ok "d: vfiod logged the lost libvirt connection" || bail "vfiod did not notice that libvirtd went away"
        lost_c=$cursor
        # A failed reconnect (a debug entry): vfiod's loop ran with libvirtd away.
        jwait 30 --after "$lost_c" $me "MESSAGE~not reachable" &&
                ok "d: vfiod retries while libvirtd is away" || not_ok "d: vfiod retries while libvirtd is away"
        check "d: the GPU stays on vfio-pci while libvirtd is away" vwait sysfs 0 "${ON_VFIO[@]}"

        check "d: libvirtd started again" start_libvirtd || bail "libvirtd did not come back"
        echo "# libvirtd is pid $libvirtd_pid"
        jwait 60 --after "$lost_c" MESSAGE_ID=$ID_LIBVIRT $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN "MESSAGE~back" &&
                ok "d: vfiod logged the reconnect" || not_ok "d: vfiod logged the reconnect"
        jwait 30 --after "$lost_c" $me "MESSAGE~domain $DOMAIN is running" &&
                ok "d: reconnected, vfiod sees $DOMAIN running" || not_ok "d: reconnected, vfiod sees $DOMAIN running"
        check "d: the GPU still on vfio-pci after the reconnect" vwait sysfs 0 "${ON_VFIO[@]}"
        check "d: the same QEMU runs (pid $q)" kill -0 "$q"

        # vfiod restarts under the running domain: the GPU is off the host, so
        # it connects at once, sees the domain running and takes nothing.
        mark=$(jmark)
        kill -TERM "$vfiod_pid"
        check "d: vfiod stops on SIGTERM" vwait exit 30 "$vfiod_pid"
        wait "$vfiod_pid"
        start_vfiod
        jwait 30 --after "$mark" MESSAGE_ID=$ID_LIBVIRT $me VFIOD_DOMAIN=$DOMAIN \
                "MESSAGE~Connected to libvirt at $URI to follow domain $DOMAIN (running)" &&
                ok "d: vfiod (pid $vfiod_pid) started again: connected at once, $DOMAIN running" ||
                not_ok "d: the restarted vfiod connected and sees $DOMAIN running"
        jwait 30 --after "$mark" $me "MESSAGE~Status: $GPU lent to $DOMAIN" &&
                ok "d: its status: lent to $DOMAIN" || not_ok "d: the restarted vfiod's status: lent to $DOMAIN"
        check "d: the GPU still on vfio-pci, the same QEMU runs" \
                eval 'vwait sysfs 0 "${ON_VFIO[@]}" && kill -0 "$q"'
        handoffs "$mark" 0 "d: the restarted vfiod started no handoff"

        mark=$(jmark)
        check "d: virsh destroy $DOMAIN" real timeout 60 virsh -q -c "$URI" destroy $DOMAIN
        check "d: both functions back on nvidia + snd_hda_intel, /dev/vfio/$GROUP gone" \
                vwait sysfs 60 "${ON_HOST[@]}"
        jwait 30 --after "$mark" MESSAGE_ID=$ID_DOMAIN $me VFIOD_DOMAIN=$DOMAIN "MESSAGE~stopped" &&
                ok "d: vfiod's domain entry: $DOMAIN stopped" || not_ok "d: vfiod's domain entry: $DOMAIN stopped"
        jwait 30 --after "$cursor" MESSAGE_ID=$ID_RECOVERY $me VFIOD_GPU=$GPU VFIOD_DOMAIN=$DOMAIN \
                VFIOD_DIRECTION=to-host VFIOD_OUTCOME=done &&
                ok "d: recovery entry after it" || not_ok "d: recovery entry after it"
        # Nothing while libvirtd was away or when it came back: only the give-back.
        handoffs "$lent_c" 1 "d: one handoff since the GPU was lent (the give-back)"

        # vfiod stops on SIGTERM and leaves the GPU where it is.
        mark=$(jmark)
        kill -TERM "$vfiod_pid"
        check "vfiod stops on SIGTERM" vwait exit 30 "$vfiod_pid"
        wait "$vfiod_pid"
        state=$?
        vfiod_pid=
        [ $state = 0 ] && ok "vfiod exited with status 0" || not_ok "vfiod exited with status $state"
        jwait 30 --after "$mark" MESSAGE_ID=$ID_AGENT $me "MESSAGE~Stopping" && ok "vfiod logged its stop" ||
                not_ok "vfiod logged its stop"
}

case ${1:-} in
--namespace) shift; namespace_main "$@" ;;
--scenarios) shift; scenarios_main "$@" ;;
*) host_main "$@" ;;
esac
