/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The handoff engine against a umockdev testbed whose "kernel" (fakekernel.c)
 * binds and unbinds like the driver core. Run as
 *   umockdev-wrapper build/tests/test-handoff
 * (it re-executes itself under umockdev-wrapper when started without). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
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
#include "test-util.h"

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
#define F_GPU_WITH(drv, ovr, nat, ch) \
        { .address = GPU, .parent = ROOT_PORT, .vendor = 0x10de, .device = 0x2203, .class = 0x030000, \
          .boot_vga = 0, .iommu_group = GROUP, .driver = (drv), .override = (ovr), .native = (nat), \
          .drm_card = "card1", .drm_render = "renderD128", .children = (ch) }
#define F_GPU(drv, ovr, nat) F_GPU_WITH(drv, ovr, nat, NULL)
#define F_AUDIO_WITH(drv, ovr, nat, ch) \
        { .address = AUDIO, .parent = ROOT_PORT, .vendor = 0x10de, .device = 0x1aef, .class = 0x040300, \
          .boot_vga = -1, .iommu_group = GROUP, .driver = (drv), .override = (ovr), .native = (nat), \
          .children = (ch) }
#define F_AUDIO(drv, ovr, nat) F_AUDIO_WITH(drv, ovr, nat, NULL)
#define F_USB_WITH(ch) \
        { .address = USB, .parent = ROOT_PORT, .vendor = 0x10de, .device = 0x1ad8, .class = 0x0c0330, \
          .boot_vga = -1, .iommu_group = GROUP, .driver = "xhci_hcd", .children = (ch) }
#define F_USB F_USB_WITH(NULL)
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

/* Nodes of every kind below the functions, as sysfs shows them: nothing in
 * vfiod names these kinds, it finds them by their "dev" attributes. */
static const char *const gpu_children[] = {
        "graphics/fb1=29:1=fb1",
        "i2c-3/i2c-dev/i2c-3=89:3=i2c-3",
        NULL,
};
static const char *const audio_children[] = {
        "sound/card0/controlC0=116:2=snd/controlC0=sound",
        "sound/card0/pcmC0D3p=116:3=snd/pcmC0D3p=sound",
        NULL,
};
/* A mouse receiver on the GPU's USB-C port, behind its xHCI. */
static const char *const usb_children[] = {
        "usb3/3-1/3-1:1.0/0003:046D:C52B.0001/hidraw/hidraw0=240:0=hidraw0",
        NULL,
};
static const FakePciFunction rich[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU_WITH("nvidia", NULL, NULL, gpu_children),
        F_AUDIO_WITH("snd_hda_intel", NULL, NULL, audio_children), F_USB_WITH(usb_children), F_UCSI,
};
/* On vfio-pci, with the function's vfio cdev (iommufd) besides /dev/vfio/13. */
static const char *const gpu_vfio_children[] = {
        "vfio-dev/vfio0=511:0=vfio/devices/vfio0",
        NULL,
};
static const FakePciFunction on_vfio_cdev[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU_WITH("vfio-pci", "vfio-pci", "nouveau", gpu_vfio_children),
        F_AUDIO("vfio-pci", "vfio-pci", NULL),
};
/* The GPU's framebuffer, for fbcon. */
static const char *const fb_children[] = {
        "graphics/fb1=29:1=fb1",
        NULL,
};
static const FakePciFunction with_fb[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU_WITH("nvidia", NULL, NULL, fb_children), F_AUDIO("snd_hda_intel", NULL, NULL),
};
/* The audio function without a driver (snd_hda_intel blacklisted), and
 * nothing that drivers_probe would bind to it. */
static const FakePciFunction audio_driverless[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU("nvidia", NULL, NULL), F_AUDIO(NULL, NULL, NULL),
};
/* The GPU on its host driver, its audio function on vfio-pci by someone's
 * hand (no record of vfiod's), with no host driver to come back to. */
