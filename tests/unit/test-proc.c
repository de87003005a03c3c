/* SPDX-License-Identifier: LGPL-2.1-or-later */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "holders.h"
#include "macro.h"
#include "strv.h"
#include "test-util.h"
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

static void test_proc_stat_starttime(void **state) {
        (void) state;
        uint64_t t = 0;
        /* Field 22 after "pid (comm)": the comm may hold ") " itself. */
        const char *stat = "4242 (a) b) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654 12345678 300 18446744073709551615\n";
        assert_int_equal(proc_stat_starttime(stat, &t), 0);
        assert_int_equal(t, 987654);
        assert_int_equal(proc_stat_starttime("1 (x) S 1 2 3", &t), -EINVAL);
        assert_int_equal(proc_stat_starttime("1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 x 1", &t), -EINVAL);
        assert_int_equal(proc_stat_starttime("no paren", &t), -EINVAL);
        assert_int_equal(process_stat(getpid(), NULL, &t), 0);
        assert_true(t > 0);
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
        (void) rm_rf(f->dir);
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

static void nodes_of(DeviceNodeList *l, char * const *paths) {
        STRV_FOREACH(p, paths)
                assert_int_equal(device_node_list_add(l, *p, NODE_FUNCTION, "0000:01:00.0"), 0);
}

/* ROOT/PID/maps with one line per (dev, inode) of paths. */
static void fake_maps(const FakeProc *f, pid_t pid, char * const *paths) {
        _cleanup_free_ char *p = NULL, *text = strdup("");
        assert_true(asprintf(&p, "%s/%d/maps", f->root, pid) >= 0);
        unsigned long addr = 0x7f0000000000;
        STRV_FOREACH(m, paths) {
                struct stat st;
                char *t = NULL;
                assert_int_equal(stat(*m, &st), 0);
                assert_true(asprintf(&t, "%s%lx-%lx rw-s 00000000 %02x:%02x %lu                      %s\n", text, addr,
                                     addr + 4096, major(st.st_dev), minor(st.st_dev), (unsigned long) st.st_ino, *m) >= 0);
                free(text);
                text = t;
                addr += 8192;
        }
        write_file(p, text);
}

static void test_holders_scan_fake(void **state) {
        FakeProc *f = *state;
        HolderList l = {};
        _cleanup_device_nodes_ DeviceNodeList nodes = {};

        write_file(f->node_a, "a");
        write_file(f->node_b, "b");
        write_file(f->other, "o");
        _cleanup_free_ char *outside = NULL, *outdir = NULL;
        assert_true(asprintf(&outdir, "%s.out", f->dir) >= 0);
        assert_int_equal(mkdir(outdir, 0755), 0);
        assert_true(asprintf(&outside, "%s/nodeA-link", outdir) >= 0);
        /* The very inode of node A, at a path outside the node directory. */
        assert_int_equal(link(f->node_a, outside), 0);

        /* Our own pid would be skipped: keep away from it. */
        pid_t base = getpid() < 4000000 ? 4000000 : 3000000;
        pid_t p_root = base + 1, p_user = base + 2, p_other = base + 3, p_nofd = base + 4,
              p_nocomm = base + 5, p_outside = base + 6, p_mapped = base + 7, p_both = base + 8, p_evil = base + 9;

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
        /* An fd whose target is not under the node directory is not even looked at. */
        fake_process(f, p_outside, "outside\n", "Uid:\t0\n", (char *[]) { outside, NULL });
        /* Only a mapping: its fd closed. */
        fake_process(f, p_mapped, "gnome-shell\n", "Uid:\t0\n", (char *[]) { f->other, NULL });
        fake_maps(f, p_mapped, (char *[]) { f->other, f->node_b, NULL });
        /* An fd and a mapping of the same node: once, as the fd. */
        fake_process(f, p_both, "both\n", "Uid:\t0\n", (char *[]) { f->node_a, NULL });
        fake_maps(f, p_both, (char *[]) { f->node_a, NULL });
        /* A name made to reach a terminal raw. */
        fake_process(f, p_evil, "\xff\x1b[2Jx\n", "Uid:\t0\n", (char *[]) { f->node_a, NULL });
        /* Not processes. */
        _cleanup_free_ char *self = NULL, *junk = NULL;
        assert_true(asprintf(&self, "%s/self", f->root) >= 0);
        assert_int_equal(mkdir(self, 0755), 0);
        assert_true(asprintf(&junk, "%s/12junk", f->root) >= 0);
        write_file(junk, "");

        _cleanup_free_ char *missing = NULL;
        assert_true(asprintf(&missing, "%s/no-such-node", f->dir) >= 0);
        assert_int_equal(setenv("VFIOD_DEV_DIR", f->dir, 1), 0);
        nodes_of(&nodes, (char *[]) { missing, f->node_a, f->node_b, NULL });
        assert_int_equal(nodes.n, 3);

        assert_int_equal(holders_scan(f->root, &nodes, &l), 0);
        assert_int_equal(l.n, 6);

        const Holder *h = find_holder(&l, p_root);
        assert_non_null(h);
        assert_string_equal(h->comm, "Xorg");
        assert_int_equal(h->uid, 0);
        assert_string_equal(h->user, "root");
        assert_string_equal(h->node, "/dev/nodeA");
        assert_int_equal(h->how, HOLD_FD);
        assert_int_equal(h->kind, NODE_FUNCTION);

        h = find_holder(&l, p_user);
        assert_non_null(h);
        assert_string_equal(h->comm, "python3 x");
        assert_int_equal(h->uid, NOBODY_UID);
        char uidbuf[32];
        snprintf(uidbuf, sizeof(uidbuf), "%u", NOBODY_UID);
        assert_string_equal(h->user, uidbuf);
        assert_string_equal(h->node, "/dev/nodeB");

        h = find_holder(&l, p_nocomm);
        assert_non_null(h);
        assert_string_equal(h->comm, "?");
        assert_string_equal(h->user, "root");
        assert_string_equal(h->node, "/dev/nodeB");

        h = find_holder(&l, p_mapped);
        assert_non_null(h);
        assert_string_equal(h->node, "/dev/nodeB");
        assert_int_equal(h->how, HOLD_MAPPING);

        h = find_holder(&l, p_both);
        assert_non_null(h);
        assert_int_equal(h->how, HOLD_FD);

        h = find_holder(&l, p_evil);
        assert_non_null(h);
        assert_string_equal(h->comm, "\\xff\\x1b[2Jx");

        assert_null(find_holder(&l, p_other));
        assert_null(find_holder(&l, p_nofd));
        assert_null(find_holder(&l, p_outside));
        holder_list_done(&l);
        assert_int_equal(l.n, 0);
        assert_null(l.items);

        /* fds only: the mapping is not seen. */
        assert_int_equal(holders_scan_fds(f->root, &nodes, &l), 0);
        assert_int_equal(l.n, 5);
        assert_null(find_holder(&l, p_mapped));
        holder_list_done(&l);

        /* The same through the wire form of a scanning child. */
        assert_int_equal(holders_scan(f->root, &nodes, &l), 0);
        _cleanup_free_ char *wire = NULL;
        size_t wire_size = 0;
        FILE *mem = open_memstream(&wire, &wire_size);
        assert_non_null(mem);
        assert_int_equal(holders_serialize(&l, mem), 0);
        assert_int_equal(fclose(mem), 0);
        HolderList back = {};
        assert_int_equal(holders_deserialize(wire, &back), 0);
        assert_int_equal(back.n, l.n);
        for (size_t i = 0; i < l.n; i++) {
                assert_int_equal(back.items[i].pid, l.items[i].pid);
                assert_int_equal(back.items[i].how, l.items[i].how);
                assert_string_equal(back.items[i].comm, l.items[i].comm);
                assert_string_equal(back.items[i].node, l.items[i].node);
                assert_null(back.items[i].fix);
        }
        holder_list_done(&back);
        holder_list_done(&l);
        assert_int_equal(holders_deserialize("12 0 7 0\tx\ty\tz\t-\n", &back), -EBADMSG);
        assert_int_equal(holders_deserialize("garbage\n", &back), -EBADMSG);
        assert_int_equal(holders_deserialize("", &back), 0);
        assert_int_equal(back.n, 0);

        /* A node nobody holds. */
        _cleanup_device_nodes_ DeviceNodeList unheld = {};
        nodes_of(&unheld, (char *[]) { f->dir, NULL });
        assert_int_equal(holders_scan(f->root, &unheld, &l), 0);
        assert_int_equal(l.n, 0);
        holder_list_done(&l);

        /* No nodes: nothing, without even looking at proc. */
        _cleanup_device_nodes_ DeviceNodeList none = {};
        l = (HolderList) { .n = 99 };
        assert_int_equal(holders_scan("/nonexistent/proc", &none, &l), 0);
        assert_int_equal(l.n, 0);
        holder_list_done(&l);

        /* A proc root that is not there, with a node that is. */
        assert_int_equal(holders_scan("/nonexistent/proc", &nodes, &l), -ENOENT);

        /* A character device matches by device number, under /dev. */
        assert_int_equal(unsetenv("VFIOD_DEV_DIR"), 0);
        pid_t p_devnull = base + 20, p_devzero = base + 21;
        fake_process(f, p_devnull, "devnull\n", "Uid:\t0\n", (char *[]) { "/dev/null", NULL });
        fake_process(f, p_devzero, "devzero\n", "Uid:\t0\n", (char *[]) { "/dev/zero", NULL });
        _cleanup_device_nodes_ DeviceNodeList null = {};
        nodes_of(&null, (char *[]) { "/dev/null", NULL });
        assert_int_equal(null.items[0].devnum, makedev(1, 3));
        assert_int_equal(holders_scan(f->root, &null, &l), 0);
        assert_int_equal(l.n, 1);
        assert_non_null(find_holder(&l, p_devnull));
        holder_list_done(&l);
        (void) rm_rf(outdir);
}

static void test_proc_maps_line(void **state) {
        (void) state;
        unsigned major, minor;
        unsigned long inode;
        assert_int_equal(proc_maps_line("7f3a1c000000-7f3a1c400000 rw-s 1c0000000 00:05 1033                       /dev/dri/card1\n",
                                        &major, &minor, &inode), 0);
        assert_int_equal(major, 0);
        assert_int_equal(minor, 5);
        assert_int_equal(inode, 1033);
        assert_int_equal(proc_maps_line("7ffc5e5fb000-7ffc5e61c000 rw-p 00000000 103:02 0  [stack]", &major, &minor, &inode), 0);
        assert_int_equal(major, 0x103);
        assert_int_equal(inode, 0);
        assert_int_equal(proc_maps_line("", &major, &minor, &inode), -EINVAL);
        assert_int_equal(proc_maps_line("7f-7f rw-s zz", &major, &minor, &inode), -EINVAL);
}

static void test_printable_name(void **state) {
        (void) state;
        _cleanup_free_ char *a = printable_name("Xorg"), *b = printable_name("\xff"), *c = printable_name("a\\b\tc");
        assert_string_equal(a, "Xorg");
        assert_string_equal(b, "\\xff");
        assert_string_equal(c, "a\\x5cb\\x09c");
}

static void test_holders_format(void **state) {
        (void) state;
        Holder items[] = {
                { .pid = 1234, .uid = 1000, .user = (char *) "alice", .comm = (char *) "python3", .node = (char *) "/dev/nvidia0" },
                { .pid = 99, .uid = 0, .user = (char *) "root", .comm = (char *) "gnome-shell", .node = (char *) "/dev/dri/card1",
                  .how = HOLD_MAPPING },
                { .user = (char *) "kernel", .comm = (char *) "fbcon", .node = (char *) "/dev/fb1", .how = HOLD_KERNEL,
                  .fix = (char *) "echo 0 > /sys/class/vtconsole/vtcon1/bind" },
        };
        HolderList l = { .items = items, .n = 3 };

        _cleanup_free_ char *all = holders_format(&l);
        assert_non_null(all);
        assert_string_equal(all, "1234 python3 (user alice, fd) on /dev/nvidia0, 99 gnome-shell (user root, mapping) on /dev/dri/card1, "
                                 "fbcon (kernel) on /dev/fb1: echo 0 > /sys/class/vtconsole/vtcon1/bind");
        assert_int_equal(holders_count(&l, HOLD_KERNEL), 1);
        assert_int_equal(holders_undrainable(&l), 1);
        items[0].kind = NODE_VFIO;
        assert_int_equal(holders_undrainable(&l), 2);

        l.n = 1;
        _cleanup_free_ char *one = holders_format(&l);
        assert_non_null(one);
        assert_string_equal(one, "1234 python3 (user alice, fd) on /dev/nvidia0");

        l = (HolderList) {};
        _cleanup_free_ char *none = holders_format(&l);
        assert_non_null(none);
        assert_string_equal(none, "");
}

typedef struct Child {
        pid_t pid;
        int block_fd;  /* write end: closing it lets the child exit */
} Child;

/* A child with path open (or, with map, only mapped: the fd closed),
 * blocked reading a pipe once it has it. */
static Child start_holder(const char *path, bool ignore_term, bool map) {
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
                if (map) {
                        if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
                                _exit(3);
                        close(fd);
                }
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
        assert_int_equal(setenv("VFIOD_DEV_DIR", f->dir, 1), 0);

        Child child = start_holder(f->node_a, false, false);
        HolderList l = {};
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        nodes_of(&nodes, (char *[]) { f->node_a, NULL });

        assert_int_equal(holders_scan("/proc", &nodes, &l), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.items[0].pid, child.pid);
        assert_int_equal(l.items[0].uid, getuid());
        assert_string_equal(l.items[0].node, "/dev/nodeA");
        assert_non_null(l.items[0].comm);
        assert_non_null(l.items[0].user);

        _cleanup_free_ char *text = holders_format(&l);
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "%d ", child.pid);
        assert_non_null(startswith(text, prefix));
        assert_non_null(strstr(text, "/dev/nodeA"));

        assert_int_equal(holders_drain(&l, 3 * USEC_PER_SEC), 0);

        /* It is gone (a zombie until reaped) and went by SIGTERM. */
        int status;
        assert_int_equal(waitpid(child.pid, &status, 0), child.pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGTERM);
        close(child.block_fd);

        /* Nobody holds it now; draining those already gone is immediate success. */
        HolderList after = {};
        assert_int_equal(holders_scan("/proc", &nodes, &after), 0);
        assert_int_equal(after.n, 0);
        holder_list_done(&after);
        assert_int_equal(holders_drain(&l, 0), 0);
        holder_list_done(&l);
}

