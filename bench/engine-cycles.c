/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The handoff engine without process start-up: N cycles of to-vfio +
 * to-host in one process, all checks included (holders scan, uevent waits,
 * deadline writers). Prints the mean microseconds of one cycle.
 *   engine-cycles CYCLES ADDRESS
 *   engine-cycles --parts CYCLES ADDRESS   the cost of each piece of a handoff */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "gpu.h"
#include "handoff.h"
#include "holders.h"
#include "log.h"
#include "strv.h"
#include "sysfs-write.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev *, udev_unref);

#define TIME(label, n, expr)                                                        \
        do {                                                                        \
                usec_t _t = now_usec();                                             \
                for (int _i = 0; _i < (n); _i++)                                    \
                        (void) (expr);                                              \
                printf("%-32s %8llu us\n", label, (unsigned long long) ((now_usec() - _t) / (usec_t) (n))); \
        } while (0)

static int parts(struct udev *udev, Gpu *gpu, int n) {
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        if (gpu_device_nodes(gpu, NODE_KINDS_ALL, &nodes) < 0)
                return 1;
        TIME("sysfs write in a child", n, sysfs_write_deadline("/dev/null", "x", USEC_PER_SEC, NULL));
        TIME("gpu_refresh", n, gpu_refresh(gpu));
        TIME("gpu_device_nodes", n, ({ DeviceNodeList l = {}; gpu_device_nodes(gpu, NODE_KINDS_ALL, &l); device_node_list_done(&l); }));
        TIME("holders_scan", n, ({ HolderList l = {}; holders_scan("/proc", &nodes, &l); holder_list_done(&l); }));
        TIME("kernel_holders_scan", n, ({ HolderList l = {}; kernel_holders_scan(gpu, &nodes, &l); holder_list_done(&l); }));
        TIME("gpu_holders (what each check before an unbind costs)", n,
             ({ HolderList l = {}; gpu_holders(gpu, "/proc", NODE_KINDS_ALL, true, &l); holder_list_done(&l); }));
        TIME("device_watch_new", n, ({ DeviceWatch *w = NULL; device_watch_new(udev, &w); device_watch_free(w); }));
        TIME("gpu_load_names", 1, gpu_load_names(gpu));
        TIME("config_load", n, ({ Config *c = NULL; config_load("/etc/vfiod/vfiod.conf", &c); config_free(c); }));
        TIME("gpu_find", n, ({ Gpu *g = NULL; gpu_find(udev, NULL, &gpu->address, &g); gpu_free(g); }));
        TIME("udev_new + gpu_find", n, ({ struct udev *u = udev_new(); Gpu *g = NULL; gpu_find(u, NULL, &gpu->address, &g); gpu_free(g); udev_unref(u); }));
        return 0;
}

int main(int argc, char *argv[]) {
        bool show_parts = argc > 1 && streq(argv[1], "--parts");
        if (show_parts) {
                argc--;
                argv++;
        }
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
        if (show_parts)
                return parts(udev, gpu, cycles);
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
