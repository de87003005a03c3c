/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The smallest program that moves PCI functions to vfio-pci and back: the
 * same sysfs writes vfioctl does, with nothing around them (no checks, no
 * holders scan, no uevent wait, no child process). The benchmark baseline.
 *   bare-handoff to-vfio|to-host|CYCLES ADDRESS=HOSTDRIVER...
 * With CYCLES, prints the mean microseconds of one to-vfio + to-host cycle. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void put(const char *dir, const char *attr, const char *value) {
        char p[512];
        snprintf(p, sizeof(p), "%s%s", dir, attr);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, value, strlen(value)) < 0) {
                perror(p);
                exit(1);
        }
        close(fd);
}

int main(int argc, char *argv[]) {
        if (argc < 3)
                return 2;
        bool vfio_only = strcmp(argv[1], "to-vfio") == 0, host_only = strcmp(argv[1], "to-host") == 0;
        int cycles = vfio_only || host_only ? 1 : atoi(argv[1]);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int c = 0; c < cycles; c++) {
                for (int i = 2; i < argc && !host_only; i++) {
                        char addr[64], dev[128], drv[128];
                        snprintf(addr, sizeof(addr), "%.*s", (int) strcspn(argv[i], "="), argv[i]);
                        snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%s/", addr);
                        snprintf(drv, sizeof(drv), "/sys/bus/pci/drivers/%s/", strchr(argv[i], '=') + 1);
                        put(dev, "driver_override", "vfio-pci");
                        put(drv, "unbind", addr);
                        put("/sys/bus/pci/", "drivers_probe", addr);
                }
                for (int i = 2; i < argc && !vfio_only; i++) {
                        char addr[64], dev[128], drv[128];
                        snprintf(addr, sizeof(addr), "%.*s", (int) strcspn(argv[i], "="), argv[i]);
                        snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%s/", addr);
                        snprintf(drv, sizeof(drv), "/sys/bus/pci/drivers/%s/", strchr(argv[i], '=') + 1);
                        put(dev, "driver_override", "\n");
                        put("/sys/bus/pci/drivers/vfio-pci/", "unbind", addr);
                        put(drv, "bind", addr);
                }
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / cycles;
        if (!vfio_only && !host_only)
                printf("%.0f\n", us);
        return 0;
}
