/* Disks: INT 13h for floppies, hard disks and the CD-ROM (CHS calls, the
 * enhanced disk drive extensions 41h-48h, El Torito 4Bh), and the boot
 * (INT 19h) from the boot order.
 *
 * INT 13h reaches the images directly through their block backends, not
 * through the emulated controllers: the guest sees the same bytes either way.
 * References: IBM PC/AT Technical Reference (INT 13h, BDA 0441h/0474h-0477h),
 * Phoenix "BIOS Enhanced Disk Drive Specification" 1.1/3.0 and T13 EDD 3.0
 * (D1386), and the "El Torito" Bootable CD-ROM Format Specification 1.0. */
#include <errno.h>
#include <string.h>

#include "bios/bios_internal.h"
#include "cpu/memory.h"
#include "devices/hostif.h"

/* INT 13h status codes (AH). */
#define DISK_OK            0x00
#define DISK_BAD_COMMAND   0x01
#define DISK_WRITE_PROTECT 0x03
#define DISK_NOT_FOUND     0x04
#define DISK_MEDIA_CHANGED 0x06
#define DISK_BAD_ECC       0x10
#define DISK_CONTROLLER    0x20
#define DISK_TIMEOUT       0x80
#define DISK_NOT_READY     0xAA
#define DISK_WRITE_FAULT   0xCC

#define BDA_FD_STATUS 0x41
#define BDA_HD_STATUS 0x74
#define BDA_HD_COUNT  0x75

#define CD_DRIVE 0xE0
#define EBDA_FDPT0 0x3D
#define EBDA_FDPT1 0x4D
#define EBDA_DPTE  0x100       /* 16 bytes per IDE position */

/* ---------------------------------------------------------------------------
 * Geometry. */

struct fd_format {
    uint32_t sectors;
    uint8_t cyls, heads, spt, type;   /* type: CMOS drive type that reads it */
};

/* By image size; the first that holds the image is used for odd sizes. */
static const struct fd_format fd_formats[] = {
    { 320, 40, 1, 8, 1 },      /* 160 KB */
    { 360, 40, 1, 9, 1 },      /* 180 KB */
    { 640, 40, 2, 8, 1 },      /* 320 KB */
    { 720, 40, 2, 9, 1 },      /* 360 KB */
    { 1440, 80, 2, 9, 3 },     /* 720 KB */
    { 2400, 80, 2, 15, 2 },    /* 1.2 MB */
    { 2880, 80, 2, 18, 4 },    /* 1.44 MB */
    { 3360, 80, 2, 21, 4 },    /* 1.68 MB (DMF) */
    { 3444, 82, 2, 21, 4 },    /* 1.72 MB */
    { 5760, 80, 2, 36, 5 },    /* 2.88 MB */
};

static const struct fd_format *fd_format_of(uint64_t sectors)
{
    size_t n = sizeof(fd_formats) / sizeof(fd_formats[0]);
    for (size_t k = 0; k < n; k++)
        if (fd_formats[k].sectors == sectors) return &fd_formats[k];
    for (size_t k = 0; k < n; k++)
        if (fd_formats[k].sectors >= sectors) return &fd_formats[k];
    return &fd_formats[n - 1];
}

static void floppy_setup(struct bdisk *d, struct block_backend *blk, uint64_t base, const struct fd_format *f)
{
    memset(d, 0, sizeof(*d));
    d->type = DT_FLOPPY;
    d->blk = blk;
    d->base = base;
    d->ssize = 512;
    d->sectors = f->sectors;
    d->cyls = f->cyls;
    d->heads = f->heads;
    d->spt = f->spt;
    d->fd_type = f->type;
    d->ide_index = -1;
}

/* Bytes readable at `off` of the image (it may be shorter than its geometry). */
static int blk_read_fill(struct block_backend *blk, uint64_t off, uint8_t *buf, size_t len)
{
    size_t have = 0;
    if (off < blk->size) have = blk->size - off < len ? (size_t)(blk->size - off) : len;
    if (have) {
        int rc = blk_read(blk, off, buf, have);
        if (rc) return rc;
    }
    memset(buf + have, 0, len - have);
    return 0;
}

/* The partition table's idea of heads and sectors per track, from the ending
 * CHS of the entries (what fdisk wrote): 0 if there is no usable one. */
static int mbr_geometry(const uint8_t *mbr, uint32_t *heads, uint32_t *spt)
{
    if (mbr[510] != 0x55 || mbr[511] != 0xAA) return 0;
    for (int k = 0; k < 4; k++) {
        const uint8_t *e = mbr + 0x1BE + 16 * k;
        if (e[4] == 0) continue;
        uint32_t h = e[5] + 1u, s = e[6] & 0x3Fu;
        if ((e[0] & 0x7F) || s == 0 || h < 1) continue;
        *heads = h;
        *spt = s;
        return 1;
    }
    return 0;
}

/* Logical geometry for CHS calls: from the partition table when it has one,
 * else LBA-assisted translation (heads 16, 32, 64, 128, 255 with 63 sectors
 * until the cylinders fit in 1024). */
static void hd_geometry(struct bdisk *d, const uint8_t *mbr)
{
    uint64_t total = d->sectors;
    uint32_t heads = 0, spt = 0;
    if (!mbr || !mbr_geometry(mbr, &heads, &spt)) {
        static const uint32_t try_heads[] = { 16, 32, 64, 128, 255 };
        spt = 63;
        for (size_t k = 0; k < sizeof(try_heads) / sizeof(try_heads[0]); k++) {
            heads = try_heads[k];
            if (total / (heads * spt) <= 1024) break;
        }
    }
    uint64_t cyls = total / (heads * spt);
    if (cyls > 1024) cyls = 1024;
    if (cyls == 0) cyls = 1;
    d->cyls = (uint32_t)cyls;
    d->heads = heads;
    d->spt = spt;
}

