/* The x87's environment through the public API (cpu/ops_fpu.c): the FSAVE /
 * FRSTOR / FSTENV / FLDENV images in their four layouts, the tag word as the
 * hardware computes it, stack overflow and underflow, #MF with CR0.NE = 1 and
 * FERR# with CR0.NE = 0, #NM with CR0.TS / CR0.EM, undefined ESC encodings,
 * FCOMI flags, FCMOVcc, FXAM classes, the constants under each rounding mode,
 * and which instructions update the FIP/FOP/FDP pointers.
 *
 * The x87 code is in tests/fpu/snippets.asm (assembled into snippets.h). Each
 * snippet runs from a fixed address to its HLT; the exception hook records the
 * first exception and leaves cpu_run, except in the FERR# test where the
 * interrupt is delivered for real. Expected values come from the SDM and,
 * where it is silent, from the behaviour of real hardware (noted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/memory.h"
#include "cpu/ioport.h"
#include "cpu/fpu_ops.h"
#include "tests/fpu/snippets.h"

#define RAM_SIZE (4u << 20)

static struct memory *mem;
static struct ioports *io;
static struct cpu *cpu;

#include "tests/check.h"

/* ---------------------------------------------------------------------------
 * The machine. */

static uint32_t code_lin;     /* where snippets are put */
static uint32_t cs_base;      /* CS base: EIP = code_lin - cs_base */
static uint32_t data_lin;     /* linear address of the snippets' D */

static jmp_buf exc_jmp;
static int exc_vec;
static uint32_t exc_eip;
static int hook_stops = 1;    /* 0: exceptions and interrupts are delivered (only logged) */
static int vectors_seen[8], nvectors;

static int ferr_log[8], nferr;
static int ferr_raises_intr;

static void on_exception(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    if (nvectors < 8) vectors_seen[nvectors] = vector;
    nvectors++;
    if (!hook_stops) return;
    exc_vec = vector;
    exc_eip = cpu_get_eip(cpu);
    longjmp(exc_jmp, 1);
}

static void on_ferr(void *opaque, int level)
{
    if (nferr < 8) ferr_log[nferr] = level;
    nferr++;
    if (ferr_raises_intr && level) cpu_set_intr(cpu, 1);
}

static int on_intr_ack(void *opaque)
{
    cpu_set_intr(cpu, 0);
    return 0x20;
}

/* Protected mode, flat 32-bit segments (CS 08h, data 10h), CPL 0, IF = 0. */
static void set_pm32(uint32_t cr0_extra)
{
    cpu_reset(cpu);
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET | cr0_extra);
    struct cpu_segment_state cs = { 0x08, 0, 0xFFFFFFFFu, 0xC09B };
    struct cpu_segment_state ds = { 0x10, 0, 0xFFFFFFFFu, 0xC093 };
    cpu_set_seg(cpu, S_CS, &cs);
    for (int s = 0; s < 6; s++)
        if (s != S_CS) cpu_set_seg(cpu, s, &ds);
    cpu_set_eflags(cpu, 2);
    cpu_set_reg(cpu, R_ESP, 0x8000);
    code_lin = 0x9000;
    cs_base = 0;
    data_lin = 0x2000;
}

/* Real mode with the given CS and DS (snippets use D = 1000h), SS:SP = 0:7000. */
static void set_real(uint16_t cs, uint16_t ds, uint32_t cr0_extra)
{
    cpu_reset(cpu);
    cpu_set_cr(cpu, 0, CR0_ET | cr0_extra);
    cpu_set_seg_real(cpu, S_CS, cs);
    cpu_set_seg_real(cpu, S_DS, ds);
    cpu_set_seg_real(cpu, S_ES, ds);
    cpu_set_seg_real(cpu, S_SS, 0);
    cpu_set_eflags(cpu, 2);
    cpu_set_reg(cpu, R_ESP, 0x7000);
    cs_base = (uint32_t)cs << 4;
    code_lin = cs_base + 0x1000;
    data_lin = ((uint32_t)ds << 4) + 0x1000;
}

/* Run a snippet from code_lin to its HLT. Returns -1 when it reached the HLT,
 * the vector of the first exception (hook_stops), or -2 if it did not halt. */
static int run(const uint8_t *code, size_t len)
{
    memory_write(mem, code_lin, code, (uint32_t)len);
    cpu_set_halted(cpu, 0);
    cpu_set_eip(cpu, code_lin - cs_base);
    exc_vec = -1;
    nvectors = 0;
    if (setjmp(exc_jmp) == 0) {
        if (cpu_run(cpu, 100000) != CPU_STOP_HALT) return -2;
        if (cpu_get_eip(cpu) != code_lin - cs_base + len) return -3;
    }
    return exc_vec;
}
#define RUN(snip) run(snip, sizeof(snip))

