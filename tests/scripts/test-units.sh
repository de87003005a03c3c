#!/bin/bash
# units/ and rules/: systemd accepts every unit (systemd-analyze verify, with
# @BINDIR@/@SBINDIR@ pointing at the built binaries), vfiod.service's
# exposure score is 2.5 or lower, the units keep the contract of
# docs/interfaces.md, the D-Bus policy lets only root own org.vfiod1, the
# polkit actions are valid, and the udev rules parse and bind nothing.
# Needs no systemd as PID 1.
#   test-units.sh BUILD
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$top" && cd "${1:-build}" && pwd) || { echo "not ok - no build directory ${1:-build}"; exit 1; }
tmp=$(mktemp -d /tmp/vfiod-units.XXXXXX)
busd=
cleanup() {
        [ -n "$busd" ] && kill "$busd" 2> /dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fail=1; }

for b in vfiod vfioctl; do
        [ -x "$build/$b" ] || { echo "not ok - $build/$b is not built (make all)"; exit 1; }
done

# The units as make install writes them, but running the built binaries.
mkdir -p "$tmp/system" "$tmp/user" "$tmp/xdg"
chmod 700 "$tmp/xdg"
subst() { sed -e "s|@BINDIR@|$build|g" -e "s|@SBINDIR@|$build|g" "$@"; }
system_units=(vfiod.service windows-vm.target windows-vm.service windows-vm@.service)
for u in "${system_units[@]}"; do
        [ -f "$top/units/$u" ] || { nok "units/$u is missing"; continue; }
        subst "$top/units/$u" > "$tmp/system/$u"
done
# The Looking Glass client is not installed here: verify the unit with a
# command that exists (the rest of the unit is as shipped).
subst "$top/units/looking-glass-client.service" | sed -e 's|^ExecStart=/usr/bin/looking-glass-client |ExecStart=/bin/true |' \
        > "$tmp/user/looking-glass-client.service"
grep -q '^ExecStart=/usr/bin/looking-glass-client -f /dev/shm/looking-glass$' "$top/units/looking-glass-client.service" &&
        ok "looking-glass-client.service runs /usr/bin/looking-glass-client -f /dev/shm/looking-glass" ||
        nok "looking-glass-client.service: unexpected ExecStart="
for f in "$top"/units/*.service "$top"/units/*.target; do
        grep -q '@[A-Z_]*@' < <(subst "$f") && nok "${f##*/}: a placeholder is left after substitution"
done

# systemd-analyze verify: its exit status ignores unknown keys and bad
# values (it only warns), so any output fails. Instances stand for the
# template. Documentation=man: pages are checked against docs/man below.
verify() { # SCOPE DIR UNIT...
        local scope=$1 dir=$2; shift 2
        local out
        out=$(cd "$dir" && XDG_RUNTIME_DIR=$tmp/xdg systemd-analyze $scope verify --man=no "$@" 2>&1)
        local rc=$?
        if [ $rc = 0 ] && [ -z "$out" ]; then
                ok "systemd-analyze $scope verify $*"
        else
                nok "systemd-analyze $scope verify $* (exit $rc):"; echo "$out" | sed 's/^/    /'
        fi
}
verify "" "$tmp/system" vfiod.service windows-vm.target windows-vm.service windows-vm@win11.service
verify --user "$tmp/user" looking-glass-client.service

for f in "$top"/units/*.service "$top"/units/*.target; do
        for ref in $(sed -n 's/^Documentation=//p' "$f"); do
                case $ref in
                man:*)
                        page=${ref#man:}; name=${page%(*}; sec=${page##*(}; sec=${sec%)}
                        [ -f "$top/docs/man/$name.$sec" ] && ok "${f##*/}: $ref is docs/man/$name.$sec" ||
                                nok "${f##*/}: $ref has no docs/man/$name.$sec" ;;
                esac
        done
done

