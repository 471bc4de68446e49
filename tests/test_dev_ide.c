/* IDE through the PIIX3: ATA disks (IDENTIFY, PIO in CHS/LBA28/LBA48,
 * multiple mode, bus-master DMA through PRD tables, flush, resets, errors,
 * interrupts) and an ATAPI CD-ROM (packet protocol, the MMC commands, media
 * change), driven headless through the ports as a driver does, on disks held
 * in memory. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/clock.h"
#include "devices/ide.h"
#include "devices/pci.h"
#include "devices/piix3.h"

#include "tests/check.h"

/* ---------------------------------------------------------------------------
 * Disks in memory; "procedural" ones compute their bytes (huge LBA48 disks). */

struct memdisk {
    struct block_backend b;
    uint8_t *data;
    uint32_t sector_size;
    int procedural;
    int flushes, writes, fail_reads;
    uint64_t last_write_off;
    size_t last_write_len;
};

static uint8_t pattern(uint32_t ss, uint64_t off)
{
    uint64_t s = off / ss;
    return (uint8_t)(s * 13 + (s >> 8) * 7 + (s >> 24) + (off % ss) * 3);
}

static int memdisk_read(struct block_backend *b, uint64_t off, void *buf, size_t len)
{
    struct memdisk *m = (struct memdisk *)b;
    if (off + len > b->size) return -EINVAL;
    if (m->fail_reads) return -EIO;
    if (m->procedural) {
        for (size_t k = 0; k < len; k++) ((uint8_t *)buf)[k] = pattern(m->sector_size, off + k);
    } else {
        memcpy(buf, m->data + off, len);
    }
    return 0;
}

static int memdisk_write(struct block_backend *b, uint64_t off, const void *buf, size_t len)
{
    struct memdisk *m = (struct memdisk *)b;
    if (b->read_only) return -EROFS;
    if (off + len > b->size) return -EINVAL;
    m->writes++;
    m->last_write_off = off;
    m->last_write_len = len;
    if (!m->procedural) memcpy(m->data + off, buf, len);
    return 0;
}

static int memdisk_flush(struct block_backend *b)
{
    ((struct memdisk *)b)->flushes++;
    return 0;
}

static struct memdisk *memdisk_new(uint64_t size, uint32_t ss, int procedural, int read_only)
{
    struct memdisk *m = calloc(1, sizeof(*m));
    m->b.size = size;
    m->b.read_only = read_only;
    m->b.name = "memdisk";
    m->b.read = memdisk_read;
    m->b.write = memdisk_write;
    m->b.flush = memdisk_flush;
    m->sector_size = ss;
    m->procedural = procedural;
    if (!procedural) {
        m->data = malloc(size);
        for (uint64_t k = 0; k < size; k++) m->data[k] = pattern(ss, k);
    }
    return m;
}

/* ---------------------------------------------------------------------------
 * The machine */

#define P 0x1F0
#define S 0x170
#define BMI 0xC000

static struct ioports *io;
static struct memory *mem;
static struct vclock *clk;
static uint64_t icount;
static struct pci_bus bus;
static struct piix3 *piix;
static struct ide_controller *ide;
static struct memdisk *disk, *bigdisk, *cd;

static int irq_level[16], irq_rises[16];

static void irq_set_cb(void *opaque, int n, int level)
{
    if (level && !irq_level[n]) irq_rises[n]++;
    irq_level[n] = level;
}

static uint64_t read_icount(void *opaque) { return icount; }

static void advance(int64_t ns)
{
    icount += (uint64_t)ns;
    vclock_run_timers(clk);
}

static uint8_t inb(uint16_t p) { return (uint8_t)io_read(io, p, 1); }
static uint16_t inw(uint16_t p) { return (uint16_t)io_read(io, p, 2); }
static void outb(uint16_t p, uint8_t v) { io_write(io, p, v, 1); }
static void outw(uint16_t p, uint16_t v) { io_write(io, p, v, 2); }
static void outl(uint16_t p, uint32_t v) { io_write(io, p, v, 4); }

static void cfg_write(int devfn, int reg, uint32_t val, int size)
{
    io_write(io, 0xCF8, 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)(reg & 0xFC), 4);
    io_write(io, (uint16_t)(0xCFC + (reg & 3)), val, size);
}

