/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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

#include "holders.h"
#include "macro.h"
#include "strv.h"
#include "time-util.h"

/* A uid that no passwd entry has. */
#define NOBODY_UID 3999999u

static const char status_text[] =
        "Name:\tpython3\n"
        "Umask:\t0022\n"
        "State:\tS (sleeping)\n"
        "Tgid:\t4242\n"
        "Ngid:\t0\n"
        "Pid:\t4242\n"
        "PPid:\t1\n"
        "TracerPid:\t0\n"
        "Uid:\t1000\t1001\t1002\t1003\n"
        "Gid:\t100\t100\t100\t100\n"
        "FDSize:\t64\n"
        "Groups:\t27 100 \n"
        "VmPeak:\t   12345 kB\n"
        "Threads:\t1\n";

static void test_proc_status_uid(void **state) {
        (void) state;
        uid_t uid = 7;

        assert_int_equal(proc_status_uid(status_text, &uid), 0);
        assert_int_equal(uid, 1000);

        assert_int_equal(proc_status_uid("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", &uid), 0);
        assert_int_equal(uid, 0);
        assert_int_equal(proc_status_uid("Name:\tx\nUid:\t65534\t65534\t65534\t65534", &uid), 0);
        assert_int_equal(uid, 65534);

        static const char *bad[] = {
                "",
                "Name:\tpython3\n",
                "Name:\tpython3\nUid:\n",
                "Name:\tpython3\nUid:\tabc\t0\t0\t0\n",
                "Uid:",
                "Name:\tpython3\nXUid:\t5\n",
                "Name:\tUid:\t5\n",
                "Name:\tx\nuid:\t5\n",
                "Name:\tx\nUid:\nGid:\t5\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uid = 7;
                assert_int_equal(proc_status_uid(bad[i], &uid), -EINVAL);
                assert_int_equal(uid, 7);
        }
}

static void test_proc_stat_state(void **state) {
        (void) state;
        char c = '?';

        assert_int_equal(proc_stat_state("4242 (python3) S 1 4242 4242 0 -1 4194560 ...", &c), 0);
        assert_int_equal(c, 'S');
        assert_int_equal(proc_stat_state("1 (a) b) (c)) D 0 1 1 0 -1", &c), 0);
        assert_int_equal(c, 'D');
        assert_int_equal(proc_stat_state("77 (my prog (x)) R 1 2 3\n", &c), 0);
        assert_int_equal(c, 'R');
        assert_int_equal(proc_stat_state("9 () Z 1", &c), 0);
        assert_int_equal(c, 'Z');

        static const char *bad[] = {
                "", "1", "1 (x", "1 (x)", "1 (x) ", "1 (x)S 0", "1 (x) 5 0", "1 (x)  S 0", "1 x S 0",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                c = '?';
                assert_int_equal(proc_stat_state(bad[i], &c), -EINVAL);
                assert_int_equal(c, '?');
        }
}

typedef struct FakeProc {
        char dir[64];
        char *root;    /* DIR/proc */
        char *node_a;  /* DIR/nodeA */
        char *node_b;  /* DIR/nodeB */
        char *other;   /* DIR/other */
} FakeProc;

static void rm_rf(const char *path) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return;
        if (!S_ISDIR(st.st_mode)) {
                (void) unlink(path);
                return;
        }
        _cleanup_closedir_ DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", path, de->d_name) >= 0)
                        rm_rf(p);
        }
        (void) rmdir(path);
}

static void write_file(const char *path, const char *content) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(content, f) >= 0);
}

static int setup_fake(void **state) {
        FakeProc *f = calloc(1, sizeof(FakeProc));
        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-proc.XXXXXX");
        if (!mkdtemp(f->dir) ||
            asprintf(&f->root, "%s/proc", f->dir) < 0 ||
            asprintf(&f->node_a, "%s/nodeA", f->dir) < 0 ||
            asprintf(&f->node_b, "%s/nodeB", f->dir) < 0 ||
            asprintf(&f->other, "%s/other", f->dir) < 0 ||
            mkdir(f->root, 0755) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown_fake(void **state) {
        FakeProc *f = *state;
        rm_rf(f->dir);
        free(f->root);
        free(f->node_a);
        free(f->node_b);
        free(f->other);
        free(f);
        return 0;
}

/* ROOT/PID/{comm,status,fd/N -> target...}; comm or status NULL: not there. */
static void fake_process(const FakeProc *f, pid_t pid, const char *comm, const char *status,
                         char * const *targets) {
        _cleanup_free_ char *d = NULL, *fd = NULL, *p = NULL;
        assert_true(asprintf(&d, "%s/%d", f->root, pid) >= 0);
        assert_int_equal(mkdir(d, 0755), 0);
        if (comm) {
                assert_true(asprintf(&p, "%s/comm", d) >= 0);
                write_file(p, comm);
                p = mfree(p);
        }
        if (status) {
                assert_true(asprintf(&p, "%s/status", d) >= 0);
                write_file(p, status);
                p = mfree(p);
        }
        if (!targets)
                return;
        assert_true(asprintf(&fd, "%s/fd", d) >= 0);
        assert_int_equal(mkdir(fd, 0755), 0);
        unsigned n = 0;
        STRV_FOREACH(t, targets) {
                assert_true(asprintf(&p, "%s/%u", fd, n++) >= 0);
                assert_int_equal(symlink(*t, p), 0);
                p = mfree(p);
        }
}

static const Holder *find_holder(const HolderList *l, pid_t pid) {
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].pid == pid)
                        return &l->items[i];
        return NULL;
}

