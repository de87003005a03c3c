/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "services.h"

#include <errno.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "log.h"
#include "strv.h"

typedef struct JobWait {
        const char *job;
        char *result;
} JobWait;

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error _unused_) {
        JobWait *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (w->job && streq(path, w->job) && !w->result)
                w->result = strdup(result);
        return 0;
}

static int unit_is_active(sd_bus *bus, const char *unit) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *state = NULL;
        const char *path;

        int r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                   "org.freedesktop.systemd1.Manager", "GetUnit", &error, &reply, "s", unit);
        if (r < 0)
                return sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit") ? 0 : r;
        if ((r = sd_bus_message_read(reply, "o", &path)) < 0)
                return r;
        r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
                                       "ActiveState", &error, &state);
        if (r < 0)
                return r;
        return streq(state, "active") || streq(state, "activating") || streq(state, "reloading");
}

static int unit_job(sd_bus *bus, const char *method, const char *unit, usec_t timeout) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        JobWait w = {};
        int r;

        /* Match first, then ask: the JobRemoved signal cannot slip past. */
        r = sd_bus_match_signal(bus, &slot, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                "org.freedesktop.systemd1.Manager", "JobRemoved", on_job_removed, &w);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", method, &error, &reply, "ss", unit, "replace");
        if (r < 0)
                return log_error_errno(r, "Failed to %s %s: %s", method, unit, error.message ?: strerror(-r));
        if ((r = sd_bus_message_read(reply, "o", &w.job)) < 0)
                return r;

        usec_t deadline = now_usec() + timeout;
        while (!w.result) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                usec_t n = now_usec();
                if (n >= deadline)
                        return log_error_errno(ETIMEDOUT, "%s of %s did not finish in time.", method, unit);
                r = sd_bus_wait(bus, deadline - n);
                if (r < 0)
                        return r;
        }

        r = streq(w.result, "done") ? 0 : -EIO;
        if (r < 0)
                log_error("%s of %s ended with result '%s'.", method, unit, w.result);
        free(w.result);
        return r;
}

static int bus_open(sd_bus **ret) {
        int r = sd_bus_open_system(ret);
        if (r >= 0)
                (void) sd_bus_call_method(*ret, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                          "org.freedesktop.systemd1.Manager", "Subscribe", NULL, NULL, NULL);
        return r;
}

int services_stop(char * const *units, usec_t timeout, char ***ret_stopped) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_strv_free_ char **stopped = calloc(1, sizeof(char *));
        int r;

        if (!stopped)
                return -ENOMEM;
        if (!units || !*units) {
                *ret_stopped = TAKE_PTR(stopped);
                return 0;
        }

        r = bus_open(&bus);
        if (r < 0) {
                /* The holder scan still refuses if one of them has the GPU open. */
                log_warning_errno(r, "Cannot reach systemd to stop the GPU's services, leaving them: %m");
                *ret_stopped = TAKE_PTR(stopped);
                return 0;
        }

        STRV_FOREACH(u, units) {
                r = unit_is_active(bus, *u);
                if (r < 0) {
                        log_warning_errno(r, "Cannot tell whether %s runs, leaving it: %m", *u);
                        continue;
                }
                if (r == 0)
                        continue;
                log_info("Stopping %s: it holds the GPU.", *u);
                r = unit_job(bus, "StopUnit", *u, timeout);
                if (r < 0)
                        break;
                if ((r = strv_extend(&stopped, *u)) < 0)
                        break;
        }

        *ret_stopped = TAKE_PTR(stopped);
        return r < 0 ? r : 0;
}

int services_start(char * const *units, usec_t timeout) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int ret = 0;

        if (!units || !*units)
                return 0;
        int r = bus_open(&bus);
        if (r < 0)
                return log_error_errno(r, "Cannot reach systemd to start %s again: %m", units[0]);

        STRV_FOREACH(u, units) {
                log_info("Starting %s again.", *u);
                r = unit_job(bus, "StartUnit", *u, timeout);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}
