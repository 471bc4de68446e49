/* Intel 8259A interrupt controller pair (see pic8259.h).
 *
 * Requests: an edge-triggered input latches its 0 -> 1 transition in IRR and
 * keeps it until acknowledged, so devices may pulse their line (irq_pulse); a
 * level-triggered input (LTIM or ELCR) requests while it is high, so a level
 * request that goes away before INTA yields the default IR7 (datasheet,
 * "Edge and Level Triggered Modes"). The slave's INT output drives master IR2
 * as a level, so a slave request that appears while IR2 is being acknowledged
 * is never lost. */
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/pic8259.h"

#define ICW1_IC4   0x01
#define ICW1_SNGL  0x02
#define ICW1_LTIM  0x08
#define ICW1_INIT  0x10
#define ICW4_UPM   0x01
#define ICW4_AEOI  0x02
#define ICW4_SFNM  0x10
#define OCW3_RIS   0x01
#define OCW3_RR    0x02
#define OCW3_POLL  0x04
#define OCW3_SMM   0x20
#define OCW3_ESMM  0x40

#define CASCADE_IR 2        /* the slave is wired to master IR2 on the PC/AT */

enum {
    LOG_8080_MODE = 1u << 0,
    LOG_CASCADE_INPUT = 1u << 1,
    LOG_SLAVE_ID = 1u << 2,
    LOG_ELCR_RESERVED = 1u << 3,
    LOG_BAD_IRQ = 1u << 4,
};

static void log_once(struct pic *p, unsigned what, const char *fmt, unsigned v)
{
    if (p->logged & what) return;
    p->logged |= what;
    fprintf(stderr, "pic8259: ");
    fprintf(stderr, fmt, v);
    fprintf(stderr, " (logged once)\n");
}

/* ---------------------------------------------------------------------------
 * Priority resolution */

/* Inputs that request by level: LTIM for the whole chip, else the ELCR; the
 * master's cascade input always follows the slave's INT level. */
static uint8_t level_inputs(const struct pic_chip *c, int is_master)
{
    uint8_t m = (c->icw1 & ICW1_LTIM) ? 0xFF : c->elcr;
    if (is_master) m |= 1u << CASCADE_IR;
    return m;
}

static uint8_t chip_irr(const struct pic_chip *c, int is_master)
{
    uint8_t lvl = level_inputs(c, is_master);
    return (uint8_t)((c->irr_edge & ~lvl) | (c->input & lvl));
}

/* 0 is the highest priority; rotation moves the lowest priority to `lowest`. */
static int priority_rank(const struct pic_chip *c, int ir)
{
    return (ir - c->lowest - 1) & 7;
}

/* The IR in `bits` with the highest priority, or -1. */
static int highest_priority(const struct pic_chip *c, uint8_t bits)
{
    for (int k = 1; k <= 8; k++) {
        int ir = (c->lowest + k) & 7;
        if (bits & (1u << ir)) return ir;
    }
    return -1;
}

static int sfnm_cascade(const struct pic_chip *c, int is_master, int ir)
{
    return is_master && ir == CASCADE_IR && (c->icw4 & ICW4_SFNM);
}

/* The IR this chip would present at INTA now, or -1. */
static int chip_pending(const struct pic_chip *c, int is_master)
{
    int ir = highest_priority(c, (uint8_t)(chip_irr(c, is_master) & ~c->imr));
    if (ir < 0) return -1;
    /* Special mask mode: masked levels in service do not hold off others (datasheet, OCW3 SMM). */
    uint8_t in_service = c->special_mask ? (uint8_t)(c->isr & ~c->imr) : c->isr;
    int s = highest_priority(c, in_service);
    if (s < 0) return ir;
    int r = priority_rank(c, ir), rs = priority_rank(c, s);
    if (r < rs) return ir;
    /* Special fully nested mode: a slave in service does not block higher slave requests. */
    if (r == rs && sfnm_cascade(c, is_master, ir)) return ir;
    return -1;
}

/* Recompute the slave -> master cascade and the CPU's INTR pin. */
static void pic_update(struct pic *p)
{
    struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
    if (chip_pending(s, 0) >= 0) m->input |= 1u << CASCADE_IR;
    else m->input &= (uint8_t)~(1u << CASCADE_IR);
    int level = chip_pending(m, 1) >= 0;
    if (level != p->intr) {
        p->intr = level;
        if (p->set_intr) p->set_intr(p->opaque, level);
    }
}

