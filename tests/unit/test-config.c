/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "fileio.h"
#include "macro.h"
#include "strv.h"
#include "test-util.h"

typedef struct Fixture {
        char dir[64];
        char *conf;      /* DIR/vfiod.conf */
        char *dropins;   /* DIR/vfiod.conf.d */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-config.XXXXXX");
        if (!mkdtemp(f->dir) ||
            asprintf(&f->conf, "%s/vfiod.conf", f->dir) < 0 ||
            asprintf(&f->dropins, "%s/vfiod.conf.d", f->dir) < 0) {
                free(f->conf);
                free(f);
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        (void) rm_rf(f->dir);
        free(f->conf);
        free(f->dropins);
        free(f);
        return 0;
}

/* Writes PATH.d/name; returns its path if ret is not NULL. */
static void write_dropin(Fixture *f, const char *name, const char *content, char **ret) {
        mkdirs(f->dropins);
        _cleanup_free_ char *p = path_join(f->dropins, name);
        write_file(p, content);
        if (ret)
                *ret = TAKE_PTR(p);
}

/* Runs config_load with stderr going to a file; returns what was logged. */
static int load_captured(const char *path, Config **ret, char **ret_stderr) {
        char tmpl[] = "/tmp/test-config-stderr.XXXXXX";
        _cleanup_close_ int fd = mkostemp(tmpl, O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(unlink(tmpl), 0);

        fflush(stderr);
        _cleanup_close_ int saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);

        int r = config_load(path, ret);

        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);

        off_t size = lseek(fd, 0, SEEK_END);
        assert_true(size >= 0);
        char *buf = calloc(1, (size_t) size + 1);
        assert_non_null(buf);
        assert_int_equal(pread(fd, buf, (size_t) size, 0), size);
        *ret_stderr = buf;
        return r;
}

static size_t count_lines(const char *s) {
        size_t n = 0;
        for (const char *p = s; *p; p++)
                n += *p == '\n';
        return n;
}

/* Loading fails with -EINVAL and one line "PROG: FILE:LINE: ..." containing what. */
static void assert_load_fails(const char *path, const char *file, unsigned line, const char *what) {
        Config *c = (Config *) 0x1;
        _cleanup_free_ char *err = NULL, *prefix = NULL;

        assert_int_equal(load_captured(path, &c, &err), -EINVAL);
        assert_ptr_equal(c, (Config *) 0x1);

        assert_true(asprintf(&prefix, "%s: %s:%u: ", program_invocation_short_name, file, line) >= 0);
        if (count_lines(err) != 1 || !startswith(err, prefix) || err[strlen(err) - 1] != '\n' ||
            !strstr(err, what))
                fail_msg("expected one line starting with \"%s\" and containing \"%s\", got \"%s\"",
                         prefix, what, err);
}

static Config *load_ok(const char *path) {
        Config *c = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(load_captured(path, &c, &err), 0);
        assert_non_null(c);
        if (*err)
                fail_msg("unexpected output: \"%s\"", err);
        return c;
}

static void assert_strv(char **l, const char *joined) {
        _cleanup_free_ char *j = strv_join(l, " ");
        assert_non_null(j);
        assert_string_equal(j, joined);
}

static void assert_defaults(const Config *c) {
        assert_false(c->have_address);
        assert_false(c->have_id);
        assert_null(c->host_driver);
        assert_null(c->host_modules);
        assert_null(c->services);
        assert_null(c->domain);
        assert_null(c->uri);
        assert_int_equal(c->unbind_timeout, 10 * USEC_PER_SEC);
        assert_int_equal(c->bind_timeout, 10 * USEC_PER_SEC);
        assert_int_equal(c->drain_grace, 10 * USEC_PER_SEC);
        assert_true(c->block_host_modules);
        assert_false(c->hide_gpu_audio);
}

static void test_missing_file(void **state) {
        Fixture *f = *state;
        _cleanup_(config_freep) Config *c = load_ok(f->conf);
        assert_defaults(c);
}

