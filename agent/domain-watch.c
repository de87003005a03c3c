/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "domain-watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libvirt-dl.h"
#include "libvirt-event.h"
#include "log.h"
#include "time-util.h"

#define BACKOFF_MIN (500 * USEC_PER_MSEC)
#define BACKOFF_MAX (30 * USEC_PER_SEC)

struct DomainWatch {
        sd_event *event;
        char *uri, *domain;
        /* qemu:///system keeps DOMAIN.xml here while QEMU exists (a status
         * record libvirt writes at start and removes at stop): the state
         * without a connection. NULL for other URIs. */
        char *runtime_dir;
        /* Following the domain through libvirt now. Always with no runtime
         * dir; with one, only while the daemon says it needs to. */
        bool following;
        virConnectPtr conn;
        int callback_id;
        DomainState state;
        usec_t backoff;
        sd_event_source *reconnect;
        virConnectPtr closed;        /* lost, still to be released from the loop */
        sd_event_source *release;
        domain_watch_handler_t handler;
        void *userdata;
};

const char *libvirt_status_dir(void) {
        return secure_getenv("VFIOD_LIBVIRT_RUN_DIR") ?: "/run/libvirt/qemu";
}

const char *domain_state_to_string(DomainState s) {
        static const char *table[] = { [DOMAIN_UNKNOWN] = "unknown", [DOMAIN_INACTIVE] = "shut off",
                                       [DOMAIN_ACTIVE] = "running" };
        return s < ELEMENTSOF(table) ? table[s] : NULL;
}

/* libvirt prints its errors itself unless told otherwise: keep them ours. */
static void quiet_error(void *userdata _unused_, virErrorPtr error _unused_) {
}

static const char *last_error(void) {
        virErrorPtr e = sym_virGetLastError();
        return e && e->message ? e->message : "unknown error";
}

static void disconnect(DomainWatch *w) {
        if (!w->conn)
                return;
        if (w->callback_id >= 0)
                (void) sym_virConnectDomainEventDeregisterAny(w->conn, w->callback_id);
        w->callback_id = -1;
        virConnectPtr c = w->conn;
        w->conn = NULL;
        sym_virConnectClose(c);
}

/* libvirt's status XML of a domain exists from its start until QEMU is
 * gone, also while libvirtd is away (libvirtd removes a stale one when it
 * comes back and finds QEMU dead). */
static DomainState state_from_runtime_dir(DomainWatch *w) {
        char p[PATH_MAX];
        struct stat st;

        if (!w->runtime_dir)
                return DOMAIN_UNKNOWN;
        snprintf(p, sizeof(p), "%s/%s.xml", w->runtime_dir, w->domain);
        return stat(p, &st) >= 0 ? DOMAIN_ACTIVE : DOMAIN_INACTIVE;
}

static DomainState query_state(DomainWatch *w) {
        /* Not virDomainLookupByName(): libvirtd locks the domain for it, and
         * holds that lock while it runs the prepare hook, which may be what
         * made vfiod connect (the hook waits for vfiod, vfiod would wait for
         * libvirtd). The status record needs no lock. */
        if (!w->conn || w->runtime_dir)
                return state_from_runtime_dir(w);
        virDomainPtr d = sym_virDomainLookupByName(w->conn, w->domain);
        if (!d)
                return DOMAIN_INACTIVE; /* not defined (any more): it runs nothing */
        int active = sym_virDomainIsActive(d);
        sym_virDomainFree(d);
        return active < 0 ? DOMAIN_UNKNOWN : active ? DOMAIN_ACTIVE : DOMAIN_INACTIVE;
}

static int on_lifecycle(virConnectPtr conn _unused_, virDomainPtr dom, int event, int detail, void *opaque) {
        DomainWatch *w = opaque;
        static const char *names[] = { "defined", "undefined", "started", "suspended", "resumed",
                                       "stopped", "shutdown", "pmsuspended", "crashed" };
        char buf[64];

        if (!streq(sym_virDomainGetName(dom), w->domain))
                return 0;

        DomainChange change = DOMAIN_CHANGE_OTHER;
        if (event == VIR_DOMAIN_EVENT_STARTED) {
                w->state = DOMAIN_ACTIVE;
                change = DOMAIN_CHANGE_STARTED;
        } else if (event == VIR_DOMAIN_EVENT_STOPPED) {
                w->state = DOMAIN_INACTIVE;
                change = DOMAIN_CHANGE_STOPPED;
        }

        static const char *stopped[] = { "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot" };
        if (event == VIR_DOMAIN_EVENT_STOPPED && detail >= 0 && (size_t) detail < ELEMENTSOF(stopped))
                snprintf(buf, sizeof(buf), "stopped (%s)", stopped[detail]);
        else
                snprintf(buf, sizeof(buf), "%s", event >= 0 && (size_t) event < ELEMENTSOF(names) ? names[event] : "changed");
        w->handler(w, change, buf, w->userdata);
        return 0;
}

