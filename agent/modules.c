/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "modules.h"

#include <errno.h>
#include <libkmod.h>
#include <stdio.h>
#include <unistd.h>

#include "dlopen-lib.h"
#include "fileio.h"
#include "log.h"
#include "strv.h"

/* libkmod is opened (dlopen-lib.h) when a module is to be loaded or unloaded, not at
 * start-up: it and what it links (libcrypto) cost more to map and relocate
 * than the rest of vfioctl, and most handoffs never touch a module. */
#define KMOD_SYMBOLS(X)                                                                          \
        X(kmod_new) X(kmod_unref) X(kmod_load_resources) X(kmod_module_new_from_name)          \
        X(kmod_module_unref) X(kmod_module_get_initstate) X(kmod_module_new_from_lookup)       \
        X(kmod_list_next) X(kmod_module_get_module) X(kmod_module_probe_insert_module)         \
        X(kmod_module_unref_list) X(kmod_module_get_refcnt) X(kmod_module_get_holders)         \
        X(kmod_module_get_name) X(kmod_module_remove_module)

#define STATIC_SYM(f) static DLSYM_DEFINE(f)
KMOD_SYMBOLS(STATIC_SYM)
#undef STATIC_SYM

static int dlopen_kmod(void) {
        static void *dl = NULL;
        static const DlSymbol symbols[] = { KMOD_SYMBOLS(DLSYM_ENTRY) {} };
        return dlopen_symbols(&dl, "libkmod.so.2", "kmod's library, libkmod2", symbols);
}

static void kmod_unrefp(struct kmod_ctx **p) {
        if (*p)
                sym_kmod_unref(*p);
}
static void kmod_module_unrefp(struct kmod_module **p) {
        if (*p)
                sym_kmod_module_unref(*p);
}
#define foreach_kmod(i, list) for (struct kmod_list *i = (list); i; i = sym_kmod_list_next((list), i))

#define BLOCK_FILE "vfiod-passthrough.conf"

static int kmod_open(struct kmod_ctx **ret) {
        int r = dlopen_kmod();
        if (r < 0)
                return r;
        struct kmod_ctx *ctx = sym_kmod_new(NULL, NULL);
        if (!ctx)
                return -ENOMEM;
        r = sym_kmod_load_resources(ctx);
        if (r < 0)
                log_debug_errno(r, "No modules.dep index, resolving names slowly: %m");
        *ret = ctx;
        return 0;
}

static int module_get(struct kmod_ctx *ctx, const char *name, struct kmod_module **ret) {
        int r = sym_kmod_module_new_from_name(ctx, name, ret);
        return r < 0 ? r : 0;
}

int module_is_loaded(const char *name) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        _cleanup_(kmod_module_unrefp) struct kmod_module *m = NULL;
        int r = kmod_open(&ctx);
        if (r >= 0)
                r = module_get(ctx, name, &m);
        if (r < 0)
                return r;
        int state = sym_kmod_module_get_initstate(m);
        /* Built in counts as loaded: it cannot be unloaded, nor does it need loading. */
        return state == KMOD_MODULE_LIVE || state == KMOD_MODULE_BUILTIN || state == KMOD_MODULE_COMING;
}

int module_load(const char *name) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        struct kmod_list *list = NULL;
        int r = kmod_open(&ctx);
        if (r < 0)
                return r;

        r = sym_kmod_module_new_from_lookup(ctx, name, &list);
        if (r < 0)
                return log_error_errno(r, "Failed to look up module %s: %m", name);
        if (!list)
                return log_error_errno(ENOENT, "Module %s not found.", name);

        foreach_kmod(i, list) {
                struct kmod_module *m = sym_kmod_module_get_module(i);
                r = sym_kmod_module_probe_insert_module(m, KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY, NULL, NULL, NULL, NULL);
                sym_kmod_module_unref(m);
                if (r < 0)
                        break;
        }
        sym_kmod_module_unref_list(list);
        if (r < 0)
                return log_error_errno(r, "Failed to load module %s: %m", name);
        log_info("Loaded module %s.", name);
        return 0;
}

int modules_unload(char * const *names, char ***ret_unloaded) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        _cleanup_strv_free_ char **done = calloc(1, sizeof(char *));
        int r;

        if (!done)
                return -ENOMEM;
        /* Loading libkmod's indexes costs more than a whole handoff: only when needed. */
        if (!names || !*names) {
                *ret_unloaded = TAKE_PTR(done);
                return 0;
        }
        if ((r = kmod_open(&ctx)) < 0)
                return r;

        STRV_FOREACH(n, names) {
                _cleanup_(kmod_module_unrefp) struct kmod_module *m = NULL;
                if ((r = module_get(ctx, *n, &m)) < 0)
                        break;
                int state = sym_kmod_module_get_initstate(m);
                if (state == KMOD_MODULE_BUILTIN) {
                        r = log_error_errno(EPERM, "Module %s is built into the kernel and cannot be unloaded.", *n);
                        break;
                }
                if (state != KMOD_MODULE_LIVE)
                        continue;

                int refs = sym_kmod_module_get_refcnt(m);
                if (refs > 0) {
                        struct kmod_list *holders = sym_kmod_module_get_holders(m);
                        _cleanup_strv_free_ char **hn = NULL;
                        foreach_kmod(i, holders) {
                                struct kmod_module *h = sym_kmod_module_get_module(i);
                                (void) strv_extend(&hn, sym_kmod_module_get_name(h));
                                sym_kmod_module_unref(h);
                        }
                        sym_kmod_module_unref_list(holders);
                        _cleanup_free_ char *j = hn ? strv_join(hn, ", ") : NULL;
                        r = log_error_errno(EBUSY, "Module %s is in use (%d references%s%s): not unloading it.",
                                            *n, refs, j ? ", used by " : "", strempty(j));
                        break;
                }

                r = sym_kmod_module_remove_module(m, KMOD_REMOVE_NOWAIT);
                if (r < 0) {
                        log_error_errno(r, "Failed to unload module %s: %m", *n);
                        break;
                }
                log_info("Unloaded module %s.", *n);
                if ((r = strv_extend(&done, *n)) < 0)
                        break;
        }

        *ret_unloaded = TAKE_PTR(done);
        return r < 0 ? r : 0;
}

int modules_load_reverse(char * const *names) {
        int ret = 0;
        for (size_t n = strv_length(names); n > 0; n--) {
                int r = module_load(names[n - 1]);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int modules_block(const char *dir, char * const *names) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t size = 0;
        int r = mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", dir);

        FILE *f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fputs("# Written by vfiod while a VM owns the GPU; removed when it comes back.\n", f);
        STRV_FOREACH(n, names)
                fprintf(f, "install %s /bin/false\n", *n);
        if (fclose(f) != 0)
                return -ENOMEM;

        if (asprintf(&path, "%s/" BLOCK_FILE, dir) < 0)
                return -ENOMEM;
        r = write_string_file_atomic(path, text);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        return 0;
}

int modules_unblock(const char *dir) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/" BLOCK_FILE, dir) < 0)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return log_error_errno(errno, "Failed to remove %s: %m", path);
        return 0;
}