static void harddisk_setup(struct bdisk *d, struct block_backend *blk, int ide_index)
{
    memset(d, 0, sizeof(*d));
    d->type = DT_HD;
    d->blk = blk;
    d->ssize = 512;
    d->sectors = blk->size / 512;
    d->ide_index = ide_index;
    uint8_t mbr[512];
    int have = blk->size >= 512 && blk_read(blk, 0, mbr, 512) == 0;
    hd_geometry(d, have ? mbr : NULL);
}

/* ---------------------------------------------------------------------------
 * The drive lists: the real drives, with an El Torito image in front when one
 * is emulated (it takes number 00h or 80h and the others move up). */

struct drive_lists {
    struct bdisk fd[BIOS_MAX_FD];
    int nfd;
    struct bdisk hd[BIOS_MAX_HD];
    int nhd;
};

static void real_drives(struct bios *b, struct drive_lists *l)
{
    memset(l, 0, sizeof(*l));
    for (int k = 0; k < BIOS_MAX_FD; k++) {
        struct block_backend *blk = b->cfg.fd[k];
        if (!blk) continue;
        floppy_setup(&l->fd[l->nfd++], blk, 0, fd_format_of(blk->size / 512));
    }
    for (int k = 0; k < BIOS_MAX_HD; k++) {
        struct block_backend *blk = b->cfg.hd[k];
        if (!blk || blk->size < 512) continue;
        harddisk_setup(&l->hd[l->nhd++], blk, k);
    }
}

static void update_bda_counts(struct bios *b)
{
    uint16_t equip = bda_r16(b, 0x10) & (uint16_t)~0x00C1u;
    if (b->nfd) equip |= (uint16_t)(0x0001 | ((b->nfd - 1) << 6));
    bda_w16(b, 0x10, equip);
    bda_w8(b, BDA_HD_COUNT, (uint8_t)b->nhd);
}

/* Rebuild the live lists: the real drives and the emulated one (`emu`, NULL for none). */
static void set_drives(struct bios *b, const struct bdisk *emu)
{
    struct drive_lists l;
    real_drives(b, &l);
    b->nfd = 0;
    b->nhd = 0;
    if (emu && emu->type == DT_FLOPPY) b->fd[b->nfd++] = *emu;
    for (int k = 0; k < l.nfd && b->nfd < BIOS_MAX_FD; k++) b->fd[b->nfd++] = l.fd[k];
    if (emu && emu->type == DT_HD) b->hd[b->nhd++] = *emu;
    for (int k = 0; k < l.nhd; k++) b->hd[b->nhd++] = l.hd[k];
    update_bda_counts(b);
}

static struct bdisk *drive_of(struct bios *b, uint8_t dl)
{
    if (dl < 0x80) return dl < b->nfd ? &b->fd[dl] : NULL;
    if (dl < 0xE0) return dl - 0x80 < b->nhd ? &b->hd[dl - 0x80] : NULL;
    if (dl == CD_DRIVE && b->cd.type == DT_CDROM) return &b->cd;
    return NULL;
}

/* ---------------------------------------------------------------------------
 * POST. */

static void write_fdpt(struct bios *b, uint32_t off, const struct bdisk *d)
{
    /* IBM fixed disk parameter table with the logical geometry. */
    uint8_t t[16];
    memset(t, 0, sizeof(t));
    put16(t + 0, (uint16_t)d->cyls);
    t[2] = (uint8_t)d->heads;
    put16(t + 5, 0xFFFF);                      /* no write precompensation */
    t[8] = d->heads > 8 ? 0x08 : 0x00;         /* control byte: more than 8 heads */
    put16(t + 12, (uint16_t)d->cyls);          /* landing zone */
    t[14] = (uint8_t)d->spt;
    memory_write(b->mem, ebda_addr(b, off), t, sizeof(t));
}

static void cmos_disk_fields(struct bios *b)
{
    uint8_t fdtypes = 0;
    for (int k = 0; k < b->nfd && k < 2; k++) fdtypes |= (uint8_t)(b->fd[k].fd_type << (k ? 0 : 4));
    cmos_write(b, 0x10, fdtypes);
    uint8_t hdtypes = 0;
    for (int k = 0; k < b->nhd && k < 2; k++) {
        const struct bdisk *d = &b->hd[k];
        hdtypes |= (uint8_t)(k ? 0x0F : 0xF0);
        cmos_write(b, (uint8_t)(0x19 + k), 47);    /* user-defined type; parameters follow */
        /* The drive's default (16-head, 63-sector) geometry, as an IDE drive reports it. */
        uint64_t c = d->sectors / (16 * 63);
        if (c > 16383) c = 16383;
        uint8_t base = k ? 0x24 : 0x1B;
        cmos_write(b, base, (uint8_t)c);
        cmos_write(b, (uint8_t)(base + 1), (uint8_t)(c >> 8));
        cmos_write(b, (uint8_t)(base + 2), 16);
        cmos_write(b, (uint8_t)(base + 3), 0xFF);
        cmos_write(b, (uint8_t)(base + 4), 0xFF);
        cmos_write(b, (uint8_t)(base + 5), 0xC0 | (16 > 8 ? 0x08 : 0));
        cmos_write(b, (uint8_t)(base + 6), (uint8_t)c);
        cmos_write(b, (uint8_t)(base + 7), (uint8_t)(c >> 8));
        cmos_write(b, (uint8_t)(base + 8), 63);
    }
    cmos_write(b, 0x12, hdtypes);
    uint8_t equip = cmos_read(b, 0x14) & 0x3C & ~0x30;   /* bits 4-5 = 00: EGA/VGA */
    if (b->nfd) equip |= (uint8_t)(0x01 | ((b->nfd - 1) << 6));
    if (b->cpu_features & 1) equip |= 0x02;
    cmos_write(b, 0x14, equip);
}

