/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>

/* Who may change state: uid 0, a member of group (Group=, its gid resolved
 * when the configuration is loaded; (gid_t) -1: none) as the bus daemon
 * tells the caller's groups, or whoever polkit authorizes for action when
 * polkit is on the bus. run() is called when the caller may (now, or later when
 * polkit answers); otherwise the call gets AccessDenied and a journal entry.
 * Returns what run() returned, 1 when the answer is pending, or a negative
 * errno with e set. */
typedef int (*bus_authorized_t)(sd_bus_message *m, void *userdata, sd_bus_error *e);

int bus_authorize(sd_bus_message *m, const char *action, gid_t group, bus_authorized_t run, void *userdata,
                  sd_bus_error *e);
