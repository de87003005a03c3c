/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "device-nodes.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fileio.h"
#include "strv.h"

/* Deep enough for USB behind the GPU's xHCI (usb3/3-1/3-1:1.0/0003:.../hidraw/hidraw0),
 * and a bound on a sysfs tree that is not what it should be. */
#define MAX_DEPTH 12

const char *dev_dir(void) {
        return secure_getenv("VFIOD_DEV_DIR") ?: "/dev";
}

const char *nvidia_proc_dir(void) {
        return secure_getenv("VFIOD_NVIDIA_PROC_DIR") ?: "/proc/driver/nvidia";
}

const char *asound_proc_dir(void) {
        return secure_getenv("VFIOD_ASOUND_DIR") ?: "/proc/asound";
}

int function_sound_cards(const PciFunction *f, char ***ret) {
        _cleanup_strv_free_ char **cards = calloc(1, sizeof(char *));
        _cleanup_free_ char *dir = NULL;
        if (!cards || asprintf(&dir, "%s/sound", f->syspath) < 0)
                return -ENOMEM;
        /* opendir(), not scandir(): under umockdev's preload only the former sees the testbed. */
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                unsigned num;
                char end;
                if (sscanf(de->d_name, "card%u%c", &num, &end) == 1 && strv_extend(&cards, de->d_name) < 0)
                        return -ENOMEM;
        }
        strv_sort(cards);
        *ret = TAKE_PTR(cards);
        return 0;
}

const char *node_kind_to_string(NodeKind k) {
        static const char *table[_NODE_KIND_MAX] = {
                [NODE_FUNCTION] = "function",
                [NODE_SHARED] = "shared",
                [NODE_VFIO] = "vfio",
        };
        return k < _NODE_KIND_MAX ? table[k] : NULL;
}

void device_node_list_done(DeviceNodeList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].path);
                free(l->items[i].fs_path);
        }
        free(l->items);
        *l = (DeviceNodeList) {};
}

static bool node_known(const DeviceNodeList *l, dev_t devnum, bool block, const char *path) {
        for (size_t i = 0; i < l->n; i++)
                if (devnum != 0 ? l->items[i].devnum == devnum && l->items[i].block == block
                                : streq(l->items[i].fs_path, path))
                        return true;
        return false;
}

/* path: the node under dev_dir() (it need not exist); devnum 0: take it from the node. */
static int node_add(DeviceNodeList *l, const char *path, dev_t devnum, bool block, NodeKind kind, const char *function) {
        struct stat st;
        bool have = stat(path, &st) >= 0;

        /* The kernel's number decides; a node made by hand elsewhere is not the device. */
        if (devnum == 0 && have && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
                devnum = st.st_rdev;
                block = S_ISBLK(st.st_mode);
        }
        if (node_known(l, devnum, block, path))
                return 0;

        DeviceNode *t = realloc(l->items, sizeof(DeviceNode) * (l->n + 1));
        if (!t)
                return -ENOMEM;
        l->items = t;
        DeviceNode *n = &l->items[l->n];
        *n = (DeviceNode) { .devnum = devnum, .block = block, .kind = kind };
        /* Named as the kernel names it, wherever the tests keep /dev. */
        const char *rel = startswith(path, dev_dir());
        if (rel && *rel == '/' ? asprintf(&n->path, "/dev%s", rel) < 0 : !(n->path = strdup(path)))
                return -ENOMEM;
        if (!(n->fs_path = strdup(path))) {
                free(n->path);
                return -ENOMEM;
        }
        snprintf(n->function, sizeof(n->function), "%s", strempty(function));
        /* A node at the path that is another device (a stale node) identifies
         * nothing; a plain file there is only the tests' testbed. */
        bool is_node = have && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode));
        if (have && (!is_node || st.st_rdev == devnum)) {
                n->st_dev = st.st_dev;
                n->st_ino = st.st_ino;
        }
        l->n++;
        return 0;
}

