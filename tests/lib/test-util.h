/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the C tests (tests/unit, tests/umockdev, fakegpu): files
 * and directories on real paths. Those that abort say so: they print
 * "PROGRAM: what failed: error" to stderr and call abort(), which is safe in
 * any thread and in a forked child, with or without cmocka. */

/* Removes path and everything below it; a symlink is removed, never
 * followed, and no other filesystem is entered. 0 (also when path does not
 * exist), or the first error as -errno, reported on stderr. */
int rm_rf(const char *path);

/* Creates or truncates path (0644) and writes content to it; aborts on failure. */
void write_file(const char *path, const char *content);

/* The whole file, NUL-terminated, to be freed; NULL with errno set if it cannot be read. */
char *read_file(const char *path);

/* Creates path and its missing parents (0755), like mkdir -p; aborts on failure. */
void mkdirs(const char *path);

/* "a/b", to be freed; aborts when out of memory. */
char *path_join(const char *a, const char *b);
