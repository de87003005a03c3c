/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiod's agent (daemon.c) in-process, against a umockdev testbed with the
 * in-test kernel (fakekernel.c) and libvirt's test:///default driver, whose
 * domain "test" runs from the start. Run as
 *   umockdev-wrapper build/tests/test-daemon */

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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libvirt/libvirt.h>

#include <cmocka.h>

#include "daemon.h"
#include "domain-watch.h"
#include "fakekernel.h"
#include "log.h"
#include "test-util.h"
#include "time-util.h"

#define GPU "0000:01:00.0"
#define AUDIO "0000:01:00.1"
#define GROUP 13

static const FakePciFunction lent[] = {
        { .address = "0000:00:01.0", .vendor = 0x8086, .device = 0xa70d, .class = 0x060400, .boot_vga = -1,
          .iommu_group = 1, .driver = "pcieport" },
        { .address = "0000:00:02.0", .vendor = 0x8086, .device = 0xa780, .class = 0x030000, .boot_vga = 1,
          .iommu_group = 0, .driver = "i915" },
        { .address = GPU, .parent = "0000:00:01.0", .vendor = 0x10de, .device = 0x2203, .class = 0x030000,
          .boot_vga = 0, .iommu_group = GROUP, .driver = "vfio-pci", .override = "vfio-pci", .native = "nvidia",
          .drm_card = NULL },
        { .address = AUDIO, .parent = "0000:00:01.0", .vendor = 0x10de, .device = 0x1aef, .class = 0x040300,
          .boot_vga = -1, .iommu_group = GROUP, .driver = "vfio-pci", .override = "vfio-pci",
          .native = "snd_hda_intel" },
};

static const FakePciFunction on_host[] = {
        { .address = "0000:00:01.0", .vendor = 0x8086, .device = 0xa70d, .class = 0x060400, .boot_vga = -1,
          .iommu_group = 1, .driver = "pcieport" },
        { .address = "0000:00:02.0", .vendor = 0x8086, .device = 0xa780, .class = 0x030000, .boot_vga = 1,
          .iommu_group = 0, .driver = "i915" },
        { .address = GPU, .parent = "0000:00:01.0", .vendor = 0x10de, .device = 0x2203, .class = 0x030000,
          .boot_vga = 0, .iommu_group = GROUP, .driver = "nvidia" },
        { .address = AUDIO, .parent = "0000:00:01.0", .vendor = 0x10de, .device = 0x1aef, .class = 0x040300,
          .boot_vga = -1, .iommu_group = GROUP, .driver = "snd_hda_intel" },
};
static const char *const vfio_driver[] = { "vfio-pci", NULL };

/* libvirt takes one event implementation per process: one loop for all tests. */
static sd_event *loop;

typedef struct Fixture {
        char dir[64];
        char config[128];
        FakeKernel *k;
        sd_event *event;
        Daemon *d;
} Fixture;

static int setup(void **state) {
        Fixture *fx = calloc(1, sizeof(Fixture));
        assert_non_null(fx);
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/vfiod-test-daemon.XXXXXX");
        assert_non_null(mkdtemp(fx->dir));
        char run[128], mp[128], lv[128];
        snprintf(run, sizeof(run), "%s/run", fx->dir);
        snprintf(mp, sizeof(mp), "%s/modprobe.d", fx->dir);
        snprintf(lv, sizeof(lv), "%s/libvirt-qemu", fx->dir);
        assert_int_equal(mkdir(run, 0755), 0);
        assert_int_equal(mkdir(lv, 0755), 0);
        setenv("VFIOD_RUNTIME_DIR", run, 1);
        setenv("VFIOD_MODPROBE_DIR", mp, 1);
        setenv("VFIOD_LIBVIRT_RUN_DIR", lv, 1);
        snprintf(fx->config, sizeof(fx->config), "%s/vfiod.conf", fx->dir);
        fx->k = fake_kernel_new(&(FakeScenario) { .functions = lent, .n_functions = ELEMENTSOF(lent) });
        fx->event = sd_event_ref(loop);
        *state = fx;
        return 0;
}

static int teardown(void **state) {
        Fixture *fx = *state;
        daemon_free(fx->d);
        sd_event_unref(fx->event);
        fake_kernel_free(fx->k);
        assert_int_equal(rm_rf(fx->dir), 0);
        free(fx);
        return 0;
}

