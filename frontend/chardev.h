/* Host character backends for serial ports (struct char_backend of
 * devices/hostif.h), named with QEMU's -serial spelling:
 *
 *   stdio                      the terminal (raw mode when stdin is a tty,
 *                              restored at exit and on fatal signals);
 *                              Ctrl-A x exits, Ctrl-A h lists the keys.
 *                              `mon:stdio` is accepted as stdio.
 *   file:PATH                  output to a file (truncated); no input
 *   tcp:[HOST]:PORT,server[,nowait]
 *                              listen on HOST (default 127.0.0.1), one
 *                              client at a time, clients may reconnect;
 *                              without nowait, start-up waits for a client.
 *                              server=on / wait=off spellings work too.
 *   tcp:HOST:PORT              connect to a server at start-up
 *   null                       discard output, no input
 *   none                       no device at all (chardev_open returns NULL
 *                              with an empty message; see chardev_spec_is_none)
 *
 * Nothing runs in the background: the main loop polls the backends' file
 * descriptors (with ppoll, together with its timer deadline) and hands the
 * results back. Input is read from a descriptor only when the previous read
 * has been delivered to the device, so nothing is dropped. */
#ifndef BUBBLE_CHARDEV_H
#define BUBBLE_CHARDEV_H

#include <poll.h>
#include <stddef.h>

#include "devices/hostif.h"

struct chardev;

/* The most descriptors one backend asks to poll. */
#define CHARDEV_MAX_FDS 2

/* NULL on failure with a one-line reason in err (e.g. "tcp:127.0.0.1:4444:
 * port 4444 is already in use"); NULL with err "" for "none". */
struct chardev *chardev_open(const char *spec, char *err, size_t errlen);
int chardev_spec_is_none(const char *spec);
/* Closes descriptors and restores the terminal. NULL is fine. */
void chardev_close(struct chardev *c);

/* What the device connects to (uart16550_init's chr). */
struct char_backend *chardev_backend(struct chardev *c);
/* For messages: the spec, with the bound port for tcp (ephemeral ports resolved). */
const char *chardev_name(const struct chardev *c);
/* tcp server: the port listened on (useful with port 0); else -1. */
int chardev_tcp_port(const struct chardev *c);

/* Main loop: fill up to `max` pollfds (returns how many; at most
 * CHARDEV_MAX_FDS), poll, then hand the same entries back. */
int chardev_poll_fds(struct chardev *c, struct pollfd *fds, int max);
void chardev_poll_handle(struct chardev *c, const struct pollfd *fds, int n);

/* Ctrl-A x on stdio: calls fn (the main loop should stop and exit cleanly).
 * Without a handler the process exits with status 0. */
void chardev_set_exit_handler(struct chardev *c, void (*fn)(void *opaque), void *opaque);
int chardev_exit_requested(const struct chardev *c);

#endif
