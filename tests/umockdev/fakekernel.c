/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fakekernel.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "test-util.h"

#define VFIO "vfio-pci"
#define MAX_FUNCTIONS 32
#define MAX_DRIVERS 32

#define die(...)                                                       \
        do {                                                           \
                fprintf(stderr, "fakekernel: " __VA_ARGS__);           \
                fputc('\n', stderr);                                   \
                abort();                                               \
        } while (0)

typedef struct FakeFn {
        char *address;
        char *syspath;    /* "/sys/devices/pci0000:00/..." as the testbed knows it */
        char *dir;        /* the real directory under the testbed's root */
        char *driver;     /* NULL: none */
        char *override;   /* NULL: none */
        char *override_file; /* exactly what driver_override holds now */
        char *native;
        int group;
        bool exists;
        int wd;
} FakeFn;

typedef struct FakeDriver {
        char *name;
        bool hung;        /* unbind is a FIFO; changed only with `busy` held */
        bool released;    /* its read end was opened (the test's thread only) */
        int wd;
} FakeDriver;

struct FakeKernel {
        UMockdevTestbed *tb;
        char *root;
        FakeFn fns[MAX_FUNCTIONS];
        size_t n_fns;
        FakeDriver drivers[MAX_DRIVERS];
        size_t n_drivers;
        char *vfio_ebusy, *vanish;

        int inotify_fd, stop_pipe[2];
        int wd_bus, wd_sync;
        pthread_t thread;
        bool running;

        pthread_mutex_t lock;  /* the counters below */
        pthread_cond_t cond;
        unsigned writes;
        unsigned sync_requested, sync_done;
        unsigned break_at;     /* pause before handling this write; 0: never */
        bool paused, resumed;
        unsigned changes;      /* writes handled: wakes fake_kernel_wait() */
};

/* Held by the kernel thread whenever it is not asleep in poll(), and by
 * fork() in the test (pthread_atfork): umockdev's preload takes a process-wide
 * lock in the wrapped libc calls, and a fork while this thread held it would
 * leave the child (a sysfs writer, a holder) deadlocked. */
static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void) {
        pthread_mutex_lock(&busy);
}
static void atfork_parent(void) {
        pthread_mutex_unlock(&busy);
}
static void atfork_child(void) {
        pthread_mutex_init(&busy, NULL);
}
static void atfork_register(void) {
        if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0)
                die("pthread_atfork failed");
}

/* ---- small file helpers on real paths (the testbed's root; the others: test-util.h) ---- */

/* Replaced, not rewritten in place: no IN_CLOSE_WRITE on the name itself. */
static void replace_file(const char *dir, const char *name, const char *content) {
        char *tmp = g_strdup_printf("%s/.%s.fakekernel", dir, name);
        char *dst = path_join(dir, name);
        write_file(tmp, content);
        if (rename(tmp, dst) < 0)
                die("cannot rename %s: %m", tmp);
        g_free(tmp);
        g_free(dst);
}

/* "../../.." up from a path below /sys to /sys itself. */
static char *dotdots_to_sys(const char *syspath) {
        GString *s = g_string_new(NULL);
        for (const char *p = syspath + strlen("/sys"); *p; p++)
                if (*p == '/')
                        g_string_append(s, s->len ? "/.." : "..");
        return g_string_free(s, FALSE);
}

/* ---- lookup ---- */

static FakeFn *fn_find(FakeKernel *k, const char *address) {
        for (size_t i = 0; i < k->n_fns; i++)
                if (g_str_equal(k->fns[i].address, address))
                        return &k->fns[i];
        return NULL;
}

static FakeDriver *driver_find(FakeKernel *k, const char *name) {
        for (size_t i = 0; i < k->n_drivers; i++)
                if (g_str_equal(k->drivers[i].name, name))
                        return &k->drivers[i];
        return NULL;
}

static void driver_add(FakeKernel *k, const char *name) {
        if (!name || driver_find(k, name))
                return;
        if (k->n_drivers >= MAX_DRIVERS)
                die("too many drivers");
        k->drivers[k->n_drivers++] = (FakeDriver) { .name = g_strdup(name), .wd = -1 };
}

static char *driver_dir(FakeKernel *k, const char *name) {
        return g_strdup_printf("%s/sys/bus/pci/drivers/%s", k->root, name);
}

/* ---- the uevent file's DRIVER= ---- */

