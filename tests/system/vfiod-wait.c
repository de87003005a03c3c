/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Waits, with a deadline and without polling in a sleep loop, for what the
 * system tests need to see happen:
 *
 *   vfiod-wait path TIMEOUT [!]PATH
 *       PATH exists (or, with !, does not); inotify on the nearest directory.
 *   vfiod-wait exit TIMEOUT PID
 *       process PID has ended (pidfd).
 *   vfiod-wait sysfs TIMEOUT [--bound-at] COND...
 *       every COND holds; looks again after each PCI uevent (a libudev
 *       monitor, like agent/device-watch.c), so run it where vfiod runs (under
 *       fakegpu's preload to see the fake GPU). COND is ADDRESS=DRIVER (the
 *       function's driver link names DRIVER; "none": no driver), +PATH (PATH
 *       exists) or -PATH (it does not). With --bound-at, prints when the last
 *       of those binds happened: the newest mtime of the driver links, in ns
 *       since the epoch.
 *   vfiod-wait journal DIR TIMEOUT [--after CURSOR] MATCH...
 *       an entry after CURSOR (from the start without --after) of the
 *       journal in DIR matches every MATCH: FIELD=VALUE (exactly) or
 *       FIELD~TEXT (contains). Prints its cursor; its message, VFIOD_*
 *       fields and _SOURCE_REALTIME_TIMESTAMP go to stderr.
 *   vfiod-wait count DIR [--after CURSOR] MATCH...
 *       prints how many entries after CURSOR match; does not wait.
 *   vfiod-wait cursor DIR
 *       prints the cursor of the journal's last entry (nothing when empty).
 *   vfiod-wait bus-name TIMEOUT NAME
 *       NAME has an owner on the system bus (DBUS_SYSTEM_BUS_ADDRESS);
 *       follows NameOwnerChanged.
 *
 * TIMEOUT: "30" or "30s", "500ms", "2min". Exit status: 0 it happened,
 * 1 the deadline passed (what was seen goes to stderr), 2 bad usage or an
 * error. */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libudev.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>

#include "macro.h"
#include "time-util.h"

#define EXIT_TIMEOUT 1
#define EXIT_ERROR 2

static const char *prog = "vfiod-wait";

_printf_(1, 2) static int error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", prog);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        return EXIT_ERROR;
}

static int parse_deadline(const char *s, usec_t *ret) {
        usec_t t;
        if (parse_sec(s, &t) < 0)
                return -EINVAL;
        *ret = now_usec() + t;
        return 0;
}

/* poll() one fd until the deadline; 1 readable, 0 deadline passed, <0 error. */
static int wait_fd(int fd, usec_t deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        for (;;) {
                int r = poll(&p, 1, poll_timeout_ms(deadline));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r > 0)
                        return 1;
                if (now_usec() >= deadline)
                        return 0;
        }
}

/* ---- path ---- */

static int cmd_path(usec_t deadline, const char *arg) {
        bool want = arg[0] != '!';
        const char *path = want ? arg : arg + 1;
        char dir[PATH_MAX];

        if (path[0] != '/' || strlen(path) >= sizeof(dir))
                return error("path: %s is not an absolute path", path);
        for (;;) {
                _cleanup_close_ int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
                if (fd < 0)
                        return error("inotify_init1: %m");
                /* Watch the nearest directory that exists: anything created,
                 * moved or deleted there may change the answer. */
                strcpy(dir, path);
                for (;;) {
                        char *slash = strrchr(dir, '/');
                        if (slash == dir)
                                dir[1] = 0;
                        else
                                *slash = 0;
                        if (inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM |
                                                       IN_DELETE_SELF | IN_MOVE_SELF) >= 0)
                                break;
                        if (errno != ENOENT && errno != ENOTDIR)
                                return error("cannot watch %s: %m", dir);
                        if (streq(dir, "/"))
                                return error("cannot watch /: %m");
                }
                if ((access(path, F_OK) >= 0) == want)
                        return 0;
                int r = wait_fd(fd, deadline);
                if (r < 0)
                        return error("poll: %s", strerror(-r));
                if (r == 0) {
                        if ((access(path, F_OK) >= 0) == want)
                                return 0;
                        fprintf(stderr, "%s: %s %s after the deadline\n", prog, path,
                                want ? "still does not exist" : "still exists");
                        return EXIT_TIMEOUT;
                }
        }
}

