/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* "vfioctl lg-test" / "lg-test": checks the Looking Glass set-up end to end.
 * argv[0] is "lg-test". Exit 0 nothing failed, 1 a check failed, 2 bad usage. */
int lg_test_main(int argc, char *argv[]);

/* The shared memory Looking Glass needs for width x height, in MiB: the
 * frame part is width * height * 4 bytes * 2 (two frames; 8 bytes a pixel
 * with HDR, so double), plus 10 MiB, rounded up to the next power of two.
 * 1920x1080 -> 32, 3840x2160 -> 128, 1920x1080 HDR -> 64. */
uint64_t lg_shm_size_mib(unsigned width, unsigned height, bool hdr);

/* libvirt's <size unit='U'>N</size>: b/bytes, k/KiB, KB, M/MiB, MB, ...
 * (no unit: bytes). -EINVAL on a bad number or unit, -ERANGE on overflow. */
int lg_parse_scaled(const char *number, const char *unit, uint64_t *ret);

/* QEMU's size=: bytes, or a number with K/M/G/T (powers of 1024). */
int lg_parse_qemu_size(const char *s, uint64_t *ret);
