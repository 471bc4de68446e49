/* System services: INT 15h (memory map and sizes, A20, waits, block move,
 * configuration), INT 1Ah (tick count and the RTC; the PCI BIOS is in pci.c),
 * the RTC interrupt that times INT 15h 83h/86h, and the CMOS fields POST sets.
 * References: IBM PC/AT Technical Reference; ACPI 6.x, 15 (E820h); the
 * MC146818 datasheet for the RTC registers. */
#include <string.h>

#include "bios/bios_internal.h"
#include "cpu/memory.h"

#define SMAP 0x534D4150u        /* "SMAP" */

#define RTC_A 0x0A
#define RTC_B 0x0B
#define RTC_C 0x0C
#define RTC_D 0x0D
#define RTC_A_UIP  0x80
#define RTC_B_SET  0x80
#define RTC_B_PIE  0x40
#define RTC_B_AIE  0x20
#define RTC_B_UIE  0x10
#define RTC_B_SQWE 0x08
#define RTC_B_DM   0x04         /* binary (else BCD) */
#define RTC_B_24H  0x02
#define RTC_B_DSE  0x01
#define RTC_C_AF   0x20
#define RTC_C_PF   0x40

/* BDA fields of the wait services. */
#define BDA_WAIT_FLAG_PTR 0x98  /* far pointer to the caller's flag byte */
#define BDA_WAIT_COUNT    0x9C  /* microseconds left */
#define BDA_WAIT_ACTIVE   0xA0  /* bit 0: a wait runs; bit 7: it has elapsed */
#define RTC_PERIOD_US     976   /* one 1024 Hz periodic interrupt */

/* ---------------------------------------------------------------------------
 * Memory map. */

int system_e820(const struct bios *b, struct bios_e820 *out, int max)
{
    struct bios_e820 map[6];
    int n = 0;
    uint64_t low = (uint64_t)b->base_kb << 10;
    map[n++] = (struct bios_e820){ 0, low, 1 };
    map[n++] = (struct bios_e820){ low, 0xA0000 - low, 2 };           /* the EBDA */
    map[n++] = (struct bios_e820){ 0xF0000, 0x10000, 2 };             /* this ROM */
    if (b->ram_top > 0x100000u) map[n++] = (struct bios_e820){ 0x100000, b->ram_top - 0x100000u, 1 };
    map[n++] = (struct bios_e820){ 0xFFFC0000u, 0x40000, 2 };         /* the ROM's high alias */
    int k;
    for (k = 0; k < n && k < max; k++) out[k] = map[k];
    return k;
}

static void e820_call(struct bios *b, struct regs *r)
{
    struct bios_e820 map[8];
    int n = system_e820(b, map, 8);
    if (r->d.e != SMAP || r->c.e < 20 || r->b.e >= (uint32_t)n) {
        ret_err(r, 0x86);
        return;
    }
    const struct bios_e820 *e = &map[r->b.e];
    uint8_t buf[24];
    put64(buf, e->addr);
    put64(buf + 8, e->size);
    put32(buf + 16, e->type);
    put32(buf + 20, 1);                        /* ACPI 3.0 extended attributes: enabled */
    uint32_t len = r->c.e >= 24 ? 24 : 20;
    if (guest_write(b, rm_lin(r->es, r->edi & 0xFFFF), buf, len)) {
        ret_err(r, 0x86);
        return;
    }
    r->a.e = SMAP;
    r->c.e = len;
    r->b.e = r->b.e + 1 < (uint32_t)n ? r->b.e + 1 : 0;
    ret_ok(r);
}

/* KiB of RAM above 1 MiB. */
static uint32_t ext_kb(const struct bios *b)
{
    return b->ram_top > 0x100000u ? (b->ram_top - 0x100000u) >> 10 : 0;
}