# The exposure score (0 safest, 10 worst) of the sandbox.
out=$(cd "$tmp/system" && systemd-analyze security --offline=true vfiod.service 2>&1)
score=$(echo "$out" | sed -n 's/.*Overall exposure level for vfiod.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
        nok "systemd-analyze security --offline=true vfiod.service gave no score:"; echo "$out" | tail -5
elif awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then
        ok "vfiod.service exposure score $score (at most 2.5)"
else
        nok "vfiod.service exposure score $score is above 2.5:"; echo "$out" | grep '✗' | sed 's/^/    /'
fi

# What docs/interfaces.md and the daemon rely on.
has() { # UNIT LINE...
        local u=$1; shift
        for l in "$@"; do
                grep -qxF -- "$l" "$top/units/$u" && ok "$u: $l" || nok "$u lacks $l"
        done
}
has vfiod.service "Type=notify" "BusName=org.vfiod1" "ExecStart=@SBINDIR@/vfiod" "ExecReload=kill -HUP \$MAINPID" \
        "Restart=on-failure" "RuntimeDirectory=vfiod" "RuntimeDirectoryPreserve=yes" "NoNewPrivileges=yes" \
        "ProtectSystem=strict" "RestrictAddressFamilies=AF_UNIX AF_NETLINK"
grep -q '^WatchdogSec=[1-9]' "$top/units/vfiod.service" && ok "vfiod.service: WatchdogSec= set" || nok "vfiod.service: no WatchdogSec="
grep -q '^ReadWritePaths=.*/sys/bus/pci' "$top/units/vfiod.service" && ok "vfiod.service: /sys/bus/pci writable" ||
        nok "vfiod.service: /sys/bus/pci not in ReadWritePaths="
# No sysfs write may be left out of the sandbox: every /sys path vfiod writes.
grep -q '^ProtectKernelModules=yes' "$top/units/vfiod.service" && nok "vfiod.service: ProtectKernelModules= forbids libkmod"
has windows-vm.service "Type=notify" "NotifyAccess=main" "ExecStart=@BINDIR@/vfioctl run-vm" "ExecStop=@BINDIR@/vfioctl stop" \
        "PartOf=windows-vm.target" "Requires=vfiod.service" "After=vfiod.service" "Wants=libvirtd.service"
has windows-vm@.service "Type=notify" "NotifyAccess=main" "ExecStart=@BINDIR@/vfioctl --vm=%i run-vm" "Requires=vfiod.service"
has windows-vm.target "BindsTo=windows-vm.service" "After=windows-vm.service"
# TimeoutStopSec= must cover ShutdownTimeoutSec= (2min by default) and the give-back.
for u in windows-vm.service windows-vm@.service; do
        t=$(sed -n 's/^TimeoutStopSec=//p' "$top/units/$u")
        us=$(systemd-analyze timespan "${t:-0}" 2> /dev/null | sed -n 's/^ *μs: *//p')
        [ -n "$us" ] && [ "$us" -gt 150000000 ] && ok "$u: TimeoutStopSec=$t is more than 2min 30s" ||
                nok "$u: TimeoutStopSec=${t:-unset} does not cover ShutdownTimeoutSec=2min plus the give-back"
done
grep -q '^\[Install\]' "$top/units/looking-glass-client.service" && nok "looking-glass-client.service can be enabled"
grep -qx 'f /dev/shm/looking-glass 0660 @LG_USER@ @LG_GROUP@ -' "$top/units/vfiod.tmpfiles" &&
        ok "vfiod.tmpfiles: /dev/shm/looking-glass 0660 @LG_USER@ @LG_GROUP@" || nok "vfiod.tmpfiles: no /dev/shm/looking-glass line"
# systemd-tmpfiles accepts it (--root: nothing is created outside $tmp).
mkdir -p "$tmp/root/dev/shm" "$tmp/root/etc"
printf 'root:x:0:0::/root:/bin/sh\n' > "$tmp/root/etc/passwd"
printf 'root:x:0:\nkvm:x:994:\n' > "$tmp/root/etc/group"
sed -e 's/@LG_USER@/root/' -e 's/@LG_GROUP@/kvm/' "$top/units/vfiod.tmpfiles" > "$tmp/vfiod.conf"
out=$(systemd-tmpfiles --root="$tmp/root" --create "$tmp/vfiod.conf" 2>&1)
m=$(stat -c '%a %u:%g %F' "$tmp/root/dev/shm/looking-glass" 2> /dev/null)
[ -z "$out" ] && [ "$m" = "660 0:994 regular empty file" ] && ok "systemd-tmpfiles creates /dev/shm/looking-glass: $m" ||
        { nok "systemd-tmpfiles: '$m'"; echo "$out" | sed 's/^/    /'; }

# D-Bus policy: a private bus with it; root may own org.vfiod1, nobody may not.
if ! xmllint --nonet --noout "$top/units/org.vfiod1.conf"; then
        nok "units/org.vfiod1.conf is not well-formed XML"
elif command -v dbus-daemon > /dev/null && command -v dbus-send > /dev/null; then
        mkdir -p "$tmp/bus"
        chmod 755 "$tmp" "$tmp/bus"
        . "$top/tests/scripts/private-bus.sh"
        if ! private_bus "$tmp/bus" "$top" 2> "$tmp/bus.err"; then
                nok "dbus-daemon refuses a configuration with units/org.vfiod1.conf:"; sed 's/^/    /' "$tmp/bus.err"
        else
                busd=$bus_pid addr=$DBUS_SYSTEM_BUS_ADDRESS
                request=(dbus-send --bus="$addr" --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus
                         org.freedesktop.DBus.RequestName string:org.vfiod1 uint32:4)
                out=$("${request[@]}" 2>&1)
                echo "$out" | grep -q 'uint32 1' && ok "root may own org.vfiod1" || { nok "root may not own org.vfiod1:"; echo "    $out"; }
                out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "${request[@]}" 2>&1)
                echo "$out" | grep -q 'AccessDenied' && ok "nobody may not own org.vfiod1" ||
                        { nok "nobody may own org.vfiod1:"; echo "    $out"; }
                # (Not started as the system bus is: no higher fd limit, no complaint.)
                grep -v 'Failed to set fd limit' "$tmp/bus.err" > "$tmp/bus.warn"
                [ -s "$tmp/bus.warn" ] && { nok "dbus-daemon warns about the policy:"; sed 's/^/    /' "$tmp/bus.warn"; }
                kill "$busd"; busd=
        fi
