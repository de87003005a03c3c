/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-auth.h"
#include "config.h"
#include "domain-watch.h"
#include "gpu.h"
#include "holder-scan.h"
#include "holders.h"
#include "log.h"
#include "strv.h"

#ifndef VERSION
#define VERSION "0"
#endif

#define ERROR_PREFIX "org.vfiod1.Error."

struct BusApi {
        sd_bus *bus;
        Daemon *daemon;
        char *gpu_path;
        void *in_flight;  /* the Pending of the request the daemon runs */
        HolderScan *scan; /* Holders and GetHolders(), off the loop */
};

/* Any number of clients asking cost at most two scans of /proc a second. */
#define HOLDERS_INTERVAL_USEC (500 * USEC_PER_MSEC)
/* The property is the last scan's; a read of an older one starts a scan. */
#define HOLDERS_MAX_AGE_USEC (1 * USEC_PER_SEC)
/* A scan that takes longer is stuck on a process the kernel holds. */
#define HOLDERS_SCAN_DEADLINE_USEC (10 * USEC_PER_SEC)

/* A method call waiting for its request to complete. */
typedef struct Pending {
        BusApi *api;
        sd_bus_message *call;
} Pending;

static const char *const result_errors[_REQUEST_RESULT_MAX] = {
        [REQUEST_REFUSED] = ERROR_PREFIX "Refused",
        [REQUEST_IN_USE] = ERROR_PREFIX "InUse",
        [REQUEST_ROLLED_BACK] = ERROR_PREFIX "RolledBack",
        [REQUEST_STUCK] = ERROR_PREFIX "Stuck",
        [REQUEST_ROLLBACK_FAILED] = ERROR_PREFIX "RollbackFailed",
        [REQUEST_BUSY] = ERROR_PREFIX "Busy",
        [REQUEST_VM_RUNNING] = ERROR_PREFIX "VmRunning",
        [REQUEST_NO_VM] = ERROR_PREFIX "NoVm",
        [REQUEST_LIBVIRT] = ERROR_PREFIX "Libvirt",
};

static char *vm_path(BusApi *a) {
        const Config *c = daemon_config(a->daemon);
        char *p = NULL;
        if (c->domain && sd_bus_path_encode(BUS_PATH "/vm", c->domain, &p) < 0)
                return NULL;
        return p;
}

/* ---- Manager ---- */

static int prop_version(sd_bus *bus _unused_, const char *path _unused_, const char *iface _unused_,
                        const char *prop _unused_, sd_bus_message *reply, void *userdata _unused_,
                        sd_bus_error *e _unused_) {
        return sd_bus_message_append(reply, "s", VERSION);
}

static int prop_status(sd_bus *bus _unused_, const char *path _unused_, const char *iface _unused_,
                       const char *prop _unused_, sd_bus_message *reply, void *userdata, sd_bus_error *e _unused_) {
        BusApi *a = userdata;
        return sd_bus_message_append(reply, "s", daemon_status(a->daemon));
}

static int prop_gpus(sd_bus *bus _unused_, const char *path _unused_, const char *iface _unused_,
                     const char *prop _unused_, sd_bus_message *reply, void *userdata, sd_bus_error *e _unused_) {
        BusApi *a = userdata;
        return sd_bus_message_append(reply, "ao", 1, a->gpu_path);
}

static int prop_vms(sd_bus *bus _unused_, const char *path _unused_, const char *iface _unused_,
                    const char *prop _unused_, sd_bus_message *reply, void *userdata, sd_bus_error *e _unused_) {
        BusApi *a = userdata;
        _cleanup_free_ char *p = vm_path(a);
        return p ? sd_bus_message_append(reply, "ao", 1, p) : sd_bus_message_append(reply, "ao", 0);
}

static int run_reload(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        BusApi *a = userdata;
        _cleanup_free_ char *why = NULL;
        if (daemon_reload(a->daemon, &why) < 0)
                return sd_bus_error_setf(e, ERROR_PREFIX "Refused", "The configuration was kept: %s",
                                         why ?: "it is not valid");
        return sd_bus_reply_method_return(m, NULL);
}

static int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        BusApi *a = userdata;
        return bus_authorize(m, "org.vfiod1.reload", daemon_access_gid(a->daemon), run_reload, a, e);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", prop_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Status", "s", prop_status, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Gpus", "ao", prop_gpus, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Vms", "ao", prop_vms, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Reload", "", "", method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* ---- requests: the reply comes when the daemon is done ---- */

