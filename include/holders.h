/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

typedef struct Holder {
        pid_t pid;
        uid_t uid;
        char *user;   /* name, or the uid as text */
        char *comm;
        char *node;   /* the device node it has open */
} Holder;

typedef struct HolderList {
        Holder *items;
        size_t n;
} HolderList;

void holder_list_done(HolderList *l);

/* Every process (but ourselves) with one of nodes open. Nodes that do not
 * exist are skipped. proc_root is "/proc" except in tests. */
int holders_scan(const char *proc_root, char * const *nodes, HolderList *ret);

/* "1234 python3 (user alice) on /dev/nvidia0, 99 ..." */
char *holders_format(const HolderList *l);

/* Parsers for /proc/PID/status and /proc/PID/stat. */
int proc_status_uid(const char *status, uid_t *ret);
int proc_stat_state(const char *stat, char *ret);
/* One letter from /proc/PID/stat: R, S, D, Z ... */
int process_state(pid_t pid, char *ret);
/* Running or sleeping: not gone and not a zombie. */
bool process_alive(pid_t pid);

/* Sends SIGTERM to each holder and waits up to timeout for all to exit. */
int holders_drain(const HolderList *l, uint64_t timeout_usec);