static const FakePciFunction audio_left_on_vfio[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU("nvidia", NULL, NULL), F_AUDIO("vfio-pci", "vfio-pci", NULL),
};
/* The seed GPU whose audio function has its ALSA card. */
static const FakePciFunction with_card[] = {
        F_ROOT_PORT(1), F_IGPU, F_GPU("nvidia", NULL, NULL), F_AUDIO_WITH("snd_hda_intel", NULL, NULL, audio_children),
};
/* ALSA's word on card0's PCM 3: a substream open, another closed... */
static const char *const pcm_running[] = {
        "card0/pcm3p/info=card: 0", "card0/pcm3p/sub0/status=closed", "card0/pcm3p/sub1/status=state: RUNNING", NULL,
};
/* ... or every one closed. */
static const char *const pcm_closed[] = {
        "card0/pcm3p/info=card: 0", "card0/pcm3p/sub0/status=closed", "card0/pcm3c/sub0/status=closed", NULL,
};
/* The audio driver's module, with one reference: nothing else explains it... */
static const FakeModule hda_module_used[] = {
        { .name = "snd_hda_intel", .driver = "snd_hda_intel", .refcnt = 1 },
};
/* ... or a module built on it does. */
static const FakeModule hda_module_explained[] = {
        { .name = "snd_hda_intel", .driver = "snd_hda_intel", .refcnt = 1,
          .holders = (const char *const[]) { "snd_hda_codec_hdmi", NULL } },
};
/* nvidia's nodes outside the device's subtree: this card's, another card's, the driver's. */
static const char *const nvidia_nodes[] = { "nvidia0", "nvidia1", "nvidiactl", NULL };

#define SCENARIO(fns, ...) ((FakeScenario) { .functions = (fns), .n_functions = ELEMENTSOF(fns), __VA_ARGS__ })

/* ---- fixture ---- */

typedef struct Fixture {
        char runtime[64], modprobe[64];
        FakeKernel *k;
        struct udev *udev;
        Config *config;
        pid_t holder;
        int holder_fd;        /* closing it lets the holder exit; a late holder takes the node on a byte */
        int holder_ready;     /* a late holder says here that it took the node */
        pid_t stuck_writer;
        char nvidia_proc[64]; /* $VFIOD_NVIDIA_PROC_DIR; "" when not set */
} Fixture;

