/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "macro.h"
#include "pci-address.h"

static void assert_address(const char *s, unsigned domain, unsigned bus, unsigned slot, unsigned function) {
        PciAddress a = { 0xdead, 0xdead, 0xdead, 0xdead };
        assert_int_equal(pci_address_parse(s, &a), 0);
        assert_int_equal(a.domain, domain);
        assert_int_equal(a.bus, bus);
        assert_int_equal(a.slot, slot);
        assert_int_equal(a.function, function);
}

static void assert_rejected(const char *s, int error) {
        PciAddress a = { 1, 2, 3, 4 };
        assert_int_equal(pci_address_parse(s, &a), error);
        /* Nothing is written on failure. */
        assert_int_equal(a.domain, 1);
        assert_int_equal(a.bus, 2);
        assert_int_equal(a.slot, 3);
        assert_int_equal(a.function, 4);
}

static void test_parse_full(void **state) {
        (void) state;
        assert_address("0000:01:00.0", 0, 1, 0, 0);
        assert_address("0000:01:00.1", 0, 1, 0, 1);
        assert_address("0001:65:1f.7", 1, 0x65, 0x1f, 7);
        assert_address("ffff:ff:1f.7", 0xffff, 0xff, 0x1f, 7);
}

static void test_parse_short(void **state) {
        (void) state;
        assert_address("01:00.0", 0, 1, 0, 0);
        assert_address("0a:1e.3", 0, 0x0a, 0x1e, 3);
}

static void test_parse_libvirt(void **state) {
        (void) state;
        assert_address("pci_0000_01_00_0", 0, 1, 0, 0);
        assert_address("pci_0002_3b_1f_6", 2, 0x3b, 0x1f, 6);
}

static void test_parse_upper_case(void **state) {
        (void) state;
        assert_address("ABCD:EF:1F.7", 0xabcd, 0xef, 0x1f, 7);
        assert_address("0A:0B.1", 0, 0x0a, 0x0b, 1);
        assert_address("pci_00AB_CD_1E_2", 0xab, 0xcd, 0x1e, 2);
}

static void test_parse_rejects(void **state) {
        (void) state;
        assert_rejected("", -EINVAL);
        assert_rejected(NULL, -EINVAL);
        assert_rejected("0000:01:00", -EINVAL);
        assert_rejected("01:00", -EINVAL);
        assert_rejected("0000:01:20.0", -ERANGE);
        assert_rejected("0000:01:ff.0", -ERANGE);
        assert_rejected("01:20.0", -ERANGE);
        assert_rejected("0000:01:00.8", -ERANGE);
        assert_rejected("01:00.f", -ERANGE);
        assert_rejected("pci_0000_01_00_8", -ERANGE);
        /* Trailing garbage. */
        assert_rejected("0000:01:00.0x", -EINVAL);
        assert_rejected("0000:01:00.0\n", -EINVAL);
        assert_rejected("01:00.0 ", -EINVAL);
        assert_rejected("pci_0000_01_00_0_", -EINVAL);
        /* Prefixes. */
        assert_rejected("0x01:00.0", -EINVAL);
        assert_rejected("0x00:01:00.0", -EINVAL);
        /* Spaces. */
        assert_rejected(" 01:00.0", -EINVAL);
        assert_rejected("0000: 1:00.0", -EINVAL);
        assert_rejected("0000:01:00. ", -EINVAL);
        assert_rejected(" 000:01:00.0", -EINVAL);
        /* Signs. */
        assert_rejected("+1:00.0", -EINVAL);
        assert_rejected("-1:00.0", -EINVAL);
        assert_rejected("0000:-1:00.0", -EINVAL);
        assert_rejected("0000:01:+0.0", -EINVAL);
        assert_rejected("-000:01:00.0", -EINVAL);
        /* Wrong separators and mixed forms. */
        assert_rejected("0000.01:00.0", -EINVAL);
        assert_rejected("0000:01.00.0", -EINVAL);
        assert_rejected("0000:01:00:0", -EINVAL);
        assert_rejected("0000_01_00_0", -EINVAL);
        assert_rejected("pci_0000:01:00.0", -EINVAL);
        assert_rejected("pci_01_00_0", -EINVAL);
        assert_rejected("pci_", -EINVAL);
        assert_rejected("g000:01:00.0", -EINVAL);
        assert_rejected("0000:0g:00.0", -EINVAL);
}

