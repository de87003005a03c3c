/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The handoff engine against a umockdev testbed whose "kernel" (fakekernel.c)
 * binds and unbinds like the driver core. Run as
 *   umockdev-wrapper build/tests/test-handoff
 * (it re-executes itself under umockdev-wrapper when started without). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "fakekernel.h"
#include "gpu.h"
#include "handoff.h"
#include "log.h"
#include "state.h"
#include "strv.h"

/* ---- the machines ---- */

#define GPU "0000:01:00.0"
#define AUDIO "0000:01:00.1"
#define USB "0000:01:00.2"
#define UCSI "0000:01:00.3"
#define ROOT_PORT "0000:00:01.0"
#define IGPU "0000:00:02.0"
#define NIC_PORT "0000:00:1c.0"
#define NIC "0000:02:00.0"
#define GROUP 13

#define F_ROOT_PORT(group) \
        { .address = ROOT_PORT, .vendor = 0x8086, .device = 0xa70d, .class = 0x060400, .boot_vga = -1, \
          .iommu_group = (group), .driver = "pcieport" }
#define F_IGPU \
        { .address = IGPU, .vendor = 0x8086, .device = 0xa780, .class = 0x030000, .boot_vga = 1, \
          .iommu_group = 0, .driver = "i915" }
#define F_GPU(drv, ovr, nat) \
        { .address = GPU, .parent = ROOT_PORT, .vendor = 0x10de, .device = 0x2203, .class = 0x030000, \
          .boot_vga = 0, .iommu_group = GROUP, .driver = (drv), .override = (ovr), .native = (nat), \
          .drm_card = "card1", .drm_render = "renderD128" }
#define F_AUDIO(drv, ovr, nat) \
        { .address = AUDIO, .parent = ROOT_PORT, .vendor = 0x10de, .device = 0x1aef, .class = 0x040300, \
          .boot_vga = -1, .iommu_group = GROUP, .driver = (drv), .override = (ovr), .native = (nat) }
#define F_USB \
        { .address = USB, .parent = ROOT_PORT, .vendor = 0x10de, .device = 0x1ad8, .class = 0x0c0330, \
          .boot_vga = -1, .iommu_group = GROUP, .driver = "xhci_hcd" }
#define F_UCSI \
        { .address = UCSI, .parent = ROOT_PORT, .vendor = 0x10de, .device = 0x1ad9, .class = 0x0c8000, \
          .boot_vga = -1, .iommu_group = GROUP, .driver = "nvidia-gpu" }

/* The seed: a 2-function GPU behind its own root port, and the boot iGPU. */
static const FakePciFunction seed[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU("nvidia", NULL, NULL), F_AUDIO("snd_hda_intel", NULL, NULL),
};
static const FakePciFunction four[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU("nvidia", NULL, NULL), F_AUDIO("snd_hda_intel", NULL, NULL), F_USB, F_UCSI,
};
/* The root port shares the GPU's group: allowed. */
static const FakePciFunction with_bridge[] = {
        F_ROOT_PORT(GROUP), F_IGPU, F_GPU("nvidia", NULL, NULL), F_AUDIO("snd_hda_intel", NULL, NULL),
};
/* An Ethernet controller in the GPU's group, in another slot: not allowed. */
static const FakePciFunction with_foreign[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU("nvidia", NULL, NULL), F_AUDIO("snd_hda_intel", NULL, NULL),
        { .address = NIC_PORT, .vendor = 0x8086, .device = 0x7a38, .class = 0x060400, .boot_vga = -1,
          .iommu_group = 14, .driver = "pcieport" },
        { .address = NIC, .parent = NIC_PORT, .vendor = 0x8086, .device = 0x125c, .class = 0x020000,
          .boot_vga = -1, .iommu_group = GROUP, .driver = "igc" },
};
/* Already on vfio-pci (a VM had it); the kernel's own choice would be
 * nouveau, and nothing for the audio function. */