static void uevent_set_driver(FakeFn *f, const char *driver) {
        char *path = path_join(f->dir, "uevent");
        char *old = read_file(path);
        GString *s = g_string_new(NULL);
        char **lines = g_strsplit(old ?: "", "\n", -1);
        for (char **l = lines; *l; l++)
                if (**l && !g_str_has_prefix(*l, "DRIVER="))
                        g_string_append_printf(s, "%s\n", *l);
        if (driver)
                g_string_append_printf(s, "DRIVER=%s\n", driver);
        replace_file(f->dir, "uevent", s->str);
        g_strfreev(lines);
        g_string_free(s, TRUE);
        g_free(old);
        g_free(path);
}

/* ---- /dev/vfio/N ---- */

static char *vfio_node_path(FakeKernel *k, int group) {
        return g_strdup_printf("%s/dev/vfio/%d", k->root, group);
}

static void vfio_node_update(FakeKernel *k, int group) {
        if (group < 0)
                return;
        bool any = false;
        for (size_t i = 0; i < k->n_fns; i++)
                if (k->fns[i].exists && k->fns[i].group == group && g_strcmp0(k->fns[i].driver, VFIO) == 0)
                        any = true;
        char *p = vfio_node_path(k, group);
        if (any)
                write_file(p, "");
        else
                (void) unlink(p);
        g_free(p);
}

/* ---- the driver core ---- */

static void link_driver(FakeKernel *k, FakeFn *f, const char *driver) {
        char *dots = dotdots_to_sys(f->syspath);
        char *target = g_strdup_printf("%s/bus/pci/drivers/%s", dots, driver);
        char *link = path_join(f->dir, "driver");
        if (symlink(target, link) < 0)
                die("cannot link %s: %m", link);
        /* and the driver's link back to the device, as in real sysfs */
        char *ddir = driver_dir(k, driver);
        char *back = path_join(ddir, f->address);
        char *back_target = g_strdup_printf("../../../..%s", f->syspath + strlen("/sys"));
        (void) symlink(back_target, back);
        g_free(back_target);
        g_free(back);
        g_free(ddir);
        g_free(link);
        g_free(target);
        g_free(dots);
}

static void unlink_driver(FakeKernel *k, FakeFn *f) {
        char *link = path_join(f->dir, "driver");
        (void) unlink(link);
        char *ddir = driver_dir(k, f->driver);
        char *back = path_join(ddir, f->address);
        (void) unlink(back);
        g_free(back);
        g_free(ddir);
        g_free(link);
}

/* A listener killed with SIGKILL (the tests kill vfiod) leaves its event
 * socket in the testbed, and the sender of umockdev 0.17 aborts on one that
 * refuses (later versions skip it): before each uevent, forget the sockets
 * that nobody listens on any more, as the kernel forgets a closed one. */
static void forget_dead_listeners(FakeKernel *k) {
        char *pattern = g_strdup_printf("%s/event[0-9]*", k->root);
        glob_t gl;
        if (glob(pattern, GLOB_NOSORT, NULL, &gl) == 0) {
                for (size_t i = 0; i < gl.gl_pathc; i++) {
                        struct sockaddr_un sa = { .sun_family = AF_UNIX };
                        g_strlcpy(sa.sun_path, gl.gl_pathv[i], sizeof(sa.sun_path));
                        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                        if (fd < 0)
                                die("socket: %m");
                        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno == ECONNREFUSED)
                                (void) unlink(gl.gl_pathv[i]);
                        close(fd);
                }
                globfree(&gl);
        }
        g_free(pattern);
}

void fake_kernel_uevent(FakeKernel *k, const char *syspath, const char *action) {
        forget_dead_listeners(k);
        umockdev_testbed_uevent(k->tb, syspath, action);
}

static void do_bind(FakeKernel *k, FakeFn *f, const char *driver) {
        if (!f->exists || f->driver || !driver_find(k, driver))
                return;  /* -ENODEV, -EBUSY */
        if (g_str_equal(driver, VFIO) && k->vfio_ebusy && g_str_equal(k->vfio_ebusy, f->address)) {
                /* vfio-pci's probe fails: the device stays without a driver, no uevent */
                return;
        }
        link_driver(k, f, driver);
        f->driver = g_strdup(driver);
        uevent_set_driver(f, driver);
        if (g_str_equal(driver, VFIO))
                vfio_node_update(k, f->group);
        fake_kernel_uevent(k, f->syspath, "bind");
}

static void do_unbind(FakeKernel *k, FakeFn *f) {
        if (!f->exists || !f->driver)
                return;
        unlink_driver(k, f);
        g_free(f->driver);
        f->driver = NULL;
        vfio_node_update(k, f->group);

        if (k->vanish && g_str_equal(k->vanish, f->address)) {
                /* the uevent is built from the device's sysfs: send it first */
                fake_kernel_uevent(k, f->syspath, "remove");
                (void) inotify_rm_watch(k->inotify_fd, f->wd);
                f->wd = -1;
                umockdev_testbed_remove_device(k->tb, f->syspath);
                f->exists = false;
                return;
        }
        uevent_set_driver(f, NULL);
        fake_kernel_uevent(k, f->syspath, "unbind");
}

