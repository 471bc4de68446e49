/* test_diffhw, part 1: random instruction sequences and their two encodings.
 *
 * Every generated instruction has two byte strings: the "native" one runs on
 * the host in 64-bit mode, the "emulated" one runs in Bubble in 32-bit flat
 * protected mode. They differ only where the modes differ:
 *  - native memory operands carry a 67h prefix so effective addresses are
 *    32-bit (in 32-bit code 67h would mean 16-bit addressing: not emitted);
 *  - native never uses ModRM mod=00 rm=101 (RIP-relative in 64-bit mode): an
 *    absolute disp32 is a SIB with no base and no index there, while the
 *    emulated stream sometimes uses the short mod=00 rm=101 form.
 * No REX byte is ever emitted (40-4F are INC/DEC in 32-bit code; INC/DEC are
 * generated through FE/FF /0 /1).
 *
 * The generator follows which registers still hold a value it knows (every
 * register starts known; a write makes it unknown, MOV r32,imm32 makes it
 * known again, string instructions and LOOP widen a known range), so memory
 * operands always land inside the data buffer and REP counts stay small. */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cpu/cpu.h"

/* Where things live. The data buffer has the same address natively
 * (mmap MAP_FIXED_NOREPLACE) and in the emulated flat address space. */
#define DATA_BASE      0x00100000u
#define DATA_SIZE      0x00010000u
#define EMU_CODE_ADDR  0x00010000u   /* two pages; a sequence may straddle them */
#define EMU_CODE_MAX   0x00002000u
#define EMU_RAM_SIZE   0x00200000u

#define MAX_SEQ        24      /* instructions per case, preparation moves included */
#define MAX_INSN_BYTES 20
#define EA_NONE        8       /* no base / no index */

#define FLAGS_CMP (F_OSZAPC | F_DF)

/* ---------------------------------------------------------------------------
 * Random numbers: splitmix64, seeded per case from (seed, case number) so any
 * case can be rerun alone. */
struct rng { uint64_t s; };

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed_case(struct rng *r, uint64_t seed, uint64_t case_no)
{
    r->s = seed * 0xD1342543DE82EF95ull + case_no * 0x2545F4914F6CDD1Dull + 1;
    rng_next(r);
}

