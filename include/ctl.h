/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* vfioctl's commands that ask vfiod over D-Bus (docs/interfaces.md). */

/* Exit codes, documented in vfioctl --help and vfioctl(1). */
enum {
        EXIT_DONE = 0,
        EXIT_FAILURE_OTHER = 1,
        EXIT_USAGE = 2,
        EXIT_REFUSED_CONFIG = 3,
        EXIT_REFUSED_IN_USE = 4,
        EXIT_ROLLED_BACK = 5,
        EXIT_STUCK = 6,
        EXIT_ROLLBACK_FAILED = 7,
        EXIT_NOT_RUNNING = 8,
        EXIT_DENIED = 9,
};

typedef struct CtlOptions {
        bool drain;
        bool json;
        bool follow;
        bool waybar;
        bool quiet;
        uint64_t timeout_usec;     /* stop: 0 = ShutdownTimeoutSec= */
        const char *config;
} CtlOptions;

/* --vm=NAME: the domain the command is for; vfiod serves the one of its
 * configuration, and a command for another is refused. NULL: that one. */
extern const char *ctl_vm_name;

/* Connects to the system bus and checks that vfiod is there: one clear
 * message and EXIT_NOT_RUNNING when it is not. Returns an exit code. */
int ctl_connect(sd_bus **ret);
/* The Gpu / Vm object paths from the Manager. ret NULL-able for Vm: none configured. */
int ctl_paths(sd_bus *bus, char **ret_gpu, char **ret_vm);
/* Calls a method that runs a request, printing Progress signals as they
 * come; prints the reply's message (unless quiet). Returns an exit code. */
int ctl_request(sd_bus *bus, const char *path, const char *interface, const char *method, bool quiet,
                const char *types, ...);
int ctl_exit_of_error(const sd_bus_error *e);

int ctl_status(sd_bus *bus, const CtlOptions *o);
int ctl_health(sd_bus *bus, const CtlOptions *o);
/* windows-vm.service's main process: start, READY=1, wait for the end. */
int ctl_run_vm(sd_bus *bus, const CtlOptions *o);
/* The libvirt qemu hook: argv = DOMAIN OPERATION SUB-OPERATION [EXTRA]. */
int ctl_hook(int argc, char *argv[]);