static void write_config(Fixture *fx, const char *text) {
        write_file(fx->config, text);
}

/* Runs the loop until cond() holds or the deadline passes: the test waits
 * for what the daemon does, never for a fixed time. */
static bool run_until(Fixture *fx, bool (*cond)(Fixture *), unsigned timeout_ms) {
        usec_t deadline = now_usec() + (usec_t) timeout_ms * USEC_PER_MSEC;
        while (!cond(fx)) {
                usec_t n = now_usec();
                if (n >= deadline)
                        return false;
                assert_true(sd_event_run(fx->event, deadline - n) >= 0);
        }
        return true;
}

/* Runs the loop for a while: for what must NOT happen in that time. */
static void run_for(Fixture *fx, unsigned ms) {
        usec_t until = now_usec() + (usec_t) ms * USEC_PER_MSEC;
        while (now_usec() < until)
                assert_true(sd_event_run(fx->event, until - now_usec()) >= 0);
}

static bool driver_is(Fixture *fx, const char *address, const char *want) {
        char *d = fake_kernel_driver(fx->k, address);
        bool r = d && streq(d, want);
        free(d);
        return r;
}

static bool gpu_on_host(Fixture *fx) {
        return daemon_recoveries(fx->d) > 0 && daemon_owner(fx->d) == OWNER_HOST;
}

static bool vfio_owned(Fixture *fx) {
        return daemon_owner(fx->d) == OWNER_VFIO;
}

static void stop_domain(const char *name, bool graceful) {
        virConnectPtr c = virConnectOpen("test:///default");
        assert_non_null(c);
        virDomainPtr dom = virDomainLookupByName(c, name);
        assert_non_null(dom);
        assert_int_equal(graceful ? virDomainShutdown(dom) : virDomainDestroy(dom), 0);
        virDomainFree(dom);
        virConnectClose(c);
}

/* The VM runs with the GPU; it stops; vfiod gives the GPU back by itself. */
static void domain_stop_gives_back(Fixture *fx, bool graceful) {
        write_config(fx, "[VM]\nDomain=test\nURI=test:///default\n[Handoff]\nOrphanGraceSec=1min\n");
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        assert_int_equal(daemon_owner(fx->d), OWNER_VFIO);
        assert_non_null(strstr(daemon_status(fx->d), "lent to test"));

        /* A second connection to the same in-process test driver: its events
         * reach vfiod's connection through the sd-event loop. */
        stop_domain("test", graceful);
        assert_true(run_until(fx, gpu_on_host, 10000));
        assert_true(driver_is(fx, GPU, "nvidia"));
        assert_true(driver_is(fx, AUDIO, "snd_hda_intel"));
        assert_non_null(strstr(daemon_status(fx->d), "on the host (nvidia)"));
        assert_int_equal(daemon_recoveries(fx->d), 1);
}

static void test_domain_stop_gives_back(void **state) {
        domain_stop_gives_back(*state, false);
}

/* The same when the guest shuts down (ACPI), not destroyed. */
static void test_domain_shutdown_gives_back(void **state) {
        domain_stop_gives_back(*state, true);
}

/* On vfio-pci with no domain: given back after OrphanGraceSec, not before,
 * and never while a process holds /dev/vfio/N. */