/* The INTA (or poll) of `ir`: ISR set (unless AEOI), edge latch cleared. */
static void chip_acknowledge(struct pic_chip *c, int ir)
{
    c->irr_edge &= (uint8_t)~(1u << ir);
    if (c->icw4 & ICW4_AEOI) {
        if (c->rotate_aeoi) c->lowest = (uint8_t)ir;
    } else {
        c->isr |= (uint8_t)(1u << ir);
    }
}

static int is_cascade(const struct pic_chip *m, int ir)
{
    return ir == CASCADE_IR && !(m->icw1 & ICW1_SNGL) && (m->icw3 & (1u << CASCADE_IR));
}

int pic_intr_ack(struct pic *p)
{
    struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
    int vector;
    int ir = chip_pending(m, 1);
    if (ir < 0) {
        /* The request went away before INTA: default IR7, ISR untouched. */
        vector = m->vector_base | 7;
    } else {
        chip_acknowledge(m, ir);
        if (is_cascade(m, ir)) {
            int sir = chip_pending(s, 0);
            if (sir < 0) {
                /* Spurious IRQ 15: the master's IR2 stays in service (it needs its EOI). */
                vector = s->vector_base | 7;
            } else {
                chip_acknowledge(s, sir);
                vector = s->vector_base | sir;
            }
        } else {
            vector = m->vector_base | ir;
        }
    }
    pic_update(p);
    return vector;
}

int pic_intr_ack_cb(void *pic) { return pic_intr_ack(pic); }

int pic_intr_pending(const struct pic *p) { return p->intr; }

/* ---------------------------------------------------------------------------
 * Inputs */

void pic_set_irq(void *opaque, int n, int level)
{
    struct pic *p = opaque;
    if (n < 0 || n > 15) {
        log_once(p, LOG_BAD_IRQ, "irq input %u out of range ignored", (unsigned)n);
        return;
    }
    if (n == CASCADE_IR) {
        /* IR2 carries the slave; ISA IRQ 2 devices are wired to IRQ 9. */
        log_once(p, LOG_CASCADE_INPUT, "external irq %u (the cascade input) ignored", (unsigned)n);
        return;
    }
    struct pic_chip *c = &p->chip[n >> 3];
    uint8_t bit = (uint8_t)(1u << (n & 7));
    if (level) {
        if (!(c->input & bit) && !(level_inputs(c, n < 8) & bit)) c->irr_edge |= bit;
        c->input |= bit;
    } else {
        c->input &= (uint8_t)~bit;
    }
    pic_update(p);
}

struct irq_line pic_irq(struct pic *p, int n)
{
    struct irq_line l = { pic_set_irq, p, n };
    return l;
}

/* ---------------------------------------------------------------------------
 * Commands */

static void write_icw1(struct pic *p, struct pic_chip *c, uint8_t v)
{
    c->icw1 = v;
    c->init_step = 2;
    /* ICW1 resets the edge sense, the IMR, priorities, SMM and the status read (datasheet, ICW1). */
    c->irr_edge = 0;
    c->isr = 0;
    c->imr = 0;
    c->lowest = 7;
    c->special_mask = 0;
    c->read_isr = 0;
    c->poll = 0;
    c->rotate_aeoi = 0;
    if (!(v & ICW1_IC4)) c->icw4 = 0;
}

static void finish_init(struct pic *p, struct pic_chip *c)
{
    c->init_step = 0;
    if (!(c->icw4 & ICW4_UPM))
        log_once(p, LOG_8080_MODE, "MCS-80/85 mode (ICW4 uPM=0, icw1 %02x) not implemented; using 8086 mode",
                 c->icw1);
}

static void write_init_word(struct pic *p, struct pic_chip *c, uint8_t v)
{
    switch (c->init_step) {
    case 2:
        c->vector_base = v & 0xF8;
        if (!(c->icw1 & ICW1_SNGL)) c->init_step = 3;
        else if (c->icw1 & ICW1_IC4) c->init_step = 4;
        else finish_init(p, c);
        break;
    case 3:
        c->icw3 = v;
        if (c == &p->chip[1] && (v & 7) != CASCADE_IR)
            log_once(p, LOG_SLAVE_ID, "slave ID %u in ICW3 (the PC wires it to IR2)", v);
        if (c->icw1 & ICW1_IC4) c->init_step = 4;
        else finish_init(p, c);
        break;
    case 4:
        c->icw4 = v;
        finish_init(p, c);
        break;
    }
}