void disk_post(struct bios *b)
{
    memset(&b->emu, 0, sizeof(b->emu));
    set_drives(b, NULL);
    memset(&b->cd, 0, sizeof(b->cd));
    if (b->cfg.cdrom) {
        b->cd.type = DT_CDROM;
        b->cd.blk = b->cfg.cdrom;
        b->cd.ssize = 2048;
        b->cd.sectors = b->cfg.cdrom->size / 2048;
        b->cd.ide_index = b->cfg.cdrom_ide_index;
    }
    bda_w8(b, BDA_FD_STATUS, 0);
    bda_w8(b, BDA_HD_STATUS, 0);
    bda_w8(b, 0x3E, 0);             /* recalibrate status */
    bda_w8(b, 0x3F, 0);             /* motors off */
    bda_w8(b, 0x40, 0);
    bda_w8(b, 0x8B, 0);             /* last data rate */
    for (int k = 0; k < 2; k++) {
        /* Media state: established, with the data rate of its type (bits 7-6: 00 500, 01 300, 10 250 kbit/s, 11 1 Mbit/s). */
        uint8_t state = 0;
        if (k < b->nfd) {
            static const uint8_t rate[6] = { 0, 0x80, 0x00, 0x80, 0x00, 0xC0 };
            state = (uint8_t)(0x17 | rate[b->fd[k].fd_type]);
        }
        bda_w8(b, (uint8_t)(0x90 + k), state);
    }
    bda_w8(b, 0x76, 0xC0);          /* hard disk control byte */
    bda_w8(b, 0x77, 0);
    /* INT 41h and 46h: parameter tables of the first two hard disks. */
    for (int k = 0; k < 2; k++) {
        uint32_t off = k ? EBDA_FDPT1 : EBDA_FDPT0;
        uint32_t vec = k ? 0x46 * 4 : 0x41 * 4;
        if (k < b->nhd) {
            write_fdpt(b, off, &b->hd[k]);
            phys_w16(b, vec, (uint16_t)off);
            phys_w16(b, vec + 2, b->ebda_seg);
        } else {
            phys_w32(b, vec, 0);
        }
    }
    cmos_disk_fields(b);
}

/* ---------------------------------------------------------------------------
 * Transfers. */

static uint8_t io_status(int rc, int write)
{
    if (rc == -EROFS) return DISK_WRITE_PROTECT;
    return write ? DISK_WRITE_FAULT : DISK_BAD_ECC;
}

/* Move `count` sectors from `lba` to or from guest linear memory at `lin`.
 * Returns a status; *done is what moved. */
static uint8_t disk_xfer(struct bios *b, struct bdisk *d, uint64_t lba, uint32_t count, uint32_t lin,
                         int write, uint32_t *done)
{
    *done = 0;
    if (lba >= d->sectors || count > d->sectors - lba) return DISK_NOT_FOUND;
    if (write && (d->blk->read_only || d->type == DT_CDROM || d->emulated)) return DISK_WRITE_PROTECT;
    uint32_t per = IOBUF_SIZE / d->ssize;
    while (count) {
        uint32_t n = count < per ? count : per;
        size_t len = (size_t)n * d->ssize;
        uint64_t off = d->base + lba * d->ssize;
        if (write) {
            if (guest_read(b, lin, b->iobuf, (uint32_t)len)) return DISK_BAD_COMMAND;
            if (off + len > d->blk->size) return DISK_NOT_FOUND;     /* past the end of a short image */
            int rc = blk_write(d->blk, off, b->iobuf, len);
            if (rc) return io_status(rc, 1);
        } else {
            int rc = blk_read_fill(d->blk, off, b->iobuf, len);
            if (rc) return io_status(rc, 0);
            if (guest_write(b, lin, b->iobuf, (uint32_t)len)) return DISK_BAD_COMMAND;
        }
        lba += n;
        lin += (uint32_t)len;
        count -= n;
        *done += n;
    }
    return DISK_OK;
}

static void set_status(struct bios *b, struct regs *r, uint8_t drive, uint8_t status)
{
    bda_w8(b, drive < 0x80 ? BDA_FD_STATUS : BDA_HD_STATUS, status);
    r->a.h = status;
    if (status) r->flags |= FLAG_CF;
    else r->flags &= (uint16_t)~FLAG_CF;
}

/* CHS from CX/DH: cylinder = CH | (CL bits 7-6) << 2, sector = CL bits 5-0. */
static int chs_to_lba(const struct bdisk *d, const struct regs *r, uint64_t *lba)
{
    uint32_t cyl = r->c.h | ((uint32_t)(r->c.l & 0xC0) << 2);
    uint32_t sec = r->c.l & 0x3F, head = r->d.h;
    if (sec == 0 || sec > d->spt || head >= d->heads || cyl >= d->cyls) return -1;
    *lba = ((uint64_t)cyl * d->heads + head) * d->spt + (sec - 1);
    return 0;
}

