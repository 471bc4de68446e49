/* INT 10h in text modes (00h-03h, 07h), the BIOS's own console output, and
 * the serial ports: detection, INT 14h, and the -nographic mirror of text
 * output to COM1 (with keyboard input read back from it).
 *
 * The state is the BIOS data area's video fields (IBM PC/AT Technical
 * Reference, BDA 0449h-048Ah), so a video BIOS or a program that reads them
 * sees what we do. Characters go to the text buffer at 0xB8000 (0xB0000 in
 * mode 07h); the hardware cursor through the CRTC registers 0Eh/0Fh.
 * Graphics modes and VBE come with the display. */
#include <string.h>

#include "bios/bios_internal.h"
#include "cpu/memory.h"

/* BDA video fields. */
#define BDA_VMODE       0x49
#define BDA_VCOLS       0x4A
#define BDA_VPAGESIZE   0x4C
#define BDA_VPAGESTART  0x4E
#define BDA_VCURSOR     0x50     /* 8 pages x (column, row) */
#define BDA_VCURSHAPE   0x60     /* end line, start line */
#define BDA_VPAGE       0x62
#define BDA_VCRTC       0x63
#define BDA_VMSR        0x65
#define BDA_VPAL        0x66
#define BDA_VROWS       0x84     /* rows - 1 */
#define BDA_VCHARH      0x85
#define BDA_VCTL        0x87
#define BDA_VSWITCHES   0x88
#define BDA_VMODESET    0x89
#define BDA_VDCC        0x8A

struct text_mode {
    uint8_t mode, cols;
    uint32_t base;
    uint16_t crtc;
    uint8_t msr;                 /* the mode select register value CGA software expects */
};

static const struct text_mode text_modes[] = {
    { 0x00, 40, 0xB8000, 0x3D4, 0x2C },
    { 0x01, 40, 0xB8000, 0x3D4, 0x28 },
    { 0x02, 80, 0xB8000, 0x3D4, 0x2D },
    { 0x03, 80, 0xB8000, 0x3D4, 0x29 },
    { 0x07, 80, 0xB0000, 0x3B4, 0x29 },
};

static const struct text_mode *find_mode(uint8_t mode)
{
    for (size_t k = 0; k < sizeof(text_modes) / sizeof(text_modes[0]); k++)
        if (text_modes[k].mode == mode) return &text_modes[k];
    return NULL;
}

/* The current text geometry from the BDA. */
struct screen {
    uint32_t base;               /* text buffer */
    unsigned cols, rows;
    uint32_t page_size;
};

static void screen_get(struct bios *b, struct screen *s)
{
    s->base = bda_r8(b, BDA_VMODE) == 0x07 ? 0xB0000 : 0xB8000;
    s->cols = bda_r16(b, BDA_VCOLS);
    if (s->cols == 0 || s->cols > 132) s->cols = 80;
    s->rows = bda_r8(b, BDA_VROWS) + 1u;
    if (s->rows < 2 || s->rows > 60) s->rows = 25;
    s->page_size = bda_r16(b, BDA_VPAGESIZE);
    if (!s->page_size) s->page_size = 0x1000;
}

static uint32_t cell_addr(const struct screen *s, unsigned page, unsigned row, unsigned col)
{
    return s->base + (page & 7) * s->page_size + (row * s->cols + col) * 2;
}

static void get_cursor(struct bios *b, unsigned page, unsigned *row, unsigned *col)
{
    *col = bda_r8(b, BDA_VCURSOR + (page & 7) * 2);
    *row = bda_r8(b, BDA_VCURSOR + (page & 7) * 2 + 1);
}

static void crtc_write(struct bios *b, uint8_t reg, uint8_t v)
{
    uint16_t port = bda_r16(b, BDA_VCRTC);
    if (port != 0x3D4 && port != 0x3B4) port = 0x3D4;
    outb(b, port, reg);
    outb(b, (uint16_t)(port + 1), v);
}

