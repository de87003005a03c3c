/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* windows-vm.service's main process and the libvirt qemu hook. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

#include "bus-api.h"
#include "config.h"
#include "ctl.h"
#include "log.h"

static int vm_state(sd_bus *bus, const char *vm, char **state, char **last_stop) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_get_property_string(bus, BUS_NAME, vm, "org.vfiod1.Vm", "State", &e, state);
        if (r >= 0 && last_stop)
                r = sd_bus_get_property_string(bus, BUS_NAME, vm, "org.vfiod1.Vm", "LastStop", &e, last_stop);
        return r;
}

/* A stop the user or the guest asked for ends the service well; QEMU dying
 * (SIGKILL, crash) fails it, so that systemctl status and Restart= see it. */
static bool clean_stop(const char *last_stop) {
        return strstr(last_stop, "(shutdown)") || strstr(last_stop, "(destroyed)") || strstr(last_stop, "(saved)") ||
               strstr(last_stop, "(migrated)");
}

int ctl_run_vm(sd_bus *bus, const CtlOptions *o) {
        _cleanup_free_ char *gpu = NULL, *vm = NULL, *name = NULL;
        _cleanup_close_ int sfd = -1;
        sigset_t ss;
        int r;

        if ((r = ctl_paths(bus, &gpu, &vm)) != EXIT_DONE)
                return r;
        if (!vm) {
                log_error("No VM is configured: set Domain= in [VM] of /etc/vfiod/vfiod.conf.");
                return EXIT_REFUSED_CONFIG;
        }
        (void) sd_bus_get_property_string(bus, BUS_NAME, vm, "org.vfiod1.Vm", "Name", NULL, &name);

        /* SIGTERM (systemctl stop) asks for a graceful stop, not our death. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return log_error_errno(errno, "Failed to watch signals: %m"), EXIT_FAILURE_OTHER;

        /* Subscribed before the start: a domain that dies at once is seen. */
        if (sd_bus_match_signal(bus, NULL, BUS_NAME, vm, "org.freedesktop.DBus.Properties", "PropertiesChanged", NULL,
                                NULL) < 0)
                return log_error("Cannot follow the VM's state."), EXIT_FAILURE_OTHER;

        (void) sd_notifyf(false, "STATUS=Starting %s", strna(name));
        r = ctl_request(bus, vm, "org.vfiod1.Vm", "Start", o->quiet, "b", o->drain);
        if (r != EXIT_DONE)
                return r;
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s runs with the GPU", strna(name));

        for (;;) {
                _cleanup_free_ char *state = NULL, *last_stop = NULL;
                struct signalfd_siginfo si;

                while ((r = sd_bus_process(bus, NULL)) > 0)
                        ;
                if (r < 0)
                        return log_error_errno(r, "Lost the system bus: %m"), EXIT_FAILURE_OTHER;
                bool known = vm_state(bus, vm, &state, &last_stop) >= 0;
                /* The Get calls above read whatever came with their replies into
                 * sd-bus's queue, a PropertiesChanged included: the socket is then
                 * drained and poll() would not wake for it. Look again first. */
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return log_error_errno(r, "Lost the system bus: %m"), EXIT_FAILURE_OTHER;
                if (known && !streq(state, "running") && !streq(state, "unknown")) {
                        if (clean_stop(last_stop)) {
                                log_info("%s %s.", strna(name), last_stop);
                                return EXIT_DONE;
                        }
                        log_error("%s %s: the VM did not shut down by itself.", strna(name), last_stop);
                        return EXIT_FAILURE_OTHER;
                }
                if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting the VM down");
                        r = ctl_request(bus, vm, "org.vfiod1.Vm", "Stop", o->quiet, "t", o->timeout_usec);
                        return r;
                }
                if (r > 0)
                        continue;
                struct pollfd p[2] = { { .fd = sd_bus_get_fd(bus), .events = (short) sd_bus_get_events(bus) },
                                       { .fd = sfd, .events = POLLIN } };
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        return log_error_errno(errno, "poll: %m"), EXIT_FAILURE_OTHER;
        }
}

/* libvirt runs /etc/libvirt/hooks/qemu.d/vfiod DOMAIN OPERATION SUB-OPERATION
 * EXTRA with the domain's XML on stdin. prepare/begin comes before QEMU
 * starts: a failure (exit non-zero, reason on stderr) stops the start.
 * It never calls libvirt back: libvirtd waits for it. */
int ctl_hook(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_free_ char *gpu = NULL, *vm = NULL;
        sd_bus *bus = NULL;
        int r;

        if (argc < 4) {
                log_error("Usage: vfioctl hook DOMAIN OPERATION SUB-OPERATION [EXTRA] (as libvirt's qemu hook).");
                return EXIT_USAGE;
        }
        const char *domain = argv[1], *op = argv[2], *sub = argv[3];
        bool prepare = streq(op, "prepare") && streq(sub, "begin");
        bool release = streq(op, "release") && streq(sub, "end");
        if (!prepare && !release)
                return EXIT_DONE;
        if (config_load(secure_getenv("VFIOD_CONFIG") ?: VFIOD_CONFIG_FILE, &config) < 0)
                return prepare ? EXIT_REFUSED_CONFIG : EXIT_DONE;
        if (!config->domain || !streq(config->domain, domain))
                return EXIT_DONE;  /* not the VM vfiod lends the GPU to */

        r = ctl_connect(&bus);
        if (r != EXIT_DONE)
                return prepare ? r : EXIT_DONE;
        /* Vm.Prepare: the GPU to vfio-pci, and vfiod keeps it there while the
         * domain starts (QEMU opens /dev/vfio/N only later). Gpu.ToVfio when
         * vfiod follows no VM. */
        if ((r = ctl_paths(bus, &gpu, prepare ? &vm : NULL)) == EXIT_DONE) {
                if (prepare && vm)
                        r = ctl_request(bus, vm, "org.vfiod1.Vm", "Prepare", true, "b", false);
                else
                        r = ctl_request(bus, gpu, "org.vfiod1.Gpu", prepare ? "ToVfio" : "ToHost", true, "b", false);
        }
        sd_bus_flush_close_unref(bus);
        /* At release QEMU is gone; vfiod gives the GPU back by itself anyway
         * (it may be doing so right now: busy is fine). */
        return prepare ? r : EXIT_DONE;
}