static int schedule_reconnect(DomainWatch *w);
static void on_close(virConnectPtr conn, int reason, void *opaque);

/* A lost connection is released here, from the loop: libvirt calls
 * on_close() with the close callback's lock held, and unregistering the
 * callback (or closing the connection) there takes that lock again: vfiod
 * hung for good when libvirtd went away. */
static void release_closed(DomainWatch *w) {
        virConnectPtr c = w->closed;
        if (!c)
                return;
        w->closed = NULL;
        (void) sym_virConnectUnregisterCloseCallback(c, on_close);
        sym_virConnectClose(c);
}

static int on_release(sd_event_source *s _unused_, void *userdata) {
        release_closed(userdata);
        return 0;
}

static void on_close(virConnectPtr conn _unused_, int reason, void *opaque) {
        DomainWatch *w = opaque;
        static const char *why[] = { "error", "end of file", "keepalive timeout", "client request" };

        log_warning("Lost the connection to libvirt (%s): reconnecting.",
                    reason >= 0 && (size_t) reason < ELEMENTSOF(why) ? why[reason] : "unknown");
        /* The connection is still inside its own callback: close it from the
         * loop. Its domain event callback went with it. */
        w->callback_id = -1;
        if (w->conn) {
                release_closed(w);  /* an earlier one, not yet released: not in a callback */
                w->closed = w->conn;
                w->conn = NULL;
                if (!w->release && sd_event_add_defer(w->event, &w->release, on_release, w) < 0)
                        log_warning("Cannot release the lost libvirt connection: it stays open.");
                if (w->release)
                        (void) sd_event_source_set_enabled(w->release, SD_EVENT_ONESHOT);
        }
        w->backoff = BACKOFF_MIN;
        (void) schedule_reconnect(w);
        w->handler(w, DOMAIN_CHANGE_DISCONNECTED, "libvirt connection lost", w->userdata);
}

static int try_connect(DomainWatch *w) {
        release_closed(w);
        virConnectPtr c = sym_virConnectOpen(w->uri);
        if (!c)
                return -ECONNREFUSED;

        /* Register first, then read the state: no event is lost in between. */
        int id = sym_virConnectDomainEventRegisterAny(c, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                  VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), w, NULL);
        if (id < 0) {
                log_warning("Cannot follow libvirt's domain events on %s: %s", w->uri, last_error());
                sym_virConnectClose(c);
                return -EIO;
        }
        w->conn = c;
        w->callback_id = id;
        (void) sym_virConnectRegisterCloseCallback(c, on_close, w, NULL);
        w->state = query_state(w);
        return 0;
}

static int on_reconnect(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        DomainWatch *w = userdata;

        if (try_connect(w) >= 0) {
                log_info("Connected to libvirt at %s; domain %s is %s.", w->uri, w->domain,
                         domain_state_to_string(w->state));
                w->backoff = BACKOFF_MIN;
                w->handler(w, DOMAIN_CHANGE_CONNECTED, "libvirt connection back", w->userdata);
                return 0;
        }
        log_debug("libvirt at %s not reachable (%s); next try in %.1fs.", w->uri, last_error(),
                  (double) w->backoff / USEC_PER_SEC);
        w->backoff = w->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : w->backoff * 2;
        return schedule_reconnect(w);
}

static int schedule_reconnect(DomainWatch *w) {
        if (!w->reconnect)
                return sd_event_add_time_relative(w->event, &w->reconnect, CLOCK_MONOTONIC, w->backoff,
                                                  100 * USEC_PER_MSEC, on_reconnect, w);
        (void) sd_event_source_set_time_relative(w->reconnect, w->backoff);
        return sd_event_source_set_enabled(w->reconnect, SD_EVENT_ONESHOT);
}

/* Opens libvirt (the library, once per process) and connects, or retries
 * with backoff. */