static int setup(void)
{
    io = ioports_new();
    mem = memory_new(4u << 20);
    clk = vclock_new(VCLOCK_DETERMINISTIC, read_icount, NULL);
    if (!io || !mem || !clk) return -1;
    ioports_set_log(io, stdout, 0);
    if (pci_bus_init(&bus, io, mem)) return -1;
    piix = calloc(1, sizeof(*piix));
    struct irq_line lines[16];
    for (int k = 0; k < 16; k++) lines[k] = (struct irq_line){ irq_set_cb, NULL, k };
    if (!piix || piix3_init(piix, &bus, 1, io, mem, clk, lines)) return -1;
    ide = &piix->ide;
    ide->delay_ns = 0;
    disk = memdisk_new(16u << 20, 512, 0, 0);
    bigdisk = memdisk_new(1ull << 45, 512, 1, 0);        /* 32 TiB: LBA48 territory */
    cd = memdisk_new(300 * 2048, 2048, 0, 1);
    if (ide_attach_disk(ide, 0, 0, &disk->b, 0, 0, 0)) return -1;
    if (ide_attach_disk(ide, 0, 1, &bigdisk->b, 0, 0, 0)) return -1;
    if (ide_attach_cdrom(ide, 1, 0, &cd->b)) return -1;
    /* The BIOS's part: bus-master registers at 0xC000, I/O and bus mastering on. */
    cfg_write(PCI_DEVFN(1, 1), 0x20, BMI | 1, 4);
    cfg_write(PCI_DEVFN(1, 1), PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
    return 0;
}

static void select_unit(uint16_t base, int unit)
{
    outb(base + 6, (uint8_t)(0xE0 | unit << 4));
}

static void lba28(uint16_t base, int unit, uint8_t cmd, uint32_t lba, uint8_t count)
{
    outb(base + 6, (uint8_t)(0xE0 | unit << 4 | ((lba >> 24) & 0x0F)));
    outb(base + 2, count);
    outb(base + 3, (uint8_t)lba);
    outb(base + 4, (uint8_t)(lba >> 8));
    outb(base + 5, (uint8_t)(lba >> 16));
    outb(base + 7, cmd);
}

static void lba48(uint16_t base, int unit, uint8_t cmd, uint64_t lba, uint16_t count)
{
    outb(base + 6, (uint8_t)(0x40 | unit << 4));
    outb(base + 2, (uint8_t)(count >> 8));
    outb(base + 3, (uint8_t)(lba >> 24));
    outb(base + 4, (uint8_t)(lba >> 32));
    outb(base + 5, (uint8_t)(lba >> 40));
    outb(base + 2, (uint8_t)count);
    outb(base + 3, (uint8_t)lba);
    outb(base + 4, (uint8_t)(lba >> 8));
    outb(base + 5, (uint8_t)(lba >> 16));
    outb(base + 7, cmd);
}

static void read_data(uint16_t base, uint8_t *dst, uint32_t bytes)
{
    for (uint32_t k = 0; k < bytes; k += 2) {
        uint16_t w = inw(base);
        dst[k] = (uint8_t)w;
        if (k + 1 < bytes) dst[k + 1] = (uint8_t)(w >> 8);
    }
}

static void write_data(uint16_t base, const uint8_t *src, uint32_t bytes)
{
    for (uint32_t k = 0; k < bytes; k += 2) outw(base, (uint16_t)(src[k] | src[k + 1] << 8));
}

static int matches_pattern(const uint8_t *buf, uint32_t ss, uint64_t off, uint32_t len)
{
    for (uint32_t k = 0; k < len; k++)
        if (buf[k] != pattern(ss, off + k)) return 0;
    return 1;
}

/* ---------------------------------------------------------------------------
 * ATA */

static void test_presence(void)
{
    select_unit(P, 0);
    check(inb(P + 7) == 0x50, "master ready after power-on: %02x", inb(P + 7));
    check(inb(P + 1) == 0x01, "error register 01h: diagnostics passed");
    check(inb(P + 2) == 1 && inb(P + 3) == 1 && inb(P + 4) == 0 && inb(P + 5) == 0, "ATA signature");
    outb(P + 2, 0x55);
    outb(P + 3, 0xAA);
    check(inb(P + 2) == 0x55 && inb(P + 3) == 0xAA, "task file registers read back");
    outb(P + 6, 0xA0);
    check(inb(P + 6) == 0xA0, "device register reads back as written");
    outb(S + 6, 0xA0);
    check(inb(S + 2) == 1 && inb(S + 4) == 0x14 && inb(S + 5) == 0xEB, "CD-ROM: ATAPI signature");
    check(inb(S + 7) == 0x00, "packet device: DRDY clear after reset");
    /* Secondary slave absent: its registers read 0 (SeaBIOS's probe fails). */
    outb(S + 6, 0xB0);
    outb(S + 2, 0x55);
    outb(S + 3, 0xAA);
    check(inb(S + 2) == 0 && inb(S + 3) == 0 && inb(S + 7) == 0, "an absent slave reads 0");
    check(inb(0x376) == 0, "absent slave alternate status 0");
    outb(S + 6, 0xA0);
    check(inb(S + 2) == 0x55, "registers are shared: the master took the write");
}

static void test_identify(void)
{
    uint16_t id[256];
    uint8_t raw[512];
    memset(irq_rises, 0, sizeof(irq_rises));
    select_unit(P, 0);
    outb(P + 7, 0xEC);
    check(irq_rises[14] == 1 && irq_level[14], "IDENTIFY raises IRQ 14");
    check(inb(0x3F6) == 0x58, "alternate status DRDY|DSC|DRQ: %02x", inb(0x3F6));
    check(irq_level[14], "alternate status does not acknowledge the interrupt");
    check(inb(P + 7) == 0x58 && !irq_level[14], "status read acknowledges it");
    read_data(P, raw, 512);
    for (int k = 0; k < 256; k++) id[k] = (uint16_t)(raw[2 * k] | raw[2 * k + 1] << 8);
    check(inb(P + 7) == 0x50, "DRQ drops after 256 words");
    uint32_t sectors = (16u << 20) / 512;
    check(id[0] == 0x0040, "word 0: fixed ATA device");
    check(id[1] == sectors / (16 * 63) && id[3] == 16 && id[6] == 63, "default CHS %u/%u/%u", id[1], id[3], id[6]);
    check(id[54] == id[1] && id[55] == 16 && id[56] == 63, "current CHS");
    check((id[57] | (uint32_t)id[58] << 16) == (uint32_t)id[1] * 16 * 63, "current CHS capacity");
    check((id[60] | (uint32_t)id[61] << 16) == sectors, "LBA28 capacity");
    check(id[49] & 0x0200 && id[49] & 0x0100, "LBA and DMA supported");
    check(id[83] & 0x0400 && id[86] & 0x0400, "LBA48 supported and enabled");
    check(id[100] == (uint16_t)sectors && id[101] == sectors >> 16 && !id[102] && !id[103], "LBA48 capacity");
    check(id[47] == 0x8010, "READ/WRITE MULTIPLE up to 16 sectors");
    check((id[63] & 7) == 7 && (id[88] & 0x3F) == 0x3F, "multiword DMA 0-2 and UDMA 0-5 supported");
    check(id[53] == 7, "words 54-58, 64-70 and 88 valid");
    check(id[80] & 0x40, "ATA-6");
    check((id[93] & 0xE000) == 0x6000, "word 93: 80-conductor cable");
    check(raw[54] == 'U' && raw[55] == 'B' && raw[57] == 'B', "model string byte-swapped per word");
    uint8_t sum = 0;
    for (int k = 0; k < 512; k++) sum = (uint8_t)(sum + raw[k]);
    check(raw[510] == 0xA5 && sum == 0, "integrity word checksums to 0");

    /* The big disk: LBA28 capacity saturates, LBA48 gives the truth. */
    select_unit(P, 1);
    outb(P + 7, 0xEC);
    read_data(P, raw, 512);
    for (int k = 0; k < 256; k++) id[k] = (uint16_t)(raw[2 * k] | raw[2 * k + 1] << 8);
    check((id[60] | (uint32_t)id[61] << 16) == 0x0FFFFFFF, "LBA28 capacity capped at 0FFFFFFFh");
    check(id[1] == 16383 && id[3] == 16 && id[6] == 63, "CHS capped at 16383/16/63");
    uint64_t cap48 = id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 | (uint64_t)id[103] << 48;
    check(cap48 == (1ull << 45) / 512, "LBA48 capacity of 32 TiB");
    check((id[93] & 0xFF00) != 0 && (id[93] & 0x00FF) == 0, "slave reports in the high byte of word 93");
}

static void test_pio_read_write(void)
{
    uint8_t buf[4096];
    memset(irq_rises, 0, sizeof(irq_rises));
    lba28(P, 0, 0x20, 5, 3);
    check(irq_rises[14] == 1, "first sector: interrupt");
    check(inb(P + 7) == 0x58, "DRQ with the first sector");
    read_data(P, buf, 512);
    check(irq_rises[14] == 2 && inb(P + 7) == 0x58, "second sector: a new interrupt and DRQ");
    read_data(P, buf + 512, 512);
    read_data(P, buf + 1024, 512);
    check(irq_rises[14] == 3, "one interrupt per sector");
    check(inb(P + 7) == 0x50, "no DRQ after the last sector");
    check(matches_pattern(buf, 512, 5 * 512, 1536), "READ SECTORS LBA28 data");
    check(inb(P + 3) == 7 && inb(P + 4) == 0 && (inb(P + 6) & 0x0F) == 0, "registers hold the last sector read");

    /* CHS: cylinder 1, head 2, sector 3 = LBA (1*16 + 2)*63 + 2. */
    outb(P + 6, 0xA2);
    outb(P + 2, 1);
    outb(P + 3, 3);
    outb(P + 4, 1);
    outb(P + 5, 0);
    outb(P + 7, 0x20);
    read_data(P, buf, 512);
    check(matches_pattern(buf, 512, 1136 * 512, 512), "READ SECTORS in CHS");
    outb(P + 6, 0xA0);
    outb(P + 3, 64);              /* sector 64 of 63 */
    outb(P + 7, 0x20);
    check((inb(P + 7) & 0x01) && inb(P + 1) == 0x10, "a CHS sector beyond the geometry: IDNF");

    /* WRITE SECTORS: DRQ at once without an interrupt, then one per sector. */
    for (int k = 0; k < 1024; k++) buf[k] = (uint8_t)(k * 5 + 1);
    memset(irq_rises, 0, sizeof(irq_rises));
    lba28(P, 0, 0x30, 10, 2);
    check(inb(0x3F6) == 0x58 && irq_rises[14] == 0, "write: DRQ for the first sector without an interrupt");
    write_data(P, buf, 512);
    check(irq_rises[14] == 1 && inb(P + 7) == 0x58, "write: interrupt and DRQ for the second sector");
    write_data(P, buf + 512, 512);
    check(irq_rises[14] == 2 && inb(P + 7) == 0x50, "write: final interrupt, ready");
    check(!memcmp(disk->data + 10 * 512, buf, 1024), "the sectors reached the backend");
    check(matches_pattern(disk->data + 12 * 512, 512, 12 * 512, 512), "the next sector untouched");

    /* 32-bit PIO, as SeaBIOS with CONFIG_ATA_PIO32 and Linux with io32 do. */
    lba28(P, 0, 0x20, 100, 1);
    for (int k = 0; k < 128; k++) {
        uint32_t v = io_read(io, P, 4);
        memcpy(buf + 4 * k, &v, 4);
    }
    check(matches_pattern(buf, 512, 100 * 512, 512) && inb(P + 7) == 0x50, "dword PIO reads");

    /* Out of range. */
    lba28(P, 0, 0x20, (16u << 20) / 512 - 1, 2);
    check(inb(P + 7) == 0x51 && inb(P + 1) == 0x10, "reading past the end: ERR with IDNF");
    /* Backend failure. */
    disk->fail_reads = 1;
    lba28(P, 0, 0x20, 0, 1);
    check(inb(P + 7) == 0x51 && inb(P + 1) == 0x40, "a failed read: ERR with UNC");
    disk->fail_reads = 0;
}

static void test_lba48(void)
{
    uint8_t buf[1024];
    uint64_t lba = 0x123456789ull;
    lba48(P, 1, 0x24, lba, 2);
    check(inb(P + 7) == 0x58, "READ SECTORS EXT: DRQ");
    read_data(P, buf, 1024);
    check(matches_pattern(buf, 512, lba * 512, 1024), "READ SECTORS EXT reads above 2^32 sectors");
    check(inb(P + 7) == 0x50, "done");
    uint64_t last = lba + 1;
    check(inb(P + 3) == (uint8_t)last && inb(P + 4) == (uint8_t)(last >> 8) && inb(P + 5) == (uint8_t)(last >> 16),
          "low address bytes of the last sector");
    outb(0x3F6, 0x80);            /* HOB */
    check(inb(P + 3) == (uint8_t)(last >> 24) && inb(P + 4) == (uint8_t)(last >> 32) &&
          inb(P + 5) == (uint8_t)(last >> 40), "high address bytes with HOB");
    outb(P + 2, 0);               /* any register write clears HOB */
    check(inb(P + 5) == (uint8_t)(last >> 16), "HOB cleared by a register write");
    outb(0x3F6, 0x00);

    /* Count 0 means 65536 in LBA48: check it gets accepted and the first block read. */
    memset(buf, 0, sizeof(buf));
    lba48(P, 1, 0x24, 7, 0);
    read_data(P, buf, 512);
    check(matches_pattern(buf, 512, 7 * 512, 512) && inb(P + 7) == 0x58, "count 0 = 65536 sectors, still DRQ");
    outb(0x3F6, 0x04);            /* SRST ends it */
    outb(0x3F6, 0x00);

    memset(buf, 0x3C, 512);
    lba48(P, 1, 0x34, 0x20000000ull, 1);
    write_data(P, buf, 512);
    check(inb(P + 7) == 0x50 && bigdisk->last_write_off == 0x20000000ull * 512, "WRITE SECTORS EXT offset");
}

static void test_multiple(void)
{
    uint8_t buf[16 * 512];
    select_unit(P, 0);
    lba28(P, 0, 0xC4, 0, 4);
    check(inb(P + 7) == 0x51 && inb(P + 1) == 0x04, "READ MULTIPLE before SET MULTIPLE MODE: ABRT");
    outb(P + 2, 3);
    outb(P + 7, 0xC6);
    check(inb(P + 7) == 0x51, "SET MULTIPLE MODE 3 (not a power of two): ABRT");
    outb(P + 2, 4);
    outb(P + 7, 0xC6);
    check(inb(P + 7) == 0x50, "SET MULTIPLE MODE 4");
    outb(P + 7, 0xEC);
    read_data(P, buf, 512);
    check((buf[118] | buf[119] << 8) == 0x0104, "IDENTIFY word 59: multiple mode 4");
    memset(irq_rises, 0, sizeof(irq_rises));
    lba28(P, 0, 0xC4, 40, 10);
    inb(P + 7);                   /* the driver's interrupt handler acknowledges */
    read_data(P, buf, 4 * 512);
    check(irq_rises[14] == 2 && inb(P + 7) == 0x58, "READ MULTIPLE: a block of 4, then the next");
    read_data(P, buf + 2048, 4 * 512);
    inb(P + 7);
    read_data(P, buf + 4096, 2 * 512);
    check(irq_rises[14] == 3 && inb(P + 7) == 0x50, "blocks of 4, 4 and 2 sectors");
    check(matches_pattern(buf, 512, 40 * 512, 10 * 512), "READ MULTIPLE data");

    for (int k = 0; k < 6 * 512; k++) buf[k] = (uint8_t)(k ^ 0x5A);
    memset(irq_rises, 0, sizeof(irq_rises));
    lba28(P, 0, 0xC5, 200, 6);
    write_data(P, buf, 4 * 512);
    check(irq_rises[14] == 1 && inb(P + 7) == 0x58, "WRITE MULTIPLE: interrupt after the first block");
    write_data(P, buf + 2048, 2 * 512);
    check(irq_rises[14] == 2 && inb(P + 7) == 0x50, "WRITE MULTIPLE done");
    check(!memcmp(disk->data + 200 * 512, buf, 6 * 512), "WRITE MULTIPLE data");

    lba48(P, 0, 0x29, 300, 5);
    read_data(P, buf, 5 * 512);
    check(matches_pattern(buf, 512, 300 * 512, 5 * 512) && inb(P + 7) == 0x50, "READ MULTIPLE EXT");
    outb(P + 2, 0);
    outb(P + 7, 0xC6);
    lba28(P, 0, 0xC4, 0, 1);
    check(inb(P + 7) == 0x51, "SET MULTIPLE MODE 0 disables it");
}

static void put_prd(uint32_t at, uint32_t addr, uint32_t count, int eot)
{
    memory_write32(mem, at, addr);
    memory_write32(mem, at + 4, (count & 0xFFFF) | (eot ? 0x80000000u : 0));
}

static void test_dma(void)
{
    uint8_t buf[4096];
    memset(memory_ram(mem) + 0x20000, 0, 0x20000);
    /* Three sectors into two pieces of memory. */
    put_prd(0x1000, 0x20000, 512, 0);
    put_prd(0x1008, 0x30000, 1024, 1);
    outl(BMI + 4, 0x1000);
    outb(BMI, 0x08);              /* to memory, stopped */
    outb(BMI + 2, 0x06);          /* clear interrupt and error */
    memset(irq_rises, 0, sizeof(irq_rises));
    select_unit(P, 0);
    lba28(P, 0, 0xC8, 20, 3);
    check(irq_rises[14] == 0 && (inb(0x3F6) & 0x80) == 0, "READ DMA waits for the bus master");
    outb(BMI, 0x09);              /* start */
    check(irq_rises[14] == 1, "DMA done: IRQ 14");
    check(inb(BMI + 2) == 0x04, "BM status: interrupt, no longer active: %02x", inb(BMI + 2));
    check(inb(P + 7) == 0x50, "ATA status ready after DMA");
    check(matches_pattern(memory_ram(mem) + 0x20000, 512, 20 * 512, 512), "first PRD piece");
    check(matches_pattern(memory_ram(mem) + 0x30000, 512, 21 * 512, 1024), "second PRD piece");
    outb(BMI, 0x08);
    outb(BMI + 2, 0x04);
    check(inb(BMI + 2) == 0x00, "interrupt bit cleared by writing 1");

    /* A PRD table longer than the transfer: Active stays. */
    put_prd(0x1000, 0x20000, 0x8000, 1);
    outb(BMI, 0x09);
    lba28(P, 0, 0xC8, 50, 1);
    check((inb(BMI + 2) & 0x05) == 0x05, "PRD longer than the data: active and interrupt");
    outb(BMI, 0x08);
    check((inb(BMI + 2) & 0x01) == 0, "stopping the engine clears active");
    outb(BMI + 2, 0x04);

    /* WRITE DMA from memory, LBA48. */
    for (int k = 0; k < 1024; k++) memory_ram(mem)[0x24000 + k] = (uint8_t)(k * 3 + 7);
    put_prd(0x1000, 0x24000, 1024, 1);
    outb(BMI, 0x00);              /* from memory */
    lba48(P, 0, 0x35, 400, 2);
    outb(BMI, 0x01);
    check(inb(P + 7) == 0x50 && (inb(BMI + 2) & 0x07) == 0x04, "WRITE DMA EXT done");
    check(!memcmp(disk->data + 400 * 512, memory_ram(mem) + 0x24000, 1024), "WRITE DMA EXT data on disk");
    outb(BMI, 0x00);
    outb(BMI + 2, 0x04);

    /* READ DMA EXT with a 0-count PRD entry = 64 KiB. */
    put_prd(0x1000, 0x40000, 0, 1);
    outb(BMI, 0x09);
    lba48(P, 0, 0x25, 1000, 128);
    check(inb(P + 7) == 0x50 && (inb(BMI + 2) & 0x07) == 0x04, "READ DMA EXT of 64 KiB with a 64 KiB PRD");
    check(matches_pattern(memory_ram(mem) + 0x40000, 512, 1000 * 512, 0x10000), "64 KiB landed");
    outb(BMI, 0x08);
    outb(BMI + 2, 0x04);

    /* The PRD table ends before the data: the engine stops, the device waits. */
    put_prd(0x1000, 0x20000, 512, 1);
    memset(irq_rises, 0, sizeof(irq_rises));
    outb(BMI, 0x09);
    lba28(P, 0, 0xC8, 0, 2);
    check((inb(BMI + 2) & 0x05) == 0 && irq_rises[14] == 0, "short PRD table: inactive, no interrupt");
    check(inb(0x3F6) & 0x08, "device still holds DRQ");
    outb(BMI, 0x08);
    outb(0x3F6, 0x04);
    outb(0x3F6, 0x00);
    check(inb(P + 7) == 0x50, "software reset recovers");

    /* Bus mastering disabled in PCI: nothing moves until it is enabled and restarted. */
    cfg_write(PCI_DEVFN(1, 1), PCI_COMMAND, PCI_COMMAND_IO, 2);
    put_prd(0x1000, 0x20000, 512, 1);
    memset(memory_ram(mem) + 0x20000, 0, 512);
    outb(BMI, 0x09);
    lba28(P, 0, 0xC8, 33, 1);
    check(memory_ram(mem)[0x20000] == 0 && (inb(0x3F6) & 0x08), "no DMA without PCI bus mastering");
    cfg_write(PCI_DEVFN(1, 1), PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
    outb(BMI, 0x08);
    outb(BMI, 0x09);
    check(matches_pattern(memory_ram(mem) + 0x20000, 512, 33 * 512, 512), "runs once enabled and restarted");
    outb(BMI, 0x08);
    outb(BMI + 2, 0x06);
    (void)buf;
}

static void test_flush_and_features(void)
{
    select_unit(P, 0);
    int before = disk->flushes;
    outb(P + 7, 0xE7);
    check(inb(P + 7) == 0x50 && disk->flushes == before + 1, "FLUSH CACHE reaches the backend");
    outb(P + 7, 0xEA);
    check(inb(P + 7) == 0x50 && disk->flushes == before + 2, "FLUSH CACHE EXT too");
    outb(P + 1, 0x82);
    outb(P + 7, 0xEF);
    check(inb(P + 7) == 0x50 && disk->flushes == before + 3, "disabling the write cache flushes");
    uint8_t buf[512];
    memset(buf, 1, sizeof(buf));
    lba28(P, 0, 0x30, 3, 1);
    write_data(P, buf, 512);
    check(disk->flushes == before + 4, "write-through without the write cache");
    outb(P + 7, 0xEC);
    read_data(P, buf, 512);
    check(!((buf[170] | buf[171] << 8) & 0x20) && ((buf[164] | buf[165] << 8) & 0x20), "word 85 shows the cache off");
    outb(P + 1, 0x02);
    outb(P + 7, 0xEF);
    check(inb(P + 7) == 0x50, "write cache back on");

    outb(P + 1, 0x03);
    outb(P + 2, 0x22);            /* multiword DMA 2 */
    outb(P + 7, 0xEF);
    check(inb(P + 7) == 0x50, "SET FEATURES transfer mode MWDMA2");
    outb(P + 7, 0xEC);
    read_data(P, buf, 512);
    check((buf[126] | buf[127] << 8) == 0x0407 && (buf[176] | buf[177] << 8) == 0x003F, "word 63 selects MWDMA2");
    outb(P + 1, 0x03);
    outb(P + 2, 0x45);            /* UDMA 5 */
    outb(P + 7, 0xEF);
    outb(P + 7, 0xEC);
    read_data(P, buf, 512);
    check((buf[176] | buf[177] << 8) == 0x203F && (buf[126] | buf[127] << 8) == 0x0007, "word 88 selects UDMA5");
    outb(P + 1, 0x03);
    outb(P + 2, 0x50);
    outb(P + 7, 0xEF);
    check(inb(P + 7) == 0x51 && inb(P + 1) == 0x04, "an unknown transfer mode aborts");

    outb(P + 7, 0xE0);            /* STANDBY IMMEDIATE */
    outb(P + 7, 0xE5);
    check(inb(P + 2) == 0x00, "CHECK POWER MODE: standby");
    outb(P + 7, 0xE1);            /* IDLE IMMEDIATE */
    outb(P + 7, 0xE5);
    check(inb(P + 2) == 0xFF && inb(P + 7) == 0x50, "CHECK POWER MODE: active/idle");
    outb(P + 7, 0x10);
    check(inb(P + 7) == 0x50, "RECALIBRATE");
    lba28(P, 0, 0x70, 1234, 0);
    check(inb(P + 7) == 0x50, "SEEK");
    lba28(P, 0, 0x40, 1000, 8);
    check(inb(P + 7) == 0x50 && inb(P + 3) == (uint8_t)1007, "READ VERIFY leaves the last sector in the registers");

    memset(irq_rises, 0, sizeof(irq_rises));
    outb(P + 7, 0xF0);
    check(irq_rises[14] == 1 && inb(P + 7) == 0x51 && inb(P + 1) == 0x04, "unknown command: ERR, ABRT, interrupt");
    outb(P + 7, 0xA1);
    check(inb(P + 7) == 0x51, "IDENTIFY PACKET DEVICE to a disk aborts");
    outb(P + 7, 0x08);
    check(inb(P + 7) == 0x51, "DEVICE RESET to a disk aborts");

    /* INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors. */
    outb(P + 6, 0xA3);
    outb(P + 2, 17);
    outb(P + 7, 0x91);
    check(inb(P + 7) == 0x50, "INITIALIZE DEVICE PARAMETERS");
    outb(P + 6, 0xA1);            /* cylinder 2, head 1, sector 5 = (2*4 + 1)*17 + 4 */
    outb(P + 2, 1);
    outb(P + 3, 5);
    outb(P + 4, 2);
    outb(P + 5, 0);
    outb(P + 7, 0x20);
    read_data(P, buf, 512);
    check(matches_pattern(buf, 512, 157 * 512, 512), "CHS in the new translation");
    outb(P + 7, 0xEC);
    read_data(P, buf, 512);
    check((buf[110] | buf[111] << 8) == 4 && (buf[112] | buf[113] << 8) == 17, "IDENTIFY shows 4 heads, 17 sectors");
    outb(P + 6, 0xAF);
    outb(P + 2, 63);
    outb(P + 7, 0x91);
}

static void test_resets_and_interrupts(void)
{
    select_unit(P, 0);
    outb(0x3F6, 0x02);            /* nIEN */
    memset(irq_rises, 0, sizeof(irq_rises));
    outb(P + 7, 0xE7);
    check(irq_rises[14] == 0, "nIEN masks INTRQ");
    outb(0x3F6, 0x00);
    check(irq_rises[14] == 1, "clearing nIEN shows the pending interrupt");
    inb(P + 7);
    check(!irq_level[14], "acknowledged");

    /* A pending interrupt belongs to its device: selecting the other hides it. */
    outb(P + 7, 0xE7);
    check(irq_level[14], "pending");
    outb(P + 6, 0xB0);
    check(!irq_level[14], "the slave selected: INTRQ released");
    outb(P + 6, 0xA0);
    check(irq_level[14], "the master again: asserted");
    inb(P + 7);

    outb(P + 2, 0x12);
    outb(0x3F6, 0x04);            /* SRST */
    check(inb(P + 7) == 0x80 && inb(0x3F6) == 0x80, "BSY during software reset");
    outb(0x3F6, 0x00);
    check(inb(P + 7) == 0x50 && inb(P + 1) == 0x01, "ready after reset, diagnostic code 01h");
    check(inb(P + 2) == 1 && inb(P + 3) == 1 && inb(P + 4) == 0 && inb(P + 5) == 0 && inb(P + 6) == 0,
          "signature and device 0 selected after reset");

    outb(S + 6, 0xA0);
    outb(0x376, 0x04);
    outb(0x376, 0x00);
    check(inb(S + 4) == 0x14 && inb(S + 5) == 0xEB && inb(S + 7) == 0x00, "ATAPI signature after SRST, DRDY clear");

    memset(irq_rises, 0, sizeof(irq_rises));
    outb(P + 6, 0xB0);
    outb(P + 7, 0x90);            /* EXECUTE DEVICE DIAGNOSTIC */
    check(irq_rises[14] == 1 && (inb(P + 6) & 0x10) == 0, "diagnostic: interrupt, device 0 selected");
    check(inb(P + 1) == 0x01 && inb(P + 7) == 0x50, "diagnostic passed");
}

static void test_delay(void)
{
    uint8_t buf[512];
    ide->delay_ns = 20000;
    memset(irq_rises, 0, sizeof(irq_rises));
    select_unit(P, 0);
    lba28(P, 0, 0x20, 60, 2);
    check(inb(0x3F6) == 0x80 && irq_rises[14] == 0, "with a delay: BSY, no interrupt yet");
    advance(10000);
    check(inb(0x3F6) == 0x80, "still busy halfway");
    advance(10000);
    check(irq_rises[14] == 1 && inb(P + 7) == 0x58, "data ready, then the interrupt");
    read_data(P, buf, 512);
    check(inb(0x3F6) == 0x80, "busy between sectors");
    advance(20000);
    check(irq_rises[14] == 2 && inb(P + 7) == 0x58, "second sector");
    read_data(P, buf, 512);
    check(matches_pattern(buf, 512, 61 * 512, 512) && inb(P + 7) == 0x50, "delayed read data");

    put_prd(0x1000, 0x20000, 512, 1);
    outb(BMI, 0x09);
    lba28(P, 0, 0xC8, 70, 1);
    check(irq_rises[14] == 2 && (inb(BMI + 2) & 0x01), "DMA in flight");
    advance(20000);
    check(irq_rises[14] == 3 && inb(P + 7) == 0x50 && (inb(BMI + 2) & 0x05) == 0x04, "DMA completes after the delay");
    check(matches_pattern(memory_ram(mem) + 0x20000, 512, 70 * 512, 512), "DMA data");
    outb(BMI, 0x08);
    outb(BMI + 2, 0x04);
    ide->delay_ns = 0;
}

/* ---------------------------------------------------------------------------
 * ATAPI */

struct packet_result {
    uint8_t status, error;
    uint32_t got;
    int blocks;
    int drq_irq;
};

static struct packet_result packet(const uint8_t *cdb, uint16_t limit, uint8_t *out, uint32_t max)
{
    struct packet_result r = { 0, 0, 0, 0, 0 };
    outb(S + 6, 0xA0);
    outb(S + 1, 0);
    outb(S + 4, (uint8_t)limit);
    outb(S + 5, (uint8_t)(limit >> 8));
    memset(irq_rises, 0, sizeof(irq_rises));
    outb(S + 7, 0xA0);
    if (!(inb(0x376) & 0x08) || inb(S + 2) != 0x01) {
        r.status = 0xFF;
        return r;
    }
    r.drq_irq = irq_rises[15];
    for (int k = 0; k < 12; k += 2) outw(S, (uint16_t)(cdb[k] | cdb[k + 1] << 8));
    for (int guard = 0; guard < 100000; guard++) {
        uint8_t st = inb(S + 7);
        if (!(st & 0x08)) {
            r.status = st;
            r.error = inb(S + 1);
            return r;
        }
        uint32_t n = inb(S + 4) | (uint32_t)inb(S + 5) << 8;
        if (inb(S + 2) != 0x02) {
            r.status = 0xFE;
            return r;
        }
        r.blocks++;
        for (uint32_t k = 0; k < n; k += 2) {
            uint16_t w = inw(S);
            if (r.got < max) out[r.got] = (uint8_t)w;
            if (k + 1 < n && r.got + 1 < max) out[r.got + 1] = (uint8_t)(w >> 8);
            r.got += k + 1 < n ? 2 : 1;
        }
    }
    r.status = 0xFD;
    return r;
}

static void cdb_set(uint8_t *cdb, uint8_t op)
{
    memset(cdb, 0, 12);
    cdb[0] = op;
}

static void request_sense(uint8_t *key, uint8_t *asc, uint8_t *ascq)
{
    uint8_t cdb[12], b[18];
    cdb_set(cdb, 0x03);
    cdb[4] = 18;
    struct packet_result r = packet(cdb, 18, b, sizeof(b));
    *key = r.got == 18 ? b[2] & 0x0F : 0xFF;
    *asc = b[12];
    *ascq = b[13];
}

static uint8_t tur(void)
{
    uint8_t cdb[12];
    cdb_set(cdb, 0x00);
    struct packet_result r = packet(cdb, 0, NULL, 0);
    return (r.status & 0x01) ? r.error : 0;
}

static void test_atapi_basics(void)
{
    uint8_t raw[512], cdb[12], b[4096];
    outb(S + 6, 0xA0);
    outb(S + 7, 0xEC);
    check(inb(S + 7) == 0x41 && inb(S + 1) == 0x04, "IDENTIFY DEVICE to a CD aborts");
    check(inb(S + 4) == 0x14 && inb(S + 5) == 0xEB, "and shows the packet signature");
    outb(S + 7, 0xA1);
    check(inb(S + 7) == 0x48, "IDENTIFY PACKET DEVICE: DRQ");
    read_data(S, raw, 512);
    uint16_t w0 = (uint16_t)(raw[0] | raw[1] << 8);
    check(w0 == 0x85C0, "word 0: ATAPI CD-ROM, removable, 12-byte packets: %04x", w0);
    check((raw[98] | raw[99] << 8) & 0x0100, "DMA supported");
    check(((raw[164] | raw[165] << 8) & 0x0010) != 0, "PACKET feature set in word 82");
    check(inb(S + 7) == 0x40, "ready after IDENTIFY PACKET DEVICE");

    cdb_set(cdb, 0x00);
    struct packet_result r = packet(cdb, 0, NULL, 0);
    check(r.status == 0x40 && !r.drq_irq, "TEST UNIT READY: no interrupt for the packet DRQ, good status");
    check(inb(S + 2) == 0x03, "interrupt reason: I/O and C/D at completion");

    cdb_set(cdb, 0x12);
    cdb[4] = 36;
    r = packet(cdb, 36, b, sizeof(b));
    check(r.status == 0x40 && r.got == 36 && b[0] == 0x05 && (b[1] & 0x80), "INQUIRY: removable CD/DVD device");
    check(!memcmp(b + 8, "BUBBLE  ", 8), "INQUIRY vendor");
    cdb[4] = 5;
    r = packet(cdb, 36, b, sizeof(b));
    check(r.got == 5, "allocation length truncates");

    cdb_set(cdb, 0x25);
    r = packet(cdb, 8, b, sizeof(b));
    check(r.got == 8 && b[0] == 0 && b[1] == 0 && b[2] == 0x01 && b[3] == 0x2B, "READ CAPACITY: last LBA 299");
    check(b[4] == 0 && b[5] == 0 && b[6] == 0x08 && b[7] == 0, "block length 2048");

    /* READ(10): two sectors, DRQ blocks of the byte count limit. */
    cdb_set(cdb, 0x28);
    cdb[5] = 3;
    cdb[8] = 2;
    r = packet(cdb, 2048, b, sizeof(b));
    check(r.status == 0x40 && r.got == 4096 && r.blocks == 2, "READ(10) in two 2048-byte blocks");
    check(matches_pattern(b, 2048, 3 * 2048, 4096), "READ(10) data");
    r = packet(cdb, 1000, b, sizeof(b));
    check(r.got == 4096 && r.blocks == 5 && matches_pattern(b, 2048, 3 * 2048, 4096),
          "byte count limit 1000: five blocks, same data");
    r = packet(cdb, 0xFFFF, b, sizeof(b));
    check(r.got == 4096 && r.blocks == 1, "limit FFFFh: one block");
    cdb_set(cdb, 0xA8);
    cdb[5] = 7;
    cdb[9] = 1;
    r = packet(cdb, 2048, b, sizeof(b));
    check(r.got == 2048 && matches_pattern(b, 2048, 7 * 2048, 2048), "READ(12)");
    cdb_set(cdb, 0x28);
    cdb[3] = 0x01;                /* LBA 65536: beyond 300 sectors */
    cdb[8] = 1;
    r = packet(cdb, 2048, b, sizeof(b));
    check((r.status & 0x01) && r.error == 0x50, "READ past the end: CHECK CONDITION, sense key 5");
    uint8_t key, asc, ascq;
    request_sense(&key, &asc, &ascq);
    check(key == 5 && asc == 0x21, "REQUEST SENSE: LBA out of range");
    request_sense(&key, &asc, &ascq);
    check(key == 0 && asc == 0, "sense reported once");

    cdb_set(cdb, 0xFF);
    r = packet(cdb, 0, NULL, 0);
    check((r.status & 0x01) && r.error == 0x50, "unknown packet command: ILLEGAL REQUEST");
    request_sense(&key, &asc, &ascq);
    check(key == 5 && asc == 0x20, "invalid command operation code");
}

static void test_atapi_toc(void)
{
    uint8_t cdb[12], b[256];
    cdb_set(cdb, 0x43);
    cdb[8] = 0xFF;
    struct packet_result r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 20 && b[0] == 0 && b[1] == 18 && b[2] == 1 && b[3] == 1, "READ TOC format 0: header");
    check(b[5] == 0x14 && b[6] == 1 && b[8] == 0 && b[11] == 0, "track 1, data, LBA 0");
    check(b[14] == 0xAA && b[16] == 0 && b[17] == 0 && b[18] == 0x01 && b[19] == 0x2C, "lead-out at LBA 300");
    cdb[1] = 0x02;                /* MSF */
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(b[8] == 0 && b[9] == 0 && b[10] == 2 && b[11] == 0, "MSF: track 1 at 00:02:00");
    /* 300 + 150 = 450 frames = 0 min 6 s 0 frames */
    check(b[17] == 0 && b[18] == 6 && b[19] == 0, "MSF lead-out 00:06:00");
    cdb[1] = 0;
    cdb[6] = 0xAA;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 12 && b[6] == 0xAA, "starting at the lead-out: only the lead-out");
    cdb[6] = 2;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check((r.status & 0x01) && r.error == 0x50, "starting track 2 does not exist");
    cdb_set(cdb, 0x43);
    cdb[2] = 1;
    cdb[8] = 0xFF;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 12 && b[1] == 10 && b[2] == 1 && b[3] == 1 && b[6] == 1, "format 1: session info");
    cdb[2] = 2;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 48 && b[1] == 46, "format 2: raw TOC of 4 entries");
    check(b[7] == 0xA0 && b[12] == 1 && b[18] == 0xA1 && b[29] == 0xA2 && b[40] == 0x01,
          "points A0, A1, A2, 1");
    check(b[34] == 0 && b[35] == 6 && b[36] == 0, "A2: lead-out at 00:06:00");
    cdb[2] = 0;
    cdb[9] = 0x40;                /* the old place for format 1 */
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 12, "format in the control byte (pre-MMC)");
    cdb_set(cdb, 0x43);
    cdb[8] = 4;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 4 && b[1] == 18, "allocation length 4: header only, full length field");
}