static void test_orphan_grace_and_holder(void **state) {
        Fixture *fx = *state;
        write_config(fx, "[VM]\nDomain=nosuchvm\nURI=test:///default\n[Handoff]\nOrphanGraceSec=500ms\n");

        /* A process (think: a QEMU outside libvirt) holds the group node. */
        char node[64];
        snprintf(node, sizeof(node), "/dev/vfio/%d", GROUP);
        int ready[2], release[2];
        assert_int_equal(pipe(ready), 0);
        assert_int_equal(pipe(release), 0);
        pid_t holder = fork();
        assert_true(holder >= 0);
        if (holder == 0) {
                close(ready[0]);
                close(release[1]);
                int fd = open(node, O_RDONLY | O_CLOEXEC);
                char c = fd >= 0 ? 'y' : 'n';
                if (write(ready[1], &c, 1) != 1)
                        _exit(2);
                while (read(release[0], &c, 1) < 0 && errno == EINTR)
                        ;
                _exit(0);
        }
        close(ready[1]);
        close(release[0]);
        struct pollfd p = { .fd = ready[0], .events = POLLIN };
        assert_int_equal(poll(&p, 1, 5000), 1);
        char c = 0;
        assert_int_equal(read(ready[0], &c, 1), 1);
        assert_int_equal(c, 'y');

        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        assert_non_null(strstr(daemon_status(fx->d), "in use by"));

        /* Let the holder go: its exit (a pidfd) wakes vfiod, the grace runs,
         * and only then the GPU comes back. */
        usec_t released = now_usec();
        close(release[1]);
        assert_true(run_until(fx, gpu_on_host, 10000));
        assert_true(now_usec() - released >= 500 * USEC_PER_MSEC);
        assert_true(driver_is(fx, GPU, "nvidia"));
        assert_true(driver_is(fx, AUDIO, "snd_hda_intel"));
        assert_int_equal(waitpid(holder, NULL, 0), holder);
        close(ready[0]);
}

/* A running domain keeps the GPU: vfiod never takes it from a VM. */
static void test_running_domain_keeps_gpu(void **state) {
        Fixture *fx = *state;
        write_config(fx, "[VM]\nDomain=test\nURI=test:///default\n[Handoff]\nOrphanGraceSec=100ms\n");
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        assert_true(run_until(fx, vfio_owned, 1000));
        /* Several grace periods pass: still the VM's. */
        run_for(fx, 400);
        assert_true(driver_is(fx, GPU, "vfio-pci"));
        assert_true(driver_is(fx, AUDIO, "vfio-pci"));
        assert_int_equal(daemon_recoveries(fx->d), 0);
}

/* On vfio-pci by someone else's doing (vfio-pci.ids at boot, a bind by
 * hand: no driver_override, no record of vfiod's): no domain runs, and
 * vfiod leaves it there through several grace periods; ToHost, a user's
 * request, still gives it back. */
static void test_bound_by_hand_left_alone(void **state) {
        Fixture *fx = *state;
        FakePciFunction by_hand[ELEMENTSOF(lent)];
        memcpy(by_hand, lent, sizeof(lent));
        for (size_t i = 0; i < ELEMENTSOF(by_hand); i++)
                by_hand[i].override = NULL;
        fake_kernel_free(fx->k);
        fx->k = fake_kernel_new(&(FakeScenario) { .functions = by_hand, .n_functions = ELEMENTSOF(by_hand) });
        write_config(fx, "[VM]\nDomain=nosuchvm\nURI=test:///default\n[Handoff]\nOrphanGraceSec=100ms\n");
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        run_for(fx, 400);
        assert_true(driver_is(fx, GPU, "vfio-pci"));
        assert_true(driver_is(fx, AUDIO, "vfio-pci"));
        assert_int_equal(daemon_owner(fx->d), OWNER_VFIO);
        assert_non_null(strstr(daemon_status(fx->d), "not by vfiod"));
        assert_int_equal(daemon_recoveries(fx->d), 0);
        assert_int_equal(fake_kernel_writes(fx->k), 0);
}

typedef struct Reply {
        bool done;
        RequestResult result;
} Reply;

static void on_reply(Daemon *d _unused_, RequestResult result, const char *message _unused_, void *userdata) {
        Reply *r = userdata;
        r->done = true;
        r->result = result;
}

static Reply *pending_reply;
static bool replied(Fixture *fx _unused_) {
        return pending_reply->done;
}

static RequestResult request(Fixture *fx, RequestKind kind) {
        Reply r = {};
        pending_reply = &r;
        assert_int_equal(daemon_request(fx->d, kind, false, 0, on_reply, &r), 0);
        assert_true(run_until(fx, replied, 10000));
        return r.result;
}

static bool on_host_drivers(Fixture *fx) {
        return driver_is(fx, GPU, "nvidia") && driver_is(fx, AUDIO, "snd_hda_intel");
}

/* libvirt's prepare hook (Vm.Prepare) while the domain is starting: QEMU has
 * not opened /dev/vfio/N yet, and the orphan grace must not take the GPU
 * back meanwhile. The release hook (ToHost) ends that. A plain ToVfio gets
 * the grace. */
