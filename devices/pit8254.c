/* Intel 8254 interval timer (see pit8254.h).
 *
 * Time is counted in ticks of the 1.193182 MHz input clock. A count written
 * after tick t is loaded into the counting element on the next pulse, t + 1
 * (datasheet, "Operation"); from then on the element's value and OUT are pure
 * functions of the ticks elapsed, per mode. Every access first brings the
 * channel up to date (channel_sync), then changes it. */
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/pit8254.h"

#define NEVER INT64_MAX
#define NS_PER_SEC 1000000000LL

enum {
    LOG_CONTROL_READ = 1u << 0,
    LOG_BAD_CHANNEL = 1u << 1,
};

static void log_once(struct pit *p, unsigned what, const char *fmt, unsigned v)
{
    if (p->logged & what) return;
    p->logged |= what;
    fprintf(stderr, "pit8254: ");
    fprintf(stderr, fmt, v);
    fprintf(stderr, " (logged once)\n");
}

/* ---------------------------------------------------------------------------
 * Clock conversion (split so that ns * PIT_HZ cannot overflow). */

int64_t pit_ticks_at(int64_t ns)
{
    if (ns < 0) ns = 0;
    return (ns / NS_PER_SEC) * PIT_HZ + ((ns % NS_PER_SEC) * PIT_HZ) / NS_PER_SEC;
}

int64_t pit_ns_of_tick(int64_t tick)
{
    if (tick < 0) tick = 0;
    /* Rounded up, so that pit_ticks_at(pit_ns_of_tick(t)) >= t. */
    return (tick / PIT_HZ) * NS_PER_SEC + ((tick % PIT_HZ) * NS_PER_SEC + PIT_HZ - 1) / PIT_HZ;
}

static int64_t now_tick(struct pit *p) { return pit_ticks_at(vclock_ns(p->clock)); }

/* ---------------------------------------------------------------------------
 * One channel as a function of time */

static uint32_t modulus(const struct pit_channel *c) { return c->bcd ? 10000 : 65536; }

static int64_t elapsed(const struct pit_channel *c, int64_t t)
{
    return c->frozen >= 0 ? c->frozen : t - c->start;
}

/* Commit a pending load that is due by tick t. */
static void channel_sync(struct pit_channel *c, int64_t t)
{
    if (c->pending_at > t) return;
    c->running = 1;
    c->n = c->pending_n;
    c->start = c->pending_start;
    c->pending_at = NEVER;
    c->null_count = 0;
    /* Modes 0 and 4 do not count while the gate is low (the gate has not changed since the last sync). */
    c->frozen = ((c->mode == 0 || c->mode == 4) && !c->gate) ? 0 : -1;
}

/* The counting element (binary, 0 .. modulus-1). */
static uint32_t channel_ce(const struct pit_channel *c, int64_t t)
{
    if (!c->running) return c->idle_ce;
    int64_t e = elapsed(c, t);
    int64_t n = c->n, m = modulus(c), v;
    switch (c->mode) {
    case 2:
        v = n - e % n;
        break;
    case 3: {
        /* Even counts step by two from N; odd ones from N-1, high for (N+1)/2 (datasheet, mode 3). */
        int64_t p = e % n;
        if (n % 2 == 0) {
            v = n - 2 * (p % (n / 2));
        } else {
            int64_t high = (n + 1) / 2;
            v = (n - 1) - 2 * (p < high ? p : p - high);
        }
        break;
    }
    default:   /* 0, 1, 4, 5: count down and wrap */
        v = n - e % m;
        if (v < 0) v += m;
        break;
    }
    return (uint32_t)(v % m);
}

static int channel_out(const struct pit_channel *c, int64_t t)
{
    if (!c->running) return c->idle_out;
    int64_t e = elapsed(c, t), n = c->n;
    switch (c->mode) {
    case 0: case 1: return e >= n;
    case 2: return n == 1 || e % n != n - 1;   /* a count of 1 is illegal in mode 2: no pulses */
    case 3: return e % n < (n + 1) / 2;
    default: return e != n;          /* 4, 5: low for one clock at terminal count */
    }
}

