/* PC16550D UART (see uart16550.h). Section numbers refer to the National
 * Semiconductor PC16550D datasheet (June 1995), section 8 "Registers". */
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/uart16550.h"

/* Register offsets. */
enum {
    REG_DATA = 0, /* RBR / THR, DLL when DLAB */
    REG_IER = 1,  /* DLM when DLAB */
    REG_IIR = 2,  /* FCR on write */
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available (and timeout) */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */

#define IIR_NONE    0x01
#define IIR_MODEM   0x00
#define IIR_THRE    0x02
#define IIR_RDA     0x04
#define IIR_RLS     0x06
#define IIR_TIMEOUT 0x0C
#define IIR_FIFO    0xC0

#define FCR_ENABLE   0x01
#define FCR_RX_RESET 0x02
#define FCR_TX_RESET 0x04
#define FCR_DMA_MODE 0x08

#define LCR_BREAK 0x40
#define LCR_DLAB  0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR     0x01
#define LSR_OE     0x02
#define LSR_PE     0x04
#define LSR_FE     0x08
#define LSR_BI     0x10
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS  0x01
#define MSR_DDSR  0x02
#define MSR_TERI  0x04
#define MSR_DDCD  0x08
#define MSR_CTS   0x10
#define MSR_DSR   0x20
#define MSR_RI    0x40
#define MSR_DCD   0x80

/* One-time messages. */
enum { LOG_LSR_WRITE = 1, LOG_MSR_WRITE = 2, LOG_BREAK = 4, LOG_OVERRUN_RX = 8 };

static void log_once(struct uart16550 *u, uint32_t kind, const char *fmt, unsigned val)
{
    if (u->logged & kind) return;
    u->logged |= kind;
    fprintf(stderr, "uart16550@%#x: ", u->base);
    fprintf(stderr, fmt, val);
    fprintf(stderr, " (logged once)\n");
}

static int fifo_enabled(const struct uart16550 *u) { return u->fcr & FCR_ENABLE; }
static int loopback(const struct uart16550 *u) { return u->mcr & MCR_LOOP; }

/* Bytes the receive buffer holds: the FIFO, or the single RBR in 16450 mode. */
static int rx_capacity(const struct uart16550 *u) { return fifo_enabled(u) ? UART_FIFO_SIZE : 1; }

static int rx_trigger_level(const struct uart16550 *u)
{
    static const uint8_t levels[4] = { 1, 4, 8, 14 };
    return levels[u->fcr >> 6];
}

/* One character on the line, in ns: start bit, 5-8 data bits, optional
 * parity, 1, 1.5 or 2 stop bits (section 8.5, LCR), at divisor*16 clocks a bit. */
static int64_t char_time_ns(const struct uart16550 *u)
{
    int data_bits = 5 + (u->lcr & 3);
    int half_bits = 2 * (1 + data_bits + ((u->lcr & 0x08) ? 1 : 0));
    if (u->lcr & 0x04) half_bits += data_bits == 5 ? 3 : 4;
    else half_bits += 2;
    /* A divisor of 0 is not a valid programming (section 8.10); time it as 1. */
    int64_t divisor = u->divisor ? u->divisor : 1;
    return (int64_t)half_bits * divisor * 16 * 1000000000 / (2 * (int64_t)UART_CLOCK_HZ);
}

/* ---- interrupts ---------------------------------------------------------- */

/* The highest-priority pending interrupt, as IIR bits 3-0 (section 8.4, table IV). */
static uint8_t pending_interrupt(const struct uart16550 *u)
{
    if ((u->ier & IER_ELSI) && (u->lsr & LSR_ERRORS)) return IIR_RLS;
    if (u->ier & IER_ERBFI) {
        if (fifo_enabled(u)) {
            if (u->rx_count >= rx_trigger_level(u)) return IIR_RDA;
            if (u->timeout_pending && u->rx_count) return IIR_TIMEOUT;
        } else if (u->rx_count) {
            return IIR_RDA;
        }
    }
    if ((u->ier & IER_ETBEI) && u->thre_pending) return IIR_THRE;
    if ((u->ier & IER_EDSSI) && (u->msr & 0x0F)) return IIR_MODEM;
    return IIR_NONE;
}

/* PC cards gate INTR with OUT2; loopback forces the OUT2 pin inactive
 * (section 8.6, MCR bit 4), which cuts the IRQ off on a PC. */
static void update_irq(struct uart16550 *u)
{
    int level = pending_interrupt(u) != IIR_NONE && (u->mcr & MCR_OUT2) && !loopback(u);
    if (level == u->irq_level) return;
    u->irq_level = (uint8_t)level;
    irq_set(&u->irq, level);
}

/* ---- receive ------------------------------------------------------------- */

/* Timeout indication (section 8.4): FIFO mode, at least one byte in the FIFO,
 * and nothing put in or taken out for 4 character times. */
static void arm_timeout(struct uart16550 *u)
{
    if (!u->clock) return;
    if (fifo_enabled(u) && u->rx_count && !u->timeout_pending)
        vtimer_mod(&u->timeout_timer, u->rx_activity_ns + 4 * char_time_ns(u));
    else
        vtimer_del(&u->timeout_timer);
}

static void timeout_expired(void *opaque)
{
    struct uart16550 *u = opaque;
    if (!fifo_enabled(u) || !u->rx_count || u->timeout_pending) return;
    int64_t due = u->rx_activity_ns + 4 * char_time_ns(u);
    if (vclock_ns(u->clock) < due) {
        vtimer_mod(&u->timeout_timer, due);
        return;
    }
    u->timeout_pending = 1;
    update_irq(u);
}

static int64_t now_ns(struct uart16550 *u) { return u->clock ? vclock_ns(u->clock) : 0; }

/* A character arrives from the line (or the loopback). A full buffer is an
 * overrun: the FIFO keeps its contents and the new byte is lost; the single
 * 16450-mode RBR is overwritten (section 8.7, LSR bit 1). */
static void rx_put(struct uart16550 *u, uint8_t b)
{
    int cap = rx_capacity(u);
    if (u->rx_count >= cap) {
        u->lsr |= LSR_OE;
        if (!fifo_enabled(u)) u->rx_fifo[u->rx_head] = b;
    } else {
        u->rx_fifo[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = b;
        u->rx_count++;
    }
    u->lsr |= LSR_DR;
    /* A new byte restarts the timeout count unless it already fired (section 8.4). */
    u->rx_activity_ns = now_ns(u);
    arm_timeout(u);
    update_irq(u);
}

static int chr_can_receive(void *opaque)
{
    struct uart16550 *u = opaque;
    if (loopback(u)) return 0;    /* the serial input is disconnected in loopback */
    return rx_capacity(u) - u->rx_count;
}

static void chr_receive(void *opaque, const uint8_t *buf, size_t len)
{
    struct uart16550 *u = opaque;
    size_t room = (size_t)chr_can_receive(u);
    /* The backend promised to respect chr_can_receive; bytes beyond it overrun. */
    if (len > room)
        log_once(u, LOG_OVERRUN_RX, "backend delivered %u byte(s) beyond the free receive space",
                 (unsigned)(len - room));
    if (loopback(u)) return;
    for (size_t k = 0; k < len; k++) rx_put(u, buf[k]);
}

static void rx_clear(struct uart16550 *u)
{
    u->rx_count = 0;
    u->rx_head = 0;
    u->lsr &= (uint8_t)~LSR_DR;
    u->timeout_pending = 0;
    arm_timeout(u);
}

static uint8_t read_rbr(struct uart16550 *u)
{
    if (u->rx_count) {
        u->rbr = u->rx_fifo[u->rx_head];
        u->rx_head = (uint8_t)((u->rx_head + 1) % UART_FIFO_SIZE);
        u->rx_count--;
        /* Reading a byte clears the timeout and restarts its count (section 8.4). */
        u->timeout_pending = 0;
        u->rx_activity_ns = now_ns(u);
    }
    if (!u->rx_count) u->lsr &= (uint8_t)~LSR_DR;
    arm_timeout(u);
    update_irq(u);
    /* Room again: let the backend deliver more (it may call chr_receive now). */
    if (!loopback(u)) chr_rx_ready(u->chr);
    return u->rbr;
}

/* ---- modem lines --------------------------------------------------------- */

/* The modem inputs: from the MCR outputs in loopback (section 8.6), else
 * asserted while a backend is connected. Changes set the delta bits. */
static void update_modem_inputs(struct uart16550 *u, int set_deltas)
{
    uint8_t in;
    if (loopback(u)) {
        in = (uint8_t)(((u->mcr & MCR_RTS) ? MSR_CTS : 0) | ((u->mcr & MCR_DTR) ? MSR_DSR : 0) |
                       ((u->mcr & MCR_OUT1) ? MSR_RI : 0) | ((u->mcr & MCR_OUT2) ? MSR_DCD : 0));
    } else {
        in = u->chr ? (MSR_CTS | MSR_DSR | MSR_DCD) : 0;
    }
    uint8_t old = u->msr & 0xF0, delta = 0;
    if (set_deltas) {
        if ((old ^ in) & MSR_CTS) delta |= MSR_DCTS;
        if ((old ^ in) & MSR_DSR) delta |= MSR_DDSR;
        if ((old & MSR_RI) && !(in & MSR_RI)) delta |= MSR_TERI; /* trailing edge only */
        if ((old ^ in) & MSR_DCD) delta |= MSR_DDCD;
    }
    u->msr = (uint8_t)(in | (u->msr & 0x0F) | delta);
}

/* ---- register writes ----------------------------------------------------- */

static void write_thr(struct uart16550 *u, uint8_t b)
{
    /* Writing THR clears the THRE interrupt; the byte leaves at once and the
     * now empty THR raises it again (section 8.4). */
    u->thre_pending = 0;
    if (loopback(u)) rx_put(u, b);
    else chr_write(u->chr, &b, 1);
    u->thre_pending = 1;
    update_irq(u);
}

static void write_ier(struct uart16550 *u, uint8_t v)
{
    uint8_t old = u->ier;
    u->ier = v & 0x0F;
    /* Enabling ETBEI while THR is empty gives a THRE interrupt at once, as
     * the 16550 does (drivers test for it). */
    if (!(old & IER_ETBEI) && (u->ier & IER_ETBEI)) u->thre_pending = 1;
    update_irq(u);
}

static void write_fcr(struct uart16550 *u, uint8_t v)
{
    int was_enabled = fifo_enabled(u);
    if (!(v & FCR_ENABLE)) {
        /* FIFOs off: the other bits are not programmed (section 8.3). */
        u->fcr = 0;
        if (was_enabled) rx_clear(u);
    } else {
        u->fcr = v & (FCR_ENABLE | FCR_DMA_MODE | 0xC0);
        /* Changing the FIFO mode clears the FIFOs (section 8.3, FCR bit 0). */
        if (!was_enabled || (v & FCR_RX_RESET)) rx_clear(u);
        /* FCR_TX_RESET: the transmitter is always empty here. */
    }
    arm_timeout(u);
    update_irq(u);
    if (!loopback(u)) chr_rx_ready(u->chr);
}

static void write_lcr(struct uart16550 *u, uint8_t v)
{
    if ((v & LCR_BREAK) && !(u->lcr & LCR_BREAK))
        log_once(u, LOG_BREAK, "break (LCR %#x) is not passed to the backend", v);
    u->lcr = v;
    arm_timeout(u);   /* the character time may have changed */
}

static void write_divisor(struct uart16550 *u, uint16_t d)
{
    u->divisor = d;
    arm_timeout(u);   /* the character time changed */
}

static void write_mcr(struct uart16550 *u, uint8_t v)
{
    int was_loop = loopback(u);
    u->mcr = v & 0x1F;
    update_modem_inputs(u, 1);
    update_irq(u);
    if (was_loop && !loopback(u)) chr_rx_ready(u->chr);
}

static void uart_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct uart16550 *u = opaque;
    uint8_t v = (uint8_t)val;
    switch ((port - u->base) & 7) {
    case REG_DATA:
        if (u->lcr & LCR_DLAB) write_divisor(u, (uint16_t)((u->divisor & 0xFF00) | v));
        else write_thr(u, v);
        break;
    case REG_IER:
        if (u->lcr & LCR_DLAB) write_divisor(u, (uint16_t)((u->divisor & 0x00FF) | (v << 8)));
        else write_ier(u, v);
        break;
    case REG_IIR: write_fcr(u, v); break;
    case REG_LCR: write_lcr(u, v); break;
    case REG_MCR: write_mcr(u, v); break;
    case REG_LSR:
        log_once(u, LOG_LSR_WRITE, "write %#x to the LSR (factory test) ignored", v);
        break;
    case REG_MSR:
        log_once(u, LOG_MSR_WRITE, "write %#x to the MSR (read-only) ignored", v);
        break;
    case REG_SCR: u->scr = v; break;
    }
}

/* ---- register reads ------------------------------------------------------ */

static uint8_t read_iir(struct uart16550 *u)
{
    uint8_t id = pending_interrupt(u);
    /* Reading IIR while it reports THRE clears that interrupt (section 8.4). */
    if (id == IIR_THRE) {
        u->thre_pending = 0;
        update_irq(u);
    }
    return (uint8_t)(id | (fifo_enabled(u) ? IIR_FIFO : 0));
}

static uint8_t read_lsr(struct uart16550 *u)
{
    uint8_t v = (uint8_t)(u->lsr | LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0));
    /* The error bits clear on read (section 8.7). */
    u->lsr &= (uint8_t)~LSR_ERRORS;
    update_irq(u);
    return v;
}

