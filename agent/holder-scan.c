/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "holder-scan.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork-child.h"
#include "log.h"
#include "time-util.h"

/* A scan's report: a few lines a holder; more than this is not a report. */
#define REPORT_MAX (256 * 1024)

typedef struct Waiter {
        holder_scan_done_t done;
        void *userdata;
} Waiter;

typedef struct WaiterList {
        Waiter *items;
        size_t n;
} WaiterList;

struct HolderScan {
        sd_event *event;
        uint64_t deadline, interval;
        const Gpu *gpu;            /* of the next scan */
        pid_t pid;                 /* the scanning child; 0: none */
        bool expired;              /* its deadline passed: its waiters were answered */
        bool wanted;               /* a scan is to start when the interval allows */
        sd_event_source *io, *deadline_timer, *start_timer;
        char *buf;
        size_t len;
        HolderList last;
        usec_t last_started;       /* of the last scan; 0: never */
        usec_t last_at;            /* when last was complete; 0: never */
        WaiterList running;        /* answered by the scan that runs */
        WaiterList next;           /* asked after it started: answered by the next */
        void (*changed)(void *userdata);
        void *changed_userdata;
};

int holder_scan_new(sd_event *event, uint64_t deadline_usec, uint64_t interval_usec, HolderScan **ret) {
        HolderScan *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->deadline = deadline_usec;
        s->interval = interval_usec;
        *ret = s;
        return 0;
}

static void answer(WaiterList *w, int error, const HolderList *l) {
        /* A waiter's callback may ask again: take the list first. */
        WaiterList t = *w;
        *w = (WaiterList) {};
        for (size_t i = 0; i < t.n; i++)
                if (t.items[i].done)
                        t.items[i].done(error, error < 0 ? NULL : l, t.items[i].userdata);
        free(t.items);
}

HolderScan *holder_scan_free(HolderScan *s) {
        if (!s)
                return NULL;
        if (s->pid > 0)
                (void) kill(s->pid, SIGKILL);  /* its exit reaps it: vfiod is exiting */
        answer(&s->running, -ECANCELED, NULL);
        answer(&s->next, -ECANCELED, NULL);
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->deadline_timer);
        sd_event_source_disable_unref(s->start_timer);
        sd_event_unref(s->event);
        free(s->buf);
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

static void forget(WaiterList *w, void *userdata) {
        for (size_t i = 0; i < w->n; i++)
                if (w->items[i].userdata == userdata)
                        w->items[i].done = NULL;
}

void holder_scan_forget(HolderScan *s, void *userdata) {
        forget(&s->running, userdata);
        forget(&s->next, userdata);
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

static void schedule(HolderScan *s);

static void scan_finished(HolderScan *s, int status) {
        HolderList l = {};
        int r, err;

        /* Only a child that said it finished has a list: an empty report is not "nobody". */
        if (s->buf && sscanf(s->buf, "!%d", &err) == 1)
                r = err > 0 ? -err : -EIO;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                r = -EIO;
        else
                r = holders_deserialize(strempty(s->buf), &l);
        s->buf = mfree(s->buf);
        s->len = 0;
        s->deadline_timer = sd_event_source_disable_unref(s->deadline_timer);

        bool expired = s->expired;
        s->expired = false;
        if (expired)
                holder_list_done(&l);  /* too late: its waiters were told */
        else if (r < 0) {
                log_warning_errno(r, "The holder scan failed: %m");
                answer(&s->running, r, NULL);
        } else {
                bool changed = !same_list(&s->last, &l);
                holder_list_done(&s->last);
                s->last = l;
                s->last_at = now_usec();
                answer(&s->running, 0, &s->last);
                if (changed && s->changed)
                        s->changed(s->changed_userdata);
        }
        schedule(s);
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
        int status = 0;
        while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
                ;
        s->pid = 0;
        s->io = sd_event_source_disable_unref(s->io);
        scan_finished(s, status);
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
        answer(&s->running, -ETIMEDOUT, NULL);
        answer(&s->next, -ETIMEDOUT, NULL);
        return 0;
}

_Noreturn static void scan_child(const Gpu *g, int fd) {
        HolderList l = {};
        _cleanup_fclose_ FILE *f = fdopen(fd, "w");
        if (!f)
                _exit(EXIT_FAILURE);
        int r = gpu_holders(g, "/proc", NODE_KINDS_ALL, true, &l);
        if (r < 0) {
                /* Why, for the daemon to say: "!ERRNO". */
                fprintf(f, "!%d\n", -r);
                _exit(fflush(f) == 0 ? 2 : EXIT_FAILURE);
        }
        if (holders_serialize(&l, f) < 0 || fflush(f) != 0)
                _exit(EXIT_FAILURE);
        _exit(EXIT_SUCCESS);
}

static int scan_start(HolderScan *s) {
        int p[2], r;

        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        /* Only the report pipe: nothing of the daemon's (bus, uevents, locks) stays open there. */
        pid_t pid;
        r = fork_child("vfiod-scan", FORK_DEATHSIG, &p[1], 1, &pid);
        if (r < 0) {
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (r == 0) {
                /* The write end blocks: the child has nothing else to do. */
                (void) fcntl(p[1], F_SETFL, 0);
                scan_child(s->gpu, p[1]);
        }
        close(p[1]);
        r = sd_event_add_io(s->event, &s->io, p[0], EPOLLIN, on_report, s);
        if (r < 0) {
                close(p[0]);
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        (void) sd_event_source_set_io_fd_own(s->io, true);
        s->pid = pid;
        s->last_started = now_usec();
        r = sd_event_add_time_relative(s->event, &s->deadline_timer, CLOCK_MONOTONIC, s->deadline, 0, on_deadline, s);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the holder scan's deadline: %m");
        return 0;
}

static int on_start(sd_event_source *src _unused_, uint64_t usec _unused_, void *userdata) {
        schedule(userdata);
        return 0;
}

/* Starts the wanted scan now, or when the interval since the last start has passed. */
static void schedule(HolderScan *s) {
        if (s->pid > 0 || (!s->wanted && s->next.n == 0))
                return;
        usec_t now = now_usec(), at = s->last_started > 0 ? s->last_started + s->interval : 0;
        if (at > now) {
                if (!s->start_timer)
                        (void) sd_event_add_time(s->event, &s->start_timer, CLOCK_MONOTONIC, at, 0, on_start, s);
                else {
                        (void) sd_event_source_set_time(s->start_timer, at);
                        (void) sd_event_source_set_enabled(s->start_timer, SD_EVENT_ONESHOT);
                }
                return;
        }
        s->wanted = false;
        s->running = s->next;
        s->next = (WaiterList) {};
        int r = scan_start(s);
        if (r < 0) {
                log_error_errno(r, "Failed to start a holder scan: %m");
                answer(&s->running, r, NULL);
        }
}

int holder_scan_request(HolderScan *s, const Gpu *g, holder_scan_done_t done, void *userdata) {
        if (s->pid > 0 && s->expired)
                /* Still not gone after its deadline: one at a time, so no answer now. */
                return -ETIMEDOUT;
        if (done) {
                /* Answered by a scan that starts after this: what it says is news. */
                Waiter *w = realloc(s->next.items, sizeof(Waiter) * (s->next.n + 1));
                if (!w)
                        return -ENOMEM;
                s->next.items = w;
                w[s->next.n++] = (Waiter) { done, userdata };
        }
        s->gpu = g;
        s->wanted = true;
        schedule(s);
        return 0;
}