/* Data-area accessors (offsets from D). */
static void put16(uint32_t off, uint16_t v) { memory_write(mem, data_lin + off, &v, 2); }
static void put32(uint32_t off, uint32_t v) { memory_write(mem, data_lin + off, &v, 4); }
static void put64(uint32_t off, uint64_t v) { memory_write(mem, data_lin + off, &v, 8); }
static void put80(uint32_t off, uint16_t se, uint64_t sig)
{
    put64(off, sig);
    put16(off + 8, se);
}
static uint16_t get16(uint32_t off) { uint16_t v; memory_read(mem, data_lin + off, &v, 2); return v; }
static uint32_t get32(uint32_t off) { uint32_t v; memory_read(mem, data_lin + off, &v, 4); return v; }
static uint64_t get64(uint32_t off) { uint64_t v; memory_read(mem, data_lin + off, &v, 8); return v; }
static void fill(uint32_t off, uint8_t byte, uint32_t len)
{
    uint8_t buf[256];
    memset(buf, byte, sizeof buf);
    while (len) {
        uint32_t n = len < sizeof buf ? len : (uint32_t)sizeof buf;
        memory_write(mem, data_lin + off, buf, n);
        off += n;
        len -= n;
    }
}

/* A 32-bit protected-mode FSAVE image at D+off: field accessors. */
static uint16_t img_sw(uint32_t off) { return get16(off + 4); }
static uint16_t img_tw(uint32_t off) { return get16(off + 8); }
static int img_reg_is(uint32_t off, int st, uint16_t se, uint64_t sig)
{
    return get64(off + 28 + 10 * st) == sig && get16(off + 28 + 10 * st + 8) == se;
}

#define SIG_INDEF 0xC000000000000000ull
#define SE_INDEF 0xFFFF

/* ---------------------------------------------------------------------------
 * FSAVE/FRSTOR/FSTENV/FLDENV layouts (SDM vol. 1, 8.1.10, figures 8-9 to 8-12). */

struct layout_case {
    const char *name;
    const uint8_t *code;
    size_t len;
    uint32_t last;            /* offset of the last non-control instruction */
    int real, op32;
};