/* Uniform in [0, n). */
static uint32_t rnd(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static int chance(struct rng *r, int percent)
{
    return (int)rnd(r, 100) < percent;
}

static uint32_t rnd32(struct rng *r)
{
    return (uint32_t)(rng_next(r) >> 16);
}

/* Values at the edges where flags and carries change. */
static const uint32_t edge_values[] = {
    0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 0x3F, 0x40, 0x7E, 0x7F, 0x80, 0x81,
    0xFE, 0xFF, 0x100, 0x7FFE, 0x7FFF, 0x8000, 0x8001, 0xFFFE, 0xFFFF, 0x10000,
    0x7FFFFFFE, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF,
    0x55555555, 0xAAAAAAAA, 0x0F0F0F0F, 0xFFFFFF80, 0xFFFFFF7F, 0xFFFF8000, 0xFFFF7FFF,
};

static uint32_t edge32(struct rng *r)
{
    uint32_t v = edge_values[rnd(r, sizeof edge_values / sizeof edge_values[0])];
    switch (rnd(r, 8)) {
    case 0: return (rnd32(r) & 0xFFFFFF00u) | (v & 0xFF);    /* byte edge, noisy upper bits */
    case 1: return (rnd32(r) & 0xFFFF0000u) | (v & 0xFFFF);  /* word edge */
    case 2: return (uint32_t)-v;
    default: return v;
    }
}

/* An operand value: mostly edges, some small signed numbers, some noise. */
static uint32_t value32(struct rng *r)
{
    uint32_t k = rnd(r, 100);
    if (k < 50) return edge32(r);
    if (k < 70) return (uint32_t)((int32_t)rnd(r, 33) - 16);
    return rnd32(r);
}

static uint32_t shift_count_imm(struct rng *r)
{
    static const uint8_t counts[] = { 0, 1, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 255 };
    if (chance(r, 80)) return counts[rnd(r, sizeof counts)];
    return rnd(r, 256);
}

/* ---------------------------------------------------------------------------
 * Instructions. */
enum sem {                  /* what an instruction does to OF SF ZF AF PF CF (tests/diffhw/flags.c) */
    SEM_NONE, SEM_ARITH, SEM_ARITH_CIN, SEM_LOGIC, SEM_INCDEC, SEM_MUL, SEM_DIV,
    SEM_SHIFT, SEM_SHXD, SEM_BT, SEM_BSF, SEM_ZF, SEM_SAHF, SEM_LAHF, SEM_SETCF,
    SEM_CMC, SEM_CC, SEM_LOOPZ, SEM_STRCMP,
};
enum branch_kind { BR_NONE, BR_JCC, BR_JMP, BR_JECXZ, BR_LOOP, BR_LOOPE, BR_LOOPNE };
enum count_src { CNT_NONE, CNT_IMM, CNT_CL, CNT_ONE };
enum track_kind { TRK_NONE, TRK_MOVIMM, TRK_STRING, TRK_LOOP, TRK_ESP_ADD, TRK_ESP_FROM_EBP };
enum { STREAM_NAT, STREAM_EMU };
enum { MOD_0, MOD_8, MOD_32, MOD_ABS };  /* MOD_ABS: no base; emulated may use mod=00 rm=101 */

struct mem_ea {
    uint8_t base, index, scale;   /* registers 0-7 or EA_NONE; index shift */
    uint8_t mod;                  /* MOD_* */
    uint8_t force_sib;            /* SIB even where none is needed */
    uint8_t emu_short_abs;        /* emulated stream: mod=00 rm=101 disp32 */
    uint32_t disp;
};

struct operand {
    uint8_t is_mem;
    uint8_t reg;                  /* register number, in the naming of the operand size */
    struct mem_ea ea;
};

struct ginsn {
    uint8_t bytes[2][MAX_INSN_BYTES];
    uint8_t len[2];
    uint8_t rel_off[2];           /* branches: offset of the displacement */
    uint8_t rel_size;
    uint8_t skip[2];              /* branches: bytes skipped (the next instruction, or padding) */
    uint8_t family;
    uint8_t sem;
    uint8_t size;                 /* operand size in bytes */
    uint8_t op;                   /* shift kind (ModRM /r), condition code, ... */
    uint8_t count_src, count_imm; /* shifts */
    uint8_t reg;                  /* ModRM reg operand */
    struct operand rm;            /* ModRM r/m operand */
    uint8_t has_rm;
    uint8_t no_access;            /* LEA, NOP: the memory operand is never accessed */
    uint8_t rep;                  /* 0, 0xF3 or 0xF2 */
    uint8_t branch;               /* BR_* */
    uint8_t wregs;                /* 32-bit registers it may write */
    uint8_t track;                /* TRK_* */
    uint8_t tracked;
    uint8_t need67;
    uint8_t uses_si, uses_di;     /* string instructions */
    uint32_t track_val;
    char text[128];
};

/* ---------------------------------------------------------------------------
 * Names and text. */
static const char *const reg_names[3][8] = {
    { "al", "cl", "dl", "bl", "ah", "ch", "dh", "bh" },
    { "ax", "cx", "dx", "bx", "sp", "bp", "si", "di" },
    { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" },
};

static const char *regname(int r, int size)
{
    return reg_names[size == 1 ? 0 : size == 2 ? 1 : 2][r & 7];
}

static const char *size_name(int size)
{
    switch (size) {
    case 1: return "byte";
    case 2: return "word";
    case 4: return "dword";
    default: return "qword";
    }
}

static const char *const cc_names[16] = {
    "o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g",
};

static void fmt_ea(char *buf, size_t n, const struct mem_ea *ea)
{
    char tmp[64];
    int k = 0;
    tmp[0] = 0;
    if (ea->base != EA_NONE)
        k += snprintf(tmp + k, sizeof tmp - k, "%s", regname(ea->base, 4));
    if (ea->index != EA_NONE)
        k += snprintf(tmp + k, sizeof tmp - k, "%s%s*%d", k ? "+" : "", regname(ea->index, 4), 1 << ea->scale);
    if (ea->disp || !k)
        snprintf(tmp + k, sizeof tmp - k, "%s0x%x", k ? "+" : "", ea->disp);
    snprintf(buf, n, "[%s]", tmp);
}

static const char *fmt_rm(char *buf, size_t n, const struct operand *op, int size)
{
    if (op->is_mem) {
        char e[64];
        fmt_ea(e, sizeof e, &op->ea);
        snprintf(buf, n, "%s %s", size_name(size), e);
    } else {
        snprintf(buf, n, "%s", regname(op->reg, size));
    }
    return buf;
}

/* 32-bit register written when register `r` of `size` is written. */
static uint8_t regbit(int r, int size)
{
    return (uint8_t)(1u << (size == 1 ? (r & 3) : r));
}

/* ---------------------------------------------------------------------------
 * Encoding. Both streams get the same bytes except where noted. */
static void put(struct ginsn *in, uint8_t b)
{
    in->bytes[0][in->len[0]++] = b;
    in->bytes[1][in->len[1]++] = b;
}

static void put_stream(struct ginsn *in, int s, uint8_t b)
{
    in->bytes[s][in->len[s]++] = b;
}

static void put_imm(struct ginsn *in, uint32_t v, int n)
{
    for (int k = 0; k < n; k++)
        put(in, (uint8_t)(v >> (8 * k)));
}

static void put_modrm(struct ginsn *in, int regfield, const struct operand *op)
{
    if (!op->is_mem) {
        put(in, (uint8_t)(0xC0 | (regfield & 7) << 3 | (op->reg & 7)));
        return;
    }
    const struct mem_ea *ea = &op->ea;
    int idx = ea->index == EA_NONE ? 4 : ea->index;
    if (ea->base == EA_NONE) {
        /* No base: SIB with base=101 and mod=00 means disp32 in both modes. */
        if (ea->index == EA_NONE && ea->emu_short_abs) {
            put_stream(in, STREAM_EMU, (uint8_t)(0x05 | (regfield & 7) << 3));
            put_stream(in, STREAM_NAT, (uint8_t)(0x04 | (regfield & 7) << 3));
            put_stream(in, STREAM_NAT, (uint8_t)(ea->scale << 6 | idx << 3 | 5));
        } else {
            put(in, (uint8_t)(0x04 | (regfield & 7) << 3));
            put(in, (uint8_t)(ea->scale << 6 | idx << 3 | 5));
        }
        put_imm(in, ea->disp, 4);
        return;
    }
    int mod = ea->mod == MOD_0 ? 0 : ea->mod == MOD_8 ? 1 : 2;
    int sib = ea->base == 4 || ea->index != EA_NONE || ea->force_sib;
    put(in, (uint8_t)(mod << 6 | (regfield & 7) << 3 | (sib ? 4 : ea->base)));
    if (sib)
        put(in, (uint8_t)(ea->scale << 6 | idx << 3 | ea->base));
    if (mod == 1)
        put(in, (uint8_t)ea->disp);
    else if (mod == 2)
        put_imm(in, ea->disp, 4);
}

/* Prefixes for an instruction with a ModRM operand: segment override (rarely),
 * operand size, LOCK. */
static void put_prefixes(struct ginsn *in, struct rng *r, int size, int lock)
{
    static const uint8_t seg_prefix[3] = { 0x26, 0x36, 0x3E };  /* ES SS DS: base 0 both ways */
    if (in->has_rm && in->rm.is_mem && chance(r, 6))
        put(in, seg_prefix[rnd(r, 3)]);
    if (size == 2)
        put(in, 0x66);
    if (lock)
        put(in, 0xF0);
    if (in->has_rm && in->rm.is_mem)
        in->need67 = 1;
}

/* Native memory forms start with 67h. */
static void finalize_insn(struct ginsn *in)
{
    if (in->need67) {
        memmove(in->bytes[STREAM_NAT] + 1, in->bytes[STREAM_NAT], in->len[STREAM_NAT]);
        in->bytes[STREAM_NAT][0] = 0x67;
        in->len[STREAM_NAT]++;
        if (in->branch)
            in->rel_off[STREAM_NAT]++;
    }
}

/* ---------------------------------------------------------------------------
 * The generator's knowledge of register values. */
struct gen {
    struct rng *r;
    uint8_t known[8];
    int64_t lo[8], hi[8];       /* known value range, no wrap inside (lo <= hi, 0..2^32-1) */
    uint32_t maybe_undef;       /* flags a previous instruction may have left undefined */
    const uint8_t *allowed;     /* families --only allows (NULL: all) */
    struct ginsn *seq;          /* the sequence so far */
    int n;
};

static int reg_exact(const struct gen *g, int r)
{
    return g->known[r] && g->lo[r] == g->hi[r];
}

static int last_is_branch(const struct gen *g, const struct ginsn *out, int n_out)
{
    if (n_out > 0) return out[n_out - 1].branch != BR_NONE;
    return g->n > 0 && g->seq[g->n - 1].branch != BR_NONE;
}

/* After an instruction: forget written registers, learn what can be learned.
 * An instruction right after a branch may not run, so what it teaches is
 * joined with what was known before. */
static void track_insn(struct gen *g, struct ginsn *in, int maybe_skipped)
{
    int64_t old_lo[8], old_hi[8];
    uint8_t old_known[8];
    memcpy(old_lo, g->lo, sizeof old_lo);
    memcpy(old_hi, g->hi, sizeof old_hi);
    memcpy(old_known, g->known, sizeof old_known);

    for (int r = 0; r < 8; r++)
        if (in->wregs & (1u << r))
            g->known[r] = 0;

    switch (in->track) {
    case TRK_MOVIMM: {
        int r = in->reg;
        g->known[r] = 1;
        g->lo[r] = g->hi[r] = in->track_val;
        break;
    }
    case TRK_STRING: {
        int64_t c = in->rep ? old_hi[R_ECX] : 1;
        int64_t span = c * in->size;
        if (in->uses_si) { g->known[R_ESI] = 1; g->lo[R_ESI] = old_lo[R_ESI] - span; g->hi[R_ESI] = old_hi[R_ESI] + span; }
        if (in->uses_di) { g->known[R_EDI] = 1; g->lo[R_EDI] = old_lo[R_EDI] - span; g->hi[R_EDI] = old_hi[R_EDI] + span; }
        if (in->rep) { g->known[R_ECX] = 1; g->lo[R_ECX] = 0; g->hi[R_ECX] = old_hi[R_ECX]; }
        break;
    }
    case TRK_ESP_ADD:       /* push/pop/enter: ESP moves by a known amount */
        if (old_known[R_ESP]) {
            g->known[R_ESP] = 1;
            g->lo[R_ESP] = old_lo[R_ESP] + (int32_t)in->track_val;
            g->hi[R_ESP] = old_hi[R_ESP] + (int32_t)in->track_val;
        }
        break;
    case TRK_ESP_FROM_EBP:  /* leave: ESP = EBP + 2 */
        if (old_known[R_EBP]) {
            g->known[R_ESP] = 1;
            g->lo[R_ESP] = old_lo[R_EBP] + 2;
            g->hi[R_ESP] = old_hi[R_EBP] + 2;
        }
        break;
    case TRK_LOOP:
        if (old_known[R_ECX] && old_lo[R_ECX] >= 1) {
            g->known[R_ECX] = 1;
            g->lo[R_ECX] = old_lo[R_ECX] - 1;
            g->hi[R_ECX] = old_hi[R_ECX] - 1;
        }
        break;
    }

    if (maybe_skipped) {
        for (int r = 0; r < 8; r++) {
            if (!old_known[r] || !g->known[r]) { g->known[r] = 0; continue; }
            if (old_lo[r] < g->lo[r]) g->lo[r] = old_lo[r];
            if (old_hi[r] > g->hi[r]) g->hi[r] = old_hi[r];
        }
    }
    in->tracked = 1;
}

/* ---------------------------------------------------------------------------
 * Memory operands. `access` bytes are read or written at EA + delta for every
 * delta in [ext_lo, ext_hi] (BT's bit offsets reach outside the operand). */
static int range_fits(int64_t lo, int64_t hi)
{
    return lo >= DATA_BASE && hi <= (int64_t)DATA_BASE + DATA_SIZE - 1;
}

static int pick_disp_mod(struct gen *g, struct mem_ea *ea)
{
    int32_t d = (int32_t)ea->disp;
    if (ea->base == EA_NONE) { ea->mod = MOD_ABS; return 1; }
    if (d == 0 && ea->base != R_EBP && chance(g->r, 70)) ea->mod = MOD_0;
    else if (d >= -128 && d <= 127 && chance(g->r, 85)) ea->mod = MOD_8;
    else ea->mod = MOD_32;
    return 1;
}

/* An operand that is never accessed (LEA, NOP): any registers, any displacement. */
static void pick_mem_any(struct gen *g, struct mem_ea *ea)
{
    struct rng *r = g->r;
    memset(ea, 0, sizeof *ea);
    ea->base = chance(r, 80) ? (uint8_t)rnd(r, 8) : EA_NONE;
    ea->index = EA_NONE;
    if (chance(r, 45)) {
        ea->index = (uint8_t)rnd(r, 7);
        if (ea->index >= 4) ea->index++;      /* 100 means "no index" */
        ea->scale = (uint8_t)rnd(r, 4);
    }
    ea->force_sib = chance(r, 10);
    if (ea->index == EA_NONE && ea->force_sib) ea->scale = (uint8_t)rnd(r, 4);
    ea->emu_short_abs = chance(r, 50);
    uint32_t k = rnd(r, 4);
    ea->disp = k == 0 ? 0 : k == 1 ? (uint32_t)(int32_t)(int8_t)rnd32(r) : value32(r);
    pick_disp_mod(g, ea);
}

static int pick_mem(struct gen *g, struct mem_ea *ea, int access, int64_t ext_lo, int64_t ext_hi)
{
    struct rng *r = g->r;
    for (int attempt = 0; attempt < 12; attempt++) {
        memset(ea, 0, sizeof *ea);
        ea->base = ea->index = EA_NONE;
        uint32_t form = rnd(r, 100);
        int want_base = form < 75;
        int want_index = (form >= 40 && form < 75) || (form >= 75 && form < 85);
        if (want_base) {
            int b = (int)rnd(r, 8);
            if (!g->known[b]) continue;
            ea->base = (uint8_t)b;
        }
        if (want_index) {
            int x = (int)rnd(r, 7);
            if (x >= 4) x++;
            if (!g->known[x]) continue;
            ea->index = (uint8_t)x;
            ea->scale = (uint8_t)rnd(r, 4);
        }
        ea->force_sib = ea->base != EA_NONE && chance(r, 8);
        if (ea->index == EA_NONE && ea->force_sib) ea->scale = (uint8_t)rnd(r, 4);
        ea->emu_short_abs = chance(r, 50);

        /* The range of base + index << scale, reduced mod 2^32 (only exact values may wrap). */
        int64_t slo = 0, shi = 0;
        if (ea->base != EA_NONE) { slo += g->lo[ea->base]; shi += g->hi[ea->base]; }
        if (ea->index != EA_NONE) { slo += g->lo[ea->index] << ea->scale; shi += g->hi[ea->index] << ea->scale; }
        if (slo == shi) {
            slo = shi = slo & 0xFFFFFFFF;
        } else {
            if ((slo >> 32) != (shi >> 32)) continue;
            int64_t wrap = (slo >> 32) << 32;
            slo -= wrap;
            shi -= wrap;
        }
        /* Targets T for EA(slo) such that every access stays inside the buffer. */
        int64_t tlo = DATA_BASE - ext_lo;
        int64_t thi = (int64_t)DATA_BASE + DATA_SIZE - access - ext_hi - (shi - slo);
        if (tlo > thi) continue;

        int64_t t;
        int32_t natural = 0;
        uint32_t k = rnd(r, 10);
        if (k < 2) natural = 0;
        else if (k < 6) natural = (int8_t)rnd32(r);
        else natural = (int32_t)rnd(r, 0x2000) - 0x1000;
        if (ea->base != EA_NONE && slo + natural >= tlo && slo + natural <= thi && chance(r, 80)) {
            t = slo + natural;
        } else if (chance(r, 25)) {
            /* Straddle a page boundary. */
            int64_t page = ((tlo + thi) / 2 + (int64_t)rnd(r, DATA_SIZE) - DATA_SIZE / 2) & ~0xFFFll;
            t = page - (int64_t)rnd(r, access > 1 ? (uint32_t)access : 2u);
            if (t < tlo || t > thi) t = tlo + (int64_t)rnd(r, (uint32_t)(thi - tlo + 1));
        } else {
            t = tlo + (int64_t)rnd(r, (uint32_t)(thi - tlo + 1));
        }
        ea->disp = (uint32_t)(t - slo);
        pick_disp_mod(g, ea);
        return 1;
    }
    /* Always possible: an absolute address. */
    memset(ea, 0, sizeof *ea);
    ea->base = ea->index = EA_NONE;
    ea->emu_short_abs = chance(r, 50);
    int64_t tlo = DATA_BASE - ext_lo, thi = (int64_t)DATA_BASE + DATA_SIZE - access - ext_hi;
    if (tlo > thi) return 0;
    ea->disp = (uint32_t)(tlo + rnd(r, (uint32_t)(thi - tlo + 1)));
    ea->mod = MOD_ABS;
    return 1;
}

/* A ModRM operand: memory with probability `mem_percent`, else a register. */
static void pick_rm(struct gen *g, struct ginsn *in, int size, int mem_percent, int access)
{
    in->has_rm = 1;
    in->rm.is_mem = 0;
    if (chance(g->r, mem_percent) && pick_mem(g, &in->rm.ea, access, 0, 0)) {
        in->rm.is_mem = 1;
        return;
    }
    in->rm.reg = (uint8_t)rnd(g->r, 8);
    (void)size;
}

static int pick_size(struct gen *g, int allow8)
{
    uint32_t k = rnd(g->r, allow8 ? 4 : 3);
    if (k == 0) return 2;
    if (k == 3) return 1;
    return 4;
}

static uint32_t imm_for(struct gen *g, int size)
{
    uint32_t v = value32(g->r);
    return size == 1 ? (v & 0xFF) : size == 2 ? (v & 0xFFFF) : v;
}

static int bytes_of(int size) { return size == 1 ? 1 : size == 2 ? 2 : 4; }

/* ---------------------------------------------------------------------------
 * The families. Each generator fills out[] (preparation moves first) and
 * returns how many instructions it made, 0 to retry with another family. */
typedef int gen_fn(struct gen *g, struct ginsn *out, int param);

struct family {
    const char *name;
    gen_fn *gen;
    int param;
    int weight;
};

/* Indices in families[] used by the generator itself (checked at start-up). */
#define FAMILY_MOV 37
#define FAMILY_NOP 59

/* MOV r32, imm32 that the generator relies on (a REP count, a string pointer). */
/* A setup instruction right after a branch could be jumped over: put a NOP in
 * the branch's way first. */
static int emit_branch_filler(struct gen *g, struct ginsn *out, int n)
{
    if (!last_is_branch(g, out, n))
        return n;
    struct ginsn *nop = &out[n];
    memset(nop, 0, sizeof *nop);
    nop->family = FAMILY_NOP;
    put(nop, 0x90);
    snprintf(nop->text, sizeof nop->text, "nop");
    track_insn(g, nop, 1);
    return n + 1;
}

static int emit_prep_mov(struct gen *g, struct ginsn *out, int n, int reg, uint32_t value)
{
    n = emit_branch_filler(g, out, n);
    struct ginsn *in = &out[n];
    memset(in, 0, sizeof *in);
    in->family = FAMILY_MOV;
    in->size = 4;
    in->reg = (uint8_t)reg;
    put(in, (uint8_t)(0xB8 + reg));
    put_imm(in, value, 4);
    in->wregs = regbit(reg, 4);
    in->track = TRK_MOVIMM;
    in->track_val = value;
    snprintf(in->text, sizeof in->text, "mov %s, 0x%x", regname(reg, 4), value);
    track_insn(g, in, 0);
    return n + 1;
}

/* Any other setup instruction (no flags, no memory). */
static int emit_prep_raw(struct gen *g, struct ginsn *out, int n, const char *bytes, int len,
                         const char *text, uint8_t wregs)
{
    n = emit_branch_filler(g, out, n);
    struct ginsn *in = &out[n];
    memset(in, 0, sizeof *in);
    in->family = FAMILY_MOV;
    for (int k = 0; k < len; k++)
        put(in, (uint8_t)bytes[k]);
    in->wregs = wregs;
    snprintf(in->text, sizeof in->text, "%s", text);
    track_insn(g, in, 0);
    return n + 1;
}

static uint32_t pointer_value(struct gen *g)
{
    return DATA_BASE + 0x1000 + rnd(g->r, DATA_SIZE - 0x2000);
}

/* A pointer that can move `span` bytes either way and still access `size` bytes in the data. */
static uint32_t pointer_for_span(struct gen *g, int64_t span, int size)
{
    uint32_t lo = DATA_BASE + (uint32_t)span, hi = DATA_BASE + DATA_SIZE - (uint32_t)span - (uint32_t)size;
    return lo + rnd(g->r, hi - lo + 1);
}

/* --- ADD OR ADC SBB AND SUB XOR CMP --------------------------------------- */
static const char *const alu_names[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };
static const uint8_t alu_sem[8] = {
    SEM_ARITH, SEM_LOGIC, SEM_ARITH_CIN, SEM_ARITH_CIN, SEM_LOGIC, SEM_ARITH, SEM_LOGIC, SEM_ARITH,
};

static int gen_alu(struct gen *g, struct ginsn *out, int op)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 1);
    uint32_t form = rnd(r, 10);
    char a[96];
    in->sem = alu_sem[op];
    in->size = (uint8_t)size;
    if (form < 5) {
        /* op r/m, reg (form < 3) or op reg, r/m */
        int to_rm = form < 3;
        pick_rm(g, in, size, 50, size);
        in->reg = (uint8_t)rnd(r, 8);
        int lock = to_rm && in->rm.is_mem && op != 7 && chance(r, 10);
        put_prefixes(in, r, size, lock);
        put(in, (uint8_t)(op * 8 + (to_rm ? 0 : 2) + (size == 1 ? 0 : 1)));
        put_modrm(in, in->reg, &in->rm);
        if (op != 7)
            in->wregs = to_rm ? (in->rm.is_mem ? 0 : regbit(in->rm.reg, size)) : regbit(in->reg, size);
        fmt_rm(a, sizeof a, &in->rm, size);
        if (to_rm)
            snprintf(in->text, sizeof in->text, "%s%s %s, %s", lock ? "lock " : "", alu_names[op], a, regname(in->reg, size));
        else
            snprintf(in->text, sizeof in->text, "%s %s, %s", alu_names[op], regname(in->reg, size), a);
    } else if (form == 5) {
        /* op AL/AX/EAX, imm */
        uint32_t imm = imm_for(g, size);
        if (size == 2) put(in, 0x66);
        put(in, (uint8_t)(op * 8 + (size == 1 ? 4 : 5)));
        put_imm(in, imm, bytes_of(size));
        if (op != 7) in->wregs = regbit(0, size);
        snprintf(in->text, sizeof in->text, "%s %s, 0x%x", alu_names[op], regname(0, size), imm);
    } else {
        /* group 1: 80 /op ib, 81 /op iz, 83 /op ib (sign-extended) */
        int opc = size == 1 ? 0x80 : chance(r, 50) ? 0x83 : 0x81;
        uint32_t imm = opc == 0x81 ? imm_for(g, size) : imm_for(g, 1);
        pick_rm(g, in, size, 50, size);
        int lock = in->rm.is_mem && op != 7 && chance(r, 10);
        put_prefixes(in, r, size, lock);
        put(in, (uint8_t)opc);
        put_modrm(in, op, &in->rm);
        put_imm(in, imm, opc == 0x81 ? bytes_of(size) : 1);
        if (op != 7 && !in->rm.is_mem) in->wregs = regbit(in->rm.reg, size);
        uint32_t shown = opc == 0x83 ? (uint32_t)(int32_t)(int8_t)imm & (size == 2 ? 0xFFFFu : 0xFFFFFFFFu) : imm;
        snprintf(in->text, sizeof in->text, "%s%s %s, 0x%x", lock ? "lock " : "", alu_names[op],
                 fmt_rm(a, sizeof a, &in->rm, size), shown);
    }
    return 1;
}