static void on_request_done(Daemon *d _unused_, RequestResult result, const char *message, void *userdata) {
        Pending *p = userdata;
        if (p->api->in_flight == p)
                p->api->in_flight = NULL;
        if (result == REQUEST_OK)
                (void) sd_bus_reply_method_return(p->call, "s", message);
        else {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                (void) sd_bus_error_set(&e, result_errors[result] ?: SD_BUS_ERROR_FAILED, message);
                (void) sd_bus_reply_method_error(p->call, &e);
        }
        sd_bus_message_unref(p->call);
        free(p);
}

static int request(BusApi *a, sd_bus_message *m, RequestKind kind, bool drain, uint64_t timeout) {
        Pending *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->api = a;
        p->call = sd_bus_message_ref(m);
        /* Set before: the daemon may answer at once (refused, busy), which
         * frees p and clears in_flight; then the earlier one (if any) still runs. */
        void *previous = a->in_flight;
        a->in_flight = p;
        int r = daemon_request(a->daemon, kind, drain, timeout, on_request_done, p);
        if (r < 0) {
                a->in_flight = previous;
                sd_bus_message_unref(p->call);
                free(p);
                return r;
        }
        if (!a->in_flight)
                a->in_flight = previous;
        return 1;
}

static int run_to_vfio(sd_bus_message *m, void *userdata, sd_bus_error *e _unused_) {
        int drain = 0, r = sd_bus_message_read(m, "b", &drain);
        return r < 0 ? r : request(userdata, m, REQUEST_TO_VFIO, drain, 0);
}

static int run_to_host(sd_bus_message *m, void *userdata, sd_bus_error *e _unused_) {
        int drain = 0, r = sd_bus_message_read(m, "b", &drain);
        return r < 0 ? r : request(userdata, m, REQUEST_TO_HOST, drain, 0);
}

static int run_force_host(sd_bus_message *m, void *userdata, sd_bus_error *e _unused_) {
        return request(userdata, m, REQUEST_FORCE_HOST, false, 0);
}

static int run_vm_start(sd_bus_message *m, void *userdata, sd_bus_error *e _unused_) {
        int drain = 0, r = sd_bus_message_read(m, "b", &drain);
        return r < 0 ? r : request(userdata, m, REQUEST_VM_START, drain, 0);
}

static int run_vm_prepare(sd_bus_message *m, void *userdata, sd_bus_error *e _unused_) {
        int drain = 0, r = sd_bus_message_read(m, "b", &drain);
        return r < 0 ? r : request(userdata, m, REQUEST_VM_PREPARE, drain, 0);
}

static int run_vm_stop(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        uint64_t timeout = 0;
        int r = sd_bus_message_read(m, "t", &timeout);
        if (r < 0)
                return r;
        if (timeout > 24ULL * 3600 * 1000000)
                return sd_bus_error_setf(e, SD_BUS_ERROR_INVALID_ARGS, "Timeout %" PRIu64 " µs is longer than a day.",
                                         timeout);
        return request(userdata, m, REQUEST_VM_STOP, false, timeout);
}

#define AUTHORIZED(name, action, run)                                                                   \
        static int name(sd_bus_message *m, void *userdata, sd_bus_error *e) {                           \
                BusApi *a = userdata;                                                                   \
                return bus_authorize(m, action, daemon_access_gid(a->daemon), run, a, e);               \
        }
/* A drain signals other users' processes: its own action, for admins only;
 * [Access] Group= does not grant it. */
#define AUTHORIZED_DRAIN(name, action, run)                                                             \
        static int name(sd_bus_message *m, void *userdata, sd_bus_error *e) {                           \
                BusApi *a = userdata;                                                                   \
                int drain = 0, r = sd_bus_message_read(m, "b", &drain);                                 \
                if (r < 0 || (r = sd_bus_message_rewind(m, true)) < 0)                                  \
                        return r;                                                                       \
                if (drain)                                                                              \
                        return bus_authorize(m, "org.vfiod1.drain", (gid_t) -1, run, a, e);             \
                return bus_authorize(m, action, daemon_access_gid(a->daemon), run, a, e);               \
        }