/* What a write to driver_override stored. The writer opened without O_TRUNC
 * and wrote at offset 0 over old: what it wrote ends at the last byte that
 * differs from old, or is all of the file when the file grew. */
static char *written_over(const char *old, const char *now) {
        size_t lo = strlen(old), ln = strlen(now);
        if (ln > lo)
                return g_strdup(now);
        size_t last = SIZE_MAX;
        for (size_t i = 0; i < ln; i++)
                if (now[i] != old[i])
                        last = i;
        if (last == SIZE_MAX)
                return NULL;  /* the same value again */
        return g_strndup(now, last + 1);
}

static void handle_override(FakeFn *f) {
        char *path = path_join(f->dir, "driver_override");
        char *now = read_file(path);
        g_free(path);
        if (!now)
                return;
        char *w = written_over(f->override_file, now);
        if (w) {
                g_strstrip(w);  /* the kernel drops the trailing newline */
                g_free(f->override);
                f->override = *w ? g_strdup(w) : NULL;
        }
        g_free(w);
        g_free(now);

        g_free(f->override_file);
        f->override_file = g_strdup_printf("%s\n", f->override ?: "(null)");
        replace_file(f->dir, "driver_override", f->override_file);
}

/* The address written to bind, unbind or drivers_probe; the file is emptied
 * for the next write. */
static char *take_address(const char *path) {
        char *s = read_file(path);
        if (truncate(path, 0) < 0)
                die("cannot truncate %s: %m", path);
        if (s)
                g_strstrip(s);
        if (s && !*s) {
                g_free(s);
                return NULL;
        }
        return s;
}

static void handle_driver_file(FakeKernel *k, FakeDriver *d, const char *name) {
        bool bind = g_str_equal(name, "bind");
        if (!bind && !g_str_equal(name, "unbind"))
                return;
        if (!bind && d->hung)
                return;  /* never read by the kernel: the writer stays blocked (and a read would block) */
        char *ddir = driver_dir(k, d->name);
        char *path = path_join(ddir, name);
        char *addr = take_address(path);
        g_free(path);
        g_free(ddir);
        if (!addr)
                return;
        FakeFn *f = fn_find(k, addr);
        g_free(addr);
        if (!f)
                return;
        if (bind) {
                /* driver_override restricts which driver may claim the device */
                if (!f->override || g_str_equal(f->override, d->name))
                        do_bind(k, f, d->name);
        } else if (g_strcmp0(f->driver, d->name) == 0)
                do_unbind(k, f);
}

static void handle_probe(FakeKernel *k) {
        char *path = g_strdup_printf("%s/sys/bus/pci/drivers_probe", k->root);
        char *addr = take_address(path);
        g_free(path);
        if (!addr)
                return;
        FakeFn *f = fn_find(k, addr);
        g_free(addr);
        if (!f || f->driver)
                return;
        const char *target = f->override ?: f->native;
        if (target)
                do_bind(k, f, target);
}

/* Called by the kernel thread (holding `busy`) before it handles a write. */
static void count_write(FakeKernel *k) {
        pthread_mutex_lock(&k->lock);
        k->writes++;
        if (k->break_at == 0 || k->writes != k->break_at) {
                pthread_mutex_unlock(&k->lock);
                return;
        }
        /* A breakpoint: the write is made but the kernel has not acted on it
         * yet. Let go of `busy` while waiting, so that the test can fork. */
        k->paused = true;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&busy);
        while (!k->resumed)
                pthread_cond_wait(&k->cond, &k->lock);
        k->paused = k->resumed = false;
        k->break_at = 0;
        pthread_mutex_unlock(&k->lock);
        pthread_mutex_lock(&busy);
}

static void handle_event(FakeKernel *k, const struct inotify_event *ev) {
        if (!(ev->mask & IN_CLOSE_WRITE) || ev->len == 0)
                return;
        const char *name = ev->name;

        if (ev->wd == k->wd_sync) {
                unsigned n;
                if (sscanf(name, "sync-%u", &n) == 1) {
                        pthread_mutex_lock(&k->lock);
                        if (n > k->sync_done)
                                k->sync_done = n;
                        pthread_cond_broadcast(&k->cond);
                        pthread_mutex_unlock(&k->lock);
                }
                return;
        }
        if (ev->wd == k->wd_bus) {
                if (g_str_equal(name, "drivers_probe")) {
                        count_write(k);
                        handle_probe(k);
                }
                return;
        }
        for (size_t i = 0; i < k->n_drivers; i++)
                if (k->drivers[i].wd == ev->wd) {
                        if (g_str_equal(name, "bind") || g_str_equal(name, "unbind")) {
                                count_write(k);
                                handle_driver_file(k, &k->drivers[i], name);
                        }
                        return;
                }
        for (size_t i = 0; i < k->n_fns; i++)
                if (k->fns[i].exists && k->fns[i].wd == ev->wd) {
                        if (g_str_equal(name, "driver_override")) {
                                count_write(k);
                                handle_override(&k->fns[i]);
                        }
                        return;
                }
}