/* The first tick after t at which OUT rises in the current configuration. */
static int64_t channel_next_rise(const struct pit_channel *c, int64_t t)
{
    if (!c->running || c->frozen >= 0) return NEVER;
    int64_t e = t - c->start, n = c->n;
    if (n == 1 && (c->mode == 2 || c->mode == 3)) return NEVER;   /* OUT stays high */
    switch (c->mode) {
    case 0: case 1: return e < n ? c->start + n : NEVER;
    case 2: case 3: return c->start + (e / n + 1) * n;
    default: return e < n + 1 ? c->start + n + 1 : NEVER;
    }
}

static void channel_stop(struct pit_channel *c, int64_t t, int out)
{
    c->idle_ce = channel_ce(c, t);
    c->running = 0;
    c->idle_out = (uint8_t)out;
    c->pending_at = NEVER;
    c->frozen = -1;
}

static void channel_load_at(struct pit_channel *c, int64_t at, int64_t start, uint32_t n)
{
    c->pending_at = at;
    c->pending_start = start;
    c->pending_n = n;
}

/* A complete initial count was written at tick t. */
static void channel_write_count(struct pit_channel *c, int64_t t, uint32_t n)
{
    c->cr = n;
    c->cr_valid = 1;
    c->null_count = 1;
    switch (c->mode) {
    case 0:
        channel_stop(c, t, 0);
        channel_load_at(c, t + 1, t + 1, n);
        break;
    case 4:
        channel_stop(c, t, 1);
        channel_load_at(c, t + 1, t + 1, n);
        break;
    case 1: case 5:
        break;  /* loaded by the next gate trigger */
    case 2: case 3:
        if (c->running) {
            /* A new count takes effect at the end of the period (mode 2) or half-cycle (mode 3). */
            int64_t e = t - c->start, old = c->n, period_start = c->start + e / old * old;
            if (c->mode == 2) {
                int64_t at = period_start + old;
                channel_load_at(c, at, at, n);
            } else if (e % old < (old + 1) / 2) {
                int64_t at = period_start + (old + 1) / 2;
                channel_load_at(c, at, at - (n + 1) / 2, n);   /* enters the low half */
            } else {
                int64_t at = period_start + old;
                channel_load_at(c, at, at, n);
            }
        } else if (c->gate) {
            channel_load_at(c, t + 1, t + 1, n);
        }
        break;
    }
}

static void channel_set_gate(struct pit_channel *c, int64_t t, int level)
{
    if (!!level == c->gate) return;
    c->gate = (uint8_t)!!level;
    switch (c->mode) {
    case 0: case 4:
        if (!c->running) break;
        if (!level && c->frozen < 0) c->frozen = t - c->start;
        else if (level && c->frozen >= 0) {
            c->start = t - c->frozen;
            c->frozen = -1;
        }
        break;
    case 1: case 5:
        /* Rising edge: (re)trigger, loaded on the next clock. */
        if (level && c->cr_valid) channel_load_at(c, t + 1, t + 1, c->cr);
        break;
    case 2: case 3:
        /* Gate low stops counting and forces OUT high; rising reloads (datasheet, modes 2 and 3). */
        if (!level) {
            if (c->running || c->pending_at != NEVER) channel_stop(c, t, 1);
            else c->idle_out = 1;
        } else if (c->cr_valid) {
            channel_load_at(c, t + 1, t + 1, c->cr);
        }
        break;
    }
}

