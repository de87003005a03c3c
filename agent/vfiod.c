/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiod: the agent that owns GPU state. For now it finds the GPU, reports it
 * and exits; the event loop lands with the agent issue. */
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "gpu.h"
#include "log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev *, udev_unref);

int main(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_(gpu_freep) Gpu *gpu = NULL;
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        const char *path = argc > 1 ? argv[1] : VFIOD_CONFIG_FILE;

        if (!udev)
                return log_oom(), 1;
        if (config_load(path, &config) < 0 || gpu_find(udev, config, NULL, &gpu) < 0)
                return 1;
        log_info("Managing %s, IOMMU group %d.", gpu->address_str, gpu->iommu_group);
        (void) sd_notify(0, "READY=1");
        return 0;
}
