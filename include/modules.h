/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Kernel modules through libkmod. */

int module_is_loaded(const char *name);
/* Loads name and what it depends on (modprobe). */
int module_load(const char *name);
/* Unloads each loaded module of names in order, refusing one that is in use;
 * ret_unloaded gets those it did unload. Stops at the first failure. */
int modules_unload(char * const *names, char ***ret_unloaded);
/* Loads names in reverse order (the order of modules_unload reversed). */
int modules_load_reverse(char * const *names);

/* A modprobe.d file that keeps names from being loaded ("install NAME
 * /bin/false") while the VM owns the GPU; dir is normally /run/modprobe.d. */
int modules_block(const char *dir, char * const *names);
int modules_unblock(const char *dir);
