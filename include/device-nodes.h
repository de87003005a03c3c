/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "gpu.h"

/* The device nodes through which anything can hold a GPU's driver, found in
 * sysfs rather than in a list: every device with a "dev" attribute below each
 * function of the GPU (DRM, ALSA, fbdev, i2c-dev, drm_dp_aux, USB behind the
 * GPU's xHCI, typec, video4linux, vfio's per-device cdev ...), the IOMMU
 * group's /dev/vfio/N, and the nodes nvidia keeps outside the device's subtree. */

typedef enum NodeKind {
        NODE_FUNCTION,  /* a node of one of the GPU's functions: its users may be asked to exit (--drain) */
        NODE_SHARED,    /* a driver's node for all its devices (nvidiactl, nvidia-uvm ...): this GPU's only
                         * while it is the driver's only device; never drained */
        NODE_VFIO,      /* /dev/vfio/N and /dev/vfio/devices/vfioX: the VM's; never drained */
        _NODE_KIND_MAX,
} NodeKind;

typedef struct DeviceNode {
        char *path;         /* "/dev/snd/controlC0" as the kernel names it; "char 116:2" when it names none */
        char *fs_path;      /* where it is: path under dev_dir() (tests put /dev elsewhere) */
        dev_t devnum;
        bool block;
        NodeKind kind;
        char function[PCI_ADDRESS_STRLEN]; /* the function it belongs to; "" for shared nodes */
        /* Identity of the node in /dev, for memory maps (they name the file, not the device):
         * 0 when there is no node at path. */
        dev_t st_dev;
        ino_t st_ino;
} DeviceNode;

typedef struct DeviceNodeList {
        DeviceNode *items;
        size_t n;
} DeviceNodeList;

void device_node_list_done(DeviceNodeList *l);
static inline void device_node_list_donep(DeviceNodeList *l) {
        device_node_list_done(l);
}
#define _cleanup_device_nodes_ _cleanup_(device_node_list_donep)

/* Where device nodes live: /dev, or $VFIOD_DEV_DIR (tests). */
const char *dev_dir(void);
/* Where nvidia's driver tells about its GPUs: /proc/driver/nvidia, or $VFIOD_NVIDIA_PROC_DIR. */
const char *nvidia_proc_dir(void);
/* Where ALSA tells which PCM streams are open: /proc/asound, or $VFIOD_ASOUND_DIR. */
const char *asound_proc_dir(void);
/* The function's ALSA cards (FUNCTION/sound/cardN) as "cardN", sorted; an empty list for none. */
int function_sound_cards(const PciFunction *f, char ***ret);

/* Every node of the GPU's functions (ROLE_GPU), its group's vfio nodes and,
 * on nvidia, the driver's nodes. Nodes of kinds not in mask (1 << NodeKind)
 * are left out. */
int gpu_device_nodes(const Gpu *g, unsigned kinds, DeviceNodeList *ret);
#define NODE_KINDS_ALL ((1u << _NODE_KIND_MAX) - 1)

/* The nodes in the sysfs subtree of one device (a function, or any device). */
int device_nodes_below(const char *syspath, const char *function, NodeKind kind, DeviceNodeList *l);

/* A node by its path; its device number from the node itself. */
int device_node_list_add(DeviceNodeList *l, const char *path, NodeKind kind, const char *function);

const char *node_kind_to_string(NodeKind k);