static int setup(void **state) {
        Fixture *fx = calloc(1, sizeof(Fixture));
        assert_non_null(fx);
        fx->holder_fd = -1;
        fx->holder_ready = -1;
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

static int teardown(void **state) {
        Fixture *fx = *state;
        if (fx->holder_fd >= 0)
                close(fx->holder_fd);
        if (fx->holder_ready >= 0)
                close(fx->holder_ready);
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
        (void) rm_rf(fx->runtime);
        (void) rm_rf(fx->modprobe);
        if (fx->nvidia_proc[0]) {
                (void) rm_rf(fx->nvidia_proc);
                unsetenv("VFIOD_NVIDIA_PROC_DIR");
        }
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

/* ---- a process holding a node ---- */

typedef enum HoldBy {
        BY_FD,       /* it keeps the node open */
        BY_MAPPING,  /* it maps the node and closes its fd: only the mapping holds it */
} HoldBy;

/* Waits up to 5 s for the holder's word that it took the node: true if it did. */
static bool holder_took(Fixture *fx) {
        struct pollfd p = { .fd = fx->holder_ready, .events = POLLIN };
        int r;
        do
                r = poll(&p, 1, 5000);
        while (r < 0 && errno == EINTR);
        char c = 0;
        bool ok = r == 1 && read(fx->holder_ready, &c, 1) == 1 && c == 'y';
        close(fx->holder_ready);
        fx->holder_ready = -1;
        return ok;
}

/* A child that holds node (a path under /dev, the testbed's through umockdev)
 * until fx->holder_fd is closed, then exits 0 (1 if it could not take it).
 * late: it is forked now and takes the node only when told to
 * (holder_take()), so that nothing forks while a handoff runs in another thread. */
static void spawn_holder_by(Fixture *fx, const char *node, HoldBy by, bool late) {
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
                char c;
                ssize_t n;
                if (late) {
                        while ((n = read(go[0], &c, 1)) < 0 && errno == EINTR)
                                ;
                        if (n != 1)
                                _exit(3);
                }
                int fd = open(node, O_RDWR | O_CLOEXEC);
                bool ok = fd >= 0;
                if (ok && by == BY_MAPPING) {
                        /* The node is an empty file in the testbed: map a page, touch none of it. */
                        ok = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED;
                        close(fd);
                }
                c = ok ? 'y' : 'n';
                if (write(ready[1], &c, 1) != 1)
                        _exit(2);
                while ((n = read(go[0], &c, 1)) != 0 && (n > 0 || errno == EINTR))
                        ;
                _exit(ok ? 0 : 1);
        }
        close(go[0]);
        close(ready[1]);
        fx->holder = pid;
        fx->holder_fd = go[1];
        fx->holder_ready = ready[0];
        if (!late)
                assert_true(holder_took(fx));
}

static void spawn_holder(Fixture *fx, const char *node) {
        spawn_holder_by(fx, node, BY_FD, false);
}

/* Tells a late holder to take its node now and waits until it did; no
 * cmocka asserts (another thread may call it): true on success. */
static bool holder_take(Fixture *fx) {
        char c = 'o';
        return write(fx->holder_fd, &c, 1) == 1 && holder_took(fx);
}

/* Still running: nobody signalled it, and it has not exited. */
static bool holder_alive(Fixture *fx) {
        int st;
        return fx->holder > 0 && waitpid(fx->holder, &st, WNOHANG) == 0;
}

/* Reaps *pid, which must end by itself with exit status 0; clears it. */
static void reap_exited_ok(pid_t *pid, const char *what) {
        int st = 0;
        assert_int_equal(reap(*pid, 5000, &st), 0);
        *pid = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail_msg("the %s ended with %s %d", what, WIFEXITED(st) ? "exit status" : "signal",
                         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Lets the holder go; it must exit by itself with 0: it held the node all along
 * and was never signalled. */
static void release_holder(Fixture *fx) {
        close(fx->holder_fd);
        fx->holder_fd = -1;
        reap_exited_ok(&fx->holder, "holder");
}

/* The node as a holder's fd and vfiod's message name it: "/dev/fb1" is
 * "$UMOCKDEV_DIR/dev/fb1" (vfiod's device directory is the testbed's). */
static void testbed_node(Fixture *fx, const char *node, char *buf, size_t size) {
        assert_true(g_str_has_prefix(node, "/dev/"));
        snprintf(buf, size, "%s%s", fake_kernel_root(fx->k), node);
}

/* "BEFORE NODE" is in msg, NODE as the kernel names it ("/dev/fb1") or as
 * where the testbed keeps it: either is the node. */
static void expect_node_in(Fixture *fx, const char *msg, const char *before, const char *node) {
        char real[PATH_MAX], as_dev[PATH_MAX + 64], as_real[2 * PATH_MAX];
        testbed_node(fx, node, real, sizeof(real));
        snprintf(as_dev, sizeof(as_dev), "%s%s", before, node);
        snprintf(as_real, sizeof(as_real), "%s%s", before, real);
        if (!strstr(msg, as_dev) && !strstr(msg, as_real))
                fail_msg("message lacks '%s' (or '%s'): %s", as_dev, as_real, msg);
}

/* "PID ... (user U, HOW) on NODE" is in msg: that holder, that way, that node. */
static void expect_holder_named(Fixture *fx, const char *msg, const char *node, const char *how) {
        char pid[32], before[64];
        snprintf(pid, sizeof(pid), " %d ", fx->holder);
        expect_in(msg, pid);
        snprintf(before, sizeof(before), ", %s) on ", how);
        expect_node_in(fx, msg, before, node);
}

/* How many of pid's fds point at node. */
static size_t fds_on(Fixture *fx, pid_t pid, const char *node) {
        char dir[64], real[PATH_MAX];
        size_t n = 0;
        testbed_node(fx, node, real, sizeof(real));
        snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
        GDir *d = g_dir_open(dir, 0, NULL);
        const char *name;
        assert_non_null(d);
        while ((name = g_dir_read_name(d))) {
                char *p = g_build_filename(dir, name, NULL);
                char *target = g_file_read_link(p, NULL);
                n += target && g_str_equal(target, real);
                g_free(target);
                g_free(p);
        }
        g_dir_close(d);
        return n;
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

/* The seed GPU to vfio-pci and back, nothing in the way. */
static void seed_round_trip(Fixture *fx) {
        char msg[2048];
        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, SEED_ON_VFIO);
        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, SEED_ON_HOST);
}

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

        /* The real kernel's driver_override_show() waits for the device lock
         * that the hung unbind holds: a read of it would never return. As
         * here, where it is a FIFO nobody writes. */
        char path[PATH_MAX], fifo[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/" GPU, fake_kernel_root(fx->k));
        assert_non_null(realpath(path, fifo));
        strcat(fifo, "/driver_override");
        assert_int_equal(unlink(fifo), 0);
        assert_int_equal(mkfifo(fifo, 0644), 0);
        alarm(30);  /* a read of it would hang the test: end it instead */

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
        alarm(0);

        /* once the write returns, the writer is gone */
        assert_int_equal(fake_kernel_release_hung(fx->k, 5000), 1);
        reap_exited_ok(&fx->stuck_writer, "writer");
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

/* The record a handoff to vfio-pci leaves: the GPU was on nvidia, its audio on AUDIO_DRIVER. */
static void record_drivers(const char *audio_driver) {
        HandoffState s = {};
        _cleanup_free_ char *audio = NULL;
        assert_true(asprintf(&audio, AUDIO "=%s", audio_driver) >= 0);
        assert_int_equal(strv_extend(&s.drivers, GPU "=nvidia"), 0);
        assert_int_equal(strv_extend(&s.drivers, audio), 0);
        assert_int_equal(handoff_state_save(GPU, &s), 0);
        handoff_state_done(&s);
}

static void test_give_back_recorded(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(on_vfio, .extra_drivers = host_drivers));
        record_drivers("snd_hda_intel");
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
        record_drivers("snd_hda_gone");

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

/* ---- holders found in sysfs, not in a list ---- */

#define RICH_ON_HOST FOUR_ON("nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu")

/* With nodes of every kind below the functions and nobody on them, the GPU
 * goes and comes back as without them. */
static void test_rich_cycles(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(rich));

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, FOUR_ON("vfio-pci", "vfio-pci", "vfio-pci", "vfio-pci"));
        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, RICH_ON_HOST);
}

