/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfioctl: look at the GPU and move it between its host driver and vfio-pci. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gpu.h"
#include "handoff.h"
#include "holders.h"
#include "log.h"
#include "state.h"
#include "strv.h"

#ifndef VERSION
#define VERSION "0"
#endif

/* Documented in vfioctl --help and README. */
enum {
        EXIT_DONE = 0,
        EXIT_FAILURE_OTHER = 1,
        EXIT_USAGE = 2,
        EXIT_REFUSED_CONFIG = 3,
        EXIT_REFUSED_IN_USE = 4,
        EXIT_ROLLED_BACK = 5,
        EXIT_STUCK = 6,
        EXIT_ROLLBACK_FAILED = 7,
};

static const char *arg_config = VFIOD_CONFIG_FILE;
static const char *arg_gpu = NULL;
static bool arg_drain = false;

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev *, udev_unref);

static void help(void) {
        printf("%s [OPTIONS] COMMAND\n\n"
               "Move a GPU with all its functions between its host driver and vfio-pci.\n\n"
               "Commands:\n"
               "  status          The GPU, each function and its driver, the IOMMU group, who uses it\n"
               "  to-vfio         Hand every function to vfio-pci (refuses while a process uses it)\n"
               "  to-host         Give every function back to its host driver\n\n"
               "Options:\n"
               "  -g --gpu=ADDRESS   The GPU's PCI address (default: Address= or ID= in the config,\n"
               "                     else the one display controller that is not the boot display)\n"
               "  -c --config=FILE   Configuration file (default: " VFIOD_CONFIG_FILE ")\n"
               "     --drain         Ask processes using the GPU to exit (SIGTERM) instead of refusing\n"
               "  -v --verbose       Show every sysfs write\n"
               "  -h --help          Show this help\n"
               "     --version       Show the version\n\n"
               "Exit status: 0 done (or nothing to do), 1 other failure, 2 bad usage,\n"
               "3 refused (configuration or IOMMU group), 4 refused (GPU in use),\n"
               "5 failed and rolled back, 6 stuck (a write never returned), 7 rollback failed.\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_DRAIN = 0x100, ARG_VERSION };
        static const struct option options[] = {
                { "gpu", required_argument, NULL, 'g' },
                { "config", required_argument, NULL, 'c' },
                { "drain", no_argument, NULL, ARG_DRAIN },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "g:c:vh", options, NULL)) >= 0)
                switch (c) {
                case 'g':
                        arg_gpu = optarg;
                        break;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_DRAIN:
                        arg_drain = true;
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
        _cleanup_strv_free_ char **nodes = NULL;
        HolderList holders = {};
        char vfio_node[64] = "";

        (void) gpu_load_names(g);
        printf("GPU:          %s  %s [%04x:%04x]\n", g->address_str, strna(g->functions[0].name),
               g->functions[0].vendor, g->functions[0].device);
        printf("Owner:        %s\n", owner_of(g));
        if (g->iommu_group >= 0) {
                snprintf(vfio_node, sizeof(vfio_node), "/dev/vfio/%d", g->iommu_group);
                printf("IOMMU group:  %d%s\n", g->iommu_group,
                       access(vfio_node, F_OK) >= 0 ? "  (/dev/vfio node present)" : "");
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

        int r = gpu_device_nodes(g, &nodes);
        if (r >= 0)
                r = holders_scan("/proc", nodes, &holders);
        if (r < 0)
                printf("Holders:      unknown (%s)\n", strerror(-r));
        else if (holders.n == 0)
                printf("Holders:      none\n");
        else
                for (size_t i = 0; i < holders.n; i++)
                        printf("%s%d %s (user %s) on %s\n", i == 0 ? "Holders:      " : "              ",
                               holders.items[i].pid, holders.items[i].comm, holders.items[i].user, holders.items[i].node);
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

        HandoffOutcome o = to_vfio ? handoff_to_vfio(&h) : handoff_to_host(&h);
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
        /* doctor here */
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

        if (optind >= argc) {
                log_error("Missing command: status, to-vfio or to-host (see --help).");
                return EXIT_USAGE;
        }
        const char *verb = argv[optind];
        bool is_status = streq(verb, "status"), is_vfio = streq(verb, "to-vfio"), is_host = streq(verb, "to-host");
        if (!is_status && !is_vfio && !is_host) {
                log_error("Unknown command '%s': expected status, to-vfio or to-host.", verb);
                return EXIT_USAGE;
        }
        if (optind + 1 < argc) {
                log_error("Unexpected argument '%s' after %s.", argv[optind + 1], verb);
                return EXIT_USAGE;
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

        if (is_status)
                return run_status(gpu);
        return run_handoff(udev, config, gpu, is_vfio);
}
