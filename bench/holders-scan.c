/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiod's holder scan (holders_scan(), agent/holders.c) through the library,
 * for bench/holders-bench.py, and the processes it is timed against.
 *
 *   holders-scan [--fds-only] [--reps N] NODE...
 *       N scans of /proc for the holders of NODEs (each added with
 *       device_node_list_add(), as gpu_device_nodes() adds nvidia's). Prints
 *       "holder PID HOW NODE" for each holder, then "us T1 T2 ..." (each
 *       scan's microseconds). Exit 1 when one scan found other holders than
 *       the first (a process came or went during the run).
 *
 *   holders-scan --spawn PROCS FILEDIR SHMDIR [SPEC...]
 *       PROCS children, each with the fds and mappings of a small desktop
 *       process (files of FILEDIR/f00..f63 open and mapped, pipes, sockets,
 *       eventfds, /dev/null, /dev/urandom, tmpfs files SHMDIR/s00..s15) and
 *       every tenth a big one (a browser's tab: 40 more files, 300 mappings).
 *       A SPEC makes one of them a holder: "fd:/dev/full" keeps the node open,
 *       "map:/dev/zero" maps it (MAP_PRIVATE) and closes the fd; several with
 *       commas. Prints "holder PID SPEC" lines and "ready", then waits for EOF
 *       on stdin, kills its children (by pid) and reaps them. The children die
 *       with it (PR_SET_PDEATHSIG). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device-nodes.h"
#include "holders.h"
#include "time-util.h"

#define POOL_FILES 64
#define POOL_SIZE 65536
#define SHM_FILES 16

static int open_pool(const char *dir, const char *prefix, int k, int flags) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s%02d", dir, prefix, k);
        return open(p, flags | O_CLOEXEC);
}

static int inet_socket(int type) {
        int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0)
                return -1;
        if (type == SOCK_STREAM && listen(fd, 4) < 0)
                return -1;
        return fd;
}

/* Open or map what a SPEC names; -1 when something fails. */
static int hold(char *spec) {
        for (char *save = NULL, *item = strtok_r(spec, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                bool map = strncmp(item, "map:", 4) == 0;
                if (!map && strncmp(item, "fd:", 3) != 0)
                        return -1;
                const char *path = item + (map ? 4 : 3);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return -1;
                if (map) {
                        if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
                                return -1;
                        close(fd);  /* the mapping keeps the node */
                }
        }
        return 0;
}

static int child_setup(int i, const char *dir, const char *shm, char *spec) {
        bool big = i % 10 == 5;
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
                return -1;
        /* Files open: config, logs, databases. */
        for (int k = 0; k < 3 + i % 5 + (big ? 40 : 0); k++)
                if (open_pool(dir, "f", (i + k) % POOL_FILES, O_RDONLY) < 0)
                        return -1;
        if (i % 2 && open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) < 0)
                return -1;
        for (int k = 0; k < 1 + i % 2 + (big ? 8 : 0); k++) {
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -1;
        }
        for (int k = 0; k < 1 + (big ? 4 : 0); k++) {
                int s[2];
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) < 0)
                        return -1;
        }
        if (i % 3 == 0 && inet_socket(SOCK_DGRAM) < 0)
                return -1;
        if (i % 7 == 0 && inet_socket(SOCK_STREAM) < 0)
                return -1;
        if (open("/dev/null", O_RDWR | O_CLOEXEC) < 0 || open("/dev/urandom", O_RDONLY | O_CLOEXEC) < 0 ||
            (i % 2 && open("/dev/random", O_RDONLY | O_CLOEXEC) < 0))
                return -1;
        if (eventfd(0, EFD_CLOEXEC) < 0 || eventfd(0, EFD_CLOEXEC) < 0 || epoll_create1(EPOLL_CLOEXEC) < 0)
                return -1;
        /* Shared memory open under /dev/shm (the scan stats those: they are under /dev). */
        for (int k = 0; k < (big ? 8 : i % 3 == 0); k++)
                if (open_pool(shm, "s", (i + k) % SHM_FILES, O_RDWR) < 0)
                        return -1;
        /* Mappings of files (libraries, caches, fonts) and of a tmpfs file, fds closed. */
        for (int k = 0; k < 8 + (i % 4) * 8 + (big ? 300 : 0); k++) {
                int fd = open_pool(dir, "f", (i * 7 + k) % POOL_FILES, O_RDONLY);
                if (fd < 0 || mmap(NULL, POOL_SIZE, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
                        return -1;
                close(fd);
        }
        int fd = open_pool(shm, "s", i % SHM_FILES, O_RDWR);
        if (fd < 0 || mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED)
                return -1;
        close(fd);
        return spec ? hold(spec) : 0;
}

static int spawn(int procs, const char *dir, const char *shm, int n_specs, char **specs) {
        pid_t *pids = calloc(procs, sizeof(pid_t));
        int *holder_of = calloc(n_specs, sizeof(int)), ready[2];
        if (!pids || !holder_of || pipe2(ready, O_CLOEXEC) < 0)
                return 1;
        /* Holders spread among the others, none first or last. */
        for (int k = 0; k < n_specs; k++)
                holder_of[k] = (k + 1) * procs / (n_specs + 1);
        pid_t parent = getpid();
        int r = 0;
        for (int i = 0; i < procs; i++) {
                char *spec = NULL;
                for (int k = 0; k < n_specs; k++)
                        if (holder_of[k] == i)
                                spec = specs[k];
                pids[i] = fork();
                if (pids[i] < 0) {
                        r = 1;
                        break;
                }
                if (pids[i] == 0) {
                        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                                _exit(1);
                        close(ready[0]);
                        char ok = child_setup(i, dir, shm, spec) < 0 ? 'E' : 'x';
                        if (write(ready[1], &ok, 1) != 1)
                                _exit(1);
                        close(ready[1]);
                        for (;;)
                                pause();
                }
        }
        close(ready[1]);
        int n_ready = 0;
        char c;
        while (r == 0 && n_ready < procs && read(ready[0], &c, 1) == 1) {
                if (c != 'x') {
                        fprintf(stderr, "holders-scan: a child failed to set up its fds and mappings\n");
                        r = 1;
                }
                n_ready++;
        }
        if (r == 0 && n_ready < procs)
                r = 1;
        if (r == 0) {
                for (int k = 0; k < n_specs; k++)
                        printf("holder %d %s\n", (int) pids[holder_of[k]], specs[k]);
                printf("ready\n");
                fflush(stdout);
                while (read(0, &c, 1) > 0)
                        ;
        }
        for (int i = 0; i < procs; i++)
                if (pids[i] > 0)
                        kill(pids[i], SIGKILL);
        for (int i = 0; i < procs; i++)
                if (pids[i] > 0)
                        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
                                ;
        free(pids);
        free(holder_of);
        return r;
}

/* A scan's result as sorted text, to compare scans. */
static int cmp_holder(const void *a, const void *b) {
        const Holder *x = a, *y = b;
        return x->pid != y->pid ? (x->pid > y->pid) - (x->pid < y->pid) : strcmp(x->node, y->node);
}

int main(int argc, char *argv[]) {
        if (argc >= 5 && streq(argv[1], "--spawn"))
                return spawn(atoi(argv[2]), argv[3], argv[4], argc - 5, argv + 5);

        bool fds_only = false;
        int reps = 1, i = 1;
        for (; i < argc && startswith(argv[i], "--"); i++)
                if (streq(argv[i], "--fds-only"))
                        fds_only = true;
                else if (streq(argv[i], "--reps") && i + 1 < argc)
                        reps = atoi(argv[++i]);
                else
                        return 2;
        if (i == argc || reps < 1)
                return 2;

        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        for (; i < argc; i++)
                if (device_node_list_add(&nodes, argv[i], NODE_FUNCTION, "0000:01:00.0") < 0)
                        return 1;

        usec_t *us = calloc(reps, sizeof(usec_t));
        HolderList first = {};
        int r = 0;
        if (!us)
                return 1;
        for (int k = 0; k < reps; k++) {
                HolderList l = {};
                usec_t t = now_usec();
                int q = fds_only ? holders_scan_fds("/proc", &nodes, &l) : holders_scan("/proc", &nodes, &l);
                us[k] = now_usec() - t;
                if (q < 0) {
                        fprintf(stderr, "holders-scan: %s\n", strerror(-q));
                        return 1;
                }
                qsort(l.items, l.n, sizeof(Holder), cmp_holder);
                if (k == 0) {
                        first = l;
                        continue;
                }
                bool same = l.n == first.n;
                for (size_t j = 0; same && j < l.n; j++)
                        same = l.items[j].pid == first.items[j].pid && streq(l.items[j].node, first.items[j].node);
                if (!same) {
                        fprintf(stderr, "holders-scan: scan %d found other holders than the first\n", k + 1);
                        r = 1;
                }
                holder_list_done(&l);
        }
        for (size_t j = 0; j < first.n; j++)
                printf("holder %d %s %s\n", (int) first.items[j].pid, hold_how_to_string(first.items[j].how),
                       first.items[j].node);
        printf("us");
        for (int k = 0; k < reps; k++)
                printf(" %llu", (unsigned long long) us[k]);
        printf("\n");
        holder_list_done(&first);
        free(us);
        return r;
}