/* AH=02h/03h/04h. */
static void chs_rw(struct bios *b, struct regs *r, struct bdisk *d, int write, int verify)
{
    uint8_t drive = r->d.l;
    uint32_t count = r->a.l;
    uint64_t lba;
    if (count == 0 || count > 128) {
        r->a.l = 0;
        set_status(b, r, drive, DISK_BAD_COMMAND);
        return;
    }
    if (chs_to_lba(d, r, &lba)) {
        r->a.l = 0;
        set_status(b, r, drive, DISK_NOT_FOUND);
        return;
    }
    uint32_t done = 0;
    uint8_t st;
    if (verify) {
        st = (lba + count <= d->sectors) ? DISK_OK : DISK_NOT_FOUND;
        done = st ? 0 : count;
    } else {
        st = disk_xfer(b, d, lba, count, rm_lin(r->es, r->b.x), write, &done);
    }
    r->a.l = (uint8_t)done;
    set_status(b, r, drive, st);
}

/* AH=05h: format a floppy track (AL sectors, CH cylinder, DH head): fill with F6h. */
static void format_track(struct bios *b, struct regs *r, struct bdisk *d)
{
    if (d->type != DT_FLOPPY) {
        set_status(b, r, r->d.l, DISK_OK);
        return;
    }
    if (d->blk->read_only || d->emulated) {
        set_status(b, r, r->d.l, DISK_WRITE_PROTECT);
        return;
    }
    if (r->c.h >= d->cyls || r->d.h >= d->heads) {
        set_status(b, r, r->d.l, DISK_NOT_FOUND);
        return;
    }
    uint64_t lba = ((uint64_t)r->c.h * d->heads + r->d.h) * d->spt;
    memset(b->iobuf, 0xF6, (size_t)d->spt * 512);
    uint64_t off = lba * 512;
    size_t len = (size_t)d->spt * 512;
    uint8_t st = DISK_OK;
    if (off + len > d->blk->size) st = DISK_NOT_FOUND;
    else if (blk_write(d->blk, off, b->iobuf, len)) st = DISK_WRITE_FAULT;
    set_status(b, r, r->d.l, st);
}

/* AH=08h: drive parameters. */
static void get_params(struct bios *b, struct regs *r, struct bdisk *d)
{
    uint8_t drive = r->d.l;
    if (drive < 2 && !d) {
        /* Drive A: or B: not installed: success with zeros (what DOS expects). */
        r->a.x = 0;
        r->b.x = 0;
        r->c.x = 0;
        r->d.h = 0;
        r->d.l = (uint8_t)b->nfd;
        r->es = 0;
        r->edi &= 0xFFFF0000u;
        set_status(b, r, drive, DISK_OK);
        return;
    }
    if (!d || d->type == DT_CDROM) {
        set_status(b, r, drive, DISK_BAD_COMMAND);
        return;
    }
    uint32_t maxcyl = d->cyls - 1;
    if (maxcyl > 1023) maxcyl = 1023;
    r->c.h = (uint8_t)maxcyl;
    r->c.l = (uint8_t)((d->spt & 0x3F) | ((maxcyl >> 2) & 0xC0));
    r->d.h = (uint8_t)(d->heads - 1);
    if (d->type == DT_FLOPPY) {
        r->d.l = (uint8_t)b->nfd;
        r->b.h = 0;
        r->b.l = d->fd_type;
        r->es = 0xF000;
        r->edi = (r->edi & 0xFFFF0000u) | b->dir.dpt[d->fd_type <= 5 ? d->fd_type : 4];
    } else {
        r->d.l = (uint8_t)b->nhd;
    }
    r->a.l = 0;
    set_status(b, r, drive, DISK_OK);
}

/* AH=15h: drive type; AH on return is the type, not a status. */
static void get_type(struct bios *b, struct regs *r, struct bdisk *d)
{
    r->flags &= (uint16_t)~FLAG_CF;
    if (!d) {
        r->a.h = 0;                                /* no such drive */
        return;
    }
    if (d->type == DT_FLOPPY) {
        r->a.h = 0x02;                             /* floppy with change line */
    } else if (d->type == DT_CDROM) {
        r->a.h = 0x02;
    } else {
        uint64_t n = (uint64_t)d->cyls * d->heads * d->spt;
        r->a.h = 0x03;                             /* fixed disk; CX:DX = sectors */
        r->c.x = (uint16_t)(n >> 16);
        r->d.x = (uint16_t)n;
    }
    bda_w8(b, r->d.l < 0x80 ? BDA_FD_STATUS : BDA_HD_STATUS, 0);
}

/* ---------------------------------------------------------------------------
 * Extensions (EDD). */

