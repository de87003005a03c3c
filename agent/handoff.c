/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "handoff.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "holders.h"
#include "log.h"
#include "modules.h"
#include "services.h"
#include "strv.h"
#include "sysfs-write.h"

#define SYSFS_PCI "/sys/bus/pci"

const char *handoff_outcome_to_string(HandoffOutcome o) {
        static const char *table[_HANDOFF_OUTCOME_MAX] = {
                [HANDOFF_DONE] = "done",
                [HANDOFF_NOTHING_TO_DO] = "nothing-to-do",
                [HANDOFF_REFUSED_CONFIG] = "refused-config",
                [HANDOFF_REFUSED_IN_USE] = "refused-in-use",
                [HANDOFF_ROLLED_BACK] = "rolled-back",
                [HANDOFF_STUCK] = "stuck",
                [HANDOFF_ROLLBACK_FAILED] = "rollback-failed",
        };
        return o < _HANDOFF_OUTCOME_MAX ? table[o] : NULL;
}

int handoff_init(Handoff *h, struct udev *udev, const Config *config, Gpu *gpu) {
        *h = (Handoff) { .udev = udev, .config = config, .gpu = gpu, .writer = SYSFS_WRITER_INIT, .progress_fd = -1 };
        /* Listen before the first write, so that no uevent is missed. */
        return device_watch_new(udev, &h->watch);
}

void handoff_done(Handoff *h) {
        device_watch_free(h->watch);
        sysfs_writer_stop(&h->writer);
        handoff_state_done(&h->state);
}

_printf_(2, 3) static void set_message(Handoff *h, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(h->message, sizeof(h->message), fmt, ap);
        va_end(ap);
}

/* A step done, for whoever follows the handoff (vfiod's D-Bus Progress signal). */
_printf_(2, 3) static void progress(Handoff *h, const char *fmt, ...) {
        char line[512];
        va_list ap;
        if (h->progress_fd < 0)
                return;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        line[strcspn(line, "\n")] = 0;
        dprintf(h->progress_fd, "S %s\n", line);
}

/* The writer whose write never returned stays where the kernel holds it; we
 * record it so that nobody starts a second write on the same device. */
static int write_attr(Handoff *h, PciFunction *f, const char *path, const char *value, usec_t timeout) {
        _cleanup_free_ char *what = NULL;
        pid_t pid = 0;
        char state = '?';

        if (stuck_check(f->address_str, &pid, &what) > 0) {
                set_message(h, "%s: an earlier write (%s) by pid %d has not returned; not writing again.",
                            f->address_str, what, pid);
                return -EDEADLK;
        }

        log_debug("%s: writing '%s' to %s", f->address_str, streq(value, "\n") ? "\\n" : value, path);
        if (h->first_write == 0)
                h->first_write = now_usec();
        int r = sysfs_writer_write(&h->writer, path, value, timeout, &pid);
        if (r != -ETIME)
                return r;

        (void) process_state(pid, &state);
        if (asprintf(&what, "'%s' to %s", streq(value, "\n") ? "\\n" : value, path) < 0)
                return -ENOMEM;
        (void) stuck_record(f->address_str, pid, what);
        set_message(h, "%s: the write of %s has not returned after %.1fs; writer pid %d is in state %c%s. "
                    "%s",
                    f->address_str, what, (double) timeout / USEC_PER_SEC, pid, state,
                    state == 'D' ? " (uninterruptible: the kernel driver holds it)" : "",
                    state == 'D' ? "Nothing but a reboot can release it: save your work and reboot."
                                 : "Nothing more is written to this device until it returns.");
        return -ETIME;
}

typedef struct DriverWait {
        DeviceWatch *watch;
        PciFunction *f;
        const char *want;  /* a driver, or NULL */
        bool none;         /* wait for no driver */
        bool any_host;     /* wait for any driver but vfio-pci */
} DriverWait;

static int driver_reached(void *userdata) {
        DriverWait *w = userdata;
        if (device_watch_removed(w->watch, w->f->syspath))
                return -ENODEV;
        int r = pci_function_refresh(w->f);
        if (r < 0)
                return r;
        if (w->none)
                return !w->f->driver;
        if (w->want)
                return streq_ptr(w->f->driver, w->want);
        return w->f->driver && !streq(w->f->driver, VFIO_DRIVER);
}

