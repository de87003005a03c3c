/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sysfs-write.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "holders.h"
#include "macro.h"

int process_state(pid_t pid, char *ret) {
        _cleanup_free_ char *stat = NULL;
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/stat", pid);
        int r = read_full_file(p, &stat, NULL);
        return r < 0 ? r : proc_stat_state(stat, ret);
}

_Noreturn static void writer_child(const char *path, const char *value) {
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                _exit(errno);
        size_t len = strlen(value);
        ssize_t n = write(fd, value, len);
        if (n < 0)
                _exit(errno);
        /* sysfs takes a store in one write; a short one is an error. */
        if ((size_t) n != len)
                _exit(EIO);
        if (close(fd) < 0 && errno != EINTR)
                _exit(errno);
        _exit(0);
}

int sysfs_write_deadline(const char *path, const char *value, usec_t timeout, pid_t *ret_stuck_pid) {
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                writer_child(path, value);

        _cleanup_close_ int pidfd = pidfd_open(pid, 0);
        if (pidfd < 0) {
                int r = -errno;
                (void) waitpid(pid, NULL, 0);
                return r;
        }

        usec_t deadline = now_usec() + timeout;
        for (;;) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                int k = poll(&p, 1, poll_timeout_ms(deadline));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0) {
                        if (ret_stuck_pid)
                                *ret_stuck_pid = pid;
                        return -ETIME;
                }
                break;
        }

        siginfo_t si = {};
        if (waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0)
                return -errno;
        if (si.si_code != CLD_EXITED)
                return -EINTR;
        return -si.si_status;
}
