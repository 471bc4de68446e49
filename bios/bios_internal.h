/* What the BIOS's C files share: the state, the caller's registers as a trap
 * sees them, guest memory and port helpers. Not for the rest of the emulator. */
#ifndef BUBBLE_BIOS_INTERNAL_H
#define BUBBLE_BIOS_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "bios/bios.h"
#include "bios/trap.h"

/* ---------------------------------------------------------------------------
 * The caller's registers. reg_t gives the 32-, 16- and 8-bit views. */
typedef union {
    uint32_t e;
    uint16_t x;
    struct { uint8_t l, h; };
} reg_t;

struct regs {
    reg_t a, b, c, d;
    uint32_t esi, edi, ebp;
    uint16_t ds, es;
    uint16_t flags;        /* the FLAGS to return (from the IRET frame when there is one) */
    int retry;             /* set the live CF: the stub waits and traps again */
};

#define FLAG_CF 0x0001u
#define FLAG_ZF 0x0040u
#define FLAG_IF 0x0200u

static inline void ret_ok(struct regs *r) { r->flags &= (uint16_t)~FLAG_CF; }
static inline void ret_cf(struct regs *r) { r->flags |= FLAG_CF; }
/* The common error return: CF set, AH = status. */
static inline void ret_err(struct regs *r, uint8_t status)
{
    r->a.h = status;
    r->flags |= FLAG_CF;
}

/* ---------------------------------------------------------------------------
 * Drives as INT 13h sees them. */
enum disk_type { DT_NONE, DT_FLOPPY, DT_HD, DT_CDROM };

struct bdisk {
    enum disk_type type;
    struct block_backend *blk;
    uint64_t base;          /* byte offset of sector 0 in blk (El Torito images) */
    uint64_t sectors;       /* in units of ssize */
    uint32_t ssize;         /* 512, or 2048 for the CD-ROM */
    uint32_t cyls, heads, spt;   /* logical geometry for CHS calls */
    uint8_t fd_type;        /* floppies: CMOS drive type 1-5 */
    int ide_index;          /* IDE position for EDD, or -1 */
    int emulated;           /* El Torito floppy or hard disk emulation */
    int locked;             /* CD-ROM lock count (INT 13h 45h) */
};

/* El Torito boot state (INT 13h 4Bh reports it). */
struct eltorito {
    int booted;             /* the CD was booted (no emulation or emulation) */
    int active;             /* an emulated drive exists */
    uint8_t media;          /* 0 no emulation, 1 1.2M, 2 1.44M, 3 2.88M, 4 hard disk */
    uint8_t drive;          /* the emulated drive number (or 0xE0) */
    uint32_t lba;           /* image start (2048-byte sectors) */
    uint16_t load_seg;
    uint16_t count;         /* 512-byte sectors loaded */
};

/* Where the ROM keeps things (struct read from the image's directory). */
struct rom_dir {
    uint16_t dpt[6];        /* by floppy type 1-5 (index 0 unused) */
    uint16_t config_table;
    uint16_t bios32_dir;
    uint16_t pir_table;
    uint16_t pcibios32_entry;
    uint16_t dummy_iret;
};

struct bios {
    struct bios_config cfg;
    struct cpu *cpu;
    struct memory *mem;
    struct ioports *io;
    FILE *log;

    uint8_t rom[BIOS_ROM_SIZE];
    struct rom_dir dir;
    int rom_mapped;
    int trap_registered;

    /* Memory layout decided at POST. */
    uint32_t base_kb;       /* conventional memory below the EBDA */
    uint16_t ebda_seg;
    uint32_t ram_top;       /* end of RAM above 1 MiB (below the PCI hole) */
    uint32_t cpu_features;  /* CPUID(1).EDX, from the ROM */

    /* Drives, by BIOS number. */
    struct bdisk fd[BIOS_MAX_FD];
    int nfd;
    struct bdisk hd[BIOS_MAX_HD + 1];   /* + an El Torito hard disk image */
    int nhd;
    struct bdisk cd;
    struct eltorito emu;
    uint8_t *iobuf;         /* bounce buffer for disk transfers (IOBUF_SIZE) */

    /* Boot order: letters 'a', 'c', 'd'. */
    char boot_order[8];
    int strict;

    /* Serial console. */
    uint16_t com_port[4];
    int ncom, nlpt;
    int serial_esc;         /* escape sequence state of COM1 input */
    int con_row, con_col;   /* where the serial terminal's cursor is (the -nographic mirror) */
    uint32_t com1_sig;      /* COM1's IER, LCR, MCR as POST left them */
    int mirror_off;         /* the guest took COM1 over: no more mirroring */

