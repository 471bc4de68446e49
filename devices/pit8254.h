/* Intel 8254 programmable interval timer at 0x40-0x43, clocked at
 * 1.193182 MHz from the virtual clock. Channel 0's OUT drives IRQ 0 (an
 * edge); channel 1's gate is tied high; channel 2's gate and OUT are bits 0
 * and 5 of port 61h (devices/sysctl.c calls pit_set_gate / pit_get_out).
 *
 * Nothing ticks: counts and outputs are computed from the clock when read,
 * and one vtimer is armed for channel 0's next rising edge (one event per
 * period in the periodic modes). */
#ifndef BUBBLE_PIT8254_H
#define BUBBLE_PIT8254_H

#include <stdint.h>

#include "devices/clock.h"
#include "devices/irq.h"

struct ioports;

#define PIT_HZ 1193182

struct pit_channel {
    /* Programming. */
    uint8_t ctrl;          /* RW1 RW0 M2 M1 M0 BCD of the last control word (status bits 5-0) */
    uint8_t mode;          /* 0-5 */
    uint8_t access;        /* 1: LSB, 2: MSB, 3: LSB then MSB */
    uint8_t bcd;
    uint8_t gate;
    uint8_t write_msb;     /* the next write is the MSB of a two-byte count */
    uint8_t write_lsb;     /* the LSB written first */
    uint8_t read_msb;      /* the next (unlatched) read is the MSB */
    uint8_t cr_valid;      /* a count was written since the control word */
    uint8_t null_count;    /* the count register has not reached the counting element yet */
    uint32_t cr;           /* count register, 1-65536 (1-10000 in BCD); 0 is written as the maximum */
    /* Latches (counter latch and read-back commands). */
    uint8_t latch_bytes;   /* count bytes left to read: 0, 1 or 2 */
    uint8_t latch_msb;     /* the next latched byte is the MSB */
    uint16_t latch;
    uint8_t status_latched;
    uint8_t status;
    /* Counting element, as a function of the tick: while `running`, it was
     * loaded with `n` at tick `start` (`frozen` >= 0: stopped by the gate
     * after that many ticks); otherwise it holds `idle_ce` and OUT is `idle_out`. */
    uint8_t running;
    uint8_t idle_out;
    uint32_t idle_ce;
    uint32_t n;
    int64_t start;
    int64_t frozen;
    /* A count waiting to be loaded at tick `pending_at` (INT64_MAX: none). */
    int64_t pending_at;
    int64_t pending_start;
    uint32_t pending_n;
};

struct pit {
    struct pit_channel ch[3];
    struct vclock *clock;
    struct vtimer timer;       /* channel 0's next output event */
    struct irq_line irq0;
    int irq_level;             /* level last given to irq0 */
    int64_t irq_edge_at;       /* tick of channel 0's next rising edge (INT64_MAX: none) */
    unsigned logged;
};

int pit_init(struct pit *p, struct ioports *io, struct vclock *clock, struct irq_line irq0);
void pit_reset(struct pit *p);

/* Gate input of channel `ch` (0-2) and its OUT pin now. */
void pit_set_gate(struct pit *p, int ch, int level);
int pit_get_out(struct pit *p, int ch);

/* The tick count of the 1.193182 MHz clock at a virtual time, and the first
 * virtual time at which the tick count reaches `tick`. */
int64_t pit_ticks_at(int64_t ns);
int64_t pit_ns_of_tick(int64_t tick);

#endif
