#!/usr/bin/python3
# The agent's speed and footprint, on the real kernel of the test guest
# (bench/guest-agent-bench.sh runs this inside it):
#   - start-up to READY=1 (sd_notify) with the GPU on its host driver;
#   - RSS after start-up (a VM configured, qemu:///system: libvirt not
#     loaded while the GPU is the host's), and with libvirt connected;
#   - context switches of the idle agent over IDLE seconds (target: 0);
#   - a nested QEMU holding the GPU killed with SIGKILL, N times: vfiod's
#     own part (event to first sysfs write, from its recovery line) and the
#     whole (the kill to the recovery line).
# Prints "BENCH name=value" lines.
#   agent-bench.py BUILD GPU AUDIO GROUP IDLE N
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import context_switches, status_field  # noqa: E402

build, gpu, audio, group, idle, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
env = dict(os.environ, VFIOD_RUNTIME_DIR="/run/vfiod", VFIOD_MODPROBE_DIR="/run/modprobe.d", VFIOD_LOG_TARGET="console")


def driver(addr):
    try:
        return os.path.basename(os.readlink(f"/sys/bus/pci/devices/{addr}/driver"))
    except OSError:
        return "none"


def vfioctl(cmd):
    # --direct: the engine in this process; no vfiod runs at this point.
    subprocess.run([f"{build}/vfioctl", "--direct", cmd, "--config", "/run/vfiod/bench.conf"], env=env, check=True,
                   capture_output=True)


os.makedirs("/run/vfiod", exist_ok=True)
with open("/run/vfiod/bench.conf", "w") as f:
    f.write(f"[GPU]\nAddress={gpu}\n[Handoff]\nOrphanGraceSec=1ms\n")
# A VM configured as on a workstation (qemu:///system): with the GPU on the
# host and the domain shut off, libvirt is not loaded. And one followed
# through libvirt (the test driver: no libvirtd in the guest) for the
# footprint while a VM has the GPU.
with open("/run/vfiod/bench-vm.conf", "w") as f:
    f.write(f"[GPU]\nAddress={gpu}\n[VM]\nDomain=win\nURI=qemu:///system\n")
with open("/run/vfiod/bench-following.conf", "w") as f:
    f.write(f"[GPU]\nAddress={gpu}\n[VM]\nDomain=test\nURI=test:///default\n")


def start_agent(conf):
    """vfiod until READY=1, the GPU on its host driver: (process, ms)."""
    assert driver(gpu) != "vfio-pci"
    sock_path = "/run/vfiod/notify.sock"
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    t0 = time.monotonic()
    p = subprocess.Popen([f"{build}/vfiod", "--config", conf], env=dict(env, NOTIFY_SOCKET=sock_path),
                         stderr=subprocess.PIPE, text=True)
    sock.settimeout(60)
    while "READY=1" not in sock.recv(4096).decode().split("\n"):
        pass
    sock.close()
    return p, (time.monotonic() - t0) * 1000


def footprint(pid):
    return f"{status_field(pid, 'VmRSS')} anon={status_field(pid, 'RssAnon')} file={status_field(pid, 'RssFile')}"


# Followed through libvirt: the footprint with libvirt loaded and connected.
agent, ready_ms = start_agent("/run/vfiod/bench-following.conf")
print(f"BENCH agent_following_ready_ms={ready_ms:.1f}", flush=True)
print(f"BENCH agent_following_rss_kib={footprint(agent.pid)}", flush=True)
agent.terminate()
agent.wait()

agent, ready_ms = start_agent("/run/vfiod/bench-vm.conf")
print(f"BENCH agent_ready_ms={ready_ms:.1f}", flush=True)
print(f"BENCH agent_rss_kib={footprint(agent.pid)}", flush=True)
assert "libvirt.so" not in open(f"/proc/{agent.pid}/maps").read()


def read_until(pattern, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = agent.stderr.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            return m
    raise SystemExit(f"agent-bench: no line matching {pattern!r}")


read_until(r"Status: .* on the host", 30)

# Idle: nothing happens, nothing should wake it.
switches = lambda: context_switches(agent.pid)
before = switches()
time.sleep(idle)  # the measurement itself: a quiet interval
print(f"BENCH agent_idle_switches={switches() - before} over={idle}s", flush=True)

agent.terminate()
agent.wait()

# Crashes: the VM's QEMU holds /dev/vfio/N and dies by SIGKILL. vfiod starts
# once QEMU holds the GPU (it would give back an idle GPU at once).
reactions, wholes = [], []
for i in range(n):
    vfioctl("to-vfio")
    subprocess.run(["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "64", "-nodefaults",
                    "-no-user-config", "-nic", "none", "-display", "none", "-serial", "none", "-monitor", "none",
                    "-device", f"vfio-pci,host={gpu}", "-device", f"vfio-pci,host={audio}",
                    "-daemonize", "-pidfile", "/run/vfiod/qemu.pid"], check=True)
    qemu = int(open("/run/vfiod/qemu.pid").read())
    agent = subprocess.Popen([f"{build}/vfiod", "--config", "/run/vfiod/bench.conf"], env=env,
                             stderr=subprocess.PIPE, text=True)
    read_until(rf"in use by {qemu} ", 60)
    t0 = time.monotonic()
    os.kill(qemu, signal.SIGKILL)
    m = read_until(r"Recovered: .*\(([0-9.]+) ms from the event to the first write, ([0-9.]+) ms in all\)", 60)
    wholes.append((time.monotonic() - t0) * 1000)
    reactions.append(float(m.group(1)))
    assert driver(gpu) == "bochs-drm" and driver(audio) == "snd_hda_intel", (driver(gpu), driver(audio))
    agent.terminate()
    agent.wait()

mean = lambda xs: sum(xs) / len(xs)
print(f"BENCH agent_reaction_ms={mean(reactions):.1f} min={min(reactions):.1f} max={max(reactions):.1f} n={n}")
print(f"BENCH agent_kill_to_host_ms={mean(wholes):.1f} min={min(wholes):.1f} max={max(wholes):.1f} n={n}")