/* A class device: its "dev" attribute ("116:2"), its node from uevent's DEVNAME. */
int device_node_list_add(DeviceNodeList *l, const char *path, NodeKind kind, const char *function) {
        return node_add(l, path, 0, false, kind, function);
}

static int device_dir_node(const char *dir, const char *function, NodeKind kind, DeviceNodeList *l) {
        _cleanup_free_ char *p = NULL, *dev = NULL, *uevent = NULL, *subsystem = NULL, *path = NULL;
        unsigned major, minor;
        char end;

        if (asprintf(&p, "%s/dev", dir) < 0)
                return -ENOMEM;
        if (read_one_line_file(p, &dev) < 0)
                return 0;
        if (sscanf(dev, "%u:%u%c", &major, &minor, &end) != 2)
                return 0;  /* not a device number: not a node */
        free(p);
        if (asprintf(&p, "%s/subsystem", dir) < 0)
                return -ENOMEM;
        (void) readlink_basename(p, &subsystem);
        bool block = streq_ptr(subsystem, "block");
        /* vfio's per-device cdev (iommufd) belongs to the VM like the group's node. */
        if (streq_ptr(subsystem, "vfio-dev"))
                kind = NODE_VFIO;

        free(p);
        if (asprintf(&p, "%s/uevent", dir) < 0)
                return -ENOMEM;
        if (read_full_file(p, &uevent, NULL) >= 0) {
                const char *dn = startswith(uevent, "DEVNAME=");
                if (!dn && (dn = strstr(uevent, "\nDEVNAME=")))
                        dn += strlen("\nDEVNAME=");
                if (dn) {
                        /* Relative to /dev; some (umockdev's testbeds) give it absolute. */
                        dn = startswith(dn, "/dev/") ?: dn;
                        int len = (int) strcspn(dn, "\n");
                        /* DEVNAME is relative to /dev; refuse one that climbs out of it. */
                        if (len > 0 && !memmem(dn, len, "..", 2) && asprintf(&path, "%s/%.*s", dev_dir(), len, dn) < 0)
                                return -ENOMEM;
                }
        }
        if (!path && asprintf(&path, "%s %u:%u", block ? "block" : "char", major, minor) < 0)
                return -ENOMEM;
        return node_add(l, path, makedev(major, minor), block, kind, function);
}

static int walk(const char *dir, const char *function, NodeKind kind, unsigned depth, DeviceNodeList *l) {
        bool has_dev = false;
        int r;

        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return 0;  /* gone meanwhile (an unbind removes its class devices) */
        struct dirent *de;
        while ((de = readdir(d))) {
                /* The listing tells which directories are devices: no open of a
                 * "dev" that is not there, in every directory of the tree. */
                if (de->d_type == DT_REG && streq(de->d_name, "dev"))
                        has_dev = true;
                /* Child devices are directories; symlinks (subsystem, driver, device,
                 * firmware_node ...) lead out of the subtree. */
                if (depth >= MAX_DEPTH || de->d_type != DT_DIR || de->d_name[0] == '.' ||
                    streq(de->d_name, "power") || streq(de->d_name, "msi_irqs"))
                        continue;
                _cleanup_free_ char *sub = NULL;
                if (asprintf(&sub, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                if ((r = walk(sub, function, kind, depth + 1, l)) < 0)
                        return r;
        }
        return has_dev ? device_dir_node(dir, function, kind, l) : 0;
}

int device_nodes_below(const char *syspath, const char *function, NodeKind kind, DeviceNodeList *l) {
        return walk(syspath, function, kind, 0, l);
}

/* "Device Minor: 0" in /proc/driver/nvidia/gpus/ADDRESS/information. */
static int nvidia_minor(const char *address, unsigned *ret) {
        _cleanup_free_ char *p = NULL, *text = NULL;
        if (asprintf(&p, "%s/gpus/%s/information", nvidia_proc_dir(), address) < 0)
                return -ENOMEM;
        int r = read_full_file(p, &text, NULL);
        if (r < 0)
                return r;
        const char *m = strstr(text, "Device Minor:");
        if (!m || sscanf(m + strlen("Device Minor:"), "%u", ret) != 1)
                return -EINVAL;
        return 0;
}

static size_t nvidia_gpu_count(void) {
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/gpus", nvidia_proc_dir()) < 0)
                return 0;
        _cleanup_closedir_ DIR *d = opendir(p);
        struct dirent *de;
        size_t n = 0;
        while (d && (de = readdir(d)))
                n += de->d_name[0] != '.';
        return n;
}

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char) *s))
                        return false;
        return true;
}

