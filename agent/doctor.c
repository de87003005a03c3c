/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfioctl doctor: the workstation against what vfiod needs. Each check is
 * one line, PASS, WARN or FAIL, and a WARN or FAIL carries the exact fix. */
#include "doctor.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <libudev.h>
#include <linux/fb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "config.h"
#include "domain-xml.h"
#include "fileio.h"
#include "gpu.h"
#include "holders.h"
#include "json-writer.h"
#include "libvirt-dl.h"
#include "log.h"
#include "strv.h"

#define HOOK_PATH "/etc/libvirt/hooks/qemu.d/vfiod"
#define SERVICE "vfiod.service"
/* What the installation's steps did, and why it has to go. */
#define STEP3 "the installation's step 3, which vfiod replaces: it binds at run time"
#define STEP1 "the installation's step 1 put a static binding there, which vfiod replaces: it binds at run time"

typedef enum CheckResult {
        CHECK_PASS,
        CHECK_WARN,
        CHECK_FAIL,
} CheckResult;

typedef struct Check {
        char *name;
        CheckResult result;
        char *message;
        char *fix;
} Check;

/* One of the GPU's framebuffers, as fbcon_survey() saw it. */
typedef struct FbconNode {
        char *node;              /* /dev/fbN */
        int fb;
        bool on;                 /* consoles are on it */
        char *why;               /* how that is known */
} FbconNode;

typedef enum BootLoader {
        BOOT_GRUB,               /* /etc/default/grub, update-grub or grub2-mkconfig */
        BOOT_GRUBBY,             /* boot loader entries that grubby edits (Fedora) */
        BOOT_OSTREE,             /* rpm-ostree kargs (Fedora Atomic, Bazzite) */
        BOOT_ENTRIES,            /* boot loader entries and /etc/kernel/cmdline (systemd-boot) */
} BootLoader;

typedef struct Doctor {
        const char *root;        /* "" without --root */
        char *proc;              /* /proc, under --root's DIR */
        const char *config_path;
        Config *config;
        struct udev *udev;
        Gpu *gpu;                /* NULL: none found */
        char boot_address[PCI_ADDRESS_STRLEN]; /* the iGPU: the boot display but the GPU; "": none found */
        char *boot_syspath;
        char **cmdline;          /* words of /proc/cmdline */
        char **host_modules;     /* what has to load at boot: the GPU's host drivers, '_' for '-' */
        char *grub_fix;          /* the one boot-loader fix: every check's changes to the command line */
        int fbcon_map;           /* the framebuffer fbcon's consoles should move to; -1: leave fbcon's map alone */
        char *fbcon_bind;        /* fbcon's vtconsole bind file when it is bound; NULL: not bound */
        FbconNode *fbcon_nodes;  /* the GPU's framebuffers */
        size_t n_fbcon_nodes;
        char *igpu_fb;           /* the iGPU's framebuffer; NULL: none */
        int igpu_fb_number;
        bool debian;
        BootLoader boot_loader;
        int boot_found;          /* find_igpu(): 1 the boot display, 2 another display controller, 0 none */
        virConnectPtr conn;
        virDomainPtr domain;
        Check *checks;
        size_t n_checks, n_failed, n_warned;
} Doctor;

static const char *arg_config = VFIOD_CONFIG_FILE;
static const char *arg_gpu = NULL;
static const char *arg_root = NULL;
static const char *arg_domain_xml = NULL;
static bool arg_json = false;

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_enumerate *, udev_enumerate_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_device *, udev_device_unref);
static void holder_list_donep(HolderList *l) {
        holder_list_done(l);
}
static int conf_name_filter(const struct dirent *de);
static const char *result_to_string(CheckResult r) {
        static const char *table[] = { [CHECK_PASS] = "PASS", [CHECK_WARN] = "WARN", [CHECK_FAIL] = "FAIL" };
        return table[r];
}

_printf_(1, 2) static char *strf(const char *format, ...) {
        char *s;
        va_list ap;
        va_start(ap, format);
        int n = vasprintf(&s, format, ap);
        va_end(ap);
        return n < 0 ? NULL : s;
}

/* Records a result; in text mode prints it at once (libvirt may take a while). */
_printf_(5, 6) static int check_add(Doctor *d, const char *name, CheckResult result, const char *fix,
                                    const char *format, ...) {
        Check *t = realloc(d->checks, sizeof(Check) * (d->n_checks + 1));
        if (!t)
                return -ENOMEM;
        d->checks = t;

        Check *c = &d->checks[d->n_checks];
        *c = (Check) { .result = result, .name = strdup(name), .fix = fix && result != CHECK_PASS ? strdup(fix) : NULL };
        va_list ap;
        va_start(ap, format);
        if (vasprintf(&c->message, format, ap) < 0)
                c->message = NULL;
        va_end(ap);
        d->n_checks++;
        if (!c->name || !c->message || (fix && result != CHECK_PASS && !c->fix))
                return -ENOMEM;

        d->n_failed += result == CHECK_FAIL;
        d->n_warned += result == CHECK_WARN;
        if (!arg_json) {
                printf("%s  %s\n", result_to_string(result), c->message);
                if (c->fix)
                        printf("      %s\n", c->fix);
                fflush(stdout);
        }
        return 0;
}

static void doctor_done(Doctor *d) {
        for (size_t i = 0; i < d->n_checks; i++) {
                free(d->checks[i].name);
                free(d->checks[i].message);
                free(d->checks[i].fix);
        }
        free(d->checks);
        if (d->domain)
                sym_virDomainFree(d->domain);
        if (d->conn)
                sym_virConnectClose(d->conn);
        gpu_free(d->gpu);
        if (d->udev)
                udev_unref(d->udev);
        config_free(d->config);
        strv_free(d->cmdline);
        strv_free(d->host_modules);
        free(d->grub_fix);
        free(d->proc);
        free(d->boot_syspath);
        for (size_t i = 0; i < d->n_fbcon_nodes; i++) {
                free(d->fbcon_nodes[i].node);
                free(d->fbcon_nodes[i].why);
        }
        free(d->fbcon_nodes);
        free(d->fbcon_bind);
        free(d->igpu_fb);
}

/* ---- small helpers ---- */

