/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libudev.h>
#include <stdbool.h>

#include "macro.h"
#include "time-util.h"

/* PCI uevents (bind, unbind, add, remove): what tells us a driver link changed. */
typedef struct DeviceWatch DeviceWatch;

int device_watch_new(struct udev *udev, DeviceWatch **ret);
DeviceWatch *device_watch_free(DeviceWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(DeviceWatch *, device_watch_free);

/* check() returns > 0 when the wait is over, 0 to keep waiting, < 0 on error.
 * It runs now and after every PCI uevent until deadline: -ETIMEDOUT then. */
/* Whether a "remove" uevent for syspath arrived while waiting. */
bool device_watch_removed(DeviceWatch *w, const char *syspath);

int device_watch_wait(DeviceWatch *w, int (*check)(void *userdata), void *userdata, usec_t deadline);