static int wait_driver(Handoff *h, DriverWait *w, usec_t timeout) {
        w->watch = h->watch;
        return device_watch_wait(h->watch, driver_reached, w, now_usec() + timeout);
}

/* The GPU's holders that keep f's current driver from letting go: for
 * vfio-pci the VM's nodes, for a host driver the functions' nodes, the
 * driver's shared ones and the kernel's users. -EUSERS, named in the message. */
static int holders_recheck(Handoff *h, const PciFunction *f) {
        bool vfio = streq_ptr(f->driver, VFIO_DRIVER);
        HolderList l = {};
        int r = gpu_holders(h->gpu, "/proc", vfio ? 1u << NODE_VFIO : (1u << NODE_FUNCTION) | (1u << NODE_SHARED),
                            !vfio, &l);
        if (r < 0) {
                set_message(h, "Cannot tell who uses %s: %s", f->address_str, strerror(-r));
                return r;
        }
        if (l.n == 0)
                return 0;
        _cleanup_free_ char *who = holders_format(&l);
        set_message(h, "%s came into use before %s's unbind: %s", h->gpu->address_str, f->address_str, strna(who));
        holder_list_done(&l);
        return -EUSERS;
}

/* Moves one function. target: override it to this driver (vfio-pci); NULL
 * clears the override and binds bind_to, or lets the kernel choose. bind_to
 * "": the function had no driver before vfiod's handoff (blacklisted, never
 * probed); it is home once off vfio-pci, with whatever drivers_probe gives it. */
static int function_move(Handoff *h, PciFunction *f, const char *target, const char *bind_to) {
        const Config *c = h->config;
        char path[PATH_MAX];
        usec_t start = now_usec();
        int r;

        r = pci_function_refresh(f);
        if (r < 0)
                return r;
        _cleanup_free_ char *before = f->driver ? strdup(f->driver) : NULL;

        /* The override first: from then on only target may claim the device. */
        snprintf(path, sizeof(path), "%s/driver_override", f->syspath);
        r = write_attr(h, f, path, target ?: "\n", c->bind_timeout);
        if (r < 0)
                return r;

        bool home_none = !target && bind_to && !*bind_to;
        bool done = target ? streq_ptr(f->driver, target) :
                    home_none ? !streq_ptr(f->driver, VFIO_DRIVER) :
                    bind_to ? streq_ptr(f->driver, bind_to) : f->driver && !streq(f->driver, VFIO_DRIVER);
        if (done)
                return 0;

        if (f->driver) {
                /* Look again right before the unbind: a driver's remove waits for
                 * every user (nvidia's never returns once started with one). */
                if ((r = holders_recheck(h, f)) < 0)
                        return r;
                snprintf(path, sizeof(path), SYSFS_PCI "/drivers/%s/unbind", f->driver);
                r = write_attr(h, f, path, f->address_str, c->unbind_timeout);
                if (r < 0)
                        return r;
                r = wait_driver(h, &(DriverWait) { .f = f, .none = true }, c->unbind_timeout);
                if (r < 0)
                        return r;
        }

        /* A named host driver gets the device through its bind file; otherwise
         * drivers_probe lets the kernel match, honouring driver_override. */
        snprintf(path, sizeof(path), SYSFS_PCI "/drivers/%s", strempty(bind_to));
        bool explicit_bind = !target && !home_none && bind_to && access(path, F_OK) >= 0;
        if (explicit_bind)
                snprintf(path, sizeof(path), SYSFS_PCI "/drivers/%s/bind", bind_to);
        else
                snprintf(path, sizeof(path), SYSFS_PCI "/drivers_probe");
        r = write_attr(h, f, path, f->address_str, c->bind_timeout);
        /* A failed probe fails the write on some kernels, not on others: the link decides. */
        if (r == -ETIME || r == -EDEADLK)
                return r;
        if (r < 0)
                log_debug_errno(r, "%s: write to %s failed: %m", f->address_str, path);
        if (home_none) {
                /* drivers_probe binds synchronously: what the link says now is the kernel's choice. */
                if ((r = pci_function_refresh(f)) < 0)
                        return r;
                log_info("%s: %s -> %s (%.1f ms)", f->address_str, before ?: "no driver", f->driver ?: "no driver, as before",
                         (double) (now_usec() - start) / USEC_PER_MSEC);
                progress(h, "%s: %s -> %s", f->address_str, before ?: "no driver", f->driver ?: "no driver");
                return 0;
        }

        DriverWait w = { .f = f, .want = target ?: (explicit_bind ? bind_to : NULL) };
        r = wait_driver(h, &w, c->bind_timeout);
        if (r < 0) {
                if (r == -ETIMEDOUT)
                        log_error("%s: not bound to %s after %.1fs (now: %s).", f->address_str,
                                  w.want ?: "a host driver", (double) c->bind_timeout / USEC_PER_SEC,
                                  f->driver ?: "no driver");
                return r;
        }

        log_info("%s: %s -> %s (%.1f ms)", f->address_str, before ?: "no driver", f->driver,
                 (double) (now_usec() - start) / USEC_PER_MSEC);
        progress(h, "%s: %s -> %s", f->address_str, before ?: "no driver", f->driver);
        return 0;
}