/* The hardware cursor follows the active page's cursor. */
static void update_hw_cursor(struct bios *b)
{
    struct screen s;
    screen_get(b, &s);
    unsigned page = bda_r8(b, BDA_VPAGE) & 7, row, col;
    get_cursor(b, page, &row, &col);
    uint32_t pos = (page * s.page_size) / 2 + row * s.cols + col;
    crtc_write(b, 0x0E, (uint8_t)(pos >> 8));
    crtc_write(b, 0x0F, (uint8_t)pos);
}

static void set_cursor(struct bios *b, unsigned page, unsigned row, unsigned col)
{
    bda_w8(b, BDA_VCURSOR + (page & 7) * 2, (uint8_t)col);
    bda_w8(b, BDA_VCURSOR + (page & 7) * 2 + 1, (uint8_t)row);
    if ((page & 7) == (bda_r8(b, BDA_VPAGE) & 7)) update_hw_cursor(b);
}

/* Scroll the window (r0,c0)-(r1,c1) of `page` up (lines > 0) or down (lines < 0);
 * 0 or more than the height clears it. New lines are blanks in `attr`. */
static void scroll(struct bios *b, unsigned page, int lines, uint8_t attr,
                   unsigned r0, unsigned c0, unsigned r1, unsigned c1)
{
    struct screen s;
    screen_get(b, &s);
    if (r1 >= s.rows) r1 = s.rows - 1;
    if (c1 >= s.cols) c1 = s.cols - 1;
    if (r0 > r1 || c0 > c1) return;
    unsigned height = r1 - r0 + 1, width = c1 - c0 + 1;
    unsigned n = (unsigned)(lines < 0 ? -lines : lines);
    if (n == 0 || n > height) n = height;
    uint8_t line[264];
    for (unsigned k = 0; k < height; k++) {
        /* Scrolling up fills top to bottom; down fills bottom to top. */
        unsigned row = lines >= 0 ? r0 + k : r1 - k;
        if (k + n < height) {
            unsigned from = lines >= 0 ? row + n : row - n;
            memory_read(b->mem, cell_addr(&s, page, from, c0), line, width * 2);
        } else {
            for (unsigned c = 0; c < width; c++) {
                line[2 * c] = ' ';
                line[2 * c + 1] = attr;
            }
        }
        memory_write(b->mem, cell_addr(&s, page, row, c0), line, width * 2);
    }
}

static void serial_putc(struct bios *b, uint8_t c)
{
    if (!b->cfg.nographic || !b->com_port[0]) return;
    uint16_t port = b->com_port[0];
    /* Wait (briefly) for room in the transmitter: LSR bit 5. */
    for (int k = 0; k < 1000 && !(inb(b, (uint16_t)(port + 5)) & 0x20); k++) {}
    outb(b, port, c);
}

static void serial_puts(struct bios *b, const char *s)
{
    while (*s) serial_putc(b, (uint8_t)*s++);
}

/* ---------------------------------------------------------------------------
 * The -nographic mirror. Programs write the screen by teletype (0Eh) or by
 * "write character at the cursor, move the cursor" (09h + 02h, SYSLINUX and
 * GRUB do that): both reach the terminal. We keep where its cursor is and move
 * it with CR/LF when the output runs on, with an ANSI sequence when a program
 * jumps about the screen (menus). Code page 437 graphics become ASCII. */

static uint8_t to_ascii(uint8_t c)
{
    if (c >= 0x20 && c < 0x7F) return c;
    if (c == 0x00) return ' ';
    if (c == 0xB3 || c == 0xBA) return '|';
    if (c == 0xC4 || c == 0xCD) return '-';
    if ((c >= 0xB4 && c <= 0xDA)) return '+';
    if ((c >= 0xB0 && c <= 0xB2) || (c >= 0xDB && c <= 0xDF)) return '#';
    if (c == 0xF9 || c == 0xFA) return '.';
    if (c == 0x10) return '>';
    if (c == 0x11) return '<';
    return '?';
}

/* IER, LCR and MCR of COM1 as one value: POST remembers ours. */
static uint32_t uart_setup_sig(struct bios *b, uint16_t port)
{
    return (uint32_t)inb(b, (uint16_t)(port + 1)) | (uint32_t)inb(b, (uint16_t)(port + 3)) << 8 |
           (uint32_t)inb(b, (uint16_t)(port + 4)) << 16;
}

