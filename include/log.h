/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

/* Messages go to the journal (with their CODE_* fields) when stderr is
 * connected to it, to stderr otherwise. */
void log_set_max_level(int level);
/* From now on to the journal, wherever stderr goes (a program that udevd runs). */
void log_set_target_journal(void);
/* True when stderr is connected to the journal (JOURNAL_STREAM). */
bool log_to_journal(void);
int log_get_max_level(void);

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal(level, error, __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

/* The text of the last error logged: a D-Bus reply can carry the journal's words. */
const char *log_last_error(void);

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
