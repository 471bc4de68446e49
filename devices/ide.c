/* IDE channels, ATA hard disks and the bus-master DMA engine (see ide.h);
 * the packet commands of CD-ROM drives are in ide_atapi.c. */
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/ide.h"

/* Device control register bits (ATA-6 7.9). */
#define DC_NIEN  0x02
#define DC_SRST  0x04
#define DC_HOB   0x80

#define ERR_AMNF 0x01   /* after reset or diagnostics: code 01h = passed */
#define ERR_IDNF 0x10
#define ERR_UNC  0x40

/* Bus-master registers (PIIX3 datasheet 2.7). */
#define BM_CMD_START     0x01
#define BM_CMD_TO_MEMORY 0x08
#define BM_ST_ACTIVE     0x01
#define BM_ST_ERROR      0x02
#define BM_ST_INT        0x04
#define BM_ST_CAPABLE    0x60

static struct ide_drive *selected(struct ide_channel *ch) { return &ch->drive[ch->cur]; }

static int channel_empty(const struct ide_channel *ch)
{
    return ch->drive[0].kind == IDE_NONE && ch->drive[1].kind == IDE_NONE;
}

/* After a command: DRDY, and DSC for disks (bit 4 is SERV for packet devices). */
static uint8_t ready_status(const struct ide_drive *d)
{
    return d->kind == IDE_CDROM ? IDE_ST_DRDY : IDE_ST_DRDY | IDE_ST_DSC;
}

void ide_log_once(struct ide_controller *ide, uint8_t *bitmap, uint8_t opcode, const char *what)
{
    if (bitmap[opcode >> 3] & (1u << (opcode & 7))) return;
    bitmap[opcode >> 3] |= (uint8_t)(1u << (opcode & 7));
    fprintf(stderr, "ide: unsupported %s %02xh: aborted (logged once)\n", what, opcode);
}

/* ---------------------------------------------------------------------------
 * Interrupts: INTRQ is driven by the selected device unless nIEN (ATA-6 5.2.9). */

static void update_irq(struct ide_channel *ch)
{
    struct ide_drive *d = selected(ch);
    int level = d->kind != IDE_NONE && d->irq_pending && !(ch->devctl & DC_NIEN);
    /* The bus master latches the device's interrupt (PIIX3 2.7.2, bit 2). */
    if (level && !ch->irq_out) ch->bm_status |= BM_ST_INT;
    if (level != ch->irq_out) {
        ch->irq_out = level;
        irq_set(&ch->irq, level);
    }
}

void ide_raise_irq(struct ide_drive *d)
{
    d->irq_pending = 1;
    update_irq(d->ch);
}

static void clear_irq(struct ide_drive *d)
{
    d->irq_pending = 0;
    update_irq(d->ch);
}

/* ---------------------------------------------------------------------------
 * Events: what happens after the device's delay. */

static void run_event(struct ide_drive *d);

void ide_schedule(struct ide_drive *d, enum ide_event ev)
{
    struct ide_controller *ide = d->ch->ctl;
    d->event = ev;
    if (!ide->clock || !ide->delay_ns) {
        run_event(d);
        return;
    }
    vtimer_mod(&d->timer, vclock_ns(ide->clock) + ide->delay_ns);
}

static void timer_fired(void *opaque)
{
    run_event(opaque);
}

static void cancel_command(struct ide_drive *d)
{
    vtimer_del(&d->timer);
    d->event = EV_NONE;
    d->pio_end = PIO_END_NONE;
    d->pos = d->end = 0;
    d->dma = d->dma_waiting = 0;
}

/* ---------------------------------------------------------------------------
 * Reset and signatures */

void ide_set_signature(struct ide_drive *d)
{
    /* ATA-6 9.12: packet devices put 14h/EBh in the cylinder registers. */
    d->nsector = d->sector = 1;
    d->lcyl = d->kind == IDE_CDROM ? 0x14 : 0;
    d->hcyl = d->kind == IDE_CDROM ? 0xEB : 0;
    d->select = 0;
    d->hob_feature = d->hob_nsector = d->hob_sector = d->hob_lcyl = d->hob_hcyl = 0;
    d->feature = 0;
}

static void drive_reset(struct ide_drive *d, int power_on)
{
    if (d->kind == IDE_NONE) return;
    cancel_command(d);
    d->irq_pending = 0;
    d->cmd = 0;
    d->error = ERR_AMNF;
    ide_set_signature(d);
    /* Packet devices come out of reset with DRDY clear (ATA-6 9.12). */
    d->status = d->kind == IDE_CDROM ? 0 : IDE_ST_DRDY | IDE_ST_DSC;
    d->standby = 0;
    if (power_on) {
        d->cur_cyls = d->cyls;
        d->cur_heads = d->heads;
        d->cur_secs = d->secs;
        d->mult_count = 0;
        d->write_cache = 1;
        d->xfer_mode = 0;
        d->locked = 0;
        d->sense_key = d->asc = d->ascq = 0;
    }
}

/* EXECUTE DEVICE DIAGNOSTIC runs on both devices; device 0 reports (ATA-6 8.11). */
static void execute_diagnostic(struct ide_channel *ch)
{
    for (int u = 0; u < 2; u++) drive_reset(&ch->drive[u], 0);
    ch->cur = 0;
    ide_raise_irq(&ch->drive[ch->drive[0].kind != IDE_NONE ? 0 : 1]);
}