/* The console on COM1 (output mirror, key input) stands down for good once
 * the guest programs the port itself (SYSLINUX's SERIAL directive does, and
 * then prints there too). */
static int com1_console(struct bios *b)
{
    if (!b->cfg.nographic || !b->com_port[0] || b->mirror_off) return 0;
    if (uart_setup_sig(b, b->com_port[0]) != b->com1_sig) {
        b->mirror_off = 1;
        if (b->cfg.trace) bios_log(b, "the guest programs COM1 itself: the -nographic console on it stops");
        return 0;
    }
    return 1;
}

static int mirror_on(struct bios *b, unsigned page)
{
    if (!com1_console(b)) return 0;
    return (page & 7) == (bda_r8(b, BDA_VPAGE) & 7);
}

static void con_move(struct bios *b, unsigned row, unsigned col)
{
    int r = (int)row, c = (int)col;
    if (r == b->con_row && c == b->con_col) return;
    if (c == 0 && r == b->con_row + 1) {
        serial_puts(b, "\r\n");
    } else if (c == 0 && r == b->con_row) {
        serial_putc(b, '\r');
    } else {
        char seq[32];
        snprintf(seq, sizeof(seq), "\x1b[%d;%dH", r + 1, c + 1);
        serial_puts(b, seq);
    }
    b->con_row = r;
    b->con_col = c;
}

/* A character was written at (row, col) of `page`. */
static void con_char_at(struct bios *b, unsigned page, unsigned row, unsigned col, uint8_t ch)
{
    if (!mirror_on(b, page)) return;
    con_move(b, row, col);
    serial_putc(b, to_ascii(ch));
    b->con_col++;
}

/* Teletype controls move the terminal's cursor the same way. */
static void con_control(struct bios *b, unsigned page, uint8_t ch, unsigned rows)
{
    if (!mirror_on(b, page)) return;
    switch (ch) {
    case 7: serial_putc(b, 7); break;
    case 8:
        serial_putc(b, 8);
        if (b->con_col > 0) b->con_col--;
        break;
    case 10:
        serial_putc(b, 10);
        if (b->con_row < (int)rows - 1) b->con_row++;
        break;
    case 13:
        serial_putc(b, 13);
        b->con_col = 0;
        break;
    }
}

/* The screen scrolled up `lines` (whole width): what was on row r is on r - lines. */
static void con_scrolled(struct bios *b, unsigned page, int lines, int whole_screen)
{
    if (!mirror_on(b, page)) return;
    if (lines == 0 && whole_screen) {
        serial_puts(b, "\x1b[2J\x1b[H");   /* the screen was cleared */
        b->con_row = b->con_col = 0;
    } else if (lines > 0 && whole_screen) {
        b->con_row -= lines;
    }
}

/* Teletype output on `page` (INT 10h 0Eh): BEL, BS, LF and CR act, the rest is
 * written with the cell's attribute (or `attr` when use_attr). */
static void teletype(struct bios *b, unsigned page, uint8_t ch, int use_attr, uint8_t attr)
{
    struct screen s;
    screen_get(b, &s);
    unsigned row, col;
    get_cursor(b, page, &row, &col);
    if (row >= s.rows) row = s.rows - 1;
    if (col >= s.cols) col = s.cols - 1;
    switch (ch) {
    case 7:
        con_control(b, page, ch, s.rows);
        break;
    case 8:
        if (col > 0) col--;
        con_control(b, page, ch, s.rows);
        break;
    case 10:
        row++;
        con_control(b, page, ch, s.rows);
        break;
    case 13:
        col = 0;
        con_control(b, page, ch, s.rows);
        break;
    default: {
        uint32_t a = cell_addr(&s, page, row, col);
        phys_w8(b, a, ch);
        if (use_attr) phys_w8(b, a + 1, attr);
        con_char_at(b, page, row, col, ch);
        if (++col >= s.cols) {
            col = 0;
            row++;
        }
        break;
    }
    }
    if (row >= s.rows) {
        /* The new line takes the attribute under the cursor (IBM BIOS behaviour). */
        uint8_t fill = phys_r8(b, cell_addr(&s, page, s.rows - 1, col) + 1);
        scroll(b, page, 1, fill, 0, 0, s.rows - 1, s.cols - 1);
        if (ch != 10 && mirror_on(b, page)) b->con_row--;   /* a wrap: the terminal did not see a LF */
        row = s.rows - 1;
    }
    set_cursor(b, page, row, col);
}

