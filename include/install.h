/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* install-hooks and install-services: argv after the verb. */
int install_main(const char *verb, int argc, char *argv[]);
