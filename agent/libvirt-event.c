/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "libvirt-event.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "libvirt-dl.h"
#include "log.h"

typedef struct Watch {
        int id;
        int fd;                /* -1 for a timer */
        int interval_ms;       /* timers: -1 off, 0 every iteration, > 0 period */
        sd_event_source *source;
        virEventHandleCallback handle_cb;
        virEventTimeoutCallback timeout_cb;
        void *opaque;
        virFreeCallback ff;
        struct Watch *next;
} Watch;

static sd_event *loop;
static Watch *watches;
static int next_id = 1;

static Watch *watch_find(int id) {
        for (Watch *w = watches; w; w = w->next)
                if (w->id == id)
                        return w;
        return NULL;
}

static uint32_t to_epoll(int events) {
        return (events & VIR_EVENT_HANDLE_READABLE ? EPOLLIN : 0) |
               (events & VIR_EVENT_HANDLE_WRITABLE ? EPOLLOUT : 0);
}

static int from_epoll(uint32_t revents) {
        return (revents & EPOLLIN ? VIR_EVENT_HANDLE_READABLE : 0) |
               (revents & EPOLLOUT ? VIR_EVENT_HANDLE_WRITABLE : 0) |
               (revents & EPOLLERR ? VIR_EVENT_HANDLE_ERROR : 0) |
               (revents & EPOLLHUP ? VIR_EVENT_HANDLE_HANGUP : 0);
}

static int on_io(sd_event_source *s _unused_, int fd, uint32_t revents, void *userdata) {
        Watch *w = userdata;
        w->handle_cb(w->id, fd, from_epoll(revents), w->opaque);
        return 0;
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff) {
        Watch *w = calloc(1, sizeof(Watch));
        if (!w)
                return -1;
        *w = (Watch) { .id = next_id++, .fd = fd, .handle_cb = cb, .opaque = opaque, .ff = ff };
        if (sd_event_add_io(loop, &w->source, fd, to_epoll(events), on_io, w) < 0) {
                free(w);
                return -1;
        }
        /* libvirt asks for no events at all at times: that is "off", not an error. */
        (void) sd_event_source_set_enabled(w->source, events ? SD_EVENT_ON : SD_EVENT_OFF);
        w->next = watches;
        watches = w;
        return w->id;
}

static void update_handle(int id, int events) {
        Watch *w = watch_find(id);
        if (!w || w->fd < 0)
                return;
        (void) sd_event_source_set_io_events(w->source, to_epoll(events));
        (void) sd_event_source_set_enabled(w->source, events ? SD_EVENT_ON : SD_EVENT_OFF);
}

/* libvirt: the free callback must not run from within the remove call. */
static int on_deferred_free(sd_event_source *s, void *userdata) {
        Watch *w = userdata;
        if (w->ff)
                w->ff(w->opaque);
        sd_event_source_unref(s);
        free(w);
        return 0;
}

/* Watches removed once the loop has finished (vfiod stopping: daemon_free()
 * closes the libvirt connection after sd_event_loop() returned, so no
 * defer source can be added). Their free callbacks must not run from the
 * remove call either: libvirt calls it with the object's lock held, and
 * the callback takes that lock again (virNetSocketRemoveIOCallback ->
 * virNetSocketEventFree: a deadlock, vfiod hung on SIGTERM). No loop will
 * run them later, so they are kept, as libvirt's own event loop keeps what
 * it deferred when its loop no longer runs; the process is ending. */
static Watch *orphans;

static int remove_watch(int id) {
        Watch **p = &watches;
        while (*p && (*p)->id != id)
                p = &(*p)->next;
        Watch *w = *p;
        if (!w)
                return -1;
        *p = w->next;
        w->source = sd_event_source_disable_unref(w->source);
        if (sd_event_add_defer(loop, NULL, on_deferred_free, w) < 0) {
                w->next = orphans;
                orphans = w;
        }
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec _unused_, void *userdata) {
        Watch *w = userdata;
        if (w->interval_ms > 0)
                (void) sd_event_source_set_time_relative(s, (uint64_t) w->interval_ms * 1000);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        w->timeout_cb(w->id, w->opaque);
        return 0;
}

static int on_timer_now(sd_event_source *s _unused_, void *userdata) {
        Watch *w = userdata;
        w->timeout_cb(w->id, w->opaque);
        return 0;
}

/* A timer is a time source (period > 0) or a defer source (0: every
 * iteration); -1 disables it. */
static int timer_arm(Watch *w, int interval_ms) {
        w->interval_ms = interval_ms;
        w->source = sd_event_source_disable_unref(w->source);
        if (interval_ms < 0)
                return 0;
        if (interval_ms == 0)
                return sd_event_add_defer(loop, &w->source, on_timer_now, w) < 0 ? -1 :
                       sd_event_source_set_enabled(w->source, SD_EVENT_ON);
        return sd_event_add_time_relative(loop, &w->source, CLOCK_MONOTONIC, (uint64_t) interval_ms * 1000, 1000,
                                          on_timer, w) < 0 ? -1 : 0;
}

static int add_timeout(int interval_ms, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff) {
        Watch *w = calloc(1, sizeof(Watch));
        if (!w)
                return -1;
        *w = (Watch) { .id = next_id++, .fd = -1, .timeout_cb = cb, .opaque = opaque, .ff = ff };
        if (timer_arm(w, interval_ms) < 0) {
                free(w);
                return -1;
        }
        w->next = watches;
        watches = w;
        return w->id;
}

static void update_timeout(int id, int interval_ms) {
        Watch *w = watch_find(id);
        if (w && w->fd < 0)
                (void) timer_arm(w, interval_ms);
}

static int remove_handle(int id) {
        return remove_watch(id);
}

static int remove_timeout(int id) {
        return remove_watch(id);
}

int libvirt_event_register(sd_event *event) {
        if (loop)
                return loop == event ? 0 : -EBUSY;
        int r = dlopen_libvirt();
        if (r < 0)
                return r;
        loop = sd_event_ref(event);
        sym_virEventRegisterImpl(add_handle, update_handle, remove_handle, add_timeout, update_timeout, remove_timeout);
        return 0;
}