/* A process with node open: to-vfio refuses before its first write, names
 * the process, the node and how it holds it, and leaves it alone. */
static void refused_by_fd(void **state, const char *node) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(rich));
        spawn_holder(fx, node);

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_REFUSED_IN_USE);
        expect_holder_named(fx, msg, node, "fd");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
        expect_drivers(fx, RICH_ON_HOST);
        for (const char *const *a = (const char *const[]) { GPU, AUDIO, USB, UCSI, NULL }; *a; a++)
                expect_override(fx, *a, NULL);
        assert_false(state_exists(fx));
        assert_true(holder_alive(fx));
        release_holder(fx);
}

static void test_holder_alsa_control(void **state) {
        refused_by_fd(state, "/dev/snd/controlC0");
}

static void test_holder_alsa_pcm(void **state) {
        refused_by_fd(state, "/dev/snd/pcmC0D3p");
}

static void test_holder_fbdev(void **state) {
        refused_by_fd(state, "/dev/fb1");
}

static void test_holder_i2c_dev(void **state) {
        refused_by_fd(state, "/dev/i2c-3");
}

/* Five levels below the GPU's USB function. */
static void test_holder_hidraw(void **state) {
        refused_by_fd(state, "/dev/hidraw0");
}

/* Mapped, with its fd closed: the mapping keeps the driver's file open. */
static void test_holder_mapping(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(seed));
        spawn_holder_by(fx, "/dev/dri/card1", BY_MAPPING, false);
        assert_int_equal(fds_on(fx, fx->holder, "/dev/dri/card1"), 0);

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_REFUSED_IN_USE);
        expect_holder_named(fx, msg, "/dev/dri/card1", "mapping");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
        expect_drivers(fx, SEED_ON_HOST);
        assert_false(state_exists(fx));
        assert_true(holder_alive(fx));
        release_holder(fx);
}

