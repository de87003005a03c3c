/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dlopen-lib.h"
#include "libvirt-dl.h"
#include "libxml-dl.h"

static void test_missing_library(void **state) {
        (void) state;
        void *dl = NULL;
        size_t (*fn)(const char *) = NULL;
        const DlSymbol symbols[] = { { (void **) &fn, "strlen" }, {} };
        assert_int_equal(dlopen_symbols(&dl, "libvfiod-no-such-library.so.9", "nothing", symbols), -EOPNOTSUPP);
        assert_null(dl);
        assert_null(fn);
}

static void test_missing_symbol(void **state) {
        (void) state;
        void *dl = NULL, *a = NULL, *b = NULL;
        const DlSymbol symbols[] = { { &a, "strlen" }, { &b, "vfiod_no_such_symbol" }, {} };
        assert_int_equal(dlopen_symbols(&dl, "libc.so.6", "libc6", symbols), -EOPNOTSUPP);
        /* Not kept: the next call tries again rather than use a half-filled table. */
        assert_null(dl);
}

static void test_resolves_once(void **state) {
        (void) state;
        void *dl = NULL;
        size_t (*fn)(const char *) = NULL;
        const DlSymbol symbols[] = { { (void **) &fn, "strlen" }, {} };
        assert_int_equal(dlopen_symbols(&dl, "libc.so.6", "libc6", symbols), 0);
        assert_non_null(dl);
        assert_int_equal(fn("four"), 4);
        fn = NULL;
        assert_int_equal(dlopen_symbols(&dl, "libc.so.6", "libc6", symbols), 0);
        assert_null(fn);  /* already open: nothing resolved again */
}

/* Every name of the lists resolves in the installed libraries. */
static void test_libvirt_and_libxml2(void **state) {
        (void) state;
        assert_int_equal(dlopen_libvirt(), 0);
        assert_non_null(sym_virConnectOpen);
        assert_non_null(sym_virEventRegisterImpl);
        assert_int_equal(dlopen_libxml2(), 0);
        assert_non_null(sym_xmlFree);
        assert_non_null(*sym_xmlFree);  /* a variable: the allocator's free */
        assert_true(sym_xmlStrEqual((const xmlChar *) "a", (const xmlChar *) "a"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_missing_library),
                cmocka_unit_test(test_missing_symbol),
                cmocka_unit_test(test_resolves_once),
                cmocka_unit_test(test_libvirt_and_libxml2),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
