#!/bin/bash
# make install DESTDIR=... PREFIX=/usr puts exactly the expected files, with
# their modes, links and @...@ filled in, into the directories pkg-config
# names; the units' and udev rules' commands exist in that tree; VFIOD_GPU_ADDRESS= and
# LG_USER= reach the udev rule and the tmpfiles line; make uninstall
# removes every file again.
#   test-install.sh BUILD
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
tmp=$(mktemp -d /tmp/vfiod-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fail=1; }

mk() { make -s --no-print-directory -C "$top" BUILD="$build" PREFIX=/usr "$@"; }
# A variable as the Makefile computes it.
var() { make -s --no-print-directory -C "$top" -f Makefile -f <(printf 'vfiod-print-%%:\n\t@echo $($*)\n') \
        BUILD="$build" PREFIX=/usr "vfiod-print-$1"; }

# The directories come from pkg-config where it knows them.
for v in SYSTEMDSYSTEMUNITDIR:systemd:systemdsystemunitdir SYSTEMDUSERUNITDIR:systemd:systemduserunitdir \
         TMPFILESDIR:systemd:tmpfilesdir CATALOGDIR:systemd:catalogdir; do
        IFS=: read -r name pkg pvar <<< "$v"
        want=$(pkg-config --variable="$pvar" "$pkg" 2> /dev/null)
        got=$(var "$name")
        if [ -z "$got" ]; then nok "$name is empty"
        elif [ -n "$want" ] && [ "$got" != "$want" ]; then nok "$name=$got, pkg-config $pkg says $want"
        else ok "$name=$got"; fi
done
udev=$(pkg-config --variable=udevdir udev 2> /dev/null)
[ -z "$udev" ] || [ "$(var UDEVRULESDIR)" = "$udev/rules.d" ] && ok "UDEVRULESDIR=$(var UDEVRULESDIR)" ||
        nok "UDEVRULESDIR=$(var UDEVRULESDIR), pkg-config udev says $udev/rules.d"

root=$tmp/root
if ! mk install DESTDIR="$root" > "$tmp/install.log" 2>&1; then
        nok "make install DESTDIR=$root PREFIX=/usr failed:"; sed 's/^/    /' "$tmp/install.log"; exit 1
fi
ok "make install DESTDIR=... PREFIX=/usr"

# What must be there: "MODE PATH" for files, "link PATH TARGET" for links.
links="windows-start windows-stop vfio-status gpu-rebind-nvidia vm-health install-hooks install-services lg-test"
units=$(var SYSTEMDSYSTEMUNITDIR) user=$(var SYSTEMDUSERUNITDIR) mandir=$(var MANDIR) comp=$(var BASHCOMPLETIONDIR)
{
        echo "755 /usr/sbin/vfiod"
        echo "755 /usr/bin/vfioctl"
        for l in $links; do echo "link /usr/bin/$l vfioctl"; done
        echo "644 /etc/vfiod/vfiod.conf.example"
        echo "644 $(var CATALOGDIR)/vfiod.catalog"
        for u in vfiod.service windows-vm.target windows-vm.service windows-vm@.service; do echo "644 $units/$u"; done
        echo "644 $user/looking-glass-client.service"
        echo "644 $(var TMPFILESDIR)/vfiod.conf"
        echo "644 $(var UDEVRULESDIR)/70-vfiod.rules"
        echo "644 $(var UDEVRULESDIR)/71-vfiod-audio.rules"
        echo "644 $(var DBUSSYSTEMDIR)/org.vfiod1.conf"
        echo "644 $(var POLKITACTIONDIR)/org.vfiod1.policy"
        for m in "$top"/docs/man/*.[158]; do
                [ -e "$m" ] && echo "644 $mandir/man${m##*.}/${m##*/}"
        done
        if [ -e "$top/shell-completion/bash/vfioctl" ]; then
                echo "644 $comp/vfioctl"
                for l in $links; do echo "link $comp/$l vfioctl"; done
        fi
} | sed 's|//*|/|g' | sort > "$tmp/want"
(cd "$root" && find . \( -type f -printf '%m /%P\n' \) -o \( -type l -printf 'link /%P %l\n' \)) | sort > "$tmp/got"
if diff -u "$tmp/want" "$tmp/got" > "$tmp/diff"; then
        ok "installed exactly $(wc -l < "$tmp/want") files and links, modes and link targets as expected"
