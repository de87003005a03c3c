/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json-writer.h"
#include "macro.h"

/* A writer on memory, and what it wrote once finished. */
typedef struct Out {
        char *buf;
        size_t len;
        FILE *f;
        JsonWriter w;
} Out;

static void out_open(Out *o) {
        *o = (Out) {};
        o->f = open_memstream(&o->buf, &o->len);
        assert_non_null(o->f);
        o->w = JSON_WRITER_INIT(o->f);
}

static void out_expect(Out *o, int error, const char *expected) {
        assert_int_equal(json_writer_finish(&o->w), error);
        assert_int_equal(fclose(o->f), 0);
        assert_string_equal(o->buf, expected);
        free(o->buf);
}

/* One string value on its own. */
static void assert_string_written(const char *s, const char *expected) {
        Out o;
        out_open(&o);
        json_string(&o.w, s);
        out_expect(&o, 0, expected);
}

static void test_nesting_and_commas(void **state) {
        (void) state;
        Out o;
        out_open(&o);
        json_begin_object(&o.w);
        json_key(&o.w, "a");
        json_begin_array(&o.w);
        json_integer(&o.w, 1);
        json_integer(&o.w, -2);
        json_begin_object(&o.w);
        json_key(&o.w, "b");
        json_boolean(&o.w, true);
        json_key(&o.w, "c");
        json_boolean(&o.w, false);
        json_end_object(&o.w);
        json_begin_array(&o.w);
        json_end_array(&o.w);
        json_begin_object(&o.w);
        json_end_object(&o.w);
        json_begin_array(&o.w);
        json_begin_array(&o.w);
        json_null(&o.w);
        json_end_array(&o.w);
        json_end_array(&o.w);
        json_end_array(&o.w);
        json_key(&o.w, "d");
        json_null(&o.w);
        json_key(&o.w, "e");
        json_unsigned(&o.w, UINT64_MAX);
        json_key(&o.w, "f");
        json_integer(&o.w, INT64_MIN);
        json_key(&o.w, "g");
        json_string(&o.w, "x");
        json_key(&o.w, "h");
        json_string(&o.w, NULL);
        json_end_object(&o.w);
        out_expect(&o, 0,
                   "{\"a\":[1,-2,{\"b\":true,\"c\":false},[],{},[[null]]],\"d\":null,"
                   "\"e\":18446744073709551615,\"f\":-9223372036854775808,\"g\":\"x\",\"h\":null}");
}

static void test_top_level(void **state) {
        (void) state;
        Out o;
        out_open(&o);
        out_expect(&o, 0, "");

        out_open(&o);
        json_begin_object(&o.w);
        json_end_object(&o.w);
        out_expect(&o, 0, "{}");

        out_open(&o);
        json_begin_array(&o.w);
        json_end_array(&o.w);
        out_expect(&o, 0, "[]");

        out_open(&o);
        json_unsigned(&o.w, 0);
        out_expect(&o, 0, "0");

        out_open(&o);
        json_null(&o.w);
        out_expect(&o, 0, "null");

        assert_string_written("", "\"\"");
        assert_string_written(NULL, "null");
}

static void test_deep(void **state) {
        (void) state;
        char expected[2 * JSON_DEPTH_MAX + 1] = "";
        Out o;
        out_open(&o);
        for (unsigned i = 0; i < JSON_DEPTH_MAX; i++)
                json_begin_array(&o.w);
        for (unsigned i = 0; i < JSON_DEPTH_MAX; i++)
                json_end_array(&o.w);
        memset(expected, '[', JSON_DEPTH_MAX);
        memset(expected + JSON_DEPTH_MAX, ']', JSON_DEPTH_MAX);
        out_expect(&o, 0, expected);
}

static void test_control_characters(void **state) {
        (void) state;
        for (unsigned c = 1; c < 0x20; c++) {
                char in[2] = { (char) c, 0 }, expected[16];
                const char *short_form = c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == '\n' ? "\\n" :
                                         c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
                if (short_form)
                        snprintf(expected, sizeof(expected), "\"%s\"", short_form);
                else
                        snprintf(expected, sizeof(expected), "\"\\u%04x\"", c);
                assert_string_written(in, expected);
        }
        assert_string_written("a\tb\nc\x01" "d\x1f", "\"a\\tb\\nc\\u0001d\\u001f\"");
        /* DEL is no control character to JSON. */
        assert_string_written("\x7f", "\"\x7f\"");
}

static void test_quote_and_backslash(void **state) {
        (void) state;
        assert_string_written("say \"hi\"", "\"say \\\"hi\\\"\"");
        assert_string_written("C:\\dir\\", "\"C:\\\\dir\\\\\"");
        assert_string_written("/", "\"/\"");

        /* Keys are strings too. */
        Out o;
        out_open(&o);
        json_begin_object(&o.w);
        json_key(&o.w, "a\"b\\\n");
        json_integer(&o.w, 1);
        json_end_object(&o.w);
        out_expect(&o, 0, "{\"a\\\"b\\\\\\n\":1}");
}

static void test_utf8_kept(void **state) {
        (void) state;
        static const char *valid[] = {
                "grüße", "€ 10", "日本語", "\xf0\x9d\x84\x9e" /* U+1D11E */, "emoji \xf0\x9f\x98\x80 end",
                "\xc2\x80" /* U+0080 */, "\xdf\xbf" /* U+07FF */, "\xe0\xa0\x80" /* U+0800 */,
                "\xed\x9f\xbf" /* U+D7FF */, "\xee\x80\x80" /* U+E000 */, "\xef\xbf\xbf" /* U+FFFF */,
                "\xf0\x90\x80\x80" /* U+10000 */, "\xf4\x8f\xbf\xbf" /* U+10FFFF */,
        };
        for (size_t i = 0; i < ELEMENTSOF(valid); i++) {
                char expected[64];
                snprintf(expected, sizeof(expected), "\"%s\"", valid[i]);
                assert_string_written(valid[i], expected);
        }
}