/* The VM's nodes: to-host with --drain refuses, and signals nobody. */
static void vm_holder_kept(Fixture *fx, const char *node) {
        char msg[2048];
        spawn_holder(fx, node);

        unsigned writes = fake_kernel_writes(fx->k);
        assert_int_equal(run(fx, TO_HOST, true, msg, sizeof(msg)), HANDOFF_REFUSED_IN_USE);
        expect_holder_named(fx, msg, node, "fd");
        expect_in(msg, "That is a VM's process");
        expect_in(msg, "never signals it");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), writes);
        expect_drivers(fx, SEED_ON_VFIO);
        assert_true(fake_kernel_vfio_node(fx->k, GROUP));
        assert_true(holder_alive(fx));
        release_holder(fx);  /* exits 0: no SIGTERM reached it */
}

static void test_vm_holder_not_drained(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(on_vfio_cdev, .extra_drivers = host_drivers));
        record_drivers("snd_hda_intel");

        vm_holder_kept(fx, "/dev/vfio/13");
        vm_holder_kept(fx, "/dev/vfio/devices/vfio0");

        /* nobody on them: the GPU comes back */
        assert_int_equal(run(fx, TO_HOST, true, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, SEED_ON_HOST);
        assert_false(state_exists(fx));
}

/* ---- undo only what vfiod did ---- */

/* "No driver" is an original: the round trip ends with the audio function
 * on none again, and exit 0 (it used to wait for a host driver, fail, and
 * leave the GPU on vfio-pci). */
static void test_driverless_round_trip(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(audio_driverless));

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, { GPU, "vfio-pci" }, { AUDIO, "vfio-pci" });
        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, { GPU, "nvidia" }, { AUDIO, NULL });
        expect_override(fx, GPU, NULL);
        expect_override(fx, AUDIO, NULL);
        assert_false(state_exists(fx));
}

/* A driverless function that vfiod never touched is the host's: there is
 * nothing to give back, and nothing is written. */
static void test_driverless_is_home(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(audio_driverless));

        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_NOTHING_TO_DO);
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
        expect_drivers(fx, { GPU, "nvidia" }, { AUDIO, NULL });
}

/* A give-back that fails returns to vfio-pci only what was on it: the GPU,
 * on nvidia before and during it, stays there. */
static void test_failed_give_back_moves_only_vfio(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        fx->config->bind_timeout = 1 * USEC_PER_SEC;  /* the test waits for it */
        start(fx, &SCENARIO(audio_left_on_vfio));

        assert_int_equal(run(fx, TO_HOST, false, msg, sizeof(msg)), HANDOFF_ROLLED_BACK);
        expect_in(msg, "the GPU stays on vfio-pci");
        expect_drivers(fx, { GPU, "nvidia" }, { AUDIO, "vfio-pci" });
        expect_override(fx, GPU, NULL);
        expect_override(fx, AUDIO, "vfio-pci");
        assert_false(state_exists(fx));  /* as before the give-back */
}

/* A handoff to vfio-pci cut short after it stopped a service and moved the
 * audio function: finishing it keeps the record's services, so that the
 * give-back starts them again (it used to replace them with its own, none). */
static void test_finish_keeps_stopped_services(void **state) {
        Fixture *fx = *state;
        char msg[2048], p[PATH_MAX];
        g_autofree char *text = NULL;
        start(fx, &SCENARIO(audio_left_on_vfio));
        snprintf(p, sizeof(p), "%s/" GPU ".state", fx->runtime);
        assert_true(g_file_set_contents(p, "driver=" GPU "=nvidia\ndriver=" AUDIO "=snd_hda_intel\n"
                                           "service=nvidia-persistenced.service\n", -1, NULL));

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_DONE);
        expect_drivers(fx, { GPU, "vfio-pci" }, { AUDIO, "vfio-pci" });
        assert_true(g_file_get_contents(p, &text, NULL, NULL));
        expect_in(text, "service=nvidia-persistenced.service\n");
        expect_in(text, "driver=" AUDIO "=snd_hda_intel\n");
}

