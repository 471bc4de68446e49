/* IDE: two ATA channels with a master and a slave each, ATA hard disks and
 * ATAPI CD-ROMs on block backends, and the PIIX-style bus-master DMA engine
 * (one per channel, registers at BMIBA + 8 * channel).
 *
 * References: ATA/ATAPI-6 (T13/1410D) for the protocol, registers and
 * IDENTIFY data; SFF-8020i and MMC-3 for the packet commands; the Intel
 * 82371SB (PIIX3) datasheet, 2.7, for the bus-master registers.
 *
 * Timing: a command completes (status, data, interrupt) after `delay_ns` of
 * virtual time when a clock is given and delay_ns > 0, else at once. The
 * interrupt is raised after the data is ready; the main loop must run the
 * clock's timers (vclock_run_timers) by their deadline. */
#ifndef BUBBLE_IDE_H
#define BUBBLE_IDE_H

#include <stdint.h>

#include "devices/clock.h"
#include "devices/hostif.h"
#include "devices/irq.h"

struct ioports;
struct memory;

#define IDE_BUF_SIZE      0x10000    /* one PIO block or DMA chunk */
#define IDE_MAX_MULT      16         /* sectors per block in READ/WRITE MULTIPLE */
#define IDE_DEFAULT_DELAY_NS 5000

enum ide_kind { IDE_NONE, IDE_DISK, IDE_CDROM };

/* What ends the current PIO data block. */
enum ide_pio_end {
    PIO_END_NONE,
    PIO_END_DONE,          /* IDENTIFY: nothing follows */
    PIO_END_ATA_READ,      /* next block or the end of a READ */
    PIO_END_ATA_WRITE,     /* write the block, then next or the end */
    PIO_END_PACKET,        /* the 12-byte CDB arrived */
    PIO_END_ATAPI,         /* next DRQ block of packet data or the end */
};

/* What a drive's timer does when it fires. */
enum ide_event {
    EV_NONE,
    EV_ATA_READ_BLOCK,     /* fetch the next block, DRQ + interrupt */
    EV_ATA_WRITE_DONE,     /* a block was written: next DRQ or the end */
    EV_DMA,                /* run the bus-master transfer */
    EV_ATAPI_BLOCK,        /* next packet data block (or the end) */
};

struct ide_channel;
struct ide_controller;

struct ide_drive {
    enum ide_kind kind;
    struct block_backend *blk;      /* not owned; NULL = no medium (CD-ROM) */
    struct ide_channel *ch;
    int unit;                       /* 0 master, 1 slave */
    char model[41], serial[21], firmware[9];

    /* Task file: the current values and the previous ones (HOB, for LBA48). */
    uint8_t feature, nsector, sector, lcyl, hcyl, select;
    uint8_t hob_feature, hob_nsector, hob_sector, hob_lcyl, hob_hcyl;
    uint8_t status, error;
    int irq_pending;                /* INTRQ as the device drives it, before nIEN */

    /* Disk geometry: the default translation and the current one (INITIALIZE DEVICE PARAMETERS). */
    uint64_t nb_sectors;            /* 512-byte sectors, or 2048-byte for a CD-ROM */
    uint16_t cyls, heads, secs;
    uint16_t cur_cyls, cur_heads, cur_secs;
    int mult_count;                 /* READ/WRITE MULTIPLE block, 0 = disabled */
    int write_cache;                /* off: every write is flushed */
    uint8_t xfer_mode;              /* SET FEATURES 03h value: 0x08|pio, 0x20|mwdma, 0x40|udma */
    int standby;

    /* The command in progress. */
    uint8_t cmd;
    int lba48;
    int chs;                        /* addressed by cylinder/head/sector */
    uint64_t lba;                   /* next sector */
    uint32_t remaining;             /* sectors still to move */
    uint32_t block;                 /* sectors in the current PIO block */

    /* PIO data window [pos, end) of buf. */
    uint8_t buf[IDE_BUF_SIZE];
    uint32_t pos, end;
    enum ide_pio_end pio_end;

    /* A transfer through the DMA engine or packet data: a byte stream from
     * the backend at xfer_off, or from buf (packet replies). */
    int dma;                        /* this command moves its data by DMA */
    int dma_waiting;                /* waiting for the bus master to run */
    int xfer_to_host;
    int xfer_from_buf;
    uint64_t xfer_off;
    uint32_t xfer_left;
    uint32_t xfer_buf_pos;

