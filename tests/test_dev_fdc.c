/* Intel 82077AA floppy controller (devices/fdc82077.c), driven headless
 * through its ports as a driver does: resets and the polling statuses,
 * SPECIFY/CONFIGURE/DUMPREG/VERSION/LOCK, seeks and recalibration, reads and
 * writes by DMA (through a real 8237 on guest memory) and through the FIFO,
 * multi-sector and multi-track transfers, the end-of-track, write-protect,
 * wrong-cylinder, data-rate and not-ready errors, READ ID, FORMAT TRACK,
 * VERIFY, implied seeks and the media change line, on images held in memory. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/clock.h"
#include "devices/dma8237.h"
#include "devices/fdc82077.h"

#include "tests/check.h"

/* ---------------------------------------------------------------------------
 * Floppy images in memory. */

struct memdisk {
    struct block_backend b;
    uint8_t *data;
    int writes;
};

static uint8_t pattern(uint64_t off)
{
    uint64_t s = off / 512;
    return (uint8_t)(s * 7 + (s >> 8) * 3 + (off % 512) * 5 + 1);
}

static int memdisk_read(struct block_backend *b, uint64_t off, void *buf, size_t len)
{
    struct memdisk *m = (struct memdisk *)b;
    if (off + len > b->size) return -EINVAL;
    memcpy(buf, m->data + off, len);
    return 0;
}

static int memdisk_write(struct block_backend *b, uint64_t off, const void *buf, size_t len)
{
    struct memdisk *m = (struct memdisk *)b;
    if (b->read_only) return -EROFS;
    if (off + len > b->size) return -EINVAL;
    memcpy(m->data + off, buf, len);
    m->writes++;
    return 0;
}

static struct memdisk *memdisk_new(uint64_t size, int read_only)
{
    struct memdisk *m = calloc(1, sizeof(*m));
    m->b.size = size;
    m->b.read_only = read_only;
    m->b.removable = 1;
    m->b.name = "memdisk";
    m->b.read = memdisk_read;
    m->b.write = memdisk_write;
    m->data = malloc(size);
    for (uint64_t k = 0; k < size; k++) m->data[k] = pattern(k);
    return m;
}

/* Byte offset of C/H/R on a 2-head image with `spt` sectors per track. */
static uint64_t chs(int c, int h, int r, int spt) { return (((uint64_t)c * 2 + h) * spt + r - 1) * 512; }

/* ---------------------------------------------------------------------------
 * The machine: ports, guest memory, the DMA pair, a deterministic clock. */

static struct ioports *io;
static struct memory *mem;
static struct vclock *clk;
static struct dma dma;
static struct fdc fdc;
static uint64_t icount;
static int irq_level, irq_rises;
static struct memdisk *disk_a, *disk_b, *disk_720;

static void irq_cb(void *opaque, int n, int level)
{
    if (level && !irq_level) irq_rises++;
    irq_level = level;
}

static uint64_t read_icount(void *opaque) { return icount; }

static void advance(int64_t ns)
{
    icount += (uint64_t)ns;
    vclock_run_timers(clk);
}

static uint8_t inb(uint16_t p) { return (uint8_t)io_read(io, p, 1); }
static void outb(uint16_t p, uint8_t v) { io_write(io, p, v, 1); }

#define DOR  0x3F2
#define MSR  0x3F4
#define DSR  0x3F4
#define FIFO 0x3F5
#define DIR  0x3F7
#define CCR  0x3F7

/* Waits (in virtual time) for IRQ 6 to rise; returns 1 if it did. */
static int wait_irq(void)
{
    int before = irq_rises;
    for (int k = 0; k < 20000 && irq_rises == before; k++) advance(1000);
    return irq_rises != before;
}

/* Sends a command as a driver does: every byte only when MSR says RQM with DIO clear. */
static int send(const uint8_t *bytes, int n)
{
    for (int k = 0; k < n; k++) {
        if ((inb(MSR) & 0xC0) != 0x80) return -1;
        outb(FIFO, bytes[k]);
    }
    return 0;
}

#define CMD(...) do { const uint8_t c_[] = { __VA_ARGS__ }; check(send(c_, (int)sizeof(c_)) == 0, "command %02x accepted", c_[0]); } while (0)

/* Reads the result phase: bytes while MSR = RQM | DIO | CB; returns how many. */
static int result(uint8_t *r)
{
    int n = 0;
    while (n < 16 && (inb(MSR) & 0xD0) == 0xD0) r[n++] = inb(FIFO);
    return n;
}

static void sense_int(uint8_t *st0, uint8_t *pcn)
{
    uint8_t r[16] = { 0 };
    CMD(0x08);
    int n = result(r);
    *st0 = r[0];
    *pcn = n > 1 ? r[1] : 0xEE;
}

static void dma_program(uint8_t mode, uint32_t addr, uint16_t bytes)
{
    outb(0x0A, 0x06);                  /* mask channel 2 */
    outb(0x0C, 0);
    outb(0x0B, mode);
    outb(0x04, (uint8_t)addr);
    outb(0x04, (uint8_t)(addr >> 8));
    outb(0x81, (uint8_t)(addr >> 16));
    outb(0x0C, 0);
    outb(0x05, (uint8_t)(bytes - 1));
    outb(0x05, (uint8_t)((bytes - 1) >> 8));
    outb(0x0A, 0x02);                  /* unmask */
}
#define DMA_TO_MEM   0x46              /* single, write (device -> memory), channel 2 */
#define DMA_FROM_MEM 0x4A              /* single, read (memory -> device), channel 2 */

