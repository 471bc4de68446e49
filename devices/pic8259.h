/* Intel 8259A programmable interrupt controller: the PC/AT master/slave pair
 * (master 0x20/0x21, slave 0xA0/0xA1 cascaded on master IR2) and the PIIX
 * edge/level control registers (ELCR) at 0x4D0/0x4D1.
 *
 * Wiring: devices drive the 16 inputs through pic_irq(pic, n); the PIC drives
 * the CPU's INTR pin through the `set_intr` callback given to pic_init, and the
 * CPU's interrupt acknowledge calls pic_intr_ack() (or pic_intr_ack_cb, which
 * has the cpu_callbacks.intr_ack signature), which returns the vector. */
#ifndef BUBBLE_PIC8259_H
#define BUBBLE_PIC8259_H

#include <stdint.h>

#include "devices/irq.h"

struct ioports;

/* One 8259A. */
struct pic_chip {
    uint8_t irr_edge;      /* edge-latched requests (level inputs are read from `input`) */
    uint8_t isr;           /* in service */
    uint8_t imr;           /* masked */
    uint8_t input;         /* current level of IR0-7 */
    uint8_t elcr;          /* inputs the ELCR makes level triggered */
    uint8_t elcr_writable; /* ELCR bits that exist for this chip */
    uint8_t vector_base;   /* ICW2 T7-T3 */
    uint8_t icw1, icw3, icw4;
    uint8_t init_step;     /* 0: operational; 2, 3, 4: the next write to port 1 is ICWn */
    uint8_t lowest;        /* the IR with the lowest priority (7 after ICW1) */
    uint8_t read_isr;      /* OCW3 RR/RIS: port 0 reads the ISR instead of the IRR */
    uint8_t poll;          /* OCW3 P: the next read is a poll */
    uint8_t special_mask;  /* OCW3 SMM */
    uint8_t rotate_aeoi;   /* OCW2 rotate in automatic EOI mode */
};

struct pic {
    struct pic_chip chip[2];   /* [0] master, [1] slave */
    void (*set_intr)(void *opaque, int level);
    void *opaque;
    int intr;                  /* level last given to set_intr */
    unsigned logged;           /* one-time messages already printed */
};

/* Registers the ports and puts the pair in its reset state. 0 or -1 (ports taken). */
int pic_init(struct pic *p, struct ioports *io, void (*set_intr)(void *opaque, int level), void *opaque);
void pic_reset(struct pic *p);

/* Input n (0-15; 2 is the cascade and is not an external input on the PC). */
struct irq_line pic_irq(struct pic *p, int n);
void pic_set_irq(void *pic, int n, int level);

/* INTA cycle: the vector of the highest-priority request, or IR7 of the
 * chip that lost its request (spurious 7 / 15, datasheet "default IR7"). */
int pic_intr_ack(struct pic *p);
int pic_intr_ack_cb(void *pic);
/* Level of the INT output (what the CPU's INTR pin sees). */
int pic_intr_pending(const struct pic *p);

#endif