/* --- TEST ------------------------------------------------------------------ */
static int gen_test(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 1);
    uint32_t form = rnd(r, 10);
    char a[96];
    in->sem = SEM_LOGIC;
    in->size = (uint8_t)size;
    if (form < 4) {
        pick_rm(g, in, size, 50, size);
        in->reg = (uint8_t)rnd(r, 8);
        put_prefixes(in, r, size, 0);
        put(in, size == 1 ? 0x84 : 0x85);
        put_modrm(in, in->reg, &in->rm);
        snprintf(in->text, sizeof in->text, "test %s, %s", fmt_rm(a, sizeof a, &in->rm, size), regname(in->reg, size));
    } else if (form < 6) {
        uint32_t imm = imm_for(g, size);
        if (size == 2) put(in, 0x66);
        put(in, size == 1 ? 0xA8 : 0xA9);
        put_imm(in, imm, bytes_of(size));
        snprintf(in->text, sizeof in->text, "test %s, 0x%x", regname(0, size), imm);
    } else {
        /* F6/F7 /0; /1 is an undocumented alias that hardware runs as TEST */
        int alias = form == 9;
        uint32_t imm = imm_for(g, size);
        pick_rm(g, in, size, 50, size);
        put_prefixes(in, r, size, 0);
        put(in, size == 1 ? 0xF6 : 0xF7);
        put_modrm(in, alias ? 1 : 0, &in->rm);
        put_imm(in, imm, bytes_of(size));
        snprintf(in->text, sizeof in->text, "test%s %s, 0x%x", alias ? "(/1)" : "",
                 fmt_rm(a, sizeof a, &in->rm, size), imm);
    }
    (void)param;
    return 1;
}

