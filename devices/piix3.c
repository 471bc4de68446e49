/* PIIX3 ISA bridge with the PIRQ router, and the PIIX3 IDE function (see piix3.h). */
#include <stdio.h>
#include <string.h>

#include "devices/piix3.h"

/* ---------------------------------------------------------------------------
 * PIRQ router (datasheet 2.2.9): PIRQx is steered to the ISA IRQ in bits 3:0
 * unless bit 7 (IRQROUTEN, active low) is set; IRQs 0-2, 8 and 13 are reserved. */

static int routable(int irq)
{
    return irq >= 3 && irq != 8 && irq != 13;
}

static void route_update(struct piix3 *p)
{
    uint16_t want = 0;
    for (int n = 0; n < 4; n++) {
        uint8_t r = p->isa.config[PIIX3_PIRQRC + n];
        if ((r & 0x80) || !routable(r & 0x0F)) continue;
        if (p->pirq_level[n]) want |= (uint16_t)(1u << (r & 0x0F));
    }
    for (int irq = 0; irq < 16; irq++) {
        uint8_t level = (want >> irq) & 1;
        if (level == p->driven[irq]) continue;
        p->driven[irq] = level;
        irq_set(&p->isa_irq[irq], level);
    }
}

static void pirq_set(void *opaque, int pirq, int level)
{
    struct piix3 *p = opaque;
    p->pirq_level[pirq & 3] = level != 0;
    route_update(p);
}

static void isa_config_write(struct pci_device *d, uint8_t off, uint32_t val, int size)
{
    if (off <= PIIX3_PIRQRC + 3 && off + size - 1 >= PIIX3_PIRQRC) route_update(d->opaque);
}

static void isa_reset(struct pci_device *d)
{
    struct piix3 *p = d->opaque;
    p->rcr = 0;
    route_update(p);
}

/* ---------------------------------------------------------------------------
 * Reset control register, port 0xCF9 (datasheet 2.3.3): a 0->1 edge of
 * RCPU (bit 2) resets; SRST (bit 1) chooses a full system reset. */

static uint32_t rcr_read(void *opaque)
{
    struct piix3 *p = opaque;
    return p->rcr;
}

static void rcr_write(void *opaque, uint8_t val)
{
    struct piix3 *p = opaque;
    int edge = (val & 0x04) && !(p->rcr & 0x04);
    p->rcr = val & 0x02;
    if (!edge) return;
    if (p->reset_request) p->reset_request(p->reset_opaque, (val & 0x02) != 0);
    else fprintf(stderr, "piix3: reset requested through 0xCF9 but the machine did not wire it\n");
}

/* ---------------------------------------------------------------------------
 * IDE function: BAR4 holds the 16 bus-master registers. */

static uint32_t bmi_read(void *opaque, uint16_t port, int size)
{
    struct piix3 *p = opaque;
    return ide_bm_read(&p->ide, port - p->ide_fn.bar[4].addr, size);
}

static void bmi_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct piix3 *p = opaque;
    ide_bm_write(&p->ide, port - p->ide_fn.bar[4].addr, val, size);
}

static int bus_master_enabled(void *opaque)
{
    struct piix3 *p = opaque;
    return (pci_get16(p->ide_fn.config, PCI_COMMAND) & PCI_COMMAND_MASTER) != 0;
}

static void ide_fn_reset(struct pci_device *d)
{
    struct piix3 *p = d->opaque;
    ide_reset(&p->ide);
}

