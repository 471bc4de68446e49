/* User-mode networking on libslirp (see net_slirp.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libslirp.h>

#include "frontend/net_slirp.h"

#define MIN_FRAME 60              /* shortest Ethernet frame on the wire, without the FCS */
#define MAX_GUEST_ERRORS_SHOWN 10
#define MAX_TIMERS_PER_ROUND 64   /* a timer re-armed in the past must not hang the loop */
#define ROTATE_WAIT_NS 10000000   /* sockets polled in turns: come back within 10 ms */

/* One of slirp's timers, on host time (slirp's timers are about host sockets). */
struct slirp_timer {
    struct slirp_timer *next;
    SlirpTimerId id;
    void *cb_opaque;
    int armed;
    int64_t expire_ns;
};

/* Frames waiting for the card, oldest first. */
struct frame_queue {
    uint8_t *data;                        /* NET_SLIRP_QUEUE slots of NET_MAX_FRAME bytes */
    uint16_t len[NET_SLIRP_QUEUE];
    unsigned head, count;
};

struct net_slirp {
    struct net_backend be;                /* first: the card holds a pointer to it */
    Slirp *slirp;
    struct slirp_timer *timers;
    struct frame_queue q;
    int delivering;
    /* This round's descriptors, as slirp asked for them (slirp_pollfds_fill). */
    struct pollfd *pfd;
    int *slirp_events;                    /* SLIRP_POLL_* asked for, per entry */
    int npfd, cap;
    int window_start, window_len;         /* the entries handed to the main loop */
    unsigned rotate;                      /* where the next window starts when they do not all fit */
    int filled;                           /* poll_fds ran since the last poll_handle */
    int64_t clock_offset_ns;              /* added to CLOCK_MONOTONIC (tests move time on) */
    int drop_reported;
    struct net_slirp_stats st;
};

/* ---- time --------------------------------------------------------------------- */

static int64_t host_now_ns(const struct net_slirp *ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + ns->clock_offset_ns;
}

static int64_t cb_clock_get_ns(void *opaque)
{
    return host_now_ns(opaque);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    struct net_slirp *ns = opaque;
    struct slirp_timer *t = calloc(1, sizeof(*t));
    if (!t) {
        fprintf(stderr, "bubble: net: out of memory for a timer\n");
        abort();
    }
    t->id = id;
    t->cb_opaque = cb_opaque;
    t->next = ns->timers;
    ns->timers = t;
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct net_slirp *ns = opaque;
    for (struct slirp_timer **pp = &ns->timers; *pp; pp = &(*pp)->next) {
        if (*pp == timer) {
            *pp = (*pp)->next;
            free(timer);
            return;
        }
    }
}

/* expire_ms is on the clock_get_ns clock, in milliseconds. */
static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct slirp_timer *t = timer;
    t->armed = 1;
    t->expire_ns = expire_ms * 1000000;
}

static struct slirp_timer *next_timer(const struct net_slirp *ns)
{
    struct slirp_timer *best = NULL;
    for (struct slirp_timer *t = ns->timers; t; t = t->next)
        if (t->armed && (!best || t->expire_ns < best->expire_ns)) best = t;
    return best;
}

/* The list is searched afresh after each handler: it may free or re-arm timers. */
static void run_due_timers(struct net_slirp *ns)
{
    for (int k = 0; k < MAX_TIMERS_PER_ROUND; k++) {
        struct slirp_timer *t = next_timer(ns);
        if (!t || t->expire_ns > host_now_ns(ns)) return;
        t->armed = 0;
        slirp_handle_timer(ns->slirp, t->id, t->cb_opaque);
    }
}

/* ---- frames to the guest ------------------------------------------------------ */

static int holding_back(const struct net_slirp *ns)
{
    return ns->q.count > 0;
}

static int card_can_take(struct net_slirp *ns, size_t len)
{
    return ns->be.receive && ns->be.can_receive && ns->be.can_receive(ns->be.rx_opaque, len);
}

static void hand_to_card(struct net_slirp *ns, const uint8_t *frame, size_t len)
{
    ns->st.to_guest++;
    ns->st.to_guest_bytes += len;
    ns->be.receive(ns->be.rx_opaque, frame, len);
}

/* Oldest first, as far as the card has room. */
static void flush_queue(struct net_slirp *ns)
{
    struct frame_queue *q = &ns->q;
    if (ns->delivering) return;
    ns->delivering = 1;
    while (q->count && card_can_take(ns, q->len[q->head])) {
        unsigned slot = q->head;
        q->head = (q->head + 1) % NET_SLIRP_QUEUE;
        q->count--;
        hand_to_card(ns, q->data + (size_t)slot * NET_MAX_FRAME, q->len[slot]);
    }
    ns->delivering = 0;
}

