/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "fileio.h"
#include "holders.h"
#include "log.h"
#include "strv.h"

const char *runtime_dir(void) {
        return secure_getenv("VFIOD_RUNTIME_DIR") ?: secure_getenv("RUNTIME_DIRECTORY") ?: "/run/vfiod";
}

const char *modprobe_dir(void) {
        return secure_getenv("VFIOD_MODPROBE_DIR") ?: "/run/modprobe.d";
}

void handoff_state_done(HandoffState *s) {
        strv_free(s->drivers);
        strv_free(s->services);
        strv_free(s->modules);
        *s = (HandoffState) {};
}

static int state_path(const char *name, const char *suffix, char **ret) {
        int r = mkdir_p(runtime_dir(), 0755);
        if (r < 0)
                return r;
        return asprintf(ret, "%s/%s%s", runtime_dir(), name, suffix) < 0 ? -ENOMEM : 0;
}

int handoff_state_save(const char *gpu, const HandoffState *s) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t size = 0;
        int r = state_path(gpu, ".state", &path);
        if (r < 0)
                return r;

        FILE *f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        STRV_FOREACH(d, s->drivers)
                fprintf(f, "driver=%s\n", *d);
        STRV_FOREACH(u, s->services)
                fprintf(f, "service=%s\n", *u);
        STRV_FOREACH(m, s->modules)
                fprintf(f, "module=%s\n", *m);
        if (fclose(f) != 0)
                return -ENOMEM;
        return write_string_file_atomic(path, text);
}

int handoff_state_load(const char *gpu, HandoffState *ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        HandoffState s = {};
        int r = state_path(gpu, ".state", &path);
        if (r < 0)
                return r;
        if ((r = read_full_file(path, &text, NULL)) < 0)
                return r;

        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                const char *v;
                if ((v = startswith(line, "driver=")))
                        r = strv_extend(&s.drivers, v);
                else if ((v = startswith(line, "service=")))
                        r = strv_extend(&s.services, v);
                else if ((v = startswith(line, "module=")))
                        r = strv_extend(&s.modules, v);
                else
                        log_warning("%s: ignoring unknown line '%s'.", path, line);
                if (r < 0) {
                        handoff_state_done(&s);
                        return r;
                }
        }
        *ret = s;
        return 0;
}

int handoff_state_remove(const char *gpu) {
        _cleanup_free_ char *path = NULL;
        int r = state_path(gpu, ".state", &path);
        if (r < 0)
                return r;
        return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

bool handoff_state_exists(const char *gpu) {
        _cleanup_free_ char *path = NULL;
        return state_path(gpu, ".state", &path) >= 0 && access(path, F_OK) >= 0;
}

const char *handoff_state_driver(const HandoffState *s, const char *function) {
        STRV_FOREACH(d, s->drivers) {
                const char *v = startswith(*d, function);
                if (v && *v == '=')
                        return v + 1;
        }
        return NULL;
}

int stuck_record(const char *function, pid_t pid, const char *what) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r = state_path(function, ".stuck", &path);
        if (r < 0)
                return r;
        /* The pid with its start time: after the writer is gone, its pid may
         * be another process's. */
        uint64_t start = 0;
        (void) process_stat(pid, NULL, &start);
        if (asprintf(&text, "%d %" PRIu64 " %s\n", pid, start, what) < 0)
                return -ENOMEM;
        return write_string_file_atomic(path, text);
}

int stuck_check(const char *function, pid_t *ret_pid, char **ret_what) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int pid, n = 0;
        int r = state_path(function, ".stuck", &path);
        if (r < 0)
                return r;
        r = read_one_line_file(path, &text);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        /* The writer exits as soon as its write returns: gone (or a zombie
         * nobody reaped yet), or its pid now another process's, means done.
         * "PID START WHAT"; a record from before start times: "PID WHAT". */
        unsigned long long start = 0;
        uint64_t now_start = 0;
        char st = '?';
        int m = 0;
        bool alive = sscanf(text, "%d %n", &pid, &n) == 1 && pid > 0 &&
                     process_stat(pid, &st, &now_start) >= 0 && st != 'Z' && st != 'X';
        if (!alive || (sscanf(text + n, "%llu %n", &start, &m) == 1 && start != 0 && now_start != start)) {
                (void) unlink(path);
                return 0;
        }
        n += m;
        *ret_pid = pid;
        if (ret_what && !(*ret_what = strdup(text + n)))
                return -ENOMEM;
        return 1;
}

int stuck_describe(const char *function, pid_t *ret_pid, char **ret_text) {
        _cleanup_free_ char *what = NULL;
        pid_t pid;
        char st = '?';
        int r = stuck_check(function, &pid, &what);
        if (r <= 0)
                return r;
        (void) process_state(pid, &st);
        if (st == 'D')
                r = asprintf(ret_text, "the write of %s by pid %d has not returned; the kernel holds it (state D), "
                             "and only a reboot can release the device", what, pid);
        else
                r = asprintf(ret_text, "the write of %s by pid %d (state %c) has not returned: wait for it, "
                             "or end process %d (kill %d)", what, pid, st, pid, pid);
        if (r < 0)
                return -ENOMEM;
        if (ret_pid)
                *ret_pid = pid;
        return 1;
}

int handoff_lock(const char *gpu, int *ret_fd) {
        _cleanup_free_ char *path = NULL;
        int r = state_path(gpu, ".lock", &path);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}
