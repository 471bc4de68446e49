/* System control ports 61h and 92h (see sysctl.h). */
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/clock.h"
#include "devices/pit8254.h"
#include "devices/sysctl.h"

#define P61_GATE2     0x01
#define P61_SPEAKER   0x02
#define P61_WRITABLE  0x0F
#define P61_REFRESH   0x10
#define P61_OUT2      0x20
#define P92_RESET     0x01
#define P92_A20       0x02

static void apply_a20(struct sysctl *s)
{
    memory_set_a20(s->mem, s->kbc_a20 || (s->port92 & P92_A20));
}

static uint32_t port61_read(struct sysctl *s)
{
    /* Bits 6-7 (parity and channel check errors) stay 0: no emulated source raises them. */
    uint8_t v = s->port61 & P61_WRITABLE;
    /* The refresh request toggles on every refresh cycle; delay loops count the toggles. */
    if ((vclock_ns(s->clock) / SYSCTL_REFRESH_NS) & 1) v |= P61_REFRESH;
    if (pit_get_out(s->pit, 2)) v |= P61_OUT2;
    return v;
}

static void port61_write(struct sysctl *s, uint8_t v)
{
    s->port61 = v & P61_WRITABLE;
    pit_set_gate(s->pit, 2, v & P61_GATE2);
}

static void port92_write(struct sysctl *s, uint8_t v)
{
    uint8_t old = s->port92;
    s->port92 = v;
    if ((old ^ v) & P92_A20) {
        /* Not wired to the keyboard controller: the gate as it stands is its output. */
        if (!s->kbc_wired && (v & P92_A20)) s->kbc_a20 = (uint8_t)memory_a20(s->mem);
        apply_a20(s);
    }
    if (!(old & P92_RESET) && (v & P92_RESET) && s->reset_request) s->reset_request(s->opaque);
}

static uint32_t sysctl_read(void *opaque, uint16_t port, int size)
{
    struct sysctl *s = opaque;
    return port == 0x61 ? port61_read(s) : s->port92;
}

static void sysctl_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct sysctl *s = opaque;
    if (port == 0x61) port61_write(s, (uint8_t)val);
    else port92_write(s, (uint8_t)val);
}

void sysctl_set_kbc_a20(struct sysctl *s, int enabled)
{
    s->kbc_wired = 1;
    s->kbc_a20 = (uint8_t)!!enabled;
    apply_a20(s);
}

int sysctl_speaker_enabled(const struct sysctl *s)
{
    return (s->port61 & (P61_GATE2 | P61_SPEAKER)) == (P61_GATE2 | P61_SPEAKER);
}

void sysctl_reset(struct sysctl *s)
{
    uint8_t old92 = s->port92;
    s->port61 = 0;
    s->port92 = 0;
    pit_set_gate(s->pit, 2, 0);
    if (s->kbc_wired || (old92 & P92_A20)) apply_a20(s);
}

int sysctl_init(struct sysctl *s, struct ioports *io, struct vclock *clock, struct memory *mem,
                struct pit *pit, void (*reset_request)(void *opaque), void *opaque)
{
    static const struct io_handlers h = { sysctl_read, sysctl_write, 1 };
    memset(s, 0, sizeof(*s));
    s->clock = clock;
    s->mem = mem;
    s->pit = pit;
    s->reset_request = reset_request;
    s->opaque = opaque;
    s->kbc_a20 = (uint8_t)memory_a20(mem);   /* until the keyboard controller reports its gate */
    sysctl_reset(s);
    if (ioports_register(io, 0x61, 1, &h, s) < 0) return -1;
    if (ioports_register(io, 0x92, 1, &h, s) < 0) return -1;
    return 0;
}
