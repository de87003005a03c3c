/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "time-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* Like systemd's time spans: "500ms", "30s", "2min 30s", "1h"; a bare
 * number is seconds. */
int parse_sec(const char *s, usec_t *ret) {
        static const struct {
                const char *suffix;
                usec_t factor;
        } units[] = {
                /* longest first: "ms" before "m", "min" before "m" */
                { "usec", 1 },  { "msec", USEC_PER_MSEC }, { "min", 60 * USEC_PER_SEC },
                { "sec", USEC_PER_SEC }, { "hr", 3600 * USEC_PER_SEC }, { "us", 1 },
                { "ms", USEC_PER_MSEC }, { "s", USEC_PER_SEC }, { "m", 60 * USEC_PER_SEC },
                { "h", 3600 * USEC_PER_SEC }, { "d", 86400 * USEC_PER_SEC },
        };
        usec_t total = 0;
        bool any = false;

        if (!s)
                return -EINVAL;
        for (const char *p = s;;) {
                p += strspn(p, " ");
                if (!*p)
                        break;
                if (*p < '0' || *p > '9')
                        return -EINVAL;  /* also rejects signs */
                char *end;
                errno = 0;
                unsigned long long v = strtoull(p, &end, 10);
                if (errno != 0)
                        return -ERANGE;
                p = end;
                usec_t factor = 0;
                for (size_t i = 0; i < ELEMENTSOF(units) && !factor; i++)
                        if (strncmp(p, units[i].suffix, strlen(units[i].suffix)) == 0) {
                                factor = units[i].factor;
                                p += strlen(units[i].suffix);
                        }
                if (!factor) {
                        if (any || (*p && *p != ' '))
                                return -EINVAL;  /* only a lone number may go without a unit */
                        factor = USEC_PER_SEC;
                }
                if (v > (UINT64_MAX - total) / factor)
                        return -ERANGE;
                total += (usec_t) v * factor;
                any = true;
                if (*p && *p != ' ' && (*p < '0' || *p > '9'))
                        return -EINVAL;
        }
        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}