static void e801_call(struct bios *b, struct regs *r)
{
    uint32_t kb = ext_kb(b);
    uint32_t below16 = kb > 0x3C00 ? 0x3C00 : kb;                     /* 1-16 MiB, in KiB */
    uint32_t above16 = b->ram_top > 0x1000000u ? (b->ram_top - 0x1000000u) >> 16 : 0;  /* 64 KiB blocks */
    if (above16 > 0xFFFF) above16 = 0xFFFF;
    r->a.e = r->c.e = below16;
    r->b.e = r->d.e = above16;
    ret_ok(r);
}

/* ---------------------------------------------------------------------------
 * A20. The gate is open when either the 8042's output port (bit 1) or port
 * 92h (bit 1, the fast gate) opens it, so both are set alike. */

static int kbc_wait_input_empty(struct bios *b)
{
    for (int k = 0; k < 100000; k++) {
        uint8_t st = inb(b, 0x64);
        if (st == 0xFF) return -1;            /* no controller */
        if (!(st & 0x02)) return 0;
    }
    return -1;
}

static void kbc_a20(struct bios *b, int on)
{
    /* D1h: write the output port; bit 0 (reset) must stay high. */
    if (kbc_wait_input_empty(b)) return;
    outb(b, 0x64, 0xD1);
    if (kbc_wait_input_empty(b)) return;
    outb(b, 0x60, on ? 0xDF : 0xDD);
    kbc_wait_input_empty(b);
}

static void a20_call(struct bios *b, struct regs *r)
{
    switch (r->a.l) {
    case 0x00:
    case 0x01: {
        uint8_t v = inb(b, 0x92);
        if (v == 0xFF) {
            ret_err(r, 0x86);
            return;
        }
        v = (uint8_t)(r->a.l ? (v | 0x02) : (v & ~0x02));
        outb(b, 0x92, (uint8_t)(v & ~0x01));
        kbc_a20(b, r->a.l);
        r->a.h = 0;
        ret_ok(r);
        break;
    }
    case 0x02:
        r->a.h = 0;
        r->a.l = memory_a20(b->mem) ? 1 : 0;
        r->c.x = 0;
        ret_ok(r);
        break;
    case 0x03:
        r->a.h = 0;
        r->b.x = 0x0003;                      /* through the 8042 and port 92h */
        ret_ok(r);
        break;
    default:
        ret_err(r, 0x86);
        break;
    }
}

/* ---------------------------------------------------------------------------
 * AH=87h: copy CX words between the source and destination descriptors of
 * the GDT at ES:SI (entries 2 and 3), which name physical addresses. */

static void block_move(struct bios *b, struct regs *r)
{
    uint32_t words = r->c.x;
    if (words > 0x8000) {
        ret_err(r, 0x02);
        return;
    }
    uint8_t gdt[0x20];
    if (guest_read(b, rm_lin(r->es, r->esi & 0xFFFF), gdt, sizeof(gdt))) {
        ret_err(r, 0x02);
        return;
    }
    const uint8_t *src = gdt + 0x10, *dst = gdt + 0x18;
    uint32_t sbase = (uint32_t)src[2] | (uint32_t)src[3] << 8 | (uint32_t)src[4] << 16 | (uint32_t)src[7] << 24;
    uint32_t dbase = (uint32_t)dst[2] | (uint32_t)dst[3] << 8 | (uint32_t)dst[4] << 16 | (uint32_t)dst[7] << 24;
    uint32_t len = words * 2;
    /* The limits must cover the move, as the protected-mode copy would check. */
    if (len && (get16(src) < len - 1 || get16(dst) < len - 1)) {
        ret_err(r, 0x02);
        return;
    }
    if ((uint64_t)sbase + len > 0x100000000ull || (uint64_t)dbase + len > 0x100000000ull) {
        ret_err(r, 0x02);
        return;
    }
    memory_read(b->mem, sbase, b->iobuf, len);
    memory_write(b->mem, dbase, b->iobuf, len);
    r->a.h = 0;
    r->flags |= FLAG_ZF;
    ret_ok(r);
}