static void write_devctl(struct ide_channel *ch, uint8_t val)
{
    uint8_t old = ch->devctl;
    ch->devctl = val;
    if ((val & DC_SRST) && !(old & DC_SRST)) {
        /* Reset asserted: both devices busy until it is released (ATA-6 9.2). */
        for (int u = 0; u < 2; u++) {
            struct ide_drive *d = &ch->drive[u];
            if (d->kind == IDE_NONE) continue;
            cancel_command(d);
            d->irq_pending = 0;
            d->status = IDE_ST_BSY;
        }
    } else if (!(val & DC_SRST) && (old & DC_SRST)) {
        for (int u = 0; u < 2; u++) drive_reset(&ch->drive[u], 0);
        ch->cur = 0;
    }
    update_irq(ch);
}

/* ---------------------------------------------------------------------------
 * Addresses */

static uint32_t request_count(const struct ide_drive *d, int lba48)
{
    if (lba48) {
        uint32_t n = (uint32_t)d->hob_nsector << 8 | d->nsector;
        return n ? n : 65536;
    }
    return d->nsector ? d->nsector : 256;
}

/* The command's first sector from the task file: LBA48, LBA28 or CHS in
 * the current translation. -1 if it is not a sector of the disk. */
static int request_address(struct ide_drive *d, int lba48, uint32_t count, uint64_t *lba)
{
    d->lba48 = lba48;
    d->chs = 0;
    if (lba48) {
        *lba = (uint64_t)d->hob_hcyl << 40 | (uint64_t)d->hob_lcyl << 32 | (uint64_t)d->hob_sector << 24 |
               (uint64_t)d->hcyl << 16 | (uint64_t)d->lcyl << 8 | d->sector;
    } else if (d->select & 0x40) {
        *lba = (uint64_t)(d->select & 0x0F) << 24 | (uint64_t)d->hcyl << 16 | (uint64_t)d->lcyl << 8 | d->sector;
    } else {
        uint32_t cyl = (uint32_t)d->hcyl << 8 | d->lcyl, head = d->select & 0x0F, sec = d->sector;
        if (!d->cur_heads || !d->cur_secs || sec == 0 || sec > d->cur_secs || head >= d->cur_heads) return -1;
        d->chs = 1;
        *lba = ((uint64_t)cyl * d->cur_heads + head) * d->cur_secs + sec - 1;
    }
    if (*lba + count > d->nb_sectors) return -1;
    return 0;
}

/* Leave the address of `lba` in the task file, in the command's addressing. */
static void set_address(struct ide_drive *d, uint64_t lba)
{
    if (d->lba48) {
        d->sector = (uint8_t)lba;
        d->lcyl = (uint8_t)(lba >> 8);
        d->hcyl = (uint8_t)(lba >> 16);
        d->hob_sector = (uint8_t)(lba >> 24);
        d->hob_lcyl = (uint8_t)(lba >> 32);
        d->hob_hcyl = (uint8_t)(lba >> 40);
    } else if (!d->chs) {
        d->sector = (uint8_t)lba;
        d->lcyl = (uint8_t)(lba >> 8);
        d->hcyl = (uint8_t)(lba >> 16);
        d->select = (uint8_t)((d->select & 0xF0) | ((lba >> 24) & 0x0F));
    } else {
        uint32_t per_cyl = (uint32_t)d->cur_heads * d->cur_secs;
        uint32_t cyl = (uint32_t)(lba / per_cyl), rest = (uint32_t)(lba % per_cyl);
        d->lcyl = (uint8_t)cyl;
        d->hcyl = (uint8_t)(cyl >> 8);
        d->select = (uint8_t)((d->select & 0xF0) | (rest / d->cur_secs));
        d->sector = (uint8_t)(rest % d->cur_secs + 1);
    }
}

/* ---------------------------------------------------------------------------
 * Command endings */

static void command_ok(struct ide_drive *d)
{
    d->status = ready_status(d);
    ide_raise_irq(d);
}

static void command_error(struct ide_drive *d, uint8_t error)
{
    d->error = error;
    d->status = ready_status(d) | IDE_ST_ERR;
    ide_raise_irq(d);
}

static void command_abort(struct ide_drive *d)
{
    command_error(d, IDE_ERR_ABRT);
}

/* ---------------------------------------------------------------------------
 * PIO */

void ide_pio_start(struct ide_drive *d, uint32_t start, uint32_t len, enum ide_pio_end end, int irq)
{
    d->pos = start;
    d->end = start + len;
    d->pio_end = end;
    d->status = ready_status(d) | IDE_ST_DRQ;
    if (irq) ide_raise_irq(d);
}

static uint32_t block_sectors(const struct ide_drive *d)
{
    int multiple = d->cmd == 0xC4 || d->cmd == 0xC5 || d->cmd == 0x29 || d->cmd == 0x39;
    uint32_t per = multiple ? (uint32_t)d->mult_count : 1;
    return d->remaining < per ? d->remaining : per;
}

static void ata_read_block(struct ide_drive *d)
{
    uint32_t n = block_sectors(d);
    if (blk_read(d->blk, d->lba * 512, d->buf, (size_t)n * 512)) {
        set_address(d, d->lba);
        command_error(d, ERR_UNC);
        return;
    }
    d->block = n;
    set_address(d, d->lba + n - 1);
    ide_pio_start(d, 0, n * 512, PIO_END_ATA_READ, 1);
}

static void ata_write_block_done(struct ide_drive *d)
{
    if (!d->remaining) {
        d->nsector = 0;
        command_ok(d);
        return;
    }
    d->block = block_sectors(d);
    ide_pio_start(d, 0, d->block * 512, PIO_END_ATA_WRITE, 1);
}

