/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "event-log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "log.h"

/* Stable: these are what the catalog and people's scripts match on. */
static const char *const message_ids[_EVENT_KIND_MAX] = {
        [EVENT_HANDOFF_STARTED] = "b40732628d4d432fa0d56efde21ee61a",
        [EVENT_HANDOFF_DONE] = "5f8ae3a454ad4afc8e403bc0436d225f",
        [EVENT_HANDOFF_REFUSED] = "3a59f8f7c47b4087b1b061a9b1856ba9",
        [EVENT_HANDOFF_FAILED] = "82096720888b425e9797465ba88be09a",
        [EVENT_ROLLBACK_FAILED] = "9ca5576a1485464c92823c94cab15839",
        [EVENT_STUCK] = "af9d4d00465d4f9281ccc57335b99594",
        [EVENT_RECOVERY] = "3ef91aa0538646269bc8626259abbf72",
        [EVENT_DOMAIN] = "737eba2d64e44de29d2c0eca418f1f3a",
        [EVENT_LIBVIRT] = "c2125c845abc43fc82e1bac8a28f97ed",
        [EVENT_AGENT] = "a250cfc7022f4afe885a321a65e0640b",
};

const char *event_kind_message_id(EventKind k) {
        return k < _EVENT_KIND_MAX ? message_ids[k] : NULL;
}

void log_event(EventKind kind, int priority, const EventFields *f, const char *format, ...) {
        char msg[2048];
        va_list ap;

        if (priority > log_get_max_level())
                return;

        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);

        if (!log_to_journal()) {
                fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
                return;
        }

        char b[11][2304];
        struct iovec iov[11];
        size_t n = 0;
#define FIELD(...) (snprintf(b[n], sizeof(b[n]), __VA_ARGS__), iov[n] = (struct iovec) { b[n], strlen(b[n]) }, n++)
        FIELD("MESSAGE=%s", msg);
        FIELD("MESSAGE_ID=%s", message_ids[kind]);
        FIELD("PRIORITY=%d", priority);
        if (f && f->gpu)
                FIELD("VFIOD_GPU=%s", f->gpu);
        if (f && f->domain)
                FIELD("VFIOD_DOMAIN=%s", f->domain);
        if (f && f->step)
                FIELD("VFIOD_STEP=%s", f->step);
        if (f && f->outcome)
                FIELD("VFIOD_OUTCOME=%s", f->outcome);
        if (f && f->direction)
                FIELD("VFIOD_DIRECTION=%s", f->direction);
        if (f && f->duration_usec)
                FIELD("VFIOD_DURATION_USEC=%" PRIu64, f->duration_usec);
        if (f && f->reaction_usec)
                FIELD("VFIOD_REACTION_USEC=%" PRIu64, f->reaction_usec);
        if (f && f->holders)
                FIELD("VFIOD_HOLDERS=%s", f->holders);
#undef FIELD
        (void) sd_journal_sendv(iov, (int) n);
}
