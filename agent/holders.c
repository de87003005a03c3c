/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "holders.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <fcntl.h>

#include "fileio.h"
#include "log.h"
#include "strv.h"
#include "time-util.h"

void holder_list_done(HolderList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].user);
                free(l->items[i].comm);
                free(l->items[i].node);
                free(l->items[i].fix);
        }
        free(l->items);
        *l = (HolderList) {};
}

int proc_status_uid(const char *status, uid_t *ret) {
        unsigned long uid;
        /* Not status - 1 for a first line: a pointer before the buffer is undefined. */
        const char *p = startswith(status, "Uid:") ? status : strstr(status, "\nUid:");
        if (p && *p == '\n')
                p++;
        if (!p || sscanf(p + 4, "%lu", &uid) != 1)
                return -EINVAL;
        *ret = (uid_t) uid;
        return 0;
}

int proc_stat_state(const char *stat, char *ret) {
        /* comm may hold spaces and parentheses: the state follows the last ')'. */
        const char *p = strrchr(stat, ')');
        if (!p || p[1] != ' ' || !isalpha((unsigned char) p[2]))
                return -EINVAL;
        *ret = p[2];
        return 0;
}

int proc_stat_starttime(const char *stat, uint64_t *ret) {
        const char *p = strrchr(stat, ')');
        if (!p)
                return -EINVAL;
        /* After ") ": state is field 3, starttime field 22. */
        p++;
        for (int field = 3; field <= 22; field++) {
                if (*p != ' ')
                        return -EINVAL;
                p++;
                if (field == 22) {
                        char *end;
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        errno = 0;
                        unsigned long long v = strtoull(p, &end, 10);
                        if (errno != 0 || (*end != ' ' && *end != '\n' && *end != 0))
                                return -EINVAL;
                        *ret = v;
                        return 0;
                }
                p += strcspn(p, " ");
        }
        return -EINVAL;
}

int process_stat(pid_t pid, char *ret_state, uint64_t *ret_start) {
        _cleanup_free_ char *stat = NULL;
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/stat", pid);
        int r = read_full_file(p, &stat, NULL);
        if (r < 0)
                return r;
        if (ret_state && (r = proc_stat_state(stat, ret_state)) < 0)
                return r;
        return ret_start ? proc_stat_starttime(stat, ret_start) : 0;
}

int process_state(pid_t pid, char *ret) {
        return process_stat(pid, ret, NULL);
}

bool process_alive(pid_t pid) {
        char state;
        /* A zombie has exited: only its parent's wait is missing. */
        return pid > 0 && process_state(pid, &state) >= 0 && state != 'Z' && state != 'X';
}

const char *hold_how_to_string(HoldHow h) {
        static const char *table[_HOLD_HOW_MAX] = {
                [HOLD_FD] = "fd",
                [HOLD_MAPPING] = "mapping",
                [HOLD_KERNEL] = "kernel",
        };
        return h < _HOLD_HOW_MAX ? table[h] : NULL;
}

HoldHow hold_how_from_string(const char *s) {
        for (HoldHow h = 0; h < _HOLD_HOW_MAX; h++)
                if (streq_ptr(s, hold_how_to_string(h)))
                        return h;
        return _HOLD_HOW_MAX;
}

char *printable_name(const char *s) {
        size_t n = strlen(s);
        char *out = malloc(n * 4 + 1), *p = out;
        if (!out)
                return NULL;
        /* A process picks its own name: nothing of it may reach a terminal, D-Bus or JSON raw. */
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c < 0x20 || *c >= 0x7f || *c == '\\')
                        p += sprintf(p, "\\x%02x", *c);
                else
                        *p++ = (char) *c;
        *p = 0;
        return out;
}

