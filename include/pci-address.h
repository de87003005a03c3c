/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* "dddd:bb:ss.f" and its NUL */
#define PCI_ADDRESS_STRLEN 13

typedef struct PciAddress {
        unsigned domain, bus, slot, function;
} PciAddress;

typedef struct PciId {
        uint16_t vendor, device;
} PciId;

/* Accepts "0000:01:00.0", "01:00.0" (domain 0) and libvirt's "pci_0000_01_00_0". */
int pci_address_parse(const char *s, PciAddress *ret);
const char *pci_address_format(const PciAddress *a, char buf[static PCI_ADDRESS_STRLEN]);
bool pci_address_same_slot(const PciAddress *a, const PciAddress *b);

/* "10de:2203" */
int pci_id_parse(const char *s, PciId *ret);