/* --- INC DEC NOT NEG (FE/FF /0 /1, F6/F7 /2 /3) -------------------------- */
static int gen_unary(struct gen *g, struct ginsn *out, int which)
{
    static const char *const names[4] = { "inc", "dec", "not", "neg" };
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 1);
    char a[96];
    in->size = (uint8_t)size;
    in->sem = which < 2 ? SEM_INCDEC : which == 2 ? SEM_NONE : SEM_ARITH;
    pick_rm(g, in, size, 50, size);
    int lock = in->rm.is_mem && chance(r, 10);
    put_prefixes(in, r, size, lock);
    if (which < 2) {
        put(in, size == 1 ? 0xFE : 0xFF);
        put_modrm(in, which, &in->rm);
    } else {
        put(in, size == 1 ? 0xF6 : 0xF7);
        put_modrm(in, which, &in->rm);
    }
    if (!in->rm.is_mem) in->wregs = regbit(in->rm.reg, size);
    snprintf(in->text, sizeof in->text, "%s%s %s", lock ? "lock " : "", names[which], fmt_rm(a, sizeof a, &in->rm, size));
    return 1;
}

/* --- MUL IMUL DIV IDIV (F6/F7 /4-/7), IMUL 0F AF / 69 / 6B ---------------- */
static int gen_muldiv(struct gen *g, struct ginsn *out, int which)
{
    static const char *const names[4] = { "mul", "imul", "div", "idiv" };
    struct ginsn *in = out;
    struct rng *r = g->r;
    char a[96];
    if (which == 1 && chance(r, 55)) {
        /* two- and three-operand IMUL */
        int size = pick_size(g, 0);
        in->size = (uint8_t)size;
        in->sem = SEM_MUL;
        pick_rm(g, in, size, 50, size);
        in->reg = (uint8_t)rnd(r, 8);
        put_prefixes(in, r, size, 0);
        uint32_t k = rnd(r, 3);
        fmt_rm(a, sizeof a, &in->rm, size);
        if (k == 0) {
            put(in, 0x0F); put(in, 0xAF);
            put_modrm(in, in->reg, &in->rm);
            snprintf(in->text, sizeof in->text, "imul %s, %s", regname(in->reg, size), a);
        } else if (k == 1) {
            uint32_t imm = imm_for(g, size);
            put(in, 0x69);
            put_modrm(in, in->reg, &in->rm);
            put_imm(in, imm, bytes_of(size));
            snprintf(in->text, sizeof in->text, "imul %s, %s, 0x%x", regname(in->reg, size), a, imm);
        } else {
            uint32_t imm = imm_for(g, 1);
            put(in, 0x6B);
            put_modrm(in, in->reg, &in->rm);
            put_imm(in, imm, 1);
            snprintf(in->text, sizeof in->text, "imul %s, %s, %d", regname(in->reg, size), a, (int8_t)imm);
        }
        in->wregs = regbit(in->reg, size);
        return 1;
    }
    int size = pick_size(g, 1);
    int n = 0;
    if (which >= 2 && chance(r, 50)) {
        /* Often set up the high half of the dividend so the quotient can fit
         * (otherwise about half of all divisions raise #DE). */
        if (which == 2)
            n = size == 1 ? emit_prep_raw(g, out, n, "\xB4\x00", 2, "mov ah, 0", regbit(R_EAX, 4))
                          : emit_prep_mov(g, out, n, R_EDX, 0);
        else if (size == 1)
            n = emit_prep_raw(g, out, n, "\x66\x98", 2, "cbw", regbit(R_EAX, 4));
        else if (size == 2)
            n = emit_prep_raw(g, out, n, "\x66\x99", 2, "cwd", regbit(R_EDX, 4));
        else
            n = emit_prep_raw(g, out, n, "\x99", 1, "cdq", regbit(R_EDX, 4));
        in = &out[n];
    }
    in->size = (uint8_t)size;
    in->sem = which < 2 ? SEM_MUL : SEM_DIV;
    pick_rm(g, in, size, 50, size);
    put_prefixes(in, r, size, 0);
    put(in, size == 1 ? 0xF6 : 0xF7);
    put_modrm(in, 4 + which, &in->rm);
    in->wregs = size == 1 ? regbit(R_EAX, 4) : (uint8_t)(regbit(R_EAX, 4) | regbit(R_EDX, 4));
    snprintf(in->text, sizeof in->text, "%s %s", names[which], fmt_rm(a, sizeof a, &in->rm, size));
    return n + 1;
}

/* --- ROL ROR RCL RCR SHL SHR SAL SAR (C0 C1 D0-D3) ------------------------ */
static const char *const shift_names[8] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar" };

static int gen_shift(struct gen *g, struct ginsn *out, int op)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 1);
    char a[96];
    in->size = (uint8_t)size;
    in->sem = SEM_SHIFT;
    in->op = (uint8_t)op;
    pick_rm(g, in, size, 45, size);
    put_prefixes(in, r, size, 0);
    uint32_t k = rnd(r, 3);
    fmt_rm(a, sizeof a, &in->rm, size);
    if (k == 0) {
        in->count_src = CNT_IMM;
        in->count_imm = (uint8_t)shift_count_imm(r);
        put(in, size == 1 ? 0xC0 : 0xC1);
        put_modrm(in, op, &in->rm);
        put(in, in->count_imm);
        snprintf(in->text, sizeof in->text, "%s %s, %u", shift_names[op], a, in->count_imm);
    } else if (k == 1) {
        in->count_src = CNT_ONE;
        put(in, size == 1 ? 0xD0 : 0xD1);
        put_modrm(in, op, &in->rm);
        snprintf(in->text, sizeof in->text, "%s %s, 1", shift_names[op], a);
    } else {
        in->count_src = CNT_CL;
        put(in, size == 1 ? 0xD2 : 0xD3);
        put_modrm(in, op, &in->rm);
        snprintf(in->text, sizeof in->text, "%s %s, cl", shift_names[op], a);
    }
    if (!in->rm.is_mem) in->wregs = regbit(in->rm.reg, size);
    return 1;
}

/* --- SHLD SHRD (0F A4/A5/AC/AD) ----------------------------------------------- */
static int gen_shxd(struct gen *g, struct ginsn *out, int right)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 0);
    char a[96];
    in->size = (uint8_t)size;
    in->sem = SEM_SHXD;
    in->op = (uint8_t)right;
    pick_rm(g, in, size, 45, size);
    in->reg = (uint8_t)rnd(r, 8);
    put_prefixes(in, r, size, 0);
    put(in, 0x0F);
    fmt_rm(a, sizeof a, &in->rm, size);
    const char *name = right ? "shrd" : "shld";
    if (chance(r, 50)) {
        in->count_src = CNT_IMM;
        in->count_imm = (uint8_t)shift_count_imm(r);
        put(in, right ? 0xAC : 0xA4);
        put_modrm(in, in->reg, &in->rm);
        put(in, in->count_imm);
        snprintf(in->text, sizeof in->text, "%s %s, %s, %u", name, a, regname(in->reg, size), in->count_imm);
    } else {
        in->count_src = CNT_CL;
        put(in, right ? 0xAD : 0xA5);
        put_modrm(in, in->reg, &in->rm);
        snprintf(in->text, sizeof in->text, "%s %s, %s, cl", name, a, regname(in->reg, size));
    }
    if (!in->rm.is_mem) in->wregs = regbit(in->rm.reg, size);
    return 1;
}

