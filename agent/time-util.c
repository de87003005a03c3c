/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "time-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

int parse_sec(const char *s, usec_t *ret) {
        static const struct {
                const char *suffix;
                usec_t factor;
        } units[] = {
                { "ms", USEC_PER_MSEC }, { "min", 60 * USEC_PER_SEC },
                { "s", USEC_PER_SEC },   { "", USEC_PER_SEC },
        };
        char *end;

        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;

        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || end == s)
                return -EINVAL;

        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(end, units[i].suffix)) {
                        if (v > UINT64_MAX / units[i].factor)
                                return -ERANGE;
                        *ret = (usec_t) v * units[i].factor;
                        return 0;
                }
        return -EINVAL;
}
