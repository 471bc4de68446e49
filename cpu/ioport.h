/* Port I/O dispatch. Devices register a port range with per-width handlers and
 * an opaque pointer; a missing width is split into byte accesses (reads and writes)
 * or served by the byte handler. Unclaimed ports read as all ones and are logged once. */
#ifndef BUBBLE_IOPORT_H
#define BUBBLE_IOPORT_H

#include <stdint.h>
#include <stdio.h>

struct ioports;

typedef uint32_t io_read_fn(void *opaque, uint16_t port, int size);
typedef void io_write_fn(void *opaque, uint16_t port, uint32_t val, int size);

struct io_handlers {
    io_read_fn *read;    /* handles the sizes set in `sizes` */
    io_write_fn *write;
    unsigned sizes;      /* bit mask: 1 = byte, 2 = word, 4 = dword; others are split into bytes */
};

struct ioports *ioports_new(void);
void ioports_free(struct ioports *io);
/* Claim [port, port+count). Returns 0, or -1 if any port is already claimed. */
int ioports_register(struct ioports *io, uint16_t port, uint16_t count,
                     const struct io_handlers *h, void *opaque);
void ioports_unregister(struct ioports *io, uint16_t port, uint16_t count);

uint32_t io_read(struct ioports *io, uint16_t port, int size);
void io_write(struct ioports *io, uint16_t port, uint32_t val, int size);

/* Where unclaimed-port messages go (NULL: stderr); `log_unclaimed` 0 silences them. */
void ioports_set_log(struct ioports *io, FILE *out, int log_unclaimed);

#endif
