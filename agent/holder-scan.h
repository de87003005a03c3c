/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "holders.h"

/* The daemon's holder scans, off its loop: reading every process's fds and
 * maps may block (a maps read waits for a process's mmap lock), so each scan
 * runs in a child with a deadline. One scan at a time and at most one per
 * interval: any number of clients asking cost no more, and each is answered
 * by a scan that started after it asked. */
typedef struct HolderScan HolderScan;

/* error: 0, or why there is no list (-ETIMEDOUT: the child did not finish). */
typedef void (*holder_scan_done_t)(int error, const HolderList *l, void *userdata);

int holder_scan_new(sd_event *event, uint64_t deadline_usec, uint64_t interval_usec, HolderScan **ret);
HolderScan *holder_scan_free(HolderScan *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(HolderScan *, holder_scan_free);

/* The last complete result, if it is at most max_age old; NULL otherwise. */
const HolderList *holder_scan_cached(HolderScan *s, uint64_t max_age_usec);
/* The last result however old (empty before the first scan). */
const HolderList *holder_scan_last(HolderScan *s);

/* A scan of g that starts after this call (now, or once the interval since
 * the last start has passed), shared by everyone who asks meanwhile; done is
 * called when it ends or its deadline passes. done NULL: only refresh the
 * cache. -ETIMEDOUT while an earlier scan is stuck. */
int holder_scan_request(HolderScan *s, const Gpu *g, holder_scan_done_t done, void *userdata);
/* A waiter that went away: its done is not called. */
void holder_scan_forget(HolderScan *s, void *userdata);
/* Called after each scan whose list differs from the one before. */
void holder_scan_set_changed(HolderScan *s, void (*changed)(void *userdata), void *userdata);
