/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* reconcile()'s decision as a pure function: observe() in daemon.c reads
 * the truth into a Snapshot (sysfs, /run/vfiod, the domain's state, the
 * holders of the VM's nodes, what was asked), decide() returns one action
 * and its reason, act() carries it out. decide() reads nothing else: no
 * sysfs, no libvirt, no clock; tests/unit/test-decide.c drives it by table. */

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"
#include "domain-watch.h"

/* What vfiod was asked, or decided, that outlives one reconcile. */
typedef enum Intent {
        INTENT_FOLLOW,     /* nobody asked: follow the domain; the orphan grace applies */
        INTENT_START,      /* libvirt's prepare hook had the GPU handed over: hold it until the domain runs or stops */
        INTENT_GIVE_BACK,  /* the domain stopped, Vm.Stop, ForceHost, a start that failed: back now, no grace */
        _INTENT_MAX,
} Intent;

typedef enum FunctionDriver {
        FUNCTION_NO_DRIVER,
        FUNCTION_ON_VFIO,
        FUNCTION_ON_HOST,   /* any driver but vfio-pci */
} FunctionDriver;

typedef struct FunctionSeen {
        FunctionDriver driver;
        bool override;       /* driver_override is set: vfiod's doing, or a handoff cut short */
} FunctionSeen;

#define SNAPSHOT_FUNCTIONS_MAX 8  /* the functions of one PCI slot */

typedef struct Snapshot {
        bool lock_busy;            /* another process (vfioctl) holds the handoff lock */
        bool stuck;                /* a write of an earlier handoff has not returned */
        FunctionSeen functions[SNAPSHOT_FUNCTIONS_MAX];
        size_t n_functions;
        bool recorded;             /* /run/vfiod has a record of a handoff (the originals) */
        DomainState domain;
        bool vm_nodes_held;        /* a process has /dev/vfio/N or a vfio cdev open */
        bool start_requested;      /* a Vm.Start request is in flight */
        bool stop_requested;       /* a Vm.Stop request is in flight */
        Intent intent;
        bool grace_expired;        /* the orphan grace ran out */
} Snapshot;

typedef enum Action {
        ACTION_WAIT_LOCK,       /* look again shortly */
        ACTION_WATCH_STUCK,     /* wait for the stuck writer's exit */
        ACTION_HOME,            /* on the host: nothing to do, the intent is spent */
        ACTION_LENT,            /* the running domain's: nothing to do, the intent is spent */
        ACTION_WAIT_LIBVIRT,    /* the domain's state is unknown: touch nothing */
        ACTION_FINISH_TO_VFIO,  /* the domain runs, a handoff to it was cut short */
        ACTION_HOLD_START,      /* a start is under way: the GPU is the domain's */
        ACTION_WAIT_HOLDERS,    /* the VM's nodes are open: wait for their holders' exit */
        ACTION_NOT_OURS,        /* on vfio-pci by someone else's doing (vfio-pci.ids, a bind by hand): leave it */
        ACTION_GIVE_BACK,       /* to the host now */
        ACTION_GRACE,           /* to the host when the orphan grace runs out */
        _ACTION_MAX,
} Action;

typedef struct Decision {
        Action action;
        GpuOwner owner;     /* what the status says meanwhile */
        bool requested;     /* the give-back is a Vm.Stop's, not a recovery */
        const char *why;    /* the rule that chose it, for the debug log and the tests */
} Decision;

/* The functions of a snapshot by where they are: host counts a function
 * with no driver that nothing says vfiod touched (blacklisted, not probed
 * yet, a user's unbind): the host's, left alone. */
typedef struct SnapshotCounts {
        size_t on_vfio, on_host, driverless;
        bool dirty;         /* overrides, or a record on a GPU all on host drivers: a handoff cut short */
} SnapshotCounts;

SnapshotCounts snapshot_count(const Snapshot *s);
Decision decide(const Snapshot *s);

const char *action_to_string(Action a);
const char *intent_to_string(Intent i);
