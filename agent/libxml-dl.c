/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "libxml-dl.h"

LIBXML_SYMBOLS(DLSYM_DEFINE)

int dlopen_libxml2(void) {
        static void *dl = NULL;
        static const DlSymbol symbols[] = { LIBXML_SYMBOLS(DLSYM_ENTRY) {} };
        return dlopen_symbols(&dl, "libxml2.so.2", "libxml2", symbols);
}
