/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include "time-util.h"

/* A write to a driver's unbind or bind can block for ever in the kernel
 * (uninterruptible sleep, D): it must neither stall the caller nor keep it
 * from exiting. So sysfs writes run in a writer process, a fork of the
 * caller that takes requests over a socket; the caller waits for each
 * answer up to a deadline. A process, not a thread: a thread in D state
 * would keep the whole process from exiting. */
typedef struct SysfsWriter {
        pid_t pid;
        int fd;
} SysfsWriter;

#define SYSFS_WRITER_INIT ((SysfsWriter) { .pid = 0, .fd = -1 })

/* Returns 0, the write's negative errno, or -ETIME with the writer's pid in
 * ret_stuck_pid: that writer is left where it is and forgotten, and the next
 * write starts a new one. */
int sysfs_writer_write(SysfsWriter *w, const char *path, const char *value, usec_t timeout, pid_t *ret_stuck_pid);
/* Ends the writer (if it is not stuck) and reaps it. */
void sysfs_writer_stop(SysfsWriter *w);

/* One write with a writer of its own. */
int sysfs_write_deadline(const char *path, const char *value, usec_t timeout, pid_t *ret_stuck_pid);

