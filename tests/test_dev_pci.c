/* PCI bus, i440FX host bridge (PAM shadowing) and PIIX3 ISA bridge (PIRQ
 * routing, reset control), driven headless through the ports 0xCF8/0xCFC
 * as firmware does. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/i440fx.h"
#include "devices/pci.h"
#include "devices/piix3.h"

#include "tests/check.h"

/* ---------------------------------------------------------------------------
 * The machine under test */

static struct ioports *io;
static struct memory *mem;
static struct pci_bus bus;
static struct i440fx *host;
static struct piix3 *piix;

static int isa_level[16];
static int isa_changes[16];

static void isa_irq_set(void *opaque, int n, int level)
{
    isa_level[n] = level;
    isa_changes[n]++;
}

static int resets, last_reset_hard;

static void reset_requested(void *opaque, int hard)
{
    resets++;
    last_reset_hard = hard;
}

static uint32_t cfg_addr(int devfn, int reg)
{
    return 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)(reg & 0xFC);
}

static uint32_t cfg_read(int devfn, int reg, int size)
{
    io_write(io, 0xCF8, cfg_addr(devfn, reg), 4);
    return io_read(io, (uint16_t)(0xCFC + (reg & 3)), size);
}

static void cfg_write(int devfn, int reg, uint32_t val, int size)
{
    io_write(io, 0xCF8, cfg_addr(devfn, reg), 4);
    io_write(io, (uint16_t)(0xCFC + (reg & 3)), val, size);
}

/* A test device: an I/O BAR, a memory BAR and INTA. */
struct testdev {
    struct pci_device pci;
    uint32_t last_port, last_val;
    uint32_t last_mmio_off, last_mmio_val;
    int mapped_calls;
    uint32_t mapped_addr[PCI_NUM_BARS];
};

static uint32_t testdev_io_read(void *opaque, uint16_t port, int size)
{
    struct testdev *t = opaque;
    return 0xA000u + (port - t->pci.bar[0].addr);
}

static void testdev_io_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct testdev *t = opaque;
    t->last_port = port;
    t->last_val = val;
}

static uint32_t testdev_mmio_read(void *opaque, uint32_t addr, int size)
{
    return 0x5A000000u | addr;
}

static void testdev_mmio_write(void *opaque, uint32_t addr, uint32_t val, int size)
{
    struct testdev *t = opaque;
    t->last_mmio_off = addr;
    t->last_mmio_val = val;
}

static void testdev_mapped(struct pci_device *d, int bar, uint32_t addr)
{
    struct testdev *t = (struct testdev *)d;
    t->mapped_calls++;
    t->mapped_addr[bar] = addr;
}

static void testdev_init(struct testdev *t, int slot)
{
    static const struct io_handlers h = { testdev_io_read, testdev_io_write, 1 | 2 | 4 };
    memset(t, 0, sizeof(*t));
    pci_device_init(&t->pci, "testdev", 0x1234, 0x5678, 0x01, 0x020000);
    t->pci.config[PCI_INTERRUPT_PIN] = 1;
    pci_bar_io(&t->pci, 0, 32, &h, t);
    pci_bar_mem(&t->pci, 1, 0x1000, testdev_mmio_read, testdev_mmio_write, t);
    t->pci.bar[0].mapped = testdev_mapped;
    t->pci.bar[1].mapped = testdev_mapped;
    pci_bus_add(&bus, &t->pci, PCI_DEVFN(slot, 0));
}

