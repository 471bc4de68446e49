/* Differential test of the software x87 arithmetic (cpu/fx80.c, cpu/fx80_trans.c)
 * against the host's x87.
 *
 * Every case picks an operation, operands weighted to the edges (zeros,
 * denormals, pseudo-denormals, infinities, QNaN/SNaN, unnormals, pseudo-NaN and
 * pseudo-infinity, values near overflow and underflow, short significands whose
 * sums and products land on exact halves), a precision control, a rounding
 * control and, in a quarter of the cases, unmasked exceptions. The host runs the
 * x87 instruction with that control word (operands loaded with FLD m80, which
 * raises nothing), then FNSTSW and FNSAVE: both are no-wait instructions, so an
 * unmasked exception never traps and FNSAVE shows the registers and TOP exactly
 * as the instruction left them. The model runs the fx80 function and applies the
 * x87's rules for writing results (unmasked invalid, denormal and zero-divide
 * leave the stack alone, unmasked overflow/underflow leave memory alone) and the
 * two must agree on the stack (TOP and the registers written), the memory
 * operand, the exception flags, ES, C1 and, where the instruction defines them,
 * C0, C2 and C3.
 *
 * Transcendentals must match the result within 1 ulp (with the flags, C1 apart,
 * equal); exact matches and the largest distance are reported.
 *
 *   test_fx80 [--seed N] [--count N] [--soak] [--op NAME] [--verbose]
 * A test is an operation at one precision and rounding control: it passes when
 * all its cases do. TESTS_QUICK=1 runs fewer cases. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/fx80.h"

#if !defined(__x86_64__) && !defined(__i386__)
int main(void)
{
    printf("SKIP: the differential test needs an x86 host x87\n");
    return 77;
}
#else

/* ---------------------------------------------------------------------------
 * Random numbers (xorshift64*). */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static unsigned rnd_below(unsigned n) { return (unsigned)(rnd() % n); }

/* ---------------------------------------------------------------------------
 * The host side. */

#define SW_C0 0x0100
#define SW_C1 0x0200
#define SW_C2 0x0400
#define SW_C3 0x4000
#define SW_ES 0x0080
#define SW_TOP 0x3800

struct state {
    uint16_t sw;           /* TOP included */
    struct fx80 st[2];     /* ST(0), ST(1) */
    int depth;             /* registers in use */
    uint8_t mem[10];
};

static void from_fnsave(const uint8_t save[108], struct state *s)
{
    uint16_t tw;
    memcpy(&tw, save + 8, 2);
    for (int i = 0; i < 2; i++) {
        memcpy(&s->st[i].sig, save + 28 + 10 * i, 8);
        memcpy(&s->st[i].se, save + 36 + 10 * i, 2);
    }
    s->depth = 0;
    for (int r = 0; r < 8; r++) s->depth += ((tw >> (2 * r)) & 3) != 3;
}

/* ST(0) = a, ST(1) = b, then the instruction. */
#define HOST_REG(name, insn)                                                                    \
    static void name(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *s)  \
    {                                                                                           \
        uint8_t save[108];                                                                      \
        __asm__ volatile("fninit\n\tfldt %[b]\n\tfldt %[a]\n\tfnclex\n\tfldcw %[cw]\n\t" insn   \
                         "\n\tfnstsw %[sw]\n\tfnsave %[sv]"                                      \
                         : [sw] "=m"(s->sw), [sv] "=m"(save)                                    \
                         : [a] "m"(*a), [b] "m"(*b), [cw] "m"(cw)                               \
                         : "memory");                                                           \
        from_fnsave(save, s);                                                                   \
    }
/* An empty stack, then the instruction with s->mem as its memory operand. */
#define HOST_LOAD(name, insn)                                                                   \
    static void name(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *s)  \
    {                                                                                           \
        uint8_t save[108];                                                                      \
        (void)a; (void)b;                                                                       \
        __asm__ volatile("fninit\n\tfnclex\n\tfldcw %[cw]\n\t" insn " %[m]"                     \
                         "\n\tfnstsw %[sw]\n\tfnsave %[sv]"                                      \
                         : [sw] "=m"(s->sw), [sv] "=m"(save), [m] "+m"(s->mem)                  \
                         : [cw] "m"(cw)                                                         \
                         : "memory");                                                           \
        from_fnsave(save, s);                                                                   \
    }
/* ST(0) = a, ST(1) = b, then the instruction with s->mem as its memory operand. */
#define HOST_STORE(name, insn)                                                                  \
    static void name(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *s)  \
    {                                                                                           \
        uint8_t save[108];                                                                      \
        __asm__ volatile("fninit\n\tfldt %[b]\n\tfldt %[a]\n\tfnclex\n\tfldcw %[cw]\n\t" insn   \
                         " %[m]\n\tfnstsw %[sw]\n\tfnsave %[sv]"                                 \
                         : [sw] "=m"(s->sw), [sv] "=m"(save), [m] "+m"(s->mem)                  \
                         : [a] "m"(*a), [b] "m"(*b), [cw] "m"(cw)                               \
                         : "memory");                                                           \
        from_fnsave(save, s);                                                                   \
    }