static void enqueue(struct net_slirp *ns, const uint8_t *frame, size_t len)
{
    struct frame_queue *q = &ns->q;
    if (q->count == NET_SLIRP_QUEUE) {
        ns->st.dropped_full++;
        if (!ns->drop_reported)
            fprintf(stderr, "bubble: net: %d frames wait for the card (is the guest's interface down?); "
                    "further ones are dropped\n", NET_SLIRP_QUEUE);
        ns->drop_reported = 1;
        return;
    }
    unsigned slot = (q->head + q->count) % NET_SLIRP_QUEUE;
    memcpy(q->data + (size_t)slot * NET_MAX_FRAME, frame, len);
    q->len[slot] = (uint16_t)len;
    q->count++;
    ns->st.held++;
    if (q->count > ns->st.queue_peak) ns->st.queue_peak = q->count;
}

/* slirp's output: to the card now if nothing waits and it has room, else queued. */
static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *ns = opaque;
    uint8_t padded[MIN_FRAME];
    const uint8_t *frame = buf;
    if (len > NET_MAX_FRAME) {
        ns->st.dropped_bad++;
        return (ssize_t)len;
    }
    if (len < MIN_FRAME) {
        /* slirp sends short frames; on a wire they are padded, and cards expect that */
        memset(padded, 0, sizeof(padded));
        memcpy(padded, buf, len);
        frame = padded;
        len = MIN_FRAME;
    }
    if (!holding_back(ns) && !ns->delivering && card_can_take(ns, len)) {
        ns->delivering = 1;
        hand_to_card(ns, frame, len);
        ns->delivering = 0;
    } else {
        enqueue(ns, frame, len);
    }
    return (ssize_t)len;
}

/* The card's ring drained. */
static void be_rx_ready(struct net_backend *be)
{
    flush_queue((struct net_slirp *)be);
}

/* ---- frames from the guest ------------------------------------------------------ */

static void be_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct net_slirp *ns = (struct net_slirp *)be;
    if (len < 14 || len > NET_MAX_FRAME) {
        ns->st.dropped_bad++;
        return;
    }
    ns->st.from_guest++;
    ns->st.from_guest_bytes += len;
    slirp_input(ns->slirp, frame, (int)len);
}

/* ---- slirp's other callbacks ------------------------------------------------------ */

static void cb_guest_error(const char *msg, void *opaque)
{
    struct net_slirp *ns = opaque;
    if (ns->st.guest_errors < MAX_GUEST_ERRORS_SHOWN)
        fprintf(stderr, "bubble: net: bad packet from the guest: %s\n", msg);
    else if (ns->st.guest_errors == MAX_GUEST_ERRORS_SHOWN)
        fprintf(stderr, "bubble: net: further bad packets from the guest are not shown\n");
    ns->st.guest_errors++;
}

/* Descriptors are collected afresh every round, so there is nothing to track. */
static void cb_register_poll_fd(int fd, void *opaque) {}
static void cb_unregister_poll_fd(int fd, void *opaque) {}
/* Only guestfwd sockets need this wake-up; we have none. */
static void cb_notify(void *opaque) {}

static void cb_init_completed(Slirp *slirp, void *opaque)
{
    struct net_slirp *ns = opaque;
    ns->slirp = slirp;
}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
    .init_completed = cb_init_completed,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* ---- polling ------------------------------------------------------------------------ */

static int grow_pollfds(struct net_slirp *ns)
{
    int cap = ns->cap ? ns->cap * 2 : 32;
    struct pollfd *p = realloc(ns->pfd, (size_t)cap * sizeof(*p));
    if (!p) return -1;
    ns->pfd = p;
    int *e = realloc(ns->slirp_events, (size_t)cap * sizeof(*e));
    if (!e) return -1;
    ns->slirp_events = e;
    ns->cap = cap;
    return 0;
}

/* While frames wait for the card, sockets are not watched for reading: what
 * they bring would only lengthen the queue. Writing to the host goes on. */
static int cb_add_poll(int fd, int events, void *opaque)
{
    struct net_slirp *ns = opaque;
    short ev = 0;
    if (events & SLIRP_POLL_OUT) ev |= POLLOUT;
    if (!holding_back(ns)) {
        if (events & SLIRP_POLL_IN) ev |= POLLIN;
        if (events & SLIRP_POLL_PRI) ev |= POLLPRI;
    }
    /* Not polled at all: a hung-up socket would otherwise wake us for nothing. */
    if (!ev) return -1;
    if (ns->npfd == ns->cap && grow_pollfds(ns)) return -1;
    ns->pfd[ns->npfd].fd = fd;
    ns->pfd[ns->npfd].events = ev;
    ns->pfd[ns->npfd].revents = 0;
    ns->slirp_events[ns->npfd] = events;
    return ns->npfd++;
}