/* --- BT BTS BTR BTC (0F A3/AB/B3/BB, 0F BA /4-/7) ------------------------- */
static int gen_bt(struct gen *g, struct ginsn *out, int op)
{
    static const char *const names[4] = { "bt", "bts", "btr", "btc" };
    static const uint8_t reg_opc[4] = { 0xA3, 0xAB, 0xB3, 0xBB };
    struct rng *r = g->r;
    int size = pick_size(g, 0);
    int n = 0;
    char a[96];
    if (chance(r, 40)) {
        struct ginsn *in = &out[n];
        uint32_t imm = chance(r, 70) ? rnd(r, (uint32_t)size * 8) : rnd(r, 256);
        in->size = (uint8_t)size;
        in->sem = SEM_BT;
        pick_rm(g, in, size, 50, size);
        int lock = in->rm.is_mem && op != 0 && chance(r, 10);
        put_prefixes(in, r, size, lock);
        put(in, 0x0F); put(in, 0xBA);
        put_modrm(in, 4 + op, &in->rm);
        put(in, (uint8_t)imm);
        if (op && !in->rm.is_mem) in->wregs = regbit(in->rm.reg, size);
        snprintf(in->text, sizeof in->text, "%s%s %s, %u", lock ? "lock " : "", names[op],
                 fmt_rm(a, sizeof a, &in->rm, size), imm);
        return 1;
    }
    int offreg = (int)rnd(r, 8);
    int to_mem = chance(r, 55);
    if (to_mem) {
        /* A register bit offset reaches outside the operand: it must be known and bounded. */
        int64_t delta = 0;
        int ok = reg_exact(g, offreg);
        if (ok) {
            uint32_t v = (uint32_t)g->lo[offreg];
            delta = size == 2 ? (int64_t)((int16_t)v >> 4) * 2 : (int64_t)((int32_t)v >> 5) * 4;
            ok = delta >= -(int64_t)DATA_SIZE / 4 && delta <= (int64_t)DATA_SIZE / 4;
        }
        if (!ok) {
            static const int32_t offs[] = { 0, 1, 7, 8, 15, 16, 31, 32, 33, 63, 64, -1, -8, -16, -31, -32, -33, -100, 1000 };
            uint32_t v = chance(r, 60) ? (uint32_t)offs[rnd(r, sizeof offs / sizeof offs[0])]
                                       : (uint32_t)((int32_t)rnd(r, 0x20000) - 0x10000);
            n = emit_prep_mov(g, out, n, offreg, v);
            delta = size == 2 ? (int64_t)((int16_t)v >> 4) * 2 : (int64_t)((int32_t)v >> 5) * 4;
        }
        struct ginsn *in = &out[n];
        memset(in, 0, sizeof *in);
        in->has_rm = 1;
        in->rm.is_mem = 1;
        if (!pick_mem(g, &in->rm.ea, size, delta, delta))
            return 0;
        in->reg = (uint8_t)offreg;
        in->size = (uint8_t)size;
        in->sem = SEM_BT;
        int lock = op != 0 && chance(r, 10);
        put_prefixes(in, r, size, lock);
        put(in, 0x0F); put(in, reg_opc[op]);
        put_modrm(in, in->reg, &in->rm);
        snprintf(in->text, sizeof in->text, "%s%s %s, %s", lock ? "lock " : "", names[op],
                 fmt_rm(a, sizeof a, &in->rm, size), regname(in->reg, size));
        return n + 1;
    }
    struct ginsn *in = &out[n];
    in->has_rm = 1;
    in->rm.is_mem = 0;
    in->rm.reg = (uint8_t)rnd(r, 8);
    in->reg = (uint8_t)offreg;
    in->size = (uint8_t)size;
    in->sem = SEM_BT;
    put_prefixes(in, r, size, 0);
    put(in, 0x0F); put(in, reg_opc[op]);
    put_modrm(in, in->reg, &in->rm);
    if (op) in->wregs = regbit(in->rm.reg, size);
    snprintf(in->text, sizeof in->text, "%s %s, %s", names[op], regname(in->rm.reg, size), regname(in->reg, size));
    return 1;
}

/* --- BSF BSR (0F BC/BD) --------------------------------------------------- */
static int gen_bsf(struct gen *g, struct ginsn *out, int reverse)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 0);
    char a[96];
    in->size = (uint8_t)size;
    in->sem = SEM_BSF;
    in->op = (uint8_t)reverse;
    pick_rm(g, in, size, 50, size);
    in->reg = (uint8_t)rnd(r, 8);
    /* Never F3 here: F3 0F BC/BD are TZCNT/LZCNT. */
    put_prefixes(in, r, size, 0);
    put(in, 0x0F); put(in, reverse ? 0xBD : 0xBC);
    put_modrm(in, in->reg, &in->rm);
    in->wregs = regbit(in->reg, size);
    snprintf(in->text, sizeof in->text, "%s %s, %s", reverse ? "bsr" : "bsf", regname(in->reg, size),
             fmt_rm(a, sizeof a, &in->rm, size));
    return 1;
}

/* --- SETcc (0F 90+cc), CMOVcc (0F 40+cc) ------------------------------------ */
static int gen_setcc(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    char a[96];
    in->size = 1;
    in->sem = SEM_CC;
    in->op = (uint8_t)rnd(r, 16);
    pick_rm(g, in, 1, 40, 1);
    put_prefixes(in, r, 1, 0);
    put(in, 0x0F); put(in, (uint8_t)(0x90 + in->op));
    put_modrm(in, chance(r, 10) ? (int)rnd(r, 8) : 0, &in->rm);   /* the reg field is ignored */
    if (!in->rm.is_mem) in->wregs = regbit(in->rm.reg, 1);
    snprintf(in->text, sizeof in->text, "set%s %s", cc_names[in->op], fmt_rm(a, sizeof a, &in->rm, 1));
    (void)param;
    return 1;
}

static int gen_cmovcc(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 0);
    char a[96];
    in->size = (uint8_t)size;
    in->sem = SEM_CC;
    in->op = (uint8_t)rnd(r, 16);
    pick_rm(g, in, size, 40, size);
    in->reg = (uint8_t)rnd(r, 8);
    put_prefixes(in, r, size, 0);
    put(in, 0x0F); put(in, (uint8_t)(0x40 + in->op));
    put_modrm(in, in->reg, &in->rm);
    in->wregs = regbit(in->reg, size);
    snprintf(in->text, sizeof in->text, "cmov%s %s, %s", cc_names[in->op], regname(in->reg, size),
             fmt_rm(a, sizeof a, &in->rm, size));
    (void)param;
    return 1;
}

/* --- MOVZX MOVSX (0F B6/B7/BE/BF) ------------------------------------------ */
static int gen_movx(struct gen *g, struct ginsn *out, int sign)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 0);
    int src = chance(r, 60) ? 1 : 2;
    char a[96];
    in->size = (uint8_t)size;
    pick_rm(g, in, src, 50, src);
    in->reg = (uint8_t)rnd(r, 8);
    put_prefixes(in, r, size, 0);
    put(in, 0x0F); put(in, (uint8_t)((sign ? 0xBE : 0xB6) + (src == 2)));
    put_modrm(in, in->reg, &in->rm);
    in->wregs = regbit(in->reg, size);
    snprintf(in->text, sizeof in->text, "%s %s, %s", sign ? "movsx" : "movzx", regname(in->reg, size),
             fmt_rm(a, sizeof a, &in->rm, src));
    return 1;
}

/* --- MOV (88 89 8A 8B C6 C7 B0+r B8+r A0-A3) -------------------------------- */
static int gen_mov(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 1);
    uint32_t form = rnd(r, 12);
    char a[96];
    in->size = (uint8_t)size;
    if (form < 4) {
        int to_rm = form < 2;
        pick_rm(g, in, size, 60, size);
        in->reg = (uint8_t)rnd(r, 8);
        put_prefixes(in, r, size, 0);
        put(in, (uint8_t)((to_rm ? 0x88 : 0x8A) + (size != 1)));
        put_modrm(in, in->reg, &in->rm);
        fmt_rm(a, sizeof a, &in->rm, size);
        if (to_rm) {
            if (!in->rm.is_mem) in->wregs = regbit(in->rm.reg, size);
            snprintf(in->text, sizeof in->text, "mov %s, %s", a, regname(in->reg, size));
        } else {
            in->wregs = regbit(in->reg, size);
            snprintf(in->text, sizeof in->text, "mov %s, %s", regname(in->reg, size), a);
        }
    } else if (form < 6) {
        uint32_t imm = imm_for(g, size);
        pick_rm(g, in, size, 60, size);
        put_prefixes(in, r, size, 0);
        put(in, size == 1 ? 0xC6 : 0xC7);
        put_modrm(in, 0, &in->rm);
        put_imm(in, imm, bytes_of(size));
        if (!in->rm.is_mem) {
            in->wregs = regbit(in->rm.reg, size);
            if (size == 4) { in->track = TRK_MOVIMM; in->track_val = imm; in->reg = in->rm.reg; }
        }
        snprintf(in->text, sizeof in->text, "mov %s, 0x%x", fmt_rm(a, sizeof a, &in->rm, size), imm);
    } else if (form < 10) {
        /* B0+r / B8+r: often a pointer or a small count, which later instructions can use */
        int reg = (int)rnd(r, 8);
        uint32_t imm;
        if (size == 4 && chance(r, 40)) imm = chance(r, 60) ? pointer_value(g) : rnd(r, 40);
        else imm = imm_for(g, size);
        if (size == 2) put(in, 0x66);
        put(in, (uint8_t)((size == 1 ? 0xB0 : 0xB8) + reg));
        put_imm(in, imm, bytes_of(size));
        in->reg = (uint8_t)reg;
        in->wregs = regbit(reg, size);
        if (size == 4) { in->track = TRK_MOVIMM; in->track_val = imm; }
        snprintf(in->text, sizeof in->text, "mov %s, 0x%x", regname(reg, size), imm);
    } else {
        /* A0-A3: moffs, an absolute 32-bit offset (67h natively) */
        int store = form == 11;
        uint32_t addr = DATA_BASE + rnd(r, DATA_SIZE - 4);
        if (size == 2) put(in, 0x66);
        put(in, (uint8_t)((store ? 0xA2 : 0xA0) + (size != 1)));
        put_imm(in, addr, 4);
        in->need67 = 1;
        if (!store) in->wregs = regbit(0, size);
        if (store)
            snprintf(in->text, sizeof in->text, "mov %s [0x%x], %s", size_name(size), addr, regname(0, size));
        else
            snprintf(in->text, sizeof in->text, "mov %s, %s [0x%x]", regname(0, size), size_name(size), addr);
    }
    (void)param;
    return 1;
}

