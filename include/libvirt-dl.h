/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "dlopen-lib.h"
#include "macro.h"

/* What vfiod and vfioctl call of libvirt (opened by dlopen_libvirt()). */
#define LIBVIRT_SYMBOLS(X)                                                                              \
        X(virConnectClose) X(virConnectDomainEventDeregisterAny) X(virConnectDomainEventRegisterAny)     \
        X(virConnectListAllDomains) X(virConnectOpen) X(virConnectOpenReadOnly)                         \
        X(virConnectRegisterCloseCallback) X(virConnectUnregisterCloseCallback) X(virDomainCreate)      \
        X(virDomainDestroy) X(virDomainFree) X(virDomainGetInfo) X(virDomainGetName)                    \
        X(virDomainGetXMLDesc) X(virDomainIsActive) X(virDomainLookupByName) X(virDomainShutdown)       \
        X(virEventRegisterImpl) X(virGetLastError) X(virGetLastErrorMessage) X(virSetErrorFunc)

LIBVIRT_SYMBOLS(DLSYM_DECLARE)

/* libvirt.so.0, once per process: 0, or -EOPNOTSUPP (logged). */
int dlopen_libvirt(void);

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, sym_virConnectClose);
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, sym_virDomainFree);