/* AH=42h/43h/44h/47h: the disk address packet at DS:SI. */
static void ext_rw(struct bios *b, struct regs *r, struct bdisk *d, int write, int check_only)
{
    uint8_t drive = r->d.l;
    uint32_t dap_lin = rm_lin(r->ds, r->esi & 0xFFFF);
    uint8_t dap[0x18];
    memset(dap, 0, sizeof(dap));
    if (guest_read(b, dap_lin, dap, 0x10) || dap[0] < 0x10) {
        set_status(b, r, drive, DISK_BAD_COMMAND);
        return;
    }
    uint16_t count = get16(dap + 2);
    uint16_t off = get16(dap + 4), seg = get16(dap + 6);
    uint64_t lba = get64(dap + 8);
    uint32_t lin = rm_lin(seg, off);
    if (off == 0xFFFF && seg == 0xFFFF && dap[0] >= 0x18) {
        /* EDD 3.0: a 64-bit flat buffer address follows. */
        if (guest_read(b, dap_lin + 0x10, dap + 0x10, 8) || get32(dap + 0x14)) {
            set_status(b, r, drive, DISK_BAD_COMMAND);
            return;
        }
        lin = get32(dap + 0x10);
    }
    if (check_only) {
        uint8_t st = lba < d->sectors && count <= d->sectors - lba ? DISK_OK : DISK_NOT_FOUND;
        set_status(b, r, drive, st);
        return;
    }
    uint32_t done = 0;
    uint8_t st = count ? disk_xfer(b, d, lba, count, lin, write, &done) : DISK_OK;
    if (done != count) {
        uint8_t c[2];
        put16(c, (uint16_t)done);
        guest_write(b, dap_lin + 2, c, 2);
    }
    set_status(b, r, drive, st);
}

static void write_dpte(struct bios *b, const struct bdisk *d, uint32_t off)
{
    int ch = d->ide_index / 2, unit = d->ide_index & 1;
    uint8_t t[16];
    memset(t, 0, sizeof(t));
    put16(t + 0, ch ? 0x170 : 0x1F0);
    put16(t + 2, ch ? 0x376 : 0x3F6);
    t[4] = (uint8_t)(0xA0 | (unit << 4) | 0x40);      /* LBA */
    t[6] = (uint8_t)(ch ? 15 : 14);
    t[7] = 1;                                         /* sectors per block */
    uint16_t options = 0;
    if (d->type == DT_CDROM) options |= 0x0060;       /* ATAPI, removable */
    else options |= 0x0008;                           /* LBA translation */
    put16(t + 10, options);
    t[14] = 0x11;                                     /* revision */
    uint8_t sum = 0;
    for (int k = 0; k < 15; k++) sum = (uint8_t)(sum + t[k]);
    t[15] = (uint8_t)-sum;
    memory_write(b->mem, ebda_addr(b, off), t, sizeof(t));
}

/* AH=48h: drive parameters into the buffer at DS:SI, as long as the caller's
 * size word allows: 1Ah (EDD 1.1), 1Eh (+ DPTE pointer), 4Ah (+ device path, T13 EDD 3.0). */
static void ext_params(struct bios *b, struct regs *r, struct bdisk *d)
{
    uint8_t drive = r->d.l;
    uint32_t lin = rm_lin(r->ds, r->esi & 0xFFFF);
    uint8_t p[0x4A];
    memset(p, 0, sizeof(p));
    if (guest_read(b, lin, p, 2)) {
        set_status(b, r, drive, DISK_BAD_COMMAND);
        return;
    }
    uint16_t size = get16(p);
    if (size < 0x1A) {
        set_status(b, r, drive, DISK_BAD_COMMAND);
        return;
    }
    uint16_t flags = 0;
    if (d->type == DT_CDROM) {
        flags = 0x0004 | 0x0010 | 0x0020;             /* removable, change line, lockable */
        put32(p + 4, 0xFFFFFFFFu);
        put32(p + 8, 0xFFFFFFFFu);
        put32(p + 12, 0xFFFFFFFFu);
    } else {
        flags = 0x0002;                               /* the geometry is valid */
        if (d->type == DT_FLOPPY) flags |= 0x0004 | 0x0010;
        put32(p + 4, d->cyls);
        put32(p + 8, d->heads);
        put32(p + 12, d->spt);
    }
    put16(p + 2, flags);
    put64(p + 16, d->sectors);
    put16(p + 24, (uint16_t)d->ssize);
    uint16_t out = 0x1A;
    if (size >= 0x1E) {
        if (d->ide_index >= 0 && !d->emulated) {
            uint32_t off = EBDA_DPTE + 16u * (uint32_t)d->ide_index;
            write_dpte(b, d, off);
            put16(p + 26, (uint16_t)off);
            put16(p + 28, b->ebda_seg);
        } else {
            put32(p + 26, 0xFFFFFFFFu);
        }
        out = 0x1E;
    }
    if (size >= 0x4A && d->ide_index >= 0 && !d->emulated) {
        int ch = d->ide_index / 2, unit = d->ide_index & 1;
        put16(p + 0x1E, 0xBEDD);                      /* device path present */
        p[0x20] = 0x2C;                               /* its length, from the key to the checksum */
        if (b->have_ide) {
            memcpy(p + 0x24, "PCI ", 4);
            p[0x30] = b->ide_bus;
            p[0x31] = (uint8_t)(b->ide_devfn >> 3);
            p[0x32] = (uint8_t)(b->ide_devfn & 7);
            p[0x33] = (uint8_t)ch;
        } else {
            memcpy(p + 0x24, "ISA ", 4);
            put16(p + 0x30, ch ? 0x170 : 0x1F0);
        }
        memcpy(p + 0x28, d->type == DT_CDROM ? "ATAPI   " : "ATA     ", 8);
        p[0x38] = (uint8_t)unit;
        uint8_t sum = 0;
        for (int k = 0x1E; k < 0x49; k++) sum = (uint8_t)(sum + p[k]);
        p[0x49] = (uint8_t)-sum;
        out = 0x4A;
    }
    put16(p, out);
    if (guest_write(b, lin, p, out)) {
        set_status(b, r, drive, DISK_BAD_COMMAND);
        return;
    }
    set_status(b, r, drive, DISK_OK);
}