static void test_holders_scan_fake(void **state) {
        FakeProc *f = *state;
        HolderList l = {};

        write_file(f->node_a, "a");
        write_file(f->node_b, "b");
        write_file(f->other, "o");

        /* Our own pid would be skipped: keep away from it. */
        pid_t base = getpid() < 4000000 ? 4000000 : 3000000;
        pid_t p_root = base + 1, p_user = base + 2, p_other = base + 3, p_nofd = base + 4,
              p_nocomm = base + 5, p_devnull = base + 6, p_devzero = base + 7;

        fake_process(f, p_root, "Xorg\n", "Name:\tXorg\nUid:\t0\t0\t0\t0\n",
                     (char *[]) { f->other, f->node_a, NULL });
        _cleanup_free_ char *status_nobody = NULL;
        assert_true(asprintf(&status_nobody, "Name:\tpython3\nUid:\t%u\t%u\t%u\t%u\n",
                             NOBODY_UID, NOBODY_UID, NOBODY_UID, NOBODY_UID) >= 0);
        fake_process(f, p_user, "python3 x\n", status_nobody, (char *[]) { f->node_b, NULL });
        fake_process(f, p_other, "idle\n", "Uid:\t0\n", (char *[]) { f->other, "/nonexistent/target", NULL });
        fake_process(f, p_nofd, "nofd\n", "Uid:\t0\n", NULL);
        /* No comm or status (gone half way): still listed, "?" and root. */
        fake_process(f, p_nocomm, NULL, NULL, (char *[]) { f->node_b, NULL });
        fake_process(f, p_devnull, "devnull\n", "Uid:\t0\n", (char *[]) { "/dev/null", NULL });
        fake_process(f, p_devzero, "devzero\n", "Uid:\t0\n", (char *[]) { "/dev/zero", NULL });
        /* Not processes. */
        _cleanup_free_ char *self = NULL, *junk = NULL;
        assert_true(asprintf(&self, "%s/self", f->root) >= 0);
        assert_int_equal(mkdir(self, 0755), 0);
        assert_true(asprintf(&junk, "%s/12junk", f->root) >= 0);
        write_file(junk, "");

        _cleanup_free_ char *missing = NULL;
        assert_true(asprintf(&missing, "%s/no-such-node", f->dir) >= 0);
        char *nodes[] = { missing, f->node_a, f->node_b, "/dev/null", NULL };

        assert_int_equal(holders_scan(f->root, nodes, &l), 0);
        assert_int_equal(l.n, 4);

        const Holder *h = find_holder(&l, p_root);
        assert_non_null(h);
        assert_string_equal(h->comm, "Xorg");
        assert_int_equal(h->uid, 0);
        assert_string_equal(h->user, "root");
        assert_string_equal(h->node, f->node_a);

        h = find_holder(&l, p_user);
        assert_non_null(h);
        assert_string_equal(h->comm, "python3 x");
        assert_int_equal(h->uid, NOBODY_UID);
        char uidbuf[32];
        snprintf(uidbuf, sizeof(uidbuf), "%u", NOBODY_UID);
        assert_string_equal(h->user, uidbuf);
        assert_string_equal(h->node, f->node_b);

        h = find_holder(&l, p_nocomm);
        assert_non_null(h);
        assert_string_equal(h->comm, "?");
        assert_string_equal(h->user, "root");
        assert_string_equal(h->node, f->node_b);

        /* A character device matches by device number. */
        h = find_holder(&l, p_devnull);
        assert_non_null(h);
        assert_string_equal(h->comm, "devnull");
        assert_string_equal(h->node, "/dev/null");

        assert_null(find_holder(&l, p_other));
        assert_null(find_holder(&l, p_nofd));
        assert_null(find_holder(&l, p_devzero));
        holder_list_done(&l);
        assert_int_equal(l.n, 0);
        assert_null(l.items);

        /* Only nodes that do not exist: nothing, without even looking at proc. */
        char *only_missing[] = { missing, NULL };
        l = (HolderList) { .n = 99 };
        assert_int_equal(holders_scan("/nonexistent/proc", only_missing, &l), 0);
        assert_int_equal(l.n, 0);
        holder_list_done(&l);
        assert_int_equal(holders_scan(f->root, NULL, &l), 0);
        assert_int_equal(l.n, 0);
        holder_list_done(&l);

        /* A node nobody holds. */
        char *unheld[] = { f->dir, NULL };
        assert_int_equal(holders_scan(f->root, unheld, &l), 0);
        assert_int_equal(l.n, 0);
        holder_list_done(&l);

        /* A proc root that is not there, with a node that is. */
        assert_int_equal(holders_scan("/nonexistent/proc", nodes, &l), -ENOENT);
}