AUTHORIZED_DRAIN(method_to_vfio, "org.vfiod1.handoff", run_to_vfio)
AUTHORIZED_DRAIN(method_to_host, "org.vfiod1.handoff", run_to_host)
AUTHORIZED(method_force_host, "org.vfiod1.handoff", run_force_host)
AUTHORIZED_DRAIN(method_vm_start, "org.vfiod1.vm", run_vm_start)
AUTHORIZED(method_vm_stop, "org.vfiod1.vm", run_vm_stop)
AUTHORIZED_DRAIN(method_vm_prepare, "org.vfiod1.handoff", run_vm_prepare)

/* ---- Gpu ---- */

static const char *owner_string(BusApi *a) {
        GpuOwner o = daemon_owner(a->daemon);
        DomainWatch *w = daemon_domain(a->daemon);
        if (o == OWNER_VFIO && w && domain_watch_state(w) == DOMAIN_ACTIVE)
                return daemon_config(a->daemon)->domain;
        return gpu_owner_to_string(o);
}

/* pid, user, command, node, how (fd, mapping, kernel), fix (the kernel's: what releases it). */
#define HOLDER_SIGNATURE "(usssss)"

static int append_holders(sd_bus_message *reply, const HolderList *l) {
        int r = sd_bus_message_open_container(reply, 'a', HOLDER_SIGNATURE);
        for (size_t i = 0; r >= 0 && i < l->n; i++) {
                const Holder *h = &l->items[i];
                r = sd_bus_message_append(reply, HOLDER_SIGNATURE, (uint32_t) h->pid, h->user, h->comm, h->node,
                                          hold_how_to_string(h->how), strempty(h->fix));
        }
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int gpu_property(sd_bus *bus _unused_, const char *path _unused_, const char *iface _unused_,
                        const char *prop, sd_bus_message *reply, void *userdata, sd_bus_error *e _unused_) {
        BusApi *a = userdata;
        Gpu *g = daemon_gpu(a->daemon);
        int r;

        if (streq(prop, "Address"))
                return sd_bus_message_append(reply, "s", g->address_str);
        if (streq(prop, "Owner"))
                return sd_bus_message_append(reply, "s", owner_string(a));
        if (streq(prop, "Status"))
                return sd_bus_message_append(reply, "s", daemon_status(a->daemon));
        if (streq(prop, "IommuGroup"))
                return sd_bus_message_append(reply, "i", g->iommu_group);
        if (streq(prop, "LastError"))
                return sd_bus_message_append(reply, "s", daemon_last_error(a->daemon));
        if (streq(prop, "Vm")) {
                _cleanup_free_ char *p = vm_path(a);
                return sd_bus_message_append(reply, "o", p ?: "/");
        }
        if (streq(prop, "Functions")) {
                /* The loop never reads driver_override: a handoff's write may be in flight. */
                (void) gpu_refresh_drivers(g);
                if ((r = sd_bus_message_open_container(reply, 'a', "(sssss)")) < 0)
                        return r;
                for (size_t i = 0; i < g->n_functions; i++) {
                        const PciFunction *f = &g->functions[i];
                        char class[8], ids[16];
                        snprintf(class, sizeof(class), "%04x", f->class >> 8);
                        snprintf(ids, sizeof(ids), "%04x:%04x", f->vendor, f->device);
                        if ((r = sd_bus_message_append(reply, "(sssss)", f->address_str, function_role_to_string(f->role),
                                                       class, ids, strempty(f->driver))) < 0)
                                return r;
                }
                return sd_bus_message_close_container(reply);
        }
        /* Holders: the last scan's; a read of an older one starts a new scan,
         * whose result, if it differs, is announced (invalidation). */
        if (!holder_scan_cached(a->scan, HOLDERS_MAX_AGE_USEC))
                (void) holder_scan_request(a->scan, g, NULL, NULL);
        return append_holders(reply, holder_scan_last(a->scan));
}

static void on_holders(int error, const HolderList *l, void *userdata) {
        sd_bus_message *call = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = error;

        if (r >= 0 && (r = sd_bus_message_new_method_return(call, &reply)) >= 0 && (r = append_holders(reply, l)) >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                (void) sd_bus_error_setf(&e, error == -ETIMEDOUT ? SD_BUS_ERROR_TIMEOUT : SD_BUS_ERROR_FAILED,
                                         "Cannot tell who uses the GPU: %s",
                                         error == -ETIMEDOUT ? "the scan of /proc did not finish (a process stuck in the kernel?)"
                                                             : strerror(-r));
                (void) sd_bus_reply_method_error(call, &e);
        }
        sd_bus_message_unref(call);
}

static int method_get_holders(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        BusApi *a = userdata;
        sd_bus_message_ref(m);
        int r = holder_scan_request(a->scan, daemon_gpu(a->daemon), on_holders, m);
        if (r < 0) {
                sd_bus_message_unref(m);
                return sd_bus_error_setf(e, r == -ETIMEDOUT ? SD_BUS_ERROR_TIMEOUT : SD_BUS_ERROR_FAILED,
                                         "Cannot tell who uses the GPU: %s",
                                         r == -ETIMEDOUT ? "an earlier scan of /proc is stuck" : strerror(-r));
        }
        return 1;
}

static void on_holders_changed(void *userdata) {
        BusApi *a = userdata;
        (void) sd_bus_emit_properties_changed(a->bus, a->gpu_path, "org.vfiod1.Gpu", "Holders", NULL);
}

static const sd_bus_vtable gpu_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Address", "s", gpu_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "s", gpu_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Status", "s", gpu_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("IommuGroup", "i", gpu_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Functions", "a(sssss)", gpu_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Holders", "a" HOLDER_SIGNATURE, gpu_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("LastError", "s", gpu_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Vm", "o", gpu_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_NAMES("ToVfio", "b", SD_BUS_PARAM(drain), "s", SD_BUS_PARAM(message), method_to_vfio,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ToHost", "b", SD_BUS_PARAM(drain), "s", SD_BUS_PARAM(message), method_to_host,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ForceHost", "", "s", method_force_host, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetHolders", "", /* no arguments */, "a" HOLDER_SIGNATURE, SD_BUS_PARAM(holders),
                                 method_get_holders, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_NAMES("Progress", "s", SD_BUS_PARAM(step), 0),
        SD_BUS_VTABLE_END
};

/* ---- Vm: one object, for the configured domain (it may change on reload) ---- */

static int vm_find(sd_bus *bus _unused_, const char *path, const char *iface _unused_, void *userdata, void **found,
                   sd_bus_error *e _unused_) {
        BusApi *a = userdata;
        _cleanup_free_ char *p = vm_path(a);
        if (!p || !streq(p, path))
                return 0;
        *found = a;
        return 1;
}

static int vm_enumerate(sd_bus *bus _unused_, const char *prefix _unused_, void *userdata, char ***nodes,
                        sd_bus_error *e _unused_) {
        BusApi *a = userdata;
        char *p = vm_path(a);
        char **l = NULL;
        if (p && strv_extend(&l, p) < 0) {
                free(p);
                return -ENOMEM;
        }
        free(p);
        *nodes = l;
        return 0;
}

static int vm_property(sd_bus *bus _unused_, const char *path _unused_, const char *iface _unused_,
                       const char *prop, sd_bus_message *reply, void *userdata, sd_bus_error *e _unused_) {
        BusApi *a = userdata;
        const Config *c = daemon_config(a->daemon);
        DomainWatch *w = daemon_domain(a->daemon);

        if (streq(prop, "Name"))
                return sd_bus_message_append(reply, "s", strempty(c->domain));
        if (streq(prop, "Uri"))
                return sd_bus_message_append(reply, "s", c->uri ?: "qemu:///system");
        if (streq(prop, "Gpu"))
                return sd_bus_message_append(reply, "o", a->gpu_path);
        if (streq(prop, "LastStop"))
                return sd_bus_message_append(reply, "s", daemon_vm_last_stop(a->daemon));
        DomainState s = w ? domain_watch_state(w) : DOMAIN_UNKNOWN;
        return sd_bus_message_append(reply, "s", s == DOMAIN_ACTIVE ? "running" : s == DOMAIN_INACTIVE ? "shut off" : "unknown");
}

static const sd_bus_vtable vm_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", vm_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Uri", "s", vm_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", vm_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Gpu", "o", vm_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LastStop", "s", vm_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_NAMES("Start", "b", SD_BUS_PARAM(drain), "s", SD_BUS_PARAM(message), method_vm_start,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Stop", "t", SD_BUS_PARAM(timeout_usec), "s", SD_BUS_PARAM(message), method_vm_stop,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Prepare", "b", SD_BUS_PARAM(drain), "s", SD_BUS_PARAM(message), method_vm_prepare,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* ---- signals ---- */

static void on_changed(Daemon *d _unused_, unsigned what, void *userdata) {
        BusApi *a = userdata;
        (void) sd_bus_emit_properties_changed(a->bus, BUS_PATH, "org.vfiod1.Manager", "Status", NULL);
        (void) sd_bus_emit_properties_changed(a->bus, a->gpu_path, "org.vfiod1.Gpu", "Owner", "Status", "Functions",
                                              "Holders", "LastError", NULL);
        if (what & DAEMON_CHANGED_VM) {
                _cleanup_free_ char *p = vm_path(a);
                if (p)
                        (void) sd_bus_emit_properties_changed(a->bus, p, "org.vfiod1.Vm", "Name", "Uri", "State", "LastStop", NULL);
                (void) sd_bus_emit_properties_changed(a->bus, BUS_PATH, "org.vfiod1.Manager", "Vms", NULL);
                (void) sd_bus_emit_properties_changed(a->bus, a->gpu_path, "org.vfiod1.Gpu", "Vm", NULL);
        }
}

static void on_progress(Daemon *d _unused_, const char *step, void *userdata) {
        BusApi *a = userdata;
        (void) sd_bus_emit_signal(a->bus, a->gpu_path, "org.vfiod1.Gpu", "Progress", "s", step);
}

int bus_api_new(sd_event *event, Daemon *d, BusApi **ret) {
        _cleanup_(bus_api_freep) BusApi *a = calloc(1, sizeof(BusApi));
        int r;

        if (!a)
                return log_oom();
        a->daemon = d;
        /* As libvirt names node devices: pci_0000_01_00_0. */
        if (asprintf(&a->gpu_path, BUS_PATH "/gpu/pci_%s", daemon_gpu(d)->address_str) < 0)
                return log_oom();
        for (char *c = a->gpu_path + strlen(BUS_PATH "/gpu/pci_"); *c; c++)
                if (*c == ':' || *c == '.')
                        *c = '_';

        if ((r = holder_scan_new(event, HOLDERS_SCAN_DEADLINE_USEC, HOLDERS_INTERVAL_USEC, &a->scan)) < 0)
                return log_oom();
        holder_scan_set_changed(a->scan, on_holders_changed, a);

        r = sd_bus_open_system(&a->bus);
        if (r < 0) {
                log_warning_errno(r, "No D-Bus system bus (%m): running without the API; recovery still works.");
                *ret = NULL;
                return 0;
        }
        (void) sd_bus_set_description(a->bus, "vfiod-api");

        if ((r = sd_bus_add_object_vtable(a->bus, NULL, BUS_PATH, "org.vfiod1.Manager", manager_vtable, a)) < 0 ||
            (r = sd_bus_add_object_vtable(a->bus, NULL, a->gpu_path, "org.vfiod1.Gpu", gpu_vtable, a)) < 0 ||
            (r = sd_bus_add_fallback_vtable(a->bus, NULL, BUS_PATH "/vm", "org.vfiod1.Vm", vm_vtable, vm_find, a)) < 0 ||
            (r = sd_bus_add_node_enumerator(a->bus, NULL, BUS_PATH "/vm", vm_enumerate, a)) < 0 ||
            (r = sd_bus_add_object_manager(a->bus, NULL, BUS_PATH)) < 0)
                return log_error_errno(r, "Failed to register the D-Bus objects: %m");

        if ((r = sd_bus_attach_event(a->bus, event, SD_EVENT_PRIORITY_NORMAL)) < 0)
                return log_error_errno(r, "Failed to attach the bus to the loop: %m");
        /* Synchronous: a second vfiod must fail here, not run beside the first. */
        r = sd_bus_request_name(a->bus, BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to own %s on the system bus (another vfiod running?): %m", BUS_NAME);

        daemon_set_handlers(d, on_changed, on_progress, a);
        *ret = TAKE_PTR(a);
        return 0;
}

BusApi *bus_api_free(BusApi *a) {
        if (!a)
                return NULL;
        if (a->daemon) {
                daemon_set_handlers(a->daemon, NULL, NULL, NULL);
                if (a->in_flight)
                        daemon_request_forget(a->daemon, a->in_flight);
        }
        Pending *p = a->in_flight;
        if (p) {
                sd_bus_message_unref(p->call);
                free(p);
        }
        /* Its waiters are answered (an error) while the bus is still there. */
        holder_scan_free(a->scan);
        sd_bus_flush_close_unref(a->bus);
        free(a->gpu_path);
        free(a);
        return NULL;
}