HOST_REG(host_fadd, "fadd %%st(1), %%st")
HOST_REG(host_fsub, "fsub %%st(1), %%st")
HOST_REG(host_fmul, "fmul %%st(1), %%st")
HOST_REG(host_fdiv, "fdiv %%st(1), %%st")
HOST_REG(host_fsubr, "fsubr %%st(1), %%st")
HOST_REG(host_fdivr, "fdivr %%st(1), %%st")
HOST_REG(host_fsqrt, "fsqrt")
HOST_REG(host_frndint, "frndint")
HOST_REG(host_fscale, "fscale")
HOST_REG(host_fxtract, "fxtract")
HOST_REG(host_fprem, "fprem")
HOST_REG(host_fprem1, "fprem1")
HOST_REG(host_fcom, "fcom %%st(1)")
HOST_REG(host_fucom, "fucom %%st(1)")
HOST_REG(host_fxam, "fxam")
HOST_REG(host_fsin, "fsin")
HOST_REG(host_fcos, "fcos")
HOST_REG(host_fsincos, "fsincos")
HOST_REG(host_fptan, "fptan")
HOST_REG(host_fpatan, "fpatan")
HOST_REG(host_f2xm1, "f2xm1")
HOST_REG(host_fyl2x, "fyl2x")
HOST_REG(host_fyl2xp1, "fyl2xp1")
HOST_LOAD(host_fld32, "flds")
HOST_LOAD(host_fld64, "fldl")
HOST_LOAD(host_fild64, "fildll")
HOST_LOAD(host_fbld, "fbld")
HOST_STORE(host_fst32, "fsts")
HOST_STORE(host_fst64, "fstl")
HOST_STORE(host_fist16, "fists")
HOST_STORE(host_fist32, "fistl")
HOST_STORE(host_fistp64, "fistpll")
HOST_STORE(host_fisttp16, "fisttps")
HOST_STORE(host_fisttp32, "fisttpl")
HOST_STORE(host_fisttp64, "fisttpll")
HOST_STORE(host_fbstp, "fbstp")
HOST_LOAD(host_fld1, "fld1 #")
HOST_LOAD(host_fldl2t, "fldl2t #")
HOST_LOAD(host_fldl2e, "fldl2e #")
HOST_LOAD(host_fldpi, "fldpi #")
HOST_LOAD(host_fldlg2, "fldlg2 #")
HOST_LOAD(host_fldln2, "fldln2 #")

/* ---------------------------------------------------------------------------
 * The model: the fx80 functions with the x87's rules for results. */

static struct fx80_env env_of(uint16_t cw, int use_pc)
{
    struct fx80_env e = { 0 };
    e.precision = use_pc ? (uint8_t)((cw >> 8) & 3) : FX_PC64;
    e.rounding = (uint8_t)((cw >> 10) & 3);
    e.masks = (uint8_t)(cw & 0x3F);
    return e;
}

/* Pre-computation exceptions that are unmasked leave the stack alone. */
static int suppressed(const struct fx80_env *e) { return (e->flags & ~e->masks & (FX_IE | FX_DE | FX_ZE)) != 0; }
static int suppressed_store(const struct fx80_env *e)
{
    return (e->flags & ~e->masks & (FX_IE | FX_DE | FX_ZE | FX_OE | FX_UE)) != 0;
}

/* The initial model state: ST(0) = a, ST(1) = b, TOP = 6. */
static void model_start(struct state *m, const struct fx80 *a, const struct fx80 *b, int loaded)
{
    m->depth = loaded;
    m->sw = (uint16_t)((8 - loaded) & 7) << 11;
    if (loaded) {
        m->st[0] = *a;
        m->st[1] = *b;
    }
}
static void model_push(struct state *m, struct fx80 v)
{
    unsigned top = ((m->sw >> 11) - 1) & 7;
    m->sw = (uint16_t)((m->sw & ~SW_TOP) | top << 11);
    m->st[1] = m->st[0];
    m->st[0] = v;
    m->depth++;
}
static void model_pop(struct state *m)
{
    unsigned top = ((m->sw >> 11) + 1) & 7;
    m->sw = (uint16_t)((m->sw & ~SW_TOP) | top << 11);
    m->st[0] = m->st[1];
    m->depth--;
}
static void model_flags(struct state *m, const struct fx80_env *e, int c1)
{
    m->sw |= e->flags;
    if (e->flags & ~e->masks & 0x3F) m->sw |= SW_ES | 0x8000;
    if (c1) m->sw |= SW_C1;
}

typedef struct fx80 binary_fn(struct fx80_env *, struct fx80, struct fx80);
typedef struct fx80 unary_fn(struct fx80_env *, struct fx80);

static void model_binary(binary_fn *fn, int use_pc, uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, use_pc);
    struct fx80 r = fn(&e, *a, *b);
    model_start(m, a, b, 2);
    if (!suppressed(&e)) m->st[0] = r;
    model_flags(m, &e, !suppressed(&e) && e.c1);
}
/* FPATAN, FYL2X, FYL2XP1: ST(1) = f(ST(1), ST(0)), pop. */
static void model_binary_pop(binary_fn *fn, uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    struct fx80 r = fn(&e, *b, *a);
    model_start(m, a, b, 2);
    if (!suppressed(&e)) {
        m->st[1] = r;
        model_pop(m);
    }
    model_flags(m, &e, !suppressed(&e) && e.c1);
}
static void model_unary(unary_fn *fn, int use_pc, uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, use_pc);
    struct fx80 r = fn(&e, *a);
    model_start(m, a, b, 2);
    if (!suppressed(&e)) m->st[0] = r;
    model_flags(m, &e, !suppressed(&e) && e.c1);
}

static void model_fadd(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary(fx80_add, 1, cw, a, b, m); }
static void model_fsub(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary(fx80_sub, 1, cw, a, b, m); }
static void model_fmul(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary(fx80_mul, 1, cw, a, b, m); }
static void model_fdiv(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary(fx80_div, 1, cw, a, b, m); }
static struct fx80 sub_reversed(struct fx80_env *e, struct fx80 a, struct fx80 b) { return fx80_sub(e, b, a); }
static struct fx80 div_reversed(struct fx80_env *e, struct fx80 a, struct fx80 b) { return fx80_div(e, b, a); }
static void model_fsubr(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary(sub_reversed, 1, cw, a, b, m); }
static void model_fdivr(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary(div_reversed, 1, cw, a, b, m); }
static void model_fscale(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary(fx80_scale, 0, cw, a, b, m); }
static void model_fsqrt(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_unary(fx80_sqrt, 1, cw, a, b, m); }
static void model_frndint(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_unary(fx80_round_int, 0, cw, a, b, m); }
static void model_f2xm1(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_unary(fx80_f2xm1, 0, cw, a, b, m); }
static void model_fpatan(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary_pop(fx80_atan2, cw, a, b, m); }
static void model_fyl2x(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary_pop(fx80_yl2x, cw, a, b, m); }
static void model_fyl2xp1(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_binary_pop(fx80_yl2xp1, cw, a, b, m); }

static void model_fxtract(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    struct fx80 ex, sig = fx80_extract(&e, *a, &ex);
    model_start(m, a, b, 2);
    if (!suppressed(&e)) {
        m->st[0] = ex;
        model_push(m, sig);
    }
    model_flags(m, &e, 0);
}

