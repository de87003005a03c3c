/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lg-test: Looking Glass end to end. Every check ends as one line, PASS, WARN
 * or FAIL, and for WARN and FAIL the commands that fix it on the lines below.
 * Paths are looked up under --root (tests build their set-ups in a temporary
 * directory); messages and fixes name them as they are on the real system. */
#include "fork-child.h"
#include "lg-test.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "json-writer.h"
#include "libvirt-dl.h"
#include "libxml-dl.h"
#include "log.h"
#include "macro.h"
#include "strv.h"
#include "time-util.h"

#define MIB (UINT64_C(1024) * 1024)
/* systemd's SYSTEM_UID_MAX on Debian: logind leaves the IPC of users up to it alone. */
#define SYSTEM_UID_MAX 999
#define NOBODY_UID 65534
/* The client prints its version first thing; a client that does more must not hold us up. */
#define CLIENT_TIMEOUT_USEC (2 * USEC_PER_SEC)
#define CLIENT_NAME "looking-glass-client"
#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

typedef enum { RESULT_PASS, RESULT_WARN, RESULT_FAIL } Result;

typedef struct Check {
        const char *name;
        Result result;
        char *message;
        char *fix;  /* NULL for PASS; may hold several lines */
} Check;

typedef struct Lg {
        const Config *config;
        const char *config_path;
        const char *root;         /* "" for the real root */
        const char *domain_xml;   /* --domain-xml=FILE */
        Check *checks;
        size_t n_checks;

        const char *device;       /* as configured: /dev/shm/looking-glass */
        const char *shm_name;     /* "looking-glass" for /dev/shm/looking-glass, else NULL */
        bool kvmfr;
        bool device_ok;           /* exists and is the right kind */
        struct stat st;
        bool have_size;
        uint64_t size;            /* bytes */
        uint64_t need;            /* bytes, lg_shm_size_mib() */
        char resolution[64];      /* "1920x1080", "3840x2160 HDR" */

        /* [LookingGlass] User=, when it names a user here */
        bool have_user;
        uid_t uid;
        gid_t gid;
        char *home;
        gid_t *groups;
        int n_groups;
} Lg;

uint64_t lg_shm_size_mib(unsigned width, unsigned height, bool hdr) {
        /* Two frames of 4 bytes a pixel (8 with HDR), + 10 MiB, up to a power of two. */
        uint64_t frame = (uint64_t) width * height * (hdr ? 8 : 4) * 2;
        /* Rounding the MiB up first changes nothing: a power of two >= x is >= ceil(x). */
        uint64_t mib = (frame + MIB - 1) / MIB + 10, p = 1;
        while (p < mib)
                p <<= 1;
        return p;
}

static int parse_u64(const char *s, const char **end, uint64_t *ret) {
        char *e;
        while (isspace((unsigned char) *s))
                s++;
        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &e, 10);
        if (errno)
                return -errno;
        *end = e;
        *ret = v;
        return 0;
}

int lg_parse_scaled(const char *number, const char *unit, uint64_t *ret) {
        const char *end;
        uint64_t v, scale = 1;
        int r = parse_u64(number, &end, &v);
        if (r < 0)
                return r;
        while (isspace((unsigned char) *end))
                end++;
        if (*end)
                return -EINVAL;

        /* As libvirt's virScaleInteger: b, bytes; k, KiB (1024); KB (1000); M ... E. */
        if (unit && *unit && strcasecmp(unit, "b") != 0 && strcasecmp(unit, "byte") != 0 &&
            strcasecmp(unit, "bytes") != 0) {
                static const char prefixes[] = "kmgtpe";
                const char *p = strchr(prefixes, tolower((unsigned char) unit[0]));
                if (!p)
                        return -EINVAL;
                unsigned base = !unit[1] || strcasecmp(unit + 1, "ib") == 0 ? 1024 :
                                strcasecmp(unit + 1, "b") == 0 ? 1000 : 0;
                if (base == 0)
                        return -EINVAL;
                for (long i = 0; i <= p - prefixes; i++)
                        scale *= base;
        }
        if (v > UINT64_MAX / scale)
                return -ERANGE;
        *ret = v * scale;
        return 0;
}

int lg_parse_qemu_size(const char *s, uint64_t *ret) {
        const char *end;
        uint64_t v, scale = 1;
        int r = parse_u64(s, &end, &v);
        if (r < 0)
                return r;
        if (*end) {
                const char *p = strchr("BKMGTPE", toupper((unsigned char) *end));
                if (!p || end[1])
                        return -EINVAL;
                for (long i = 0; i < p - "BKMGTPE"; i++)
                        scale *= 1024;
        }
        if (v > UINT64_MAX / scale)
                return -ERANGE;
        *ret = v * scale;
        return 0;
}

