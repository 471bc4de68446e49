/* Intel 82077AA floppy disk controller (see fdc82077.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/dma8237.h"
#include "devices/fdc82077.h"

/* Register offsets from 0x3F0 (82077AA datasheet: register set, PC-AT mode). */
enum { REG_SRA = 0, REG_SRB = 1, REG_DOR = 2, REG_TDR = 3, REG_MSR_DSR = 4, REG_FIFO = 5, REG_DIR_CCR = 7 };

#define DOR_SEL       0x03
#define DOR_NRESET    0x04
#define DOR_DMAGATE   0x08

#define DSR_SWRESET   0x80
#define DSR_PWRDOWN   0x40
#define DRATE_MASK    0x03
#define DRATE_500K    0
#define DRATE_300K    1
#define DRATE_250K    2
#define DRATE_1M      3

#define MSR_RQM   0x80
#define MSR_DIO   0x40
#define MSR_NDMA  0x20
#define MSR_CB    0x10

#define ST0_IC_ABNORMAL 0x40
#define ST0_IC_INVALID  0x80
#define ST0_IC_POLL     0xC0
#define ST0_IC_MASK     0xC0
#define ST0_SE    0x20
#define ST0_EC    0x10
#define ST0_NR    0x08
#define ST1_EN    0x80
#define ST1_DE    0x20
#define ST1_OR    0x10
#define ST1_ND    0x04
#define ST1_NW    0x02
#define ST1_MA    0x01
#define ST2_CM    0x40
#define ST2_DD    0x20
#define ST2_WC    0x10
#define ST3_WP    0x40
#define ST3_RDY   0x20   /* 82077AA: no READY input, reads 1 */
#define ST3_T0    0x10
#define ST3_TS    0x08   /* 82077AA: no two-side input, reads 1 */

#define CFG_EIS     0x40
#define CFG_EFIFO   0x20
#define CFG_POLL    0x10
#define CFG_FIFOTHR 0x0F

/* Command opcodes (bits 4-0) and option bits (bits 7-5). */
enum {
    CMD_READ_TRACK = 0x02, CMD_SPECIFY = 0x03, CMD_SENSE_DRIVE = 0x04, CMD_WRITE_DATA = 0x05,
    CMD_READ_DATA = 0x06, CMD_RECALIBRATE = 0x07, CMD_SENSE_INT = 0x08, CMD_WRITE_DELETED = 0x09,
    CMD_READ_ID = 0x0A, CMD_READ_DELETED = 0x0C, CMD_FORMAT = 0x0D, CMD_DUMPREG = 0x0E,
    CMD_SEEK = 0x0F, CMD_VERSION = 0x10, CMD_PERPENDICULAR = 0x12, CMD_CONFIGURE = 0x13,
    CMD_LOCK = 0x14, CMD_VERIFY = 0x16, CMD_PART_ID = 0x18,
};
#define OPT_MT   0x80
#define OPT_MFM  0x40
#define OPT_SK   0x20

#define VERSION_82077AA 0x90
#define RECAL_MAX_STEPS 79     /* 82077AA: EC if TRK0 is not seen after 79 step pulses */
#define MAX_CYLINDER    83     /* the head stop of a real drive */

/* Bytes in the command phase, and the option bits each command accepts
 * (datasheet: command set summary); 0 = not a command this controller runs. */
struct cmd_desc {
    uint8_t len, options;
};

static const struct cmd_desc cmd_table[32] = {
    [CMD_READ_TRACK] = { 9, OPT_MFM },
    [CMD_SPECIFY] = { 3, 0 },
    [CMD_SENSE_DRIVE] = { 2, 0 },
    [CMD_WRITE_DATA] = { 9, OPT_MT | OPT_MFM },
    [CMD_READ_DATA] = { 9, OPT_MT | OPT_MFM | OPT_SK },
    [CMD_RECALIBRATE] = { 2, 0 },
    [CMD_SENSE_INT] = { 1, 0 },
    [CMD_WRITE_DELETED] = { 9, OPT_MT | OPT_MFM },
    [CMD_READ_ID] = { 2, OPT_MFM },
    [CMD_READ_DELETED] = { 9, OPT_MT | OPT_MFM | OPT_SK },
    [CMD_FORMAT] = { 6, OPT_MFM },
    [CMD_DUMPREG] = { 1, 0 },
    [CMD_SEEK] = { 3, 0xC0 },         /* bit 7 relative seek, bit 6 its direction */
    [CMD_VERSION] = { 1, 0 },
    [CMD_PERPENDICULAR] = { 2, 0 },
    [CMD_CONFIGURE] = { 4, 0 },
    [CMD_LOCK] = { 1, 0x80 },          /* bit 7: LOCK, clear: UNLOCK */
    [CMD_VERIFY] = { 9, OPT_MT | OPT_MFM | OPT_SK },
    [CMD_PART_ID] = { 1, 0 },
};

/* Messages printed once. */
enum {
    LOG_PWRDOWN = 1u << 0,
    LOG_FIFO_READ = 1u << 1,
    LOG_FIFO_WRITE = 1u << 2,
    LOG_FORMAT = 1u << 3,
    LOG_SHORT_IMAGE = 1u << 4,
    LOG_IO_ERROR = 1u << 5,
    LOG_DELETED = 1u << 6,
};

