/* Intel 82077AA floppy disk controller in PC/AT mode: the primary FDC at
 * 0x3F0-0x3F5 and 0x3F7 (0x3F6 belongs to the IDE channel), IRQ 6, DMA
 * channel 2, drives A: and B: on block backends (drives 2 and 3 of the
 * DOR are not installed).
 *
 * The media geometry comes from the image size: 160K, 180K, 320K, 360K,
 * 720K, 1.2M, 1.44M, 1.68M (DMF), 1.72M and 2.88M, every sector 512 bytes
 * with the standard IDs (C = physical cylinder, H = side, R = 1..spt, N = 2),
 * read only at the media's data rate (CCR/DSR). Deleted-data marks cannot be
 * kept in a raw image: every sector has a normal data mark.
 *
 * Reference: Intel 82077AA CHMOS single-chip floppy disk controller
 * datasheet (1991), and the NEC uPD765 for the command set it inherits.
 *
 * Timing: commands complete on the virtual clock after `delay_ns`, seeks
 * take `step_ns` per step, a whole multi-sector DMA transfer happens at once
 * when the command executes; the main loop must run the clock's timers.
 * Without DMA the FIFO always has the next byte (or room for it); INT comes
 * back `byte_ns` after an access while the transfer goes on, and a request
 * left unserved for `overrun_ns` ends the command with an overrun, as the
 * chip does when the host stops reading (drivers rely on it: MT reads). */
#ifndef BUBBLE_FDC82077_H
#define BUBBLE_FDC82077_H

#include <stdint.h>

#include "devices/clock.h"
#include "devices/hostif.h"
#include "devices/irq.h"

struct ioports;
struct dma;

#define FDC_BASE           0x3F0
#define FDC_IRQ            6
#define FDC_DMA_CHANNEL    2
#define FDC_DRIVES         4     /* the DOR addresses four; A: and B: exist */
#define FDC_SECTOR_SIZE    512

#define FDC_DEFAULT_DELAY_NS  20000   /* command to execution / completion */
#define FDC_DEFAULT_STEP_NS   1000    /* one head step */
#define FDC_DEFAULT_BYTE_NS   16000   /* non-DMA: one byte at 500 kbps; INT again after it */
#define FDC_DEFAULT_OVERRUN_NS 5000000 /* non-DMA: a data request unserved this long is an overrun */

enum fdc_phase { FDC_PH_COMMAND, FDC_PH_EXEC, FDC_PH_RESULT };

struct fdc;

struct fdc_drive {
    struct fdc *fdc;
    int index;
    int installed;
    struct block_backend *blk;     /* not owned; NULL = no disk in the drive */
    /* Media geometry (valid with a disk). */
    uint8_t cyls, heads, spt;
    uint8_t rate;                  /* DRATE code the media is recorded at */
    uint8_t rate_alt;              /* a second acceptable DRATE (360K in a 1.2M drive), or rate */
    uint32_t rev_ns;               /* one revolution (300 or 360 RPM) */
    /* Mechanics. */
    uint8_t pcn;                   /* the controller's present cylinder number */
    uint8_t cyl;                   /* where the head really is */
    uint8_t head;                  /* the last side selected */
    int media_changed;             /* DSKCHG: set by a media change, cleared by a step with a disk in */
    /* Seek and recalibrate: completion interrupt and status for SENSE INTERRUPT STATUS. */
    int seeking;                   /* MSR DxB: from the command until its status is sensed */
    int status_pending;
    uint8_t st0;
    struct vtimer seek_timer;
};

/* What the controller's timer does when it fires. */
enum fdc_event {
    FDC_EV_NONE,
    FDC_EV_RESET_POLL,   /* polling after a reset: ready changed on all four drives */
    FDC_EV_EXECUTE,      /* start the execution phase of the current command */
    FDC_EV_RESULT,       /* enter the result phase (after a non-DMA transfer ended) */
    FDC_EV_PIO_INT,      /* non-DMA: the data request interrupt again */
    FDC_EV_PIO_OVERRUN,  /* non-DMA: the host left the FIFO alone too long */
};

/* The data command being executed. */
struct fdc_xfer {
    uint8_t op;          /* command code (low 5 bits) */
    int drive, head;     /* physical side: starts at HDS, MT moves it to 1 */
    uint8_t c, h, r, n, eot, gpl, dtl;
    int mt, mfm, sk;
    int to_host;         /* data flows FDC -> host */
    int dma;             /* DMA mode (SPECIFY ND = 0) */
    int verify_sc;       /* VERIFY with EC = 1: sectors to verify, else -1 */
    int sectors;         /* sectors done */
    int implied_seek;
    /* Non-DMA data window: buf[pos..len). */
    int pio_ready;
    int pos, len;
    /* FORMAT TRACK: sector size code, sector count, filler, IDs received. */
    uint8_t fmt_n, fmt_sc, fmt_fill;
    int fmt_done;
    uint8_t st0, st1, st2;
};

struct fdc {
    struct ioports *io;
    struct vclock *clock;
    struct dma *dma;
    struct irq_line irq;
    struct fdc_drive drive[FDC_DRIVES];

    /* Registers. */
    uint8_t dor, tdr;
    uint8_t dsr;                   /* precompensation (bits 4-2) and DRATE (bits 1-0) */
    int in_reset;                  /* DOR bit 2 low */

    /* Command, execution and result phases. */
    enum fdc_phase phase;
    uint8_t cmd[16];
    int cmd_len, cmd_pos;
    uint8_t res[16];
    int res_len, res_pos;
    int res_clears_int;            /* reading the first result byte clears INT */
    struct fdc_xfer x;
    uint8_t buf[FDC_SECTOR_SIZE];

    /* Interrupt. */
    int int_pending;               /* the INT pin as the core drives it */
    int irq_out;                   /* what reaches the ISA line (DOR DMA gate) */
    int reset_sense_left;          /* polling statuses still to report after a reset */

    /* SPECIFY, CONFIGURE, PERPENDICULAR MODE, LOCK. */
    uint8_t specify[2];            /* SRT/HUT, HLT/ND */
    uint8_t config;                /* 0, EIS, EFIFO, POLL, FIFOTHR */
    uint8_t pretrk;
    uint8_t perp;                  /* D3-D0, GAP, WGATE */
    int lock;
    uint8_t last_eot;              /* DUMPREG byte 6 */

    struct vtimer timer;
    enum fdc_event event;
    int64_t delay_ns, step_ns, byte_ns, overrun_ns;

    uint32_t logged;               /* messages already printed (bit per kind) */
    uint8_t logged_cmd[32];        /* unknown opcodes already reported */
};

/* Claims the ports; the controller starts as after a hardware reset (DOR 0:
 * held in reset until the guest enables it). Returns 0, or -1 if a port is
 * taken. */
int fdc_init(struct fdc *f, struct ioports *io, struct vclock *clock, struct dma *dma, struct irq_line irq6);
/* Puts a disk in drive 0 or 1 (NULL: the drive is empty). Returns 0 or -1. */
int fdc_attach(struct fdc *f, int drive, struct block_backend *b);
/* Changes the disk (NULL: eject); the change line goes active. Returns the
 * previous backend (the caller closes it), NULL for a bad drive number. */
struct block_backend *fdc_change(struct fdc *f, int drive, struct block_backend *b);
/* Hardware reset (the RESET pin): everything but the SPECIFY values; the
 * DOR is cleared, so the controller is held in reset. */
void fdc_reset(struct fdc *f);

#endif
