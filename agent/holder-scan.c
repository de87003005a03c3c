/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "holder-scan.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "time-util.h"

/* A scan's report: a few lines a holder; more than this is not a report. */
#define REPORT_MAX (256 * 1024)

typedef struct Waiter {
        holder_scan_done_t done;
        void *userdata;
} Waiter;

struct HolderScan {
        sd_event *event;
        uint64_t deadline;
        pid_t pid;                 /* the scanning child; 0: none */
        bool expired;              /* its deadline passed: its waiters were answered */
        sd_event_source *io, *timer;
        char *buf;
        size_t len;
        HolderList last;
        usec_t last_at;            /* when last was complete; 0: never */
        Waiter *waiters;
        size_t n_waiters;
        void (*changed)(void *userdata);
        void *changed_userdata;
};

int holder_scan_new(sd_event *event, uint64_t deadline_usec, HolderScan **ret) {
        HolderScan *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->deadline = deadline_usec;
        *ret = s;
        return 0;
}

static void answer(HolderScan *s, int error) {
        /* A waiter's callback may ask again: take the list first. */
        Waiter *w = TAKE_PTR(s->waiters);
        size_t n = s->n_waiters;
        s->n_waiters = 0;
        for (size_t i = 0; i < n; i++)
                if (w[i].done)
                        w[i].done(error, error < 0 ? NULL : &s->last, w[i].userdata);
        free(w);
}

HolderScan *holder_scan_free(HolderScan *s) {
        if (!s)
                return NULL;
        if (s->pid > 0)
                (void) kill(s->pid, SIGKILL);  /* its exit reaps it: vfiod is exiting */
        answer(s, -ECANCELED);
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->timer);
        sd_event_unref(s->event);
        free(s->buf);
        free(s->waiters);
        holder_list_done(&s->last);
        free(s);
        return NULL;
}

void holder_scan_set_changed(HolderScan *s, void (*changed)(void *userdata), void *userdata) {
        s->changed = changed;
        s->changed_userdata = userdata;
}

const HolderList *holder_scan_cached(HolderScan *s, uint64_t max_age_usec) {
        return s->last_at > 0 && now_usec() - s->last_at <= max_age_usec ? &s->last : NULL;
}

const HolderList *holder_scan_last(HolderScan *s) {
        return &s->last;
}

void holder_scan_forget(HolderScan *s, void *userdata) {
        for (size_t i = 0; i < s->n_waiters; i++)
                if (s->waiters[i].userdata == userdata)
                        s->waiters[i].done = NULL;
}

static bool same_list(const HolderList *a, const HolderList *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++) {
                const Holder *x = &a->items[i], *y = &b->items[i];
                if (x->pid != y->pid || x->how != y->how || !streq(x->node, y->node) || !streq(x->comm, y->comm) ||
                    !streq_ptr(x->fix, y->fix))
                        return false;
        }
        return true;
}

static void scan_finished(HolderScan *s) {
        HolderList l = {};
        int r = s->buf ? holders_deserialize(s->buf, &l) : 0;
        s->buf = mfree(s->buf);
        s->len = 0;
        s->timer = sd_event_source_disable_unref(s->timer);

        bool expired = s->expired;
        s->expired = false;
        if (expired) {
                holder_list_done(&l);
                return;  /* too late: its waiters were told */
        }
        if (r < 0) {
                log_warning_errno(r, "The holder scan's report cannot be read: %m");
                answer(s, r);
                return;
        }
        bool changed = !same_list(&s->last, &l);
        holder_list_done(&s->last);
        s->last = l;
        s->last_at = now_usec();
        answer(s, 0);
        if (changed && s->changed)
                s->changed(s->changed_userdata);
}

static int on_report(sd_event_source *src _unused_, int fd, uint32_t revents _unused_, void *userdata) {
        HolderScan *s = userdata;
        char chunk[4096];

        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n > 0) {
                        if (s->len + (size_t) n > REPORT_MAX)
                                continue;  /* drain to EOF; the report is cut, and will not parse */
                        char *b = realloc(s->buf, s->len + (size_t) n + 1);
                        if (!b)
                                continue;
                        s->buf = b;
                        memcpy(s->buf + s->len, chunk, (size_t) n);
                        s->len += (size_t) n;
                        s->buf[s->len] = 0;
                        continue;
                }
                break;  /* EOF: the child is exiting */
        }
        /* Its write end closes as it exits: this wait is short. */
        while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        s->pid = 0;
        s->io = sd_event_source_disable_unref(s->io);
        scan_finished(s);
        return 0;
}

static int on_deadline(sd_event_source *src _unused_, uint64_t usec _unused_, void *userdata) {
        HolderScan *s = userdata;
        /* A child in D state dies when the kernel lets it go; its report's EOF reaps it. */
        log_warning("The holder scan did not finish within %.0fs (a process stuck in the kernel?); "
                    "it is killed, and nobody is told there are no holders.",
                    (double) s->deadline / USEC_PER_SEC);
        (void) kill(s->pid, SIGKILL);
        s->expired = true;
        answer(s, -ETIMEDOUT);
        return 0;
}

_Noreturn static void scan_child(const Gpu *g, int fd) {
        HolderList l = {};
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Only the report pipe: nothing of the daemon's (bus, uevents, locks) stays open here. */
        if (dup2(fd, 3) < 0 || close_range(4, ~0U, 0) < 0)
                _exit(1);
        int r = gpu_holders(g, "/proc", NODE_KINDS_ALL, true, &l);
        if (r < 0)
                _exit(2);
        _cleanup_fclose_ FILE *f = fdopen(3, "w");
        if (!f || holders_serialize(&l, f) < 0 || fflush(f) != 0)
                _exit(3);
        _exit(0);
}

int holder_scan_request(HolderScan *s, const Gpu *g, uint64_t max_age_usec, holder_scan_done_t done, void *userdata) {
        const HolderList *c = holder_scan_cached(s, max_age_usec);
        int p[2], r;

        if (c && s->pid == 0) {
                if (done)
                        done(0, c, userdata);
                return 0;
        }
        if (done) {
                Waiter *w = realloc(s->waiters, sizeof(Waiter) * (s->n_waiters + 1));
                if (!w)
                        return -ENOMEM;
                s->waiters = w;
                w[s->n_waiters++] = (Waiter) { done, userdata };
        }
        if (s->pid > 0) {
                if (s->expired) {
                        /* Still not gone after its deadline: one at a time, so no answer now. */
                        holder_scan_forget(s, userdata);
                        s->n_waiters--;
                        return -ETIMEDOUT;
                }
                return 0;  /* the one running answers */
        }

        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = -errno;
                goto fail;
        }
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                close(p[0]);
                close(p[1]);
                goto fail;
        }
        if (pid == 0) {
                close(p[0]);
                /* The write end blocks: the child has nothing else to do. */
                (void) fcntl(p[1], F_SETFL, 0);
                scan_child(g, p[1]);
        }
        close(p[1]);
        s->pid = pid;
        r = sd_event_add_io(s->event, &s->io, p[0], EPOLLIN, on_report, s);
        if (r < 0) {
                close(p[0]);
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                s->pid = 0;
                goto fail;
        }
        (void) sd_event_source_set_io_fd_own(s->io, true);
        r = sd_event_add_time_relative(s->event, &s->timer, CLOCK_MONOTONIC, s->deadline, 0, on_deadline, s);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the holder scan's deadline: %m");
        return 0;

fail:
        if (done)
                s->n_waiters--;
        return log_error_errno(r, "Failed to start a holder scan: %m");
}