    struct vtimer timer;
    enum ide_event event;

    /* ATAPI. */
    uint8_t cdb[12];
    uint32_t byte_limit;            /* byte count limit of the PACKET command */
    uint8_t sense_key, asc, ascq;
    int unit_attention;             /* 6/28h waits for the next command */
    int tray_open, locked;
    uint8_t media_event;            /* GET EVENT STATUS NOTIFICATION media event to report */
};

struct ide_channel {
    struct ide_controller *ctl;
    int index;
    struct ide_drive drive[2];
    int cur;                        /* the selected drive (DEV bit) */
    uint8_t devctl;                 /* nIEN, SRST, HOB */
    struct irq_line irq;
    int irq_out;
    uint16_t cmd_base, ctl_port;
    /* Bus-master IDE registers (PIIX3 2.7.1-2.7.3). */
    uint8_t bm_cmd, bm_status;
    uint32_t bm_prd;
    /* Position in the PRD table. */
    uint32_t prd_next, seg_addr, seg_left;
    int seg_eot;
};

struct ide_controller {
    struct ide_channel ch[2];
    struct ioports *io;
    struct memory *mem;
    struct vclock *clock;
    uint32_t delay_ns;
    /* The PCI command register's bus master enable (NULL: always allowed). */
    int (*dma_allowed)(void *opaque);
    void *dma_opaque;
    uint8_t logged_ata[32], logged_atapi[32];   /* unknown opcodes already reported */
    int logged_bm_reserved;
};

/* Registers the legacy ports of both channels (0x1F0-0x1F7 + 0x3F6, and
 * 0x170-0x177 + 0x376) and takes the IRQ 14 and 15 lines. `clock` may be NULL. */
int ide_init(struct ide_controller *ide, struct ioports *io, struct memory *mem,
             struct vclock *clock, const struct irq_line *irq14, const struct irq_line *irq15);
/* A hard disk on `b` (not owned; the caller closes it at exit, which flushes).
 * cyls/heads/secs 0 = the usual 16-head, 63-sector translation. */
int ide_attach_disk(struct ide_controller *ide, int channel, int unit, struct block_backend *b,
                    int cyls, int heads, int secs);
/* A CD-ROM drive, with a medium (an ISO image, 2048-byte sectors) or empty. */
int ide_attach_cdrom(struct ide_controller *ide, int channel, int unit, struct block_backend *b);
/* The host swaps the CD: returns the previous medium (the caller closes it).
 * The guest then sees UNIT ATTENTION (6/28h) and a new-media event, or
 * NOT READY (2/3Ah) when `b` is NULL. */
struct block_backend *ide_cdrom_change(struct ide_controller *ide, int channel, int unit,
                                       struct block_backend *b);
/* Hardware reset (power-on state; attached media stay). */
void ide_reset(struct ide_controller *ide);
/* Bus-master registers: `off` 0-15 inside the BAR (channel = off / 8). */
uint32_t ide_bm_read(struct ide_controller *ide, uint32_t off, int size);
void ide_bm_write(struct ide_controller *ide, uint32_t off, uint32_t val, int size);

/* ---------------------------------------------------------------------------
 * Shared between ide.c and ide_atapi.c only. */
#define IDE_ST_BSY  0x80
#define IDE_ST_DRDY 0x40
#define IDE_ST_DF   0x20
#define IDE_ST_DSC  0x10
#define IDE_ST_DRQ  0x08
#define IDE_ST_ERR  0x01
#define IDE_ERR_ABRT 0x04

void ide_raise_irq(struct ide_drive *d);
/* Offer buf[start, start + len) on the data port (DRQ), then `end` runs. */
void ide_pio_start(struct ide_drive *d, uint32_t start, uint32_t len, enum ide_pio_end end, int irq);
void ide_schedule(struct ide_drive *d, enum ide_event ev);
void ide_dma_begin(struct ide_drive *d);
void ide_set_signature(struct ide_drive *d);
void ide_log_once(struct ide_controller *ide, uint8_t *bitmap, uint8_t opcode, const char *what);

void atapi_identify(struct ide_drive *d, uint16_t *id);
void atapi_packet_command(struct ide_drive *d);
void atapi_cdb_received(struct ide_drive *d);
void atapi_next_block(struct ide_drive *d);
void atapi_transfer_done(struct ide_drive *d);
void atapi_fill_words(uint16_t *id, int first, int count, const char *s);

#endif
