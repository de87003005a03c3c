/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfioctl: look at the GPU and move it between its host driver and vfio-pci. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus-api.h"
#include "config.h"
#include "ctl.h"
#include "doctor.h"
#include "gpu.h"
#include "handoff.h"
#include "holders.h"
#include "install.h"
#include "lg-test.h"
#include "log.h"
#include "state.h"
#include "strv.h"
#include "udev-audio.h"

#ifndef VERSION
#define VERSION "0"
#endif

static const char *arg_config = VFIOD_CONFIG_FILE;
static const char *arg_gpu = NULL;
static bool arg_drain = false;
static bool arg_direct = false;
static CtlOptions arg_ctl = {};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev *, udev_unref);

static void help(void) {
        printf("%s [OPTIONS] COMMAND\n\n"
               "Lend the GPU to the VM and get it back, through vfiod.\n\n"
               "Commands:\n"
               "  status              The GPU, each function and its driver, who uses it (vfio-status)\n"
               "  start               Hand the GPU over and start the VM (windows-start)\n"
               "  stop                Shut the VM down, destroy it after the timeout, GPU back (windows-stop)\n"
               "  force-host          Give the GPU back now when passthrough is stuck (gpu-rebind-nvidia)\n"
               "  health              The VM's state, vCPUs, memory and PCI devices vs the GPU (vm-health)\n"
               "  to-vfio             Hand every function to vfio-pci (refuses while a process uses it)\n"
               "  to-host             Give every function back to its host driver\n"
               "  reload              Make vfiod re-read its configuration\n"
               "  run-vm              windows-vm.service's main process: start, wait for the VM's end\n"
               "  hook DOMAIN OP SUB  libvirt's qemu hook (prepare/begin, release/end)\n"
               "  install-hooks       Install the libvirt hook (--remove: remove it)\n"
               "  install-services    Enable the optional units, Looking Glass autostart (--remove)\n"
               "  lg-test             Check Looking Glass end to end\n"
               "  doctor              Check this workstation against what passthrough needs\n"
               "  udev-audio ADDRESS  71-vfiod-audio.rules' program: the sound card's properties\n\n"
               "Options:\n"
               "  -g --gpu=ADDRESS    With --direct: the GPU's PCI address\n"
               "  -c --config=FILE    Configuration file (default: " VFIOD_CONFIG_FILE ")\n"
               "     --drain          Ask processes using the GPU to exit (SIGTERM) instead of refusing\n"
               "     --direct         status, to-vfio, to-host without vfiod (rescue)\n"
               "     --json           status, health: JSON\n"
               "     --follow         status: print again on every change\n"
               "     --waybar         status: one JSON line for waybar's custom module\n"
               "     --timeout=SPAN   stop: shutdown timeout (default ShutdownTimeoutSec=)\n"
               "     --vm=NAME        The VM the command is for (default: Domain= of vfiod's config)\n"
               "  -q --quiet          No progress, only errors\n"
               "  -v --verbose        Show every sysfs write (--direct)\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n\n"
               "Exit status: 0 done (or nothing to do), 1 other failure, 2 bad usage,\n"
               "3 refused (configuration or IOMMU group), 4 refused (GPU in use),\n"
               "5 failed and rolled back, 6 stuck (a write never returned), 7 rollback failed,\n"
               "8 vfiod not running, 9 access denied.\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_DRAIN = 0x100, ARG_VERSION, ARG_DIRECT, ARG_JSON, ARG_FOLLOW, ARG_WAYBAR, ARG_TIMEOUT, ARG_VM };
        static const struct option options[] = {
                { "gpu", required_argument, NULL, 'g' },
                { "config", required_argument, NULL, 'c' },
                { "drain", no_argument, NULL, ARG_DRAIN },
                { "direct", no_argument, NULL, ARG_DIRECT },
                { "json", no_argument, NULL, ARG_JSON },
                { "follow", no_argument, NULL, ARG_FOLLOW },
                { "waybar", no_argument, NULL, ARG_WAYBAR },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "vm", required_argument, NULL, ARG_VM },
                { "quiet", no_argument, NULL, 'q' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "g:c:qvh", options, NULL)) >= 0)
                switch (c) {
                case 'g':
                        arg_gpu = optarg;
                        break;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_DRAIN:
                        arg_drain = arg_ctl.drain = true;
                        break;
                case ARG_DIRECT:
                        arg_direct = true;
                        break;
                case ARG_JSON:
                        arg_ctl.json = true;
                        break;
                case ARG_FOLLOW:
                        arg_ctl.follow = true;
                        break;
                case ARG_WAYBAR:
                        arg_ctl.waybar = true;
                        break;
                case ARG_TIMEOUT:
                        if (parse_sec(optarg, &arg_ctl.timeout_usec) < 0 || arg_ctl.timeout_usec == 0) {
                                log_error("--timeout=%s is not a positive time span (expected e.g. 90s or 2min).", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'q':
                        arg_ctl.quiet = true;
                        break;
                case ARG_VM:
                        if (!*optarg || strlen(optarg) > 255 || strchr(optarg, '/')) {
                                log_error("--vm=%s is not a libvirt domain name.", optarg);
                                return -EINVAL;
                        }
                        ctl_vm_name = optarg;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts("vfioctl " VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        return 1;
}

static const char *owner_of(const Gpu *g) {
        bool vfio = false, host = false, none = false;
        for (size_t i = 0; i < g->n_functions; i++) {
                const PciFunction *f = &g->functions[i];
                if (f->role != ROLE_GPU)
                        continue;
                if (!f->driver)
                        none = true;
                else if (streq(f->driver, VFIO_DRIVER))
                        vfio = true;
                else
                        host = true;
        }
        return none ? "incomplete (a function has no driver)" : vfio && host ? "mixed" : vfio ? "vfio" : "host";
}

static int run_status(Gpu *g) {
        HolderList holders = {};
        char vfio_node[64] = "";

        (void) gpu_load_names(g);
        printf("GPU:          %s  %s [%04x:%04x]\n", g->address_str, strna(g->functions[0].name),
               g->functions[0].vendor, g->functions[0].device);
        printf("Owner:        %s\n", owner_of(g));
        if (g->iommu_group >= 0) {
                snprintf(vfio_node, sizeof(vfio_node), "/dev/vfio/%d", g->iommu_group);
                printf("IOMMU group:  %d%s\n", g->iommu_group,
                       stat(vfio_node, &(struct stat) {}) >= 0 ? "  (/dev/vfio node present)" : "");
        } else
                printf("IOMMU group:  none (IOMMU disabled?)\n");

        printf("Functions:\n");
        for (size_t i = 0; i < g->n_functions; i++) {
                const PciFunction *f = &g->functions[i];
                printf("  %s  %-8s %-28.28s %-44.44s %s%s%s\n", f->address_str, function_role_to_string(f->role),
                       strna(f->class_name), strna(f->name), f->driver ?: "(no driver)",
                       f->driver_override ? "  override=" : "", strempty(f->driver_override));
        }

        for (size_t i = 0; i < g->n_functions; i++) {
                _cleanup_free_ char *stuck = NULL;
                if (stuck_describe(g->functions[i].address_str, NULL, &stuck) > 0)
                        printf("Stuck:        %s: %s\n", g->functions[i].address_str, stuck);
        }

        int r = gpu_holders(g, "/proc", NODE_KINDS_ALL, true, &holders);
        if (r < 0)
                printf("Holders:      unknown (%s)\n", strerror(-r));
        else
                holders_print(stdout, &holders);
        holder_list_done(&holders);
        return EXIT_DONE;
}

static int outcome_to_exit(HandoffOutcome o) {
        static const int table[_HANDOFF_OUTCOME_MAX] = {
                [HANDOFF_DONE] = EXIT_DONE,
                [HANDOFF_NOTHING_TO_DO] = EXIT_DONE,
                [HANDOFF_REFUSED_CONFIG] = EXIT_REFUSED_CONFIG,
                [HANDOFF_REFUSED_IN_USE] = EXIT_REFUSED_IN_USE,
                [HANDOFF_ROLLED_BACK] = EXIT_ROLLED_BACK,
                [HANDOFF_STUCK] = EXIT_STUCK,
                [HANDOFF_ROLLBACK_FAILED] = EXIT_ROLLBACK_FAILED,
        };
        return o < _HANDOFF_OUTCOME_MAX ? table[o] : EXIT_FAILURE_OTHER;
}

static int run_handoff(struct udev *udev, const Config *config, Gpu *g, bool to_vfio) {
        _cleanup_close_ int lock = -1;
        Handoff h;
        int r;

        r = handoff_lock(g->address_str, &lock);
        if (r == -EBUSY) {
                log_error("Another handoff of %s is running; try again when it is done.", g->address_str);
                return EXIT_FAILURE_OTHER;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to lock %s under %s: %m", g->address_str, runtime_dir());
                return EXIT_FAILURE_OTHER;
        }

        r = handoff_init(&h, udev, config, g);
        if (r < 0) {
                handoff_done(&h);
                return EXIT_FAILURE_OTHER;
        }
        h.drain = arg_drain;

        /* One transaction: Ctrl-C between an unbind and its probe would leave
         * a function with no driver. The signals wait until it is over; every
         * step has its deadline. */
        sigset_t stop, old;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGHUP);
        sigaddset(&stop, SIGQUIT);
        (void) sigprocmask(SIG_BLOCK, &stop, &old);
        HandoffOutcome o = to_vfio ? handoff_to_vfio(&h) : handoff_to_host(&h);
        int sig = sigtimedwait(&stop, NULL, &(struct timespec) {});
        if (sig > 0)
                log_warning("Got %s during the handoff: finished it first, as it is one transaction.", strsignal(sig));
        while (sigtimedwait(&stop, NULL, &(struct timespec) {}) > 0)
                ;
        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        if (o == HANDOFF_DONE || o == HANDOFF_NOTHING_TO_DO)
                printf("%s\n", h.message);
        else
                fprintf(stderr, "%s: %s\n", handoff_outcome_to_string(o), h.message);
        handoff_done(&h);
        return outcome_to_exit(o);
}

/* Commands with options of their own, each in its own file: "vfioctl VERB ARGS..." or a link
 * named LINK. Their main gets argv with argv[0] = the verb. */
static const struct {
        const char *verb, *link;
        int (*main)(int argc, char *argv[]);
} subcommands[] = {
        /* lg-test here */
        { "lg-test", "lg-test", lg_test_main },
        /* doctor here */
        { "doctor", NULL, doctor_main },
        { "install-hooks", "install-hooks", install_main },
        { "install-services", "install-services", install_main },
        { "udev-audio", NULL, udev_audio_main },
        { NULL, NULL, NULL },  /* keeps the table non-empty */
};

static int run_subcommand(int argc, char *argv[], bool *found) {
        const char *self = basename(argv[0]);
        for (size_t i = 0; subcommands[i].verb; i++) {
                if (subcommands[i].link && streq(self, subcommands[i].link)) {
                        *found = true;
                        return subcommands[i].main(argc, argv);
                }
                if (argc > 1 && streq(argv[1], subcommands[i].verb)) {
                        *found = true;
                        return subcommands[i].main(argc - 1, argv + 1);
                }
        }
        *found = false;
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_(gpu_freep) Gpu *gpu = NULL;
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        PciAddress address;
        bool found;
        int r;

        r = run_subcommand(argc, argv, &found);
        if (found)
                return r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_DONE;

        /* Installed as links: windows-start is "vfioctl start", and so on. */
        static const struct { const char *link, *verb; } aliases[] = {
                { "windows-start", "start" }, { "windows-stop", "stop" }, { "vfio-status", "status" },
                { "gpu-rebind-nvidia", "force-host" }, { "vm-health", "health" },
        };
        const char *verb = NULL, *self = basename(argv[0]);
        for (size_t i = 0; i < ELEMENTSOF(aliases); i++)
                if (streq(self, aliases[i].link))
                        verb = aliases[i].verb;
        if (!verb) {
                if (optind >= argc) {
                        log_error("Missing command (see --help).");
                        return EXIT_USAGE;
                }
                verb = argv[optind++];
        }
        arg_ctl.config = arg_config;

        if (streq(verb, "hook"))
                return ctl_hook(argc - optind + 1, argv + optind - 1);

        static const char *const verbs[] = { "status", "start", "stop", "force-host", "health", "to-vfio",
                                             "to-host", "reload", "run-vm", NULL };
        bool known = false;
        for (size_t i = 0; verbs[i]; i++)
                known = known || streq(verb, verbs[i]);
        if (!known) {
                log_error("Unknown command '%s' (see --help).", verb);
                return EXIT_USAGE;
        }
        if (optind < argc) {
                log_error("Unexpected argument '%s' after %s.", argv[optind], verb);
                return EXIT_USAGE;
        }
        if (arg_direct && !streq(verb, "status") && !streq(verb, "to-vfio") && !streq(verb, "to-host")) {
                log_error("--direct works with status, to-vfio and to-host only.");
                return EXIT_USAGE;
        }
        if (arg_gpu && !arg_direct) {
                log_error("--gpu= needs --direct: vfiod manages the GPU of its configuration.");
                return EXIT_USAGE;
        }
        if ((arg_ctl.follow || arg_ctl.waybar) && !streq(verb, "status")) {
                log_error("--follow and --waybar go with status.");
                return EXIT_USAGE;
        }

        if (!arg_direct) {
                _cleanup_free_ char *gpu_path = NULL, *vm = NULL;
                sd_bus *bus = NULL;
                r = ctl_connect(&bus);
                if (r != EXIT_DONE)
                        return r;
                if (streq(verb, "status"))
                        r = ctl_status(bus, &arg_ctl);
                else if (streq(verb, "health"))
                        r = ctl_health(bus, &arg_ctl);
                else if (streq(verb, "run-vm"))
                        r = ctl_run_vm(bus, &arg_ctl);
                else if (streq(verb, "reload"))
                        r = ctl_request(bus, BUS_PATH, "org.vfiod1.Manager", "Reload", arg_ctl.quiet, "");
                else if ((r = ctl_paths(bus, &gpu_path, &vm)) == EXIT_DONE) {
                        if (streq(verb, "to-vfio"))
                                r = ctl_request(bus, gpu_path, "org.vfiod1.Gpu", "ToVfio", arg_ctl.quiet, "b", arg_drain);
                        else if (streq(verb, "to-host"))
                                r = ctl_request(bus, gpu_path, "org.vfiod1.Gpu", "ToHost", arg_ctl.quiet, "b", arg_drain);
                        else if (streq(verb, "force-host"))
                                r = ctl_request(bus, gpu_path, "org.vfiod1.Gpu", "ForceHost", arg_ctl.quiet, "");
                        else if (!vm) {
                                log_error("No VM is configured: set Domain= in [VM] of %s.", arg_config);
                                r = EXIT_REFUSED_CONFIG;
                        } else if (streq(verb, "start"))
                                r = ctl_request(bus, vm, "org.vfiod1.Vm", "Start", arg_ctl.quiet, "b", arg_drain);
                        else
                                r = ctl_request(bus, vm, "org.vfiod1.Vm", "Stop", arg_ctl.quiet, "t",
                                                arg_ctl.timeout_usec);
                }
                sd_bus_flush_close_unref(bus);
                return r;
        }

        if (arg_gpu && pci_address_parse(arg_gpu, &address) < 0) {
                log_error("--gpu=%s is not a PCI address (expected e.g. 0000:01:00.0).", arg_gpu);
                return EXIT_USAGE;
        }
        if (config_load(arg_config, &config) < 0)
                return EXIT_REFUSED_CONFIG;

        udev = udev_new();
        if (!udev) {
                log_oom();
                return EXIT_FAILURE_OTHER;
        }
        if (gpu_find(udev, config, arg_gpu ? &address : NULL, &gpu) < 0)
                return EXIT_REFUSED_CONFIG;

        if (streq(verb, "status"))
                return run_status(gpu);
        return run_handoff(udev, config, gpu, streq(verb, "to-vfio"));
}