/* The host moved the whole PIO block. */
static void pio_block_done(struct ide_drive *d)
{
    enum ide_pio_end end = d->pio_end;
    d->pio_end = PIO_END_NONE;
    d->status &= (uint8_t)~IDE_ST_DRQ;
    switch (end) {
    case PIO_END_DONE:
        d->status = ready_status(d);
        break;
    case PIO_END_ATA_READ:
        d->lba += d->block;
        d->remaining -= d->block;
        if (!d->remaining) {
            /* No interrupt after the last block of a PIO read (ATA-6 9.7). */
            d->nsector = 0;
            d->status = ready_status(d);
        } else {
            d->status = IDE_ST_BSY;
            ide_schedule(d, EV_ATA_READ_BLOCK);
        }
        break;
    case PIO_END_ATA_WRITE:
        d->status = IDE_ST_BSY;
        set_address(d, d->lba + d->block - 1);
        if (blk_write(d->blk, d->lba * 512, d->buf, (size_t)d->block * 512) ||
            (!d->write_cache && blk_flush(d->blk))) {
            command_error(d, IDE_ERR_ABRT);
            return;
        }
        d->lba += d->block;
        d->remaining -= d->block;
        ide_schedule(d, EV_ATA_WRITE_DONE);
        break;
    case PIO_END_PACKET:
        atapi_cdb_received(d);
        break;
    case PIO_END_ATAPI:
        d->status = IDE_ST_BSY;
        ide_schedule(d, EV_ATAPI_BLOCK);
        break;
    case PIO_END_NONE:
        break;
    }
}

static int host_to_device(enum ide_pio_end end)
{
    return end == PIO_END_ATA_WRITE || end == PIO_END_PACKET;
}

/* The data register is 16 bits wide; a byte access moves a word and sees its low half. */
static uint32_t data_read(struct ide_channel *ch, int size)
{
    struct ide_drive *d = selected(ch);
    uint32_t ones = size == 4 ? 0xFFFFFFFFu : 0xFFFFu;
    if (d->kind == IDE_NONE || !(d->status & IDE_ST_DRQ) || d->pio_end == PIO_END_NONE ||
        host_to_device(d->pio_end))
        return ones & (size == 1 ? 0xFF : ones);
    int n = size == 1 ? 2 : size;
    uint32_t v = 0;
    for (int k = 0; k < n; k++)
        v |= (uint32_t)(d->pos < d->end ? d->buf[d->pos++] : 0xFF) << (8 * k);
    if (d->pos >= d->end) pio_block_done(d);
    return size == 1 ? v & 0xFF : v;
}

static void data_write(struct ide_channel *ch, uint32_t val, int size)
{
    struct ide_drive *d = selected(ch);
    if (d->kind == IDE_NONE || !(d->status & IDE_ST_DRQ) || !host_to_device(d->pio_end)) return;
    int n = size == 1 ? 2 : size;
    for (int k = 0; k < n && d->pos < d->end; k++) d->buf[d->pos++] = (uint8_t)(val >> (8 * k));
    if (d->pos >= d->end) pio_block_done(d);
}

/* ---------------------------------------------------------------------------
 * Bus-master DMA */

static int dma_enabled(struct ide_channel *ch)
{
    struct ide_controller *ide = ch->ctl;
    return (ch->bm_cmd & BM_CMD_START) && (!ide->dma_allowed || ide->dma_allowed(ide->dma_opaque));
}

static void maybe_start_dma(struct ide_channel *ch)
{
    if (!dma_enabled(ch)) return;
    for (int u = 0; u < 2; u++) {
        struct ide_drive *d = &ch->drive[u];
        if (d->dma_waiting) {
            d->dma_waiting = 0;
            ide_schedule(d, EV_DMA);
        }
    }
}

void ide_dma_begin(struct ide_drive *d)
{
    d->dma = 1;
    d->dma_waiting = 1;
    d->status = ready_status(d) | IDE_ST_DRQ;
    maybe_start_dma(d->ch);
}

/* Move `len` bytes between `buf` and the memory the PRD table describes;
 * returns how many moved (fewer when the table ends first). */
static uint32_t prd_move(struct ide_channel *ch, uint8_t *buf, uint32_t len, int to_memory)
{
    struct memory *mem = ch->ctl->mem;
    uint32_t done = 0;
    while (done < len) {
        if (!ch->seg_left) {
            if (ch->seg_eot) break;
            /* PRD: base address, then byte count (0 = 64 KiB) and EOT in bit 31 (PIIX3 2.7.4). */
            uint32_t base = memory_read32(mem, ch->prd_next);
            uint32_t count = memory_read32(mem, ch->prd_next + 4);
            ch->prd_next += 8;
            ch->seg_addr = base & ~1u;
            ch->seg_left = (count & 0xFFFE) ? (count & 0xFFFE) : 0x10000;
            ch->seg_eot = (int)(count >> 31);
        }
        uint32_t n = len - done < ch->seg_left ? len - done : ch->seg_left;
        if (to_memory) memory_write(mem, ch->seg_addr, buf + done, n);
        else memory_read(mem, ch->seg_addr, buf + done, n);
        ch->seg_addr += n;
        ch->seg_left -= n;
        done += n;
    }
    return done;
}

