/* PCI: POST enumeration (BAR assignment, command register, interrupt lines
 * and the PIIX3 PIRQ routing), the PCI BIOS (INT 1Ah AX=B1xxh and its 32-bit
 * entry found through the BIOS32 service directory), and the $PIR interrupt
 * routing table.
 *
 * Everything goes through configuration mechanism #1 (ports 0CF8h/0CFCh), as
 * an operating system will later, so what Linux reads back is what we wrote.
 * References: PCI Local Bus Specification 3.0 (6.2.5, BARs), PCI BIOS
 * Specification 2.1, PCI IRQ Routing Table Specification 1.0, and the Intel
 * 82371SB (PIIX3) datasheet (PIRQRC registers 60h-63h, IDETIM 40h/42h, ELCR). */
#include <stdlib.h>
#include <string.h>

#include "bios/bios_internal.h"
#include "devices/pci.h"

#define PCI_IO_START  0xC000u          /* below stays for ISA devices */
#define PCI_IO_END    0x10000u
#define PCI_MEM_START 0xE0000000u      /* the 32-bit PCI hole, up to the I/O APIC area */
#define PCI_MEM_END   0xFEC00000u

#define PCI_SIG 0x20494350u            /* "PCI " */

/* PCI BIOS return codes (AH). */
#define PCIBIOS_OK              0x00
#define PCIBIOS_FUNC_NOT_SUPP   0x81
#define PCIBIOS_BAD_VENDOR      0x83
#define PCIBIOS_NOT_FOUND       0x86
#define PCIBIOS_BAD_REGISTER    0x87

/* The IRQs the four PIRQ lines are routed to, and which IRQs a router may use. */
static const uint8_t pirq_irqs[4] = { 10, 10, 11, 11 };
#define PIR_IRQ_BITMAP 0xDEF8u         /* 3-7, 9-12, 14, 15 */
#define PIIX3_DEVFN    PCI_DEVFN(1, 0)

/* ---------------------------------------------------------------------------
 * Configuration space access. The guest's CONFADD value is kept across. */

static uint32_t conf_address(uint8_t bus, uint8_t devfn, uint8_t reg)
{
    return 0x80000000u | (uint32_t)bus << 16 | (uint32_t)devfn << 8 | (reg & 0xFCu);
}

uint32_t pci_cfg_read(struct bios *b, uint8_t bus, uint8_t devfn, uint8_t reg, int size)
{
    uint32_t saved = inl(b, 0xCF8);
    outl(b, 0xCF8, conf_address(bus, devfn, reg));
    uint32_t v = io_read(b->io, (uint16_t)(0xCFC + (reg & 3)), size);
    outl(b, 0xCF8, saved);
    return v;
}

void pci_cfg_write(struct bios *b, uint8_t bus, uint8_t devfn, uint8_t reg, uint32_t v, int size)
{
    uint32_t saved = inl(b, 0xCF8);
    outl(b, 0xCF8, conf_address(bus, devfn, reg));
    io_write(b->io, (uint16_t)(0xCFC + (reg & 3)), v, size);
    outl(b, 0xCF8, saved);
}

static int pci_present(struct bios *b)
{
    uint32_t saved = inl(b, 0xCF8);
    outl(b, 0xCF8, 0x80000000u);
    int ok = inl(b, 0xCF8) == 0x80000000u;
    outl(b, 0xCF8, saved);
    return ok;
}

