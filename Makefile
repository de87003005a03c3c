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
# libkmod is dlopen()ed when needed (agent/modules.c).
LIBS := $(shell $(PKG_CONFIG) --libs $(filter-out libkmod,$(PKGS))) -ldl

LIB_SRC := $(filter-out agent/vfiod.c agent/vfioctl.c,$(wildcard agent/*.c))
LIB_OBJ := $(patsubst agent/%.c,$(BUILD)/agent/%.o,$(LIB_SRC))
LIB := $(BUILD)/libvfiod.a

UNIT_SRC := $(wildcard tests/unit/test-*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
UMOCK_SRC := $(wildcard tests/umockdev/test-*.c)
UMOCK_BIN := $(patsubst tests/umockdev/%.c,$(BUILD)/tests/%,$(UMOCK_SRC))
TEST_HELPERS := $(BUILD)/tests/fakekernel.o
# What tests/system/test-*.sh run besides vfiod: the fake GPU around a
# command, and waiting for uevents, paths, processes and journal entries.
SYSTEM_HELPERS := $(BUILD)/tests/fakegpu $(BUILD)/tests/vfiod-wait

.PHONY: all bench-deps check check-fast check-asan check-valgrind check-kernel check-system deps install uninstall clean bench
all: $(BUILD)/vfiod $(BUILD)/vfioctl

$(BUILD)/agent/%.o: agent/%.c $(wildcard include/*.h) | $(BUILD)/agent
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/vfiod $(BUILD)/vfioctl: $(BUILD)/%: $(BUILD)/agent/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Tests
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka)
UMOCK_CFLAGS := $(shell $(PKG_CONFIG) --cflags umockdev-1.0 glib-2.0)
UMOCK_LIBS := $(shell $(PKG_CONFIG) --libs umockdev-1.0 glib-2.0) -lpthread

$(BUILD)/tests/test-%: tests/unit/test-%.c $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/fakekernel.o: tests/umockdev/fakekernel.c tests/umockdev/fakekernel.h | $(BUILD)/tests
	$(CC) $(CFLAGS) $(UMOCK_CFLAGS) -Wno-strict-prototypes -c -o $@ $<

$(BUILD)/tests/test-%: tests/umockdev/test-%.c $(TEST_HELPERS) $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(UMOCK_CFLAGS) -Wno-strict-prototypes -Itests/umockdev $(LDFLAGS) -o $@ $< $(TEST_HELPERS) \
	        $(LIB) $(LIBS) $(CMOCKA_LIBS) $(UMOCK_LIBS)

$(BUILD)/tests/fakegpu: tests/umockdev/fakegpu.c $(TEST_HELPERS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(UMOCK_CFLAGS) -Wno-strict-prototypes -Itests/umockdev $(LDFLAGS) -o $@ $< $(TEST_HELPERS) \
	        $(UMOCK_LIBS)

$(BUILD)/tests/vfiod-wait: tests/system/vfiod-wait.c $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

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

check-kernel: all
	tests/run-tests.sh --build $(BUILD) --only-kernel

# The agent with a real libvirtd and QEMU (root; tests/system/).
check-system: all tests
	tests/run-tests.sh --build $(BUILD) --only-system

$(BUILD)/bench/bare-handoff: bench/bare-handoff.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/bench/engine-cycles: bench/engine-cycles.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

# Benchmarks (not tests): see README "Measured".
bench: all tests $(BUILD)/bench/bare-handoff $(BUILD)/bench/engine-cycles
	bench/run-bench.sh $(BUILD)

# Beyond deps (which has libvirtd and virsh for the comparison): python3 for agent-bench.py.
bench-deps: deps
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3

# Exactly what building and testing need, from Debian's archive.
DEBIAN_DEPS := make gcc clang pkg-config libudev-dev libsystemd-dev libpci-dev pci.ids libkmod-dev kmod \
        libinih-dev libvirt-dev libxml2-dev libcmocka-dev libumockdev-dev umockdev valgrind \
        qemu-system-x86 linux-image-amd64 busybox-static cpio \
        libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients systemd util-linux groff-base
deps:
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_DEPS)

install: all
	install -Dm755 $(BUILD)/vfiod $(DESTDIR)$(SBINDIR)/vfiod
	install -Dm755 $(BUILD)/vfioctl $(DESTDIR)$(BINDIR)/vfioctl
	install -Dm644 units/vfiod.conf.example $(DESTDIR)/etc/vfiod/vfiod.conf.example
	install -Dm644 units/vfiod.catalog $(DESTDIR)$(CATALOGDIR)/vfiod.catalog

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/vfiod $(DESTDIR)$(BINDIR)/vfioctl $(DESTDIR)/etc/vfiod/vfiod.conf.example \
	        $(DESTDIR)$(CATALOGDIR)/vfiod.catalog

clean:
	rm -rf build build-asan
