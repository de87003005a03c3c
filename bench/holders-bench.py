#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# vfiod's holder scan (holders_scan(): every /proc/PID/fd and /proc/PID/maps)
# against fuser -v and lsof asked about the same device nodes, on this
# machine's own CPU and a desktop-sized /proc: PROCS processes of our own
# (build/bench/holders-scan --spawn), each with the fds and mappings of a
# desktop process, and a few of them holding the probed nodes, one by a
# mapping alone (its fd closed).
#
# The probed nodes are real character devices of this machine that nobody
# else uses, checked before the run: /dev/full and /dev/zero (the one node
# every kernel has that can be mapped, as a GPU's card or nvidia node is),
# and /dev/loop-control and /dev/btrfs-control where they exist and are free.
# No node is made: one made elsewhere is not under /dev, where the scan looks,
# and a second node in /dev for a device that exists is one fuser does not
# count (it matches the inode, vfiod and lsof the device number). The other
# processes' fds and mappings therefore leave /dev/zero alone (they have
# /dev/null, /dev/urandom, /dev/random and tmpfs files under /dev/shm).
#
# Every run of every tool must find exactly our holders (pid, node, fd or
# mapping), else the comparison would not be fair: it exits 1, saying what
# each found. Root (other users' /proc/PID/fd); fuser (psmisc) and lsof.
#   bench/holders-bench.py [BUILD] [PROCS] [RUNS]
# Prints one table: median and 90th percentile of each way.
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = sys.argv[1] if len(sys.argv) > 1 else "build"
if not os.path.isabs(build):
    build = os.path.join(top, build)
procs = int(sys.argv[2]) if len(sys.argv) > 2 else 300
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 200
scanner = f"{build}/bench/holders-scan"
SCANS = 3  # scans per holders-scan --reps process, each run
LSOF_FLAGS = ["-w", "-n", "-P"]  # -b cannot be used: lsof then does not stat the named nodes and finds nothing


def die(msg):
    print(f"holders-bench: {msg}", file=sys.stderr)
    sys.exit(1)


for tool in ("fuser", "lsof"):
    if not shutil.which(tool):
        die(f"{tool} is missing (make bench-deps)")
if not os.access(scanner, os.X_OK):
    die(f"{scanner} is missing (make {os.path.relpath(scanner, top)})")
if os.geteuid() != 0:
    die("needs root: other users' /proc/PID/fd")


