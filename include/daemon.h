/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Config Config;
typedef struct Gpu Gpu;
typedef struct DomainWatch DomainWatch;

/* vfiod's agent: one sd-event loop, woken by PCI uevents, libvirt domain
 * events, inotify and signals; reconcile() compares who should own the
 * GPU with who does and acts through a handoff worker process. */
typedef struct Daemon Daemon;

typedef enum GpuOwner {
        OWNER_HOST,
        OWNER_VFIO,            /* on vfio-pci: the VM's, or on its way back */
        OWNER_TRANSITIONING,   /* a handoff worker runs */
        OWNER_STUCK,
        OWNER_INCOMPLETE,      /* mixed drivers or a function without one */
} GpuOwner;

/* Blocks the signals the daemon takes through sd-event's signalfd
 * (SIGTERM, SIGINT, SIGHUP): call before any thread starts. */
void daemon_block_signals(void);

int daemon_new(sd_event *event, const char *config_path, Daemon **ret);
Daemon *daemon_free(Daemon *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Daemon *, daemon_free);

/* The one human line also sent as sd_notify STATUS=. */
const char *daemon_status(Daemon *d);
GpuOwner daemon_owner(Daemon *d);
/* Number of give-backs vfiod did on its own (tests, status). */
unsigned daemon_recoveries(Daemon *d);

/* What a client (D-Bus) asks for. One at a time: it completes through its
 * callback, once, with REQUEST_OK or the reason it did not happen. */
typedef enum RequestKind {
        REQUEST_TO_VFIO,
        REQUEST_TO_HOST,
        REQUEST_FORCE_HOST,   /* to the host now: no orphan grace, no failure back-off */
        REQUEST_VM_START,     /* hand over, then start the domain */
        REQUEST_VM_STOP,      /* ACPI shutdown, destroy after the timeout, then give back */
        REQUEST_VM_PREPARE,   /* libvirt's prepare hook: hand over, keep it for the domain while it starts */
        _REQUEST_KIND_MAX,
} RequestKind;

typedef enum RequestResult {
        REQUEST_OK,
        REQUEST_REFUSED,         /* configuration or IOMMU group */
        REQUEST_IN_USE,          /* a process holds the GPU */
        REQUEST_ROLLED_BACK,
        REQUEST_STUCK,
        REQUEST_ROLLBACK_FAILED,
        REQUEST_BUSY,            /* another request or handoff runs */
        REQUEST_VM_RUNNING,
        REQUEST_NO_VM,
        REQUEST_LIBVIRT,
        _REQUEST_RESULT_MAX,
} RequestResult;

typedef void (*request_done_t)(Daemon *d, RequestResult result, const char *message, void *userdata);

/* Returns 0 when started (done is called later, possibly before this
 * returns), or a negative errno with nothing started and done not called. */
int daemon_request(Daemon *d, RequestKind kind, bool drain, uint64_t timeout_usec, request_done_t done,
                   void *userdata);
/* The callback of the request in flight will not be called (its client went away). */
void daemon_request_forget(Daemon *d, void *userdata);
/* Reload the configuration now (as SIGHUP); ret_error: why it was kept out. */
int daemon_reload(Daemon *d, char **ret_error);

Gpu *daemon_gpu(Daemon *d);
const Config *daemon_config(Daemon *d);
/* [Access] Group='s gid, looked up once per configuration loaded; (gid_t) -1: none or unknown. */
gid_t daemon_access_gid(Daemon *d);
DomainWatch *daemon_domain(Daemon *d);
const char *daemon_last_error(Daemon *d);
/* How the domain last stopped, as libvirt said: "stopped (shutdown)", "stopped (failed)"; "" none yet. */
const char *daemon_vm_last_stop(Daemon *d);
const char *gpu_owner_to_string(GpuOwner o);
const char *request_result_to_string(RequestResult r);

/* What changed, for the D-Bus objects to emit PropertiesChanged. */
enum {
        DAEMON_CHANGED_GPU = 1 << 0,
        DAEMON_CHANGED_VM = 1 << 1,
};
typedef void (*daemon_changed_t)(Daemon *d, unsigned what, void *userdata);
typedef void (*daemon_progress_t)(Daemon *d, const char *step, void *userdata);
void daemon_set_handlers(Daemon *d, daemon_changed_t changed, daemon_progress_t progress, void *userdata);