static void channel_set_mode(struct pit_channel *c, int64_t t, uint8_t ctrl)
{
    c->ctrl = ctrl & 0x3F;
    c->access = (ctrl >> 4) & 3;
    c->mode = (ctrl >> 1) & 7;
    if (c->mode > 5) c->mode -= 4;   /* 6 and 7 are 2 and 3 */
    c->bcd = ctrl & 1;
    /* A control word resets the channel's logic; OUT goes low in mode 0, high otherwise. */
    channel_stop(c, t, c->mode != 0);
    c->idle_ce %= modulus(c);
    c->cr_valid = 0;
    c->null_count = 1;
    c->write_msb = 0;
    c->read_msb = 0;
    c->latch_bytes = 0;
    c->status_latched = 0;
}

static void channel_latch_count(struct pit_channel *c, int64_t t)
{
    if (c->latch_bytes) return;   /* a latched count is kept until read */
    c->latch = (uint16_t)channel_ce(c, t);
    c->latch_bytes = c->access == 3 ? 2 : 1;
    c->latch_msb = c->access == 2;
}

static void channel_latch_status(struct pit_channel *c, int64_t t)
{
    if (c->status_latched) return;
    c->status = (uint8_t)((channel_out(c, t) << 7) | (c->null_count << 6) | c->ctrl);
    c->status_latched = 1;
}

static uint16_t to_bcd(uint32_t v)
{
    return (uint16_t)((v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | (v % 10));
}

static uint32_t from_bcd(uint16_t v)
{
    return (uint32_t)((v >> 12) * 1000 + ((v >> 8) & 15) * 100 + ((v >> 4) & 15) * 10 + (v & 15));
}

static uint8_t channel_read(struct pit_channel *c, int64_t t)
{
    if (c->status_latched) {
        c->status_latched = 0;
        return c->status;
    }
    uint16_t v;
    int msb;
    if (c->latch_bytes) {
        v = c->latch;
        msb = c->latch_msb;
        c->latch_bytes--;
        c->latch_msb = 1;
    } else {
        v = (uint16_t)channel_ce(c, t);
        msb = c->access == 2 || (c->access == 3 && c->read_msb);
        if (c->access == 3) c->read_msb ^= 1;
    }
    if (c->bcd) v = to_bcd(v);
    return (uint8_t)(msb ? v >> 8 : v);
}

static void channel_write(struct pit_channel *c, int64_t t, uint8_t v)
{
    uint16_t raw;
    switch (c->access) {
    case 1:
        raw = v;
        break;
    case 2:
        raw = (uint16_t)(v << 8);
        break;
    default:
        if (!c->write_msb) {
            c->write_lsb = v;
            c->write_msb = 1;
            /* Mode 0: the first byte stops the count and OUT goes low at once (datasheet, mode 0). */
            if (c->mode == 0) channel_stop(c, t, 0);
            return;
        }
        c->write_msb = 0;
        raw = (uint16_t)(c->write_lsb | v << 8);
        break;
    }
    uint32_t n = c->bcd ? from_bcd(raw) : raw;
    if (n == 0) n = modulus(c);
    channel_write_count(c, t, n);
}

/* ---------------------------------------------------------------------------
 * Channel 0 -> IRQ 0 */

static void pit_service(struct pit *p, int64_t t)
{
    struct pit_channel *c = &p->ch[0];
    int edge_due = p->irq_edge_at <= t;
    int loaded = c->pending_at <= t;
    channel_sync(c, t);
    /* Serviced late (timers run between CPU slices), a count loaded since the
     * last service may have reached its first rise already: a short mode 4
     * count's whole low pulse, which OUT alone no longer shows. */
    if (loaded && channel_next_rise(c, c->start) <= t) edge_due = 1;
    for (int k = 1; k < 3; k++) channel_sync(&p->ch[k], t);
    if (edge_due) {
        /* One rising edge per timer event: periods that passed unserviced merge. */
        if (p->irq_level) irq_lower(&p->irq0);
        irq_raise(&p->irq0);
        p->irq_level = 1;
    } else {
        int out = channel_out(c, t);
        if (out != p->irq_level) {
            p->irq_level = out;
            irq_set(&p->irq0, out);
        }
    }
    int64_t rise = channel_next_rise(c, t);
    p->irq_edge_at = rise <= c->pending_at ? rise : NEVER;
    int64_t wake = p->irq_edge_at < c->pending_at ? p->irq_edge_at : c->pending_at;
    if (wake == NEVER) {
        vtimer_del(&p->timer);
    } else {
        int64_t ns = pit_ns_of_tick(wake);
        /* Port 61h polling loops come here often: leave an unchanged timer alone. */
        if (!vtimer_pending(&p->timer) || p->timer.expire != ns) vtimer_mod(&p->timer, ns);
    }
}

static void pit_timer_fired(void *opaque)
{
    struct pit *p = opaque;
    pit_service(p, now_tick(p));
}

/* ---------------------------------------------------------------------------
 * Ports */

static void pit_control_write(struct pit *p, int64_t t, uint8_t v)
{
    int sc = v >> 6;
    if (sc == 3) {
        /* Read-back: bit 5 = 0 latches counts, bit 4 = 0 latches status, bits 3-1 pick counters 2-0. */
        for (int k = 0; k < 3; k++) {
            if (!(v & (2u << k))) continue;
            if (!(v & 0x20)) channel_latch_count(&p->ch[k], t);
            if (!(v & 0x10)) channel_latch_status(&p->ch[k], t);
        }
    } else if (((v >> 4) & 3) == 0) {
        channel_latch_count(&p->ch[sc], t);
    } else {
        channel_set_mode(&p->ch[sc], t, v);
    }
}

static uint32_t pit_port_read(void *opaque, uint16_t port, int size)
{
    struct pit *p = opaque;
    int k = port & 3;
    if (k == 3) {
        log_once(p, LOG_CONTROL_READ, "read of the control port %x (no operation)", port);
        return 0xFF;
    }
    int64_t t = now_tick(p);
    pit_service(p, t);
    uint8_t v = channel_read(&p->ch[k], t);
    pit_service(p, t);
    return v;
}

static void pit_port_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct pit *p = opaque;
    int64_t t = now_tick(p);
    pit_service(p, t);
    if ((port & 3) == 3) pit_control_write(p, t, (uint8_t)val);
    else channel_write(&p->ch[port & 3], t, (uint8_t)val);
    pit_service(p, t);
}