static void seek(int drive, int head, int cyl)
{
    uint8_t st0, pcn;
    CMD(0x0F, (uint8_t)(head << 2 | drive), (uint8_t)cyl);
    check(wait_irq(), "seek to %d: interrupt", cyl);
    sense_int(&st0, &pcn);
    check(st0 == (0x20 | head << 2 | drive) && pcn == cyl, "seek to %d: ST0 %02x PCN %d", cyl, st0, pcn);
}

static int mem_matches(uint32_t addr, const uint8_t *img, uint32_t len)
{
    uint8_t *tmp = malloc(len);
    memory_read(mem, addr, tmp, len);
    int ok = memcmp(tmp, img, len) == 0;
    free(tmp);
    return ok;
}

/* A read/write style command: 9 bytes, then the interrupt and 7 result bytes. */
static int data_cmd(uint8_t op, int drive, int head, int c, int h, int r, int eot, uint8_t *res)
{
    CMD(op, (uint8_t)(head << 2 | drive), (uint8_t)c, (uint8_t)h, (uint8_t)r, 2, (uint8_t)eot, 0x1B, 0xFF);
    if (!wait_irq()) return -1;
    return result(res);
}

static void reset_controller(void)
{
    outb(DOR, 0x08);                   /* reset held, DMA gate on */
    outb(DOR, 0x0C);
    check(wait_irq(), "reset: interrupt");
    for (int k = 0; k < 4; k++) {
        uint8_t st0, pcn;
        sense_int(&st0, &pcn);
    }
}