else
        nok "the installed tree differs (- expected, + installed):"; sed -n '3,$p' "$tmp/diff" | sed 's/^/    /'
fi
for l in $links; do
        [ "$(readlink -f "$root/usr/bin/$l")" = "$root/usr/bin/vfioctl" ] || nok "/usr/bin/$l does not resolve to vfioctl"
done
"$root/usr/bin/vfioctl" --version > /dev/null 2>&1 && ok "the installed vfioctl runs (--version)" || nok "the installed vfioctl --version fails"

# Substituted: no placeholder left, and every absolute command of a unit
# exists in the tree (the Looking Glass client is the user's own package).
for f in "$root$units"/* "$root$user"/* "$root$(var TMPFILESDIR)/vfiod.conf" "$root$(var UDEVRULESDIR)"/*; do
        grep -n '@[A-Z_]*@' "$f" && nok "${f#$root}: a placeholder is left"
done
for f in "$root$units"/*; do
        sed -n 's/^Exec[A-Za-z]*=[-+!@:]*//p' "$f" | while read -r cmd _; do
                case $cmd in
                /*) [ -x "$root$cmd" ] && echo "ok - ${f##*/}: $cmd is in the tree" || echo "not ok - ${f##*/}: $cmd is not installed" ;;
                *) echo "ok - ${f##*/}: $cmd is found in systemd's PATH" ;;
                esac
        done
done > "$tmp/exec"
# udev runs IMPORT{program}= and RUN= commands given with their path.
for f in "$root$(var UDEVRULESDIR)"/*; do
        grep -oE '(IMPORT\{program\}|RUN\+?)="[^"]*"' "$f" | sed 's/^[^"]*"//; s/"$//' | while read -r cmd _; do
                case $cmd in
                /*) [ -x "$root$cmd" ] && echo "ok - ${f##*/}: $cmd is in the tree" || echo "not ok - ${f##*/}: $cmd is not installed" ;;
                *) echo "not ok - ${f##*/}: $cmd has no absolute path (udev looks for it in /usr/lib/udev)" ;;
                esac
        done
done >> "$tmp/exec"
cat "$tmp/exec"
grep -q '^not ok' "$tmp/exec" && fail=1
grep -qx 'ExecStart=/usr/sbin/vfiod' "$root$units/vfiod.service" && ok "vfiod.service: ExecStart=/usr/sbin/vfiod" ||
        nok "vfiod.service: ExecStart= is not /usr/sbin/vfiod"
grep -qx 'ExecStart=/usr/bin/vfioctl run-vm' "$root$units/windows-vm.service" && ok "windows-vm.service: ExecStart=/usr/bin/vfioctl run-vm" ||
        nok "windows-vm.service: ExecStart= is not /usr/bin/vfioctl run-vm"
grep -qx 'SUBSYSTEMS=="pci", IMPORT{program}="/usr/bin/vfioctl udev-audio --journal %b"' "$root$(var UDEVRULESDIR)/71-vfiod-audio.rules" &&
        ok "71-vfiod-audio.rules: IMPORT{program}=\"/usr/bin/vfioctl udev-audio --journal %b\"" ||
        nok "71-vfiod-audio.rules does not run /usr/bin/vfioctl udev-audio --journal %b"
sed 's|@BINDIR@|/usr/bin|g' "$top/rules/71-vfiod-audio.rules" | cmp -s - "$root$(var UDEVRULESDIR)/71-vfiod-audio.rules" &&
        ok "$(var UDEVRULESDIR)/71-vfiod-audio.rules is rules/71-vfiod-audio.rules with @BINDIR@ filled in" ||
        nok "$(var UDEVRULESDIR)/71-vfiod-audio.rules differs from rules/71-vfiod-audio.rules"