static const FakePciFunction on_vfio[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU("vfio-pci", "vfio-pci", "nouveau"), F_AUDIO("vfio-pci", "vfio-pci", NULL),
};
static const FakePciFunction on_vfio_native[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU("vfio-pci", "vfio-pci", "nouveau"),
        F_AUDIO("vfio-pci", "vfio-pci", "snd_hda_intel"),
};
static const char *const host_drivers[] = { "nvidia", "snd_hda_intel", NULL };

#define SCENARIO(fns, ...) ((FakeScenario) { .functions = (fns), .n_functions = ELEMENTSOF(fns), __VA_ARGS__ })

/* ---- fixture ---- */

typedef struct Fixture {
        char runtime[64], modprobe[64];
        FakeKernel *k;
        struct udev *udev;
        Config *config;
        pid_t holder;
        int holder_fd;        /* closing it lets the holder exit */
        pid_t stuck_writer;
} Fixture;

static int setup(void **state) {
        Fixture *fx = calloc(1, sizeof(Fixture));
        assert_non_null(fx);
        fx->holder_fd = -1;
        snprintf(fx->runtime, sizeof(fx->runtime), "/tmp/vfiod-test-run.XXXXXX");
        snprintf(fx->modprobe, sizeof(fx->modprobe), "/tmp/vfiod-test-modprobe.XXXXXX");
        assert_non_null(mkdtemp(fx->runtime));
        assert_non_null(mkdtemp(fx->modprobe));
        assert_int_equal(setenv("VFIOD_RUNTIME_DIR", fx->runtime, 1), 0);
        assert_int_equal(setenv("VFIOD_MODPROBE_DIR", fx->modprobe, 1), 0);

        fx->config = config_new();
        assert_non_null(fx->config);
        /* Generous deadlines, so that a slow machine (ASan, valgrind, CI on
         * two cores) never turns a success into a timeout; the tests of the
         * failure cases shorten the one they wait for. */
        fx->config->unbind_timeout = 10 * USEC_PER_SEC;
        fx->config->bind_timeout = 10 * USEC_PER_SEC;
        fx->config->drain_grace = 2 * USEC_PER_SEC;
        *state = fx;
        return 0;
}


static void start(Fixture *fx, const FakeScenario *s) {
        fx->k = fake_kernel_new(s);
        fx->udev = udev_new();
        assert_non_null(fx->udev);
}

/* Waits up to timeout_ms for pid (a child) to end and reaps it; -1 if it did not. */
static int reap(pid_t pid, unsigned timeout_ms, int *ret_status) {
        int fd = pidfd_open(pid, 0);
        if (fd < 0 && errno != ENOSYS)
                return -1;
        /* Without pidfds (valgrind) the wait is bounded by the runner's limit. */
        if (fd >= 0) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r;
                do
                        r = poll(&p, 1, (int) timeout_ms);
                while (r < 0 && errno == EINTR);
                close(fd);
                if (r <= 0)
                        return -1;
        }
        int st = 0;
        if (waitpid(pid, &st, 0) != pid)
                return -1;
        if (ret_status)
                *ret_status = st;
        return 0;
}

static void rm_rf(const char *dir) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", dir);
}

static int teardown(void **state) {
        Fixture *fx = *state;
        if (fx->holder_fd >= 0)
                close(fx->holder_fd);
        if (fx->holder > 0 && reap(fx->holder, 5000, NULL) < 0) {
                kill(fx->holder, SIGKILL);
                (void) reap(fx->holder, 5000, NULL);
        }
        fake_kernel_free(fx->k);   /* releases a hung unbind's writer */
        if (fx->stuck_writer > 0)
                (void) reap(fx->stuck_writer, 5000, NULL);
        if (fx->udev)
                udev_unref(fx->udev);
        config_free(fx->config);
        rm_rf(fx->runtime);
        rm_rf(fx->modprobe);
        unsetenv("VFIOD_RUNTIME_DIR");
        unsetenv("VFIOD_MODPROBE_DIR");
        free(fx);
        return 0;
}

/* ---- running the engine ---- */

typedef enum { TO_VFIO, TO_HOST } Direction;