static void model_prem(int ieee, uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    unsigned q;
    int partial;
    struct fx80 r = fx80_prem(&e, *a, *b, ieee, &q, &partial);
    model_start(m, a, b, 2);
    if (suppressed(&e)) {
        model_flags(m, &e, 0);
        return;
    }
    m->st[0] = r;
    model_flags(m, &e, 0);
    if (partial) m->sw |= SW_C2;
    if (q & 4) m->sw |= SW_C0;
    if (q & 2) m->sw |= SW_C3;
    if (q & 1) m->sw |= SW_C1;
}
static void model_fprem(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_prem(0, cw, a, b, m); }
static void model_fprem1(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_prem(1, cw, a, b, m); }

static void model_compare(int quiet, uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    int c = fx80_compare(&e, *a, *b, quiet);
    model_start(m, a, b, 2);
    model_flags(m, &e, 0);
    /* The condition codes are set whatever the masks (measured). */
    if (c == -1) m->sw |= SW_C0;
    else if (c == 0) m->sw |= SW_C3;
    else if (c == 2) m->sw |= SW_C0 | SW_C2 | SW_C3;
}
static void model_fcom(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_compare(0, cw, a, b, m); }
static void model_fucom(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_compare(1, cw, a, b, m); }

static void model_fxam(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    static const uint16_t codes[] = {
        [FXC_UNSUPPORTED] = 0, [FXC_NAN] = SW_C0, [FXC_NORMAL] = SW_C2, [FXC_INF] = SW_C2 | SW_C0,
        [FXC_ZERO] = SW_C3, [FXC_EMPTY] = SW_C3 | SW_C0, [FXC_DENORMAL] = SW_C3 | SW_C2,
    };
    model_start(m, a, b, 2);
    m->sw |= codes[fx80_classify(*a)];
    if (a->se & 0x8000) m->sw |= SW_C1;
}

/* FSIN, FCOS: out of range leaves ST(0) and sets C2. */
typedef struct fx80 trig_fn(struct fx80_env *, struct fx80, int *);
static void model_trig(trig_fn *fn, uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    int oor;
    struct fx80 r = fn(&e, *a, &oor);
    model_start(m, a, b, 2);
    if (oor) {
        m->sw |= SW_C2;
        return;
    }
    if (!suppressed(&e)) m->st[0] = r;
    model_flags(m, &e, !suppressed(&e) && e.c1);
}
static void model_fsin(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_trig(fx80_sin, cw, a, b, m); }
static void model_fcos(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_trig(fx80_cos, cw, a, b, m); }

/* FSINCOS: ST(0) = sin, push cos. FPTAN: ST(0) = tan, push 1.0. The flags of
 * both results are merged; C1 is that of the last one written. */
static void model_fsincos(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env es = env_of(cw, 0), ec = env_of(cw, 0);
    int oor;
    struct fx80 s = fx80_sin(&es, *a, &oor);
    struct fx80 c = fx80_cos(&ec, *a, &oor);
    model_start(m, a, b, 2);
    if (oor) {
        m->sw |= SW_C2;
        return;
    }
    es.flags |= ec.flags;
    if (!suppressed(&es)) {
        m->st[0] = s;
        model_push(m, c);
    }
    model_flags(m, &es, !suppressed(&es) && es.c1);
}
static void model_fptan(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    int oor;
    struct fx80 t = fx80_tan(&e, *a, &oor);
    struct fx80 one = { 0x8000000000000000ull, 0x3FFF };
    model_start(m, a, b, 2);
    if (oor) {
        m->sw |= SW_C2;
        return;
    }
    if (!suppressed(&e)) {
        /* A NaN result (NaN operand, masked invalid) is pushed instead of 1.0 (measured). */
        m->st[0] = t;
        model_push(m, fx80_is_nan(t) ? t : one);
    }
    model_flags(m, &e, !suppressed(&e) && e.c1);
}

/* A load pushes unless IE is unmasked: an unmasked DE still loads (measured). */
static void model_load_fx80(struct state *m, struct fx80_env *e, struct fx80 v)
{
    model_start(m, NULL, NULL, 0);
    if (!(e->flags & ~e->masks & FX_IE)) model_push(m, v);
    model_flags(m, e, 0);
}
static void model_fld32(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    uint32_t v;
    memcpy(&v, m->mem, 4);
    model_load_fx80(m, &e, fx80_from_f32(&e, v));
}
static void model_fld64(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    uint64_t v;
    memcpy(&v, m->mem, 8);
    model_load_fx80(m, &e, fx80_from_f64(&e, v));
}
static void model_fild64(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    int64_t v;
    memcpy(&v, m->mem, 8);
    model_load_fx80(m, &e, fx80_from_i64(v));
}
static void model_fbld(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    model_load_fx80(m, &e, fx80_from_bcd(m->mem));
}
static void model_const(enum fx_const k, uint16_t cw, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    model_load_fx80(m, &e, fx80_const(&e, k));
}
static void model_fld1(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_const(FXK_ONE, cw, m); }
static void model_fldl2t(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_const(FXK_L2T, cw, m); }
static void model_fldl2e(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_const(FXK_L2E, cw, m); }
static void model_fldpi(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_const(FXK_PI, cw, m); }
static void model_fldlg2(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_const(FXK_LG2, cw, m); }
static void model_fldln2(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_const(FXK_LN2, cw, m); }

/* Stores: memory written unless an unmasked exception says no; `pop` pops then. */
static void model_store_bytes(struct state *m, struct fx80_env *e, const void *bytes, int n, int pop,
                              const struct fx80 *a, const struct fx80 *b)
{
    model_start(m, a, b, 2);
    if (!suppressed_store(e)) {
        memcpy(m->mem, bytes, (size_t)n);
        if (pop) model_pop(m);
    }
    model_flags(m, e, !suppressed_store(e) && e->c1);
}
static void model_fst32(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    uint32_t v = fx80_to_f32(&e, *a);
    model_store_bytes(m, &e, &v, 4, 0, a, b);
}
static void model_fst64(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    uint64_t v = fx80_to_f64(&e, *a);
    model_store_bytes(m, &e, &v, 8, 0, a, b);
}
static void model_fist(int bits, int pop, int truncate, uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    int64_t v = fx80_to_int(&e, *a, bits, truncate);
    model_store_bytes(m, &e, &v, bits / 8, pop, a, b);
}
static void model_fist16(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_fist(16, 0, 0, cw, a, b, m); }
static void model_fist32(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_fist(32, 0, 0, cw, a, b, m); }
static void model_fistp64(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_fist(64, 1, 0, cw, a, b, m); }
static void model_fisttp16(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_fist(16, 1, 1, cw, a, b, m); }
static void model_fisttp32(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_fist(32, 1, 1, cw, a, b, m); }
static void model_fisttp64(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m) { model_fist(64, 1, 1, cw, a, b, m); }
static void model_fbstp(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *m)
{
    struct fx80_env e = env_of(cw, 0);
    uint8_t v[10];
    fx80_to_bcd(&e, *a, v);
    model_store_bytes(m, &e, v, 10, 1, a, b);
}

