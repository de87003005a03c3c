/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfio-status and vm-health: what vfiod says of the GPU and the VM, as a
 * table, as JSON, or as a waybar line that follows every change. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-api.h"
#include "ctl.h"
#include "domain-xml.h"
#include "holders.h"
#include "json-writer.h"
#include "libvirt-dl.h"
#include "log.h"

typedef struct FunctionView {
        char *address, *role, *class, *ids, *driver;
} FunctionView;

typedef struct StatusView {
        char *address, *owner, *status, *last_error;
        int iommu_group;
        FunctionView *functions;
        size_t n_functions;
        HolderList holders;
        char *vm_name, *vm_state;
} StatusView;

static void status_view_done(StatusView *v) {
        free(v->address);
        free(v->owner);
        free(v->status);
        free(v->last_error);
        for (size_t i = 0; i < v->n_functions; i++) {
                FunctionView *f = &v->functions[i];
                free(f->address), free(f->role), free(f->class), free(f->ids), free(f->driver);
        }
        free(v->functions);
        holder_list_done(&v->holders);
        free(v->vm_name);
        free(v->vm_state);
        *v = (StatusView) {};
}

static int get_string(sd_bus *bus, const char *path, const char *iface, const char *prop, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_get_property_string(bus, BUS_NAME, path, iface, prop, &e, ret);
        if (r < 0)
                log_error("Cannot read %s from vfiod: %s", prop, e.message ?: strerror(-r));
        return r;
}

static int status_view_load(sd_bus *bus, const char *gpu, const char *vm, StatusView *v) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *a, *b, *c, *d, *f;
        uint32_t pid;
        int r;

        if ((r = get_string(bus, gpu, "org.vfiod1.Gpu", "Address", &v->address)) < 0 ||
            (r = get_string(bus, gpu, "org.vfiod1.Gpu", "Owner", &v->owner)) < 0 ||
            (r = get_string(bus, gpu, "org.vfiod1.Gpu", "Status", &v->status)) < 0 ||
            (r = get_string(bus, gpu, "org.vfiod1.Gpu", "LastError", &v->last_error)) < 0)
                return r;
        if ((r = sd_bus_get_property_trivial(bus, BUS_NAME, gpu, "org.vfiod1.Gpu", "IommuGroup", &e, 'i',
                                             &v->iommu_group)) < 0)
                return log_error_errno(r, "Cannot read IommuGroup: %s", e.message ?: "?");

        if ((r = sd_bus_get_property(bus, BUS_NAME, gpu, "org.vfiod1.Gpu", "Functions", &e, &reply, "a(sssss)")) < 0 ||
            (r = sd_bus_message_enter_container(reply, 'a', "(sssss)")) < 0)
                return log_error_errno(r, "Cannot read Functions: %s", e.message ?: "?");
        while ((r = sd_bus_message_read(reply, "(sssss)", &a, &b, &c, &d, &f)) > 0) {
                FunctionView *n = realloc(v->functions, (v->n_functions + 1) * sizeof(*n));
                if (!n)
                        return log_oom();
                v->functions = n;
                n[v->n_functions++] = (FunctionView) { strdup(a), strdup(b), strdup(c), strdup(d), strdup(f) };
        }
        reply = sd_bus_message_unref(reply);

        /* The method, not the property: it waits for a scan at most a second old. */
        reply = sd_bus_message_unref(reply);
        if ((r = sd_bus_call_method(bus, BUS_NAME, gpu, "org.vfiod1.Gpu", "GetHolders", &e, &reply, "")) < 0 ||
            (r = sd_bus_message_enter_container(reply, 'a', "(usssss)")) < 0)
                return log_error_errno(r, "Cannot read the holders: %s", e.message ?: strerror(-r));
        while ((r = sd_bus_message_read(reply, "(usssss)", &pid, &a, &b, &c, &d, &f)) > 0) {
                Holder *n = realloc(v->holders.items, (v->holders.n + 1) * sizeof(*n));
                if (!n)
                        return log_oom();
                v->holders.items = n;
                /* What a holder is comes from vfiod; an unknown "how" is shown as the kernel's. */
                HoldHow how = hold_how_from_string(d);
                n[v->holders.n++] = (Holder) { .pid = pid, .user = strdup(a), .comm = strdup(b), .node = strdup(c),
                                               .how = how < _HOLD_HOW_MAX ? how : HOLD_KERNEL,
                                               .fix = *f ? strdup(f) : NULL };
        }
        if (vm && ((r = get_string(bus, vm, "org.vfiod1.Vm", "Name", &v->vm_name)) < 0 ||
                   (r = get_string(bus, vm, "org.vfiod1.Vm", "State", &v->vm_state)) < 0))
                return r;
        return 0;
}

