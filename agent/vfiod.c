/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiod: the agent that owns GPU state (see daemon.c). */
#include <getopt.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "bus-api.h"
#include "config.h"
#include "daemon.h"
#include "log.h"

#ifndef VERSION
#define VERSION "0"
#endif


int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        const char *config = VFIOD_CONFIG_FILE;
        int c;

        while ((c = getopt_long(argc, argv, "c:vh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config = optarg;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        printf("%s [--config FILE] [--verbose]\n\n"
                               "The agent that owns the GPU: gives it back to the host when its VM\n"
                               "stops or crashes, and recovers stuck passthrough.\n", program_invocation_short_name);
                        return 0;
                case 'V':
                        puts("vfiod " VERSION);
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s' (see --help).", argv[optind]);
                return 2;
        }

        daemon_block_signals();

        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(daemon_freep) Daemon *d = NULL;
        _cleanup_(bus_api_freep) BusApi *api = NULL;
        int r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m"), 1;
        if (daemon_new(event, config, &d) < 0)
                return 1;
        if (bus_api_new(event, d, &api) < 0)
                return 1;
        /* After the bus name: a unit with BusName= is ready when clients can call. */
        (void) sd_notify(false, "READY=1");
        r = sd_event_loop(event);
        return r < 0 ? 1 : 0;
}
