/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "strv.h"
#include "test-util.h"
#include "time-util.h"

typedef struct TempDir {
        char path[64];
} TempDir;

static int setup_tmpdir(void **state) {
        TempDir *t = calloc(1, sizeof(TempDir));
        if (!t)
                return -1;
        strcpy(t->path, "/tmp/test-fileio.XXXXXX");
        if (!mkdtemp(t->path)) {
                free(t);
                return -1;
        }
        *state = t;
        return 0;
}

static int teardown_tmpdir(void **state) {
        TempDir *t = *state;
        int r = rm_rf(t->path);
        free(t);
        return r < 0 ? -1 : 0;
}

static void test_read_one_line_file(void **state) {
        TempDir *t = *state;
        _cleanup_free_ char *p = path_join(t->path, "lines"), *e = path_join(t->path, "empty"),
                            *nonl = path_join(t->path, "nonl"), *missing = path_join(t->path, "missing");
        char *s = NULL;

        write_file(p, "first line\nsecond line\n");
        assert_int_equal(read_one_line_file(p, &s), 0);
        assert_string_equal(s, "first line");
        s = mfree(s);

        write_file(nonl, "no newline");
        assert_int_equal(read_one_line_file(nonl, &s), 0);
        assert_string_equal(s, "no newline");
        s = mfree(s);

        write_file(e, "");
        assert_int_equal(read_one_line_file(e, &s), 0);
        assert_string_equal(s, "");
        s = mfree(s);

        s = (char *) "untouched";
        assert_int_equal(read_one_line_file(missing, &s), -ENOENT);
        assert_string_equal(s, "untouched");
}

static void test_read_full_file(void **state) {
        TempDir *t = *state;
        _cleanup_free_ char *p = path_join(t->path, "big"), *big = malloc(20000), *s = NULL;
        size_t size = 0;

        assert_non_null(big);
        for (size_t i = 0; i < 19999; i++)
                big[i] = (char) ('a' + i % 26);
        big[19999] = 0;
        write_file(p, big);
        assert_int_equal(read_full_file(p, &s, &size), 0);
        assert_int_equal(size, 19999);
        assert_string_equal(s, big);
}

static void test_write_string_file_atomic(void **state) {
        TempDir *t = *state;
        _cleanup_free_ char *p = path_join(t->path, "state"), *s = NULL;
        struct stat st;

        assert_int_equal(write_string_file_atomic(p, "hello\nworld\n"), 0);
        assert_int_equal(read_full_file(p, &s, NULL), 0);
        assert_string_equal(s, "hello\nworld\n");
        s = mfree(s);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        /* Replaces, does not append. */
        assert_int_equal(write_string_file_atomic(p, "x"), 0);
        assert_int_equal(read_full_file(p, &s, NULL), 0);
        assert_string_equal(s, "x");
        s = mfree(s);

        assert_int_equal(write_string_file_atomic(p, ""), 0);
        assert_int_equal(read_full_file(p, &s, NULL), 0);
        assert_string_equal(s, "");

        /* Only the file itself is in the directory: no temporary left over. */
        _cleanup_closedir_ DIR *d = opendir(t->path);
        assert_non_null(d);
        struct dirent *de;
        unsigned n = 0;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                assert_string_equal(de->d_name, "state");
                n++;
        }
        assert_int_equal(n, 1);

        /* A directory that does not exist. */
        _cleanup_free_ char *bad = path_join(t->path, "nodir/file");
        assert_int_equal(write_string_file_atomic(bad, "x"), -ENOENT);
}

static void test_readlink_basename(void **state) {
        TempDir *t = *state;
        _cleanup_free_ char *driver = path_join(t->path, "driver"), *plain = path_join(t->path, "plain"),
                            *reg = path_join(t->path, "regular"), *missing = path_join(t->path, "missing");
        char *s = NULL;

        assert_int_equal(symlink("../../bus/pci/drivers/nvidia", driver), 0);
        assert_int_equal(readlink_basename(driver, &s), 0);
        assert_string_equal(s, "nvidia");
        s = mfree(s);

        assert_int_equal(readlink_malloc(driver, &s), 0);
        assert_string_equal(s, "../../bus/pci/drivers/nvidia");
        s = mfree(s);

        assert_int_equal(symlink("vfio-pci", plain), 0);
        assert_int_equal(readlink_basename(plain, &s), 0);
        assert_string_equal(s, "vfio-pci");
        s = mfree(s);

        write_file(reg, "x");
        assert_int_equal(readlink_basename(reg, &s), -EINVAL);
        assert_null(s);
        assert_int_equal(readlink_basename(missing, &s), -ENOENT);
        assert_null(s);
}

static void test_parse_sysfs_hex(void **state) {
        (void) state;
        unsigned long v = 0;

        assert_int_equal(parse_sysfs_hex("0x030000\n", &v), 0);
        assert_int_equal(v, 0x030000);
        assert_int_equal(parse_sysfs_hex("10de", &v), 0);
        assert_int_equal(v, 0x10de);
        assert_int_equal(parse_sysfs_hex("0x10DE", &v), 0);
        assert_int_equal(v, 0x10de);
        assert_int_equal(parse_sysfs_hex("0", &v), 0);
        assert_int_equal(v, 0);

        static const char *bad[] = { "", "0x", "-1", "12zz", "0x-1", "+1", " 1", "\n", "0x\n", "12\n\n", "12 " };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                v = 42;
                assert_int_equal(parse_sysfs_hex(bad[i], &v), -EINVAL);
                assert_int_equal(v, 42);
        }
        assert_int_equal(parse_sysfs_hex(NULL, &v), -EINVAL);
        assert_int_equal(parse_sysfs_hex("fffffffffffffffff", &v), -ERANGE);
}

