/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "macro.h"
#include "pci-address.h"
#include "time-util.h"

#define VFIOD_CONFIG_FILE "/etc/vfiod/vfiod.conf"

typedef struct Config {
        /* [GPU] */
        bool have_address;
        PciAddress address;
        bool have_id;
        PciId id;
        char *host_driver;        /* give-back target when nothing was recorded */
        char **host_modules;      /* unloaded in this order, loaded in reverse */
        char **services;          /* systemd units that hold the GPU */
        /* [VM] */
        char *domain;
        char *uri;
        usec_t shutdown_timeout;  /* Vm.Stop: ACPI shutdown, then destroy after this long */
        /* [Handoff] */
        usec_t unbind_timeout;
        usec_t bind_timeout;
        usec_t drain_grace;
        usec_t orphan_grace;      /* on vfio-pci, no domain, nobody on /dev/vfio/N: give back after this */
        bool block_host_modules;  /* keep the host stack from loading while the VM owns the GPU */
        /* [Access] */
        char *group;              /* members may change state without polkit */
        /* [LookingGlass] */
        char *lg_user;            /* whose session manager runs the client unit */
        char *lg_unit;            /* the client's user unit */
        char *lg_device;          /* /dev/shm/looking-glass or /dev/kvmfr0 */
        unsigned lg_width, lg_height;
        bool lg_hdr;
        /* [Desktop] */
        bool hide_gpu_audio;      /* 71-vfiod-audio.rules: the sound servers leave the GPU's sound card alone */
} Config;

Config *config_new(void);
Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* Parses path, then path.d/ *.conf in name order. A missing main file is
 * fine (defaults); any error is logged as one "file:line: what" line, and
 * nothing is returned. */
int config_load(const char *path, Config **ret);
