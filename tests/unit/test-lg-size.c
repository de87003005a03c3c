/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lg-test's arithmetic: the shared memory a resolution needs, and the sizes
 * of a domain's <size unit=...> and of QEMU's size=. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lg-test.h"

#define MIB (UINT64_C(1024) * 1024)

static void test_shm_size(void **state) {
        (void) state;
        /* 1920*1080*4*2 = 16 588 800 bytes = 15.8 MiB, + 10 = 25.8 -> 32 */
        assert_int_equal(lg_shm_size_mib(1920, 1080, false), 32);
        /* 3840*2160*4*2 = 66 355 200 bytes = 63.3 MiB, + 10 = 73.3 -> 128 */
        assert_int_equal(lg_shm_size_mib(3840, 2160, false), 128);
        /* HDR doubles the frames: 31.6 + 10 -> 64; 126.6 + 10 -> 256 */
        assert_int_equal(lg_shm_size_mib(1920, 1080, true), 64);
        assert_int_equal(lg_shm_size_mib(3840, 2160, true), 256);
        /* 2560*1440*4*2 = 28.1 MiB, + 10 = 38.1 -> 64 */
        assert_int_equal(lg_shm_size_mib(2560, 1440, false), 64);
        /* exactly a power of two stays: 1024*768*8 = 6 MiB, + 10 = 16 */
        assert_int_equal(lg_shm_size_mib(1024, 768, false), 16);
        /* one byte over 6 MiB of frames: 16 MiB and a bit -> 32 */
        assert_int_equal(lg_shm_size_mib(1024, 769, false), 32);
        assert_int_equal(lg_shm_size_mib(1, 1, false), 16);
        /* the largest the config takes: 16384^2 * 8 * 2 = 4096 MiB, + 10 -> 8192 */
        assert_int_equal(lg_shm_size_mib(16384, 16384, true), 8192);
}

static void test_parse_scaled(void **state) {
        uint64_t v;
        (void) state;
        assert_int_equal(lg_parse_scaled("32", "M", &v), 0);
        assert_int_equal(v, 32 * MIB);
        assert_int_equal(lg_parse_scaled(" 32\n", "MiB", &v), 0);
        assert_int_equal(v, 32 * MIB);
        assert_int_equal(lg_parse_scaled("32768", "KiB", &v), 0);
        assert_int_equal(v, 32 * MIB);
        assert_int_equal(lg_parse_scaled("32768", "k", &v), 0);
        assert_int_equal(v, 32 * MIB);
        assert_int_equal(lg_parse_scaled("2", "MB", &v), 0);
        assert_int_equal(v, 2000000);
        assert_int_equal(lg_parse_scaled("1", "g", &v), 0);
        assert_int_equal(v, 1024 * MIB);
        assert_int_equal(lg_parse_scaled("33554432", NULL, &v), 0);
        assert_int_equal(v, 32 * MIB);
        assert_int_equal(lg_parse_scaled("33554432", "bytes", &v), 0);
        assert_int_equal(v, 32 * MIB);

        assert_int_equal(lg_parse_scaled("", "M", &v), -EINVAL);
        assert_int_equal(lg_parse_scaled("-1", "M", &v), -EINVAL);
        assert_int_equal(lg_parse_scaled("32x", "M", &v), -EINVAL);
        assert_int_equal(lg_parse_scaled("32", "X", &v), -EINVAL);
        assert_int_equal(lg_parse_scaled("32", "Mx", &v), -EINVAL);
        assert_int_equal(lg_parse_scaled("99999999", "E", &v), -ERANGE);
}

static void test_parse_qemu_size(void **state) {
        uint64_t v;
        (void) state;
        assert_int_equal(lg_parse_qemu_size("32M", &v), 0);
        assert_int_equal(v, 32 * MIB);
        assert_int_equal(lg_parse_qemu_size("32m", &v), 0);
        assert_int_equal(v, 32 * MIB);
        assert_int_equal(lg_parse_qemu_size("33554432", &v), 0);
        assert_int_equal(v, 32 * MIB);
        assert_int_equal(lg_parse_qemu_size("1G", &v), 0);
        assert_int_equal(v, 1024 * MIB);
        assert_int_equal(lg_parse_qemu_size("512B", &v), 0);
        assert_int_equal(v, 512);

        assert_int_equal(lg_parse_qemu_size("", &v), -EINVAL);
        assert_int_equal(lg_parse_qemu_size("M", &v), -EINVAL);
        assert_int_equal(lg_parse_qemu_size("32MB", &v), -EINVAL);
        assert_int_equal(lg_parse_qemu_size("32X", &v), -EINVAL);
        assert_int_equal(lg_parse_qemu_size("99999999999E", &v), -ERANGE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shm_size),
                cmocka_unit_test(test_parse_scaled),
                cmocka_unit_test(test_parse_qemu_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
