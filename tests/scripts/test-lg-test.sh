#!/bin/bash
# vfioctl lg-test: good and broken Looking Glass set-ups, built under --root
# in a temporary directory, each checked against its exact output and exit
# status. As root (it chowns, mknods, and the fake client runs as User=).
#   test-lg-test.sh BUILD
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: test-lg-test.sh BUILD}
case $build in /*) ;; *) build=$top/$build ;; esac
vfioctl=$build/vfioctl
[ -x "$vfioctl" ] || { echo "not ok - $vfioctl is not built"; exit 1; }
T=$(mktemp -d /tmp/vfiod-lg-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
# lg-test runs the client as User= (the real client refuses root): that user must reach the fake.
chmod 755 "$T"
R=$T/root
fail=0

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; fail=1; }

# NAME RC COMMAND...: the command's stdout must be stdin, its exit status RC.
run_case() {
        local name=$1 rc=$2 got
        shift 2
        cat > "$T/expected"
        "$@" > "$T/out" 2> "$T/err" < /dev/null
        got=$?
        diff -u "$T/expected" "$T/out" > "$T/diff"
        if [ "$got" = "$rc" ] && [ ! -s "$T/diff" ]; then
                ok "$name"
        else
                not_ok "$name (exit $got, expected $rc)"
                sed 's/^/    | /' "$T/diff" "$T/err"
        fi
}

# NAME STRING: the last run's stdout has STRING.
has() {
        if grep -qF -- "$2" "$T/out"; then ok "$1"; else not_ok "$1: no '$2' in:"; sed 's/^/    | /' "$T/out"; fi
}

conf() { printf '%s\n' "$@" > "$T/vfiod.conf"; }
client() { # the fake client's shell body
        printf '#!/bin/sh\n%s\n' "$1" > "$R/usr/bin/looking-glass-client"
        chmod 755 "$R/usr/bin/looking-glass-client"
}
domain() { # DEVICES [OUTSIDE-DEVICES]
        cat > "$T/domain.xml" <<EOF
<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>win11</name>
  <devices>
    $1
  </devices>
  ${2:-}
</domain>
EOF
}
shmem() { # SIZE [NAME [MODEL [UNIT]]]
        domain "<shmem name='${2:-looking-glass}'><model type='${3:-ivshmem-plain}'/><size unit='${4:-M}'>$1</size></shmem>"
}
commandline() { # -OBJECT-VALUE [-DEVICE-VALUE]
        domain "" "<qemu:commandline>
    <qemu:arg value='-device'/>
    <qemu:arg value='${2:-ivshmem-plain,id=shmem0,memdev=looking-glass}'/>
    <qemu:arg value='-object'/>
    <qemu:arg value='$1'/>
  </qemu:commandline>"
}
shm_file() { # SIZE OWNER MODE
        rm -rf "$R/dev/shm/looking-glass"
        truncate -s "$1" "$R/dev/shm/looking-glass"
        chown "$2" "$R/dev/shm/looking-glass"
        chmod "$3" "$R/dev/shm/looking-glass"
}
kvmfr_dev() { # STATIC_SIZE_MB: a character device as kvmfr makes it
        rm -f "$R/dev/kvmfr0"
        mknod "$R/dev/kvmfr0" c 1 3
        chown daemon:daemon "$R/dev/kvmfr0"
        chmod 0660 "$R/dev/kvmfr0"
        mkdir -p "$R/sys/module/kvmfr/parameters"
        echo "$1" > "$R/sys/module/kvmfr/parameters/static_size_mb"
}

# The good set-up: 1920x1080 (32 MiB), /dev/shm/looking-glass of 32 MiB owned by
# daemon (a system user, uid 1), mode 0660, the client B6, logind's defaults.
setup() {
        rm -rf "$R" "$T/domain.xml"
        mkdir -p "$R/dev/shm" "$R/usr/bin" "$R/etc/systemd"
        shm_file 32M daemon:daemon 0660
        client 'echo "[I]  12345.678  main.c:1234 | main | Looking Glass (B6)"; echo "Usage: ..."'
        printf '[Login]\n#RemoveIPC=yes\n' > "$R/etc/systemd/logind.conf"
        conf '[VM]' 'Domain=win11' '[LookingGlass]' 'User=daemon'
        shmem 32
}
# A hung lg-test fails its case instead of the suite.
vt() { timeout -s KILL 60 "$vfioctl" "$@"; }
lgt() { vt lg-test -c "$T/vfiod.conf" --root "$R" --domain-xml "$T/domain.xml" "$@"; }

DEVICE="PASS  /dev/shm/looking-glass is a regular file"
ACCESS="PASS  /dev/shm/looking-glass: owner daemon, group daemon, mode 0660: daemon can read and write it"
SIZE="PASS  /dev/shm/looking-glass is 32 MiB; 1920x1080 needs 32 MiB"
DOMAIN="PASS  domain 'win11' has <shmem name='looking-glass'>, 32 MiB"
CLIENT="PASS  /usr/bin/looking-glass-client is Looking Glass B6 (the Windows host application must be B6 too)"
LOGIND="PASS  RemoveIPC=yes, systemd's default: logind spares /dev/shm/looking-glass, its owner daemon (uid 1) is a system user"
KVMFR_LOGIND="PASS  logind's RemoveIPC= does not touch /dev/kvmfr0 (not under /dev/shm)"

# --- good set-ups
setup
run_case "good /dev/shm set-up passes every check" 0 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
$CLIENT
$LOGIND
EOF

ln -s "$vfioctl" "$T/lg-test"
run_case "a link named lg-test runs lg-test" 0 \
        timeout -s KILL 60 "$T/lg-test" -c "$T/vfiod.conf" --root "$R" --domain-xml "$T/domain.xml" <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
$CLIENT
$LOGIND
EOF

run_case "--root=DIR/ is DIR" 0 vt lg-test -c "$T/vfiod.conf" --root="$R/" --domain-xml="$T/domain.xml" <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
$CLIENT
$LOGIND
EOF

lgt --json > "$T/out"
rc=$?
[ $rc = 0 ] && ok "--json of the good set-up exits 0" || not_ok "--json of the good set-up exits $rc"
has "--json: a check as an object" \
        '{"name":"device","result":"pass","message":"/dev/shm/looking-glass is a regular file","fix":null}'
has "--json: counts" '],"failed":0,"warned":0}'
[ "$(wc -l < "$T/out")" = 1 ] && ok "--json is one line" || not_ok "--json is not one line"
if command -v python3 > /dev/null; then
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["checks"]) == 6' "$T/out" \
                && ok "--json parses (python3)" || not_ok "--json does not parse (python3)"
fi

# --- the device
setup
rm "$R/dev/shm/looking-glass"
run_case "missing /dev/shm file: FAIL with the tmpfiles.d entry" 1 lgt <<EOF
FAIL  /dev/shm/looking-glass does not exist
      echo 'f /dev/shm/looking-glass 0660 daemon kvm -' > /etc/tmpfiles.d/vfiod.conf
      systemd-tmpfiles --create vfiod.conf
$DOMAIN
$CLIENT
$LOGIND
EOF

setup
rm "$R/dev/shm/looking-glass"
mkdir "$R/dev/shm/looking-glass"
run_case "a directory at the /dev/shm path: FAIL" 1 lgt <<EOF
FAIL  /dev/shm/looking-glass is not a regular file
      remove /dev/shm/looking-glass while the VM is shut off; QEMU or the tmpfiles.d entry makes it again
$DOMAIN
$CLIENT
$LOGIND
EOF

# --- owner and mode
setup
shm_file 32M root:root 0600
run_case "file of root, mode 0600: WARN, daemon cannot use it" 0 lgt <<EOF
$DEVICE
WARN  daemon cannot read and write /dev/shm/looking-glass (owner root, group root, mode 0600)
      chown daemon:kvm /dev/shm/looking-glass && chmod 0660 /dev/shm/looking-glass
      to keep it so:
      echo 'f /dev/shm/looking-glass 0660 daemon kvm -' > /etc/tmpfiles.d/vfiod.conf
      systemd-tmpfiles --create vfiod.conf
$SIZE
$DOMAIN
$CLIENT
PASS  RemoveIPC=yes, systemd's default: logind spares /dev/shm/looking-glass, its owner root (uid 0) is a system user
EOF

setup
shm_file 32M root:daemon 0660
run_case "group daemon (User='s group), mode 0660: PASS" 0 lgt <<EOF
$DEVICE
PASS  /dev/shm/looking-glass: owner root, group daemon, mode 0660: daemon can read and write it
$SIZE
$DOMAIN
$CLIENT
PASS  RemoveIPC=yes, systemd's default: logind spares /dev/shm/looking-glass, its owner root (uid 0) is a system user
EOF

setup
shm_file 32M daemon:daemon 0666
run_case "mode 0666: WARN" 0 lgt <<EOF
$DEVICE
WARN  /dev/shm/looking-glass has mode 0666, not 0660
      chmod 0660 /dev/shm/looking-glass (and 0660 in its tmpfiles.d entry)
$SIZE
$DOMAIN
$CLIENT
$LOGIND
EOF

setup
shm_file 32M daemon:root 0660
run_case "group root: WARN" 0 lgt <<EOF
$DEVICE
WARN  /dev/shm/looking-glass has group root, not kvm (QEMU's) or daemon's group
      chgrp kvm /dev/shm/looking-glass (and group kvm in its tmpfiles.d entry)
$SIZE
$DOMAIN
$CLIENT
$LOGIND
EOF

setup
conf '[VM]' 'Domain=win11'
run_case "no User=: WARN, and the fix names the config" 0 lgt <<EOF
$DEVICE
WARN  [LookingGlass] User= is not set: cannot tell whether the client may use /dev/shm/looking-glass (owner daemon, group daemon, mode 0660)
      set User= in [LookingGlass] of $T/vfiod.conf to the user who runs looking-glass-client
$SIZE
$DOMAIN
$CLIENT
$LOGIND
EOF

setup
conf '[VM]' 'Domain=win11' '[LookingGlass]' 'User=nosuchuser-lg'
run_case "User= of nobody known: WARN" 0 lgt <<EOF
$DEVICE
WARN  User=nosuchuser-lg in [LookingGlass] is not a user on this system
      set User= in [LookingGlass] of $T/vfiod.conf to the user who runs looking-glass-client
$SIZE
$DOMAIN
$CLIENT
$LOGIND
EOF

# --- size: 1920x1080 needs 32 MiB (15.8 MiB of frames + 10, up to a power of two)
setup
shm_file 16M daemon:daemon 0660
run_case "16 MiB for 1920x1080: FAIL with the size to set" 1 lgt <<EOF
$DEVICE
$ACCESS
FAIL  /dev/shm/looking-glass is 16 MiB; 1920x1080 needs 32 MiB
      set <size unit='M'>32</size> in the domain's <shmem name='looking-glass'> (virsh edit win11),
      then with the VM shut off: rm /dev/shm/looking-glass (QEMU makes it again at the new size)
FAIL  <shmem name='looking-glass'> of domain 'win11' is 32 MiB but /dev/shm/looking-glass is 16 MiB: they must match
      with the VM shut off: rm /dev/shm/looking-glass (QEMU makes it again at 32 MiB)
$CLIENT
$LOGIND
EOF

lgt --json > "$T/out"
rc=$?
[ $rc = 1 ] && ok "--json of a failed check exits 1" || not_ok "--json of a failed check exits $rc"
has "--json: a failed check with its fix" \
        '{"name":"size","result":"fail","message":"/dev/shm/looking-glass is 16 MiB; 1920x1080 needs 32 MiB","fix":"set <size unit='"'M'>32</size> in the domain's <shmem name='looking-glass'> (virsh edit win11),\\nthen with the VM shut off: rm /dev/shm/looking-glass (QEMU makes it again at the new size)"'"}'
has "--json: failed and warned counted" '],"failed":2,"warned":0}'

setup
shm_file 128M daemon:daemon 0660
shmem 128
run_case "128 MiB for 1920x1080: WARN (more than twice)" 0 lgt <<EOF
$DEVICE
$ACCESS
WARN  /dev/shm/looking-glass is 128 MiB, more than twice the 32 MiB that 1920x1080 needs
      set <size unit='M'>32</size> in the domain's <shmem name='looking-glass'> (virsh edit win11),
      then with the VM shut off: rm /dev/shm/looking-glass (QEMU makes it again at the new size)
PASS  domain 'win11' has <shmem name='looking-glass'>, 128 MiB
$CLIENT
$LOGIND
EOF

setup
shm_file 0 daemon:daemon 0660
run_case "an empty file (VM not started since tmpfiles made it): PASS" 0 lgt <<EOF
$DEVICE
$ACCESS
PASS  /dev/shm/looking-glass is empty until the VM starts; 1920x1080 needs 32 MiB
$DOMAIN
$CLIENT
$LOGIND
EOF

setup
conf '[VM]' 'Domain=win11' '[LookingGlass]' 'User=daemon' 'Width=3840' 'Height=2160'
shm_file 128M daemon:daemon 0660
shmem 128
run_case "3840x2160 in 128 MiB: PASS" 0 lgt <<EOF
$DEVICE
$ACCESS
PASS  /dev/shm/looking-glass is 128 MiB; 3840x2160 needs 128 MiB
PASS  domain 'win11' has <shmem name='looking-glass'>, 128 MiB
$CLIENT
$LOGIND
EOF

conf '[VM]' 'Domain=win11' '[LookingGlass]' 'User=daemon' 'Width=3840' 'Height=2160' 'HDR=yes'
run_case "3840x2160 HDR in 128 MiB: FAIL, needs 256" 1 lgt <<EOF
$DEVICE
$ACCESS
FAIL  /dev/shm/looking-glass is 128 MiB; 3840x2160 HDR needs 256 MiB
      set <size unit='M'>256</size> in the domain's <shmem name='looking-glass'> (virsh edit win11),
      then with the VM shut off: rm /dev/shm/looking-glass (QEMU makes it again at the new size)
FAIL  <shmem name='looking-glass'> of domain 'win11' is 128 MiB; 3840x2160 HDR needs 256 MiB
      set <size unit='M'>256</size> in <shmem name='looking-glass'> (virsh edit win11)
$CLIENT
$LOGIND
EOF

# --- the domain
setup
domain "<disk type='file' device='disk'/>"
run_case "domain without <shmem>: FAIL with the snippet" 1 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
FAIL  domain 'win11' has no <shmem name='looking-glass'> device
      add inside <devices> of domain 'win11' (virsh edit win11):
      <shmem name='looking-glass'>
        <model type='ivshmem-plain'/>
        <size unit='M'>32</size>
      </shmem>
$CLIENT
$LOGIND
EOF

setup
shmem 32 other-name
run_case "domain with a <shmem> of another name: FAIL naming it" 1 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
FAIL  domain 'win11' has no <shmem name='looking-glass'> device (it has 'other-name')
      add inside <devices> of domain 'win11' (virsh edit win11):
      <shmem name='looking-glass'>
        <model type='ivshmem-plain'/>
        <size unit='M'>32</size>
      </shmem>
$CLIENT
$LOGIND
EOF

setup
shmem 16
run_case "domain <shmem> of 16 MiB: FAIL with the size" 1 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
FAIL  <shmem name='looking-glass'> of domain 'win11' is 16 MiB; 1920x1080 needs 32 MiB
      set <size unit='M'>32</size> in <shmem name='looking-glass'> (virsh edit win11)
$CLIENT
$LOGIND
EOF

setup
shmem 64
run_case "domain <shmem> of 64 MiB, file of 32 MiB: FAIL, they must match" 1 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
FAIL  <shmem name='looking-glass'> of domain 'win11' is 64 MiB but /dev/shm/looking-glass is 32 MiB: they must match
      with the VM shut off: rm /dev/shm/looking-glass (QEMU makes it again at 64 MiB)
$CLIENT
$LOGIND
EOF

setup
shmem 32 looking-glass ivshmem-doorbell
run_case "domain <shmem> of model ivshmem-doorbell: FAIL" 1 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
FAIL  <shmem name='looking-glass'> of domain 'win11' has model 'ivshmem-doorbell', not <model type='ivshmem-plain'/>
      set <model type='ivshmem-plain'/> in <shmem name='looking-glass'> (virsh edit win11)
$CLIENT
$LOGIND
EOF

setup
shmem 32768 looking-glass ivshmem-plain KiB
run_case "domain <size unit='KiB'>32768</size>: PASS as 32 MiB" 0 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
$CLIENT
$LOGIND
EOF

setup
commandline "memory-backend-file,id=looking-glass,mem-path=/dev/shm/looking-glass,size=16M,share=on"
run_case "/dev/shm file through <qemu:commandline> of 16 MiB: FAIL" 1 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
FAIL  -object memory-backend-file,mem-path=/dev/shm/looking-glass of domain 'win11' is 16 MiB; 1920x1080 needs 32 MiB
      set size=32M in the -object memory-backend-file argument (virsh edit win11)
$CLIENT
$LOGIND
EOF

commandline "memory-backend-file,id=looking-glass,mem-path=/dev/shm/looking-glass,size=32M,share=on"
run_case "/dev/shm file through <qemu:commandline> of 32 MiB: PASS" 0 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
PASS  domain 'win11' has -object memory-backend-file,mem-path=/dev/shm/looking-glass, 32 MiB
$CLIENT
$LOGIND
EOF

setup
echo "<domain><name>win11" > "$T/domain.xml"
run_case "domain XML that does not parse: FAIL" 1 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
FAIL  the domain XML from $T/domain.xml is not a <domain>
      xmllint --noout $T/domain.xml
$CLIENT
$LOGIND
EOF

setup
run_case "--domain-xml of a missing file: FAIL" 1 \
        vt lg-test -c "$T/vfiod.conf" --root "$R" --domain-xml "$T/nonexistent.xml" <<EOF
$DEVICE
$ACCESS
$SIZE
FAIL  cannot read $T/nonexistent.xml: No such file or directory
      check --domain-xml=$T/nonexistent.xml
$CLIENT
$LOGIND
EOF

setup
conf '[LookingGlass]' 'User=daemon'
run_case "no Domain= and no --domain-xml: WARN" 0 vt lg-test -c "$T/vfiod.conf" --root "$R" <<EOF
$DEVICE
$ACCESS
$SIZE
WARN  no [VM] Domain= configured: cannot check the domain's shared memory device
      set Domain= in [VM] of $T/vfiod.conf
$CLIENT
$LOGIND
EOF

# libvirt's test driver: its built-in domain "test" has no shmem.
setup
conf '[VM]' 'URI=test:///default' 'Domain=test' '[LookingGlass]' 'User=daemon'
run_case "libvirt test:///default domain 'test': FAIL, no <shmem>" 1 vt lg-test -c "$T/vfiod.conf" --root "$R" <<EOF
$DEVICE
$ACCESS
$SIZE
FAIL  domain 'test' has no <shmem name='looking-glass'> device
      add inside <devices> of domain 'test' (virsh edit test):
      <shmem name='looking-glass'>
        <model type='ivshmem-plain'/>
        <size unit='M'>32</size>
      </shmem>
$CLIENT
$LOGIND
EOF

conf '[VM]' 'URI=test:///default' 'Domain=nosuchdomain' '[LookingGlass]' 'User=daemon'
vt lg-test -c "$T/vfiod.conf" --root "$R" > "$T/out" 2> "$T/err"
rc=$?
[ $rc = 1 ] && ok "libvirt, unknown domain: exit 1" || not_ok "libvirt, unknown domain: exit $rc"
has "libvirt, unknown domain: FAIL with libvirt's words" "FAIL  cannot read domain 'nosuchdomain' from test:///default: "
has "libvirt, unknown domain: the fix" \
        "      check Domain= and URI= in [VM] of $T/vfiod.conf: virsh -c test:///default dominfo nosuchdomain"
[ ! -s "$T/err" ] && ok "libvirt, unknown domain: nothing on stderr" || { not_ok "libvirt wrote on stderr:"; cat "$T/err"; }

# --- kvmfr
setup
conf '[VM]' 'Domain=win11' '[LookingGlass]' 'User=daemon' 'Device=/dev/kvmfr0'
commandline "memory-backend-file,id=looking-glass,mem-path=/dev/kvmfr0,size=32M,share=yes"
touch "$R/dev/kvmfr0"
run_case "/dev/kvmfr0 a plain file (no kvmfr module): FAIL, rm and modprobe" 1 lgt <<EOF
FAIL  /dev/kvmfr0 is a plain file, not the kvmfr device: QEMU created it because the kvmfr module was not loaded
      rm /dev/kvmfr0 && modprobe kvmfr static_size_mb=32
PASS  domain 'win11' has -object memory-backend-file,mem-path=/dev/kvmfr0, 32 MiB
$CLIENT
$KVMFR_LOGIND
EOF

rm "$R/dev/kvmfr0"
run_case "/dev/kvmfr0 missing: FAIL, modprobe" 1 lgt <<EOF
FAIL  /dev/kvmfr0 does not exist: the kvmfr module is not loaded
      modprobe kvmfr static_size_mb=32
      at boot: echo kvmfr > /etc/modules-load.d/kvmfr.conf; echo 'options kvmfr static_size_mb=32' > /etc/modprobe.d/kvmfr.conf
PASS  domain 'win11' has -object memory-backend-file,mem-path=/dev/kvmfr0, 32 MiB
$CLIENT
$KVMFR_LOGIND
EOF

kvmfr_dev 32
KVMFR_GOOD="PASS  /dev/kvmfr0 is a character device (kvmfr)
PASS  /dev/kvmfr0: owner daemon, group daemon, mode 0660: daemon can read and write it
PASS  /dev/kvmfr0 is 32 MiB; 1920x1080 needs 32 MiB"
run_case "good kvmfr set-up passes every check" 0 lgt <<EOF
$KVMFR_GOOD
PASS  domain 'win11' has -object memory-backend-file,mem-path=/dev/kvmfr0, 32 MiB
$CLIENT
$KVMFR_LOGIND
EOF

commandline '{"qom-type":"memory-backend-file","id":"looking-glass","mem-path":"/dev/kvmfr0","size":33554432,"share":true}' \
        '{"driver":"ivshmem-plain","id":"shmem0","memdev":"looking-glass"}'
run_case "kvmfr, -object and -device in JSON: PASS" 0 lgt <<EOF
$KVMFR_GOOD
PASS  domain 'win11' has -object memory-backend-file,mem-path=/dev/kvmfr0, 32 MiB
$CLIENT
$KVMFR_LOGIND
EOF

commandline "memory-backend-file,id=looking-glass,mem-path=/dev/kvmfr0,size=32M"
run_case "kvmfr without share=on: FAIL" 1 lgt <<EOF
$KVMFR_GOOD
FAIL  the -object memory-backend-file of /dev/kvmfr0 in domain 'win11' lacks share=on
      add share=on to the -object memory-backend-file argument (virsh edit win11)
$CLIENT
$KVMFR_LOGIND
EOF

commandline "memory-backend-file,id=looking-glass,mem-path=/dev/kvmfr0,size=32M,share=on" "virtio-gpu"
run_case "kvmfr without -device ivshmem-plain: FAIL with the snippet" 1 lgt <<EOF
$KVMFR_GOOD
FAIL  domain 'win11' has -object memory-backend-file with mem-path=/dev/kvmfr0 but no -device ivshmem-plain,memdev=looking-glass
      add before </domain> of domain 'win11' (virsh edit win11), with
      xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' on its <domain>:
      <qemu:commandline>
        <qemu:arg value='-device'/>
        <qemu:arg value='ivshmem-plain,id=shmem0,memdev=looking-glass'/>
        <qemu:arg value='-object'/>
        <qemu:arg value='memory-backend-file,id=looking-glass,mem-path=/dev/kvmfr0,size=32M,share=yes'/>
      </qemu:commandline>
$CLIENT
$KVMFR_LOGIND
EOF

commandline "memory-backend-file,id=looking-glass,mem-path=/dev/kvmfr0,size=64M,share=yes"
kvmfr_dev 16
run_case "kvmfr of 16 MiB, -object of 64 MiB: FAIL twice" 1 lgt <<EOF
PASS  /dev/kvmfr0 is a character device (kvmfr)
PASS  /dev/kvmfr0: owner daemon, group daemon, mode 0660: daemon can read and write it
FAIL  /dev/kvmfr0 is 16 MiB; 1920x1080 needs 32 MiB
      echo 'options kvmfr static_size_mb=32' > /etc/modprobe.d/kvmfr.conf
      with the VM shut off: modprobe -r kvmfr && modprobe kvmfr static_size_mb=32 (and size=32M in the domain's -object memory-backend-file)
FAIL  -object memory-backend-file,mem-path=/dev/kvmfr0 of domain 'win11' is 64 MiB but /dev/kvmfr0 is 16 MiB: they must match
      with the VM shut off: modprobe -r kvmfr && modprobe kvmfr static_size_mb=64
$CLIENT
$KVMFR_LOGIND
EOF

domain ""
kvmfr_dev 32
run_case "kvmfr, domain without <qemu:commandline>: FAIL with the snippet" 1 lgt <<EOF
$KVMFR_GOOD
FAIL  domain 'win11' has no -object memory-backend-file with mem-path=/dev/kvmfr0 in <qemu:commandline>
      add before </domain> of domain 'win11' (virsh edit win11), with
      xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' on its <domain>:
      <qemu:commandline>
        <qemu:arg value='-device'/>
        <qemu:arg value='ivshmem-plain,id=shmem0,memdev=looking-glass'/>
        <qemu:arg value='-object'/>
        <qemu:arg value='memory-backend-file,id=looking-glass,mem-path=/dev/kvmfr0,size=32M,share=yes'/>
      </qemu:commandline>
$CLIENT
$KVMFR_LOGIND
EOF

# --- the client
setup
rm "$R/usr/bin/looking-glass-client"
run_case "no client: WARN (it may run elsewhere)" 0 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
WARN  looking-glass-client is not in /usr/bin or /usr/local/bin
      install looking-glass-client of the same version as the Windows host application
      (nothing to do if the client runs on another machine)
$LOGIND
EOF

mkdir -p "$R/usr/local/bin"
printf '#!/bin/sh\necho "Looking Glass (B7-rc1)"\n' > "$R/usr/local/bin/looking-glass-client"
chmod 755 "$R/usr/local/bin/looking-glass-client"
run_case "client in /usr/local/bin: PASS" 0 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
PASS  /usr/local/bin/looking-glass-client is Looking Glass B7-rc1 (the Windows host application must be B7-rc1 too)
$LOGIND
EOF

setup
chmod 644 "$R/usr/bin/looking-glass-client"
run_case "client not executable: FAIL" 1 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
FAIL  /usr/bin/looking-glass-client is not an executable file
      chmod 755 /usr/bin/looking-glass-client, or install looking-glass-client again
$LOGIND
EOF

setup
client 'echo "something else"; exit 3'
run_case "client that prints no version: WARN" 0 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
WARN  /usr/bin/looking-glass-client printed no version ("something else")
      install looking-glass-client again, of the same version as the Windows host application
$LOGIND
EOF

# The real client refuses root: lg-test runs it as User= (daemon, uid 1).
client 'echo "Looking Glass (B6-uid$(id -u)-$1)"'
run_case "client runs as User=, with -h" 0 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
PASS  /usr/bin/looking-glass-client is Looking Glass B6-uid1--h (the Windows host application must be B6-uid1--h too)
$LOGIND
EOF

# A client that never exits nor closes its output: lg-test gives up after 2 s.
client 'echo starting; exec tail -f /dev/null "$0"'
start=$SECONDS
run_case "client that hangs: WARN, killed at the deadline" 0 lgt <<EOF
$DEVICE
$ACCESS
$SIZE
$DOMAIN
WARN  /usr/bin/looking-glass-client -h printed no version within 2 s
      run /usr/bin/looking-glass-client -h as daemon and see what it does
$LOGIND
EOF
[ $((SECONDS - start)) -lt 10 ] && ok "the hung client cost less than 10 s" || not_ok "the hung client cost $((SECONDS - start)) s"
pgrep -f "$R/usr/bin/looking-glass-client" > /dev/null && not_ok "the hung client is still running" \
        || ok "the hung client was killed"

# --- logind's RemoveIPC=: a /dev/shm file of a regular user (uid 54321) goes at logout
setup
shm_file 32M 54321:54321 0660
USER_ACCESS="WARN  daemon cannot read and write /dev/shm/looking-glass (owner 54321, group 54321, mode 0660)
      chown daemon:kvm /dev/shm/looking-glass && chmod 0660 /dev/shm/looking-glass
      to keep it so:
      echo 'f /dev/shm/looking-glass 0660 daemon kvm -' > /etc/tmpfiles.d/vfiod.conf
      systemd-tmpfiles --create vfiod.conf"
run_case "RemoveIPC= default, file of a regular user: WARN" 0 lgt <<EOF
$DEVICE
$USER_ACCESS
$SIZE
$DOMAIN
$CLIENT
WARN  logind deletes /dev/shm/looking-glass when uid 54321 logs out (RemoveIPC=yes, systemd's default): the VM loses its framebuffer
      mkdir -p /etc/systemd/logind.conf.d && printf '[Login]\nRemoveIPC=no\n' > /etc/systemd/logind.conf.d/looking-glass.conf
      then: systemctl restart systemd-logind (or reboot)
      or: make a system user own /dev/shm/looking-glass in its tmpfiles.d entry, or use kvmfr (Device=/dev/kvmfr0)
EOF

printf '[Login]\nKillUserProcesses=no\nRemoveIPC=no\n' > "$R/etc/systemd/logind.conf"
run_case "RemoveIPC=no in logind.conf: PASS" 0 lgt <<EOF
$DEVICE
$USER_ACCESS
$SIZE
$DOMAIN
$CLIENT
PASS  logind keeps /dev/shm files at logout (RemoveIPC=no in /etc/systemd/logind.conf)
EOF

# Drop-ins come after logind.conf, by name across directories; /etc hides the same name elsewhere.
printf '[Login]\nRemoveIPC=yes\n' > "$R/etc/systemd/logind.conf"
mkdir -p "$R/etc/systemd/logind.conf.d" "$R/usr/lib/systemd/logind.conf.d"
printf '[Login]\nRemoveIPC=no\n' > "$R/etc/systemd/logind.conf.d/50-looking-glass.conf"
printf '[Login]\nRemoveIPC=yes\n' > "$R/usr/lib/systemd/logind.conf.d/50-looking-glass.conf"
printf '[Login]\nRemoveIPC=bogus\n' > "$R/usr/lib/systemd/logind.conf.d/60-bad.conf"
printf '[Login]\nRemoveIPC=yes\n' > "$R/usr/lib/systemd/logind.conf.d/10-early.conf"
run_case "RemoveIPC=no in a drop-in: PASS, naming it" 0 lgt <<EOF
$DEVICE
$USER_ACCESS
$SIZE
$DOMAIN
$CLIENT
PASS  logind keeps /dev/shm files at logout (RemoveIPC=no in /etc/systemd/logind.conf.d/50-looking-glass.conf)
EOF

printf '[Login]\nRemoveIPC=yes\n' > "$R/etc/systemd/logind.conf.d/70-later.conf"
run_case "a later drop-in sets RemoveIPC=yes again: WARN" 0 lgt <<EOF
$DEVICE
$USER_ACCESS
$SIZE
$DOMAIN
$CLIENT
WARN  logind deletes /dev/shm/looking-glass when uid 54321 logs out (RemoveIPC=yes in /etc/systemd/logind.conf.d/70-later.conf): the VM loses its framebuffer
      mkdir -p /etc/systemd/logind.conf.d && printf '[Login]\nRemoveIPC=no\n' > /etc/systemd/logind.conf.d/looking-glass.conf
      then: systemctl restart systemd-logind (or reboot)
      or: make a system user own /dev/shm/looking-glass in its tmpfiles.d entry, or use kvmfr (Device=/dev/kvmfr0)
EOF

# --- usage and configuration
setup
run_case "unknown option: exit 2" 2 lgt --bogus < /dev/null
run_case "an argument: exit 2" 2 lgt extra < /dev/null
run_case "--root of no directory: exit 2" 2 vt lg-test -c "$T/vfiod.conf" --root "$T/nonexistent" < /dev/null
vt lg-test --help > "$T/out"
has "--help states the size formula" "width x height x 4 bytes x 2 (8 bytes with HDR=yes)"
has "--help gives an example" "1920x1080 needs 32 MiB, 3840x2160 128 MiB"

conf '[LookingGlass]' 'Width=wide'
run_case "invalid config: exit 1, nothing on stdout" 1 lgt < /dev/null
if [ "$(cat "$T/err")" = "vfioctl: $T/vfiod.conf:2: Width=wide is not a number of pixels (1-16384)" ]; then
        ok "invalid config: one clear message"
else
        not_ok "invalid config: stderr is:"; cat "$T/err"
fi
run_case "-c of a missing file: exit 1" 1 vt lg-test -c "$T/nonexistent.conf" --root "$R" < /dev/null

exit $fail