static HandoffOutcome run(Fixture *fx, Direction dir, bool drain, char *msg, size_t size) {
        Gpu *g = NULL;
        Handoff h;
        assert_int_equal(gpu_find(fx->udev, fx->config, NULL, &g), 0);
        assert_string_equal(g->address_str, GPU);
        assert_int_equal(g->iommu_group, GROUP);
        assert_int_equal(handoff_init(&h, fx->udev, fx->config, g), 0);
        h.drain = drain;
        HandoffOutcome o = dir == TO_VFIO ? handoff_to_vfio(&h) : handoff_to_host(&h);
        snprintf(msg, size, "%s", h.message);
        handoff_done(&h);
        gpu_free(g);
        fprintf(stderr, "  -> %s: %s\n", handoff_outcome_to_string(o), msg);
        return o;
}

/* ---- what the testbed says ---- */

typedef struct Expect {
        const char *address;
        const char *driver;   /* NULL: none */
} Expect;

#define expect_drivers(fx, ...) \
        check_drivers((fx), (const Expect[]) { __VA_ARGS__ }, \
                      sizeof((const Expect[]) { __VA_ARGS__ }) / sizeof(Expect), __FILE__, __LINE__)

static void check_drivers(Fixture *fx, const Expect *e, size_t n, const char *file, int line) {
        bool ok = true;
        for (size_t i = 0; i < n; i++) {
                char *d = fake_kernel_driver(fx->k, e[i].address);
                if (!fake_kernel_exists(fx->k, e[i].address) || g_strcmp0(d, e[i].driver) != 0) {
                        fprintf(stderr, "%s:%d: %s is on %s (exists: %d), expected %s\n", file, line, e[i].address,
                                d ?: "no driver", fake_kernel_exists(fx->k, e[i].address), e[i].driver ?: "no driver");
                        ok = false;
                }
                g_free(d);
        }
        _assert_true(ok, "drivers as expected", file, line);
}

static void expect_override(Fixture *fx, const char *address, const char *want) {
        char *o = fake_kernel_override(fx->k, address);
        if (g_strcmp0(o, want) != 0)
                fprintf(stderr, "%s: driver_override is %s, expected %s\n", address, o ?: "(null)", want ?: "(null)");
        assert_true(g_strcmp0(o, want) == 0);
        g_free(o);
}

static void expect_in(const char *msg, const char *word) {
        if (!strstr(msg, word))
                fprintf(stderr, "message lacks '%s': %s\n", word, msg);
        assert_non_null(strstr(msg, word));
}

static bool state_exists(Fixture *fx) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/" GPU ".state", fx->runtime);
        return access(p, F_OK) >= 0;
}

#define SEED_ON_HOST \
        { IGPU, "i915" }, { ROOT_PORT, "pcieport" }, { GPU, "nvidia" }, { AUDIO, "snd_hda_intel" }
#define SEED_ON_VFIO \
        { IGPU, "i915" }, { ROOT_PORT, "pcieport" }, { GPU, "vfio-pci" }, { AUDIO, "vfio-pci" }

/* ---- a process holding /dev/dri/card1 ---- */

static void spawn_holder(Fixture *fx, const char *node) {
        int go[2], ready[2];
        assert_int_equal(pipe2(go, O_CLOEXEC), 0);
        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGTERM, SIG_DFL);
                close(go[1]);
                close(ready[0]);
                int fd = open(node, O_RDWR | O_CLOEXEC);  /* the testbed's node, through umockdev */
                char c = fd >= 0 ? 'y' : 'n';
                if (write(ready[1], &c, 1) != 1)
                        _exit(2);
                while (read(go[0], &c, 1) < 0 && errno == EINTR)
                        ;
                _exit(fd >= 0 ? 0 : 1);
        }
        close(go[0]);
        close(ready[1]);
        fx->holder = pid;
        fx->holder_fd = go[1];

        struct pollfd p = { .fd = ready[0], .events = POLLIN };
        assert_int_equal(poll(&p, 1, 5000), 1);
        char c = 0;
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        assert_int_equal(c, 'y');
}

