/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gpu.h"

#include <errno.h>
#include <stdarg.h>
#include <pci/pci.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "state.h"
#include "strv.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_enumerate *, udev_enumerate_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_device *, udev_device_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pci_access *, pci_cleanup);

const char *function_role_to_string(FunctionRole r) {
        static const char *table[] = { [ROLE_GPU] = "gpu", [ROLE_BRIDGE] = "bridge", [ROLE_FOREIGN] = "foreign" };
        return r < ELEMENTSOF(table) ? table[r] : NULL;
}

bool pci_class_is_display(unsigned class) {
        return (class >> 16) == 0x03;
}

static bool pci_class_is_bridge(unsigned class) {
        return (class >> 16) == 0x06;
}

static void pci_function_done(PciFunction *f) {
        free(f->syspath);
        free(f->name);
        free(f->class_name);
        free(f->driver);
        free(f->driver_override);
}

Gpu *gpu_free(Gpu *g) {
        if (!g)
                return NULL;
        for (size_t i = 0; i < g->n_functions; i++)
                pci_function_done(&g->functions[i]);
        free(g->functions);
        free(g);
        return NULL;
}

bool pci_function_exists(const PciFunction *f) {
        return f->syspath && access(f->syspath, F_OK) >= 0;
}

static int function_read_driver(PciFunction *f) {
        _cleanup_free_ char *p = NULL, *driver = NULL;
        int r;

        if (!pci_function_exists(f)) {
                f->driver = mfree(f->driver);
                return -ENODEV;
        }
        if (asprintf(&p, "%s/driver", f->syspath) < 0)
                return -ENOMEM;
        r = readlink_basename(p, &driver);
        if (r < 0 && r != -ENOENT)
                return r;
        free(f->driver);
        f->driver = TAKE_PTR(driver);
        return 0;
}

int pci_function_refresh(PciFunction *f) {
        _cleanup_free_ char *p = NULL, *override = NULL;
        pid_t writer;
        int r;

        if ((r = function_read_driver(f)) < 0)
                return r;
        /* driver_override_show() takes the device lock; a stuck unbind or
         * bind holds it: reading would put this process in D state too. */
        if (stuck_check(f->address_str, &writer, NULL) > 0)
                return 0;
        if (asprintf(&p, "%s/driver_override", f->syspath) < 0)
                return -ENOMEM;
        /* The kernel shows an unset override as "(null)". */
        r = read_one_line_file(p, &override);
        if (r >= 0 && (streq(override, "(null)") || !*override))
                override = mfree(override);
        free(f->driver_override);
        f->driver_override = TAKE_PTR(override);
        return 0;
}

