/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* NULL-terminated arrays of owned strings. */
char **strv_free(char **l);
size_t strv_length(char * const *l);
bool strv_contains(char * const *l, const char *s);
int strv_extend(char ***l, const char *value);
/* Split on whitespace and commas: "nvidia_drm, nvidia_modeset nvidia". */
int strv_split_words(const char *s, char ***ret);
char *strv_join(char * const *l, const char *sep);
/* In strcmp() order, in place. */
void strv_sort(char **l);

static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
#define STRV_FOREACH(s, l) for (char * const *s = (l); s && *s; s++)
