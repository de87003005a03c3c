#!/usr/bin/python3
# The agent's start-up and idle wakeups on this machine's own
# CPU (no emulation), against the fake GPU of tests/umockdev/fakegpu.c on
# its host drivers, with a VM configured as on a workstation (qemu:///system,
# shut off: libvirt is not loaded until the GPU leaves the host; the system
# test measures vfiod with a real libvirtd). Run under fakegpu:
#   fakegpu -- bench/agent-native.py BUILD RUNS IDLE_SECONDS
# Prints "BENCH name=value" lines. (Its RSS here would include umockdev's
# preload: the footprint is measured in the guest, agent-bench.py, and by
# the system test without the preload's mappings.)
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import context_switches  # noqa: E402

build, runs, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
work = tempfile.mkdtemp(prefix="vfiod-bench.")
env = dict(os.environ, VFIOD_RUNTIME_DIR=f"{work}/run", VFIOD_MODPROBE_DIR=f"{work}/modprobe.d",
           VFIOD_LIBVIRT_RUN_DIR=work, VFIOD_LOG_TARGET="console")
os.makedirs(f"{work}/run")
conf = f"{work}/vfiod.conf"
with open(conf, "w") as f:
    f.write("[GPU]\nAddress=0000:01:00.0\n[VM]\nDomain=win\nURI=qemu:///system\n")


def start():
    """vfiod until READY=1: (process, milliseconds)."""
    path = f"{work}/notify"
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    t0 = time.monotonic()
    p = subprocess.Popen([f"{build}/vfiod", "--config", conf], env=dict(env, NOTIFY_SOCKET=path),
                         stderr=subprocess.DEVNULL)
    while "READY=1" not in sock.recv(4096).decode().split("\n"):
        pass
    ms = (time.monotonic() - t0) * 1000
    sock.close()
    return p, ms


times = []
for i in range(runs):
    p, ms = start()
    times.append(ms)
    if i < runs - 1:
        p.terminate()
        p.wait()
times.sort()
print(f"BENCH native_ready_ms={times[len(times) // 2]:.1f} min={times[0]:.1f} max={times[-1]:.1f} n={runs}")
switches = lambda: context_switches(p.pid)
time.sleep(1)  # let the start-up's own events settle (libvirt's first callbacks)
before = switches()
time.sleep(idle)  # the measurement itself: a quiet interval
print(f"BENCH native_idle_switches={switches() - before} over={idle}s")
p.terminate()
p.wait()