static void *kernel_thread(void *userdata) {
        FakeKernel *k = userdata;
        char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = k->inotify_fd, .events = POLLIN },
                        { .fd = k->stop_pipe[0], .events = POLLIN },
                };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        die("poll: %m");
                }
                if (p[1].revents)
                        break;

                pthread_mutex_lock(&busy);
                ssize_t n = read(k->inotify_fd, buf, sizeof(buf));
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        die("inotify read: %m");
                for (ssize_t off = 0; off < n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) (buf + off);
                        handle_event(k, ev);
                        off += (ssize_t) (sizeof(struct inotify_event) + ev->len);
                }
                pthread_mutex_unlock(&busy);
                pthread_mutex_lock(&k->lock);
                k->changes++;
                pthread_cond_broadcast(&k->cond);
                pthread_mutex_unlock(&k->lock);
        }
        return NULL;
}

int fake_kernel_require_preload(int argc, char **argv) {
        const char *preload = getenv("LD_PRELOAD");
        if (preload && strstr(preload, "libumockdev-preload"))
                return 0;
        if (getenv("VFIOD_TEST_REEXEC")) {
                fprintf(stderr, "umockdev-wrapper did not set up the preload.\n");
                return -1;
        }
        setenv("VFIOD_TEST_REEXEC", "1", 1);
        char **args = g_new0(char *, (size_t) argc + 2);
        args[0] = (char *) "umockdev-wrapper";
        for (int i = 0; i < argc; i++)
                args[i + 1] = argv[i];
        execvp(args[0], args);
        fprintf(stderr, "Run me under umockdev-wrapper: %m\n");
        g_free(args);
        return -1;
}

/* ---- building the testbed ---- */

/* An empty plain file at /dev/NAME in the testbed: umockdev records a
 * device's major:minor but creates no node for it. */
static void add_node_file(FakeKernel *k, const char *name) {
        char *node = g_strdup_printf("%s/dev/%s", k->root, name);
        char *ndir = g_path_get_dirname(node);
        mkdirs(ndir);
        write_file(node, "");
        g_free(ndir);
        g_free(node);
}

/* "PATH=MAJOR:MINOR=DEVNAME[=SUBSYSTEM]" below the device at syspath. The
 * directories in PATH above the last are plain directories, as sysfs's glue
 * and class directories are to the agent: only a "dev" attribute makes a node. */
static void add_child(FakeKernel *k, const char *syspath, const char *spec) {
        char **f = g_strsplit(spec, "=", 4);
        unsigned major, minor;
        char end;
        if (g_strv_length(f) < 3 || sscanf(f[1], "%u:%u%c", &major, &minor, &end) != 2 || !*f[0] || !*f[2])
                die("bad child '%s': want PATH=MAJOR:MINOR=DEVNAME[=SUBSYSTEM]", spec);
        char *subsystem = NULL;
        if (f[3])
                subsystem = g_strdup(f[3]);
        else {
                char *dir = g_path_get_dirname(f[0]);
                if (g_str_equal(dir, "."))
                        die("child '%s' names no subsystem and sits in no class directory", spec);
                subsystem = g_path_get_basename(dir);
                g_free(dir);
        }
        char *dev = g_strdup_printf("%u:%u\n", major, minor);
        char *devname = g_strdup_printf("/dev/%s", f[2]);
        char *child = umockdev_testbed_add_device(k->tb, subsystem, f[0], syspath, "dev", dev, NULL,
                                                  "DEVNAME", devname, NULL);
        if (!child)
                die("cannot add %s below %s", f[0], syspath);
        add_node_file(k, f[2]);
        g_free(child);
        g_free(devname);
        g_free(dev);
        g_free(subsystem);
        g_strfreev(f);
}