/* ---------------------------------------------------------------------------
 * Waits timed by the RTC's periodic interrupt (1024 Hz). */

static void rtc_pie(struct bios *b, int on)
{
    uint8_t v = cmos_read(b, RTC_B);
    v = (uint8_t)(on ? (v | RTC_B_PIE) : (v & ~RTC_B_PIE));
    cmos_write(b, RTC_B, v);
    if (on) {
        /* IRQ 8 and the cascade unmasked. */
        outb(b, 0xA1, inb(b, 0xA1) & (uint8_t)~0x01);
        outb(b, 0x21, inb(b, 0x21) & (uint8_t)~0x04);
    }
}

static int rtc_present(struct bios *b)
{
    return cmos_read(b, RTC_A) != 0xFF;
}

static int start_wait(struct bios *b, uint32_t us, uint16_t flag_seg, uint16_t flag_off)
{
    if (bda_r8(b, BDA_WAIT_ACTIVE) & 0x01) return -1;
    bda_w16(b, BDA_WAIT_FLAG_PTR, flag_off);
    bda_w16(b, BDA_WAIT_FLAG_PTR + 2, flag_seg);
    bda_w32(b, BDA_WAIT_COUNT, us);
    bda_w8(b, BDA_WAIT_ACTIVE, 0x01);
    rtc_pie(b, 1);
    return 0;
}

static void wait_call(struct bios *b, struct regs *r)
{
    uint32_t us = (uint32_t)r->c.x << 16 | r->d.x;
    if (!rtc_present(b)) {
        ret_err(r, 0x86);
        return;
    }
    if (r->a.h == 0x86) {
        if (us == 0) {
            r->a.h = 0;
            ret_ok(r);
            return;
        }
        /* The flag is the BDA's own byte: the stub sleeps until its bit 7 is set. */
        if (start_wait(b, us, 0x0040, BDA_WAIT_ACTIVE)) {
            ret_err(r, 0x83);
            return;
        }
        r->a.h = 0;
        ret_ok(r);
        r->retry = 1;
        return;
    }
    /* AH=83h: AL=0 start (flag byte at ES:BX gets bit 7 at the end), AL=1 cancel. */
    if (r->a.l == 0x01) {
        bda_w8(b, BDA_WAIT_ACTIVE, 0);
        rtc_pie(b, 0);
        ret_ok(r);
        return;
    }
    if (r->a.l != 0x00 || start_wait(b, us, r->es, r->b.x)) {
        ret_err(r, 0x83);
        return;
    }
    ret_ok(r);
}

void system_wait_check(struct bios *b, struct regs *r)
{
    uint8_t active = bda_r8(b, BDA_WAIT_ACTIVE);
    if ((active & 0x01) && !(active & 0x80)) {
        r->retry = 1;
        return;
    }
    bda_w8(b, BDA_WAIT_ACTIVE, 0);
    r->a.h = 0;
    ret_ok(r);
}

void system_rtc_irq(struct bios *b, struct regs *r)
{
    uint8_t c = cmos_read(b, RTC_C);          /* reading C acknowledges the interrupt */
    r->a.l = 0;
    if ((c & RTC_C_PF) && (bda_r8(b, BDA_WAIT_ACTIVE) & 0x01)) {
        uint32_t left = bda_r32(b, BDA_WAIT_COUNT);
        if (left > RTC_PERIOD_US) {
            bda_w32(b, BDA_WAIT_COUNT, left - RTC_PERIOD_US);
        } else {
            bda_w32(b, BDA_WAIT_COUNT, 0);
            uint16_t off = bda_r16(b, BDA_WAIT_FLAG_PTR), seg = bda_r16(b, BDA_WAIT_FLAG_PTR + 2);
            uint32_t flag = rm_lin(seg, off);
            uint8_t v = 0;
            guest_read(b, flag, &v, 1);
            v |= 0x80;
            guest_write(b, flag, &v, 1);
            bda_w8(b, BDA_WAIT_ACTIVE, (uint8_t)(bda_r8(b, BDA_WAIT_ACTIVE) & ~0x01) | 0x80);
            rtc_pie(b, 0);
        }
    }
    if (c & RTC_C_AF) r->a.l = 1;             /* the stub calls INT 4Ah */
    outb(b, 0xA0, 0x20);
    outb(b, 0x20, 0x20);
}

