/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "macro.h"

/* One authorization: the caller's credentials asked of the bus, then polkit's answer. */
typedef struct PolkitQuery {
        sd_bus_message *call;
        char *action;
        gid_t group;
        uid_t uid;       /* the caller's, from the bus daemon */
        pid_t pid;
        bus_authorized_t run;
        void *userdata;
} PolkitQuery;

static void polkit_query_free(PolkitQuery *q) {
        sd_bus_message_unref(q->call);
        free(q->action);
        free(q);
}

/* uid and pid as the bus daemon told them ((uid_t) -1 and 0 when it did not). */
static int deny(sd_bus_message *m, const char *action, uid_t uid, pid_t pid, const char *why, sd_bus_error *e) {
        log_warning("Denied %s.%s() to uid %d (pid %d, %s): %s", sd_bus_message_get_interface(m),
                    sd_bus_message_get_member(m), (int) uid, (int) pid, strna(sd_bus_message_get_sender(m)), why);
        return sd_bus_error_setf(e, SD_BUS_ERROR_ACCESS_DENIED, "Access denied to %s: %s", action, why);
}

/* The end of a query: a failure (r < 0) answered with e, or its errno. */
static int query_finish(PolkitQuery *q, int r, sd_bus_error *e) {
        if (r < 0) {
                if (!sd_bus_error_is_set(e))
                        sd_bus_error_set_errno(e, r);
                (void) sd_bus_reply_method_error(q->call, e);
        }
        polkit_query_free(q);
        return 0;
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error _unused_) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        PolkitQuery *q = userdata;
        int authorized = 0, challenge = 0, r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *pe = sd_bus_message_get_error(reply);
                r = deny(q->call, q->action, q->uid, q->pid,
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
                        r = deny(q->call, q->action, q->uid, q->pid,
                                 challenge ? "polkit wants authentication (use sudo or an agent)" : "polkit said no", &e);
        }
        return query_finish(q, r, &e);
}

/* polkit's CheckAuthorization(subject, action, details, flags, cancellation
 * id); flag 1: the caller allows an interactive prompt. */
static int ask_polkit(PolkitQuery *q) {
        uint32_t flags = sd_bus_message_get_allow_interactive_authorization(q->call) > 0 ? 1 : 0;
        return sd_bus_call_method_async(sd_bus_message_get_bus(q->call), NULL, "org.freedesktop.PolicyKit1",
                                        "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority",
                                        "CheckAuthorization", on_polkit_reply, q, "(sa{sv})sa{ss}us", "system-bus-name", 1,
                                        "name", "s", sd_bus_message_get_sender(q->call), q->action, 0, flags, "");
}

/* GetConnectionCredentials' UnixUserID and UnixGroupIDs (the primary group
 * and the supplementary ones, SO_PEERGROUPS from when the caller connected):
 * what the bus daemon vouches for. Read from /proc instead (sd-bus's
 * SD_BUS_CREDS_AUGMENT), they could be another process's once the caller's
 * pid is reused; systemd's services do not trust those either. */
static int read_credentials(sd_bus_message *reply, PolkitQuery *q, bool *ret_in_group) {
        int r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key;
                if ((r = sd_bus_message_read(reply, "s", &key)) < 0)
                        return r;
                if (streq(key, "UnixUserID")) {
                        uint32_t uid;
                        if ((r = sd_bus_message_read(reply, "v", "u", &uid)) < 0)
                                return r;
                        q->uid = uid;
                } else if (streq(key, "ProcessID")) {
                        uint32_t pid;
                        if ((r = sd_bus_message_read(reply, "v", "u", &pid)) < 0)
                                return r;
                        q->pid = (pid_t) pid;
                } else if (streq(key, "UnixGroupIDs")) {
                        uint32_t gid;
                        if ((r = sd_bus_message_enter_container(reply, 'v', "au")) < 0 ||
                            (r = sd_bus_message_enter_container(reply, 'a', "u")) < 0)
                                return r;
                        while ((r = sd_bus_message_read(reply, "u", &gid)) > 0)
                                *ret_in_group = *ret_in_group || (q->group != (gid_t) -1 && gid == q->group);
                        if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0 ||
                            (r = sd_bus_message_exit_container(reply)) < 0)
                                return r;
                } else if ((r = sd_bus_message_skip(reply, "v")) < 0)
                        return r;
                if ((r = sd_bus_message_exit_container(reply)) < 0)
                        return r;
        }
        return r < 0 ? r : sd_bus_message_exit_container(reply);
}

static int on_credentials(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error _unused_) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        PolkitQuery *q = userdata;
        bool member = false;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL) || read_credentials(reply, q, &member) < 0)
                r = deny(q->call, q->action, q->uid, q->pid, "cannot tell who the caller is", &e);
        else if (q->uid == 0 || member)
                r = q->run(q->call, q->userdata, &e);
        else if ((r = ask_polkit(q)) >= 0)
                return 0;  /* q is polkit's now */
        else
                r = deny(q->call, q->action, q->uid, q->pid, "polkit could not be asked", &e);
        return query_finish(q, r, &e);
}

int bus_authorize(sd_bus_message *m, const char *action, gid_t group, bus_authorized_t run, void *userdata,
                  sd_bus_error *e) {
        PolkitQuery *q = calloc(1, sizeof(*q));
        if (!q || !(q->action = strdup(action))) {
                free(q);
                return -ENOMEM;
        }
        q->call = sd_bus_message_ref(m);
        q->run = run;
        q->userdata = userdata;
        q->group = group;
        q->uid = (uid_t) -1;

        /* Asked without waiting: the loop serves others meanwhile. */
        int r = sd_bus_call_method_async(sd_bus_message_get_bus(m), NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "GetConnectionCredentials", on_credentials, q, "s",
                                         sd_bus_message_get_sender(m));
        if (r < 0) {
                polkit_query_free(q);
                return deny(m, action, (uid_t) -1, 0, "cannot tell who the caller is", e);
        }
        return 1;
}