static void test_prepare_holds_while_starting(void **state) {
        Fixture *fx = *state;
        write_config(fx, "[VM]\nDomain=nosuchvm\nURI=test:///default\n[Handoff]\nOrphanGraceSec=100ms\n");
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        assert_int_equal(request(fx, REQUEST_VM_PREPARE), REQUEST_OK);
        run_for(fx, 600);  /* six grace periods */
        assert_non_null(strstr(daemon_status(fx->d), "nosuchvm starting"));
        assert_true(driver_is(fx, GPU, "vfio-pci"));
        assert_true(driver_is(fx, AUDIO, "vfio-pci"));
        assert_int_equal(daemon_recoveries(fx->d), 0);

        assert_int_equal(request(fx, REQUEST_TO_HOST), REQUEST_OK);
        assert_true(on_host_drivers(fx));

        /* Not a start: the orphan grace gives it back by itself. */
        assert_int_equal(request(fx, REQUEST_TO_VFIO), REQUEST_OK);
        assert_true(driver_is(fx, GPU, "vfio-pci"));
        assert_true(run_until(fx, gpu_on_host, 5000));  /* a recovery, and the host owns it */
        assert_true(on_host_drivers(fx));
}

static void test_prepare_without_vm(void **state) {
        Fixture *fx = *state;
        write_config(fx, "[Handoff]\nOrphanGraceSec=1min\n");
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        assert_int_equal(request(fx, REQUEST_VM_PREPARE), REQUEST_NO_VM);
        assert_true(driver_is(fx, GPU, "vfio-pci"));
}

static bool following(Fixture *fx) {
        return domain_watch_following(daemon_domain(fx->d));
}

static bool not_following(Fixture *fx) {
        return !following(fx) && daemon_owner(fx->d) == OWNER_HOST;
}

static void status_record(Fixture *fx, bool exists) {
        char p[256];
        snprintf(p, sizeof(p), "%s/libvirt-qemu/win11.xml", fx->dir);
        if (exists)
                write_file(p, "<domstatus state='running' pid='4242'/>\n");
        else
                assert_int_equal(unlink(p), 0);
}

/* qemu:///system: libvirt is connected only while vfiod needs its events
 * (the GPU away from the host, the domain starting or running); otherwise
 * libvirt's status record in /run/libvirt/qemu says whether QEMU exists.
 * Here no libvirtd listens on the URI's socket, as when it is away: the
 * record alone decides, and a GPU on vfio-pci with no record and no holder
 * comes back after the grace. */
static void test_qemu_system_followed_on_demand(void **state) {
        Fixture *fx = *state;
        char conf[512];
        snprintf(conf, sizeof(conf),
                 "[VM]\nDomain=win11\nURI=qemu+unix:///system?socket=%s/no-libvirtd.sock\n"
                 "[Handoff]\nOrphanGraceSec=100ms\n", fx->dir);
        write_config(fx, conf);
        /* libvirtd has not run yet: no /run/libvirt/qemu (made below). */
        char lv[256];
        snprintf(lv, sizeof(lv), "%s/libvirt-qemu", fx->dir);
        assert_int_equal(rmdir(lv), 0);
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        /* On vfio-pci at start-up: followed (libvirtd unreachable, retried). */
        assert_true(following(fx));
        assert_true(run_until(fx, gpu_on_host, 5000));
        assert_true(on_host_drivers(fx));
        assert_true(run_until(fx, not_following, 1000));
        assert_int_equal(domain_watch_state(daemon_domain(fx->d)), DOMAIN_INACTIVE);

        /* libvirtd makes its directory, the domain starts (its record
         * appears): followed while it runs, and the GPU cannot be forced back
         * to the host meanwhile. */
        assert_int_equal(mkdir(lv, 0755), 0);
        status_record(fx, true);
        assert_true(run_until(fx, following, 5000));
        assert_int_equal(domain_watch_state(daemon_domain(fx->d)), DOMAIN_ACTIVE);
        assert_int_equal(request(fx, REQUEST_FORCE_HOST), REQUEST_VM_RUNNING);
        status_record(fx, false);
        assert_true(run_until(fx, not_following, 5000));

        /* Vm.Start with libvirtd away: refused before the GPU moves. */
        assert_int_equal(request(fx, REQUEST_VM_START), REQUEST_LIBVIRT);
        assert_true(on_host_drivers(fx));
        assert_true(run_until(fx, not_following, 1000));

        /* A request for the GPU: followed from the request on, until the
         * GPU is back. */
        assert_int_equal(request(fx, REQUEST_TO_VFIO), REQUEST_OK);
        assert_true(following(fx));
        assert_true(driver_is(fx, GPU, "vfio-pci"));
        assert_true(run_until(fx, gpu_on_host, 5000));
        assert_true(run_until(fx, not_following, 1000));
        assert_int_equal(daemon_recoveries(fx->d), 2);
}