static void add_module(FakeKernel *k, const FakeModule *m) {
        char *mdir = g_strdup_printf("%s/sys/module/%s", k->root, m->name);
        char *holders = path_join(mdir, "holders");
        mkdirs(holders);
        char *p = path_join(mdir, "initstate");
        write_file(p, "live\n");
        g_free(p);
        p = path_join(mdir, "refcnt");
        char *refcnt = g_strdup_printf("%u\n", m->refcnt);
        write_file(p, refcnt);
        g_free(refcnt);
        g_free(p);
        /* holders/X -> ../../X, each a module of its own */
        for (const char *const *h = m->holders; h && *h; h++) {
                char *hdir = g_strdup_printf("%s/sys/module/%s", k->root, *h);
                mkdirs(hdir);
                char *link = path_join(holders, *h), *target = g_strdup_printf("../../%s", *h);
                if (symlink(target, link) < 0)
                        die("cannot link %s: %m", link);
                g_free(target);
                g_free(link);
                g_free(hdir);
        }
        if (m->driver) {
                char *ddir = driver_dir(k, m->driver);
                mkdirs(ddir);
                char *link = path_join(ddir, "module");
                char *target = g_strdup_printf("../../../../module/%s", m->name);
                if (symlink(target, link) < 0)
                        die("cannot link %s: %m", link);
                g_free(target);
                g_free(link);
                g_free(ddir);
        }
        g_free(holders);
        g_free(mdir);
}

/* The consoles: vtcon0 the dummy one (bound, not a framebuffer), vtcon1 fbcon. */
static void add_vtconsoles(FakeKernel *k, const char *fbcon_bind) {
        static const char *const names[] = { "(S) dummy device\n", "(M) frame buffer device\n" };
        for (unsigned i = 0; i < 2; i++) {
                char name[64], bind[8];
                snprintf(name, sizeof(name), "virtual/vtconsole/vtcon%u", i);
                snprintf(bind, sizeof(bind), "%s\n", i == 0 ? "1" : fbcon_bind);
                char *p = umockdev_testbed_add_device(k->tb, "vtconsole", name, NULL, "name", names[i],
                                                      "bind", bind, NULL, NULL);
                if (!p)
                        die("cannot add %s", name);
                g_free(p);
        }
}

static void add_function(FakeKernel *k, const FakePciFunction *d) {
        if (k->n_fns >= MAX_FUNCTIONS)
                die("too many functions");
        FakeFn *f = &k->fns[k->n_fns++];
        const char *parent = "/sys/devices/pci0000:00";
        if (d->parent) {
                FakeFn *p = fn_find(k, d->parent);
                if (!p)
                        die("%s: parent %s must come first", d->address, d->parent);
                parent = p->syspath;
        }

        char vendor[16], device[16], class[16], id[16], cls[16];
        snprintf(vendor, sizeof(vendor), "0x%04x\n", d->vendor);
        snprintf(device, sizeof(device), "0x%04x\n", d->device);
        snprintf(class, sizeof(class), "0x%06x\n", d->class);
        snprintf(id, sizeof(id), "%04X:%04X", d->vendor, d->device);
        snprintf(cls, sizeof(cls), "%X", d->class);

        f->override = d->override ? g_strdup(d->override) : NULL;
        f->override_file = g_strdup_printf("%s\n", d->override ?: "(null)");
        const char *attrs[16], *props[16];
        size_t na = 0, np = 0;
        attrs[na++] = "vendor", attrs[na++] = vendor;
        attrs[na++] = "device", attrs[na++] = device;
        attrs[na++] = "class", attrs[na++] = class;
        attrs[na++] = "driver_override", attrs[na++] = f->override_file;
        if (d->boot_vga >= 0)
                attrs[na++] = "boot_vga", attrs[na++] = d->boot_vga > 0 ? "1\n" : "0\n";
        attrs[na] = NULL;
        props[np++] = "PCI_SLOT_NAME", props[np++] = d->address;
        props[np++] = "PCI_ID", props[np++] = id;
        props[np++] = "PCI_CLASS", props[np++] = cls;
        props[np] = NULL;
        char *syspath = umockdev_testbed_add_devicev(k->tb, "pci", d->address, parent,
                                                     (gchar **) attrs, (gchar **) props);
        if (!syspath)
                die("cannot add %s", d->address);
        f->address = g_strdup(d->address);
        f->syspath = syspath;
        f->dir = g_strconcat(k->root, syspath, NULL);
        f->group = d->iommu_group;
        f->exists = true;
        f->wd = -1;
        f->native = g_strdup(d->native ?: (g_strcmp0(d->driver, VFIO) != 0 ? d->driver : NULL));

        if (d->iommu_group >= 0) {
                char *gdir = g_strdup_printf("%s/sys/kernel/iommu_groups/%d/devices", k->root, d->iommu_group);
                mkdirs(gdir);
                char *glink = g_strdup_printf("../../../kernel/iommu_groups/%d", d->iommu_group);
                umockdev_testbed_set_attribute_link(k->tb, syspath, "iommu_group", glink);
                char *back = path_join(gdir, d->address);
                char *back_target = g_strdup_printf("../../../..%s", syspath + strlen("/sys"));
                (void) symlink(back_target, back);
                g_free(back_target);
                g_free(back);
                g_free(glink);
                g_free(gdir);
        }

        driver_add(k, d->driver);
        driver_add(k, d->override);
        driver_add(k, f->native);
        if (d->driver) {
                char *ddir = driver_dir(k, d->driver);
                mkdirs(ddir);
                g_free(ddir);
                link_driver(k, f, d->driver);
                f->driver = g_strdup(d->driver);
                uevent_set_driver(f, d->driver);
        }

        const char *drm[] = { d->drm_card, d->drm_render };
        for (size_t i = 0; i < 2; i++) {
                if (!drm[i])
                        continue;
                const char *digits = drm[i] + strcspn(drm[i], "0123456789");
                char dev[32], devname[64];
                snprintf(dev, sizeof(dev), "226:%s\n", digits);
                snprintf(devname, sizeof(devname), "/dev/dri/%s", drm[i]);
                char *child = umockdev_testbed_add_device(k->tb, "drm", drm[i], syspath, "dev", dev, NULL,
                                                          "DEVNAME", devname, "DEVTYPE", "drm_minor", NULL);
                if (!child)
                        die("cannot add %s", drm[i]);
                g_free(child);
                add_node_file(k, devname + strlen("/dev/"));
        }
        for (const char *const *c = d->children; c && *c; c++)
                add_child(k, syspath, *c);
}