static char *strf(const char *format, ...) _printf_(1, 2);
static char *strf(const char *format, ...) {
        va_list ap;
        char *s;
        va_start(ap, format);
        int r = vasprintf(&s, format, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

/* Takes message and fix; a NULL message, or a NULL fix for WARN or FAIL, is
 * the strf() that ran out of memory. */
static int add(Lg *lg, const char *name, Result result, char *message, char *fix) {
        if (!message || (result != RESULT_PASS && !fix)) {
                free(message);
                free(fix);
                return log_oom();
        }
        Check *t = reallocarray(lg->checks, lg->n_checks + 1, sizeof(Check));
        if (!t) {
                free(message);
                free(fix);
                return log_oom();
        }
        lg->checks = t;
        lg->checks[lg->n_checks++] = (Check) { name, result, message, fix };
        return 0;
}

static char *rooted(const Lg *lg, const char *path) {
        return strf("%s%s", lg->root, path);
}

static void format_size(uint64_t bytes, char *buf, size_t n) {
        if (bytes % MIB == 0)
                snprintf(buf, n, "%" PRIu64 " MiB", bytes / MIB);
        else
                snprintf(buf, n, "%.1f MiB (%" PRIu64 " bytes)", (double) bytes / MIB, bytes);
}

static const char *user_name(const Lg *lg) {
        return lg->config->lg_user ?: "your-user";
}

static void owner_names(const struct stat *st, char *owner, char *group, size_t n) {
        struct passwd *pw = getpwuid(st->st_uid);
        struct group *gr = getgrgid(st->st_gid);
        if (pw)
                snprintf(owner, n, "%s", pw->pw_name);
        else
                snprintf(owner, n, "%u", (unsigned) st->st_uid);
        if (gr)
                snprintf(group, n, "%s", gr->gr_name);
        else
                snprintf(group, n, "%u", (unsigned) st->st_gid);
}

/* The command that makes the file at boot, with the owner and mode the client
 * needs; the name hides the vfiod.conf that make install puts in /usr/lib/tmpfiles.d. */
static char *tmpfiles_fix(const Lg *lg) {
        return strf("echo 'f %s 0660 %s kvm -' > /etc/tmpfiles.d/vfiod.conf\n"
                    "systemd-tmpfiles --create vfiod.conf",
                    lg->device, user_name(lg));
}

static char *kvmfr_udev_fix(const Lg *lg) {
        return strf("echo 'SUBSYSTEM==\"kvmfr\", OWNER=\"%s\", GROUP=\"kvm\", MODE=\"0660\"' > /etc/udev/rules.d/99-kvmfr.rules\n"
                    "udevadm control --reload && udevadm trigger --subsystem-match=kvmfr",
                    user_name(lg));
}

/* kvmfr makes /dev/kvmfrN for each size in static_size_mb=S0,S1,... */
static int kvmfr_size(Lg *lg) {
        _cleanup_free_ char *path = rooted(lg, "/sys/module/kvmfr/parameters/static_size_mb"), *s = NULL;
        if (!path)
                return -ENOMEM;
        int r = read_one_line_file(path, &s);
        if (r < 0)
                return r;
        unsigned long index = strtoul(lg->device + strlen("/dev/kvmfr"), NULL, 10);
        const char *p = s;
        for (unsigned long i = 0; i < index && p; i++)
                if ((p = strchr(p, ',')))
                        p++;
        const char *end;
        uint64_t mib;
        if (!p || parse_u64(p, &end, &mib) < 0 || (*end && *end != ',') || mib > UINT64_MAX / MIB)
                return -EINVAL;
        lg->size = mib * MIB;
        lg->have_size = true;
        return 0;
}

static int check_device(Lg *lg) {
        uint64_t need_mib = lg->need / MIB;
        _cleanup_free_ char *path = rooted(lg, lg->device);
        if (!path)
                return log_oom();

        if (stat(path, &lg->st) < 0) {
                if (errno != ENOENT)
                        return add(lg, "device", RESULT_FAIL,
                                   strf("cannot look at %s: %s", lg->device, strerror(errno)),
                                   strf("run lg-test as root, or check the permissions of %s", lg->device));
                if (lg->kvmfr)
                        return add(lg, "device", RESULT_FAIL,
                                   strf("%s does not exist: the kvmfr module is not loaded", lg->device),
                                   strf("modprobe kvmfr static_size_mb=%" PRIu64 "\n"
                                        "at boot: echo kvmfr > /etc/modules-load.d/kvmfr.conf; "
                                        "echo 'options kvmfr static_size_mb=%" PRIu64 "' > /etc/modprobe.d/kvmfr.conf",
                                        need_mib, need_mib));
                return add(lg, "device", RESULT_FAIL, strf("%s does not exist", lg->device), tmpfiles_fix(lg));
        }

        if (lg->kvmfr && S_ISREG(lg->st.st_mode))
                /* QEMU's memory-backend-file creates a missing mem-path as a file. */
                return add(lg, "device", RESULT_FAIL,
                           strf("%s is a plain file, not the kvmfr device: QEMU created it because the kvmfr module was not loaded",
                                lg->device),
                           strf("rm %s && modprobe kvmfr static_size_mb=%" PRIu64, lg->device, need_mib));
        if (lg->kvmfr && !S_ISCHR(lg->st.st_mode))
                return add(lg, "device", RESULT_FAIL, strf("%s is not a character device", lg->device),
                           strf("remove %s, then: modprobe kvmfr static_size_mb=%" PRIu64, lg->device, need_mib));
        if (!lg->kvmfr && !S_ISREG(lg->st.st_mode))
                return add(lg, "device", RESULT_FAIL, strf("%s is not a regular file", lg->device),
                           strf("remove %s while the VM is shut off; QEMU or the tmpfiles.d entry makes it again",
                                lg->device));

        lg->device_ok = true;
        if (lg->kvmfr)
                return add(lg, "device", RESULT_PASS, strf("%s is a character device (kvmfr)", lg->device), NULL);
        lg->size = (uint64_t) lg->st.st_size;
        lg->have_size = true;
        return add(lg, "device", RESULT_PASS, strf("%s is a regular file", lg->device), NULL);
}

static bool user_can_read_write(const Lg *lg) {
        const struct stat *st = &lg->st;
        if (lg->uid == 0)
                return true;
        if (st->st_uid == lg->uid)
                return (st->st_mode & 0600) == 0600;
        bool member = st->st_gid == lg->gid;
        for (int i = 0; i < lg->n_groups && !member; i++)
                member = lg->groups[i] == st->st_gid;
        if (member)
                return (st->st_mode & 0060) == 0060;
        return (st->st_mode & 0006) == 0006;
}

static int check_access(Lg *lg) {
        char owner[64], group[64];
        unsigned mode = lg->st.st_mode & 07777;
        owner_names(&lg->st, owner, group, sizeof(owner));
        const char *user = lg->config->lg_user;

        if (!user)
                return add(lg, "access", RESULT_WARN,
                           strf("[LookingGlass] User= is not set: cannot tell whether the client may use %s (owner %s, group %s, mode %04o)",
                                lg->device, owner, group, mode),
                           strf("set User= in [LookingGlass] of %s to the user who runs " CLIENT_NAME,
                                lg->config_path));
        if (!lg->have_user)
                return add(lg, "access", RESULT_WARN,
                           strf("User=%s in [LookingGlass] is not a user on this system", user),
                           strf("set User= in [LookingGlass] of %s to the user who runs " CLIENT_NAME,
                                lg->config_path));

        if (!user_can_read_write(lg)) {
                _cleanup_free_ char *keep = lg->kvmfr ? kvmfr_udev_fix(lg) : tmpfiles_fix(lg);
                return add(lg, "access", RESULT_WARN,
                           strf("%s cannot read and write %s (owner %s, group %s, mode %04o)",
                                user, lg->device, owner, group, mode),
                           keep ? strf("chown %s:kvm %s && chmod 0660 %s\nto keep it so:\n%s",
                                       user, lg->device, lg->device, keep) : NULL);
        }
        if (mode != 0660)
                return add(lg, "access", RESULT_WARN,
                           strf("%s has mode %04o, not 0660", lg->device, mode),
                           strf("chmod 0660 %s (and 0660 in its %s)", lg->device,
                                lg->kvmfr ? "udev rule" : "tmpfiles.d entry"));

        struct group *kvm = getgrnam("kvm");
        if (lg->st.st_gid != lg->gid && !(kvm && kvm->gr_gid == lg->st.st_gid))
                return add(lg, "access", RESULT_WARN,
                           strf("%s has group %s, not kvm (QEMU's) or %s's group", lg->device, group, user),
                           strf("chgrp kvm %s (and group kvm in its %s)", lg->device,
                                lg->kvmfr ? "udev rule" : "tmpfiles.d entry"));

        return add(lg, "access", RESULT_PASS,
                   strf("%s: owner %s, group %s, mode %04o: %s can read and write it",
                        lg->device, owner, group, mode, user),
                   NULL);
}

/* How to give the device another size: QEMU sizes a /dev/shm file from the
 * domain, the kvmfr module its devices from static_size_mb=. */
static char *resize_fix(const Lg *lg, uint64_t mib) {
        if (lg->kvmfr)
                return strf("echo 'options kvmfr static_size_mb=%" PRIu64 "' > /etc/modprobe.d/kvmfr.conf\n"
                            "with the VM shut off: modprobe -r kvmfr && modprobe kvmfr static_size_mb=%" PRIu64
                            " (and size=%" PRIu64 "M in the domain's -object memory-backend-file)",
                            mib, mib, mib);
        if (!lg->shm_name)
                return strf("set size=%" PRIu64 "M in the domain's -object memory-backend-file (virsh edit %s),\n"
                            "then with the VM shut off: rm %s (QEMU makes it again at the new size)",
                            mib, lg->config->domain ?: "DOMAIN", lg->device);
        return strf("set <size unit='M'>%" PRIu64 "</size> in the domain's <shmem name='%s'> (virsh edit %s),\n"
                    "then with the VM shut off: rm %s (QEMU makes it again at the new size)",
                    mib, lg->shm_name, lg->config->domain ?: "DOMAIN", lg->device);
}

static int check_size(Lg *lg) {
        char have[64];
        uint64_t need_mib = lg->need / MIB;

        if (lg->kvmfr) {
                int r = kvmfr_size(lg);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return add(lg, "size", RESULT_WARN,
                                   strf("cannot read the size of %s from /sys/module/kvmfr/parameters/static_size_mb", lg->device),
                                   strf("modprobe -r kvmfr && modprobe kvmfr static_size_mb=%" PRIu64, need_mib));
        } else if (lg->size == 0)
                /* tmpfiles.d makes it empty; QEMU sizes it from the domain when the VM starts. */
                return add(lg, "size", RESULT_PASS,
                           strf("%s is empty until the VM starts; %s needs %" PRIu64 " MiB",
                                lg->device, lg->resolution, need_mib),
                           NULL);

        format_size(lg->size, have, sizeof(have));
        if (lg->size < lg->need)
                return add(lg, "size", RESULT_FAIL,
                           strf("%s is %s; %s needs %" PRIu64 " MiB", lg->device, have, lg->resolution, need_mib),
                           resize_fix(lg, need_mib));
        if (lg->size > 2 * lg->need)
                return add(lg, "size", RESULT_WARN,
                           strf("%s is %s, more than twice the %" PRIu64 " MiB that %s needs",
                                lg->device, have, need_mib, lg->resolution),
                           resize_fix(lg, need_mib));
        return add(lg, "size", RESULT_PASS,
                   strf("%s is %s; %s needs %" PRIu64 " MiB", lg->device, have, lg->resolution, need_mib), NULL);
}

/* The domain's XML */

static bool node_is(const xmlNode *n, const char *name, const char *ns) {
        return n->type == XML_ELEMENT_NODE && sym_xmlStrEqual(n->name, BAD_CAST name) &&
               (ns ? n->ns && sym_xmlStrEqual(n->ns->href, BAD_CAST ns) : !n->ns || !n->ns->prefix);
}

static xmlNode *child(const xmlNode *parent, const char *name, const char *ns) {
        for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
                if (node_is(n, name, ns))
                        return n;
        return NULL;
}

static const char *str(const xmlChar *s) {
        return (const char *) s;
}

/* Nothing of libvirt's errors on stderr: the check's message carries them. */
static void quiet(void *userdata _unused_, virErrorPtr err _unused_) {
}

/* A value in a QEMU option string, "type,key=value,..." or JSON {"key":value,...}.
 * key NULL: the type (first word, or JSON's qom-type or driver). 0 and NULL: not there. */
static int qemu_opt(const char *s, const char *key, char **ret) {
        *ret = NULL;
        if (*s == '{') {
                /* Only as much JSON as a -device or -object of a domain XML has: flat, no escapes. */
                const char *keys[] = { key ?: "qom-type", key ? NULL : "driver" };
                for (size_t i = 0; i < ELEMENTSOF(keys) && keys[i]; i++) {
                        _cleanup_free_ char *quoted = strf("\"%s\"", keys[i]);
                        if (!quoted)
                                return -ENOMEM;
                        const char *p = strstr(s, quoted);
                        if (!p)
                                continue;
                        p += strlen(quoted);
                        p += strspn(p, " \t\n");
                        if (*p++ != ':')
                                continue;
                        p += strspn(p, " \t\n");
                        size_t n = *p == '"' ? strcspn(++p, "\"") : strcspn(p, ",} \t\n");
                        return (*ret = strndup(p, n)) ? 0 : -ENOMEM;
                }
                return 0;
        }
        /* QEMU's ",," (a comma in a value) is not handled: paths and ids here have none. */
        for (const char *p = s; *p; ) {
                size_t n = strcspn(p, ",");
                const char *eq = memchr(p, '=', n);
                if (!key && p == s && !eq)
                        return (*ret = strndup(p, n)) ? 0 : -ENOMEM;
                /* The type may also come as qom-type= (an -object) or driver= (a -device). */
                const char *k = key ?: startswith(p, "qom-type=") ? "qom-type" : "driver";
                if (eq && (size_t) (eq - p) == strlen(k) && strncmp(p, k, eq - p) == 0)
                        return (*ret = strndup(eq + 1, n - (eq + 1 - p))) ? 0 : -ENOMEM;
                p += n;
                if (*p)
                        p++;
        }
        return 0;
}

static bool is_true(const char *s) {
        return s && (streq(s, "on") || streq(s, "yes") || streq(s, "true") || streq(s, "y") || streq(s, "1"));
}

static char *shmem_snippet(const Lg *lg, const char *domain) {
        return strf("add inside <devices> of domain '%s' (virsh edit %s):\n"
                    "<shmem name='%s'>\n"
                    "  <model type='ivshmem-plain'/>\n"
                    "  <size unit='M'>%" PRIu64 "</size>\n"
                    "</shmem>",
                    domain, domain, lg->shm_name, lg->need / MIB);
}

static char *commandline_snippet(const Lg *lg, const char *domain) {
        return strf("add before </domain> of domain '%s' (virsh edit %s), with\n"
                    "xmlns:qemu='" QEMU_NS "' on its <domain>:\n"
                    "<qemu:commandline>\n"
                    "  <qemu:arg value='-device'/>\n"
                    "  <qemu:arg value='ivshmem-plain,id=shmem0,memdev=looking-glass'/>\n"
                    "  <qemu:arg value='-object'/>\n"
                    "  <qemu:arg value='memory-backend-file,id=looking-glass,mem-path=%s,size=%" PRIu64 "M,share=yes'/>\n"
                    "</qemu:commandline>",
                    domain, domain, lg->device, lg->need / MIB);
}

/* The size the domain gives the shared memory (in a <shmem>, or a -object of
 * <qemu:commandline>), against what the resolution needs and the size the device has. */
static int check_domain_size(Lg *lg, const char *domain, const char *what, bool object, uint64_t size) {
        char have[64], dev[64];
        uint64_t need_mib = lg->need / MIB;

        format_size(size, have, sizeof(have));
        if (size < lg->need)
                return add(lg, "domain", RESULT_FAIL,
                           strf("%s of domain '%s' is %s; %s needs %" PRIu64 " MiB",
                                what, domain, have, lg->resolution, need_mib),
                           object ? strf("set size=%" PRIu64 "M in the -object memory-backend-file argument (virsh edit %s)",
                                         need_mib, domain)
                                  : strf("set <size unit='M'>%" PRIu64 "</size> in <shmem name='%s'> (virsh edit %s)",
                                         need_mib, lg->shm_name, domain));

        /* QEMU refuses a backing file smaller than size=; a bigger one is left unused. */
        if (lg->device_ok && lg->have_size && lg->size > 0 && lg->size != size) {
                format_size(lg->size, dev, sizeof(dev));
                char *fix;
                if (!lg->kvmfr)
                        fix = strf("with the VM shut off: rm %s (QEMU makes it again at %s)", lg->device, have);
                else if (lg->size >= lg->need && lg->size % MIB == 0)
                        fix = strf("set size=%" PRIu64 "M in the -object memory-backend-file argument (virsh edit %s)",
                                   lg->size / MIB, domain);
                else
                        fix = strf("with the VM shut off: modprobe -r kvmfr && modprobe kvmfr static_size_mb=%" PRIu64,
                                   size / MIB);
                return add(lg, "domain", RESULT_FAIL,
                           strf("%s of domain '%s' is %s but %s is %s: they must match",
                                what, domain, have, lg->device, dev),
                           fix);
        }
        return add(lg, "domain", RESULT_PASS, strf("domain '%s' has %s, %s", domain, what, have), NULL);
}

static int check_shmem(Lg *lg, const char *domain, xmlNode *shmem) {
        _cleanup_free_ char *what = strf("<shmem name='%s'>", lg->shm_name);
        if (!what)
                return log_oom();

        xmlNode *model = child(shmem, "model", NULL), *size = child(shmem, "size", NULL);
        _cleanup_xml_free_ xmlChar *type = model ? sym_xmlGetProp(model, BAD_CAST "type") : NULL;
        if (!type || !streq(str(type), "ivshmem-plain"))
                return add(lg, "domain", RESULT_FAIL,
                           strf("%s of domain '%s' has %s%s%s, not <model type='ivshmem-plain'/>", what, domain,
                                type ? "model '" : "no model", type ? str(type) : "", type ? "'" : ""),
                           strf("set <model type='ivshmem-plain'/> in %s (virsh edit %s)", what, domain));

        _cleanup_xml_free_ xmlChar *number = size ? sym_xmlNodeGetContent(size) : NULL;
        _cleanup_xml_free_ xmlChar *unit = size ? sym_xmlGetProp(size, BAD_CAST "unit") : NULL;
        uint64_t bytes;
        if (!number || lg_parse_scaled(str(number), str(unit), &bytes) < 0)
                return add(lg, "domain", RESULT_FAIL,
                           strf("%s of domain '%s' has no valid <size>", what, domain),
                           strf("set <size unit='M'>%" PRIu64 "</size> in %s (virsh edit %s)",
                                lg->need / MIB, what, domain));
        return check_domain_size(lg, domain, what, false, bytes);
}

/* -object memory-backend-file,id=ID,mem-path=DEVICE,size=...,share=on and
 * -device ivshmem-plain,memdev=ID in <qemu:commandline>. 0: none for the device. */
static int check_commandline(Lg *lg, const char *domain, xmlNode *root) {
        _cleanup_strv_free_ char **args = NULL;
        xmlNode *cmd = child(root, "commandline", QEMU_NS);
        int r;

        for (xmlNode *n = cmd ? cmd->children : NULL; n; n = n->next) {
                if (!node_is(n, "arg", QEMU_NS))
                        continue;
                _cleanup_xml_free_ xmlChar *v = sym_xmlGetProp(n, BAD_CAST "value");
                if (v && (r = strv_extend(&args, str(v))) < 0)
                        return log_oom();
        }

        _cleanup_free_ char *id = NULL, *size = NULL, *share = NULL;
        bool found = false, device = false;
        for (size_t pass = 0; pass < 2; pass++)
                for (size_t i = 0; args && args[i] && args[i + 1]; i++) {
                        _cleanup_free_ char *type = NULL, *v = NULL;
                        bool object = streq(args[i], "-object");
                        if (!(pass == 0 ? object : streq(args[i], "-device")))
                                continue;
                        if (qemu_opt(args[i + 1], NULL, &type) < 0 ||
                            qemu_opt(args[i + 1], object ? "mem-path" : "memdev", &v) < 0)
                                return log_oom();
                        if (pass == 0 && !found && streq_ptr(type, "memory-backend-file") &&
                            streq_ptr(v, lg->device)) {
                                found = true;
                                if (qemu_opt(args[i + 1], "id", &id) < 0 ||
                                    qemu_opt(args[i + 1], "size", &size) < 0 ||
                                    qemu_opt(args[i + 1], "share", &share) < 0)
                                        return log_oom();
                        }
                        if (pass == 1 && found && streq_ptr(type, "ivshmem-plain") && streq_ptr(v, id))
                                device = true;
                }
        if (!found)
                return 0;

        if (!device)
                r = add(lg, "domain", RESULT_FAIL,
                        strf("domain '%s' has -object memory-backend-file with mem-path=%s but no -device ivshmem-plain,memdev=%s",
                             domain, lg->device, strna(id)),
                        commandline_snippet(lg, domain));
        else if (!is_true(share))
                /* Without share=on QEMU maps the device privately: the frames never reach it. */
                r = add(lg, "domain", RESULT_FAIL,
                        strf("the -object memory-backend-file of %s in domain '%s' lacks share=on", lg->device, domain),
                        strf("add share=on to the -object memory-backend-file argument (virsh edit %s)", domain));
        else {
                uint64_t bytes;
                /* JSON gives bytes, the option string a size such as 32M. */
                if (!size || lg_parse_qemu_size(size, &bytes) < 0)
                        r = add(lg, "domain", RESULT_FAIL,
                                strf("the -object memory-backend-file of %s in domain '%s' has no valid size=",
                                     lg->device, domain),
                                strf("set size=%" PRIu64 "M in the -object memory-backend-file argument (virsh edit %s)",
                                     lg->need / MIB, domain));
                else {
                        _cleanup_free_ char *what = strf("-object memory-backend-file,mem-path=%s", lg->device);
                        r = what ? check_domain_size(lg, domain, what, true, bytes) : log_oom();
                }
        }
        return r < 0 ? r : 1;
}

static int domain_xml_text(Lg *lg, char **ret) {
        const Config *c = lg->config;
        int r;

        if (lg->domain_xml) {
                r = read_full_file(lg->domain_xml, ret, NULL);
                if (r < 0)
                        return add(lg, "domain", RESULT_FAIL,
                                   strf("cannot read %s: %s", lg->domain_xml, strerror(-r)),
                                   strf("check --domain-xml=%s", lg->domain_xml));
                return 1;
        }
        if (!c->domain)
                return add(lg, "domain", RESULT_WARN,
                           strf("no [VM] Domain= configured: cannot check the domain's shared memory device"),
                           strf("set Domain= in [VM] of %s", lg->config_path));

        if (dlopen_libvirt() < 0)
                return add(lg, "domain", RESULT_FAIL, strf("cannot load libvirt's client library, libvirt.so.0"),
                           strf("apt-get install libvirt0 (dnf install libvirt-libs)"));
        sym_virSetErrorFunc(NULL, quiet);
        /* Read-only: lg-test changes nothing, and a user may read qemu:///system that way. */
        _cleanup_(sym_virConnectClosep) virConnectPtr conn = sym_virConnectOpenReadOnly(c->uri);
        _cleanup_(sym_virDomainFreep) virDomainPtr dom = conn ? sym_virDomainLookupByName(conn, c->domain) : NULL;
        /* The persistent definition: what the next start of the VM uses. */
        char *xml = dom ? sym_virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE) : NULL;
        if (!xml)
                return add(lg, "domain", RESULT_FAIL,
                           strf("cannot read domain '%s' from %s: %s", c->domain,
                                c->uri ?: "libvirt's default URI", sym_virGetLastErrorMessage()),
                           strf("check Domain= and URI= in [VM] of %s: virsh%s%s dominfo %s", lg->config_path,
                                c->uri ? " -c " : "", strempty(c->uri), c->domain));
        *ret = xml;
        return 1;
}

static int check_domain(Lg *lg) {
        _cleanup_free_ char *text = NULL;
        int r = domain_xml_text(lg, &text);
        if (r <= 0)
                return r;

        const char *source = lg->domain_xml ?: "libvirt";
        if (dlopen_libxml2() < 0)
                return add(lg, "domain", RESULT_FAIL, strf("cannot load libxml2.so.2 to read the domain XML"),
                           strf("apt-get install libxml2 (dnf install libxml2)"));
        _cleanup_(sym_xmlFreeDocp) xmlDocPtr doc =
                sym_xmlReadMemory(text, (int) strlen(text), "domain.xml", NULL,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        xmlNode *root = doc ? sym_xmlDocGetRootElement(doc) : NULL;
        if (!root || !node_is(root, "domain", NULL))
                return add(lg, "domain", RESULT_FAIL, strf("the domain XML from %s is not a <domain>", source),
                           strf("xmllint --noout %s", lg->domain_xml ?: "the domain's XML"));

        xmlNode *name_node = child(root, "name", NULL);
        _cleanup_xml_free_ xmlChar *name = name_node ? sym_xmlNodeGetContent(name_node) : NULL;
        const char *domain = name ? str(name) : lg->config->domain ?: "DOMAIN";

        /* libvirt's <shmem> is /dev/shm/NAME; anything else comes through <qemu:commandline>. */
        _cleanup_free_ char *others = NULL;
        if (lg->shm_name)
                for (xmlNode *n = child(child(root, "devices", NULL), "shmem", NULL); n; n = n->next) {
                        if (!node_is(n, "shmem", NULL))
                                continue;
                        _cleanup_xml_free_ xmlChar *shm = sym_xmlGetProp(n, BAD_CAST "name");
                        if (shm && streq(str(shm), lg->shm_name))
                                return check_shmem(lg, domain, n);
                        char *t = strf("%s%s'%s'", strempty(others), others ? ", " : "", shm ? str(shm) : "");
                        if (!t)
                                return log_oom();
                        free(others);
                        others = t;
                }

        r = check_commandline(lg, domain, root);
        if (r != 0)
                return r < 0 ? r : 0;

        if (lg->shm_name)
                return add(lg, "domain", RESULT_FAIL,
                           strf("domain '%s' has no <shmem name='%s'> device%s%s%s", domain, lg->shm_name,
                                others ? " (it has " : "", strempty(others), others ? ")" : ""),
                           shmem_snippet(lg, domain));
        return add(lg, "domain", RESULT_FAIL,
                   strf("domain '%s' has no -object memory-backend-file with mem-path=%s in <qemu:commandline>",
                        domain, lg->device),
                   commandline_snippet(lg, domain));
}

/* The client */

/* Runs path -h, as the configured user when we are root (the client refuses
 * root), and keeps what it prints until it exits, closes its output or the
 * deadline passes. The client prints "Looking Glass (B6)" before it looks at
 * its arguments; "-h" makes it exit right after. */
static int run_client(const Lg *lg, const char *path, char *out, size_t size, bool *ret_timed_out) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        _cleanup_close_ int rd = p[0];
        _cleanup_free_ char *home = strf("HOME=%s", lg->have_user && lg->home ? lg->home : "/");
        if (!home) {
                close(p[1]);
                return -ENOMEM;
        }

        pid_t pid;
        int fr = fork_child("lg-test-client", FORK_DEATHSIG, &p[1], 1, &pid);
        if (fr < 0) {
                close(p[1]);
                return fr;
        }
        if (fr == 0) {
                (void) setpgid(0, 0);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(p[1], STDOUT_FILENO) < 0 ||
                    dup2(p[1], STDERR_FILENO) < 0)
                        _exit(127);
                if (geteuid() == 0) {
                        uid_t uid = lg->have_user ? lg->uid : NOBODY_UID;
                        gid_t gid = lg->have_user ? lg->gid : NOBODY_UID;
                        if (setgroups(lg->have_user ? (size_t) lg->n_groups : 0, lg->groups) < 0 ||
                            setgid(gid) < 0 || setuid(uid) < 0) {
                                dprintf(STDERR_FILENO, "cannot become uid %u: %m\n", (unsigned) uid);
                                _exit(127);
                        }
                }
                char *argv[] = { (char *) path, (char *) "-h", NULL };
                char *envp[] = { (char *) "PATH=/usr/local/bin:/usr/bin:/bin", home, NULL };
                execve(path, argv, envp);
                dprintf(STDERR_FILENO, "cannot execute it: %m\n");
                _exit(127);
        }
        (void) setpgid(pid, pid);  /* whichever of us comes first */
        close(p[1]);

        usec_t deadline = now_usec() + CLIENT_TIMEOUT_USEC;
        size_t len = 0;
        int r = 0;
        *ret_timed_out = false;
        for (;;) {
                struct pollfd pfd = { .fd = rd, .events = POLLIN };
                int n = poll(&pfd, 1, poll_timeout_ms(deadline));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0) {
                        *ret_timed_out = true;
                        break;
                }
                char discard[4096];
                bool full = len + 1 >= size;
                ssize_t k = full ? read(rd, discard, sizeof(discard)) : read(rd, out + len, size - 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (!full)
                        len += (size_t) k;
        }
        out[len] = 0;
        /* It has closed its output or run out of time: we wait for nothing more from it. */
        (void) kill(-pid, SIGKILL);
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return r;
}