/* A reload that drops [VM] while Vm.Stop runs: the request ends, saying
 * why, and vfiod goes on with no domain (it used to crash on it). */
static void test_reload_drops_vm_during_stop(void **state) {
        Fixture *fx = *state;
        Reply r = {};
        write_config(fx, "[VM]\nDomain=test\nURI=test:///default\n[Handoff]\nOrphanGraceSec=1min\n");
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        assert_int_equal(daemon_owner(fx->d), OWNER_VFIO);

        pending_reply = &r;
        assert_int_equal(daemon_request(fx->d, REQUEST_VM_STOP, false, 0, on_reply, &r), 0);
        write_config(fx, "[Handoff]\nOrphanGraceSec=100ms\n");
        assert_int_equal(daemon_reload(fx->d, NULL), 0);
        assert_true(run_until(fx, replied, 10000));
        assert_int_equal(r.result, REQUEST_NO_VM);
        assert_null(daemon_domain(fx->d));
        /* No VM now: the GPU on vfio-pci is an orphan, and comes back. */
        assert_true(run_until(fx, gpu_on_host, 10000));
        assert_true(on_host_drivers(fx));
}

static bool stuck(Fixture *fx) {
        return daemon_owner(fx->d) == OWNER_STUCK;
}

/* The give-back's unbind from vfio-pci never returns: vfiod reports the GPU
 * stuck (the writer's pid, what to do), starts nothing else on it and keeps
 * serving; when the write returns, it finishes the give-back by itself. */
static void test_stuck_unbind(void **state) {
        Fixture *fx = *state;
        fake_kernel_free(fx->k);
        fx->k = fake_kernel_new(&(FakeScenario) { .functions = lent, .n_functions = ELEMENTSOF(lent),
                                                  .hung_unbind_driver = "vfio-pci" });
        write_config(fx, "[VM]\nDomain=test\nURI=test:///default\n"
                         "[Handoff]\nOrphanGraceSec=1min\nUnbindTimeoutSec=1s\n");
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        assert_int_equal(daemon_owner(fx->d), OWNER_VFIO);

        stop_domain("test", false);
        usec_t t0 = now_usec();
        assert_true(run_until(fx, stuck, 10000));
        assert_true(now_usec() - t0 >= USEC_PER_SEC);  /* the deadline passed first */
        const char *st = daemon_status(fx->d);
        assert_non_null(strstr(st, "stuck"));
        assert_non_null(strstr(st, "/sys/bus/pci/drivers/vfio-pci/unbind"));
        assert_non_null(strstr(st, "by pid "));
        assert_non_null(strstr(st, "end process"));  /* state S here; D would say reboot */

        /* Nothing more is written to the device while the write hangs, and
         * the loop keeps serving: uevents from elsewhere, a config reload. */
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        unsigned writes = fake_kernel_writes(fx->k);
        fake_kernel_uevent(fx->k, "/sys/devices/pci0000:00/0000:00:02.0", "change");
        assert_int_equal(kill(getpid(), SIGHUP), 0);
        run_for(fx, 300);
        assert_true(stuck(fx));
        assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
        assert_int_equal(fake_kernel_writes(fx->k), writes);
        assert_true(driver_is(fx, GPU, "vfio-pci"));

        /* The write returns: the writer's exit wakes vfiod, which finishes the give-back. */
        assert_int_equal(fake_kernel_release_hung(fx->k, 5000), 1);
        assert_true(run_until(fx, gpu_on_host, 10000));
        assert_true(driver_is(fx, GPU, "nvidia"));
        assert_true(driver_is(fx, AUDIO, "snd_hda_intel"));
}