/* ---------------------------------------------------------------------------
 * INT 15h. */

void system_int15(struct bios *b, struct regs *r)
{
    switch (r->a.h) {
    case 0x24:
        a20_call(b, r);
        return;
    case 0x4F:                                   /* keyboard intercept: keep the key */
        ret_cf(r);
        return;
    case 0x83:
    case 0x86:
        wait_call(b, r);
        return;
    case 0x87:
        block_move(b, r);
        return;
    case 0x88: {                                 /* KiB above 1 MiB, at most 63 MiB as AT software expects */
        uint32_t kb = ext_kb(b);
        r->a.x = (uint16_t)(kb > 0xFC00 ? 0xFC00 : kb);
        ret_ok(r);
        return;
    }
    case 0x90:                                   /* device busy: nothing to wait for */
    case 0x91:                                   /* interrupt complete */
        r->a.h = 0;
        ret_ok(r);
        return;
    case 0xC0:                                   /* system configuration table */
        r->es = 0xF000;
        r->b.x = b->dir.config_table;
        r->a.h = 0;
        ret_ok(r);
        return;
    case 0xC1:                                   /* EBDA segment */
        r->es = b->ebda_seg;
        ret_ok(r);
        return;
    case 0xE8:
        if (r->a.l == 0x20) {
            e820_call(b, r);
            return;
        }
        if (r->a.l == 0x01) {
            e801_call(b, r);
            return;
        }
        break;
    case 0x53:                                   /* APM */
    case 0x89:                                   /* switch to protected mode */
    case 0xC2:                                   /* PS/2 pointing device */
    case 0xC3:                                   /* watchdog */
    case 0xC4:                                   /* programmable option select */
    case 0xE9:                                   /* E980h: SpeedStep */
    case 0xEC:                                   /* EC00h: target operating mode */
        /* Not on this machine by design: "not supported", quietly (operating
         * systems probe these). */
        ret_err(r, 0x86);
        return;
    default:
        break;
    }
    /* Anything else: "function not supported", never a made-up success, and logged. */
    bios_unimpl(b, 0x15, r);
    ret_err(r, 0x86);
}

/* ---------------------------------------------------------------------------
 * The RTC (INT 1Ah 02h-07h) and the tick count. Calls return BCD whatever
 * mode the RTC runs in (register B: DM binary, 24/12 hour). */

static uint8_t bcd(uint8_t v) { return (uint8_t)((v / 10) << 4 | (v % 10)); }
static uint8_t unbcd(uint8_t v) { return (uint8_t)((v >> 4) * 10 + (v & 0x0F)); }

static uint8_t rtc_get(struct bios *b, uint8_t reg, uint8_t regb)
{
    uint8_t v = cmos_read(b, reg);
    if (reg == 0x04 || reg == 0x05) {         /* hours: 12-hour mode keeps PM in bit 7 */
        int pm = !(regb & RTC_B_24H) && (v & 0x80);
        uint8_t h = v & 0x7F;
        h = (regb & RTC_B_DM) ? h : unbcd(h);
        if (!(regb & RTC_B_24H)) h = (uint8_t)(h % 12 + (pm ? 12 : 0));
        return bcd(h);
    }
    return (regb & RTC_B_DM) ? bcd(v) : v;
}