static void test_layout(const struct layout_case *c)
{
    if (c->real) set_real(0x1800, 0x2000, CR0_NE);   /* code at linear 19000h, data at 21000h */
    else set_pm32(CR0_NE);
    fill(0, 0, 0x500);
    put16(0x00, 0x0E72);      /* RC chop, PC 53 bits, IM ZM OM unmasked */
    put80(0x10, 0x3FFF, 0xC000000000000000ull);    /* 1.5 */
    put80(0x20, 0x7FFF, 0x8000000000000000ull);    /* +inf */
    put80(0x30, 0x0000, 0x0000000000000123ull);    /* denormal */
    put80(0x40, 0x3FFF, 0x4000000000000000ull);    /* unnormal */
    put80(0x50, 0x7FFF, 0xC000000000001234ull);    /* QNaN */
    int v = run(c->code, c->len);
    check(v == -1, "%s: ran to the end (%d)", c->name, v);

    /* The environment: R7 = 1.5 valid, R6 zero, R5-R2 special, R1 R0 empty. */
    uint32_t ip_off = code_lin - cs_base + c->last, dp_off = 0x1000 + 0x50;
    uint32_t ip_lin = code_lin + c->last, dp_lin = data_lin + 0x50;
    uint16_t fop = c->real ? 0x32E : 0x32D;       /* DB /5 with [disp16] or [disp32] */
    const uint16_t cw = 0x0E72, sw = 0x1000, tw = 0x1AAF;
    uint32_t regs;
    if (c->op32 && !c->real) {
        dp_off = 0x2050;
        check(get32(0x100) == (0xFFFF0000u | cw) && get32(0x104) == (0xFFFF0000u | sw) &&
              get32(0x108) == (0xFFFF0000u | tw), "%s: cw %08x sw %08x tw %08x", c->name,
              get32(0x100), get32(0x104), get32(0x108));
        check(get32(0x10C) == ip_off && get32(0x110) == (0x08u | (uint32_t)fop << 16) &&
              get32(0x114) == dp_off && get32(0x118) == 0xFFFF0010u,
              "%s: fip %08x fcs/fop %08x fdp %08x fds %08x", c->name, get32(0x10C), get32(0x110),
              get32(0x114), get32(0x118));
        regs = 0x100 + 28;
    } else if (c->op32) {
        check(get32(0x100) == (0xFFFF0000u | cw) && get32(0x104) == (0xFFFF0000u | sw) &&
              get32(0x108) == (0xFFFF0000u | tw), "%s: cw %08x sw %08x tw %08x", c->name,
              get32(0x100), get32(0x104), get32(0x108));
        check(get32(0x10C) == (0xFFFF0000u | (ip_lin & 0xFFFF)) && get32(0x110) == ((ip_lin >> 16) << 12 | fop) &&
              get32(0x114) == (0xFFFF0000u | (dp_lin & 0xFFFF)) && get32(0x118) == (dp_lin >> 16) << 12,
              "%s: ip %08x %08x dp %08x %08x (linear ip %x dp %x)", c->name, get32(0x10C), get32(0x110),
              get32(0x114), get32(0x118), ip_lin, dp_lin);
        regs = 0x100 + 28;
    } else if (!c->real) {
        dp_off = 0x2050;
        check(get16(0x100) == cw && get16(0x102) == sw && get16(0x104) == tw && get16(0x106) == (ip_off & 0xFFFF) &&
              get16(0x108) == 0x08 && get16(0x10A) == dp_off && get16(0x10C) == 0x10,
              "%s: %04x %04x %04x %04x %04x %04x %04x", c->name, get16(0x100), get16(0x102), get16(0x104),
              get16(0x106), get16(0x108), get16(0x10A), get16(0x10C));
        regs = 0x100 + 14;
    } else {
        check(get16(0x100) == cw && get16(0x102) == sw && get16(0x104) == tw &&
              get16(0x106) == (ip_lin & 0xFFFF) && get16(0x108) == (((ip_lin >> 16) & 0xF) << 12 | fop) &&
              get16(0x10A) == (dp_lin & 0xFFFF) && get16(0x10C) == ((dp_lin >> 16) & 0xF) << 12,
              "%s: %04x %04x %04x %04x %04x %04x %04x (linear ip %x dp %x)", c->name, get16(0x100), get16(0x102),
              get16(0x104), get16(0x106), get16(0x108), get16(0x10A), get16(0x10C), ip_lin, dp_lin);
        regs = 0x100 + 14;
    }
    /* The registers in stack order. */
    int regs_ok = get64(regs) == 0xC000000000001234ull && get16(regs + 8) == 0x7FFF &&
                  get64(regs + 10) == 0x4000000000000000ull && get16(regs + 18) == 0x3FFF &&
                  get64(regs + 20) == 0x123 && get16(regs + 28) == 0 &&
                  get64(regs + 30) == 0x8000000000000000ull && get16(regs + 38) == 0x7FFF &&
                  get64(regs + 40) == 0 && get16(regs + 48) == 0 &&
                  get64(regs + 50) == 0xC000000000000000ull && get16(regs + 58) == 0x3FFF;
    check(regs_ok, "%s: registers ST(0)-ST(5) in the image", c->name);

    /* FNSAVE initialises; FRSTOR then FNSAVE gives the same image back. */
    check(get16(0x02) == 0x037F && get16(0x04) == 0, "%s: after fnsave cw %04x sw %04x", c->name,
          get16(0x02), get16(0x04));
    unsigned env_len = c->op32 ? 28 : 14, img_len = env_len + 80;
    uint8_t a[108], b[108];
    memory_read(mem, data_lin + 0x100, a, img_len);
    memory_read(mem, data_lin + 0x200, b, img_len);
    check(memcmp(a, b, img_len) == 0, "%s: frstor/fnsave round trip", c->name);
    /* FNSTENV stores the same environment, then masks all exceptions; FLDENV/FNSTENV round trip. */
    memory_read(mem, data_lin + 0x300, b, env_len);
    check(memcmp(a, b, env_len) == 0, "%s: fnstenv image = fnsave's environment", c->name);
    check(get16(0x06) == 0x0E7F, "%s: cw after fnstenv %04x", c->name, get16(0x06));
    memory_read(mem, data_lin + 0x340, a, env_len);
    check(memcmp(a, b, env_len) == 0, "%s: fldenv/fnstenv round trip", c->name);
    /* FLDENV restored the unmasked control word, the second FNSTENV masked it again. */
    check(get16(0x400) == 0x0E7F, "%s: cw after fldenv and fnstenv %04x", c->name, get16(0x400));
}