/* ---- the real vfiod binary, killed mid-handoff ---- */

/* build/tests/test-daemon -> build/NAME */
static void built_path(const char *name, char *buf, size_t size) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        assert_true(n > 0);
        self[n] = 0;
        for (int i = 0; i < 2; i++) {
                char *slash = strrchr(self, '/');
                assert_non_null(slash);
                *slash = 0;
        }
        assert_true(strlen(self) + 1 + strlen(name) < size);
        strcpy(buf, self);
        strcat(buf, "/");
        strcat(buf, name);
        assert_int_equal(access(buf, X_OK), 0);
}

/* vfiod, or vfioctl COMMAND, in a process group of its own, so that it can
 * be killed with its handoff worker and sysfs writer, as systemd kills a
 * unit's cgroup. */
static pid_t spawn(Fixture *fx, const char *name, const char *command) {
        char path[PATH_MAX];
        built_path(name, path, sizeof(path));
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                setpgid(0, 0);
                sigset_t ss;
                sigemptyset(&ss);
                sigprocmask(SIG_SETMASK, &ss, NULL);
                setenv("VFIOD_LOG_TARGET", "console", 1);
                /* No system bus here: vfiod runs without its API, vfioctl uses the engine itself. */
                setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/vfiod-test-bus", 1);
                if (command)
                        execl(path, path, "--direct", command, "--config", fx->config, (char *) NULL);
                else
                        execl(path, path, "--config", fx->config, (char *) NULL);
                _exit(127);
        }
        setpgid(pid, pid);  /* either side may run first */
        return pid;
}

static void kill_group(pid_t pid) {
        (void) kill(-pid, SIGKILL);  /* vfioctl may have ended: ESRCH */
        assert_int_equal(waitpid(pid, NULL, 0), pid);
}

typedef struct Want {
        const char *gpu, *audio;
        int vfio_node;  /* 1: /dev/vfio/N must be there, 0: must not */
} Want;

static bool drivers_are(FakeKernel *k, void *userdata) {
        const Want *w = userdata;
        char *g = fake_kernel_driver(k, GPU), *a = fake_kernel_driver(k, AUDIO);
        bool ok = streq_ptr(g, w->gpu) && streq_ptr(a, w->audio) && fake_kernel_vfio_node(k, GROUP) == w->vfio_node;
        free(g);
        free(a);
        return ok;
}

/* One handoff, killed (the process, its handoff worker and its writer)
 * after the kernel got write number `step` of it but before it acted on it;
 * a new vfiod must finish or undo it. to-vfio: vfioctl to-vfio is killed,
 * and the domain runs, so vfiod finishes the move to the VM; to-host: vfiod
 * itself, giving back an orphaned GPU, is killed and started again. step 0:
 * nothing killed; returns how many writes the whole handoff made. */
static unsigned handoff_killed_at(bool to_vfio, unsigned step) {
        Fixture *fx = NULL;
        assert_int_equal(setup((void **) &fx), 0);
        fake_kernel_free(fx->k);
        if (to_vfio) {
                /* test:///default's domain "test" runs in every new vfiod. */
                fx->k = fake_kernel_new(&(FakeScenario) { .functions = on_host, .n_functions = ELEMENTSOF(on_host),
                                                          .extra_drivers = vfio_driver });
                write_config(fx, "[VM]\nDomain=test\nURI=test:///default\n");
        } else {
                /* No VM configured: on vfio-pci with nobody on it, back to the host at once. */
                fx->k = fake_kernel_new(&(FakeScenario) { .functions = lent, .n_functions = ELEMENTSOF(lent) });
                write_config(fx, "[Handoff]\nOrphanGraceSec=1ms\n");
        }
        Want want = to_vfio ? (Want) { "vfio-pci", "vfio-pci", 1 } : (Want) { "nvidia", "snd_hda_intel", 0 };
        const char *what = to_vfio ? "vfioctl to-vfio" : "vfiod giving back";

        if (step > 0)
                fake_kernel_break_at(fx->k, step);
        pid_t pid = to_vfio ? spawn(fx, "vfioctl", "to-vfio") : spawn(fx, "vfiod", NULL);
        if (step > 0) {
                if (fake_kernel_wait_break(fx->k, 20000) < 0) {
                        kill_group(pid);  /* a failed test leaves nothing running */
                        fail_msg("%s never made write %u", what, step);
                }
                kill_group(pid);
                fake_kernel_resume(fx->k);
                assert_int_equal(fake_kernel_sync(fx->k, 5000), 0);
                pid = spawn(fx, "vfiod", NULL);
        }
        if (fake_kernel_wait(fx->k, drivers_are, &want, 20000) < 0) {
                char *g = fake_kernel_driver(fx->k, GPU), *a = fake_kernel_driver(fx->k, AUDIO);
                kill_group(pid);
                fail_msg("%s killed after write %u: GPU on %s, audio on %s, not %s/%s", what, step,
                         strna(g), strna(a), want.gpu, want.audio);
        }
        unsigned writes = fake_kernel_writes(fx->k);
        kill_group(pid);
        assert_int_equal(teardown((void **) &fx), 0);
        return writes;
}