static int find_client(const Lg *lg, char **ret_path, char **ret_shown) {
        _cleanup_strv_free_ char **dirs = NULL;
        int r;

        /* PATH is this system's: it means nothing under --root. */
        if (!*lg->root) {
                const char *path = getenv("PATH");
                if (path) {
                        _cleanup_free_ char *copy = strdup(path);
                        if (!copy)
                                return -ENOMEM;
                        char *save = NULL;
                        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
                                if (*d == '/' && (r = strv_extend(&dirs, d)) < 0)
                                        return r;
                }
        }
        if ((r = strv_extend(&dirs, "/usr/bin")) < 0 || (r = strv_extend(&dirs, "/usr/local/bin")) < 0)
                return r;

        STRV_FOREACH(d, dirs) {
                _cleanup_free_ char *shown = strf("%s/" CLIENT_NAME, *d), *path = NULL;
                if (!shown || !(path = rooted(lg, shown)))
                        return -ENOMEM;
                struct stat st;
                if (stat(path, &st) < 0 || S_ISDIR(st.st_mode))
                        continue;
                *ret_path = TAKE_PTR(path);
                *ret_shown = TAKE_PTR(shown);
                return 1;
        }
        return 0;
}

static int check_client(Lg *lg) {
        _cleanup_free_ char *path = NULL, *shown = NULL;
        int r = find_client(lg, &path, &shown);
        if (r < 0)
                return log_oom();
        if (r == 0)
                return add(lg, "client", RESULT_WARN,
                           strf(CLIENT_NAME " is not in %s/usr/bin or /usr/local/bin", *lg->root ? "" : "PATH, "),
                           strf("install " CLIENT_NAME " of the same version as the Windows host application\n"
                                "(nothing to do if the client runs on another machine)"));

        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111) || access(path, X_OK) < 0)
                return add(lg, "client", RESULT_FAIL, strf("%s is not an executable file", shown),
                           strf("chmod 755 %s, or install " CLIENT_NAME " again", shown));

        char out[4096];
        bool timed_out = false;
        r = run_client(lg, path, out, sizeof(out), &timed_out);
        if (r < 0)
                return add(lg, "client", RESULT_WARN, strf("cannot run %s: %s", shown, strerror(-r)),
                           strf("run %s -h as %s and see what it says", shown, user_name(lg)));

        const char *v = strstr(out, "Looking Glass (");
        size_t n = v ? strcspn(v += strlen("Looking Glass ("), ")\n") : 0;
        if (n == 0 || v[n] != ')') {
                out[strcspn(out, "\n")] = 0;
                if (timed_out)
                        return add(lg, "client", RESULT_WARN,
                                   strf("%s -h printed no version within %u s", shown,
                                        (unsigned) (CLIENT_TIMEOUT_USEC / USEC_PER_SEC)),
                                   strf("run %s -h as %s and see what it does", shown, user_name(lg)));
                return add(lg, "client", RESULT_WARN,
                           strf("%s printed no version%s%s%s", shown, *out ? " (\"" : "", out, *out ? "\")" : ""),
                           strf("install " CLIENT_NAME " again, of the same version as the Windows host application"));
        }
        return add(lg, "client", RESULT_PASS,
                   strf("%s is Looking Glass %.*s (the Windows host application must be %.*s too)",
                        shown, (int) n, v, (int) n, v),
                   NULL);
}