static bool gpu_function(const PciFunction *f) {
        return f->role == ROLE_GPU;
}

/* Display function last when taking, first when giving back: its driver
 * (nvidia) is the one others in the slot depend on. */
static void order_functions(Gpu *g, bool display_last, PciFunction **ret, size_t *ret_n) {
        size_t n = 0;
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < g->n_functions; i++) {
                        PciFunction *f = &g->functions[i];
                        if (!gpu_function(f))
                                continue;
                        bool disp = pci_class_is_display(f->class);
                        if ((pass == 0) == (display_last ? !disp : disp))
                                ret[n++] = f;
                }
        *ret_n = n;
}

static HandoffOutcome preflight(Handoff *h, bool taking) {
        Gpu *g = h->gpu;

        for (size_t i = 0; i < g->n_functions; i++) {
                PciFunction *f = &g->functions[i];
                _cleanup_free_ char *stuck = NULL;
                if (stuck_describe(f->address_str, NULL, &stuck) > 0) {
                        set_message(h, "%s is stuck: %s.", f->address_str, stuck);
                        return HANDOFF_STUCK;
                }
                if (!taking)
                        continue;
                if (f->role == ROLE_FOREIGN) {
                        (void) gpu_load_names(g);
                        set_message(h, "IOMMU group %d also holds %s (%s: %s), which is not part of the GPU: "
                                    "vfio needs the whole group. Move the GPU to another slot, or the other device out of its group.",
                                    g->iommu_group, f->address_str, strna(f->class_name), strna(f->name));
                        return HANDOFF_REFUSED_CONFIG;
                }
        }
        if (taking && g->iommu_group < 0) {
                set_message(h, "%s has no IOMMU group: enable the IOMMU (intel_iommu=on or amd_iommu=on, and VT-d/AMD-Vi in the firmware).",
                            g->address_str);
                return HANDOFF_REFUSED_CONFIG;
        }
        return _HANDOFF_OUTCOME_MAX;
}

static bool all_on(Gpu *g, bool vfio) {
        for (size_t i = 0; i < g->n_functions; i++) {
                PciFunction *f = &g->functions[i];
                if (!gpu_function(f))
                        continue;
                bool on_vfio = streq_ptr(f->driver, VFIO_DRIVER);
                /* No driver and no override: not vfiod's doing (blacklisted,
                 * not probed yet), so nothing to give back. */
                if (vfio ? !on_vfio : (on_vfio || f->driver_override))
                        return false;
        }
        return true;
}

/* Refuses while anything holds the nodes of the given kinds (and, with
 * kernel, while the kernel uses the GPU); with drain, first asks the
 * processes on the functions' own nodes to exit. Nobody else is signalled. */