static void rtc_set(struct bios *b, uint8_t reg, uint8_t bcdval, uint8_t regb)
{
    uint8_t v = unbcd(bcdval);
    if ((reg == 0x04 || reg == 0x05) && !(regb & RTC_B_24H)) {
        uint8_t h12 = v % 12 ? v % 12 : 12;
        uint8_t out = (regb & RTC_B_DM) ? h12 : bcd(h12);
        cmos_write(b, reg, (uint8_t)(out | (v >= 12 ? 0x80 : 0)));
        return;
    }
    cmos_write(b, reg, (regb & RTC_B_DM) ? v : bcdval);
}

/* Seconds since midnight from the RTC, or -1 without one. */
static int32_t rtc_seconds(struct bios *b)
{
    if (!rtc_present(b)) return -1;
    uint8_t regb = cmos_read(b, RTC_B);
    for (int tries = 0; tries < 3; tries++) {
        uint8_t s = rtc_get(b, 0x00, regb), m = rtc_get(b, 0x02, regb), h = rtc_get(b, 0x04, regb);
        if (s == rtc_get(b, 0x00, regb))
            return (int32_t)unbcd(h) * 3600 + unbcd(m) * 60 + unbcd(s);
    }
    return -1;
}

static void rtc_write_begin(struct bios *b, uint8_t *regb)
{
    *regb = cmos_read(b, RTC_B);
    cmos_write(b, RTC_B, *regb | RTC_B_SET);   /* stop updates while we write */
}

static void rtc_write_end(struct bios *b, uint8_t regb)
{
    cmos_write(b, RTC_B, regb & (uint8_t)~RTC_B_SET);
}

void system_int1a(struct bios *b, struct regs *r)
{
    uint8_t fn = r->a.h;
    if (fn == 0xB1) {
        pci_bios_call(b, r);
        return;
    }
    if (fn == 0x00) {                           /* ticks since midnight; AL = midnight flag (cleared) */
        uint32_t t = bda_r32(b, 0x6C);
        r->c.x = (uint16_t)(t >> 16);
        r->d.x = (uint16_t)t;
        r->a.l = bda_r8(b, 0x70);
        bda_w8(b, 0x70, 0);
        ret_ok(r);
        return;
    }
    if (fn == 0x01) {
        bda_w32(b, 0x6C, (uint32_t)r->c.x << 16 | r->d.x);
        bda_w8(b, 0x70, 0);
        ret_ok(r);
        return;
    }
    if (fn > 0x07) {
        bios_unimpl(b, 0x1A, r);
        ret_cf(r);
        return;
    }
    uint8_t rega = cmos_read(b, RTC_A);
    if (rega == 0xFF) {                         /* no RTC */
        ret_cf(r);
        return;
    }
    if ((fn == 0x02 || fn == 0x04) && (rega & RTC_A_UIP)) {
        r->retry = 1;                           /* the registers change in the next 244 us: ask again */
        return;
    }
    uint8_t regb = cmos_read(b, RTC_B);
    switch (fn) {
    case 0x02:
        r->c.h = rtc_get(b, 0x04, regb);
        r->c.l = rtc_get(b, 0x02, regb);
        r->d.h = rtc_get(b, 0x00, regb);
        r->d.l = regb & RTC_B_DSE;
        ret_ok(r);
        break;
    case 0x03:
        rtc_write_begin(b, &regb);
        rtc_set(b, 0x04, r->c.h, regb);
        rtc_set(b, 0x02, r->c.l, regb);
        rtc_set(b, 0x00, r->d.h, regb);
        regb = (uint8_t)((regb & ~RTC_B_DSE) | (r->d.l & 1));
        rtc_write_end(b, regb);
        ret_ok(r);
        break;
    case 0x04:
        r->c.h = cmos_read(b, 0x32);            /* century: BCD as stored */
        if (regb & RTC_B_DM) r->c.h = bcd(r->c.h);
        r->c.l = rtc_get(b, 0x09, regb);
        r->d.h = rtc_get(b, 0x08, regb);
        r->d.l = rtc_get(b, 0x07, regb);
        ret_ok(r);
        break;
    case 0x05:
        rtc_write_begin(b, &regb);
        cmos_write(b, 0x32, (regb & RTC_B_DM) ? unbcd(r->c.h) : r->c.h);
        rtc_set(b, 0x09, r->c.l, regb);
        rtc_set(b, 0x08, r->d.h, regb);
        rtc_set(b, 0x07, r->d.l, regb);
        rtc_write_end(b, regb);
        ret_ok(r);
        break;
    case 0x06:                                  /* alarm at CH:CL:DH; CF if one is already set */
        if (regb & RTC_B_AIE) {
            ret_cf(r);
            break;
        }
        rtc_set(b, 0x05, r->c.h, regb);
        rtc_set(b, 0x03, r->c.l, regb);
        rtc_set(b, 0x01, r->d.h, regb);
        cmos_write(b, RTC_B, regb | RTC_B_AIE);
        outb(b, 0xA1, inb(b, 0xA1) & (uint8_t)~0x01);
        ret_ok(r);
        break;
    case 0x07:
        cmos_write(b, RTC_B, regb & (uint8_t)~RTC_B_AIE);
        ret_ok(r);
        break;
    }
}