/* logind's RemoveIPC= */

typedef struct RemoveIpc {
        bool value;
        const char *source;    /* the file that set it, NULL: systemd's default */
        const char *current;
        char *source_buf;
} RemoveIpc;

static int logind_handler(void *user, const char *section, const char *name, const char *value) {
        RemoveIpc *ri = user;
        if (!streq(section, "Login") || !streq(name, "RemoveIPC"))
                return 1;
        static const char *yes[] = { "1", "yes", "y", "true", "t", "on" }, *no[] = { "0", "no", "n", "false", "f", "off" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
                        ri->value = strcasecmp(value, yes[i]) == 0;
                        ri->source = ri->current;
                }
        /* Like logind, a bad value or line is ignored. */
        return 1;
}

static int filter_conf(const struct dirent *de) {
        size_t l = strlen(de->d_name);
        return de->d_name[0] != '.' && l > 5 && streq(de->d_name + l - 5, ".conf");
}

static int by_basename(const void *a, const void *b) {
        const char *x = strrchr(*(char * const *) a, '/'), *y = strrchr(*(char * const *) b, '/');
        return strcmp(x, y);
}

/* systemd's order: logind.conf, then the drop-ins of all directories by
 * file name; a name in /etc hides the same name in /run and /usr/lib. */
static int logind_remove_ipc(const Lg *lg, RemoveIpc *ri, char ***ret_files) {
        static const char *const dirs[] = {
                "/etc/systemd/logind.conf.d", "/run/systemd/logind.conf.d",
                "/usr/local/lib/systemd/logind.conf.d", "/usr/lib/systemd/logind.conf.d",
        };
        _cleanup_strv_free_ char **files = NULL;
        int r;

        if ((r = strv_extend(&files, "/etc/systemd/logind.conf")) < 0)
                return r;
        size_t n_main = 1;
        for (size_t d = 0; d < ELEMENTSOF(dirs); d++) {
                _cleanup_free_ char *dir = rooted(lg, dirs[d]);
                if (!dir)
                        return -ENOMEM;
                struct dirent **entries = NULL;
                int n = scandir(dir, &entries, filter_conf, alphasort);
                for (int i = 0; i < n; i++) {
                        bool hidden = false;
                        STRV_FOREACH(f, files)
                                if (f - files >= (long) n_main && streq(strrchr(*f, '/') + 1, entries[i]->d_name))
                                        hidden = true;
                        _cleanup_free_ char *p = hidden ? NULL : strf("%s/%s", dirs[d], entries[i]->d_name);
                        if (!hidden && (r = p ? strv_extend(&files, p) : -ENOMEM) < 0) {
                                for (; i < n; i++)
                                        free(entries[i]);
                                free(entries);
                                return r;
                        }
                        free(entries[i]);
                }
                free(entries);
        }
        qsort(files + n_main, strv_length(files) - n_main, sizeof(char *), by_basename);

        *ri = (RemoveIpc) { .value = true };
        STRV_FOREACH(f, files) {
                _cleanup_free_ char *path = rooted(lg, *f);
                if (!path)
                        return -ENOMEM;
                ri->current = *f;
                (void) ini_parse(path, logind_handler, ri);  /* a missing file is fine */
        }
        if (ri->source && !(ri->source_buf = strdup(ri->source)))
                return -ENOMEM;
        ri->source = ri->source_buf;
        ri->current = NULL;
        *ret_files = TAKE_PTR(files);
        return 0;
}