static HandoffOutcome refuse_held(Handoff *h, unsigned kinds, bool kernel) {
        HolderList l = {};
        int r = gpu_holders(h->gpu, "/proc", kinds, kernel, &l);
        if (r < 0) {
                set_message(h, "Cannot tell who uses the GPU: %s", strerror(-r));
                return HANDOFF_REFUSED_IN_USE;
        }
        if (l.n > 0 && h->drain && l.n > holders_undrainable(&l)) {
                log_notice("Draining %zu process(es) from the GPU, %.0fs grace.", l.n - holders_undrainable(&l),
                           (double) h->config->drain_grace / USEC_PER_SEC);
                (void) holders_drain(&l, h->config->drain_grace);
                holder_list_done(&l);
                if ((r = gpu_holders(h->gpu, "/proc", kinds, kernel, &l)) < 0) {
                        set_message(h, "Cannot tell who uses the GPU: %s", strerror(-r));
                        return HANDOFF_REFUSED_IN_USE;
                }
        }
        if (l.n == 0)
                return _HANDOFF_OUTCOME_MAX;

        _cleanup_free_ char *who = holders_format(&l);
        size_t vm = 0, shared = 0, kern = holders_count(&l, HOLD_KERNEL);
        for (size_t i = 0; i < l.n; i++) {
                vm += l.items[i].how != HOLD_KERNEL && l.items[i].kind == NODE_VFIO;
                shared += l.items[i].how != HOLD_KERNEL && l.items[i].kind == NODE_SHARED;
        }
        const char *advice =
                vm > 0 ? " That is a VM's process: stop the VM first (windows-stop, virsh shutdown); vfiod never signals it." :
                shared > 0 && !h->drain ? " Close them, or stop the programs on the driver's shared nodes; --drain does not signal those." :
                kern == l.n ? "" :
                h->drain ? " (still there after the grace period; the VM's and the shared nodes' users are never signalled)." :
                           " Close it, or ask with --drain to send it SIGTERM first.";
        set_message(h, "%s is in use by %s.%s", h->gpu->address_str, strna(who), advice);
        holder_list_done(&l);
        return HANDOFF_REFUSED_IN_USE;
}

/* A give-back with no record of the handoff (the GPU was on vfio-pci at
 * boot, or its record was lost) records what it takes off vfio-pci before
 * its first write: if it is cut short, a function left with no driver is
 * then known to be vfiod's to finish, not a function the host never bound. */
static int record_give_back(Handoff *h) {
        Gpu *g = h->gpu;
        for (size_t i = 0; i < g->n_functions; i++) {
                PciFunction *f = &g->functions[i];
                if (!gpu_function(f) || !streq_ptr(f->driver, VFIO_DRIVER))
                        continue;
                _cleanup_free_ char *e = NULL;
                if (asprintf(&e, "%s=" ORIGINAL_UNKNOWN, f->address_str) < 0 || strv_extend(&h->state.drivers, e) < 0)
                        return -ENOMEM;
        }
        return handoff_state_save(g->address_str, &h->state);
}

static int record_originals(Handoff *h) {
        Gpu *g = h->gpu;
        int r = handoff_state_load(g->address_str, &h->state);
        if (r >= 0)
                return 0; /* an unfinished handoff's record is the truth: keep it */
        if (r != -ENOENT)
                return r;

        h->state.drivers = calloc(1, sizeof(char *));
        if (!h->state.drivers)
                return -ENOMEM;
        for (size_t i = 0; i < g->n_functions; i++) {
                PciFunction *f = &g->functions[i];
                if (!gpu_function(f) || streq_ptr(f->driver, VFIO_DRIVER))
                        continue;
                /* "ADDRESS=": it had none, and goes back to none. */
                _cleanup_free_ char *e = NULL;
                if (asprintf(&e, "%s=%s", f->address_str, strempty(f->driver)) < 0 || strv_extend(&h->state.drivers, e) < 0)
                        return -ENOMEM;
        }
        return handoff_state_save(g->address_str, &h->state);
}

/* The driver to give f back to: the recorded one ("" for none), else for
 * the display function the configured host driver; NULL: any host driver. */
static const char *original_driver(Handoff *h, const PciFunction *f) {
        const char *d = handoff_state_driver(&h->state, f->address_str);
        if (streq_ptr(d, ORIGINAL_UNKNOWN))
                d = NULL;
        if (!d && pci_class_is_display(f->class))
                d = h->config->host_driver;
        return d;
}