/* The common classes by name without loading pci.ids (vfio-status stays fast). */
static const char *class_label(const char *class) {
        static const struct { const char *class, *label; } t[] = {
                { "0300", "VGA" }, { "0302", "3D controller" }, { "0380", "display" }, { "0403", "audio" },
                { "0604", "PCI bridge" }, { "0c03", "USB" }, { "0c80", "serial bus" }, { "0880", "system" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if (streq(class, t[i].class))
                        return t[i].label;
        return class;
}

/* The documented contract (docs/interfaces.md): keys, order and types stay. */
static int print_json(FILE *out, const StatusView *v) {
        JsonWriter w = JSON_WRITER_INIT(out);
        json_begin_object(&w);
        json_key(&w, "gpu");
        json_string(&w, strempty(v->address));
        json_key(&w, "owner");
        json_string(&w, strempty(v->owner));
        json_key(&w, "status");
        json_string(&w, strempty(v->status));
        json_key(&w, "iommu_group");
        json_integer(&w, v->iommu_group);
        json_key(&w, "functions");
        json_begin_array(&w);
        for (size_t i = 0; i < v->n_functions; i++) {
                const FunctionView *f = &v->functions[i];
                json_begin_object(&w);
                json_key(&w, "address");
                json_string(&w, strempty(f->address));
                json_key(&w, "role");
                json_string(&w, strempty(f->role));
                json_key(&w, "class");
                json_string(&w, strempty(f->class));
                json_key(&w, "ids");
                json_string(&w, strempty(f->ids));
                json_key(&w, "driver");
                json_string(&w, *f->driver ? f->driver : NULL);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_key(&w, "holders");
        json_begin_array(&w);
        for (size_t i = 0; i < v->holders.n; i++) {
                const Holder *h = &v->holders.items[i];
                json_begin_object(&w);
                json_key(&w, "pid");
                json_unsigned(&w, (unsigned) h->pid);
                json_key(&w, "user");
                json_string(&w, strempty(h->user));
                json_key(&w, "command");
                json_string(&w, strempty(h->comm));
                json_key(&w, "node");
                json_string(&w, strempty(h->node));
                json_key(&w, "how");
                json_string(&w, strempty(hold_how_to_string(h->how)));
                json_key(&w, "fix");
                json_string(&w, h->fix);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_key(&w, "last_error");
        json_string(&w, strempty(v->last_error));
        json_key(&w, "vm");
        if (v->vm_name) {
                json_begin_object(&w);
                json_key(&w, "name");
                json_string(&w, v->vm_name);
                json_key(&w, "state");
                json_string(&w, strempty(v->vm_state));
                json_end_object(&w);
        } else
                json_null(&w);
        json_end_object(&w);
        fputc('\n', out);
        return json_writer_finish(&w);
}

/* waybar's custom module (return-type json): text, tooltip, class, alt. */
static int print_waybar_line(FILE *out, const char *text, const char *tooltip, const char *cls, const char *alt) {
        JsonWriter w = JSON_WRITER_INIT(out);
        json_begin_object(&w);
        json_key(&w, "text");
        json_string(&w, strempty(text));
        json_key(&w, "tooltip");
        json_string(&w, strempty(tooltip));
        json_key(&w, "class");
        json_string(&w, strempty(cls));
        json_key(&w, "alt");
        json_string(&w, strempty(alt));
        json_end_object(&w);
        fputc('\n', out);
        return json_writer_finish(&w);
}

static int print_waybar(FILE *out, const StatusView *v) {
        char text[256];
        const char *cls;
        if (streq(v->owner, "host"))
                snprintf(text, sizeof(text), "GPU: Linux"), cls = "host";
        else if (v->vm_name && streq(v->owner, v->vm_name))
                snprintf(text, sizeof(text), "GPU: %s", v->vm_name), cls = "vm";
        else
                snprintf(text, sizeof(text), "GPU: %s", v->owner), cls = v->owner;
        return print_waybar_line(out, text, v->status, cls, v->owner);
}

static void print_table(FILE *out, const StatusView *v) {
        bool colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
        const char *on = "", *off = colour ? "\033[0m" : "";
        if (colour)
                on = streq(v->owner, "host") ? "\033[1;32m" :
                     streq(v->owner, "stuck") || streq(v->owner, "incomplete") ? "\033[1;31m" : "\033[1;33m";

        fprintf(out, "GPU:          %s\n", v->address);
        fprintf(out, "Owner:        %s%s%s%s\n", on, streq(v->owner, "host") ? "Linux (host)" : v->owner, off,
               v->vm_name && streq(v->owner, v->vm_name) ? " (VM)" : "");
        fprintf(out, "Status:       %s\n", v->status);
        if (v->vm_name)
                fprintf(out, "VM:           %s (%s)\n", v->vm_name, v->vm_state);
        if (v->iommu_group >= 0)
                fprintf(out, "IOMMU group:  %d\n", v->iommu_group);
        else
                fprintf(out, "IOMMU group:  none (IOMMU disabled?)\n");
        fprintf(out, "Functions:\n");
        for (size_t i = 0; i < v->n_functions; i++) {
                const FunctionView *f = &v->functions[i];
                fprintf(out, "  %s  %-6s %-13s %s  %s\n", f->address, f->role, class_label(f->class), f->ids,
                       *f->driver ? f->driver : "(no driver)");
        }
        holders_print(out, &v->holders);
        if (*v->last_error)
                fprintf(out, "Last error:   %s\n", v->last_error);
}

typedef struct Follow {
        const CtlOptions *o;
        const char *gpu, *vm;
        char *last;  /* the last line printed: print only changes */
        int exit;
} Follow;

static int print_once(sd_bus *bus, Follow *f) {
        StatusView v = {};
        char *buf = NULL;
        size_t len = 0;

        int r = status_view_load(bus, f->gpu, f->vm, &v);
        if (r < 0) {
                status_view_done(&v);
                return r;
        }
        /* Render into memory first, so that an unchanged state prints nothing. */
        FILE *mem = open_memstream(&buf, &len);
        if (!mem) {
                status_view_done(&v);
                return log_oom();
        }
        if (f->o->waybar)
                r = print_waybar(mem, &v);
        else if (f->o->json)
                r = print_json(mem, &v);
        else
                print_table(mem, &v);
        fclose(mem);
        if (r < 0) {
                free(buf);
                status_view_done(&v);
                return log_error_errno(r, "Cannot write the status as JSON: %m");
        }
        if (!f->last || !streq(f->last, buf)) {
                fputs(buf, stdout);
                if (f->o->follow && !f->o->json && !f->o->waybar)
                        putchar('\n');
                fflush(stdout);
                free(f->last);
                f->last = buf;
        } else
                free(buf);
        status_view_done(&v);
        return 0;
}

static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *e _unused_) {
        Follow *f = userdata;
        if (print_once(sd_bus_message_get_bus(m), f) < 0)
                f->exit = EXIT_NOT_RUNNING;
        return 0;
}

static int on_owner(sd_bus_message *m, void *userdata, sd_bus_error *e _unused_) {
        Follow *f = userdata;
        const char *name, *old, *new;
        if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0)
                return 0;
        if (!*new) {
                /* vfiod went away (restart): say so, and wait for it. */
                if (f->o->waybar)
                        (void) print_waybar_line(stdout, "GPU: ?", "vfiod is not running", "down", "down");
                else
                        printf("vfiod is not running.\n");
                fflush(stdout);
                f->last = mfree(f->last);
        } else
                (void) print_once(sd_bus_message_get_bus(m), f);
        return 0;
}

int ctl_status(sd_bus *bus, const CtlOptions *o) {
        _cleanup_free_ char *gpu = NULL, *vm = NULL;
        int r = ctl_paths(bus, &gpu, &vm);
        if (r != EXIT_DONE)
                return r;
        Follow f = { .o = o, .gpu = gpu, .vm = vm, .exit = EXIT_DONE };

        if (!o->follow) {
                r = print_once(bus, &f);
                free(f.last);
                return r < 0 ? EXIT_FAILURE_OTHER : EXIT_DONE;
        }
        /* Subscribed before the first print: no change falls in between. */
        if (sd_bus_match_signal(bus, NULL, BUS_NAME, gpu, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                on_changed, &f) < 0 ||
            (vm && sd_bus_match_signal(bus, NULL, BUS_NAME, vm, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                       on_changed, &f) < 0) ||
            sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                "NameOwnerChanged", on_owner, &f) < 0) {
                log_error("Cannot follow vfiod's changes.");
                return EXIT_FAILURE_OTHER;
        }
        if (print_once(bus, &f) < 0)
                return free(f.last), EXIT_FAILURE_OTHER;
        while (f.exit == EXIT_DONE) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0 && errno != EINTR)
                        break;
        }
        free(f.last);
        return EXIT_NOT_RUNNING;
}

