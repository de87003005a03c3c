/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "daemon.h"
#include "macro.h"

/* vfiod's D-Bus API on the system bus (docs/interfaces.md): org.vfiod1 with
 * a Manager, one Gpu and one Vm object; every state change is a
 * PropertiesChanged, each handoff step a Progress signal. */
#define BUS_NAME "org.vfiod1"
#define BUS_PATH "/org/vfiod1"

typedef struct BusApi BusApi;

/* Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS in tests) and takes
 * the name. No bus at all: *ret = NULL and 0, vfiod still recovers. The
 * name owned by another process is an error. */
int bus_api_new(sd_event *event, Daemon *d, BusApi **ret);
BusApi *bus_api_free(BusApi *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusApi *, bus_api_free);