static void test_empty_file(void **state) {
        Fixture *f = *state;
        write_file(f->conf, "# nothing here\n; nor here\n\n");
        _cleanup_(config_freep) Config *c = load_ok(f->conf);
        assert_defaults(c);
}

static void test_every_key(void **state) {
        Fixture *f = *state;
        write_file(f->conf,
                   "# vfiod\n"
                   "[GPU]\n"
                   "Address=0000:01:00.0\n"
                   "ID=10de:2203\n"
                   "HostDriver=nvidia\n"
                   "HostModules=nvidia_drm, nvidia_modeset nvidia_uvm\n"
                   "HostModules=nvidia nvidia_drm\n"
                   "Services=nvidia-persistenced.service getty@tty1.service\n"
                   "\n"
                   "[VM]\n"
                   "Domain=win11\n"
                   "URI=qemu:///system\n"
                   "\n"
                   "[Handoff]\n"
                   "UnbindTimeoutSec=5\n"
                   "BindTimeoutSec=500ms\n"
                   "DrainGraceSec=2min\n"
                   "BlockHostModules=no\n"
                   "\n"
                   "[Desktop]\n"
                   "HideGpuAudio=yes\n");
        _cleanup_(config_freep) Config *c = load_ok(f->conf);

        assert_true(c->have_address);
        assert_int_equal(c->address.domain, 0);
        assert_int_equal(c->address.bus, 1);
        assert_int_equal(c->address.slot, 0);
        assert_int_equal(c->address.function, 0);
        assert_true(c->have_id);
        assert_int_equal(c->id.vendor, 0x10de);
        assert_int_equal(c->id.device, 0x2203);
        assert_string_equal(c->host_driver, "nvidia");
        /* Words accumulate without duplicates. */
        assert_strv(c->host_modules, "nvidia_drm nvidia_modeset nvidia_uvm nvidia");
        assert_strv(c->services, "nvidia-persistenced.service getty@tty1.service");
        assert_string_equal(c->domain, "win11");
        assert_string_equal(c->uri, "qemu:///system");
        assert_int_equal(c->unbind_timeout, 5 * USEC_PER_SEC);
        assert_int_equal(c->bind_timeout, 500 * USEC_PER_MSEC);
        assert_int_equal(c->drain_grace, 120 * USEC_PER_SEC);
        assert_false(c->block_host_modules);
        assert_true(c->hide_gpu_audio);
}

static void test_values(void **state) {
        Fixture *f = *state;
        write_file(f->conf,
                   "[GPU]\n"
                   "Address=pci_0000_0a_1f_1\n"
                   "HostDriver=amdgpu\n"
                   "HostDriver=nouveau\n"
                   "[VM]\n"
                   "URI=qemu+ssh://host/system\n"
                   "[Handoff]\n"
                   "BlockHostModules=off\n"
                   "BlockHostModules=YES\n"
                   "UnbindTimeoutSec=1s\n");
        _cleanup_(config_freep) Config *c = load_ok(f->conf);

        char buf[PCI_ADDRESS_STRLEN];
        assert_true(c->have_address);
        assert_string_equal(pci_address_format(&c->address, buf), "0000:0a:1f.1");
        assert_false(c->have_id);
        assert_string_equal(c->host_driver, "nouveau");
        assert_string_equal(c->uri, "qemu+ssh://host/system");
        assert_true(c->block_host_modules);
        assert_int_equal(c->unbind_timeout, USEC_PER_SEC);
}

