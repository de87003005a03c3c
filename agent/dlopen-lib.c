/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dlopen-lib.h"

#include <dlfcn.h>
#include <errno.h>

#include "log.h"

int dlopen_symbols(void **dl, const char *soname, const char *package, const DlSymbol *symbols) {
        if (*dl)
                return 0;
        /* RTLD_NODELETE: the pointers stay valid for the life of the process. */
        void *h = dlopen(soname, RTLD_NOW | RTLD_NODELETE);
        if (!h)
                return log_error_errno(EOPNOTSUPP, "Cannot load %s (install %s): %s", soname, package, dlerror());
        for (const DlSymbol *s = symbols; s->name; s++)
                if (!(*s->fn = dlsym(h, s->name))) {
                        log_error_errno(EOPNOTSUPP, "%s lacks %s (too old? install a newer %s).", soname, s->name,
                                        package);
                        dlclose(h);
                        return -EOPNOTSUPP;
                }
        *dl = h;
        return 0;
}