/* ---------------------------------------------------------------------------
 * Operands. */

static uint64_t gen_sig(void)
{
    uint64_t s = rnd();
    switch (rnd_below(12)) {
    case 0: return ~0ull;                                       /* all ones */
    case 1: return 0x8000000000000000ull;                       /* a power of two */
    case 2: return s << rnd_below(64);                          /* trailing zeros */
    case 3: return s | (~0ull >> rnd_below(64));                /* trailing ones */
    case 4: return s & ~0ull << 40;                             /* fits 24 bits */
    case 5: return s & ~0ull << 11;                             /* fits 53 bits */
    case 6: return (s & ~0ull << 39) | 1ull << 38;              /* 25 bits: a half at PC24 */
    case 7: return (s & ~0ull << 10) | 1ull << 9;               /* 54 bits: a half at PC53 */
    case 8: return s ^ (1ull << rnd_below(64));
    default: return s;
    }
}

static int gen_exp(void)
{
    switch (rnd_below(10)) {
    case 0: return 1 + (int)rnd_below(80);                      /* near underflow */
    case 1: return 0x7FFE - (int)rnd_below(80);                 /* near overflow */
    case 2: return 1 + (int)rnd_below(0x7FFE);                  /* anywhere */
    case 3: return 16383 - 140 + (int)rnd_below(280);           /* denormals at PC24/53 after scaling */
    default: return 16383 - 20 + (int)rnd_below(40);
    }
}