static void test_layouts(void)
{
    const struct layout_case cases[] = {
        { "fsave pm32", snip_layout_pm32, sizeof snip_layout_pm32, SNIP_LAYOUT_PM32_L_LAST, 0, 1 },
        { "fsave pm16", snip_layout_pm16, sizeof snip_layout_pm16, SNIP_LAYOUT_PM16_L_LAST, 0, 0 },
        { "fsave rm16", snip_layout_rm16, sizeof snip_layout_rm16, SNIP_LAYOUT_RM16_L_LAST, 1, 0 },
        { "fsave rm32", snip_layout_rm32, sizeof snip_layout_rm32, SNIP_LAYOUT_RM32_L_LAST, 1, 1 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) test_layout(&cases[k]);
}

/* FRSTOR takes only empty/not empty from the image's tag word; FNSTENV reports
 * the tags computed from the contents (SDM vol. 1, 8.1.7). */
static void test_tags_from_contents(void)
{
    static const struct { uint16_t se; uint64_t sig; } regs[8] = {
        { 0x3FFF, 0x8000000000000000ull },   /* 1.0: valid */
        { 0x0000, 0 },                       /* +0: zero */
        { 0x7FFF, 0x8000000000000000ull },   /* inf: special */
        { 0x7FFF, 0xC000000000000000ull },   /* NaN: special */
        { 0x0000, 0x0000000000000001ull },   /* denormal: special */
        { 0x3FFF, 0x0000000000000001ull },   /* unnormal: special */
        { 0x0000, 0x8000000000000000ull },   /* pseudo-denormal: special */
        { 0xC000, 0x8000000000000000ull },   /* -2.0: valid */
    };
    static const struct { uint16_t in, out; } cases[] = {
        { 0x0000, 0x2AA4 }, { 0xFFFF, 0xFFFF }, { 0xC3C3, 0xEBE7 }, { 0x5555, 0x2AA4 },
    };
    set_pm32(CR0_NE);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fill(0x100, 0, 108);
        put32(0x100, 0x037F);
        put32(0x104, 0);          /* TOP 0: ST(i) = R(i) */
        put32(0x108, cases[k].in);
        for (int r = 0; r < 8; r++) put80(0x100 + 28 + 10 * r, regs[r].se, regs[r].sig);
        int v = RUN(snip_frstor_tags);
        check(v == -1 && get16(0x208) == cases[k].out, "tag word image %04x: fnstenv says %04x, want %04x (%d)",
              cases[k].in, get16(0x208), cases[k].out, v);
    }
}

/* ---------------------------------------------------------------------------
 * Stack faults (SDM vol. 1, 8.5.1.1): IE with SF; C1 = 1 for overflow, 0 for
 * underflow; masked, the indefinite is produced; unmasked, nothing moves. */

static void test_stack_faults(void)
{
    set_pm32(CR0_NE);
    put16(0, 0x037F);
    int v = RUN(snip_overflow);
    check(v == -1 && img_sw(0x100) == 0x3A41 && img_reg_is(0x100, 0, SE_INDEF, SIG_INDEF) &&
          ((img_tw(0x100) >> 14) & 3) == 2, "masked overflow: sw %04x tw %04x", img_sw(0x100), img_tw(0x100));
    put16(0, 0x037E);
    v = RUN(snip_overflow);
    check(v == -1 && img_sw(0x100) == 0x82C1 && img_reg_is(0x100, 0, 0, 0), "unmasked overflow: sw %04x",
          img_sw(0x100));

    put16(0, 0x037F);
    v = RUN(snip_underflow_add);
    check(v == -1 && img_sw(0x100) == 0x3841 && img_reg_is(0x100, 0, SE_INDEF, SIG_INDEF),
          "masked underflow fadd: sw %04x", img_sw(0x100));
    put16(0, 0x037E);
    v = RUN(snip_underflow_add);
    check(v == -1 && img_sw(0x100) == 0xB8C1 && img_reg_is(0x100, 0, 0x3FFF, 0x8000000000000000ull),
          "unmasked underflow fadd: sw %04x", img_sw(0x100));

    put16(0, 0x037F);
    v = RUN(snip_underflow_faddp);
    check(v == -1 && img_sw(0x100) == 0x0041 && img_reg_is(0x100, 1, SE_INDEF, SIG_INDEF) &&
          img_tw(0x100) == 0xFFFB, "masked underflow faddp: sw %04x tw %04x", img_sw(0x100), img_tw(0x100));

    put16(0, 0x037F);
    fill(0x20, 0xAA, 8);
    v = RUN(snip_underflow_store);
    check(v == -1 && img_sw(0x100) == 0x1041 && get32(0x20) == 0xFFC00000u && get16(0x24) == 0x8000,
          "masked underflow stores: sw %04x m32 %08x m16 %04x", img_sw(0x100), get32(0x20), get16(0x24));
    put16(0, 0x037E);
    fill(0x20, 0xAA, 8);
    v = RUN(snip_underflow_store);
    check(v == 16, "unmasked underflow store: #MF at the next store (%d)", v);
    v = RUN(snip_fnsave_only);
    check(v == -1 && img_sw(0x100) == 0x80C1 && get32(0x20) == 0xAAAAAAAAu && get16(0x24) == 0xAAAA,
          "unmasked underflow store: sw %04x m32 %08x m16 %04x", img_sw(0x100), get32(0x20), get16(0x24));
}