/* ---- exit ---- */

static int cmd_exit(usec_t deadline, const char *arg) {
        char *end;
        errno = 0;
        long pid = strtol(arg, &end, 10);
        if (errno || *end || pid <= 0 || pid > INT_MAX)
                return error("exit: %s is not a pid", arg);
        _cleanup_close_ int fd = pidfd_open((pid_t) pid, 0);
        if (fd < 0 && errno == ESRCH)
                return 0;
        if (fd < 0)
                return error("pidfd_open(%ld): %m", pid);
        int r = wait_fd(fd, deadline);
        if (r < 0)
                return error("poll: %s", strerror(-r));
        if (r == 0) {
                fprintf(stderr, "%s: process %ld still runs after the deadline\n", prog, pid);
                return EXIT_TIMEOUT;
        }
        return 0;
}

/* ---- sysfs ---- */

typedef struct Cond {
        const char *arg;
        char address[64];
        const char *driver;   /* ADDRESS=DRIVER; NULL for a path condition */
        const char *path;
        bool exists;
} Cond;

/* The function's driver ("none" when unbound) and the link's mtime. */
static void driver_of(const char *address, char *buf, size_t size, struct timespec *ret_mtime) {
        char link[PATH_MAX], target[PATH_MAX];
        snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/driver", address);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        struct stat st;
        if (n <= 0) {
                snprintf(buf, size, "none");
                return;
        }
        target[n] = 0;
        const char *slash = strrchr(target, '/');
        snprintf(buf, size, "%s", slash ? slash + 1 : target);
        if (ret_mtime && lstat(link, &st) >= 0)
                *ret_mtime = st.st_mtim;
}

/* true when every condition holds; *latest: the newest driver link's mtime. */
static bool conds_hold(const Cond *c, size_t n, bool report, struct timespec *latest) {
        bool ok = true;
        *latest = (struct timespec) {};
        for (size_t i = 0; i < n; i++) {
                bool hold;
                char now[PATH_MAX] = "";
                if (c[i].driver) {
                        struct timespec t = {};
                        driver_of(c[i].address, now, sizeof(now), &t);
                        hold = streq(now, c[i].driver);
                        if (hold && (t.tv_sec > latest->tv_sec ||
                                     (t.tv_sec == latest->tv_sec && t.tv_nsec > latest->tv_nsec)))
                                *latest = t;
                } else {
                        bool e = access(c[i].path, F_OK) >= 0;
                        snprintf(now, sizeof(now), "%s", e ? "exists" : "absent");
                        hold = e == c[i].exists;
                }
                if (report)
                        fprintf(stderr, "%s: %s: %s (now: %s)\n", prog, c[i].arg, hold ? "holds" : "does NOT hold", now);
                ok = ok && hold;
        }
        return ok;
}

