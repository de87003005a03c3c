/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "daemon.h"

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "config.h"
#include "decide.h"
#include "domain-job.h"
#include "domain-watch.h"
#include "event-log.h"
#include "fork-child.h"
#include "gpu.h"
#include "handoff.h"
#include "holders.h"
#include "log.h"
#include "state.h"
#include "strv.h"

struct Daemon {
        sd_event *event;
        char *config_path;
        Config *config;
        struct udev *udev;
        struct udev_monitor *monitor;
        sd_event_source *monitor_source;
        Gpu *gpu;
        DomainWatch *domain;

        sd_event_source *reconcile_source;   /* defer: many events, one reconcile */
        sd_event_source *grace_timer;        /* orphaned on vfio-pci: give back when it fires */
        sd_event_source *retry_timer;        /* another process holds the handoff lock */
        sd_event_source *backoff_timer;      /* a handoff failed: no new one until it fires */
        unsigned failures;                   /* handoffs failed in a row */
        bool grace_expired;
        /* What was asked or decided that outlives one reconcile (decide.h).
         * INTENT_START: libvirt's prepare hook had the GPU handed over
         * (Vm.Prepare), QEMU has not opened /dev/vfio/N yet, and no orphan
         * grace may take the GPU back until the domain runs or stops, or
         * start_hold_timer fires. */
        Intent intent;
        sd_event_source *start_hold_timer;
        bool gpu_home;                       /* the last reconcile: all on host drivers, no handoff left */

        pid_t worker_pid;                    /* the handoff worker, 0 when none */
        char worker_report[4096];
        size_t worker_report_len;
        bool worker_to_vfio;
        bool worker_requested;               /* a client asked for it: not a recovery */
        usec_t worker_started;
        usec_t worker_trigger;               /* when the event that started it arrived */
        usec_t event_pending_since;          /* first event since reconcile() last ran */
        sd_event_source *worker_source;

        sd_event_source **holder_sources;    /* pidfds of /dev/vfio/N holders: their exit wakes us */
        size_t n_holder_sources;
        sd_event_source *inotify_sources[5]; /* config dir, .conf.d, /dev/vfio, libvirt's, its parent */
        sd_event_source *signal_sources[3];

        GpuOwner owner;
        unsigned recoveries;
        char status[512];
        char last_error[1024];               /* the last failed handoff's words, "" after a good one */
        char vm_last_stop[64];               /* the last stop event's detail: "stopped (failed)" */

        /* The client request in flight (D-Bus), at most one. */
        bool request_active;
        RequestKind request;
        enum { STAGE_HANDOFF, STAGE_JOB, STAGE_WAIT_START, STAGE_WAIT_STOP } request_stage;
        request_done_t request_done;
        void *request_userdata;
        sd_event_source *stop_timer;         /* Vm.Stop: destroy when it fires */

        /* The libvirt call of a request, in a child (domain-job.c). */
        pid_t job_pid;
        gid_t access_gid;                    /* [Access] Group= */
        DomainJobKind job_kind;
        sd_event_source *job_source;
        char job_report[1024];
        size_t job_report_len;

        daemon_changed_t changed;            /* D-Bus: properties changed */
        daemon_progress_t progress;          /* D-Bus: a step of the running handoff */
        void *changed_userdata;
};

static void reconcile_soon(Daemon *d);
static void intent_set(Daemon *d, Intent i);
static void request_complete(Daemon *d, RequestResult result, const char *fmt, ...) _printf_(3, 4);
static void request_worker_done(Daemon *d, HandoffOutcome o, const char *msg);
static void arm_timer(Daemon *d, sd_event_source **s, usec_t after, sd_event_time_handler_t cb);
static int on_backoff(sd_event_source *s, uint64_t usec, void *userdata);

const char *daemon_status(Daemon *d) {
        return d->status;
}

GpuOwner daemon_owner(Daemon *d) {
        return d->owner;
}

unsigned daemon_recoveries(Daemon *d) {
        return d->recoveries;
}