/* A handoff killed at every step, both ways: the next vfiod finishes the
 * move, and no function is left without a driver. */
static void test_killed_mid_handoff(void **state _unused_) {
        for (int dir = 0; dir < 2; dir++) {
                bool to_vfio = dir == 0;
                unsigned n = handoff_killed_at(to_vfio, 0);
                assert_true(n >= 6);  /* override, unbind, probe: for each of two functions */
                for (unsigned step = 1; step <= n; step++)
                        handoff_killed_at(to_vfio, step);
                print_message("%s: killed after each of its %u writes, finished by the next vfiod\n",
                              to_vfio ? "vfioctl to-vfio" : "vfiod's give-back", n);
        }
}

/* Ctrl-C (SIGINT) and SIGTERM reach vfioctl --direct between the audio
 * function's unbind and its probe: the handoff is one transaction, so it
 * is finished first, and vfioctl exits with its outcome (it used to die
 * there, leaving the GPU half moved). */
static void test_direct_finishes_when_interrupted(void **state) {
        Fixture *fx = *state;
        fake_kernel_free(fx->k);
        fx->k = fake_kernel_new(&(FakeScenario) { .functions = on_host, .n_functions = ELEMENTSOF(on_host),
                                                  .extra_drivers = vfio_driver });
        write_config(fx, "[Handoff]\nOrphanGraceSec=1min\n");
        fake_kernel_break_at(fx->k, 3);  /* override, unbind, then the probe: held here */
        pid_t pid = spawn(fx, "vfioctl", "to-vfio");
        if (fake_kernel_wait_break(fx->k, 20000) < 0) {
                kill_group(pid);
                fail_msg("vfioctl to-vfio never made its third write");
        }
        assert_int_equal(kill(pid, SIGINT), 0);
        assert_int_equal(kill(pid, SIGTERM), 0);
        fake_kernel_resume(fx->k);
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st))
                fail_msg("vfioctl died of signal %d mid-handoff", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_true(driver_is(fx, GPU, "vfio-pci"));
        assert_true(driver_is(fx, AUDIO, "vfio-pci"));
}

/* The config directory is watched: an invalid file is reported and the
 * config in use kept; a valid one takes effect at once. */
static void test_config_reload(void **state) {
        Fixture *fx = *state;
        write_config(fx, "[Handoff]\nOrphanGraceSec=1h\n");
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), 0);
        assert_non_null(strstr(daemon_status(fx->d), "back to the host in 3600s"));

        /* Broken: nothing changes, vfiod goes on with the old one. */
        write_config(fx, "[Handoff]\nOrphanGraceSec=soon\n");
        run_for(fx, 300);
        assert_non_null(strstr(daemon_status(fx->d), "back to the host in 3600s"));
        assert_true(driver_is(fx, GPU, "vfio-pci"));

        /* A drop-in that names another GPU is refused too (that needs a restart). */
        char dir[160], dropin[200];
        snprintf(dir, sizeof(dir), "%s.d", fx->config);
        snprintf(dropin, sizeof(dropin), "%s/gpu.conf", dir);
        assert_int_equal(mkdir(dir, 0755), 0);
        write_file(dropin, "[GPU]\nAddress=0000:02:00.0\n");
        write_config(fx, "[Handoff]\nOrphanGraceSec=100ms\n");
        run_for(fx, 300);
        assert_true(driver_is(fx, GPU, "vfio-pci"));
        assert_int_equal(daemon_recoveries(fx->d), 0);

        /* Valid: the short grace applies, and the orphaned GPU comes back. */
        assert_int_equal(unlink(dropin), 0);
        write_config(fx, "[Handoff]\nOrphanGraceSec=100ms\n");
        assert_true(run_until(fx, gpu_on_host, 10000));
        assert_true(driver_is(fx, GPU, "nvidia"));
        assert_true(driver_is(fx, AUDIO, "snd_hda_intel"));
}

