# vfiod — build, test, install.   make deps && make && make check
VERSION := 0.1

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DESTDIR ?=
# journalctl --update-catalog reads this directory.
CATALOGDIR ?= $(shell $(PKG_CONFIG) --variable=catalogdir systemd 2>/dev/null || echo /usr/lib/systemd/catalog)

PKG_CONFIG ?= pkg-config
PKGS := libudev libsystemd libpci libkmod inih libvirt libxml-2.0

SANITIZE ?=
ifeq ($(SANITIZE),1)
CC := clang
BUILD ?= build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SAN_FLAGS :=
endif

CFLAGS ?= -O2 -g
# gnu11: C11 plus the GNU extensions systemd-style C relies on (cleanup, ?:, typeof).
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
        -Wstrict-prototypes -Wformat=2 -D_GNU_SOURCE -DVERSION='"$(VERSION)"' -Iinclude \
        $(SAN_FLAGS) $(shell $(PKG_CONFIG) --cflags $(PKGS))
override LDFLAGS += $(SAN_FLAGS) -Wl,--as-needed
# libkmod, libvirt and libxml2 are dlopen()ed when needed (agent/modules.c,
# agent/libvirt-dl.c, agent/libxml-dl.c): only their headers at build time.
DLOPEN_PKGS := libkmod libvirt libxml-2.0
LIBS := $(shell $(PKG_CONFIG) --libs $(filter-out $(DLOPEN_PKGS),$(PKGS))) -ldl

