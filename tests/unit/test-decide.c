/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* decide() by table: each row of docs/architecture.md's reconcile table,
 * and the cases a review found reconcile() got wrong (a driverless
 * function that is the host's, a GPU on vfio-pci by hand), as a snapshot
 * and the one action it must give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "decide.h"
#include "macro.h"

/* A function as observe() sees it: its driver, and whether driver_override
 * is set (vfiod, and libvirt, move a function through it). */
#define HOST { FUNCTION_ON_HOST, false }
#define HOST_OVERRIDE { FUNCTION_ON_HOST, true }
#define VFIO { FUNCTION_ON_VFIO, true }           /* as vfiod leaves it */
#define VFIO_BY_HAND { FUNCTION_ON_VFIO, false }  /* vfio-pci.ids, new_id, a bind by hand */
#define NONE { FUNCTION_NO_DRIVER, false }
#define NONE_OVERRIDE { FUNCTION_NO_DRIVER, true }
#define GPU(a, b) .functions = { a, b }, .n_functions = 2

typedef struct Row {
        const char *name;
        Snapshot s;
        Action action;
        GpuOwner owner;
        bool requested;
} Row;

static const Row rows[] = {
        /* Someone else's handoff, or a write that has not returned: nothing. */
        { "another process holds the handoff lock (vfioctl)",
          { .lock_busy = true, .stuck = true, GPU(VFIO, HOST), .domain = DOMAIN_INACTIVE, .intent = INTENT_GIVE_BACK },
          ACTION_WAIT_LOCK, OWNER_TRANSITIONING },
        { "a write of an earlier handoff has not returned",
          { .stuck = true, GPU(VFIO, NONE_OVERRIDE), .recorded = true, .domain = DOMAIN_INACTIVE, .intent = INTENT_GIVE_BACK },
          ACTION_WATCH_STUCK, OWNER_STUCK },
        { "stuck, and libvirt unreachable",
          { .stuck = true, GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_UNKNOWN }, ACTION_WATCH_STUCK, OWNER_STUCK },

        /* Home. */
        { "all on host drivers, no record", { GPU(HOST, HOST), .domain = DOMAIN_INACTIVE }, ACTION_HOME, OWNER_HOST },
        { "all on host drivers, the domain runs (with other devices)", { GPU(HOST, HOST), .domain = DOMAIN_ACTIVE },
          ACTION_HOME, OWNER_HOST },
        { "all on host drivers, libvirt unreachable", { GPU(HOST, HOST), .domain = DOMAIN_UNKNOWN }, ACTION_HOME, OWNER_HOST },
        { "all on host drivers, the domain just stopped (give-back asked): nothing to give",
          { GPU(HOST, HOST), .domain = DOMAIN_INACTIVE, .intent = INTENT_GIVE_BACK }, ACTION_HOME, OWNER_HOST },
        { "the audio function driverless, no override, no record (blacklisted, not probed yet): the host's",
          { GPU(HOST, NONE), .domain = DOMAIN_INACTIVE }, ACTION_HOME, OWNER_HOST },
        { "driverless audio that is the host's, the orphan grace ran out: still home",
          { GPU(HOST, NONE), .domain = DOMAIN_INACTIVE, .grace_expired = true, .intent = INTENT_GIVE_BACK },
          ACTION_HOME, OWNER_HOST },
        { "every function driverless, none by vfiod: the host's (a user unbound them)",
          { GPU(NONE, NONE), .domain = DOMAIN_INACTIVE }, ACTION_HOME, OWNER_HOST },

        /* The VM's. */
        { "all on vfio-pci, the domain runs", { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_ACTIVE }, ACTION_LENT,
          OWNER_VFIO },
        { "on vfio-pci by hand, the domain runs", { GPU(VFIO_BY_HAND, VFIO_BY_HAND), .domain = DOMAIN_ACTIVE }, ACTION_LENT,
          OWNER_VFIO },
        { "all on vfio-pci, libvirt unreachable: never taken from a VM we cannot see",
          { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_UNKNOWN, .grace_expired = true }, ACTION_WAIT_LIBVIRT,
          OWNER_VFIO },
        { "part-way, libvirt unreachable", { GPU(VFIO, NONE_OVERRIDE), .recorded = true, .domain = DOMAIN_UNKNOWN },
          ACTION_WAIT_LIBVIRT, OWNER_INCOMPLETE },
        { "the domain runs, a handoff to it cut short", { GPU(VFIO, NONE_OVERRIDE), .recorded = true, .domain = DOMAIN_ACTIVE },
          ACTION_FINISH_TO_VFIO, OWNER_INCOMPLETE },
        { "the domain runs, its audio still on the host (cut short)", { GPU(VFIO, HOST), .recorded = true, .domain = DOMAIN_ACTIVE },
          ACTION_FINISH_TO_VFIO, OWNER_INCOMPLETE },

        /* A start under way. */
        { "Vm.Start in flight, the domain not active yet",
          { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_INACTIVE, .start_requested = true }, ACTION_HOLD_START,
          OWNER_VFIO },
        { "libvirt's prepare hook had it handed over (Vm.Prepare)",
          { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_INACTIVE, .intent = INTENT_START, .grace_expired = true },
          ACTION_HOLD_START, OWNER_VFIO },
        { "Vm.Start in flight outranks a give-back decided meanwhile (its create may run)",
          { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_INACTIVE, .start_requested = true,
            .intent = INTENT_GIVE_BACK },
          ACTION_HOLD_START, OWNER_VFIO },

        /* The domain does not run. */
        { "a process has /dev/vfio/N open, the domain not running",
          { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_INACTIVE, .vm_nodes_held = true, .intent = INTENT_GIVE_BACK },
          ACTION_WAIT_HOLDERS, OWNER_VFIO },
        { "the domain stopped or crashed", { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_INACTIVE, .intent = INTENT_GIVE_BACK },
          ACTION_GIVE_BACK, OWNER_TRANSITIONING },
        { "Vm.Stop: the give-back is the request's",
          { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_INACTIVE, .intent = INTENT_GIVE_BACK, .stop_requested = true },
          ACTION_GIVE_BACK, OWNER_TRANSITIONING, true },
        { "the orphan grace ran out", { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_INACTIVE, .grace_expired = true },
          ACTION_GIVE_BACK, OWNER_TRANSITIONING },
        { "mixed drivers, recorded (a give-back cut short)", { GPU(VFIO, HOST), .recorded = true, .domain = DOMAIN_INACTIVE },
          ACTION_GIVE_BACK, OWNER_TRANSITIONING },
        { "a function driverless with vfiod's override", { GPU(VFIO, NONE_OVERRIDE), .domain = DOMAIN_INACTIVE },
          ACTION_GIVE_BACK, OWNER_TRANSITIONING },
        { "a function driverless, in the record", { GPU(VFIO, NONE), .recorded = true, .domain = DOMAIN_INACTIVE },
          ACTION_GIVE_BACK, OWNER_TRANSITIONING },
        { "all on host drivers, a record left (services to start again)", { GPU(HOST, HOST), .recorded = true, .domain = DOMAIN_INACTIVE },
          ACTION_GIVE_BACK, OWNER_TRANSITIONING },
        { "all on host drivers, an override left", { GPU(HOST_OVERRIDE, HOST), .domain = DOMAIN_INACTIVE }, ACTION_GIVE_BACK,
          OWNER_TRANSITIONING },
        { "on vfio-pci, no domain, nobody on /dev/vfio/N: the orphan grace",
          { GPU(VFIO, VFIO), .recorded = true, .domain = DOMAIN_INACTIVE }, ACTION_GRACE, OWNER_VFIO },

        /* Drivers a user changed by hand: not vfiod's to undo. */
        { "on vfio-pci by hand (vfio-pci.ids), no domain: left there",
          { GPU(VFIO_BY_HAND, VFIO_BY_HAND), .domain = DOMAIN_INACTIVE }, ACTION_NOT_OURS, OWNER_VFIO },
        { "on vfio-pci by hand, the domain stopped: left there",
          { GPU(VFIO_BY_HAND, VFIO_BY_HAND), .domain = DOMAIN_INACTIVE, .intent = INTENT_GIVE_BACK }, ACTION_NOT_OURS,
          OWNER_VFIO },
        { "the display on vfio-pci by hand, the audio on the host: left there",
          { GPU(VFIO_BY_HAND, HOST), .domain = DOMAIN_INACTIVE }, ACTION_NOT_OURS, OWNER_INCOMPLETE },
        { "on vfio-pci by hand, a user's Vm.Stop: given back, as asked",
          { GPU(VFIO_BY_HAND, VFIO_BY_HAND), .domain = DOMAIN_INACTIVE, .intent = INTENT_GIVE_BACK, .stop_requested = true },
          ACTION_GIVE_BACK, OWNER_TRANSITIONING, true },
        { "on vfio-pci by hand, but vfiod's record is there: vfiod's",
          { GPU(VFIO_BY_HAND, VFIO_BY_HAND), .recorded = true, .domain = DOMAIN_INACTIVE, .intent = INTENT_GIVE_BACK },
          ACTION_GIVE_BACK, OWNER_TRANSITIONING },
};

static void test_rows(void **state _unused_) {
        bool seen[_ACTION_MAX] = {};
        unsigned failed = 0;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                const Row *r = &rows[i];
                Decision d = decide(&r->s);
                seen[d.action] = true;
                if (d.action == r->action && d.owner == r->owner && d.requested == r->requested && d.why)
                        continue;
                print_error("row %zu, %s: %s (owner %d%s, %s), want %s (owner %d%s)\n", i, r->name,
                            action_to_string(d.action), d.owner, d.requested ? ", requested" : "", d.why ?: "no reason",
                            action_to_string(r->action), r->owner, r->requested ? ", requested" : "");
                failed++;
        }
        assert_int_equal(failed, 0);
        /* Every action is some row's: a rule nobody tests is a rule nobody knows. */
        for (int a = 0; a < _ACTION_MAX; a++)
                if (!seen[a])
                        fail_msg("no row gives %s", action_to_string(a));
}

/* decide() reads only its snapshot: the same snapshot, the same decision. */
static void test_pure(void **state _unused_) {
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                Snapshot copy = rows[i].s;
                Decision a = decide(&rows[i].s), b = decide(&copy);
                assert_int_equal(a.action, b.action);
                assert_memory_equal(&copy, &rows[i].s, sizeof(copy));
        }
}

static void test_counts(void **state _unused_) {
        Snapshot s = { GPU(VFIO, NONE), .domain = DOMAIN_INACTIVE };
        SnapshotCounts c = snapshot_count(&s);
        /* No record, no override on the audio function: the host's. */
        assert_int_equal(c.on_vfio, 1);
        assert_int_equal(c.on_host, 1);
        assert_int_equal(c.driverless, 0);
        s.recorded = true;
        c = snapshot_count(&s);
        assert_int_equal(c.on_host, 0);
        assert_int_equal(c.driverless, 1);
        assert_string_equal(action_to_string(_ACTION_MAX), "?");
        assert_string_equal(intent_to_string(INTENT_GIVE_BACK), "give-back");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rows),
                cmocka_unit_test(test_pure),
                cmocka_unit_test(test_counts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
