/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A stand-in polkit authority for the D-Bus API tests: owns
 * org.freedesktop.PolicyKit1 on the system bus (DBUS_SYSTEM_BUS_ADDRESS)
 * and answers CheckAuthorization "yes" for the actions named on the command
 * line, "no" for the rest; each question goes to stdout as
 * "ACTION uid=UID interactive=0|1". Serves until SIGTERM.
 *
 *   fake-polkit ACTION... */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

static char **allowed;

static int check(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        const char *kind, *key, *name = "", *action;
        uint32_t flags;
        uid_t uid = (uid_t) -1;
        int r, yes = 0;
        (void) userdata;

        /* subject: ("system-bus-name", {"name": <s>}) */
        if ((r = sd_bus_message_enter_container(m, 'r', "sa{sv}")) < 0 || (r = sd_bus_message_read(m, "s", &kind)) < 0 ||
            (r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                if ((r = sd_bus_message_read(m, "s", &key)) < 0)
                        return r;
                if (strcmp(key, "name") == 0)
                        r = sd_bus_message_read(m, "v", "s", &name);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
                        return r;
        }
        if ((r = sd_bus_message_exit_container(m)) < 0 || (r = sd_bus_message_exit_container(m)) < 0 ||
            (r = sd_bus_message_read(m, "s", &action)) < 0 || (r = sd_bus_message_skip(m, "a{ss}")) < 0 ||
            (r = sd_bus_message_read(m, "u", &flags)) < 0)
                return r;
        sd_bus_creds *c = NULL;
        if (sd_bus_get_name_creds(sd_bus_message_get_bus(m), name, SD_BUS_CREDS_EUID, &c) >= 0)
                (void) sd_bus_creds_get_euid(c, &uid);
        sd_bus_creds_unref(c);
        for (char **a = allowed; *a; a++)
                if (strcmp(*a, action) == 0)
                        yes = 1;
        printf("%s uid=%d interactive=%u\n", action, (int) uid, flags & 1);
        fflush(stdout);
        (void) e;
        return sd_bus_reply_method_return(m, "(bba{ss})", yes, 0, 0);
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("CheckAuthorization", "(sa{sv})sa{ss}us", "(bba{ss})", check, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int main(int argc, char *argv[]) {
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        sigset_t ss;
        (void) argc;
        allowed = argv + 1;

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_default(&event) < 0 || sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL) < 0 ||
            sd_bus_open_system(&bus) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/PolicyKit1/Authority",
                                     "org.freedesktop.PolicyKit1.Authority", vtable, NULL) < 0 ||
            sd_bus_request_name(bus, "org.freedesktop.PolicyKit1", 0) < 0 ||
            sd_bus_attach_event(bus, event, 0) < 0) {
                fprintf(stderr, "fake-polkit: cannot serve on the system bus\n");
                return 1;
        }
        int r = sd_event_loop(event);
        sd_bus_flush_close_unref(bus);
        sd_event_unref(event);
        return r < 0;
}
