/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "time-util.h"

/* systemd units that hold the GPU (nvidia-persistenced ...), stopped and
 * started through the manager's D-Bus API, never killed. */

/* Stops those of units that are active; ret_stopped gets them, to start again. */
int services_stop(char * const *units, usec_t timeout, char ***ret_stopped);
int services_start(char * const *units, usec_t timeout);