static void test_holders_drain_timeout(void **state) {
        FakeProc *f = *state;
        write_file(f->node_a, "held");
        assert_int_equal(setenv("VFIOD_DEV_DIR", f->dir, 1), 0);

        Child child = start_holder(f->node_a, true, false);
        HolderList l = {};
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        nodes_of(&nodes, (char *[]) { f->node_a, NULL });

        assert_int_equal(holders_scan("/proc", &nodes, &l), 0);
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

static void test_holders_mapped_and_undrainable(void **state) {
        FakeProc *f = *state;
        write_file(f->node_a, "held");
        assert_int_equal(setenv("VFIOD_DEV_DIR", f->dir, 1), 0);

        /* Mapped, its fd closed: the mapping still holds the file. */
        Child child = start_holder(f->node_a, false, true);
        HolderList l = {};
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        assert_int_equal(device_node_list_add(&nodes, f->node_a, NODE_VFIO, NULL), 0);

        assert_int_equal(holders_scan("/proc", &nodes, &l), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.items[0].pid, child.pid);
        assert_int_equal(l.items[0].how, HOLD_MAPPING);
        assert_int_equal(l.items[0].kind, NODE_VFIO);
        assert_int_equal(holders_undrainable(&l), 1);

        /* A VM's node: the drain signals nobody, and the holder lives on. */
        assert_int_equal(holders_drain(&l, 100 * USEC_PER_MSEC), 0);
        assert_int_equal(waitpid(child.pid, NULL, WNOHANG), 0);
        assert_true(process_alive(child.pid));
        holder_list_done(&l);

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
                cmocka_unit_test(test_proc_stat_starttime),
                cmocka_unit_test_setup_teardown(test_holders_scan_fake, setup_fake, teardown_fake),
                cmocka_unit_test(test_holders_format),
                cmocka_unit_test(test_proc_maps_line),
                cmocka_unit_test(test_printable_name),
                cmocka_unit_test_setup_teardown(test_holders_real, setup_fake, teardown_fake),
                cmocka_unit_test_setup_teardown(test_holders_drain_timeout, setup_fake, teardown_fake),
                cmocka_unit_test_setup_teardown(test_holders_mapped_and_undrainable, setup_fake, teardown_fake),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