/* Children of this process that have not been reaped: the stuck writer. */
static size_t find_children(pid_t *ret, size_t max) {
        size_t n = 0;
        GDir *d = g_dir_open("/proc", 0, NULL);
        const char *name;
        assert_non_null(d);
        while ((name = g_dir_read_name(d))) {
                char p[64], *stat = NULL;
                if (name[0] < '0' || name[0] > '9')
                        continue;
                snprintf(p, sizeof(p), "/proc/%s/stat", name);
                if (!g_file_get_contents(p, &stat, NULL, NULL))
                        continue;
                const char *e = strrchr(stat, ')');
                char st;
                int ppid;
                if (e && sscanf(e + 1, " %c %d", &st, &ppid) == 2 && ppid == getpid() && n < max)
                        ret[n++] = atoi(name);
                g_free(stat);
        }
        g_dir_close(d);
        return n;
}

/* ---- the tests ---- */

static void test_seed_cycles(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(seed));

        for (int cycle = 0; cycle < 3; cycle++) {
                assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_DONE);
                expect_drivers(fx, SEED_ON_VFIO);
                expect_override(fx, GPU, "vfio-pci");
                expect_override(fx, AUDIO, "vfio-pci");
                assert_true(fake_kernel_vfio_node(fx->k, GROUP));
                expect_in(msg, "/dev/vfio/13");
                assert_true(state_exists(fx));

                assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_NOTHING_TO_DO);
                expect_drivers(fx, SEED_ON_VFIO);

                assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_DONE);
                expect_drivers(fx, SEED_ON_HOST);
                expect_override(fx, GPU, NULL);
                expect_override(fx, AUDIO, NULL);
                assert_false(fake_kernel_vfio_node(fx->k, GROUP));
                expect_in(msg, "back on its host driver");
                assert_false(state_exists(fx));
        }
}

#define FOUR_ON(gpu, audio, usb, ucsi) \
        { IGPU, "i915" }, { ROOT_PORT, "pcieport" }, { GPU, gpu }, { AUDIO, audio }, { USB, usb }, { UCSI, ucsi }

static void test_four_functions(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(four));

        for (int cycle = 0; cycle < 2; cycle++) {
                assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_DONE);
                expect_drivers(fx, FOUR_ON("vfio-pci", "vfio-pci", "vfio-pci", "vfio-pci"));
                assert_true(fake_kernel_vfio_node(fx->k, GROUP));

                assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_DONE);
                expect_drivers(fx, FOUR_ON("nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"));
                assert_false(fake_kernel_vfio_node(fx->k, GROUP));
                for (const char *const *a = (const char *const[]) { GPU, AUDIO, USB, UCSI, NULL }; *a; a++)
                        expect_override(fx, *a, NULL);
        }
}

static void test_foreign_in_group(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(with_foreign));

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_REFUSED_CONFIG);
        expect_in(msg, NIC);
        expect_in(msg, "IOMMU group 13");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
        expect_drivers(fx, SEED_ON_HOST, { NIC, "igc" }, { NIC_PORT, "pcieport" });
        expect_override(fx, GPU, NULL);
        assert_false(state_exists(fx));
}

static void test_bridge_in_group(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(with_bridge));

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, SEED_ON_VFIO);  /* the root port stays on pcieport */
        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, SEED_ON_HOST);
}

static void test_holder_refused(void **state) {
        Fixture *fx = *state;
        char msg[2048], pid[32];
        start(fx, &SCENARIO(seed));
        spawn_holder(fx, "/dev/dri/card1");

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_REFUSED_IN_USE);
        snprintf(pid, sizeof(pid), "%d ", fx->holder);
        expect_in(msg, pid);
        expect_in(msg, "/dev/dri/card1");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
        expect_drivers(fx, SEED_ON_HOST);
        assert_false(state_exists(fx));

        /* the holder is untouched: it exits when told to */
        close(fx->holder_fd);
        fx->holder_fd = -1;
        int st = 0;
        assert_int_equal(reap(fx->holder, 5000, &st), 0);
        fx->holder = 0;
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_holder_drained(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(seed));
        spawn_holder(fx, "/dev/dri/card1");

        assert_int_equal(run(fx, TO_VFIO, true, msg, sizeof(msg)), HANDOFF_DONE);
        int st = 0;
        assert_int_equal(reap(fx->holder, 5000, &st), 0);
        fx->holder = 0;
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
        expect_drivers(fx, SEED_ON_VFIO);

        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, SEED_ON_HOST);
}

