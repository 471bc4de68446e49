/* Debug console (port 0xE9) and exit port (isa-debug-exit). */
#include "devices/debugport.h"
#include "cpu/ioport.h"

static uint32_t debugcon_read(void *opaque, uint16_t port, int size)
{
    return 0xE9;
}

static void debugcon_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct debugcon *d = opaque;
    if (!d->out) return;
    fputc((int)(val & 0xFF), d->out);
    if ((val & 0xFF) == '\n') fflush(d->out);
}

int debugcon_init(struct debugcon *d, struct ioports *io, uint16_t port, FILE *out)
{
    static const struct io_handlers h = { debugcon_read, debugcon_write, 1 };
    d->out = out;
    d->port = port;
    return ioports_register(io, port, 1, &h, d);
}

static uint32_t debugexit_read(void *opaque, uint16_t port, int size)
{
    return 0;
}

static void debugexit_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct debugexit *d = opaque;
    d->requested = 1;
    d->status = (int)(((val << 1) | 1) & 0xFF);
    if (d->notify) d->notify(d->opaque);
}

int debugexit_init(struct debugexit *d, struct ioports *io, uint16_t port, uint16_t size,
                   void (*notify)(void *opaque), void *opaque)
{
    static const struct io_handlers h = { debugexit_read, debugexit_write, 1 | 2 | 4 };
    d->port = port;
    d->requested = 0;
    d->status = 0;
    d->notify = notify;
    d->opaque = opaque;
    return ioports_register(io, port, size, &h, d);
}
