/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfioctl udev-audio: what 71-vfiod-audio.rules sets on a sound card.
 *
 * A udev rule cannot read vfiod.conf, so the rule asks vfioctl at each event
 * of a sound card with a PCI parent, and vfioctl reads the configuration
 * then: the switch ([Desktop] HideGpuAudio=) and which GPU it is (Address=,
 * ID=, or the display controller that is not the boot display, as vfiod
 * finds it) are never copied into a generated file that could go stale.
 * Only a card on a function of the GPU's own slot gets the properties: the
 * iGPU's HDMI audio and the board's codec sit on other slots.
 *
 * ACP_IGNORE: PipeWire's ALSA udev monitor (spa/plugins/alsa/alsa-udev.c,
 * the one WirePlumber loads) skips a card that carries it, before opening
 * anything. PULSE_IGNORE: PulseAudio's module-udev-detect does the same.
 *
 * udevd keeps a program's stderr for its debug log, so under the rule
 * (--journal) a bad configuration is told to the journal. A GPU that is not
 * there (an eGPU unplugged, every card at boot) is no error of the card's:
 * no properties, exit 0, and vfioctl doctor says why. */
#include "udev-audio.h"

#include <errno.h>
#include <getopt.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "ctl.h"
#include "gpu.h"
#include "log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev *, udev_unref);

static void help(void) {
        printf("vfioctl udev-audio [-c FILE] [--journal] ADDRESS\n\n"
               "The program of 71-vfiod-audio.rules: with [Desktop] HideGpuAudio=yes, prints\n"
               "ACP_IGNORE=1 and PULSE_IGNORE=1 when ADDRESS, the PCI function a sound card\n"
               "sits on, is a function of the GPU's slot; else nothing.\n\n"
               "  -c --config=FILE     Configuration file (default: " VFIOD_CONFIG_FILE ")\n"
               "     --journal         Log to the journal (udevd keeps stderr for its debug log)\n"
               "  -h --help            Show this help\n");
}

static bool gpu_has_function(const Gpu *g, const PciAddress *a) {
        for (size_t i = 0; i < g->n_functions; i++)
                if (g->functions[i].role == ROLE_GPU && pci_address_same_slot(&g->functions[i].address, a) &&
                    g->functions[i].address.function == a->function)
                        return true;
        return false;
}

int udev_audio_main(int argc, char *argv[]) {
        enum { ARG_JOURNAL = 0x100 };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "journal", no_argument, NULL, ARG_JOURNAL },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_(gpu_freep) Gpu *gpu = NULL;
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        const char *path = VFIOD_CONFIG_FILE;
        PciAddress address;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case ARG_JOURNAL:
                        log_set_target_journal();
                        break;
                case 'h':
                        help();
                        return EXIT_DONE;
                default:
                        return EXIT_USAGE;
                }
        if (optind >= argc) {
                log_error("Missing the sound card's PCI function (udev's %%b), e.g. vfioctl udev-audio 0000:01:00.1.");
                return EXIT_USAGE;
        }
        if (optind + 1 < argc) {
                log_error("Unexpected argument '%s' after %s.", argv[optind + 1], argv[optind]);
                return EXIT_USAGE;
        }
        if (pci_address_parse(argv[optind], &address) < 0) {
                log_error("'%s' is not a PCI address (expected e.g. 0000:01:00.1).", argv[optind]);
                return EXIT_USAGE;
        }

        if (config_load(path, &config) < 0)
                return EXIT_REFUSED_CONFIG;
        if (!config->hide_gpu_audio)
                return EXIT_DONE;
        if (!(udev = udev_new()))
                return log_oom(), EXIT_FAILURE_OTHER;
        /* gpu_find() tells a user at a terminal which GPUs it saw; here that
         * is one line, and none for a GPU that is not there. */
        int level = log_get_max_level();
        log_set_max_level(LOG_CRIT);
        r = gpu_find(udev, config, NULL, &gpu);
        log_set_max_level(level);
        if (r == -ENODEV)
                return log_debug("No GPU as %s configures it: %s gets nothing.", path, argv[optind]), EXIT_DONE;
        if (r < 0) {
                log_error_errno(r, "Cannot tell which GPU %s means (%s): %s gets nothing.", path, log_last_error(),
                                argv[optind]);
                return EXIT_FAILURE_OTHER;
        }
        if (gpu_has_function(gpu, &address))
                printf("ACP_IGNORE=1\nPULSE_IGNORE=1\n");
        return EXIT_DONE;
}
