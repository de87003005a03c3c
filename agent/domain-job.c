/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "domain-job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "fork-child.h"
#include "libvirt-dl.h"
#include "log.h"
#include "macro.h"

const char *domain_job_kind_to_string(DomainJobKind k) {
        static const char *const names[] = {
                [DOMAIN_JOB_CREATE] = "start",
                [DOMAIN_JOB_SHUTDOWN] = "shutdown",
                [DOMAIN_JOB_DESTROY] = "destroy",
        };
        return (unsigned) k < ELEMENTSOF(names) ? names[k] : "?";
}

/* StartUnit/StopUnit in USER's service manager (systemctl --user -M USER@). */
static int user_unit(const char *user, const char *unit, const char *method, char *why, size_t n) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        char machine[300];
        int r;

        snprintf(machine, sizeof(machine), "%s@.host", user);
        r = sd_bus_open_user_machine(&bus, machine);
        if (r < 0) {
                snprintf(why, n, "cannot reach %s's service manager: %s", user, strerror(-r));
                return r;
        }
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", method, &e, NULL, "ss", unit, "replace");
        if (r < 0)
                snprintf(why, n, "%s %s for %s: %s", method, unit, user, e.message ?: strerror(-r));
        sd_bus_flush_close_unref(bus);
        return r;
}

/* Nothing of libvirt's errors on stderr: the report carries them. */
static void quiet(void *userdata _unused_, virErrorPtr err _unused_) {
}

_Noreturn static void job_main(const DomainJob *job, int fd) {
        char why[1024] = "";
        int ok = -1;

        if (dlopen_libvirt() < 0) {
                dprintf(fd, "1\ncannot load libvirt's client library, libvirt.so.0");
                _exit(0);
        }
        sym_virSetErrorFunc(NULL, quiet);
        /* A connection of our own: the parent's socket is not ours to use. The
         * event hooks registered in the parent fail here (sd-event refuses a
         * forked child), which libvirt takes as "no events", all we need. */
        virConnectPtr conn = sym_virConnectOpen(job->uri);
        virDomainPtr dom = conn ? sym_virDomainLookupByName(conn, job->domain) : NULL;
        if (!conn || !dom)
                snprintf(why, sizeof(why), "%s", sym_virGetLastErrorMessage());
        else {
                switch (job->kind) {
                case DOMAIN_JOB_CREATE:
                        ok = sym_virDomainCreate(dom);
                        break;
                case DOMAIN_JOB_SHUTDOWN:
                        ok = sym_virDomainShutdown(dom);
                        break;
                case DOMAIN_JOB_DESTROY:
                        ok = sym_virDomainDestroy(dom);
                        break;
                }
                if (ok < 0)
                        snprintf(why, sizeof(why), "%s", sym_virGetLastErrorMessage());
        }
        if (ok >= 0 && job->kind == DOMAIN_JOB_CREATE && job->lg_user && job->lg_unit) {
                char lg[512];
                /* The VM runs either way: the client is a convenience. */
                if (user_unit(job->lg_user, job->lg_unit, "StartUnit", lg, sizeof(lg)) < 0)
                        snprintf(why, sizeof(why), "Looking Glass not started: %s", lg);
        }
        if (dom)
                sym_virDomainFree(dom);
        if (conn)
                sym_virConnectClose(conn);
        dprintf(fd, "%d\n%s", ok >= 0 ? 0 : 1, why);
        _exit(0);
}

int domain_job_start(const DomainJob *job, pid_t *ret_pid, int *ret_fd) {
        int p[2];

        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        pid_t pid;
        int r = fork_child("vfiod-job", FORK_DEATHSIG | FORK_KEEP_LOG, &p[1], 1, &pid);
        if (r < 0) {
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (r == 0)
                job_main(job, p[1]);
        close(p[1]);
        *ret_pid = pid;
        *ret_fd = p[0];
        return 0;
}

void looking_glass_stop(const char *user, const char *unit) {
        if (!user || !unit)
                return;
        pid_t pid, grandchild;
        int r = fork_child("vfiod-lg-stop", FORK_KEEP_LOG, NULL, 0, &pid);
        if (r < 0) {
                log_warning_errno(r, "Cannot stop %s for %s: %m", unit, user);
                return;
        }
        if (r == 0) {
                /* Detached: the grandchild is reparented, nothing for vfiod to reap. */
                if (fork_child("vfiod-lg-stop", FORK_KEEP_LOG, NULL, 0, &grandchild) == 0) {
                        char why[512];
                        if (user_unit(user, unit, "StopUnit", why, sizeof(why)) < 0)
                                log_warning("%s", why);
                }
                _exit(0);
        }
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}