static int add_watch(FakeKernel *k, const char *path) {
        int wd = inotify_add_watch(k->inotify_fd, path, IN_CLOSE_WRITE);
        if (wd < 0)
                die("cannot watch %s: %m", path);
        return wd;
}

FakeKernel *fake_kernel_new(const FakeScenario *s) {
        pthread_once(&atfork_once, atfork_register);

        FakeKernel *k = g_new0(FakeKernel, 1);
        pthread_mutex_init(&k->lock, NULL);
        pthread_cond_init(&k->cond, NULL);
        k->tb = umockdev_testbed_new();
        k->root = umockdev_testbed_get_root_dir(k->tb);
        k->vfio_ebusy = g_strdup(s->vfio_probe_ebusy);
        k->vanish = g_strdup(s->vanish_on_unbind);

        char *p = g_strdup_printf("%s/sys/devices/pci0000:00", k->root);
        mkdirs(p);
        g_free(p);
        /* The testbed's nodes are plain files: a holder's fd names them by
         * their real path, which vfiod takes for its device directory. */
        p = g_strdup_printf("%s/dev", k->root);
        setenv("VFIOD_DEV_DIR", p, 1);
        g_free(p);
        p = g_strdup_printf("%s/dev/vfio", k->root);
        mkdirs(p);
        g_free(p);
        /* ALSA's open streams: never the host's. */
        p = g_strdup_printf("%s/proc/asound", k->root);
        mkdirs(p);
        setenv("VFIOD_ASOUND_DIR", p, 1);
        for (const char *const *a = s->asound; a && *a; a++) {
                const char *eq = strchr(*a, '=');
                g_assert(eq);
                char *rel = g_strndup(*a, eq - *a), *f = path_join(p, rel), *dir = g_path_get_dirname(f);
                char *line = g_strdup_printf("%s\n", eq + 1);
                mkdirs(dir);
                write_file(f, line);
                g_free(rel), g_free(f), g_free(dir), g_free(line);
        }
        g_free(p);
        p = g_strdup_printf("%s/fakekernel", k->root);
        mkdirs(p);
        g_free(p);

        driver_add(k, VFIO);
        driver_add(k, s->hung_unbind_driver);
        for (const char *const *d = s->extra_drivers; d && *d; d++)
                driver_add(k, *d);
        for (size_t i = 0; i < s->n_functions; i++)
                add_function(k, &s->functions[i]);

        for (size_t i = 0; i < k->n_drivers; i++) {
                FakeDriver *d = &k->drivers[i];
                char *ddir = driver_dir(k, d->name);
                mkdirs(ddir);
                char *bind = path_join(ddir, "bind"), *unbind = path_join(ddir, "unbind");
                write_file(bind, "");
                if (s->hung_unbind_driver && g_str_equal(s->hung_unbind_driver, d->name)) {
                        d->hung = true;
                        if (mkfifo(unbind, 0200) < 0)
                                die("mkfifo %s: %m", unbind);
                } else
                        write_file(unbind, "");
                g_free(bind);
                g_free(unbind);
                g_free(ddir);
        }
        p = g_strdup_printf("%s/sys/bus/pci/drivers_probe", k->root);
        write_file(p, "");
        g_free(p);
        p = g_strdup_printf("%s/sys/bus/pci/drivers_autoprobe", k->root);
        write_file(p, "1\n");
        g_free(p);

        for (size_t i = 0; i < k->n_fns; i++)
                vfio_node_update(k, k->fns[i].group);

        if (s->busy_module)
                add_module(k, &(FakeModule) { .name = s->busy_module, .refcnt = 1 });

        for (size_t i = 0; i < s->n_modules; i++)
                add_module(k, &s->modules[i]);
        for (const char *const *n = s->nodes; n && *n; n++)
                add_node_file(k, *n);
        if (s->fbcon_bind)
                add_vtconsoles(k, s->fbcon_bind);

        /* Watch only now: the set-up's own writes are not the kernel's business. */
        k->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (k->inotify_fd < 0 || pipe2(k->stop_pipe, O_CLOEXEC) < 0)
                die("inotify/pipe: %m");
        p = g_strdup_printf("%s/sys/bus/pci", k->root);
        k->wd_bus = add_watch(k, p);
        g_free(p);
        p = g_strdup_printf("%s/fakekernel", k->root);
        k->wd_sync = add_watch(k, p);
        g_free(p);
        for (size_t i = 0; i < k->n_drivers; i++) {
                char *ddir = driver_dir(k, k->drivers[i].name);
                k->drivers[i].wd = add_watch(k, ddir);
                g_free(ddir);
        }
        for (size_t i = 0; i < k->n_fns; i++)
                k->fns[i].wd = add_watch(k, k->fns[i].dir);

        if (pthread_create(&k->thread, NULL, kernel_thread, k) != 0)
                die("pthread_create failed");
        k->running = true;
        return k;
}