/* refresh on every function; the first error, after all were tried. */
static int gpu_refresh_each(Gpu *g, int (*refresh)(PciFunction *f)) {
        int ret = 0;
        for (size_t i = 0; i < g->n_functions; i++) {
                int r = refresh(&g->functions[i]);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int gpu_refresh_drivers(Gpu *g) {
        return gpu_refresh_each(g, function_read_driver);
}

int gpu_refresh(Gpu *g) {
        return gpu_refresh_each(g, pci_function_refresh);
}

static int read_hex_attr(struct udev_device *d, const char *attr, unsigned *ret) {
        unsigned long v;
        const char *s = udev_device_get_sysattr_value(d, attr);
        if (!s)
                return -ENOENT;
        if (parse_sysfs_hex(s, &v) < 0 || v > UINT32_MAX)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

static int iommu_group_of(const char *syspath) {
        _cleanup_free_ char *p = NULL, *b = NULL;
        char *end;
        if (asprintf(&p, "%s/iommu_group", syspath) < 0 || readlink_basename(p, &b) < 0)
                return -1;
        long n = strtol(b, &end, 10);
        return (*end || n < 0 || n > INT32_MAX) ? -1 : (int) n;
}

typedef struct Candidate {
        PciFunction f;
        int group;
} Candidate;

/* pci_init() would install these; we use libpci only for pci.ids lookups. */
_printf_(1, 2) static void pci_log_warning(char *msg, ...) {
        char buf[256];
        va_list ap;
        va_start(ap, msg);
        vsnprintf(buf, sizeof(buf), msg, ap);
        va_end(ap);
        log_debug("libpci: %s", buf);
}

_printf_(1, 2) static void pci_log_debug(char *msg _unused_, ...) {
}

static int candidate_load(struct udev_device *d, Candidate *c) {
        const char *slot = udev_device_get_property_value(d, "PCI_SLOT_NAME") ?: udev_device_get_sysname(d);
        int r;

        *c = (Candidate) { .group = -1 };
        if (pci_address_parse(slot, &c->f.address) < 0)
                return -EINVAL;
        pci_address_format(&c->f.address, c->f.address_str);

        if ((r = read_hex_attr(d, "vendor", &c->f.vendor)) < 0 ||
            (r = read_hex_attr(d, "device", &c->f.device)) < 0 ||
            (r = read_hex_attr(d, "class", &c->f.class)) < 0)
                return log_warning_errno(r, "Ignoring %s: unreadable vendor, device or class attribute.", slot);

        const char *bv = udev_device_get_sysattr_value(d, "boot_vga");
        c->f.boot_vga = bv && streq(bv, "1");
        c->group = iommu_group_of(udev_device_get_syspath(d));

        c->f.syspath = strdup(udev_device_get_syspath(d));
        return c->f.syspath ? 0 : -ENOMEM;
}

/* pci.ids is a megabyte of text: parse it only for the GPU's own functions,
 * and only when words are wanted (status, refusals), never on the handoff path. */
int gpu_load_names(Gpu *g) {
        _cleanup_(pci_cleanupp) struct pci_access *pacc = pci_alloc();
        char buf[256];

        if (!pacc)
                return -ENOMEM;
        /* Names only: never let libpci probe the real /proc/bus/pci. */
        pacc->method = PCI_ACCESS_SYS_BUS_PCI;
        pacc->warning = pci_log_warning;
        pacc->debug = pci_log_debug;

        for (size_t i = 0; i < g->n_functions; i++) {
                PciFunction *f = &g->functions[i];
                if (f->name)
                        continue;
                f->name = strdup(pci_lookup_name(pacc, buf, sizeof(buf), PCI_LOOKUP_VENDOR | PCI_LOOKUP_DEVICE,
                                                 f->vendor, f->device));
                f->class_name = strdup(pci_lookup_name(pacc, buf, sizeof(buf), PCI_LOOKUP_CLASS, f->class >> 8));
                if (!f->name || !f->class_name)
                        return -ENOMEM;
        }
        return 0;
}

static int candidate_cmp(const void *a, const void *b) {
        const PciAddress *x = &((const Candidate *) a)->f.address, *y = &((const Candidate *) b)->f.address;
        unsigned kx = x->domain << 16 | x->bus << 8 | x->slot << 3 | x->function;
        unsigned ky = y->domain << 16 | y->bus << 8 | y->slot << 3 | y->function;
        return kx < ky ? -1 : kx > ky;
}

static void candidates_free(Candidate *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                pci_function_done(&c[i].f);
        free(c);
}

static int enumerate_pci(struct udev *udev, Candidate **ret, size_t *ret_n) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = udev_enumerate_new(udev);
        if (!e)
                return log_oom();

        if (udev_enumerate_add_match_subsystem(e, "pci") < 0 || udev_enumerate_scan_devices(e) < 0)
                return log_error_errno(errno ?: EIO, "Failed to enumerate PCI devices: %m");

        Candidate *list = NULL;
        size_t n = 0;
        struct udev_list_entry *i;
        udev_list_entry_foreach(i, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *d =
                        udev_device_new_from_syspath(udev, udev_list_entry_get_name(i));
                if (!d)
                        continue;
                Candidate *t = realloc(list, sizeof(Candidate) * (n + 1));
                if (!t) {
                        candidates_free(list, n);
                        return log_oom();
                }
                list = t;
                int r = candidate_load(d, &list[n]);
                if (r == -ENOMEM) {
                        candidates_free(list, n + 1);
                        return log_oom();
                }
                if (r < 0) {
                        pci_function_done(&list[n].f);
                        continue;
                }
                n++;
        }
        qsort(list, n, sizeof(Candidate), candidate_cmp);
        *ret = list;
        *ret_n = n;
        return 0;
}

static int pick_gpu(const Candidate *c, size_t n, const Config *config, const PciAddress *address, size_t *ret) {
        char buf[PCI_ADDRESS_STRLEN];
        const PciAddress *want = address ?: (config && config->have_address ? &config->address : NULL);

        if (want) {
                for (size_t i = 0; i < n; i++) {
                        if (memcmp(&c[i].f.address, want, sizeof(*want)) != 0)
                                continue;
                        if (!pci_class_is_display(c[i].f.class))
                                return log_error_errno(EINVAL, "%s is of PCI class 0x%06x, not a display controller: give the GPU's own address.",
                                                       c[i].f.address_str, c[i].f.class);
                        if (config && config->have_id && (c[i].f.vendor != config->id.vendor || c[i].f.device != config->id.device))
                                return log_error_errno(EINVAL, "%s is %04x:%04x, but the configuration says ID=%04x:%04x.",
                                                       c[i].f.address_str, c[i].f.vendor, c[i].f.device,
                                                       config->id.vendor, config->id.device);
                        *ret = i;
                        return 0;
                }
                return log_error_errno(ENODEV, "No PCI device at %s.", pci_address_format(want, buf));
        }

        size_t found = SIZE_MAX, count = 0;
        for (size_t i = 0; i < n; i++) {
                bool match = config && config->have_id ?
                        c[i].f.vendor == config->id.vendor && c[i].f.device == config->id.device :
                        pci_class_is_display(c[i].f.class) && !c[i].f.boot_vga;
                if (match) {
                        if (count++ == 0)
                                found = i;
                        else
                                log_error("Candidate GPU: %s [%04x:%04x]", c[i].f.address_str, c[i].f.vendor, c[i].f.device);
                }
        }
        if (count == 0)
                return log_error_errno(ENODEV, config && config->have_id ?
                                       "No PCI device with ID %04x:%04x." :
                                       "No display controller besides the boot display: nothing to pass through.",
                                       config ? config->id.vendor : 0, config ? config->id.device : 0);
        if (count > 1) {
                log_error("Candidate GPU: %s [%04x:%04x]", c[found].f.address_str, c[found].f.vendor, c[found].f.device);
                return log_error_errno(ENOTUNIQ, "%zu GPUs match; choose one with --gpu or Address= in %s.",
                                       count, VFIOD_CONFIG_FILE);
        }
        *ret = found;
        return 0;
}

int gpu_find(struct udev *udev, const Config *config, const PciAddress *address, Gpu **ret) {
        Candidate *c = NULL;
        size_t n = 0, pick = 0;
        int r;

        r = enumerate_pci(udev, &c, &n);
        if (r < 0)
                return r;

        r = pick_gpu(c, n, config, address, &pick);
        if (r < 0) {
                candidates_free(c, n);
                return r;
        }

        _cleanup_(gpu_freep) Gpu *g = calloc(1, sizeof(Gpu));
        if (g)
                g->functions = calloc(n, sizeof(PciFunction));
        if (!g || !g->functions) {
                candidates_free(c, n);
                return log_oom();
        }
        g->address = c[pick].f.address;
        memcpy(g->address_str, c[pick].f.address_str, sizeof(g->address_str));
        g->iommu_group = c[pick].group;

        /* Move the members out of the candidate list; free the rest. */
        for (size_t i = 0; i < n; i++) {
                bool same_slot = pci_address_same_slot(&c[i].f.address, &g->address);
                bool same_group = g->iommu_group >= 0 && c[i].group == g->iommu_group;
                if (!same_slot && !same_group) {
                        pci_function_done(&c[i].f);
                        continue;
                }
                c[i].f.role = same_slot ? ROLE_GPU : pci_class_is_bridge(c[i].f.class) ? ROLE_BRIDGE : ROLE_FOREIGN;
                g->functions[g->n_functions++] = c[i].f;
        }
        free(c);

        r = gpu_refresh(g);
        if (r < 0 && r != -ENODEV)
                return log_error_errno(r, "Failed to read drivers of %s: %m", g->address_str);

        *ret = TAKE_PTR(g);
        return 0;
}

