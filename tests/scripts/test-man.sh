#!/bin/bash
# docs/man: every page renders without a warning, and the pages say what the
# code and docs/interfaces.md say: vfioctl.1 has every command and option of
# `vfioctl --help` and of the contract, every link, and the contract's exit
# codes word for word; vfiod.conf.5 has exactly the sections and keys that
# agent/config.c accepts, each under its section with a default; vfiod.8 has
# vfiod's options and every MESSAGE_ID of agent/event-log.c.
#   test-man.sh BUILD
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
[[ $build == /* ]] || build=$top/$build
man=$top/docs/man
tmp=$(mktemp -d /tmp/vfiod-man.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fail=1; }
check() { # NAME COMMAND...
        local name=$1; shift
        if "$@"; then ok "$name"; else not_ok "$name"; fi
}

if ! command -v groff > /dev/null; then
        echo "not ok - groff is not installed (Debian: groff-base, in DEBIAN_DEPS)"
        exit 1
fi

pages=(vfiod.8 vfioctl.1 vfiod.conf.5)
for p in "${pages[@]}"; do
        [ -f "$man/$p" ] || { not_ok "docs/man/$p exists"; continue; }
        # -ww: every warning; -t: tbl, as the '\" t line asks man to. The
        # terminal devices are what man(1) uses.
        for dev in utf8 ascii; do
                if groff -t -man -ww -z -T$dev "$man/$p" > "$tmp/err" 2>&1 && ! [ -s "$tmp/err" ]; then
                        ok "$p renders on $dev without warnings"
                else
                        not_ok "$p renders on $dev without warnings:"; sed 's/^/#   /' "$tmp/err"
                fi
        done
        # Plain text: no bold, underline or colour.
        groff -t -man -Tascii -P-cbou "$man/$p" 2> /dev/null > "$tmp/$p.txt"
        name=$(sed -n '/^NAME/,/^$/{/^ /p;}' "$tmp/$p.txt" | tr -s ' \n' ' ')
        [[ $name == *"${p%.[158]}"*" - "* ]] && ok "$p: NAME says what it is" || not_ok "$p: NAME line '$name'"
done
[ $fail = 0 ] || exit 1

# The text of one section (from its heading to the next) of a rendered page.
section() { # PAGE HEADING
        awk -v h="$2" '/^[^ ]/ { on = ($0 == h); next } on' "$tmp/$1.txt"
}
# Does the page's text have this option as a word of its own?
has_option() { # PAGE OPTION
        grep -qE -- "(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|\$)" "$tmp/$1.txt"
}

# --- vfioctl.1 against vfioctl --help ---
if ! "$build/vfioctl" --help > "$tmp/help" 2>&1; then
        not_ok "$build/vfioctl --help runs"; sed 's/^/#   /' "$tmp/help"; exit 1
fi
section vfioctl.1 COMMANDS > "$tmp/commands"
# A command is the start of a tag line of COMMANDS: "       status [--json] ...".
has_command() { grep -qE -- "^       $1([ ,]|\$)" "$tmp/commands"; }

help_commands=$(sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\)\( .*\)\?$/\1/p' "$tmp/help")
[ -n "$help_commands" ] || not_ok "found no commands in vfioctl --help"
for c in $help_commands; do
        check "vfioctl.1 describes the command '$c' of --help" has_command "$c"
done
# Every --long and -x (a single letter) after a space, a comma, ( or /.
help_options=$(grep -oE -- '(^|[[:space:],(/])--?[a-zA-Z][a-zA-Z-]*' "$tmp/help" | grep -oE -- '--?[a-zA-Z-]+' |
               grep -E -- '^(--[a-zA-Z]|-[a-zA-Z]$)' | sort -u)
[ "$(echo "$help_options" | wc -w)" -ge 4 ] || not_ok "found only '$help_options' as options in vfioctl --help"
for o in $help_options; do
        check "vfioctl.1 has the option $o of --help" has_option vfioctl.1 "$o"
done

# --- vfioctl.1 against docs/interfaces.md ---
contract=$top/docs/interfaces.md
# The command table: | `status [--json] ...` | `vfio-status` | what |
table=$(sed -n '/^## vfioctl/,/^## /p' "$contract" | grep '^| `')
[ "$(echo "$table" | wc -l)" -ge 10 ] || not_ok "found only $(echo "$table" | wc -l) commands in interfaces.md"
name_line=$(section vfioctl.1 NAME | tr -s ' \n' ' ')
while IFS='|' read -r _ usage link _; do
        for c in $(grep -oE '`[a-z][a-z-]*' <<< "$usage" | tr -d '`'); do
                check "vfioctl.1 describes the command '$c' of the contract" has_command "$c"
        done
        for o in $(grep -oE -- '--[a-z][a-z-]*' <<< "$usage"); do
                check "vfioctl.1 has the option $o of the contract" has_option vfioctl.1 "$o"
        done
        l=$(tr -d '` ' <<< "$link")
        if [ -n "$l" ]; then
                [[ $name_line == *" $l,"* || $name_line == *" $l -"* ]] &&
                        ok "vfioctl.1 names the link $l" || not_ok "vfioctl.1's NAME lacks the link $l"
                grep -qE -- "(^| )$l( |\$)" "$tmp/commands" &&
                        ok "vfioctl.1 says what $l runs" || not_ok "vfioctl.1's COMMANDS lack the link $l"
        fi
done <<< "$table"
common=$(sed -n '/^## vfioctl/,/^## /p' "$contract" | grep -E '^(`--direct`|Common options)' |
         grep -oE -- '(--[a-z][a-z-]*|`-[a-z])' | tr -d '`' | sort -u)
[ -n "$common" ] || not_ok "found no common options in interfaces.md"
for o in $common; do
        check "vfioctl.1 has the common option $o of the contract" has_option vfioctl.1 "$o"
done

# Exit codes, word for word: "Exit codes: 0 done, 1 other failure, ..., 9 access denied."
codes=$(sed -n '/^Exit codes:/,/\.$/p' "$contract" | tr '\n' ' ' | sed 's/^Exit codes: *//; s/\. *$//; s/  */ /g')
section vfioctl.1 "EXIT STATUS" | sed 's/^ *//; s/  */ /g' > "$tmp/exit"
n=0
while IFS= read -r pair; do
        pair=${pair# }
        [[ $pair =~ ^([0-9]+)\ (.+)$ ]] || { not_ok "cannot read '$pair' in interfaces.md's exit codes"; continue; }
        n=$((n + 1))
        if awk -v p="$pair" 'index($0, p) == 1 && (length($0) == length(p) || substr($0, length(p) + 1, 1) == " ") { f = 1 }
                             END { exit !f }' "$tmp/exit"; then
                ok "vfioctl.1 EXIT STATUS: $pair"
        else
                not_ok "vfioctl.1 EXIT STATUS lacks '$pair' (docs/interfaces.md)"
        fi
done < <(tr ',' '\n' <<< "$codes")
[ $n -ge 10 ] || not_ok "found only $n exit codes in interfaces.md"

# --- vfiod.conf.5 against agent/config.c ---
# "streq(section, "GPU")", then its keys "streq(name, "Address")", in order.
grep -oE 'streq\((section|name), "[A-Za-z]+"\)' "$top/agent/config.c" |
        awk -F'"' '/section/ { s = $2; next } { print s, $2 }' | sort -u > "$tmp/keys.code"
# Each key's tag line "       Key=VALUE" under its heading "[Section] SECTION".
awk '/^\[[A-Za-z]+\] SECTION$/ { s = substr($1, 2, length($1) - 2); next }
     /^[^ ]/ { s = "" }
     s && /^       [A-Za-z]+=/ { sub(/^ +/, ""); sub(/=.*/, ""); print s, $0 }' "$tmp/vfiod.conf.5.txt" |
        sort -u > "$tmp/keys.man"
[ "$(wc -l < "$tmp/keys.code")" -ge 20 ] || not_ok "found only $(wc -l < "$tmp/keys.code") keys in agent/config.c"
while read -r s k; do
        grep -qx "$s $k" "$tmp/keys.man" && ok "vfiod.conf.5 has [$s] $k=" ||
                not_ok "vfiod.conf.5 lacks [$s] $k= (agent/config.c accepts it)"
done < "$tmp/keys.code"
while read -r s k; do
        grep -qx "$s $k" "$tmp/keys.code" || not_ok "vfiod.conf.5 has [$s] $k=, which agent/config.c does not accept"
done < "$tmp/keys.man"
for s in $(cut -d' ' -f1 "$tmp/keys.code" | sort -u); do
        grep -q "^\[$s\] SECTION$" "$tmp/vfiod.conf.5.txt" && ok "vfiod.conf.5 has a section [$s]" ||
                not_ok "vfiod.conf.5 lacks a section [$s]"
done
# Each key's paragraph (Width= and Height= share one) says its default.
awk 'function done() { if (keys != "" && !dflt) print keys; keys = ""; dflt = 0 }
     /^[^ ]/ { done(); tag = 0; next }
     /^       [A-Za-z]+=/ { if (!tag) done(); keys = keys " " $1; tag = 1; next }
     { tag = 0 } /Default/ { dflt = 1 }
     END { done() }' "$tmp/vfiod.conf.5.txt" > "$tmp/nodefault"
[ -s "$tmp/nodefault" ] && not_ok "vfiod.conf.5 gives no default for: $(tr '\n' ' ' < "$tmp/nodefault")" ||
        ok "vfiod.conf.5 gives every key's default"
for w in '2min 30s' 'conf.d' 'order of their names' 'empty value'; do
        grep -q -- "$w" "$tmp/vfiod.conf.5.txt" && ok "vfiod.conf.5 says '$w'" || not_ok "vfiod.conf.5 never says '$w'"
done

# --- vfiod.8 against agent/vfiod.c and agent/event-log.c ---
for o in $(sed -n 's/^ *{ "\([a-z-]*\)", [a-z_]*argument.*/\1/p' "$top/agent/vfiod.c"); do
        check "vfiod.8 has vfiod's option --$o" has_option vfiod.8 "--$o"
done
ids=$(sed -n 's/^ *\[EVENT_[A-Z_]*\] = "\([0-9a-f]\{32\}\)",$/\1/p' "$top/agent/event-log.c")
[ "$(echo "$ids" | wc -w)" -ge 10 ] || not_ok "found only $(echo "$ids" | wc -w) MESSAGE_IDs in agent/event-log.c"
for id in $ids; do
        check "vfiod.8 lists MESSAGE_ID $id" grep -q "$id" "$tmp/vfiod.8.txt"
done
for w in SIGHUP SIGTERM READY=1 STATUS= org.vfiod1 /run/vfiod /etc/vfiod/vfiod.conf.d 'journalctl -x'; do
        grep -q -- "$w" "$tmp/vfiod.8.txt" && ok "vfiod.8 says '$w'" || not_ok "vfiod.8 never says '$w'"
done
for p in "${pages[@]}"; do
        grep -q '^SEE ALSO' "$tmp/$p.txt" && ok "$p has SEE ALSO" || not_ok "$p has no SEE ALSO"
done
exit $fail