static void test_hung_unbind(void **state) {
        Fixture *fx = *state;
        char msg[2048], word[32];
        pid_t kids[8];
        start(fx, &SCENARIO(seed, .hung_unbind_driver = "nvidia"));
        fx->config->unbind_timeout = 1 * USEC_PER_SEC;

        gint64 t0 = g_get_monotonic_time();
        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_STUCK);
        gint64 took = g_get_monotonic_time() - t0;
        /* the unbind deadline is 1 s; everything else is quick */
        assert_true(took >= 1 * G_USEC_PER_SEC && took < 4 * G_USEC_PER_SEC);

        /* the writer is our child, blocked on the FIFO, and the message names it */
        assert_int_equal(find_children(kids, ELEMENTSOF(kids)), 1);
        fx->stuck_writer = kids[0];
        snprintf(word, sizeof(word), "pid %d ", kids[0]);
        expect_in(msg, word);
        expect_in(msg, "has not returned after 1.0s");
        expect_in(msg, "state S");
        expect_in(msg, "/sys/bus/pci/drivers/nvidia/unbind");

        /* the stuck function keeps its driver (the unbind never ran); the rest went back */
        expect_drivers(fx, SEED_ON_HOST);
        expect_override(fx, AUDIO, NULL);
        assert_false(fake_kernel_vfio_node(fx->k, GROUP));

        /* a second attempt refuses without writing anything */
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        unsigned writes = fake_kernel_writes(fx->k);
        assert_true(writes > 0);
        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_STUCK);
        snprintf(word, sizeof(word), "pid %d ", kids[0]);
        expect_in(msg, word);
        expect_in(msg, GPU);
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), writes);
        assert_int_equal(find_children(kids, ELEMENTSOF(kids)), 1);
        assert_int_equal(kids[0], fx->stuck_writer);
        expect_drivers(fx, SEED_ON_HOST);

        /* and so does a give-back */
        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_STUCK);

        /* once the write returns, the writer is gone */
        assert_int_equal(fake_kernel_release_hung(fx->k, 5000), 1);
        int st = 0;
        assert_int_equal(reap(fx->stuck_writer, 5000, &st), 0);
        fx->stuck_writer = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail_msg("the writer ended with %s %d", WIFEXITED(st) ? "exit status" : "signal",
                         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void test_vfio_probe_ebusy(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(seed, .vfio_probe_ebusy = GPU));
        fx->config->bind_timeout = 1 * USEC_PER_SEC;  /* the test waits for it */

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_ROLLED_BACK);
        expect_in(msg, GPU);
        expect_in(msg, "rolled back");
        expect_drivers(fx, SEED_ON_HOST);
        expect_override(fx, GPU, NULL);
        expect_override(fx, AUDIO, NULL);
        assert_false(fake_kernel_vfio_node(fx->k, GROUP));
        assert_false(state_exists(fx));
}

static void test_vanish(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(four, .vanish_on_unbind = USB));

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_ROLLED_BACK);
        expect_in(msg, USB);
        expect_in(msg, "vanished");
        assert_false(fake_kernel_exists(fx->k, USB));
        expect_drivers(fx, { IGPU, "i915" }, { ROOT_PORT, "pcieport" }, { GPU, "nvidia" },
                       { AUDIO, "snd_hda_intel" }, { UCSI, "nvidia-gpu" });
        for (const char *const *a = (const char *const[]) { GPU, AUDIO, UCSI, NULL }; *a; a++)
                expect_override(fx, *a, NULL);
        assert_false(fake_kernel_vfio_node(fx->k, GROUP));
}