int fake_kernel_release_hung(FakeKernel *k, unsigned timeout_ms) {
        int released = 0;
        for (size_t i = 0; i < k->n_drivers; i++) {
                FakeDriver *d = &k->drivers[i];
                if (!d->hung || d->released)
                        continue;
                d->released = true;
                char *ddir = driver_dir(k, d->name);
                char *path = path_join(ddir, "unbind");
                int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0) {
                        g_free(path);
                        g_free(ddir);
                        continue;
                }
                /* POLLHUP once a writer has come and gone; a FIFO nobody ever
                 * opened for writing does not report it. */
                int64_t deadline = g_get_monotonic_time() + (int64_t) timeout_ms * 1000;
                char written[256] = "";
                size_t len = 0;
                for (;;) {
                        int64_t left = deadline - g_get_monotonic_time();
                        if (left <= 0)
                                break;
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        int r = poll(&p, 1, (int) ((left + 999) / 1000));
                        if (r < 0 && errno == EINTR)
                                continue;
                        if (r <= 0)
                                break;
                        ssize_t n = read(fd, written + len, sizeof(written) - 1 - len);
                        if (n > 0)
                                len += (size_t) n;
                        if (n == 0 && (p.revents & POLLHUP))
                                break;
                }
                close(fd);
                written[len] = 0;

                /* The driver's unbind finally ran: the device is unbound, and
                 * from now on this driver unbinds at once, like any other. */
                pthread_mutex_lock(&busy);
                char *tmp = path_join(ddir, ".unbind.new");
                write_file(tmp, "");
                if (rename(tmp, path) < 0)  /* a rename: no IN_CLOSE_WRITE on unbind, no write counted */
                        die("rename %s: %m", tmp);
                d->hung = false;
                g_strstrip(written);
                FakeFn *f = len > 0 ? fn_find(k, written) : NULL;
                if (f && g_strcmp0(f->driver, d->name) == 0)
                        do_unbind(k, f);
                pthread_mutex_unlock(&busy);
                g_free(tmp);
                g_free(path);
                g_free(ddir);
                released += len > 0;
        }
        return released;
}

void fake_kernel_free(FakeKernel *k) {
        if (!k)
                return;
        fake_kernel_resume(k);
        if (k->running) {
                char c = 0;
                if (write(k->stop_pipe[1], &c, 1) != 1)
                        die("cannot stop the kernel thread: %m");
                pthread_join(k->thread, NULL);
        }
        (void) fake_kernel_release_hung(k, 2000);
        close(k->inotify_fd);
        close(k->stop_pipe[0]);
        close(k->stop_pipe[1]);

        for (size_t i = 0; i < k->n_fns; i++) {
                FakeFn *f = &k->fns[i];
                g_free(f->address);
                g_free(f->syspath);
                g_free(f->dir);
                g_free(f->driver);
                g_free(f->override);
                g_free(f->override_file);
                g_free(f->native);
        }
        for (size_t i = 0; i < k->n_drivers; i++)
                g_free(k->drivers[i].name);
        g_free(k->vfio_ebusy);
        g_free(k->vanish);
        g_object_unref(k->tb);
        g_free(k->root);
        pthread_cond_destroy(&k->cond);
        pthread_mutex_destroy(&k->lock);
        g_free(k);
}