static void log_once(struct fdc *f, uint32_t what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void log_once(struct fdc *f, uint32_t what, const char *fmt, ...)
{
    if (f->logged & what) return;
    f->logged |= what;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fdc82077: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (logged once)\n");
    va_end(ap);
}

/* ---------------------------------------------------------------------------
 * Media: the geometry by image size (the first format holding an odd size). */

struct fdc_format {
    uint32_t sectors;
    uint8_t cyls, heads, spt, rate, rate_alt;
    uint16_t rpm;
};

static const struct fdc_format formats[] = {
    { 320, 40, 1, 8, DRATE_250K, DRATE_300K, 300 },     /* 160 KB */
    { 360, 40, 1, 9, DRATE_250K, DRATE_300K, 300 },     /* 180 KB */
    { 640, 40, 2, 8, DRATE_250K, DRATE_300K, 300 },     /* 320 KB */
    { 720, 40, 2, 9, DRATE_250K, DRATE_300K, 300 },     /* 360 KB (300 kbps in a 1.2M drive) */
    { 1440, 80, 2, 9, DRATE_250K, DRATE_250K, 300 },    /* 720 KB */
    { 2400, 80, 2, 15, DRATE_500K, DRATE_500K, 360 },   /* 1.2 MB */
    { 2880, 80, 2, 18, DRATE_500K, DRATE_500K, 300 },   /* 1.44 MB */
    { 3360, 80, 2, 21, DRATE_500K, DRATE_500K, 300 },   /* 1.68 MB (DMF) */
    { 3444, 82, 2, 21, DRATE_500K, DRATE_500K, 300 },   /* 1.72 MB */
    { 5760, 80, 2, 36, DRATE_1M, DRATE_1M, 300 },       /* 2.88 MB */
};

static void set_media(struct fdc_drive *d, struct block_backend *b)
{
    d->blk = b;
    if (!b) return;
    size_t n = sizeof(formats) / sizeof(formats[0]);
    uint64_t sectors = (b->size + FDC_SECTOR_SIZE - 1) / FDC_SECTOR_SIZE;
    const struct fdc_format *fmt = NULL;
    for (size_t k = 0; k < n && !fmt; k++)
        if (formats[k].sectors == sectors) fmt = &formats[k];
    for (size_t k = 0; k < n && !fmt; k++)
        if (formats[k].sectors >= sectors) fmt = &formats[k];
    if (!fmt) fmt = &formats[n - 1];
    if (fmt->sectors != sectors || b->size % FDC_SECTOR_SIZE)
        fprintf(stderr, "fdc82077: drive %d: image %s of %llu bytes is no standard floppy size; "
                "using %u cylinders, %u heads, %u sectors\n", d->index, b->name ? b->name : "?",
                (unsigned long long)b->size, fmt->cyls, fmt->heads, fmt->spt);
    d->cyls = fmt->cyls;
    d->heads = fmt->heads;
    d->spt = fmt->spt;
    d->rate = fmt->rate;
    d->rate_alt = fmt->rate_alt;
    d->rev_ns = (uint32_t)(60000000000ull / fmt->rpm);
}

/* ---------------------------------------------------------------------------
 * The INT pin: in AT mode it reaches IRQ 6 only through the DOR DMA gate
 * (datasheet: Digital Output Register, DMAGATE). */

static void update_irq(struct fdc *f)
{
    int level = f->int_pending && (f->dor & DOR_DMAGATE) && !f->in_reset;
    if (level != f->irq_out) {
        f->irq_out = level;
        irq_set(&f->irq, level);
    }
}

/* A new interrupt condition; polling statuses not yet sensed after a reset are dropped. */
static void raise_int(struct fdc *f)
{
    f->reset_sense_left = 0;
    f->int_pending = 1;
    update_irq(f);
}

static void lower_int(struct fdc *f)
{
    f->int_pending = 0;
    update_irq(f);
}

static void schedule(struct fdc *f, enum fdc_event ev, int64_t delay)
{
    f->event = ev;
    vtimer_mod(&f->timer, vclock_ns(f->clock) + delay);
}

/* ---------------------------------------------------------------------------
 * Phases */

static void command_done(struct fdc *f)
{
    f->phase = FDC_PH_COMMAND;
    f->cmd_pos = 0;
}

static void set_result(struct fdc *f, const uint8_t *r, int n, int with_int)
{
    memcpy(f->res, r, (size_t)n);
    f->res_len = n;
    f->res_pos = 0;
    f->cmd_pos = 0;
    f->phase = FDC_PH_RESULT;
    f->res_clears_int = with_int;
    if (with_int) raise_int(f);
}

static void invalid_command(struct fdc *f)
{
    const uint8_t st0 = ST0_IC_INVALID;
    set_result(f, &st0, 1, 0);
}

/* ---------------------------------------------------------------------------
 * Head movement */

static int rate_ok(const struct fdc *f, const struct fdc_drive *d)
{
    uint8_t r = f->dsr & DRATE_MASK;
    return r == d->rate || r == d->rate_alt;
}

/* Steps the head by `delta` cylinders; returns the step pulses issued. A
 * step with a disk in the drive resets its change line (datasheet: Digital Input Register, DSKCHG). */
static int step_head(struct fdc_drive *d, int delta)
{
    int target = d->cyl + delta;
    if (target < 0) target = 0;
    if (target > MAX_CYLINDER) target = MAX_CYLINDER;
    d->cyl = (uint8_t)target;
    int pulses = delta < 0 ? -delta : delta;
    if (pulses && d->blk) d->media_changed = 0;
    return pulses;
}

/* SEEK to `ncn`: the controller steps by the difference from its PCN. */
static int seek_to(struct fdc_drive *d, uint8_t ncn)
{
    int pulses = step_head(d, (int)ncn - (int)d->pcn);
    d->pcn = ncn;
    return pulses;
}

static void seek_timer_fired(void *opaque)
{
    struct fdc_drive *d = opaque;
    d->status_pending = 1;
    raise_int(d->fdc);
}

static void start_seek(struct fdc *f, struct fdc_drive *d, uint8_t st0, int pulses)
{
    d->st0 = st0;
    d->seeking = 1;
    d->status_pending = 0;
    vtimer_mod(&d->seek_timer, vclock_ns(f->clock) + f->delay_ns + (int64_t)pulses * f->step_ns);
}

static void cmd_seek(struct fdc *f)
{
    struct fdc_drive *d = &f->drive[f->cmd[1] & 3];
    d->head = (f->cmd[1] >> 2) & 1;
    int pulses;
    if (f->cmd[0] & 0x80) {
        /* RELATIVE SEEK: bit 6 = step in (higher cylinders) (datasheet: RELATIVE SEEK). */
        int delta = (f->cmd[0] & 0x40) ? f->cmd[2] : -(int)f->cmd[2];
        int pcn = d->pcn + delta;
        pulses = step_head(d, delta);
        d->pcn = (uint8_t)(pcn < 0 ? 0 : pcn > 255 ? 255 : pcn);
    } else {
        pulses = seek_to(d, f->cmd[2]);
    }
    start_seek(f, d, (uint8_t)(ST0_SE | d->head << 2 | d->index), pulses);
    command_done(f);
}

static void cmd_recalibrate(struct fdc *f)
{
    struct fdc_drive *d = &f->drive[f->cmd[1] & 3];
    d->head = 0;
    uint8_t st0 = (uint8_t)(ST0_SE | d->index);
    int pulses;
    if (!d->installed) {
        pulses = RECAL_MAX_STEPS;           /* no TRK0 signal ever comes */
        st0 |= ST0_IC_ABNORMAL | ST0_EC;
    } else {
        int steps = d->cyl < RECAL_MAX_STEPS ? d->cyl : RECAL_MAX_STEPS;
        pulses = step_head(d, -steps);
        if (d->cyl != 0) st0 |= ST0_IC_ABNORMAL | ST0_EC;
    }
    d->pcn = 0;
    start_seek(f, d, st0, pulses);
    command_done(f);
}

/* ---------------------------------------------------------------------------
 * Simple commands */

static void cmd_sense_int(struct fdc *f)
{
    lower_int(f);
    if (f->reset_sense_left > 0) {
        /* After a reset, polling reports a ready change on each drive in turn (datasheet: Reset; SENSE INTERRUPT STATUS). */
        int k = FDC_DRIVES - f->reset_sense_left--;
        uint8_t r[2] = { (uint8_t)(ST0_IC_POLL | k), f->drive[k].pcn };
        set_result(f, r, 2, 0);
        return;
    }
    for (int k = 0; k < FDC_DRIVES; k++) {
        struct fdc_drive *d = &f->drive[k];
        if (!d->status_pending) continue;
        d->status_pending = 0;
        d->seeking = 0;
        uint8_t r[2] = { d->st0, d->pcn };
        set_result(f, r, 2, 0);
        /* Another drive's seek finished too: interrupt again for it. */
        for (int j = k + 1; j < FDC_DRIVES; j++) {
            if (f->drive[j].status_pending) {
                raise_int(f);
                break;
            }
        }
        return;
    }
    invalid_command(f);
}

static void cmd_sense_drive(struct fdc *f)
{
    struct fdc_drive *d = &f->drive[f->cmd[1] & 3];
    int hds = (f->cmd[1] >> 2) & 1;
    d->head = (uint8_t)hds;
    uint8_t st3 = (uint8_t)(ST3_RDY | ST3_TS | hds << 2 | d->index);
    if (d->installed) {
        if (!d->blk || d->blk->read_only) st3 |= ST3_WP;
        if (d->cyl == 0) st3 |= ST3_T0;
    }
    set_result(f, &st3, 1, 0);
}

static void cmd_dumpreg(struct fdc *f)
{
    uint8_t r[10] = {
        f->drive[0].pcn, f->drive[1].pcn, f->drive[2].pcn, f->drive[3].pcn,
        f->specify[0], f->specify[1], f->last_eot,
        (uint8_t)(f->lock << 7 | (f->perp & 0x3F)),
        f->config, f->pretrk,
    };
    set_result(f, r, 10, 0);
}

static void cmd_perpendicular(struct fdc *f)
{
    uint8_t v = f->cmd[1];
    /* OW (bit 7) gates the write of the per-drive bits D3-D0 (datasheet: PERPENDICULAR MODE). */
    if (v & 0x80) f->perp = (uint8_t)((f->perp & 0x03) | (v & 0x3C));
    f->perp = (uint8_t)((f->perp & 0x3C) | (v & 0x03));
    command_done(f);
}

/* ---------------------------------------------------------------------------
 * Data commands: READ/WRITE (DELETED) DATA, READ TRACK, VERIFY, FORMAT,
 * READ ID. */

static int op_writes(uint8_t op)
{
    return op == CMD_WRITE_DATA || op == CMD_WRITE_DELETED || op == CMD_FORMAT;
}

static int op_has_cylinder(uint8_t op)
{
    return op == CMD_READ_DATA || op == CMD_READ_DELETED || op == CMD_WRITE_DATA ||
           op == CMD_WRITE_DELETED || op == CMD_READ_TRACK || op == CMD_VERIFY;
}

static uint64_t sector_offset(const struct fdc_drive *d, int head, uint8_t r)
{
    return (((uint64_t)d->cyl * d->heads + (uint64_t)head) * d->spt + (r - 1u)) * FDC_SECTOR_SIZE;
}

/* The drive and track can be read at all: a disk, the right data rate and
 * encoding, a formatted track under the head. Sets the status otherwise. */
static int track_readable(struct fdc *f, struct fdc_drive *d)
{
    struct fdc_xfer *x = &f->x;
    if (!d->installed || !d->blk) {
        x->st0 |= ST0_IC_ABNORMAL | ST0_NR;
        return 0;
    }
    if (!x->mfm || !rate_ok(f, d) || d->cyl >= d->cyls || x->head >= d->heads) {
        x->st0 |= ST0_IC_ABNORMAL;    /* no ID address mark found */
        x->st1 |= ST1_MA;
        return 0;
    }
    return 1;
}

/* The disk can hold C/H/R of the current geometry: the media may have been
 * changed between finding a sector and storing its data. */
static int sector_on_media(const struct fdc_drive *d, int head, uint8_t r)
{
    return d->blk && d->cyl < d->cyls && head < d->heads && r >= 1 && r <= d->spt;
}

static int read_image(struct fdc *f, struct fdc_drive *d, uint64_t off)
{
    size_t have = 0;
    if (off < d->blk->size) have = d->blk->size - off < FDC_SECTOR_SIZE ? (size_t)(d->blk->size - off) : FDC_SECTOR_SIZE;
    memset(f->buf + have, 0, FDC_SECTOR_SIZE - have);   /* a short image reads as zeros */
    if (!have) return 0;
    int rc = blk_read(d->blk, off, f->buf, have);
    if (rc) log_once(f, LOG_IO_ERROR, "image I/O error %d at sector %u", (unsigned)-rc, (unsigned)(off / FDC_SECTOR_SIZE));
    return rc;
}

static int write_image(struct fdc *f, struct fdc_drive *d, uint64_t off, const uint8_t *data)
{
    size_t have = 0;
    if (off < d->blk->size) have = d->blk->size - off < FDC_SECTOR_SIZE ? (size_t)(d->blk->size - off) : FDC_SECTOR_SIZE;
    if (have < FDC_SECTOR_SIZE)
        log_once(f, LOG_SHORT_IMAGE, "write past the end of a short image (sector %u of %u) dropped",
                 (unsigned)(off / FDC_SECTOR_SIZE), (unsigned)(d->blk->size / FDC_SECTOR_SIZE));
    if (!have) return 0;
    int rc = blk_write(d->blk, off, data, have);
    if (rc && rc != -EROFS)
        log_once(f, LOG_IO_ERROR, "image I/O error %d at sector %u", (unsigned)-rc, (unsigned)(off / FDC_SECTOR_SIZE));
    return rc;
}

/* Finds the sector x->r on the track under the head and, for reads, fetches
 * it. Returns 0, or -1 with the error status set (the command ends). Sets
 * *skip when the sector moves no data (READ DELETED with SK on a normal
 * data mark; datasheet: the SK/CM table of READ DATA). */
static int sector_begin(struct fdc *f, int *skip)
{
    struct fdc_xfer *x = &f->x;
    struct fdc_drive *d = &f->drive[x->drive];
    *skip = 0;
    if (!track_readable(f, d)) return -1;
    uint8_t r = x->r;
    if (x->op == CMD_READ_TRACK) {
        /* READ TRACK reads the sectors in physical order from the index; an
         * ID that does not match sets ND but the transfer goes on. */
        if (x->sectors >= d->spt) {
            x->st0 |= ST0_IC_ABNORMAL;
            x->st1 |= ST1_EN;
            return -1;
        }
        r = (uint8_t)(x->sectors + 1);
        if (x->c != d->cyl || x->h != x->head || x->r != r || x->n != 2) x->st1 |= ST1_ND;
    } else {
        if (x->c != d->cyl) {
            x->st0 |= ST0_IC_ABNORMAL;
            x->st1 |= ST1_ND;
            x->st2 |= ST2_WC;
            return -1;
        }
        if (x->h != x->head || x->r < 1 || x->r > d->spt || x->n != 2) {
            x->st0 |= ST0_IC_ABNORMAL;
            x->st1 |= ST1_ND;
            return -1;
        }
    }
    if (x->op == CMD_READ_DELETED && x->sk) {
        x->st2 |= ST2_CM;
        *skip = 1;
        return 0;
    }
    if (!x->to_host) return 0;
    if (read_image(f, d, sector_offset(d, x->head, r))) {
        x->st0 |= ST0_IC_ABNORMAL;
        x->st1 |= ST1_DE;
        x->st2 |= ST2_DD;
        return -1;
    }
    return 0;
}

/* The ID the result phase reports after the last sector (datasheet: ID information after a data command). */
static void advance_id(struct fdc_xfer *x)
{
    if (x->r != x->eot) {
        x->r++;
        return;
    }
    x->r = 1;
    if (!x->mt) {
        x->c++;
    } else {
        if (x->head == 1) x->c++;
        x->h ^= 1;
    }
}

/* The current sector's data moved (or was skipped): store it for writes,
 * then go on or stop. `tc`: the DMA controller signalled terminal count.
 * Returns 1 to continue with the next sector, 0 when the command ends. */
static int sector_end(struct fdc *f, int tc, int skipped)
{
    struct fdc_xfer *x = &f->x;
    struct fdc_drive *d = &f->drive[x->drive];
    x->sectors++;
    if (x->op == CMD_WRITE_DATA || x->op == CMD_WRITE_DELETED) {
        if (!sector_on_media(d, x->head, x->r)) {
            x->st0 |= ST0_IC_ABNORMAL | ST0_NR;
            return 0;
        }
        int rc = write_image(f, d, sector_offset(d, x->head, x->r), f->buf);
        if (rc) {
            x->st0 |= ST0_IC_ABNORMAL;
            x->st1 |= rc == -EROFS ? ST1_NW : ST1_DE;
            return 0;
        }
    }
    if (x->op == CMD_READ_DELETED && !skipped) {
        /* A normal data mark with SK = 0: CM, and the command stops there
         * with the address not incremented (datasheet: the SK/CM table of READ DATA). */
        x->st2 |= ST2_CM;
        return 0;
    }
    if (tc) {
        advance_id(x);
        return 0;
    }
    if (x->verify_sc >= 0 && x->sectors >= x->verify_sc) {
        advance_id(x);
        return 0;
    }
    if (x->r == x->eot) {
        if (x->mt && x->head == 0) {
            /* Multi-track: on to side 1 of the same cylinder. */
            x->head = 1;
            x->h ^= 1;
            x->r = 1;
            return 1;
        }
        if (x->op == CMD_VERIFY && x->verify_sc < 0) {
            advance_id(x);    /* VERIFY with EC = 0 ends well at EOT (datasheet: VERIFY termination table) */
            return 0;
        }
        /* Without TC the end of the track is an error, reported with the ID
         * of the last sector (drivers add one sector for EN: Linux's rw_interrupt). */
        x->st0 |= ST0_IC_ABNORMAL;
        x->st1 |= ST1_EN;
        return 0;
    }
    x->r++;
    return 1;
}

/* Walks to the next sector that moves data through the FIFO or DMA (VERIFY
 * and skipped sectors move none). Returns 1 with it ready, 0 if the command
 * ended. */
static int next_data_sector(struct fdc *f)
{
    for (int guard = 0; guard < 1024; guard++) {
        int skip;
        if (sector_begin(f, &skip)) return 0;
        if (!skip && f->x.op != CMD_VERIFY) return 1;
        if (!sector_end(f, 0, skip)) return 0;
    }
    return 0;
}

static void enter_result(struct fdc *f)
{
    struct fdc_xfer *x = &f->x;
    uint8_t st0 = (uint8_t)(x->st0 | x->head << 2 | x->drive);
    if (x->implied_seek) st0 |= ST0_SE;
    if (x->op == CMD_READ_TRACK && (x->st1 || x->st2)) st0 |= ST0_IC_ABNORMAL;
    uint8_t r[7] = { st0, x->st1, x->st2, x->c, x->h, x->r, x->n };
    f->last_eot = x->eot;
    x->pio_ready = 0;
    /* A data request may still hold INT (non-DMA): the execution phase ends,
     * RQM drops, and the result phase interrupts afresh, an edge the PIC sees. */
    lower_int(f);
    set_result(f, r, 7, 1);
}

/* Non-DMA: the transfer ended; the result phase follows shortly. */
static void end_pio(struct fdc *f)
{
    f->x.pio_ready = 0;
    schedule(f, FDC_EV_RESULT, f->byte_ns);
}

/* Non-DMA: the FIFO has data (reads) or room (writes): RQM and INT. */
static void pio_request(struct fdc *f, int len)
{
    f->x.pos = 0;
    f->x.len = len;
    f->x.pio_ready = 1;
    raise_int(f);
    schedule(f, FDC_EV_PIO_OVERRUN, f->overrun_ns);
}

/* FORMAT TRACK: one ID (C, H, R, N) arrived: fill that sector. An ID the
 * raw image cannot hold (another size, cylinder or side) is not written. */
static void format_sector(struct fdc *f, const uint8_t *id)
{
    struct fdc_xfer *x = &f->x;
    struct fdc_drive *d = &f->drive[x->drive];
    x->c = id[0];
    x->h = id[1];
    x->r = id[2];
    x->n = id[3];
    x->fmt_done++;
    if (!d->blk) {
        x->st0 |= ST0_IC_ABNORMAL | ST0_NR;   /* the disk went away during the command */
        return;
    }
    int fits = x->mfm && rate_ok(f, d) && sector_on_media(d, x->head, id[2]) && x->fmt_sc <= d->spt &&
               id[0] == d->cyl && id[1] == x->head && id[3] == 2 && x->fmt_n == 2;
    if (!fits) {
        log_once(f, LOG_FORMAT, "FORMAT TRACK with a layout a raw image cannot hold (ID %08x, %u sectors): not written",
                 (unsigned)id[0] << 24 | (unsigned)id[1] << 16 | (unsigned)id[2] << 8 | id[3], x->fmt_sc);
        return;
    }
    uint8_t fill[FDC_SECTOR_SIZE];
    memset(fill, x->fmt_fill, sizeof(fill));
    int rc = write_image(f, d, sector_offset(d, x->head, id[2]), fill);
    if (rc) {
        x->st0 |= ST0_IC_ABNORMAL;
        x->st1 |= rc == -EROFS ? ST1_NW : ST1_DE;
    }
}

static void run_dma_format(struct fdc *f)
{
    struct fdc_xfer *x = &f->x;
    while (x->fmt_done < x->fmt_sc && !(x->st0 & ST0_IC_MASK)) {
        uint8_t id[4];
        int moved = (f->dor & DOR_DMAGATE) ? dma_transfer(f->dma, FDC_DMA_CHANNEL, id, 4, 0) : 0;
        if (moved < 4) {
            x->st0 |= ST0_IC_ABNORMAL;    /* the DMA did not keep up: underrun */
            x->st1 |= ST1_OR;
            break;
        }
        format_sector(f, id);
    }
    enter_result(f);
}

static void run_dma_transfer(struct fdc *f)
{
    struct fdc_xfer *x = &f->x;
    while (next_data_sector(f)) {
        int moved = 0, tc = 0;
        /* DRQ reaches the bus only through the DOR DMA gate (datasheet: Digital Output Register). */
        if (f->dor & DOR_DMAGATE) {
            moved = dma_transfer(f->dma, FDC_DMA_CHANNEL, f->buf, FDC_SECTOR_SIZE, x->to_host);
            tc = dma_terminal_count(f->dma, FDC_DMA_CHANNEL);
        }
        if (moved < FDC_SECTOR_SIZE && !tc) {
            x->st0 |= ST0_IC_ABNORMAL;    /* nobody took (gave) the data in time */
            x->st1 |= ST1_OR;
            break;
        }
        /* TC inside a sector: a write pads the rest of the sector with zeros. */
        if (!x->to_host && moved < FDC_SECTOR_SIZE) memset(f->buf + moved, 0, (size_t)(FDC_SECTOR_SIZE - moved));
        if (!sector_end(f, tc, 0)) break;
    }
    enter_result(f);
}

static void read_id(struct fdc *f)
{
    struct fdc_xfer *x = &f->x;
    struct fdc_drive *d = &f->drive[x->drive];
    if (track_readable(f, d)) {
        /* The next ID under the head, from the disk's rotation on the virtual clock. */
        uint64_t t = (uint64_t)vclock_ns(f->clock) % d->rev_ns;
        x->c = d->cyl;
        x->h = (uint8_t)x->head;
        x->r = (uint8_t)(t * d->spt / d->rev_ns + 1);
        x->n = 2;
    }
    enter_result(f);
}

static void execute(struct fdc *f)
{
    struct fdc_xfer *x = &f->x;
    struct fdc_drive *d = &f->drive[x->drive];
    if (x->op == CMD_READ_ID) {
        read_id(f);
        return;
    }
    if (!d->installed || !d->blk) {
        x->st0 |= ST0_IC_ABNORMAL | ST0_NR;
        enter_result(f);
        return;
    }
    if (op_writes(x->op) && d->blk->read_only) {
        x->st0 |= ST0_IC_ABNORMAL;
        x->st1 |= ST1_NW;
        enter_result(f);
        return;
    }
    if (x->op == CMD_WRITE_DELETED)
        log_once(f, LOG_DELETED, "WRITE DELETED DATA: a raw image keeps no deleted-data mark; written as data");
    if (x->op == CMD_FORMAT) {
        if (x->dma) run_dma_format(f);
        else pio_request(f, 4);
        return;
    }
    if (x->dma || x->op == CMD_VERIFY) {
        run_dma_transfer(f);
        return;
    }
    if (next_data_sector(f)) pio_request(f, FDC_SECTOR_SIZE);
    else enter_result(f);
}

/* Non-DMA: a byte through the FIFO (datasheet: non-DMA mode, INT and RQM per transfer). */
static void pio_advance(struct fdc *f)
{
    struct fdc_xfer *x = &f->x;
    lower_int(f);
    if (x->pos < x->len) {
        schedule(f, FDC_EV_PIO_INT, f->byte_ns);
        return;
    }
    x->pio_ready = 0;
    if (x->op == CMD_FORMAT) {
        format_sector(f, f->buf);
        if (x->fmt_done < x->fmt_sc && !(x->st0 & ST0_IC_MASK)) {
            x->pos = 0;
            x->pio_ready = 1;
            schedule(f, FDC_EV_PIO_INT, f->byte_ns);
        } else {
            end_pio(f);
        }
        return;
    }
    if (sector_end(f, 0, 0) && next_data_sector(f)) {
        x->pos = 0;
        x->len = FDC_SECTOR_SIZE;
        x->pio_ready = 1;
        schedule(f, FDC_EV_PIO_INT, f->byte_ns);
        return;
    }
    end_pio(f);
}

static uint8_t pio_read(struct fdc *f)
{
    uint8_t v = f->buf[f->x.pos++];
    pio_advance(f);
    return v;
}

static void pio_write(struct fdc *f, uint8_t v)
{
    f->buf[f->x.pos++] = v;
    pio_advance(f);
}

/* The last command byte of a data command arrived. */
static void start_data_command(struct fdc *f)
{
    struct fdc_xfer *x = &f->x;
    const uint8_t *c = f->cmd;
    memset(x, 0, sizeof(*x));
    x->op = c[0] & 0x1F;
    x->mt = !!(c[0] & OPT_MT);
    x->mfm = !!(c[0] & OPT_MFM);
    x->sk = !!(c[0] & OPT_SK);
    x->drive = c[1] & 3;
    x->head = (c[1] >> 2) & 1;
    x->dma = !(f->specify[1] & 1);
    x->verify_sc = -1;
    struct fdc_drive *d = &f->drive[x->drive];
    d->head = (uint8_t)x->head;
    if (x->op == CMD_FORMAT) {
        x->fmt_n = x->n = c[2];
        x->fmt_sc = c[3];
        x->gpl = c[4];
        x->fmt_fill = c[5];
        x->eot = c[3];
    } else if (x->op != CMD_READ_ID) {
        x->c = c[2];
        x->h = c[3];
        x->r = c[4];
        x->n = c[5];
        x->eot = c[6];
        x->gpl = c[7];
        x->dtl = c[8];
        if (x->op == CMD_VERIFY && (c[1] & 0x80)) x->verify_sc = c[8];   /* EC: byte 8 is SC */
    }
    x->to_host = x->op == CMD_READ_DATA || x->op == CMD_READ_DELETED || x->op == CMD_READ_TRACK;
    int64_t delay = f->delay_ns;
    /* Implied seek (CONFIGURE EIS): a seek to C before the command (datasheet: CONFIGURE, EIS). */
    if ((f->config & CFG_EIS) && op_has_cylinder(x->op) && d->pcn != x->c) {
        delay += (int64_t)seek_to(d, x->c) * f->step_ns;
        x->implied_seek = 1;
    }
    f->phase = FDC_PH_EXEC;
    f->cmd_pos = 0;
    schedule(f, FDC_EV_EXECUTE, delay);
}

/* ---------------------------------------------------------------------------
 * Command dispatch */

static void run_command(struct fdc *f)
{
    const uint8_t *c = f->cmd;
    switch (c[0] & 0x1F) {
    case CMD_SPECIFY:
        f->specify[0] = c[1];
        f->specify[1] = c[2];
        command_done(f);
        break;
    case CMD_SENSE_DRIVE:
        cmd_sense_drive(f);
        break;
    case CMD_RECALIBRATE:
        cmd_recalibrate(f);
        break;
    case CMD_SENSE_INT:
        cmd_sense_int(f);
        break;
    case CMD_SEEK:
        cmd_seek(f);
        break;
    case CMD_DUMPREG:
        cmd_dumpreg(f);
        break;
    case CMD_VERSION: {
        const uint8_t v = VERSION_82077AA;
        set_result(f, &v, 1, 0);
        break;
    }
    case CMD_PERPENDICULAR:
        cmd_perpendicular(f);
        break;
    case CMD_CONFIGURE:
        f->config = c[2] & 0x7F;
        f->pretrk = c[3];
        command_done(f);
        break;
    case CMD_LOCK: {
        f->lock = !!(c[0] & 0x80);
        const uint8_t r = (uint8_t)(f->lock << 4);
        set_result(f, &r, 1, 0);
        break;
    }
    case CMD_PART_ID:
        /* An 82078 command; the 82077AA answers invalid, which is how
         * drivers (Linux) tell a post-1991 82077AA. */
        invalid_command(f);
        break;
    default:
        start_data_command(f);
        break;
    }
}

static void command_byte(struct fdc *f, uint8_t v)
{
    if (f->cmd_pos == 0) {
        uint8_t op = v & 0x1F;
        const struct cmd_desc *d = &cmd_table[op];
        int bad_options = (v & 0xE0 & ~d->options) != 0 || (op == CMD_SEEK && (v & 0xC0) == 0x40);
        if (!d->len || bad_options) {
            if (!(f->logged_cmd[v >> 3] & (1u << (v & 7)))) {
                f->logged_cmd[v >> 3] |= (uint8_t)(1u << (v & 7));
                fprintf(stderr, "fdc82077: unsupported command %02xh: invalid (logged once)\n", v);
            }
            invalid_command(f);
            return;
        }
        f->cmd_len = d->len;
    }
    f->cmd[f->cmd_pos++] = v;
    if (f->cmd_pos >= f->cmd_len) run_command(f);
}

/* ---------------------------------------------------------------------------
 * Timers */

static void timer_fired(void *opaque)
{
    struct fdc *f = opaque;
    enum fdc_event ev = f->event;
    f->event = FDC_EV_NONE;
    switch (ev) {
    case FDC_EV_RESET_POLL:
        f->reset_sense_left = FDC_DRIVES;
        f->int_pending = 1;
        update_irq(f);
        break;
    case FDC_EV_EXECUTE:
        if (f->phase == FDC_PH_EXEC) execute(f);
        break;
    case FDC_EV_RESULT:
        if (f->phase == FDC_PH_EXEC) enter_result(f);
        break;
    case FDC_EV_PIO_INT:
        if (f->phase == FDC_PH_EXEC && f->x.pio_ready) {
            if (!f->int_pending) raise_int(f);
            schedule(f, FDC_EV_PIO_OVERRUN, f->overrun_ns);
        }
        break;
    case FDC_EV_PIO_OVERRUN:
        /* Nobody read (wrote) the FIFO in time: the chip ends with OR (datasheet: non-DMA mode, overrun). */
        if (f->phase == FDC_PH_EXEC && f->x.pio_ready) {
            f->x.st0 |= ST0_IC_ABNORMAL;
            f->x.st1 |= ST1_OR;
            enter_result(f);
        }
        break;
    case FDC_EV_NONE:
        break;
    }
}

/* ---------------------------------------------------------------------------
 * Resets (datasheet: Reset; SENSE INTERRUPT STATUS) */

/* The core goes into reset: commands and seeks stop, statuses are lost. */
static void core_reset(struct fdc *f)
{
    vtimer_del(&f->timer);
    f->event = FDC_EV_NONE;
    for (int k = 0; k < FDC_DRIVES; k++) {
        struct fdc_drive *d = &f->drive[k];
        vtimer_del(&d->seek_timer);
        d->seeking = 0;
        d->status_pending = 0;
    }
    memset(&f->x, 0, sizeof(f->x));
    f->phase = FDC_PH_COMMAND;
    f->cmd_pos = 0;
    f->res_len = f->res_pos = 0;
    f->reset_sense_left = 0;
    f->int_pending = 0;
    /* EIS and POLL go back to their defaults; LOCK keeps EFIFO, FIFOTHR and PRETRK. */
    if (f->lock) f->config = (uint8_t)(f->config & (CFG_EFIFO | CFG_FIFOTHR));
    else {
        f->config = CFG_EFIFO;
        f->pretrk = 0;
    }
    f->perp &= 0x3C;     /* GAP and WGATE clear; D3-D0 survive a software reset */
    update_irq(f);
}

/* Out of reset: polling (on after every reset) reports the drives' ready change. */
static void core_start(struct fdc *f)
{
    if (!(f->config & CFG_POLL)) schedule(f, FDC_EV_RESET_POLL, f->delay_ns);
}

void fdc_reset(struct fdc *f)
{
    f->dor = 0;
    f->tdr = 0;
    f->dsr = DRATE_250K;
    f->in_reset = 1;
    f->lock = 0;
    f->perp = 0;
    core_reset(f);
}

/* ---------------------------------------------------------------------------
 * Registers */

static uint8_t read_msr(struct fdc *f)
{
    if (f->in_reset) return 0;
    uint8_t msr = 0;
    for (int k = 0; k < FDC_DRIVES; k++)
        if (f->drive[k].seeking) msr |= (uint8_t)(1u << k);
    switch (f->phase) {
    case FDC_PH_COMMAND:
        msr |= MSR_RQM;
        if (f->cmd_pos) msr |= MSR_CB;
        break;
    case FDC_PH_EXEC:
        msr |= MSR_CB;
        if (!f->x.dma && f->x.op != CMD_READ_ID && f->x.op != CMD_VERIFY) {
            msr |= MSR_NDMA;
            if (f->x.pio_ready) msr |= (uint8_t)(MSR_RQM | (f->x.to_host ? MSR_DIO : 0));
        }
        break;
    case FDC_PH_RESULT:
        msr |= MSR_RQM | MSR_DIO | MSR_CB;
        break;
    }
    return msr;
}

static uint8_t read_fifo(struct fdc *f)
{
    if (!f->in_reset) {
        if (f->phase == FDC_PH_RESULT) {
            uint8_t v = f->res[f->res_pos++];
            if (f->res_pos == 1 && f->res_clears_int) lower_int(f);
            if (f->res_pos >= f->res_len) command_done(f);
            return v;
        }
        if (f->phase == FDC_PH_EXEC && f->x.pio_ready && f->x.to_host) return pio_read(f);
    }
    log_once(f, LOG_FIFO_READ, "FIFO read with no data to give (phase %u, reset %u)", f->phase, (unsigned)f->in_reset);
    return 0;
}

static void write_fifo(struct fdc *f, uint8_t v)
{
    if (!f->in_reset) {
        if (f->phase == FDC_PH_COMMAND) {
            command_byte(f, v);
            return;
        }
        if (f->phase == FDC_PH_EXEC && f->x.pio_ready && !f->x.to_host) {
            pio_write(f, v);
            return;
        }
    }
    log_once(f, LOG_FIFO_WRITE, "FIFO write %02xh ignored (phase %u)", v, f->phase);
}

static void write_dor(struct fdc *f, uint8_t v)
{
    f->dor = v;
    if (!(v & DOR_NRESET)) {
        if (!f->in_reset) {
            f->in_reset = 1;
            core_reset(f);
        }
    } else if (f->in_reset) {
        f->in_reset = 0;
        core_start(f);
    }
    update_irq(f);
}

static void write_dsr(struct fdc *f, uint8_t v)
{
    f->dsr = v & 0x1F;
    if (v & DSR_PWRDOWN) log_once(f, LOG_PWRDOWN, "DSR power down (%02xh) not emulated: the chip stays awake", v);
    /* The DSR software reset clears itself; the DOR reset, if held, wins (datasheet: DOR reset vs DSR reset). */
    if ((v & DSR_SWRESET) && !f->in_reset) {
        core_reset(f);
        core_start(f);
    }
}

/* Status register A, PS/2 layout (the 82077AA's SRA). */
static uint8_t read_sra(struct fdc *f)
{
    struct fdc_drive *d = &f->drive[f->dor & DOR_SEL];
    uint8_t v = 0x04;                          /* nINDEX inactive */
    if (f->int_pending) v |= 0x80;
    if (!f->drive[1].installed) v |= 0x40;     /* nDRV2 */
    if (!(d->installed && d->cyl == 0)) v |= 0x10;
    if (d->head) v |= 0x08;
    if (!(d->installed && (!d->blk || d->blk->read_only))) v |= 0x02;
    return v;
}

static uint8_t read_srb(struct fdc *f)
{
    return (uint8_t)(0xC0 | (f->dor & 1) << 5 | (f->dor >> 4 & 3));
}

static uint32_t fdc_port_read(void *opaque, uint16_t port, int size)
{
    struct fdc *f = opaque;
    switch (port & 7) {
    case REG_SRA:
        return read_sra(f);
    case REG_SRB:
        return read_srb(f);
    case REG_DOR:
        return f->dor;
    case REG_TDR:
        return f->tdr & 3;
    case REG_MSR_DSR:
        return read_msr(f);
    case REG_FIFO:
        return read_fifo(f);
    case REG_DIR_CCR: {
        /* DIR: bit 7 is the selected drive's DSKCHG; bits 6-0 are not
         * driven in AT mode (datasheet: Digital Input Register, DSKCHG). */
        struct fdc_drive *d = &f->drive[f->dor & DOR_SEL];
        return d->installed && d->media_changed ? 0x80 : 0x00;
    }
    }
    return 0xFF;
}

static void fdc_port_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct fdc *f = opaque;
    uint8_t v = (uint8_t)val;
    switch (port & 7) {
    case REG_DOR:
        write_dor(f, v);
        break;
    case REG_TDR:
        f->tdr = v & 3;
        break;
    case REG_MSR_DSR:
        write_dsr(f, v);
        break;
    case REG_FIFO:
        write_fifo(f, v);
        break;
    case REG_DIR_CCR:
        f->dsr = (uint8_t)((f->dsr & ~DRATE_MASK) | (v & DRATE_MASK));
        break;
    default:
        break;     /* SRA and SRB are read-only */
    }
}