static int holder_add(HolderList *l, const char *proc_root, pid_t pid, const DeviceNode *node, HoldHow how) {
        _cleanup_free_ char *p = NULL, *status = NULL, *comm = NULL;
        uid_t uid = 0;

        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].pid == pid && streq(l->items[i].node, node->path)) {
                        if (how < l->items[i].how)
                                l->items[i].how = how;
                        return 0;
                }

        if (asprintf(&p, "%s/%d/status", proc_root, pid) < 0)
                return -ENOMEM;
        if (read_full_file(p, &status, NULL) >= 0)
                (void) proc_status_uid(status, &uid);
        free(p);
        if (asprintf(&p, "%s/%d/comm", proc_root, pid) < 0)
                return -ENOMEM;
        if (read_one_line_file(p, &comm) < 0 && !(comm = strdup("?")))
                return -ENOMEM;

        Holder *t = realloc(l->items, sizeof(Holder) * (l->n + 1));
        if (!t)
                return -ENOMEM;
        l->items = t;

        Holder *h = &l->items[l->n];
        *h = (Holder) { .pid = pid, .uid = uid, .comm = printable_name(comm), .node = strdup(node->path),
                        .how = how, .kind = node->kind };
        struct passwd *pw = getpwuid(uid);
        if (pw)
                h->user = printable_name(pw->pw_name);
        else if (asprintf(&h->user, "%u", (unsigned) uid) < 0)
                h->user = NULL;
        l->n++;
        return h->node && h->user && h->comm ? 0 : -ENOMEM;
}

static const DeviceNode *node_by_devnum(const DeviceNodeList *nodes, dev_t rdev, bool block) {
        for (size_t i = 0; i < nodes->n; i++)
                if (nodes->items[i].devnum != 0 && nodes->items[i].devnum == rdev && nodes->items[i].block == block)
                        return &nodes->items[i];
        return NULL;
}

static const DeviceNode *node_by_inode(const DeviceNodeList *nodes, dev_t dev, ino_t ino) {
        for (size_t i = 0; i < nodes->n; i++)
                if (nodes->items[i].st_ino != 0 && nodes->items[i].st_dev == dev && nodes->items[i].st_ino == ino)
                        return &nodes->items[i];
        return NULL;
}

