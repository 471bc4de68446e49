/* Intel 82371SB PIIX3: the PCI-to-ISA bridge (function 0, 8086:7000) with
 * the PIRQ router and the reset control register (port 0xCF9), and the IDE
 * interface (function 1, 8086:7010): legacy ports and IRQs 14/15, bus-master
 * registers at BAR4. The ELCR (0x4D0/0x4D1) is the PIC's; the PIIX3's ISA
 * devices (PIC, PIT, DMA, RTC, keyboard) are separate chips in devices/.
 * Reference: Intel 82371FB/82371SB datasheet, sections 2.2 (function 0
 * registers) and 2.4 (IDE configuration registers). */
#ifndef BUBBLE_PIIX3_H
#define BUBBLE_PIIX3_H

#include <stdint.h>

#include "devices/ide.h"
#include "devices/irq.h"
#include "devices/pci.h"

#define PIIX3_PIRQRC  0x60   /* PIRQ route control A-D, 0x60-0x63 */

struct piix3 {
    struct pci_device isa;           /* 00:slot.0 */
    struct pci_device ide_fn;        /* 00:slot.1 */
    struct ide_controller ide;
    struct irq_line isa_irq[16];     /* the PIC inputs */
    uint8_t pirq_level[4];           /* OR of the INTx lines on each PIRQ */
    uint8_t driven[16];              /* levels the router drives on ISA IRQs */
    uint8_t rcr;                     /* reset control register */
    /* 0xCF9 asked for a reset: `hard` = system reset, else CPU INIT. */
    void (*reset_request)(void *opaque, int hard);
    void *reset_opaque;
};

/* Adds both functions in `slot` (1 on the i440FX board) of `bus`, the PIRQ
 * router and 0xCF9, and the IDE controller with its legacy ports. `isa_irq`
 * are the 16 PIC inputs (PCI interrupts arrive there as levels, so the
 * ELCR must make those lines level-triggered, as the BIOS does). */
int piix3_init(struct piix3 *p, struct pci_bus *bus, int slot, struct ioports *io,
               struct memory *mem, struct vclock *clock, const struct irq_line isa_irq[16]);

#endif