static void test_atapi_modes_and_config(void)
{
    uint8_t cdb[12], b[512];
    cdb_set(cdb, 0x5A);
    cdb[2] = 0x2A;
    cdb[8] = 0xFF;
    struct packet_result r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 30 && b[1] == 28 && b[8] == 0x2A && b[9] == 0x14, "MODE SENSE(10) page 2Ah");
    check((b[8 + 6] & 0x08) && (b[8 + 6] >> 5) == 1, "capabilities: eject, tray loader");
    cdb[2] = 0x3F;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 8 + 8 + 8 + 16 + 22 && b[8] == 0x01 && b[16] == 0x0D && b[24] == 0x0E && b[40] == 0x2A,
          "all pages: 01h, 0Dh, 0Eh, 2Ah");
    cdb[2] = 0xC1;                /* saved values */
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check((r.status & 0x01) && r.error == 0x50, "saved page values: not supported");
    cdb[2] = 0x05;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check((r.status & 0x01) && r.error == 0x50, "unknown page: ILLEGAL REQUEST");
    cdb_set(cdb, 0x1A);
    cdb[2] = 0x01;
    cdb[4] = 0xFF;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 12 && b[0] == 11 && b[4] == 0x01, "MODE SENSE(6) page 01h");

    cdb_set(cdb, 0x46);
    cdb[8] = 0xFF;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got >= 16 && b[6] == 0 && b[7] == 0x08, "GET CONFIGURATION: current profile CD-ROM");
    check(b[8] == 0 && b[9] == 0 && (b[10] & 1) && b[11] == 4 && b[12] == 0 && b[13] == 8 && (b[14] & 1),
          "profile list with CD-ROM current");
    uint32_t len = (uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
    check(len + 4 == r.got, "data length field");
    cdb[1] = 2;
    cdb[3] = 0x1E;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 16 && b[9] == 0x1E, "RT 2: the one feature asked for");

    cdb_set(cdb, 0x4A);
    cdb[1] = 1;
    cdb[4] = 0x10;
    cdb[8] = 8;
    r = packet(cdb, 8, b, sizeof(b));
    check(r.got == 8 && b[2] == 0x04 && b[4] == 0 && (b[5] & 2), "GESN: media class, no event, medium present");
    cdb[1] = 0;
    r = packet(cdb, 8, b, sizeof(b));
    check((r.status & 0x01), "GESN asynchronous mode refused");

    cdb_set(cdb, 0x51);
    cdb[8] = 34;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 34 && b[1] == 32 && b[2] == 0x0E && b[3] == 1, "READ DISC INFORMATION: complete disc");
    cdb_set(cdb, 0xBD);
    cdb[9] = 8;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 8 && !(b[1] & 0x10), "MECHANISM STATUS: door closed");
    cdb_set(cdb, 0xBB);
    r = packet(cdb, 0, NULL, 0);
    check(r.status == 0x40, "SET CD SPEED accepted");
    cdb_set(cdb, 0x52);
    cdb[1] = 1;
    cdb[5] = 1;
    cdb[8] = 36;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 36 && b[2] == 1 && b[27] == 0x2C && b[26] == 0x01, "READ TRACK INFORMATION: track 1 of 300 sectors");
    cdb_set(cdb, 0xBE);
    cdb[5] = 9;
    cdb[8] = 1;
    cdb[9] = 0x10;
    r = packet(cdb, 0xFFFE, b, sizeof(b));
    check(r.got == 2048 && matches_pattern(b, 2048, 9 * 2048, sizeof(b)), "READ CD user data");
}

