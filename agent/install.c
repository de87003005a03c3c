/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* install-hooks: libvirt's qemu hook that asks vfiod for the GPU before the
 * domain starts; install-services: Looking Glass autostart. Idempotent, and
 * --remove takes away exactly what was put there. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "fileio.h"
#include "install.h"
#include "log.h"

#define HOOK_PATH "/etc/libvirt/hooks/qemu.d/vfiod"
#define HOOK_MARK "# Installed by vfioctl install-hooks"
#define LG_DROPIN VFIOD_CONFIG_FILE ".d/50-looking-glass.conf"
#define LG_MARK "# Written by vfioctl install-services"

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

/* Same content and mode: nothing to do (1); else written atomically (0). */
static int write_if_changed(const char *path, const char *content, mode_t mode) {
        _cleanup_free_ char *old = NULL, *tmp = NULL;
        struct stat st;
        if (read_full_file(path, &old, NULL) >= 0 && streq(old, content) && stat(path, &st) >= 0 &&
            (st.st_mode & 07777) == mode)
                return 1;
        int r = mkdir_parents(path);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.vfiod-tmp", path) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        size_t n = strlen(content);
        if (write(fd, content, n) != (ssize_t) n || fchmod(fd, mode) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

static int remove_if_ours(const char *path, const char *mark) {
        _cleanup_free_ char *old = NULL;
        int r = read_full_file(path, &old, NULL);
        if (r == -ENOENT)
                return 1;
        if (r < 0)
                return r;
        if (!strstr(old, mark))
                return -EPERM;
        return unlink(path) < 0 ? -errno : 0;
}

/* libvirtd runs the hook as root, so the program it executes must be one
 * that only root can change: the file and every directory above it owned
 * by root and writable by nobody else (a sticky directory, as /tmp, lets
 * nobody replace what root put in it). Returns the component that fails
 * (in *ret_bad, with its owner), or 0. */
static int path_only_root_changes(const char *file, char **ret_bad, uid_t *ret_owner) {
        _cleanup_free_ char *p = strdup(file);
        if (!p)
                return -ENOMEM;
        for (;;) {
                struct stat st;
                if (stat(p, &st) < 0)
                        return -errno;
                bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
                if (st.st_uid != 0 || (!sticky_dir && (st.st_mode & (S_IWGRP | S_IWOTH)))) {
                        *ret_owner = st.st_uid;
                        *ret_bad = TAKE_PTR(p);
                        return 1;
                }
                char *slash = strrchr(p, '/');
                if (!slash || slash == p) {
                        if (streq(p, "/"))
                                return 0;
                        p[1] = 0;  /* "/usr" -> "/" */
                        continue;
                }
                *slash = 0;
        }
}

/* The path in single quotes for sh: ' becomes '\''. */
static char *shell_quote(const char *s) {
        size_t n = 3;
        for (const char *c = s; *c; c++)
                n += *c == '\'' ? 4 : 1;
        char *q = malloc(n), *o = q;
        if (!q)
                return NULL;
        *o++ = '\'';
        for (const char *c = s; *c; c++)
                if (*c == '\'') {
                        memcpy(o, "'\\''", 4);
                        o += 4;
                } else
                        *o++ = *c;
        *o++ = '\'';
        *o = 0;
        return q;
}

static int install_hooks(const char *root, bool remove) {
        char path[PATH_MAX], self[PATH_MAX], content[PATH_MAX * 4 + 512];
        snprintf(path, sizeof(path), "%s" HOOK_PATH, root);
        int r;

        if (remove) {
                r = remove_if_ours(path, HOOK_MARK);
                if (r == -EPERM) {
                        log_error("%s was not written by vfioctl: left as it is.", path);
                        return EXIT_FAILURE_OTHER;
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to remove %s: %m", path), EXIT_FAILURE_OTHER;
                printf(r > 0 ? "%s is not installed.\n" : "Removed %s.\n", path);
                return EXIT_DONE;
        }

        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
                return log_error_errno(errno, "Cannot tell where vfioctl is: %m"), EXIT_FAILURE_OTHER;
        self[n] = 0;
        _cleanup_free_ char *bad = NULL, *quoted = NULL;
        uid_t owner = 0;
        r = path_only_root_changes(self, &bad, &owner);
        if (r < 0)
                return log_error_errno(r, "Cannot check who may change %s: %m", self), EXIT_FAILURE_OTHER;
        if (r > 0) {
                log_error("Not installing a hook that runs %s: libvirtd runs it as root, and %s %s (make install, "
                          "then run the installed vfioctl install-hooks).", self, bad,
                          owner != 0 ? "is not owned by root" : "is writable by others than root");
                return EXIT_FAILURE_OTHER;
        }
        if (!(quoted = shell_quote(self)))
                return log_oom(), EXIT_FAILURE_OTHER;
        snprintf(content, sizeof(content),
                 "#!/bin/sh\n" HOOK_MARK " (remove with: vfioctl install-hooks --remove).\n"
                 "# libvirt runs it for every QEMU domain with DOMAIN OPERATION SUB-OPERATION EXTRA;\n"
                 "# vfioctl acts for vfiod's domain only: prepare asks vfiod for the GPU (a refusal\n"
                 "# fails the start, with vfiod's reason), release gives it back. It never calls libvirt.\n"
                 "exec %s hook \"$@\"\n", quoted);
        r = write_if_changed(path, content, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path), EXIT_FAILURE_OTHER;
        if (r > 0)
                printf("%s is installed and up to date.\n", path);
        else
                printf("Installed %s.\nlibvirtd reads its hooks when it starts: systemctl restart libvirtd "
                       "(running VMs keep running).\n", path);
        return EXIT_DONE;
}

static int install_services(const char *root, const char *user, bool remove) {
        char path[PATH_MAX], content[512];
        snprintf(path, sizeof(path), "%s" LG_DROPIN, root);
        int r;

        if (remove) {
                r = remove_if_ours(path, LG_MARK);
                if (r == -EPERM) {
                        log_error("%s was not written by vfioctl: left as it is.", path);
                        return EXIT_FAILURE_OTHER;
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to remove %s: %m", path), EXIT_FAILURE_OTHER;
                printf(r > 0 ? "Looking Glass autostart is not installed.\n" : "Removed %s: vfiod no longer starts Looking Glass.\n", path);
                return EXIT_DONE;
        }
        user = user ?: getenv("SUDO_USER");
        if (!user || !*user) {
                log_error("Whose session runs Looking Glass? Give --user=NAME (or run it through sudo).");
                return EXIT_USAGE;
        }
        if (!getpwnam(user)) {
                log_error("--user=%s: no such user.", user);
                return EXIT_USAGE;
        }
        snprintf(content, sizeof(content),
                 LG_MARK " (remove with: vfioctl install-services --remove).\n"
                 "# vfiod starts looking-glass-client.service in this user's session when the VM runs.\n"
                 "[LookingGlass]\nUser=%s\n", user);
        r = write_if_changed(path, content, 0644);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path), EXIT_FAILURE_OTHER;
        printf(r > 0 ? "%s is installed and up to date.\n" : "Installed %s: vfiod starts Looking Glass for %s when the VM runs.\n",
               path, user);
        return EXIT_DONE;
}

int install_main(int argc, char *argv[]) {
        enum { ARG_ROOT = 0x100, ARG_REMOVE, ARG_USER };
        static const struct option options[] = {
                { "root", required_argument, NULL, ARG_ROOT },
                { "remove", no_argument, NULL, ARG_REMOVE },
                { "user", required_argument, NULL, ARG_USER },
                {}
        };
        /* argv[0] is the verb, or the link's path (/usr/bin/install-hooks). */
        const char *verb = basename(argv[0]), *root = "", *user = NULL;
        bool remove = false;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case ARG_ROOT:
                        root = optarg;
                        break;
                case ARG_REMOVE:
                        remove = true;
                        break;
                case ARG_USER:
                        if (!streq(verb, "install-services")) {
                                log_error("--user= goes with install-services.");
                                return EXIT_USAGE;
                        }
                        user = optarg;
                        break;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s' after %s.", argv[optind], verb);
                return EXIT_USAGE;
        }
        return streq(verb, "install-hooks") ? install_hooks(root, remove) : install_services(root, user, remove);
}