static uint8_t read_msr(struct uart16550 *u)
{
    uint8_t v = u->msr;
    u->msr &= 0xF0;    /* the delta bits clear on read (section 8.8) */
    update_irq(u);
    return v;
}

static uint32_t uart_read(void *opaque, uint16_t port, int size)
{
    struct uart16550 *u = opaque;
    switch ((port - u->base) & 7) {
    case REG_DATA: return (u->lcr & LCR_DLAB) ? (u->divisor & 0xFF) : read_rbr(u);
    case REG_IER: return (u->lcr & LCR_DLAB) ? (u->divisor >> 8) : u->ier;
    case REG_IIR: return read_iir(u);
    case REG_LCR: return u->lcr;
    case REG_MCR: return u->mcr;
    case REG_LSR: return read_lsr(u);
    case REG_MSR: return read_msr(u);
    default: return u->scr;
    }
}

/* ---- set-up -------------------------------------------------------------- */

void uart16550_reset(struct uart16550 *u)
{
    /* Section 8.11, table V (master reset). */
    u->ier = 0;
    u->fcr = 0;
    u->lcr = 0;
    u->mcr = 0;
    u->lsr = 0;
    u->msr = 0;
    u->thre_pending = 0;
    rx_clear(u);
    update_modem_inputs(u, 0);
    update_irq(u);
    chr_rx_ready(u->chr);
}

int uart16550_init(struct uart16550 *u, struct ioports *io, uint16_t base, struct vclock *clock,
                   struct irq_line irq, struct char_backend *chr)
{
    static const struct io_handlers h = { uart_read, uart_write, 1 };
    memset(u, 0, sizeof(*u));
    u->base = base;
    u->clock = clock;
    u->irq = irq;
    u->chr = chr;
    u->divisor = 12;   /* 9600 baud until the firmware programs it */
    if (clock) vtimer_init(&u->timeout_timer, clock, timeout_expired, u);
    chr_set_receiver(chr, chr_can_receive, chr_receive, u);
    u->irq_level = 1;  /* forces the line low in reset */
    uart16550_reset(u);
    return ioports_register(io, base, 8, &h, u);
}