static int setup(void)
{
    io = ioports_new();
    mem = memory_new(4u << 20);
    clk = vclock_new(VCLOCK_DETERMINISTIC, read_icount, NULL);
    if (!io || !mem || !clk) return -1;
    ioports_set_log(io, stdout, 0);
    if (dma_init(&dma, io, mem)) return -1;
    outb(0xD6, 0xC0);                  /* DMA2 channel 4: cascade */
    outb(0xD4, 0x00);                  /* unmask it */
    struct irq_line line = { irq_cb, NULL, 6 };
    if (fdc_init(&fdc, io, clk, &dma, line)) return -1;
    disk_a = memdisk_new(1474560, 0);
    disk_b = memdisk_new(1474560, 1);
    disk_720 = memdisk_new(737280, 0);
    if (fdc_attach(&fdc, 0, &disk_a->b) || fdc_attach(&fdc, 1, &disk_b->b)) return -1;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Tests */

static void test_reset(void)
{
    check(inb(MSR) == 0x00, "held in reset after power-on: MSR %02x", inb(MSR));
    static struct fdc second;
    check(fdc_init(&second, io, clk, &dma, (struct irq_line){ irq_cb, NULL, 6 }) != 0, "ports cannot be claimed twice");

    /* Leave reset with the DMA gate closed: INT is pending but IRQ 6 stays low. */
    int rises = irq_rises;
    outb(DOR, 0x04);
    check(inb(MSR) == 0x80, "out of reset: MSR %02x", inb(MSR));
    advance(100000);
    check(irq_rises == rises && !irq_level, "no IRQ while the DOR DMA gate is closed");
    check(inb(0x3F0) & 0x80, "SRA shows the interrupt pending");
    outb(DOR, 0x0C);
    check(irq_rises == rises + 1 && irq_level, "opening the gate delivers the pending interrupt");

    uint8_t st0, pcn;
    for (int k = 0; k < 4; k++) {
        sense_int(&st0, &pcn);
        check(st0 == (0xC0 | k) && pcn == 0, "reset sense %d: ST0 %02x PCN %d", k, st0, pcn);
        if (k == 0) check(!irq_level, "SENSE INTERRUPT STATUS clears INT");
    }
    uint8_t r[16] = { 0 };
    CMD(0x08);
    int n = result(r);
    check(n == 1 && r[0] == 0x80, "a fifth sense: invalid (n %d, %02x)", n, r[0]);
    check(inb(MSR) == 0x80, "idle: MSR %02x", inb(MSR));

    /* DSR software reset: clears itself, interrupts again. */
    outb(DSR, 0x80);
    check(inb(MSR) == 0x80, "DSR reset clears itself");
    check(wait_irq(), "DSR reset: interrupt");
    for (int k = 0; k < 4; k++) {
        sense_int(&st0, &pcn);
        check(st0 == (0xC0 | k), "DSR reset sense %d: ST0 %02x", k, st0);
    }
}

static void test_registers(void)
{
    uint8_t r[16] = { 0 };
    CMD(0x10);
    check(result(r) == 1 && r[0] == 0x90, "VERSION: 90h (%02x)", r[0]);

    CMD(0x03, 0xAF, 0x02);             /* SRT 10, HUT 15, HLT 1, DMA */
    check(inb(MSR) == 0x80, "SPECIFY: no result phase (MSR %02x)", inb(MSR));
    CMD(0x13, 0x00, 0x17, 0x05);       /* FIFO on, polling off, threshold 7, PRETRK 5 */
    check(inb(MSR) == 0x80, "CONFIGURE: no result phase");
    CMD(0x12, 0x80 | 0x0C | 0x03);     /* OW: drives 0-1 perpendicular, GAP, WGATE */
    CMD(0x0E);
    int n = result(r);
    check(n == 10, "DUMPREG: 10 bytes (%d)", n);
    check(r[4] == 0xAF && r[5] == 0x02, "DUMPREG: SPECIFY bytes %02x %02x", r[4], r[5]);
    check(r[7] == 0x0F, "DUMPREG: perpendicular byte %02x", r[7]);
    check(r[8] == 0x17 && r[9] == 0x05, "DUMPREG: CONFIGURE bytes %02x %02x", r[8], r[9]);

    CMD(0x94);
    check(result(r) == 1 && r[0] == 0x10, "LOCK: 10h (%02x)", r[0]);
    CMD(0x0E);
    result(r);
    check(r[7] & 0x80, "DUMPREG shows LOCK");
    /* A software reset keeps the locked FIFO settings, drops GAP/WGATE and POLL. */
    CMD(0x13, 0x00, 0x57, 0x05);       /* + EIS */
    reset_controller();
    CMD(0x0E);
    result(r);
    check(r[8] == 0x07 && r[9] == 0x05, "locked CONFIGURE survives a reset, EIS/POLL do not (%02x %02x)", r[8], r[9]);
    check(r[7] == 0x8C, "perpendicular after reset: D bits kept, GAP/WGATE cleared (%02x)", r[7]);
    check(r[4] == 0xAF, "SPECIFY survives a reset");
    CMD(0x14);
    check(result(r) == 1 && r[0] == 0x00, "UNLOCK: 00h (%02x)", r[0]);
    reset_controller();
    CMD(0x0E);
    result(r);
    check(r[8] == 0x20 && r[9] == 0x00, "unlocked: CONFIGURE back to defaults (%02x %02x)", r[8], r[9]);

    CMD(0x18);
    check(result(r) == 1 && r[0] == 0x80, "PART ID: invalid on an 82077AA (%02x)", r[0]);
    int rises = irq_rises;
    CMD(0x1F);
    check(result(r) == 1 && r[0] == 0x80, "unknown command: ST0 80h");
    CMD(0x45 | 0x20);                  /* WRITE DATA does not take SK */
    check(result(r) == 1 && r[0] == 0x80, "an option bit a command does not take: invalid");
    check(irq_rises == rises, "invalid commands raise no interrupt");
    CMD(0x12, 0x00);                   /* perpendicular off */
    CMD(0x03, 0xAF, 0x02);
}

static void test_seek(void)
{
    uint8_t st0, pcn, r[16] = { 0 };
    CMD(0x07, 0x00);
    check(inb(MSR) == 0x81, "RECALIBRATE: drive 0 busy, controller free (MSR %02x)", inb(MSR));
    check(wait_irq(), "recalibrate: interrupt");
    sense_int(&st0, &pcn);
    check(st0 == 0x20 && pcn == 0, "recalibrate: ST0 %02x PCN %d", st0, pcn);
    check(inb(MSR) == 0x80, "drive busy bit cleared by the sense");

    seek(0, 1, 10);
    CMD(0x04, 0x04);
    check(result(r) == 1 && r[0] == 0x2C, "SENSE DRIVE STATUS at cyl 10 side 1: %02x", r[0]);
    CMD(0x0E);
    result(r);
    check(r[0] == 10, "DUMPREG PCN drive 0 = %d", r[0]);

    /* Relative seeks. */
    CMD(0xCF, 0x00, 3);
    check(wait_irq(), "relative seek in: interrupt");
    sense_int(&st0, &pcn);
    check(st0 == 0x20 && pcn == 13, "relative seek in by 3: ST0 %02x PCN %d", st0, pcn);
    CMD(0x8F, 0x00, 8);
    wait_irq();
    sense_int(&st0, &pcn);
    check(pcn == 5, "relative seek out by 8: PCN %d", pcn);

    /* Beyond 79 cylinders, one recalibrate is not enough (datasheet: 79 steps at most). */
    CMD(0xCF, 0x00, 100);
    wait_irq();
    sense_int(&st0, &pcn);
    CMD(0x07, 0x00);
    wait_irq();
    sense_int(&st0, &pcn);
    check(st0 == 0x70 && pcn == 0, "recalibrate from the far end: EC (ST0 %02x)", st0);
    CMD(0x07, 0x00);
    wait_irq();
    sense_int(&st0, &pcn);
    check(st0 == 0x20, "second recalibrate succeeds (ST0 %02x)", st0);
    CMD(0x04, 0x00);
    check(result(r) == 1 && r[0] == 0x38, "SENSE DRIVE STATUS at track 0: %02x", r[0]);
    CMD(0x04, 0x01);
    check(result(r) == 1 && (r[0] & 0x40), "drive B's read-only disk shows WP (%02x)", r[0]);

    /* Drive 2 is not installed: recalibrate never sees TRK0. */
    CMD(0x07, 0x02);
    wait_irq();
    sense_int(&st0, &pcn);
    check(st0 == 0x72, "recalibrate on a missing drive: EC (ST0 %02x)", st0);

    /* Two seeks at once: one interrupt each. */
    int rises = irq_rises;
    CMD(0x0F, 0x00, 4);
    CMD(0x0F, 0x01, 6);
    check(inb(MSR) == 0x83, "two drives seeking (MSR %02x)", inb(MSR));
    wait_irq();
    advance(200000);
    sense_int(&st0, &pcn);
    check(st0 == 0x20 && pcn == 4, "first drive's status (%02x %d)", st0, pcn);
    check(irq_rises == rises + 2, "the other pending status interrupts again (%d)", irq_rises - rises);
    sense_int(&st0, &pcn);
    check(st0 == 0x21 && pcn == 6, "second drive's status (%02x %d)", st0, pcn);
}

static void test_dma_read(void)
{
    uint8_t r[16] = { 0 };
    const int spt = 18;
    seek(0, 1, 2);
    dma_program(DMA_TO_MEM, 0x10000, 512);
    int rises = irq_rises;
    CMD(0x66, 0x04, 2, 1, 5, 2, 18, 0x1B, 0xFF);
    check(inb(MSR) == 0x10, "DMA execution: busy, no RQM (MSR %02x)", inb(MSR));
    check(wait_irq() && irq_rises == rises + 1, "read: one completion interrupt");
    check(inb(MSR) == 0xD0, "result phase: MSR %02x", inb(MSR));
    int n = result(r);
    check(!irq_level, "reading the result clears INT");
    check(n == 7 && r[0] == 0x04 && r[1] == 0 && r[2] == 0, "read: ST0-2 %02x %02x %02x", r[0], r[1], r[2]);
    check(r[3] == 2 && r[4] == 1 && r[5] == 6 && r[6] == 2, "read: next ID C%d H%d R%d N%d", r[3], r[4], r[5], r[6]);
    check(mem_matches(0x10000, disk_a->data + chs(2, 1, 5, spt), 512), "sector C2 H1 R5 in memory");
    check(inb(MSR) == 0x80, "idle after the result");

    /* Two sectors ending exactly at EOT with TC: normal, next cylinder in the result. */
    dma_program(DMA_TO_MEM, 0x20000, 1024);
    n = data_cmd(0x66, 0, 1, 2, 1, 17, 18, r);
    check(n == 7 && (r[0] & 0xC0) == 0 && r[3] == 3 && r[4] == 1 && r[5] == 1,
          "multi-sector to EOT with TC: ST0 %02x C%d H%d R%d", r[0], r[3], r[4], r[5]);
    check(mem_matches(0x20000, disk_a->data + chs(2, 1, 17, spt), 1024), "sectors 17-18 in memory");

    /* Multi-track: side 0 R17-18, then side 1 R1-2. */
    seek(0, 0, 2);
    dma_program(DMA_TO_MEM, 0x30000, 2048);
    n = data_cmd(0xE6, 0, 0, 2, 0, 17, 18, r);
    check(n == 7 && r[0] == 0x04 && r[1] == 0 && r[3] == 2 && r[4] == 1 && r[5] == 3,
          "multi-track: ST0 %02x ST1 %02x C%d H%d R%d", r[0], r[1], r[3], r[4], r[5]);
    check(mem_matches(0x30000, disk_a->data + chs(2, 0, 17, spt), 1024) &&
          mem_matches(0x30400, disk_a->data + chs(2, 1, 1, spt), 1024), "multi-track data");

    /* Past the end of the track without MT: two sectors, then EN. */
    memory_write(mem, 0x40000, (uint8_t[1024]){ 0 }, 1024);
    dma_program(DMA_TO_MEM, 0x40000, 1536);
    n = data_cmd(0x46, 0, 0, 2, 0, 17, 18, r);
    check(n == 7 && r[0] == 0x40 && r[1] == 0x80 && r[3] == 2 && r[5] == 18,
          "past EOT: EN with the last sector's ID: ST0 %02x ST1 %02x C%d R%d", r[0], r[1], r[3], r[5]);
    check(mem_matches(0x40000, disk_a->data + chs(2, 0, 17, spt), 1024), "past EOT: the two sectors arrived");

    /* MT past the end of side 1: EN with the ID of H1 R18. */
    dma_program(DMA_TO_MEM, 0x40000, 21 * 512);
    n = data_cmd(0xC6, 0, 0, 2, 0, 17, 18, r);
    check(n == 7 && r[0] == 0x44 && r[1] == 0x80 && r[3] == 2 && r[4] == 1 && r[5] == 18,
          "MT past the cylinder: ST0 %02x ST1 %02x C%d H%d R%d", r[0], r[1], r[3], r[4], r[5]);
    check(mem_matches(0x40400, disk_a->data + chs(2, 1, 1, spt), 18 * 512), "MT past the cylinder: side 1 data");

    /* TC in the middle of a sector still ends normally. */
    dma_program(DMA_TO_MEM, 0x50000, 256);
    n = data_cmd(0x46, 0, 0, 2, 0, 3, 18, r);
    check(n == 7 && (r[0] & 0xC0) == 0 && r[5] == 4, "TC mid-sector: ST0 %02x R%d", r[0], r[5]);

    /* Errors. */
    dma_program(DMA_TO_MEM, 0x50000, 512);
    n = data_cmd(0x46, 0, 0, 5, 0, 1, 18, r);
    check(n == 7 && r[0] == 0x40 && r[1] == 0x04 && r[2] == 0x10, "wrong cylinder: %02x %02x %02x", r[0], r[1], r[2]);
    n = data_cmd(0x46, 0, 0, 2, 0, 19, 19, r);
    check(n == 7 && r[0] == 0x40 && r[1] == 0x04 && r[2] == 0, "no such sector: %02x %02x %02x", r[0], r[1], r[2]);
    n = data_cmd(0x46, 0, 0, 2, 1, 1, 18, r);
    check(n == 7 && r[1] == 0x04, "head ID mismatch: ND (%02x)", r[1]);
    outb(CCR, 0x02);                   /* 250 kbps: a 1.44M disk cannot be read */
    n = data_cmd(0x46, 0, 0, 2, 0, 1, 18, r);
    check(n == 7 && r[0] == 0x40 && r[1] == 0x01, "wrong data rate: MA (%02x %02x)", r[0], r[1]);
    outb(CCR, 0x00);
    n = data_cmd(0x06, 0, 0, 2, 0, 1, 18, r);
    check(n == 7 && r[0] == 0x40 && r[1] == 0x01, "FM on MFM media: MA (%02x %02x)", r[0], r[1]);
    outb(0x0A, 0x06);                  /* channel masked: nobody takes the data */
    n = data_cmd(0x46, 0, 0, 2, 0, 1, 18, r);
    check(n == 7 && r[0] == 0x40 && r[1] == 0x10, "DMA masked: overrun (%02x %02x)", r[0], r[1]);

    /* READ DELETED DATA on a normal data mark: CM, one sector, R kept. */
    dma_program(DMA_TO_MEM, 0x50000, 2048);
    n = data_cmd(0x4C, 0, 0, 2, 0, 4, 18, r);
    check(n == 7 && (r[0] & 0xC0) == 0 && r[2] == 0x40 && r[5] == 4, "READ DELETED: CM, R kept (%02x %02x R%d)",
          r[0], r[2], r[5]);
    check(mem_matches(0x50000, disk_a->data + chs(2, 0, 4, spt), 512), "READ DELETED: the sector was read");
}

static void test_dma_write(void)
{
    uint8_t r[16] = { 0 }, data[1024];
    const int spt = 18;
    for (int k = 0; k < 1024; k++) data[k] = (uint8_t)(k * 13 + 0x5A);
    memory_write(mem, 0x60000, data, 1024);
    seek(0, 0, 2);
    dma_program(DMA_FROM_MEM, 0x60000, 1024);
    int n = data_cmd(0xC5, 0, 0, 2, 0, 7, 18, r);
    check(n == 7 && r[0] == 0x00 && r[5] == 9, "write 2 sectors: ST0 %02x R%d", r[0], r[5]);
    check(memcmp(disk_a->data + chs(2, 0, 7, spt), data, 1024) == 0, "the image holds the written data");
    dma_program(DMA_TO_MEM, 0x70000, 1024);
    n = data_cmd(0xE6, 0, 0, 2, 0, 7, 18, r);
    check(n == 7 && r[0] == 0x00 && mem_matches(0x70000, data, 1024), "read back what was written");

    /* WRITE DELETED DATA: stored as data. */
    dma_program(DMA_FROM_MEM, 0x60000, 512);
    n = data_cmd(0x49, 0, 0, 2, 0, 11, 18, r);
    check(n == 7 && r[0] == 0x00 && memcmp(disk_a->data + chs(2, 0, 11, spt), data, 512) == 0,
          "WRITE DELETED written as data (ST0 %02x)", r[0]);

    /* Drive B holds a read-only image: write protect. */
    int writes = disk_b->writes;
    seek(1, 0, 2);
    dma_program(DMA_FROM_MEM, 0x60000, 512);
    n = data_cmd(0x45, 1, 0, 2, 0, 1, 18, r);
    check(n == 7 && r[0] == 0x41 && r[1] == 0x02, "write-protected: ST0 %02x ST1 %02x", r[0], r[1]);
    check(disk_b->writes == writes, "nothing written to the protected image");
}

static void test_read_id_format_verify(void)
{
    uint8_t r[16] = { 0 };
    const int spt = 18;
    seek(0, 1, 3);
    CMD(0x4A, 0x04);
    check(wait_irq(), "READ ID: interrupt");
    int64_t t = vclock_ns(clk);
    int n = result(r);
    int expect = (int)((t % 200000000) * 18 / 200000000) + 1;
    check(n == 7 && r[0] == 0x04 && r[3] == 3 && r[4] == 1 && r[6] == 2 && r[5] >= 1 && r[5] <= 18,
          "READ ID: ST0 %02x C%d H%d R%d N%d", r[0], r[3], r[4], r[5], r[6]);
    check(r[5] == expect, "READ ID: the sector under the head (R%d, expected %d)", r[5], expect);

    /* FORMAT TRACK cylinder 3 side 1 with an interleave, IDs by DMA. */
    uint8_t ids[18 * 4];
    for (int k = 0; k < 18; k++) {
        ids[k * 4] = 3;
        ids[k * 4 + 1] = 1;
        ids[k * 4 + 2] = (uint8_t)((k * 2) % 18 + 1 + (k >= 9));
        ids[k * 4 + 3] = 2;
    }
    memory_write(mem, 0x80000, ids, sizeof(ids));
    dma_program(DMA_FROM_MEM, 0x80000, sizeof(ids));
    CMD(0x4D, 0x04, 2, 18, 0x54, 0xF6);
    check(wait_irq(), "FORMAT: interrupt");
    n = result(r);
    check(n == 7 && r[0] == 0x04 && r[1] == 0 && r[2] == 0, "FORMAT: ST0 %02x ST1 %02x", r[0], r[1]);
    int filled = 1;
    for (int k = 0; k < 18 * 512; k++)
        if (disk_a->data[chs(3, 1, 1, spt) + k] != 0xF6) filled = 0;
    check(filled, "FORMAT: every sector of the track holds the filler byte");
    check(disk_a->data[chs(3, 0, 18, spt) + 511] == pattern(chs(3, 0, 18, spt) + 511) &&
          disk_a->data[chs(4, 0, 1, spt)] == pattern(chs(4, 0, 1, spt)), "FORMAT: the neighbouring tracks untouched");

    /* FORMAT on the write-protected disk. */
    seek(1, 0, 3);
    CMD(0x4D, 0x01, 2, 18, 0x54, 0xF6);
    wait_irq();
    n = result(r);
    check(n == 7 && r[0] == 0x41 && r[1] == 0x02, "FORMAT on a protected disk: %02x %02x", r[0], r[1]);

    /* VERIFY: EC = 1 counts SC sectors; EC = 0 ends at EOT without error. */
    CMD(0x56, 0x80 | 0x04, 3, 1, 2, 2, 18, 0x1B, 3);
    check(wait_irq(), "VERIFY: interrupt");
    n = result(r);
    check(n == 7 && r[0] == 0x04 && r[5] == 5, "VERIFY EC=1 SC=3: ST0 %02x R%d", r[0], r[5]);
    CMD(0x56, 0x04, 3, 1, 10, 2, 18, 0x1B, 0xFF);
    wait_irq();
    n = result(r);
    check(n == 7 && r[0] == 0x04 && r[1] == 0 && r[3] == 4 && r[5] == 1, "VERIFY EC=0 to EOT: ST0 %02x ST1 %02x C%d R%d",
          r[0], r[1], r[3], r[5]);
}

static void test_pio(void)
{
    uint8_t r[16] = { 0 };
    const int spt = 18;
    CMD(0x03, 0xAF, 0x03);             /* ND: non-DMA mode */
    seek(0, 0, 5);
    int rises = irq_rises;
    CMD(0x46, 0x00, 5, 0, 17, 2, 18, 0x1B, 0xFF);
    check(inb(MSR) == 0x30, "non-DMA execution before data: MSR %02x", inb(MSR));
    check(wait_irq() && irq_rises == rises + 1, "non-DMA: data request interrupt");
    check(inb(MSR) == 0xF0, "non-DMA read: RQM DIO NDMA CB (MSR %02x)", inb(MSR));
    uint8_t buf[1024];
    buf[0] = inb(FIFO);
    check(!irq_level, "a FIFO access clears INT");
    advance(FDC_DEFAULT_BYTE_NS + 100);
    check(irq_level, "the next byte's request interrupts again");
    int k = 1, guard = 0;
    while (k < 1024 && guard++ < 5000) {
        uint8_t msr = inb(MSR);
        if ((msr & 0xE0) == 0xE0) buf[k++] = inb(FIFO);
        else break;
    }
    check(k == 1024, "non-DMA: 1024 bytes through the FIFO (%d)", k);
    check(memcmp(buf, disk_a->data + chs(5, 0, 17, spt), 1024) == 0, "non-DMA data matches the image");
    check(inb(MSR) == 0x30, "after the last byte: busy until the result (MSR %02x)", inb(MSR));
    check(wait_irq(), "non-DMA: completion interrupt");
    int n = result(r);
    /* Without DMA there is no TC: the transfer ends at EOT with EN (Linux expects it). */
    check(n == 7 && r[0] == 0x40 && r[1] == 0x80 && r[3] == 5 && r[5] == 18, "non-DMA read result: %02x %02x C%d R%d",
          r[0], r[1], r[3], r[5]);

    /* MT without TC: the host stops after side 0; the chip keeps offering
     * side 1 and ends with an overrun there (how Linux's PIO reads end). */
    CMD(0xC6, 0x00, 5, 0, 17, 2, 18, 0x1B, 0xFF);
    check(wait_irq(), "non-DMA MT read: data request");
    for (k = 0; k < 1024 && (inb(MSR) & 0xE0) == 0xE0; k++) buf[k] = inb(FIFO);
    check(k == 1024 && memcmp(buf, disk_a->data + chs(5, 0, 17, spt), 1024) == 0, "non-DMA MT read: side 0 data");
    check(inb(MSR) == 0xF0, "side 1 offered next (MSR %02x)", inb(MSR));
    advance(FDC_DEFAULT_OVERRUN_NS / 2);
    check(inb(MSR) == 0xF0 && irq_level, "still waiting half the overrun time later, INT requesting");
    rises = irq_rises;
    advance(FDC_DEFAULT_OVERRUN_NS);
    check(inb(MSR) == 0xD0 && irq_level, "overrun: result phase with INT (MSR %02x)", inb(MSR));
    check(irq_rises == rises + 1, "the result phase gives a new edge though INT was high");
    n = result(r);
    check(n == 7 && r[0] == 0x44 && r[1] == 0x10 && r[3] == 5 && r[4] == 1 && r[5] == 1,
          "overrun result: ST0 %02x ST1 %02x C%d H%d R%d", r[0], r[1], r[3], r[4], r[5]);

    /* Non-DMA write of one sector. */
    CMD(0x45, 0x00, 5, 0, 18, 2, 18, 0x1B, 0xFF);
    check(wait_irq(), "non-DMA write: data request");
    check(inb(MSR) == 0xB0, "non-DMA write: RQM NDMA CB (MSR %02x)", inb(MSR));
    for (k = 0; k < 512 && (inb(MSR) & 0xE0) == 0xA0; k++) outb(FIFO, (uint8_t)(0xA5 ^ k));
    check(k == 512, "non-DMA write: 512 bytes taken (%d)", k);
    wait_irq();
    n = result(r);
    check(n == 7 && r[0] == 0x40 && r[1] == 0x80, "non-DMA write result: %02x %02x", r[0], r[1]);
    int ok = 1;
    for (k = 0; k < 512; k++)
        if (disk_a->data[chs(5, 0, 18, spt) + k] != (uint8_t)(0xA5 ^ k)) ok = 0;
    check(ok, "non-DMA write reached the image");

    /* Non-DMA format: 4 ID bytes per sector through the FIFO. */
    CMD(0x4D, 0x00, 2, 18, 0x54, 0xE5);
    check(wait_irq(), "non-DMA format: data request");
    for (k = 0; k < 18 * 4 && (inb(MSR) & 0xE0) == 0xA0; k++) {
        static const uint8_t field[4] = { 5, 0, 0, 2 };
        outb(FIFO, (k & 3) == 2 ? (uint8_t)(k / 4 + 1) : field[k & 3]);
    }
    check(k == 72, "non-DMA format: 72 ID bytes taken (%d)", k);
    wait_irq();
    n = result(r);
    check(n == 7 && r[0] == 0x00, "non-DMA format result: ST0 %02x", r[0]);
    check(disk_a->data[chs(5, 0, 1, spt)] == 0xE5 && disk_a->data[chs(5, 0, 18, spt) + 511] == 0xE5,
          "non-DMA format filled the track");
    CMD(0x03, 0xAF, 0x02);             /* back to DMA */
}

static void test_implied_seek(void)
{
    uint8_t r[16] = { 0 };
    CMD(0x13, 0x00, 0x40 | 0x10, 0x00);   /* EIS, polling off */
    seek(0, 0, 1);
    dma_program(DMA_TO_MEM, 0x90000, 512);
    int n = data_cmd(0x46, 0, 0, 7, 0, 1, 18, r);
    check(n == 7 && r[0] == 0x20 && r[1] == 0, "implied seek read: ST0 %02x (SE) ST1 %02x", r[0], r[1]);
    check(mem_matches(0x90000, disk_a->data + chs(7, 0, 1, 18), 512), "implied seek: data of cylinder 7");
    CMD(0x0E);
    result(r);
    check(r[0] == 7, "implied seek: PCN %d", r[0]);
    CMD(0x13, 0x00, 0x10, 0x00);
}

static void test_media_change(void)
{
    uint8_t r[16] = { 0 };
    outb(DOR, 0x1C);                   /* drive A selected, motor on */
    seek(0, 0, 0);
    seek(0, 0, 1);
    check(!(inb(DIR) & 0x80), "a step cleared the change line");

    struct block_backend *old = fdc_change(&fdc, 0, &disk_720->b);
    check(old == &disk_a->b, "fdc_change returns the previous disk");
    check(inb(DIR) & 0x80, "media change: DIR bit 7");
    outb(DOR, 0x2D);                   /* drive B selected */
    check(!(inb(DIR) & 0x80), "DIR follows the selected drive");
    outb(DOR, 0x1C);
    seek(0, 0, 1);
    check(inb(DIR) & 0x80, "a seek without steps leaves the line active");
    seek(0, 0, 2);
    check(!(inb(DIR) & 0x80), "a seek with steps clears it");

    /* The 720K disk: 9 sectors, 250 kbps. */
    const int spt = 9;
    dma_program(DMA_TO_MEM, 0xA0000, 512);
    int n = data_cmd(0x46, 0, 0, 2, 0, 9, 9, r);
    check(n == 7 && r[0] == 0x40 && r[1] == 0x01, "720K at 500 kbps: MA (%02x %02x)", r[0], r[1]);
    outb(CCR, 0x02);
    seek(0, 1, 2);
    dma_program(DMA_TO_MEM, 0xA0000, 512);
    n = data_cmd(0x46, 0, 1, 2, 1, 9, 9, r);
    check(n == 7 && (r[0] & 0xC0) == 0 && r[3] == 3 && r[5] == 1, "720K C2 H1 R9 at 250 kbps: %02x C%d R%d", r[0], r[3], r[5]);
    check(mem_matches(0xA0000, disk_720->data + chs(2, 1, 9, spt), 512), "720K sector data");
    n = data_cmd(0x46, 0, 1, 2, 1, 10, 10, r);
    check(n == 7 && r[1] == 0x04, "720K: no sector 10 (%02x)", r[1]);
    outb(CCR, 0x00);

    /* Eject: not ready, change line stays active across steps. */
    fdc_change(&fdc, 0, NULL);
    seek(0, 0, 4);
    check(inb(DIR) & 0x80, "empty drive: change line stays active");
    n = data_cmd(0x46, 0, 0, 4, 0, 1, 18, r);
    check(n == 7 && r[0] == 0x48, "empty drive: not ready (ST0 %02x)", r[0]);
    CMD(0x04, 0x00);
    check(result(r) == 1 && (r[0] & 0x40), "empty drive: write protect sensed (%02x)", r[0]);
    fdc_change(&fdc, 0, &disk_a->b);
}

/* Garbage from the guest never reaches outside the image or crashes. */
static void test_bounds(void)
{
    uint8_t r[16] = { 0 };
    static const uint8_t wild[][9] = {
        { 0xE6, 0x07, 0xFF, 0x01, 0xFF, 0x07, 0xFF, 0xFF, 0xFF },
        { 0xE6, 0x04, 0x02, 0x01, 0x00, 0x02, 0x00, 0x1B, 0xFF },
        { 0xC5, 0x03, 0x02, 0x00, 0x01, 0x02, 0x12, 0x1B, 0xFF },
        { 0x42, 0x00, 0x02, 0x00, 0x01, 0x02, 0xFF, 0x1B, 0xFF },
        { 0xC5, 0x00, 0x02, 0x00, 0xFE, 0x02, 0xFF, 0x1B, 0xFF },
    };
    seek(0, 0, 2);
    for (unsigned k = 0; k < sizeof(wild) / sizeof(wild[0]); k++) {
        dma_program(DMA_TO_MEM, 0xB0000, 0xFFFF);
        check(send(wild[k], 9) == 0, "wild command %u accepted", k);
        wait_irq();
        int n = result(r);
        check(n == 7, "wild command %u: 7 result bytes (%d, ST0 %02x)", k, n, r[0]);
    }
    /* READ TRACK: the whole track in physical order. */
    dma_program(DMA_TO_MEM, 0xC0000, 18 * 512);
    int n = data_cmd(0x42, 0, 0, 2, 0, 1, 18, r);
    check(n == 7 && (r[0] & 0xC0) == 0 && r[3] == 3, "READ TRACK: ST0 %02x ST1 %02x C%d", r[0], r[1], r[3]);
    check(mem_matches(0xC0000, disk_a->data + chs(2, 0, 1, 18), 18 * 512), "READ TRACK data");
    /* A FIFO read or write in the wrong phase is harmless. */
    inb(FIFO);
    check(inb(MSR) == 0x80, "stray FIFO read: still idle");

    /* The machine's reset holds the controller in reset. */
    fdc_reset(&fdc);
    check(inb(MSR) == 0x00 && !irq_level, "fdc_reset: held in reset, IRQ low");
    outb(DOR, 0x0C);
    check(wait_irq(), "enabled again after fdc_reset");
    for (int k = 0; k < 4; k++) {
        uint8_t st0, pcn;
        sense_int(&st0, &pcn);
    }
    CMD(0x03, 0xAF, 0x02);
    check((inb(0x3F1) & 0x03) == 0, "SRB: motors off");
    outb(CCR, 0x00);                   /* a hardware reset selected 250 kbps */
}

/* The disk leaves in the middle of a non-DMA write: the command ends, nothing breaks. */
static void test_eject_mid_transfer(void)
{
    uint8_t r[16] = { 0 };
    CMD(0x03, 0xAF, 0x03);
    seek(0, 0, 6);
    CMD(0x45, 0x00, 6, 0, 1, 2, 2, 0x1B, 0xFF);
    check(wait_irq(), "eject test: data request");
    for (int k = 0; k < 1100 && (inb(MSR) & 0xE0) == 0xA0; k++) {
        if (k == 600) fdc_change(&fdc, 0, NULL);
        outb(FIFO, 0x11);
    }
    wait_irq();
    int n = result(r);
    check(n == 7 && r[0] == 0x48, "disk ejected during the write: not ready (ST0 %02x ST1 %02x ST2 %02x n %d)", r[0], r[1], r[2], n);
    check(disk_a->data[chs(6, 0, 1, 18)] == 0x11 && disk_a->data[chs(6, 0, 2, 18)] != 0x11,
          "the first sector was written, the second not");
    fdc_change(&fdc, 0, &disk_a->b);
    CMD(0x03, 0xAF, 0x02);
}

/* Random port traffic, time steps and media changes (run under the sanitizers:
 * a guest must not crash the emulator); the controller still works after. */
static void test_fuzz(void)
{
    static const uint8_t ops[] = { 0x02, 0x03, 0x04, 0x45, 0xE6, 0x07, 0x08, 0x49, 0x4A, 0x4C, 0x4D,
                                   0x0E, 0x0F, 0x8F, 0xCF, 0x10, 0x12, 0x13, 0x14, 0x94, 0x56, 0x18 };
    uint32_t seed = 12345;
    int writes_b = disk_b->writes;
    for (int k = 0; k < 300000; k++) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        uint32_t v = seed;
        switch (v % 16) {
        case 0: case 1: case 2: case 3: case 4:
            outb(FIFO, (uint8_t)(v >> 8));
            break;
        case 5:
            outb(FIFO, ops[(v >> 8) % sizeof(ops)]);
            break;
        case 6: case 7: case 8:
            inb((uint16_t)(0x3F0 + (v >> 8) % 8));
            break;
        case 9:
            if ((v >> 8) % 64 == 0) outb(DOR, (uint8_t)(v >> 16));
            else outb(DOR, (uint8_t)(0x0C | ((v >> 16) & 0xF3)));
            break;
        case 10:
            if ((v >> 8) % 256 == 0) outb(DSR, (uint8_t)(v >> 16));
            else outb(CCR, (uint8_t)(v >> 16));
            break;
        case 11:
            advance((int64_t)((v >> 8) % 50000));
            break;
        case 12:
            if ((v >> 8) % 512 == 0) {
                struct block_backend *b[3] = { NULL, &disk_a->b, &disk_720->b };
                fdc_change(&fdc, (int)((v >> 16) % 2), b[(v >> 20) % 3]);
            }
            break;
        case 13:
            dma_program((v >> 8) & 1 ? DMA_TO_MEM : DMA_FROM_MEM, (v >> 10) & 0x3FFFFF, (uint16_t)((v >> 12) | 1));
            break;
        default:
            inb(FIFO);
            break;
        }
    }
    check(1, "fuzz survived");
    /* Put the drives back and check the controller recovers from a reset. */
    fdc_change(&fdc, 0, &disk_a->b);
    fdc_change(&fdc, 1, &disk_b->b);
    check(disk_b->writes == writes_b, "fuzz: the read-only image was never written");
    outb(DOR, 0x08);
    outb(DOR, 0x0C);
    check(wait_irq(), "after the fuzz: reset interrupt");
    uint8_t st0, pcn, r[16] = { 0 };
    for (int k = 0; k < 4; k++) {
        sense_int(&st0, &pcn);
        check(st0 == (0xC0 | k), "after the fuzz: reset sense %d (%02x)", k, st0);
    }
    CMD(0x10);
    check(result(r) == 1 && r[0] == 0x90, "after the fuzz: VERSION");
    CMD(0x03, 0xAF, 0x02);
    outb(CCR, 0);
    /* Relative seeks past the stops left PCN and the head apart: recalibrate as a driver does. */
    for (int k = 0; k < 2; k++) {
        CMD(0x07, 0x00);
        wait_irq();
        sense_int(&st0, &pcn);
    }
    check(st0 == 0x20, "after the fuzz: recalibrated (ST0 %02x)", st0);
    seek(0, 0, 9);
    dma_program(DMA_TO_MEM, 0x100000, 512);
    int n = data_cmd(0x46, 0, 0, 9, 0, 3, 18, r);
    check(n == 7 && r[0] == 0x00 && mem_matches(0x100000, disk_a->data + chs(9, 0, 3, 18), 512),
          "after the fuzz: a DMA read works (ST0 %02x ST1 %02x)", r[0], r[1]);
}

int main(void)
{
    if (setup()) {
        printf("setup failed\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    test_reset();
    test_registers();
    test_seek();
    test_dma_read();
    test_dma_write();
    test_read_id_format_verify();
    test_pio();
    test_implied_seek();
    test_media_change();
    test_bounds();
    test_eject_mid_transfer();
    test_fuzz();
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