LIB_SRC := $(filter-out agent/vfiod.c agent/vfioctl.c,$(wildcard agent/*.c))
LIB_OBJ := $(patsubst agent/%.c,$(BUILD)/agent/%.o,$(LIB_SRC))
LIB := $(BUILD)/libvfiod.a

UNIT_SRC := $(wildcard tests/unit/test-*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
UMOCK_SRC := $(wildcard tests/umockdev/test-*.c)
UMOCK_BIN := $(patsubst tests/umockdev/%.c,$(BUILD)/tests/%,$(UMOCK_SRC))
# tests/lib: the helpers every C test shares (rm_rf, write_file, ...).
TEST_LIB := $(BUILD)/tests/test-util.o
TEST_HELPERS := $(BUILD)/tests/fakekernel.o $(TEST_LIB)
# What tests/system/test-*.sh run besides vfiod: the fake GPU around a
# command, and waiting for uevents, paths, processes and journal entries.
SYSTEM_HELPERS := $(BUILD)/tests/fakegpu $(BUILD)/tests/vfiod-wait $(BUILD)/tests/fake-polkit

.PHONY: all bench-deps check check-windows-vm demo check-fast check-asan check-valgrind check-kernel check-system deps install uninstall clean bench
all: $(BUILD)/vfiod $(BUILD)/vfioctl

$(BUILD)/agent/%.o: agent/%.c $(wildcard include/*.h agent/*.h) | $(BUILD)/agent
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/vfiod $(BUILD)/vfioctl: $(BUILD)/%: $(BUILD)/agent/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Tests
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka)
UMOCK_CFLAGS := $(shell $(PKG_CONFIG) --cflags umockdev-1.0 glib-2.0)
# test-daemon.c drives libvirt's test driver itself.
UMOCK_LIBS := $(shell $(PKG_CONFIG) --libs umockdev-1.0 glib-2.0 libvirt) -lpthread

$(BUILD)/tests/test-%: tests/unit/test-%.c $(TEST_LIB) $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) -Iagent -Itests/lib $(LDFLAGS) -o $@ $< $(TEST_LIB) $(LIB) $(LIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/test-util.o: tests/lib/test-util.c tests/lib/test-util.h include/macro.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests/lib -c -o $@ $<

$(BUILD)/tests/fakekernel.o: tests/umockdev/fakekernel.c tests/umockdev/fakekernel.h tests/lib/test-util.h | $(BUILD)/tests
	$(CC) $(CFLAGS) $(UMOCK_CFLAGS) -Wno-strict-prototypes -Itests/lib -c -o $@ $<

$(BUILD)/tests/test-%: tests/umockdev/test-%.c $(TEST_HELPERS) $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(UMOCK_CFLAGS) -Wno-strict-prototypes -Itests/umockdev -Itests/lib $(LDFLAGS) -o $@ $< $(TEST_HELPERS) \
	        $(LIB) $(LIBS) $(CMOCKA_LIBS) $(UMOCK_LIBS)

$(BUILD)/tests/fakegpu: tests/umockdev/fakegpu.c $(TEST_HELPERS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(UMOCK_CFLAGS) -Wno-strict-prototypes -Itests/umockdev $(LDFLAGS) -o $@ $< $(TEST_HELPERS) \
	        $(UMOCK_LIBS)

$(BUILD)/tests/vfiod-wait: tests/system/vfiod-wait.c $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

$(BUILD)/tests/fake-polkit: tests/system/fake-polkit.c | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS)

$(BUILD)/agent $(BUILD)/tests:
	mkdir -p $@

tests: $(UNIT_BIN) $(UMOCK_BIN) $(SYSTEM_HELPERS)

# Everything: unit and umockdev tests plain, under ASan+UBSan and under
# valgrind, and the real-kernel guest. Ends with "N passed, N failed";
# fails if any test failed or skipped.
check: all tests
	$(MAKE) SANITIZE=1 all tests
	tests/run-tests.sh --build $(BUILD) --asan build-asan --valgrind --kernel

check-fast: all tests
	tests/run-tests.sh --build $(BUILD)

check-kernel: all tests
	tests/run-tests.sh --build $(BUILD) --only-kernel

# Only the windows-vm.target story in the guest with systemd as PID 1 (part
# of make check): start, kill -9 of the VM's QEMU, stop, virsh start through the hook.
check-windows-vm: all tests
	tests/kernel/run-systemd-guest.sh $(BUILD) tests/kernel/systemd-windows-vm.sh

# The README's first command: the story in a guest, for a person (no GPU needed).
demo: all $(BUILD)/tests/vfiod-wait
	tests/kernel/run-demo.sh $(BUILD)

# The agent with a real libvirtd and QEMU (root; tests/system/).
check-system: all tests
	tests/run-tests.sh --build $(BUILD) --only-system

$(BUILD)/bench/bare-handoff: bench/bare-handoff.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The benchmarks that link the engine's library.
$(BUILD)/bench/engine-cycles $(BUILD)/bench/holders-scan: $(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

# Benchmarks (not tests): see README "Measured".
bench: all tests $(BUILD)/bench/bare-handoff $(BUILD)/bench/engine-cycles $(BUILD)/bench/holders-scan
	bench/run-bench.sh $(BUILD)

# Beyond deps (which has libvirtd and virsh for the comparison): lspci and
# fuser, the shell approach that status-bench.sh compares vfio-status with;
# fuser and lsof, which holders-bench.py times against vfiod's holder scan.
bench-deps: deps
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 pciutils psmisc lsof

# Exactly what building and testing need, from Debian's archive.
DEBIAN_DEPS := make gcc clang pkg-config libudev-dev libsystemd-dev libpci-dev pci.ids libkmod-dev kmod \
        libinih-dev libvirt-dev libxml2-dev libcmocka-dev libumockdev-dev umockdev valgrind \
        qemu-system-x86 linux-image-amd64 busybox-static cpio \
        libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients systemd util-linux \
        dbus udev libxml2-utils groff-base python3
deps:
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_DEPS)

# Where install puts what is not a binary: pkg-config's answer, else the usual place.
pkgvar = $(or $(shell $(PKG_CONFIG) --variable=$(2) $(1) 2>/dev/null),$(3))
MANDIR ?= $(PREFIX)/share/man
SYSTEMDSYSTEMUNITDIR ?= $(call pkgvar,systemd,systemdsystemunitdir,/usr/lib/systemd/system)
SYSTEMDUSERUNITDIR ?= $(call pkgvar,systemd,systemduserunitdir,/usr/lib/systemd/user)
TMPFILESDIR ?= $(call pkgvar,systemd,tmpfilesdir,/usr/lib/tmpfiles.d)
UDEVRULESDIR ?= $(call pkgvar,udev,udevdir,/usr/lib/udev)/rules.d
DBUSSYSTEMDIR ?= $(call pkgvar,dbus-1,datadir,/usr/share)/dbus-1/system.d
POLKITACTIONDIR ?= $(call pkgvar,polkit-gobject-1,policydir,/usr/share/polkit-1/actions)
BASHCOMPLETIONDIR ?= $(call pkgvar,bash-completion,completionsdir,/usr/share/bash-completion/completions)
# Owner of /dev/shm/looking-glass (units/vfiod.tmpfiles): the Looking Glass user, QEMU's group.
LG_USER ?= root
LG_GROUP ?= kvm
# A GPU address (0000:01:00.0): the udev rule tags that slot's functions instead of every GPU.
VFIOD_GPU_ADDRESS ?=
# vfioctl's multi-call names (docs/interfaces.md), links to it.
VFIOCTL_LINKS := windows-start windows-stop vfio-status gpu-rebind-nvidia vm-health install-hooks install-services lg-test
SYSTEM_UNITS := vfiod.service windows-vm.target windows-vm.service windows-vm@.service
USER_UNITS := looking-glass-client.service
MAN_PAGES = $(wildcard docs/man/*.1 docs/man/*.5 docs/man/*.8)
BASH_COMPLETION = $(wildcard shell-completion/bash/vfioctl)
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@LG_USER@|$(LG_USER)|g' \
        -e 's|@LG_GROUP@|$(LG_GROUP)|g'

install: all
	install -Dm755 $(BUILD)/vfiod $(DESTDIR)$(SBINDIR)/vfiod
	install -Dm755 $(BUILD)/vfioctl $(DESTDIR)$(BINDIR)/vfioctl
	for l in $(VFIOCTL_LINKS); do ln -sfn vfioctl $(DESTDIR)$(BINDIR)/$$l || exit 1; done
	install -Dm644 units/vfiod.conf.example $(DESTDIR)/etc/vfiod/vfiod.conf.example
	install -Dm644 units/vfiod.catalog $(DESTDIR)$(CATALOGDIR)/vfiod.catalog
	install -d $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR) $(DESTDIR)$(SYSTEMDUSERUNITDIR) $(DESTDIR)$(TMPFILESDIR) \
	        $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(DBUSSYSTEMDIR) $(DESTDIR)$(POLKITACTIONDIR)
	for u in $(SYSTEM_UNITS); do $(SUBST) units/$$u > $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)/$$u || exit 1; done
	for u in $(USER_UNITS); do $(SUBST) units/$$u > $(DESTDIR)$(SYSTEMDUSERUNITDIR)/$$u || exit 1; done
	$(SUBST) units/vfiod.tmpfiles > $(DESTDIR)$(TMPFILESDIR)/vfiod.conf
	cd $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR) && chmod 644 $(SYSTEM_UNITS)
	cd $(DESTDIR)$(SYSTEMDUSERUNITDIR) && chmod 644 $(USER_UNITS)
	chmod 644 $(DESTDIR)$(TMPFILESDIR)/vfiod.conf
	install -m644 units/org.vfiod1.conf $(DESTDIR)$(DBUSSYSTEMDIR)/org.vfiod1.conf
	install -m644 units/org.vfiod1.policy $(DESTDIR)$(POLKITACTIONDIR)/org.vfiod1.policy
ifeq ($(VFIOD_GPU_ADDRESS),)
	install -m644 rules/70-vfiod.rules $(DESTDIR)$(UDEVRULESDIR)/70-vfiod.rules
else
	slot=$$(echo '$(VFIOD_GPU_ADDRESS)' | tr A-F a-f | sed -e 's/^\([0-9a-f]\{2\}:\)/0000:\1/' \
	        -n -e 's/^\([0-9a-f]\{4\}:[0-9a-f]\{2\}:[0-9a-f]\{2\}\)\.[0-7]$$/\1/p'); \
	[ -n "$$slot" ] || { echo "VFIOD_GPU_ADDRESS=$(VFIOD_GPU_ADDRESS) is no PCI address (0000:01:00.0)" >&2; exit 2; }; \
	sed -e '/^# BEGIN generic GPU match/,/^# END generic GPU match/c\# The GPU of vfiod.conf: every function of its slot.\nKERNEL=="'"$$slot"'.*", TAG+="systemd"' \
	        rules/70-vfiod.rules > $(DESTDIR)$(UDEVRULESDIR)/70-vfiod.rules && chmod 644 $(DESTDIR)$(UDEVRULESDIR)/70-vfiod.rules
endif
	$(SUBST) rules/71-vfiod-audio.rules > $(DESTDIR)$(UDEVRULESDIR)/71-vfiod-audio.rules
	chmod 644 $(DESTDIR)$(UDEVRULESDIR)/71-vfiod-audio.rules
	for m in $(MAN_PAGES); do install -Dm644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/} || exit 1; done
ifneq ($(BASH_COMPLETION),)
	install -Dm644 $(BASH_COMPLETION) $(DESTDIR)$(BASHCOMPLETIONDIR)/vfioctl
	for l in $(VFIOCTL_LINKS); do ln -sfn vfioctl $(DESTDIR)$(BASHCOMPLETIONDIR)/$$l || exit 1; done
endif

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/vfiod $(DESTDIR)$(BINDIR)/vfioctl $(DESTDIR)/etc/vfiod/vfiod.conf.example \
	        $(DESTDIR)$(CATALOGDIR)/vfiod.catalog
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(VFIOCTL_LINKS)) \
	        $(addprefix $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)/,$(SYSTEM_UNITS)) \
	        $(addprefix $(DESTDIR)$(SYSTEMDUSERUNITDIR)/,$(USER_UNITS)) $(DESTDIR)$(TMPFILESDIR)/vfiod.conf \
	        $(DESTDIR)$(UDEVRULESDIR)/70-vfiod.rules $(DESTDIR)$(UDEVRULESDIR)/71-vfiod-audio.rules \
	        $(DESTDIR)$(DBUSSYSTEMDIR)/org.vfiod1.conf \
	        $(DESTDIR)$(POLKITACTIONDIR)/org.vfiod1.policy \
	        $(addprefix $(DESTDIR)$(BASHCOMPLETIONDIR)/,vfioctl $(VFIOCTL_LINKS))
	for m in $(MAN_PAGES); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done
	-rmdir $(DESTDIR)/etc/vfiod 2>/dev/null

clean:
	rm -rf build build-asan
