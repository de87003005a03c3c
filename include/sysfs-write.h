/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include "time-util.h"

/* Writes value to a sysfs attribute in a child process and waits for it up to
 * timeout. A write to a driver's unbind can block for ever in the kernel
 * (uninterruptible sleep, D): it must neither stall the caller nor keep it
 * from exiting. Returns 0, the write's negative errno, or -ETIME with the
 * writer's pid in ret_stuck_pid; that writer is left where it is. */
int sysfs_write_deadline(const char *path, const char *value, usec_t timeout, pid_t *ret_stuck_pid);

/* One letter from /proc/PID/stat: R, S, D, Z ... */
int process_state(pid_t pid, char *ret);