void pit_set_gate(struct pit *p, int ch, int level)
{
    if (ch < 0 || ch > 2) {
        log_once(p, LOG_BAD_CHANNEL, "gate of channel %u does not exist", (unsigned)ch);
        return;
    }
    int64_t t = now_tick(p);
    pit_service(p, t);
    channel_set_gate(&p->ch[ch], t, level);
    pit_service(p, t);
}

int pit_get_out(struct pit *p, int ch)
{
    if (ch < 0 || ch > 2) return 0;
    int64_t t = now_tick(p);
    pit_service(p, t);
    return channel_out(&p->ch[ch], t);
}

void pit_reset(struct pit *p)
{
    for (int k = 0; k < 3; k++) {
        struct pit_channel *c = &p->ch[k];
        memset(c, 0, sizeof(*c));
        c->access = 3;
        c->ctrl = 0x30;
        c->frozen = -1;
        c->pending_at = NEVER;
        c->gate = k != 2;        /* channel 2's gate is port 61h bit 0, clear at reset */
        c->null_count = 1;
    }
    p->irq_edge_at = NEVER;
    vtimer_del(&p->timer);
    p->irq_level = 0;
    irq_lower(&p->irq0);
}

int pit_init(struct pit *p, struct ioports *io, struct vclock *clock, struct irq_line irq0)
{
    static const struct io_handlers h = { pit_port_read, pit_port_write, 1 };
    memset(p, 0, sizeof(*p));
    p->clock = clock;
    p->irq0 = irq0;
    vtimer_init(&p->timer, clock, pit_timer_fired, p);
    pit_reset(p);
    return ioports_register(io, 0x40, 4, &h, p);
}
