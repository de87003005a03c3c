/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "pci-address.h"

/* What vfiod reads from a libvirt domain's XML (libxml2). */

typedef struct Hostdev {
        PciAddress address;
        char address_str[PCI_ADDRESS_STRLEN];
        bool managed;             /* managed='yes': libvirt detaches and reattaches it itself */
} Hostdev;

/* The PCI devices passed through: <hostdev mode='subsystem' type='pci'>
 * <source><address domain= bus= slot= function=/>. -EBADMSG: not a domain XML. */
int domain_xml_hostdevs(const char *xml, Hostdev **ret, size_t *ret_n);
