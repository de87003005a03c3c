/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fork_child(): what a child of vfiod keeps of its parent (nothing but what
 * it is given) and how it dies. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fork-child.h"
#include "macro.h"

/* Bits the child reports: what it found wrong. */
enum {
        BAD_FD = 1 << 0,         /* an fd of the parent's it was not given */
        BAD_KEPT = 1 << 1,       /* the one it was given is gone */
        BAD_MASK = 1 << 2,       /* a signal still blocked */
        BAD_DISPOSITION = 1 << 3, /* a signal still ignored */
        BAD_NAME = 1 << 4,
};

static int child_checks(int kept, int stray) {
        int bad = 0;
        if (fcntl(stray, F_GETFD) >= 0 || errno != EBADF)
                bad |= BAD_FD;
        /* Nothing else above 2 but the kept one (and the listing's own fd);
         * valgrind keeps its own above the limit it tells the program. */
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        while (d && (de = readdir(d))) {
                int fd = atoi(de->d_name);
                if (de->d_name[0] != '.' && fd > 2 && fd != kept && fd != dirfd(d) && (rlim_t) fd < rl.rlim_cur)
                        bad |= BAD_FD;
        }
        if (d)
                closedir(d);
        if (fcntl(kept, F_GETFD) < 0)
                bad |= BAD_KEPT;
        sigset_t mask;
        sigprocmask(SIG_SETMASK, NULL, &mask);
        if (sigismember(&mask, SIGTERM) || sigismember(&mask, SIGINT))
                bad |= BAD_MASK;
        struct sigaction sa;
        sigaction(SIGUSR1, NULL, &sa);
        if (sa.sa_handler != SIG_DFL)
                bad |= BAD_DISPOSITION;
        char comm[32] = "";
        prctl(PR_GET_NAME, comm);
        if (strcmp(comm, "vfiod-test") != 0)
                bad |= BAD_NAME;
        return bad;
}

/* vfiod blocks SIGTERM for its loop and has sockets, pipes and locks open:
 * a child has none of that but the fd it was given. */
static void test_child_keeps_only_what_it_is_given(void **state _unused_) {
        int p[2], stray = open("/dev/null", O_RDONLY);  /* no O_CLOEXEC: fork would keep it */
        assert_true(stray >= 0);
        assert_int_equal(pipe(p), 0);
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old), 0);
        struct sigaction ign = { .sa_handler = SIG_IGN }, was;
        assert_int_equal(sigaction(SIGUSR1, &ign, &was), 0);

        pid_t pid;
        int r = fork_child("vfiod-test", 0, &p[1], 1, &pid);
        if (r == 0) {
                unsigned char bad = (unsigned char) child_checks(p[1], stray);
                _exit(write(p[1], &bad, 1) == 1 ? 0 : 1);
        }
        assert_int_equal(r, 1);
        sigprocmask(SIG_SETMASK, &old, NULL);
        sigaction(SIGUSR1, &was, NULL);
        close(p[1]);
        unsigned char bad = 0xff;
        assert_int_equal(read(p[0], &bad, 1), 1);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        if (bad)
                fprintf(stderr, "child reported 0x%x\n", bad);
        assert_int_equal(bad, 0);
        close(p[0]);
        close(stray);
}

/* FORK_DEATHSIG: the child dies with its parent (here the parent is a
 * middle process, and the test reaps the orphan as its subreaper). */
static void test_deathsig(void **state _unused_) {
        int p[2], ready[2];
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        assert_int_equal(pipe(p), 0);
        assert_int_equal(pipe(ready), 0);
        pid_t middle = fork();
        assert_true(middle >= 0);
        if (middle == 0) {
                pid_t child;
                if (fork_child("vfiod-test", FORK_DEATHSIG, (int[]) { p[1], ready[1] }, 2, &child) == 0) {
                        /* Past fork_child(): the death signal is set. */
                        pid_t self = getpid();
                        (void) !write(p[1], &self, sizeof(self));
                        close(ready[1]);
                        pause();
                        _exit(0);
                }
                /* Exit once every write end of ready is closed: the child's too. */
                char c;
                close(ready[1]);
                (void) !read(ready[0], &c, 1);
                _exit(0);
        }
        close(p[1]);
        close(ready[1]);
        pid_t child = 0;
        assert_int_equal(read(p[0], &child, sizeof(child)), (ssize_t) sizeof(child));
        int st;
        assert_int_equal(waitpid(middle, &st, 0), middle);
        assert_int_equal(waitpid(child, &st, 0), child);  /* no deadline needed: it is SIGKILLed */
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGKILL);
        close(p[0]);
        close(ready[0]);
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/* close_all_fds_but(): the ranges between kept fds, and a keep list in any order. */
static void test_close_all_fds_but(void **state _unused_) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fds[6];
                for (int i = 0; i < 6; i++)
                        fds[i] = open("/dev/null", O_RDONLY);
                int keep[] = { fds[4], fds[1], fds[1] };
                if (close_all_fds_but(keep, ELEMENTSOF(keep)) < 0)
                        _exit(10);
                for (int i = 0; i < 6; i++) {
                        bool open_now = fcntl(fds[i], F_GETFD) >= 0;
                        if (open_now != (i == 1 || i == 4))
                                _exit(20 + i);
                }
                _exit(fcntl(1, F_GETFD) >= 0 ? 0 : 30);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_child_keeps_only_what_it_is_given),
                cmocka_unit_test(test_deathsig),
                cmocka_unit_test(test_close_all_fds_but),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
