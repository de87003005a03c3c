# Shared by the agent benchmarks: figures of a process from /proc.


def status_field(pid, name):
    """A number from /proc/PID/status (VmRSS, voluntary_ctxt_switches, ...), -1 if absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return -1


def context_switches(pid):
    return status_field(pid, "voluntary_ctxt_switches") + status_field(pid, "nonvoluntary_ctxt_switches")
