/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Users of a GPU's driver that are no process: an unbind waits for them as
 * it waits for open files (fbcon's framebuffer; nvidia's usage count, which
 * persistence mode holds with no fd open; a sound card's PCM stream open
 * through a file that no process vfiod can see has). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "fileio.h"
#include "handoff.h"
#include "holders.h"
#include "log.h"
#include "strv.h"

/* The kernel's MAX_NR_CONSOLES. */
#define MAX_CONSOLES 63

/* Under umockdev's preload /sys is the testbed. */
#define SYSFS "/sys"
static int kernel_holder_add(HolderList *l, const char *what, const char *node, char *fix) {
        _cleanup_free_ char *f = fix;
        Holder *t = realloc(l->items, sizeof(Holder) * (l->n + 1));
        if (!t)
                return -ENOMEM;
        l->items = t;
        l->items[l->n] = (Holder) { .how = HOLD_KERNEL, .kind = NODE_FUNCTION, .user = strdup("kernel"),
                                    .comm = strdup(what), .node = strdup(node), .fix = TAKE_PTR(f) };
        Holder *h = &l->items[l->n++];
        return h->user && h->comm && h->node ? 0 : -ENOMEM;
}

/* The vtconsole that is fbcon, when it is bound ("(M) frame buffer device", bind 1). */
static int fbcon_vtconsole(char **ret) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/class/vtconsole", SYSFS) < 0)
                return -ENOMEM;
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (!startswith(de->d_name, "vtcon"))
                        continue;
                _cleanup_free_ char *p = NULL, *name = NULL, *bind = NULL;
                if (asprintf(&p, "%s/%s/name", dir, de->d_name) < 0)
                        return -ENOMEM;
                if (read_one_line_file(p, &name) < 0 || !strstr(name, "frame buffer"))
                        continue;
                free(p);
                if (asprintf(&p, "%s/%s/bind", dir, de->d_name) < 0)
                        return -ENOMEM;
                if (read_one_line_file(p, &bind) < 0 || !streq(bind, "1"))
                        continue;
                return asprintf(ret, "%s/%s/bind", dir, de->d_name) < 0 ? -ENOMEM : 1;
        }
        return 0;
}

/* Whether a console is on framebuffer index fb: FBIOGET_CON2FBMAP on the
 * framebuffer's node (the map is fbcon's, any fb answers). 1 yes, 0 no,
 * negative: cannot tell. */
int fbcon_on(const char *node, unsigned fb, unsigned *ret_console) {
        _cleanup_close_ int fd = open(node, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return -errno;
        for (unsigned c = 1; c <= MAX_CONSOLES; c++) {
                struct fb_con2fbmap m = { .console = c };
                if (ioctl(fd, FBIOGET_CON2FBMAP, &m) < 0)
                        return -errno;
                if (m.framebuffer == fb) {
                        *ret_console = c;
                        return 1;
                }
        }
        return 0;
}

static int check_fbcon(const DeviceNodeList *nodes, HolderList *l) {
        _cleanup_free_ char *bind = NULL;
        int r = fbcon_vtconsole(&bind);
        if (r <= 0)
                return r;

        for (size_t i = 0; i < nodes->n; i++) {
                const DeviceNode *n = &nodes->items[i];
                const char *base = strrchr(n->path, '/');
                unsigned fb, console = 0;
                char end;
                if (n->kind != NODE_FUNCTION || !base || sscanf(base + 1, "fb%u%c", &fb, &end) != 1)
                        continue;
                r = fbcon_on(n->fs_path, fb, &console);
                if (r == 0)
                        continue;
                /* A map we cannot read is taken for fbcon's: an unbind under it would not return. */
                char *fix = NULL;
                if (r > 0 && asprintf(&fix, "console %u is on it; move the consoles to the iGPU's framebuffer "
                                      "(con2fbmap %u 0 for each, or fbcon=map:0 on the kernel command line), "
                                      "or take the console off every framebuffer: echo 0 > %s", console, console, bind) < 0)
                        return -ENOMEM;
                if (r < 0 && asprintf(&fix, "fbcon is bound and which framebuffer it uses cannot be read (%s); "
                                      "take it off the GPU's: echo 0 > %s, or fbcon=map:0 on the kernel command line",
                                      strerror(-r), bind) < 0)
                        return -ENOMEM;
                if ((r = kernel_holder_add(l, "fbcon", n->path, fix)) < 0)
                        return r;
        }
        return 0;
}

static size_t count_entries(const char *dir, bool pci_only) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;
        unsigned a, b, c, e;
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.' && (!pci_only || sscanf(de->d_name, "%x:%x:%x.%x", &a, &b, &c, &e) == 4))
                        n++;
        return n;
}

static bool function_held(const HolderList *l, const DeviceNodeList *nodes, const char *function) {
        for (size_t i = 0; i < l->n; i++)
                for (size_t j = 0; j < nodes->n; j++)
                        if (streq(l->items[i].node, nodes->items[j].path) &&
                            (streq(nodes->items[j].function, function) || nodes->items[j].kind == NODE_SHARED))
                                return true;
        return false;
}

/* Each open file of a driver's node holds a reference on its module (the
 * char device's owner), and so does each module built on it (holders/).
 * Anything above that is a user inside the kernel. */