static void write_ocw2(struct pic_chip *c, uint8_t v)
{
    int level = v & 7;
    int ir;
    switch (v >> 5) {
    case 1: /* non-specific EOI */
        ir = highest_priority(c, c->isr);
        if (ir >= 0) c->isr &= (uint8_t)~(1u << ir);
        break;
    case 3: /* specific EOI */
        c->isr &= (uint8_t)~(1u << level);
        break;
    case 5: /* rotate on non-specific EOI */
        ir = highest_priority(c, c->isr);
        if (ir >= 0) {
            c->isr &= (uint8_t)~(1u << ir);
            c->lowest = (uint8_t)ir;
        }
        break;
    case 4: /* set rotate in AEOI mode */
        c->rotate_aeoi = 1;
        break;
    case 0: /* clear rotate in AEOI mode */
        c->rotate_aeoi = 0;
        break;
    case 7: /* rotate on specific EOI */
        c->isr &= (uint8_t)~(1u << level);
        c->lowest = (uint8_t)level;
        break;
    case 6: /* set priority */
        c->lowest = (uint8_t)level;
        break;
    case 2: /* no operation */
        break;
    }
}

static void write_ocw3(struct pic_chip *c, uint8_t v)
{
    if (v & OCW3_ESMM) c->special_mask = (v & OCW3_SMM) != 0;
    if (v & OCW3_RR) c->read_isr = v & OCW3_RIS;
    c->poll = (v & OCW3_POLL) != 0;
}

/* Poll (OCW3 P): the read acts as INTA and returns 1000 0 W2 W1 W0, or 0. */
static uint8_t chip_poll(struct pic *p, struct pic_chip *c)
{
    int is_master = c == &p->chip[0];
    c->poll = 0;
    int ir = chip_pending(c, is_master);
    if (ir < 0) return 0;
    chip_acknowledge(c, ir);
    pic_update(p);
    return (uint8_t)(0x80 | ir);
}

/* ---------------------------------------------------------------------------
 * Ports */

static struct pic_chip *chip_of(struct pic *p, uint16_t port)
{
    return &p->chip[(port & 0x80) ? 1 : 0];
}

static uint32_t pic_port_read(void *opaque, uint16_t port, int size)
{
    struct pic *p = opaque;
    struct pic_chip *c = chip_of(p, port);
    if (c->poll) return chip_poll(p, c);
    if (port & 1) return c->imr;
    return c->read_isr ? c->isr : chip_irr(c, c == &p->chip[0]);
}

static void pic_port_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct pic *p = opaque;
    struct pic_chip *c = chip_of(p, port);
    uint8_t v = (uint8_t)val;
    if (!(port & 1)) {
        if (v & ICW1_INIT) write_icw1(p, c, v);
        else if (v & 0x08) write_ocw3(c, v);
        else write_ocw2(c, v);
    } else if (c->init_step) {
        write_init_word(p, c, v);
    } else {
        c->imr = v;   /* OCW1 */
    }
    pic_update(p);
}

static uint32_t elcr_read(void *opaque, uint16_t port, int size)
{
    struct pic *p = opaque;
    return p->chip[port & 1].elcr;
}

static void elcr_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct pic *p = opaque;
    struct pic_chip *c = &p->chip[port & 1];
    uint8_t v = (uint8_t)val;
    /* PIIX: IRQ 0, 1, 2, 8 and 13 are always edge triggered. */
    if (v & ~c->elcr_writable) log_once(p, LOG_ELCR_RESERVED, "ELCR reserved bits written (%02x)", v);
    c->elcr = v & c->elcr_writable;
    c->irr_edge &= (uint8_t)~c->elcr;   /* a level input has no edge latch */
    pic_update(p);
}

void pic_reset(struct pic *p)
{
    for (int k = 0; k < 2; k++) {
        struct pic_chip *c = &p->chip[k];
        uint8_t input = c->input;
        memset(c, 0, sizeof(*c));
        c->input = input;                 /* the lines keep their levels */
        c->lowest = 7;
        c->elcr_writable = k ? 0xDE : 0xF8;
        c->icw4 = ICW4_UPM;
    }
    p->chip[0].input &= (uint8_t)~(1u << CASCADE_IR);
    p->intr = 0;
    if (p->set_intr) p->set_intr(p->opaque, 0);
    pic_update(p);
}

int pic_init(struct pic *p, struct ioports *io, void (*set_intr)(void *opaque, int level), void *opaque)
{
    static const struct io_handlers ports = { pic_port_read, pic_port_write, 1 };
    static const struct io_handlers elcr = { elcr_read, elcr_write, 1 };
    memset(p, 0, sizeof(*p));
    p->set_intr = set_intr;
    p->opaque = opaque;
    pic_reset(p);
    if (ioports_register(io, 0x20, 2, &ports, p) < 0) return -1;
    if (ioports_register(io, 0xA0, 2, &ports, p) < 0) return -1;
    if (ioports_register(io, 0x4D0, 2, &elcr, p) < 0) return -1;
    return 0;
}