static void test_dropins(void **state) {
        Fixture *f = *state;
        write_file(f->conf,
                   "[GPU]\n"
                   "Address=0000:01:00.0\n"
                   "HostDriver=nvidia\n"
                   "HostModules=nvidia_drm nvidia\n"
                   "Services=a.service\n"
                   "[VM]\n"
                   "Domain=main\n"
                   "[Handoff]\n"
                   "UnbindTimeoutSec=3\n");
        /* Created out of order: applied by name. */
        write_dropin(f, "20-later.conf",
                "[GPU]\n"
                "HostDriver=nouveau\n"
                "HostModules=nouveau\n"
                "[VM]\n"
                "Domain=later\n", NULL);
        write_dropin(f, "10-first.conf",
                "[GPU]\n"
                "Address=0000:02:00.0\n"
                "HostDriver=amdgpu\n"
                "HostModules=\n"
                "Services=\n"
                "Services=b.service\n"
                "[VM]\n"
                "Domain=first\n"
                "[Handoff]\n"
                "UnbindTimeoutSec=4\n", NULL);
        /* Not .conf: ignored, though invalid. */
        write_dropin(f, "30-ignored.conf.bak", "[Bogus]\nX=1\n", NULL);
        write_dropin(f, "40-ignored", "[GPU]\nHostDriver=ignored\n", NULL);
        write_dropin(f, ".hidden.conf", "garbage\n", NULL);
        write_dropin(f, ".conf", "garbage\n", NULL);

        _cleanup_(config_freep) Config *c = load_ok(f->conf);
        assert_true(c->have_address);
        assert_int_equal(c->address.bus, 2);
        assert_string_equal(c->host_driver, "nouveau");
        /* 10- reset the list, 20- added to it. */
        assert_strv(c->host_modules, "nouveau");
        assert_strv(c->services, "b.service");
        assert_string_equal(c->domain, "later");
        assert_int_equal(c->unbind_timeout, 4 * USEC_PER_SEC);
        assert_int_equal(c->bind_timeout, 10 * USEC_PER_SEC);
}

static void test_dropins_without_main(void **state) {
        Fixture *f = *state;
        write_dropin(f, "50-only.conf", "[VM]\nDomain=dropin\n", NULL);
        _cleanup_(config_freep) Config *c = load_ok(f->conf);
        assert_string_equal(c->domain, "dropin");
        assert_null(c->uri);
}

static void test_empty_list_resets(void **state) {
        Fixture *f = *state;
        write_file(f->conf,
                   "[GPU]\n"
                   "HostModules=a b\n"
                   "HostModules=\n"
                   "Services=x.service\n");
        _cleanup_(config_freep) Config *c = load_ok(f->conf);
        assert_null(c->host_modules);
        assert_strv(c->services, "x.service");
}

static const struct {
        const char *name;
        const char *content;
        unsigned line;
        const char *what;
} bad_inputs[] = {
        { "unknown section", "[GPU]\nAddress=01:00.0\n\n[Bogus]\nX=1\n", 5, "unknown section [Bogus]" },
        { "key before section", "# comment\nAddress=01:00.0\n", 2, "unknown section []" },
        { "unknown GPU key", "[GPU]\nAddress=01:00.0\nColour=green\n", 3, "unknown key 'Colour' in section [GPU]" },
        { "unknown VM key", "[VM]\nDomain=x\nDomian=y\n", 3, "unknown key 'Domian' in section [VM]" },
        { "unknown Handoff key", "[Handoff]\n\n\n\nTimeoutSec=5\n", 5, "unknown key 'TimeoutSec' in section [Handoff]" },
        { "bad address", "[GPU]\n# the GPU\nAddress=0000:01:20.0\n", 3, "Address=0000:01:20.0 is not a PCI address" },
        { "bad address garbage", "[GPU]\nAddress=gpu0\n", 2, "Address=gpu0 is not a PCI address" },
        { "bad ID", "[GPU]\nAddress=01:00.0\nID=10de-2203\n", 3, "ID=10de-2203 is not a vendor:device ID" },
        { "bad unbind time", "[Handoff]\nUnbindTimeoutSec=5hours\n", 2, "UnbindTimeoutSec=5hours is not a positive time span" },
        { "bad bind time", "[Handoff]\nBindTimeoutSec=-1\n", 2, "BindTimeoutSec=-1 is not a positive time span" },
        { "zero time", "[Handoff]\nDrainGraceSec=0\n", 2, "DrainGraceSec=0 is not a positive time span" },
        { "time that would wrap", "[Handoff]\nUnbindTimeoutSec=18446744073709551615us\n", 2,
          "UnbindTimeoutSec=18446744073709551615us is longer than a day" },
        { "grace over a day", "[Handoff]\nOrphanGraceSec=1d 1s\n", 2, "OrphanGraceSec=1d 1s is longer than a day" },
        { "shutdown over a day", "[VM]\nShutdownTimeoutSec=2d\n", 2, "ShutdownTimeoutSec=2d is longer than a day" },
        { "bad bool", "[Handoff]\nBlockHostModules=maybe\n", 2, "BlockHostModules=maybe is not a boolean" },
        { "bad HideGpuAudio", "[Desktop]\nHideGpuAudio=hdmi\n", 2, "HideGpuAudio=hdmi is not a boolean" },
        { "unknown Desktop key", "[Desktop]\nHideGpuAudio=no\nHideGpu=yes\n", 3, "unknown key 'HideGpu' in section [Desktop]" },
        { "bad module name", "[GPU]\nHostModules=nvidia nvidia/drm\n", 2, "HostModules= has an invalid module name 'nvidia/drm'" },
        { "bad unit name", "[GPU]\nServices=a.service b$c.service\n", 2, "Services= has an invalid unit name 'b$c.service'" },
        { "bad driver name", "[GPU]\nHostDriver=nv idia\n", 2, "HostDriver=nv idia is not a driver name" },
        { "bad domain", "[VM]\nDomain=a/b\n", 2, "Domain=a/b is not a libvirt domain name" },
        { "bad URI", "[VM]\nURI=system\n", 2, "URI=system is not a libvirt connection URI" },
        { "syntax error", "[GPU]\nAddress=01:00.0\nthis is not a key value pair\n", 3, "syntax error" },
        { "unclosed section", "[GPU]\nAddress=01:00.0\n[VM\nDomain=x\n", 3, "syntax error" },
};