static int check_module(const PciFunction *f, const DeviceNodeList *nodes, HolderList *l) {
        _cleanup_free_ char *drv = NULL, *link = NULL, *module = NULL, *p = NULL, *refcnt = NULL;
        unsigned long refs;

        if (!f->driver || streq(f->driver, VFIO_DRIVER) || function_held(l, nodes, f->address_str))
                return 0;
        if (asprintf(&drv, "%s/bus/pci/drivers/%s", SYSFS, f->driver) < 0 || asprintf(&link, "%s/module", drv) < 0)
                return -ENOMEM;
        if (readlink_basename(link, &module) < 0)
                return 0;  /* built in: no count to read */
        /* A count for several devices cannot be split between them. */
        if (count_entries(drv, true) != 1)
                return 0;
        if (asprintf(&p, "%s/module/%s/refcnt", SYSFS, module) < 0)
                return -ENOMEM;
        if (read_one_line_file(p, &refcnt) < 0 || sscanf(refcnt, "%lu", &refs) != 1)
                return 0;
        free(p);
        if (asprintf(&p, "%s/module/%s/holders", SYSFS, module) < 0)
                return -ENOMEM;
        size_t users = count_entries(p, false);
        if (refs <= users)
                return 0;

        char *fix = NULL;
        int r;
        if (streq(module, "nvidia"))
                r = asprintf(&fix, "%lu reference(s) on module nvidia that no process explains: persistence mode "
                             "(turn it off: nvidia-smi -i %s -pm 0) or an in-kernel user (lsmod)",
                             refs - users, f->address_str);
        else
                r = asprintf(&fix, "%lu reference(s) on module %s that no process or module explains: an in-kernel "
                             "user (see lsmod and dmesg)", refs - users, module);
        if (r < 0)
                return -ENOMEM;
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "module %s", module) < 0) {
                free(fix);
                return -ENOMEM;
        }
        return kernel_holder_add(l, what, f->address_str, fix);
}

/* Whether ALSA has a substream of this PCM (/proc/asound/cardN/pcmDp) open:
 * its subK/status says "closed" only when no file has it open. */
static int pcm_open(const char *pcm_dir) {
        _cleanup_closedir_ DIR *d = opendir(pcm_dir);
        struct dirent *de;
        unsigned k;
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *p = NULL, *status = NULL;
                if (sscanf(de->d_name, "sub%u", &k) != 1)
                        continue;
                if (asprintf(&p, "%s/%s/status", pcm_dir, de->d_name) < 0)
                        return -ENOMEM;
                if (read_one_line_file(p, &status) >= 0 && !streq(status, "closed"))
                        return 1;
        }
        return 0;
}

/* snd_card_free(), which the unbind of the sound card's driver calls, waits
 * until the last file of the card is released. A file that no process has
 * in its fd table still counts: one passed over a socket and not yet
 * received, or one of a process that vfiod's /proc does not show. ALSA
 * tells of open PCM streams only; the function's own processes were named
 * already, so this is only looked at when none was found. */
static int check_sound(const PciFunction *f, const DeviceNodeList *nodes, HolderList *l) {
        _cleanup_strv_free_ char **cards = NULL;
        int r;
        if (function_held(l, nodes, f->address_str))
                return 0;
        if ((r = function_sound_cards(f, &cards)) < 0)
                return r;
        STRV_FOREACH(c, cards) {
                unsigned card;
                char end;
                if (sscanf(*c, "card%u", &card) != 1)
                        continue;
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/card%u", asound_proc_dir(), card) < 0)
                        return -ENOMEM;
                _cleanup_closedir_ DIR *cd = opendir(dir);
                struct dirent *pe;
                while (cd && (pe = readdir(cd))) {
                        _cleanup_free_ char *pcm = NULL, *node = NULL, *what = NULL;
                        char *fix = NULL;
                        unsigned dev;
                        char stream;
                        if (sscanf(pe->d_name, "pcm%u%c%c", &dev, &stream, &end) != 2 || (stream != 'p' && stream != 'c'))
                                continue;
                        if (asprintf(&pcm, "%s/%s", dir, pe->d_name) < 0)
                                return -ENOMEM;
                        r = pcm_open(pcm);
                        if (r <= 0) {
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (asprintf(&node, "/dev/snd/pcmC%uD%u%c", card, dev, stream) < 0 ||
                            asprintf(&what, "sound card %u", card) < 0 ||
                            asprintf(&fix, "%s is open, but by no process vfiod can see (a file passed over a socket "
                                     "and not yet received, or a process in another PID namespace): the unbind of %s "
                                     "would wait until it is closed; close the program that opened it "
                                     "(%s/card%u/%s/sub*/status tells how it is used)",
                                     node, f->driver, asound_proc_dir(), card, pe->d_name) < 0)
                                return -ENOMEM;
                        if ((r = kernel_holder_add(l, what, node, fix)) < 0)
                                return r;
                }
        }
        return 0;
}

int kernel_holders_scan(const Gpu *g, const DeviceNodeList *nodes, HolderList *l) {
        int r = check_fbcon(nodes, l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < g->n_functions; i++) {
                const PciFunction *f = &g->functions[i];
                if (f->role != ROLE_GPU || !f->syspath || !f->driver || streq(f->driver, VFIO_DRIVER))
                        continue;
                if ((r = check_sound(f, nodes, l)) < 0 || (r = check_module(f, nodes, l)) < 0)
                        return r;
        }
        return 0;
}
