/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"

/* vfiod's agent: one sd-event loop, woken by PCI uevents, libvirt domain
 * events, inotify and signals; reconcile() compares who should own the
 * GPU with who does and acts through a handoff worker process. */
typedef struct Daemon Daemon;

typedef enum GpuOwner {
        OWNER_HOST,
        OWNER_VFIO,            /* on vfio-pci: the VM's, or on its way back */
        OWNER_TRANSITIONING,   /* a handoff worker runs */
        OWNER_STUCK,
        OWNER_INCOMPLETE,      /* mixed drivers or a function without one */
} GpuOwner;

/* Blocks the signals the daemon takes through sd-event's signalfd
 * (SIGTERM, SIGINT, SIGHUP): call before any thread starts. */
void daemon_block_signals(void);

int daemon_new(sd_event *event, const char *config_path, Daemon **ret);
Daemon *daemon_free(Daemon *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Daemon *, daemon_free);

/* The one human line also sent as sd_notify STATUS=. */
const char *daemon_status(Daemon *d);
GpuOwner daemon_owner(Daemon *d);
/* Number of give-backs vfiod did on its own (tests, status). */
unsigned daemon_recoveries(Daemon *d);
