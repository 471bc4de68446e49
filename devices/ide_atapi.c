/* ATAPI CD-ROM: the PACKET protocol and the MMC commands a BIOS, DOS CD
 * drivers, Windows 9x and Linux use (see ide.h). One data track of 2048-byte
 * sectors; no audio. References: SFF-8020i (ATAPI), MMC-3 (T10/1363-D). */
#include <stdio.h>
#include <string.h>

#include "devices/ide.h"

/* Sense keys and additional sense codes (SPC/MMC). */
#define SK_NOT_READY       0x02
#define SK_MEDIUM_ERROR    0x03
#define SK_ILLEGAL_REQUEST 0x05
#define SK_UNIT_ATTENTION  0x06
#define ASC_INVALID_OPCODE       0x20
#define ASC_LBA_OUT_OF_RANGE     0x21
#define ASC_INVALID_FIELD        0x24
#define ASC_MEDIUM_CHANGED       0x28
#define ASC_SAVING_UNSUPPORTED   0x39
#define ASC_NO_MEDIUM            0x3A
#define ASC_UNRECOVERED_READ     0x11
#define ASC_REMOVAL_PREVENTED    0x53

/* Interrupt reason in the sector count register (SFF-8020i 5.14). */
#define IR_COD 0x01
#define IR_IO  0x02

/* GET EVENT STATUS NOTIFICATION media event codes (MMC-3 6.1.5.3). */
#define ME_NO_CHANGE   0
#define ME_NEW_MEDIA   2
#define ME_REMOVAL     3

#define CD_SECTOR 2048

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) { return get16(p) << 16 | get16(p + 2); }

static int has_medium(const struct ide_drive *d) { return d->blk && !d->tray_open; }

/* ---------------------------------------------------------------------------
 * IDENTIFY PACKET DEVICE (ATA-6 8.16) */

void atapi_identify(struct ide_drive *d, uint16_t *id)
{
    memset(id, 0, 512);
    /* ATAPI, CD-ROM (05h), removable, DRQ within 50 us, 12-byte packets. */
    id[0] = 0x85C0;
    atapi_fill_words(id, 10, 10, d->serial);
    atapi_fill_words(id, 23, 4, d->firmware);
    atapi_fill_words(id, 27, 20, d->model);
    id[49] = 0x0300;                    /* LBA, DMA */
    id[50] = 0x4000;
    id[53] = 0x0006;                    /* words 64-70 and 88 valid */
    id[63] = 0x0007;
    if ((d->xfer_mode & 0xF8) == 0x20) id[63] |= (uint16_t)(0x100 << (d->xfer_mode & 7));
    id[64] = 0x0003;
    id[65] = id[66] = id[67] = id[68] = 120;
    id[80] = 0x007E;
    id[82] = 0x4210;                    /* NOP, DEVICE RESET, PACKET */
    id[83] = 0x4000;
    id[84] = 0x4000;
    id[85] = 0x4210;
    id[87] = 0x4000;
    id[88] = 0x003F;
    if ((d->xfer_mode & 0xF8) == 0x40) id[88] |= (uint16_t)(0x100 << (d->xfer_mode & 7));
}

/* ---------------------------------------------------------------------------
 * Command endings */

static void set_sense(struct ide_drive *d, uint8_t key, uint8_t asc, uint8_t ascq)
{
    d->sense_key = key;
    d->asc = asc;
    d->ascq = ascq;
}

static void finish_ok(struct ide_drive *d)
{
    d->status = IDE_ST_DRDY;
    d->error = 0;
    d->nsector = IR_IO | IR_COD;
    ide_raise_irq(d);
}

/* CHECK CONDITION: the error register carries the sense key (SFF-8020i 5.7). */
static void fail(struct ide_drive *d, uint8_t key, uint8_t asc, uint8_t ascq)
{
    set_sense(d, key, asc, ascq);
    d->status = IDE_ST_DRDY | IDE_ST_ERR;
    d->error = (uint8_t)(key << 4);
    d->nsector = IR_IO | IR_COD;
    ide_raise_irq(d);
}