static void dma_finished(struct ide_drive *d)
{
    struct ide_channel *ch = d->ch;
    /* Active stays set when the PRD table is longer than the transfer (PIIX3 2.7.2). */
    if (!ch->seg_left && ch->seg_eot) ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
    d->dma = 0;
    if (d->kind == IDE_CDROM) {
        atapi_transfer_done(d);
        return;
    }
    if (!d->xfer_to_host && !d->write_cache && blk_flush(d->blk)) {
        command_error(d, IDE_ERR_ABRT);
        return;
    }
    set_address(d, d->lba + d->remaining - 1);
    d->nsector = 0;
    command_ok(d);
}

static void dma_failed(struct ide_drive *d, uint8_t error)
{
    d->dma = 0;
    if (d->kind == IDE_CDROM) {
        d->sense_key = 3;   /* MEDIUM ERROR, unrecovered read error */
        d->asc = 0x11;
        d->ascq = 0;
        d->nsector = 0x03;
        command_error(d, 3 << 4);
        return;
    }
    set_address(d, d->xfer_off / 512);
    command_error(d, error);
}

static void dma_run(struct ide_drive *d)
{
    struct ide_channel *ch = d->ch;
    if (!dma_enabled(ch)) {
        d->dma_waiting = 1;      /* the engine was stopped meanwhile */
        return;
    }
    while (d->xfer_left) {
        uint32_t chunk = d->xfer_left < IDE_BUF_SIZE ? d->xfer_left : IDE_BUF_SIZE;
        uint32_t moved;
        if (d->xfer_to_host) {
            uint8_t *src = d->buf;
            if (d->xfer_from_buf) {
                src = d->buf + d->xfer_buf_pos;
            } else if (!d->blk || blk_read(d->blk, d->xfer_off, d->buf, chunk)) {
                dma_failed(d, ERR_UNC);
                return;
            }
            moved = prd_move(ch, src, chunk, 1);
        } else {
            moved = prd_move(ch, d->buf, chunk, 0);
            if (moved && blk_write(d->blk, d->xfer_off, d->buf, moved)) {
                dma_failed(d, IDE_ERR_ABRT);
                return;
            }
        }
        d->xfer_off += moved;
        d->xfer_buf_pos += moved;
        d->xfer_left -= moved;
        if (moved < chunk) {
            /* The PRD table ended before the data: the engine stops, the
             * device keeps waiting with DRQ (PIIX3 2.7.2, bit 0). */
            ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
            d->dma_waiting = 1;
            return;
        }
    }
    dma_finished(d);
}

static void bm_command(struct ide_channel *ch, uint8_t val)
{
    if ((val & BM_CMD_START) && !(ch->bm_cmd & BM_CMD_START)) {
        ch->bm_cmd = val & (BM_CMD_START | BM_CMD_TO_MEMORY);
        ch->bm_status |= BM_ST_ACTIVE;
        ch->prd_next = ch->bm_prd;
        ch->seg_left = 0;
        ch->seg_eot = 0;
        maybe_start_dma(ch);
    } else if (!(val & BM_CMD_START) && (ch->bm_cmd & BM_CMD_START)) {
        /* Stopping the engine abandons a transfer in flight (PIIX3 2.7.1). */
        ch->bm_cmd = val & BM_CMD_TO_MEMORY;
        ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
        for (int u = 0; u < 2; u++) {
            struct ide_drive *d = &ch->drive[u];
            if (d->event == EV_DMA) {
                vtimer_del(&d->timer);
                d->event = EV_NONE;
                d->dma_waiting = 1;
            }
        }
    } else {
        ch->bm_cmd = (uint8_t)((ch->bm_cmd & BM_CMD_START) | (val & BM_CMD_TO_MEMORY));
    }
}

static uint8_t bm_read_byte(struct ide_controller *ide, uint32_t off)
{
    struct ide_channel *ch = &ide->ch[(off >> 3) & 1];
    switch (off & 7) {
    case 0: return ch->bm_cmd;
    case 2: return ch->bm_status;
    case 4: case 5: case 6: case 7: return (uint8_t)(ch->bm_prd >> (8 * ((off & 7) - 4)));
    default: return 0;
    }
}

static void bm_write_byte(struct ide_controller *ide, uint32_t off, uint8_t val)
{
    struct ide_channel *ch = &ide->ch[(off >> 3) & 1];
    switch (off & 7) {
    case 0:
        bm_command(ch, val);
        break;
    case 2:
        /* Drive DMA-capable bits are plain storage; error and interrupt clear on a 1. */
        ch->bm_status = (uint8_t)((ch->bm_status & ~BM_ST_CAPABLE) | (val & BM_ST_CAPABLE));
        ch->bm_status &= (uint8_t)~(val & (BM_ST_ERROR | BM_ST_INT));
        break;
    case 4: case 5: case 6: case 7: {
        int shift = 8 * ((int)(off & 7) - 4);
        ch->bm_prd = (ch->bm_prd & ~(0xFFu << shift)) | ((uint32_t)val << shift);
        ch->bm_prd &= ~3u;   /* the table is dword aligned */
        break;
    }
    default:
        if (!ide->logged_bm_reserved) {
            ide->logged_bm_reserved = 1;
            fprintf(stderr, "ide: write %02xh to reserved bus-master register %u ignored (logged once)\n",
                    val, (unsigned)off);
        }
        break;
    }
}

uint32_t ide_bm_read(struct ide_controller *ide, uint32_t off, int size)
{
    uint32_t v = 0;
    for (int k = 0; k < size; k++) v |= (uint32_t)bm_read_byte(ide, (off + (uint32_t)k) & 15) << (8 * k);
    return v;
}

void ide_bm_write(struct ide_controller *ide, uint32_t off, uint32_t val, int size)
{
    for (int k = 0; k < size; k++) bm_write_byte(ide, (off + (uint32_t)k) & 15, (uint8_t)(val >> (8 * k)));
}

