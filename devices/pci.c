/* PCI bus 0: configuration mechanism #1, BAR decoding, INTx to PIRQ (see pci.h). */
#include <stdio.h>
#include <string.h>

#include "devices/pci.h"

static uint32_t all_ones(int size)
{
    return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
}

static uint8_t bar_offset(int n)
{
    return n == PCI_ROM_BAR ? PCI_ROM_ADDRESS : (uint8_t)(PCI_BAR0 + 4 * n);
}

/* ---------------------------------------------------------------------------
 * BAR decoding */

/* Where BAR n decodes given its register and the command register, or
 * PCI_BAR_UNMAPPED. A range that touches the top of the address space is
 * the all-ones sizing pattern, not a place (PCI 3.0, 6.2.5.1). */
static uint32_t bar_decode(const struct pci_device *d, int n)
{
    const struct pci_bar *b = &d->bar[n];
    if (!b->size) return PCI_BAR_UNMAPPED;
    uint32_t reg = pci_get32(d->config, bar_offset(n));
    uint16_t cmd = pci_get16(d->config, PCI_COMMAND);
    uint32_t addr = reg & ~(b->size - 1);
    if (b->is_io) {
        if (!(cmd & PCI_COMMAND_IO)) return PCI_BAR_UNMAPPED;
        addr &= ~3u;
        if (addr == 0 || (uint64_t)addr + b->size > 0x10000) return PCI_BAR_UNMAPPED;
    } else {
        if (!(cmd & PCI_COMMAND_MEMORY)) return PCI_BAR_UNMAPPED;
        if (n == PCI_ROM_BAR && !(reg & 1)) return PCI_BAR_UNMAPPED;
        addr &= ~0xFu;
        if (addr == 0 || (uint64_t)addr + b->size >= 0x100000000ull) return PCI_BAR_UNMAPPED;
    }
    return addr;
}

static void bar_move(struct pci_device *d, int n, uint32_t to)
{
    struct pci_bar *b = &d->bar[n];
    struct pci_bus *bus = d->bus;
    if (b->addr == to || !bus) return;
    if (b->addr != PCI_BAR_UNMAPPED) {
        if (b->is_io) ioports_unregister(bus->io, (uint16_t)b->addr, (uint16_t)b->size);
        else memory_unmap(bus->mem, b->addr);
        b->addr = PCI_BAR_UNMAPPED;
    }
    if (to != PCI_BAR_UNMAPPED) {
        int rc = b->is_io ? ioports_register(bus->io, (uint16_t)to, (uint16_t)b->size, b->io, b->opaque)
                          : memory_map_mmio(bus->mem, to, b->size, b->mmio_read, b->mmio_write, b->opaque);
        if (rc) {
            fprintf(stderr, "pci: %s BAR%d at %s %#x+%#x overlaps another device; not decoded\n",
                    d->name, n, b->is_io ? "port" : "address", to, b->size);
            to = PCI_BAR_UNMAPPED;
        }
        b->addr = to;
    }
    if (b->mapped) b->mapped(d, n, b->addr);
}

static void update_mappings(struct pci_device *d)
{
    for (int n = 0; n < PCI_NUM_BARS; n++) bar_move(d, n, bar_decode(d, n));
}

/* ---------------------------------------------------------------------------
 * INTx */

int pci_pirq_of_slot_pin(int devfn, int pin)
{
    return (PCI_SLOT(devfn) + pin - 2) & 3;
}

