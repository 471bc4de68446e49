/* The small interfaces through which devices reach the host. Devices see
 * only these; the implementations (files, terminals, sockets, windows) live
 * in frontend/. Each can be replaced by a test double, so every device can
 * be tested headless. */
#ifndef BUBBLE_HOSTIF_H
#define BUBBLE_HOSTIF_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------
 * Block backend: a disk, CD-ROM or floppy image. Synchronous; offsets and
 * lengths in bytes. Returns 0 or a negative errno. */
struct block_backend {
    uint64_t size;            /* bytes */
    int read_only;            /* writes fail with -EROFS (CD-ROM, read-only images) */
    int removable;            /* media can change (CD-ROM, floppy) */
    const char *name;         /* for messages: the file name */
    int (*read)(struct block_backend *b, uint64_t off, void *buf, size_t len);
    int (*write)(struct block_backend *b, uint64_t off, const void *buf, size_t len);
    int (*flush)(struct block_backend *b);       /* the guest flushed: make writes durable */
    void (*close)(struct block_backend *b);      /* flushes first */
};

static inline int blk_read(struct block_backend *b, uint64_t off, void *buf, size_t len)
{
    return b->read(b, off, buf, len);
}
static inline int blk_write(struct block_backend *b, uint64_t off, const void *buf, size_t len)
{
    return b->write(b, off, buf, len);
}
static inline int blk_flush(struct block_backend *b) { return b->flush ? b->flush(b) : 0; }

/* ---------------------------------------------------------------------------
 * Character backend: what a serial port is connected to (stdio, a file, a TCP
 * server...). The device writes bytes out; the backend delivers incoming
 * bytes by calling the receiver the device installed, only while
 * can_receive() says there is room (so nothing is dropped). */
struct char_backend {
    void (*write)(struct char_backend *c, const uint8_t *buf, size_t len);
    /* Installed by the device. */
    int (*can_receive)(void *opaque);             /* bytes it can take now */
    void (*receive)(void *opaque, const uint8_t *buf, size_t len);
    void *rx_opaque;
    /* The device's receive FIFO drained: the backend may deliver again. */
    void (*rx_ready)(struct char_backend *c);
};

static inline void chr_write(struct char_backend *c, const uint8_t *buf, size_t len)
{
    if (c && c->write) c->write(c, buf, len);
}
static inline void chr_set_receiver(struct char_backend *c, int (*can_receive)(void *),
                                    void (*receive)(void *, const uint8_t *, size_t), void *opaque)
{
    if (!c) return;
    c->can_receive = can_receive;
    c->receive = receive;
    c->rx_opaque = opaque;
}
static inline void chr_rx_ready(struct char_backend *c)
{
    if (c && c->rx_ready) c->rx_ready(c);
}

/* ---------------------------------------------------------------------------
 * Network backend: what a network card is connected to (slirp user-mode
 * networking...). Ethernet frames without the FCS. The card sends frames out
 * with net_send; the backend delivers incoming frames by calling the receiver
 * the card installed, only while can_receive() says the card can take one now.
 * A backend holds frames back (and stops reading its sockets) rather than
 * dropping them; the card calls net_rx_ready() when it has room again. */
#define NET_MAX_FRAME 1518

struct net_backend {
    void (*send)(struct net_backend *n, const uint8_t *frame, size_t len);
    /* Installed by the card. */
    int (*can_receive)(void *opaque, size_t len);   /* room for a frame of `len` bytes now? */
    void (*receive)(void *opaque, const uint8_t *frame, size_t len);
    void *rx_opaque;
    /* The card's receive buffer drained: deliver held-back frames. */
    void (*rx_ready)(struct net_backend *n);
};

static inline void net_send(struct net_backend *n, const uint8_t *frame, size_t len)
{
    if (n && n->send) n->send(n, frame, len);
}
static inline void net_set_receiver(struct net_backend *n, int (*can_receive)(void *, size_t),
                                    void (*receive)(void *, const uint8_t *, size_t), void *opaque)
{
    if (!n) return;
    n->can_receive = can_receive;
    n->receive = receive;
    n->rx_opaque = opaque;
}
static inline void net_rx_ready(struct net_backend *n)
{
    if (n && n->rx_ready) n->rx_ready(n);
}

#endif