void bios_putc(struct bios *b, char c)
{
    unsigned page = bda_r8(b, BDA_VPAGE) & 7;
    if (c == '\n') teletype(b, page, '\r', 0, 0);
    teletype(b, page, (uint8_t)c, 0, 0);
}

void bios_printf(struct bios *b, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (const char *p = buf; *p; p++) bios_putc(b, *p);
}

/* ---------------------------------------------------------------------------
 * Mode set. */

static void set_mode(struct bios *b, uint8_t al)
{
    uint8_t mode = al & 0x7F;
    const struct text_mode *m = find_mode(mode);
    if (!m) {
        if (!(b->mode_logged[mode >> 3] & (1u << (mode & 7)))) {
            b->mode_logged[mode >> 3] |= (uint8_t)(1u << (mode & 7));
            bios_log(b, "INT 10h: video mode %02Xh is not supported yet (text modes only); mode unchanged (logged once)",
                     mode);
        }
        return;
    }
    bda_w8(b, BDA_VMODE, mode);
    bda_w16(b, BDA_VCOLS, m->cols);
    uint16_t page_size = m->cols == 40 ? 0x800 : 0x1000;
    bda_w16(b, BDA_VPAGESIZE, page_size);
    bda_w16(b, BDA_VPAGESTART, 0);
    for (int p = 0; p < 8; p++) bda_w16(b, BDA_VCURSOR + 2 * p, 0);
    bda_w16(b, BDA_VCURSHAPE, 0x0607);
    bda_w8(b, BDA_VPAGE, 0);
    bda_w16(b, BDA_VCRTC, m->crtc);
    bda_w8(b, BDA_VMSR, m->msr);
    bda_w8(b, BDA_VPAL, 0x30);
    bda_w8(b, BDA_VROWS, 24);
    bda_w8(b, BDA_VCHARH, 16);
    /* Bit 7: the caller asked not to clear the screen. Bit 5-6: 256 KiB of video memory. */
    bda_w8(b, BDA_VCTL, (uint8_t)(0x60 | (al & 0x80)));
    bda_w8(b, BDA_VSWITCHES, 0xF9);
    bda_w8(b, BDA_VMODESET, 0x51);
    bda_w8(b, BDA_VDCC, 0x08);
    if (!(al & 0x80)) {
        /* Clear all eight pages: blanks on light grey. */
        uint8_t blank[256];
        for (size_t k = 0; k < sizeof(blank); k += 2) {
            blank[k] = ' ';
            blank[k + 1] = 0x07;
        }
        for (uint32_t off = 0; off < 8u * page_size; off += sizeof(blank))
            memory_write(b->mem, m->base + off, blank, sizeof(blank));
    }
    /* The terminal stays where it is: from now on its cursor stands for (0, 0). */
    b->con_row = 0;
    b->con_col = 0;
    crtc_write(b, 0x0A, 0x0D);   /* cursor lines 13-14 of the 16-line cell */
    crtc_write(b, 0x0B, 0x0E);
    crtc_write(b, 0x0C, 0);
    crtc_write(b, 0x0D, 0);
    update_hw_cursor(b);
}

void video_post(struct bios *b)
{
    /* The ROM calls INT 10h AX=0003h next; until then the fields say mode 3. */
    bda_w8(b, BDA_VMODE, 0x03);
    bda_w16(b, BDA_VCOLS, 80);
    bda_w16(b, BDA_VPAGESIZE, 0x1000);
    bda_w8(b, BDA_VROWS, 24);
    bda_w8(b, BDA_VCHARH, 16);
    bda_w16(b, BDA_VCRTC, 0x3D4);
}

/* ---------------------------------------------------------------------------
 * INT 10h. */