/* ---------------------------------------------------------------------------
 * IDENTIFY DEVICE (ATA-6 8.15) */

void atapi_fill_words(uint16_t *id, int first, int count, const char *s)
{
    size_t len = strlen(s);
    for (int k = 0; k < count * 2; k++) {
        uint8_t c = (size_t)k < len ? (uint8_t)s[k] : ' ';
        /* The first character of each pair is the high byte. */
        if (k & 1) id[first + k / 2] |= c;
        else id[first + k / 2] = (uint16_t)(c << 8);
    }
}

static uint16_t reset_result(const struct ide_drive *d)
{
    /* Word 93: 80-conductor cable (bit 13), jumper-selected, diagnostics
     * passed; device 1 also asserted PDIAG-. */
    return d->unit ? 0x6B00 : 0x600B;
}

static void ata_identify(struct ide_drive *d, uint16_t *id)
{
    memset(id, 0, 512);
    id[0] = 0x0040;                                     /* fixed ATA device */
    id[1] = d->cyls;
    id[3] = d->heads;
    id[4] = (uint16_t)(512 * d->secs);                  /* obsolete: bytes per track */
    id[5] = 512;                                        /* obsolete: bytes per sector */
    id[6] = d->secs;
    atapi_fill_words(id, 10, 10, d->serial);
    id[20] = 3;                                         /* obsolete buffer type, size, ECC bytes */
    id[21] = 512;
    id[22] = 4;
    atapi_fill_words(id, 23, 4, d->firmware);
    atapi_fill_words(id, 27, 20, d->model);
    id[47] = 0x8000 | IDE_MAX_MULT;
    id[49] = 0x0F00;                                    /* IORDY, IORDY disable, LBA, DMA */
    id[50] = 0x4000;
    id[51] = 0x0200;                                    /* obsolete PIO/DMA timing modes */
    id[52] = 0x0200;
    id[53] = 0x0007;                                    /* words 54-58, 64-70 and 88 valid */
    id[54] = d->cur_cyls;
    id[55] = d->cur_heads;
    id[56] = d->cur_secs;
    uint32_t chs_cap = (uint32_t)d->cur_cyls * d->cur_heads * d->cur_secs;
    id[57] = (uint16_t)chs_cap;
    id[58] = (uint16_t)(chs_cap >> 16);
    if (d->mult_count) id[59] = (uint16_t)(0x0100 | d->mult_count);
    uint32_t lba28 = d->nb_sectors > 0x0FFFFFFF ? 0x0FFFFFFF : (uint32_t)d->nb_sectors;
    id[60] = (uint16_t)lba28;
    id[61] = (uint16_t)(lba28 >> 16);
    id[63] = 0x0007;                                    /* multiword DMA 0-2 */
    if ((d->xfer_mode & 0xF8) == 0x20) id[63] |= (uint16_t)(0x100 << (d->xfer_mode & 7));
    id[64] = 0x0003;                                    /* PIO 3 and 4 */
    id[65] = id[66] = id[67] = id[68] = 120;            /* cycle times, ns */
    id[80] = 0x007E;                                    /* ATA-1 to ATA-6 */
    id[82] = 0x4028;                                    /* NOP, write cache, power management */
    id[83] = 0x7400;                                    /* FLUSH CACHE EXT, FLUSH CACHE, LBA48 */
    id[84] = 0x4000;
    id[85] = (uint16_t)(0x4008 | (d->write_cache ? 0x0020 : 0));
    id[86] = 0x3400;
    id[87] = 0x4000;
    id[88] = 0x003F;                                    /* Ultra DMA 0-5 */
    if ((d->xfer_mode & 0xF8) == 0x40) id[88] |= (uint16_t)(0x100 << (d->xfer_mode & 7));
    id[93] = reset_result(d);
    for (int k = 0; k < 4; k++) id[100 + k] = (uint16_t)(d->nb_sectors >> (16 * k));
    /* Integrity word: signature A5h, and a checksum making the 512 bytes sum to 0. */
    id[255] = 0x00A5;
    uint8_t sum = 0;
    for (int k = 0; k < 255; k++) sum = (uint8_t)(sum + (id[k] & 0xFF) + (id[k] >> 8));
    sum = (uint8_t)(sum + 0xA5);
    id[255] |= (uint16_t)((uint8_t)-sum << 8);
}

static void identify_to_buf(struct ide_drive *d, const uint16_t *id)
{
    for (int k = 0; k < 256; k++) {
        d->buf[2 * k] = (uint8_t)id[k];
        d->buf[2 * k + 1] = (uint8_t)(id[k] >> 8);
    }
}

/* ---------------------------------------------------------------------------
 * ATA commands */

static void cmd_identify(struct ide_drive *d)
{
    uint16_t id[256];
    if (d->kind == IDE_CDROM) {
        /* Packet devices abort and show their signature (ATA-6 8.15.5). */
        ide_set_signature(d);
        d->select = (uint8_t)(d->unit << 4);
        command_abort(d);
        return;
    }
    ata_identify(d, id);
    identify_to_buf(d, id);
    ide_pio_start(d, 0, 512, PIO_END_DONE, 1);
}

static void cmd_identify_packet(struct ide_drive *d)
{
    uint16_t id[256];
    atapi_identify(d, id);
    id[93] = reset_result(d);
    identify_to_buf(d, id);
    ide_pio_start(d, 0, 512, PIO_END_DONE, 1);
}