static int check_logind(Lg *lg) {
        _cleanup_strv_free_ char **files = NULL;
        RemoveIpc ri;
        if (logind_remove_ipc(lg, &ri, &files) < 0)
                return log_oom();
        _cleanup_free_ char *source = ri.source_buf;
        _cleanup_free_ char *setting = source ? strf("RemoveIPC=%s in %s", ri.value ? "yes" : "no", source)
                                              : strf("RemoveIPC=yes, systemd's default");
        if (!setting)
                return log_oom();

        if (!startswith(lg->device, "/dev/shm/"))
                return add(lg, "logind", RESULT_PASS,
                           strf("logind's RemoveIPC= does not touch %s (not under /dev/shm)", lg->device), NULL);
        if (!ri.value)
                return add(lg, "logind", RESULT_PASS,
                           strf("logind keeps /dev/shm files at logout (%s)", setting), NULL);

        bool known = lg->device_ok || lg->have_user;
        uid_t owner = lg->device_ok ? lg->st.st_uid : lg->uid;
        if (!known)
                return add(lg, "logind", RESULT_PASS,
                           strf("%s does not exist, so logind has nothing to remove yet (%s)", lg->device, setting),
                           NULL);
        struct passwd *pw = getpwuid(owner);
        _cleanup_free_ char *who = pw ? strf("%s (uid %u)", pw->pw_name, (unsigned) owner) : strf("uid %u", (unsigned) owner);
        if (!who)
                return log_oom();
        if (owner <= SYSTEM_UID_MAX || owner == NOBODY_UID)
                return add(lg, "logind", RESULT_PASS,
                           strf("%s: logind spares %s, its owner %s is a system user", setting, lg->device, who), NULL);
        return add(lg, "logind", RESULT_WARN,
                   strf("logind deletes %s when %s logs out (%s): the VM loses its framebuffer",
                        lg->device, who, setting),
                   strf("mkdir -p /etc/systemd/logind.conf.d && printf '[Login]\\nRemoveIPC=no\\n' > /etc/systemd/logind.conf.d/looking-glass.conf\n"
                        "then: systemctl restart systemd-logind (or reboot)\n"
                        "or: make a system user own %s in its tmpfiles.d entry, or use kvmfr (Device=/dev/kvmfr0)",
                        lg->device));
}

