#!/bin/bash
# shell-completion/bash/vfioctl: sourced into bash, its functions give
# exactly the expected words for a few command lines, as bash calls them
# (COMP_WORDS split at bash's word breaks, COMP_CWORD), and its commands and
# links are those of docs/interfaces.md.
#   test-completion.sh BUILD
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/vfiod-completion.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

# shellcheck source=../../shell-completion/bash/vfioctl
source "$top/shell-completion/bash/vfioctl" || { echo "not ok - the completion does not load"; exit 1; }
COMP_WORDBREAKS=$' \t\n"\'@><=;|&(:'  # bash's default

# A fake /sys/bus/pci/devices: two display controllers (0x0300, 0x0380)
# among other devices.
_vfioctl_pci_devices=$tmp/pci
for d in 0000:00:02.0=0x030000 0000:00:1f.3=0x040300 0000:01:00.0=0x030000 0000:01:00.1=0x040300 \
         0000:02:00.0=0x038000 0000:03:00.0=0x010802; do
        mkdir -p "$tmp/pci/${d%=*}"
        echo "${d#*=}" > "$tmp/pci/${d%=*}/class"
done
mkdir -p "$tmp/etc/vfiod.conf.d"
touch "$tmp/etc/vfiod.conf" "$tmp/etc/other.conf"

# expect NAME FUNCTION "EXPECTED WORDS" WORD... : the last WORD is the one
# completed; the replies are compared sorted.
expect() {
        local name=$1 fn=$2 want got
        want=$(tr ' ' '\n' <<< "$3" | sed '/^$/d' | sort | tr '\n' ' ')
        shift 3
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        COMP_LINE="$*" COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        "$fn"
        got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ')
        if [ "$got" = "$want" ]; then
                echo "ok - $name"
        else
                echo "not ok - $name: got '$got', want '$want'"; fail=1
        fi
}

commands='status start stop force-host health to-vfio to-host reload run-vm hook install-hooks install-services lg-test doctor udev-audio'
common='--config= --gpu= --vm= --json --quiet --verbose --help --version'

expect "vfioctl <TAB>: the commands" _vfioctl "$commands" vfioctl ""
expect "vfioctl to-<TAB>" _vfioctl "to-vfio to-host" vfioctl to-
expect "vfioctl --gpu=0000:01:00.0 st<TAB>: options before the command" _vfioctl "status start stop" \
        vfioctl --gpu = 0000 : 01 : 00.0 st
expect "vfioctl -c FILE <TAB>: an option's value is no command" _vfioctl "$commands" vfioctl -c "$tmp/etc/vfiod.conf" ""
expect "vfioctl status --<TAB>" _vfioctl "$common --follow --waybar --direct" vfioctl status --
expect "vfioctl start --<TAB>" _vfioctl "$common --drain" vfioctl start --
expect "vfioctl stop --t<TAB>" _vfioctl "--timeout=" vfioctl stop --t
expect "vfioctl to-vfio --d<TAB>" _vfioctl "--drain --direct" vfioctl to-vfio --d
expect "vfioctl to-host --<TAB>" _vfioctl "$common --direct" vfioctl to-host --
expect "vfioctl force-host --<TAB>" _vfioctl "$common" vfioctl force-host --
expect "vfioctl install-hooks --r<TAB>" _vfioctl "--remove" vfioctl install-hooks --r
expect "vfioctl -<TAB>: common options" _vfioctl "-c -g -q -v -h $common" vfioctl -
expect "vfioctl status <TAB>: no arguments" _vfioctl "" vfioctl status ""
expect "vfioctl hook win11 <TAB>" _vfioctl "prepare start started stopped release migrate restore reconnect attach" \
        vfioctl hook win11 ""
expect "vfioctl hook win11 prepare <TAB>" _vfioctl "begin end -" vfioctl hook win11 prepare ""

# --gpu: display controllers only. bash splits at ':' and '=', and replaces
# only the text after the last of them, so the replies start there.
expect "vfioctl --gpu=<TAB>" _vfioctl "0000:00:02.0 0000:01:00.0 0000:02:00.0" vfioctl --gpu = ""
expect "vfioctl --gpu=0000:0<TAB>" _vfioctl "00:02.0 01:00.0 02:00.0" vfioctl --gpu = 0000 : 0
expect "vfioctl status --gpu=0000:01<TAB>" _vfioctl "01:00.0" vfioctl status --gpu = 0000 : 01
expect "vfioctl -g <TAB>" _vfioctl "0000:00:02.0 0000:01:00.0 0000:02:00.0" vfioctl -g ""
expect "vfioctl --gpu 0000:01:<TAB>" _vfioctl "00.0" vfioctl --gpu 0000 : 01 : ""

# --config: files.
expect "vfioctl --config=DIR/v<TAB>" _vfioctl "$tmp/etc/vfiod.conf $tmp/etc/vfiod.conf.d" \
        vfioctl --config = "$tmp/etc/v"
expect "vfioctl -c DIR/o<TAB>" _vfioctl "$tmp/etc/other.conf" vfioctl -c "$tmp/etc/o"

# The links: the command is the link's name, with its own options.
expect "vfio-status --<TAB>" _vfioctl_link "$common --follow --waybar --direct" vfio-status --
expect "/usr/bin/windows-start --<TAB>" _vfioctl_link "$common --drain" /usr/bin/windows-start --
expect "windows-stop --timeout=<TAB>" _vfioctl_link "30s 1min 2min 5min" windows-stop --timeout = ""
expect "gpu-rebind-nvidia --<TAB>" _vfioctl_link "$common" gpu-rebind-nvidia --
expect "vm-health --j<TAB>" _vfioctl_link "--json" vm-health --j
expect "install-services --<TAB>" _vfioctl_link "$common --remove" install-services --
expect "vfio-status <TAB>: no commands" _vfioctl_link "" vfio-status ""
expect "windows-start --gpu=<TAB>" _vfioctl_link "0000:00:02.0 0000:01:00.0 0000:02:00.0" windows-start --gpu = ""

# Registered for vfioctl and every link of the contract.
table=$(sed -n '/^## vfioctl/,/^## /p' "$top/docs/interfaces.md" | grep '^| `')
want_commands=$(cut -d'|' -f2 <<< "$table" | grep -oE '`[a-z][a-z-]*' | tr -d '`' | sort | tr '\n' ' ')
got_commands=$(tr ' ' '\n' <<< "$commands" | sort | tr '\n' ' ')
[ "$want_commands" = "$got_commands" ] && echo "ok - the commands are those of interfaces.md" ||
        { echo "not ok - interfaces.md's commands are '$want_commands'"; fail=1; }
for l in vfioctl $(cut -d'|' -f3 <<< "$table" | tr -d '` '); do
        if complete -p "$l" 2> /dev/null | grep -q -- "-F _vfioctl"; then
                echo "ok - complete -F for $l"
        else
                echo "not ok - no completion registered for $l"; fail=1
        fi
done
exit $fail