static void update_irq(struct pci_device *d)
{
    uint16_t cmd = pci_get16(d->config, PCI_COMMAND);
    if (d->irq_level) d->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    else d->config[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
    int want = d->irq_level && !(cmd & PCI_COMMAND_INTX_DISABLE);
    struct pci_bus *bus = d->bus;
    int pin = d->config[PCI_INTERRUPT_PIN];
    if (want == d->irq_asserted || !bus || pin < 1 || pin > 4) return;
    d->irq_asserted = want;
    int pirq = bus->pirq_of(d->devfn, pin) & 3;
    bus->pirq_count[pirq] += want ? 1 : -1;
    if (bus->pirq_set) bus->pirq_set(bus->pirq_opaque, pirq, bus->pirq_count[pirq] > 0);
}

void pci_set_irq(struct pci_device *d, int level)
{
    d->irq_level = level != 0;
    update_irq(d);
}

/* ---------------------------------------------------------------------------
 * Configuration space */

uint32_t pci_config_stored(const struct pci_device *d, uint8_t off, int size)
{
    uint32_t v = 0;
    for (int k = 0; k < size; k++) v |= (uint32_t)d->config[(uint8_t)(off + k)] << (8 * k);
    return v;
}

uint32_t pci_config_read(struct pci_device *d, uint8_t off, int size)
{
    if (d->config_read) return d->config_read(d, off, size);
    return pci_config_stored(d, off, size);
}

static int touches(uint8_t off, int size, uint8_t lo, uint8_t hi)
{
    return off <= hi && off + size - 1 >= lo;
}

void pci_config_write(struct pci_device *d, uint8_t off, uint32_t val, int size)
{
    if (off + size > 256) size = 256 - off;
    for (int k = 0; k < size; k++) {
        uint8_t o = (uint8_t)(off + k);
        uint8_t b = (uint8_t)(val >> (8 * k));
        uint8_t before = d->config[o];
        d->config[o] = (uint8_t)((before & ~d->wmask[o]) | (b & d->wmask[o]));
        d->config[o] &= (uint8_t)~(b & d->w1cmask[o]);
        /* Device-specific registers the device does not implement. */
        if (o >= 0x40 && !d->wmask[o] && !d->w1cmask[o] && b != before && !d->logged_ro_write) {
            d->logged_ro_write = 1;
            fprintf(stderr, "pci: %s: write %#04x to read-only or unimplemented register %#04x ignored"
                    " (logged once)\n", d->name, b, o);
        }
    }
    if (touches(off, size, PCI_COMMAND, PCI_COMMAND + 1) || touches(off, size, 0x10, 0x27) ||
        touches(off, size, PCI_ROM_ADDRESS, PCI_ROM_ADDRESS + 3))
        update_mappings(d);
    if (touches(off, size, PCI_COMMAND, PCI_COMMAND + 1)) update_irq(d);
    if (d->config_write) d->config_write(d, off, val, size);
}

/* ---------------------------------------------------------------------------
 * Devices */

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
                     uint8_t revision, uint32_t class_code)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    d->devfn = -1;
    for (int n = 0; n < PCI_NUM_BARS; n++) d->bar[n].addr = PCI_BAR_UNMAPPED;
    pci_set16(d->config, PCI_VENDOR_ID, vendor);
    pci_set16(d->config, PCI_DEVICE_ID, device);
    d->config[PCI_REVISION_ID] = revision;
    d->config[PCI_CLASS_PROG] = (uint8_t)class_code;
    pci_set16(d->config, PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
    /* I/O, memory, bus master, parity, SERR, INTx disable. */
    pci_set16(d->wmask, PCI_COMMAND, 0x0547);
    /* Status: error bits are write-one-to-clear. */
    pci_set16(d->w1cmask, PCI_STATUS, 0xF900);
    d->wmask[PCI_CACHE_LINE_SIZE] = 0xFF;
    d->wmask[PCI_LATENCY_TIMER] = 0xFF;
    d->wmask[PCI_INTERRUPT_LINE] = 0xFF;
}

static int declare_bar(struct pci_device *d, int n, uint32_t size, int is_io)
{
    if (n < 0 || n >= PCI_NUM_BARS || (n == PCI_ROM_BAR && is_io) || !size || (size & (size - 1))) {
        fprintf(stderr, "pci: %s: bad BAR%d declaration (size %#x)\n", d->name, n, size);
        return -1;
    }
    struct pci_bar *b = &d->bar[n];
    b->size = size;
    b->is_io = is_io;
    b->addr = PCI_BAR_UNMAPPED;
    uint8_t off = bar_offset(n);
    uint32_t mask = ~(size - 1);
    if (n == PCI_ROM_BAR) mask |= 1;                  /* ROM enable bit */
    pci_set32(d->wmask, off, mask & (is_io ? ~3u : (n == PCI_ROM_BAR ? ~0x7FEu : ~0xFu)));
    pci_set32(d->config, off, is_io ? 1 : 0);          /* bit 0: I/O space indicator */
    return 0;
}

int pci_bar_io(struct pci_device *d, int n, uint32_t size, const struct io_handlers *h, void *opaque)
{
    if (size < 4) size = 4;
    if (declare_bar(d, n, size, 1)) return -1;
    d->bar[n].io = h;
    d->bar[n].opaque = opaque;
    return 0;
}

int pci_bar_mem(struct pci_device *d, int n, uint32_t size, mmio_read_fn *rd, mmio_write_fn *wr,
                void *opaque)
{
    /* Our memory map works in pages: a smaller BAR asks for a page (allowed, PCI 3.0 6.2.5.1). */
    if (size < 0x1000) size = 0x1000;
    if (declare_bar(d, n, size, 0)) return -1;
    d->bar[n].mmio_read = rd;
    d->bar[n].mmio_write = wr;
    d->bar[n].opaque = opaque;
    return 0;
}