static int start_request(struct ide_drive *d, int lba48)
{
    uint32_t count = request_count(d, lba48);
    uint64_t lba;
    if (request_address(d, lba48, count, &lba)) {
        command_error(d, ERR_IDNF);
        return -1;
    }
    d->standby = 0;
    d->lba = lba;
    d->remaining = count;
    return 0;
}

static void cmd_read_pio(struct ide_drive *d, int lba48, int multiple)
{
    if (multiple && !d->mult_count) {
        command_abort(d);
        return;
    }
    if (start_request(d, lba48)) return;
    d->status = IDE_ST_BSY;
    ide_schedule(d, EV_ATA_READ_BLOCK);
}

static void cmd_write_pio(struct ide_drive *d, int lba48, int multiple)
{
    if ((multiple && !d->mult_count) || d->blk->read_only) {
        command_abort(d);
        return;
    }
    if (start_request(d, lba48)) return;
    d->block = block_sectors(d);
    ide_pio_start(d, 0, d->block * 512, PIO_END_ATA_WRITE, 0);
}

static void cmd_dma(struct ide_drive *d, int lba48, int to_host)
{
    if (!to_host && d->blk->read_only) {
        command_abort(d);
        return;
    }
    if (start_request(d, lba48)) return;
    d->xfer_to_host = to_host;
    d->xfer_from_buf = 0;
    d->xfer_off = d->lba * 512;
    d->xfer_left = d->remaining * 512;
    ide_dma_begin(d);
}

static void cmd_verify(struct ide_drive *d, int lba48)
{
    if (start_request(d, lba48)) return;
    set_address(d, d->lba + d->remaining - 1);
    d->nsector = 0;
    command_ok(d);
}

static void cmd_seek(struct ide_drive *d)
{
    uint64_t lba;
    if (request_address(d, 0, 1, &lba)) {
        command_error(d, ERR_IDNF);
        return;
    }
    command_ok(d);
}

static void cmd_set_multiple(struct ide_drive *d)
{
    int n = d->nsector;
    /* A power of two up to word 47's maximum; 0 turns the mode off. */
    if (n > IDE_MAX_MULT || (n & (n - 1))) {
        command_abort(d);
        return;
    }
    d->mult_count = n;
    command_ok(d);
}

static void cmd_init_params(struct ide_drive *d)
{
    int heads = (d->select & 0x0F) + 1, secs = d->nsector;
    if (!secs) {
        command_abort(d);
        return;
    }
    uint64_t cyls = d->nb_sectors / ((uint64_t)heads * secs);
    d->cur_heads = (uint16_t)heads;
    d->cur_secs = (uint16_t)secs;
    d->cur_cyls = (uint16_t)(cyls > 65535 ? 65535 : cyls);
    command_ok(d);
}

static int valid_transfer_mode(uint8_t m)
{
    return m <= 0x01 || (m >= 0x08 && m <= 0x0C) || (m >= 0x20 && m <= 0x22) || (m >= 0x40 && m <= 0x45);
}

static void cmd_set_features(struct ide_drive *d)
{
    switch (d->feature) {
    case 0x03:
        if (!valid_transfer_mode(d->nsector)) break;
        d->xfer_mode = d->nsector;
        command_ok(d);
        return;
    case 0x02:
    case 0x82:
        if (d->kind != IDE_DISK) break;
        /* Turning the cache off writes it out first. */
        if (d->feature == 0x82 && blk_flush(d->blk)) break;
        d->write_cache = d->feature == 0x02;
        command_ok(d);
        return;
    case 0xAA: case 0x55:       /* read look-ahead on/off */
    case 0x66: case 0xCC:       /* keep / revert to power-on defaults at reset */
        command_ok(d);
        return;
    default:
        ide_log_once(d->ch->ctl, d->ch->ctl->logged_ata, d->feature, "SET FEATURES subcommand");
        break;
    }
    command_abort(d);
}

static void cmd_flush(struct ide_drive *d)
{
    if (d->kind == IDE_DISK && blk_flush(d->blk)) {
        command_abort(d);
        return;
    }
    command_ok(d);
}

static void cmd_power(struct ide_drive *d, uint8_t cmd)
{
    switch (cmd) {
    case 0xE0: case 0x94: case 0xE2: case 0x96: case 0xE6: case 0x99:
        d->standby = 1;          /* STANDBY (IMMEDIATE); SLEEP is taken as standby */
        break;
    case 0xE1: case 0x95: case 0xE3: case 0x97:
        d->standby = 0;          /* IDLE (IMMEDIATE) */
        break;
    case 0xE5: case 0x98:
        d->nsector = d->standby ? 0x00 : 0xFF;   /* CHECK POWER MODE */
        break;
    }
    command_ok(d);
}

static int disk_only(uint8_t cmd)
{
    /* RECALIBRATE 1xh and SEEK 7xh are whole rows of opcodes. */
    if ((cmd & 0xF0) == 0x10 || (cmd & 0xF0) == 0x70) return 1;
    switch (cmd) {
    case 0x20: case 0x21: case 0x24: case 0x25: case 0x29:
    case 0x30: case 0x31: case 0x34: case 0x35: case 0x39:
    case 0x40: case 0x41: case 0x42:
    case 0x91: case 0xC4: case 0xC5: case 0xC6: case 0xC8: case 0xC9: case 0xCA: case 0xCB:
    case 0xEA:
        return 1;
    default:
        return 0;
    }
}

