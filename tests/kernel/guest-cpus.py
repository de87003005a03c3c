#!/usr/bin/python3
# A guest that did not finish: where its vCPUs are. Asks QEMU's QMP socket
# for every vCPU's registers a few times and says of each RIP whether it is
# in the kernel, with the function where System.map has symbols (Debian's
# is a placeholder: linux-image-*-dbg has the real one; the guest runs with
# nokaslr, so the addresses are the map's). Prints "#" lines for the log.
#   guest-cpus.py QMP_SOCKET SYSTEM_MAP
import bisect
import json
import re
import socket
import sys
import time

sock_path, system_map = sys.argv[1], sys.argv[2]


def symbols():
    addrs, names = [], []
    try:
        with open(system_map) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[1] in "tTwW":
                    addrs.append(int(parts[0], 16))
                    names.append(parts[2])
    except OSError:
        pass
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def name(addr, addrs, names):
    if addr < 0xffff800000000000:
        return f"user space {addr:#x}"
    i = bisect.bisect_right(addrs, addr) - 1
    return f"kernel {addr:#x}" + (f" {names[i]}+{addr - addrs[i]:#x}" if i >= 0 else "")


def qmp(f, cmd):
    f.write(json.dumps(cmd) + "\n")
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if "return" in reply or "error" in reply:
            return reply


try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)
    f = s.makefile("rw")
    f.readline()  # the greeting
    qmp(f, {"execute": "qmp_capabilities"})
    addrs, names = symbols()
    for sample in range(5):
        out = qmp(f, {"execute": "human-monitor-command", "arguments": {"command-line": "info registers -a"}})
        rips = re.findall(r"RIP=([0-9a-f]+)", out.get("return", ""))
        print(f"# guest-cpus: sample {sample + 1}: " +
              "; ".join(f"vCPU{i} {name(int(r, 16), addrs, names)}" for i, r in enumerate(rips)), flush=True)
        time.sleep(1)
except (OSError, ValueError) as e:
    print(f"# guest-cpus: cannot ask QEMU ({e})")
