/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"

/* The story journalctl tells: one structured entry per thing that
 * happened to a GPU, each kind with a stable MESSAGE_ID (documented in
 * units/vfiod.catalog for journalctl -x), and the fields below. Under
 * anything but journald the same lines go to stderr. */
typedef enum EventKind {
        EVENT_HANDOFF_STARTED,
        EVENT_HANDOFF_DONE,
        EVENT_HANDOFF_REFUSED,
        EVENT_HANDOFF_FAILED,     /* and rolled back */
        EVENT_ROLLBACK_FAILED,
        EVENT_STUCK,
        EVENT_RECOVERY,           /* vfiod gives the GPU back on its own */
        EVENT_DOMAIN,             /* a lifecycle event of the configured domain */
        EVENT_LIBVIRT,            /* libvirtd connection lost or back */
        EVENT_AGENT,              /* vfiod started, reloaded, stopping */
        _EVENT_KIND_MAX,
} EventKind;

typedef struct EventFields {
        const char *gpu;          /* VFIOD_GPU= */
        const char *domain;       /* VFIOD_DOMAIN= */
        const char *step;         /* VFIOD_STEP= */
        const char *outcome;      /* VFIOD_OUTCOME= */
        const char *holders;      /* VFIOD_HOLDERS= */
        const char *direction;    /* VFIOD_DIRECTION= to-vfio | to-host */
        uint64_t duration_usec;   /* VFIOD_DURATION_USEC=, 0: none */
        uint64_t reaction_usec;   /* VFIOD_REACTION_USEC=: from the event to the first sysfs write */
} EventFields;

const char *event_kind_message_id(EventKind k);

void log_event(EventKind kind, int priority, const EventFields *f, const char *format, ...) _printf_(4, 5);
