/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "device-nodes.h"
#include "macro.h"

/* Whatever keeps a driver from letting go of a device: a process with one of
 * its nodes open or mapped, or a user inside the kernel (fbcon, a module
 * reference that no open file explains). */

typedef enum HoldHow {
        HOLD_FD,       /* an open file descriptor */
        HOLD_MAPPING,  /* a memory mapping (its fd may be closed: the mapping keeps the file) */
        HOLD_KERNEL,   /* no process: fbcon, a module reference */
        _HOLD_HOW_MAX,
} HoldHow;

typedef struct Holder {
        pid_t pid;     /* 0 for HOLD_KERNEL */
        uid_t uid;
        char *user;    /* name, or the uid as text; "kernel" for HOLD_KERNEL */
        char *comm;    /* the process's name, escaped to printable ASCII; for the kernel, what holds */
        char *node;    /* the device node it holds */
        HoldHow how;
        NodeKind kind; /* of the node: only NODE_FUNCTION holders may be drained */
        char *fix;     /* HOLD_KERNEL: what releases it; NULL otherwise */
} Holder;

typedef struct HolderList {
        Holder *items;
        size_t n;
} HolderList;

void holder_list_done(HolderList *l);

/* Every process (but ourselves) that has one of nodes open or mapped, once
 * per process and node (an fd wins over a mapping). proc_root is "/proc"
 * except in tests. The scan calls stat() only on what an fd points to under
 * dev_dir() (statx(AT_STATX_DONT_SYNC): a hung network or FUSE mount cannot
 * put it in D state), and matches by device number. */
int holders_scan(const char *proc_root, const DeviceNodeList *nodes, HolderList *ret);
/* Only file descriptors: what the daemon's loop may do (reading another
 * process's maps takes its mmap lock, which a process stuck in a page fault holds). */
int holders_scan_fds(const char *proc_root, const DeviceNodeList *nodes, HolderList *ret);

/* The users inside the kernel of the GPU's functions, appended to l:
 * fbcon on one of its framebuffers; a reference on a function's driver
 * module that neither the modules using it nor processes explain (only
 * judged when the driver serves this function alone and no process holds
 * the function). */
int kernel_holders_scan(const Gpu *g, const DeviceNodeList *nodes, HolderList *l);
/* Whether a console is on framebuffer index fb, asked of fbcon through the
 * framebuffer node (FBIOGET_CON2FBMAP): 1 and the console, 0 none, -errno. */
int fbcon_on(const char *node, unsigned fb, unsigned *ret_console);

/* Every holder of the GPU: its nodes of the given kinds (NODE_KINDS_ALL ...),
 * looked up afresh, the processes on them and, with kernel, the kernel's users. */
int gpu_holders(const Gpu *g, const char *proc_root, unsigned kinds, bool kernel, HolderList *ret);

/* "1234 python3 (user alice, fd) on /dev/nvidia0, fbcon (kernel) on /dev/fb1: FIX, ..." */
char *holders_format(const HolderList *l);
/* "Holders:      ..." lines of vfio-status, one a holder. */
void holders_print(FILE *out, const HolderList *l);
/* One holder in those words. */
char *holder_describe(const Holder *h);
const char *hold_how_to_string(HoldHow h);
HoldHow hold_how_from_string(const char *s);
size_t holders_count(const HolderList *l, HoldHow how);
/* Holders of kinds that are not NODE_FUNCTION or that are the kernel's: nobody may signal them. */
size_t holders_undrainable(const HolderList *l);

/* A list as text, a line a holder: how a scanning child hands it over. */
int holders_serialize(const HolderList *l, FILE *f);
int holders_deserialize(const char *text, HolderList *ret);

/* Parsers for /proc/PID/status, /proc/PID/stat and one line of /proc/PID/maps. */
int proc_status_uid(const char *status, uid_t *ret);
int proc_stat_state(const char *stat, char *ret);
/* Field 22, starttime (clock ticks after boot): with the pid, names one process for good. */
int proc_stat_starttime(const char *stat, uint64_t *ret);
int proc_maps_line(const char *line, unsigned *ret_major, unsigned *ret_minor, unsigned long *ret_inode);
/* One letter from /proc/PID/stat: R, S, D, Z ... */
int process_state(pid_t pid, char *ret);
/* Running or sleeping: not gone and not a zombie. */
bool process_alive(pid_t pid);
/* One read of /proc/PID/stat: its state and start time (either may be NULL); -ENOENT when it is gone. */
int process_stat(pid_t pid, char *ret_state, uint64_t *ret_start);
/* comm made printable: bytes outside printable ASCII as \xNN. */
char *printable_name(const char *s);

/* Sends SIGTERM to each holder of a NODE_FUNCTION node (never the VM's, never
 * a shared node's, never the kernel) and waits up to timeout for them to exit. */
int holders_drain(const HolderList *l, uint64_t timeout_usec);