/* ---------------------------------------------------------------------------
 * Unmasked exceptions with CR0.NE = 1: #MF at the next waiting instruction. */

static void test_mf(void)
{
    set_pm32(CR0_NE);
    put16(0, 0x037B);   /* ZE unmasked */
    uint32_t fault_code = code_lin;
    int v = RUN(snip_mf_fault);
    check(v == 16 && exc_eip == code_lin + SNIP_MF_FAULT_L_WAIT, "#MF at the waiting fld1: vector %d eip %08x", v,
          exc_eip);
    check(get16(4) == 0xB084, "fnstsw ax with the exception pending: %04x", get16(4));
    v = RUN(snip_mf_after);
    check(v == -1, "no-wait instructions, then fnstenv masks: ran (%d)", v);
    check(get16(6) == 0xB084 && get16(8) == 0x037B, "pending: sw %04x cw %04x", get16(6), get16(8));
    check(get32(0x4C) == fault_code + SNIP_MF_FAULT_L_FAULT && get32(0x50) == (0x08u | 0x6F9u << 16),
          "fip %08x fcs/fop %08x point at the fdivp", get32(0x4C), get32(0x50));
    check(get16(0x100) == 0x037F && img_sw(0x100) == 0x2804, "after fnstenv: cw %04x sw %04x", get16(0x100),
          img_sw(0x100));

    v = RUN(snip_mf_wait);
    check(v == 16 && exc_eip == code_lin + SNIP_MF_WAIT_L_WAIT, "#MF at wait: vector %d eip %08x", v, exc_eip);
    v = RUN(snip_mf_fldcw);
    check(v == 16 && exc_eip == code_lin + SNIP_MF_FLDCW_L_NEXT, "#MF after fldcw unmasks: vector %d eip %08x", v,
          exc_eip);
    v = RUN(snip_mf_nowait);
    check(v == -1, "no-wait instructions never raise #MF (%d)", v);

    /* FRSTOR of a state with an unmasked flag: ES recomputed, reported at the next waiting instruction. */
    fill(0x100, 0, 108);
    put32(0x100, 0x037E);
    put32(0x104, 0x0001);
    put32(0x108, 0xFFFF);
    v = RUN(snip_frstor_pending);
    check(v == 16 && exc_eip == code_lin + SNIP_FRSTOR_PENDING_L_NEXT && get16(2) == 0x8081,
          "frstor with IE flagged and unmasked: vector %d, sw %04x", v, get16(2));
    v = RUN(snip_frstor_pending);
    check(v == 16 && exc_eip == code_lin, "frstor itself waits: vector %d at %08x", v, exc_eip);
    RUN(snip_fnclex);
    put32(0x100, 0x037F);
    put32(0x104, 0x8081);     /* ES and B in the image, but IE masked: nothing pending */
    v = RUN(snip_frstor_pending);
    check(v == -1 && get16(2) == 0x0001, "frstor with IE flagged and masked: %d, sw %04x", v, get16(2));

    /* #NM comes before a pending #MF. */
    v = RUN(snip_make_pending);
    cpu_set_cr(cpu, 0, cpu_get_cr(cpu, 0) | CR0_TS);
    v = RUN(snip_nm_fld);
    check(v == 7, "TS with an exception pending: #NM, got %d", v);
    cpu_set_cr(cpu, 0, cpu_get_cr(cpu, 0) & ~CR0_TS);
    v = RUN(snip_nm_fld);
    check(v == 16, "then #MF, got %d", v);
}

/* ---------------------------------------------------------------------------
 * CR0.NE = 0: FERR# (SDM vol. 1, D.2.2). */

