/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "time-util.h"

int read_full_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        size_t size = 0, alloc = 4096;
        _cleanup_free_ char *buf = malloc(alloc + 1);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                ssize_t n = read(fd, buf + size, alloc - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size == alloc) {
                        if (alloc > 16 * 1024 * 1024)
                                return -EFBIG;
                        char *t = realloc(buf, alloc * 2 + 1);
                        if (!t)
                                return -ENOMEM;
                        buf = t;
                        alloc *= 2;
                }
        }
        buf[size] = 0;
        if (ret_size)
                *ret_size = size;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_one_line_file(const char *path, char **ret) {
        char *buf;
        int r = read_full_file(path, &buf, NULL);
        if (r < 0)
                return r;
        buf[strcspn(buf, "\n")] = 0;
        *ret = buf;
        return 0;
}

int write_string_file_atomic(const char *path, const char *content) {
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;

        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;

        size_t len = strlen(content);
        int r = 0;
        if (write(fd, content, len) != (ssize_t) len)
                r = errno > 0 ? -errno : -EIO;
        else if (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int readlink_malloc(const char *path, char **ret) {
        char buf[PATH_MAX];
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        char *s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int readlink_basename(const char *path, char **ret) {
        _cleanup_free_ char *target = NULL;
        int r = readlink_malloc(path, &target);
        if (r < 0)
                return r;
        const char *b = strrchr(target, '/');
        char *s = strdup(b ? b + 1 : target);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int parse_sysfs_hex(const char *s, unsigned long *ret) {
        char *end;
        if (!s)
                return -EINVAL;
        const char *p = startswith(s, "0x") ?: s;
        if (!*p || *p == '-' || *p == '+' || *p == ' ')
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(p, &end, 16);
        if (errno != 0)
                return -errno;
        if (end == p || (*end && !streq(end, "\n")))
                return -EINVAL;
        *ret = v;
        return 0;
}

int mkdir_p(const char *path, unsigned mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int wait_for_path(const char *path, unsigned long long timeout_usec) {
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return -EINVAL;
        *slash = 0;

        _cleanup_close_ int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO) < 0)
                return -errno;
        /* Looked at after the watch exists: a node made in between is not missed. */
        usec_t deadline = now_usec() + timeout_usec;
        for (;;) {
                /* stat(), not access(): access() is a permission check, and on a
                 * device node in a service with DevicePolicy=closed the cgroup's
                 * device filter refuses it (EPERM) though the node is there. */
                struct stat st;
                if (stat(path, &st) >= 0)
                        return 0;
                int ms = poll_timeout_ms(deadline);
                if (ms == 0)
                        return -ETIMEDOUT;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, ms) < 0 && errno != EINTR)
                        return -errno;
                char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                while (read(fd, buf, sizeof(buf)) > 0)
                        ;
        }
}
