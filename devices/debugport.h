/* Debug ports that firmware and test programs use:
 *  - the debug console: bytes written to port 0xE9 go to a host file (the
 *    Bochs/QEMU convention); reading it returns 0xE9, as Bochs does, so a guest
 *    can detect it;
 *  - the exit port (QEMU's isa-debug-exit): a write of V ends the emulator with
 *    status (V << 1) | 1. */
#ifndef BUBBLE_DEBUGPORT_H
#define BUBBLE_DEBUGPORT_H

#include <stdint.h>
#include <stdio.h>

struct ioports;

struct debugcon {
    FILE *out;
    uint16_t port;
};
int debugcon_init(struct debugcon *d, struct ioports *io, uint16_t port, FILE *out);

struct debugexit {
    uint16_t port;
    int requested;      /* a write happened */
    int status;         /* (value << 1) | 1 */
    void (*notify)(void *opaque);
    void *opaque;
};
int debugexit_init(struct debugexit *d, struct ioports *io, uint16_t port, uint16_t size,
                   void (*notify)(void *opaque), void *opaque);

#endif