/* Whether f is where original_driver() says it belongs. */
static bool at_original(const PciFunction *f, const char *orig) {
        if (!orig)
                return f->driver && !streq(f->driver, VFIO_DRIVER);
        if (!*orig)
                return !streq_ptr(f->driver, VFIO_DRIVER);
        return streq_ptr(f->driver, orig);
}

/* Puts everything back as the state says it was. Returns the outcome of the whole. */
static HandoffOutcome rollback(Handoff *h, HandoffOutcome failed, const char *why) {
        Gpu *g = h->gpu;
        PciFunction *fs[g->n_functions + 1];
        size_t n;
        bool stuck = failed == HANDOFF_STUCK, lost = false;
        _cleanup_free_ char *reason = strdup(why);

        log_warning("Rolling back: %s", why);
        (void) modules_unblock(modprobe_dir());
        if (h->state.modules)
                (void) modules_load_reverse(h->state.modules);

        order_functions(g, false, fs, &n);
        for (size_t i = 0; i < n; i++) {
                PciFunction *f = fs[i];
                const char *orig = original_driver(h, f);
                if (!pci_function_exists(f)) {
                        log_warning("%s vanished; nothing to put back.", f->address_str);
                        continue;
                }
                int r = function_move(h, f, NULL, orig);
                if (r == -ETIME || r == -EDEADLK)
                        stuck = true;
                else if (r < 0 || (orig && !at_original(f, orig))) {
                        log_error("%s: could not put back %s (now on %s).", f->address_str, orig ?: "a host driver",
                                  f->driver ?: "no driver");
                        lost = true;
                }
        }
        (void) services_start(h->state.services, h->config->bind_timeout);

        if (stuck) {
                /* The write that hung says what to do (wait, or reboot); rollback's
                 * refusal to write to that device again ("an earlier write") does not. */
                if (failed == HANDOFF_STUCK)
                        set_message(h, "%s", strna(reason));
                else if (!strstr(h->message, "not returned"))
                        set_message(h, "%s; a device is stuck, see above.", strna(reason));
                return HANDOFF_STUCK;
        }
        if (lost) {
                set_message(h, "%s; rolling back failed too: see 'vfioctl status'.", strna(reason));
                return HANDOFF_ROLLBACK_FAILED;
        }
        (void) handoff_state_remove(g->address_str);
        set_message(h, "%s; rolled back, every function is on its driver again.", strna(reason));
        return failed == HANDOFF_REFUSED_IN_USE ? HANDOFF_REFUSED_IN_USE : HANDOFF_ROLLED_BACK;
}

static HandoffOutcome fail_reason(Handoff *h, int r, PciFunction *f, const char *step, char *buf, size_t size) {
        if (r == -ETIME || r == -EDEADLK) {
                snprintf(buf, size, "%s", h->message);
                return HANDOFF_STUCK;
        }
        if (r == -EUSERS) {
                snprintf(buf, size, "%s", h->message);  /* the holder that appeared, named */
                return HANDOFF_REFUSED_IN_USE;
        }
        if (r == -ENODEV)
                snprintf(buf, size, "%s vanished during %s", f ? f->address_str : h->gpu->address_str, step);
        else
                snprintf(buf, size, "%s failed during %s: %s", f ? f->address_str : h->gpu->address_str, step,
                         r == -ETIMEDOUT ? "the driver did not change in time" :
                         r == -EXDEV ? "it was bound to another driver than the recorded one" : strerror(-r));
        return HANDOFF_ROLLED_BACK;
}