/* --- XCHG (86 87 90+r) XADD (0F C0/C1) CMPXCHG (0F B0/B1) -------------------- */
static int gen_xchg(struct gen *g, struct ginsn *out, int which)
{
    static const char *const names[3] = { "xchg", "xadd", "cmpxchg" };
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 1);
    char a[96];
    in->size = (uint8_t)size;
    in->sem = which == 0 ? SEM_NONE : SEM_ARITH;
    if (which == 0 && size != 1 && chance(r, 25)) {
        int reg = 1 + (int)rnd(r, 7);
        if (size == 2) put(in, 0x66);
        put(in, (uint8_t)(0x90 + reg));
        in->wregs = (uint8_t)(regbit(0, size) | regbit(reg, size));
        snprintf(in->text, sizeof in->text, "xchg %s, %s", regname(0, size), regname(reg, size));
        return 1;
    }
    pick_rm(g, in, size, 50, size);
    in->reg = (uint8_t)rnd(r, 8);
    int lock = in->rm.is_mem && chance(r, 15);
    put_prefixes(in, r, size, lock);
    if (which == 0) {
        put(in, size == 1 ? 0x86 : 0x87);
    } else {
        put(in, 0x0F);
        put(in, (uint8_t)((which == 1 ? 0xC0 : 0xB0) + (size != 1)));
    }
    put_modrm(in, in->reg, &in->rm);
    in->wregs = regbit(in->reg, size);
    if (!in->rm.is_mem) in->wregs |= regbit(in->rm.reg, size);
    if (which == 2) in->wregs |= regbit(0, size);
    snprintf(in->text, sizeof in->text, "%s%s %s, %s", lock ? "lock " : "", names[which],
             fmt_rm(a, sizeof a, &in->rm, size), regname(in->reg, size));
    return 1;
}

/* --- CMPXCHG8B (0F C7 /1) -------------------------------------------------- */
static int gen_cmpxchg8b(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    char a[96];
    in->size = 8;
    in->sem = SEM_ZF;
    in->has_rm = 1;
    in->rm.is_mem = 1;
    if (!pick_mem(g, &in->rm.ea, 8, 0, 0)) return 0;
    int lock = chance(r, 20);
    put_prefixes(in, r, 4, lock);
    put(in, 0x0F); put(in, 0xC7);
    put_modrm(in, 1, &in->rm);
    in->wregs = regbit(R_EAX, 4) | regbit(R_EDX, 4);
    snprintf(in->text, sizeof in->text, "%scmpxchg8b %s", lock ? "lock " : "", fmt_rm(a, sizeof a, &in->rm, 8));
    (void)param;
    return 1;
}

/* --- BSWAP (0F C8+r) -------------------------------------------------------- */
static int gen_bswap(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    int reg = (int)rnd(g->r, 8);
    in->size = 4;
    put(in, 0x0F); put(in, (uint8_t)(0xC8 + reg));
    in->wregs = regbit(reg, 4);
    snprintf(in->text, sizeof in->text, "bswap %s", regname(reg, 4));
    (void)param;
    return 1;
}

/* --- LEA (8D) ------------------------------------------------------------------- */
static int gen_lea(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 0);
    char a[96];
    in->size = (uint8_t)size;
    in->has_rm = 1;
    in->rm.is_mem = 1;
    in->no_access = 1;
    pick_mem_any(g, &in->rm.ea);
    in->reg = (uint8_t)rnd(r, 8);
    put_prefixes(in, r, size, 0);
    put(in, 0x8D);
    put_modrm(in, in->reg, &in->rm);
    in->wregs = regbit(in->reg, size);
    fmt_ea(a, sizeof a, &in->rm.ea);
    snprintf(in->text, sizeof in->text, "lea %s, %s", regname(in->reg, size), a);
    (void)param;
    return 1;
}

/* --- CBW/CWDE (98), CWD/CDQ (99) ----------------------------------------------- */
static int gen_convert(struct gen *g, struct ginsn *out, int which)
{
    struct ginsn *in = out;
    int size = pick_size(g, 0);
    in->size = (uint8_t)size;
    if (size == 2) put(in, 0x66);
    put(in, which ? 0x99 : 0x98);
    in->wregs = regbit(which ? R_EDX : R_EAX, 4);
    snprintf(in->text, sizeof in->text, "%s", which ? (size == 2 ? "cwd" : "cdq") : (size == 2 ? "cbw" : "cwde"));
    return 1;
}

/* --- one-byte flag instructions: CLC STC CMC CLD STD LAHF SAHF --------------- */
static int gen_flagop(struct gen *g, struct ginsn *out, int opcode)
{
    struct ginsn *in = out;
    put(in, (uint8_t)opcode);
    switch (opcode) {
    case 0xF8: in->sem = SEM_SETCF; snprintf(in->text, sizeof in->text, "clc"); break;
    case 0xF9: in->sem = SEM_SETCF; snprintf(in->text, sizeof in->text, "stc"); break;
    case 0xF5: in->sem = SEM_CMC; snprintf(in->text, sizeof in->text, "cmc"); break;
    case 0xFC: snprintf(in->text, sizeof in->text, "cld"); break;
    case 0xFD: snprintf(in->text, sizeof in->text, "std"); break;
    case 0x9F: in->sem = SEM_LAHF; in->wregs = regbit(R_EAX, 4); snprintf(in->text, sizeof in->text, "lahf"); break;
    case 0x9E: in->sem = SEM_SAHF; snprintf(in->text, sizeof in->text, "sahf"); break;
    }
    (void)g;
    return 1;
}

/* --- MOVS CMPS STOS LODS SCAS (A4-AF) with REP/REPE/REPNE ---------------------- */
static int string_range_ok(const struct gen *g, int reg, int64_t span, int size)
{
    return g->known[reg] && range_fits(g->lo[reg] - span, g->hi[reg] + span + size - 1);
}

static int gen_string(struct gen *g, struct ginsn *out, int kind)
{
    static const char *const names[5] = { "movs", "cmps", "stos", "lods", "scas" };
    static const uint8_t opcodes[5] = { 0xA4, 0xA6, 0xAA, 0xAC, 0xAE };
    static const char suffix[5] = { 0, 'b', 'w', 0, 'd' };
    struct rng *r = g->r;
    int size = pick_size(g, 1);
    int is_cmp = kind == 1 || kind == 4;
    int uses_si = kind == 0 || kind == 1 || kind == 3;
    int uses_di = kind != 3;
    int rep = 0;
    int n = 0;
    if (chance(r, 60))
        rep = is_cmp && chance(r, 50) ? 0xF2 : 0xF3;
    /* REP counts: mostly small, sometimes long enough to cross pages. */
    if (rep && !(g->known[R_ECX] && g->lo[R_ECX] >= 0 && g->hi[R_ECX] * size <= 0x2000)) {
        if (chance(r, 75)) {
            uint32_t k = rnd(r, 100);
            uint32_t count = k < 12 ? 0 : k < 85 ? rnd(r, 24) : 24 + rnd(r, 0x1000 / (uint32_t)size);
            n = emit_prep_mov(g, out, n, R_ECX, count);
        } else {
            rep = 0;
        }
    }
    int64_t span = (rep ? g->hi[R_ECX] : 1) * size;
    if (uses_si && !string_range_ok(g, R_ESI, span, size))
        n = emit_prep_mov(g, out, n, R_ESI, pointer_for_span(g, span, size));
    if (uses_di && !string_range_ok(g, R_EDI, span, size)) {
        /* Sometimes overlap the source by a few bytes (REP MOVS copies element by element). */
        uint32_t di;
        if (uses_si && reg_exact(g, R_ESI) && chance(r, 35))
            di = (uint32_t)g->lo[R_ESI] + (uint32_t)((int32_t)rnd(r, 17) - 8);
        else
            di = pointer_for_span(g, span, size);
        if (!range_fits((int64_t)di - span, (int64_t)di + span + size - 1))
            di = pointer_for_span(g, span, size);
        n = emit_prep_mov(g, out, n, R_EDI, di);
    }

    struct ginsn *in = &out[n];
    memset(in, 0, sizeof *in);
    in->size = (uint8_t)size;
    in->rep = (uint8_t)rep;
    in->uses_si = (uint8_t)uses_si;
    in->uses_di = (uint8_t)uses_di;
    in->sem = is_cmp ? SEM_STRCMP : SEM_NONE;
    in->track = TRK_STRING;
    in->need67 = 1;
    int seg = uses_si && chance(r, 12);
    static const uint8_t seg_prefix[3] = { 0x26, 0x36, 0x3E };
    uint8_t segp = seg_prefix[rnd(r, 3)];
    if (seg) put(in, segp);
    if (size == 2) put(in, 0x66);
    if (rep) put(in, (uint8_t)rep);
    put(in, (uint8_t)(opcodes[kind] + (size != 1)));
    if (kind == 3) in->wregs = regbit(R_EAX, 4);
    snprintf(in->text, sizeof in->text, "%s%s%s%c", seg ? (segp == 0x26 ? "es " : segp == 0x36 ? "ss " : "ds ") : "",
             rep == 0xF2 ? "repne " : rep == 0xF3 ? (is_cmp ? "repe " : "rep ") : "", names[kind], suffix[size]);
    return n + 1;
}

/* --- XLAT (D7) -------------------------------------------------------------------- */
static int gen_xlat(struct gen *g, struct ginsn *out, int param)
{
    int n = 0;
    if (!(g->known[R_EBX] && range_fits(g->lo[R_EBX], g->hi[R_EBX] + 255)))
        n = emit_prep_mov(g, out, n, R_EBX, pointer_value(g));
    struct ginsn *in = &out[n];
    memset(in, 0, sizeof *in);
    in->size = 1;
    in->need67 = 1;
    put(in, 0xD7);
    in->wregs = regbit(R_EAX, 4);
    snprintf(in->text, sizeof in->text, "xlat");
    (void)param;
    return n + 1;
}

/* --- NOP (90, 0F 1F /0) --------------------------------------------------------- */
static int gen_nop(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    char a[96];
    if (chance(r, 40)) {
        put(in, 0x90);
        snprintf(in->text, sizeof in->text, "nop");
        return 1;
    }
    int size = pick_size(g, 0);
    in->has_rm = 1;
    in->rm.is_mem = chance(r, 80);
    in->no_access = 1;
    if (in->rm.is_mem) pick_mem_any(g, &in->rm.ea);
    else in->rm.reg = (uint8_t)rnd(r, 8);
    put_prefixes(in, r, size, 0);
    put(in, 0x0F); put(in, 0x1F);
    put_modrm(in, 0, &in->rm);
    snprintf(in->text, sizeof in->text, "nop %s", fmt_rm(a, sizeof a, &in->rm, size));
    (void)param;
    return 1;
}