static void test_atapi_media(void)
{
    uint8_t cdb[12], b[64], key, asc, ascq;
    struct memdisk *cd2 = memdisk_new(100 * 2048, 2048, 0, 1);
    for (int k = 0; k < 2048; k++) cd2->data[k] = 0xEE;
    struct block_backend *old = ide_cdrom_change(ide, 1, 0, &cd2->b);
    check(old == &cd->b, "the change returns the previous medium");
    check(tur() == 0x60, "after a change: UNIT ATTENTION");
    request_sense(&key, &asc, &ascq);
    check(key == 6 && asc == 0x28 && ascq == 0, "sense 6/28/00: medium may have changed");
    check(tur() == 0, "then ready");
    cdb_set(cdb, 0x4A);
    cdb[1] = 1;
    cdb[4] = 0x10;
    cdb[8] = 8;
    packet(cdb, 8, b, sizeof(b));
    check(b[4] == 2 && (b[5] & 2), "GESN: new media");
    packet(cdb, 8, b, sizeof(b));
    check(b[4] == 0, "GESN: reported once");
    cdb_set(cdb, 0x28);
    cdb[8] = 1;
    struct packet_result r = packet(cdb, 2048, b, sizeof(b));
    check(r.got == 2048 && b[0] == 0xEE, "reads the new disc");

    /* An unit attention does not stop INQUIRY (MMC-3 4.1.6.1). */
    ide_cdrom_change(ide, 1, 0, &cd->b);
    cdb_set(cdb, 0x12);
    cdb[4] = 36;
    r = packet(cdb, 36, b, sizeof(b));
    check(r.status == 0x40, "INQUIRY during unit attention");
    check(tur() == 0x60 && tur() == 0, "the attention is still there for TEST UNIT READY, then gone");

    old = ide_cdrom_change(ide, 1, 0, NULL);
    check(old == &cd->b, "ejected by the host");
    check(tur() == 0x20, "no disc: NOT READY");
    request_sense(&key, &asc, &ascq);
    check(key == 2 && asc == 0x3A && ascq == 1, "sense 2/3A/01: medium not present, tray closed");
    cdb_set(cdb, 0x25);
    r = packet(cdb, 8, b, sizeof(b));
    check((r.status & 0x01) && r.error == 0x20, "READ CAPACITY without a disc");
    cdb_set(cdb, 0x46);
    cdb[8] = 16;
    r = packet(cdb, 16, b, sizeof(b));
    check(r.status == 0x40 && b[7] == 0, "GET CONFIGURATION without a disc: no current profile");

    ide_cdrom_change(ide, 1, 0, &cd->b);
    tur();
    /* The guest ejects: START STOP UNIT with LoEj. */
    cdb_set(cdb, 0x1E);
    cdb[4] = 1;
    packet(cdb, 0, NULL, 0);      /* PREVENT */
    cdb_set(cdb, 0x1B);
    cdb[4] = 0x02;
    r = packet(cdb, 0, NULL, 0);
    check(r.error == 0x50, "eject refused while prevented");
    request_sense(&key, &asc, &ascq);
    check(key == 5 && asc == 0x53 && ascq == 2, "sense 5/53/02: removal prevented");
    cdb_set(cdb, 0x1E);
    packet(cdb, 0, NULL, 0);      /* ALLOW */
    cdb_set(cdb, 0x1B);
    cdb[4] = 0x02;
    r = packet(cdb, 0, NULL, 0);
    check(r.status == 0x40, "eject");
    check(tur() == 0x20, "tray open: NOT READY");
    request_sense(&key, &asc, &ascq);
    check(asc == 0x3A && ascq == 2, "sense 3A/02: tray open");
    cdb_set(cdb, 0xBD);
    cdb[9] = 8;
    packet(cdb, 8, b, sizeof(b));
    check(b[1] & 0x10, "MECHANISM STATUS: door open");
    cdb_set(cdb, 0x1B);
    cdb[4] = 0x03;
    packet(cdb, 0, NULL, 0);      /* load */
    check(tur() == 0x60 && tur() == 0, "closing the tray: unit attention, then ready");
    free(cd2->data);
    free(cd2);

    /* DEVICE RESET: signature back, DRDY clear, no interrupt (ATA-6 8.7). */
    outb(S + 6, 0xA0);
    outb(S + 2, 0x77);
    memset(irq_rises, 0, sizeof(irq_rises));
    outb(S + 7, 0x08);
    check(irq_rises[15] == 0 && inb(S + 7) == 0x00 && inb(S + 1) == 0x01, "DEVICE RESET: status 0, code 01h");
    check(inb(S + 2) == 1 && inb(S + 4) == 0x14 && inb(S + 5) == 0xEB, "DEVICE RESET: signature");
    check(tur() == 0, "ready for packets after DEVICE RESET");
}