static int cmd_sysfs(usec_t deadline, char **args, size_t n) {
        bool bound_at = n > 0 && streq(args[0], "--bound-at");
        if (bound_at)
                args++, n--;
        _cleanup_free_ Cond *c = calloc(n, sizeof(Cond));
        if (!c)
                return error("out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *a = args[i], *eq = strchr(a, '=');
                c[i].arg = a;
                if ((a[0] == '+' || a[0] == '-') && a[1] == '/') {
                        c[i].path = a + 1;
                        c[i].exists = a[0] == '+';
                } else if (eq && eq != a && (size_t) (eq - a) < sizeof(c[i].address) && eq[1]) {
                        memcpy(c[i].address, a, (size_t) (eq - a));
                        c[i].driver = eq + 1;
                } else
                        return error("sysfs: %s is not ADDRESS=DRIVER, +PATH or -PATH", a);
        }

        struct udev *udev = udev_new();
        if (!udev)
                return error("udev_new: %m");
        /* As the agent does: udevd's re-broadcast when it runs, else the kernel's. */
        const char *group = access("/run/udev/control", F_OK) >= 0 ? "udev" : "kernel";
        struct udev_monitor *m = udev_monitor_new_from_netlink(udev, group);
        int ret = EXIT_ERROR;
        if (!m || udev_monitor_filter_add_match_subsystem_devtype(m, "pci", NULL) < 0 ||
            udev_monitor_enable_receiving(m) < 0) {
                error("cannot listen for PCI uevents: %m");
                goto finish;
        }
        for (;;) {
                struct timespec latest;
                /* The monitor is open before the first look: no uevent is lost. */
                if (conds_hold(c, n, false, &latest)) {
                        if (bound_at)
                                printf("%lld%09ld\n", (long long) latest.tv_sec, latest.tv_nsec);
                        ret = 0;
                        break;
                }
                int r = wait_fd(udev_monitor_get_fd(m), deadline);
                if (r < 0) {
                        error("poll: %s", strerror(-r));
                        break;
                }
                if (r == 0) {
                        if (conds_hold(c, n, false, &latest)) {
                                if (bound_at)
                                        printf("%lld%09ld\n", (long long) latest.tv_sec, latest.tv_nsec);
                                ret = 0;
                        } else {
                                fprintf(stderr, "%s: deadline passed; what sysfs says:\n", prog);
                                (void) conds_hold(c, n, true, &latest);
                                ret = EXIT_TIMEOUT;
                        }
                        break;
                }
                struct udev_device *d;
                while ((d = udev_monitor_receive_device(m)))
                        udev_device_unref(d);
        }
finish:
        udev_monitor_unref(m);
        udev_unref(udev);
        return ret;
}

/* ---- journal ---- */

typedef struct Matches {
        char **exact;      /* FIELD=VALUE: sd_journal_add_match() */
        size_t n_exact;
        char **contains;   /* FIELD~TEXT */
        size_t n_contains;
        const char *after;
} Matches;

static int parse_matches(char **args, size_t n, Matches *m) {
        m->exact = calloc(n + 1, sizeof(char *));
        m->contains = calloc(n + 1, sizeof(char *));
        if (!m->exact || !m->contains)
                return error("out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *a = args[i];
                if (streq(a, "--after")) {
                        /* An empty one is a failed wait's: never "from the start". */
                        if (i + 1 >= n || !*args[i + 1])
                                return error("--after needs a cursor");
                        m->after = args[++i];
                        continue;
                }
                size_t field = strcspn(a, "=~");
                if (field == 0 || !a[field])
                        return error("%s is not FIELD=VALUE or FIELD~TEXT", a);
                if (a[field] == '=')
                        m->exact[m->n_exact++] = args[i];
                else
                        m->contains[m->n_contains++] = args[i];
        }
        return 0;
}

static void matches_done(Matches *m) {
        free(m->exact);
        free(m->contains);
}

static int journal_open(const char *dir, const Matches *m, sd_journal **ret) {
        sd_journal *j = NULL;
        int r = sd_journal_open_directory(&j, dir, 0);
        if (r < 0)
                return error("cannot open the journal in %s: %s", dir, strerror(-r));
        for (size_t i = 0; m && i < m->n_exact; i++)
                if ((r = sd_journal_add_match(j, m->exact[i], 0)) < 0) {
                        sd_journal_close(j);
                        return error("bad match %s: %s", m->exact[i], strerror(-r));
                }
        if (m && m->after)
                r = sd_journal_seek_cursor(j, m->after);
        else
                r = sd_journal_seek_head(j);
        if (r < 0) {
                sd_journal_close(j);
                return error("cannot seek the journal: %s", strerror(-r));
        }
        *ret = j;
        return 0;
}

