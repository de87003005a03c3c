/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfioctl doctor: the workstation against what vfiod needs. Each check is
 * one line, PASS, WARN or FAIL, and a WARN or FAIL carries the exact fix. */
#include "doctor.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <libudev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "config.h"
#include "domain-xml.h"
#include "fileio.h"
#include "gpu.h"
#include "holders.h"
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

typedef struct Doctor {
        const char *root;        /* "" without --root */
        const char *config_path;
        Config *config;
        struct udev *udev;
        Gpu *gpu;                /* NULL: none found */
        char **cmdline;          /* words of /proc/cmdline */
        char **host_modules;     /* what has to load at boot: the GPU's host drivers, '_' for '-' */
        char *grub_fix;
        bool debian;
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
}

/* ---- small helpers ---- */

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

static bool cmdline_has(const Doctor *d, const char *word) {
        return strv_contains(d->cmdline, word);
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

/* One GRUB variable's value, rewritten: static binding and iommu=off gone,
 * add (a NULL-terminated list) appended where missing. */
static char *grub_rewrite(const Doctor *d, const char *value, const char *const *add) {
        _cleanup_strv_free_ char **words = NULL, **out = calloc(1, sizeof(char *));
        if (!out || split_whitespace(value, &words) < 0)
                return NULL;
        STRV_FOREACH(w, words) {
                _cleanup_free_ char *clean = NULL, *why = NULL;
                if (word_turns_iommu_off(*w))
                        continue;
                if (word_finding(d, *w, &clean, &why) < 0 || (clean && strv_extend(&out, clean) < 0))
                        return NULL;
        }
        for (const char *const *a = add; a && *a; a++)
                if (!strv_contains(out, *a) && strv_extend(&out, *a) < 0)
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

/* The fix for everything on the command line: the GRUB lines to write, then
 * the regeneration, as the installation's step 1 says. */
static int grub_fix_build(Doctor *d) {
        _cleanup_free_ char *text = NULL, *linux_v = NULL, *def_v = NULL, *new_linux = NULL, *new_def = NULL;
        const char *want[] = { iommu_word(d), "iommu=pt" }, *add[ELEMENTSOF(want) + 1] = {};
        size_t n_add = 0;

        (void) root_read(d, "/etc/default/grub", &text);
        linux_v = grub_value(text, "GRUB_CMDLINE_LINUX");
        def_v = grub_value(text, "GRUB_CMDLINE_LINUX_DEFAULT");
        /* Set in either variable counts. */
        _cleanup_strv_free_ char **def_words = NULL;
        if (split_whitespace(def_v, &def_words) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                if (!strv_contains(def_words, want[i]))
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

/* The boot display among all display controllers: its address and syspath. */
static int find_boot_display(Doctor *d, char address[static PCI_ADDRESS_STRLEN], char **ret_syspath) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = udev_enumerate_new(d->udev);
        struct udev_list_entry *i;

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
                    !bv || !streq(bv, "1") || pci_address_parse(slot, &a) < 0)
                        continue;
                pci_address_format(&a, address);
                *ret_syspath = strdup(udev_device_get_syspath(dev));
                return *ret_syspath ? 1 : -ENOMEM;
        }
        return 0;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

static const char *const desktop_programs[] = {
        "Xorg", "X", "Xwayland", "gnome-shell", "mutter", "kwin_wayland", "kwin_x11", "plasmashell", "sway",
        "Hyprland", "weston", "labwc", "wayfire", "river", "niri", "cosmic-comp", "gamescope", "gdm",
        "gdm-x-session", "gdm-wayland-session", "sddm", "sddm-greeter", "lightdm", "cage", "kmscon",
};

static bool is_desktop(const char *comm) {
        /* comm is cut at 15 characters: "gdm-wayland-ses". */
        for (size_t i = 0; i < ELEMENTSOF(desktop_programs); i++)
                if (strlen(desktop_programs[i]) > 15 ? strlen(comm) == 15 && strncmp(comm, desktop_programs[i], 15) == 0 :
                                                       streq(comm, desktop_programs[i]))
                        return true;
        return false;
}

static bool is_dri_node(const char *path) {
        return startswith(path, "/dev/dri/");
}

static int check_display(Doctor *d) {
        char boot[PCI_ADDRESS_STRLEN] = "";
        _cleanup_free_ char *boot_syspath = NULL, *igpu_node = NULL, *users = NULL, *fix = NULL, *proc = NULL;
        _cleanup_device_nodes_ DeviceNodeList nodes = {};
        _cleanup_strv_free_ char **dri = calloc(1, sizeof(char *));
        const char *display_fix = "set the iGPU as primary display in firmware, plug monitors into it";
        HolderList holders = {};
        int r;

        if (!dri)
                return -ENOMEM;
        r = find_boot_display(d, boot, &boot_syspath);
        if (r < 0)
                return r;
        if (gpu_main_function(d->gpu)->boot_vga)
                r = check_add(d, "boot-display", CHECK_FAIL, display_fix,
                              "display: the GPU %s is the boot display", d->gpu->address_str);
        else if (r == 0)
                r = check_add(d, "boot-display", CHECK_FAIL, display_fix,
                              "display: no boot display besides the GPU %s (is the iGPU off?)", d->gpu->address_str);
        else
                r = check_add(d, "boot-display", CHECK_PASS, NULL, "display: the boot display is %s, not the GPU", boot);
        if (r < 0)
                return r;

        /* Only the GPU's DRM nodes: a desktop on them holds the GPU for good. */
        if ((r = gpu_device_nodes(d->gpu, 1u << NODE_FUNCTION, &nodes)) < 0)
                return r;
        for (size_t i = 0; i < nodes.n; i++)
                if (is_dri_node(nodes.items[i].path) && strv_extend(&dri, nodes.items[i].path) < 0)
                        return -ENOMEM;
        qsort(dri, strv_length(dri), sizeof(char *), cmp_strp);
        if (!dri[0])
                return check_add(d, "gpu-users", CHECK_PASS, NULL, "display: the GPU has no DRM nodes, nobody draws on it");

        if (!(proc = arg_root ? root_path(d, "/proc") : strdup("/proc")))
                return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < nodes.n; i++)
                if (is_dri_node(nodes.items[i].path))
                        nodes.items[k++] = nodes.items[i];
                else {
                        free(nodes.items[i].path);
                        free(nodes.items[i].fs_path);
                }
        nodes.n = k;
        r = holders_scan(proc, &nodes, &holders);
        if (r < 0)
                return log_error_errno(r, "Failed to look for processes using %s: %m", dri[0]);

        bool desktop = false;
        for (size_t i = 0; i < holders.n; i++)
                desktop = desktop || is_desktop(holders.items[i].comm);
        users = holders_format(&holders);
        holder_list_done(&holders);
        if (!users)
                return -ENOMEM;
        if (!*users) {
                _cleanup_free_ char *list = strv_join(dri, ", ");
                return list ? check_add(d, "gpu-users", CHECK_PASS, NULL, "display: nobody uses %s", list) : -ENOMEM;
        }

        if (boot_syspath) {
                _cleanup_device_nodes_ DeviceNodeList inodes = {};
                PciFunction f = { .syspath = boot_syspath, .role = ROLE_GPU };
                Gpu igpu = { .functions = &f, .n_functions = 1, .iommu_group = -1 };
                if (gpu_device_nodes(&igpu, 1u << NODE_FUNCTION, &inodes) >= 0)
                        for (size_t i = 0; i < inodes.n; i++) {
                                const char *base = strrchr(inodes.items[i].path, '/');
                                if (is_dri_node(inodes.items[i].path) && base && startswith(base, "/card") &&
                                    !igpu_node && !(igpu_node = strdup(inodes.items[i].path)))
                                        return -ENOMEM;
                        }
        }
        if (desktop)
                fix = strf("run the desktop on the iGPU only: WLR_DRM_DEVICES=%s for sway and other wlroots compositors, "
                           "or a udev rule SUBSYSTEM==\"drm\", KERNELS==\"%s\", TAG+=\"mutter-device-ignore\" for GNOME; "
                           "then log in again",
                           igpu_node ?: "/dev/dri/cardN (the iGPU's)", d->gpu->address_str);
        else
                fix = strf("quit them before the VM starts, or start it with: vfioctl start --drain");
        if (!fix)
                return -ENOMEM;
        return check_add(d, "gpu-users", desktop ? CHECK_FAIL : CHECK_WARN, fix,
                         desktop ? "display: the desktop runs on the GPU: %s" : "display: in use (vfiod refuses to take it meanwhile): %s",
                         users);
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

/* dirs in priority order: a name in an earlier one hides the same name in later ones. */
static int scan_conf_dirs(Doctor *d, const char *const *dirs, bool dracut, bool *found) {
        _cleanup_strv_free_ char **seen = calloc(1, sizeof(char *));
        struct stat seen_dirs[8];
        size_t n_seen_dirs = 0;
        int r = 0;

        if (!seen)
                return -ENOMEM;
        for (const char *const *dir = dirs; *dir && r >= 0; dir++) {
                struct stat st;
                bool dup = false;
                /* /lib is /usr/lib on merged-/usr systems: read it once. */
                if (root_stat(d, *dir, &st) < 0)
                        continue;
                for (size_t i = 0; i < n_seen_dirs; i++)
                        dup = dup || (seen_dirs[i].st_dev == st.st_dev && seen_dirs[i].st_ino == st.st_ino);
                if (dup || n_seen_dirs >= ELEMENTSOF(seen_dirs))
                        continue;
                seen_dirs[n_seen_dirs++] = st;

                _cleanup_free_ char *p = root_path(d, *dir);
                struct dirent **list = NULL;
                int n = p ? scandir(p, &list, conf_name_filter, alphasort) : -1;
                if (!p)
                        return -ENOMEM;
                for (int i = 0; i < n; i++) {
                        if (r >= 0 && !strv_contains(seen, list[i]->d_name)) {
                                _cleanup_free_ char *path = strf("%s/%s", *dir, list[i]->d_name);
                                r = path && strv_extend(&seen, list[i]->d_name) >= 0 ?
                                        scan_conf_file(d, path, dracut, found) : -ENOMEM;
                        }
                        free(list[i]);
                }
                free(list);
        }
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

static void json_string(const char *s) {
        if (!s) {
                fputs("null", stdout);
                return;
        }
        putchar('"');
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c == '\n')
                        fputs("\\n", stdout);
                else if (c == '\t')
                        fputs("\\t", stdout);
                else if (c < 0x20)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

static void print_json(const Doctor *d) {
        static const char *results[] = { [CHECK_PASS] = "pass", [CHECK_WARN] = "warn", [CHECK_FAIL] = "fail" };
        fputs("{\"checks\":[", stdout);
        for (size_t i = 0; i < d->n_checks; i++) {
                const Check *c = &d->checks[i];
                fputs(i > 0 ? ",{\"name\":" : "{\"name\":", stdout);
                json_string(c->name);
                printf(",\"result\":\"%s\",\"message\":", results[c->result]);
                json_string(c->message);
                fputs(",\"fix\":", stdout);
                json_string(c->fix);
                putchar('}');
        }
        printf("],\"failed\":%zu,\"warned\":%zu}\n", d->n_failed, d->n_warned);
}

static void help(void) {
        printf("vfioctl doctor [OPTIONS]\n\n"
               "Check this workstation against what vfiod needs: the IOMMU, the display on\n"
               "the iGPU, the GPU's IOMMU group, vfio-pci, no static vfio binding, libvirt,\n"
               "the domain's hostdevs, the libvirt hook and vfiod.service. Every WARN and\n"
               "FAIL is followed by its fix.\n\n"
               "  -c --config=FILE     Configuration file (default: " VFIOD_CONFIG_FILE ")\n"
               "  -g --gpu=ADDRESS     The GPU's PCI address (default: as vfioctl finds it)\n"
               "     --root=DIR        Read /proc/cmdline, /etc, /usr/lib, /lib/modules, /run and\n"
               "                       /sys/firmware, /sys/kernel, /sys/module under DIR\n"
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
        if ((r = root_read(d, "/proc/cmdline", &cmdline)) < 0)
                log_warning_errno(r, "Cannot read %s/proc/cmdline, taking it as empty: %m", d->root);
        if ((r = split_whitespace(cmdline, &d->cmdline)) < 0)
                return r;
        if (!(d->udev = udev_new()))
                return -ENOMEM;

        /* The GPU first: the command-line fix leaves its host modules alone. */
        if ((r = check_gpu(d)) < 0 || (r = host_modules_collect(d)) < 0 || (r = grub_fix_build(d)) < 0 ||
            (r = check_iommu(d)) < 0)
                return r;
        if (d->gpu && ((r = check_display(d)) < 0 || (r = check_group(d)) < 0))
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
        if (arg_json)
                print_json(&d);
        else
                printf("%zu checks: %zu failed, %zu warned\n", d.n_checks, d.n_failed, d.n_warned);
        r = d.n_failed > 0 ? 1 : 0;
        doctor_done(&d);
        return r;
}