/* *s, then sep and the formatted piece (no sep before the first). */
static int append(char **s, const char *sep, const char *format, ...) _printf_(3, 4);
static int append(char **s, const char *sep, const char *format, ...) {
        _cleanup_free_ char *piece = NULL;
        va_list ap;
        va_start(ap, format);
        int n = vasprintf(&piece, format, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        char *t = strf("%s%s%s", strempty(*s), *s ? sep : "", piece);
        if (!t)
                return -ENOMEM;
        free(*s);
        *s = t;
        return 0;
}


static char *root_path(const Doctor *d, const char *path) {
        return strf("%s%s", d->root, path);
}

static int root_stat(const Doctor *d, const char *path, struct stat *st) {
        _cleanup_free_ char *p = root_path(d, path);
        if (!p)
                return -ENOMEM;
        return stat(p, st) < 0 ? -errno : 0;
}

static bool root_exists(const Doctor *d, const char *path) {
        struct stat st;
        return root_stat(d, path, &st) >= 0;
}

static int root_read(const Doctor *d, const char *path, char **ret) {
        _cleanup_free_ char *p = root_path(d, path);
        if (!p)
                return -ENOMEM;
        return read_full_file(p, ret, NULL);
}

/* Module names: the kernel treats '-' and '_' alike. */
static void module_normalize(char *s) {
        for (; *s; s++)
                if (*s == '-')
                        *s = '_';
}

static bool module_eq(const char *a, const char *b) {
        for (; *a && *b; a++, b++)
                if (*a != *b && !((*a == '-' || *a == '_') && (*b == '-' || *b == '_')))
                        return false;
        return *a == *b;
}

static bool is_host_module(const Doctor *d, const char *name) {
        STRV_FOREACH(m, d->host_modules)
                if (module_eq(*m, name))
                        return true;
        return false;
}

static bool is_vfio_pci(const char *name) {
        return module_eq(name, "vfio_pci");
}

/* Splits on whitespace only (kernel parameters hold commas). */
static int split_whitespace(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while (s && *s) {
                s += strspn(s, " \t\n");
                size_t n = strcspn(s, " \t\n");
                if (n == 0)
                        break;
                _cleanup_free_ char *w = strndup(s, n);
                if (!w || strv_extend(&l, w) < 0)
                        return -ENOMEM;
                s += n;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* "key=value" where the key's '-' and '_' match: returns value. */
static const char *param_value(const char *word, const char *key) {
        const char *eq = strchr(word, '=');
        if (!eq)
                return NULL;
        _cleanup_free_ char *k = strndup(word, (size_t) (eq - word));
        return k && module_eq(k, key) ? eq + 1 : NULL;
}

/* Does word set want ("KEY=VALUE"), VALUE one of its comma list
 * (intel_iommu=on,igfx_off sets intel_iommu=on)? */
static bool word_sets(const char *word, const char *want) {
        const char *eq = strchr(want, '=');
        if (!eq)
                return streq(word, want);
        _cleanup_free_ char *key = strndup(want, (size_t) (eq - want));
        const char *v = key ? param_value(word, key) : NULL;
        size_t l = strlen(eq + 1);
        for (const char *p = v; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (strncmp(p, eq + 1, l) == 0 && (p[l] == ',' || p[l] == 0))
                        return true;
        return false;
}

static bool words_set(char **words, const char *want) {
        STRV_FOREACH(w, words)
                if (word_sets(*w, want))
                        return true;
        return false;
}

static bool cmdline_has(const Doctor *d, const char *word) {
        return words_set(d->cmdline, word);
}

static const PciFunction *gpu_main_function(const Gpu *g) {
        for (size_t i = 0; i < g->n_functions; i++)
                if (memcmp(&g->functions[i].address, &g->address, sizeof(g->address)) == 0)
                        return &g->functions[i];
        return &g->functions[0];
}

/* vfio-pci's ids=: "10de:2203,10de:1aef" (each may go on with :subvendor:subdevice...). */
static bool ids_name_gpu(const Gpu *g, const char *ids) {
        _cleanup_free_ char *copy = strdup(ids);
        char *save = NULL;
        if (!copy || !g)
                return false;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                unsigned v, dv;
                if (sscanf(t, "%x:%x", &v, &dv) != 2)
                        continue;
                for (size_t i = 0; i < g->n_functions; i++)
                        if (g->functions[i].role == ROLE_GPU && g->functions[i].vendor == v &&
                            g->functions[i].device == dv)
                                return true;
        }
        return false;
}

static const char *regen_initramfs(const Doctor *d) {
        return d->debian ? "update-initramfs -u" : "dracut --force";
}

/* ---- the kernel command line and /etc/default/grub ---- */

/* The IOMMU option the GRUB fix should carry: the one already on the
 * command line, else the firmware's kind of IOMMU (DMAR: Intel VT-d, IVRS:
 * AMD-Vi), else the CPU's vendor. (A VM's CPU vendor need not match its
 * vIOMMU: QEMU's intel-iommu under TCG has an AMD CPU.) */
static const char *iommu_word(const Doctor *d) {
        _cleanup_free_ char *cpuinfo = NULL;
        if (cmdline_has(d, "intel_iommu=on"))
                return "intel_iommu=on";
        if (cmdline_has(d, "amd_iommu=on"))
                return "amd_iommu=on";
        if (root_exists(d, "/sys/firmware/acpi/tables/DMAR"))
                return "intel_iommu=on";
        if (root_exists(d, "/sys/firmware/acpi/tables/IVRS"))
                return "amd_iommu=on";
        if (root_read(d, "/proc/cpuinfo", &cpuinfo) >= 0 && strstr(cpuinfo, "AuthenticAMD"))
                return "amd_iommu=on";
        return "intel_iommu=on";
}

static bool word_turns_iommu_off(const char *w) {
        return streq(w, "intel_iommu=off") || streq(w, "amd_iommu=off") || streq(w, "iommu=off");
}

/* A kernel parameter that binds the GPU statically or keeps its host driver
 * from loading: returns the verdict (a CheckResult) or -ENOMEM, why, and the
 * word without the offending part (NULL: drop it). */
static int word_finding(const Doctor *d, const char *word, char **ret_clean, char **ret_why) {
        _cleanup_free_ char *copy = NULL, *keep = NULL, *hit = NULL;
        const char *v;
        char *save = NULL;

        *ret_clean = *ret_why = NULL;
        if (((v = param_value(word, "vfio_pci.ids")) || (v = param_value(word, "vfio-pci.ids"))) &&
            ids_name_gpu(d->gpu, v)) {
                *ret_why = strf("%s binds the GPU to vfio-pci at boot", word);
                return *ret_why ? CHECK_FAIL : -ENOMEM;
        }

        bool pre = (v = param_value(word, "rd.driver.pre")) != NULL;
        bool bl = !pre && ((v = param_value(word, "modprobe.blacklist")) || (v = param_value(word, "module_blacklist")) ||
                           (v = param_value(word, "rd.driver.blacklist")));
        /* Comma lists: keep what is not ours. */
        if ((pre || bl) && !(copy = strdup(v)))
                return -ENOMEM;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
                bool ours = pre ? startswith(t, "vfio") != NULL : is_host_module(d, t);
                char **target = ours ? &hit : &keep;
                char *n = strf("%s%s%s", strempty(*target), *target ? "," : "", t);
                if (!n)
                        return -ENOMEM;
                free(*target);
                *target = n;
        }
        if (!hit) {
                *ret_clean = strdup(word);
                return *ret_clean ? CHECK_PASS : -ENOMEM;
        }
        if (keep && !(*ret_clean = strf("%.*s=%s", (int) (v - 1 - word), word, keep)))
                return -ENOMEM;
        *ret_why = pre ? strf("%s loads %s in the initramfs, before the host driver", word, hit) :
                         strf("%s keeps the host driver (%s) from loading", word, hit);
        if (!*ret_why) {
                *ret_clean = mfree(*ret_clean);
                return -ENOMEM;
        }
        return pre ? CHECK_WARN : CHECK_FAIL;
}

/* A word of the command line without fbcon's map ("": nothing left of it). */
static char *word_without_fbcon_map(const char *w) {
        const char *v = startswith(w, "fbcon=");
        if (!v)
                return strdup(w);
        _cleanup_free_ char *copy = strdup(v), *keep = NULL;
        char *save = NULL;
        if (!copy)
                return NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (startswith(t, "map:"))
                        continue;
                char *n = strf("%s%s%s", strempty(keep), keep ? "," : "", t);
                if (!n)
                        return NULL;
                free(keep);
                keep = n;
        }
        return keep ? strf("fbcon=%s", keep) : strdup("");
}

/* Command-line words as every check wants them: static binding and
 * iommu=off gone, fbcon's map gone when the consoles move, add (a
 * NULL-terminated list) appended where missing. One rewrite for all of
 * them, so that no check's line undoes another's. */
static int cmdline_rewrite(const Doctor *d, char **words, const char *const *add, char ***ret) {
        _cleanup_strv_free_ char **out = calloc(1, sizeof(char *));
        int r;

        if (!out)
                return -ENOMEM;
        STRV_FOREACH(w, words) {
                _cleanup_free_ char *word = NULL, *clean = NULL, *why = NULL;
                if (word_turns_iommu_off(*w))
                        continue;
                if (!(word = d->fbcon_map >= 0 ? word_without_fbcon_map(*w) : strdup(*w)))
                        return -ENOMEM;
                if (!*word)
                        continue;
                if ((r = word_finding(d, word, &clean, &why)) < 0)
                        return r;
                if (clean && strv_extend(&out, clean) < 0)
                        return -ENOMEM;
        }
        /* What is missing joins a word of the same key (fbcon=font:X,map:0):
         * the kernel takes these as comma lists, and grubby and rpm-ostree
         * replace a key's words with the one they are given. */
        for (const char *const *a = add; a && *a; a++) {
                const char *eq = strchr(*a, '=');
                if (words_set(out, *a))
                        continue;
                _cleanup_free_ char *key = eq ? strndup(*a, (size_t) (eq - *a)) : NULL;
                char **same = NULL;
                for (char **w = out; key && *w && !same; w++)
                        if (param_value(*w, key))
                                same = w;
                if (same) {
                        char *merged = strf("%s,%s", *same, eq + 1);
                        if (!merged)
                                return -ENOMEM;
                        free(*same);
                        *same = merged;
                } else if (strv_extend(&out, *a) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static char *grub_rewrite(const Doctor *d, const char *value, const char *const *add) {
        _cleanup_strv_free_ char **words = NULL, **out = NULL;
        if (split_whitespace(value, &words) < 0 || cmdline_rewrite(d, words, add, &out) < 0)
                return NULL;
        return strv_join(out, " ");
}

/* The value of VAR= in /etc/default/grub (last one wins), without quotes. */
static char *grub_value(const char *text, const char *var) {
        char *found = NULL;
        size_t l = strlen(var);
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                const char *s = p + strspn(p, " \t");
                if (strncmp(s, var, l) != 0 || s[l] != '=')
                        continue;
                s += l + 1;
                size_t n = strcspn(s, "\n");
                if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0])
                        s++, n -= 2;
                free(found);
                found = strndup(s, n);
        }
        return found;
}

/* Where the boot loader keeps its entries, each kernel's own command line
 * (the running one is theirs) is edited from what the kernel was booted
 * with: grubby (Fedora), rpm-ostree (Fedora Atomic), or by hand
 * (systemd-boot: the entries and /etc/kernel/cmdline, which kernel-install
 * reads for the next kernels). */
static int entries_fix_build(Doctor *d, const char *const *add) {
        _cleanup_strv_free_ char **want = NULL, **removed = calloc(1, sizeof(char *)), **added = calloc(1, sizeof(char *)),
                                 **line = calloc(1, sizeof(char *));
        int r;

        if (!removed || !added || !line)
                return -ENOMEM;
        if ((r = cmdline_rewrite(d, d->cmdline, add, &want)) < 0)
                return r;
        STRV_FOREACH(w, d->cmdline)
                if (!strv_contains(want, *w) && strv_extend(&removed, *w) < 0)
                        return -ENOMEM;
        STRV_FOREACH(w, want)
                if ((!strv_contains(d->cmdline, *w) && strv_extend(&added, *w) < 0) ||
                    (!startswith(*w, "BOOT_IMAGE=") && !startswith(*w, "initrd=") && strv_extend(&line, *w) < 0))
                        return -ENOMEM;
        if (!removed[0] && !added[0]) {
                d->grub_fix = strdup(d->boot_loader == BOOT_OSTREE ? "the deployment's command line is right "
                                                                     "(rpm-ostree kargs): reboot" :
                                     "the boot entries carry the right command line: reboot");
                return d->grub_fix ? 0 : -ENOMEM;
        }
        if (d->boot_loader == BOOT_OSTREE) {
                _cleanup_free_ char *ops = NULL;
                STRV_FOREACH(w, removed)
                        if ((r = append(&ops, " ", "--delete=%s", *w)) < 0)
                                return r;
                STRV_FOREACH(w, added)
                        if ((r = append(&ops, " ", "--append=%s", *w)) < 0)
                                return r;
                d->grub_fix = strf("rpm-ostree kargs %s, then reboot", ops);
        } else if (d->boot_loader == BOOT_GRUBBY) {
                _cleanup_free_ char *a = strv_join(added, " "), *rm = strv_join(removed, " ");
                if (!a || !rm)
                        return -ENOMEM;
                d->grub_fix = strf("grubby --update-kernel=ALL%s%s%s%s%s%s, then reboot", *a ? " --args=\"" : "", a,
                                   *a ? "\"" : "", *rm ? " --remove-args=\"" : "", rm, *rm ? "\"" : "");
        } else {
                _cleanup_free_ char *l = strv_join(line, " ");
                d->grub_fix = l ? strf("the options line of each /boot/loader/entries/*.conf, and /etc/kernel/cmdline: %s, "
                                       "then reboot", l) : NULL;
        }
        return d->grub_fix ? 0 : -ENOMEM;
}

/* The one fix for everything on the command line, whichever check shows
 * it: the IOMMU's words, no static binding, fbcon's map; then the
 * regeneration, as the installation's step 1 says. */
static int grub_fix_build(Doctor *d) {
        _cleanup_free_ char *text = NULL, *linux_v = NULL, *def_v = NULL, *new_linux = NULL, *new_def = NULL, *map = NULL;
        /* NULL-terminated: fbcon's map, when it moves, in the third place. */
        const char *want[] = { iommu_word(d), "iommu=pt", NULL, NULL }, *add[ELEMENTSOF(want)] = {};
        size_t n_add = 0;

        if (d->fbcon_map >= 0 && !(map = strf("fbcon=map:%d", d->fbcon_map)))
                return -ENOMEM;
        want[2] = map;
        if (d->boot_loader != BOOT_GRUB)
                return entries_fix_build(d, want);

        (void) root_read(d, "/etc/default/grub", &text);
        linux_v = grub_value(text, "GRUB_CMDLINE_LINUX");
        def_v = grub_value(text, "GRUB_CMDLINE_LINUX_DEFAULT");
        /* Set in either variable counts (fbcon's map never stays in the default one). */
        _cleanup_strv_free_ char **def_words = NULL;
        if (split_whitespace(def_v, &def_words) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(want) && want[i]; i++)
                if (want[i] == map || !strv_contains(def_words, want[i]))
                        add[n_add++] = want[i];
        new_linux = grub_rewrite(d, linux_v ?: "", add);
        new_def = def_v ? grub_rewrite(d, def_v, NULL) : NULL;
        if (!new_linux || (def_v && !new_def))
                return -ENOMEM;

        const char *regen = d->debian ? "update-grub" : "grub2-mkconfig -o /boot/grub2/grub.cfg";
        bool def_changed = def_v && !streq(def_v, new_def);
        if (streq(new_linux, strempty(linux_v)) && linux_v && !def_changed)
                d->grub_fix = strf("/etc/default/grub is right: %s, then reboot", regen);
        else
                d->grub_fix = strf("in /etc/default/grub: GRUB_CMDLINE_LINUX=\"%s\"%s%s%s, then: %s and reboot",
                                   new_linux, def_changed ? " and GRUB_CMDLINE_LINUX_DEFAULT=\"" : "",
                                   def_changed ? new_def : "", def_changed ? "\"" : "", regen);
        return d->grub_fix ? 0 : -ENOMEM;
}

/* ---- IOMMU ---- */

static int count_dir(const Doctor *d, const char *path) {
        _cleanup_free_ char *p = root_path(d, path);
        if (!p)
                return -ENOMEM;
        _cleanup_closedir_ DIR *dir = opendir(p);
        if (!dir)
                return 0;
        int n = 0;
        struct dirent *de;
        while ((de = readdir(dir)))
                n += de->d_name[0] != '.';
        return n;
}

static int check_iommu(Doctor *d) {
        const char *want = iommu_word(d);
        const char *on = cmdline_has(d, "intel_iommu=on") ? "intel_iommu=on" :
                         cmdline_has(d, "amd_iommu=on") ? "amd_iommu=on" : NULL;
        const char *off = NULL;
        int groups = count_dir(d, "/sys/kernel/iommu_groups"), r;

        STRV_FOREACH(w, d->cmdline)
                if (word_turns_iommu_off(*w))
                        off = *w;
        if (groups < 0)
                return groups;

        if (off)
                r = check_add(d, "iommu-cmdline", CHECK_FAIL, d->grub_fix, "kernel command line: %s turns the IOMMU off", off);
        else if (on)
                r = check_add(d, "iommu-cmdline", CHECK_PASS, NULL, "kernel command line: %s", on);
        else if (groups > 0)
                r = check_add(d, "iommu-cmdline", CHECK_WARN, d->grub_fix,
                              "kernel command line has no %s: the IOMMU is on by the kernel's default only", want);
        else
                r = check_add(d, "iommu-cmdline", CHECK_FAIL, d->grub_fix, "kernel command line has no %s", want);
        if (r < 0)
                return r;

        if (cmdline_has(d, "iommu=pt"))
                r = check_add(d, "iommu-pt", CHECK_PASS, NULL, "kernel command line: iommu=pt");
        else
                r = check_add(d, "iommu-pt", CHECK_WARN, d->grub_fix,
                              "kernel command line has no iommu=pt (advised: the host's own devices skip IOMMU translation)");
        if (r < 0)
                return r;

        bool dmar = root_exists(d, "/sys/firmware/acpi/tables/DMAR");
        bool ivrs = root_exists(d, "/sys/firmware/acpi/tables/IVRS");
        const char *firmware_fix = "enable Intel VT-d (AMD: AMD-Vi / IOMMU) in the firmware setup, then reboot";
        if (dmar || ivrs)
                r = check_add(d, "iommu-firmware", CHECK_PASS, NULL, "firmware: ACPI %s table (%s on)",
                              dmar ? "DMAR" : "IVRS", dmar ? "Intel VT-d" : "AMD-Vi");
        else
                r = check_add(d, "iommu-firmware", CHECK_FAIL, firmware_fix,
                              "firmware: no ACPI DMAR or IVRS table in /sys/firmware/acpi/tables: the IOMMU is off in the firmware");
        if (r < 0)
                return r;

        if (groups > 0)
                return check_add(d, "iommu-groups", CHECK_PASS, NULL, "IOMMU groups: %d in /sys/kernel/iommu_groups", groups);
        return check_add(d, "iommu-groups", CHECK_FAIL, dmar || ivrs ? d->grub_fix : firmware_fix,
                         "IOMMU groups: none in /sys/kernel/iommu_groups: the kernel runs without an IOMMU");
}

/* ---- the GPU, the display, the group ---- */

static int check_gpu(Doctor *d) {
        PciAddress address;
        int r;

        if (arg_gpu && pci_address_parse(arg_gpu, &address) < 0)
                return -EINVAL; /* checked in parse_argv */
        r = gpu_find(d->udev, d->config, arg_gpu ? &address : NULL, &d->gpu);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                _cleanup_free_ char *fix = strf("Address=ADDRESS under [GPU] in %s (lspci -D names the GPU's address)",
                                                d->config_path);
                return fix ? check_add(d, "gpu", CHECK_FAIL, fix, "GPU: none found (%s); the checks of the GPU are left out",
                                       strerror(-r)) : -ENOMEM;
        }
        (void) gpu_load_names(d->gpu);

        const PciFunction *f = gpu_main_function(d->gpu);
        return check_add(d, "gpu", CHECK_PASS, NULL, "GPU: %s %s [%04x:%04x] on %s", d->gpu->address_str,
                         strna(f->name), f->vendor, f->device, f->driver ?: "no driver");
}