static void test_ferr(void)
{
    struct cpu_callbacks cb = { .opaque = NULL, .intr_ack = on_intr_ack, .ferr = on_ferr };
    cpu_set_callbacks(cpu, &cb);

    /* IF = 0: FERR# goes up at the faulting instruction, the next waiting one proceeds. */
    set_pm32(0);
    put16(0, 0x037B);
    nferr = 0;
    ferr_raises_intr = 0;
    int v = RUN(snip_ferr_proceed);
    check(v == -1 && nferr == 1 && ferr_log[0] == 1, "ferr asserted once (%d calls, run %d)", nferr, v);
    check(get16(2) == 0xA884, "the waiting fld1 ran: sw %04x", get16(2));
    v = RUN(snip_fnclex);
    check(v == -1 && nferr == 2 && ferr_log[1] == 0, "fnclex deasserts ferr (%d calls)", nferr);

    /* Real mode, IF = 1, FERR# raising INTR: the handler runs before the waiting fld1. */
    set_real(0x0800, 0x0100, 0);
    put16(0, 0x037B);
    put16(0x20, 0);
    memory_write(mem, 0x9800, snip_ferr_handler, sizeof snip_ferr_handler);
    uint32_t ivt = (0x0800u << 16) | 0x1800u;
    memory_write(mem, 0x20 * 4, &ivt, 4);
    nferr = 0;
    ferr_raises_intr = 1;
    hook_stops = 0;
    v = RUN(snip_ferr_freeze);
    hook_stops = 1;
    ferr_raises_intr = 0;
    check(v == -1, "ferr freeze: ran to the end (%d)", v);
    check(get16(0x20) == 1, "irq handler ran once (%d)", get16(0x20));
    check(((get16(0x22) >> 11) & 7) == 6, "the handler ran before the waiting fld1: top %d", (get16(0x22) >> 11) & 7);
    check(((get16(0x24) >> 11) & 7) == 5 && !(get16(0x24) & 0x80), "fld1 ran after the handler: sw %04x", get16(0x24));
    check(nferr == 2 && ferr_log[0] == 1 && ferr_log[1] == 0, "ferr up then down (%d calls)", nferr);
    check(nvectors == 1 && vectors_seen[0] == 0x20, "one interrupt, vector %x (%d seen)", vectors_seen[0], nvectors);

    struct cpu_callbacks none = { 0 };
    cpu_set_callbacks(cpu, &none);
}

/* ---------------------------------------------------------------------------
 * #NM and #UD (SDM vol. 3, 2.5 table 2-2; 22.18.6.6 undefined ESC opcodes). */

static void test_nm_ud(void)
{
    set_pm32(CR0_NE | CR0_TS);
    check(RUN(snip_nm_fld) == 7, "TS: esc is #NM");
    check(RUN(snip_nm_wait) == -1, "TS without MP: wait runs");
    check(RUN(snip_undef_d9d1) == 7, "TS: undefined esc opcode is #NM");
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET | CR0_NE | CR0_TS | CR0_MP);
    check(RUN(snip_nm_wait) == 7, "TS and MP: wait is #NM");
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET | CR0_NE | CR0_EM);
    check(RUN(snip_nm_fld) == 7, "EM: esc is #NM");
    check(RUN(snip_nm_wait) == -1, "EM: wait runs");
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET | CR0_NE | CR0_MP);
    check(RUN(snip_nm_fld) == -1, "MP alone: esc runs");
    check(RUN(snip_undef_d9d1) == 6, "d9 d1 is #UD");
    check(RUN(snip_undef_dfe1) == 6, "df e1 is #UD");
    check(RUN(snip_undef_d9_mem1) == 6, "d9 /1 memory is #UD");
    check(RUN(snip_undef_fisttp) == 6, "fisttp (SSE3) is #UD");
    /* The FSTP1 alias behaves as FSTP ST(i) (an AMD part skips the empty check). */
    int v = RUN(snip_fstp1_empty);
    check(v == -1 && img_sw(0x100) == 0x3841 && img_reg_is(0x100, 0, SE_INDEF, SIG_INDEF),
          "fstp1 with st0 empty: sw %04x", img_sw(0x100));

    /* Without an FPU: #UD for esc, wait does nothing. */
    fpu_detach(cpu);
    check(RUN(snip_nm_fld) == 6, "no FPU: esc is #UD");
    check(RUN(snip_nm_wait) == -1, "no FPU: wait runs");
    fpu_attach(cpu);
}

/* ---------------------------------------------------------------------------
 * FCOMI/FCOMIP/FUCOMI/FUCOMIP: ZF PF CF; OF SF AF cleared; IE only for FCOMI with a QNaN. */

#define D_ONE 0x3FF0000000000000ull
#define D_TWO 0x4000000000000000ull
#define D_QNAN 0x7FF8000000000000ull