/* nvidia's nodes are not in the device's subtree: /dev/nvidiaN is the card
 * whose "Device Minor" is N; nvidiactl, nvidia-modeset, nvidia-uvm(-tools)
 * and nvidia-caps/ serve every card, so they are this GPU's only while it is
 * the driver's only one (with two cards, a process on nvidiactl may use the other). */
static int nvidia_nodes(const PciFunction *f, DeviceNodeList *l) {
        unsigned minor;
        /* Without the driver's word on the minor, every card node may be this one: count them all. */
        bool known = nvidia_minor(f->address_str, &minor) >= 0;
        bool only = nvidia_gpu_count() <= 1;
        int r;

        for (int caps = 0; caps < 2; caps++) {
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s%s", dev_dir(), caps ? "/nvidia-caps" : "") < 0)
                        return -ENOMEM;
                _cleanup_closedir_ DIR *d = opendir(dir);
                struct dirent *de;
                while (d && (de = readdir(d))) {
                        if (de->d_name[0] == '.' || de->d_type == DT_DIR)
                                continue;
                        const char *card = caps ? NULL : startswith(de->d_name, "nvidia");
                        if (!caps && !card)
                                continue;
                        NodeKind kind = NODE_SHARED;
                        if (card && all_digits(card)) {
                                if (known && strtoul(card, NULL, 10) != minor)
                                        continue;  /* another card's */
                                kind = NODE_FUNCTION;
                        } else if (!only)
                                continue;
                        _cleanup_free_ char *p = NULL;
                        if (asprintf(&p, "%s/%s", dir, de->d_name) < 0)
                                return -ENOMEM;
                        if ((r = node_add(l, p, 0, false, kind, kind == NODE_FUNCTION ? f->address_str : NULL)) < 0)
                                return r;
                }
        }
        return 0;
}

int gpu_device_nodes(const Gpu *g, unsigned kinds, DeviceNodeList *ret) {
        _cleanup_device_nodes_ DeviceNodeList l = {};
        int r;

        for (size_t i = 0; i < g->n_functions; i++) {
                const PciFunction *f = &g->functions[i];
                if (f->role != ROLE_GPU || !f->syspath)
                        continue;
                if ((r = device_nodes_below(f->syspath, f->address_str, NODE_FUNCTION, &l)) < 0)
                        return r;
                if (streq_ptr(f->driver, "nvidia") && (r = nvidia_nodes(f, &l)) < 0)
                        return r;
        }

        if (g->iommu_group >= 0) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/vfio/%d", dev_dir(), g->iommu_group) < 0)
                        return -ENOMEM;
                if ((r = node_add(&l, p, 0, false, NODE_VFIO, NULL)) < 0)
                        return r;
        }

        /* Filter in place: what the caller does not ask for. */
        size_t k = 0;
        for (size_t i = 0; i < l.n; i++) {
                if (kinds & (1u << l.items[i].kind))
                        l.items[k++] = l.items[i];
                else {
                        free(l.items[i].path);
                        free(l.items[i].fs_path);
                }
        }
        l.n = k;
        *ret = l;
        l = (DeviceNodeList) {};
        return 0;
}