static void test_module_busy(void **state) {
        Fixture *fx = *state;
        char msg[2048], p[PATH_MAX];
        start(fx, &SCENARIO(seed, .busy_module = "vfiodtest_gpu"));
        assert_int_equal(strv_extend(&fx->config->host_modules, "vfiodtest_gpu"), 0);

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_ROLLED_BACK);
        expect_in(msg, "modules");
        expect_in(msg, "rolled back");
        expect_drivers(fx, SEED_ON_HOST);
        expect_override(fx, GPU, NULL);
        assert_false(fake_kernel_vfio_node(fx->k, GROUP));
        snprintf(p, sizeof(p), "%s/vfiod-passthrough.conf", fx->modprobe);
        assert_true(access(p, F_OK) < 0);
        assert_false(state_exists(fx));
}

static void test_host_nothing_to_do(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(seed));

        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_NOTHING_TO_DO);
        expect_in(msg, "already");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
        expect_drivers(fx, SEED_ON_HOST);
}

static void test_give_back_recorded(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(on_vfio, .extra_drivers = host_drivers));
        HandoffState s = {};
        assert_int_equal(strv_extend(&s.drivers, GPU "=nvidia"), 0);
        assert_int_equal(strv_extend(&s.drivers, AUDIO "=snd_hda_intel"), 0);
        assert_int_equal(handoff_state_save(GPU, &s), 0);
        handoff_state_done(&s);
        expect_drivers(fx, SEED_ON_VFIO);
        assert_true(fake_kernel_vfio_node(fx->k, GROUP));

        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_DONE);
        /* the record wins over the kernel's own choice (nouveau, nothing) */
        expect_drivers(fx, SEED_ON_HOST);
        expect_override(fx, GPU, NULL);
        expect_override(fx, AUDIO, NULL);
        assert_false(fake_kernel_vfio_node(fx->k, GROUP));
        assert_false(state_exists(fx));
}

static void test_give_back_unrecorded(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(on_vfio_native, .extra_drivers = host_drivers));

        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_DONE);
        /* no record, no HostDriver=: the kernel chooses */
        expect_drivers(fx, { IGPU, "i915" }, { GPU, "nouveau" }, { AUDIO, "snd_hda_intel" });
        assert_false(fake_kernel_vfio_node(fx->k, GROUP));
}

static void test_give_back_fails(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(on_vfio, .extra_drivers = host_drivers));
        fx->config->bind_timeout = 1 * USEC_PER_SEC;  /* the test waits for it */
        /* the audio function's recorded driver is not there, and nothing else claims it */
        HandoffState s = {};
        assert_int_equal(strv_extend(&s.drivers, GPU "=nvidia"), 0);
        assert_int_equal(strv_extend(&s.drivers, AUDIO "=snd_hda_gone"), 0);
        assert_int_equal(handoff_state_save(GPU, &s), 0);
        handoff_state_done(&s);

        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_ROLLED_BACK);
        expect_in(msg, AUDIO);
        expect_in(msg, "stays on vfio-pci");
        /* what had moved went back: no function is left without a driver */
        expect_drivers(fx, SEED_ON_VFIO);
        expect_override(fx, GPU, "vfio-pci");
        expect_override(fx, AUDIO, "vfio-pci");
        assert_true(fake_kernel_vfio_node(fx->k, GROUP));
        assert_true(state_exists(fx));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(int argc, char **argv) {
        (void) argc;
        if (fake_kernel_require_preload(argc, argv) < 0)
                return 1;
        log_set_max_level(getenv("VFIOD_TEST_DEBUG") ? LOG_DEBUG : LOG_NOTICE);
        if (argc > 1)
                cmocka_set_test_filter(argv[1]);  /* e.g. test_vanish */

        const struct CMUnitTest tests[] = {
                T(test_seed_cycles),
                T(test_four_functions),
                T(test_foreign_in_group),
                T(test_bridge_in_group),
                T(test_holder_refused),
                T(test_holder_drained),
                T(test_hung_unbind),
                T(test_vfio_probe_ebusy),
                T(test_vanish),
                T(test_module_busy),
                T(test_host_nothing_to_do),
                T(test_give_back_recorded),
                T(test_give_back_unrecorded),
                T(test_give_back_fails),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