/* The iGPU, where the desktop belongs: a display controller off the GPU's
 * slot, the boot display if one is (1), else the first other (2); 0: none.
 * Every fix that names the iGPU names this one, never the GPU. */
static int find_igpu(Doctor *d, char address[static PCI_ADDRESS_STRLEN], char **ret_syspath) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = udev_enumerate_new(d->udev);
        const PciFunction *gpu = gpu_main_function(d->gpu);
        struct udev_list_entry *i;
        int found = 0;

        if (!e)
                return -ENOMEM;
        if (udev_enumerate_add_match_subsystem(e, "pci") < 0 || udev_enumerate_scan_devices(e) < 0)
                return log_error_errno(errno ?: EIO, "Failed to enumerate PCI devices: %m");
        udev_list_entry_foreach(i, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *dev =
                        udev_device_new_from_syspath(d->udev, udev_list_entry_get_name(i));
                unsigned long class;
                PciAddress a;
                if (!dev)
                        continue;
                const char *cls = udev_device_get_sysattr_value(dev, "class");
                const char *bv = udev_device_get_sysattr_value(dev, "boot_vga");
                const char *slot = udev_device_get_property_value(dev, "PCI_SLOT_NAME") ?: udev_device_get_sysname(dev);
                if (!cls || parse_sysfs_hex(cls, &class) < 0 || !pci_class_is_display((unsigned) class) ||
                    pci_address_parse(slot, &a) < 0 || pci_address_same_slot(&a, &gpu->address))
                        continue;
                bool boot = bv && streq(bv, "1");
                if (found && !boot)
                        continue;
                pci_address_format(&a, address);
                free(*ret_syspath);
                if (!(*ret_syspath = strdup(udev_device_get_syspath(dev))))
                        return -ENOMEM;
                found = boot ? 1 : 2;
                if (boot)
                        break;
        }
        return found;
}

/* What draws on a DRM node: the compositor says how to keep it on the iGPU. */
typedef enum DesktopKind {
        DESKTOP_WLROOTS,
        DESKTOP_HYPRLAND,
        DESKTOP_KWIN,
        DESKTOP_MUTTER,
        DESKTOP_XORG,
        DESKTOP_OTHER,
        _DESKTOP_KIND_MAX,
        DESKTOP_NONE = -1,
} DesktopKind;

static const struct {
        const char *comm;
        DesktopKind kind;
} desktop_programs[] = {
        { "sway", DESKTOP_WLROOTS }, { "labwc", DESKTOP_WLROOTS }, { "wayfire", DESKTOP_WLROOTS },
        { "river", DESKTOP_WLROOTS }, { "cage", DESKTOP_WLROOTS },
        { "Hyprland", DESKTOP_HYPRLAND },
        { "kwin_wayland", DESKTOP_KWIN },
        { "gnome-shell", DESKTOP_MUTTER }, { "mutter", DESKTOP_MUTTER },
        { "Xorg", DESKTOP_XORG }, { "X", DESKTOP_XORG }, { "kwin_x11", DESKTOP_XORG },
        { "Xwayland", DESKTOP_OTHER }, { "plasmashell", DESKTOP_OTHER }, { "weston", DESKTOP_OTHER },
        { "niri", DESKTOP_OTHER }, { "cosmic-comp", DESKTOP_OTHER }, { "gamescope", DESKTOP_OTHER },
        { "gdm", DESKTOP_OTHER }, { "gdm-x-session", DESKTOP_OTHER }, { "gdm-wayland-session", DESKTOP_OTHER },
        { "sddm", DESKTOP_OTHER }, { "sddm-greeter", DESKTOP_OTHER }, { "lightdm", DESKTOP_OTHER },
        { "kmscon", DESKTOP_OTHER },
};

static DesktopKind desktop_kind(const char *comm) {
        /* comm is cut at 15 characters: "gdm-wayland-ses". */
        for (size_t i = 0; i < ELEMENTSOF(desktop_programs); i++) {
                const char *p = desktop_programs[i].comm;
                if (strlen(p) > 15 ? strlen(comm) == 15 && strncmp(comm, p, 15) == 0 : streq(comm, p))
                        return desktop_programs[i].kind;
        }
        return DESKTOP_NONE;
}

/* A node's name below /dev ("/dri/card1"): its path may say /dev or where the
 * tests keep it ($VFIOD_DEV_DIR). NULL: not a node under /dev. */
static const char *dev_relative(const char *path) {
        const char *p = startswith(path, dev_dir());
        if (!p || *p != '/')
                p = startswith(path, "/dev");
        return p && *p == '/' ? p : NULL;
}

static bool is_dri_node(const char *path) {
        const char *p = dev_relative(path);
        return p && startswith(p, "/dri/");
}

/* Node paths as the system names them: the tests' nodes live in a testbed
 * ($VFIOD_DEV_DIR), the messages say /dev. */
static char *dev_display(const char *s) {
        const char *dir = dev_dir();
        size_t l = strlen(dir), count = 0;

        if (!s)
                return NULL;
        if (l == 0 || streq(dir, "/dev"))
                return strdup(s);
        for (const char *p = s; (p = strstr(p, dir)); p += l)
                count++;
        char *out = malloc(strlen(s) + count * strlen("/dev") + 1), *o = out;
        if (!out)
                return NULL;
        for (const char *p = s;;) {
                const char *q = strstr(p, dir);
                if (!q) {
                        strcpy(o, p);
                        break;
                }
                memcpy(o, p, (size_t) (q - p));
                o += q - p;
                memcpy(o, "/dev", strlen("/dev"));
                o += strlen("/dev");
                p = q + l;
        }
        return out;
}

/* "1234 sway (user alice, fd) on /dev/dri/card1, ..." for the holders picked. */
static char *holders_text(const HolderList *l, const bool *pick) {
        _cleanup_free_ char *text = NULL;
        for (size_t i = 0; i < l->n; i++) {
                if (pick && !pick[i])
                        continue;
                _cleanup_free_ char *one = holder_describe(&l->items[i]);
                char *n = one ? strf("%s%s%s", strempty(text), text ? ", " : "", one) : NULL;
                if (!n)
                        return NULL;
                free(text);
                text = n;
        }
        return dev_display(strempty(text));
}

static const char *proc_dir(const Doctor *d) {
        return d->proc;
}

/* The first node of a device's subtree whose name starts with prefix ("card", "fb"), as /dev/... */
static int first_node_below(const char *syspath, const char *prefix, char **ret) {
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        int r;

        *ret = NULL;
        if (!syspath)
                return 0;
        if ((r = device_nodes_below(syspath, "", NODE_FUNCTION, &nodes)) < 0)
                return r;
        for (size_t i = 0; i < nodes.n; i++) {
                const char *base = strrchr(nodes.items[i].path, '/');
                if (base && startswith(base + 1, prefix) && isdigit((unsigned char) base[1 + strlen(prefix)]) &&
                    (!streq(prefix, "card") || is_dri_node(nodes.items[i].path)))
                        return (*ret = dev_display(nodes.items[i].path)) ? 1 : -ENOMEM;
        }
        return 0;
}

/* Xorg's BusID of the boot display: "PCI:0:2:0" (decimal; another domain
 * as "PCI:BUS@DOMAIN:DEVICE:FUNCTION", xf86pciBus.c's format). */
static char *xorg_bus_id(const Doctor *d) {
        PciAddress a;
        if (!d->boot_address[0] || pci_address_parse(d->boot_address, &a) < 0)
                return strdup("PCI:BUS:DEVICE:FUNCTION (the iGPU's, lspci -D in decimal)");
        return a.domain ? strf("PCI:%u@%u:%u:%u", a.bus, a.domain, a.slot, a.function) :
                          strf("PCI:%u:%u:%u", a.bus, a.slot, a.function);
}

#define IGPU_LINK_NAME "dri/vfiod-igpu"
#define IGPU_LINK "/dev/" IGPU_LINK_NAME

/* A name for the iGPU's DRM card that stays: cardN follows the order in
 * which drivers probe, and the by-path links hold ':', which the
 * compositors' DRM_DEVICES lists split on. */
static char *igpu_link_rule(const Doctor *d) {
        return strf("echo 'SUBSYSTEM==\"drm\", KERNEL==\"card[0-9]*\", ENV{DEVTYPE}==\"drm_minor\", KERNELS==\"%s\", "
                    "SYMLINK+=\"%s\"' > "
                    "/etc/udev/rules.d/61-vfiod-igpu.rules && udevadm control --reload && "
                    "udevadm trigger --action=change --subsystem-match=drm",
                    d->boot_address[0] ? d->boot_address : "IGPU (the iGPU's address, lspci -D)", IGPU_LINK_NAME);
}

/* How to keep each kind of desktop off the GPU: its own switch, in /etc/environment
 * (pam_env reads it at every login; systemd's user manager too, through
 * environment.d's 99-environment.conf), naming the iGPU by a link of its own. */
static char *compositor_fix(const Doctor *d, DesktopKind k, const char *igpu_card) {
        _cleanup_free_ char *bus_id = NULL, *link = NULL;
        const char *var = k == DESKTOP_WLROOTS ? "WLR_DRM_DEVICES" : k == DESKTOP_HYPRLAND ? "AQ_DRM_DEVICES" :
                          k == DESKTOP_KWIN ? "KWIN_DRM_DEVICES" : NULL;

        if (var) {
                if (!(link = igpu_link_rule(d)))
                        return NULL;
                return strf("%s; then %s=" IGPU_LINK " in /etc/environment (%s then opens the iGPU only%s), then log in again",
                            link, var, k == DESKTOP_WLROOTS ? "wlroots" : k == DESKTOP_HYPRLAND ? "Hyprland" : "KWin",
                            k == DESKTOP_HYPRLAND ? "; Hyprland's env= comes too late; before Hyprland 0.42: WLR_DRM_DEVICES" : "");
        }
        switch (k) {
        case DESKTOP_MUTTER:
                return strf("echo 'SUBSYSTEM==\"drm\", KERNELS==\"%s\", TAG+=\"mutter-device-ignore\"' > "
                            "/etc/udev/rules.d/61-vfiod-mutter.rules && udevadm control --reload && "
                            "udevadm trigger --action=change --subsystem-match=drm, then log in again", d->gpu->address_str);
        case DESKTOP_XORG:
                if (!(bus_id = xorg_bus_id(d)))
                        return NULL;
                return strf("in /etc/X11/xorg.conf.d/10-vfiod-igpu.conf: Section \"ServerFlags\" Option \"AutoAddGPU\" \"off\" "
                            "EndSection and Section \"Device\" Identifier \"iGPU\" BusID \"%s\" EndSection, then log in again",
                            bus_id);
        case DESKTOP_OTHER:
                return strf("start them on the iGPU only (its card is %s now; Xwayland follows its compositor), then log in again",
                            igpu_card ?: "/dev/dri/cardN");
        default:
                return NULL;
        }
}

