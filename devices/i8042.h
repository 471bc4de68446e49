/* Intel 8042 keyboard controller as in PS/2-compatible PCs: data port 0x60,
 * status/command port 0x64, the keyboard on IRQ 1 and the PS/2 mouse (aux
 * port) on IRQ 12, the A20 gate and the CPU reset line on its output port.
 * The keyboard and mouse (devices/ps2.c) are part of the controller struct:
 * the host front end feeds them through &kbc->kbd and &kbc->mouse. */
#ifndef BUBBLE_I8042_H
#define BUBBLE_I8042_H

#include <stdint.h>

#include "devices/clock.h"
#include "devices/irq.h"
#include "devices/ps2.h"

struct ioports;
struct memory;

/* The controller's own replies (and D2/D3 data) wait here until the output
 * buffer is free; they go out before device bytes. */
#define I8042_REPLY_SIZE 8

struct i8042 {
    struct ps2_kbd kbd;
    struct ps2_mouse mouse;
    struct memory *mem;                 /* for the A20 gate; may be NULL */
    void (*a20_set)(void *opaque, int enabled); /* instead of memory_set_a20, when set */
    void *a20_opaque;
    struct irq_line irq_kbd, irq_mouse;
    void (*reset_request)(void *opaque); /* the output port's reset line was pulled */
    void *reset_opaque;

    uint8_t ram[32];                    /* ram[0] is the command byte */
    uint8_t out_port;                   /* P2 as last written */
    uint8_t sys_flag;                   /* status bit 2 */
    uint8_t last_was_command;           /* status bit 3 (A2): last write went to 0x64 */
    uint8_t obf;                        /* the output buffer holds a byte */
    uint8_t ob_aux;                     /* ... from the aux port (status bit 5) */
    uint8_t ob;                         /* the output buffer */
    uint8_t pending;                    /* command waiting for its data byte on 0x60, or 0 */
    uint8_t xlat_break;                 /* translation saw F0: the next code gets bit 7 */
    uint8_t filling;                    /* inside fill_output (devices notify while we read them) */
    uint8_t reply[I8042_REPLY_SIZE];    /* controller output, with its aux flag below */
    uint8_t reply_aux[I8042_REPLY_SIZE];
    uint8_t reply_head, reply_count;
    uint8_t irq_kbd_level, irq_mouse_level;
    uint32_t logged[8];                 /* unknown commands, reported once */
    uint8_t logged_misc;                /* other one-time messages */
};

/* Claims ports 0x60 and 0x64. `reset_request` is called from inside the
 * guest's port write when it pulls the reset line (command 0xFE, or 0xD1 with
 * bit 0 clear): the machine should stop the CPU and reset once the
 * instruction completes, not reset from within the callback. Returns 0, or
 * -1 if a port is taken. */
int i8042_init(struct i8042 *c, struct ioports *io, struct memory *mem, struct vclock *clock,
               struct irq_line irq_kbd, struct irq_line irq_mouse,
               void (*reset_request)(void *opaque), void *reset_opaque);
/* Where the output port's A20 bit goes when not straight to memory_set_a20:
 * on a PC with port 92h it is ORed with the fast A20 gate (devices/sysctl.c,
 * sysctl_set_kbc_a20 behind a one-line wrapper). */
void i8042_set_a20_handler(struct i8042 *c, void (*fn)(void *opaque, int enabled), void *opaque);
/* Power-on state of the controller, the keyboard and the mouse. The A20 bit
 * of the output port is read from the memory (the machine sets A20 at reset);
 * the gate is not driven at reset. */
void i8042_reset(struct i8042 *c);

#endif