/* slirp reads a socket on IN, PRI, HUP or ERR: while frames wait (the queue
 * may have filled earlier in this very round) only writing is reported. A
 * failed socket that slirp writes to is reported writable, so the failed
 * write tells slirp. */
static int cb_get_revents(int idx, void *opaque)
{
    struct net_slirp *ns = opaque;
    if (idx < 0 || idx >= ns->npfd) return 0;
    short re = ns->pfd[idx].revents;
    int ev = 0;
    if (re & POLLIN) ev |= SLIRP_POLL_IN;
    if (re & POLLOUT) ev |= SLIRP_POLL_OUT;
    if (re & POLLPRI) ev |= SLIRP_POLL_PRI;
    if (re & (POLLERR | POLLNVAL)) ev |= SLIRP_POLL_ERR;
    if (re & POLLHUP) ev |= SLIRP_POLL_HUP;
    if (holding_back(ns)) {
        int failed = ev & (SLIRP_POLL_ERR | SLIRP_POLL_HUP);
        ev &= SLIRP_POLL_OUT;
        if (failed && (ns->slirp_events[idx] & SLIRP_POLL_OUT)) ev |= SLIRP_POLL_OUT;
    }
    return ev;
}

static void lower_timeout(int64_t *timeout_ns, int64_t ns)
{
    if (ns < 0) ns = 0;
    if (*timeout_ns < 0 || ns < *timeout_ns) *timeout_ns = ns;
}

int net_slirp_poll_fds(struct net_slirp *ns, struct pollfd *fds, int max, int64_t *timeout_ns)
{
    /* A card that made room without calling net_rx_ready still gets its frames. */
    flush_queue(ns);
    ns->npfd = 0;
    uint32_t ms = UINT32_MAX;
    if (*timeout_ns >= 0) ms = *timeout_ns / 1000000 >= UINT32_MAX ? UINT32_MAX - 1
                                                                    : (uint32_t)((*timeout_ns + 999999) / 1000000);
    slirp_pollfds_fill(ns->slirp, &ms, cb_add_poll, ns);
    if (ms != UINT32_MAX) lower_timeout(timeout_ns, (int64_t)ms * 1000000);
    struct slirp_timer *t = next_timer(ns);
    if (t) lower_timeout(timeout_ns, t->expire_ns - host_now_ns(ns));

    if (max < 0 || !fds) max = 0;
    ns->window_start = 0;
    ns->window_len = ns->npfd;
    if (ns->npfd > max) {
        ns->window_start = (int)(ns->rotate % (unsigned)ns->npfd);
        ns->window_len = max;
        ns->rotate += (unsigned)max;
        lower_timeout(timeout_ns, ROTATE_WAIT_NS);
    }
    for (int k = 0; k < ns->window_len; k++) fds[k] = ns->pfd[(ns->window_start + k) % ns->npfd];
    ns->filled = 1;
    return ns->window_len;
}

void net_slirp_poll_handle(struct net_slirp *ns, const struct pollfd *fds, int n, int error)
{
    int usable = ns->filled && !error;
    for (int k = 0; k < ns->npfd; k++) ns->pfd[k].revents = 0;
    if (usable && fds) {
        for (int k = 0; k < n && k < ns->window_len; k++) {
            struct pollfd *p = &ns->pfd[(ns->window_start + k) % ns->npfd];
            if (fds[k].fd == p->fd) p->revents = fds[k].revents;
        }
    }
    ns->filled = 0;
    /* Always: slirp runs its TCP timers and sends what waited for ARP here. */
    slirp_pollfds_poll(ns->slirp, !usable, cb_get_revents, ns);
    run_due_timers(ns);
}

/* ---- set-up ----------------------------------------------------------------------- */

static int set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int forward_error(const struct netopts_fwd *f, int e, char *err, size_t errlen)
{
    if (e == EADDRINUSE) return set_error(err, errlen, "hostfwd %s: port in use", f->name);
    if (e == EACCES) return set_error(err, errlen, "hostfwd %s: permission denied (ports below 1024 need privileges)",
                                 f->name);
    if (e == EADDRNOTAVAIL) return set_error(err, errlen, "hostfwd %s: no such address on this machine", f->name);
    if (e) return set_error(err, errlen, "hostfwd %s: %s", f->name, strerror(e));
    return set_error(err, errlen, "hostfwd %s: cannot listen there", f->name);
}

/* slirp sets SO_REUSEADDR on UDP forwards, which would let it share a port
 * silently: a plain bind first finds any other owner. */
