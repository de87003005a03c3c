/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A umockdev testbed with PCI devices and an in-process "kernel": a thread
 * that watches the testbed's sysfs with inotify and gives writes to
 * driver_override, drivers/X/bind, drivers/X/unbind and drivers_probe their
 * meaning, like the Linux driver core does: driver links, the DRIVER
 * property, bind/unbind/remove uevents and /dev/vfio/N.
 *
 * Run the test binary under umockdev-wrapper. */

#include <stdbool.h>
#include <stddef.h>
#include <umockdev.h>

typedef struct FakePciFunction {
        const char *address;     /* "0000:01:00.0" */
        const char *parent;      /* the upstream bridge's address (listed earlier); NULL: root bus */
        unsigned vendor, device, class;
        int boot_vga;            /* 0 or 1; -1: no boot_vga attribute */
        int iommu_group;         /* -1: no iommu_group link */
        const char *driver;      /* bound at the start; NULL: none */
        const char *override;    /* driver_override at the start; NULL: "(null)" */
        const char *native;      /* what drivers_probe binds without an override;
                                  * NULL: driver, unless that is vfio-pci */
        const char *drm_card;    /* "card1": a DRM child with /dev/dri/card1 */
        const char *drm_render;  /* "renderD128" */
        /* NULL-terminated: devices below the function, each with a node in
         * the testbed's /dev: "PATH=MAJOR:MINOR=DEVNAME[=SUBSYSTEM]", PATH
         * relative to the function ("sound/card0/controlC0"), DEVNAME relative
         * to /dev ("snd/controlC0"); SUBSYSTEM defaults to PATH's last
         * directory (the class directory: "graphics/fb1" is graphics). */
        const char *const *children;
} FakePciFunction;

/* /sys/module/NAME (live), and the driver whose module it is. */
typedef struct FakeModule {
        const char *name;
        const char *driver;            /* drivers/DRIVER/module links to it; NULL: none */
        unsigned refcnt;
        const char *const *holders;    /* NULL-terminated: holders/ entries, modules built on it */
} FakeModule;

typedef struct FakeScenario {
        const FakePciFunction *functions;
        size_t n_functions;
        const char *const *extra_drivers;  /* NULL-terminated; driver directories besides those named above */
        /* Faults */
        const char *hung_unbind_driver;    /* drivers/X/unbind is a FIFO that nobody reads */
        const char *vfio_probe_ebusy;      /* this function's vfio-pci probe fails (EBUSY): no driver, no uevent */
        const char *vanish_on_unbind;      /* this function is removed when it is unbound */
        const char *busy_module;           /* /sys/module/X: live, refcnt 1 */
        const FakeModule *modules;
        size_t n_modules;
        const char *const *nodes;          /* NULL-terminated: plain files under the testbed's /dev
                                            * that no sysfs device names ("nvidia0", "nvidiactl") */
        /* "1" or "0": /sys/class/vtconsole/vtcon1 is fbcon ("(M) frame buffer
         * device") with that bind; vtcon0 is the dummy console. NULL: neither. */
        const char *fbcon_bind;
        /* NULL-terminated "PATH=LINE": files under the testbed's proc/asound
         * ($VFIOD_ASOUND_DIR), e.g. "card0/pcm3p/sub0/status=state: RUNNING". */
        const char *const *asound;
} FakeScenario;

typedef struct FakeKernel FakeKernel;

/* Re-executes the program under umockdev-wrapper unless its preload is
 * there already; returns only if it is (0) or on failure (-1, reported). */
int fake_kernel_require_preload(int argc, char **argv);

/* Builds the testbed (sets $UMOCKDEV_DIR) and starts the kernel thread. Aborts on failure. */
FakeKernel *fake_kernel_new(const FakeScenario *s);
/* Stops the thread, releases hung writers, removes the testbed. */
void fake_kernel_free(FakeKernel *k);

/* A uevent for syspath, to every live listener. */
void fake_kernel_uevent(FakeKernel *k, const char *syspath, const char *action);
const char *fake_kernel_root(FakeKernel *k);

/* Read from the testbed: the driver a function is bound to (NULL: none or no
 * such device; free it), whether the function exists, its driver_override
 * (NULL: "(null)"), whether /dev/vfio/N exists. */
char *fake_kernel_driver(FakeKernel *k, const char *address);
bool fake_kernel_exists(FakeKernel *k, const char *address);
char *fake_kernel_override(FakeKernel *k, const char *address);
bool fake_kernel_vfio_node(FakeKernel *k, int group);

/* Waits until the kernel thread has handled every write made before the
 * call; 0, or -ETIMEDOUT. */
int fake_kernel_sync(FakeKernel *k, unsigned timeout_ms);
/* A breakpoint: the kernel stops before it acts on the nth write from now
 * (it has been made: the writer went on), until fake_kernel_resume(). For
 * killing the writer's side at every step. nth 0 clears it. */
void fake_kernel_break_at(FakeKernel *k, unsigned nth);
/* Waits until the kernel stopped at the breakpoint: 0, or -ETIMEDOUT. */
int fake_kernel_wait_break(FakeKernel *k, unsigned timeout_ms);
void fake_kernel_resume(FakeKernel *k);

/* Waits until done() holds, looking again after each batch of writes the
 * kernel handles: 0, or -ETIMEDOUT. */
int fake_kernel_wait(FakeKernel *k, bool (*done)(FakeKernel *k, void *userdata), void *userdata, unsigned timeout_ms);

/* Writes to driver_override, bind, unbind and drivers_probe handled so far. */
unsigned fake_kernel_writes(FakeKernel *k);

/* Opens the read end of each hung unbind FIFO, so that the writer blocked on
 * it completes; waits up to timeout_ms for it to close. Then the unbind takes
 * effect (the device it named loses its driver) and later unbinds of that
 * driver work at once. Returns how many writers were released. */
int fake_kernel_release_hung(FakeKernel *k, unsigned timeout_ms);
