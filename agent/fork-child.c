/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fork-child.h"

#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define KEEP_MAX 16

static bool kept(const int *keep, size_t n, int fd) {
        for (size_t i = 0; i < n; i++)
                if (keep[i] == fd)
                        return true;
        return false;
}

static int cmp_int(const void *a, const void *b) {
        return *(const int *) a - *(const int *) b;
}

/* The slow way, where close_range() is missing (Linux < 5.9) or refused
 * (seccomp): the fds /proc lists, else every number below the limit. */
static int close_fds_by_listing(const int *keep, size_t n) {
        DIR *d = opendir("/proc/self/fd");
        if (d) {
                int self = dirfd(d), failed = 0;
                struct dirent *de;
                while ((de = readdir(d))) {
                        char *end;
                        long fd = strtol(de->d_name, &end, 10);
                        if (*end || end == de->d_name || fd < 3 || fd == self || kept(keep, n, (int) fd))
                                continue;
                        if (close((int) fd) < 0 && errno != EBADF)
                                failed = -errno;
                }
                closedir(d);
                return failed;
        }
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        rlim_t max = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1 << 20) ? (1 << 20) : rl.rlim_max;
        for (rlim_t fd = 3; fd < max; fd++)
                if (!kept(keep, n, (int) fd))
                        (void) close((int) fd);
        return 0;
}

int close_all_fds_but(const int *keep, size_t n_keep) {
        int sorted[KEEP_MAX];
        size_t n = 0;

        for (size_t i = 0; i < n_keep; i++)
                if (keep[i] >= 3 && n < KEEP_MAX && !kept(sorted, n, keep[i]))
                        sorted[n++] = keep[i];
        if (n < n_keep && n == KEEP_MAX)
                return -E2BIG;
        qsort(sorted, n, sizeof(int), cmp_int);

        /* The ranges between the kept ones. */
        unsigned lo = 3;
        for (size_t i = 0; i <= n; i++) {
                unsigned hi = i < n ? (unsigned) sorted[i] - 1 : ~0U;
                if (lo <= hi && close_range(lo, hi, 0) < 0)
                        return close_fds_by_listing(sorted, n);
                if (i < n)
                        lo = (unsigned) sorted[i] + 1;
        }
        return 0;
}

/* The socket libsystemd's sd_journal_send() opened (it keeps its number
 * for the process's life): a datagram socket connected to the journal. */
static int journal_socket(void) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return -1;
        int found = -1;
        struct dirent *de;
        while (found < 0 && (de = readdir(d))) {
                char *end;
                long fd = strtol(de->d_name, &end, 10);
                struct sockaddr_un sa = {};
                socklen_t l = sizeof(sa);
                if (*end || end == de->d_name || fd < 3 || fd == dirfd(d))
                        continue;
                if (getpeername((int) fd, (struct sockaddr *) &sa, &l) == 0 && sa.sun_family == AF_UNIX &&
                    l > offsetof(struct sockaddr_un, sun_path) && streq(sa.sun_path, JOURNAL_SOCKET))
                        found = (int) fd;
        }
        closedir(d);
        return found;
}

static void reset_signals(void) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);  /* EINVAL for the ones glibc keeps: fine */
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
}

int fork_child(const char *name, ForkFlags flags, const int *keep, size_t n_keep, pid_t *ret_pid) {
        pid_t parent = getpid();
        int all[KEEP_MAX + 1];

        if (n_keep > KEEP_MAX)
                return -E2BIG;
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0) {
                *ret_pid = pid;
                return 1;
        }

        if (flags & FORK_DEATHSIG) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* The parent may have gone before the line above: nobody would kill us then. */
                if (getppid() != parent)
                        _exit(EXIT_FAILURE);
        }
        reset_signals();
        memcpy(all, keep, n_keep * sizeof(int));
        size_t n = n_keep;
        if ((flags & FORK_KEEP_LOG) && log_to_journal()) {
                int j = journal_socket();
                if (j >= 0)
                        all[n++] = j;
        }
        /* A child that keeps the parent's fds could hold its handoff lock or
         * its report pipe for as long as it is stuck in the kernel. */
        if (close_all_fds_but(all, n) < 0)
                _exit(EXIT_FAILURE);
        if (name)
                (void) prctl(PR_SET_NAME, name);
        return 0;
}