/* --- forward branches over the next instruction: Jcc JMP JECXZ LOOP LOOPE LOOPNE --- */
static int gen_branch(struct gen *g, struct ginsn *out, int kind)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    in->branch = (uint8_t)kind;
    switch (kind) {
    case BR_JCC:
        in->op = (uint8_t)rnd(r, 16);
        in->sem = SEM_CC;
        if (chance(r, 70)) {
            put(in, (uint8_t)(0x70 + in->op));
            in->rel_size = 1;
        } else {
            put(in, 0x0F); put(in, (uint8_t)(0x80 + in->op));
            in->rel_size = 4;
        }
        snprintf(in->text, sizeof in->text, "j%s +skip", cc_names[in->op]);
        break;
    case BR_JMP:
        in->rel_size = chance(r, 70) ? 1 : 4;
        put(in, in->rel_size == 1 ? 0xEB : 0xE9);
        snprintf(in->text, sizeof in->text, "jmp +skip");
        break;
    case BR_JECXZ:
        in->need67 = 1;
        in->rel_size = 1;
        put(in, 0xE3);
        snprintf(in->text, sizeof in->text, "jecxz +skip");
        break;
    default:
        in->need67 = 1;
        in->rel_size = 1;
        in->sem = kind == BR_LOOP ? SEM_NONE : SEM_LOOPZ;
        in->track = TRK_LOOP;
        in->wregs = regbit(R_ECX, 4);
        put(in, (uint8_t)(kind == BR_LOOP ? 0xE2 : kind == BR_LOOPE ? 0xE1 : 0xE0));
        snprintf(in->text, sizeof in->text, "%s +skip", kind == BR_LOOP ? "loop" : kind == BR_LOOPE ? "loope" : "loopne");
        break;
    }
    in->rel_off[0] = in->len[0];
    in->rel_off[1] = in->len[1];
    put_imm(in, 0, in->rel_size);
    return 1;
}

/* --- 16-bit PUSH POP ENTER LEAVE -------------------------------------------------
 * With 66h these push and pop words in 64-bit mode as in 32-bit mode with a
 * 32-bit stack: RSP is ESP zero-extended, a pointer into the data buffer. */
static int stack_ok(const struct gen *g, int64_t below, int64_t above)
{
    return g->known[R_ESP] && range_fits(g->lo[R_ESP] - below, g->hi[R_ESP] + above - 1);
}

static int gen_push_pop(struct gen *g, struct ginsn *out, int pop)
{
    struct rng *r = g->r;
    char a[96];
    int n = 0;
    if (!stack_ok(g, 2, 2))
        n = emit_prep_mov(g, out, n, R_ESP, pointer_value(g));
    struct ginsn *in = &out[n];
    memset(in, 0, sizeof *in);
    in->size = 2;
    in->track = TRK_ESP_ADD;
    in->track_val = pop ? 2u : (uint32_t)-2;
    in->wregs = regbit(R_ESP, 4);
    uint32_t k = rnd(r, 4);
    if (!pop) {
        if (k == 0) {
            int reg = (int)rnd(r, 8);
            put(in, 0x66); put(in, (uint8_t)(0x50 + reg));
            snprintf(in->text, sizeof in->text, "push %s", regname(reg, 2));
        } else if (k == 1) {
            uint32_t imm = imm_for(g, 1);
            put(in, 0x66); put(in, 0x6A); put(in, (uint8_t)imm);
            snprintf(in->text, sizeof in->text, "push word %d", (int8_t)imm);
        } else if (k == 2) {
            uint32_t imm = imm_for(g, 2);
            put(in, 0x66); put(in, 0x68); put_imm(in, imm, 2);
            snprintf(in->text, sizeof in->text, "push word 0x%x", imm);
        } else {
            in->has_rm = 1;
            in->rm.is_mem = 1;
            if (!pick_mem(g, &in->rm.ea, 2, 0, 0)) return 0;
            put_prefixes(in, r, 2, 0);
            put(in, 0xFF);
            put_modrm(in, 6, &in->rm);
            snprintf(in->text, sizeof in->text, "push %s", fmt_rm(a, sizeof a, &in->rm, 2));
        }
        return n + 1;
    }
    if (k < 3) {
        int reg = (int)rnd(r, 8);
        put(in, 0x66); put(in, (uint8_t)(0x58 + reg));
        in->wregs |= regbit(reg, 2);
        if (reg == R_ESP) in->track = TRK_NONE;   /* POP SP: SP is the popped value */
        snprintf(in->text, sizeof in->text, "pop %s", regname(reg, 2));
    } else {
        /* With ESP as base the address is computed after ESP moves (SDM POP): allow both. */
        in->has_rm = 1;
        in->rm.is_mem = 1;
        if (!pick_mem(g, &in->rm.ea, 2, 0, 2)) return 0;
        put_prefixes(in, r, 2, 0);
        put(in, 0x8F);
        put_modrm(in, 0, &in->rm);
        snprintf(in->text, sizeof in->text, "pop %s", fmt_rm(a, sizeof a, &in->rm, 2));
    }
    return n + 1;
}

static int gen_enter(struct gen *g, struct ginsn *out, int param)
{
    struct rng *r = g->r;
    int n = 0;
    uint32_t level = chance(r, 60) ? rnd(r, 2) : rnd(r, 5);
    uint32_t size = chance(r, 50) ? rnd(r, 16) : rnd(r, 0x200);
    int64_t pushed = 2 + (level ? 2 * (int64_t)level : 0);
    if (chance(r, 5)) level |= 0x20;            /* the level is taken mod 32 */
    if (!stack_ok(g, pushed + size, 2))
        n = emit_prep_mov(g, out, n, R_ESP, pointer_value(g));
    /* Levels above 1 copy words from [EBP-2], [EBP-4]... */
    if ((level & 31) > 1 && !(g->known[R_EBP] && range_fits(g->lo[R_EBP] - 2 * (int64_t)(level & 31), g->hi[R_EBP] - 1)))
        n = emit_prep_mov(g, out, n, R_EBP, pointer_value(g));
    struct ginsn *in = &out[n];
    memset(in, 0, sizeof *in);
    in->size = 2;
    put(in, 0x66); put(in, 0xC8); put_imm(in, size, 2); put(in, (uint8_t)level);
    in->track = TRK_ESP_ADD;
    in->track_val = (uint32_t)(-(int64_t)pushed - (int64_t)size);
    in->wregs = regbit(R_ESP, 4) | regbit(R_EBP, 4);
    snprintf(in->text, sizeof in->text, "enter word 0x%x, %u", size, level);
    (void)param;
    return n + 1;
}

static int gen_leave(struct gen *g, struct ginsn *out, int param)
{
    int n = 0;
    if (!(g->known[R_EBP] && range_fits(g->lo[R_EBP], g->hi[R_EBP] + 1)))
        n = emit_prep_mov(g, out, n, R_EBP, pointer_value(g));
    struct ginsn *in = &out[n];
    memset(in, 0, sizeof *in);
    in->size = 2;
    put(in, 0x66); put(in, 0xC9);
    in->track = TRK_ESP_FROM_EBP;
    in->wregs = regbit(R_ESP, 4) | regbit(R_EBP, 4);
    snprintf(in->text, sizeof in->text, "leave (16-bit)");
    (void)param;
    return n + 1;
}

/* --- encodings that must raise #UD in both modes -------------------------------- */
static int gen_lock_ud(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int size = pick_size(g, 1);
    char a[96];
    in->size = (uint8_t)size;
    uint32_t k = rnd(r, 4);
    if (k == 0) {
        /* LOCK on a register destination */
        int op = (int)rnd(r, 7);
        in->has_rm = 1;
        in->rm.reg = (uint8_t)rnd(r, 8);
        in->reg = (uint8_t)rnd(r, 8);
        put_prefixes(in, r, size, 1);
        put(in, (uint8_t)(op * 8 + (size != 1)));
        put_modrm(in, in->reg, &in->rm);
        snprintf(in->text, sizeof in->text, "lock %s %s, %s (#UD)", alu_names[op], regname(in->rm.reg, size), regname(in->reg, size));
    } else {
        /* LOCK on instructions that are never lockable: MOV, CMP, TEST to memory */
        static const uint8_t opc[3] = { 0x88, 0x38, 0x84 };
        static const char *const names[3] = { "mov", "cmp", "test" };
        pick_rm(g, in, size, 100, size);
        in->reg = (uint8_t)rnd(r, 8);
        put_prefixes(in, r, size, 1);
        put(in, (uint8_t)(opc[k - 1] + (size != 1)));
        put_modrm(in, in->reg, &in->rm);
        snprintf(in->text, sizeof in->text, "lock %s %s, %s (#UD)", names[k - 1], fmt_rm(a, sizeof a, &in->rm, size),
                 regname(in->reg, size));
    }
    (void)param;
    return 1;
}

static int gen_ud(struct gen *g, struct ginsn *out, int param)
{
    struct ginsn *in = out;
    struct rng *r = g->r;
    int reg = (int)rnd(r, 8);
    switch (rnd(r, 5)) {
    case 0: put(in, 0x0F); put(in, 0x0B); snprintf(in->text, sizeof in->text, "ud2"); break;
    case 1: put(in, 0x8D); put(in, (uint8_t)(0xC0 | reg << 3 | rnd(r, 8))); snprintf(in->text, sizeof in->text, "lea reg, reg (#UD)"); break;
    case 2: put(in, 0xFE); put(in, (uint8_t)(0xF8 | reg)); snprintf(in->text, sizeof in->text, "FE /7 (#UD)"); break;
    case 3: put(in, 0xFF); put(in, (uint8_t)(0xF8 | reg)); snprintf(in->text, sizeof in->text, "FF /7 (#UD)"); break;
    default: put(in, 0x0F); put(in, 0xC7); put(in, (uint8_t)(0xC8 | reg)); snprintf(in->text, sizeof in->text, "cmpxchg8b reg (#UD)"); break;
    }
    (void)param;
    return 1;
}