static int udp_port_taken(const struct netopts_fwd *f)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr = f->host;
    a.sin_port = htons(f->host_port);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    int e = bind(s, (struct sockaddr *)&a, sizeof(a)) ? errno : 0;
    close(s);
    return e;
}

/* slirp reports why in errno ("On failure errno contains the reason", tcpx_listen). */
static int add_forward(struct net_slirp *ns, const struct netopts_fwd *f, char *err, size_t errlen)
{
    if (f->udp) {
        int e = udp_port_taken(f);
        if (e) return forward_error(f, e, err, errlen);
    }
    errno = 0;
    if (slirp_add_hostfwd(ns->slirp, f->udp, f->host, f->host_port, f->guest, f->guest_port) < 0)
        return forward_error(f, errno, err, errlen);
    return 0;
}

struct net_slirp *net_slirp_open(const struct netopts *o, char *err, size_t errlen)
{
    const struct netopts_user *u = &o->user;
    struct stat sb;
    if (u->tftp[0] && stat(u->tftp, &sb)) {
        set_error(err, errlen, "tftp=%s: %s", u->tftp, strerror(errno));
        return NULL;
    }
    if (u->tftp[0] && !S_ISDIR(sb.st_mode)) {
        set_error(err, errlen, "tftp=%s: not a directory", u->tftp);
        return NULL;
    }
    struct net_slirp *ns = calloc(1, sizeof(*ns));
    if (ns) ns->q.data = malloc((size_t)NET_SLIRP_QUEUE * NET_MAX_FRAME);
    if (!ns || !ns->q.data) {
        if (ns) free(ns);
        set_error(err, errlen, "out of memory");
        return NULL;
    }
    SlirpConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.version = 4;
    cfg.restricted = u->restricted;
    cfg.in_enabled = true;
    cfg.vnetwork = u->net;
    cfg.vnetmask = u->mask;
    cfg.vhost = u->host;
    cfg.vdhcp_start = u->dhcp_start;
    cfg.vnameserver = u->dns;
    /* IPv6 as QEMU sets it up: fec0::/64, the host fec0::2, DNS fec0::3 */
    cfg.in6_enabled = u->ipv6 != 0;
    inet_pton(AF_INET6, "fec0::", &cfg.vprefix_addr6);
    cfg.vprefix_len = 64;
    inet_pton(AF_INET6, "fec0::2", &cfg.vhost6);
    inet_pton(AF_INET6, "fec0::3", &cfg.vnameserver6);
    cfg.vhostname = u->hostname[0] ? u->hostname : NULL;
    cfg.tftp_path = u->tftp[0] ? u->tftp : NULL;
    cfg.bootfile = u->bootfile[0] ? u->bootfile : NULL;
    cfg.vdomainname = u->domainname[0] ? u->domainname : NULL;

    Slirp *slirp = slirp_new(&cfg, &slirp_callbacks, ns);
    if (!slirp) {
        set_error(err, errlen, "user networking: slirp would not start with this configuration");
        net_slirp_close(ns);
        return NULL;
    }
    ns->slirp = slirp;
    for (int k = 0; k < u->nfwd; k++) {
        if (add_forward(ns, &u->fwd[k], err, errlen)) {
            net_slirp_close(ns);
            return NULL;
        }
    }
    ns->be.send = be_send;
    ns->be.rx_ready = be_rx_ready;
    return ns;
}

void net_slirp_close(struct net_slirp *ns)
{
    if (!ns) return;
    if (ns->slirp) slirp_cleanup(ns->slirp);
    while (ns->timers) {
        struct slirp_timer *t = ns->timers;
        ns->timers = t->next;
        free(t);
    }
    free(ns->pfd);
    free(ns->slirp_events);
    free(ns->q.data);
    free(ns);
}

struct net_backend *net_slirp_backend(struct net_slirp *ns)
{
    return ns ? &ns->be : NULL;
}

void net_slirp_get_stats(const struct net_slirp *ns, struct net_slirp_stats *st)
{
    *st = ns->st;
}

void net_slirp_print_stats(const struct net_slirp *ns, FILE *f)
{
    const struct net_slirp_stats *s = &ns->st;
    fprintf(f, "net: %llu frames (%llu bytes) to the guest, %llu held back (queue peak %u of %d); "
            "%llu frames (%llu bytes) from the guest; %llu dropped (queue full), %llu bad, %llu guest errors\n",
            (unsigned long long)s->to_guest, (unsigned long long)s->to_guest_bytes, (unsigned long long)s->held,
            s->queue_peak, NET_SLIRP_QUEUE, (unsigned long long)s->from_guest,
            (unsigned long long)s->from_guest_bytes, (unsigned long long)s->dropped_full,
            (unsigned long long)s->dropped_bad, (unsigned long long)s->guest_errors);
}