static void write_chars(struct bios *b, struct regs *r, int with_attr)
{
    struct screen s;
    screen_get(b, &s);
    unsigned page = r->b.h & 7, row, col;
    get_cursor(b, page, &row, &col);
    /* Writes go on along the row and wrap, but never past the page. */
    uint32_t pos = row * s.cols + col, end = s.rows * s.cols;
    for (unsigned n = r->c.x; n > 0 && pos < end; n--, pos++) {
        uint32_t a = s.base + page * s.page_size + pos * 2;
        phys_w8(b, a, r->a.l);
        if (with_attr) phys_w8(b, a + 1, r->b.l);
        con_char_at(b, page, pos / s.cols, pos % s.cols, r->a.l);
    }
}

/* AH=13h: write the string at ES:BP. AL bit 0 moves the cursor, bit 1 means
 * the string holds (char, attribute) pairs. */
static void write_string(struct bios *b, struct regs *r)
{
    unsigned page = r->b.h & 7, save_row, save_col;
    get_cursor(b, page, &save_row, &save_col);
    set_cursor(b, page, r->d.h, r->d.l);
    uint32_t src = rm_lin(r->es, r->ebp & 0xFFFF);
    int pairs = (r->a.l & 2) != 0;
    for (unsigned k = 0; k < r->c.x; k++) {
        uint8_t cell[2];
        if (guest_read(b, src, cell, pairs ? 2 : 1)) break;
        src += pairs ? 2 : 1;
        uint8_t ch = cell[0];
        if (ch == 7 || ch == 8 || ch == 10 || ch == 13) teletype(b, page, ch, 0, 0);
        else teletype(b, page, ch, 1, pairs ? cell[1] : r->b.l);
    }
    if (!(r->a.l & 1)) set_cursor(b, page, save_row, save_col);
}

