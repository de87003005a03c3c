/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* What must outlive the process that did a handoff: the drivers the GPU's
 * functions had, the services and modules it stopped, and writes that never
 * returned. Kept under the runtime directory, written atomically. */

typedef struct HandoffState {
        char **drivers;    /* "0000:01:00.0=nvidia" */
        char **services;
        char **modules;
} HandoffState;

void handoff_state_done(HandoffState *s);
const char *runtime_dir(void);
const char *modprobe_dir(void);

int handoff_state_save(const char *gpu, const HandoffState *s);
/* -ENOENT when there is none. */
int handoff_state_load(const char *gpu, HandoffState *ret);
int handoff_state_remove(const char *gpu);
/* A handoff to vfio-pci began and was neither given back nor rolled back. */
bool handoff_state_exists(const char *gpu);
/* A function's recorded driver: "" it had none; ORIGINAL_UNKNOWN it was on
 * vfio-pci when a give-back with no record began (any host driver). */
#define ORIGINAL_UNKNOWN "*"
/* The driver the function had before the handoff, or NULL. */
const char *handoff_state_driver(const HandoffState *s, const char *function);

/* A write to a function's sysfs that has not returned. */
int stuck_record(const char *function, pid_t pid, const char *what);
/* 1 and the writer's pid and the write while it still has not returned. */
int stuck_check(const char *function, pid_t *ret_pid, char **ret_what);
/* The same, in words for a person: the write, the writer's pid and state,
 * and what can be done (a reboot when the kernel holds it in D). */
int stuck_describe(const char *function, pid_t *ret_pid, char **ret_text);

/* Held for the whole of a handoff: one at a time per GPU, across processes. */
int handoff_lock(const char *gpu, int *ret_fd);