def scan(args):
    """holders-scan's answer: ({(pid, node): how}, [microseconds])."""
    p = subprocess.run([scanner] + args, capture_output=True, text=True)
    if p.returncode != 0:
        die(f"holders-scan {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    found, us = {}, []
    for line in p.stdout.splitlines():
        f = line.split()
        if f[0] == "holder":
            found[(int(f[1]), f[3])] = f[2]
        elif f[0] == "us":
            us = [int(x) for x in f[1:]]
    return found, us


def is_chr(path):
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


# The nodes, and nobody but us on them.
required, optional = ["/dev/full", "/dev/zero"], ["/dev/loop-control", "/dev/btrfs-control"]
for n in required:
    if not is_chr(n):
        die(f"{n} is no character device here")
before, _ = scan(required + [n for n in optional if is_chr(n)])
for (pid, node), how in sorted(before.items()):
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        comm = "?"
    if node in required:
        die(f"{node} is already held ({how}) by {pid} {comm}: the bench needs nodes nobody else uses")
    print(f"holders-bench: leaving out {node}, held by {pid} {comm}", file=sys.stderr)
nodes = required + [n for n in optional if is_chr(n) and all(k[1] != n for k in before)]

# Who holds what: by fd, by a mapping alone, both, several nodes.
specs = ["fd:/dev/full", "map:/dev/zero", "fd:/dev/zero,fd:/dev/full", "map:/dev/zero,fd:/dev/full"]
specs += [f"fd:{n}" if i == 0 else f"fd:{n},map:/dev/zero" for i, n in enumerate(nodes[2:])]

files = tempfile.mkdtemp(prefix="vfiod-holders-bench.")
shm = tempfile.mkdtemp(prefix="vfiod-holders-bench.", dir="/dev/shm")
spawner = None
rc = 1
try:
    for i in range(64):
        with open(f"{files}/f{i:02d}", "wb") as f:
            f.write(os.urandom(65536))
    for i in range(16):
        with open(f"{shm}/s{i:02d}", "wb") as f:
            f.write(bytes(65536))

    # Our processes; they die with the spawner, which kills them (by pid) at EOF on its stdin.
    spawner = subprocess.Popen([scanner, "--spawn", str(procs), files, shm] + specs, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    expected = {}
    watchdog = threading.Timer(120, spawner.kill)
    watchdog.start()
    while True:
        line = spawner.stdout.readline()
        if not line:
            die(f"holders-scan --spawn failed or did not come up in 120 s ({spawner.wait()})")
        if line.strip() == "ready":
            break
        _, pid, spec = line.split()
        for item in spec.split(","):
            how, node = item.split(":", 1)
            key = (int(pid), node)
            expected[key] = "fd" if how == "fd" or expected.get(key) == "fd" else "mapping"
    watchdog.cancel()

    # What /proc holds during the run.
    n_proc = n_fd = n_maps = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        n_proc += 1
        try:
            n_fd += len(os.listdir(f"/proc/{d}/fd"))
            with open(f"/proc/{d}/maps", "rb") as f:
                n_maps += f.read().count(b"\n")
        except OSError:
            pass

    def fuser_parse(p):
        # The pids on stdout; on stderr, in the same order, "NODE: USER ACCESS COMMAND"
        # (NODE only on its first holder's line).
        pids, found, node, k = p.stdout.split(), {}, None, 0
        for line in p.stderr.splitlines():
            m = re.match(r"^(?:(\S+):)?\s+(\S+)\s+([.A-Za-z]{5})\s", line)
            if not m or line.startswith("Cannot"):
                continue
            node = m.group(1) or node
            if k >= len(pids):
                die(f"fuser -v: more holders on stderr than pids on stdout: {p.stderr}")
            access, k = m.group(3), k + 1
            found[(int(pids[k - 1]), node)] = "fd" if re.search("[fF]", access) else \
                "mapping" if "m" in access else access
        return found

    def lsof_parse(p):
        found = {}
        for line in p.stdout.splitlines()[1:]:
            f = line.split()
            key = (int(f[1]), f[-1])
            found[key] = "fd" if f[3] != "mem" or found.get(key) == "fd" else "mapping"
        return found

    def scan_parse(p):
        return {(int(f[1]), f[3]): f[2] for f in (l.split() for l in p.stdout.splitlines()) if f[0] == "holder"}

    fd_holders = {k: v for k, v in expected.items() if v == "fd"}
    # (name, command, its parser, what it must find, where the time is: the
    # scans' own microseconds in holders-scan's "us" line, or the command's wall time).
    ways = [
        ("vfiod holders_scan(), in one process", [scanner, "--reps", str(SCANS)] + nodes, scan_parse, expected, True),
        ("vfiod holders_scan_fds() (no maps), same", [scanner, "--fds-only", "--reps", str(SCANS)] + nodes, scan_parse,
         fd_holders, True),
        ("holders-scan NODES (a command, one scan)", [scanner] + nodes, scan_parse, expected, False),
        ("fuser -v NODES", ["fuser", "-v"] + nodes, fuser_parse, expected, False),
        (f"lsof {' '.join(LSOF_FLAGS)} NODES", ["lsof"] + LSOF_FLAGS + nodes, lsof_parse, expected, False),
        ("true (the harness's cost of a command)", ["true"], None, None, False),
    ]

    def show(found):
        return ", ".join(f"{pid} {how} {node}" for (pid, node), how in sorted(found.items())) or "nothing"

    # By turns, so that whatever else the machine does falls on each alike; every run checked.
    times = {w[0]: [] for w in ways}
    for r in range(runs + 1):
        for name, argv, parse, want, inner in ways[r % len(ways):] + ways[:r % len(ways)]:
            t0 = time.perf_counter()
            p = subprocess.run(argv, capture_output=True, text=True)
            t = (time.perf_counter() - t0) * 1000
            if p.returncode != 0 and argv[0] == scanner:
                die(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
            if parse and parse(p) != want:
                print(f"holders-bench: {name} found other holders than the processes that hold the nodes:\n"
                      f"  expected: {show(want)}\n  found:    {show(parse(p))}", file=sys.stderr)
                sys.exit(1)
            if r == 0:  # the first for the caches
                continue
            if inner:
                times[name] += [int(x) / 1000 for x in p.stdout.splitlines()[-1].split()[1:]]
            else:
                times[name].append(t)

    def stats(ms):
        ms = sorted(ms)
        return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.9))]

    pids = len({pid for pid, _ in expected})
    map_only = {pid for pid, _ in expected} - {pid for (pid, _), how in expected.items() if how == "fd"}
    by_map = sum(v == "mapping" for v in expected.values())
    print(f"holders of {len(nodes)} nodes ({' '.join(nodes)}): {len(expected)} (pid, node) in {pids} processes, "
          f"{by_map} of them by a mapping, {len(map_only)} process by mappings only")
    print(f"/proc: {n_proc} processes ({procs} of the bench's), {n_fd} fds, {n_maps} lines of maps; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{runs} runs each ({SCANS} scans a run in one process), every one found exactly those holders")
    print(f"{'':48} {'median':>9} {'p90':>9}")
    rows = [(w[0], times[w[0]]) for w in ways]
    for name, ms in rows:
        med, p90 = stats(ms)
        print(f"{name:48} {med:6.2f} ms {p90:6.2f} ms")
    rc = 0
finally:
    if spawner:
        spawner.stdin.close()
        spawner.wait()
    shutil.rmtree(files, ignore_errors=True)
    shutil.rmtree(shm, ignore_errors=True)
sys.exit(rc)
