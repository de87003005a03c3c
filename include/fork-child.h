/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* The one way vfiod and vfioctl start a child process (as systemd's
 * safe_fork()): nothing of the parent's but what it is given. */
typedef enum ForkFlags {
        FORK_DEATHSIG = 1 << 0,  /* SIGKILL when the parent exits: the child only serves it */
        FORK_KEEP_LOG = 1 << 1,  /* the child logs: keep the journal's socket (libsystemd caches it) */
} ForkFlags;

/* Forks. In the child: every fd closed but 0, 1, 2, the n_keep in keep and,
 * with FORK_KEEP_LOG, the journal's socket (when none can be closed the
 * child _exit()s: it must not hold the parent's locks or sockets); the
 * signal mask emptied and every disposition back to its default (vfiod
 * blocks SIGTERM for its loop: a child must die of systemd's SIGTERM);
 * its name (ps, /proc/PID/comm) set to name. Returns 0 in the child, 1 in
 * the parent with *ret_pid, or -errno. */
int fork_child(const char *name, ForkFlags flags, const int *keep, size_t n_keep, pid_t *ret_pid);

/* The same for the child, exposed for the tests: closes every fd >= 3 not
 * in keep. 0, or -errno when some could not be closed. */
int close_all_fds_but(const int *keep, size_t n_keep);