/* ---- holders inside the kernel ---- */

/* fbcon bound, on the GPU's framebuffer (its map cannot be read on the
 * testbed's plain-file node: taken for fbcon's); unbound, it holds nothing. */
static void test_kernel_holder_fbcon(void **state) {
        Fixture *fx = *state;
        char msg[2048], p[PATH_MAX];
        start(fx, &SCENARIO(with_fb, .fbcon_bind = "1"));

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_REFUSED_IN_USE);
        expect_node_in(fx, msg, "fbcon (kernel) on ", "/dev/fb1");
        expect_in(msg, "echo 0 > /sys/class/vtconsole/vtcon1/bind");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
        expect_drivers(fx, SEED_ON_HOST);
        assert_false(state_exists(fx));

        /* what the message says to do */
        snprintf(p, sizeof(p), "%s/sys/class/vtconsole/vtcon1/bind", fake_kernel_root(fx->k));
        assert_true(g_file_set_contents(p, "0\n", -1, NULL));
        seed_round_trip(fx);
}

/* A reference on the audio driver's module that no process and no module explains. */
static void test_kernel_holder_module(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(seed, .modules = hda_module_used, .n_modules = ELEMENTSOF(hda_module_used)));

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_REFUSED_IN_USE);
        expect_in(msg, "module snd_hda_intel (kernel) on " AUDIO);
        expect_in(msg, "1 reference(s) on module snd_hda_intel");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
        expect_drivers(fx, SEED_ON_HOST);
        assert_false(state_exists(fx));
}

/* A PCM stream open with no process on the card's nodes (a file in flight
 * over a socket): the sound card's unbind would wait, so it is refused. */
static void test_kernel_holder_sound_card(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        start(fx, &SCENARIO(with_card, .asound = pcm_running));

        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_REFUSED_IN_USE);
        expect_in(msg, "sound card 0 (kernel) on /dev/snd/pcmC0D3p");
        expect_in(msg, "the unbind of snd_hda_intel would wait until it is closed");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
        expect_drivers(fx, SEED_ON_HOST);
        assert_false(state_exists(fx));
}

/* Every stream closed: nothing holds the card. */
static void test_sound_card_closed(void **state) {
        Fixture *fx = *state;
        start(fx, &SCENARIO(with_card, .asound = pcm_closed));

        seed_round_trip(fx);
}

/* The same reference, held by a module built on it (holders/): nobody's in the way. */
static void test_module_reference_explained(void **state) {
        Fixture *fx = *state;
        start(fx, &SCENARIO(seed, .modules = hda_module_explained, .n_modules = ELEMENTSOF(hda_module_explained)));

        seed_round_trip(fx);
}

static void nvidia_gpu_dir(Fixture *fx, const char *address, const char *information) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/gpus/%s", fx->nvidia_proc, address);
        mkdirs(p);
        if (information) {
                snprintf(p, sizeof(p), "%s/gpus/%s/information", fx->nvidia_proc, address);
                assert_true(g_file_set_contents(p, information, -1, NULL));
        }
}

/* nvidia's nodes are outside the device's subtree: /dev/nvidiaN is the card
 * whose "Device Minor" is N, nvidiactl is every card's. */
static void test_nvidia_nodes(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        snprintf(fx->nvidia_proc, sizeof(fx->nvidia_proc), "/tmp/vfiod-test-nvidia.XXXXXX");
        assert_non_null(mkdtemp(fx->nvidia_proc));
        assert_int_equal(setenv("VFIOD_NVIDIA_PROC_DIR", fx->nvidia_proc, 1), 0);
        nvidia_gpu_dir(fx, GPU, "Model: \t\t NVIDIA GeForce RTX 3090\nIRQ:   \t\t 180\nDevice Minor:\t 0\n");
        start(fx, &SCENARIO(seed, .nodes = nvidia_nodes));

        /* another card's node */
        spawn_holder(fx, "/dev/nvidia1");
        seed_round_trip(fx);
        assert_true(holder_alive(fx));
        release_holder(fx);

        /* this card's */
        spawn_holder(fx, "/dev/nvidia0");
        unsigned writes = fake_kernel_writes(fx->k);
        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_REFUSED_IN_USE);
        expect_holder_named(fx, msg, "/dev/nvidia0", "fd");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), writes);
        expect_drivers(fx, SEED_ON_HOST);
        release_holder(fx);

        /* the driver's, while this is its only card */
        spawn_holder(fx, "/dev/nvidiactl");
        assert_int_equal(run(fx, TO_VFIO, false, msg, sizeof(msg)), HANDOFF_REFUSED_IN_USE);
        expect_holder_named(fx, msg, "/dev/nvidiactl", "fd");
        expect_in(msg, "shared nodes");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), writes);
        expect_drivers(fx, SEED_ON_HOST);

        /* with a second card, nvidiactl may be the other card's user */
        nvidia_gpu_dir(fx, "0000:02:00.0", "Device Minor:\t 1\n");
        seed_round_trip(fx);
        assert_true(holder_alive(fx));
        release_holder(fx);
}