void video_int10(struct bios *b, struct regs *r)
{
    struct screen s;
    screen_get(b, &s);
    switch (r->a.h) {
    case 0x00:                                   /* set mode */
        set_mode(b, r->a.l);
        r->a.l = bda_r8(b, BDA_VMODE) > 7 ? 0x20 : 0x30;  /* the "mode set" byte VGA BIOSes return */
        break;
    case 0x01:                                   /* cursor shape: CH start line, CL end line */
        bda_w16(b, BDA_VCURSHAPE, r->c.x);
        if ((r->c.h & 0x60) == 0x20) {
            crtc_write(b, 0x0A, 0x20);           /* bit 5: cursor off */
        } else {
            /* The CGA-style 8-line values scale to the 16-line cell (VGA cursor emulation). */
            uint8_t start = r->c.h & 0x1F, end = r->c.l & 0x1F;
            if (end < 8 && start < 8) {
                start = (uint8_t)(start * 2);
                end = (uint8_t)(end * 2 + 1);
            }
            crtc_write(b, 0x0A, start);
            crtc_write(b, 0x0B, end);
        }
        break;
    case 0x02:                                   /* set cursor: BH page, DH row, DL column */
        set_cursor(b, r->b.h, r->d.h, r->d.l);
        break;
    case 0x03: {                                 /* get cursor and shape */
        unsigned row, col;
        get_cursor(b, r->b.h, &row, &col);
        r->d.h = (uint8_t)row;
        r->d.l = (uint8_t)col;
        r->c.x = bda_r16(b, BDA_VCURSHAPE);
        r->a.x = 0;
        break;
    }
    case 0x04:                                   /* light pen: not triggered */
        r->a.h = 0;
        break;
    case 0x05: {                                 /* select the active page */
        uint8_t page = r->a.l & 7;
        bda_w8(b, BDA_VPAGE, page);
        bda_w16(b, BDA_VPAGESTART, (uint16_t)(page * s.page_size));
        uint32_t start = page * s.page_size / 2;
        crtc_write(b, 0x0C, (uint8_t)(start >> 8));
        crtc_write(b, 0x0D, (uint8_t)start);
        update_hw_cursor(b);
        break;
    }
    case 0x06:                                   /* scroll up */
    case 0x07: {                                 /* scroll down */
        unsigned page = bda_r8(b, BDA_VPAGE) & 7;
        int whole = r->c.x == 0 && r->d.h >= s.rows - 1 && r->d.l >= s.cols - 1;
        scroll(b, page, r->a.h == 0x06 ? r->a.l : -(int)r->a.l, r->b.h, r->c.h, r->c.l, r->d.h, r->d.l);
        if (r->a.l == 0 || r->a.l >= s.rows) con_scrolled(b, page, 0, whole);
        else if (r->a.h == 0x06) con_scrolled(b, page, r->a.l, whole);
        break;
    }
    case 0x08: {                                 /* read the character and attribute at the cursor */
        unsigned row, col;
        get_cursor(b, r->b.h, &row, &col);
        uint32_t a = cell_addr(&s, r->b.h, row, col);
        r->a.l = phys_r8(b, a);
        r->a.h = phys_r8(b, a + 1);
        break;
    }
    case 0x09:                                   /* write character and attribute, CX times */
        write_chars(b, r, 1);
        break;
    case 0x0A:                                   /* write character only */
        write_chars(b, r, 0);
        break;
    case 0x0B:                                   /* CGA palette: no effect in text modes */
    case 0x0C:                                   /* write pixel: graphics modes only */
        break;
    case 0x0D:
        r->a.l = 0;
        break;
    case 0x0E:                                   /* teletype */
        teletype(b, r->b.h & 7, r->a.l, 0, 0);
        break;
    case 0x0F:                                   /* current mode */
        r->a.l = (uint8_t)(bda_r8(b, BDA_VMODE) | (bda_r8(b, BDA_VCTL) & 0x80));
        r->a.h = (uint8_t)s.cols;
        r->b.h = bda_r8(b, BDA_VPAGE);
        break;
    case 0x10:                                   /* palette registers: the VGA comes later */
        if (r->a.l == 0x03) break;               /* blink/intensity: accepted */
        bios_unimpl(b, 0x10, r);
        break;
    case 0x11:                                   /* character generator */
        if (r->a.l == 0x30) {                    /* font information */
            r->c.x = bda_r8(b, BDA_VCHARH);
            r->d.l = bda_r8(b, BDA_VROWS);
            r->es = 0;                           /* no font tables in this ROM yet */
            r->ebp &= 0xFFFF0000u;
        } else {
            bios_unimpl(b, 0x10, r);
        }
        break;
    case 0x12:                                   /* alternate select */
        if (r->b.l == 0x10) {                    /* EGA/VGA information */
            r->b.h = bda_r8(b, BDA_VMODE) == 0x07 ? 1 : 0;
            r->b.l = 3;                          /* 256 KiB */
            r->c.h = 0;
            r->c.l = bda_r8(b, BDA_VSWITCHES) & 0x0F;
        } else if (r->b.l >= 0x30 && r->b.l <= 0x36) {
            r->a.l = 0x12;                       /* accepted */
        } else {
            bios_unimpl(b, 0x10, r);
        }
        break;
    case 0x13:
        write_string(b, r);
        break;
    case 0x1A:                                   /* display combination code */
        if (r->a.l == 0x00) {
            r->a.l = 0x1A;
            r->b.l = bda_r8(b, BDA_VDCC) ? bda_r8(b, BDA_VDCC) : 0x08;   /* VGA, colour */
            r->b.h = 0;
        } else if (r->a.l == 0x01) {
            bda_w8(b, BDA_VDCC, r->b.l);
            r->a.l = 0x1A;
        }
        break;
    case 0x4F:                                   /* VBE: not present (AX stays, so AL != 4Fh) */
        break;
    default:
        bios_unimpl(b, 0x10, r);
        break;
    }
}

/* ---------------------------------------------------------------------------
 * Serial ports (8250/16550 at the standard addresses). */

static int uart_present(struct bios *b, uint16_t port)
{
    /* IER's top four bits read as zero; an absent port reads as all ones. */
    uint8_t old = inb(b, (uint16_t)(port + 1));
    outb(b, (uint16_t)(port + 1), 0x02);
    uint8_t v = inb(b, (uint16_t)(port + 1));
    outb(b, (uint16_t)(port + 1), old == 0xFF ? 0 : old);
    return v == 0x02;
}