static void execute(struct ide_drive *d, uint8_t cmd)
{
    if (d->kind == IDE_CDROM && disk_only(cmd)) {
        command_abort(d);
        return;
    }
    if ((cmd & 0xF0) == 0x10) {                               /* RECALIBRATE */
        command_ok(d);
        return;
    }
    if ((cmd & 0xF0) == 0x70) {                               /* SEEK */
        cmd_seek(d);
        return;
    }
    switch (cmd) {
    case 0x00: command_abort(d); break;                       /* NOP always aborts */
    case 0x08:                                                /* DEVICE RESET */
        if (d->kind != IDE_CDROM) command_abort(d);
        else drive_reset(d, 0);                               /* no interrupt (ATA-6 8.7) */
        break;
    case 0x20: case 0x21: cmd_read_pio(d, 0, 0); break;
    case 0x24: cmd_read_pio(d, 1, 0); break;
    case 0x29: cmd_read_pio(d, 1, 1); break;
    case 0xC4: cmd_read_pio(d, 0, 1); break;
    case 0x30: case 0x31: cmd_write_pio(d, 0, 0); break;
    case 0x34: cmd_write_pio(d, 1, 0); break;
    case 0x39: cmd_write_pio(d, 1, 1); break;
    case 0xC5: cmd_write_pio(d, 0, 1); break;
    case 0xC8: case 0xC9: cmd_dma(d, 0, 1); break;
    case 0x25: cmd_dma(d, 1, 1); break;
    case 0xCA: case 0xCB: cmd_dma(d, 0, 0); break;
    case 0x35: cmd_dma(d, 1, 0); break;
    case 0x40: case 0x41: cmd_verify(d, 0); break;
    case 0x42: cmd_verify(d, 1); break;
    case 0x91: cmd_init_params(d); break;
    case 0xA0:
        if (d->kind == IDE_CDROM) atapi_packet_command(d);
        else command_abort(d);
        break;
    case 0xA1:
        if (d->kind == IDE_CDROM) cmd_identify_packet(d);
        else command_abort(d);
        break;
    case 0xC6: cmd_set_multiple(d); break;
    case 0xE0: case 0xE1: case 0xE2: case 0xE3: case 0xE5: case 0xE6:
    case 0x94: case 0x95: case 0x96: case 0x97: case 0x98: case 0x99:
        cmd_power(d, cmd);
        break;
    case 0xE7: case 0xEA: cmd_flush(d); break;
    case 0xEC: cmd_identify(d); break;
    case 0xEF: cmd_set_features(d); break;
    default:
        ide_log_once(d->ch->ctl, d->ch->ctl->logged_ata, cmd, "ATA command");
        command_abort(d);
        break;
    }
}

static void write_command(struct ide_channel *ch, uint8_t cmd)
{
    struct ide_drive *d = selected(ch);
    if (cmd == 0x90) {                      /* EXECUTE DEVICE DIAGNOSTIC: both devices */
        if (!channel_empty(ch) && !(d->status & IDE_ST_BSY)) execute_diagnostic(ch);
        return;
    }
    if (d->kind == IDE_NONE) return;
    /* Only DEVICE RESET reaches a busy packet device (ATA-6 8.7). */
    if ((d->status & IDE_ST_BSY) && !(d->kind == IDE_CDROM && cmd == 0x08)) return;
    cancel_command(d);
    clear_irq(d);
    d->cmd = cmd;
    d->error = 0;
    execute(d, cmd);
}

static void run_event(struct ide_drive *d)
{
    enum ide_event ev = d->event;
    d->event = EV_NONE;
    switch (ev) {
    case EV_ATA_READ_BLOCK: ata_read_block(d); break;
    case EV_ATA_WRITE_DONE: ata_write_block_done(d); break;
    case EV_DMA: dma_run(d); break;
    case EV_ATAPI_BLOCK: atapi_next_block(d); break;
    case EV_NONE: break;
    }
}

/* ---------------------------------------------------------------------------
 * Register file (ATA-6 7.1) */

static uint8_t read_register(struct ide_channel *ch, int reg)
{
    if (channel_empty(ch)) return 0xFF;        /* nothing drives the bus */
    struct ide_drive *d = selected(ch);
    if (d->kind == IDE_NONE) return 0;         /* device 0 does not answer for an absent device 1 */
    int hob = (ch->devctl & DC_HOB) != 0;
    switch (reg) {
    case 1: return d->error;
    case 2: return hob ? d->hob_nsector : d->nsector;
    case 3: return hob ? d->hob_sector : d->sector;
    case 4: return hob ? d->hob_lcyl : d->lcyl;
    case 5: return hob ? d->hob_hcyl : d->hcyl;
    case 6: return d->select;
    case 7:
        clear_irq(d);                          /* reading Status acknowledges the interrupt */
        return d->status;
    default: return 0xFF;
    }
}

static void write_register(struct ide_channel *ch, int reg, uint8_t val)
{
    if (reg == 7) {
        write_command(ch, val);
        return;
    }
    /* Writes while the selected device is busy are ignored (ATA-6 7.1). */
    if (selected(ch)->kind != IDE_NONE && (selected(ch)->status & IDE_ST_BSY)) return;
    ch->devctl &= (uint8_t)~DC_HOB;            /* any register write clears HOB */
    for (int u = 0; u < 2; u++) {
        struct ide_drive *d = &ch->drive[u];
        switch (reg) {
        case 1: d->hob_feature = d->feature; d->feature = val; break;
        case 2: d->hob_nsector = d->nsector; d->nsector = val; break;
        case 3: d->hob_sector = d->sector; d->sector = val; break;
        case 4: d->hob_lcyl = d->lcyl; d->lcyl = val; break;
        case 5: d->hob_hcyl = d->hcyl; d->hcyl = val; break;
        case 6: d->select = val; break;
        }
    }
    if (reg == 6) {
        ch->cur = (val >> 4) & 1;
        update_irq(ch);
    }
}

