/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define USEC_INFINITY ((usec_t) UINT64_MAX)

static inline usec_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* Milliseconds left until deadline, for poll(); 0 once it has passed. */
static inline int poll_timeout_ms(usec_t deadline) {
        usec_t n = now_usec();
        if (n >= deadline)
                return 0;
        usec_t left = (deadline - n + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
        return left > INT32_MAX ? INT32_MAX : (int) left;
}

/* "5", "5s", "500ms", "2min" */
int parse_sec(const char *s, usec_t *ret);
