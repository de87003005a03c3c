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

#include "fileio.h"
#include "log.h"
#include "strv.h"
#include "time-util.h"

void holder_list_done(HolderList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].user);
                free(l->items[i].comm);
                free(l->items[i].node);
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

int process_state(pid_t pid, char *ret) {
        _cleanup_free_ char *stat = NULL;
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/stat", pid);
        int r = read_full_file(p, &stat, NULL);
        return r < 0 ? r : proc_stat_state(stat, ret);
}

bool process_alive(pid_t pid) {
        char state;
        /* A zombie has exited: only its parent's wait is missing. */
        return pid > 0 && process_state(pid, &state) >= 0 && state != 'Z' && state != 'X';
}

typedef struct NodeId {
        dev_t dev, rdev;
        ino_t ino;
        bool chr;
        const char *path;
} NodeId;

static bool node_matches(const NodeId *n, const struct stat *st) {
        if (n->chr && S_ISCHR(st->st_mode))
                return st->st_rdev == n->rdev;
        return st->st_dev == n->dev && st->st_ino == n->ino;
}

static int holder_add(HolderList *l, const char *proc_root, pid_t pid, const char *node) {
        _cleanup_free_ char *p = NULL, *status = NULL, *comm = NULL;
        uid_t uid = 0;

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
        *h = (Holder) { .pid = pid, .uid = uid, .comm = TAKE_PTR(comm), .node = strdup(node) };
        struct passwd *pw = getpwuid(uid);
        if (pw)
                h->user = strdup(pw->pw_name);
        else if (asprintf(&h->user, "%u", (unsigned) uid) < 0)
                h->user = NULL;
        l->n++;
        return h->node && h->user ? 0 : -ENOMEM;
}

int holders_scan(const char *proc_root, char * const *nodes, HolderList *ret) {
        _cleanup_free_ NodeId *ids = calloc(strv_length(nodes) + 1, sizeof(NodeId));
        size_t n_ids = 0;
        HolderList l = {};
        int r = 0;

        if (!ids)
                return -ENOMEM;
        STRV_FOREACH(n, nodes) {
                struct stat st;
                if (stat(*n, &st) < 0)
                        continue;
                ids[n_ids++] = (NodeId) { .dev = st.st_dev, .ino = st.st_ino, .rdev = st.st_rdev,
                                          .chr = S_ISCHR(st.st_mode), .path = *n };
        }
        if (n_ids == 0) {
                *ret = l;
                return 0;
        }

        _cleanup_closedir_ DIR *proc = opendir(proc_root);
        if (!proc)
                return -errno;

        struct dirent *de;
        while ((de = readdir(proc))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 0 || pid == getpid())
                        continue;

                char fddir[128];
                snprintf(fddir, sizeof(fddir), "%s/%ld/fd", proc_root, pid);
                /* Processes come and go and others' fds need root: skip what we cannot read. */
                _cleanup_closedir_ DIR *fds = opendir(fddir);
                if (!fds)
                        continue;

                struct dirent *fe;
                const char *found = NULL;
                while (!found && (fe = readdir(fds))) {
                        char fdpath[PATH_MAX + 128];
                        struct stat st;
                        if (fe->d_name[0] == '.')
                                continue;
                        snprintf(fdpath, sizeof(fdpath), "%s/%s", fddir, fe->d_name);
                        if (stat(fdpath, &st) < 0)
                                continue;
                        for (size_t i = 0; i < n_ids && !found; i++)
                                if (node_matches(&ids[i], &st))
                                        found = ids[i].path;
                }
                if (found && (r = holder_add(&l, proc_root, (pid_t) pid, found)) < 0) {
                        holder_list_done(&l);
                        return r;
                }
        }

        *ret = l;
        return 0;
}

char *holders_format(const HolderList *l) {
        size_t size = 0;
        char *buf = NULL;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < l->n; i++)
                fprintf(f, "%s%d %s (user %s) on %s", i > 0 ? ", " : "",
                        l->items[i].pid, l->items[i].comm, l->items[i].user, l->items[i].node);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
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
                        if (process_alive(l->items[i].pid))
                                left++;
        }
        return left > 0 ? -ETIMEDOUT : r;
}