static void test_parse_sec(void **state) {
        (void) state;
        usec_t u = 0;

        assert_int_equal(parse_sec("5", &u), 0);
        assert_int_equal(u, 5 * USEC_PER_SEC);
        assert_int_equal(parse_sec("5s", &u), 0);
        assert_int_equal(u, 5 * USEC_PER_SEC);
        assert_int_equal(parse_sec("500ms", &u), 0);
        assert_int_equal(u, 500 * USEC_PER_MSEC);
        assert_int_equal(parse_sec("2min", &u), 0);
        assert_int_equal(u, 120 * USEC_PER_SEC);
        assert_int_equal(parse_sec("0", &u), 0);
        assert_int_equal(u, 0);

        /* systemd's forms: units of their own and in sequence */
        static const struct {
                const char *text;
                usec_t usec;
        } good[] = {
                { "1h", 3600 * USEC_PER_SEC },          { "2min 30s", 150 * USEC_PER_SEC },
                { "1h30min", 5400 * USEC_PER_SEC },     { "5sec", 5 * USEC_PER_SEC },
                { "5m", 300 * USEC_PER_SEC },           { "1d", 86400 * USEC_PER_SEC },
                { "250us", 250 },                       { " 5s ", 5 * USEC_PER_SEC },
                { "1s 500ms", 1500 * USEC_PER_MSEC },
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_int_equal(parse_sec(good[i].text, &u), 0);
                assert_int_equal(u, good[i].usec);
        }

        static const char *bad[] = { "", " ", "-1", "s", "ms", "+5", "5 s", "5S", "1.5s", "0x10", "5 5", "5sx", "1h-", "soon" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                u = 42;
                assert_int_equal(parse_sec(bad[i], &u), -EINVAL);
                assert_int_equal(u, 42);
        }
        assert_int_equal(parse_sec(NULL, &u), -EINVAL);
        assert_int_equal(parse_sec("99999999999999999999", &u), -ERANGE);
        assert_int_equal(parse_sec("18446744073709552min", &u), -ERANGE);
        assert_int_equal(u, 42);
}

static void test_strv(void **state) {
        (void) state;
        _cleanup_strv_free_ char **l = NULL, **empty = NULL, **blank = NULL;
        _cleanup_free_ char *j = NULL, *je = NULL, *jn = NULL;

        assert_int_equal(strv_split_words("nvidia_drm, nvidia_modeset nvidia", &l), 0);
        assert_int_equal(strv_length(l), 3);
        assert_string_equal(l[0], "nvidia_drm");
        assert_string_equal(l[1], "nvidia_modeset");
        assert_string_equal(l[2], "nvidia");
        assert_null(l[3]);
        l = strv_free(l);

        assert_int_equal(strv_split_words("  ,a,,b\t\nc , ", &l), 0);
        assert_int_equal(strv_length(l), 3);
        assert_string_equal(l[0], "a");
        assert_string_equal(l[1], "b");
        assert_string_equal(l[2], "c");

        assert_true(strv_contains(l, "a"));
        assert_true(strv_contains(l, "c"));
        assert_false(strv_contains(l, "d"));
        assert_false(strv_contains(l, ""));
        assert_false(strv_contains(l, "ab"));
        assert_false(strv_contains(NULL, "a"));

        j = strv_join(l, ", ");
        assert_non_null(j);
        assert_string_equal(j, "a, b, c");

        assert_int_equal(strv_split_words("", &empty), 0);
        assert_non_null(empty);
        assert_int_equal(strv_length(empty), 0);
        assert_int_equal(strv_split_words(" , \t", &blank), 0);
        assert_non_null(blank);
        assert_null(blank[0]);

        je = strv_join(empty, ", ");
        assert_non_null(je);
        assert_string_equal(je, "");
        jn = strv_join(NULL, ",");
        assert_non_null(jn);
        assert_string_equal(jn, "");

        assert_int_equal(strv_extend(&l, "d"), 0);
        assert_int_equal(strv_length(l), 4);
        assert_true(strv_contains(l, "d"));
        assert_null(l[4]);

        _cleanup_strv_free_ char **fresh = NULL;
        assert_int_equal(strv_extend(&fresh, "one"), 0);
        assert_int_equal(strv_length(fresh), 1);
        _cleanup_free_ char *jf = strv_join(fresh, "+");
        assert_string_equal(jf, "one");
}

static void test_wait_for_path(void **state) {
        TempDir *t = *state;
        char path[128], missing_dir[128];
        snprintf(path, sizeof(path), "%s/node", t->path);
        snprintf(missing_dir, sizeof(missing_dir), "%s/nodir/node", t->path);

        assert_int_equal(wait_for_path(path, 50 * USEC_PER_MSEC), -ETIMEDOUT);
        assert_int_equal(wait_for_path(missing_dir, 50 * USEC_PER_MSEC), -ENOENT);
        assert_int_equal(wait_for_path("node", USEC_PER_SEC), -EINVAL);

        /* Made by another process while (or before) the wait watches. */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                _exit(fd >= 0 ? 0 : 1);
        }
        assert_int_equal(wait_for_path(path, 5 * USEC_PER_SEC), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(wait_for_path(path, 0), 0);  /* there already: no wait at all */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_read_one_line_file, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_read_full_file, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_write_string_file_atomic, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_readlink_basename, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_wait_for_path, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test(test_parse_sysfs_hex),
                cmocka_unit_test(test_parse_sec),
                cmocka_unit_test(test_strv),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
