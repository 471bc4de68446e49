/* POST code ports 0x80 and 0x190 (see postcode.h). */
#include "devices/postcode.h"
#include "cpu/ioport.h"

static uint32_t postcode_read(void *opaque, uint16_t port, int size)
{
    struct postcode *p = opaque;
    return p->last;
}

static void postcode_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct postcode *p = opaque;
    p->last = (uint8_t)val;
    if (p->log) {
        fprintf(p->log, "POST %02x\n", p->last);
        fflush(p->log);
    }
}

int postcode_init(struct postcode *p, struct ioports *io, FILE *log)
{
    static const struct io_handlers h = { postcode_read, postcode_write, 1 };
    p->log = log;
    p->last = 0;
    if (ioports_register(io, 0x80, 1, &h, p)) return -1;
    return ioports_register(io, 0x190, 1, &h, p);
}