const char *fake_kernel_root(FakeKernel *k) {
        return k->root;
}

static char *device_attr_path(FakeKernel *k, const char *address, const char *attr) {
        return g_strdup_printf("%s/sys/bus/pci/devices/%s/%s", k->root, address, attr);
}

char *fake_kernel_driver(FakeKernel *k, const char *address) {
        char *p = device_attr_path(k, address, "driver");
        char *target = g_file_read_link(p, NULL);
        g_free(p);
        if (!target)
                return NULL;
        char *b = g_path_get_basename(target);
        g_free(target);
        return b;
}

bool fake_kernel_exists(FakeKernel *k, const char *address) {
        char *p = device_attr_path(k, address, "uevent");
        bool r = access(p, F_OK) >= 0;
        g_free(p);
        return r;
}

char *fake_kernel_override(FakeKernel *k, const char *address) {
        char *p = device_attr_path(k, address, "driver_override");
        char *s = read_file(p);
        g_free(p);
        if (!s)
                return NULL;
        s[strcspn(s, "\n")] = 0;
        if (!*s || g_str_equal(s, "(null)")) {
                g_free(s);
                return NULL;
        }
        return s;
}

bool fake_kernel_vfio_node(FakeKernel *k, int group) {
        char *p = vfio_node_path(k, group);
        bool r = access(p, F_OK) >= 0;
        g_free(p);
        return r;
}

static struct timespec deadline_ts(unsigned timeout_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

void fake_kernel_break_at(FakeKernel *k, unsigned nth) {
        pthread_mutex_lock(&k->lock);
        k->break_at = nth ? k->writes + nth : 0;
        pthread_mutex_unlock(&k->lock);
}

int fake_kernel_wait_break(FakeKernel *k, unsigned timeout_ms) {
        struct timespec ts = deadline_ts(timeout_ms);
        int r = 0;
        pthread_mutex_lock(&k->lock);
        while (!k->paused && r == 0)
                r = pthread_cond_timedwait(&k->cond, &k->lock, &ts);
        bool ok = k->paused;
        pthread_mutex_unlock(&k->lock);
        return ok ? 0 : -ETIMEDOUT;
}

void fake_kernel_resume(FakeKernel *k) {
        pthread_mutex_lock(&k->lock);
        if (k->paused)
                k->resumed = true;
        k->break_at = 0;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->lock);
}

int fake_kernel_wait(FakeKernel *k, bool (*done)(FakeKernel *k, void *userdata), void *userdata, unsigned timeout_ms) {
        struct timespec ts = deadline_ts(timeout_ms);
        for (;;) {
                pthread_mutex_lock(&k->lock);
                unsigned seen = k->changes;
                pthread_mutex_unlock(&k->lock);
                if (done(k, userdata))
                        return 0;
                int r = 0;
                pthread_mutex_lock(&k->lock);
                while (k->changes == seen && r == 0)
                        r = pthread_cond_timedwait(&k->cond, &k->lock, &ts);
                pthread_mutex_unlock(&k->lock);
                if (r != 0)
                        return done(k, userdata) ? 0 : -ETIMEDOUT;
        }
}

int fake_kernel_sync(FakeKernel *k, unsigned timeout_ms) {
        pthread_mutex_lock(&k->lock);
        unsigned n = ++k->sync_requested;
        pthread_mutex_unlock(&k->lock);

        /* A new name each time: inotify merges identical queued events. */
        char *p = g_strdup_printf("%s/fakekernel/sync-%u", k->root, n);
        write_file(p, "");
        g_free(p);

        struct timespec ts = deadline_ts(timeout_ms);
        int r = 0;
        pthread_mutex_lock(&k->lock);
        while (k->sync_done < n && r == 0)
                r = pthread_cond_timedwait(&k->cond, &k->lock, &ts);
        bool ok = k->sync_done >= n;
        pthread_mutex_unlock(&k->lock);
        return ok ? 0 : -ETIMEDOUT;
}

unsigned fake_kernel_writes(FakeKernel *k) {
        pthread_mutex_lock(&k->lock);
        unsigned n = k->writes;
        pthread_mutex_unlock(&k->lock);
        return n;
}
