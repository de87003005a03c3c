/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vfioctl's JSON output (status, health, doctor, lg-test): a streaming
 * writer on a FILE*, compact (no whitespace), that puts the commas and
 * colons itself. Strings always come out as valid JSON and valid UTF-8,
 * whatever bytes they held. Misuse (a value where a key belongs, an end
 * that matches no begin, nesting past JSON_DEPTH_MAX) writes nothing and is
 * reported by json_writer_finish(). */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 16

typedef struct JsonWriter {
        FILE *out;
        int error;                            /* the first misuse, a negative errno */
        unsigned depth;
        bool key_written;                     /* a key waits for its value */
        /* Level 0 is the top (one value); 1..depth the open objects and arrays. */
        bool in_object[JSON_DEPTH_MAX + 1];   /* else an array */
        bool has_member[JSON_DEPTH_MAX + 1];  /* the next one needs a comma */
} JsonWriter;

#define JSON_WRITER_INIT(f) ((JsonWriter) { .out = (f) })

void json_begin_object(JsonWriter *w);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w);
void json_end_array(JsonWriter *w);
/* In an object, before each value. */
void json_key(JsonWriter *w, const char *key);

/* NULL: null. Control characters are escaped, and each byte that is not
 * part of a valid UTF-8 sequence becomes U+FFFD. */
void json_string(JsonWriter *w, const char *s);
void json_integer(JsonWriter *w, int64_t i);
void json_unsigned(JsonWriter *w, uint64_t u);
void json_boolean(JsonWriter *w, bool b);
void json_null(JsonWriter *w);

/* After the last value: 0, the first misuse (-EINVAL, -E2BIG: too deep),
 * -EINVAL if an object or array is still open, or -EIO if the stream
 * failed. Writes no newline. */
int json_writer_finish(JsonWriter *w);
