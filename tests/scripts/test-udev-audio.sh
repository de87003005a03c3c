#!/bin/bash
# [Desktop] HideGpuAudio=: rules/71-vfiod-audio.rules and its program,
# vfioctl udev-audio, on fakegpu's testbed (the GPU 0000:01:00.0 with its
# HDMI audio 0000:01:00.1, the iGPU 0000:00:02.0). The rule is read and run
# here as udev would for each sound card (udevadm verify and test need a
# newer systemd, or the real device): its text must parse, and a card gets
# ACP_IGNORE=1 and PULSE_IGNORE=1 only when it sits on the GPU's slot and
# the switch is on.
#   test-udev-audio.sh BUILD
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: test-udev-audio.sh BUILD}
case $build in /*) ;; *) build=$top/$build ;; esac
vfioctl=$build/vfioctl fakegpu=$build/tests/fakegpu rule=$top/rules/71-vfiod-audio.rules
for f in "$vfioctl" "$fakegpu"; do
        [ -x "$f" ] || { echo "not ok - $f is not built (make all tests)"; exit 1; }
done
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:verify_asan_link_order=0}
work=$(mktemp -d /tmp/vfiod-udev-audio.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; failures=$((failures + 1)); }

conf() { # FILE LINES...: a configuration
        local f=$1
        shift
        printf '%s\n' "$@" > "$f"
}
conf "$work/on.conf" "[GPU]" "Address=0000:01:00.0" "[Desktop]" "HideGpuAudio=yes"
conf "$work/off.conf" "[GPU]" "Address=0000:01:00.0" "[Desktop]" "HideGpuAudio=no"
conf "$work/default.conf" "[GPU]" "Address=0000:01:00.0"
conf "$work/found.conf" "[Desktop]" "HideGpuAudio=on"
conf "$work/bad.conf" "[Desktop]" "HideGpuAudio=hdmi"
conf "$work/gone.conf" "[GPU]" "Address=0000:05:00.0" "[Desktop]" "HideGpuAudio=yes"
conf "$work/audio.conf" "[GPU]" "Address=0000:01:00.1" "[Desktop]" "HideGpuAudio=yes"

# udev_audio NAME WANT-RC WANT-STDOUT ARGS...: vfioctl udev-audio ARGS on the testbed.
udev_audio() {
        local name=$1 want_rc=$2 want=$3 got rc
        shift 3
        got=$("$fakegpu" -- "$vfioctl" udev-audio "$@" 2> "$work/err")
        rc=$?
        if [ "$rc" = "$want_rc" ] && [ "$got" = "$want" ]; then
                ok "$name"
        else
                nok "$name: exit $rc (want $want_rc), stdout '$got' (want '$want')"
                sed 's/^/  | /' "$work/err"
        fi
}
PROPS=$'ACP_IGNORE=1\nPULSE_IGNORE=1'
udev_audio "HideGpuAudio=yes, the GPU's audio function: both properties" 0 "$PROPS" -c "$work/on.conf" 0000:01:00.1
udev_audio "HideGpuAudio=yes, a function of the GPU's slot without the domain (01:00.0)" 0 "$PROPS" 01:00.0 -c "$work/on.conf"
udev_audio "HideGpuAudio=yes, the iGPU: nothing" 0 "" -c "$work/on.conf" 0000:00:02.0
udev_audio "HideGpuAudio=yes, the board's audio (0000:00:1f.3): nothing" 0 "" -c "$work/on.conf" 0000:00:1f.3
udev_audio "HideGpuAudio=yes, another slot's function 1 (0000:02:00.1): nothing" 0 "" -c "$work/on.conf" 0000:02:00.1
udev_audio "HideGpuAudio=no: nothing" 0 "" -c "$work/off.conf" 0000:01:00.1
udev_audio "no [Desktop] (the default, no): nothing" 0 "" -c "$work/default.conf" 0000:01:00.1
udev_audio "no Address=: the GPU as vfiod finds it (not the boot display)" 0 "$PROPS" -c "$work/found.conf" 0000:01:00.1
udev_audio "no Address=, the iGPU: nothing" 0 "" -c "$work/found.conf" 0000:00:02.0
udev_audio "an invalid configuration: exit 3, nothing" 3 "" -c "$work/bad.conf" 0000:01:00.1
grep -q "bad.conf:2: HideGpuAudio=hdmi is not a boolean" "$work/err" && ok "the invalid line is named" ||
        { nok "no 'bad.conf:2: HideGpuAudio=hdmi is not a boolean' on stderr"; sed 's/^/  | /' "$work/err"; }
udev_audio "the configured GPU is not there (an eGPU unplugged): exit 0, nothing" 0 "" -c "$work/gone.conf" 0000:01:00.1
! grep -v '^fakegpu: testbed' "$work/err" | grep -q . && ok "a GPU that is not there: not a word (every sound card at boot would say it)" ||
        { nok "stderr for a GPU that is not there:"; sed 's/^/  | /' "$work/err"; }
udev_audio "Address= names the audio function: exit 1, nothing" 1 "" -c "$work/audio.conf" 0000:01:00.1
grep -q "Cannot tell which GPU .*audio.conf means (0000:01:00.1 is of PCI class 0x040300, not a display controller" "$work/err" &&
        ok "gpu_find()'s own reason in the one line" || { nok "no reason for Address= of the audio function"; sed 's/^/  | /' "$work/err"; }
[ "$(grep -vc '^fakegpu: testbed' "$work/err")" = 1 ] && ok "one line, not gpu_find()'s candidates too" ||
        { nok "more than one line"; sed 's/^/  | /' "$work/err"; }
# --journal where no journald listens (an initramfs's udev; this machine):
# the message is not lost, it goes to stderr.
if [ ! -S /run/systemd/journal/socket ]; then
        udev_audio "--journal, no journald: the invalid configuration still exits 3" 3 "" --journal -c "$work/bad.conf" 0000:01:00.1
        grep -q "bad.conf:2: HideGpuAudio=hdmi is not a boolean" "$work/err" && ok "--journal without journald: on stderr" ||
                { nok "--journal without journald: lost"; sed 's/^/  | /' "$work/err"; }
fi
udev_audio "no address: exit 2" 2 "" -c "$work/on.conf"
udev_audio "not a PCI address: exit 2" 2 "" -c "$work/on.conf" card1
grep -q "'card1' is not a PCI address" "$work/err" && ok "the bad address is named" || nok "no message for 'card1'"
udev_audio "two addresses: exit 2" 2 "" -c "$work/on.conf" 0000:01:00.1 0000:01:00.0
udev_audio "--help: exit 0" 0 "$("$vfioctl" udev-audio --help)" --help

# ---- the rule ----
# As udev reads it: each line KEY[{ATTR}]OP"VALUE" pairs, GOTOs to LABELs
# that follow; then the rule run for sound cards made in the testbed: the
# GPU's card1 (on 0000:01:00.1), the iGPU's card0 (on 0000:00:02.0), and for
# card1's control node and a remove event, which it must leave alone.
cat > "$work/udev.py" <<'EOF'
import fnmatch, os, re, shlex, subprocess, sys

KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "SUBSYSTEMS", "KERNELS", "ATTR", "ATTRS", "ENV", "TAG", "GOTO", "LABEL",
        "IMPORT", "OWNER", "GROUP", "MODE", "RUN", "PROGRAM", "DRIVERS", "TEST"}
PAIR = re.compile(r'\s*([A-Z]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')

def parse(path):
    rules, labels = [], {}
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pairs, pos = [], 0
        while pos < len(line):
            m = PAIR.match(line, pos)
            if not m or m.group(1) not in KEYS:
                sys.exit(f"{path}:{n}: cannot parse at: {line[pos:]}")
            pairs.append(m.groups()[:4])
            pos = m.end()
        if pairs[0][0] == "LABEL":
            labels[pairs[0][3]] = len(rules)
        rules.append((n, pairs))
    for n, pairs in rules:
        for k, _, op, v in pairs:
            if k == "GOTO" and v not in labels:
                sys.exit(f"{path}:{n}: GOTO=\"{v}\" has no LABEL")
    return rules, labels

def match(pattern, value):
    return any(fnmatch.fnmatchcase(value or "", p) for p in pattern.split("|"))

def run(path, syspath, action, vfioctl, conf):
    rules, labels = parse(path)
    kernel = os.path.basename(syspath)
    subsystem = lambda d: os.path.basename(os.readlink(os.path.join(d, "subsystem"))) if os.path.islink(os.path.join(d, "subsystem")) else None
    env, i = {}, 0
    while i < len(rules):
        n, pairs = rules[i]
        i += 1
        ok, found, goto = True, None, None
        for k, attr, op, v in pairs:
            if op in ("==", "!="):
                if k == "ACTION": got = match(v, action)
                elif k == "SUBSYSTEM": got = match(v, subsystem(syspath))
                elif k == "KERNEL": got = match(v, kernel)
                elif k == "SUBSYSTEMS":
                    got, d = False, syspath
                    while d.count("/") > 2:
                        if match(v, subsystem(d)):
                            got, found = True, os.path.basename(d)
                            break
                        d = os.path.dirname(d)
                else: sys.exit(f"{path}:{n}: this test does not evaluate {k}{op}")
                if got != (op == "=="):
                    ok = False
                    break
        if not ok:
            continue
        for k, attr, op, v in pairs:
            if k == "GOTO":
                goto = v
            elif k == "IMPORT" and attr == "program":
                cmd = v.replace("%b", found or "").replace("@BINDIR@/vfioctl", vfioctl)
                out = subprocess.run(shlex.split(cmd) + ["-c", conf], capture_output=True, text=True)
                if out.returncode == 0:
                    env.update(l.split("=", 1) for l in out.stdout.splitlines() if "=" in l)
            elif k == "ENV" and op == "=":
                env[attr] = v
        if goto:
            i = labels[goto]
    print(" ".join(f"{k}={v}" for k, v in sorted(env.items())))

if sys.argv[1] == "parse":
    for p in sys.argv[2:]:
        parse(p)
else:
    run(*sys.argv[2:])
EOF
if python3 "$work/udev.py" parse "$rule" "$top/rules/70-vfiod.rules" 2> "$work/err"; then
        ok "rules/71-vfiod-audio.rules and 70-vfiod.rules parse: KEY{ATTR}OP\"VALUE\" pairs, each GOTO has its LABEL"
else
        nok "a rule does not parse: $(cat "$work/err")"
fi
grep -q 'SUBSYSTEMS=="pci", IMPORT{program}="@BINDIR@/vfioctl udev-audio --journal %b"' "$rule" &&
        ok "the rule runs vfioctl udev-audio --journal with the card's PCI function (%b)" || nok "the rule's IMPORT{program} changed"
grep -q '^ENV{' "$rule" && nok "the rule sets properties itself instead of asking vfioctl" || ok "the rule sets nothing by itself"

# rule_on NAME CONF DEVICE ACTION WANT: what the rule gives DEVICE (a path below the testbed's PCI devices).
rule_on() {
        local got
        got=$("$fakegpu" -- bash -c '
                set -e
                add() { # FUNCTION PATH SUBSYSTEM
                        local d
                        d=$(readlink -f "$UMOCKDEV_DIR/sys/bus/pci/devices/$1")/$2
                        mkdir -p "$d" "$UMOCKDEV_DIR/sys/class/$3"
                        ln -sfn "$UMOCKDEV_DIR/sys/class/$3" "$d/subsystem"
                        : > "$d/uevent"
                }
                add 0000:01:00.1 sound/card1 sound
                add 0000:01:00.1 sound/card1/controlC1 sound
                add 0000:00:02.0 sound/card0 sound
                d=$(readlink -f "$UMOCKDEV_DIR/sys/bus/pci/devices/${1%%/*}")/${1#*/}
                python3 "$2" run "$3" "$d" "$4" "$5" "$6"' - "$3" "$work/udev.py" "$rule" "$4" "$vfioctl" "$2" 2> "$work/err")
        if [ "$got" = "$5" ]; then ok "$1"; else nok "$1: got '$got', want '$5'"; sed 's/^/  | /' "$work/err"; fi
}
rule_on "add of the GPU's card1, HideGpuAudio=yes: ACP_IGNORE=1 PULSE_IGNORE=1" "$work/on.conf" \
        0000:01:00.1/sound/card1 add "ACP_IGNORE=1 PULSE_IGNORE=1"
rule_on "change of the GPU's card1 (the one that sets SOUND_INITIALIZED): the same" "$work/on.conf" \
        0000:01:00.1/sound/card1 change "ACP_IGNORE=1 PULSE_IGNORE=1"
rule_on "the iGPU's card0, HideGpuAudio=yes: nothing" "$work/on.conf" 0000:00:02.0/sound/card0 add ""
rule_on "the GPU's card1, HideGpuAudio=no: nothing" "$work/off.conf" 0000:01:00.1/sound/card1 add ""
rule_on "card1's control node: not a card, nothing" "$work/on.conf" 0000:01:00.1/sound/card1/controlC1 add ""
rule_on "remove of card1: nothing" "$work/on.conf" 0000:01:00.1/sound/card1 remove ""

if [ $failures -gt 0 ]; then
        echo "$failures failed"
        exit 1
fi
exit 0
