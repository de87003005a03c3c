/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char **strv_free(char **l) {
        STRV_FOREACH(s, l)
                free(*s);
        free(l);
        return NULL;
}

size_t strv_length(char * const *l) {
        size_t n = 0;
        STRV_FOREACH(s, l)
                n++;
        return n;
}

bool strv_contains(char * const *l, const char *s) {
        STRV_FOREACH(i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

int strv_extend(char ***l, const char *value) {
        size_t n = strv_length(*l);
        _cleanup_free_ char *v = strdup(value);
        if (!v)
                return -ENOMEM;
        char **t = realloc(*l, sizeof(char *) * (n + 2));
        if (!t)
                return -ENOMEM;
        t[n] = TAKE_PTR(v);
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

int strv_split_words(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        const char *sep = " \t\n,";
        for (const char *p = s + strspn(s, sep); *p; p += strspn(p, sep)) {
                size_t n = strcspn(p, sep);
                _cleanup_free_ char *w = strndup(p, n);
                if (!w)
                        return -ENOMEM;
                int r = strv_extend(&l, w);
                if (r < 0)
                        return r;
                p += n;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

char *strv_join(char * const *l, const char *sep) {
        size_t n = 1;
        STRV_FOREACH(s, l)
                n += strlen(*s) + strlen(sep);
        char *r = malloc(n), *p = r;
        if (!r)
                return NULL;
        *p = 0;
        STRV_FOREACH(s, l) {
                if (s != l)
                        p = stpcpy(p, sep);
                p = stpcpy(p, *s);
        }
        return r;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort(char **l) {
        qsort(l, strv_length(l), sizeof(char *), cmp_strp);
}
