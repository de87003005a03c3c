/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* The configured libvirt domain, followed through lifecycle events; the
 * connection is re-opened with backoff when libvirtd goes away. For the
 * local qemu:///system, whose status records in /run/libvirt/qemu say
 * whether QEMU exists, libvirt is opened and connected only while the
 * daemon asks for it (domain_watch_follow()): an idle vfiod maps none of
 * libvirt's libraries and is not woken by its keepalive. */

typedef enum DomainState {
        DOMAIN_UNKNOWN,    /* no connection, and no status record to tell (not qemu:///system) */
        DOMAIN_INACTIVE,
        DOMAIN_ACTIVE,     /* starting, running, paused: QEMU exists */
} DomainState;

typedef enum DomainChange {
        DOMAIN_CHANGE_CONNECTED,
        DOMAIN_CHANGE_DISCONNECTED,
        DOMAIN_CHANGE_CLOSED,      /* domain_watch_follow(false): closed on purpose */
        DOMAIN_CHANGE_STARTED,
        DOMAIN_CHANGE_STOPPED,     /* shut down, destroyed, crashed, QEMU gone */
        DOMAIN_CHANGE_OTHER,
} DomainChange;

typedef struct DomainWatch DomainWatch;
typedef void (*domain_watch_handler_t)(DomainWatch *w, DomainChange change, const char *detail, void *userdata);

int domain_watch_new(sd_event *event, const char *uri, const char *domain, domain_watch_handler_t handler,
                     void *userdata, DomainWatch **ret);
DomainWatch *domain_watch_free(DomainWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(DomainWatch *, domain_watch_free);

DomainState domain_watch_state(DomainWatch *w);
bool domain_watch_connected(DomainWatch *w);
/* Whether to follow the domain through libvirt now (why: for the journal). */
void domain_watch_follow(DomainWatch *w, bool follow, const char *why);
bool domain_watch_following(DomainWatch *w);
const char *domain_state_to_string(DomainState s);
/* Where qemu:///system keeps its status records (VFIOD_LIBVIRT_RUN_DIR in tests). */
const char *libvirt_status_dir(void);