/* Output */

static const char *result_word(Result r) {
        return r == RESULT_PASS ? "PASS" : r == RESULT_WARN ? "WARN" : "FAIL";
}

static int print_json(const Lg *lg, unsigned failed, unsigned warned) {
        JsonWriter w = JSON_WRITER_INIT(stdout);
        json_begin_object(&w);
        json_key(&w, "checks");
        json_begin_array(&w);
        for (size_t i = 0; i < lg->n_checks; i++) {
                const Check *c = &lg->checks[i];
                json_begin_object(&w);
                json_key(&w, "name");
                json_string(&w, c->name);
                json_key(&w, "result");
                json_string(&w, c->result == RESULT_PASS ? "pass" : c->result == RESULT_WARN ? "warn" : "fail");
                json_key(&w, "message");
                json_string(&w, c->message);
                json_key(&w, "fix");
                json_string(&w, c->fix);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_key(&w, "failed");
        json_unsigned(&w, failed);
        json_key(&w, "warned");
        json_unsigned(&w, warned);
        json_end_object(&w);
        putchar('\n');
        return json_writer_finish(&w);
}

static void print_checks(const Lg *lg) {
        for (size_t i = 0; i < lg->n_checks; i++) {
                const Check *c = &lg->checks[i];
                printf("%s  %s\n", result_word(c->result), c->message);
                for (const char *p = c->fix; p && *p; ) {
                        size_t n = strcspn(p, "\n");
                        printf("      %.*s\n", (int) n, p);
                        p += n + !!p[n];
                }
        }
}

static void help(void) {
        printf("%s [OPTIONS]\n\n"
               "Check the Looking Glass set-up end to end: the shared-memory device, its\n"
               "owner and mode, its size for the configured resolution, the domain's\n"
               "shared-memory device, the client, and logind's RemoveIPC=. Each check\n"
               "prints PASS, WARN or FAIL, and for WARN and FAIL how to fix it.\n\n"
               "The size needed: width x height x 4 bytes x 2 (8 bytes with HDR=yes),\n"
               "plus 10 MiB, rounded up to the next power of two, in MiB:\n"
               "1920x1080 needs 32 MiB, 3840x2160 128 MiB.\n\n"
               "Options:\n"
               "  -c --config=FILE      Configuration file (default: " VFIOD_CONFIG_FILE ")\n"
               "     --domain-xml=FILE  Read the domain's XML from FILE instead of libvirt\n"
               "     --root=DIR         Look for every checked path under DIR\n"
               "     --json             One JSON object: {\"checks\":[...],\"failed\":N,\"warned\":N}\n"
               "  -h --help             Show this help\n\n"
               "Exit status: 0 nothing failed (warnings do not fail), 1 a check failed\n"
               "or the configuration is invalid, 2 bad usage.\n",
               program_invocation_short_name);
}

static void lg_done(Lg *lg) {
        for (size_t i = 0; i < lg->n_checks; i++) {
                free(lg->checks[i].message);
                free(lg->checks[i].fix);
        }
        free(lg->checks);
        free(lg->home);
        free(lg->groups);
}

static int resolve_user(Lg *lg) {
        struct passwd *pw = lg->config->lg_user ? getpwnam(lg->config->lg_user) : NULL;
        if (!pw)
                return 0;
        lg->uid = pw->pw_uid;
        lg->gid = pw->pw_gid;
        if (!(lg->home = strdup(pw->pw_dir)))
                return -ENOMEM;
        /* Its supplementary groups: access through them counts, and the client runs with them. */
        int n = 32;
        for (;;) {
                gid_t *g = reallocarray(lg->groups, n, sizeof(gid_t));
                if (!g)
                        return -ENOMEM;
                lg->groups = g;
                int m = n;
                if (getgrouplist(pw->pw_name, pw->pw_gid, g, &m) >= 0) {
                        lg->n_groups = m;
                        break;
                }
                if (m <= n) {  /* cannot happen; then the primary group alone */
                        lg->n_groups = 0;
                        break;
                }
                n = m;
        }
        lg->have_user = true;
        return 0;
}

int lg_test_main(int argc, char *argv[]) {
        enum { ARG_DOMAIN_XML = 0x100, ARG_ROOT, ARG_JSON };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "domain-xml", required_argument, NULL, ARG_DOMAIN_XML },
                { "root", required_argument, NULL, ARG_ROOT },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *config_path = VFIOD_CONFIG_FILE, *root = NULL, *domain_xml = NULL;
        bool json = false, config_given = false;
        int c, r;

        optind = 0;  /* getopt starts over: vfioctl may have parsed before */
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        config_given = true;
                        break;
                case ARG_DOMAIN_XML:
                        domain_xml = optarg;
                        break;
                case ARG_ROOT:
                        root = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s' (see --help).", argv[optind]);
                return 2;
        }

        _cleanup_free_ char *root_buf = strdup(root ?: "");
        if (!root_buf) {
                log_oom();
                return 1;
        }
        /* "/" and "" are the real root; "DIR/" is "DIR". */
        for (size_t l = strlen(root_buf); l > 0 && root_buf[l - 1] == '/'; l--)
                root_buf[l - 1] = 0;
        struct stat st;
        if (*root_buf && (stat(root_buf, &st) < 0 || !S_ISDIR(st.st_mode))) {
                log_error("--root=%s is not a directory.", root);
                return 2;
        }

        /* config_load() takes a missing file for the defaults; one named on the command line must be there. */
        if (config_given && access(config_path, F_OK) < 0) {
                log_error_errno(errno, "Failed to read %s: %m", config_path);
                return 1;
        }
        _cleanup_(config_freep) Config *config = NULL;
        if (config_load(config_path, &config) < 0)
                return 1;

        Lg lg = {
                .config = config,
                .config_path = config_path,
                .root = root_buf,
                .domain_xml = domain_xml,
                .device = config->lg_device,
                .kvmfr = startswith(config->lg_device, "/dev/kvmfr") != NULL,
                .need = lg_shm_size_mib(config->lg_width, config->lg_height, config->lg_hdr) * MIB,
        };
        const char *shm = startswith(lg.device, "/dev/shm/");
        if (shm && *shm && !strchr(shm, '/'))
                lg.shm_name = shm;
        snprintf(lg.resolution, sizeof(lg.resolution), "%ux%u%s", config->lg_width, config->lg_height,
                 config->lg_hdr ? " HDR" : "");

        r = resolve_user(&lg);
        if (r < 0)
                r = log_oom();
        if (r >= 0)
                r = check_device(&lg);
        if (r >= 0 && lg.device_ok)
                r = check_access(&lg);
        if (r >= 0 && lg.device_ok)
                r = check_size(&lg);
        if (r >= 0)
                r = check_domain(&lg);
        if (r >= 0)
                r = check_client(&lg);
        if (r >= 0)
                r = check_logind(&lg);
        if (r < 0) {
                if (r != -ENOMEM)
                        log_error_errno(r, "Failed to check Looking Glass: %m");
                lg_done(&lg);
                return 1;
        }

        unsigned failed = 0, warned = 0;
        for (size_t i = 0; i < lg.n_checks; i++) {
                failed += lg.checks[i].result == RESULT_FAIL;
                warned += lg.checks[i].result == RESULT_WARN;
        }
        r = 0;
        if (json)
                r = print_json(&lg, failed, warned);
        else
                print_checks(&lg);
        lg_done(&lg);
        if (r < 0) {
                log_error_errno(r, "Cannot write the checks as JSON: %m");
                return 1;
        }
        return failed > 0 ? 1 : 0;
}