static int scan_fds(int procfd, const char *proc_root, pid_t pid, const DeviceNodeList *nodes, const char *devp,
                    HolderList *l) {
        char fddir[32];
        int r;

        snprintf(fddir, sizeof(fddir), "%d/fd", pid);
        /* Processes come and go and others' fds need root: skip what we cannot read. */
        int dfd = openat(procfd, fddir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return 0;
        _cleanup_closedir_ DIR *fds = fdopendir(dfd);
        if (!fds) {
                close(dfd);
                return 0;
        }

        size_t devp_len = strlen(devp);
        struct dirent *fe;
        while ((fe = readdir(fds))) {
                char target[PATH_MAX];
                struct statx stx;
                if (fe->d_name[0] == '.')
                        continue;
                /* The link's text costs nothing; stat() would reach the file's filesystem. */
                ssize_t k = readlinkat(dfd, fe->d_name, target, sizeof(target) - 1);
                if (k <= (ssize_t) devp_len || memcmp(target, devp, devp_len) != 0 || target[devp_len] != '/')
                        continue;
                target[k] = 0;
                if (statx(dfd, fe->d_name, AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO, &stx) < 0)
                        continue;
                const DeviceNode *n = NULL;
                if (S_ISCHR(stx.stx_mode) || S_ISBLK(stx.stx_mode))
                        n = node_by_devnum(nodes, makedev(stx.stx_rdev_major, stx.stx_rdev_minor), S_ISBLK(stx.stx_mode));
                else  /* not a device node: only the very file at the node's path (tests' testbeds) */
                        n = node_by_inode(nodes, makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino);
                if (n && (r = holder_add(l, proc_root, pid, n, HOLD_FD)) < 0)
                        return r;
        }
        return 0;
}

/* The mapped file's device and inode from one maps line, without sscanf:
 * a desktop's /proc holds tens of thousands of these lines. */
static bool maps_line_file(const char *p, const char *end, unsigned *ret_major, unsigned *ret_minor,
                           unsigned long *ret_inode) {
        /* Skip "start-end perms offset ". */
        for (int field = 0; field < 3; field++) {
                p = memchr(p, ' ', end - p);
                if (!p)
                        return false;
                p++;
        }
        unsigned long v[3] = {};
        for (int i = 0; i < 3; i++) {
                const char *start = p;
                for (; p < end; p++) {
                        unsigned d;
                        if (*p >= '0' && *p <= '9')
                                d = *p - '0';
                        else if (i < 2 && *p >= 'a' && *p <= 'f')
                                d = *p - 'a' + 10;
                        else
                                break;
                        v[i] = v[i] * (i < 2 ? 16 : 10) + d;
                }
                if (p == start || p == end || (*p != (i == 0 ? ':' : ' ') && !(i == 2 && *p == '\n')))
                        return false;
                p++;
        }
        *ret_major = (unsigned) v[0];
        *ret_minor = (unsigned) v[1];
        *ret_inode = v[2];
        return true;
}

int proc_maps_line(const char *line, unsigned *ret_major, unsigned *ret_minor, unsigned long *ret_inode) {
        return maps_line_file(line, line + strlen(line), ret_major, ret_minor, ret_inode) ? 0 : -EINVAL;
}

/* Returns 1 when the process has a memory map at all, 0 for a kernel thread or a zombie (no fds either). */
static int scan_maps(int procfd, const char *proc_root, pid_t pid, const DeviceNodeList *nodes, char **buf,
                     size_t *size, HolderList *l) {
        char path[32];
        size_t len = 0;
        int r;

        snprintf(path, sizeof(path), "%d/maps", pid);
        _cleanup_close_ int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 1;  /* cannot tell: look at its fds */
        /* Large reads: each one takes the process's mmap lock and walks to its position again. */
        for (;;) {
                if (*size - len < 65536) {
                        size_t want = *size > 0 ? *size * 2 : 262144;
                        char *b = realloc(*buf, want);
                        if (!b)
                                return -ENOMEM;
                        *buf = b;
                        *size = want;
                }
                ssize_t k = read(fd, *buf + len, *size - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return 1;  /* a maps that cannot be read is no kernel thread's: look at its fds */
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (len == 0)
                return 0;

        for (const char *p = *buf, *end = *buf + len; p < end;) {
                const char *nl = memchr(p, '\n', end - p) ?: end;
                unsigned major, minor;
                unsigned long inode;
                if (maps_line_file(p, nl < end ? nl + 1 : nl, &major, &minor, &inode) && inode != 0) {
                        const DeviceNode *n = node_by_inode(nodes, makedev(major, minor), (ino_t) inode);
                        if (n && (r = holder_add(l, proc_root, pid, n, HOLD_MAPPING)) < 0)
                                return r;
                }
                p = nl + 1;
        }
        return 1;
}

static int scan(const char *proc_root, const DeviceNodeList *nodes, bool maps, HolderList *ret) {
        HolderList l = {};
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        bool any_inode = false;
        int r = 0;

        for (size_t i = 0; i < nodes->n; i++)
                any_inode = any_inode || nodes->items[i].st_ino != 0;
        if (nodes->n == 0) {
                *ret = l;
                return 0;
        }

        _cleanup_closedir_ DIR *proc = opendir(proc_root);
        if (!proc)
                return -errno;
        int procfd = dirfd(proc);

        const char *devp = dev_dir();
        struct dirent *de;
        while ((de = readdir(proc))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 0 || pid == getpid())
                        continue;
                /* Maps first: an empty one is a kernel thread's (most of /proc on a
                 * small system) or a zombie's, which have no fds to look at either
                 * (an exiting process drops its mm just before its files: those
                 * are closed a moment later, and its unbind would not wait long). */
                if (maps && any_inode && (r = scan_maps(procfd, proc_root, (pid_t) pid, nodes, &buf, &size, &l)) <= 0) {
                        if (r < 0) {
                                holder_list_done(&l);
                                return r;
                        }
                        continue;
                }
                if ((r = scan_fds(procfd, proc_root, (pid_t) pid, nodes, devp, &l)) < 0) {
                        holder_list_done(&l);
                        return r;
                }
        }

        *ret = l;
        return 0;
}

int holders_scan(const char *proc_root, const DeviceNodeList *nodes, HolderList *ret) {
        return scan(proc_root, nodes, true, ret);
}

int holders_scan_fds(const char *proc_root, const DeviceNodeList *nodes, HolderList *ret) {
        return scan(proc_root, nodes, false, ret);
}

int gpu_holders(const Gpu *g, const char *proc_root, unsigned kinds, bool kernel, HolderList *ret) {
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        HolderList l = {};
        int r = gpu_device_nodes(g, kinds, &nodes);
        if (r < 0)
                return r;
        if ((r = holders_scan(proc_root, &nodes, &l)) < 0)
                return r;
        if (kernel && (r = kernel_holders_scan(g, &nodes, &l)) < 0) {
                holder_list_done(&l);
                return r;
        }
        *ret = l;
        return 0;
}

size_t holders_count(const HolderList *l, HoldHow how) {
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++)
                n += l->items[i].how == how;
        return n;
}

size_t holders_undrainable(const HolderList *l) {
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++)
                n += l->items[i].how == HOLD_KERNEL || l->items[i].kind != NODE_FUNCTION;
        return n;
}