/* The current entry's FIELD contains TEXT, for each FIELD~TEXT. */
static bool contains_all(sd_journal *j, const Matches *m) {
        for (size_t i = 0; i < m->n_contains; i++) {
                const char *a = m->contains[i];
                size_t field = strcspn(a, "~");
                char name[256];
                const void *data;
                size_t len;
                if (field >= sizeof(name))
                        return false;
                memcpy(name, a, field);
                name[field] = 0;
                if (sd_journal_get_data(j, name, &data, &len) < 0)
                        return false;
                /* data is "FIELD=value", not NUL-terminated */
                if (!memmem((const char *) data + field + 1, len - field - 1, a + field + 1, strlen(a + field + 1)))
                        return false;
        }
        return true;
}

/* Next matching entry after the start: 1, or 0 at the end of what is written so far. */
static int next_match(sd_journal *j, const Matches *m, bool *first) {
        for (;;) {
                int r = sd_journal_next(j);
                if (r <= 0)
                        return r;
                if (*first) {
                        *first = false;
                        /* seek_cursor() lands on the cursor's own entry when it matches */
                        if (m->after && sd_journal_test_cursor(j, m->after) > 0)
                                continue;
                }
                if (contains_all(j, m))
                        return 1;
        }
}

static void print_entry(sd_journal *j) {
        const void *data;
        size_t len;
        fprintf(stderr, "%s: journal:", prog);
        SD_JOURNAL_FOREACH_DATA(j, data, len) {
                const char *s = data;
                if (startswith(s, "MESSAGE=") || startswith(s, "MESSAGE_ID=") || startswith(s, "VFIOD_") ||
                    startswith(s, "_PID=") || startswith(s, "_SOURCE_REALTIME_TIMESTAMP="))
                        fprintf(stderr, " %.*s;", (int) len, s);
        }
        fputc('\n', stderr);
}

/* The matches of args, and the journal in dir positioned for them; on
 * failure nothing is left to free. */
static int journal_open_matches(const char *dir, char **args, size_t n, Matches *m, sd_journal **ret) {
        int r = parse_matches(args, n, m);
        if (r == 0)
                r = journal_open(dir, m, ret);
        if (r != 0)
                matches_done(m);
        return r;
}

static int cmd_journal(const char *dir, usec_t deadline, char **args, size_t n) {
        Matches m = {};
        sd_journal *j = NULL;
        int ret = journal_open_matches(dir, args, n, &m, &j);
        if (ret != 0)
                return ret;
        bool first = true;
        for (;;) {
                int r = next_match(j, &m, &first);
                if (r < 0) {
                        ret = error("cannot read the journal: %s", strerror(-r));
                        break;
                }
                if (r > 0) {
                        char *cursor = NULL;
                        if ((r = sd_journal_get_cursor(j, &cursor)) < 0) {
                                ret = error("no cursor: %s", strerror(-r));
                                break;
                        }
                        print_entry(j);
                        printf("%s\n", cursor);
                        free(cursor);
                        ret = 0;
                        break;
                }
                usec_t n_ = now_usec();
                if (n_ >= deadline) {
                        fprintf(stderr, "%s: no journal entry matched by the deadline:", prog);
                        for (size_t i = 0; i < n; i++)
                                fprintf(stderr, " %s", args[i]);
                        fputc('\n', stderr);
                        ret = EXIT_TIMEOUT;
                        break;
                }
                r = sd_journal_wait(j, deadline - n_);
                if (r < 0) {
                        ret = error("cannot wait for the journal: %s", strerror(-r));
                        break;
                }
        }
        sd_journal_close(j);
        matches_done(&m);
        return ret;
}

static int cmd_count(const char *dir, char **args, size_t n) {
        Matches m = {};
        sd_journal *j = NULL;
        int ret = journal_open_matches(dir, args, n, &m, &j);
        if (ret != 0)
                return ret;
        bool first = true;
        unsigned count = 0;
        int r;
        while ((r = next_match(j, &m, &first)) > 0) {
                print_entry(j);
                count++;
        }
        sd_journal_close(j);
        matches_done(&m);
        if (r < 0)
                return error("cannot read the journal: %s", strerror(-r));
        printf("%u\n", count);
        return 0;
}