/* The real binary tells its service manager: READY=1 once it manages the
 * GPU, STATUS= with who owns it, WATCHDOG=1 while the unit asks for it,
 * STOPPING=1 on SIGTERM. */
static void test_sd_notify(void **state) {
        Fixture *fx = *state;
        char sock_path[128];
        snprintf(sock_path, sizeof(sock_path), "%s/notify", fx->dir);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, sock_path);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        write_config(fx, "[Handoff]\nOrphanGraceSec=1h\n");
        setenv("NOTIFY_SOCKET", sock_path, 1);
        setenv("WATCHDOG_USEC", "200000", 1);
        pid_t pid = spawn(fx, "vfiod", NULL);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");

        bool ready = false, status = false, stopping = false;
        unsigned watchdogs = 0;
        usec_t deadline = now_usec() + 20 * USEC_PER_SEC;
        while (!stopping && now_usec() < deadline) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int k = poll(&p, 1, (int) ((deadline - now_usec()) / USEC_PER_MSEC) + 1);
                assert_true(k >= 0);
                if (k == 0)
                        break;
                char buf[1024];
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
                assert_true(n > 0);
                buf[n] = 0;
                ready |= strstr(buf, "READY=1") != NULL;
                status |= strstr(buf, "STATUS=" GPU " on vfio-pci with no VM running") != NULL;
                watchdogs += strstr(buf, "WATCHDOG=1") != NULL;
                /* Several keep-alives (every half period): then ask it to stop. */
                if (watchdogs == 3)
                        assert_int_equal(kill(pid, SIGTERM), 0);
                stopping |= strstr(buf, "STOPPING=1") != NULL;
        }
        if (!stopping)
                (void) kill(-pid, SIGKILL);  /* it did not get that far: leave nothing running */
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        close(fd);
        assert_true(ready);
        assert_true(status);
        assert_true(watchdogs >= 3);
        assert_true(stopping);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_true(driver_is(fx, GPU, "vfio-pci"));  /* stopping leaves the GPU where it is */
}

/* An invalid configuration is refused with one line and nothing starts. */
static void test_bad_config(void **state) {
        Fixture *fx = *state;
        write_config(fx, "[VM]\nDomain=test\nBogus=1\n");
        assert_int_equal(daemon_new(fx->event, fx->config, &fx->d), -EINVAL);
        assert_null(fx->d);
        assert_true(driver_is(fx, GPU, "vfio-pci"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(int argc, char **argv) {
        if (fake_kernel_require_preload(argc, argv) < 0)
                return 1;
        log_set_max_level(getenv("VFIOD_TEST_DEBUG") ? LOG_DEBUG : LOG_NOTICE);
        if (argc > 1)
                cmocka_set_test_filter(argv[1]);  /* e.g. test_vanish */

        daemon_block_signals();

        assert_int_equal(sd_event_new(&loop), 0);
        const struct CMUnitTest tests[] = {
                T(test_domain_stop_gives_back),
                T(test_domain_shutdown_gives_back),
                T(test_orphan_grace_and_holder),
                T(test_bound_by_hand_left_alone),
                T(test_running_domain_keeps_gpu),
                T(test_prepare_holds_while_starting),
                T(test_prepare_without_vm),
                T(test_qemu_system_followed_on_demand),
                T(test_reload_drops_vm_during_stop),
                T(test_stuck_unbind),
                cmocka_unit_test(test_killed_mid_handoff),
                T(test_direct_finishes_when_interrupted),
                T(test_config_reload),
                T(test_sd_notify),
                T(test_bad_config),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        sd_event_unref(loop);
        return r;
}
