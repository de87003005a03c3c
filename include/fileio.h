/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* First line of a file, without its newline. */
int read_one_line_file(const char *path, char **ret);
int read_full_file(const char *path, char **ret, size_t *ret_size);
/* Written to a temporary file in the same directory, fsync'ed, renamed over. */
int write_string_file_atomic(const char *path, const char *content);
int readlink_malloc(const char *path, char **ret);
/* The last component of a symlink's target: driver -> ../../bus/pci/drivers/nvidia */
int readlink_basename(const char *path, char **ret);
/* A sysfs number such as "0x030000\n". */
int parse_sysfs_hex(const char *s, unsigned long *ret);
int mkdir_p(const char *path, unsigned mode);
/* Until PATH exists (inotify on its directory), at most TIMEOUT_USEC: 0, or
 * -ETIMEDOUT, or the error that keeps it from being watched. */
int wait_for_path(const char *path, unsigned long long timeout_usec);