static void test_atapi_dma(void)
{
    uint8_t cdb[12];
    memset(memory_ram(mem) + 0x50000, 0, 3 * 2048);
    put_prd(0x2000, 0x50000, 3 * 2048, 1);
    outl(BMI + 8 + 4, 0x2000);
    outb(BMI + 8 + 2, 0x06);
    outb(BMI + 8, 0x09);
    outb(S + 6, 0xA0);
    outb(S + 1, 0x01);            /* DMA */
    outb(S + 4, 0);
    outb(S + 5, 0);
    memset(irq_rises, 0, sizeof(irq_rises));
    outb(S + 7, 0xA0);
    cdb_set(cdb, 0x28);
    cdb[5] = 10;
    cdb[8] = 3;
    for (int k = 0; k < 12; k += 2) outw(S, (uint16_t)(cdb[k] | cdb[k + 1] << 8));
    check(irq_rises[15] == 1, "ATAPI DMA: interrupt at the end");
    check(inb(S + 7) == 0x40 && inb(S + 2) == 0x03, "status good, command complete");
    check((inb(BMI + 8 + 2) & 0x07) == 0x04, "secondary bus master: interrupt, inactive");
    check(matches_pattern(memory_ram(mem) + 0x50000, 2048, 10 * 2048, 3 * 2048), "ATAPI DMA data");
    outb(BMI + 8, 0x00);
}

int main(void)
{
    if (setup()) {
        printf("cannot build the machine\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    test_presence();
    test_identify();
    test_pio_read_write();
    test_lba48();
    test_multiple();
    test_dma();
    test_flush_and_features();
    test_resets_and_interrupts();
    test_delay();
    test_atapi_basics();
    test_atapi_toc();
    test_atapi_modes_and_config();
    test_atapi_media();
    test_atapi_dma();
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
