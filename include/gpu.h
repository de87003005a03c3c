/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libudev.h>
#include <stddef.h>

#include "config.h"
#include "pci-address.h"

typedef enum FunctionRole {
        ROLE_GPU,      /* a function of the GPU's slot: moves with it */
        ROLE_BRIDGE,   /* a bridge in the IOMMU group: stays, vfio allows it */
        ROLE_FOREIGN,  /* anything else in the group: blocks a handoff */
} FunctionRole;

typedef struct PciFunction {
        PciAddress address;
        char address_str[PCI_ADDRESS_STRLEN];
        char *syspath;
        unsigned vendor, device, class;
        char *name;            /* from pci.ids: "NVIDIA Corporation GA102 [...]"; NULL until gpu_load_names() */
        char *class_name;      /* "VGA compatible controller"; likewise */
        char *driver;          /* NULL: no driver bound */
        char *driver_override; /* NULL: none */
        bool boot_vga;
        FunctionRole role;
} PciFunction;

typedef struct Gpu {
        PciAddress address;
        char address_str[PCI_ADDRESS_STRLEN];
        int iommu_group;       /* -1: the kernel has no IOMMU group for it */
        PciFunction *functions; /* the slot's functions and the rest of the group, by address */
        size_t n_functions;
} Gpu;

Gpu *gpu_free(Gpu *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(Gpu *, gpu_free);

/* Picks the GPU: address if given, else the config's Address= or ID=, else the
 * one display controller that is not the boot display. Errors are logged. */
int gpu_find(struct udev *udev, const Config *config, const PciAddress *address, Gpu **ret);

/* Looks up the functions' names and classes in pci.ids. */
int gpu_load_names(Gpu *g);

/* Re-reads each function's driver and driver_override. A function whose
 * device vanished has its syspath cleared and yields -ENODEV.
 * driver_override is not read while a write to the function is stuck (its
 * show waits for the device lock the stuck write holds): it keeps the last
 * value read. */
int gpu_refresh(Gpu *g);
int pci_function_refresh(PciFunction *f);
/* Only the driver links: a kernfs symlink, readable without the device
 * lock, so also while a write is in flight. For readers that do not hold
 * the handoff lock (D-Bus getters). */
int gpu_refresh_drivers(Gpu *g);
bool pci_function_exists(const PciFunction *f);

const char *function_role_to_string(FunctionRole r);
bool pci_class_is_display(unsigned class);
