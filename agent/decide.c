/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* decide(): which one thing reconcile() does, from a snapshot alone.
 *
 * The rules, first match wins (docs/architecture.md has them as a table):
 * never act while someone else's handoff or a stuck write is in flight;
 * leave a GPU that is home, or lent to its running domain; touch nothing
 * while the domain's state is unknown; finish a move towards a running
 * domain; hold the GPU for a start under way; wait for the VM's nodes to
 * be closed; leave what vfiod did not put on vfio-pci unless a stop is
 * asked for; give back at once what vfiod took when there is a reason to
 * (a stop, a request, a function part-way), else after the orphan grace. */
#include "decide.h"

#include "macro.h"

SnapshotCounts snapshot_count(const Snapshot *s) {
        SnapshotCounts c = {};
        for (size_t i = 0; i < s->n_functions; i++) {
                const FunctionSeen *f = &s->functions[i];
                if (f->override)
                        c.dirty = true;
                if (f->driver == FUNCTION_ON_VFIO)
                        c.on_vfio++;
                else if (f->driver == FUNCTION_ON_HOST || (!f->override && !s->recorded))
                        /* No driver and not by vfiod's doing (blacklisted, not
                         * probed yet, a user's unbind): the host's. */
                        c.on_host++;
                else
                        c.driverless++;
        }
        if (c.on_host == s->n_functions && s->recorded)
                c.dirty = true;  /* back on host drivers, the record of a handoff cut short left */
        return c;
}

#define DECISION(a, o, w) ((Decision) { .action = (a), .owner = (o), .why = (w) })

Decision decide(const Snapshot *s) {
        SnapshotCounts c = snapshot_count(s);
        size_t n = s->n_functions;

        if (s->lock_busy)
                return DECISION(ACTION_WAIT_LOCK, OWNER_TRANSITIONING, "another process holds the handoff lock");
        if (s->stuck)
                return DECISION(ACTION_WATCH_STUCK, OWNER_STUCK, "a write has not returned");
        if (c.on_host == n && !c.dirty)
                return DECISION(ACTION_HOME, OWNER_HOST, "every function on a host driver, no handoff left");
        if (s->domain == DOMAIN_ACTIVE && c.on_vfio == n)
                return DECISION(ACTION_LENT, OWNER_VFIO, "every function on vfio-pci, the domain runs");
        if (s->domain == DOMAIN_UNKNOWN)
                /* Never take the GPU from a VM we cannot see. */
                return DECISION(ACTION_WAIT_LIBVIRT, c.on_vfio == n ? OWNER_VFIO : OWNER_INCOMPLETE,
                                "the domain's state is unknown");
        if (s->domain == DOMAIN_ACTIVE)
                return DECISION(ACTION_FINISH_TO_VFIO, OWNER_INCOMPLETE, "the domain runs, a handoff to it was cut short");
        /* A Vm.Start in flight holds even a give-back decided meanwhile: its
         * domain's create may be running. */
        if (s->start_requested || s->intent == INTENT_START)
                return DECISION(ACTION_HOLD_START, OWNER_VFIO, "a start is under way");
        if (s->vm_nodes_held)
                return DECISION(ACTION_WAIT_HOLDERS, OWNER_VFIO, "a process has the VM's nodes open");

        /* vfiod (and libvirt) move a function with driver_override and keep
         * a record: vfio-pci without either is vfio-pci.ids or a bind by
         * hand. Undo only what vfiod did; a Vm.Stop is a user's request. */
        if (c.on_vfio > 0 && !c.dirty && !s->recorded && !s->stop_requested)
                return DECISION(ACTION_NOT_OURS, c.on_vfio == n ? OWNER_VFIO : OWNER_INCOMPLETE,
                                "on vfio-pci with no record and no override: not vfiod's doing");

        Decision back = DECISION(ACTION_GIVE_BACK, OWNER_TRANSITIONING, NULL);
        back.requested = s->stop_requested;
        if (s->intent == INTENT_GIVE_BACK)
                return back.why = "asked to give back (a stop, Vm.Stop, ForceHost, a failed start)", back;
        if (s->grace_expired)
                return back.why = "the orphan grace ran out", back;
        if (c.driverless > 0 || c.on_host > 0)
                /* Mixed drivers, a function without one that vfiod left so, or
                 * all on host drivers with a record or override left. */
                return back.why = "a function part-way, or a handoff cut short", back;
        return DECISION(ACTION_GRACE, OWNER_VFIO, "on vfio-pci with no domain running");
}

const char *action_to_string(Action a) {
        static const char *const names[_ACTION_MAX] = {
                [ACTION_WAIT_LOCK] = "wait-lock",
                [ACTION_WATCH_STUCK] = "watch-stuck",
                [ACTION_HOME] = "home",
                [ACTION_LENT] = "lent",
                [ACTION_WAIT_LIBVIRT] = "wait-libvirt",
                [ACTION_FINISH_TO_VFIO] = "finish-to-vfio",
                [ACTION_HOLD_START] = "hold-start",
                [ACTION_WAIT_HOLDERS] = "wait-holders",
                [ACTION_NOT_OURS] = "not-ours",
                [ACTION_GIVE_BACK] = "give-back",
                [ACTION_GRACE] = "grace",
        };
        return (unsigned) a < ELEMENTSOF(names) ? names[a] : "?";
}

const char *intent_to_string(Intent i) {
        static const char *const names[_INTENT_MAX] = {
                [INTENT_FOLLOW] = "follow",
                [INTENT_START] = "start",
                [INTENT_GIVE_BACK] = "give-back",
        };
        return (unsigned) i < ELEMENTSOF(names) ? names[i] : "?";
}
