/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-writer.h"

#include <errno.h>
#include <inttypes.h>

static void fail(JsonWriter *w, int error) {
        /* Only the first: what follows a misuse is its consequence. */
        if (!w->error)
                w->error = error;
}

/* The length of the valid UTF-8 sequence at p (1 for ASCII), 0 if p starts
 * none: overlong forms, surrogates and code points past U+10FFFF are invalid.
 * Stops at the first byte that does not fit, so the NUL is never passed. */
static size_t utf8_sequence(const unsigned char *p) {
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef) {
                n = 3;
                if (p[0] == 0xe0)
                        lo = 0xa0;
                else if (p[0] == 0xed)
                        hi = 0x9f;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
                n = 4;
                if (p[0] == 0xf0)
                        lo = 0x90;
                else if (p[0] == 0xf4)
                        hi = 0x8f;
        } else
                return 0;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        return n;
}

static void write_string(FILE *f, const char *s) {
        static const char short_form[0x20] = {
                ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
        };

        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p;) {
                size_t n = utf8_sequence(p);
                if (n == 0) {
                        /* One replacement a bad byte; escaped, so the output stays ASCII there. */
                        fputs("\\ufffd", f);
                        p++;
                } else if (n > 1) {
                        fwrite(p, 1, n, f);
                        p += n;
                } else {
                        if (*p == '"' || *p == '\\')
                                fprintf(f, "\\%c", *p);
                        else if (*p < 0x20 && short_form[*p])
                                fprintf(f, "\\%c", short_form[*p]);
                        else if (*p < 0x20)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                        p++;
                }
        }
        fputc('"', f);
}

/* Before each value: its comma in an array, or the key it needs in an object. */
static bool value_begin(JsonWriter *w) {
        if (w->error)
                return false;
        if (w->in_object[w->depth]) {
                if (!w->key_written) {
                        fail(w, -EINVAL);
                        return false;
                }
                w->key_written = false;
                return true;
        }
        if (w->has_member[w->depth]) {
                if (w->depth == 0) {
                        fail(w, -EINVAL);  /* a second value at the top */
                        return false;
                }
                fputc(',', w->out);
        }
        w->has_member[w->depth] = true;
        return true;
}

static void begin(JsonWriter *w, bool object) {
        if (!w->error && w->depth >= JSON_DEPTH_MAX) {
                fail(w, -E2BIG);
                return;
        }
        if (!value_begin(w))
                return;
        fputc(object ? '{' : '[', w->out);
        w->depth++;
        w->in_object[w->depth] = object;
        w->has_member[w->depth] = false;
}

static void end(JsonWriter *w, bool object) {
        if (w->error)
                return;
        if (w->depth == 0 || w->in_object[w->depth] != object || w->key_written) {
                fail(w, -EINVAL);
                return;
        }
        fputc(object ? '}' : ']', w->out);
        w->depth--;
}

void json_begin_object(JsonWriter *w) {
        begin(w, true);
}

void json_end_object(JsonWriter *w) {
        end(w, true);
}

void json_begin_array(JsonWriter *w) {
        begin(w, false);
}

void json_end_array(JsonWriter *w) {
        end(w, false);
}

void json_key(JsonWriter *w, const char *key) {
        if (w->error)
                return;
        if (!key || !w->in_object[w->depth] || w->key_written) {
                fail(w, -EINVAL);
                return;
        }
        if (w->has_member[w->depth])
                fputc(',', w->out);
        w->has_member[w->depth] = true;
        write_string(w->out, key);
        fputc(':', w->out);
        w->key_written = true;
}

void json_string(JsonWriter *w, const char *s) {
        if (!s) {
                json_null(w);
                return;
        }
        if (value_begin(w))
                write_string(w->out, s);
}

void json_integer(JsonWriter *w, int64_t i) {
        if (value_begin(w))
                fprintf(w->out, "%" PRId64, i);
}

void json_unsigned(JsonWriter *w, uint64_t u) {
        if (value_begin(w))
                fprintf(w->out, "%" PRIu64, u);
}

void json_boolean(JsonWriter *w, bool b) {
        if (value_begin(w))
                fputs(b ? "true" : "false", w->out);
}

void json_null(JsonWriter *w) {
        if (value_begin(w))
                fputs("null", w->out);
}

int json_writer_finish(JsonWriter *w) {
        if (w->error)
                return w->error;
        if (w->depth > 0 || w->key_written)
                return -EINVAL;
        /* Flushed here, so that a full disk or a closed pipe is this call's error. */
        if (fflush(w->out) != 0 || ferror(w->out))
                return -EIO;
        return 0;
}