/* ---------------------------------------------------------------------------
 * Setup */

int fdc_attach(struct fdc *f, int drive, struct block_backend *b)
{
    if (drive < 0 || drive > 1) return -1;
    set_media(&f->drive[drive], b);
    f->drive[drive].media_changed = 1;    /* the line is active from power-on until a step */
    return 0;
}

struct block_backend *fdc_change(struct fdc *f, int drive, struct block_backend *b)
{
    if (drive < 0 || drive > 1) return NULL;
    struct fdc_drive *d = &f->drive[drive];
    struct block_backend *old = d->blk;
    set_media(d, b);
    d->media_changed = 1;
    return old;
}

int fdc_init(struct fdc *f, struct ioports *io, struct vclock *clock, struct dma *dma, struct irq_line irq6)
{
    static const struct io_handlers h = { fdc_port_read, fdc_port_write, 1 };
    memset(f, 0, sizeof(*f));
    f->io = io;
    f->clock = clock;
    f->dma = dma;
    f->irq = irq6;
    f->delay_ns = FDC_DEFAULT_DELAY_NS;
    f->step_ns = FDC_DEFAULT_STEP_NS;
    f->byte_ns = FDC_DEFAULT_BYTE_NS;
    f->overrun_ns = FDC_DEFAULT_OVERRUN_NS;
    vtimer_init(&f->timer, clock, timer_fired, f);
    for (int k = 0; k < FDC_DRIVES; k++) {
        struct fdc_drive *d = &f->drive[k];
        d->fdc = f;
        d->index = k;
        d->installed = k < 2;
        d->media_changed = 1;
        vtimer_init(&d->seek_timer, clock, seek_timer_fired, d);
    }
    fdc_reset(f);
    if (ioports_register(io, FDC_BASE, 6, &h, f) < 0) return -1;
    if (ioports_register(io, FDC_BASE + 7, 1, &h, f) < 0) return -1;
    return 0;
}