static void uart_setup(struct bios *b, uint16_t port, uint16_t divisor, uint8_t lcr)
{
    outb(b, (uint16_t)(port + 3), 0x80);        /* DLAB */
    outb(b, port, (uint8_t)divisor);
    outb(b, (uint16_t)(port + 1), (uint8_t)(divisor >> 8));
    outb(b, (uint16_t)(port + 3), lcr & 0x7F);
    outb(b, (uint16_t)(port + 1), 0x00);        /* no interrupts */
    outb(b, (uint16_t)(port + 2), 0x07);        /* FIFOs on and cleared */
    outb(b, (uint16_t)(port + 4), 0x03);        /* DTR, RTS */
}

void serial_post(struct bios *b)
{
    static const uint16_t com[4] = { 0x3F8, 0x2F8, 0x3E8, 0x2E8 };
    b->ncom = 0;
    memset(b->com_port, 0, sizeof(b->com_port));
    for (int k = 0; k < 4; k++) {
        if (!uart_present(b, com[k])) continue;
        b->com_port[b->ncom] = com[k];
        bda_w16(b, 0x00 + 2 * b->ncom, com[k]);
        bda_w8(b, 0x7C + b->ncom, 0x0A);        /* time-out counts */
        b->ncom++;
    }
    /* COM1 at 115200 8N1 for the console mirror; the others at 9600 as DOS expects. */
    for (int k = 0; k < b->ncom; k++) uart_setup(b, b->com_port[k], k == 0 ? 1 : 12, 0x03);
    b->mirror_off = 0;
    if (b->ncom) b->com1_sig = uart_setup_sig(b, b->com_port[0]);
    b->nlpt = 0;   /* no parallel ports on this machine */
    uint16_t equip = bda_r16(b, 0x10);
    equip = (uint16_t)((equip & ~0x0E00u & ~0xC000u) | (b->ncom << 9) | (b->nlpt << 14));
    bda_w16(b, 0x10, equip);
}

int serial_getc(struct bios *b)
{
    if (!com1_console(b)) return -1;
    uint16_t port = b->com_port[0];
    if (!(inb(b, (uint16_t)(port + 5)) & 0x01)) return -1;
    return inb(b, port);
}

/* INT 14h: DX = port index. AH on return is the line status (bit 7 = time-out). */
void serial_int14(struct bios *b, struct regs *r)
{
    if (r->d.x >= 4 || !b->com_port[r->d.x]) {
        r->a.h = 0x80;
        return;
    }
    uint16_t port = b->com_port[r->d.x];
    switch (r->a.h) {
    case 0x00: {                                 /* initialise: AL = rate(7-5) parity(4-3) stop(2) length(1-0) */
        static const uint16_t divisors[8] = { 1047, 768, 384, 192, 96, 48, 24, 12 };
        uart_setup(b, port, divisors[r->a.l >> 5], r->a.l & 0x1F);
        if (r->d.x == 0) b->mirror_off = 1;      /* the guest drives COM1 through us now */
        r->a.h = inb(b, (uint16_t)(port + 5));
        r->a.l = inb(b, (uint16_t)(port + 6));
        break;
    }
    case 0x01: {                                 /* send AL */
        int k;
        for (k = 0; k < 10000 && !(inb(b, (uint16_t)(port + 5)) & 0x20); k++) {}
        if (k == 10000) {
            r->a.h = (uint8_t)(inb(b, (uint16_t)(port + 5)) | 0x80);
            break;
        }
        outb(b, port, r->a.l);
        r->a.h = inb(b, (uint16_t)(port + 5));
        break;
    }
    case 0x02: {                                 /* receive into AL (no waiting: time-out if none) */
        uint8_t lsr = inb(b, (uint16_t)(port + 5));
        if (lsr & 0x01) {
            r->a.l = inb(b, port);
            r->a.h = lsr & 0x1E;
        } else {
            r->a.h = (uint8_t)(lsr | 0x80);
        }
        break;
    }
    case 0x03:                                   /* status */
        r->a.h = inb(b, (uint16_t)(port + 5));
        r->a.l = inb(b, (uint16_t)(port + 6));
        break;
    default:
        bios_unimpl(b, 0x14, r);
        break;
    }
}