grep -qx 'f /dev/shm/looking-glass 0660 root kvm -' "$root$(var TMPFILESDIR)/vfiod.conf" &&
        ok "tmpfiles: /dev/shm/looking-glass root:kvm by default" || nok "tmpfiles: not root:kvm by default"
for f in units/vfiod.conf.example units/vfiod.catalog units/org.vfiod1.conf units/org.vfiod1.policy rules/70-vfiod.rules; do
        case $f in
        *.example) dst=/etc/vfiod/vfiod.conf.example ;;
        *.catalog) dst=$(var CATALOGDIR)/vfiod.catalog ;;
        *.conf) dst=$(var DBUSSYSTEMDIR)/org.vfiod1.conf ;;
        *.policy) dst=$(var POLKITACTIONDIR)/org.vfiod1.policy ;;
        *.rules) dst=$(var UDEVRULESDIR)/70-vfiod.rules ;;
        esac
        cmp -s "$top/$f" "$root$dst" && ok "$dst is $f" || nok "$dst differs from $f"
done

# The configured GPU and Looking Glass user reach the rule and tmpfiles.
gpu=$tmp/gpu
if mk install DESTDIR="$gpu" VFIOD_GPU_ADDRESS=0000:0A:00.0 LG_USER=alice LG_GROUP=kvm > "$tmp/gpu.log" 2>&1; then
        r=$gpu$(var UDEVRULESDIR)/70-vfiod.rules
        grep -qx 'KERNEL=="0000:0a:00.*", TAG+="systemd"' "$r" && ! grep -q 'ATTR{class}\|ATTR{vendor}' "$r" &&
                ok "VFIOD_GPU_ADDRESS=0000:0A:00.0: the rule tags slot 0000:0a:00 only" ||
                { nok "VFIOD_GPU_ADDRESS=0000:0A:00.0: the rule is"; sed 's/^/    /' "$r"; }
        grep -qx 'f /dev/shm/looking-glass 0660 alice kvm -' "$gpu$(var TMPFILESDIR)/vfiod.conf" &&
                ok "LG_USER=alice: /dev/shm/looking-glass alice:kvm" || nok "LG_USER=alice did not reach tmpfiles"
        mk uninstall DESTDIR="$gpu" VFIOD_GPU_ADDRESS=0000:0A:00.0 > /dev/null 2>&1
        left=$(cd "$gpu" && find . ! -type d)
        [ -z "$left" ] && ok "uninstall of the configured install leaves no file" || nok "left behind: $left"
else
        nok "make install VFIOD_GPU_ADDRESS=0000:0A:00.0 failed:"; sed 's/^/    /' "$tmp/gpu.log"
fi
if mk install DESTDIR="$tmp/bogus" VFIOD_GPU_ADDRESS=01:00 > "$tmp/bogus.log" 2>&1; then
        nok "make install VFIOD_GPU_ADDRESS=01:00 (no function) succeeded"
else
        ok "make install refuses VFIOD_GPU_ADDRESS=01:00: $(grep -m1 'no PCI address' "$tmp/bogus.log")"
fi

# uninstall: nothing left but directories.
if ! mk uninstall DESTDIR="$root" > "$tmp/uninstall.log" 2>&1; then
        nok "make uninstall failed:"; sed 's/^/    /' "$tmp/uninstall.log"
fi
left=$(cd "$root" && find . ! -type d | sort)
[ -z "$left" ] && ok "make uninstall DESTDIR=... PREFIX=/usr leaves no file or link" ||
        { nok "make uninstall left:"; echo "$left" | sed 's/^/    /'; }
[ -e "$root/etc/vfiod" ] && nok "make uninstall left /etc/vfiod (empty)"
exit $fail
