/* National/TI PC16550D UART (a PC serial port: COM1 at 0x3F8 IRQ 4, COM2 at
 * 0x2F8 IRQ 3; the machine chooses).
 *
 * Transmitted bytes go to the char backend at once (not paced by the baud
 * rate: a fast console matters more), so THRE and TEMT read back set.
 * Received bytes come from the backend only while the receive FIFO has room,
 * so input is never dropped. The character-timeout interrupt follows the
 * programmed baud rate on the virtual clock. On a PC card the chip's INTR
 * pin reaches the ISA IRQ only through the OUT2 gate (MCR bit 3). */
#ifndef BUBBLE_UART16550_H
#define BUBBLE_UART16550_H

#include <stdint.h>

#include "devices/clock.h"
#include "devices/hostif.h"
#include "devices/irq.h"

struct ioports;

#define UART_FIFO_SIZE 16
/* The crystal of PC serial cards: 1.8432 MHz, 16 clocks per bit. */
#define UART_CLOCK_HZ 1843200

struct uart16550 {
    uint16_t base;
    struct vclock *clock;
    struct irq_line irq;
    struct char_backend *chr;      /* NULL: nothing connected */
    struct vtimer timeout_timer;   /* the character-timeout interrupt */

    uint8_t ier, fcr, lcr, mcr, lsr, scr;
    uint8_t msr;                   /* bits 7-4 the modem inputs, 3-0 their deltas */
    uint16_t divisor;
    uint8_t rbr;                   /* the last byte read (read again when empty) */
    uint8_t rx_fifo[UART_FIFO_SIZE];
    uint8_t rx_head, rx_count;
    uint8_t thre_pending;          /* the THR-empty interrupt is pending */
    uint8_t timeout_pending;       /* the character-timeout interrupt is pending */
    int64_t rx_activity_ns;        /* a byte last went into or out of the RX FIFO */
    uint8_t irq_level;             /* what we drive on the IRQ line */
    uint32_t logged;               /* messages already printed (bit per kind) */
};

/* Claims ports base..base+7 and installs itself as the backend's receiver.
 * `chr` may be NULL (no cable: CTS/DSR/DCD read inactive). Returns 0, or -1
 * if a port is taken. */
int uart16550_init(struct uart16550 *u, struct ioports *io, uint16_t base, struct vclock *clock,
                   struct irq_line irq, struct char_backend *chr);
/* Master reset (the MR pin): registers to their datasheet reset values; the
 * divisor latch and scratch register keep their contents. */
void uart16550_reset(struct uart16550 *u);

#endif