static int check_display(Doctor *d) {
        _cleanup_free_ char *list = NULL, *igpu_card = NULL;
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        _cleanup_strv_free_ char **dri = calloc(1, sizeof(char *));
        const char *display_fix = "set the iGPU as primary display in firmware, plug monitors into it";
        _cleanup_(holder_list_donep) HolderList holders = {};
        int r;

        if (!dri)
                return -ENOMEM;
        if (gpu_main_function(d->gpu)->boot_vga)
                r = check_add(d, "boot-display", CHECK_FAIL, display_fix,
                              "display: the GPU %s is the boot display", d->gpu->address_str);
        else if (d->boot_found != 1)
                r = check_add(d, "boot-display", CHECK_FAIL, display_fix,
                              "display: no boot display besides the GPU %s (is the iGPU off?)", d->gpu->address_str);
        else
                r = check_add(d, "boot-display", CHECK_PASS, NULL, "display: the boot display is %s, not the GPU",
                              d->boot_address);
        if (r < 0)
                return r;

        /* Only the GPU's DRM nodes: a desktop on them holds the GPU for good. */
        if ((r = gpu_device_nodes(d->gpu, 1u << NODE_FUNCTION, &nodes)) < 0)
                return r;
        for (size_t i = 0; i < nodes.n; i++)
                if (is_dri_node(nodes.items[i].path)) {
                        _cleanup_free_ char *shown = dev_display(nodes.items[i].path);
                        if (!shown || strv_extend(&dri, shown) < 0)
                                return -ENOMEM;
                }
        strv_sort(dri);
        if (!dri[0])
                return check_add(d, "gpu-users", CHECK_PASS, NULL, "display: the GPU has no DRM nodes, nobody draws on it");

        /* All of the functions' nodes are scanned, the DRM nodes' holders judged here. */
        r = holders_scan(proc_dir(d), &nodes, &holders);
        if (r < 0)
                return log_error_errno(r, "Failed to look for processes using %s: %m", dri[0]);
        bool any_dri = false;
        for (size_t i = 0; i < holders.n; i++)
                any_dri = any_dri || is_dri_node(holders.items[i].node);
        if (!any_dri) {
                list = strv_join(dri, ", ");
                return list ? check_add(d, "gpu-users", CHECK_PASS, NULL, "display: nobody uses %s", list) : -ENOMEM;
        }

        if ((r = first_node_below(d->boot_syspath, "card", &igpu_card)) < 0)
                return r;
        /* Each kind of desktop with its own switch, then everybody else. */
        _cleanup_free_ bool *pick = calloc(holders.n, sizeof(bool));
        if (!pick)
                return -ENOMEM;
        for (int kind = 0; kind <= _DESKTOP_KIND_MAX; kind++) {
                bool any = false;
                for (size_t i = 0; i < holders.n; i++) {
                        DesktopKind dk = desktop_kind(holders.items[i].comm);
                        pick[i] = is_dri_node(holders.items[i].node) &&
                                  (kind == _DESKTOP_KIND_MAX ? dk == DESKTOP_NONE : (int) dk == kind);
                        any = any || pick[i];
                }
                if (!any)
                        continue;
                _cleanup_free_ char *who = holders_text(&holders, pick);
                _cleanup_free_ char *fix = kind == _DESKTOP_KIND_MAX ?
                        strdup("quit them before the VM starts, or start it with: vfioctl start --drain") :
                        compositor_fix(d, kind, igpu_card);
                if (!who || !fix)
                        return -ENOMEM;
                r = kind == _DESKTOP_KIND_MAX ?
                        check_add(d, "gpu-users", CHECK_WARN, fix, "display: in use (vfiod refuses to take it meanwhile): %s", who) :
                        check_add(d, "compositor", CHECK_FAIL, fix, "display: the desktop runs on the GPU: %s", who);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- the desktop's other ways onto the GPU: sound, the console, EGL/Vulkan ---- */

#define AUDIO_RULE "71-vfiod-audio.rules"

static bool is_sound_server(const char *comm) {
        return streq(comm, "pipewire") || streq(comm, "wireplumber") || streq(comm, "pulseaudio") ||
               streq(comm, "pipewire-pulse");
}

/* The rule that applies HideGpuAudio=: installed, and not masked by an
 * earlier directory's file of the same name. */
static bool audio_rule_installed(const Doctor *d) {
        static const char *const dirs[] = { "/etc/udev/rules.d", "/run/udev/rules.d", "/usr/local/lib/udev/rules.d",
                                            "/usr/lib/udev/rules.d", "/lib/udev/rules.d" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *p = strf("%s/" AUDIO_RULE, dirs[i]);
                struct stat st;
                if (p && root_stat(d, p, &st) >= 0)
                        return S_ISREG(st.st_mode) && st.st_size > 0;
        }
        return false;
}

/* "systemctl --user -M alice@ restart wireplumber" for the sound servers
 * picked: run as root, it reaches each user's manager, gdm's greeter
 * session (a system user nobody logs in as) too. */
static char *sound_server_restart(const HolderList *l, const bool *pick) {
        _cleanup_strv_free_ char **cmds = calloc(1, sizeof(char *));
        if (!cmds)
                return NULL;
        for (size_t i = 0; i < l->n; i++) {
                if (!pick[i])
                        continue;
                /* WirePlumber has the card; restarting it makes PipeWire's nodes go too. */
                const char *unit = streq(l->items[i].comm, "pulseaudio") ? "pulseaudio" : "wireplumber";
                _cleanup_free_ char *one = strf("systemctl --user -M %s@ restart %s", l->items[i].user, unit);
                if (!one || (!strv_contains(cmds, one) && strv_extend(&cmds, one) < 0))
                        return NULL;
        }
        _cleanup_free_ char *all = strv_join(cmds, " && ");
        /* -M USER@ came with systemd 248. */
        return all ? strf("as root: %s (before systemd 248: systemctl --user restart, as that user)", all) : NULL;
}

/* One ALSA card of the GPU (FUNCTION/sound/cardN): who has it open, and
 * whether the sound servers were told to leave it alone. */
static int check_audio_card(Doctor *d, const PciFunction *f, const char *card) {
        _cleanup_free_ char *syspath = strf("%s/sound/%s", f->syspath, card), *trigger = NULL, *list = NULL, *apply = NULL;
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        _cleanup_strv_free_ char **shown = calloc(1, sizeof(char *));
        _cleanup_(holder_list_donep) HolderList holders = {};
        bool hide = d->config->hide_gpu_audio, rule = hide && audio_rule_installed(d), ignored = false;
        int r;

        if (!syspath || !shown || !(trigger = strf("udevadm trigger --action=change /sys/class/sound/%s", card)))
                return -ENOMEM;
        _cleanup_(udev_device_unrefp) struct udev_device *dev = udev_device_new_from_syspath(d->udev, syspath);
        ignored = dev && udev_device_get_property_value(dev, "ACP_IGNORE");
        if ((r = device_nodes_below(syspath, f->address_str, NODE_FUNCTION, &nodes)) < 0)
                return r;
        for (size_t i = 0; i < nodes.n; i++) {
                _cleanup_free_ char *p = dev_display(nodes.items[i].path);
                if (!p || strv_extend(&shown, p) < 0)
                        return -ENOMEM;
        }
        strv_sort(shown);
        if (!(list = strv_join(shown, ", ")))
                return -ENOMEM;
        if ((r = holders_scan(proc_dir(d), &nodes, &holders)) < 0)
                return log_error_errno(r, "Failed to look for processes using %s: %m", card);

        /* What makes the switch take effect from where it stands; NULL: it has. */
        if (!hide)
                apply = strf("HideGpuAudio=yes under [Desktop] in %s (PipeWire, WirePlumber and PulseAudio then leave %s alone), "
                             "then: %s", d->config_path, card, trigger);
        else if (!rule)
                apply = strf("make install, which puts " AUDIO_RULE " (HideGpuAudio=yes needs it) in udev's rules directory, "
                             "then: udevadm control --reload && %s", trigger);
        else if (!ignored)
                apply = strf("udevadm control --reload && %s (" AUDIO_RULE " then sets ACP_IGNORE and PULSE_IGNORE on it)", trigger);
        if ((!hide || !rule || !ignored) && !apply)
                return -ENOMEM;

        _cleanup_free_ bool *servers = calloc(holders.n + 1, sizeof(bool)), *others = calloc(holders.n + 1, sizeof(bool));
        bool any_server = false, any_other = false;
        if (!servers || !others)
                return -ENOMEM;
        for (size_t i = 0; i < holders.n; i++) {
                servers[i] = is_sound_server(holders.items[i].comm);
                others[i] = !servers[i];
                any_server = any_server || servers[i];
                any_other = any_other || others[i];
        }

        if (any_server) {
                _cleanup_free_ char *who = holders_text(&holders, servers), *restart = sound_server_restart(&holders, servers);
                _cleanup_free_ char *fix = !who || !restart ? NULL :
                        apply ? strf("%s; and %s", apply, restart) :
                                strf("%s (it opened %s before HideGpuAudio=yes took effect)", restart, card);
                if (!fix)
                        return -ENOMEM;
                if ((r = check_add(d, "gpu-audio", CHECK_WARN, fix,
                                   "audio: the sound server has the GPU's %s (HDMI audio) open, vfiod refuses meanwhile: %s",
                                   card, who)) < 0)
                        return r;
        }
        if (any_other) {
                _cleanup_free_ char *who = holders_text(&holders, others);
                if (!who)
                        return -ENOMEM;
                if ((r = check_add(d, "gpu-audio", CHECK_WARN, "quit them before the VM starts, or start it with: vfioctl start --drain",
                                   "audio: in use (vfiod refuses to take it meanwhile): %s", who)) < 0)
                        return r;
        }
        if (any_server || any_other)
                return 0;
        if (hide && apply)
                return check_add(d, "gpu-audio", CHECK_WARN, apply,
                                 "audio: HideGpuAudio=yes, but %s has no ACP_IGNORE: the sound servers open it when they start", card);
        if (hide)
                return check_add(d, "gpu-audio", CHECK_PASS, NULL,
                                 "audio: the sound servers leave the GPU's %s alone (HideGpuAudio=yes), nobody uses %s", card, list);
        return check_add(d, "gpu-audio", CHECK_PASS, NULL, "audio: nobody uses the GPU's %s (%s)", card, list);
}

static int check_audio(Doctor *d) {
        size_t before = d->n_checks;
        int r;

        for (size_t i = 0; i < d->gpu->n_functions; i++) {
                const PciFunction *f = &d->gpu->functions[i];
                _cleanup_strv_free_ char **cards = NULL;
                if (f->role != ROLE_GPU || !f->syspath)
                        continue;
                if ((r = function_sound_cards(f, &cards)) < 0)
                        return r;
                STRV_FOREACH(c, cards)
                        if ((r = check_audio_card(d, f, *c)) < 0)
                                return r;
        }
        if (d->n_checks > before)
                return 0;
        return check_add(d, "gpu-audio", CHECK_PASS, NULL, "audio: the GPU has no sound card");
}

/* fbcon's vtconsole when it is bound ("(M) frame buffer device", bind 1):
 * its bind file, without the root. */
static int fbcon_vtconsole(const Doctor *d, char **ret) {
        _cleanup_free_ char *dir = root_path(d, "/sys/class/vtconsole");
        struct dirent **list = NULL;
        int n = dir ? scandir(dir, &list, NULL, alphasort) : -1, r = 0;

        *ret = NULL;
        if (!dir)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *name = NULL, *bind = NULL, *p = NULL, *q = NULL;
                if (r == 0 && startswith(list[i]->d_name, "vtcon") &&
                    (p = strf("%s/%s/name", dir, list[i]->d_name)) && (q = strf("%s/%s/bind", dir, list[i]->d_name)) &&
                    read_one_line_file(p, &name) >= 0 && strstr(name, "frame buffer") &&
                    read_one_line_file(q, &bind) >= 0 && streq(bind, "1"))
                        r = (*ret = strf("/sys/class/vtconsole/%s/bind", list[i]->d_name)) ? 1 : -ENOMEM;
                free(list[i]);
        }
        free(list);
        return r;
}

/* The DIGITS of fbcon=map:DIGITS on the command line (fbcon=map:01,font:VGA8x16 too); NULL: none. */
static int cmdline_fbcon_map(const Doctor *d, char **ret) {
        const char *map = NULL;
        STRV_FOREACH(w, d->cmdline) {
                const char *v = startswith(*w, "fbcon=");
                for (const char *p = v; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                        if (startswith(p, "map:"))
                                map = p + strlen("map:");
        }
        *ret = map ? strndup(map, strcspn(map, ",")) : NULL;
        return map && !*ret ? -ENOMEM : 0;
}

/* The framebuffer number of a DRM or fbdev node path ".../fb1": -1 if it is none. */
static int fb_number(const char *path) {
        const char *base = strrchr(path, '/');
        unsigned fb;
        char end;
        return base && sscanf(base + 1, "fb%u%c", &fb, &end) == 1 && fb < 32 ? (int) fb : -1;
}

/* Are consoles on the GPU's framebuffer fb (its node at path)? 1 yes, 0 no,
 * and how that is known. */
static int fbcon_on_gpu_fb(const char *path, int fb, const char *map, char **ret_why) {
        unsigned console = 0;
        bool on;
        /* The kernel knows; under --root it is not that root's kernel. */
        int r = arg_root ? -ENOTTY : fbcon_on(path, (unsigned) fb, &console);
        if (r >= 0) {
                on = r > 0;
                *ret_why = on ? strf("console %u is on it", console) : strdup("no console is on it");
        } else {
                /* Not readable (not root): the command line's map (fbcon.c:
                 * each character minus '0' names one), else the kernel's default fb0. */
                on = map ? strchr(map, '0' + fb) != NULL : fb == 0;
                *ret_why = map ? strf("fbcon=map:%s on the kernel command line", map) : strdup("the kernel's default map, fb0");
        }
        return *ret_why ? on : -ENOMEM;
}

/* fbcon and the GPU's framebuffers, once, before the command-line fix is
 * built: that fix moves fbcon's map when a console is on one of them. */
static int fbcon_survey(Doctor *d) {
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        _cleanup_free_ char *map = NULL;
        int r;

        d->fbcon_map = d->igpu_fb_number = -1;
        if (!d->gpu)
                return 0;
        if ((r = cmdline_fbcon_map(d, &map)) < 0 || (r = gpu_device_nodes(d->gpu, 1u << NODE_FUNCTION, &nodes)) < 0)
                return r;
        const char *paths[nodes.n + 1];  /* each FbconNode's node, as the kernel names it */
        for (size_t i = 0; i < nodes.n; i++) {
                int fb = fb_number(nodes.items[i].path);
                if (fb < 0)
                        continue;
                FbconNode *t = realloc(d->fbcon_nodes, sizeof(FbconNode) * (d->n_fbcon_nodes + 1));
                if (!t)
                        return -ENOMEM;
                d->fbcon_nodes = t;
                paths[d->n_fbcon_nodes] = nodes.items[i].path;
                FbconNode *n = &d->fbcon_nodes[d->n_fbcon_nodes++];
                *n = (FbconNode) { .node = dev_display(nodes.items[i].path), .fb = fb };
                if (!n->node)
                        return -ENOMEM;
        }
        if (d->n_fbcon_nodes == 0 || (r = fbcon_vtconsole(d, &d->fbcon_bind)) <= 0)
                return r;
        if ((r = first_node_below(d->boot_syspath, "fb", &d->igpu_fb)) < 0)
                return r;
        d->igpu_fb_number = d->igpu_fb ? fb_number(d->igpu_fb) : -1;
        for (size_t i = 0; i < d->n_fbcon_nodes; i++) {
                FbconNode *n = &d->fbcon_nodes[i];
                if ((r = fbcon_on_gpu_fb(paths[i], n->fb, map, &n->why)) < 0)
                        return r;
                n->on = r > 0;
                /* One digit a console: fb10 on would need ':' and later
                 * characters, which GRUB's script may not pass on as they are. */
                if (n->on && d->igpu_fb_number >= 0 && d->igpu_fb_number <= 9)
                        d->fbcon_map = d->igpu_fb_number;
        }
        return 0;
}

static int check_fbcon(Doctor *d) {
        int k = d->igpu_fb_number, r;

        if (d->n_fbcon_nodes == 0)
                return check_add(d, "fbcon", CHECK_PASS, NULL, "console: the GPU has no framebuffer");
        if (!d->fbcon_bind)
                return check_add(d, "fbcon", CHECK_PASS, NULL,
                                 "console: fbcon is not bound (/sys/class/vtconsole), it holds no framebuffer");
        for (size_t i = 0; i < d->n_fbcon_nodes; i++) {
                const FbconNode *n = &d->fbcon_nodes[i];
                _cleanup_free_ char *fix = NULL;
                if (!n->on) {
                        if ((r = check_add(d, "fbcon", CHECK_PASS, NULL, "console: fbcon is bound, not on the GPU's %s (%s)",
                                           n->node, strna(n->why))) < 0)
                                return r;
                        continue;
                }
                /* Framebuffer numbers follow the order in which drivers probe. */
                fix = d->fbcon_map >= 0 ?
                        strf("echo 0 > %s now (every text console goes dark); for good, fbcon=map:%d, the iGPU's %s "
                             "(while its driver probes before the GPU's, as from the initramfs): %s",
                             d->fbcon_bind, k, d->igpu_fb, d->grub_fix) :
                      d->igpu_fb ?
                        strf("echo 0 > %s, at every boot (every text console goes dark): fbcon=map: would name the iGPU's "
                             "%s by the character '%c', which the boot loader's script may not pass on", d->fbcon_bind,
                             d->igpu_fb, '0' + k) :
                        strf("echo 0 > %s now (every text console goes dark); for good, fbcon=map:N on the kernel "
                             "command line, N the iGPU's framebuffer (ls /sys/bus/pci/devices/%s/graphics)", d->fbcon_bind,
                             d->boot_address[0] ? d->boot_address : "IGPU");
                if (!fix || (r = check_add(d, "fbcon", CHECK_WARN, fix,
                                           "console: fbcon has the text consoles on the GPU's %s (%s): its unbind would wait for fbcon",
                                           n->node, strna(n->why))) < 0)
                        return fix ? r : -ENOMEM;
        }
        return 0;
}

/* ---- configuration directories ---- */

/* The *.conf files of dirs (NULL-terminated, in priority order) as kmod and
 * systemd read them: a name in an earlier directory hides the same name in
 * later ones (a link to /dev/null masks it), and the files come in the
 * order of their names. Paths without the root. */
static int conf_files_list(const Doctor *d, const char *const *dirs, char ***ret) {
        _cleanup_strv_free_ char **names = calloc(1, sizeof(char *)), **files = calloc(1, sizeof(char *));
        const char *read_dirs[8];
        struct stat seen[ELEMENTSOF(read_dirs)];
        size_t n_dirs = 0;

        if (!names || !files)
                return -ENOMEM;
        for (const char *const *dir = dirs; *dir && n_dirs < ELEMENTSOF(read_dirs); dir++) {
                struct stat st;
                bool dup = false;
                /* /lib is /usr/lib on merged-/usr systems: read it once. */
                if (root_stat(d, *dir, &st) < 0)
                        continue;
                for (size_t i = 0; i < n_dirs; i++)
                        dup = dup || (seen[i].st_dev == st.st_dev && seen[i].st_ino == st.st_ino);
                if (dup)
                        continue;
                seen[n_dirs] = st;
                read_dirs[n_dirs++] = *dir;

                _cleanup_free_ char *p = root_path(d, *dir);
                struct dirent **list = NULL;
                int n = p ? scandir(p, &list, conf_name_filter, alphasort) : -1, r = 0;
                if (!p)
                        return -ENOMEM;
                for (int i = 0; i < n; i++) {
                        if (r >= 0 && !strv_contains(names, list[i]->d_name))
                                r = strv_extend(&names, list[i]->d_name);
                        free(list[i]);
                }
                free(list);
                if (r < 0)
                        return r;
        }
        strv_sort(names);
        /* Each name from the first directory that has it. */
        STRV_FOREACH(name, names)
                for (size_t i = 0; i < n_dirs; i++) {
                        _cleanup_free_ char *path = strf("%s/%s", read_dirs[i], *name), *p = path ? root_path(d, path) : NULL;
                        struct stat st;
                        if (!p)
                                return -ENOMEM;
                        if (lstat(p, &st) < 0)
                                continue;
                        if (strv_extend(&files, path) < 0)
                                return -ENOMEM;
                        break;
                }
        *ret = TAKE_PTR(files);
        return 0;
}

/* ---- EGL and Vulkan: nvidia's ICD in every program ---- */

typedef struct EnvVar {
        char *name, *value, *source;
} EnvVar;

typedef struct Env {
        EnvVar *vars;
        size_t n;
} Env;

static void env_done(Env *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->vars[i].name);
                free(e->vars[i].value);
                free(e->vars[i].source);
        }
        free(e->vars);
        *e = (Env) {};
}