HandoffOutcome handoff_to_vfio(Handoff *h) {
        const Config *c = h->config;
        Gpu *g = h->gpu;
        PciFunction *fs[g->n_functions + 1];
        size_t n;
        char why[sizeof(h->message)];
        HandoffOutcome o;
        int r;

        (void) gpu_refresh(g);
        if ((o = preflight(h, true)) != _HANDOFF_OUTCOME_MAX)
                return o;
        if (all_on(g, true)) {
                set_message(h, "%s is already on " VFIO_DRIVER ".", g->address_str);
                return HANDOFF_NOTHING_TO_DO;
        }

        if (access(SYSFS_PCI "/drivers/" VFIO_DRIVER, F_OK) < 0 &&
            (module_load("vfio-pci") < 0 || access(SYSFS_PCI "/drivers/" VFIO_DRIVER, F_OK) < 0)) {
                set_message(h, "The vfio-pci driver is not available: install it or build it into the kernel.");
                return HANDOFF_REFUSED_CONFIG;
        }

        log_info("Handing %s to " VFIO_DRIVER ".", g->address_str);
        progress(h, "handing %s to " VFIO_DRIVER, g->address_str);
        r = record_originals(h);
        if (r < 0) {
                set_message(h, "Cannot record the GPU's drivers under %s: %s", runtime_dir(), strerror(-r));
                return HANDOFF_REFUSED_CONFIG;
        }

        /* Added to the record's list: a handoff that finishes one cut short
         * must still start what the first attempt stopped. */
        _cleanup_strv_free_ char **stopped = NULL;
        r = services_stop(c->services, c->unbind_timeout, &stopped);
        STRV_FOREACH(u, stopped)
                if (!strv_contains(h->state.services, *u) && strv_extend(&h->state.services, *u) < 0)
                        r = -ENOMEM;
        (void) handoff_state_save(g->address_str, &h->state);
        if (r < 0)
                return rollback(h, HANDOFF_ROLLED_BACK, "a service holding the GPU did not stop");

        if ((o = refuse_held(h, (1u << NODE_FUNCTION) | (1u << NODE_SHARED), true)) != _HANDOFF_OUTCOME_MAX) {
                _cleanup_free_ char *msg = strdup(h->message);
                (void) services_start(h->state.services, c->bind_timeout);
                (void) handoff_state_remove(g->address_str);
                set_message(h, "%s", strna(msg));
                return o;
        }

        order_functions(g, true, fs, &n);
        for (size_t i = 0; i < n; i++) {
                r = function_move(h, fs[i], VFIO_DRIVER, NULL);
                if (r < 0)
                        return rollback(h, fail_reason(h, r, fs[i], "the move to " VFIO_DRIVER, why, sizeof(why)), why);
        }

        _cleanup_strv_free_ char **unloaded = NULL;
        r = modules_unload(c->host_modules, &unloaded);
        STRV_FOREACH(m, unloaded)
                (void) strv_extend(&h->state.modules, *m);
        (void) handoff_state_save(g->address_str, &h->state);
        if (r < 0)
                return rollback(h, fail_reason(h, r, NULL, "unloading the host driver's modules", why, sizeof(why)), why);

        if (c->block_host_modules && c->host_modules && (r = modules_block(modprobe_dir(), c->host_modules)) < 0)
                return rollback(h, fail_reason(h, r, NULL, "blocking the host driver's modules", why, sizeof(why)), why);

        char vfio_node[64];
        snprintf(vfio_node, sizeof(vfio_node), "/dev/vfio/%d", g->iommu_group);
        /* The group's character device comes with vfio-pci's probe (devtmpfs
         * makes the node then; udev, where /dev is no devtmpfs, a little later). */
        r = wait_for_path(vfio_node, c->bind_timeout);
        if (r < 0)
                log_warning_errno(r, "%s did not appear although the group is on " VFIO_DRIVER ": %m", vfio_node);

        set_message(h, "%s: every function is on " VFIO_DRIVER "; %s is ready for the VM.", g->address_str, vfio_node);
        return HANDOFF_DONE;
}

/* A give-back that failed half way: put what it took off vfio-pci back on
 * it, so that no function is left without a driver. Only those: a function
 * that was on a host driver or on none before the give-back is not vfiod's
 * to move. One that a host driver has now is scanned first, and stays where
 * it is when anything uses it. */