char *holder_describe(const Holder *h) {
        char *s = NULL;
        int r = h->how == HOLD_KERNEL ?
                asprintf(&s, "%s (kernel) on %s%s%s", h->comm, h->node, h->fix ? ": " : "", strempty(h->fix)) :
                asprintf(&s, "%d %s (user %s, %s) on %s", h->pid, h->comm, h->user, strna(hold_how_to_string(h->how)),
                         h->node);
        return r < 0 ? NULL : s;
}

char *holders_format(const HolderList *l) {
        size_t size = 0;
        char *buf = NULL;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_free_ char *one = holder_describe(&l->items[i]);
                fprintf(f, "%s%s", i > 0 ? ", " : "", strna(one));
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

void holders_print(FILE *out, const HolderList *l) {
        if (l->n == 0)
                fprintf(out, "Holders:      none\n");
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_free_ char *one = holder_describe(&l->items[i]);
                fprintf(out, "%s%s\n", i == 0 ? "Holders:      " : "              ", strna(one));
        }
}

/* Tabs and newlines separate the fields and lines: none may be inside one. */
static void put_field(FILE *f, const char *s) {
        fputc('\t', f);
        for (const char *c = strempty(s); *c; c++)
                fputc(*c == '\t' || *c == '\n' ? ' ' : *c, f);
}

int holders_serialize(const HolderList *l, FILE *f) {
        for (size_t i = 0; i < l->n; i++) {
                const Holder *h = &l->items[i];
                fprintf(f, "%d %u %d %d", (int) h->pid, (unsigned) h->uid, (int) h->how, (int) h->kind);
                put_field(f, h->user);
                put_field(f, h->comm);
                put_field(f, h->node);
                put_field(f, h->fix ?: "-");
                fputc('\n', f);
        }
        return ferror(f) ? -EIO : 0;
}

static char *take_field(char **p) {
        char *s = *p, *e = strchr(s, '\t');
        if (e)
                *e = 0, *p = e + 1;
        else
                *p = s + strlen(s);
        return strdup(s);
}