static void env_donep(Env *e) {
        env_done(e);
}

static const EnvVar *env_get(const Env *e, const char *name) {
        for (size_t i = e->n; i > 0; i--)
                if (streq(e->vars[i - 1].name, name))
                        return &e->vars[i - 1];
        return NULL;
}

/* KEY=VALUE lines (/etc/environment, environment.d): "export ", quotes and comments allowed. */
static int env_read_file(const Doctor *d, Env *e, const char *path) {
        _cleanup_free_ char *text = NULL;
        if (root_read(d, path, &text) < 0)
                return 0;
        for (char *p = text, *next; p && *p; p = next) {
                next = strchr(p, '\n');
                if (next)
                        *next++ = 0;
                p += strspn(p, " \t");
                if (startswith(p, "export "))
                        p += strlen("export ");
                char *eq = strchr(p, '=');
                if (*p == '#' || !eq || eq == p)
                        continue;
                *eq = 0;
                char *v = eq + 1;
                size_t l = strlen(v);
                while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t' || v[l - 1] == '\r'))
                        v[--l] = 0;
                if (l >= 2 && (v[0] == '"' || v[0] == '\'') && v[l - 1] == v[0])
                        v[l - 1] = 0, v++;
                EnvVar *t = realloc(e->vars, sizeof(EnvVar) * (e->n + 1));
                if (!t)
                        return -ENOMEM;
                e->vars = t;
                EnvVar *n = &e->vars[e->n++];
                *n = (EnvVar) { .name = strdup(p), .value = strdup(v), .source = strdup(path) };
                if (!n->name || !n->value || !n->source)
                        return -ENOMEM;
        }
        return 0;
}

/* The desktop user: [LookingGlass] User=, else (on this machine, not
 * under --root) the user who ran sudo, the user at seat0, the caller. */
static char *desktop_user_home(const Doctor *d) {
        const char *user = d->config->lg_user && *d->config->lg_user ? d->config->lg_user : NULL;
        if (!arg_root) {
                uid_t uid = getuid();
                struct passwd *pw = NULL;
                if (!user)
                        user = getenv("SUDO_USER");
                if (user && *user)
                        pw = getpwnam(user);
                else if (uid == 0) {
                        /* The person at seat0; not a display manager's greeter. */
                        _cleanup_free_ char *session = NULL, *class = NULL;
                        if (sd_seat_get_active("seat0", &session, &uid) < 0 || sd_session_get_class(session, &class) < 0 ||
                            !streq(class, "user"))
                                uid = 0;
                }
                if (!pw && uid != 0)
                        pw = getpwuid(uid);
                return pw && pw->pw_dir ? strdup(pw->pw_dir) : NULL;
        }
        _cleanup_free_ char *passwd = NULL;
        if (!user || root_read(d, "/etc/passwd", &passwd) < 0)
                return NULL;
        /* name:password:uid:gid:gecos:home:shell */
        for (char *line = passwd, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                char *field[7] = {}, *p = line;
                for (size_t i = 0; i < ELEMENTSOF(field) && p; i++)
                        field[i] = strsep(&p, ":");
                if (field[0] && streq(field[0], user) && field[5] && *field[5])
                        return strdup(field[5]);
        }
        return NULL;
}

/* The session's environment as its files set it: /etc/environment (pam_env,
 * every login), then environment.d as systemd's user manager reads it, the
 * desktop user's ~/.config/environment.d first in priority; a later
 * assignment wins. */
static int session_env(const Doctor *d, Env *e) {
        _cleanup_free_ char *home = desktop_user_home(d), *user_dir = home ? strf("%s/.config/environment.d", home) : NULL;
        const char *dirs[] = { user_dir, "/etc/environment.d", "/run/environment.d", "/usr/local/lib/environment.d",
                               "/usr/lib/environment.d", NULL };
        _cleanup_strv_free_ char **files = NULL;
        int r;

        if (home && !user_dir)
                return -ENOMEM;
        if ((r = env_read_file(d, e, "/etc/environment")) < 0 ||
            (r = conf_files_list(d, user_dir ? dirs : dirs + 1, &files)) < 0)
                return r;
        STRV_FOREACH(f, files)
                if ((r = env_read_file(d, e, *f)) < 0)
                        return r;
        return 0;
}