static void test_holders_format(void **state) {
        (void) state;
        Holder items[] = {
                { .pid = 1234, .uid = 1000, .user = (char *) "alice", .comm = (char *) "python3", .node = (char *) "/dev/nvidia0" },
                { .pid = 99, .uid = 0, .user = (char *) "root", .comm = (char *) "Xorg", .node = (char *) "/dev/dri/card1" },
        };
        HolderList l = { .items = items, .n = 2 };

        _cleanup_free_ char *two = holders_format(&l);
        assert_non_null(two);
        assert_string_equal(two, "1234 python3 (user alice) on /dev/nvidia0, 99 Xorg (user root) on /dev/dri/card1");

        l.n = 1;
        _cleanup_free_ char *one = holders_format(&l);
        assert_non_null(one);
        assert_string_equal(one, "1234 python3 (user alice) on /dev/nvidia0");

        l = (HolderList) {};
        _cleanup_free_ char *none = holders_format(&l);
        assert_non_null(none);
        assert_string_equal(none, "");
}

typedef struct Child {
        pid_t pid;
        int block_fd;  /* write end: closing it lets the child exit */
} Child;

/* A child with path open, blocked reading a pipe once it has it open. */
static Child start_holder(const char *path, bool ignore_term) {
        int ready[2], block[2];
        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        assert_int_equal(pipe2(block, O_CLOEXEC), 0);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(ready[0]);
                close(block[1]);
                if (ignore_term)
                        signal(SIGTERM, SIG_IGN);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        _exit(1);
                char c = 'r';
                if (write(ready[1], &c, 1) != 1)
                        _exit(2);
                (void) read(block[0], &c, 1);
                _exit(0);
        }

        close(ready[1]);
        close(block[0]);
        char c;
        assert_int_equal(read(ready[0], &c, 1), 1);
        assert_int_equal(c, 'r');
        close(ready[0]);
        return (Child) { .pid = pid, .block_fd = block[1] };
}

static void test_holders_real(void **state) {
        FakeProc *f = *state;
        write_file(f->node_a, "held");

        Child child = start_holder(f->node_a, false);
        HolderList l = {};
        char *nodes[] = { f->node_a, NULL };

        assert_int_equal(holders_scan("/proc", nodes, &l), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.items[0].pid, child.pid);
        assert_int_equal(l.items[0].uid, getuid());
        assert_string_equal(l.items[0].node, f->node_a);
        assert_non_null(l.items[0].comm);
        assert_non_null(l.items[0].user);

        _cleanup_free_ char *text = holders_format(&l);
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "%d ", child.pid);
        assert_non_null(startswith(text, prefix));
        assert_non_null(strstr(text, f->node_a));

        assert_int_equal(holders_drain(&l, 3 * USEC_PER_SEC), 0);

        /* It is gone (a zombie until reaped) and went by SIGTERM. */
        int status;
        assert_int_equal(waitpid(child.pid, &status, 0), child.pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGTERM);
        close(child.block_fd);

        /* Nobody holds it now; draining those already gone is immediate success. */
        HolderList after = {};
        assert_int_equal(holders_scan("/proc", nodes, &after), 0);
        assert_int_equal(after.n, 0);
        holder_list_done(&after);
        assert_int_equal(holders_drain(&l, 0), 0);
        holder_list_done(&l);
}

static void test_holders_drain_timeout(void **state) {
        FakeProc *f = *state;
        write_file(f->node_a, "held");

        Child child = start_holder(f->node_a, true);
        HolderList l = {};
        char *nodes[] = { f->node_a, NULL };

        assert_int_equal(holders_scan("/proc", nodes, &l), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.items[0].pid, child.pid);

        /* It ignores SIGTERM: the drain gives up after the timeout. */
        usec_t start = now_usec();
        assert_int_equal(holders_drain(&l, 100 * USEC_PER_MSEC), -ETIMEDOUT);
        assert_true(now_usec() - start >= 100 * USEC_PER_MSEC);
        holder_list_done(&l);

        /* Still there: let it go and reap it. */
        assert_int_equal(waitpid(child.pid, NULL, WNOHANG), 0);
        close(child.block_fd);
        int status;
        assert_int_equal(waitpid(child.pid, &status, 0), child.pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
        unsetenv("JOURNAL_STREAM");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_proc_status_uid),
                cmocka_unit_test(test_proc_stat_state),
                cmocka_unit_test_setup_teardown(test_holders_scan_fake, setup_fake, teardown_fake),
                cmocka_unit_test(test_holders_format),
                cmocka_unit_test_setup_teardown(test_holders_real, setup_fake, teardown_fake),
                cmocka_unit_test_setup_teardown(test_holders_drain_timeout, setup_fake, teardown_fake),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
