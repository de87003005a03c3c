/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fileio.h"
#include "macro.h"
#include "holders.h"
#include "state.h"
#include "sysfs-write.h"
#include "test-util.h"
#include "time-util.h"

typedef struct Fixture {
        char dir[64];
        char *file, *fifo, *missing;
        pid_t stuck;  /* a writer still blocked on fifo, released by teardown if a test failed */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-sysfs-write.XXXXXX");
        if (!mkdtemp(f->dir) ||
            asprintf(&f->file, "%s/unbind", f->dir) < 0 ||
            asprintf(&f->fifo, "%s/fifo", f->dir) < 0 ||
            asprintf(&f->missing, "%s/missing", f->dir) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        if (f->stuck > 0) {
                int fd = open(f->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                (void) waitpid(f->stuck, NULL, 0);
                if (fd >= 0)
                        close(fd);
        }
        (void) unlink(f->file);
        (void) unlink(f->fifo);
        int r = rmdir(f->dir);
        free(f->file);
        free(f->fifo);
        free(f->missing);
        free(f);
        return r;
}

static void test_regular_file(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *s = NULL;

        /* Like a sysfs attribute, it must exist: the write does not create it. */
        _cleanup_close_ int fd = open(f->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);

        pid_t stuck = -1;
        assert_int_equal(sysfs_write_deadline(f->file, "0000:01:00.0", 5 * USEC_PER_SEC, &stuck), 0);
        assert_int_equal(stuck, -1);
        assert_int_equal(read_full_file(f->file, &s, NULL), 0);
        assert_string_equal(s, "0000:01:00.0");

        /* No pid wanted. */
        assert_int_equal(sysfs_write_deadline(f->file, "vfio-pci", 5 * USEC_PER_SEC, NULL), 0);
}

static void test_missing(void **state) {
        Fixture *f = *state;
        pid_t stuck = -1;
        assert_int_equal(sysfs_write_deadline(f->missing, "1", 5 * USEC_PER_SEC, &stuck), -ENOENT);
        assert_int_equal(stuck, -1);
        struct stat st;
        assert_int_equal(stat(f->missing, &st), -1);
}

static void test_directory(void **state) {
        Fixture *f = *state;
        pid_t stuck = -1;
        assert_int_equal(sysfs_write_deadline(f->dir, "1", 5 * USEC_PER_SEC, &stuck), -EISDIR);
        assert_int_equal(stuck, -1);
}

static void test_stuck_fifo(void **state) {
        Fixture *f = *state;
        pid_t stuck = -1;
        char c = '?';

        assert_int_equal(mkfifo(f->fifo, 0600), 0);

        /* Nobody reads: the writer blocks in open() for ever. */
        usec_t start = now_usec();
        assert_int_equal(sysfs_write_deadline(f->fifo, "0000:01:00.0", 200 * USEC_PER_MSEC, &stuck), -ETIME);
        usec_t took = now_usec() - start;
        assert_true(took >= 200 * USEC_PER_MSEC);
        assert_true(took < 5 * USEC_PER_SEC);
        assert_true(stuck > 0);
        assert_int_not_equal(stuck, getpid());
        f->stuck = stuck;

        /* Left where it is: not reaped, still waiting (interruptibly) for a reader. */
        assert_int_equal(waitpid(stuck, NULL, WNOHANG), 0);
        assert_int_equal(process_state(stuck, &c), 0);
        /* After 200 ms it has long been asleep in open(); only a very slow start
         * (valgrind, a loaded machine) would still find it running: wait for it to
         * get there, bounded, without sleeping. */
        for (usec_t deadline = now_usec() + 10 * USEC_PER_SEC; c == 'R' && now_usec() < deadline;) {
                (void) sched_yield();
                assert_int_equal(process_state(stuck, &c), 0);
        }
        assert_int_equal(c, 'S');

        /* Release it: a reader lets the open and the write complete. */
        _cleanup_close_ int rfd = open(f->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        assert_true(rfd >= 0);
        int status;
        assert_int_equal(waitpid(stuck, &status, 0), stuck);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        f->stuck = 0;

        char buf[64] = {};
        assert_int_equal(read(rfd, buf, sizeof(buf) - 1), (ssize_t) strlen("0000:01:00.0"));
        assert_string_equal(buf, "0000:01:00.0");

        /* Gone now. */
        assert_int_equal(process_state(stuck, &c), -ENOENT);
}

/* A stuck record names its writer by pid and start time: once that pid is
 * another process's (reused), the record is stale, and is dropped. */
static void test_stuck_record_pid_reused(void **state) {
        Fixture *f = *state;
        char path[256], text[256];
        pid_t pid = 0;
        _cleanup_free_ char *what = NULL;
        assert_int_equal(setenv("VFIOD_RUNTIME_DIR", f->dir, 1), 0);
        snprintf(path, sizeof(path), "%s/0000:01:00.1.stuck", f->dir);

        /* The writer here is this process: alive, the same start time. */
        assert_int_equal(stuck_record("0000:01:00.1", getpid(), "/sys/bus/pci/drivers/x/unbind"), 0);
        assert_int_equal(stuck_check("0000:01:00.1", &pid, &what), 1);
        assert_int_equal(pid, getpid());
        assert_string_equal(what, "/sys/bus/pci/drivers/x/unbind");

        /* The same pid, started at another time: not the writer. */
        snprintf(text, sizeof(text), "%d 1 /sys/bus/pci/drivers/x/unbind\n", getpid());
        write_file(path, text);
        assert_int_equal(stuck_check("0000:01:00.1", &pid, NULL), 0);
        assert_int_equal(access(path, F_OK), -1);

        /* A record of the older form, pid only, is still read. */
        snprintf(text, sizeof(text), "%d /sys/bus/pci/drivers/x/unbind\n", getpid());
        write_file(path, text);
        free(what);
        what = NULL;
        assert_int_equal(stuck_check("0000:01:00.1", &pid, &what), 1);
        assert_string_equal(what, "/sys/bus/pci/drivers/x/unbind");
        assert_int_equal(unlink(path), 0);
        (void) unlink(f->file);
        unsetenv("VFIOD_RUNTIME_DIR");
}

static void test_process_state_self(void **state) {
        (void) state;
        char c = '?';
        assert_int_equal(process_state(getpid(), &c), 0);
        assert_int_equal(c, 'R');
}

int main(void) {
        unsetenv("JOURNAL_STREAM");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_regular_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_directory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stuck_fifo, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stuck_record_pid_reused, setup, teardown),
                cmocka_unit_test(test_process_state_self),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
