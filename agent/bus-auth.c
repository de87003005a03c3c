/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-auth.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>

#include "log.h"
#include "macro.h"

typedef struct PolkitQuery {
        sd_bus_message *call;
        char *action;
        bus_authorized_t run;
        void *userdata;
} PolkitQuery;

static void polkit_query_free(PolkitQuery *q) {
        sd_bus_message_unref(q->call);
        free(q->action);
        free(q);
}

static int deny(sd_bus_message *m, const char *action, const char *why, sd_bus_error *e) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *c = NULL;
        uid_t uid = (uid_t) -1;
        pid_t pid = 0;
        if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &c) >= 0) {
                (void) sd_bus_creds_get_euid(c, &uid);
                (void) sd_bus_creds_get_pid(c, &pid);
        }
        log_warning("Denied %s.%s() to uid %d (pid %d, %s): %s", sd_bus_message_get_interface(m),
                    sd_bus_message_get_member(m), (int) uid, (int) pid, strna(sd_bus_message_get_sender(m)), why);
        return sd_bus_error_setf(e, SD_BUS_ERROR_ACCESS_DENIED, "Access denied to %s: %s", action, why);
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error _unused_) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        PolkitQuery *q = userdata;
        int authorized = 0, challenge = 0, r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *pe = sd_bus_message_get_error(reply);
                r = deny(q->call, q->action,
                         sd_bus_error_has_name(pe, SD_BUS_ERROR_SERVICE_UNKNOWN) || sd_bus_error_has_name(pe, SD_BUS_ERROR_NAME_HAS_NO_OWNER)
                                 ? "not root, not in the configured group, and no polkit on the bus to ask"
                                 : pe->message ?: "polkit failed",
                         &e);
        } else if ((r = sd_bus_message_enter_container(reply, 'r', "bba{ss}")) >= 0)
                /* (is_authorized, is_challenge, details): the details are not needed. */
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r >= 0 && !sd_bus_error_is_set(&e)) {
                if (authorized)
                        r = q->run(q->call, q->userdata, &e);
                else
                        r = deny(q->call, q->action,
                                 challenge ? "polkit wants authentication (use sudo or an agent)" : "polkit said no", &e);
        }
        if (r < 0) {
                if (!sd_bus_error_is_set(&e))
                        sd_bus_error_set_errno(&e, r);
                (void) sd_bus_reply_method_error(q->call, &e);
        }
        polkit_query_free(q);
        return 0;
}

static bool in_group(sd_bus_creds *c, const char *group) {
        const gid_t *gids;
        gid_t egid;
        struct group *gr;

        if (!group || !*group || !(gr = getgrnam(group)))
                return false;
        if (sd_bus_creds_get_egid(c, &egid) >= 0 && egid == gr->gr_gid)
                return true;
        int n = sd_bus_creds_get_supplementary_gids(c, &gids);
        for (int i = 0; i < n; i++)
                if (gids[i] == gr->gr_gid)
                        return true;
        return false;
}

int bus_authorize(sd_bus_message *m, const char *action, const char *group, bus_authorized_t run, void *userdata,
                  sd_bus_error *e) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *c = NULL;
        uid_t uid;
        int r;

        /* The bus daemon vouches for the uid; groups come from /proc of the
         * caller (augmented), good enough for a group that only widens access. */
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_EGID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
                                              SD_BUS_CREDS_PID | SD_BUS_CREDS_AUGMENT, &c);
        if (r < 0)
                return deny(m, action, "cannot tell who the caller is", e);
        if (sd_bus_creds_get_euid(c, &uid) >= 0 && uid == 0)
                return run(m, userdata, e);
        if (in_group(c, group))
                return run(m, userdata, e);

        PolkitQuery *q = calloc(1, sizeof(*q));
        if (!q || !(q->action = strdup(action))) {
                free(q);
                return -ENOMEM;
        }
        q->call = sd_bus_message_ref(m);
        q->run = run;
        q->userdata = userdata;

        /* CheckAuthorization(subject, action, details, flags, cancellation id);
         * flag 1: the caller allows an interactive prompt. */
        uint32_t flags = sd_bus_message_get_allow_interactive_authorization(m) > 0 ? 1 : 0;
        r = sd_bus_call_method_async(sd_bus_message_get_bus(m), NULL, "org.freedesktop.PolicyKit1",
                                     "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority",
                                     "CheckAuthorization", on_polkit_reply, q, "(sa{sv})sa{ss}us", "system-bus-name", 1,
                                     "name", "s", sd_bus_message_get_sender(m), action, 0, flags, "");
        if (r < 0) {
                polkit_query_free(q);
                return deny(m, action, "polkit could not be asked", e);
        }
        return 1;
}