static void setup_isa_function(struct piix3 *p)
{
    struct pci_device *d = &p->isa;
    pci_device_init(d, "PIIX3 ISA", 0x8086, 0x7000, 0x00, 0x060100);
    d->opaque = p;
    d->config_write = isa_config_write;
    d->reset = isa_reset;
    uint8_t *c = d->config, *w = d->wmask;
    /* I/O, memory and bus master are hardwired on; special cycles can be enabled. */
    pci_set16(c, PCI_COMMAND, 0x0007);
    pci_set16(w, PCI_COMMAND, 0x0008);
    pci_set16(c, PCI_STATUS, 0x0200);
    w[PCI_INTERRUPT_LINE] = 0;
    w[PCI_CACHE_LINE_SIZE] = 0;
    w[PCI_LATENCY_TIMER] = 0;
    /* Stored registers with their reset values (datasheet 2.2). */
    static const struct { uint8_t off, value, mask; } regs[] = {
        { 0x4C, 0x4D, 0xFF },         /* IORT */
        { 0x4E, 0x03, 0xFF }, { 0x4F, 0x00, 0x03 },   /* XBCS */
        { 0x60, 0x80, 0x8F }, { 0x61, 0x80, 0x8F }, { 0x62, 0x80, 0x8F }, { 0x63, 0x80, 0x8F },
        { 0x69, 0x02, 0xFE },         /* TOM */
        { 0x6A, 0x00, 0xFF }, { 0x6B, 0x00, 0xFF },   /* MSTAT */
        { 0x70, 0x80, 0xCF }, { 0x71, 0x80, 0xCF },   /* MBIRQ0/1 */
        { 0x76, 0x0C, 0x8F }, { 0x77, 0x0C, 0x8F },   /* MBDMA0/1 */
        { 0x78, 0x02, 0xFF }, { 0x79, 0x00, 0xFF },   /* PCSC */
        { 0x80, 0x00, 0x7F },         /* APICBASE */
        { 0x82, 0x00, 0x0F },         /* DLC */
        { 0xA0, 0x08, 0x1F },         /* SMICNTL */
        { 0xA2, 0x00, 0xFF }, { 0xA3, 0x00, 0xFF },   /* SMIEN */
        { 0xA4, 0x00, 0xFF }, { 0xA5, 0x00, 0xFF }, { 0xA6, 0x00, 0xFF }, { 0xA7, 0x00, 0xFF },   /* SEE */
        { 0xA8, 0x0F, 0xFF },         /* FTMR */
        { 0xAA, 0x00, 0xFF }, { 0xAB, 0x00, 0xFF },   /* SMIREQ */
        { 0xAC, 0x00, 0xFF },         /* CTLTMR */
        { 0xAE, 0x00, 0xFF },         /* CTHTMR */
    };
    for (size_t k = 0; k < sizeof(regs) / sizeof(regs[0]); k++) {
        c[regs[k].off] = regs[k].value;
        w[regs[k].off] = regs[k].mask;
    }
}

static void setup_ide_function(struct piix3 *p)
{
    static const struct io_handlers bmi_h = { bmi_read, bmi_write, 1 | 2 | 4 };
    struct pci_device *d = &p->ide_fn;
    /* Class 01 01 80: IDE, both channels fixed in legacy mode, bus master. */
    pci_device_init(d, "PIIX3 IDE", 0x8086, 0x7010, 0x00, 0x010180);
    d->opaque = p;
    d->reset = ide_fn_reset;
    pci_set16(d->wmask, PCI_COMMAND, 0x0005);   /* I/O space, bus master */
    pci_set16(d->config, PCI_STATUS, 0x0280);
    d->wmask[PCI_LATENCY_TIMER] = 0xF0;
    d->wmask[PCI_INTERRUPT_LINE] = 0;
    d->wmask[PCI_CACHE_LINE_SIZE] = 0;
    pci_bar_io(d, 4, 16, &bmi_h, p);
    /* IDETIM primary/secondary and SIDETIM: timings are stored only (2.4.4-2.4.5). */
    for (uint8_t o = 0x40; o <= 0x44; o++) d->wmask[o] = 0xFF;
}

int piix3_init(struct piix3 *p, struct pci_bus *bus, int slot, struct ioports *io,
               struct memory *mem, struct vclock *clock, const struct irq_line isa_irq[16])
{
    memset(p, 0, sizeof(*p));
    for (int k = 0; k < 16; k++) p->isa_irq[k] = isa_irq[k];
    setup_isa_function(p);
    setup_ide_function(p);
    /* The legacy ports answer whatever the command register says, as on
     * QEMU's PIIX3, so a BIOS that never touches PCI still finds the disks. */
    if (ide_init(&p->ide, io, mem, clock, &isa_irq[14], &isa_irq[15])) return -1;
    p->ide.dma_allowed = bus_master_enabled;
    p->ide.dma_opaque = p;
    if (pci_bus_add(bus, &p->isa, PCI_DEVFN(slot, 0)) < 0) return -1;
    if (pci_bus_add(bus, &p->ide_fn, PCI_DEVFN(slot, 1)) < 0) return -1;
    bus->pirq_set = pirq_set;
    bus->pirq_opaque = p;
    bus->port_cf9_read = rcr_read;
    bus->port_cf9_write = rcr_write;
    bus->port_cf9_opaque = p;
    return 0;
}