/* ---------------------------------------------------------------------------
 * El Torito (INT 13h AH=4Bh): AL=00h terminate emulation, AL=01h status; the
 * specification packet (13h bytes) goes to DS:SI. */

static void eltorito_call(struct bios *b, struct regs *r)
{
    uint8_t drive = r->d.l;
    if (r->a.l > 1) {
        bios_unimpl(b, 0x13, r);
        set_status(b, r, drive, DISK_BAD_COMMAND);
        return;
    }
    int match = b->emu.booted && (drive == b->emu.drive || (r->a.l == 0 && drive == 0x7F));
    if (!match) {
        set_status(b, r, drive, DISK_BAD_COMMAND);
        return;
    }
    uint8_t p[0x13];
    memset(p, 0, sizeof(p));
    p[0] = 0x13;
    p[1] = b->emu.media;
    p[2] = b->emu.drive;
    p[3] = (uint8_t)(b->cd.ide_index / 2);            /* controller index */
    put32(p + 4, b->emu.lba);
    put16(p + 8, (uint16_t)(b->cd.ide_index & 1));    /* device: master or slave */
    put16(p + 12, b->emu.load_seg);
    put16(p + 14, b->emu.count);
    if (b->emu.active) {
        const struct bdisk *d = b->emu.media == 4 ? &b->hd[0] : &b->fd[0];
        uint32_t maxcyl = d->cyls - 1;
        p[16] = (uint8_t)maxcyl;
        p[17] = (uint8_t)((d->spt & 0x3F) | ((maxcyl >> 2) & 0xC0));
        p[18] = (uint8_t)(d->heads - 1);
    }
    if (guest_write(b, rm_lin(r->ds, r->esi & 0xFFFF), p, sizeof(p))) {
        set_status(b, r, drive, DISK_BAD_COMMAND);
        return;
    }
    if (r->a.l == 0 && b->emu.active) {
        b->emu.active = 0;
        b->emu.booted = 0;
        set_drives(b, NULL);
    }
    set_status(b, r, drive, DISK_OK);
}

/* ---------------------------------------------------------------------------
 * INT 13h. */

void disk_int13(struct bios *b, struct regs *r)
{
    uint8_t drive = r->d.l, fn = r->a.h;
    if (fn == 0x4B) {
        eltorito_call(b, r);
        return;
    }
    struct bdisk *d = drive_of(b, drive);
    if (fn == 0x08) {
        get_params(b, r, d);
        return;
    }
    if (fn == 0x15) {
        get_type(b, r, d);
        return;
    }
    if (!d) {
        set_status(b, r, drive, drive < 0x80 ? DISK_TIMEOUT : DISK_BAD_COMMAND);
        return;
    }
    int cd = d->type == DT_CDROM;
    switch (fn) {
    case 0x00:                                   /* reset */
    case 0x0D:                                   /* alternate reset */
        set_status(b, r, drive, DISK_OK);
        break;
    case 0x01: {                                 /* status of the last operation */
        uint8_t st = bda_r8(b, drive < 0x80 ? BDA_FD_STATUS : BDA_HD_STATUS);
        r->a.h = st;
        if (st) r->flags |= FLAG_CF;
        else r->flags &= (uint16_t)~FLAG_CF;
        break;
    }
    case 0x02:
    case 0x03:
    case 0x04:
        if (cd) set_status(b, r, drive, DISK_BAD_COMMAND);
        else chs_rw(b, r, d, fn == 0x03, fn == 0x04);
        break;
    case 0x05:
        format_track(b, r, d);
        break;
    case 0x09:                                   /* initialise drive parameters */
    case 0x0C:                                   /* seek */
    case 0x10:                                   /* test unit ready */
    case 0x11:                                   /* recalibrate */
    case 0x14:                                   /* controller diagnostic */
        set_status(b, r, drive, cd ? DISK_BAD_COMMAND : DISK_OK);
        break;
    case 0x16:                                   /* media change: none since the last call */
        set_status(b, r, drive, d->type == DT_FLOPPY ? DISK_OK : DISK_BAD_COMMAND);
        break;
    case 0x17:                                   /* DASD type for format */
        set_status(b, r, drive, d->type == DT_FLOPPY ? DISK_OK : DISK_BAD_COMMAND);
        break;
    case 0x18:                                   /* media type for format: ES:DI = its parameter table */
        if (d->type != DT_FLOPPY) {
            set_status(b, r, drive, DISK_BAD_COMMAND);
            break;
        }
        if ((r->c.l & 0x3F) != d->spt || (uint32_t)(r->c.h | ((r->c.l & 0xC0) << 2)) + 1 != d->cyls) {
            set_status(b, r, drive, 0x0C);       /* media type not supported */
            break;
        }
        r->es = 0xF000;
        r->edi = (r->edi & 0xFFFF0000u) | b->dir.dpt[d->fd_type <= 5 ? d->fd_type : 4];
        set_status(b, r, drive, DISK_OK);
        break;
    case 0x41:                                   /* extensions present? */
        if (r->b.x != 0x55AA) {
            set_status(b, r, drive, DISK_BAD_COMMAND);
            break;
        }
        r->b.x = 0xAA55;
        r->c.x = cd ? 0x0007 : 0x0005;           /* 42h-44h/47h/48h; 45h/46h; EDD (48h DPTE) */
        r->a.h = 0x30;                           /* EDD 3.0 */
        r->flags &= (uint16_t)~FLAG_CF;
        break;
    case 0x42:
        ext_rw(b, r, d, 0, 0);
        break;
    case 0x43:
        if (cd) set_status(b, r, drive, DISK_WRITE_PROTECT);
        else ext_rw(b, r, d, 1, 0);
        break;
    case 0x44:
    case 0x47:
        ext_rw(b, r, d, 0, 1);
        break;
    case 0x45:                                   /* lock (AL=0), unlock (1), status (2) */
        if (!cd) {
            set_status(b, r, drive, DISK_BAD_COMMAND);
            break;
        }
        if (r->a.l == 0 && d->locked < 255) d->locked++;
        else if (r->a.l == 1) {
            if (!d->locked) {
                set_status(b, r, drive, 0xB0);   /* not locked */
                break;
            }
            d->locked--;
        } else if (r->a.l > 2) {
            set_status(b, r, drive, DISK_BAD_COMMAND);
            break;
        }
        r->a.l = d->locked ? 1 : 0;
        set_status(b, r, drive, DISK_OK);
        break;
    case 0x46:                                   /* eject: the host owns the tray */
        set_status(b, r, drive, cd ? (d->locked ? 0xB1 : 0xB6) : DISK_BAD_COMMAND);
        break;
    case 0x48:
        ext_params(b, r, d);
        break;
    case 0x4E:                                   /* hardware configuration: accepted */
        set_status(b, r, drive, DISK_OK);
        break;
    default:
        bios_unimpl(b, 0x13, r);
        set_status(b, r, drive, DISK_BAD_COMMAND);
        break;
    }
}