int pci_bus_add(struct pci_bus *bus, struct pci_device *d, int devfn)
{
    if (devfn < 0) {
        for (int slot = 0; slot < 32 && devfn < 0; slot++)
            if (!bus->dev[PCI_DEVFN(slot, 0)]) devfn = PCI_DEVFN(slot, 0);
    }
    if (devfn < 0 || devfn > 255 || bus->dev[devfn]) {
        fprintf(stderr, "pci: no room for %s at devfn %d\n", d->name, devfn);
        return -1;
    }
    d->bus = bus;
    d->devfn = devfn;
    bus->dev[devfn] = d;
    memcpy(d->config_at_reset, d->config, sizeof(d->config));
    /* The multi-function bit tells scanners to look past function 0 (PCI 3.0, 6.2.1). */
    struct pci_device *fn0 = bus->dev[PCI_DEVFN(PCI_SLOT(devfn), 0)];
    int others = 0;
    for (int fn = 1; fn < 8; fn++) others |= bus->dev[PCI_DEVFN(PCI_SLOT(devfn), fn)] != NULL;
    if (fn0 && others) {
        fn0->config[PCI_HEADER_TYPE] |= PCI_HEADER_MULTIFUNCTION;
        fn0->config_at_reset[PCI_HEADER_TYPE] |= PCI_HEADER_MULTIFUNCTION;
    }
    return devfn;
}

/* ---------------------------------------------------------------------------
 * The bus: ports 0xCF8-0xCFF */

static struct pci_device *addressed_device(struct pci_bus *bus)
{
    uint32_t a = bus->config_address;
    if (!(a & 0x80000000u) || ((a >> 16) & 0xFF) != 0) return NULL;   /* only bus 0 exists */
    return bus->dev[(a >> 8) & 0xFF];
}

static uint32_t config_data_read(void *opaque, uint16_t port, int size)
{
    struct pci_bus *bus = opaque;
    struct pci_device *d = addressed_device(bus);
    if (!d) return all_ones(size);   /* master abort: nobody answers */
    return pci_config_read(d, (uint8_t)((bus->config_address & 0xFC) + (port & 3)), size);
}

static void config_data_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct pci_bus *bus = opaque;
    struct pci_device *d = addressed_device(bus);
    if (d) pci_config_write(d, (uint8_t)((bus->config_address & 0xFC) + (port & 3)), val, size);
}

static void log_odd_access(struct pci_bus *bus, uint16_t port, int size)
{
    if (bus->logged_odd_access) return;
    bus->logged_odd_access = 1;
    fprintf(stderr, "pci: %d-byte access to port %#x: only dword accesses reach CONFADD"
            " (logged once)\n", size, port);
}

/* CONFADD is dword-only; narrower accesses go to the ISA bus (i440FX datasheet
 * 3.1.1), where 0xCF9 is the PIIX3 reset control register. */
static uint32_t config_address_read(void *opaque, uint16_t port, int size)
{
    struct pci_bus *bus = opaque;
    if (size == 4 && port == 0xCF8) return bus->config_address;
    uint32_t v = 0;
    for (int k = 0; k < size; k++) {
        uint16_t p = (uint16_t)(port + k);
        uint32_t b = 0xFF;
        if (p == 0xCF9 && bus->port_cf9_read) b = bus->port_cf9_read(bus->port_cf9_opaque) & 0xFF;
        else log_odd_access(bus, p, size);
        v |= b << (8 * k);
    }
    return v;
}

static void config_address_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct pci_bus *bus = opaque;
    if (size == 4 && port == 0xCF8) {
        bus->config_address = val & 0x80FFFFFCu;   /* reserved bits read as 0 */
        return;
    }
    for (int k = 0; k < size; k++) {
        uint16_t p = (uint16_t)(port + k);
        if (p == 0xCF9 && bus->port_cf9_write) bus->port_cf9_write(bus->port_cf9_opaque, (uint8_t)(val >> (8 * k)));
        else log_odd_access(bus, p, size);
    }
}

int pci_bus_init(struct pci_bus *bus, struct ioports *io, struct memory *mem)
{
    static const struct io_handlers address_h = { config_address_read, config_address_write, 1 | 2 | 4 };
    static const struct io_handlers data_h = { config_data_read, config_data_write, 1 | 2 | 4 };
    memset(bus, 0, sizeof(*bus));
    bus->io = io;
    bus->mem = mem;
    bus->pirq_of = pci_pirq_of_slot_pin;
    if (ioports_register(io, 0xCF8, 4, &address_h, bus)) return -1;
    if (ioports_register(io, 0xCFC, 4, &data_h, bus)) return -1;
    return 0;
}

void pci_bus_reset(struct pci_bus *bus)
{
    bus->config_address = 0;
    for (int devfn = 0; devfn < 256; devfn++) {
        struct pci_device *d = bus->dev[devfn];
        if (!d) continue;
        d->irq_level = 0;
        update_irq(d);
        memcpy(d->config, d->config_at_reset, sizeof(d->config));
        update_mappings(d);
        if (d->reset) d->reset(d);
    }
}