static void test_bad_main(void **state) {
        Fixture *f = *state;
        for (size_t i = 0; i < ELEMENTSOF(bad_inputs); i++) {
                print_message("main file: %s\n", bad_inputs[i].name);
                write_file(f->conf, bad_inputs[i].content);
                assert_load_fails(f->conf, f->conf, bad_inputs[i].line, bad_inputs[i].what);
        }
}

static void test_bad_dropin(void **state) {
        Fixture *f = *state;
        write_file(f->conf, "[GPU]\nAddress=0000:01:00.0\n");
        write_dropin(f, "10-good.conf", "[VM]\nDomain=x\n", NULL);
        write_dropin(f, "90-good.conf", "[VM]\nDomain=y\n", NULL);
        for (size_t i = 0; i < ELEMENTSOF(bad_inputs); i++) {
                print_message("drop-in: %s\n", bad_inputs[i].name);
                _cleanup_free_ char *p = NULL;
                write_dropin(f, "50-bad.conf", bad_inputs[i].content, &p);
                assert_load_fails(f->conf, p, bad_inputs[i].line, bad_inputs[i].what);
        }
}

static void test_first_error_reported(void **state) {
        Fixture *f = *state;
        /* Two bad lines: the first is the one reported, with its own message. */
        write_file(f->conf, "[GPU]\nColour=green\nAddress=zz\n");
        assert_load_fails(f->conf, f->conf, 2, "unknown key 'Colour'");
        write_file(f->conf, "[GPU]\nnonsense\nAddress=zz\n");
        assert_load_fails(f->conf, f->conf, 2, "syntax error");
}

static void test_unreadable(void **state) {
        Fixture *f = *state;
        /* A directory where the drop-in directory should be: reported, not ignored. */
        write_file(f->conf, "[VM]\nDomain=x\n");
        write_file(f->dropins, "not a directory\n");
        Config *c = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(load_captured(f->conf, &c, &err), -ENOTDIR);
        assert_null(c);
        assert_int_equal(count_lines(err), 1);
        assert_non_null(strstr(err, f->dropins));
}

int main(void) {
        /* Log to stderr, never to the journal. */
        unsetenv("JOURNAL_STREAM");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_values, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropins_without_main, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_list_resets, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_main, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_dropin, setup, teardown),
                cmocka_unit_test_setup_teardown(test_first_error_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
