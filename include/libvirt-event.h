/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

/* Makes libvirt's event hooks (fd watches and timers) sources of an
 * sd-event loop, so that libvirt's events and everything else share one
 * loop and one thread. Call once, before the first virConnectOpen(). */
int libvirt_event_register(sd_event *event);