_printf_(3, 4) static void set_status(Daemon *d, GpuOwner owner, const char *fmt, ...) {
        char buf[sizeof(d->status)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        d->owner = owner;
        if (streq(buf, d->status))
                return;
        memcpy(d->status, buf, sizeof(buf));
        log_info("Status: %s", buf);
        (void) sd_notifyf(false, "STATUS=%s", buf);
        if (d->changed)
                d->changed(d, DAEMON_CHANGED_GPU, d->changed_userdata);
}

static const char *domain_name(Daemon *d) {
        return d->config->domain ?: "(no VM configured)";
}

/* With no [VM] (or since a reload removed it) there is no domain to run. */
static DomainState domain_state(Daemon *d) {
        return d->domain ? domain_watch_state(d->domain) : DOMAIN_INACTIVE;
}

/* ---- the handoff worker: the engine blocks, the loop must not ---- */

/* The worker's pipe: its report, then EOF when it exits (the pipe's write
 * end is in no other process: its writer closes all it inherited). */
static int on_worker_exit(sd_event_source *s _unused_, int fd, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;
        char *buf = d->worker_report;
        int outcome = -1;
        uint64_t first_write = 0;

        for (;;) {
                size_t room = sizeof(d->worker_report) - 1 - d->worker_report_len;
                ssize_t n = read(fd, buf + d->worker_report_len, room ?: 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n > 0 && room > 0) {
                        d->worker_report_len += (size_t) n;
                        buf[d->worker_report_len] = 0;
                        /* Steps come first ("S what"), one line each, the report last. */
                        char *nl;
                        while (startswith(buf, "S ") && (nl = strchr(buf, '\n'))) {
                                *nl = 0;
                                if (d->progress)
                                        d->progress(d, buf + 2, d->changed_userdata);
                                size_t used = (size_t) (nl + 1 - buf);
                                memmove(buf, nl + 1, d->worker_report_len - used + 1);
                                d->worker_report_len -= used;
                        }
                        continue;
                }
                if (n < 0 && errno == EAGAIN)
                        return 0;  /* more to come */
                if (n > 0)
                        continue;  /* past what a report can be: drain to EOF */
                break;  /* EOF, or an error: the worker is gone */
        }
        buf[d->worker_report_len] = 0;
        d->worker_report_len = 0;
        while (waitpid(d->worker_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        d->worker_pid = 0;
        d->worker_source = sd_event_source_disable_unref(d->worker_source);

        char *msg = strchr(buf, '\n');
        if (msg)
                *msg++ = 0;
        if (sscanf(buf, "%d %" SCNu64, &outcome, &first_write) < 1 || outcome < 0 || outcome >= _HANDOFF_OUTCOME_MAX) {
                outcome = HANDOFF_ROLLBACK_FAILED;
                msg = "the handoff worker died before it could report";
        }

        EventFields f = { .gpu = d->gpu->address_str, .domain = d->config->domain,
                          .direction = d->worker_to_vfio ? "to-vfio" : "to-host",
                          .outcome = handoff_outcome_to_string(outcome),
                          .duration_usec = now_usec() - d->worker_started,
                          /* vfiod's own part: from the event to the first write to the kernel */
                          .reaction_usec = first_write > d->worker_trigger ? first_write - d->worker_trigger : 0 };
        /* A stuck give-back is still owed once the write returns; after any
         * other outcome the orphan grace decides when to try again. */
        if (!d->worker_to_vfio && outcome != HANDOFF_STUCK && d->intent == INTENT_GIVE_BACK)
                intent_set(d, INTENT_FOLLOW);

        /* A handoff that failed is not retried at once: the same failure
         * would repeat in a tight loop. 2 s, doubling, at most 5 min. */
        if (outcome == HANDOFF_DONE || outcome == HANDOFF_NOTHING_TO_DO)
                d->failures = 0;
        else if (outcome != HANDOFF_STUCK && outcome != HANDOFF_REFUSED_IN_USE) {
                usec_t wait = (2 * USEC_PER_SEC) << (d->failures < 8 ? d->failures : 8);
                if (wait > 300 * USEC_PER_SEC)
                        wait = 300 * USEC_PER_SEC;
                d->failures++;
                arm_timer(d, &d->backoff_timer, wait, on_backoff);
        }

        switch (outcome) {
        case HANDOFF_DONE:
        case HANDOFF_NOTHING_TO_DO:
                if (!d->worker_to_vfio && !d->worker_requested) {
                        d->recoveries++;
                        log_event(EVENT_RECOVERY, LOG_NOTICE, &f,
                                  "Recovered: %s (%.1f ms from the event to the first write, %.1f ms in all)",
                                  strna(msg), (double) f.reaction_usec / USEC_PER_MSEC,
                                  (double) (now_usec() - d->worker_trigger) / USEC_PER_MSEC);
                } else
                        log_event(EVENT_HANDOFF_DONE, LOG_NOTICE, &f, "%s", strna(msg));
                break;
        case HANDOFF_REFUSED_CONFIG:
        case HANDOFF_REFUSED_IN_USE:
                log_event(EVENT_HANDOFF_REFUSED, LOG_WARNING, &f, "Refused: %s", strna(msg));
                break;
        case HANDOFF_ROLLED_BACK:
                log_event(EVENT_HANDOFF_FAILED, LOG_ERR, &f, "Failed and rolled back: %s", strna(msg));
                break;
        case HANDOFF_STUCK:
                log_event(EVENT_STUCK, LOG_CRIT, &f, "Stuck: %s", strna(msg));
                break;
        default:
                log_event(EVENT_ROLLBACK_FAILED, LOG_CRIT, &f, "Rollback failed: %s", strna(msg));
        }
        if (outcome == HANDOFF_DONE || outcome == HANDOFF_NOTHING_TO_DO)
                d->last_error[0] = 0;
        else
                snprintf(d->last_error, sizeof(d->last_error), "%s: %s", handoff_outcome_to_string(outcome), strna(msg));
        if (d->changed)
                d->changed(d, DAEMON_CHANGED_GPU, d->changed_userdata);
        request_worker_done(d, outcome, strna(msg));
        reconcile_soon(d);
        return 0;
}

static int on_backoff(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        reconcile_soon(userdata);
        return 0;
}

/* Runs with the handoff lock that reconcile() took before it looked (the
 * inherited fd shares the flock): nobody moved the GPU in between. */
_Noreturn static void worker_main(Daemon *d, bool to_vfio, bool drain, int fd) {
        HandoffOutcome o;
        Handoff h;

        /* A report that nobody reads any more (vfiod died) fails with EPIPE:
         * the transaction goes on to its end. */
        (void) signal(SIGPIPE, SIG_IGN);
        if (handoff_init(&h, d->udev, d->config, d->gpu) < 0) {
                dprintf(fd, "%d\ncannot listen for uevents\n", HANDOFF_REFUSED_CONFIG);
                _exit(0);
        }
        h.drain = drain;
        h.progress_fd = fd;
        o = to_vfio ? handoff_to_vfio(&h) : handoff_to_host(&h);
        dprintf(fd, "%d %" PRIu64 "\n%s", o, (uint64_t) h.first_write, h.message);
        handoff_done(&h);
        _exit(0);
}

static bool backing_off(Daemon *d) {
        return d->backoff_timer && sd_event_source_get_enabled(d->backoff_timer, NULL) > 0;
}

/* requested: a client asked; it is not held back by the failure back-off. */
static int worker_start(Daemon *d, bool to_vfio, bool drain, bool requested, int *lock) {
        int p[2];

        if (!requested && backing_off(d)) {
                log_debug("The last handoff failed; the next waits for the back-off timer.");
                return 0;
        }
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to create a pipe: %m");

        EventFields f = { .gpu = d->gpu->address_str, .domain = d->config->domain,
                          .direction = to_vfio ? "to-vfio" : "to-host" };
        log_event(EVENT_HANDOFF_STARTED, LOG_INFO, &f, "%s %s.", to_vfio ? "Handing over" : "Giving back",
                  d->gpu->address_str);

        /* No death signal: a worker whose vfiod died finishes its transaction
         * (the lock keeps the next vfiod waiting) rather than cutting it short. */
        pid_t pid;
        int r = fork_child("vfiod-worker", FORK_KEEP_LOG, (int[]) { p[1], *lock }, *lock >= 0 ? 2 : 1, &pid);
        if (r < 0) {
                close(p[0]);
                close(p[1]);
                return log_error_errno(r, "Failed to fork the handoff worker: %m");
        }
        if (r == 0)
                worker_main(d, to_vfio, drain, p[1]);
        close(p[1]);
        if (*lock >= 0)
                close(TAKE_FD(*lock));  /* the worker holds it now */

        r = sd_event_add_io(d->event, &d->worker_source, p[0], EPOLLIN, on_worker_exit, d);
        if (r < 0) {
                close(p[0]);
                (void) waitpid(pid, NULL, 0);
                return log_error_errno(r, "Failed to watch the handoff worker: %m");
        }
        (void) sd_event_source_set_io_fd_own(d->worker_source, true);
        d->worker_pid = pid;
        d->worker_to_vfio = to_vfio;
        d->worker_requested = requested;
        d->worker_started = now_usec();
        d->worker_trigger = d->event_pending_since ?: d->worker_started;
        set_status(d, OWNER_TRANSITIONING, "%s %s %s", d->gpu->address_str,
                   to_vfio ? "moving to vfio-pci for" : "coming back from", domain_name(d));
        return 0;
}

/* ---- reconcile: the one place that decides ---- */

static int on_grace(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        Daemon *d = userdata;
        d->grace_expired = true;
        reconcile_soon(d);
        return 0;
}

static int on_retry(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        reconcile_soon(userdata);
        return 0;
}

static void arm_timer(Daemon *d, sd_event_source **s, usec_t after, sd_event_time_handler_t cb) {
        if (*s && sd_event_source_get_enabled(*s, NULL) > 0)
                return; /* already counting */
        if (!*s) {
                if (sd_event_add_time_relative(d->event, s, CLOCK_MONOTONIC, after, 10 * USEC_PER_MSEC, cb, d) < 0)
                        log_warning("Failed to arm a timer: the GPU may stay where it is.");
                return;
        }
        (void) sd_event_source_set_time_relative(*s, after);
        (void) sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
}

static void disarm(sd_event_source *s) {
        if (s)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

/* A start that libvirt gave up on runs the release hook (Gpu.ToHost); this
 * bound is for a libvirtd that died while it was starting the domain. */
#define START_HOLD_USEC (5 * 60 * USEC_PER_SEC)

/* One intent at a time; leaving INTENT_START ends its hold. */
static void intent_set(Daemon *d, Intent i) {
        if (d->intent == INTENT_START && i != INTENT_START)
                disarm(d->start_hold_timer);
        if (d->intent != i)
                log_debug("Intent: %s -> %s.", intent_to_string(d->intent), intent_to_string(i));
        d->intent = i;
}

static void start_hold_end(Daemon *d) {
        if (d->intent == INTENT_START)
                intent_set(d, INTENT_FOLLOW);
}

static int on_start_hold(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        Daemon *d = userdata;
        if (d->intent == INTENT_START)
                log_warning("%s was handed over for %s %d s ago and the domain never ran: the orphan grace applies now.",
                            d->gpu->address_str, domain_name(d), (int) (START_HOLD_USEC / USEC_PER_SEC));
        start_hold_end(d);
        reconcile_soon(d);
        return 0;
}

static int on_holder_exit(sd_event_source *s _unused_, int fd _unused_, uint32_t revents _unused_, void *userdata) {
        reconcile_soon(userdata);
        return 0;
}

static void unwatch_holders(Daemon *d) {
        for (size_t i = 0; i < d->n_holder_sources; i++)
                sd_event_source_disable_unref(d->holder_sources[i]);
        d->holder_sources = mfree(d->holder_sources);
        d->n_holder_sources = 0;
}

/* No uevent tells that a process closed /dev/vfio/N; its exit does. */
static void watch_holders(Daemon *d, const HolderList *l) {
        unwatch_holders(d);
        /* Every one of them: the last to exit is the one that matters. */
        if (l->n == 0 || !(d->holder_sources = calloc(l->n, sizeof(sd_event_source *)))) {
                if (l->n > 0)
                        arm_timer(d, &d->retry_timer, USEC_PER_SEC, on_retry);
                return;
        }
        d->n_holder_sources = l->n;
        for (size_t i = 0; i < l->n; i++) {
                int fd = pidfd_open(l->items[i].pid, 0);
                if (fd < 0 && errno != ESRCH) {
                        /* No pidfds (Linux < 5.3, valgrind): look again every second. */
                        arm_timer(d, &d->retry_timer, USEC_PER_SEC, on_retry);
                        continue;
                }
                if (fd < 0)
                        continue;
                if (sd_event_add_io(d->event, &d->holder_sources[i], fd, EPOLLIN, on_holder_exit, d) < 0) {
                        close(fd);
                        continue;
                }
                (void) sd_event_source_set_io_fd_own(d->holder_sources[i], true);
        }
}

/* libvirt's events matter while the GPU is away from its host drivers, the
 * domain starts or runs; otherwise libvirt's status record tells enough
 * (domain-watch.h), and vfiod closes the connection. Called after
 * reconcile(), never inside it: connecting or closing calls on_domain(),
 * whose PropertiesChanged makes the D-Bus getters refresh the GPU, which
 * frees the driver names reconcile() holds. */
static void follow_domain(Daemon *d) {
        if (!d->domain)
                return;
        if (!d->gpu_home)
                domain_watch_follow(d->domain, true, "the GPU is not on its host drivers");
        else if (d->intent == INTENT_START || (d->request_active && d->request == REQUEST_VM_START))
                domain_watch_follow(d->domain, true, "the domain is being started");
        else if (domain_state(d) == DOMAIN_ACTIVE)
                domain_watch_follow(d->domain, true, "the domain runs");
        else if (d->worker_pid > 0 || d->job_pid > 0 || d->request_active)
                return;  /* a handoff or a request in flight (reconcile() saw the GPU before it) */
        else
                domain_watch_follow(d->domain, false, "the GPU is on the host and the domain shut off");
}

/* Who has the VM's nodes (/dev/vfio/N, the functions' vfio cdevs) open: a
 * QEMU keeps its fds, so fds are enough, and unlike maps they can be read on
 * the loop (reading maps waits for the process's mmap lock). */
static int vm_holders(const Gpu *g, HolderList *ret) {
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        int r = gpu_device_nodes(g, 1u << NODE_VFIO, &nodes);
        if (r < 0)
                return r;
        if ((r = holders_scan_fds("/proc", &nodes, ret)) < 0)
                return r;
        return ret->n > 0;
}

/* What act() needs besides the snapshot. */
typedef struct Observation {
        Snapshot snapshot;
        int lock;                 /* the handoff lock, taken before looking; -1 when not */
        pid_t stuck_pid;          /* the writer of a stuck record */
        char *stuck;              /* what that record says */
        const char *host_driver;  /* the display function's, for the status */
        HolderList vm_holders;
} Observation;

static void observation_done(Observation *o) {
        if (o->lock >= 0)
                close(o->lock);
        free(o->stuck);
        holder_list_done(&o->vm_holders);
}

/* Reads the truth into one snapshot: each function's driver and override,
 * the records in /run/vfiod, the domain's state, the holders of the VM's
 * nodes, what was asked. */
static void observe(Daemon *d, Observation *o) {
        Gpu *g = d->gpu;
        Snapshot *s = &o->snapshot;

        *o = (Observation) { .lock = -1 };
        /* Someone else's handoff (vfioctl) in progress: look again shortly.
         * Taken before looking, and handed to the worker, so that nothing
         * moves the GPU between what reconcile() sees and what it does. */
        if (handoff_lock(g->address_str, &o->lock) == -EBUSY) {
                s->lock_busy = true;
                return;
        }
        (void) gpu_refresh(g);
        s->recorded = handoff_state_exists(g->address_str);
        for (size_t i = 0; i < g->n_functions && s->n_functions < SNAPSHOT_FUNCTIONS_MAX; i++) {
                PciFunction *f = &g->functions[i];
                if (f->role != ROLE_GPU)
                        continue;
                if (!o->stuck_pid)
                        (void) stuck_describe(f->address_str, &o->stuck_pid, &o->stuck);
                FunctionSeen *fs = &s->functions[s->n_functions++];
                fs->override = f->driver_override != NULL;
                fs->driver = !f->driver ? FUNCTION_NO_DRIVER :
                             streq(f->driver, VFIO_DRIVER) ? FUNCTION_ON_VFIO : FUNCTION_ON_HOST;
                if (fs->driver == FUNCTION_ON_HOST && pci_class_is_display(f->class))
                        o->host_driver = f->driver;
        }
        s->stuck = o->stuck_pid > 0;
        s->domain = domain_state(d);
        s->start_requested = d->request_active && d->request == REQUEST_VM_START;
        s->stop_requested = d->request_active && d->request == REQUEST_VM_STOP;
        s->intent = d->intent;
        s->grace_expired = d->grace_expired;
        /* The scan of /proc is the dearest look: only where a give-back could follow. */
        SnapshotCounts c = snapshot_count(s);
        if (!s->stuck && (c.on_host < s->n_functions || c.dirty) && s->domain == DOMAIN_INACTIVE)
                s->vm_nodes_held = vm_holders(g, &o->vm_holders) > 0;
}

static void act(Daemon *d, Observation *o, const Decision *dec) {
        Gpu *g = d->gpu;
        SnapshotCounts c = snapshot_count(&o->snapshot);

        log_debug("Reconcile: %s (%s; intent %s).", action_to_string(dec->action), dec->why, intent_to_string(d->intent));
        if (dec->action != ACTION_WAIT_LOCK)
                d->gpu_home = c.on_host == o->snapshot.n_functions && !c.dirty;
        switch (dec->action) {
        case ACTION_WAIT_LOCK:
                d->gpu_home = false;
                set_status(d, dec->owner, "%s: another process is handing it over", g->address_str);
                arm_timer(d, &d->retry_timer, USEC_PER_SEC, on_retry);
                break;
        case ACTION_WATCH_STUCK: {
                /* Its exit is the only sign that the write returned. */
                HolderList writer = { .items = &(Holder) { .pid = o->stuck_pid }, .n = 1 };
                watch_holders(d, &writer);
                set_status(d, dec->owner, "%s stuck: %s", g->address_str, strna(o->stuck));
                break;
        }
        case ACTION_HOME:
        case ACTION_LENT:
                disarm(d->grace_timer);
                d->grace_expired = false;
                intent_set(d, INTENT_FOLLOW);
                if (dec->action == ACTION_HOME)
                        set_status(d, dec->owner, "%s on the host (%s)", g->address_str, strna(o->host_driver));
                else
                        set_status(d, dec->owner, "%s lent to %s", g->address_str, domain_name(d));
                break;
        case ACTION_WAIT_LIBVIRT:
                set_status(d, dec->owner, "%s %s; libvirt unreachable, waiting to learn whether %s runs", g->address_str,
                           dec->owner == OWNER_VFIO ? "on vfio-pci" : "part-way through a handoff", domain_name(d));
                break;
        case ACTION_FINISH_TO_VFIO:
                (void) worker_start(d, true, false, false, &o->lock);
                break;
        case ACTION_HOLD_START:
                set_status(d, dec->owner, "%s on vfio-pci, %s starting", g->address_str, domain_name(d));
                break;
        case ACTION_WAIT_HOLDERS: {
                _cleanup_free_ char *who = holders_format(&o->vm_holders);
                watch_holders(d, &o->vm_holders);
                set_status(d, dec->owner, "%s on vfio-pci, in use by %s", g->address_str, strna(who));
                break;
        }
        case ACTION_NOT_OURS:
                disarm(d->grace_timer);
                d->grace_expired = false;
                intent_set(d, INTENT_FOLLOW);
                set_status(d, dec->owner, "%s on vfio-pci, not by vfiod (no record, no driver_override): left there; "
                           "vfioctl to-host gives it back", g->address_str);
                break;
        case ACTION_GIVE_BACK:
                /* INTENT_GIVE_BACK stays until the worker reports (on_worker_exit).
                 * The give-back a Vm.Stop waits for is that request's, not a recovery. */
                unwatch_holders(d);
                d->grace_expired = false;
                disarm(d->grace_timer);
                (void) worker_start(d, false, false, dec->requested, &o->lock);
                break;
        case ACTION_GRACE:
                unwatch_holders(d);
                arm_timer(d, &d->grace_timer, d->config->orphan_grace, on_grace);
                set_status(d, dec->owner, "%s on vfio-pci with no VM running; back to the host in %.0fs unless one starts",
                           g->address_str, (double) d->config->orphan_grace / USEC_PER_SEC);
                break;
        case _ACTION_MAX:
                break;
        }
}

/* The one place that decides: observe, decide, act. */
static void reconcile(Daemon *d) {
        _cleanup_(observation_done) Observation o = { .lock = -1 };

        if (d->worker_pid > 0)
                return; /* it reconciles again when the worker is done */
        observe(d, &o);
        Decision dec = decide(&o.snapshot);
        act(d, &o, &dec);
}

static void request_check(Daemon *d);

static int on_reconcile(sd_event_source *s _unused_, void *userdata) {
        Daemon *d = userdata;
        reconcile(d);
        follow_domain(d);
        d->event_pending_since = 0;
        request_check(d);
        return 0;
}

/* ---- client requests (D-Bus): one at a time ---- */

static const RequestResult result_of_outcome[_HANDOFF_OUTCOME_MAX] = {
        [HANDOFF_DONE] = REQUEST_OK,
        [HANDOFF_NOTHING_TO_DO] = REQUEST_OK,
        [HANDOFF_REFUSED_CONFIG] = REQUEST_REFUSED,
        [HANDOFF_REFUSED_IN_USE] = REQUEST_IN_USE,
        [HANDOFF_ROLLED_BACK] = REQUEST_ROLLED_BACK,
        [HANDOFF_STUCK] = REQUEST_STUCK,
        [HANDOFF_ROLLBACK_FAILED] = REQUEST_ROLLBACK_FAILED,
};

static void request_complete(Daemon *d, RequestResult result, const char *fmt, ...) {
        char msg[2048];
        va_list ap;

        if (!d->request_active)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        request_done_t done = d->request_done;
        void *userdata = d->request_userdata;
        d->request_active = false;
        d->request_done = NULL;
        d->request_userdata = NULL;
        disarm(d->stop_timer);
        if (done)
                done(d, result, msg, userdata);
}

static int on_job_exit(sd_event_source *s _unused_, int fd, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;
        for (;;) {
                size_t room = sizeof(d->job_report) - 1 - d->job_report_len;
                ssize_t n = read(fd, d->job_report + d->job_report_len, room ?: 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n > 0) {
                        if (room > 0)
                                d->job_report_len += (size_t) n;
                        continue;
                }
                break;
        }
        d->job_report[d->job_report_len] = 0;
        d->job_report_len = 0;
        while (waitpid(d->job_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        d->job_pid = 0;
        d->job_source = sd_event_source_disable_unref(d->job_source);

        bool ok = d->job_report[0] == '0';
        const char *why = strchr(d->job_report, '\n');
        why = why && why[1] ? why + 1 : ok ? "" : "the libvirt call's process died before it could report";
        EventFields f = { .gpu = d->gpu->address_str, .domain = d->config->domain,
                          .step = domain_job_kind_to_string(d->job_kind), .outcome = ok ? "done" : "failed" };
        if (ok)
                log_event(EVENT_DOMAIN, LOG_INFO, &f, "Domain %s: %s requested%s%s.", domain_name(d),
                          domain_job_kind_to_string(d->job_kind), *why ? "; " : "", why);
        else
                log_event(EVENT_DOMAIN, LOG_ERR, &f, "Domain %s: %s failed: %s", domain_name(d),
                          domain_job_kind_to_string(d->job_kind), why);

        if (!d->request_active)
                return 0;
        switch (d->job_kind) {
        case DOMAIN_JOB_CREATE:
                if (ok) {
                        /* Done when the domain watch has seen it start: a client
                         * reading Vm.State right after the reply sees "running". */
                        d->request_stage = STAGE_WAIT_START;
                        snprintf(d->job_report, sizeof(d->job_report), "%s", why);
                } else {
                        /* The VM did not start: the GPU goes back now, not after the grace. */
                        intent_set(d, INTENT_GIVE_BACK);
                        request_complete(d, REQUEST_LIBVIRT, "%s did not start: %s", domain_name(d), why);
                }
                break;
        case DOMAIN_JOB_SHUTDOWN:
        case DOMAIN_JOB_DESTROY:
                if (!ok && domain_state(d) == DOMAIN_ACTIVE)
                        request_complete(d, REQUEST_LIBVIRT, "%s: %s failed: %s", domain_name(d),
                                         domain_job_kind_to_string(d->job_kind), why);
                /* else: the stop event, then the give-back, complete it (request_check). */
                break;
        }
        reconcile_soon(d);
        return 0;
}

static int job_start(Daemon *d, DomainJobKind kind) {
        DomainJob job = { .kind = kind, .uri = d->config->uri ?: "qemu:///system", .domain = d->config->domain,
                          .lg_user = d->config->lg_user, .lg_unit = d->config->lg_unit };
        int fd, r;

        r = domain_job_start(&job, &d->job_pid, &fd);
        if (r < 0)
                return log_error_errno(r, "Failed to fork for the libvirt call: %m");
        r = sd_event_add_io(d->event, &d->job_source, fd, EPOLLIN, on_job_exit, d);
        if (r < 0) {
                close(fd);
                (void) waitpid(d->job_pid, NULL, 0);
                d->job_pid = 0;
                return log_error_errno(r, "Failed to watch the libvirt call: %m");
        }
        (void) sd_event_source_set_io_fd_own(d->job_source, true);
        d->job_kind = kind;
        return 0;
}

static int on_stop_timeout(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        Daemon *d = userdata;
        if (!d->request_active || d->request != REQUEST_VM_STOP || d->job_pid > 0)
                return 0;
        if (domain_state(d) != DOMAIN_ACTIVE)
                return 0;
        EventFields f = { .gpu = d->gpu->address_str, .domain = d->config->domain, .step = "destroy" };
        log_event(EVENT_DOMAIN, LOG_WARNING, &f, "Domain %s did not shut down in time; destroying it.", domain_name(d));
        if (job_start(d, DOMAIN_JOB_DESTROY) < 0)
                request_complete(d, REQUEST_LIBVIRT, "%s did not shut down and could not be destroyed", domain_name(d));
        return 0;
}

/* The handoff of a request ended. */
static void request_worker_done(Daemon *d, HandoffOutcome o, const char *msg) {
        if (!d->request_active)
                return;
        if (d->request == REQUEST_VM_STOP && d->request_stage == STAGE_WAIT_STOP &&
            domain_state(d) == DOMAIN_ACTIVE)
                return;  /* a handoff vfiod began on its own, not the give-back after the stop */
        RequestResult r = result_of_outcome[o];
        if (d->request == REQUEST_VM_START && r == REQUEST_OK) {
                d->request_stage = STAGE_JOB;
                if (job_start(d, DOMAIN_JOB_CREATE) < 0) {
                        intent_set(d, INTENT_GIVE_BACK);
                        request_complete(d, REQUEST_LIBVIRT, "%s is on vfio-pci, but starting %s failed",
                                         d->gpu->address_str, domain_name(d));
                }
                return;
        }
        if (d->request == REQUEST_VM_PREPARE && r == REQUEST_OK) {
                intent_set(d, INTENT_START);
                arm_timer(d, &d->start_hold_timer, START_HOLD_USEC, on_start_hold);
                request_complete(d, REQUEST_OK, "%s", msg);
        } else if (d->request == REQUEST_VM_STOP && r == REQUEST_OK)
                request_complete(d, REQUEST_OK, "%s stopped; %s", domain_name(d), msg);
        else
                request_complete(d, r, "%s", msg);
}

/* After each reconcile: a Vm.Stop is done once the domain is down and the
 * GPU is on the host (also when the give-back had nothing to do). */
static void request_check(Daemon *d) {
        if (d->request_active && d->request == REQUEST_VM_START && d->request_stage == STAGE_WAIT_START &&
            domain_state(d) == DOMAIN_ACTIVE) {
                const char *why = d->job_report;
                request_complete(d, REQUEST_OK, "%s runs with %s%s%s", domain_name(d), d->gpu->address_str,
                                 *why ? "; " : "", why);
                return;
        }
        if (!d->request_active || d->request != REQUEST_VM_STOP || d->request_stage != STAGE_WAIT_STOP)
                return;
        if (d->worker_pid > 0 || d->job_pid > 0 || domain_state(d) != DOMAIN_INACTIVE)
                return;
        if (d->owner == OWNER_HOST)
                request_complete(d, REQUEST_OK, "%s stopped; %s is on the host", domain_name(d), d->gpu->address_str);
        else if (d->owner == OWNER_STUCK)
                request_complete(d, REQUEST_STUCK, "%s stopped, but %s", domain_name(d), d->status);
}

int daemon_request(Daemon *d, RequestKind kind, bool drain, uint64_t timeout_usec, request_done_t done,
                   void *userdata) {
        _cleanup_close_ int lock = -1;
        int r;

        /* The qemu hook of the domain Vm.Start is starting: already handed over. */
        if ((kind == REQUEST_TO_VFIO || kind == REQUEST_VM_PREPARE) && d->request_active &&
            d->request == REQUEST_VM_START &&
            d->request_stage == STAGE_JOB) {
                done(d, REQUEST_OK, "The GPU is on vfio-pci for the domain being started.", userdata);
                return 0;
        }
        if (d->request_active || d->worker_pid > 0 || d->job_pid > 0) {
                done(d, REQUEST_BUSY, d->worker_pid > 0 ? "A handoff of the GPU is running; try again when it is done." :
                                      "Another request is running; try again when it is done.", userdata);
                return 0;
        }
        DomainState ds = domain_state(d);
        if ((kind == REQUEST_VM_START || kind == REQUEST_VM_STOP || kind == REQUEST_VM_PREPARE) && !d->config->domain) {
                done(d, REQUEST_NO_VM, "No VM is configured: set Domain= in [VM] of " VFIOD_CONFIG_FILE ".", userdata);
                return 0;
        }
        if ((kind == REQUEST_VM_START || kind == REQUEST_VM_STOP) && ds == DOMAIN_UNKNOWN) {
                done(d, REQUEST_LIBVIRT, "libvirt is unreachable: cannot tell whether the VM runs.", userdata);
                return 0;
        }
        if ((kind == REQUEST_TO_HOST || kind == REQUEST_FORCE_HOST) && ds == DOMAIN_ACTIVE) {
                char msg[512];
                snprintf(msg, sizeof(msg), "%s runs and owns the GPU: stop it first (windows-stop).", domain_name(d));
                done(d, REQUEST_VM_RUNNING, msg, userdata);
                return 0;
        }
        if (kind == REQUEST_VM_START && ds == DOMAIN_ACTIVE) {
                char msg[512];
                snprintf(msg, sizeof(msg), "%s already runs.", domain_name(d));
                done(d, REQUEST_OK, msg, userdata);
                return 0;
        }

        d->request_active = true;
        d->request = kind;
        d->request_done = done;
        d->request_userdata = userdata;
        d->request_stage = STAGE_HANDOFF;
        if (d->domain && (kind == REQUEST_VM_START || kind == REQUEST_VM_PREPARE || kind == REQUEST_TO_VFIO))
                /* Before the domain can start: none of its events is missed. */
                domain_watch_follow(d->domain, true, "the GPU is asked for");
        if (kind == REQUEST_VM_START && !domain_watch_connected(d->domain)) {
                /* Its state came from the status record: libvirtd is away. */
                request_complete(d, REQUEST_LIBVIRT, "libvirt at %s is unreachable: %s was not started.",
                                 d->config->uri ?: "qemu:///system", domain_name(d));
                reconcile_soon(d);
                return 0;
        }

        if (kind == REQUEST_VM_STOP && ds == DOMAIN_ACTIVE) {
                d->request_stage = STAGE_WAIT_STOP;
                if (job_start(d, DOMAIN_JOB_SHUTDOWN) < 0) {
                        request_complete(d, REQUEST_LIBVIRT, "Cannot ask %s to shut down.", domain_name(d));
                        return 0;
                }
                arm_timer(d, &d->stop_timer, timeout_usec ?: d->config->shutdown_timeout, on_stop_timeout);
                return 0;
        }
        if (kind == REQUEST_VM_STOP) {
                /* Not running: only the give-back is left, at once. */
                d->request_stage = STAGE_WAIT_STOP;
                intent_set(d, INTENT_GIVE_BACK);
                reconcile_soon(d);
                return 0;
        }

        if (kind == REQUEST_FORCE_HOST) {
                d->failures = 0;
                disarm(d->backoff_timer);
                intent_set(d, INTENT_GIVE_BACK);
        }
        r = handoff_lock(d->gpu->address_str, &lock);
        if (r == -EBUSY) {
                request_complete(d, REQUEST_BUSY, "Another process is handing %s over; try again when it is done.",
                                 d->gpu->address_str);
                return 0;
        }
        if (r < 0) {
                request_complete(d, REQUEST_REFUSED, "Cannot lock %s under %s: %s", d->gpu->address_str, runtime_dir(),
                                 strerror(-r));
                return 0;
        }
        bool to_vfio = kind == REQUEST_TO_VFIO || kind == REQUEST_VM_START || kind == REQUEST_VM_PREPARE;
        if (!to_vfio)
                start_hold_end(d);  /* the release hook, or a user: the start is over */
        disarm(d->grace_timer);
        if (worker_start(d, to_vfio, drain, true, &lock) < 0)
                request_complete(d, REQUEST_ROLLED_BACK, "Cannot start the handoff worker.");
        return 0;
}

void daemon_request_forget(Daemon *d, void *userdata) {
        if (d->request_active && d->request_userdata == userdata) {
                d->request_done = NULL;
                d->request_userdata = NULL;
        }
}

void daemon_set_handlers(Daemon *d, daemon_changed_t changed, daemon_progress_t progress, void *userdata) {
        d->changed = changed;
        d->progress = progress;
        d->changed_userdata = userdata;
}

Gpu *daemon_gpu(Daemon *d) {
        return d->gpu;
}

gid_t daemon_access_gid(Daemon *d) {
        return d->access_gid;
}

/* Once per configuration, not per call: a lookup may go to NSS (LDAP, sssd). */
static gid_t resolve_group(const char *name) {
        if (!name || !*name)
                return (gid_t) -1;
        struct group *gr = getgrnam(name);
        if (!gr) {
                log_warning("Group=%s: no such group; only root and polkit grant access.", name);
                return (gid_t) -1;
        }
        return gr->gr_gid;
}

const Config *daemon_config(Daemon *d) {
        return d->config;
}

DomainWatch *daemon_domain(Daemon *d) {
        return d->domain;
}

const char *daemon_vm_last_stop(Daemon *d) {
        return d->vm_last_stop;
}

const char *daemon_last_error(Daemon *d) {
        return d->last_error;
}

const char *gpu_owner_to_string(GpuOwner o) {
        static const char *const names[] = {
                [OWNER_HOST] = "host",
                [OWNER_VFIO] = "vfio",
                [OWNER_TRANSITIONING] = "transitioning",
                [OWNER_STUCK] = "stuck",
                [OWNER_INCOMPLETE] = "incomplete",
        };
        return (unsigned) o < ELEMENTSOF(names) ? names[o] : "?";
}

const char *request_result_to_string(RequestResult r) {
        static const char *const names[] = {
                [REQUEST_OK] = "done",
                [REQUEST_REFUSED] = "refused",
                [REQUEST_IN_USE] = "in use",
                [REQUEST_ROLLED_BACK] = "rolled back",
                [REQUEST_STUCK] = "stuck",
                [REQUEST_ROLLBACK_FAILED] = "rollback failed",
                [REQUEST_BUSY] = "busy",
                [REQUEST_VM_RUNNING] = "VM running",
                [REQUEST_NO_VM] = "no VM",
                [REQUEST_LIBVIRT] = "libvirt",
        };
        return (unsigned) r < ELEMENTSOF(names) ? names[r] : "?";
}

static void reconcile_soon(Daemon *d) {
        if (d->event_pending_since == 0)
                d->event_pending_since = now_usec();
        (void) sd_event_source_set_enabled(d->reconcile_source, SD_EVENT_ONESHOT);
}

/* ---- event sources ---- */

static int on_uevent(sd_event_source *s _unused_, int fd _unused_, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;
        struct udev_device *dev;
        while ((dev = udev_monitor_receive_device(d->monitor))) {
                const char *sp = udev_device_get_syspath(dev);
                for (size_t i = 0; sp && i < d->gpu->n_functions; i++)
                        if (d->gpu->functions[i].syspath && streq(sp, d->gpu->functions[i].syspath)) {
                                log_debug("uevent: %s %s", strna(udev_device_get_action(dev)), sp);
                                reconcile_soon(d);
                        }
                udev_device_unref(dev);
        }
        return 0;
}

static void on_domain(DomainWatch *w _unused_, DomainChange change, const char *detail, void *userdata) {
        Daemon *d = userdata;
        EventFields f = { .gpu = d->gpu->address_str, .domain = d->config->domain };

        if (change == DOMAIN_CHANGE_CONNECTED || change == DOMAIN_CHANGE_DISCONNECTED || change == DOMAIN_CHANGE_CLOSED)
                log_event(EVENT_LIBVIRT, change == DOMAIN_CHANGE_DISCONNECTED ? LOG_WARNING : LOG_INFO, &f, "%s.", detail);
        else
                log_event(EVENT_DOMAIN, LOG_INFO, &f, "Domain %s %s.", domain_name(d), detail);
        if (d->request_active && d->request == REQUEST_VM_START && d->request_stage == STAGE_WAIT_START) {
                if (change == DOMAIN_CHANGE_STARTED)
                        request_complete(d, REQUEST_OK, "%s runs with %s", domain_name(d), d->gpu->address_str);
                else if (change == DOMAIN_CHANGE_STOPPED)
                        request_complete(d, REQUEST_LIBVIRT, "%s %s right after it started.", domain_name(d), detail);
        }
        if (change == DOMAIN_CHANGE_STOPPED) {
                snprintf(d->vm_last_stop, sizeof(d->vm_last_stop), "%s", detail);
                intent_set(d, INTENT_GIVE_BACK);
                looking_glass_stop(d->config->lg_user, d->config->lg_unit);
        }
        if (d->changed)
                d->changed(d, DAEMON_CHANGED_VM, d->changed_userdata);
        reconcile_soon(d);
}

static int reload_config(Daemon *d, char **ret_error) {
        _cleanup_(config_freep) Config *c = NULL;
        if (config_load(d->config_path, &c) < 0) {
                if (ret_error)
                        *ret_error = strdup(log_last_error());
                log_warning("Keeping the configuration in use: %s is not valid.", d->config_path);
                return -EINVAL;
        }
        /* The GPU is found once, at start-up: a different one is a restart. */
        if (c->have_address != d->config->have_address || c->have_id != d->config->have_id ||
            memcmp(&c->address, &d->config->address, sizeof(c->address)) != 0 ||
            memcmp(&c->id, &d->config->id, sizeof(c->id)) != 0) {
                log_warning("%s names another GPU: keeping the configuration in use; restart vfiod to manage it.",
                            d->config_path);
                if (ret_error && asprintf(ret_error, "%s names another GPU: restart vfiod to manage it.",
                                          d->config_path) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        bool vm_changed = !streq_ptr(c->domain, d->config->domain) || !streq_ptr(c->uri, d->config->uri);
        /* A request about the domain that is no longer configured ends here:
         * what it waits for (the domain's start or stop) is not followed any more. */
        if (vm_changed && d->request_active &&
            (d->request == REQUEST_VM_START || d->request == REQUEST_VM_STOP || d->request == REQUEST_VM_PREPARE))
                request_complete(d, REQUEST_NO_VM, "The configuration was reloaded and names %s%s instead of %s: ask again.",
                                 c->domain ? "domain " : "", c->domain ?: "no VM", domain_name(d));
        config_free(d->config);
        d->config = TAKE_PTR(c);
        d->access_gid = resolve_group(d->config->group);
        if (vm_changed) {
                d->domain = domain_watch_free(d->domain);
                if (d->config->domain &&
                    domain_watch_new(d->event, d->config->uri ?: "qemu:///system", d->config->domain, on_domain, d, &d->domain) < 0)
                        log_warning("Cannot follow domain %s.", d->config->domain);
        }
        EventFields f = { .gpu = d->gpu->address_str, .domain = d->config->domain };
        log_event(EVENT_AGENT, LOG_INFO, &f, "Configuration reloaded from %s.", d->config_path);
        /* A running grace period restarts with the new OrphanGraceSec=. */
        disarm(d->grace_timer);
        reconcile_soon(d);
        if (d->changed)
                d->changed(d, DAEMON_CHANGED_GPU | DAEMON_CHANGED_VM, d->changed_userdata);
        return 0;
}

/* SIGHUP and inotify: an invalid file was logged and is kept out. */
static int reload(Daemon *d) {
        (void) reload_config(d, NULL);
        return 0;
}

int daemon_reload(Daemon *d, char **ret_error) {
        return reload_config(d, ret_error);
}

static void watch_path(Daemon *d, size_t slot, const char *path, uint32_t mask, sd_event_inotify_handler_t cb);

#define CONFIG_DIR_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE)

static int on_config_change(sd_event_source *s _unused_, const struct inotify_event *ev, void *userdata) {
        Daemon *d = userdata;
        if (ev->len > 0 && !strstr(ev->name, ".conf"))
                return 0;
        /* vfiod.conf.d/ made after start-up: watch it from now on. */
        if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR) && !d->inotify_sources[1]) {
                _cleanup_free_ char *ddir = NULL;
                if (asprintf(&ddir, "%s.d", d->config_path) >= 0)
                        watch_path(d, 1, ddir, CONFIG_DIR_EVENTS, on_config_change);
        }
        if ((ev->mask & IN_CREATE) && !(ev->mask & IN_ISDIR))
                return 0;  /* a file being written: its IN_CLOSE_WRITE follows */
        return reload(d);
}

static int on_path_change(sd_event_source *s _unused_, const struct inotify_event *ev _unused_, void *userdata) {
        reconcile_soon(userdata);
        return 0;
}

static int on_signal(sd_event_source *s _unused_, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        if (si->ssi_signo == SIGHUP)
                return reload(d);
        EventFields f = { .gpu = d->gpu->address_str };
        log_event(EVENT_AGENT, LOG_INFO, &f, "Stopping on %s; the GPU stays where it is.", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1");
        return sd_event_exit(d->event, 0);
}

static int on_libvirt_run_parent(sd_event_source *s, const struct inotify_event *ev, void *userdata);

/* libvirtd makes /run/libvirt/qemu when it first starts, which may be after
 * vfiod (socket activation): until then, the nearest directory above it
 * that exists is watched for the next level to appear. */
static void watch_libvirt_run_dir(Daemon *d) {
        const char *dir = libvirt_status_dir();
        struct stat st;
        int r;

        for (;;) {
                r = sd_event_add_inotify(d->event, &d->inotify_sources[3], dir, IN_CREATE | IN_DELETE | IN_MOVED_TO,
                                         on_path_change, d);
                if (r >= 0) {
                        d->inotify_sources[4] = sd_event_source_disable_unref(d->inotify_sources[4]);
                        return;
                }
                if (r != -ENOENT) {
                        log_debug_errno(r, "Not watching %s: %m", dir);
                        return;
                }
                _cleanup_free_ char *parent = strdup(dir);
                if (!parent) {
                        log_oom();
                        return;
                }
                for (char *slash; (slash = strrchr(parent, '/'));) {
                        *slash = 0;
                        if (!*parent || stat(parent, &st) >= 0)
                                break;
                }
                const char *above = *parent ? parent : "/";
                d->inotify_sources[4] = sd_event_source_disable_unref(d->inotify_sources[4]);
                r = sd_event_add_inotify(d->event, &d->inotify_sources[4], above, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR,
                                         on_libvirt_run_parent, d);
                if (r < 0) {
                        log_debug_errno(r, "Not watching %s for %s to appear: %m", above, dir);
                        return;
                }
                log_debug("%s does not exist yet: watching %s.", dir, above);
                if (stat(dir, &st) < 0)
                        return;  /* not made in between: the parent's event will tell */
        }
}

static int on_libvirt_run_parent(sd_event_source *s _unused_, const struct inotify_event *ev, void *userdata) {
        Daemon *d = userdata;
        if (!(ev->mask & IN_ISDIR))
                return 0;
        watch_libvirt_run_dir(d);
        if (d->inotify_sources[3])
                reconcile_soon(d);  /* a status record may be there already */
        return 0;
}

static void watch_path(Daemon *d, size_t slot, const char *path, uint32_t mask, sd_event_inotify_handler_t cb) {
        int r = sd_event_add_inotify(d->event, &d->inotify_sources[slot], path, mask, cb, d);
        if (r < 0)
                log_debug_errno(r, "Not watching %s: %m", path);
}

void daemon_block_signals(void) {
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
}

int daemon_new(sd_event *event, const char *config_path, Daemon **ret) {
        _cleanup_(daemon_freep) Daemon *d = calloc(1, sizeof(Daemon));
        int r;

        if (!d)
                return log_oom();
        d->event = sd_event_ref(event);
        d->config_path = strdup(config_path);
        if (!d->config_path)
                return log_oom();

        d->access_gid = (gid_t) -1;
        if ((r = config_load(config_path, &d->config)) < 0)
                return r;
        d->access_gid = resolve_group(d->config->group);
        d->udev = udev_new();
        if (!d->udev)
                return log_oom();

        /* Monitor first, then look: no uevent is lost in between. */
        const char *group = access("/run/udev/control", F_OK) >= 0 ? "udev" : "kernel";
        d->monitor = udev_monitor_new_from_netlink(d->udev, group);
        if (!d->monitor || udev_monitor_filter_add_match_subsystem_devtype(d->monitor, "pci", NULL) < 0 ||
            udev_monitor_enable_receiving(d->monitor) < 0)
                return log_error_errno(errno ?: EIO, "Failed to listen for PCI uevents: %m");
        if ((r = sd_event_add_io(event, &d->monitor_source, udev_monitor_get_fd(d->monitor), EPOLLIN, on_uevent, d)) < 0)
                return log_error_errno(r, "Failed to watch PCI uevents: %m");

        if ((r = gpu_find(d->udev, d->config, NULL, &d->gpu)) < 0)
                return r;

        if ((r = sd_event_add_defer(event, &d->reconcile_source, on_reconcile, d)) < 0)
                return log_error_errno(r, "Failed to set up reconcile: %m");

        /* The configuration (reload on change; an invalid one is kept out), the
         * vfio group nodes, and libvirt's runtime state of running domains. */
        _cleanup_free_ char *cdir = strdup(config_path), *ddir = NULL;
        if (!cdir || asprintf(&ddir, "%s.d", config_path) < 0)
                return log_oom();
        watch_path(d, 0, dirname(cdir), CONFIG_DIR_EVENTS, on_config_change);
        watch_path(d, 1, ddir, CONFIG_DIR_EVENTS, on_config_change);
        watch_path(d, 2, "/dev/vfio", IN_CREATE | IN_DELETE, on_path_change);
        watch_libvirt_run_dir(d);

        static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                if ((r = sd_event_add_signal(event, &d->signal_sources[i], sigs[i], on_signal, d)) < 0)
                        return log_error_errno(r, "Failed to handle signal %d (is it blocked?): %m", sigs[i]);

        if (d->config->domain &&
            (r = domain_watch_new(event, d->config->uri ?: "qemu:///system", d->config->domain, on_domain, d, &d->domain)) < 0)
                return log_error_errno(r, "Failed to follow domain %s: %m", d->config->domain);

        (void) sd_event_set_watchdog(event, true);
        EventFields f = { .gpu = d->gpu->address_str, .domain = d->config->domain };
        log_event(EVENT_AGENT, LOG_INFO, &f, "Managing %s (IOMMU group %d) for %s.", d->gpu->address_str,
                  d->gpu->iommu_group, domain_name(d));

        /* The same code path at start-up as on every event: after a crash or
         * a restart of vfiod, this finishes or undoes what was left. */
        reconcile(d);
        follow_domain(d);

        *ret = TAKE_PTR(d);
        return 0;
}

Daemon *daemon_free(Daemon *d) {
        if (!d)
                return NULL;
        domain_watch_free(d->domain);
        unwatch_holders(d);
        for (size_t i = 0; i < ELEMENTSOF(d->inotify_sources); i++)
                sd_event_source_disable_unref(d->inotify_sources[i]);
        for (size_t i = 0; i < ELEMENTSOF(d->signal_sources); i++)
                sd_event_source_disable_unref(d->signal_sources[i]);
        sd_event_source_disable_unref(d->reconcile_source);
        sd_event_source_disable_unref(d->grace_timer);
        sd_event_source_disable_unref(d->start_hold_timer);
        sd_event_source_disable_unref(d->retry_timer);
        sd_event_source_disable_unref(d->backoff_timer);
        sd_event_source_disable_unref(d->worker_source);
        sd_event_source_disable_unref(d->job_source);
        sd_event_source_disable_unref(d->stop_timer);
        sd_event_source_disable_unref(d->monitor_source);
        udev_monitor_unref(d->monitor);
        gpu_free(d->gpu);
        udev_unref(d->udev);
        config_free(d->config);
        free(d->config_path);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}
