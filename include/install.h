/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* install-hooks and install-services: argv[0] is the verb or the link. */
int install_main(int argc, char *argv[]);
