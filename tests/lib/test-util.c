/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

#define die(...)                                                               \
        do {                                                                   \
                int _saved_ = errno;                                           \
                fprintf(stderr, "%s: ", program_invocation_short_name);        \
                errno = _saved_;                                               \
                fprintf(stderr, __VA_ARGS__);                                  \
                fputc('\n', stderr);                                           \
                abort();                                                       \
        } while (0)

/* nftw() passes no userdata: the first error of this thread's walk. */
static _Thread_local int rm_rf_error;

static int rm_rf_one(const char *path, const struct stat *st _unused_, int type, struct FTW *ftw _unused_) {
        /* FTW_DP: a directory, after what was in it; FTW_DNR: one that could
         * not be read (its rmdir() says whether anything is left in it). */
        int r = type == FTW_DP || type == FTW_DNR ? rmdir(path) : unlink(path);
        if (r < 0 && errno != ENOENT) {
                if (rm_rf_error == 0)
                        rm_rf_error = -errno;
                fprintf(stderr, "%s: cannot remove %s: %m\n", program_invocation_short_name, path);
        }
        return 0;  /* go on: remove as much as can be */
}

int rm_rf(const char *path) {
        rm_rf_error = 0;
        /* FTW_PHYS: symlinks are reported (and unlinked), not followed;
         * FTW_MOUNT: nothing on another filesystem is reported; FTW_DEPTH:
         * a directory after its contents. */
        if (nftw(path, rm_rf_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT) {
                int r = -errno;
                fprintf(stderr, "%s: cannot remove %s: %m\n", program_invocation_short_name, path);
                return r;
        }
        return rm_rf_error;
}

void write_file(const char *path, const char *content) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                die("cannot create %s: %m", path);
        for (size_t len = strlen(content); len > 0;) {
                ssize_t n = write(fd, content, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        die("cannot write %s: %s", path, n < 0 ? strerror(errno) : "nothing written");
                content += n;
                len -= (size_t) n;
        }
        if (close(TAKE_FD(fd)) < 0)
                die("cannot write %s: %m", path);
}

char *read_file(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, len = 0;
        for (;;) {
                if (len + 1 >= size) {
                        size_t n = size ? size * 2 : 4096;
                        char *b = realloc(buf, n);
                        if (!b)
                                return NULL;
                        buf = b;
                        size = n;
                }
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return NULL;
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = 0;
        return TAKE_PTR(buf);
}

void mkdirs(const char *path) {
        if (!*path)
                die("cannot create a directory with an empty name");
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                die("out of memory");
        /* Each parent, then path itself; one that exists already is fine if a directory. */
        for (char *s = p + 1;; s++) {
                if (*s && *s != '/')
                        continue;
                char c = *s;
                *s = 0;
                struct stat st;
                if (mkdir(p, 0755) < 0 && (errno != EEXIST || stat(p, &st) < 0 || !S_ISDIR(st.st_mode)))
                        die("cannot create %s: %s", p, errno == EEXIST ? "not a directory" : strerror(errno));
                *s = c;
                if (!c)
                        break;
        }
}

char *path_join(const char *a, const char *b) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s", a, b) < 0)
                die("out of memory");
        return p;
}