/* The table. Names are what --only takes (case-insensitive; "CBW" matches "CBW/CWDE"). */
static const struct family families[] = {
    { "ADD", gen_alu, 0, 10 }, { "OR", gen_alu, 1, 10 }, { "ADC", gen_alu, 2, 10 }, { "SBB", gen_alu, 3, 10 },
    { "AND", gen_alu, 4, 10 }, { "SUB", gen_alu, 5, 10 }, { "XOR", gen_alu, 6, 10 }, { "CMP", gen_alu, 7, 10 },
    { "TEST", gen_test, 0, 8 },
    { "INC", gen_unary, 0, 6 }, { "DEC", gen_unary, 1, 6 }, { "NOT", gen_unary, 2, 5 }, { "NEG", gen_unary, 3, 6 },
    { "MUL", gen_muldiv, 0, 8 }, { "IMUL", gen_muldiv, 1, 10 }, { "DIV", gen_muldiv, 2, 8 }, { "IDIV", gen_muldiv, 3, 8 },
    { "ROL", gen_shift, 0, 7 }, { "ROR", gen_shift, 1, 7 }, { "RCL", gen_shift, 2, 7 }, { "RCR", gen_shift, 3, 7 },
    { "SHL", gen_shift, 4, 7 }, { "SHR", gen_shift, 5, 7 }, { "SAL", gen_shift, 6, 3 }, { "SAR", gen_shift, 7, 7 },
    { "SHLD", gen_shxd, 0, 8 }, { "SHRD", gen_shxd, 1, 8 },
    { "BT", gen_bt, 0, 6 }, { "BTS", gen_bt, 1, 6 }, { "BTR", gen_bt, 2, 6 }, { "BTC", gen_bt, 3, 6 },
    { "BSF", gen_bsf, 0, 6 }, { "BSR", gen_bsf, 1, 6 },
    { "SETcc", gen_setcc, 0, 8 }, { "CMOVcc", gen_cmovcc, 0, 8 },
    { "MOVZX", gen_movx, 0, 5 }, { "MOVSX", gen_movx, 1, 5 },
    { "MOV", gen_mov, 0, 10 },
    { "XCHG", gen_xchg, 0, 6 }, { "XADD", gen_xchg, 1, 6 }, { "CMPXCHG", gen_xchg, 2, 6 },
    { "CMPXCHG8B", gen_cmpxchg8b, 0, 4 },
    { "BSWAP", gen_bswap, 0, 3 }, { "LEA", gen_lea, 0, 6 },
    { "CBW/CWDE", gen_convert, 0, 3 }, { "CWD/CDQ", gen_convert, 1, 3 },
    { "CLC", gen_flagop, 0xF8, 2 }, { "STC", gen_flagop, 0xF9, 2 }, { "CMC", gen_flagop, 0xF5, 2 },
    { "CLD", gen_flagop, 0xFC, 2 }, { "STD", gen_flagop, 0xFD, 2 },
    { "LAHF", gen_flagop, 0x9F, 3 }, { "SAHF", gen_flagop, 0x9E, 3 },
    { "MOVS", gen_string, 0, 5 }, { "CMPS", gen_string, 1, 5 }, { "STOS", gen_string, 2, 5 },
    { "LODS", gen_string, 3, 5 }, { "SCAS", gen_string, 4, 5 },
    { "XLAT", gen_xlat, 0, 2 }, { "NOP", gen_nop, 0, 2 },
    { "Jcc", gen_branch, BR_JCC, 6 }, { "JMP", gen_branch, BR_JMP, 2 }, { "JECXZ", gen_branch, BR_JECXZ, 2 },
    { "LOOP", gen_branch, BR_LOOP, 2 }, { "LOOPE", gen_branch, BR_LOOPE, 2 }, { "LOOPNE", gen_branch, BR_LOOPNE, 2 },
    { "LOCK#UD", gen_lock_ud, 0, 1 }, { "UD", gen_ud, 0, 1 },
    { "PUSH", gen_push_pop, 0, 4 }, { "POP", gen_push_pop, 1, 4 },
    { "ENTER", gen_enter, 0, 2 }, { "LEAVE", gen_leave, 0, 2 },
};
#define NUM_FAMILIES ((int)(sizeof families / sizeof families[0]))

static int family_matches(const char *name, const char *want)
{
    if (!strcasecmp(name, want)) return 1;
    size_t n = strlen(want);
    for (const char *p = name; *p; ) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == n && !strncasecmp(p, want, n)) return 1;
        if (!slash) break;
        p = slash + 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * A whole case: initial registers, flags, memory, and the sequence. */
struct machine_state {
    uint32_t reg[8];
    uint32_t flags;               /* OF SF ZF AF PF CF DF only */
};

static uint32_t initial_reg_value(struct rng *r)
{
    uint32_t k = rnd(r, 100);
    if (k < 30) return DATA_BASE + 0x1000 + rnd(r, DATA_SIZE - 0x2000);   /* a pointer into the data */
    if (k < 45) return (uint32_t)((int32_t)rnd(r, 129) - 64);             /* small, signed */
    if (k < 55) return rnd(r, 20);                                        /* a count */
    return value32(r);
}

static void gen_initial(struct rng *r, struct machine_state *st, uint8_t *mem)
{
    for (int i = 0; i < 8; i++)
        st->reg[i] = initial_reg_value(r);
    st->flags = rnd32(r) & F_OSZAPC;
    if (chance(r, 20)) st->flags |= F_DF;
    for (uint32_t off = 0; off < DATA_SIZE; off += 8) {
        uint64_t v = rng_next(r);
        memcpy(mem + off, &v, 8);
        if ((v & 0x300) == 0) {         /* a quarter of the qwords hold an edge value */
            uint32_t e = edge32(r);
            memcpy(mem + off + ((v >> 12) & 4), &e, 4);
        }
    }
}

/* What an instruction does to the flags, given the state before it (NULL: not
 * known, a conservative estimate). tests/diffhw/flags.c. */
struct effect {
    uint32_t read;        /* flags it reads */
    uint32_t def;         /* flags it sets to a defined value */
    uint32_t undef;       /* flags it leaves undefined */
    int taken;            /* a branch that jumps */
    int dest_undef;       /* its destination is left undefined (BSF/BSR of 0, SHLD/SHRD count > 16) */
};
static void insn_effect(const struct ginsn *in, const struct machine_state *pre, const uint8_t *data, struct effect *e);

static uint32_t effect_after(const struct effect *e, uint32_t undef_before)
{
    return (undef_before & ~(e->def | e->undef)) | e->undef;
}

static int pick_family(struct gen *g)
{
    int total = 0;
    for (int f = 0; f < NUM_FAMILIES; f++)
        if (!g->allowed || g->allowed[f]) total += families[f].weight;
    if (total == 0) return -1;
    int k = (int)rnd(g->r, (uint32_t)total);
    for (int f = 0; f < NUM_FAMILIES; f++) {
        if (g->allowed && !g->allowed[f]) continue;
        if (k < families[f].weight) return f;
        k -= families[f].weight;
    }
    return -1;
}

/* Fill in branch displacements: each skips the instruction after it, or a few
 * bytes of NOP padding when it is last. */
static void fix_branches(struct rng *r, struct ginsn *seq, int n)
{
    for (int i = 0; i < n; i++) {
        struct ginsn *in = &seq[i];
        if (!in->branch) continue;
        uint32_t pad = rnd(r, 3);
        for (int s = 0; s < 2; s++) {
            uint32_t rel = i + 1 < n ? seq[i + 1].len[s] : pad;
            in->skip[s] = (uint8_t)rel;
            for (int k = 0; k < in->rel_size; k++)
                in->bytes[s][in->rel_off[s] + k] = (uint8_t)(rel >> (8 * k));
        }
    }
}

static int gen_sequence(struct rng *r, const struct machine_state *init, const uint8_t *allowed,
                        struct ginsn *seq, int max_target)
{
    struct gen g;
    memset(&g, 0, sizeof g);
    g.r = r;
    g.allowed = allowed;
    g.seq = seq;
    for (int i = 0; i < 8; i++) {
        g.known[i] = 1;
        g.lo[i] = g.hi[i] = init->reg[i];
    }
    int target = 1 + (int)rnd(r, (uint32_t)max_target);
    int tries = 0;
    while (g.n < target && tries++ < 200) {
        struct ginsn tmp[6];
        struct gen saved = g;
        memset(tmp, 0, sizeof tmp);
        int f = pick_family(&g);
        if (f < 0) return 0;
        int k = families[f].gen(&g, tmp, families[f].param);
        if (k <= 0 || g.n + k > MAX_SEQ) { g = saved; continue; }
        struct ginsn *main_insn = &tmp[k - 1];
        main_insn->family = (uint8_t)f;
        /* Avoid reading flags an earlier instruction may have left undefined (the
         * native-run analysis is exact; this only keeps sequences from being cut short). */
        struct effect e;
        insn_effect(main_insn, NULL, NULL, &e);
        if ((e.read & g.maybe_undef) && chance(r, 90)) { g = saved; continue; }
        for (int j = 0; j < k; j++) {
            finalize_insn(&tmp[j]);
            if (!tmp[j].tracked)
                track_insn(&g, &tmp[j], last_is_branch(&g, tmp, j));
            insn_effect(&tmp[j], NULL, NULL, &e);
            g.maybe_undef = effect_after(&e, g.maybe_undef);
        }
        memcpy(&seq[g.n], tmp, (size_t)k * sizeof tmp[0]);
        g.n += k;
    }
    fix_branches(r, seq, g.n);
    return g.n;
}