static uint32_t command_block_read(void *opaque, uint16_t port, int size)
{
    struct ide_channel *ch = opaque;
    int reg = port - ch->cmd_base;
    if (reg == 0) return data_read(ch, size);
    uint32_t v = 0;
    for (int k = 0; k < size; k++)
        v |= (uint32_t)(reg + k <= 7 ? read_register(ch, reg + k) : 0xFF) << (8 * k);
    return v;
}

static void command_block_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct ide_channel *ch = opaque;
    int reg = port - ch->cmd_base;
    if (reg == 0) {
        data_write(ch, val, size);
        return;
    }
    for (int k = 0; k < size && reg + k <= 7; k++) write_register(ch, reg + k, (uint8_t)(val >> (8 * k)));
}

/* Alternate Status: the status without acknowledging the interrupt. */
static uint32_t control_read(void *opaque, uint16_t port, int size)
{
    struct ide_channel *ch = opaque;
    if (channel_empty(ch)) return 0xFF;
    struct ide_drive *d = selected(ch);
    return d->kind == IDE_NONE ? 0 : d->status;
}

static void control_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    write_devctl(opaque, (uint8_t)val);
}

/* ---------------------------------------------------------------------------
 * Setup */

int ide_init(struct ide_controller *ide, struct ioports *io, struct memory *mem,
             struct vclock *clock, const struct irq_line *irq14, const struct irq_line *irq15)
{
    static const struct io_handlers command_h = { command_block_read, command_block_write, 1 | 2 | 4 };
    static const struct io_handlers control_h = { control_read, control_write, 1 };
    static const uint16_t cmd_base[2] = { 0x1F0, 0x170 }, ctl_port[2] = { 0x3F6, 0x376 };
    memset(ide, 0, sizeof(*ide));
    ide->io = io;
    ide->mem = mem;
    ide->clock = clock;
    ide->delay_ns = IDE_DEFAULT_DELAY_NS;
    for (int c = 0; c < 2; c++) {
        struct ide_channel *ch = &ide->ch[c];
        ch->ctl = ide;
        ch->index = c;
        ch->cmd_base = cmd_base[c];
        ch->ctl_port = ctl_port[c];
        const struct irq_line *line = c ? irq15 : irq14;
        if (line) ch->irq = *line;
        for (int u = 0; u < 2; u++) {
            struct ide_drive *d = &ch->drive[u];
            d->ch = ch;
            d->unit = u;
            if (clock) vtimer_init(&d->timer, clock, timer_fired, d);
        }
        if (ioports_register(io, ch->cmd_base, 8, &command_h, ch) ||
            ioports_register(io, ch->ctl_port, 1, &control_h, ch))
            return -1;
    }
    return 0;
}

static struct ide_drive *attach_slot(struct ide_controller *ide, int channel, int unit)
{
    if (channel < 0 || channel > 1 || unit < 0 || unit > 1) return NULL;
    struct ide_drive *d = &ide->ch[channel].drive[unit];
    if (d->kind != IDE_NONE) return NULL;
    snprintf(d->serial, sizeof(d->serial), "BUBBLE%02d%012d", channel * 2 + unit, 1);
    snprintf(d->firmware, sizeof(d->firmware), "1.0");
    return d;
}

int ide_attach_disk(struct ide_controller *ide, int channel, int unit, struct block_backend *b,
                    int cyls, int heads, int secs)
{
    struct ide_drive *d = attach_slot(ide, channel, unit);
    if (!d || !b || b->size < 512) return -1;
    d->kind = IDE_DISK;
    d->blk = b;
    d->nb_sectors = b->size / 512;
    snprintf(d->model, sizeof(d->model), "BUBBLE HARDDISK");
    if (cyls > 0 && heads > 0 && heads <= 16 && secs > 0 && secs <= 255 && cyls <= 65535) {
        d->cyls = (uint16_t)cyls;
        d->heads = (uint16_t)heads;
        d->secs = (uint16_t)secs;
    } else {
        /* The usual translation: 16 heads, 63 sectors, at most 16383 cylinders (ATA-6 6.2.1). */
        uint64_t c = d->nb_sectors / (16 * 63);
        d->heads = 16;
        d->secs = 63;
        d->cyls = (uint16_t)(c > 16383 ? 16383 : c ? c : 1);
    }
    drive_reset(d, 1);
    return 0;
}

int ide_attach_cdrom(struct ide_controller *ide, int channel, int unit, struct block_backend *b)
{
    struct ide_drive *d = attach_slot(ide, channel, unit);
    if (!d) return -1;
    d->kind = IDE_CDROM;
    d->blk = b;
    d->nb_sectors = b ? b->size / 2048 : 0;
    snprintf(d->model, sizeof(d->model), "BUBBLE CD-ROM");
    drive_reset(d, 1);
    return 0;
}

void ide_reset(struct ide_controller *ide)
{
    for (int c = 0; c < 2; c++) {
        struct ide_channel *ch = &ide->ch[c];
        ch->devctl = 0;
        ch->cur = 0;
        ch->bm_cmd = 0;
        ch->bm_status = 0;
        ch->bm_prd = 0;
        ch->seg_left = 0;
        ch->seg_eot = 0;
        for (int u = 0; u < 2; u++) drive_reset(&ch->drive[u], 1);
        update_irq(ch);
    }
}
