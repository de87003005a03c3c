/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The handoff engine without process start-up: N cycles of to-vfio +
 * to-host in one process, all checks included (holders scan, uevent waits,
 * deadline writers). Prints the mean microseconds of one cycle.
 *   engine-cycles CYCLES ADDRESS */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "gpu.h"
#include "handoff.h"
#include "log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev *, udev_unref);

int main(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *config = config_new();
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(gpu_freep) Gpu *gpu = NULL;
        PciAddress a;

        if (argc != 3 || pci_address_parse(argv[2], &a) < 0 || !config || !udev)
                return 2;
        log_set_max_level(LOG_WARNING);
        if (gpu_find(udev, config, &a, &gpu) < 0)
                return 1;

        int cycles = atoi(argv[1]);
        usec_t start = now_usec();
        for (int i = 0; i < cycles; i++)
                for (int to_vfio = 1; to_vfio >= 0; to_vfio--) {
                        Handoff h;
                        if (handoff_init(&h, udev, config, gpu) < 0)
                                return 1;
                        HandoffOutcome o = to_vfio ? handoff_to_vfio(&h) : handoff_to_host(&h);
                        if (o != HANDOFF_DONE) {
                                fprintf(stderr, "%s: %s\n", handoff_outcome_to_string(o), h.message);
                                return 1;
                        }
                        handoff_done(&h);
                }
        printf("%llu\n", (unsigned long long) ((now_usec() - start) / (usec_t) cycles));
        return 0;
}