/* Calls fn for every function on bus 0 (function 0 says whether 1-7 exist). */
static int device_exists(struct bios *b, uint8_t devfn)
{
    uint16_t vendor = (uint16_t)pci_cfg_read(b, 0, devfn, PCI_VENDOR_ID, 2);
    if (vendor == 0xFFFF || vendor == 0x0000) return 0;
    if (PCI_FUNC(devfn) != 0) {
        uint8_t ht = (uint8_t)pci_cfg_read(b, 0, (uint8_t)(devfn & ~7), PCI_HEADER_TYPE, 1);
        if (!(ht & PCI_HEADER_MULTIFUNCTION)) return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------
 * POST: resources. */

struct bar_req {
    uint8_t devfn, reg;
    uint8_t is_io, is64;
    uint32_t size;
};

static int bar_cmp(const void *a, const void *b)
{
    const struct bar_req *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;   /* biggest first: no holes */
    if (x->devfn != y->devfn) return x->devfn < y->devfn ? -1 : 1;
    return x->reg < y->reg ? -1 : x->reg > y->reg;
}

/* Size the BARs of one function (writing all ones and reading the mask back). */
static int size_bars(struct bios *b, uint8_t devfn, struct bar_req *out, int max)
{
    int n = 0;
    for (int bar = 0; bar < 6 && n < max; bar++) {
        uint8_t reg = (uint8_t)(PCI_BAR0 + 4 * bar);
        uint32_t old = pci_cfg_read(b, 0, devfn, reg, 4);
        pci_cfg_write(b, 0, devfn, reg, 0xFFFFFFFFu, 4);
        uint32_t mask = pci_cfg_read(b, 0, devfn, reg, 4);
        pci_cfg_write(b, 0, devfn, reg, old, 4);
        if (mask == 0 || mask == 0xFFFFFFFFu) continue;
        struct bar_req q = { devfn, reg, 0, 0, 0 };
        if (mask & 1) {
            q.is_io = 1;
            q.size = ~((mask & 0xFFFFFFFCu) | 0xFFFF0000u) + 1;
        } else {
            q.size = ~(mask & 0xFFFFFFF0u) + 1;
            if (((mask >> 1) & 3) == 2) {
                /* 64-bit: all of it below 4 GiB; the upper half must be writable to zero. */
                q.is64 = 1;
                bar++;
            }
        }
        if (q.size == 0 || (q.size & (q.size - 1))) {
            bios_log(b, "PCI %02x:%02x.%x: BAR at %02xh has a bad size mask %08x; left alone",
                     0, PCI_SLOT(devfn), PCI_FUNC(devfn), reg, mask);
            continue;
        }
        out[n++] = q;
    }
    /* The expansion ROM: an address, but not enabled (the OS maps it if it wants). */
    if (n < max) {
        uint32_t old = pci_cfg_read(b, 0, devfn, PCI_ROM_ADDRESS, 4);
        pci_cfg_write(b, 0, devfn, PCI_ROM_ADDRESS, 0xFFFFF800u, 4);
        uint32_t mask = pci_cfg_read(b, 0, devfn, PCI_ROM_ADDRESS, 4) & 0xFFFFF800u;
        pci_cfg_write(b, 0, devfn, PCI_ROM_ADDRESS, old & ~1u, 4);
        if (mask && mask != 0xFFFFF800u) out[n++] = (struct bar_req){ devfn, PCI_ROM_ADDRESS, 0, 0, ~mask + 1 };
    }
    return n;
}

static void assign(struct bios *b, struct bar_req *q, int n, int io)
{
    uint32_t next = io ? PCI_IO_START : (b->ram_top > PCI_MEM_START ? b->ram_top : PCI_MEM_START);
    uint32_t end = io ? PCI_IO_END : PCI_MEM_END;
    for (int k = 0; k < n; k++) {
        if (q[k].is_io != io) continue;
        uint64_t base = ((uint64_t)next + q[k].size - 1) & ~(uint64_t)(q[k].size - 1);
        if (base + q[k].size > end) {
            bios_log(b, "PCI %02x:%02x.%x: no room for a %u-byte %s BAR; left unassigned",
                     0, PCI_SLOT(q[k].devfn), PCI_FUNC(q[k].devfn), q[k].size, io ? "I/O" : "memory");
            continue;
        }
        pci_cfg_write(b, 0, q[k].devfn, q[k].reg, (uint32_t)base, 4);
        if (q[k].is64) pci_cfg_write(b, 0, q[k].devfn, (uint8_t)(q[k].reg + 4), 0, 4);
        next = (uint32_t)(base + q[k].size);
    }
}

/* Per-device set-up after the BARs: decode enables, interrupt line, chipset quirks. */
static void setup_device(struct bios *b, uint8_t devfn, const struct bar_req *q, int n)
{
    uint16_t vendor = (uint16_t)pci_cfg_read(b, 0, devfn, PCI_VENDOR_ID, 2);
    uint16_t device = (uint16_t)pci_cfg_read(b, 0, devfn, PCI_DEVICE_ID, 2);
    uint16_t cls = (uint16_t)pci_cfg_read(b, 0, devfn, PCI_CLASS_DEVICE, 2);
    uint16_t cmd = (uint16_t)pci_cfg_read(b, 0, devfn, PCI_COMMAND, 2);
    for (int k = 0; k < n; k++) {
        if (q[k].devfn != devfn || q[k].reg == PCI_ROM_ADDRESS) continue;
        cmd |= q[k].is_io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    }
    if (cls == 0x0300) cmd |= PCI_COMMAND_IO | PCI_COMMAND_MEMORY;   /* VGA: the legacy ranges */

    if (vendor == 0x8086 && (device == 0x7010 || device == 0x7111 || device == 0x1230)) {
        /* PIIX IDE: turn on both channels' legacy decode (IDETIM bit 15) and bus mastering. */
        pci_cfg_write(b, 0, devfn, 0x40, 0x8000, 2);
        pci_cfg_write(b, 0, devfn, 0x42, 0x8000, 2);
        cmd |= PCI_COMMAND_MASTER;
        if (!b->have_ide) {
            b->have_ide = 1;
            b->ide_bus = 0;
            b->ide_devfn = devfn;
        }
    }
    if (vendor == 0x8086 && (device == 0x7000 || device == 0x7110 || device == 0x122E)) {
        /* PIIX ISA bridge: PIRQA-D to their IRQs (bit 7 clear = routed). */
        for (int k = 0; k < 4; k++) pci_cfg_write(b, 0, devfn, (uint8_t)(0x60 + k), pirq_irqs[k], 1);
    }
    pci_cfg_write(b, 0, devfn, PCI_COMMAND, cmd, 2);

    uint8_t pin = (uint8_t)pci_cfg_read(b, 0, devfn, PCI_INTERRUPT_PIN, 1);
    if (pin >= 1 && pin <= 4) {
        int pirq = pci_pirq_of_slot_pin(devfn, pin);
        pci_cfg_write(b, 0, devfn, PCI_INTERRUPT_LINE, pirq_irqs[pirq & 3], 1);
    }
}

void pci_post(struct bios *b)
{
    b->have_pci = pci_present(b);
    b->have_ide = 0;
    memcpy(b->pirq_irq, pirq_irqs, sizeof(b->pirq_irq));
    if (!b->have_pci) {
        bios_log(b, "POST: no PCI configuration mechanism #1 at 0CF8h");
        return;
    }
    struct bar_req *q = calloc(256 * 7, sizeof(*q));
    if (!q) return;
    int n = 0;
    for (int devfn = 0; devfn < 256; devfn++) {
        if (!device_exists(b, (uint8_t)devfn)) continue;
        uint8_t ht = (uint8_t)pci_cfg_read(b, 0, (uint8_t)devfn, PCI_HEADER_TYPE, 1) & 0x7F;
        if (ht != 0) {
            bios_log(b, "PCI 00:%02x.%x: header type %u (bridge) is not configured", PCI_SLOT(devfn),
                     PCI_FUNC(devfn), ht);
            continue;
        }
        n += size_bars(b, (uint8_t)devfn, q + n, 256 * 7 - n);
    }
    qsort(q, (size_t)n, sizeof(*q), bar_cmp);
    assign(b, q, n, 1);
    assign(b, q, n, 0);
    for (int devfn = 0; devfn < 256; devfn++) {
        if (!device_exists(b, (uint8_t)devfn)) continue;
        if ((pci_cfg_read(b, 0, (uint8_t)devfn, PCI_HEADER_TYPE, 1) & 0x7F) != 0) continue;
        setup_device(b, (uint8_t)devfn, q, n);
    }
    free(q);
    /* PCI interrupts are level triggered: mark their IRQs in the ELCR (4D0h/4D1h). */
    uint16_t elcr = 0;
    for (int k = 0; k < 4; k++) elcr |= (uint16_t)(1u << pirq_irqs[k]);
    outb(b, 0x4D0, (uint8_t)elcr);
    outb(b, 0x4D1, (uint8_t)(elcr >> 8));
}

/* ---------------------------------------------------------------------------
 * The $PIR table: one entry per slot of bus 0, each pin wired to PIRQ
 * (slot + pin - 2) mod 4 (the board wiring, devices/pci.c), links named by
 * the PIIX3 register that routes them (60h-63h). */

void pci_build_pir(struct bios *b)
{
    uint8_t *t = b->rom + b->dir.pir_table;
    const int slots = 31;
    uint16_t size = (uint16_t)(32 + 16 * slots);
    memset(t, 0, size);
    memcpy(t, "$PIR", 4);
    put16(t + 4, 0x0100);                         /* version 1.0 */
    put16(t + 6, size);
    t[8] = 0;                                     /* router bus */
    t[9] = PIIX3_DEVFN;
    put16(t + 10, 0);                             /* no IRQs reserved for PCI alone */
    put32(t + 12, 0x70008086u);                   /* compatible router: PIIX3 */
    for (int s = 1; s <= slots; s++) {
        uint8_t *e = t + 32 + 16 * (s - 1);
        uint8_t devfn = (uint8_t)PCI_DEVFN(s, 0);
        e[0] = 0;
        e[1] = devfn;
        for (int pin = 1; pin <= 4; pin++) {
            e[2 + 3 * (pin - 1)] = (uint8_t)(0x60 + pci_pirq_of_slot_pin(devfn, pin));
            put16(e + 3 + 3 * (pin - 1), PIR_IRQ_BITMAP);
        }
        e[14] = (uint8_t)s;                       /* slot number */
    }
    uint8_t sum = 0;
    for (int k = 0; k < size; k++) sum = (uint8_t)(sum + t[k]);
    t[31] = (uint8_t)-sum;
}

/* ---------------------------------------------------------------------------
 * The PCI BIOS functions (AL = function, AH = B1h). */

static int find_nth(struct bios *b, uint32_t match, uint32_t mask, uint8_t reg, uint16_t index, uint8_t *devfn_out)
{
    for (int devfn = 0; devfn < 256; devfn++) {
        if (!device_exists(b, (uint8_t)devfn)) continue;
        if ((pci_cfg_read(b, 0, (uint8_t)devfn, reg, 4) & mask) != match) continue;
        if (index-- == 0) {
            *devfn_out = (uint8_t)devfn;
            return 0;
        }
    }
    return -1;
}

void pci_bios_call(struct bios *b, struct regs *r)
{
    if (!b->have_pci) {
        ret_err(r, PCIBIOS_FUNC_NOT_SUPP);
        return;
    }
    uint8_t bus = r->b.h, devfn = r->b.l, reg = (uint8_t)r->edi;
    int width = 0;
    switch (r->a.l) {
    case 0x01:                                    /* installation check */
        r->a.h = PCIBIOS_OK;
        r->a.l = 0x01;                            /* configuration mechanism #1 */
        r->b.x = 0x0210;                          /* version 2.10 */
        r->c.l = 0;                               /* last bus */
        r->d.e = PCI_SIG;
        r->edi = 0xF0000u + b->dir.pcibios32_entry;
        ret_ok(r);
        return;
    case 0x02: {                                  /* find device CX of vendor DX, SI-th */
        if (r->d.x == 0xFFFF) {
            ret_err(r, PCIBIOS_BAD_VENDOR);
            return;
        }
        uint8_t found;
        if (find_nth(b, (uint32_t)r->c.x << 16 | r->d.x, 0xFFFFFFFFu, PCI_VENDOR_ID, (uint16_t)r->esi, &found)) {
            ret_err(r, PCIBIOS_NOT_FOUND);
            return;
        }
        r->b.h = 0;
        r->b.l = found;
        r->a.h = PCIBIOS_OK;
        ret_ok(r);
        return;
    }
    case 0x03: {                                  /* find class code ECX[23:0], SI-th */
        uint8_t found;
        if (find_nth(b, (r->c.e & 0xFFFFFFu) << 8, 0xFFFFFF00u, PCI_REVISION_ID, (uint16_t)r->esi, &found)) {
            ret_err(r, PCIBIOS_NOT_FOUND);
            return;
        }
        r->b.h = 0;
        r->b.l = found;
        r->a.h = PCIBIOS_OK;
        ret_ok(r);
        return;
    }
    case 0x08: case 0x0B: width = 1; break;
    case 0x09: case 0x0C: width = 2; break;
    case 0x0A: case 0x0D: width = 4; break;
    default:
        /* 06h special cycle, 0Eh/0Fh IRQ routing (the $PIR table describes it). */
        ret_err(r, PCIBIOS_FUNC_NOT_SUPP);
        return;
    }
    if ((r->edi & 0xFFFF) > 0xFF || (reg & (width - 1))) {
        ret_err(r, PCIBIOS_BAD_REGISTER);
        return;
    }
    if (r->a.l <= 0x0A) {
        uint32_t v = pci_cfg_read(b, bus, devfn, reg, width);
        if (width == 1) r->c.l = (uint8_t)v;
        else if (width == 2) r->c.x = (uint16_t)v;
        else r->c.e = v;
    } else {
        uint32_t v = width == 1 ? r->c.l : width == 2 ? r->c.x : r->c.e;
        pci_cfg_write(b, bus, devfn, reg, v, width);
    }
    r->a.h = PCIBIOS_OK;
    ret_ok(r);
}
