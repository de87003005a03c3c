/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "libvirt-dl.h"

LIBVIRT_SYMBOLS(DLSYM_DEFINE)

int dlopen_libvirt(void) {
        static void *dl = NULL;
        static const DlSymbol symbols[] = { LIBVIRT_SYMBOLS(DLSYM_ENTRY) {} };
        return dlopen_symbols(&dl, "libvirt.so.0", "libvirt0", symbols);
}