/* ---------------------------------------------------------------------------
 * POST. */

void system_post(struct bios *b)
{
    bda_w8(b, BDA_WAIT_ACTIVE, 0);
    if (rtc_present(b)) {
        cmos_write(b, RTC_A, 0x26);              /* 32.768 kHz time base, 1024 Hz periodic rate */
        uint8_t regb = cmos_read(b, RTC_B);
        regb = (uint8_t)((regb & (RTC_B_DM | RTC_B_24H)) | RTC_B_24H);
        cmos_write(b, RTC_B, regb);
        cmos_read(b, RTC_C);
        cmos_read(b, RTC_D);
    } else {
        bios_log(b, "POST: no RTC at ports 70h/71h");
    }
    /* Memory sizes (IBM AT CMOS layout; 34h/35h is the common extension above 16 MiB). */
    cmos_write(b, 0x15, 0x80);                   /* 640 KiB base memory */
    cmos_write(b, 0x16, 0x02);
    uint32_t kb = ext_kb(b);
    uint16_t ext = (uint16_t)(kb > 0xFFFF ? 0xFFFF : kb);
    cmos_write(b, 0x17, (uint8_t)ext);
    cmos_write(b, 0x18, (uint8_t)(ext >> 8));
    cmos_write(b, 0x30, (uint8_t)ext);
    cmos_write(b, 0x31, (uint8_t)(ext >> 8));
    uint32_t above16 = b->ram_top > 0x1000000u ? (b->ram_top - 0x1000000u) >> 16 : 0;
    if (above16 > 0xFFFF) above16 = 0xFFFF;
    cmos_write(b, 0x34, (uint8_t)above16);
    cmos_write(b, 0x35, (uint8_t)(above16 >> 8));
    /* The tick count starts at the time of day, so DOS's clock is right. */
    int32_t secs = rtc_seconds(b);
    uint32_t ticks = secs > 0 ? (uint32_t)((uint64_t)secs * 1193182u / 65536u) : 0;
    bda_w32(b, 0x6C, ticks);
    bda_w8(b, 0x70, 0);
}

void system_cmos_checksum(struct bios *b)
{
    /* The AT checksum: the sum of 10h-2Dh, big-endian at 2Eh/2Fh. */
    uint16_t sum = 0;
    for (uint8_t k = 0x10; k <= 0x2D; k++) sum = (uint16_t)(sum + cmos_read(b, k));
    cmos_write(b, 0x2E, (uint8_t)(sum >> 8));
    cmos_write(b, 0x2F, (uint8_t)sum);
}