static void test_fcomi(void)
{
    static const struct { uint64_t st0, st1; uint32_t flags; } cases[] = {
        { D_ONE, D_TWO, 0x01 }, { D_TWO, D_ONE, 0x00 }, { D_ONE, D_ONE, 0x40 }, { D_QNAN, D_ONE, 0x45 },
        { D_ONE, D_QNAN, 0x45 },
    };
    static const struct { const char *name; const uint8_t *code; size_t len; int pops, quiet; } ops[] = {
        { "fcomi", snip_fcomi, sizeof snip_fcomi, 0, 0 },
        { "fcomip", snip_fcomip, sizeof snip_fcomip, 1, 0 },
        { "fucomi", snip_fucomi, sizeof snip_fucomi, 0, 1 },
        { "fucomip", snip_fucomip, sizeof snip_fucomip, 1, 1 },
    };
    set_pm32(CR0_NE);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            put64(0, cases[k].st0);
            put64(8, cases[k].st1);
            int v = run(ops[o].code, ops[o].len);
            uint32_t fl = get32(0x40) & 0x8D5;
            int nan = cases[k].flags == 0x45;
            uint16_t want_sw = (uint16_t)((ops[o].pops ? 7u : 6u) << 11 | (nan && !ops[o].quiet ? 1u : 0u));
            check(v == -1 && fl == cases[k].flags && img_sw(0x100) == want_sw,
                  "%s case %zu: eflags %03x want %03x, sw %04x want %04x", ops[o].name, k, fl, cases[k].flags,
                  img_sw(0x100), want_sw);
        }
    }
}

/* FCMOVcc: ST(0) = 1.0, ST(1) = 2.0; each condition true and false. */
static void test_fcmov(void)
{
    static const struct { const char *name; const uint8_t *code; size_t len; uint32_t yes, no; } cases[] = {
        { "fcmovb", snip_fcmovb, sizeof snip_fcmovb, F_CF, 0 },
        { "fcmove", snip_fcmove, sizeof snip_fcmove, F_ZF, F_CF },
        { "fcmovbe", snip_fcmovbe, sizeof snip_fcmovbe, F_ZF, F_PF },
        { "fcmovbe cf", snip_fcmovbe, sizeof snip_fcmovbe, F_CF, 0 },
        { "fcmovu", snip_fcmovu, sizeof snip_fcmovu, F_PF, F_ZF | F_CF },
        { "fcmovnb", snip_fcmovnb, sizeof snip_fcmovnb, F_ZF, F_CF },
        { "fcmovne", snip_fcmovne, sizeof snip_fcmovne, F_CF | F_PF, F_ZF },
        { "fcmovnbe", snip_fcmovnbe, sizeof snip_fcmovnbe, F_PF, F_ZF },
        { "fcmovnbe cf", snip_fcmovnbe, sizeof snip_fcmovnbe, 0, F_CF },
        { "fcmovnu", snip_fcmovnu, sizeof snip_fcmovnu, F_ZF, F_PF },
    };
    set_pm32(CR0_NE);
    put64(0, D_ONE);
    put64(8, D_TWO);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        put32(0x10, 2 | cases[k].yes);
        int v = run(cases[k].code, cases[k].len);
        check(v == -1 && get64(0x20) == D_TWO, "%s with %03x: moves (%d, %016llx)", cases[k].name, cases[k].yes, v,
              (unsigned long long)get64(0x20));
        put32(0x10, 2 | cases[k].no);
        v = run(cases[k].code, cases[k].len);
        check(v == -1 && get64(0x20) == D_ONE, "%s with %03x: does not move (%d, %016llx)", cases[k].name,
              cases[k].no, v, (unsigned long long)get64(0x20));
    }
}

/* FXAM: C3 C2 C0 give the class, C1 the sign, also of an empty register's stale contents. */
static void test_fxam(void)
{
    static const struct { const char *name; uint16_t se; uint64_t sig; uint16_t cc; } cases[] = {
        { "+normal", 0x3FFF, 0xC000000000000000ull, 0x0400 },
        { "-normal", 0xBFFF, 0xC000000000000000ull, 0x0600 },
        { "+0", 0x0000, 0, 0x4000 },
        { "-0", 0x8000, 0, 0x4200 },
        { "+inf", 0x7FFF, 0x8000000000000000ull, 0x0500 },
        { "-inf", 0xFFFF, 0x8000000000000000ull, 0x0700 },
        { "qnan", 0x7FFF, 0xC000000000000001ull, 0x0100 },
        { "-snan", 0xFFFF, 0x8000000000000001ull, 0x0300 },
        { "denormal", 0x0000, 0x0000000000000001ull, 0x4400 },
        { "-denormal", 0x8000, 0x7FFFFFFFFFFFFFFFull, 0x4600 },
        { "unnormal", 0x4000, 0x4000000000000000ull, 0x0000 },
        { "pseudo-nan", 0x7FFF, 0x4000000000000000ull, 0x0000 },
        { "pseudo-inf", 0x7FFF, 0, 0x0000 },
    };
    set_pm32(CR0_NE);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        put80(0, cases[k].se, cases[k].sig);
        int v = RUN(snip_fxam);
        check(v == -1 && (get16(0x20) & 0x4700) == cases[k].cc, "fxam %s: %04x want %04x", cases[k].name,
              get16(0x20) & 0x4700, cases[k].cc);
    }
    put80(0, 0xBFFF, 0xC000000000000000ull);
    int v = RUN(snip_fxam_empty);
    check(v == -1 && (get16(0x20) & 0x4700) == 0x4300, "fxam empty with stale -1.5: %04x", get16(0x20) & 0x4700);
    put80(0, 0x3FFF, 0xC000000000000000ull);
    v = RUN(snip_fxam_empty);
    check(v == -1 && (get16(0x20) & 0x4700) == 0x4100, "fxam empty with stale 1.5: %04x", get16(0x20) & 0x4700);
}

/* FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ under each RC: the 66-bit internal
 * constants rounded (SDM vol. 1, 8.3.8; values as read from hardware). */
static void test_constants(void)
{
    static const uint64_t nearest[7] = {
        0x8000000000000000ull, 0xD49A784BCD1B8AFEull, 0xB8AA3B295C17F0BCull, 0xC90FDAA22168C235ull,
        0x9A209A84FBCFF799ull, 0xB17217F7D1CF79ACull, 0,
    };
    static const uint16_t exps[7] = { 0x3FFF, 0x4000, 0x3FFF, 0x4000, 0x3FFD, 0x3FFE, 0 };
    /* Down and chop take one off where nearest rounded up; up adds one to L2T. */
    static const int64_t delta[4][7] = {
        { 0, 0, 0, 0, 0, 0, 0 },
        { 0, 0, -1, -1, -1, -1, 0 },
        { 0, 1, 0, 0, 0, 0, 0 },
        { 0, 0, -1, -1, -1, -1, 0 },
    };
    set_pm32(CR0_NE);
    for (int rc = 0; rc < 4; rc++) {
        put16(0, (uint16_t)(0x037F | rc << 10));
        int v = RUN(snip_consts);
        int ok = v == -1 && get16(2) == 0;
        for (int k = 0; k < 7; k++) {
            uint64_t want = nearest[k] + (uint64_t)delta[rc][k];
            uint64_t got = get64(0x10 + 10 * k);
            uint16_t e = get16(0x10 + 10 * k + 8);
            if (got != want || e != exps[k]) {
                ok = 0;
                printf("  rc %d constant %d: %04x:%016llx want %04x:%016llx\n", rc, k, e, (unsigned long long)got,
                       exps[k], (unsigned long long)want);
            }
        }
        check(ok, "constants under rc %d (sw %04x)", rc, get16(2));
    }
}

/* Control instructions keep the pointers of the last non-control instruction (SDM vol. 1, 8.1.8). */
static void test_pointers(void)
{
    set_pm32(CR0_NE);
    put16(0, 0x037F);
    put64(8, D_ONE);
    int v = RUN(snip_fip_control);
    check(v == -1, "fip test ran (%d)", v);
    uint32_t fld = code_lin + SNIP_FIP_CONTROL_L_FLD, inc = code_lin + SNIP_FIP_CONTROL_L_FINCSTP;
    check(get32(0x8C) == fld && get32(0x90) == (0x08u | 0x505u << 16) && get32(0x94) == data_lin + 8 &&
          (get32(0x98) & 0xFFFF) == 0x10, "after control instructions: fip %08x fcs/fop %08x fdp %08x fds %08x",
          get32(0x8C), get32(0x90), get32(0x94), get32(0x98));
    check(get32(0xCC) == inc && get32(0xD0) == (0x08u | 0x1F7u << 16) && get32(0xD4) == data_lin + 8,
          "after fincstp: fip %08x fcs/fop %08x fdp %08x", get32(0xCC), get32(0xD0), get32(0xD4));
}

int main(void)
{
    mem = memory_new(RAM_SIZE);
    io = ioports_new();
    cpu = mem && io ? cpu_new(mem, io) : NULL;
    if (!cpu || fpu_attach(cpu) != 0) {
        printf("cannot create the machine\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    cpu_set_exception_hook(cpu, on_exception, NULL);

    test_layouts();
    test_tags_from_contents();
    test_stack_faults();
    test_mf();
    test_ferr();
    test_nm_ud();
    test_fcomi();
    test_fcmov();
    test_fxam();
    test_constants();
    test_pointers();

    printf("RESULT: %d passed, %d failed\n", passed, failed);
    fpu_detach(cpu);
    cpu_free(cpu);
    ioports_free(io);
    memory_free(mem);
    return failed ? 1 : 0;
}
