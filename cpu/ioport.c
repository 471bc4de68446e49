/* Port I/O dispatch: a 64K table of registration indexes. */
#include <stdlib.h>
#include <string.h>

#include "ioport.h"

#define MAX_IO_REGS 512

struct io_reg {
    struct io_handlers h;
    void *opaque;
    uint32_t ports;     /* how many ports point here; 0 = a free slot */
};

struct ioports {
    uint16_t slot[65536];            /* 0 = unclaimed, else index into regs + 1 */
    struct io_reg regs[MAX_IO_REGS];
    int nregs;
    FILE *log;
    int log_unclaimed;
    uint8_t logged[65536 / 8];       /* unclaimed ports already reported */
};

struct ioports *ioports_new(void)
{
    struct ioports *io = calloc(1, sizeof(*io));
    if (io) io->log_unclaimed = 1;
    return io;
}

void ioports_free(struct ioports *io) { free(io); }

void ioports_set_log(struct ioports *io, FILE *out, int log_unclaimed)
{
    io->log = out;
    io->log_unclaimed = log_unclaimed;
}

int ioports_register(struct ioports *io, uint16_t port, uint16_t count,
                     const struct io_handlers *h, void *opaque)
{
    if ((uint32_t)port + count > 65536) return -1;
    for (uint32_t p = port; p < (uint32_t)port + count; p++)
        if (io->slot[p]) return -1;
    /* Reuse a slot whose ports were all unregistered (PCI BARs move). */
    int r = 0;
    while (r < io->nregs && io->regs[r].ports) r++;
    if (r == io->nregs) {
        if (io->nregs == MAX_IO_REGS) return -1;
        io->nregs++;
    }
    io->regs[r].h = *h;
    io->regs[r].opaque = opaque;
    io->regs[r].ports = count;
    for (uint32_t p = port; p < (uint32_t)port + count; p++) io->slot[p] = (uint16_t)(r + 1);
    return count ? 0 : -1;
}

void ioports_unregister(struct ioports *io, uint16_t port, uint16_t count)
{
    for (uint32_t p = port; p < (uint32_t)port + count && p < 65536; p++) {
        if (io->slot[p]) io->regs[io->slot[p] - 1].ports--;
        io->slot[p] = 0;
    }
}

static void log_unclaimed(struct ioports *io, uint16_t port, const char *what, uint32_t val, int size)
{
    if (!io->log_unclaimed || (io->logged[port >> 3] & (1u << (port & 7)))) return;
    io->logged[port >> 3] |= (uint8_t)(1u << (port & 7));
    fprintf(io->log ? io->log : stderr, "io: unclaimed %s port %04x size %d value %x (logged once)\n",
            what, port, size, val);
}

static uint32_t read_byte(struct ioports *io, uint16_t port)
{
    uint16_t s = io->slot[port];
    if (!s) {
        log_unclaimed(io, port, "read", 0xFF, 1);
        return 0xFF;
    }
    struct io_reg *r = &io->regs[s - 1];
    if (!r->h.read) return 0xFF;
    return r->h.read(r->opaque, port, 1) & 0xFF;
}

static void write_byte(struct ioports *io, uint16_t port, uint8_t val)
{
    uint16_t s = io->slot[port];
    if (!s) {
        log_unclaimed(io, port, "write", val, 1);
        return;
    }
    struct io_reg *r = &io->regs[s - 1];
    if (r->h.write) r->h.write(r->opaque, port, val, 1);
}

uint32_t io_read(struct ioports *io, uint16_t port, int size)
{
    uint16_t s = io->slot[port];
    if (s && size > 1) {
        struct io_reg *r = &io->regs[s - 1];
        /* The whole access goes to one device when it claims this width. */
        if ((r->h.sizes & (unsigned)size) && r->h.read && io->slot[(uint16_t)(port + size - 1)] == s)
            return r->h.read(r->opaque, port, size);
    } else if (s) {
        struct io_reg *r = &io->regs[s - 1];
        if ((r->h.sizes & 1) && r->h.read) return r->h.read(r->opaque, port, 1) & 0xFF;
    }
    uint32_t v = 0;
    for (int k = 0; k < size; k++) v |= read_byte(io, (uint16_t)(port + k)) << (8 * k);
    return v;
}

void io_write(struct ioports *io, uint16_t port, uint32_t val, int size)
{
    uint16_t s = io->slot[port];
    if (s && size > 1) {
        struct io_reg *r = &io->regs[s - 1];
        if ((r->h.sizes & (unsigned)size) && r->h.write && io->slot[(uint16_t)(port + size - 1)] == s) {
            r->h.write(r->opaque, port, val, size);
            return;
        }
    }
    for (int k = 0; k < size; k++) write_byte(io, (uint16_t)(port + k), (uint8_t)(val >> (8 * k)));
}