/* Files in dirs whose names contain what and end in ".json", paths without the root. */
static int find_json(const Doctor *d, const char *const *dirs, const char *what, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (; *dirs; dirs++) {
                _cleanup_free_ char *p = root_path(d, *dirs);
                struct dirent **list = NULL;
                int n = p ? scandir(p, &list, NULL, alphasort) : -1, r = 0;
                if (!p)
                        return -ENOMEM;
                for (int i = 0; i < n; i++) {
                        const char *name = list[i]->d_name;
                        size_t len = strlen(name);
                        if (r >= 0 && strstr(name, what) && len > 5 && streq(name + len - 5, ".json")) {
                                _cleanup_free_ char *f = strf("%s/%s", *dirs, name);
                                r = f ? strv_extend(&l, f) : -ENOMEM;
                        }
                        free(list[i]);
                }
                free(list);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* Does a ':' list of files name one of nvidia's? */
static bool list_names_nvidia(const char *value) {
        return strstr(value, "nvidia") != NULL;
}

/* Does a ',' list of globs match one of files' names? */
static bool globs_match(const char *globs, char **files) {
        _cleanup_free_ char *copy = strdup(globs);
        char *save = NULL;
        if (!copy)
                return false;
        for (char *g = strtok_r(copy, ",", &save); g; g = strtok_r(NULL, ",", &save))
                STRV_FOREACH(f, files)
                        if (fnmatch(g, strrchr(*f, '/') + 1, 0) == 0)
                                return true;
        return false;
}

static const char *const egl_dirs[] = { "/etc/glvnd/egl_vendor.d", "/usr/share/glvnd/egl_vendor.d", NULL };
static const char *const vulkan_dirs[] = { "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d", "/usr/share/vulkan/icd.d", NULL };

/* What keeps programs off nvidia's EGL vendor library: the variable that
 * does, or NULL. */
static int egl_restriction(const Doctor *d, const Env *e, const EnvVar **ret) {
        const EnvVar *v = env_get(e, "__EGL_VENDOR_LIBRARY_FILENAMES");
        *ret = NULL;
        if (v && *v->value) {
                *ret = list_names_nvidia(v->value) ? NULL : v;
                return 0;
        }
        v = env_get(e, "__EGL_VENDOR_LIBRARY_DIRS");
        if (!v || !*v->value)
                return 0;
        /* The listed directories, instead of the default ones: do they hold
         * nvidia's? (A relative one is relative to each program's working
         * directory: no file of the root's.) */
        _cleanup_strv_free_ char **dirs = calloc(1, sizeof(char *)), **found = NULL;
        _cleanup_free_ char *copy = strdup(v->value);
        char *save = NULL;
        int r;
        if (!copy || !dirs)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
                if (*t == '/' && strv_extend(&dirs, t) < 0)
                        return -ENOMEM;
        if ((r = find_json(d, (const char *const *) dirs, "nvidia", &found)) < 0)
                return r;
        *ret = found[0] ? NULL : v;
        return 0;
}

static const EnvVar *vulkan_restriction(const Env *e, char **nvidia) {
        const EnvVar *v = env_get(e, "VK_DRIVER_FILES");
        if (!v || !*v->value)
                v = env_get(e, "VK_ICD_FILENAMES");
        if (v && *v->value)
                return list_names_nvidia(v->value) ? NULL : v;
        if ((v = env_get(e, "VK_LOADER_DRIVERS_SELECT")) && *v->value)
                return globs_match(v->value, nvidia) ? NULL : v;
        if ((v = env_get(e, "VK_LOADER_DRIVERS_DISABLE")) && *v->value) {
                /* Every one of nvidia's disabled. */
                STRV_FOREACH(f, nvidia) {
                        char *one[] = { *f, NULL };
                        if (!globs_match(v->value, one))
                                return NULL;
                }
                return v;
        }
        return NULL;
}

/* The iGPU's Vulkan driver files, ':'-joined (every architecture's); NULL: none found. */
static char *igpu_vulkan_icd(const Doctor *d) {
        _cleanup_(udev_device_unrefp) struct udev_device *dev =
                d->boot_syspath ? udev_device_new_from_syspath(d->udev, d->boot_syspath) : NULL;
        const char *vendor = dev ? udev_device_get_sysattr_value(dev, "vendor") : NULL;
        static const char *const intel[] = { "intel_icd.", "intel_hasvk_icd.", NULL }, *const amd[] = { "radeon_icd.", NULL };
        const char *const *prefixes = !vendor ? NULL : startswith(vendor, "0x8086") ? intel : startswith(vendor, "0x1002") ? amd : NULL;

        for (; prefixes && *prefixes; prefixes++) {
                _cleanup_strv_free_ char **files = NULL, **mine = calloc(1, sizeof(char *));
                if (!mine || find_json(d, vulkan_dirs, *prefixes, &files) < 0)
                        return NULL;
                STRV_FOREACH(f, files)
                        if (startswith(strrchr(*f, '/') + 1, *prefixes) && strv_extend(&mine, *f) < 0)
                                return NULL;
                if (mine[0])
                        return strv_join(mine, ":");
        }
        return NULL;
}

static int check_icd(Doctor *d) {
        _cleanup_strv_free_ char **egl = NULL, **vulkan = NULL, **mesa = NULL;
        _cleanup_free_ char *igpu_icd = NULL;
        _cleanup_(env_donep) Env env = {};
        int r;

        /* Only the host's NVIDIA card on nvidia, with the desktop on another vendor's iGPU. */
        const PciFunction *f = gpu_main_function(d->gpu);
        if (f->vendor != 0x10de || !is_host_module(d, "nvidia"))
                return 0;
        if (d->boot_syspath) {
                _cleanup_(udev_device_unrefp) struct udev_device *dev = udev_device_new_from_syspath(d->udev, d->boot_syspath);
                const char *vendor = dev ? udev_device_get_sysattr_value(dev, "vendor") : NULL;
                if (vendor && startswith(vendor, "0x10de"))
                        return check_add(d, "nvidia-icd", CHECK_PASS, NULL,
                                         "EGL, Vulkan: the boot display is an NVIDIA card too: the desktop needs nvidia's ICD");
        }
        if ((r = find_json(d, egl_dirs, "nvidia", &egl)) < 0 || (r = find_json(d, vulkan_dirs, "nvidia", &vulkan)) < 0 ||
            (r = find_json(d, egl_dirs, "mesa", &mesa)) < 0)
                return r;
        if (!egl[0] && !vulkan[0])
                return check_add(d, "nvidia-icd", CHECK_PASS, NULL,
                                 "EGL, Vulkan: nvidia's ICDs are not installed (glvnd/egl_vendor.d, vulkan/icd.d): "
                                 "programs do not load nvidia's driver by themselves");
        if ((r = session_env(d, &env)) < 0)
                return r;

        if (egl[0]) {
                const EnvVar *v;
                if ((r = egl_restriction(d, &env, &v)) < 0)
                        return r;
                const char *m = mesa[0] ?: "/usr/share/glvnd/egl_vendor.d/50_mesa.json";
                _cleanup_free_ char *fix = v ? NULL :
                        strf("in /etc/environment: __EGL_VENDOR_LIBRARY_FILENAMES=%s, then log in again (a program meant for "
                             "the GPU: __EGL_VENDOR_LIBRARY_FILENAMES=%s PROGRAM)", m, egl[0]);
                r = v ? check_add(d, "nvidia-icd", CHECK_PASS, NULL, "EGL: %s is installed, and %s=%s (%s) keeps programs off it",
                                  egl[0], v->name, v->value, v->source) :
                        fix ? check_add(d, "nvidia-icd", CHECK_WARN, fix,
                                        "EGL: %s makes every EGL program (GTK 4, Electron, Firefox) load nvidia's driver, "
                                        "which opens /dev/nvidia*: vfiod refuses while they run", egl[0]) : -ENOMEM;
                if (r < 0)
                        return r;
        }
        if (vulkan[0]) {
                const EnvVar *v = vulkan_restriction(&env, vulkan);
                _cleanup_free_ char *fix = NULL;
                if (!v) {
                        igpu_icd = igpu_vulkan_icd(d);
                        fix = strf("in /etc/environment: VK_ICD_FILENAMES=%s, then log in again (a program meant for the GPU: "
                                   "VK_ICD_FILENAMES=%s PROGRAM)",
                                   igpu_icd ?: "the iGPU's ICD (/usr/share/vulkan/icd.d/intel_icd.x86_64.json or radeon_icd.x86_64.json)",
                                   vulkan[0]);
                }
                r = v ? check_add(d, "nvidia-icd", CHECK_PASS, NULL, "Vulkan: %s is installed, and %s=%s (%s) keeps programs off it",
                                  vulkan[0], v->name, v->value, v->source) :
                        fix ? check_add(d, "nvidia-icd", CHECK_WARN, fix,
                                        "Vulkan: %s makes every Vulkan program load nvidia's driver, which opens /dev/nvidia*: "
                                        "vfiod refuses while they run", vulkan[0]) : -ENOMEM;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_group(Doctor *d) {
        const Gpu *g = d->gpu;
        _cleanup_free_ char *own = NULL, *foreign = NULL, *bridges = NULL;

        if (g->iommu_group < 0)
                return check_add(d, "iommu-group", CHECK_FAIL, d->grub_fix, "IOMMU group: %s has none", g->address_str);

        for (size_t i = 0; i < g->n_functions; i++) {
                const PciFunction *f = &g->functions[i];
                char **target = f->role == ROLE_GPU ? &own : f->role == ROLE_BRIDGE ? &bridges : &foreign;
                char *n = f->role == ROLE_FOREIGN ?
                        strf("%s%s%s (%s [%04x:%04x], on %s)", strempty(*target), *target ? ", " : "", f->address_str,
                             strna(f->class_name), f->vendor, f->device, f->driver ?: "no driver") :
                        strf("%s%s%s", strempty(*target), *target ? ", " : "", f->address_str);
                if (!n)
                        return -ENOMEM;
                free(*target);
                *target = n;
        }
        if (foreign)
                return check_add(d, "iommu-group", CHECK_FAIL,
                                 "move the GPU to another slot (one whose IOMMU group holds only it), or enable ACS on its upstream port in firmware",
                                 "IOMMU group %d also holds %s: it cannot go to the VM without them", g->iommu_group, foreign);
        return check_add(d, "iommu-group", CHECK_PASS, NULL, "IOMMU group %d: only the GPU's functions (%s)%s%s%s",
                         g->iommu_group, strempty(own), bridges ? " and bridges (" : "", strempty(bridges), bridges ? ")" : "");
}

/* ---- vfio-pci ---- */

static bool modules_list_has_vfio_pci(const char *text) {
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                size_t n = strcspn(p, ":\n");
                const char *base = p;
                for (const char *s = p; s < p + n; s++)
                        if (*s == '/')
                                base = s + 1;
                /* vfio-pci.ko, vfio-pci.ko.xz, .zst ... */
                const char *ko = strstr(base, ".ko");
                if (ko && ko < p + n && ko - base == 8 && (strncmp(base, "vfio-pci", 8) == 0 || strncmp(base, "vfio_pci", 8) == 0))
                        return true;
        }
        return false;
}

static int check_vfio_pci(Doctor *d) {
        struct utsname u;
        _cleanup_free_ char *builtin_path = NULL, *dep_path = NULL, *builtin = NULL, *dep = NULL;

        if (root_exists(d, "/sys/module/vfio_pci"))
                return check_add(d, "vfio-pci", CHECK_PASS, NULL, "vfio-pci: loaded");
        if (uname(&u) < 0)
                return log_error_errno(errno, "uname() failed: %m");
        if (!(builtin_path = strf("/lib/modules/%s/modules.builtin", u.release)) ||
            !(dep_path = strf("/lib/modules/%s/modules.dep", u.release)))
                return -ENOMEM;
        if (root_read(d, builtin_path, &builtin) >= 0 && modules_list_has_vfio_pci(builtin))
                return check_add(d, "vfio-pci", CHECK_PASS, NULL, "vfio-pci: built into kernel %s", u.release);
        if (root_read(d, dep_path, &dep) >= 0 && modules_list_has_vfio_pci(dep))
                return check_add(d, "vfio-pci", CHECK_PASS, NULL, "vfio-pci: a module of kernel %s", u.release);
        return check_add(d, "vfio-pci", CHECK_FAIL,
                         d->debian ? "boot a kernel with CONFIG_VFIO_PCI: apt install linux-image-amd64" :
                                     "boot a kernel with CONFIG_VFIO_PCI: dnf install kernel-modules-core",
                         "vfio-pci: not in /lib/modules/%s (modules.dep, modules.builtin) and not loaded", u.release);
}

/* ---- static binding: modprobe.d, dracut, the command line ---- */

typedef struct FileFindings {
        CheckResult worst;
        char *why;          /* "line 1: ...; line 3: ..." */
        char *lines;        /* sed addresses: "1d;3,4d" */
        unsigned flagged, directives;
} FileFindings;

static int findings_add(FileFindings *f, CheckResult result, unsigned first, unsigned last, const char *why) {
        char *w = strf("%s%sline %u: %s", strempty(f->why), f->why ? "; " : "", first, why);
        char *l = first == last ? strf("%s%s%ud", strempty(f->lines), f->lines ? ";" : "", first) :
                                  strf("%s%s%u,%ud", strempty(f->lines), f->lines ? ";" : "", first, last);
        if (!w || !l) {
                free(w);
                free(l);
                return -ENOMEM;
        }
        free(f->why);
        free(f->lines);
        f->why = w;
        f->lines = l;
        f->flagged++;
        if (result > f->worst)
                f->worst = result;
        return 0;
}

/* One modprobe.d directive (continuations joined). */
static int modprobe_directive(const Doctor *d, char *line, FileFindings *f, unsigned first, unsigned last) {
        _cleanup_strv_free_ char **w = NULL;
        _cleanup_free_ char *why = NULL;
        CheckResult result = CHECK_PASS;

        if (split_whitespace(line, &w) < 0)
                return -ENOMEM;
        size_t n = strv_length(w);
        if (n < 2)
                return 0;
        if (streq(w[0], "options") && is_vfio_pci(w[1])) {
                for (size_t i = 2; i < n && !why; i++) {
                        const char *ids = startswith(w[i], "ids=");
                        if (ids && ids_name_gpu(d->gpu, ids))
                                why = strf("options %s %s binds the GPU to vfio-pci at boot", w[1], w[i]), result = CHECK_FAIL;
                }
        } else if (streq(w[0], "blacklist") && is_host_module(d, w[1])) {
                why = strf("blacklist %s keeps the host driver from loading", w[1]), result = CHECK_FAIL;
        } else if (streq(w[0], "install") && is_host_module(d, w[1]) && n == 3 &&
                   (streq(w[2], "/bin/false") || streq(w[2], "/bin/true") || streq(w[2], "/usr/bin/false") ||
                    streq(w[2], "/usr/bin/true") || streq(w[2], "false") || streq(w[2], "true"))) {
                why = strf("install %s %s keeps the host driver from loading", w[1], w[2]), result = CHECK_FAIL;
        } else if (streq(w[0], "softdep")) {
                for (size_t i = 2; i < n && !why; i++)
                        if (is_vfio_pci(w[i]))
                                why = strf("softdep %s loads vfio-pci before it", w[1]), result = CHECK_WARN;
        } else
                return 0;
        if (result == CHECK_PASS)
                return 0;
        return why ? findings_add(f, result, first, last, why) : -ENOMEM;
}

/* dracut: add_drivers+=" vfio vfio_pci ..." / force_drivers+=... */
static int dracut_directive(char *line, FileFindings *f, unsigned first, unsigned last) {
        _cleanup_strv_free_ char **w = NULL;
        size_t k = strcspn(line, "+= \t");
        const char *rest = line + k;

        if (!(k == strlen("add_drivers") && strncmp(line, "add_drivers", k) == 0) &&
            !(k == strlen("force_drivers") && strncmp(line, "force_drivers", k) == 0))
                return 0;
        rest += strspn(rest, " \t+");
        if (*rest != '=')
                return 0;
        _cleanup_free_ char *value = strdup(rest + 1);
        if (!value)
                return -ENOMEM;
        for (char *p = value; *p; p++)
                if (*p == '"' || *p == '\'')
                        *p = ' ';
        if (split_whitespace(value, &w) < 0)
                return -ENOMEM;
        STRV_FOREACH(m, w)
                if (startswith(*m, "vfio")) {
                        _cleanup_free_ char *why = strf("%.*s loads vfio-pci into the initramfs, before the host driver", (int) k, line);
                        return why ? findings_add(f, CHECK_WARN, first, last, why) : -ENOMEM;
                }
        return 0;
}

static int scan_conf_file(Doctor *d, const char *path, bool dracut, bool *found) {
        _cleanup_free_ char *text = NULL, *joined = NULL;
        FileFindings f = {};
        unsigned lineno = 0, first = 0;
        int r = root_read(d, path, &text);

        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                *found = true;
                return check_add(d, "static-binding", CHECK_WARN, "read it as root: sudo vfioctl doctor",
                                 "static binding: cannot read %s: %s", path, strerror(-r));
        }

        for (char *p = text, *next; p && *p; p = next) {
                next = strchr(p, '\n');
                if (next)
                        *next++ = 0;
                lineno++;
                size_t len = strlen(p);
                bool cont = !dracut && len > 0 && p[len - 1] == '\\';
                if (cont)
                        p[len - 1] = ' ';
                char *j = strf("%s%s", strempty(joined), p);
                if (!j)
                        goto oom;
                free(joined);
                joined = j;
                if (first == 0)
                        first = lineno;
                if (cont && next)
                        continue;

                char *s = joined + strspn(joined, " \t");
                if (*s && *s != '#') {
                        f.directives++;
                        r = dracut ? dracut_directive(s, &f, first, lineno) : modprobe_directive(d, s, &f, first, lineno);
                        if (r < 0)
                                goto oom;
                }
                joined = mfree(joined);
                first = 0;
        }

        if (f.flagged > 0) {
                _cleanup_free_ char *fix = f.flagged == f.directives ?
                        strf("rm %s && %s", path, dracut ? "dracut --force" : regen_initramfs(d)) :
                        strf("sed -i '%s' %s && %s", f.lines, path, dracut ? "dracut --force" : regen_initramfs(d));
                if (!fix)
                        goto oom;
                *found = true;
                r = check_add(d, "static-binding", f.worst, fix, "static binding: %s: %s (" STEP3 ")", path, f.why);
        } else
                r = 0;
        free(f.why);
        free(f.lines);
        return r;
oom:
        free(f.why);
        free(f.lines);
        return -ENOMEM;
}

static int conf_name_filter(const struct dirent *de) {
        size_t l = strlen(de->d_name);
        return de->d_name[0] != '.' && l > 5 && streq(de->d_name + l - 5, ".conf");
}

static int scan_conf_dirs(Doctor *d, const char *const *dirs, bool dracut, bool *found) {
        _cleanup_strv_free_ char **files = NULL;
        int r = conf_files_list(d, dirs, &files);
        STRV_FOREACH(f, files)
                if (r >= 0)
                        r = scan_conf_file(d, *f, dracut, found);
        return r;
}

static int check_static_binding(Doctor *d) {
        static const char *const modprobe_dirs[] = { "/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d",
                                                     "/usr/lib/modprobe.d", "/lib/modprobe.d", NULL };
        static const char *const dracut_dirs[] = { "/etc/dracut.conf.d", "/usr/lib/dracut/dracut.conf.d", NULL };
        _cleanup_free_ char *why = NULL;
        CheckResult worst = CHECK_PASS;
        bool found = false;
        int r;

        if ((r = scan_conf_dirs(d, modprobe_dirs, false, &found)) < 0 ||
            (r = scan_conf_file(d, "/etc/dracut.conf", true, &found)) < 0 ||
            (r = scan_conf_dirs(d, dracut_dirs, true, &found)) < 0)
                return r;

        STRV_FOREACH(w, d->cmdline) {
                _cleanup_free_ char *clean = NULL, *what = NULL;
                int result = word_finding(d, *w, &clean, &what);
                if (result < 0)
                        return result;
                if (result == CHECK_PASS)
                        continue;
                char *n = strf("%s%s%s", strempty(why), why ? "; " : "", what);
                if (!n)
                        return -ENOMEM;
                free(why);
                why = n;
                if (result > (int) worst)
                        worst = (CheckResult) result;
        }
        if (why)
                return check_add(d, "static-binding", worst, d->grub_fix, "static binding: kernel command line: %s (" STEP1 ")", why);
        if (found)
                return 0;
        return check_add(d, "static-binding", CHECK_PASS, NULL,
                         "static binding: none (modprobe.d, dracut, kernel command line): the GPU boots on its host driver");
}

/* ---- libvirt ---- */

/* libvirt prints its errors itself unless told otherwise: they go into our messages. */
static void quiet_error(void *userdata _unused_, virErrorPtr error _unused_) {
}

static const char *libvirt_error(void) {
        virErrorPtr e = sym_virGetLastError();
        return e && e->message ? e->message : "unknown error";
}

static int check_libvirt(Doctor *d) {
        const char *uri = d->config->uri ?: "qemu:///system";
        int r;

        if (dlopen_libvirt() < 0)
                return check_add(d, "libvirt", CHECK_FAIL, "apt-get install libvirt0 (dnf install libvirt-libs)",
                                 "libvirt: cannot load its client library, libvirt.so.0");
        sym_virSetErrorFunc(NULL, quiet_error);
        /* Read-only is all the checks need, and works for users outside the libvirt group. */
        d->conn = sym_virConnectOpenReadOnly(uri);
        if (!d->conn)
                r = check_add(d, "libvirt", CHECK_FAIL, "systemctl enable --now libvirtd",
                              "libvirt: cannot connect to %s: %s", uri, libvirt_error());
        else
                r = check_add(d, "libvirt", CHECK_PASS, NULL, "libvirt: connected to %s", uri);
        if (r < 0)
                return r;

        if (!d->config->domain) {
                _cleanup_free_ char *fix = strf("Domain=NAME under [VM] in %s (virsh list --all names them)", d->config_path);
                return fix ? check_add(d, "domain", CHECK_WARN, fix, "domain: no Domain= in %s: vfiod follows no VM",
                                       d->config_path) : -ENOMEM;
        }
        if (!d->conn)
                return 0;

        d->domain = sym_virDomainLookupByName(d->conn, d->config->domain);
        if (d->domain)
                return check_add(d, "domain", CHECK_PASS, NULL, "domain: %s is defined at %s", d->config->domain, uri);

        virDomainPtr *list = NULL;
        _cleanup_strv_free_ char **names = calloc(1, sizeof(char *));
        int n = sym_virConnectListAllDomains(d->conn, &list, 0);
        for (int i = 0; i < n; i++) {
                if (names && strv_extend(&names, sym_virDomainGetName(list[i])) < 0)
                        names = strv_free(names);
                sym_virDomainFree(list[i]);
        }
        free(list);
        _cleanup_free_ char *known = names ? strv_join(names, ", ") : NULL;
        _cleanup_free_ char *fix = strf("virsh -c %s define DOMAIN.xml, or Domain= one of the defined ones in %s",
                                        uri, d->config_path);
        if (!known || !fix)
                return -ENOMEM;
        return check_add(d, "domain", CHECK_FAIL, fix, "domain: %s is not defined at %s (defined: %s)",
                         d->config->domain, uri, *known ? known : "none");
}

static const PciFunction *gpu_function_at(const Gpu *g, const PciAddress *a) {
        for (size_t i = 0; i < g->n_functions; i++)
                if (memcmp(&g->functions[i].address, a, sizeof(*a)) == 0)
                        return &g->functions[i];
        return NULL;
}

static int check_hostdevs(Doctor *d) {
        _cleanup_free_ char *xml = NULL, *missing = NULL, *missing_xml = NULL, *wrong = NULL, *outside = NULL,
                            *managed = NULL, *fine = NULL;
        _cleanup_free_ Hostdev *hostdevs = NULL;
        const char *name = d->config->domain ?: "the domain";
        const Gpu *g = d->gpu;
        size_t n = 0;
        int r;

        if (arg_domain_xml) {
                r = read_full_file(arg_domain_xml, &xml, NULL);
                if (r < 0)
                        return check_add(d, "hostdevs", CHECK_FAIL, "give --domain-xml a readable file: virsh dumpxml DOMAIN > FILE",
                                         "hostdevs: cannot read %s: %s", arg_domain_xml, strerror(-r));
        } else if (d->domain) {
                char *x = sym_virDomainGetXMLDesc(d->domain, VIR_DOMAIN_XML_INACTIVE);
                if (!x)
                        return check_add(d, "hostdevs", CHECK_FAIL, "systemctl restart libvirtd",
                                         "hostdevs: cannot read the XML of %s: %s", name, libvirt_error());
                xml = x;
        } else
                return 0;

        r = domain_xml_hostdevs(xml, &hostdevs, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return check_add(d, "hostdevs", CHECK_FAIL, "virsh dumpxml DOMAIN > FILE",
                                 "hostdevs: %s is not a libvirt domain XML", arg_domain_xml ?: name);

        for (size_t i = 0; i < g->n_functions; i++) {
                const PciFunction *f = &g->functions[i];
                bool present = false;
                if (f->role != ROLE_GPU)
                        continue;
                for (size_t j = 0; j < n; j++)
                        present = present || memcmp(&hostdevs[j].address, &f->address, sizeof(f->address)) == 0;
                if (present)
                        r = append(&fine, ", ", "%s", f->address_str);
                else if ((r = append(&missing, ", ", "%s (%s)", f->address_str, strna(f->class_name))) >= 0)
                        r = append(&missing_xml, "",
                                   "<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x%04x' "
                                   "bus='0x%02x' slot='0x%02x' function='0x%x'/></source></hostdev>",
                                   f->address.domain, f->address.bus, f->address.slot, f->address.function);
                if (r < 0)
                        return r;
        }
        for (size_t j = 0; j < n; j++) {
                const PciFunction *f = gpu_function_at(g, &hostdevs[j].address);
                r = 0;
                if (!f)
                        r = append(&outside, ", ", "%s", hostdevs[j].address_str);
                else if (f->role != ROLE_GPU)
                        r = append(&wrong, ", ", "%s (%s, %s)", f->address_str, strna(f->class_name),
                                   f->role == ROLE_BRIDGE ? "a bridge" : "not the GPU's");
                else if (hostdevs[j].managed)
                        r = append(&managed, ", ", "%s", f->address_str);
                if (r < 0)
                        return r;
        }

        size_t before = d->n_checks;
        if (missing) {
                _cleanup_free_ char *fix = strf("in <devices> of %s (virsh edit %s): %s", name, name, missing_xml);
                if (!fix || (r = check_add(d, "hostdevs", CHECK_FAIL, fix, "hostdevs: %s lacks %s of the GPU's IOMMU group %d",
                                           name, missing, g->iommu_group)) < 0)
                        return fix ? r : -ENOMEM;
        }
        if (wrong) {
                _cleanup_free_ char *fix = strf("remove their <hostdev> from %s (virsh edit %s)", name, name);
                if (!fix || (r = check_add(d, "hostdevs", CHECK_FAIL, fix, "hostdevs: %s passes through %s of the GPU's IOMMU group",
                                           name, wrong)) < 0)
                        return fix ? r : -ENOMEM;
        }
        if (outside) {
                _cleanup_free_ char *fix = strf("keep them on vfio-pci yourself, or remove their <hostdev> from %s (virsh edit %s)",
                                                name, name);
                if (!fix || (r = check_add(d, "hostdevs", CHECK_WARN, fix,
                                           "hostdevs: %s also passes through %s, which vfiod does not hand over", name, outside)) < 0)
                        return fix ? r : -ENOMEM;
        }
        if (managed) {
                _cleanup_free_ char *fix = strf("managed='no' on the <hostdev> of %s (virsh edit %s): vfiod hands the GPU over in the prepare hook",
                                                managed, name);
                if (!fix || (r = check_add(d, "hostdevs", CHECK_WARN, fix,
                                           "hostdevs: %s has managed='yes' for %s: libvirt would detach and reattach it behind vfiod's back",
                                           name, managed)) < 0)
                        return fix ? r : -ENOMEM;
        }
        if (d->n_checks > before)
                return 0;
        return check_add(d, "hostdevs", CHECK_PASS, NULL, "hostdevs: %s passes through the GPU's IOMMU group %d: %s, managed='no'",
                         name, g->iommu_group, strempty(fine));
}

/* ---- the hook, the service, Looking Glass ---- */

static int check_hook(Doctor *d) {
        struct stat st;
        int r = root_stat(d, HOOK_PATH, &st);

        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return check_add(d, "hook", CHECK_FAIL, "vfioctl install-hooks",
                                 "libvirt hook: %s is missing: vfiod would not hand the GPU over when the VM starts", HOOK_PATH);
        if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                return check_add(d, "hook", CHECK_FAIL, "vfioctl install-hooks",
                                 "libvirt hook: %s is not an executable file", HOOK_PATH);
        return check_add(d, "hook", CHECK_PASS, NULL, "libvirt hook: %s", HOOK_PATH);
}

static int check_service(Doctor *d) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *active = NULL;
        const char *file_state = NULL, *path = NULL;
        const char *fix = "systemctl enable --now " SERVICE;
        int r;

        if (!root_exists(d, "/run/systemd/system"))
                return check_add(d, "service", CHECK_WARN, fix, "vfiod.service: not running under systemd, not checked");

        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                       "org.freedesktop.systemd1.Manager", "GetUnitFileState", &error, &reply, "s", SERVICE);
        if (r >= 0)
                r = sd_bus_message_read(reply, "s", &file_state);
        if (r < 0) {
                bool missing = sd_bus_error_has_name(&error, "org.freedesktop.DBus.Error.FileNotFound") ||
                               sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit");
                r = missing ? check_add(d, "service", CHECK_FAIL, "make install && systemctl enable --now " SERVICE,
                                        "vfiod.service: not installed") :
                              check_add(d, "service", CHECK_WARN, fix, "vfiod.service: cannot ask systemd: %s",
                                        error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        /* file_state points into reply: keep it, take a second reply for LoadUnit. */
        _cleanup_free_ char *state = strdup(file_state);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *unit = NULL;
        if (!state)
                return -ENOMEM;
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "LoadUnit", &error, &unit, "s", SERVICE);
        if (r >= 0)
                r = sd_bus_message_read(unit, "o", &path);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
                                               "ActiveState", &error, &active);
        if (r < 0) {
                r = check_add(d, "service", CHECK_WARN, fix, "vfiod.service: cannot ask systemd: %s",
                              error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        bool enabled = streq(state, "enabled") || streq(state, "static") || streq(state, "alias");
        if (enabled && streq(active, "active"))
                return check_add(d, "service", CHECK_PASS, NULL, "vfiod.service: %s and %s", state, active);
        return check_add(d, "service", CHECK_FAIL, fix, "vfiod.service: %s and %s", state, active);
}

static int check_looking_glass(Doctor *d) {
        /* lg-test needs the VM running: the doctor only points to it. */
        return check_add(d, "looking-glass", CHECK_WARN, "vfioctl lg-test",
                         "Looking Glass: not checked here; run lg-test for Looking Glass");
}

/* ---- host modules: what has to load at boot ---- */

static int host_modules_collect(Doctor *d) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        int r = 0;

        if (!l)
                return -ENOMEM;
        if (d->config->host_driver)
                r = strv_extend(&l, d->config->host_driver);
        STRV_FOREACH(m, d->config->host_modules)
                if (r >= 0)
                        r = strv_extend(&l, *m);
        for (size_t i = 0; d->gpu && i < d->gpu->n_functions && r >= 0; i++) {
                const PciFunction *f = &d->gpu->functions[i];
                if (f->role == ROLE_GPU && f->driver && !is_vfio_pci(f->driver))
                        r = strv_extend(&l, f->driver);
        }
        if (r < 0)
                return r;
        STRV_FOREACH(m, l)
                module_normalize(*m);

        /* Nothing known (the GPU sits on vfio-pci at boot): the usual stack of its vendor. */
        static const char *const nvidia[] = { "nvidia", "nvidia_drm", "nvidia_modeset", "nvidia_uvm", NULL };
        const char *const *extra = NULL;
        if (strv_contains(l, "nvidia"))
                extra = nvidia;
        else if (!l[0] && d->gpu) {
                unsigned vendor = gpu_main_function(d->gpu)->vendor;
                static const char *const amd[] = { "amdgpu", NULL }, *const intel[] = { "i915", "xe", NULL };
                extra = vendor == 0x10de ? nvidia : vendor == 0x1002 ? amd : vendor == 0x8086 ? intel : NULL;
        }
        for (; extra && *extra; extra++)
                if (!strv_contains(l, *extra) && strv_extend(&l, *extra) < 0)
                        return -ENOMEM;
        d->host_modules = TAKE_PTR(l);
        return 0;
}

/* ---- output, options ---- */

static int print_json(const Doctor *d) {
        static const char *results[] = { [CHECK_PASS] = "pass", [CHECK_WARN] = "warn", [CHECK_FAIL] = "fail" };
        JsonWriter w = JSON_WRITER_INIT(stdout);
        json_begin_object(&w);
        json_key(&w, "checks");
        json_begin_array(&w);
        for (size_t i = 0; i < d->n_checks; i++) {
                const Check *c = &d->checks[i];
                json_begin_object(&w);
                json_key(&w, "name");
                json_string(&w, c->name);
                json_key(&w, "result");
                json_string(&w, results[c->result]);
                json_key(&w, "message");
                json_string(&w, c->message);
                json_key(&w, "fix");
                json_string(&w, c->fix);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_key(&w, "failed");
        json_unsigned(&w, d->n_failed);
        json_key(&w, "warned");
        json_unsigned(&w, d->n_warned);
        json_end_object(&w);
        putchar('\n');
        return json_writer_finish(&w);
}

static void help(void) {
        printf("vfioctl doctor [OPTIONS]\n\n"
               "Check this workstation against what vfiod needs: the IOMMU, the display on\n"
               "the iGPU and the desktop off the GPU (compositor, sound server, fbcon,\n"
               "nvidia's EGL and Vulkan ICDs), the GPU's IOMMU group, vfio-pci, no static\n"
               "vfio binding, libvirt, the domain's hostdevs, the libvirt hook and\n"
               "vfiod.service. Every WARN and FAIL is followed by its fix.\n\n"
               "  -c --config=FILE     Configuration file (default: " VFIOD_CONFIG_FILE ")\n"
               "  -g --gpu=ADDRESS     The GPU's PCI address (default: as vfioctl finds it)\n"
               "     --root=DIR        Read /proc, /etc, /usr, /lib, /run, /home, /boot and /sys/firmware,\n"
               "                       /sys/kernel, /sys/module, /sys/class/vtconsole under DIR (the PCI\n"
               "                       devices, their nodes and udev properties are this machine's)\n"
               "     --domain-xml=FILE The domain's XML from FILE instead of libvirt\n"
               "     --json            One JSON object: {\"checks\":[...],\"failed\":N,\"warned\":N}\n"
               "  -h --help            Show this help\n\n"
               "Exit status: 0 nothing failed, 1 a check failed, 2 bad usage.\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_ROOT = 0x100, ARG_DOMAIN_XML, ARG_JSON };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "gpu", required_argument, NULL, 'g' },
                { "root", required_argument, NULL, ARG_ROOT },
                { "domain-xml", required_argument, NULL, ARG_DOMAIN_XML },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        PciAddress a;
        struct stat st;
        int c;

        optind = 0; /* vfioctl's own getopt may have run; 0 also resets glibc's state */
        while ((c = getopt_long(argc, argv, "c:g:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 'g':
                        if (pci_address_parse(optarg, &a) < 0) {
                                log_error("--gpu=%s is not a PCI address (expected e.g. 0000:01:00.0).", optarg);
                                return -EINVAL;
                        }
                        arg_gpu = optarg;
                        break;
                case ARG_ROOT:
                        if (stat(optarg, &st) < 0 || !S_ISDIR(st.st_mode)) {
                                log_error("--root=%s is not a directory.", optarg);
                                return -EINVAL;
                        }
                        arg_root = optarg;
                        break;
                case ARG_DOMAIN_XML:
                        arg_domain_xml = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s' (see vfioctl doctor --help).", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int doctor_run(Doctor *d) {
        _cleanup_free_ char *cmdline = NULL;
        int r;

        if (config_load(d->config_path, &d->config) < 0) {
                _cleanup_free_ char *fix = strf("correct the line named above in %s", d->config_path);
                if (!fix || (r = check_add(d, "config", CHECK_FAIL, fix, "configuration: %s is invalid; going on with defaults",
                                           d->config_path)) < 0)
                        return fix ? r : -ENOMEM;
                if (!(d->config = config_new()))
                        return -ENOMEM;
        }
        d->debian = root_exists(d, "/etc/debian_version");
        /* ostree's deployments have entries too, and no grubby; systemd-boot's neither. */
        d->boot_loader = root_exists(d, "/run/ostree-booted") ? BOOT_OSTREE :
                         !root_exists(d, "/boot/loader/entries") ? BOOT_GRUB :
                         root_exists(d, "/usr/sbin/grubby") || root_exists(d, "/usr/bin/grubby") ? BOOT_GRUBBY : BOOT_ENTRIES;
        if ((r = root_read(d, "/proc/cmdline", &cmdline)) < 0)
                log_warning_errno(r, "Cannot read %s/proc/cmdline, taking it as empty: %m", d->root);
        if ((r = split_whitespace(cmdline, &d->cmdline)) < 0)
                return r;
        if (!(d->udev = udev_new()) || !(d->proc = root_path(d, "/proc")))
                return -ENOMEM;

        /* The GPU first: the command-line fix leaves its host modules alone,
         * and moves fbcon's consoles off it. */
        if ((r = check_gpu(d)) < 0 || (r = host_modules_collect(d)) < 0)
                return r;
        if (d->gpu && (d->boot_found = find_igpu(d, d->boot_address, &d->boot_syspath)) < 0)
                return d->boot_found;
        if ((r = fbcon_survey(d)) < 0 || (r = grub_fix_build(d)) < 0 || (r = check_iommu(d)) < 0)
                return r;
        if (d->gpu && ((r = check_display(d)) < 0 || (r = check_audio(d)) < 0 || (r = check_fbcon(d)) < 0 ||
                       (r = check_icd(d)) < 0 || (r = check_group(d)) < 0))
                return r;
        if ((r = check_vfio_pci(d)) < 0 || (r = check_static_binding(d)) < 0 || (r = check_libvirt(d)) < 0)
                return r;
        if (d->gpu && (r = check_hostdevs(d)) < 0)
                return r;
        if ((r = check_hook(d)) < 0 || (r = check_service(d)) < 0 || (r = check_looking_glass(d)) < 0)
                return r;
        return 0;
}

int doctor_main(int argc, char *argv[]) {
        Doctor d = {};
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        d.root = arg_root ?: "";
        d.config_path = arg_config;
        r = doctor_run(&d);
        if (r < 0) {
                log_error_errno(r, "The checks failed: %m");
                doctor_done(&d);
                return 1;
        }
        if (arg_json) {
                r = print_json(&d);
                if (r < 0) {
                        log_error_errno(r, "Cannot write the checks as JSON: %m");
                        doctor_done(&d);
                        return 1;
                }
        } else
                printf("%zu checks: %zu failed, %zu warned\n", d.n_checks, d.n_failed, d.n_warned);
        r = d.n_failed > 0 ? 1 : 0;
        doctor_done(&d);
        return r;
}