static void test_format_round_trip(void **state) {
        (void) state;
        static const char *good[] = {
                "0000:01:00.0", "0000:01:00.1", "abcd:ef:1f.7", "0001:00:02.3", "ffff:ff:1f.7",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                PciAddress a, b;
                char buf[PCI_ADDRESS_STRLEN];
                assert_int_equal(pci_address_parse(good[i], &a), 0);
                assert_ptr_equal(pci_address_format(&a, buf), buf);
                assert_string_equal(buf, good[i]);
                assert_int_equal(pci_address_parse(buf, &b), 0);
                assert_memory_equal(&a, &b, sizeof(a));
        }

        /* Short, libvirt and upper-case forms come back in the canonical one. */
        static const struct {
                const char *in, *out;
        } canon[] = {
                { "01:00.0", "0000:01:00.0" },
                { "pci_0000_01_00_1", "0000:01:00.1" },
                { "ABCD:EF:1F.7", "abcd:ef:1f.7" },
        };
        for (size_t i = 0; i < ELEMENTSOF(canon); i++) {
                PciAddress a;
                char buf[PCI_ADDRESS_STRLEN];
                assert_int_equal(pci_address_parse(canon[i].in, &a), 0);
                assert_string_equal(pci_address_format(&a, buf), canon[i].out);
        }

        PciAddress a = { .domain = 0x12, .bus = 0x3, .slot = 0x4, .function = 5 };
        char buf[PCI_ADDRESS_STRLEN];
        assert_string_equal(pci_address_format(&a, buf), "0012:03:04.5");
        assert_int_equal(strlen(buf), PCI_ADDRESS_STRLEN - 1);
}

static void test_same_slot(void **state) {
        (void) state;
        PciAddress a, b;

        assert_int_equal(pci_address_parse("0000:01:00.0", &a), 0);
        assert_int_equal(pci_address_parse("0000:01:00.1", &b), 0);
        assert_true(pci_address_same_slot(&a, &b));
        assert_true(pci_address_same_slot(&b, &a));
        assert_true(pci_address_same_slot(&a, &a));

        assert_int_equal(pci_address_parse("0000:01:01.0", &b), 0);
        assert_false(pci_address_same_slot(&a, &b));
        assert_int_equal(pci_address_parse("0000:02:00.0", &b), 0);
        assert_false(pci_address_same_slot(&a, &b));
        assert_int_equal(pci_address_parse("0001:01:00.0", &b), 0);
        assert_false(pci_address_same_slot(&a, &b));
}

static void test_id_parse(void **state) {
        (void) state;
        PciId id = {};

        assert_int_equal(pci_id_parse("10de:2203", &id), 0);
        assert_int_equal(id.vendor, 0x10de);
        assert_int_equal(id.device, 0x2203);
        assert_int_equal(pci_id_parse("1AF4:FFFF", &id), 0);
        assert_int_equal(id.vendor, 0x1af4);
        assert_int_equal(id.device, 0xffff);
        assert_int_equal(pci_id_parse("0000:0000", &id), 0);
        assert_int_equal(id.vendor, 0);
        assert_int_equal(id.device, 0);

        static const char *bad[] = {
                "", "10de", "10de:", ":2203", "10de2203", "10de:220", "10de:22033", "010de:2203",
                "10de-2203", "10de:22g3", "x0de:2203", "0x10:2203", "10de: 203", " 10d:2203",
                "+10d:2203", "10de:-203", "10de:2203\n", "10de:2203 ", "10de.2203",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                id = (PciId) { 1, 2 };
                assert_int_equal(pci_id_parse(bad[i], &id), -EINVAL);
                assert_int_equal(id.vendor, 1);
                assert_int_equal(id.device, 2);
        }
        assert_int_equal(pci_id_parse(NULL, &id), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_full),
                cmocka_unit_test(test_parse_short),
                cmocka_unit_test(test_parse_libvirt),
                cmocka_unit_test(test_parse_upper_case),
                cmocka_unit_test(test_parse_rejects),
                cmocka_unit_test(test_format_round_trip),
                cmocka_unit_test(test_same_slot),
                cmocka_unit_test(test_id_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
