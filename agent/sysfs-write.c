/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sysfs-write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "fork-child.h"
#include "holders.h"
#include "macro.h"

#define REQUEST_MAX (PATH_MAX + 256)

static int32_t write_one(const char *path, const char *value) {
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno;
        size_t len = strlen(value);
        ssize_t n = write(fd, value, len);
        int32_t e = n < 0 ? errno : (size_t) n != len ? EIO : 0; /* sysfs takes a store in one write */
        if (close(fd) < 0 && e == 0 && errno != EINTR)
                e = errno;
        return e;
}

/* Requests are "PATH\0VALUE" datagrams; each answer is the errno, 0 for done. */
_Noreturn static void writer_main(int fd) {
        static char req[REQUEST_MAX + 1];

        for (;;) {
                ssize_t n = recv(fd, req, REQUEST_MAX, 0);
                if (n <= 0)
                        _exit(n < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
                req[n] = 0;
                size_t plen = strnlen(req, (size_t) n);
                int32_t e = plen + 1 < (size_t) n ? write_one(req, req + plen + 1) : EINVAL;
                /* Nobody waits any more (the write outlived its deadline): the
                 * exit status tells whoever reaps us how it ended. */
                if (send(fd, &e, sizeof(e), MSG_NOSIGNAL) < 0)
                        _exit(e);
        }
}

static int writer_start(SysfsWriter *w) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;

        /* Only its socket: a stuck writer must not hold its parent's locks or
         * pipes for ever. No death signal: the stuck record names this pid,
         * whose exit is the sign that the write returned. */
        pid_t pid;
        int r = fork_child("vfiod-writer", 0, &sv[1], 1, &pid);
        if (r < 0) {
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (r == 0)
                writer_main(sv[1]);
        close(sv[1]);
        *w = (SysfsWriter) { .pid = pid, .fd = sv[0] };
        return 0;
}

void sysfs_writer_stop(SysfsWriter *w) {
        if (w->fd >= 0)
                close(w->fd); /* the writer's recv() sees the end and it exits */
        if (w->pid > 0)
                while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        *w = SYSFS_WRITER_INIT;
}

static void writer_abandon(SysfsWriter *w) {
        close(w->fd);
        *w = SYSFS_WRITER_INIT;
}

int sysfs_writer_write(SysfsWriter *w, const char *path, const char *value, usec_t timeout, pid_t *ret_stuck_pid) {
        char req[REQUEST_MAX];
        int32_t e;
        int r;

        size_t plen = strlen(path), vlen = strlen(value);
        if (plen + 1 + vlen > sizeof(req))
                return -ENAMETOOLONG;
        memcpy(req, path, plen + 1);
        memcpy(req + plen + 1, value, vlen);

        if (w->fd < 0 && (r = writer_start(w)) < 0)
                return r;
        if (send(w->fd, req, plen + 1 + vlen, MSG_NOSIGNAL) < 0) {
                r = -errno;
                sysfs_writer_stop(w);
                return r;
        }

        usec_t deadline = now_usec() + timeout;
        struct pollfd p = { .fd = w->fd, .events = POLLIN };
        for (;;) {
                int k = poll(&p, 1, poll_timeout_ms(deadline));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0) {
                        if (ret_stuck_pid)
                                *ret_stuck_pid = w->pid;
                        writer_abandon(w);
                        return -ETIME;
                }
                break;
        }

        ssize_t n = recv(w->fd, &e, sizeof(e), 0);
        if (n != sizeof(e)) {
                /* The writer died (killed?): the write's fate is unknown. */
                sysfs_writer_stop(w);
                return -EPIPE;
        }
        return -e;
}

int sysfs_write_deadline(const char *path, const char *value, usec_t timeout, pid_t *ret_stuck_pid) {
        SysfsWriter w = SYSFS_WRITER_INIT;
        int r = sysfs_writer_write(&w, path, value, timeout, ret_stuck_pid);
        sysfs_writer_stop(&w);
        return r;
}