static int start_following(DomainWatch *w) {
        int r;

        w->following = true;
        if ((r = libvirt_event_register(w->event)) < 0)
                return r;
        sym_virSetErrorFunc(NULL, quiet_error);

        if (try_connect(w) < 0) {
                log_warning("libvirt at %s is not reachable (%s): will retry.", w->uri, last_error());
                w->backoff = BACKOFF_MIN;
                return schedule_reconnect(w);
        }
        return 0;
}

static void stop_following(DomainWatch *w) {
        if (w->conn)
                (void) sym_virConnectUnregisterCloseCallback(w->conn, on_close);
        disconnect(w);
        release_closed(w);
        if (w->reconnect)
                (void) sd_event_source_set_enabled(w->reconnect, SD_EVENT_OFF);
        w->following = false;
}

/* The system instance of the QEMU driver, whose status records are local:
 * qemu:///system, also through qemu+unix:// and with a ?socket= of its own. */
static bool uri_is_local_qemu_system(const char *uri) {
        const char *p = startswith(uri, "qemu");
        if (!p)
                return false;
        p = startswith(p, "+unix") ?: p;
        p = startswith(p, ":///system");
        return p && (*p == 0 || *p == '?');
}

int domain_watch_new(sd_event *event, const char *uri, const char *domain, domain_watch_handler_t handler,
                     void *userdata, DomainWatch **ret) {
        _cleanup_(domain_watch_freep) DomainWatch *w = calloc(1, sizeof(DomainWatch));
        int r;

        if (!w)
                return -ENOMEM;
        *w = (DomainWatch) { .event = sd_event_ref(event), .uri = strdup(uri), .domain = strdup(domain),
                             .callback_id = -1, .backoff = BACKOFF_MIN, .handler = handler, .userdata = userdata };
        if (!w->uri || !w->domain)
                return -ENOMEM;
        if (uri_is_local_qemu_system(uri) &&
            !(w->runtime_dir = strdup(libvirt_status_dir())))
                return -ENOMEM;

        if (w->runtime_dir) {
                /* Until the daemon needs libvirt's events (domain_watch_follow()),
                 * the status record tells enough, and libvirt's ~60 libraries
                 * stay unloaded and its keepalive pings do not wake vfiod. */
                log_info("Domain %s is %s (%s/%s.xml); libvirt at %s is connected when the GPU leaves the host "
                         "or the domain starts.", domain, domain_state_to_string(state_from_runtime_dir(w)),
                         w->runtime_dir, domain, uri);
        } else if ((r = start_following(w)) < 0)
                return r;
        else if (w->conn)
                log_info("Connected to libvirt at %s; domain %s is %s.", uri, domain, domain_state_to_string(w->state));

        *ret = TAKE_PTR(w);
        return 0;
}

void domain_watch_follow(DomainWatch *w, bool follow, const char *why) {
        char detail[512];

        if (!w->runtime_dir || follow == w->following)
                return;
        if (follow) {
                if (start_following(w) < 0)
                        log_warning("Cannot follow domain %s through libvirt: its state comes from %s alone.",
                                    w->domain, w->runtime_dir);
                else if (w->conn) {
                        snprintf(detail, sizeof(detail), "Connected to libvirt at %s to follow domain %s (%s): %s",
                                 w->uri, w->domain, domain_state_to_string(w->state), why);
                        w->handler(w, DOMAIN_CHANGE_CONNECTED, detail, w->userdata);
                }
                return;
        }
        bool connected = w->conn;
        stop_following(w);
        snprintf(detail, sizeof(detail), "%s libvirt at %s: %s; domain %s is followed through %s/%s.xml",
                 connected ? "Closed the connection to" : "Stopped trying to reach", w->uri, why, w->domain,
                 w->runtime_dir, w->domain);
        w->handler(w, DOMAIN_CHANGE_CLOSED, detail, w->userdata);
}

DomainWatch *domain_watch_free(DomainWatch *w) {
        if (!w)
                return NULL;
        stop_following(w);
        sd_event_source_disable_unref(w->release);
        sd_event_source_disable_unref(w->reconnect);
        sd_event_unref(w->event);
        free(w->uri);
        free(w->domain);
        free(w->runtime_dir);
        free(w);
        return NULL;
}

DomainState domain_watch_state(DomainWatch *w) {
        /* Not connected (not following, or libvirtd away): libvirt's status
         * record, read now. */
        return w->conn ? w->state : state_from_runtime_dir(w);
}

bool domain_watch_following(DomainWatch *w) {
        return w->following;
}

bool domain_watch_connected(DomainWatch *w) {
        return w->conn;
}