static struct fx80 gen_value(void)
{
    struct fx80 v;
    uint64_t s = gen_sig();
    int sign = (int)(rnd() & 1);
    int e;
    switch (rnd_below(40)) {
    case 0: case 1:                                             /* zero */
        e = 0; s = 0; break;
    case 2: case 3: case 4:                                     /* denormal */
        e = 0; s = (s >> 1) >> rnd_below(64); if (!s) s = 1; break;
    case 5:                                                     /* pseudo-denormal */
        e = 0; s |= 0x8000000000000000ull; break;
    case 6: case 7:                                             /* infinity */
        e = 0x7FFF; s = 0x8000000000000000ull; break;
    case 8: case 9:                                             /* QNaN */
        e = 0x7FFF; s |= 0xC000000000000000ull; break;
    case 10:                                                    /* SNaN */
        e = 0x7FFF; s = (s & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
        if (!(s << 1)) s |= 1;
        break;
    case 11:                                                    /* unnormal, pseudo-NaN, pseudo-infinity */
        e = rnd_below(3) ? gen_exp() : 0x7FFF; s &= 0x7FFFFFFFFFFFFFFFull; break;
    default:
        e = gen_exp(); s |= 0x8000000000000000ull; break;
    }
    v.sig = s;
    v.se = (uint16_t)((sign << 15) | e);
    return v;
}

static int is_plain(struct fx80 v) { unsigned e = v.se & 0x7FFF; return e != 0 && e != 0x7FFF && (v.sig >> 63); }

/* A second operand related to the first: close exponent, nearly equal value. */
static struct fx80 gen_related(struct fx80 a)
{
    struct fx80 b = gen_value();
    if (!is_plain(a) || rnd_below(3) == 0) return b;
    int e = (a.se & 0x7FFF) + (int)rnd_below(140) - 70;
    if (rnd_below(3) == 0) e = (a.se & 0x7FFF) + (int)rnd_below(5) - 2;
    if (e < 1) e = 1;
    if (e > 0x7FFE) e = 0x7FFE;
    b.se = (uint16_t)((b.se & 0x8000) | e);
    b.sig = gen_sig() | 0x8000000000000000ull;
    if (rnd_below(4) == 0) b.sig = a.sig + rnd_below(5) - 2;
    if (!(b.sig >> 63)) b.sig |= 0x8000000000000000ull;
    return b;
}

static struct fx80 fx_of(int sign, int exp, uint64_t sig)
{
    struct fx80 v = { sig, (uint16_t)((sign << 15) | exp) };
    return v;
}

/* ---------------------------------------------------------------------------
 * Operation table. */

typedef void run_fn(uint16_t cw, const struct fx80 *a, const struct fx80 *b, struct state *s);

enum gen_kind { G_BINARY, G_UNARY, G_PREM, G_ROUND, G_INT, G_BCD, G_LOAD32, G_LOAD64, G_LOADI64, G_LOADBCD,
                G_CONST, G_SCALE, G_TRIG, G_F2XM1, G_YL2X, G_YL2XP1, G_ATAN };

struct op {
    const char *name;
    run_fn *host, *model;
    enum gen_kind gen;
    int trans;                 /* transcendental: within 1 ulp */
    uint16_t cc;               /* condition codes compared besides C1 */
    int memlen;                /* bytes of the memory operand compared */
};

static const struct op ops[] = {
    { "fadd", host_fadd, model_fadd, G_BINARY, 0, 0, 0 },
    { "fsub", host_fsub, model_fsub, G_BINARY, 0, 0, 0 },
    { "fmul", host_fmul, model_fmul, G_BINARY, 0, 0, 0 },
    { "fdiv", host_fdiv, model_fdiv, G_BINARY, 0, 0, 0 },
    { "fsubr", host_fsubr, model_fsubr, G_BINARY, 0, 0, 0 },
    { "fdivr", host_fdivr, model_fdivr, G_BINARY, 0, 0, 0 },
    { "fsqrt", host_fsqrt, model_fsqrt, G_UNARY, 0, 0, 0 },
    { "frndint", host_frndint, model_frndint, G_ROUND, 0, 0, 0 },
    { "fscale", host_fscale, model_fscale, G_SCALE, 0, 0, 0 },
    { "fxtract", host_fxtract, model_fxtract, G_UNARY, 0, 0, 0 },
    { "fprem", host_fprem, model_fprem, G_PREM, 0, SW_C0 | SW_C2 | SW_C3, 0 },
    { "fprem1", host_fprem1, model_fprem1, G_PREM, 0, SW_C0 | SW_C2 | SW_C3, 0 },
    { "fcom", host_fcom, model_fcom, G_BINARY, 0, SW_C0 | SW_C2 | SW_C3, 0 },
    { "fucom", host_fucom, model_fucom, G_BINARY, 0, SW_C0 | SW_C2 | SW_C3, 0 },
    { "fxam", host_fxam, model_fxam, G_UNARY, 0, SW_C0 | SW_C2 | SW_C3, 0 },
    { "fld32", host_fld32, model_fld32, G_LOAD32, 0, 0, 0 },
    { "fld64", host_fld64, model_fld64, G_LOAD64, 0, 0, 0 },
    { "fild64", host_fild64, model_fild64, G_LOADI64, 0, 0, 0 },
    { "fbld", host_fbld, model_fbld, G_LOADBCD, 0, 0, 0 },
    { "fst32", host_fst32, model_fst32, G_UNARY, 0, 0, 4 },
    { "fst64", host_fst64, model_fst64, G_UNARY, 0, 0, 8 },
    { "fist16", host_fist16, model_fist16, G_INT, 0, 0, 2 },
    { "fist32", host_fist32, model_fist32, G_INT, 0, 0, 4 },
    { "fistp64", host_fistp64, model_fistp64, G_INT, 0, 0, 8 },
    { "fisttp16", host_fisttp16, model_fisttp16, G_INT, 0, 0, 2 },
    { "fisttp32", host_fisttp32, model_fisttp32, G_INT, 0, 0, 4 },
    { "fisttp64", host_fisttp64, model_fisttp64, G_INT, 0, 0, 8 },
    { "fbstp", host_fbstp, model_fbstp, G_BCD, 0, 0, 10 },
    { "fld1", host_fld1, model_fld1, G_CONST, 0, 0, 0 },
    { "fldl2t", host_fldl2t, model_fldl2t, G_CONST, 0, 0, 0 },
    { "fldl2e", host_fldl2e, model_fldl2e, G_CONST, 0, 0, 0 },
    { "fldpi", host_fldpi, model_fldpi, G_CONST, 0, 0, 0 },
    { "fldlg2", host_fldlg2, model_fldlg2, G_CONST, 0, 0, 0 },
    { "fldln2", host_fldln2, model_fldln2, G_CONST, 0, 0, 0 },
    { "fsin", host_fsin, model_fsin, G_TRIG, 1, SW_C2, 0 },
    { "fcos", host_fcos, model_fcos, G_TRIG, 1, SW_C2, 0 },
    { "fsincos", host_fsincos, model_fsincos, G_TRIG, 1, SW_C2, 0 },
    { "fptan", host_fptan, model_fptan, G_TRIG, 1, SW_C2, 0 },
    { "fpatan", host_fpatan, model_fpatan, G_ATAN, 1, 0, 0 },
    { "f2xm1", host_f2xm1, model_f2xm1, G_F2XM1, 1, 0, 0 },
    { "fyl2x", host_fyl2x, model_fyl2x, G_YL2X, 1, 0, 0 },
    { "fyl2xp1", host_fyl2xp1, model_fyl2xp1, G_YL2XP1, 1, 0, 0 },
};
#define NOPS (int)(sizeof ops / sizeof ops[0])

/* A finite value near x * 2^e with a random significand. */
static struct fx80 gen_near(int sign, int e)
{
    return fx_of(sign, 16383 + e, gen_sig() | 0x8000000000000000ull);
}

static void gen_operands(enum gen_kind g, struct fx80 *a, struct fx80 *b, uint8_t mem[10])
{
    *a = gen_value();
    *b = gen_related(*a);
    memset(mem, 0xA5, 10);
    switch (g) {
    case G_BINARY: case G_UNARY:
        break;
    case G_PREM:
        if (rnd_below(4) && is_plain(*a) && is_plain(*b)) {
            /* Exponent differences around 0, 63/64 and the partial-remainder steps. */
            static const int diffs[] = { -2, -1, 0, 1, 2, 30, 62, 63, 64, 65, 95, 96, 97, 127, 128, 200, 1000 };
            int d = rnd_below(3) ? (int)rnd_below(80) - 4 : diffs[rnd_below(sizeof diffs / sizeof diffs[0])];
            int e = (a->se & 0x7FFF) - d;
            if (e >= 1 && e <= 0x7FFE) b->se = (uint16_t)((b->se & 0x8000) | e);
        }
        break;
    case G_ROUND: case G_INT: case G_BCD:
        if (rnd_below(4)) {
            /* Around the integers, halves and the format's limits. */
            int lim = g == G_BCD ? 60 : 64;
            *a = gen_near((int)(rnd() & 1), (int)rnd_below(lim + 2) - 2);
            if (rnd_below(3) == 0) {
                int e = (a->se & 0x7FFF) - 16383;
                if (e >= 0 && e < 63) a->sig &= ~0ull << (62 - e);        /* an integer or a half */
            }
            if (g == G_BCD && rnd_below(4) == 0) {
                uint64_t m = 999999999999999999ull + rnd_below(3) - 1;
                struct fx80 v = fx80_from_i64((int64_t)m);
                *a = v;
                a->se |= (uint16_t)((rnd() & 1) << 15);
            }
        }
        break;
    case G_SCALE:
        if (rnd_below(3) && is_plain(*b)) {
            int n = (int)rnd_below(40000) - 20000;
            if (rnd_below(2)) n = (int)rnd_below(200) - 100;
            if (rnd_below(3) == 0 && is_plain(*a)) {
                /* The result's exponent near the ends of the range, wrapped or not. */
                static const int targets[] = { 0x7FFE, 0x7FFE + 24576, 1, 1 - 24576, 1 - 64 };
                n = targets[rnd_below(5)] - (a->se & 0x7FFF) + (int)rnd_below(7) - 3;
            }
            struct fx80 v = fx80_from_i64(n);
            if (rnd_below(3) == 0 && n) v.sig |= rnd() >> 20;     /* a fraction to truncate */
            *b = v;
        }
        break;
    case G_LOAD32: {
        uint32_t v = (uint32_t)rnd();
        switch (rnd_below(6)) {
        case 0: v &= 0x807FFFFF; break;                               /* zero or denormal */
        case 1: v |= 0x7F800000; break;                               /* inf or NaN */
        case 2: v = (v & 0x80000000) | 0x7F800000 | (v & 0x3FFFFF); break;
        default: break;
        }
        memcpy(mem, &v, 4);
        break;
    }
    case G_LOAD64: {
        uint64_t v = rnd();
        switch (rnd_below(6)) {
        case 0: v &= 0x800FFFFFFFFFFFFFull; v >>= rnd_below(52); break;
        case 1: v |= 0x7FF0000000000000ull; break;
        case 2: v = (v & 0x8000000000000000ull) | 0x7FF0000000000000ull | (v & 0x7FFFFFFFFFFFFull); break;
        default: break;
        }
        memcpy(mem, &v, 8);
        break;
    }
    case G_LOADI64: {
        uint64_t v = rnd() >> rnd_below(64);
        if (rnd() & 1) v = 0 - v;
        if (rnd_below(10) == 0) v = 0x8000000000000000ull;
        memcpy(mem, &v, 8);
        break;
    }
    case G_LOADBCD:
        for (int i = 0; i < 9; i++) mem[i] = (uint8_t)((rnd_below(10) << 4) | rnd_below(10));
        mem[9] = (uint8_t)(rnd() & 0x80);
        break;
    case G_CONST:
        break;
    case G_TRIG:
        if (rnd_below(4)) {
            int e = (int)rnd_below(70) - 4;
            if (rnd_below(4) == 0) e = (int)rnd_below(200) - 180;
            *a = gen_near((int)(rnd() & 1), e);
            if (rnd_below(4) == 0) {
                /* Near a multiple of pi/2. */
                static const uint64_t pi = 0xC90FDAA22168C235ull;
                uint64_t k = 1 + rnd_below(100);
                uint64_t hi;
                unsigned __int128 p = (unsigned __int128)pi * k;
                int lz = (p >> 64) ? __builtin_clzll((uint64_t)(p >> 64)) : 64 + __builtin_clzll((uint64_t)p);
                p <<= lz;
                hi = (uint64_t)(p >> 64) + rnd_below(5) - 2;
                *a = fx_of((int)(rnd() & 1), 16383 + 64 - lz, hi);
            }
        }
        break;
    case G_ATAN:
        break;
    case G_F2XM1:
        if (rnd_below(8)) *a = gen_near((int)(rnd() & 1), -(int)rnd_below(70) - 1);
        if (rnd_below(20) == 0) *a = fx_of((int)(rnd() & 1), 16383, 0x8000000000000000ull);
        break;
    case G_YL2X:
        if (rnd_below(8)) {
            *a = rnd_below(3) ? gen_near(0, (int)rnd_below(40) - 20) : gen_near(0, (int)rnd_below(0x7FFE) - 16382);
            if (rnd_below(4) == 0) *a = fx_of(0, 16383 - (int)rnd_below(2), rnd_below(2) ? ~0ull - rnd_below(1000) : 0x8000000000000000ull + rnd_below(1000));
        }
        break;
    case G_YL2XP1:
        if (rnd_below(8)) *a = gen_near((int)(rnd() & 1), -(int)rnd_below(70) - 2);
        break;
    }
}

/* ---------------------------------------------------------------------------
 * Comparison and statistics. */

struct stats {
    unsigned long cases, fails, exact, near, c1_differs;
    unsigned long combo_fail[4][4];     /* [pc][rc] */
    unsigned long combo_cases[4][4];
    int max_ulp;
};

static int same(struct fx80 a, struct fx80 b) { return a.sig == b.sig && a.se == b.se; }

/* The distance in ulps between two finite values of the same sign, or a large number. */
static int ulp_distance(struct fx80 a, struct fx80 b)
{
    if ((a.se ^ b.se) & 0x8000) return 1 << 30;
    unsigned ea = a.se & 0x7FFF, eb = b.se & 0x7FFF;
    if (ea == 0x7FFF || eb == 0x7FFF) return same(a, b) ? 0 : 1 << 30;
    /* Normals: exponent and fraction form a monotonic key (the integer bit is implied). */
    __int128 ka = ((__int128)ea << 63) | (a.sig & 0x7FFFFFFFFFFFFFFFull);
    __int128 kb = ((__int128)eb << 63) | (b.sig & 0x7FFFFFFFFFFFFFFFull);
    if (ea == 0) ka = a.sig;
    if (eb == 0) kb = b.sig;
    __int128 d = ka > kb ? ka - kb : kb - ka;
    return d > (1 << 30) ? 1 << 30 : (int)d;
}

static void print_fx(const char *what, struct fx80 v)
{
    printf(" %s=%04X:%016" PRIX64, what, v.se, v.sig);
}

static int verbose;
static unsigned long fail_prints;

/* Runs one case; returns 1 when it fails. */
static int run_case(const struct op *op, struct stats *st, uint16_t cw, const struct fx80 *a, const struct fx80 *b, const uint8_t mem[10])
{
    struct state h, m;
    memcpy(h.mem, mem, 10);
    memcpy(m.mem, mem, 10);
    op->host(cw, a, b, &h);
    op->model(cw, a, b, &m);

    uint16_t mask = 0x3F | SW_ES | SW_TOP | SW_C1 | op->cc;
    int ok = 1, depth = m.depth < 2 ? m.depth : 2;
    int ulps = 0, value_ok = 1;
    if (h.depth != m.depth) ok = 0;
    for (int i = 0; i < depth; i++) {
        if (same(h.st[i], m.st[i])) continue;
        if (op->trans) {
            int d = ulp_distance(h.st[i], m.st[i]);
            if (d > ulps) ulps = d;
            value_ok = 0;
        } else {
            ok = 0;
        }
    }
    if (op->memlen && memcmp(h.mem, m.mem, (size_t)op->memlen)) ok = 0;
    if (op->trans) {
        /* The hardware rounds its own approximation: where the exact result is
         * that close to a representable value, the result may be one ulp away
         * and C1 (rounded up) may differ even for the same result. */
        if (ulps > 1) ok = 0;
        if (ok && (h.sw ^ m.sw) & SW_C1) st->c1_differs++;
        mask &= (uint16_t)~SW_C1;
    }
    if ((h.sw ^ m.sw) & mask) ok = 0;

    unsigned pc = (cw >> 8) & 3, rc = (cw >> 10) & 3;
    st->cases++;
    st->combo_cases[pc][rc]++;
    if (op->trans) {
        if (ok && value_ok) st->exact++;
        else if (ok) st->near++;
        if (ok && ulps > st->max_ulp) st->max_ulp = ulps;
    }
    if (ok && verbose && op->trans && (!value_ok || ((h.sw ^ m.sw) & SW_C1))) {
        printf("NEAR %s cw=%04X", op->name, cw);
        print_fx("a", *a);
        print_fx("b", *b);
        print_fx("host", h.st[0]);
        print_fx("host1", h.st[1]);
        print_fx("model", m.st[0]);
        print_fx("model1", m.st[1]);
        printf(" hsw=%04X msw=%04X\n", h.sw, m.sw);
    }
    if (ok) return 0;
    st->fails++;
    st->combo_fail[pc][rc]++;
    if (verbose || fail_prints < 40) {
        fail_prints++;
        printf("MISMATCH %s cw=%04X", op->name, cw);
        print_fx("a", *a);
        print_fx("b", *b);
        printf(" mem=");
        for (int i = 9; i >= 0; i--) printf("%02X", mem[i]);
        printf("\n   host: sw=%04X depth=%d", h.sw, h.depth);
        print_fx("st0", h.st[0]);
        print_fx("st1", h.st[1]);
        if (op->memlen) {
            printf(" mem=");
            for (int i = op->memlen - 1; i >= 0; i--) printf("%02X", h.mem[i]);
        }
        printf("\n  model: sw=%04X depth=%d", m.sw, m.depth);
        print_fx("st0", m.st[0]);
        print_fx("st1", m.st[1]);
        if (op->memlen) {
            printf(" mem=");
            for (int i = op->memlen - 1; i >= 0; i--) printf("%02X", m.mem[i]);
        }
        printf("\n");
    }
    return 1;
}

static uint16_t gen_cw(void)
{
    static const unsigned pcs[4] = { FX_PC24, FX_PC_RESERVED, FX_PC53, FX_PC64 };
    unsigned masks = 0x3F;
    if (rnd_below(4) == 0) masks = (unsigned)rnd() & 0x3F;
    return (uint16_t)(0x40 | masks | pcs[rnd_below(4)] << 8 | rnd_below(4) << 10);
}

/* ---------------------------------------------------------------------------
 * Edge values, every pair of them through every operation. */

static const struct fx80 edges[] = {
    { 0, 0 }, { 0, 0x8000 },                                                   /* zeros */
    { 1, 0 }, { 1, 0x8000 }, { 0x7FFFFFFFFFFFFFFFull, 0 },                     /* denormals */
    { 0x8000000000000000ull, 0 }, { 0xFFFFFFFFFFFFFFFFull, 0x8000 },           /* pseudo-denormals */
    { 0x8000000000000000ull, 1 }, { 0x8000000000000000ull, 0x8001 },           /* smallest normals */
    { 0xFFFFFFFFFFFFFFFFull, 0x7FFE }, { 0xFFFFFFFFFFFFFFFFull, 0xFFFE },       /* largest */
    { 0x8000000000000000ull, 0x3FFF }, { 0x8000000000000000ull, 0xBFFF },       /* +-1 */
    { 0x8000000000000000ull, 0x3FFE }, { 0xC000000000000000ull, 0xBFFE },       /* 0.5, -0.75 */
    { 0xFFFFFFFFFFFFFFFFull, 0x3FFE }, { 0x8000000000000001ull, 0x3FFF },       /* 1 - ulp, 1 + ulp */
    { 0x8000000000000000ull, 0x4000 }, { 0xC000000000000000ull, 0xC000 },       /* 2, -3 */
    { 0x8000000000000000ull, 0x403E }, { 0x8000000000000000ull, 0xC03E },       /* +-2^63 */
    { 0xFFFFFFFFFFFFFFFFull, 0x403D }, { 0x8000000000000000ull, 0x401E },       /* 2^63 - 1, 2^31 */
    { 0xC90FDAA22168C235ull, 0x4000 }, { 0xC90FDAA22168C235ull, 0xBFFF },       /* pi, -pi/2 */
    { 0xB504F333F9DE6484ull, 0x3FFF }, { 0x8000000000000000ull, 0x3FBF },       /* sqrt 2, 2^-64 */
    { 0x8000000000000000ull, 0x7FFF }, { 0x8000000000000000ull, 0xFFFF },       /* infinities */
    { 0xC000000000000000ull, 0x7FFF }, { 0xC000000000000000ull, 0xFFFF },       /* QNaN, indefinite */
    { 0xC000000000000001ull, 0x7FFF }, { 0xFFFFFFFFFFFFFFFFull, 0xFFFF },       /* QNaN payloads */
    { 0x8000000000000001ull, 0x7FFF }, { 0xBFFFFFFFFFFFFFFFull, 0xFFFF },       /* SNaN */
    { 0xC000000000000001ull, 0xFFFF }, { 0x8000000000000001ull, 0xFFFF },       /* same payloads, other sign */
    { 0x4000000000000000ull, 0x7FFF }, { 0, 0x7FFF },                          /* pseudo-NaN, pseudo-infinity */
    { 0x4000000000000000ull, 0x3FFF }, { 1, 0x1234 },                          /* unnormals */
};
#define NEDGES (int)(sizeof edges / sizeof edges[0])

static const uint64_t edges_mem[] = {
    0, 0x80000000, 1, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
    0x7F800001, 0x7FBFFFFF, 0x3F800000, 0xBF800000,
    0x8000000000000000ull, 0x000FFFFFFFFFFFFFull, 0x0010000000000000ull, 0x7FEFFFFFFFFFFFFFull,
    0x7FF0000000000000ull, 0xFFF0000000000000ull, 0x7FF8000000000000ull, 0xFFF8000000000000ull,
    0x7FF0000000000001ull, 0x7FF7FFFFFFFFFFFFull, 0x3FF0000000000000ull, 0x7FFFFFFFFFFFFFFFull,
    0xFFFFFFFFFFFFFFFFull, 0x0000000100000000ull,
};
#define NEDGES_MEM (int)(sizeof edges_mem / sizeof edges_mem[0])

static void run_edges(const struct op *op, struct stats *st)
{
    for (unsigned pc = 0; pc < 4; pc++)
        for (unsigned rc = 0; rc < 4; rc++)
            for (int unmask = 0; unmask < 2; unmask++) {
                uint16_t cw = (uint16_t)(0x40 | (unmask ? 0 : 0x3F) | pc << 8 | rc << 10);
                if (op->gen == G_LOAD32 || op->gen == G_LOAD64 || op->gen == G_LOADI64 || op->gen == G_CONST) {
                    for (int i = 0; i < NEDGES_MEM; i++) {
                        uint8_t mem[10];
                        memset(mem, 0, sizeof mem);
                        memcpy(mem, &edges_mem[i], 8);
                        if (op->gen == G_LOAD32 && edges_mem[i] >> 32) continue;
                        run_case(op, st, cw, &edges[0], &edges[0], mem);
                    }
                    continue;
                }
                if (op->gen == G_LOADBCD) continue;
                for (int i = 0; i < NEDGES; i++)
                    for (int j = 0; j < NEDGES; j++) {
                        uint8_t mem[10];
                        memset(mem, 0xA5, sizeof mem);
                        run_case(op, st, cw, &edges[i], &edges[j], mem);
                    }
            }
}

/* Cases found by soaking, kept as regressions: the operation, the control word
 * and the operands. */
struct regression { const char *op; uint16_t cw; struct fx80 a, b; };
static const struct regression regressions[] = {
    /* atan(t) within 2^-127 of 2^-31: no side can be told, but it is inexact. */
    { "fpatan", 0x0D7F, { 0xC000000000000000ull, 0x4006 }, { 0xC000000000000001ull, 0xBFE7 } },
    /* t rounds to i/16 = 1 from below (a carry out of the table index). */
    { "fpatan", 0x077F, { 0xD695A30000000000ull, 0x4003 }, { 0xD695A30000000001ull, 0x4003 } },
    /* 2^1 - 1 is rounded as if from below 1; 2^-1 - 1 is exact but inexact. */
    { "f2xm1", 0x077F, { 0x8000000000000000ull, 0x3FFF }, { 0, 0 } },
    { "f2xm1", 0x0B7F, { 0x8000000000000000ull, 0xBFFF }, { 0, 0 } },
    /* A power of two times a denormal: exact, yet inexact and underflowing. */
    { "fyl2x", 0x037F, { 0x8000000000000000ull, 0x6CD2 }, { 0x5B, 0 } },
    /* FYL2XP1 of x <= -1 returns x. */
    { "fyl2xp1", 0x037F, { 0x8000000000000000ull, 0xBFFF }, { 0x8000000000000000ull, 0x3FFF } },
    /* FSCALE whose result does not fit even with the wrapped exponent. */
    { "fscale", 0x0C4D, { 0xBF49EC1F45A91DCBull, 0xC00F }, { 0xFFFFFFFFFFFFFFFFull, 0xC00F } },
};

static void run_regressions(const struct op *op, struct stats *st)
{
    for (size_t r = 0; r < sizeof regressions / sizeof regressions[0]; r++) {
        uint8_t mem[10];
        if (strcmp(regressions[r].op, op->name)) continue;
        memset(mem, 0xA5, sizeof mem);
        run_case(op, st, regressions[r].cw, &regressions[r].a, &regressions[r].b, mem);
    }
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

int main(int argc, char **argv)
{
    uint64_t seed = 0x5EED0F80ull;
    long count = -1;
    int soak = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = strtol(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--soak")) soak = 1;
        else if (!strcmp(argv[i], "--op") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--verbose")) verbose = 1;
        else {
            fprintf(stderr, "usage: %s [--seed N] [--count N] [--soak] [--op NAME] [--verbose]\n", argv[0]);
            return 2;
        }
    }
    if (count < 0) count = getenv("TESTS_QUICK") && *getenv("TESTS_QUICK") ? 10000 : 200000;
    if (only) {
        int found = 0;
        for (int k = 0; k < NOPS; k++) found |= !strcmp(ops[k].name, only);
        if (!found) {
            fprintf(stderr, "unknown operation %s\n", only);
            return 2;
        }
    }
    signal(SIGINT, on_sigint);

    static struct stats stats[NOPS];
    unsigned long rounds = 0;
    for (int k = 0; k < NOPS; k++)
        if (!only || !strcmp(ops[k].name, only)) {
            run_regressions(&ops[k], &stats[k]);
            run_edges(&ops[k], &stats[k]);
        }
    do {
        rng_state = seed ? seed : 1;
        printf("seed %" PRIu64 ", %ld cases per operation\n", seed, count);
        fflush(stdout);
        for (int k = 0; k < NOPS && !interrupted; k++) {
            const struct op *op = &ops[k];
            if (only && strcmp(op->name, only)) continue;
            for (long n = 0; n < count && !interrupted; n++) {
                struct fx80 a, b;
                uint8_t mem[10];
                uint16_t cw = gen_cw();
                gen_operands(op->gen, &a, &b, mem);
                run_case(op, &stats[k], cw, &a, &b, mem);
            }
        }
        rounds++;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    } while (soak && !interrupted);

    unsigned passed = 0, failed = 0;
    printf("%-10s %10s %10s  %s\n", "operation", "cases", "mismatch", "exact (transcendentals) / max ulp");
    for (int k = 0; k < NOPS; k++) {
        struct stats *st = &stats[k];
        if (!st->cases) continue;
        printf("%-10s %10lu %10lu", ops[k].name, st->cases, st->fails);
        if (ops[k].trans)
            printf("  %.4f%% exact, %lu within 1 ulp, max %d ulp, C1 differs in %lu",
                   100.0 * (double)st->exact / (double)st->cases, st->near, st->max_ulp, st->c1_differs);
        printf("\n");
        for (int pc = 0; pc < 4; pc++)
            for (int rc = 0; rc < 4; rc++) {
                if (!st->combo_cases[pc][rc]) continue;
                if (st->combo_fail[pc][rc]) failed++;
                else passed++;
            }
    }
    printf("RESULT: %u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
#endif
