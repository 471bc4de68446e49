/* User-mode networking on libslirp: the network backend (struct net_backend
 * of devices/hostif.h) a card is plugged into. The guest gets DHCP (10.0.2.15
 * by default), a DNS forwarder (10.0.2.3), TFTP, and reaches the host's
 * network through ordinary sockets, the host itself at 10.0.2.2; hostfwd
 * forwards host ports (127.0.0.1 unless another address is given) into it.
 *
 * Nothing runs in the background: the main loop polls the backend's sockets
 * together with its own deadline and hands the results back, as for the
 * serial backends (chardev.h).
 *
 * Backpressure: frames for the guest go to the card only while its
 * can_receive() says yes; others wait in a queue of NET_SLIRP_QUEUE frames,
 * and while anything waits the backend reads none of its sockets, so TCP
 * flow control holds the far end back instead of frames being dropped. The
 * card calls net_rx_ready() when its ring drains. "No" means "later": a
 * card that is stopped and says no keeps frames waiting (up to the queue's
 * size, then they are dropped and counted) and the network still until it
 * starts; one that says yes and throws them away behaves as the hardware
 * does. Frames shorter than 60 bytes are padded to 60, as on a wire. */
#ifndef BUBBLE_NET_SLIRP_H
#define BUBBLE_NET_SLIRP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "devices/hostif.h"
#include "frontend/netopts.h"

struct net_slirp;

/* Frames held back for a card that is full. */
#define NET_SLIRP_QUEUE 512
/* A good number of pollfd entries to offer net_slirp_poll_fds. With more
 * sockets than entries, they are polled in turns (and the wait is short). */
#define NET_SLIRP_POLL_FDS 64

/* Starts slirp and binds the forwards in o->user. NULL on failure with a
 * one-line reason in err ("hostfwd tcp:127.0.0.1:2222: port in use"). */
struct net_slirp *net_slirp_open(const struct netopts *o, char *err, size_t errlen);
/* Closes every socket. NULL is fine. */
void net_slirp_close(struct net_slirp *ns);

/* What the card connects to (net_set_receiver installs its receiver). */
struct net_backend *net_slirp_backend(struct net_slirp *ns);

/* Main loop, every iteration: fill up to `max` pollfds (returns how many) and
 * lower *timeout_ns (the planned wait; negative = forever) to slirp's next
 * timer; poll; then net_slirp_poll_handle with the same entries, whatever the
 * poll returned (slirp's TCP timers run there): error = the poll failed
 * (EINTR included), the entries are then ignored. */
int net_slirp_poll_fds(struct net_slirp *ns, struct pollfd *fds, int max, int64_t *timeout_ns);
void net_slirp_poll_handle(struct net_slirp *ns, const struct pollfd *fds, int n, int error);

struct net_slirp_stats {
    uint64_t to_guest, to_guest_bytes;       /* frames handed to the card */
    uint64_t from_guest, from_guest_bytes;   /* frames the card sent */
    uint64_t held;                           /* frames that had to wait in the queue */
    unsigned queue_peak;                     /* most frames waiting at once */
    uint64_t dropped_full;                   /* lost: the queue was full (should stay 0) */
    uint64_t dropped_bad;                    /* oversized from slirp or malformed from the card */
    uint64_t guest_errors;                   /* slirp's complaints about the guest's packets */
};
void net_slirp_get_stats(const struct net_slirp *ns, struct net_slirp_stats *st);
/* One line: "net: ... frames to the guest ..., 0 dropped". */
void net_slirp_print_stats(const struct net_slirp *ns, FILE *f);

#endif
