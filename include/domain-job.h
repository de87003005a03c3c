/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* libvirt calls that block for seconds (virDomainCreate waits for QEMU, and
 * for the qemu hook that may call back into vfiod) run in a child process
 * with a connection of its own, never on vfiod's loop. The child writes
 * "0\n" or "1\n<why>" to the pipe and exits; EOF tells the parent. */
typedef enum DomainJobKind {
        DOMAIN_JOB_CREATE,      /* virDomainCreate, then the Looking Glass unit when configured */
        DOMAIN_JOB_SHUTDOWN,    /* virDomainShutdown: ACPI power button */
        DOMAIN_JOB_DESTROY,     /* virDomainDestroy */
} DomainJobKind;

typedef struct DomainJob {
        DomainJobKind kind;
        const char *uri;
        const char *domain;
        const char *lg_user;    /* start lg_unit in this user's manager after create; NULL: none */
        const char *lg_unit;
} DomainJob;

/* ret_fd: the pipe's read end (O_NONBLOCK, O_CLOEXEC). */
int domain_job_start(const DomainJob *job, pid_t *ret_pid, int *ret_fd);

/* Stops the Looking Glass user unit in user's manager, in a detached child. */
void looking_glass_stop(const char *user, const char *unit);

const char *domain_job_kind_to_string(DomainJobKind k);
