/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libudev.h>

#include "config.h"
#include "device-watch.h"
#include "gpu.h"
#include "state.h"
#include "sysfs-write.h"

#define VFIO_DRIVER "vfio-pci"

typedef enum HandoffOutcome {
        HANDOFF_DONE,
        HANDOFF_NOTHING_TO_DO,
        HANDOFF_REFUSED_CONFIG,   /* the group or the set-up does not allow it */
        HANDOFF_REFUSED_IN_USE,   /* a process holds the GPU */
        HANDOFF_ROLLED_BACK,      /* a step failed; everything is as it was */
        HANDOFF_STUCK,            /* a sysfs write never returned */
        HANDOFF_ROLLBACK_FAILED,  /* a step failed and so did putting it back */
        _HANDOFF_OUTCOME_MAX,
} HandoffOutcome;

typedef struct Handoff {
        struct udev *udev;
        const Config *config;
        Gpu *gpu;
        DeviceWatch *watch;
        SysfsWriter writer;      /* runs the sysfs writes that can block */
        bool drain;              /* ask holders to exit (SIGTERM) instead of refusing */
        HandoffState state;      /* what to undo */
        usec_t first_write;      /* CLOCK_MONOTONIC of the first sysfs write, 0: none yet */
        int progress_fd;         /* each step as a line "S <what>\n", for a client to follow; -1: none */
        char message[2048];      /* the outcome in words: the caller reports it, the engine logs only steps */
} Handoff;

int handoff_init(Handoff *h, struct udev *udev, const Config *config, Gpu *gpu);
void handoff_done(Handoff *h);

/* Every function of the GPU to vfio-pci, or none of them. */
HandoffOutcome handoff_to_vfio(Handoff *h);
/* Every function back to the driver it had (or the host's choice). */
HandoffOutcome handoff_to_host(Handoff *h);

const char *handoff_outcome_to_string(HandoffOutcome o);
