/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfioctl's side of the D-Bus API: connecting, requests with progress, and
 * the exit code of each error. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bus-api.h"
#include "ctl.h"
#include "log.h"

int ctl_exit_of_error(const sd_bus_error *e) {
        static const struct {
                const char *name;
                int code;
        } table[] = {
                { "org.vfiod1.Error.Refused", EXIT_REFUSED_CONFIG },
                { "org.vfiod1.Error.NoVm", EXIT_REFUSED_CONFIG },
                { "org.vfiod1.Error.InUse", EXIT_REFUSED_IN_USE },
                { "org.vfiod1.Error.RolledBack", EXIT_ROLLED_BACK },
                { "org.vfiod1.Error.Stuck", EXIT_STUCK },
                { "org.vfiod1.Error.RollbackFailed", EXIT_ROLLBACK_FAILED },
                { SD_BUS_ERROR_ACCESS_DENIED, EXIT_DENIED },
                { SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, EXIT_DENIED },
                { SD_BUS_ERROR_SERVICE_UNKNOWN, EXIT_NOT_RUNNING },
                { SD_BUS_ERROR_NAME_HAS_NO_OWNER, EXIT_NOT_RUNNING },
                { SD_BUS_ERROR_NO_REPLY, EXIT_NOT_RUNNING },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (sd_bus_error_has_name(e, table[i].name))
                        return table[i].code;
        return EXIT_FAILURE_OTHER;
}

static int not_running(const char *why) {
        log_error("vfiod is not running (%s): start it with 'systemctl start vfiod'. "
                  "('vfioctl --direct status|to-vfio|to-host' works without it.)", why);
        return EXIT_NOT_RUNNING;
}

int ctl_connect(sd_bus **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return not_running("no D-Bus system bus");
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetNameOwner", &e, NULL, "s", BUS_NAME);
        if (r < 0) {
                sd_bus_flush_close_unref(bus);
                return not_running("nobody owns " BUS_NAME " on the system bus");
        }
        *ret = bus;
        return EXIT_DONE;
}

const char *ctl_vm_name = NULL;

int ctl_paths(sd_bus *bus, char **ret_gpu, char **ret_vm) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *p;
        int r;

        if (ret_gpu) {
                r = sd_bus_get_property(bus, BUS_NAME, BUS_PATH, "org.vfiod1.Manager", "Gpus", &e, &reply, "ao");
                if (r < 0 || sd_bus_message_enter_container(reply, 'a', "o") < 0 ||
                    sd_bus_message_read(reply, "o", &p) <= 0 || !(*ret_gpu = strdup(p))) {
                        log_error("vfiod manages no GPU: %s", e.message ?: "no answer");
                        return ctl_exit_of_error(&e);
                }
                reply = sd_bus_message_unref(reply);
        }
        if (ret_vm) {
                *ret_vm = NULL;
                r = sd_bus_get_property(bus, BUS_NAME, BUS_PATH, "org.vfiod1.Manager", "Vms", &e, &reply, "ao");
                if (r < 0) {
                        log_error("Cannot ask vfiod for its VM: %s", e.message);
                        return ctl_exit_of_error(&e);
                }
                if (sd_bus_message_enter_container(reply, 'a', "o") >= 0 && sd_bus_message_read(reply, "o", &p) > 0 &&
                    !(*ret_vm = strdup(p)))
                        return log_oom(), EXIT_FAILURE_OTHER;
                if (ctl_vm_name) {
                        _cleanup_free_ char *want = NULL;
                        if (sd_bus_path_encode(BUS_PATH "/vm", ctl_vm_name, &want) < 0)
                                return log_oom(), EXIT_FAILURE_OTHER;
                        if (!*ret_vm || !streq(*ret_vm, want)) {
                                log_error("vfiod lends the GPU to %s, not to %s: set Domain=%s in [VM] of its configuration.",
                                          *ret_vm ? *ret_vm + strlen(BUS_PATH "/vm/") : "no VM", ctl_vm_name, ctl_vm_name);
                                *ret_vm = mfree(*ret_vm);
                                return EXIT_REFUSED_CONFIG;
                        }
                }
        }
        return EXIT_DONE;
}

typedef struct CallState {
        bool done;
        bool quiet;
        int exit;
} CallState;

static int on_progress(sd_bus_message *m, void *userdata, sd_bus_error *e _unused_) {
        CallState *st = userdata;
        const char *step;
        if (!st->quiet && sd_bus_message_read(m, "s", &step) > 0)
                printf("  %s\n", step);
        fflush(stdout);
        return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error _unused_) {
        CallState *st = userdata;
        const char *msg = NULL;
        st->done = true;
        if (sd_bus_message_is_method_error(m, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(m);
                st->exit = ctl_exit_of_error(e);
                if (st->exit == EXIT_DENIED)
                        log_error("Not allowed: %s (run it as root, or be in vfiod's Group=, or ask polkit's agent)",
                                  e->message);
                else
                        log_error("%s", e->message ?: e->name);
                return 0;
        }
        st->exit = EXIT_DONE;
        if (sd_bus_message_read(m, "s", &msg) > 0 && !st->quiet)
                printf("%s\n", msg);
        return 0;
}

int ctl_request(sd_bus *bus, const char *path, const char *interface, const char *method, bool quiet,
                const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match = NULL, *call = NULL;
        CallState st = { .quiet = quiet, .exit = EXIT_FAILURE_OTHER };
        va_list ap;
        int r;

        /* Subscribed before the call: no step is missed. */
        r = sd_bus_match_signal(bus, &match, BUS_NAME, NULL, "org.vfiod1.Gpu", "Progress", on_progress, &st);
        if (r < 0)
                log_debug_errno(r, "Not following the handoff's steps: %m");
        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, interface, method);
        if (r < 0)
                return log_oom(), EXIT_FAILURE_OTHER;
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        if (r < 0)
                return log_oom(), EXIT_FAILURE_OTHER;
        /* polkit may ask for a password on this terminal's agent. */
        (void) sd_bus_message_set_allow_interactive_authorization(m, true);
        /* A handoff waits for drivers, a stop for the guest: no D-Bus default 25 s. */
        r = sd_bus_call_async(bus, &call, m, on_reply, &st, UINT64_MAX - 1);
        if (r < 0) {
                log_error_errno(r, "Failed to call %s: %m", method);
                return EXIT_FAILURE_OTHER;
        }
        while (!st.done) {
                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        log_error_errno(r, "Lost vfiod while waiting for %s: %m", method);
                        return EXIT_NOT_RUNNING;
                }
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR) {
                        log_error_errno(r, "Lost vfiod while waiting for %s: %m", method);
                        return EXIT_NOT_RUNNING;
                }
        }
        return st.exit;
}
