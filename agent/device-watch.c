/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "device-watch.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "strv.h"

struct DeviceWatch {
        struct udev_monitor *monitor;
        char **removed;   /* syspaths of devices a "remove" uevent announced */
};

DeviceWatch *device_watch_free(DeviceWatch *w) {
        if (!w)
                return NULL;
        udev_monitor_unref(w->monitor);
        strv_free(w->removed);
        free(w);
        return NULL;
}

int device_watch_new(struct udev *udev, DeviceWatch **ret) {
        _cleanup_(device_watch_freep) DeviceWatch *w = calloc(1, sizeof(DeviceWatch));
        if (!w)
                return -ENOMEM;

        /* Without udevd (early boot, a rescue shell, a test guest) nobody
         * re-broadcasts uevents: listen to the kernel's own. */
        const char *group = access("/run/udev/control", F_OK) >= 0 ? "udev" : "kernel";
        w->monitor = udev_monitor_new_from_netlink(udev, group);
        if (!w->monitor)
                return log_error_errno(errno ?: EIO, "Failed to open a %s uevent monitor: %m", group);

        int r = udev_monitor_filter_add_match_subsystem_devtype(w->monitor, "pci", NULL);
        if (r >= 0)
                r = udev_monitor_enable_receiving(w->monitor);
        if (r < 0)
                return log_error_errno(r, "Failed to listen for PCI uevents: %m");

        *ret = TAKE_PTR(w);
        return 0;
}

int device_watch_wait(DeviceWatch *w, int (*check)(void *userdata), void *userdata, usec_t deadline) {
        struct pollfd p = { .fd = udev_monitor_get_fd(w->monitor), .events = POLLIN };

        for (;;) {
                int r = check(userdata);
                if (r != 0)
                        return r < 0 ? r : 0;

                r = poll(&p, 1, poll_timeout_ms(deadline));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0) {
                        r = check(userdata);
                        return r > 0 ? 0 : r < 0 ? r : -ETIMEDOUT;
                }

                /* Drain what is queued; check() reads the truth from sysfs.
                 * The kernel sends "remove" before the device leaves sysfs,
                 * and nothing after: remember it. */
                struct udev_device *d;
                while ((d = udev_monitor_receive_device(w->monitor))) {
                        const char *action = udev_device_get_action(d), *sp = udev_device_get_syspath(d);
                        if (action && sp && streq(action, "remove") && !strv_contains(w->removed, sp))
                                (void) strv_extend(&w->removed, sp);
                        udev_device_unref(d);
                }
        }
}

bool device_watch_removed(DeviceWatch *w, const char *syspath) {
        return syspath && strv_contains(w->removed, syspath);
}