static void test_utf8_invalid(void **state) {
        (void) state;
        static const struct { const char *in, *out; } t[] = {
                /* A continuation byte alone, bytes that never occur. */
                { "\x80", "\\ufffd" },
                { "a\xbf" "b", "a\\ufffdb" },
                { "\xfe\xff", "\\ufffd\\ufffd" },
                { "\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" },
                /* Overlong forms. */
                { "\xc0\xaf", "\\ufffd\\ufffd" },
                { "\xc1\xbf", "\\ufffd\\ufffd" },
                { "\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd" },
                { "\xe0\x9f\xbf", "\\ufffd\\ufffd\\ufffd" },
                { "\xf0\x80\x80\xaf", "\\ufffd\\ufffd\\ufffd\\ufffd" },
                { "\xf0\x8f\xbf\xbf", "\\ufffd\\ufffd\\ufffd\\ufffd" },
                /* Surrogates, and past U+10FFFF. */
                { "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd" },
                { "\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd" },
                { "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" },
                /* Cut short: at the end, before ASCII, before another sequence. */
                { "\xe2\x82", "\\ufffd\\ufffd" },
                { "\xe2\x82" "A", "\\ufffd\\ufffdA" },
                { "\xf0\x9f\x98", "\\ufffd\\ufffd\\ufffd" },
                { "\xc3\xc3\xa9", "\\ufffd\xc3\xa9" },
                { "\xe2\x82\n", "\\ufffd\\ufffd\\n" },
                /* Valid around invalid: the valid kept. */
                { "\xc3\xa9\xff\xe2\x82\xac", "\xc3\xa9\\ufffd\xe2\x82\xac" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                char expected[128];
                snprintf(expected, sizeof(expected), "\"%s\"", t[i].out);
                assert_string_written(t[i].in, expected);
        }
}

/* Every single byte comes out as ASCII: escaped, kept, or U+FFFD past 0x7f. */
static void test_every_byte(void **state) {
        (void) state;
        for (unsigned c = 1; c < 0x100; c++) {
                char in[2] = { (char) c, 0 };
                Out o;
                out_open(&o);
                json_string(&o.w, in);
                assert_int_equal(json_writer_finish(&o.w), 0);
                assert_int_equal(fclose(o.f), 0);
                for (const unsigned char *p = (const unsigned char *) o.buf; *p; p++)
                        assert_true(*p >= 0x20 && *p < 0x80);
                if (c >= 0x80)
                        assert_string_equal(o.buf, "\"\\ufffd\"");
                free(o.buf);
        }
}

static void test_misuse(void **state) {
        (void) state;
        Out o;

        /* A value without its key: nothing written from there on. */
        out_open(&o);
        json_begin_object(&o.w);
        json_integer(&o.w, 1);
        json_key(&o.w, "a");
        json_end_object(&o.w);
        out_expect(&o, -EINVAL, "{");

        /* A key in an array. */
        out_open(&o);
        json_begin_array(&o.w);
        json_key(&o.w, "a");
        out_expect(&o, -EINVAL, "[");

        /* Two keys in a row, and a key with no value before the end. */
        out_open(&o);
        json_begin_object(&o.w);
        json_key(&o.w, "a");
        json_key(&o.w, "b");
        out_expect(&o, -EINVAL, "{\"a\":");
        out_open(&o);
        json_begin_object(&o.w);
        json_key(&o.w, "a");
        json_end_object(&o.w);
        out_expect(&o, -EINVAL, "{\"a\":");

        /* An end that does not match, or matches nothing. */
        out_open(&o);
        json_begin_object(&o.w);
        json_end_array(&o.w);
        out_expect(&o, -EINVAL, "{");
        out_open(&o);
        json_end_object(&o.w);
        out_expect(&o, -EINVAL, "");

        /* Still open at the end. */
        out_open(&o);
        json_begin_array(&o.w);
        json_begin_object(&o.w);
        json_end_object(&o.w);
        out_expect(&o, -EINVAL, "[{}");

        /* A second value at the top. */
        out_open(&o);
        json_null(&o.w);
        json_null(&o.w);
        out_expect(&o, -EINVAL, "null");

        /* Deeper than the stack. */
        out_open(&o);
        for (unsigned i = 0; i <= JSON_DEPTH_MAX; i++)
                json_begin_array(&o.w);
        for (unsigned i = 0; i <= JSON_DEPTH_MAX; i++)
                json_end_array(&o.w);
        assert_int_equal(json_writer_finish(&o.w), -E2BIG);
        assert_int_equal(fclose(o.f), 0);
        assert_int_equal(o.len, JSON_DEPTH_MAX);
        free(o.buf);
}

static void test_stream_error(void **state) {
        (void) state;
        FILE *f = fopen("/dev/full", "we");
        if (!f)
                skip();
        JsonWriter w = JSON_WRITER_INIT(f);
        json_string(&w, "no room");
        assert_int_equal(json_writer_finish(&w), -EIO);
        fclose(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nesting_and_commas),
                cmocka_unit_test(test_top_level),
                cmocka_unit_test(test_deep),
                cmocka_unit_test(test_control_characters),
                cmocka_unit_test(test_quote_and_backslash),
                cmocka_unit_test(test_utf8_kept),
                cmocka_unit_test(test_utf8_invalid),
                cmocka_unit_test(test_every_byte),
                cmocka_unit_test(test_misuse),
                cmocka_unit_test(test_stream_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
