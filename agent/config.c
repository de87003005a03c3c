/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strv.h"

Config *config_new(void) {
        Config *c = calloc(1, sizeof(Config));
        if (!c)
                return NULL;
        c->unbind_timeout = 10 * USEC_PER_SEC;
        c->bind_timeout = 10 * USEC_PER_SEC;
        c->drain_grace = 10 * USEC_PER_SEC;
        c->orphan_grace = 30 * USEC_PER_SEC;
        c->block_host_modules = true;
        c->shutdown_timeout = 2 * 60 * USEC_PER_SEC;
        c->lg_width = 1920;
        c->lg_height = 1080;
        if (!(c->lg_unit = strdup("looking-glass-client.service")) ||
            !(c->lg_device = strdup("/dev/shm/looking-glass")))
                return config_free(c);
        return c;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        free(c->host_driver);
        strv_free(c->host_modules);
        strv_free(c->services);
        free(c->domain);
        free(c->uri);
        free(c->group);
        free(c->lg_user);
        free(c->lg_unit);
        free(c->lg_device);
        free(c);
        return NULL;
}

typedef struct ParseState {
        Config *config;
        FILE *file;
        int line;        /* lines read from file so far: inih's line number */
        int error_line;  /* the line of the first error in error */
        char error[256];
} ParseState;

static bool name_is_valid(const char *s, const char *extra) {
        if (!*s || strlen(s) > 255)
                return false;
        for (const char *p = s; *p; p++)
                if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
                      ('0' <= *p && *p <= '9') || strchr(extra, *p)))
                        return false;
        return true;
}

static int parse_bool(const char *v, bool *ret) {
        static const char *yes[] = { "1", "yes", "true", "on" }, *no[] = { "0", "no", "false", "off" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return *ret = true, 0;
                if (strcasecmp(v, no[i]) == 0)
                        return *ret = false, 0;
        }
        return -EINVAL;
}