static int setup(void)
{
    io = ioports_new();
    mem = memory_new(2u << 20);
    if (!io || !mem) return -1;
    ioports_set_log(io, stdout, 0);
    if (pci_bus_init(&bus, io, mem)) return -1;
    host = calloc(1, sizeof(*host));
    piix = calloc(1, sizeof(*piix));
    if (!host || !piix) return -1;
    if (i440fx_init(host, &bus, mem, 2u << 20)) return -1;
    struct irq_line lines[16];
    for (int k = 0; k < 16; k++) lines[k] = (struct irq_line){ isa_irq_set, NULL, k };
    if (piix3_init(piix, &bus, 1, io, mem, NULL, lines)) return -1;
    piix->reset_request = reset_requested;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Tests */

static void test_config_mechanism(void)
{
    io_write(io, 0xCF8, 0x80000000u, 4);
    check(io_read(io, 0xCF8, 4) == 0x80000000u, "CONFADD reads back");
    check(io_read(io, 0xCFC, 4) == 0x12378086u, "00:00.0 is the i440FX: %08x", io_read(io, 0xCFC, 4));
    check(io_read(io, 0xCFE, 2) == 0x1237, "word read at 0xCFE gives the device id");
    check(io_read(io, 0xCFD, 1) == 0x80, "byte read at 0xCFD");
    io_write(io, 0xCF8, 0x7FFFFFFFu, 4);
    check(io_read(io, 0xCF8, 4) == 0x00FFFFFCu, "CONFADD reserved bits read as zero: %08x", io_read(io, 0xCF8, 4));
    io_write(io, 0xCF8, 0x00000000u, 4);
    check(io_read(io, 0xCFC, 4) == 0xFFFFFFFFu, "config space disabled without bit 31");
    check(cfg_read(PCI_DEVFN(5, 0), 0, 4) == 0xFFFFFFFFu, "an empty slot reads all ones");
    io_write(io, 0xCF8, 0x80010000u, 4);
    check(io_read(io, 0xCFC, 4) == 0xFFFFFFFFu, "bus 1 does not exist");
    check(cfg_read(PCI_DEVFN(1, 0), 0, 4) == 0x70008086u, "00:01.0 is the PIIX3 ISA bridge");
    check(cfg_read(PCI_DEVFN(1, 1), 0, 4) == 0x70108086u, "00:01.1 is the PIIX3 IDE");
    check((cfg_read(PCI_DEVFN(1, 0), PCI_HEADER_TYPE, 1) & 0x80) != 0, "PIIX3 function 0 is multi-function");
    check((cfg_read(PCI_DEVFN(0, 0), PCI_HEADER_TYPE, 1) & 0x80) == 0, "the host bridge is single-function");
    check(cfg_read(PCI_DEVFN(1, 1), 0x08, 4) >> 8 == 0x010180, "IDE class code 01 01 80");
    check(cfg_read(PCI_DEVFN(1, 0), 0x08, 4) >> 8 == 0x060100, "ISA bridge class code");
    check(cfg_read(PCI_DEVFN(0, 0), 0x08, 4) >> 8 == 0x060000, "host bridge class code");
    /* Read-only identity; byte writes at odd offsets. */
    cfg_write(PCI_DEVFN(1, 1), 0, 0xFFFFFFFFu, 4);
    check(cfg_read(PCI_DEVFN(1, 1), 0, 4) == 0x70108086u, "vendor/device are read-only");
    cfg_write(PCI_DEVFN(1, 1), 0x0D, 0xFF, 1);
    check(cfg_read(PCI_DEVFN(1, 1), 0x0D, 1) == 0xF0, "IDE latency timer keeps its writable bits only");
    cfg_write(PCI_DEVFN(1, 1), 0x41, 0x80, 1);
    check(cfg_read(PCI_DEVFN(1, 1), 0x40, 2) == 0x8000, "IDETIM byte write at 0x41");
}

static void test_bar_sizing_and_mapping(void)
{
    int ide = PCI_DEVFN(1, 1);
    check(cfg_read(ide, 0x20, 4) == 0x00000001u, "BMIBA resets to 1 (I/O space)");
    cfg_write(ide, 0x20, 0xFFFFFFFFu, 4);
    check(cfg_read(ide, 0x20, 4) == 0xFFFFFFF1u, "BAR4 sizing: 16 bytes of I/O: %08x", cfg_read(ide, 0x20, 4));
    cfg_write(ide, 0x20, 0xC001, 4);
    check(cfg_read(ide, 0x20, 4) == 0xC001u, "BAR4 takes an address");
    check(io_read(io, 0xC004, 4) == 0xFFFFFFFFu, "no decoding before the command register enables I/O");
    cfg_write(ide, PCI_COMMAND, PCI_COMMAND_IO, 2);
    io_write(io, 0xC004, 0x00123458u, 4);
    check(io_read(io, 0xC004, 4) == 0x00123458u, "PRD pointer register reachable at BAR4+4");
    check(piix->ide_fn.bar[4].addr == 0xC000, "BAR4 decodes at 0xC000");
    cfg_write(ide, 0x20, 0xD001, 4);
    check(io_read(io, 0xC004, 4) == 0xFFFFFFFFu, "old ports released after the BAR moved");
    check(io_read(io, 0xD004, 4) == 0x00123458u, "registers follow the BAR");
    cfg_write(ide, PCI_COMMAND, 0, 2);
    check(io_read(io, 0xD004, 4) == 0xFFFFFFFFu, "clearing I/O enable stops the decoding");
    check(piix->ide_fn.bar[4].addr == PCI_BAR_UNMAPPED, "BAR4 unmapped");

    struct testdev *t = calloc(1, sizeof(*t));
    testdev_init(t, 3);
    int dev = PCI_DEVFN(3, 0);
    cfg_write(dev, 0x10, 0xFFFFFFFFu, 4);
    check(cfg_read(dev, 0x10, 4) == 0xFFFFFFE1u, "32-byte I/O BAR sizes: %08x", cfg_read(dev, 0x10, 4));
    cfg_write(dev, 0x14, 0xFFFFFFFFu, 4);
    check(cfg_read(dev, 0x14, 4) == 0xFFFFF000u, "4 KiB memory BAR sizes: %08x", cfg_read(dev, 0x14, 4));
    cfg_write(dev, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
    check(t->pci.bar[1].addr == PCI_BAR_UNMAPPED, "the all-ones sizing pattern is not decoded");
    cfg_write(dev, 0x10, 0xE020, 4);
    cfg_write(dev, 0x14, 0xFEB00000u, 4);
    check(io_read(io, 0xE024, 2) == 0xA004, "I/O BAR handler sees the absolute port");
    io_write(io, 0xE03F, 0x77, 1);
    check(t->last_port == 0xE03F && t->last_val == 0x77, "I/O BAR write reaches the device");
    check(memory_read32(mem, 0xFEB00010u) == 0x5A000010u, "memory BAR decodes at 0xFEB00000");
    memory_write32(mem, 0xFEB00FFCu, 0xCAFEu);
    check(t->last_mmio_off == 0xFFC && t->last_mmio_val == 0xCAFE, "memory BAR write with the offset");
    check(t->mapped_addr[0] == 0xE020 && t->mapped_addr[1] == 0xFEB00000u, "mapping callbacks told");
    cfg_write(dev, PCI_COMMAND, PCI_COMMAND_IO, 2);
    check(memory_read32(mem, 0xFEB00010u) == 0xFFFFFFFFu, "memory decoding gated by the command register");
    check(t->mapped_addr[1] == PCI_BAR_UNMAPPED, "callback told of the unmapping");
    check(io_read(io, 0xE024, 2) == 0xA004, "the I/O BAR stays while I/O is enabled");
    /* Status bits: write-one-to-clear. */
    t->pci.config[PCI_STATUS + 1] = 0xF9;
    cfg_write(dev, PCI_STATUS, 0x0100, 2);
    check(cfg_read(dev, PCI_STATUS, 2) == 0xF800, "status error bits clear on writing ones: %04x",
          cfg_read(dev, PCI_STATUS, 2));
    /* Reset: registers back, decoding off. */
    pci_bus_reset(&bus);
    check(cfg_read(dev, 0x10, 4) == 0x1 && t->pci.bar[0].addr == PCI_BAR_UNMAPPED, "reset unmaps the BARs");
    check(io_read(io, 0xE024, 2) == 0xFFFF, "ports free after reset");
}

static void test_pirq_routing(void)
{
    struct testdev *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    testdev_init(a, 4);   /* INTA of slot 4 -> PIRQ (4 + 1 - 2) & 3 = D */
    testdev_init(b, 8);   /* slot 8 -> PIRQ (8 + 1 - 2) & 3 = D too */
    int isa = PCI_DEVFN(1, 0);
    check(cfg_read(isa, 0x60, 4) == 0x80808080u, "PIRQ routes reset disabled");
    memset(isa_changes, 0, sizeof(isa_changes));
    pci_set_irq(&a->pci, 1);
    int any = 0;
    for (int k = 0; k < 16; k++) any |= isa_level[k];
    check(!any, "a disabled route drives no ISA IRQ");
    cfg_write(isa, 0x63, 11, 1);
    check(isa_level[11] == 1, "PIRQD -> IRQ 11 carries the asserted INTA");
    pci_set_irq(&b->pci, 1);
    pci_set_irq(&a->pci, 0);
    check(isa_level[11] == 1, "shared PIRQ stays high while one device asserts");
    pci_set_irq(&b->pci, 0);
    check(isa_level[11] == 0, "released when no device asserts");
    pci_set_irq(&a->pci, 1);
    cfg_write(isa, 0x63, 10, 1);
    check(isa_level[11] == 0 && isa_level[10] == 1, "re-routing moves the level from IRQ 11 to IRQ 10");
    cfg_write(isa, 0x62, 10, 1);
    check(isa_level[10] == 1, "two PIRQs on one IRQ");
    cfg_write(PCI_DEVFN(4, 0), PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
    check(isa_level[10] == 0, "INTx disable masks the device");
    check((cfg_read(PCI_DEVFN(4, 0), PCI_STATUS, 2) & PCI_STATUS_INTERRUPT) != 0,
          "status shows the pending interrupt while disabled");
    cfg_write(PCI_DEVFN(4, 0), PCI_COMMAND, 0, 2);
    check(isa_level[10] == 1, "enabling INTx again asserts it");
    cfg_write(isa, 0x63, 0x82, 1);
    check(isa_level[10] == 0, "IRQ 2 is not routable; bit 7 disables");
    cfg_write(isa, 0x63, 0x0D, 1);
    check(isa_level[13] == 0, "IRQ 13 is reserved");
    pci_set_irq(&a->pci, 0);
    struct testdev *c = calloc(1, sizeof(*c));
    testdev_init(c, 2);   /* slot 2 -> PIRQB */
    cfg_write(isa, 0x61, 5, 1);
    pci_set_irq(&c->pci, 1);
    check(isa_level[5] == 1, "slot 2 INTA is PIRQB");
    pci_set_irq(&c->pci, 0);
    check(isa_level[5] == 0, "and released");
    pci_bus_reset(&bus);
}

static uint32_t code_writes_lo, code_writes_hi;

static void code_written(void *opaque, uint32_t phys, uint32_t len)
{
    if (phys < code_writes_lo) code_writes_lo = phys;
    if (phys + len > code_writes_hi) code_writes_hi = phys + len;
}

static uint8_t rd8(uint32_t a)
{
    uint8_t v;
    memory_read(mem, a, &v, 1);
    return v;
}

static void wr8(uint32_t a, uint8_t v)
{
    memory_write(mem, a, &v, 1);
}

static void test_pam(void)
{
    static uint8_t rom[0x20000];
    for (size_t k = 0; k < sizeof(rom); k++) rom[k] = (uint8_t)(0xA0 ^ (k >> 8));
    ram_shadow_load_rom(&host->shadow, 0xE0000, rom, sizeof(rom));
    int hb = PCI_DEVFN(0, 0);
    check(cfg_read(hb, 0x59, 1) == 0, "PAM0 resets to 0");
    check(rd8(0xF0010) == rom[0x10010], "PAM off: 0xF0000 reads the ROM");
    check(rd8(0xC0000) == 0xFF, "PAM off: an empty option ROM area reads FFh");
    wr8(0xF0010, 0x11);
    check(rd8(0xF0010) == rom[0x10010], "PAM off: writes do not reach the ROM");
    check(memory_ram(mem)[0xF0010] == 0, "PAM off: writes do not reach the RAM either");

    memory_set_code_listener(mem, code_written, NULL);
    code_writes_lo = 0xFFFFFFFFu;
    code_writes_hi = 0;
    /* SeaBIOS's sequence: dword writes at 0x58/0x5C with RW RAM everywhere. */
    uint32_t d58 = cfg_read(hb, 0x58, 4);
    cfg_write(hb, 0x58, (d58 & 0x000000FF) | 0x33333000u, 4);
    cfg_write(hb, 0x5C, 0x33333333u, 4);
    check(cfg_read(hb, 0x59, 1) == 0x30 && cfg_read(hb, 0x5A, 1) == 0x33, "PAM registers take the values");
    check(cfg_read(hb, 0x58, 1) == (d58 & 0xFF), "DRAMT kept through the dword write");
    check(code_writes_lo <= 0xF0000 && code_writes_hi >= 0x100000, "the CPU hears the BIOS area changed");
    check(rd8(0xF0010) == 0, "PAM RW: 0xF0000 reads the RAM");
    /* The BIOS copies itself down from the ROM (here: from our copy). */
    memory_write(mem, 0xE0000, rom, sizeof(rom));
    check(rd8(0xF0010) == rom[0x10010] && memory_ram(mem)[0xE1234] == rom[0x1234], "RAM took the copy");
    wr8(0xF0010, 0x42);
    check(rd8(0xF0010) == 0x42, "PAM RW: writable");
    /* Write-protect: read RAM, writes dropped (SeaBIOS's 0x10 and 0x11). */
    cfg_write(hb, 0x59, 0x10, 1);
    check(ram_shadow_mode(&host->shadow, 0xF0000) == SHADOW_READ_RAM, "PAM0=10h: read-only RAM");
    check(rd8(0xF0010) == 0x42, "read-only RAM reads the RAM");
    wr8(0xF0010, 0x43);
    check(rd8(0xF0010) == 0x42 && memory_ram(mem)[0xF0010] == 0x42, "read-only RAM drops writes");
    uint8_t *page = memory_host_page(mem, 0xF0000, 0);
    check(page && page[0x10] == 0x42, "read-only RAM is a plain host page for the CPU");
    check(memory_host_page(mem, 0xF0000, 1) == NULL, "but not writable");
    /* Read ROM, write RAM. */
    cfg_write(hb, 0x59, 0x20, 1);
    check(rd8(0xF0010) == rom[0x10010], "PAM0=20h: reads go to the ROM");
    wr8(0xF0010, 0x55);
    check(memory_ram(mem)[0xF0010] == 0x55, "PAM0=20h: writes go to the RAM");
    cfg_write(hb, 0x59, 0x30, 1);
    check(rd8(0xF0010) == 0x55, "and the RAM shows it once readable");
    /* PAM1: separate nibbles for 0xC0000 and 0xC4000. */
    wr8(0xC0000, 0x66);
    wr8(0xC4000, 0x77);
    cfg_write(hb, 0x5A, 0x31, 1);
    wr8(0xC0000, 0x99);
    wr8(0xC4000, 0x88);
    check(rd8(0xC0000) == 0x66 && rd8(0xC4000) == 0x88, "PAM1 low nibble protects C0000, high nibble leaves C4000 RW");
    wr8(0xEC000, 0x34);
    cfg_write(hb, 0x5F, 0x03, 1);
    check(rd8(0xEC000) == rom[0xC000], "PAM6 high nibble 0: 0xEC000 back to the ROM");
    wr8(0xEC000, 0x35);
    wr8(0xE8000, 0x12);
    check(rd8(0xE8000) == 0x12, "PAM6 low nibble 3: 0xE8000 still RAM");
    cfg_write(hb, 0x5F, 0x33, 1);
    check(rd8(0xEC000) == 0x34, "the write to 0xEC000 in ROM mode went nowhere");
    /* SMRAM: a stored value with C_BASE_SEG fixed. */
    cfg_write(hb, I440FX_SMRAM, 0x4F, 1);
    check(cfg_read(hb, I440FX_SMRAM, 1) == 0x4A, "SMRAM stores D_OPEN etc, base segment fixed at 010b: %02x",
          cfg_read(hb, I440FX_SMRAM, 1));
    /* Machine reset: back to the ROM. */
    pci_bus_reset(&bus);
    check(cfg_read(hb, 0x59, 1) == 0 && rd8(0xF0010) == rom[0x10010], "reset: PAM 0, ROM visible");
    check(memory_ram(mem)[0xF0010] == 0x55, "the RAM under it kept its bytes");
    memory_set_code_listener(mem, NULL, NULL);
}

static void test_reset_control(void)
{
    resets = 0;
    io_write(io, 0xCF9, 0x02, 1);
    check(resets == 0, "setting SRST alone does not reset");
    check(io_read(io, 0xCF9, 1) == 0x02, "RCR reads back SRST");
    io_write(io, 0xCF9, 0x06, 1);
    check(resets == 1 && last_reset_hard == 1, "RCPU 0->1 with SRST: hard reset");
    io_write(io, 0xCF9, 0x00, 1);
    io_write(io, 0xCF9, 0x04, 1);
    check(resets == 2 && last_reset_hard == 0, "RCPU alone: soft reset");
    /* A dword access to 0xCF8 is still CONFADD. */
    io_write(io, 0xCF8, 0x80000800u, 4);
    check(io_read(io, 0xCF8, 4) == 0x80000800u, "CONFADD unaffected by 0xCF9");
}

int main(void)
{
    if (setup()) {
        printf("cannot build the machine\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    test_config_mechanism();
    test_bar_sizing_and_mapping();
    test_pirq_routing();
    test_pam();
    test_reset_control();
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