    /* PCI. */
    int have_pci;
    int have_ide;
    uint8_t ide_bus, ide_devfn;
    uint8_t pirq_irq[4];

    /* What was logged once. */
    uint8_t unimpl_logged[0x100][0x100 / 8];   /* [interrupt][AH] */
    uint8_t mode_logged[0x80 / 8];             /* video modes we could not set */
    int stray_logged;
};

#define IOBUF_SIZE 0x10000u

/* ---------------------------------------------------------------------------
 * Helpers (bios.c). */
void bios_log(struct bios *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An unimplemented function of interrupt `intno`: logged once per AH. */
void bios_unimpl(struct bios *b, int intno, const struct regs *r);

/* Physical memory below 1 MiB (IVT, BDA, EBDA, the text buffer). */
uint8_t phys_r8(struct bios *b, uint32_t a);
uint16_t phys_r16(struct bios *b, uint32_t a);
uint32_t phys_r32(struct bios *b, uint32_t a);
void phys_w8(struct bios *b, uint32_t a, uint8_t v);
void phys_w16(struct bios *b, uint32_t a, uint16_t v);
void phys_w32(struct bios *b, uint32_t a, uint32_t v);
#define BDA 0x400u
static inline uint8_t bda_r8(struct bios *b, uint32_t off) { return phys_r8(b, BDA + off); }
static inline uint16_t bda_r16(struct bios *b, uint32_t off) { return phys_r16(b, BDA + off); }
static inline uint32_t bda_r32(struct bios *b, uint32_t off) { return phys_r32(b, BDA + off); }
static inline void bda_w8(struct bios *b, uint32_t off, uint8_t v) { phys_w8(b, BDA + off, v); }
static inline void bda_w16(struct bios *b, uint32_t off, uint16_t v) { phys_w16(b, BDA + off, v); }
static inline void bda_w32(struct bios *b, uint32_t off, uint32_t v) { phys_w32(b, BDA + off, v); }
static inline uint32_t ebda_addr(struct bios *b, uint32_t off) { return ((uint32_t)b->ebda_seg << 4) + off; }

/* The caller's memory by segment:offset (through paging in V86 mode).
 * Return 0, or -1 if the address cannot be reached. */
static inline uint32_t rm_lin(uint16_t seg, uint32_t off) { return ((uint32_t)seg << 4) + off; }
int guest_read(struct bios *b, uint32_t lin, void *buf, uint32_t len);
int guest_write(struct bios *b, uint32_t lin, const void *buf, uint32_t len);

/* Ports. */
uint8_t inb(struct bios *b, uint16_t port);
void outb(struct bios *b, uint16_t port, uint8_t v);
uint32_t inl(struct bios *b, uint16_t port);
void outl(struct bios *b, uint16_t port, uint32_t v);
uint8_t cmos_read(struct bios *b, uint8_t index);
void cmos_write(struct bios *b, uint8_t index, uint8_t v);

/* Little-endian fields of byte buffers. */
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16; }
static inline uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static inline void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

/* ---------------------------------------------------------------------------
 * The services, by file. */
/* video.c */
void video_post(struct bios *b);
void video_int10(struct bios *b, struct regs *r);
void bios_putc(struct bios *b, char c);
void bios_printf(struct bios *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void serial_post(struct bios *b);
void serial_int14(struct bios *b, struct regs *r);
int serial_getc(struct bios *b);            /* a byte from COM1 (-nographic input), or -1 */

/* keyboard.c */
void kbd_post(struct bios *b);
void kbd_scancode(struct bios *b, struct regs *r);
void kbd_int16(struct bios *b, struct regs *r);
int kbd_enqueue(struct bios *b, uint16_t key);

/* disk.c */
void disk_post(struct bios *b);
void disk_int13(struct bios *b, struct regs *r);
void disk_int19(struct bios *b, struct regs *r);
void disk_set_boot_order(struct bios *b, const char *spec);

/* system.c */
void system_post(struct bios *b);
void system_int15(struct bios *b, struct regs *r);
void system_wait_check(struct bios *b, struct regs *r);
void system_int1a(struct bios *b, struct regs *r);
void system_rtc_irq(struct bios *b, struct regs *r);
int system_e820(const struct bios *b, struct bios_e820 *out, int max);
void system_cmos_checksum(struct bios *b);

/* pci.c */
void pci_post(struct bios *b);
void pci_bios_call(struct bios *b, struct regs *r);
void pci_build_pir(struct bios *b);
uint32_t pci_cfg_read(struct bios *b, uint8_t bus, uint8_t devfn, uint8_t reg, int size);
void pci_cfg_write(struct bios *b, uint8_t bus, uint8_t devfn, uint8_t reg, uint32_t v, int size);

#endif