static int set_string(char **field, const char *v) {
        char *s = strdup(v);
        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

/* An empty value resets a list, as in systemd unit files; words accumulate. */
static int set_words(char ***field, const char *v, const char *extra, char **bad) {
        _cleanup_strv_free_ char **words = NULL;
        int r = strv_split_words(v, &words);
        if (r < 0)
                return r;
        if (!*v) {
                *field = strv_free(*field);
                return 0;
        }
        STRV_FOREACH(w, words)
                if (!name_is_valid(*w, extra)) {
                        /* words is freed on return: the caller gets a copy. */
                        *bad = strdup(*w);
                        return *bad ? -EINVAL : -ENOMEM;
                }
        STRV_FOREACH(w, words)
                if (!strv_contains(*field, *w) && (r = strv_extend(field, *w)) < 0)
                        return r;
        return 0;
}

/* inih goes on after an error and reports the first one's line: keep the first message. */
#define FAIL(st, ...)                                                                   \
        ((st)->error[0] ? 0 :                                                           \
         ((st)->error_line = (st)->line, snprintf((st)->error, sizeof((st)->error), __VA_ARGS__)), 0)

/* The longest time span a setting takes (as the D-Bus Stop's timeout). */
#define CONFIG_SPAN_MAX (24 * 3600 * USEC_PER_SEC)

static int handle(void *user, const char *section, const char *name, const char *value) {
        ParseState *st = user;
        Config *c = st->config;
        _cleanup_free_ char *bad = NULL;
        int r = 0;

        if (streq(section, "GPU")) {
                if (streq(name, "Address")) {
                        r = pci_address_parse(value, &c->address);
                        if (r < 0)
                                return FAIL(st, "Address=%s is not a PCI address (expected e.g. 0000:01:00.0)", value);
                        c->have_address = true;
                } else if (streq(name, "ID")) {
                        if (pci_id_parse(value, &c->id) < 0)
                                return FAIL(st, "ID=%s is not a vendor:device ID (expected e.g. 10de:2203)", value);
                        c->have_id = true;
                } else if (streq(name, "HostDriver")) {
                        if (!name_is_valid(value, "_-"))
                                return FAIL(st, "HostDriver=%s is not a driver name", value);
                        r = set_string(&c->host_driver, value);
                } else if (streq(name, "HostModules")) {
                        r = set_words(&c->host_modules, value, "_-", &bad);
                        if (r == -EINVAL)
                                return FAIL(st, "HostModules= has an invalid module name '%s'", bad);
                } else if (streq(name, "Services")) {
                        r = set_words(&c->services, value, "_-.@:\\", &bad);
                        if (r == -EINVAL)
                                return FAIL(st, "Services= has an invalid unit name '%s'", bad);
                } else
                        return FAIL(st, "unknown key '%s' in section [GPU]", name);
        } else if (streq(section, "VM")) {
                if (streq(name, "Domain")) {
                        if (!*value || strlen(value) > 255 || strchr(value, '/'))
                                return FAIL(st, "Domain=%s is not a libvirt domain name", value);
                        r = set_string(&c->domain, value);
                } else if (streq(name, "URI")) {
                        if (!strstr(value, ":///") && !strstr(value, "://"))
                                return FAIL(st, "URI=%s is not a libvirt connection URI (expected e.g. qemu:///system)", value);
                        r = set_string(&c->uri, value);
                } else if (streq(name, "ShutdownTimeoutSec")) {
                        if (parse_sec(value, &c->shutdown_timeout) < 0 || c->shutdown_timeout == 0)
                                return FAIL(st, "ShutdownTimeoutSec=%s is not a positive time span (expected e.g. 2min)", value);
                        if (c->shutdown_timeout > CONFIG_SPAN_MAX)
                                return FAIL(st, "ShutdownTimeoutSec=%s is longer than a day, the longest vfiod waits", value);
                } else
                        return FAIL(st, "unknown key '%s' in section [VM]", name);
        } else if (streq(section, "Access")) {
                if (streq(name, "Group")) {
                        if (*value && !name_is_valid(value, "_-."))
                                return FAIL(st, "Group=%s is not a group name", value);
                        r = set_string(&c->group, value);
                } else
                        return FAIL(st, "unknown key '%s' in section [Access]", name);
        } else if (streq(section, "LookingGlass")) {
                if (streq(name, "User")) {
                        if (*value && !name_is_valid(value, "_-."))
                                return FAIL(st, "User=%s is not a user name", value);
                        r = set_string(&c->lg_user, value);
                } else if (streq(name, "Unit")) {
                        if (!name_is_valid(value, "_-.@:\\") || !strchr(value, '.'))
                                return FAIL(st, "Unit=%s is not a unit name", value);
                        r = set_string(&c->lg_unit, value);
                } else if (streq(name, "Device")) {
                        if (value[0] != '/' || strstr(value, "/../"))
                                return FAIL(st, "Device=%s is not an absolute path", value);
                        r = set_string(&c->lg_device, value);
                } else if (streq(name, "Width") || streq(name, "Height")) {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(value, &end, 10);
                        if (errno || end == value || *end || v == 0 || v > 16384)
                                return FAIL(st, "%s=%s is not a number of pixels (1-16384)", name, value);
                        *(streq(name, "Width") ? &c->lg_width : &c->lg_height) = (unsigned) v;
                } else if (streq(name, "HDR")) {
                        if (parse_bool(value, &c->lg_hdr) < 0)
                                return FAIL(st, "HDR=%s is not a boolean", value);
                } else
                        return FAIL(st, "unknown key '%s' in section [LookingGlass]", name);
        } else if (streq(section, "Handoff")) {
                usec_t *t = streq(name, "UnbindTimeoutSec") ? &c->unbind_timeout :
                            streq(name, "BindTimeoutSec")   ? &c->bind_timeout :
                            streq(name, "DrainGraceSec")    ? &c->drain_grace :
                            streq(name, "OrphanGraceSec")   ? &c->orphan_grace : NULL;
                if (t) {
                        if (parse_sec(value, t) < 0 || *t == 0)
                                return FAIL(st, "%s=%s is not a positive time span (expected e.g. 10s, 500ms or 2min 30s)", name, value);
                        /* Beyond that a deadline (now + span) could wrap into the past: an instant "stuck". */
                        if (*t > CONFIG_SPAN_MAX)
                                return FAIL(st, "%s=%s is longer than a day, the longest vfiod waits", name, value);
                        r = 0;
                } else if (streq(name, "BlockHostModules")) {
                        if (parse_bool(value, &c->block_host_modules) < 0)
                                return FAIL(st, "BlockHostModules=%s is not a boolean", value);
                        r = 0;
                } else
                        return FAIL(st, "unknown key '%s' in section [Handoff]", name);
        } else if (streq(section, "Desktop")) {
                if (streq(name, "HideGpuAudio")) {
                        if (parse_bool(value, &c->hide_gpu_audio) < 0)
                                return FAIL(st, "HideGpuAudio=%s is not a boolean", value);
                } else
                        return FAIL(st, "unknown key '%s' in section [Desktop]", name);
        } else
                return FAIL(st, "unknown section [%s] (expected [GPU], [VM], [Handoff], [Access], [LookingGlass] or [Desktop])",
                            section);

        if (r < 0)
                return FAIL(st, "%s", strerror(-r));
        return 1;
}

/* fgets for inih, counting the lines it reads: one call is one line to inih. */
static char *read_line(char *str, int num, void *stream) {
        ParseState *st = stream;
        char *s = fgets(str, num, st->file);
        if (s)
                st->line++;
        return s;
}

static int parse_one(ParseState *st, const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;

        st->file = f;
        st->line = st->error_line = 0;
        st->error[0] = 0;
        int line = ini_parse_stream(read_line, st, handle, st);
        st->file = NULL;
        if (line == 0)
                return 0;
        if (line < 0)
                return log_oom();
        /* The first error was a line inih could not parse, not a value we refused. */
        if (!st->error[0] || st->error_line != line)
                snprintf(st->error, sizeof(st->error), "syntax error (expected [Section] or Key=Value)");
        return log_error_errno(EINVAL, "%s:%d: %s", path, line, st->error);
}

static int filter_conf(const struct dirent *de) {
        size_t l = strlen(de->d_name);
        return de->d_name[0] != '.' && l > 5 && streq(de->d_name + l - 5, ".conf");
}

int config_load(const char *path, Config **ret) {
        _cleanup_(config_freep) Config *c = config_new();
        if (!c)
                return log_oom();

        ParseState st = { .config = c };
        int r = parse_one(&st, path);
        if (r == -ENOENT)
                log_debug("No %s, using defaults.", path);
        else if (r < 0) {
                if (r != -EINVAL)
                        log_error_errno(r, "Failed to read %s: %m", path);
                return r;
        }

        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s.d", path) < 0)
                return log_oom();

        struct dirent **entries = NULL;
        int n = scandir(dir, &entries, filter_conf, alphasort);
        if (n < 0 && errno != ENOENT)
                return log_error_errno(errno, "Failed to list %s: %m", dir);

        r = 0;
        for (int i = 0; i < n; i++) {
                if (r >= 0) {
                        _cleanup_free_ char *p = NULL;
                        if (asprintf(&p, "%s/%s", dir, entries[i]->d_name) < 0)
                                r = log_oom();
                        else if ((r = parse_one(&st, p)) < 0 && r != -EINVAL)
                                log_error_errno(r, "Failed to read %s: %m", p);
                }
                free(entries[i]);
        }
        free(entries);
        if (r < 0)
                return r;

        if (c->have_address && c->have_id)
                log_debug("Both Address= and ID= set: Address= picks the GPU, ID= must match it.");

        *ret = TAKE_PTR(c);
        return 0;
}
