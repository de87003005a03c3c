/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Libraries that only some commands need are opened when first needed, as
 * systemd does for its optional libraries: mapping and relocating libvirt's
 * client library and the ~55 libraries it links (GnuTLS, ICU, Kerberos, ...)
 * costs more than all the rest of vfio-status. Call sites use sym_NAME. */

typedef struct DlSymbol {
        void **fn;
        const char *name;
} DlSymbol;

#define DLSYM_DECLARE(f) extern typeof(f) *sym_##f;
#define DLSYM_DEFINE(f) typeof(f) *sym_##f;
#define DLSYM_ENTRY(f) { (void **) &sym_##f, #f },

/* Opens SONAME once (*dl keeps it) and resolves every symbol of the
 * {NULL}-terminated list. Returns 0, or -EOPNOTSUPP after one logged line
 * that names the package to install. */
int dlopen_symbols(void **dl, const char *soname, const char *package, const DlSymbol *symbols);