int holders_deserialize(const char *text, HolderList *ret) {
        _cleanup_free_ char *copy = strdup(text);
        HolderList l = {};
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                int pid, how, kind, k = 0;
                unsigned uid;
                if (sscanf(line, "%d %u %d %d%n", &pid, &uid, &how, &kind, &k) != 4 || line[k] != '\t' ||
                    how < 0 || how >= _HOLD_HOW_MAX || kind < 0 || kind >= _NODE_KIND_MAX) {
                        holder_list_done(&l);
                        return -EBADMSG;
                }
                char *p = line + k + 1;
                Holder *t = realloc(l.items, sizeof(Holder) * (l.n + 1));
                if (!t) {
                        holder_list_done(&l);
                        return -ENOMEM;
                }
                l.items = t;
                Holder *h = &l.items[l.n++];
                *h = (Holder) { .pid = pid, .uid = uid, .how = how, .kind = kind };
                h->user = take_field(&p);
                h->comm = take_field(&p);
                h->node = take_field(&p);
                h->fix = take_field(&p);
                if (h->fix && streq(h->fix, "-"))
                        h->fix = mfree(h->fix);
                if (!h->user || !h->comm || !h->node) {
                        holder_list_done(&l);
                        return -ENOMEM;
                }
        }
        *ret = l;
        return 0;
}

/* A process holding several nodes is listed once per node: signal it once. */
static bool holder_seen(const HolderList *l, size_t i) {
        for (size_t j = 0; j < i; j++)
                if (l->items[j].pid == l->items[i].pid && l->items[j].how != HOLD_KERNEL &&
                    l->items[j].kind == NODE_FUNCTION)
                        return true;
        return false;
}

int holders_drain(const HolderList *l, usec_t timeout) {
        _cleanup_free_ struct pollfd *fds = calloc(l->n + 1, sizeof(struct pollfd));
        size_t n = 0, by_pid = 0;
        int r = 0;

        if (!fds)
                return -ENOMEM;

        /* A pidfd becomes readable when its process exits: no polling of /proc. */
        for (size_t i = 0; i < l->n; i++) {
                const Holder *h = &l->items[i];
                /* Never the VM's QEMU (vfio nodes), never a user of a node every card
                 * shares, never the kernel: the caller refuses those. */
                if (h->how == HOLD_KERNEL || h->kind != NODE_FUNCTION || h->pid <= 0 || holder_seen(l, i))
                        continue;
                int fd = pidfd_open(h->pid, 0);
                if (fd < 0 && (errno == ESRCH || !process_alive(h->pid)))
                        continue; /* already gone */
                log_notice("Asking %d %s (user %s) to exit: it holds %s.", h->pid, h->comm, h->user, h->node);
                if (fd < 0) {
                        /* No pidfds (Linux < 5.3, or valgrind): signal by pid and
                         * look again once the grace period is over. */
                        if (kill(h->pid, SIGTERM) < 0 && errno != ESRCH)
                                r = log_warning_errno(errno, "Failed to send SIGTERM to %d: %m", h->pid);
                        else
                                by_pid++;
                        continue;
                }
                if (pidfd_send_signal(fd, SIGTERM, NULL, 0) < 0) {
                        r = log_warning_errno(errno, "Failed to send SIGTERM to %d: %m", h->pid);
                        close(fd);
                        continue;
                }
                fds[n++] = (struct pollfd) { .fd = fd, .events = POLLIN };
        }

        usec_t deadline = now_usec() + timeout;
        size_t left = n;
        while (left > 0) {
                int k = poll(fds, n, poll_timeout_ms(deadline));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                for (size_t i = 0; i < n; i++)
                        if (fds[i].fd >= 0 && fds[i].revents) {
                                close(fds[i].fd);
                                fds[i].fd = -1;
                                left--;
                        }
        }
        for (size_t i = 0; i < n; i++)
                if (fds[i].fd >= 0)
                        close(fds[i].fd);

        if (by_pid > 0) {
                while (poll(NULL, 0, poll_timeout_ms(deadline)) < 0 && errno == EINTR)
                        ;
                for (size_t i = 0; i < l->n; i++)
                        if (l->items[i].how != HOLD_KERNEL && l->items[i].kind == NODE_FUNCTION &&
                            !holder_seen(l, i) && process_alive(l->items[i].pid))
                                left++;
        }
        return left > 0 ? -ETIMEDOUT : r;
}
