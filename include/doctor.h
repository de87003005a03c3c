/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vfioctl doctor: checks the workstation against what vfiod needs (IOMMU,
 * display on the iGPU, a clean IOMMU group, vfio-pci, no static binding,
 * libvirt, the domain's hostdevs, the hook, the service) and prints each
 * result with its fix. argv[0] is "doctor". Exit: 0 nothing failed, 1 a
 * check failed, 2 bad usage. */
int doctor_main(int argc, char *argv[]);