/* ---------------------------------------------------------------------------
 * Booting (INT 19h). */

void disk_set_boot_order(struct bios *b, const char *spec)
{
    /* QEMU's -boot: [order=]drives[,once=drives][,menu=..][,strict=on|off]... */
    const char *order = "cad";
    char buf[64];
    b->strict = 0;
    if (spec && *spec) {
        snprintf(buf, sizeof(buf), "%s", spec);
        int named = strchr(buf, '=') != NULL;
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (!named) order = tok;
            else if (!strncmp(tok, "order=", 6)) order = tok + 6;
            else if (!strncmp(tok, "once=", 5)) order = tok + 5;
            else if (!strcmp(tok, "strict=on")) b->strict = 1;
        }
        /* `order` points into buf: copy it out before buf goes. */
        size_t n = 0;
        for (const char *p = order; *p && n < sizeof(b->boot_order) - 1; p++) {
            char c = *p;
            if (c == 'b') c = 'a';
            if ((c == 'a' || c == 'c' || c == 'd' || c == 'n') && !memchr(b->boot_order, c, n))
                b->boot_order[n++] = c;
        }
        b->boot_order[n] = 0;
        if (n) return;
    }
    snprintf(b->boot_order, sizeof(b->boot_order), "%s", "cad");
}

/* The boot record of a floppy or hard disk to 0000:7C00. */
static int boot_disk(struct bios *b, struct regs *r, uint8_t drive, const char *what)
{
    struct bdisk *d = drive_of(b, drive);
    if (!d) return -1;
    bios_printf(b, "Booting from %s...\n", what);
    uint32_t done;
    uint8_t st = disk_xfer(b, d, 0, 1, 0x7C00, 0, &done);
    if (st) {
        bios_printf(b, "Boot failed: could not read the boot disk (status %02Xh)\n\n", st);
        return -1;
    }
    if (d->type == DT_HD) {
        uint8_t sig[2];
        guest_read(b, 0x7DFE, sig, 2);
        if (sig[0] != 0x55 || sig[1] != 0xAA) {
            bios_printf(b, "Boot failed: not a bootable disk\n\n");
            return -1;
        }
    }
    r->b.x = 0x0000;
    r->c.x = 0x7C00;
    r->d.l = drive;
    return 0;
}

static int iso_read(struct bios *b, uint32_t lba, uint8_t *buf)
{
    if (((uint64_t)lba + 1) * 2048 > b->cd.blk->size) return -1;
    return blk_read(b->cd.blk, (uint64_t)lba * 2048, buf, 2048) ? -1 : 0;
}

/* An El Torito CD: the boot record volume descriptor (sector 17) points at
 * the boot catalog; its validation entry and initial/default entry say what
 * to load, where, and which drive to emulate. */