static int cmd_cursor(const char *dir) {
        sd_journal *j = NULL;
        int ret = journal_open(dir, NULL, &j);
        if (ret != 0)
                return ret;
        int r = sd_journal_seek_tail(j);
        if (r >= 0)
                r = sd_journal_previous(j);
        if (r > 0) {
                char *cursor = NULL;
                r = sd_journal_get_cursor(j, &cursor);
                if (r >= 0)
                        printf("%s\n", cursor);
                free(cursor);
        }
        sd_journal_close(j);
        return r < 0 ? error("cannot read the journal in %s: %s", dir, strerror(-r)) : 0;
}

typedef struct NameWait {
        const char *name;
        bool owned;
} NameWait;

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        NameWait *w = userdata;
        const char *name, *old, *new;
        (void) e;
        /* Every new connection's unique name comes by too: only NAME counts. */
        if (sd_bus_message_read(m, "sss", &name, &old, &new) > 0 && streq(name, w->name) && *new)
                w->owned = true;
        return 0;
}

static int cmd_bus_name(usec_t deadline, const char *name) {
        sd_bus *bus = NULL;
        NameWait w = { .name = name };
        int r = sd_bus_open_system(&bus);
        if (r < 0)
                return error("cannot connect to the system bus: %s", strerror(-r));
        /* Subscribed first, then asked: an owner that comes in between is seen. */
        r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                "NameOwnerChanged", on_owner_changed, &w);
        if (r >= 0 && sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                         "GetNameOwner", NULL, NULL, "s", name) >= 0)
                w.owned = true;
        while (r >= 0 && !w.owned) {
                usec_t n = now_usec();
                if (n >= deadline)
                        break;
                r = sd_bus_process(bus, NULL);
                if (r == 0)
                        r = sd_bus_wait(bus, deadline - n);
        }
        sd_bus_flush_close_unref(bus);
        if (w.owned)
                return 0;
        fprintf(stderr, "%s: nobody owns %s on the system bus\n", prog, name);
        return 1;
}

static int usage(void) {
        fprintf(stderr, "usage: %s path TIMEOUT [!]PATH\n"
                        "       %s exit TIMEOUT PID\n"
                        "       %s sysfs TIMEOUT [--bound-at] ADDRESS=DRIVER|+PATH|-PATH...\n"
                        "       %s journal DIR TIMEOUT [--after CURSOR] FIELD=VALUE|FIELD~TEXT...\n"
                        "       %s count DIR [--after CURSOR] FIELD=VALUE|FIELD~TEXT...\n"
                        "       %s cursor DIR\n"
                        "       %s bus-name TIMEOUT NAME\n", prog, prog, prog, prog, prog, prog, prog);
        return EXIT_ERROR;
}

int main(int argc, char **argv) {
        usec_t deadline;

        if (argc < 2)
                return usage();
        const char *cmd = argv[1];
        if (streq(cmd, "cursor") && argc == 3)
                return cmd_cursor(argv[2]);
        if (streq(cmd, "count") && argc >= 4)
                return cmd_count(argv[2], argv + 3, (size_t) argc - 3);
        if (streq(cmd, "journal") && argc >= 5) {
                if (parse_deadline(argv[3], &deadline) < 0)
                        return error("%s is not a timeout", argv[3]);
                return cmd_journal(argv[2], deadline, argv + 4, (size_t) argc - 4);
        }
        if (argc < 4)
                return usage();
        if (parse_deadline(argv[2], &deadline) < 0)
                return error("%s is not a timeout", argv[2]);
        if (streq(cmd, "path") && argc == 4)
                return cmd_path(deadline, argv[3]);
        if (streq(cmd, "bus-name") && argc == 4)
                return cmd_bus_name(deadline, argv[3]);
        if (streq(cmd, "exit") && argc == 4)
                return cmd_exit(deadline, argv[3]);
        if (streq(cmd, "sysfs"))
                return cmd_sysfs(deadline, argv + 3, (size_t) argc - 3);
        return usage();
}