/* ---- vm-health ---- */

static void quiet_errors(void *userdata _unused_, virErrorPtr err _unused_) {
}

int ctl_health(sd_bus *bus, const CtlOptions *o) {
        _cleanup_free_ char *gpu = NULL, *vm = NULL, *uri = NULL;
        _cleanup_free_ Hostdev *hostdevs = NULL;
        size_t n_hostdevs = 0;
        StatusView v = {};
        int r, rc = EXIT_DONE;

        if ((r = ctl_paths(bus, &gpu, &vm)) != EXIT_DONE)
                return r;
        if (!vm) {
                log_error("No VM is configured: set Domain= in [VM] of /etc/vfiod/vfiod.conf.");
                return EXIT_REFUSED_CONFIG;
        }
        if (status_view_load(bus, gpu, vm, &v) < 0 || get_string(bus, vm, "org.vfiod1.Vm", "Uri", &uri) < 0) {
                status_view_done(&v);
                return EXIT_FAILURE_OTHER;
        }

        if (dlopen_libvirt() < 0) {
                status_view_done(&v);
                return EXIT_FAILURE_OTHER;
        }
        sym_virSetErrorFunc(NULL, quiet_errors);
        virConnectPtr conn = sym_virConnectOpenReadOnly(uri);
        virDomainPtr dom = conn ? sym_virDomainLookupByName(conn, v.vm_name) : NULL;
        virDomainInfo info = {};
        char *xml = NULL;
        if (!dom || sym_virDomainGetInfo(dom, &info) < 0 || !(xml = sym_virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE)) ||
            domain_xml_hostdevs(xml, &hostdevs, &n_hostdevs) < 0) {
                log_error("Cannot read domain %s from %s: %s", v.vm_name, uri, sym_virGetLastErrorMessage());
                rc = EXIT_FAILURE_OTHER;
                goto finish;
        }

        /* Every GPU function of the group passed through, nothing else of it, none managed by libvirt. */
        bool match = true;
        char why[1024] = "";
        for (size_t i = 0; i < v.n_functions; i++) {
                if (!streq(v.functions[i].role, "gpu"))
                        continue;
                bool found = false;
                for (size_t j = 0; j < n_hostdevs; j++)
                        found = found || streq(hostdevs[j].address_str, v.functions[i].address);
                if (!found) {
                        match = false;
                        snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s%s is not passed through",
                                 *why ? "; " : "", v.functions[i].address);
                }
        }
        for (size_t j = 0; j < n_hostdevs; j++)
                if (hostdevs[j].managed)
                        snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s%s has managed='yes' (libvirt would move it behind vfiod's back)",
                                 *why ? "; " : "", hostdevs[j].address_str);

        if (o->json) {
                JsonWriter w = JSON_WRITER_INIT(stdout);
                json_begin_object(&w);
                json_key(&w, "vm");
                json_string(&w, strempty(v.vm_name));
                json_key(&w, "state");
                json_string(&w, strempty(v.vm_state));
                json_key(&w, "vcpus");
                json_unsigned(&w, info.nrVirtCpu);
                json_key(&w, "memory_kib");
                json_unsigned(&w, info.maxMem);
                json_key(&w, "hostdevs");
                json_begin_array(&w);
                for (size_t j = 0; j < n_hostdevs; j++) {
                        char h[PCI_ADDRESS_STRLEN + 16];
                        snprintf(h, sizeof(h), "%s%s", hostdevs[j].address_str, hostdevs[j].managed ? " managed" : "");
                        json_string(&w, h);
                }
                json_end_array(&w);
                json_key(&w, "gpu");
                json_string(&w, strempty(v.address));
                json_key(&w, "iommu_group");
                json_integer(&w, v.iommu_group);
                json_key(&w, "owner");
                json_string(&w, strempty(v.owner));
                json_key(&w, "hostdevs_match_group");
                json_boolean(&w, match);
                json_key(&w, "problems");
                json_string(&w, why);
                json_end_object(&w);
                putchar('\n');
                r = json_writer_finish(&w);
                if (r < 0) {
                        log_error_errno(r, "Cannot write the VM's health as JSON: %m");
                        rc = EXIT_FAILURE_OTHER;
                        goto finish;
                }
        } else {
                printf("VM:           %s (%s)\n", v.vm_name, v.vm_state);
                printf("vCPUs:        %u\n", info.nrVirtCpu);
                printf("Memory:       %lu MiB\n", info.maxMem / 1024);
                printf("GPU:          %s, IOMMU group %d, owner %s\n", v.address, v.iommu_group, v.owner);
                printf("PCI hostdevs:%s\n", n_hostdevs ? "" : " none");
                for (size_t j = 0; j < n_hostdevs; j++)
                        printf("  %s%s\n", hostdevs[j].address_str, hostdevs[j].managed ? " managed" : "");
                printf("Match:        %s%s%s\n", match && !*why ? "yes: every GPU function of the group is passed through" :
                                                     match ? "yes, but " : "no: ", match && !*why ? "" : why, "");
        }
        if (!match)
                rc = EXIT_REFUSED_CONFIG;
finish:
        free(xml);
        if (dom)
                sym_virDomainFree(dom);
        if (conn)
                sym_virConnectClose(conn);
        status_view_done(&v);
        return rc;
}