static HandoffOutcome back_to_vfio(Handoff *h, PciFunction **moved, const bool *was_vfio, size_t n, const char *why) {
        bool ok = true;
        log_warning("Giving back failed (%s); returning what moved to " VFIO_DRIVER ".", why);
        for (size_t i = n; i > 0; i--) {
                PciFunction *f = moved[i - 1];
                if (!was_vfio[i - 1] || !pci_function_exists(f) || pci_function_refresh(f) < 0 ||
                    streq_ptr(f->driver, VFIO_DRIVER))
                        continue;
                if (f->driver && holders_recheck(h, f) < 0) {
                        log_warning("%s stays on %s: %s", f->address_str, f->driver, h->message);
                        ok = false;
                        continue;
                }
                if (function_move(h, f, VFIO_DRIVER, NULL) < 0)
                        ok = false;
        }
        if (h->config->block_host_modules && h->config->host_modules)
                (void) modules_block(modprobe_dir(), h->config->host_modules);
        set_message(h, "%s; %s", why, ok ? "the GPU stays on " VFIO_DRIVER "." : "and putting it back failed too: see 'vfioctl status'.");
        return ok ? HANDOFF_ROLLED_BACK : HANDOFF_ROLLBACK_FAILED;
}

HandoffOutcome handoff_to_host(Handoff *h) {
        const Config *c = h->config;
        Gpu *g = h->gpu;
        PciFunction *fs[g->n_functions + 1];
        size_t n;
        char why[sizeof(h->message)];
        HandoffOutcome o;
        int r;

        (void) gpu_refresh(g);
        if ((o = preflight(h, false)) != _HANDOFF_OUTCOME_MAX)
                return o;
        /* On the host, unless a handoff to vfio-pci was cut short (its record
         * is there: services it stopped, overrides it wrote): finish undoing it. */
        if (all_on(g, false) && !handoff_state_exists(g->address_str)) {
                set_message(h, "%s is already on its host drivers.", g->address_str);
                return HANDOFF_NOTHING_TO_DO;
        }

        /* Only the VM's own QEMU may hold /dev/vfio/N or a function's vfio cdev:
         * never take the GPU from under a VM, and never signal it. */
        if ((o = refuse_held(h, 1u << NODE_VFIO, false)) != _HANDOFF_OUTCOME_MAX)
                return o;

        r = handoff_state_load(g->address_str, &h->state);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Cannot read the recorded drivers, letting the kernel choose: %m");
        bool own_record = r == -ENOENT;
        if (own_record && (r = record_give_back(h)) < 0)
                log_warning_errno(r, "Cannot record the give-back under %s: %m", runtime_dir());

        log_info("Giving %s back to the host.", g->address_str);
        progress(h, "giving %s back to the host", g->address_str);
        (void) modules_unblock(modprobe_dir());
        char **mods = h->state.modules ?: c->host_modules;
        if (mods && (r = modules_load_reverse(mods)) < 0) {
                snprintf(why, sizeof(why), "the host driver's modules did not load: %s", strerror(-r));
                if (own_record)
                        (void) handoff_state_remove(g->address_str);
                return back_to_vfio(h, NULL, NULL, 0, why);
        }

        order_functions(g, false, fs, &n);
        bool was_vfio[n + 1];
        for (size_t i = 0; i < n; i++)
                was_vfio[i] = streq_ptr(fs[i]->driver, VFIO_DRIVER);
        for (size_t i = 0; i < n; i++) {
                const char *orig = original_driver(h, fs[i]);
                /* Driverless with no override and not in the record: not vfiod's doing. */
                if (!fs[i]->driver && !fs[i]->driver_override && !handoff_state_driver(&h->state, fs[i]->address_str))
                        continue;
                r = function_move(h, fs[i], NULL, orig);
                if (r >= 0 && orig && !at_original(fs[i], orig))
                        r = -EXDEV;
                if (r < 0) {
                        o = fail_reason(h, r, fs[i], "the give-back", why, sizeof(why));
                        if (o == HANDOFF_STUCK)
                                return o;
                        HandoffOutcome b = back_to_vfio(h, fs, was_vfio, i + 1, why);
                        /* All where it was: the record this give-back made says nothing more. */
                        if (b == HANDOFF_ROLLED_BACK && own_record)
                                (void) handoff_state_remove(g->address_str);
                        /* The VM's process opened the group meanwhile: nothing was taken from it. */
                        return b == HANDOFF_ROLLED_BACK && o == HANDOFF_REFUSED_IN_USE ? o : b;
                }
        }

        (void) services_start(h->state.services, c->bind_timeout);
        (void) handoff_state_remove(g->address_str);

        set_message(h, "%s: every function is back on its host driver.", g->address_str);
        return HANDOFF_DONE;
}
