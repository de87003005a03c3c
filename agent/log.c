/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

static int max_level = LOG_INFO;
static int to_journal = -1;
static char last_error[2048];

const char *log_last_error(void) {
        return last_error;
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_target_journal(void) {
        /* sd_journal_send() succeeds, silently, where no journald listens
         * (an initramfs's udev): there, stderr. */
        to_journal = access("/run/systemd/journal/socket", F_OK) >= 0;
}

/* systemd sets JOURNAL_STREAM=dev:ino for services whose stderr is the
 * journal; VFIOD_LOG_TARGET=journal|console overrides (tests, debugging). */
bool log_to_journal(void) {
        if (to_journal >= 0)
                return to_journal;

        to_journal = 0;
        const char *t = getenv("VFIOD_LOG_TARGET");
        if (t && (streq(t, "journal") || streq(t, "console")))
                return (to_journal = streq(t, "journal"));
        const char *e = getenv("JOURNAL_STREAM");
        struct stat st;
        uint64_t dev, ino;
        if (e && sscanf(e, "%" SCNu64 ":%" SCNu64, &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) >= 0)
                to_journal = st.st_dev == dev && st.st_ino == ino;
        return to_journal;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        int saved = errno;
        error = abs(error);

        /* An error is remembered also when it is not shown: a caller that
         * silenced a helper can still say why it failed. */
        if (level <= max_level || level <= LOG_ERR) {
                char buf[2048];
                va_list ap;

                errno = error;
                va_start(ap, format);
                vsnprintf(buf, sizeof(buf), format, ap);
                va_end(ap);

                /* done: shown, or not to be (an error above the level is only remembered). */
                bool done = level > max_level;
                if (!done && log_to_journal()) {
                        char cf[512], cl[32];
                        snprintf(cf, sizeof(cf), "CODE_FILE=%s", file);
                        snprintf(cl, sizeof(cl), "CODE_LINE=%d", line);
                        done = sd_journal_send_with_location(cf, cl, func,
                                                              "PRIORITY=%i", level,
                                                              "MESSAGE=%s", buf,
                                                              error > 0 ? "ERRNO=%i" : NULL, error,
                                                              NULL) >= 0;
                }
                if (!done)
                        fprintf(stderr, "%s: %s\n", program_invocation_short_name, buf);
                if (level <= LOG_ERR)
                        memcpy(last_error, buf, sizeof(last_error));
        }

        errno = saved;
        return -error;
}