static void invalid_field(struct ide_drive *d)
{
    fail(d, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
}

static void start_data(struct ide_drive *d)
{
    d->xfer_to_host = 1;
    if (d->dma) {
        d->nsector = IR_IO;
        ide_dma_begin(d);
        return;
    }
    d->status = IDE_ST_BSY;
    ide_schedule(d, EV_ATAPI_BLOCK);
}

/* The reply is in buf[0, len); the host takes at most `alloc` bytes of it. */
static void reply(struct ide_drive *d, uint32_t len, uint32_t alloc)
{
    uint32_t n = len < alloc ? len : alloc;
    if (!n) {
        finish_ok(d);
        return;
    }
    d->xfer_from_buf = 1;
    d->xfer_buf_pos = 0;
    d->xfer_left = n;
    start_data(d);
}

static void read_sectors(struct ide_drive *d, uint32_t lba, uint32_t count)
{
    if ((uint64_t)lba + count > d->nb_sectors) {
        fail(d, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        return;
    }
    if (!count) {
        finish_ok(d);
        return;
    }
    d->xfer_from_buf = 0;
    d->xfer_off = (uint64_t)lba * CD_SECTOR;
    d->xfer_left = count * CD_SECTOR;
    start_data(d);
}

/* One DRQ block of packet data: at most the byte count limit, even unless
 * it is the last (SFF-8020i 5.14.2), then the final status. */
void atapi_next_block(struct ide_drive *d)
{
    if (!d->xfer_left) {
        finish_ok(d);
        return;
    }
    uint32_t limit = d->byte_limit;
    if (limit == 0 || limit > 0xFFFE) limit = 0xFFFE;
    uint32_t n = d->xfer_left < limit ? d->xfer_left : limit;
    if (n < d->xfer_left) n &= ~1u;
    if (!n) n = d->xfer_left < 2 ? d->xfer_left : 2;
    uint32_t start = 0;
    if (d->xfer_from_buf) {
        start = d->xfer_buf_pos;
        d->xfer_buf_pos += n;
    } else {
        if (!has_medium(d)) {
            fail(d, SK_NOT_READY, ASC_NO_MEDIUM, d->tray_open ? 2 : 1);
            return;
        }
        if (blk_read(d->blk, d->xfer_off, d->buf, n)) {
            fail(d, SK_MEDIUM_ERROR, ASC_UNRECOVERED_READ, 0);
            return;
        }
        d->xfer_off += n;
    }
    d->xfer_left -= n;
    d->lcyl = (uint8_t)n;
    d->hcyl = (uint8_t)(n >> 8);
    d->nsector = IR_IO;
    ide_pio_start(d, start, n, PIO_END_ATAPI, 1);
}

void atapi_transfer_done(struct ide_drive *d)
{
    finish_ok(d);
}

/* ---------------------------------------------------------------------------
 * Commands */

static void cmd_test_unit_ready(struct ide_drive *d)
{
    finish_ok(d);
}

static void cmd_request_sense(struct ide_drive *d)
{
    if (d->unit_attention) {
        d->unit_attention = 0;
        set_sense(d, SK_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
    }
    uint8_t *b = d->buf;
    memset(b, 0, 18);
    b[0] = 0x70;                  /* current error, fixed format */
    b[2] = d->sense_key;
    b[7] = 10;                    /* additional length */
    b[12] = d->asc;
    b[13] = d->ascq;
    /* Reported once: the next command starts clean. */
    set_sense(d, 0, 0, 0);
    reply(d, 18, d->cdb[4]);
}

static void cmd_inquiry(struct ide_drive *d)
{
    if (d->cdb[1] & 1) {          /* vital product data: none */
        invalid_field(d);
        return;
    }
    uint8_t *b = d->buf;
    memset(b, 0, 36);
    b[0] = 0x05;                  /* CD/DVD device */
    b[1] = 0x80;                  /* removable */
    b[3] = 0x21;                  /* ATAPI, response data format 1 */
    b[4] = 31;
    memcpy(b + 8, "BUBBLE  ", 8);
    memcpy(b + 16, "CD-ROM          ", 16);
    memcpy(b + 32, "1.0 ", 4);
    reply(d, 36, d->cdb[4]);
}

static void cmd_read_capacity(struct ide_drive *d)
{
    put32(d->buf, d->nb_sectors ? (uint32_t)(d->nb_sectors - 1) : 0);
    put32(d->buf + 4, CD_SECTOR);
    reply(d, 8, 8);
}

static void cmd_read10(struct ide_drive *d)
{
    read_sectors(d, get32(d->cdb + 2), get16(d->cdb + 7));
}

static void cmd_read12(struct ide_drive *d)
{
    read_sectors(d, get32(d->cdb + 2), get32(d->cdb + 6));
}

/* READ CD with user data only (flags 10h); headers, sync and C2 are not kept. */
static void cmd_read_cd(struct ide_drive *d)
{
    uint32_t count = (uint32_t)d->cdb[6] << 16 | get16(d->cdb + 7);
    int type = (d->cdb[1] >> 2) & 7;
    if (type != 0 && type != 2) {             /* only Mode 1 data sectors exist here */
        fail(d, SK_ILLEGAL_REQUEST, 0x64, 0); /* illegal mode for this track */
        return;
    }
    if (d->cdb[9] == 0) {
        finish_ok(d);
        return;
    }
    if (d->cdb[9] != 0x10) {
        ide_log_once(d->ch->ctl, d->ch->ctl->logged_atapi, d->cdb[9], "READ CD sector field selection");
        invalid_field(d);
        return;
    }
    read_sectors(d, get32(d->cdb + 2), count);
}

static void put_msf(uint8_t *p, uint32_t lba)
{
    lba += 150;                   /* the pregap: LBA 0 is 00:02:00 */
    p[0] = 0;
    p[1] = (uint8_t)(lba / (75 * 60));
    p[2] = (uint8_t)(lba / 75 % 60);
    p[3] = (uint8_t)(lba % 75);
}

static void put_address(uint8_t *p, uint32_t lba, int msf)
{
    if (msf) put_msf(p, lba);
    else put32(p, lba);
}

static uint32_t toc_formatted(struct ide_drive *d, uint8_t *b, int msf, int start_track)
{
    uint32_t p = 4;
    b[2] = 1;                     /* first and last track */
    b[3] = 1;
    if (start_track <= 1) {
        b[p + 1] = 0x14;          /* ADR 1, data track */
        b[p + 2] = 1;
        put_address(b + p + 4, 0, msf);
        p += 8;
    }
    b[p + 1] = 0x14;
    b[p + 2] = 0xAA;              /* lead-out */
    put_address(b + p + 4, (uint32_t)d->nb_sectors, msf);
    p += 8;
    return p;
}

static uint32_t toc_sessions(uint8_t *b, int msf)
{
    b[2] = 1;                     /* first and last complete session */
    b[3] = 1;
    b[5] = 0x14;
    b[6] = 1;                     /* first track of the last session */
    put_address(b + 8, 0, msf);
    return 12;
}

static uint32_t toc_raw(struct ide_drive *d, uint8_t *b)
{
    static const uint8_t points[4] = { 0xA0, 0xA1, 0xA2, 0x01 };
    b[2] = 1;
    b[3] = 1;
    uint32_t p = 4;
    for (int k = 0; k < 4; k++, p += 11) {
        uint8_t *e = b + p;
        e[0] = 1;                 /* session */
        e[1] = 0x14;
        e[3] = points[k];
        switch (points[k]) {
        case 0xA0: e[8] = 1; e[9] = 0x00; break;          /* first track; CD-ROM disc */
        case 0xA1: e[8] = 1; break;                        /* last track */
        case 0xA2: {                                       /* lead-out */
            uint8_t msf[4];
            put_msf(msf, (uint32_t)d->nb_sectors);
            memcpy(e + 8, msf + 1, 3);
            break;
        }
        default: e[8] = 0; e[9] = 2; e[10] = 0; break;     /* track 1 at 00:02:00 */
        }
    }
    return p;
}

static void cmd_read_toc(struct ide_drive *d)
{
    const uint8_t *c = d->cdb;
    int msf = (c[1] >> 1) & 1;
    int format = c[2] & 0x0F;
    /* Pre-MMC drivers put the format in the top bits of the control byte. */
    if (!format) format = c[9] >> 6;
    uint8_t *b = d->buf;
    memset(b, 0, 64);
    uint32_t len;
    switch (format) {
    case 0:
        if (c[6] > 1 && c[6] != 0xAA) {
            invalid_field(d);
            return;
        }
        len = toc_formatted(d, b, msf, c[6]);
        break;
    case 1:
        len = toc_sessions(b, msf);
        break;
    case 2:
        len = toc_raw(d, b);
        break;
    default:
        invalid_field(d);
        return;
    }
    put16(b, len - 2);
    reply(d, len, get16(c + 7));
}

/* ---------------------------------------------------------------------------
 * MODE SENSE (MMC-3 6.1.x and SFF-8020i 10.8) */

static uint32_t mode_page(struct ide_drive *d, uint8_t *p, int page, int changeable)
{
    uint32_t len;
    switch (page) {
    case 0x01: {                  /* read error recovery */
        static const uint8_t v[8] = { 0x01, 0x06, 0x00, 0x05, 0, 0, 0, 0 };
        memcpy(p, v, sizeof(v));
        len = sizeof(v);
        break;
    }
    case 0x0D: {                  /* CD device parameters: 60 s per minute, 75 frames per second */
        static const uint8_t v[8] = { 0x0D, 0x06, 0x00, 0x00, 0x00, 0x3C, 0x00, 0x4B };
        memcpy(p, v, sizeof(v));
        len = sizeof(v);
        break;
    }
    case 0x0E: {                  /* CD audio control: ports 0 and 1 at full volume */
        static const uint8_t v[16] = { 0x0E, 0x0E, 0x04, 0, 0, 0, 0, 0, 0x01, 0xFF, 0x02, 0xFF, 0, 0, 0, 0 };
        memcpy(p, v, sizeof(v));
        len = sizeof(v);
        break;
    }
    case 0x2A:                    /* capabilities and mechanical status */
        memset(p, 0, 22);
        p[0] = 0x2A;
        p[1] = 0x14;
        p[2] = 0x03;              /* reads CD-R and CD-RW media */
        p[4] = 0x71;              /* audio play, mode 2 form 1 and 2, multi-session */
        p[6] = (uint8_t)(0x29 | (d->locked ? 0x02 : 0));   /* tray, eject, lock (+ locked) */
        put16(p + 8, 706);        /* maximum speed, kB/s (4x) */
        put16(p + 10, 256);       /* volume levels */
        put16(p + 12, 512);       /* buffer, KiB */
        put16(p + 14, 706);       /* current speed */
        len = 22;
        break;
    default:
        return 0;
    }
    if (changeable) memset(p + 2, 0, len - 2);   /* nothing can be changed */
    return len;
}

static void cmd_mode_sense(struct ide_drive *d)
{
    const uint8_t *c = d->cdb;
    int ten = c[0] == 0x5A;
    int page = c[2] & 0x3F, control = c[2] >> 6;
    uint32_t alloc = ten ? get16(c + 7) : c[4];
    if (control == 3) {
        fail(d, SK_ILLEGAL_REQUEST, ASC_SAVING_UNSUPPORTED, 0);
        return;
    }
    uint8_t *b = d->buf;
    uint32_t hdr = ten ? 8 : 4, p = hdr;
    memset(b, 0, 128);
    if (page == 0x3F) {
        static const int all[4] = { 0x01, 0x0D, 0x0E, 0x2A };
        for (int k = 0; k < 4; k++) p += mode_page(d, b + p, all[k], control == 1);
    } else {
        uint32_t n = mode_page(d, b + p, page, control == 1);
        if (!n) {
            invalid_field(d);
            return;
        }
        p += n;
    }
    /* Medium type: 70h no disc, 71h tray open, 01h 120 mm data disc (SFF-8020i 10.8.1). */
    uint8_t medium = d->tray_open ? 0x71 : d->blk ? 0x01 : 0x70;
    if (ten) {
        put16(b, p - 2);
        b[2] = medium;
    } else {
        b[0] = (uint8_t)(p - 1);
        b[1] = medium;
    }
    reply(d, p, alloc);
}

/* ---------------------------------------------------------------------------
 * GET CONFIGURATION (MMC-3 5.2, 6.1.4) */

static uint32_t put_feature(struct ide_drive *d, uint8_t *p, uint16_t code)
{
    int current = 1;
    uint32_t n = 0;
    uint8_t *data = p + 4;
    switch (code) {
    case 0x0000:                  /* profile list: CD-ROM only */
        put16(data, 0x0008);
        data[2] = has_medium(d) ? 1 : 0;
        n = 4;
        break;
    case 0x0001:                  /* core: ATAPI */
        put32(data, 2);
        n = 4;
        break;
    case 0x0003:                  /* removable medium: tray, eject, lock */
        data[0] = (uint8_t)(0x29 | (d->locked ? 0x04 : 0));
        n = 4;
        break;
    case 0x0010:                  /* random readable, 2048-byte blocks */
        current = has_medium(d);
        put32(data, CD_SECTOR);
        put16(data + 4, 1);
        n = 8;
        break;
    case 0x001E:                  /* CD read */
        current = has_medium(d);
        n = 4;
        break;
    }
    put16(p, code);
    int persistent = code <= 0x0003;   /* always there, medium or not */
    p[2] = (uint8_t)((persistent ? 2 : 0) | current);
    p[3] = (uint8_t)n;
    return 4 + n;
}

static int feature_current(struct ide_drive *d, uint16_t code)
{
    return (code != 0x0010 && code != 0x001E) || has_medium(d);
}

static void cmd_get_configuration(struct ide_drive *d)
{
    static const uint16_t features[] = { 0x0000, 0x0001, 0x0003, 0x0010, 0x001E };
    const uint8_t *c = d->cdb;
    int rt = c[1] & 3;
    uint16_t start = (uint16_t)get16(c + 2);
    if (rt == 3) {
        invalid_field(d);
        return;
    }
    uint8_t *b = d->buf;
    memset(b, 0, 256);
    uint32_t p = 8;
    for (size_t k = 0; k < sizeof(features) / sizeof(features[0]); k++) {
        uint16_t code = features[k];
        if (rt == 2 ? code != start : code < start) continue;
        if (rt == 1 && !feature_current(d, code)) continue;
        p += put_feature(d, b + p, code);
    }
    put32(b, p - 4);
    put16(b + 6, has_medium(d) ? 0x0008 : 0x0000);   /* current profile */
    reply(d, p, get16(c + 7));
}

/* GET EVENT STATUS NOTIFICATION, polled, media class only (MMC-3 6.1.5). */
static void cmd_get_event_status(struct ide_drive *d)
{
    const uint8_t *c = d->cdb;
    if (!(c[1] & 1)) {            /* asynchronous notification is not supported */
        invalid_field(d);
        return;
    }
    uint8_t *b = d->buf;
    memset(b, 0, 8);
    b[3] = 0x10;                  /* supported classes: media */
    uint32_t len;
    if (c[4] & 0x10) {
        put16(b, 6);
        b[2] = 0x04;              /* media class */
        b[4] = d->media_event;
        b[5] = (uint8_t)((d->tray_open ? 1 : 0) | (d->blk ? 2 : 0));
        d->media_event = ME_NO_CHANGE;
        len = 8;
    } else {
        put16(b, 2);
        b[2] = 0x80;              /* no event available */
        len = 4;
    }
    reply(d, len, get16(c + 7));
}

static void cmd_start_stop(struct ide_drive *d)
{
    int start = d->cdb[4] & 1, load_eject = (d->cdb[4] >> 1) & 1;
    if (!load_eject) {
        finish_ok(d);             /* spin up or down: nothing to do */
        return;
    }
    if (!start) {
        if (d->locked) {
            fail(d, SK_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED, 2);
            return;
        }
        if (!d->tray_open && d->blk) d->media_event = ME_REMOVAL;
        d->tray_open = 1;
    } else if (d->tray_open) {
        d->tray_open = 0;
        if (d->blk) {
            d->media_event = ME_NEW_MEDIA;
            d->unit_attention = 1;
        }
    }
    finish_ok(d);
}

static void cmd_prevent_allow(struct ide_drive *d)
{
    d->locked = d->cdb[4] & 1;
    finish_ok(d);
}

static void cmd_read_disc_information(struct ide_drive *d)
{
    if (d->cdb[1] & 7) {          /* only the standard disc information */
        invalid_field(d);
        return;
    }
    uint8_t *b = d->buf;
    memset(b, 0, 34);
    put16(b, 32);
    b[2] = 0x0E;                  /* complete disc, complete last session */
    b[3] = 1;                     /* first track */
    b[4] = 1;                     /* sessions */
    b[5] = 1;                     /* first and last track of the last session */
    b[6] = 1;
    b[8] = 0x00;                  /* CD-DA or CD-ROM */
    put32(b + 16, 0xFFFFFFFF);    /* no next session */
    put32(b + 20, 0xFFFFFFFF);
    reply(d, 34, get16(d->cdb + 7));
}

static void cmd_read_track_information(struct ide_drive *d)
{
    const uint8_t *c = d->cdb;
    uint32_t addr = get32(c + 2);
    int type = c[1] & 3;
    int ok = (type == 0 && addr < d->nb_sectors) || (type == 1 && addr == 1) || (type == 2 && addr == 1);
    if (!ok) {
        invalid_field(d);
        return;
    }
    uint8_t *b = d->buf;
    memset(b, 0, 36);
    put16(b, 34);
    b[2] = 1;                     /* track */
    b[3] = 1;                     /* session */
    b[5] = 0x04;                  /* data track, uninterrupted */
    b[6] = 0x01;                  /* data mode 1 */
    put32(b + 24, (uint32_t)d->nb_sectors);
    reply(d, 36, get16(c + 7));
}

static void cmd_read_subchannel(struct ide_drive *d)
{
    const uint8_t *c = d->cdb;
    int subq = (c[2] >> 6) & 1, format = c[3], msf = (c[1] >> 1) & 1;
    uint8_t *b = d->buf;
    memset(b, 0, 24);
    b[1] = 0x15;                  /* no current audio status */
    uint32_t len = 4;
    if (subq) {
        if (format == 1) {        /* current position: the start of track 1 */
            b[4] = 1;
            b[5] = 0x14;
            b[6] = 1;
            b[7] = 1;
            put_address(b + 8, 0, msf);
            put_address(b + 12, 0, msf);
            len = 16;
        } else if (format == 2 || format == 3) {
            b[4] = (uint8_t)format;   /* no catalogue number / ISRC */
            len = 24;
        } else {
            invalid_field(d);
            return;
        }
    }
    put16(b + 2, len - 4);
    reply(d, len, get16(c + 7));
}

static void cmd_mechanism_status(struct ide_drive *d)
{
    uint8_t *b = d->buf;
    memset(b, 0, 8);
    b[1] = d->tray_open ? 0x10 : 0;  /* door open */
    reply(d, 8, get16(d->cdb + 8));
}

static void cmd_nothing(struct ide_drive *d)
{
    finish_ok(d);                 /* SET CD SPEED, SEEK, STOP PLAY/SCAN: nothing to do here */
}

/* ---------------------------------------------------------------------------
 * Dispatch */

#define NEEDS_MEDIUM 1
#define NO_ATTENTION 2            /* runs despite a pending unit attention (MMC-3 4.1.6.1) */

struct atapi_command {
    uint8_t opcode;
    uint8_t flags;
    void (*run)(struct ide_drive *d);
};

static const struct atapi_command commands[] = {
    { 0x00, NEEDS_MEDIUM, cmd_test_unit_ready },
    { 0x03, NO_ATTENTION, cmd_request_sense },
    { 0x12, NO_ATTENTION, cmd_inquiry },
    { 0x1A, 0, cmd_mode_sense },
    { 0x1B, 0, cmd_start_stop },
    { 0x1E, 0, cmd_prevent_allow },
    { 0x25, NEEDS_MEDIUM, cmd_read_capacity },
    { 0x28, NEEDS_MEDIUM, cmd_read10 },
    { 0x2B, NEEDS_MEDIUM, cmd_nothing },
    { 0x42, NEEDS_MEDIUM, cmd_read_subchannel },
    { 0x43, NEEDS_MEDIUM, cmd_read_toc },
    { 0x46, NO_ATTENTION, cmd_get_configuration },
    { 0x4A, NO_ATTENTION, cmd_get_event_status },
    { 0x4E, 0, cmd_nothing },
    { 0x51, NEEDS_MEDIUM, cmd_read_disc_information },
    { 0x52, NEEDS_MEDIUM, cmd_read_track_information },
    { 0x5A, 0, cmd_mode_sense },
    { 0xA8, NEEDS_MEDIUM, cmd_read12 },
    { 0xBB, 0, cmd_nothing },
    { 0xBD, 0, cmd_mechanism_status },
    { 0xBE, NEEDS_MEDIUM, cmd_read_cd },
};

static void dispatch(struct ide_drive *d)
{
    uint8_t op = d->cdb[0];
    const struct atapi_command *c = NULL;
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
        if (commands[k].opcode == op) c = &commands[k];
    if (!c) {
        ide_log_once(d->ch->ctl, d->ch->ctl->logged_atapi, op, "ATAPI packet command");
        fail(d, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
        return;
    }
    if (d->unit_attention && !(c->flags & NO_ATTENTION)) {
        d->unit_attention = 0;
        fail(d, SK_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
        return;
    }
    if (op != 0x03) set_sense(d, 0, 0, 0);
    if ((c->flags & NEEDS_MEDIUM) && !has_medium(d)) {
        fail(d, SK_NOT_READY, ASC_NO_MEDIUM, d->tray_open ? 2 : 1);
        return;
    }
    c->run(d);
}

/* PACKET: take the 12-byte command (SFF-8020i 5.14). DRQ without an
 * interrupt: IDENTIFY PACKET DEVICE word 0 says "DRQ within 50 us". */
void atapi_packet_command(struct ide_drive *d)
{
    d->dma = d->feature & 1;
    d->byte_limit = (uint32_t)d->hcyl << 8 | d->lcyl;
    d->nsector = IR_COD;
    ide_pio_start(d, 0, 12, PIO_END_PACKET, 0);
}

void atapi_cdb_received(struct ide_drive *d)
{
    memcpy(d->cdb, d->buf, sizeof(d->cdb));
    d->status = IDE_ST_BSY;
    d->standby = 0;
    dispatch(d);
}

/* ---------------------------------------------------------------------------
 * The host changes the medium */

struct block_backend *ide_cdrom_change(struct ide_controller *ide, int channel, int unit,
                                       struct block_backend *b)
{
    if (channel < 0 || channel > 1 || unit < 0 || unit > 1) return NULL;
    struct ide_drive *d = &ide->ch[channel].drive[unit];
    if (d->kind != IDE_CDROM) return NULL;
    struct block_backend *old = d->blk;
    d->blk = b;
    d->nb_sectors = b ? b->size / CD_SECTOR : 0;
    d->tray_open = 0;
    if (b) {
        /* The drive noticed a new disc: "not ready to ready change, medium may have changed". */
        d->unit_attention = 1;
        d->media_event = ME_NEW_MEDIA;
    } else {
        d->unit_attention = 0;
        d->media_event = ME_REMOVAL;
    }
    return old;
}