static int boot_cdrom(struct bios *b, struct regs *r)
{
    if (b->cd.type != DT_CDROM) return -1;
    bios_printf(b, "Booting from DVD/CD...\n");
    uint8_t *buf = b->iobuf;
    static const char elt[] = "EL TORITO SPECIFICATION";
    if (iso_read(b, 17, buf) || buf[0] != 0 || memcmp(buf + 1, "CD001", 5) || buf[6] != 1 ||
        memcmp(buf + 7, elt, sizeof(elt) - 1)) {
        bios_printf(b, "Boot failed: the CD has no El Torito boot record\n\n");
        return -1;
    }
    uint32_t catalog = get32(buf + 0x47);
    if (iso_read(b, catalog, buf) || buf[0] != 0x01 || buf[0x1E] != 0x55 || buf[0x1F] != 0xAA) {
        bios_printf(b, "Boot failed: bad El Torito boot catalog\n\n");
        return -1;
    }
    uint16_t sum = 0;
    for (int k = 0; k < 32; k += 2) sum = (uint16_t)(sum + get16(buf + k));
    if (sum) {
        bios_printf(b, "Boot failed: bad El Torito validation entry checksum\n\n");
        return -1;
    }
    const uint8_t *e = buf + 32;
    if (e[0] != 0x88) {
        bios_printf(b, "Boot failed: the CD's default entry is not bootable\n\n");
        return -1;
    }
    uint8_t media = e[1] & 0x0F;
    uint16_t load_seg = get16(e + 2) ? get16(e + 2) : 0x07C0;
    uint16_t count = get16(e + 6);
    uint32_t lba = get32(e + 8);
    if (media > 4) {
        bios_printf(b, "Boot failed: unknown El Torito media type %u\n\n", media);
        return -1;
    }
    if (count == 0) count = 1;
    uint32_t load = (uint32_t)load_seg << 4;
    if (load < 0x500 || load + count * 512u > b->base_kb * 1024u) {
        bios_printf(b, "Boot failed: the boot image does not fit at %04X:0000\n\n", load_seg);
        return -1;
    }

    memset(&b->emu, 0, sizeof(b->emu));
    b->emu.media = media;
    b->emu.lba = lba;
    b->emu.load_seg = load_seg;
    b->emu.count = count;
    uint8_t drive = CD_DRIVE;
    if (media == 0) {
        /* No emulation: the image's sectors (512-byte units) straight from the CD. */
        uint64_t off = (uint64_t)lba * 2048;
        uint32_t len = (uint32_t)count * 512;
        if (off + len > b->cd.blk->size) {
            bios_printf(b, "Boot failed: the CD boot image is past the end of the disc\n\n");
            return -1;
        }
        for (uint32_t done = 0; done < len;) {
            uint32_t n = len - done < IOBUF_SIZE ? len - done : IOBUF_SIZE;
            if (blk_read(b->cd.blk, off + done, buf, n) || guest_write(b, load + done, buf, n)) {
                bios_printf(b, "Boot failed: could not read the CD boot image\n\n");
                return -1;
            }
            done += n;
        }
    } else {
        struct bdisk emu;
        uint64_t base = (uint64_t)lba * 2048;
        if (media <= 3) {
            static const uint32_t sizes[4] = { 0, 2400, 2880, 5760 };
            floppy_setup(&emu, b->cd.blk, base, fd_format_of(sizes[media]));
            drive = 0x00;
        } else {
            uint8_t mbr[512];
            if (blk_read_fill(b->cd.blk, base, mbr, 512)) return -1;
            memset(&emu, 0, sizeof(emu));
            emu.type = DT_HD;
            emu.blk = b->cd.blk;
            emu.base = base;
            emu.ssize = 512;
            emu.ide_index = -1;
            /* The image ends with its last partition (the CD may go on after it). */
            uint64_t end = 0;
            for (int k = 0; k < 4; k++) {
                const uint8_t *pe = mbr + 0x1BE + 16 * k;
                if (pe[4]) {
                    uint64_t e2 = (uint64_t)get32(pe + 8) + get32(pe + 12);
                    if (e2 > end) end = e2;
                }
            }
            uint64_t avail = (b->cd.blk->size - base) / 512;
            emu.sectors = end && end <= avail ? end : avail;
            hd_geometry(&emu, mbr);
            emu.sectors = (uint64_t)emu.cyls * emu.heads * emu.spt;
            if (emu.sectors > avail) emu.sectors = avail;
            drive = 0x80;
        }
        emu.emulated = 1;
        set_drives(b, &emu);
        b->emu.active = 1;
        uint32_t done;
        uint8_t st = disk_xfer(b, drive_of(b, drive), 0, count, load, 0, &done);
        if (st) {
            set_drives(b, NULL);
            memset(&b->emu, 0, sizeof(b->emu));
            bios_printf(b, "Boot failed: could not read the emulated boot disk\n\n");
            return -1;
        }
    }
    b->emu.booted = 1;
    b->emu.drive = drive;
    r->b.x = load_seg;
    r->c.x = 0x0000;
    r->d.l = drive;
    return 0;
}

void disk_int19(struct bios *b, struct regs *r)
{
    if (b->cfg.boot_hook && b->cfg.boot_hook(b->cfg.boot_hook_opaque)) {
        r->b.x = 0xFFFF;                         /* the ROM waits for the machine to take over */
        r->flags &= (uint16_t)~FLAG_CF;
        return;
    }
    /* A new boot forgets an earlier CD emulation. */
    if (b->emu.active || b->emu.booted) {
        memset(&b->emu, 0, sizeof(b->emu));
        set_drives(b, NULL);
    }
    char order[16];
    snprintf(order, sizeof(order), "%s", b->boot_order);
    if (!b->strict) {
        /* Then whatever was not named, in the default order. */
        size_t n = strlen(order);
        for (const char *p = "cad"; *p; p++) {
            if (!strchr(order, *p) && n + 1 < sizeof(order)) {
                order[n++] = *p;
                order[n] = 0;
            }
        }
    }
    for (const char *p = order; *p; p++) {
        int ok = -1;
        switch (*p) {
        case 'a':
            if (b->nfd) ok = boot_disk(b, r, 0x00, "Floppy");
            break;
        case 'c':
            if (b->nhd) ok = boot_disk(b, r, 0x80, "Hard Disk");
            break;
        case 'd':
            ok = boot_cdrom(b, r);
            break;
        case 'n':
            bios_log(b, "INT 19h: network boot is not supported; skipped");
            break;
        }
        if (ok == 0) {
            r->flags &= (uint16_t)~FLAG_CF;
            return;
        }
    }
    r->flags |= FLAG_CF;
}