/* ---- a holder that comes after the first look ---- */

typedef struct LateHolder {
        Fixture *fx;
        bool broke, took;
        char *audio_at_break, *gpu_at_break;
} LateHolder;

/* At the breakpoint the engine waits for the kernel: the holder takes the
 * display function's node, then the kernel goes on. */
static void *late_holder_thread(void *userdata) {
        LateHolder *l = userdata;
        l->broke = fake_kernel_wait_break(l->fx->k, 20000) == 0;
        if (l->broke) {
                l->audio_at_break = fake_kernel_driver(l->fx->k, AUDIO);
                l->gpu_at_break = fake_kernel_driver(l->fx->k, GPU);
                l->took = holder_take(l->fx);
        }
        fake_kernel_resume(l->fx->k);
        return NULL;
}

static void test_holder_appears_before_unbind(void **state) {
        Fixture *fx = *state;
        char msg[2048];
        pthread_t t;
        start(fx, &SCENARIO(seed));
        spawn_holder_by(fx, "/dev/dri/card1", BY_FD, true);  /* forked now, takes the node later */

        /* Write 3 is the audio function's drivers_probe: its unbind is done,
         * and the engine waits for vfio-pci's bind; the GPU's turn comes after. */
        LateHolder l = { .fx = fx };
        fake_kernel_break_at(fx->k, 3);
        assert_int_equal(pthread_create(&t, NULL, late_holder_thread, &l), 0);
        HandoffOutcome o = run(fx, TO_VFIO, false, msg, sizeof(msg));
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_true(l.broke);
        assert_true(l.took);
        assert_null(l.audio_at_break);               /* it was half way ... */
        assert_string_equal(l.gpu_at_break, "nvidia");  /* ... and the GPU not yet */
        g_free(l.audio_at_break);
        g_free(l.gpu_at_break);

        assert_int_equal(o, HANDOFF_REFUSED_IN_USE);
        expect_in(msg, "came into use before " GPU "'s unbind");
        expect_holder_named(fx, msg, "/dev/dri/card1", "fd");
        expect_in(msg, "rolled back");
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        expect_drivers(fx, SEED_ON_HOST);
        expect_override(fx, GPU, NULL);
        expect_override(fx, AUDIO, NULL);
        assert_false(fake_kernel_vfio_node(fx->k, GROUP));
        assert_false(state_exists(fx));
        assert_true(holder_alive(fx));
        release_holder(fx);
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
                T(test_rich_cycles),
                T(test_holder_alsa_control),
                T(test_holder_alsa_pcm),
                T(test_holder_fbdev),
                T(test_holder_i2c_dev),
                T(test_holder_hidraw),
                T(test_holder_mapping),
                T(test_vm_holder_not_drained),
                T(test_finish_keeps_stopped_services),
                T(test_driverless_round_trip),
                T(test_driverless_is_home),
                T(test_failed_give_back_moves_only_vfio),
                T(test_kernel_holder_fbcon),
                T(test_kernel_holder_sound_card),
                T(test_sound_card_closed),
                T(test_kernel_holder_module),
                T(test_module_reference_explained),
                T(test_nvidia_nodes),
                T(test_holder_appears_before_unbind),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
