/* PC system control ports:
 *  - port 61h, system control port B: bit 0 PIT channel 2 gate, bit 1 speaker
 *    data enable, bits 2-3 parity / channel check disables (read back), bit 4
 *    refresh request toggle (every 15.085 us of virtual time), bit 5 PIT
 *    channel 2 OUT, bits 6-7 channel check / parity error NMI status (always
 *    0: nothing emulated raises those errors);
 *  - port 92h, system control port A: bit 0 fast reset (a 0 -> 1 write asks
 *    the machine to reset the CPU), bit 1 fast A20.
 *
 * A20 is the OR of port 92h bit 1 and the keyboard controller's output port
 * bit 1: the keyboard controller reports its gate with sysctl_set_kbc_a20 and
 * this device applies the result with memory_set_a20. Until that is wired,
 * the memory's gate when port 92h turns A20 on stands for the keyboard
 * controller's, and A20 is touched only when bit 1 changes. */
#ifndef BUBBLE_SYSCTL_H
#define BUBBLE_SYSCTL_H

#include <stdint.h>

struct ioports;
struct vclock;
struct memory;
struct pit;

#define SYSCTL_REFRESH_NS 15085    /* one DRAM refresh request: 18 PIT clocks */

struct sysctl {
    struct vclock *clock;
    struct memory *mem;
    struct pit *pit;
    void (*reset_request)(void *opaque);
    void *opaque;
    uint8_t port61;        /* bits 0-3 as written */
    uint8_t port92;
    uint8_t kbc_a20;       /* the keyboard controller's A20 output */
    uint8_t kbc_wired;     /* sysctl_set_kbc_a20 has been called */
};

int sysctl_init(struct sysctl *s, struct ioports *io, struct vclock *clock, struct memory *mem,
                struct pit *pit, void (*reset_request)(void *opaque), void *opaque);
/* Power-on state: speaker off, channel 2 gate low, port 92h clear (A20 then
 * follows the keyboard controller alone). */
void sysctl_reset(struct sysctl *s);
void sysctl_set_kbc_a20(struct sysctl *s, int enabled);
/* The speaker cone follows PIT channel 2 OUT while bits 0 and 1 are set. */
int sysctl_speaker_enabled(const struct sysctl *s);

#endif