else
        nok "dbus-daemon or dbus-send missing (package dbus): the D-Bus policy is not checked"
fi
for i in Introspectable Peer; do
        grep -q "send_interface=\"org.freedesktop.DBus.$i\"" "$top/units/org.vfiod1.conf" &&
                ok "org.vfiod1.conf: everyone may call org.freedesktop.DBus.$i" || nok "org.vfiod1.conf: no $i for everyone"
done
for i in Manager Gpu Vm; do
        grep -q "send_interface=\"org.vfiod1.$i\"" "$top/units/org.vfiod1.conf" &&
                ok "org.vfiod1.conf: everyone may call org.vfiod1.$i" || nok "org.vfiod1.conf: no org.vfiod1.$i for everyone"
done

# polkit: valid against polkit's DTD, with the three actions of docs/interfaces.md.
dtd=/usr/share/polkit-1/policyconfig-1.dtd
if [ -f "$dtd" ]; then
        xmllint --nonet --noout --dtdvalid "$dtd" "$top/units/org.vfiod1.policy" 2> "$tmp/xml.err" &&
                ok "org.vfiod1.policy is valid against $dtd" || { nok "org.vfiod1.policy:"; sed 's/^/    /' "$tmp/xml.err"; }
else
        xmllint --nonet --noout "$top/units/org.vfiod1.policy" && ok "org.vfiod1.policy is well-formed (no polkit DTD here)" ||
                nok "org.vfiod1.policy is not well-formed XML"
fi
for a in org.vfiod1.handoff org.vfiod1.vm org.vfiod1.reload; do
        grep -q "<action id=\"$a\">" "$top/units/org.vfiod1.policy" && ok "polkit action $a" || nok "no polkit action $a"
done

# udev: nothing that binds a driver or writes sysfs (checked before
# udevadm test, which would carry out an ATTR{}= write), nothing run.
rules=$top/rules/70-vfiod.rules
bad=$(grep -v '^[[:space:]]*#' "$rules" | grep -n -E 'driver_override|drivers_probe|bind|vfio[-_]pci|new_id|ATTRS?\{[^}]*\}[[:space:]]*[:+]?=[^=]|RUN|PROGRAM|IMPORT|SYSCTL')
[ -z "$bad" ] && ok "70-vfiod.rules binds no driver, writes no attribute, runs nothing" ||
        { nok "70-vfiod.rules binds, writes or runs:"; echo "$bad" | sed 's/^/    /'; }
grep -q 'SUBSYSTEM=="kvmfr"' "$rules" && grep -q 'GROUP="kvm", MODE="0660"' "$rules" &&
        ok "70-vfiod.rules: kvmfr devices root:kvm 0660" || nok "70-vfiod.rules: no kvmfr permissions"
if [ -n "$bad" ]; then
        :
elif [ "$(id -u)" != 0 ] || ! command -v udevadm > /dev/null; then
        nok "udevadm test needs root and udevadm (package udev)"
else
        # Only this file in udev's rules directories (a private mount namespace).
        mkdir -p "$tmp/empty" "$tmp/rules"
        cp "$rules" "$tmp/rules/"
        dev=$(ls -d /sys/bus/pci/devices/* 2> /dev/null | head -1)
        [ -n "$dev" ] || dev=/sys/devices/virtual/mem/null
        out=$(unshare -m sh -c '
                for d in /lib/udev/rules.d /usr/lib/udev/rules.d /run/udev/rules.d /etc/udev/rules.d; do
                        [ -d "$d" ] && { mount --bind "$1/empty" "$d" || exit 1; }
                done
                mount --bind "$1/rules" /etc/udev/rules.d && udevadm test --action=add "$2"' sh "$tmp" "$dev" 2>&1)
        rc=$?
        if [ $rc != 0 ] || ! echo "$out" | grep -q 'Reading rules file: /etc/udev/rules.d/70-vfiod.rules'; then
                nok "udevadm test did not read 70-vfiod.rules (exit $rc):"; echo "$out" | tail -5 | sed 's/^/    /'
        elif echo "$out" | grep -q '^/etc/udev/rules.d/70-vfiod.rules:[0-9]'; then
                nok "udevadm rejects parts of 70-vfiod.rules:"; echo "$out" | grep '^/etc/udev/rules.d/70-vfiod.rules:' | sed 's/^/    /'
        else
                ok "udevadm test ${dev#/sys/} parses 70-vfiod.rules without a complaint"
        fi
fi
exit $fail
