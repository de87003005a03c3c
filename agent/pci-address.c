/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pci-address.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"

/* Exactly n hex digits, no sign, no 0x: sscanf("%x") accepts too much. */
static int parse_hex_exact(const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                int c = (unsigned char) s[i];
                if (!isxdigit(c))
                        return -EINVAL;
                v = v * 16 + (unsigned) (isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
        }
        *ret = v;
        return 0;
}

int pci_address_parse(const char *s, PciAddress *ret) {
        PciAddress a = {};
        const char *p;
        char sep1 = ':', sep2 = ':', sep3 = '.';

        if (!s)
                return -EINVAL;

        if ((p = startswith(s, "pci_"))) {
                sep1 = sep2 = sep3 = '_';
                s = p;
        }

        size_t len = strlen(s);
        if (len == 12) {
                if (parse_hex_exact(s, 4, &a.domain) < 0 || s[4] != sep1)
                        return -EINVAL;
                s += 5;
        } else if (len != 7 || sep1 == '_')
                return -EINVAL;

        if (parse_hex_exact(s, 2, &a.bus) < 0 || s[2] != sep2 ||
            parse_hex_exact(s + 3, 2, &a.slot) < 0 || s[5] != sep3 ||
            parse_hex_exact(s + 6, 1, &a.function) < 0)
                return -EINVAL;

        /* Five bits of device number, three of function. */
        if (a.slot > 0x1f || a.function > 7)
                return -ERANGE;

        *ret = a;
        return 0;
}

const char *pci_address_format(const PciAddress *a, char buf[static PCI_ADDRESS_STRLEN]) {
        snprintf(buf, PCI_ADDRESS_STRLEN, "%04x:%02x:%02x.%x",
                 a->domain & 0xffff, a->bus & 0xff, a->slot & 0x1f, a->function & 7);
        return buf;
}

bool pci_address_same_slot(const PciAddress *a, const PciAddress *b) {
        return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot;
}

int pci_id_parse(const char *s, PciId *ret) {
        unsigned v, d;

        if (!s || strlen(s) != 9 || s[4] != ':' ||
            parse_hex_exact(s, 4, &v) < 0 || parse_hex_exact(s + 5, 4, &d) < 0)
                return -EINVAL;

        *ret = (PciId) { .vendor = v, .device = d };
        return 0;
}
