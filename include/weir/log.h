/* log: one-line messages to stderr, systemd style (the journal adds time).
 * Owns: the process's log output (stderr).
 * Safe from any thread: each message is one fprintf on an unbuffered stream. */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
