/* The x87 FPU of a P6 (SDM vol. 1 chapter 8; vol. 2 opcode map A.4, tables
 * the register stack and its tags, the control and status words,
 * stack faults, exception reporting (#MF or FERR#), the pointers kept for
 * exception handlers, and every D8-DF opcode plus 9B WAIT.
 *
 * The arithmetic is cpu/fx80.c: pure functions on 80-bit values that take the
 * precision and rounding control and hand back the exception flags. This file
 * decides what the x87 does with them: write the destination or not, pop or
 * not, set ES and report at the next waiting instruction.
 *
 * Conventions kept here:
 *  - fpu->tw holds only "empty" (3) or "not empty" (0) per physical register.
 *    The full tags (valid, zero, special) are computed from the contents when
 *    FSTENV/FSAVE store the tag word, and FLDENV/FRSTOR only look at empty or
 *    not, as the hardware does (SDM vol. 1, 8.1.7).
 *  - fpu->sw never holds TOP (fpu->top does); ES and B are always equal (387 and later).
 *  - Unmasked invalid, denormal and divide-by-zero exceptions leave the
 *    destination and the stack unchanged (no push, no pop); unmasked overflow
 *    and underflow write the wrapped result to a register but nothing to memory
 *    (SDM vol. 1, 4.9.2, 8.5). Measured on hardware for stack faults and stores.
 *  - Where the SDM leaves a condition-code bit undefined we keep it, except
 *    where hardware was seen to clear C1 (FFREE). */
#include <stdlib.h>

#include "internal.h"
#include "fpu.h"
#include "fx80.h"
#include "fpu_ops.h"

/* Status word bits (SDM vol. 1, 8.1.3). The exception bits are the FX_* bits. */
#define SW_EXC 0x003Fu
#define SW_SF  0x0040u
#define SW_ES  0x0080u
#define SW_C0  0x0100u
#define SW_C1  0x0200u
#define SW_C2  0x0400u
#define SW_TOP 0x3800u
#define SW_C3  0x4000u
#define SW_B   0x8000u
#define SW_CC  (SW_C0 | SW_C1 | SW_C2 | SW_C3)

/* Control word: bits 0-5 masks, 8-9 PC, 10-11 RC, 12 IC (kept, no effect);
 * bit 6 reads as 1 and bits 7, 13-15 as 0 (SDM vol. 1, 8.1.5; checked on hardware). */
#define CW_VALID 0x1F3Fu
#define CW_ONES  0x0040u
#define CW_INIT  0x037Fu

#define TAG_EMPTY 3u

/* Exceptions detected before computing: unmasked, the operands stay unchanged. */
#define FX_PRECOMP (FX_IE | FX_DE | FX_ZE)

/* ---------------------------------------------------------------------------
 * The register stack. */

static ALWAYS_INLINE unsigned st_phys(const struct fpu_state *f, int i) { return (f->top + (unsigned)i) & 7; }
static ALWAYS_INLINE int phys_empty(const struct fpu_state *f, unsigned r) { return ((f->tw >> (2 * r)) & 3) == TAG_EMPTY; }
static ALWAYS_INLINE int st_empty(const struct fpu_state *f, int i) { return phys_empty(f, st_phys(f, i)); }
static ALWAYS_INLINE struct fx80 st_get(const struct fpu_state *f, int i) { return f->st[st_phys(f, i)]; }

static ALWAYS_INLINE void st_set(struct fpu_state *f, int i, struct fx80 v)
{
    unsigned r = st_phys(f, i);
    f->st[r] = v;
    f->tw &= (uint16_t)~(3u << (2 * r));
}
static ALWAYS_INLINE void st_free(struct fpu_state *f, int i)
{
    f->tw |= (uint16_t)(TAG_EMPTY << (2 * st_phys(f, i)));
}
static ALWAYS_INLINE void fpu_pop(struct fpu_state *f)
{
    st_free(f, 0);
    f->top = (f->top + 1) & 7;
}
static ALWAYS_INLINE void fpu_push(struct fpu_state *f, struct fx80 v)
{
    f->top = (f->top - 1) & 7;
    st_set(f, 0, v);
}
static ALWAYS_INLINE uint16_t fpu_status_word(const struct fpu_state *f)
{
    return (uint16_t)(f->sw | (unsigned)f->top << 11);
}
static ALWAYS_INLINE void set_c1(struct fpu_state *f, int c1)
{
    f->sw = (uint16_t)((f->sw & ~SW_C1) | (c1 ? SW_C1 : 0));
}

static ALWAYS_INLINE struct fx80_env fpu_env(const struct fpu_state *f)
{
    struct fx80_env e = {
        .precision = (uint8_t)((f->cw >> 8) & 3),
        .rounding = (uint8_t)((f->cw >> 10) & 3),
        .masks = (uint8_t)(f->cw & SW_EXC),
    };
    return e;
}
/* Precision control affects only FADD, FSUB(R), FMUL, FDIV(R) and FSQRT in their
 * forms (SDM vol. 1, 8.1.5.2): everything else rounds to 64 bits. */
static ALWAYS_INLINE struct fx80_env fpu_env64(const struct fpu_state *f)
{
    struct fx80_env e = fpu_env(f);
    e.precision = FX_PC64;
    return e;
}

/* Every fx80 function starts its env afresh: an instruction made of two of them
 * (a conversion, then the operation) adds up their exceptions. */
static ALWAYS_INLINE void env_merge(struct fx80_env *into, const struct fx80_env *from)
{
    into->flags |= from->flags;
    into->unmasked |= from->unmasked;
}

/* The flags of a memory operand's conversion join the operation's. A denormal
 * source does not count when the operation found an invalid operand (NaN,
 * unsupported, 0/0...) or a zero divide: those come first (SDM vol. 1, 4.9.2
 * exception priority; measured). */
static ALWAYS_INLINE void merge_conversion(struct fx80_env *e, struct fx80_env *conv, struct fx80 st0)
{
    if (unlikely(conv->flags & FX_DE) &&
        ((e->flags & (FX_IE | FX_ZE)) || ((st0.se & 0x7FFF) == 0x7FFF && st0.sig != 0x8000000000000000ull))) {
        conv->flags &= (uint8_t)~FX_DE;
        conv->unmasked &= (uint8_t)~FX_DE;
    }
    env_merge(e, conv);
}

static const struct fx80 fx_one = { 0x8000000000000000ull, 0x3FFF };

/* ---------------------------------------------------------------------------
 * Exceptions and their reporting. */

/* FERR# follows the pending-exception state while CR0.NE = 0. */
static void fpu_set_ferr(struct cpu *cpu, int level)
{
    if (cpu->fpu_ferr == level) return;
    cpu->fpu_ferr = (uint8_t)level;
    if (cpu->cb.ferr) cpu->cb.ferr(cpu->cb.opaque, level);
}

/* An unmasked exception was just flagged: ES and B are set and the error is
 * reported at the next waiting instruction. With CR0.NE = 0 a P6 asserts FERR#
 * at the end of the faulting instruction (SDM vol. 3, 22.18.6.7 "Assertion of the FERR# Pin"). */
static void fpu_signal(struct cpu *cpu, struct fpu_state *f)
{
    f->sw |= SW_ES | SW_B;
    if (!(cpu->cr0 & CR0_NE)) fpu_set_ferr(cpu, 1);
}

/* ES = some exception flag is set whose mask is clear; recomputed whenever the
 * masks or flags are loaded (FLDCW, FLDENV, FRSTOR, FNSTENV's masking; hardware
 * recomputes it on FLDENV: measured). Clearing it deasserts FERR#. */
static void fpu_update_es(struct cpu *cpu, struct fpu_state *f)
{
    if (f->sw & ~f->cw & SW_EXC) {
        f->sw |= SW_ES | SW_B;
    } else {
        f->sw &= (uint16_t)~(SW_ES | SW_B);
        fpu_set_ferr(cpu, 0);
    }
}

/* A waiting x87 instruction (or WAIT) found an unmasked exception pending.
 *
 * CR0.NE = 1 (native mode): #MF before the instruction, FIP/FOP/FDP still name
 * the instruction that caused the exception.
 *
 * CR0.NE = 0 (MS-DOS compatibility mode, SDM vol. 1, D.2.1-D.2.2): the processor
 * freezes before the instruction with FERR# asserted; external logic turns FERR#
 * into IRQ 13, whose handler clears the error (FNCLEX...) after writing port F0h,
 * which asserts IGNNE# so that waiting instructions inside the handler proceed.
 * Our model: FERR# is asserted (the board's callback raises IRQ 13). If the CPU
 * can take an interrupt now (INTR up and IF = 1), the instruction is not executed:
 * the block ends before it, the interrupt is taken, and the instruction runs
 * again after the handler's IRET, as after the freeze. Otherwise (IF = 0, IRQ 13
 * masked or already being serviced) the instruction proceeds as with IGNNE#
 * asserted, so a handler that uses waiting instructions before clearing the
 * error never hangs. Returns 1 when the instruction must not run now. */
static int fpu_report(struct cpu *cpu)
{
    if (cpu->cr0 & CR0_NE) cpu_raise(cpu, EXC_MF, 0);
    fpu_set_ferr(cpu, 1);
    /* The exec loop counts the frozen instruction as retired: one extra tick per freeze. */
    return cpu->intr && (cpu->eflags & F_IF) && cpu->cb.intr_ack;
}

/* The slow part of every ESC opcode's entry: #NM with CR0.EM or CR0.TS (before
 * anything else, for every ESC opcode, defined or not: SDM vol. 3, 2.5 and
 * 22.18.6.6), #UD without an FPU, then a pending exception for waiting ones. */
static int fpu_enter_slow(struct cpu *cpu, int waiting)
{
    if (cpu->cr0 & (CR0_EM | CR0_TS)) cpu_raise(cpu, EXC_NM, 0);
    if (!cpu->fpu) RAISE_UD(cpu);
    if (waiting && (cpu->fpu->sw & SW_ES)) return fpu_report(cpu);
    return 0;
}

/* Every waiting x87 instruction starts with this. When fpu_report freezes the
 * instruction, the block ends with EIP at it. */
#define FPU_ENTER(cpu, i, f)                                                          \
    struct fpu_state *f = (cpu)->fpu;                                                 \
    do {                                                                              \
        if (unlikely(((cpu)->cr0 & (CR0_EM | CR0_TS)) || !f || (f->sw & SW_ES)) &&    \
            fpu_enter_slow(cpu, 1)) {                                                 \
            (cpu)->eip = EIP_CUR(cpu, i);                                             \
            return;                                                                   \
        }                                                                             \
    } while (0)

/* The no-wait instructions (FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE and
 * the 8087/287 leftovers) never look at pending exceptions (SDM vol. 1, 8.3.12). */
#define FPU_ENTER_NOWAIT(cpu, i, f)                                                   \
    struct fpu_state *f = (cpu)->fpu;                                                 \
    do {                                                                              \
        if (unlikely(((cpu)->cr0 & (CR0_EM | CR0_TS)) || !f)) fpu_enter_slow(cpu, 0); \
    } while (0)

/* Stack underflow: a source register is empty. #IS = IE with SF, C1 = 0 (SDM vol. 1,
 * 8.5.1.1). Returns 1 when IE is masked: the caller delivers the indefinite. */
static __attribute__((noinline, cold)) int fpu_underflow(struct cpu *cpu, struct fpu_state *f)
{
    f->sw = (uint16_t)((f->sw & ~SW_C1) | FX_IE | SW_SF);
    if (f->cw & FX_IE) return 1;
    fpu_signal(cpu, f);
    return 0;
}

/* Stack overflow: a push onto a non-empty register. IE with SF and C1 = 1. */
static __attribute__((noinline, cold)) int fpu_overflow(struct cpu *cpu, struct fpu_state *f)
{
    f->sw |= SW_C1 | FX_IE | SW_SF;
    if (f->cw & FX_IE) return 1;
    fpu_signal(cpu, f);
    return 0;
}

/* The status after an operation with an unmasked exception (see fpu_commit). */
static __attribute__((noinline)) int fpu_commit_unmasked(struct cpu *cpu, struct fpu_state *f,
                                                         const struct fx80_env *e, int to_memory)
{
    unsigned fl = e->flags, unmasked = fl & ~f->cw & SW_EXC;
    int written;
    if (unmasked & FX_PRECOMP) {
        /* Detected before computing: the later flags never happened; no
         * result, so C1 ("rounded up") is 0 (as measured). */
        f->sw = (uint16_t)((f->sw & ~SW_C1) | (fl & FX_PRECOMP));
        written = 0;
    } else if (to_memory && (unmasked & (FX_OE | FX_UE))) {
        /* A store to memory with unmasked O/U writes nothing (SDM vol. 1, 4.9.1.4-5). */
        f->sw = (uint16_t)((f->sw & ~SW_C1) | (fl & ~FX_PE));
        written = 0;
    } else {
        /* Unmasked P, or O/U to a register (exponent wrapped by fx80): written. */
        f->sw = (uint16_t)((f->sw & ~SW_C1) | fl | (e->c1 ? SW_C1 : 0));
        written = 1;
    }
    fpu_signal(cpu, f);
    return written;
}

/* Fold an operation's flags and C1 into the status word. Returns 1 when the
 * result is to be written to its register (and the stack popped if the
 * instruction pops); an unmasked pre-computation exception says no. */
static ALWAYS_INLINE int fpu_commit(struct cpu *cpu, struct fpu_state *f, const struct fx80_env *e)
{
    unsigned fl = e->flags;
    if (likely(!(fl & ~f->cw & SW_EXC))) {
        f->sw = (uint16_t)((f->sw & ~SW_C1) | fl | (e->c1 ? SW_C1 : 0));
        return 1;
    }
    return fpu_commit_unmasked(cpu, f, e, 0);
}
/* The same for a store to memory, after the write (fpu_store_ok said whether to write). */
static ALWAYS_INLINE int fpu_commit_store(struct cpu *cpu, struct fpu_state *f, const struct fx80_env *e)
{
    unsigned fl = e->flags;
    if (likely(!(fl & ~f->cw & SW_EXC))) {
        f->sw = (uint16_t)((f->sw & ~SW_C1) | fl | (e->c1 ? SW_C1 : 0));
        return 1;
    }
    return fpu_commit_unmasked(cpu, f, e, 1);
}
static ALWAYS_INLINE int fpu_store_ok(const struct fpu_state *f, const struct fx80_env *e)
{
    return !(e->flags & ~f->cw & (FX_PRECOMP | FX_OE | FX_UE));
}

/* The pointers and opcode of the last non-control instruction (SDM vol. 1, 8.1.8-8.1.9):
 * FIP points at the first prefix, FOP is the low 3 bits of the ESC byte and the ModRM byte. */
static ALWAYS_INLINE void fpu_note(struct cpu *cpu, struct fpu_state *f, const struct insn *i)
{
    f->fip = (cpu->eip + i->off) & EIP_MASK(cpu);
    f->fcs = cpu->seg[S_CS].sel;
    f->fop = (uint16_t)((i->opcode & 7u) << 8 | i->modrm);
}
static ALWAYS_INLINE void fpu_note_mem(struct cpu *cpu, struct fpu_state *f, const struct insn *i, uint32_t off)
{
    fpu_note(cpu, f, i);
    f->fdp = off;
    f->fds = cpu->seg[i->seg].sel;
}

/* ---------------------------------------------------------------------------
 * Memory operands. */

enum mem_kind { MK_F32, MK_F64, MK_I16, MK_I32, MK_I64 };

/* 64-bit operands: one TLB look-up when all 8 bytes are inside the segment and
 * one page (the common case), else two 32-bit accesses that do every check. */
static ALWAYS_INLINE uint64_t read64(struct cpu *cpu, int seg, uint32_t off)
{
    const struct seg_cache *s = &cpu->seg[seg];
    uint32_t lin = s->base + off;
    const struct tlb_entry *e = &cpu->tlbc[(lin >> 12) & TLB_MASK];
    if (likely(off >= s->rlo && (uint64_t)off + 7 <= s->rhi && e->rtag == (lin & ~0xFFFu) &&
               (lin & 0xFFF) <= 0x1000u - 8)) {
        uint64_t v;
        memcpy(&v, (const uint8_t *)(e->addend + lin), 8);
        return v;
    }
    uint32_t lo = rd32(cpu, seg, off);
    uint32_t hi = rd32(cpu, seg, off + 4);
    return (uint64_t)hi << 32 | lo;
}
static ALWAYS_INLINE void write64(struct cpu *cpu, int seg, uint32_t off, uint64_t v)
{
    const struct seg_cache *s = &cpu->seg[seg];
    uint32_t lin = s->base + off;
    const struct tlb_entry *e = &cpu->tlbc[(lin >> 12) & TLB_MASK];
    if (likely(off >= s->wlo && (uint64_t)off + 7 <= s->whi && e->wtag == (lin & ~0xFFFu) &&
               (lin & 0xFFF) <= 0x1000u - 8)) {
        memcpy((uint8_t *)(e->addend + lin), &v, 8);
        return;
    }
    wr32(cpu, seg, off, (uint32_t)v);
    wr32(cpu, seg, off + 4, (uint32_t)(v >> 32));
}
static ALWAYS_INLINE struct fx80 read80(struct cpu *cpu, int seg, uint32_t off)
{
    struct fx80 v;
    v.sig = read64(cpu, seg, off);
    v.se = rd16(cpu, seg, off + 8);
    return v;
}
static ALWAYS_INLINE void write80(struct cpu *cpu, int seg, uint32_t off, struct fx80 v)
{
    write64(cpu, seg, off, v.sig);
    wr16(cpu, seg, off + 8, v.se);
}
static void read_bytes(struct cpu *cpu, int seg, uint32_t off, uint8_t *buf, unsigned n)
{
    unsigned k = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t v = rd32(cpu, seg, off + k);
        memcpy(buf + k, &v, 4);
    }
    for (; k + 2 <= n; k += 2) {
        uint16_t v = rd16(cpu, seg, off + k);
        memcpy(buf + k, &v, 2);
    }
}
static void write_bytes(struct cpu *cpu, int seg, uint32_t off, const uint8_t *buf, unsigned n)
{
    unsigned k = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t v;
        memcpy(&v, buf + k, 4);
        wr32(cpu, seg, off + k, v);
    }
    for (; k + 2 <= n; k += 2) {
        uint16_t v;
        memcpy(&v, buf + k, 2);
        wr16(cpu, seg, off + k, v);
    }
}

static ALWAYS_INLINE uint64_t read_operand(struct cpu *cpu, int seg, uint32_t off, enum mem_kind k)
{
    switch (k) {
    case MK_I16: return rd16(cpu, seg, off);
    case MK_F32: case MK_I32: return rd32(cpu, seg, off);
    default: return read64(cpu, seg, off);
    }
}
/* Narrower formats load exactly; SNaN and denormal sources flag IE and DE. */
static ALWAYS_INLINE struct fx80 convert_operand(struct fx80_env *e, uint64_t raw, enum mem_kind k)
{
    switch (k) {
    case MK_F32: return fx80_from_f32(e, (uint32_t)raw);
    case MK_F64: return fx80_from_f64(e, raw);
    case MK_I16: return fx80_from_i64((int16_t)raw);
    case MK_I32: return fx80_from_i64((int32_t)raw);
    default: return fx80_from_i64((int64_t)raw);
    }
}

/* A memory source of an arithmetic or compare instruction: an SNaN stays
 * signalling (the conversion quiets it and flags IE) so that the operation
 * applies the NaN rules of SDM vol. 1, table 4-7 to it and raises IE itself. */
static ALWAYS_INLINE struct fx80 convert_source(struct fx80_env *e, uint64_t raw, enum mem_kind k)
{
    struct fx80 x = convert_operand(e, raw, k);
    if (unlikely(e->flags & FX_IE)) {
        x.sig &= ~(1ull << 62);
        e->flags &= (uint8_t)~FX_IE;
        e->unmasked &= (uint8_t)~FX_IE;
    }
    return x;
}

/* ---------------------------------------------------------------------------
 * Undefined encodings: #NM first like every ESC opcode, then #UD. */

static void op_fpu_undefined(struct cpu *cpu, const struct insn *i)
{
    if (cpu->cr0 & (CR0_EM | CR0_TS)) cpu_raise(cpu, EXC_NM, 0);
    op_ud(cpu, i);
}

/* ---------------------------------------------------------------------------
 * Arithmetic: FADD FMUL FSUB FSUBR FDIV FDIVR. The ModRM reg field is the
 * operation; with `st0` the stack top and `x` the other operand (ST(i) or
 * memory), /4 is st0 - x, /5 x - st0, /6 st0 / x, /7 x / st0, whichever the
 * destination (D8: ST(0); DC, DE: ST(i)). */

enum { AR_ADD = 0, AR_MUL = 1, AR_SUB = 4, AR_SUBR = 5, AR_DIV = 6, AR_DIVR = 7 };

static ALWAYS_INLINE struct fx80 arith(struct fx80_env *e, int op, struct fx80 st0, struct fx80 x)
{
    switch (op) {
    case AR_ADD: return fx80_add(e, st0, x);
    case AR_MUL: return fx80_mul(e, st0, x);
    case AR_SUB: return fx80_sub(e, st0, x);
    case AR_SUBR: return fx80_sub(e, x, st0);
    case AR_DIV: return fx80_div(e, st0, x);
    default: return fx80_div(e, x, st0);
    }
}

/* ST(0) <- ST(0) op m32fp/m64fp/m16int/m32int. */
static ALWAYS_INLINE void arith_mem(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int op, enum mem_kind k)
{
    uint32_t off = ea_off(cpu, i);
    uint64_t raw = read_operand(cpu, i->seg, off, k);
    fpu_note_mem(cpu, f, i, off);
    if (unlikely(st_empty(f, 0))) {
        if (fpu_underflow(cpu, f)) st_set(f, 0, fx80_indefinite());
        return;
    }
    struct fx80_env ce = fpu_env(f), e = fpu_env(f);
    struct fx80 x = convert_source(&ce, raw, k);
    struct fx80 r = arith(&e, op, st_get(f, 0), x);
    merge_conversion(&e, &ce, st_get(f, 0));
    if (fpu_commit(cpu, f, &e)) st_set(f, 0, r);
}

/* Register forms: dst is 0 (D8: ST(0) <- ST(0) op ST(i)) or i (DC, DE: ST(i) <- ...), DE pops. */
static ALWAYS_INLINE void arith_reg(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int op, int to_sti, int pop)
{
    int sti = i->rm, dst = to_sti ? sti : 0;
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0) || st_empty(f, sti))) {
        if (fpu_underflow(cpu, f)) {
            st_set(f, dst, fx80_indefinite());
            if (pop) fpu_pop(f);
        }
        return;
    }
    struct fx80_env e = fpu_env(f);
    struct fx80 r = arith(&e, op, st_get(f, 0), st_get(f, sti));
    if (fpu_commit(cpu, f, &e)) {
        st_set(f, dst, r);
        if (pop) fpu_pop(f);
    }
}

#define FPU_OP(name, body)                                       \
    static void name(struct cpu *cpu, const struct insn *i)      \
    {                                                            \
        FPU_ENTER(cpu, i, f);                                    \
        body;                                                    \
        NEXT(cpu, i);                                            \
    }
#define FPU_OP_NOWAIT(name, body)                                \
    static void name(struct cpu *cpu, const struct insn *i)      \
    {                                                            \
        FPU_ENTER_NOWAIT(cpu, i, f);                             \
        body;                                                    \
        NEXT(cpu, i);                                            \
    }

#define ARITH_OPS(op, name)                                                     \
    FPU_OP(op_##name##_m32, arith_mem(cpu, i, f, op, MK_F32))                  \
    FPU_OP(op_##name##_m64, arith_mem(cpu, i, f, op, MK_F64))                  \
    FPU_OP(op_##name##_m16i, arith_mem(cpu, i, f, op, MK_I16))                 \
    FPU_OP(op_##name##_m32i, arith_mem(cpu, i, f, op, MK_I32))                 \
    FPU_OP(op_##name##_st0, arith_reg(cpu, i, f, op, 0, 0))                    \
    FPU_OP(op_##name##_sti, arith_reg(cpu, i, f, op, 1, 0))                    \
    FPU_OP(op_##name##_p, arith_reg(cpu, i, f, op, 1, 1))

ARITH_OPS(AR_ADD, fadd)
ARITH_OPS(AR_MUL, fmul)
ARITH_OPS(AR_SUB, fsub)
ARITH_OPS(AR_SUBR, fsubr)
ARITH_OPS(AR_DIV, fdiv)
ARITH_OPS(AR_DIVR, fdivr)

/* ---------------------------------------------------------------------------
 * Comparisons. fx80_compare gives -1, 0, 1 or 2 (unordered). */

/* C3 C2 C0 for less, equal, greater, unordered (SDM vol. 2 FCOM). */
static const uint16_t cc_of_compare[4] = { SW_C0, SW_C3, 0, SW_C3 | SW_C2 | SW_C0 };
/* ZF PF CF for the same (SDM vol. 2 FCOMI). */
static const uint8_t eflags_of_compare[4] = { F_CF, F_ZF, 0, F_ZF | F_PF | F_CF };

/* Condition codes from a comparison, C1 = 0, and `pops` pops. An unmasked
 * invalid or denormal operand leaves the codes and the stack alone (SDM vol. 2
 * FCOM: the codes are set only when IM = 1). */
static ALWAYS_INLINE void compare_done(struct cpu *cpu, struct fpu_state *f, const struct fx80_env *e, int rel, int pops)
{
    unsigned fl = e->flags;
    if (unlikely(fl & ~f->cw & SW_EXC)) {
        f->sw = (uint16_t)((f->sw & ~SW_C1) | (fl & FX_PRECOMP));
        fpu_signal(cpu, f);
        return;
    }
    f->sw = (uint16_t)((f->sw & ~SW_CC) | fl | cc_of_compare[(rel + 1) & 3]);
    while (pops--) fpu_pop(f);
}

/* An empty operand: masked, the result is "unordered" and the pops happen. */
static void compare_underflow(struct cpu *cpu, struct fpu_state *f, int pops)
{
    if (!fpu_underflow(cpu, f)) return;
    f->sw = (uint16_t)((f->sw & ~SW_CC) | SW_C3 | SW_C2 | SW_C0);
    while (pops--) fpu_pop(f);
}

/* FCOM/FCOMP/FICOM/FICOMP with a memory operand. */
static ALWAYS_INLINE void compare_mem(struct cpu *cpu, const struct insn *i, struct fpu_state *f, enum mem_kind k, int pops)
{
    uint32_t off = ea_off(cpu, i);
    uint64_t raw = read_operand(cpu, i->seg, off, k);
    fpu_note_mem(cpu, f, i, off);
    if (unlikely(st_empty(f, 0))) {
        compare_underflow(cpu, f, pops);
        return;
    }
    struct fx80_env ce = fpu_env(f), e = fpu_env(f);
    struct fx80 x = convert_source(&ce, raw, k);
    int rel = fx80_compare(&e, st_get(f, 0), x, 0);
    merge_conversion(&e, &ce, st_get(f, 0));
    compare_done(cpu, f, &e, rel, pops);
}

/* FCOM/FCOMP/FCOMPP/FUCOM/FUCOMP/FUCOMPP ST(0) with ST(sti). */
static ALWAYS_INLINE void compare_reg(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int sti, int pops, int quiet)
{
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0) || st_empty(f, sti))) {
        compare_underflow(cpu, f, pops);
        return;
    }
    struct fx80_env e = fpu_env(f);
    int rel = fx80_compare(&e, st_get(f, 0), st_get(f, sti), quiet);
    compare_done(cpu, f, &e, rel, pops);
}

/* FCOMI/FCOMIP/FUCOMI/FUCOMIP: ZF PF CF, OF SF AF cleared, C1 = 0. */
static ALWAYS_INLINE void compare_eflags(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int pop, int quiet)
{
    int sti = i->rm;
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0) || st_empty(f, sti))) {
        if (fpu_underflow(cpu, f)) {
            lf_set_flags(cpu, F_ZF | F_PF | F_CF);
            if (pop) fpu_pop(f);
        }
        return;
    }
    struct fx80_env e = fpu_env(f);
    int rel = fx80_compare(&e, st_get(f, 0), st_get(f, sti), quiet);
    unsigned fl = e.flags;
    if (unlikely(fl & ~f->cw & SW_EXC)) {
        f->sw = (uint16_t)((f->sw & ~SW_C1) | (fl & FX_PRECOMP));
        fpu_signal(cpu, f);
        return;
    }
    f->sw = (uint16_t)((f->sw & ~SW_C1) | fl);
    lf_set_flags(cpu, eflags_of_compare[(rel + 1) & 3]);
    if (pop) fpu_pop(f);
}

FPU_OP(op_fcom_m32, compare_mem(cpu, i, f, MK_F32, 0))
FPU_OP(op_fcomp_m32, compare_mem(cpu, i, f, MK_F32, 1))
FPU_OP(op_fcom_m64, compare_mem(cpu, i, f, MK_F64, 0))
FPU_OP(op_fcomp_m64, compare_mem(cpu, i, f, MK_F64, 1))
FPU_OP(op_ficom_m16, compare_mem(cpu, i, f, MK_I16, 0))
FPU_OP(op_ficomp_m16, compare_mem(cpu, i, f, MK_I16, 1))
FPU_OP(op_ficom_m32, compare_mem(cpu, i, f, MK_I32, 0))
FPU_OP(op_ficomp_m32, compare_mem(cpu, i, f, MK_I32, 1))
FPU_OP(op_fcom_st, compare_reg(cpu, i, f, i->rm, 0, 0))
FPU_OP(op_fcomp_st, compare_reg(cpu, i, f, i->rm, 1, 0))
FPU_OP(op_fucom_st, compare_reg(cpu, i, f, i->rm, 0, 1))
FPU_OP(op_fucomp_st, compare_reg(cpu, i, f, i->rm, 1, 1))
FPU_OP(op_fcompp, compare_reg(cpu, i, f, 1, 2, 0))
FPU_OP(op_fucompp, compare_reg(cpu, i, f, 1, 2, 1))
FPU_OP(op_fcomi, compare_eflags(cpu, i, f, 0, 0))
FPU_OP(op_fcomip, compare_eflags(cpu, i, f, 1, 0))
FPU_OP(op_fucomi, compare_eflags(cpu, i, f, 0, 1))
FPU_OP(op_fucomip, compare_eflags(cpu, i, f, 1, 1))

/* FTST: ST(0) against +0.0, like FCOM (any NaN is invalid). */
static ALWAYS_INLINE void do_ftst(struct cpu *cpu, const struct insn *i, struct fpu_state *f)
{
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0))) {
        compare_underflow(cpu, f, 0);
        return;
    }
    struct fx80_env e = fpu_env(f);
    int rel = fx80_compare(&e, st_get(f, 0), fx80_zero(0), 0);
    compare_done(cpu, f, &e, rel, 0);
}
FPU_OP(op_ftst, do_ftst(cpu, i, f))

/* FXAM: the class in C3 C2 C0, the sign in C1, also for an empty register
 * (measured: C1 is the stale contents' sign). Never raises. */
static ALWAYS_INLINE void do_fxam(struct cpu *cpu, const struct insn *i, struct fpu_state *f)
{
    static const uint16_t cc_of_class[] = {
        [FXC_UNSUPPORTED] = 0,
        [FXC_NAN] = SW_C0,
        [FXC_NORMAL] = SW_C2,
        [FXC_INF] = SW_C2 | SW_C0,
        [FXC_ZERO] = SW_C3,
        [FXC_EMPTY] = SW_C3 | SW_C0,
        [FXC_DENORMAL] = SW_C3 | SW_C2,
    };
    fpu_note(cpu, f, i);
    struct fx80 v = st_get(f, 0);
    enum fx_class c = st_empty(f, 0) ? FXC_EMPTY : fx80_classify(v);
    f->sw = (uint16_t)((f->sw & ~SW_CC) | cc_of_class[c] | ((v.se & 0x8000) ? SW_C1 : 0));
}
FPU_OP(op_fxam, do_fxam(cpu, i, f))

/* ---------------------------------------------------------------------------
 * Loads. */

/* Push `v`, or handle stack overflow (masked: the indefinite is pushed). */
static ALWAYS_INLINE int push_room(struct cpu *cpu, struct fpu_state *f)
{
    if (likely(st_empty(f, 7))) return 1;
    if (fpu_overflow(cpu, f)) fpu_push(f, fx80_indefinite());
    return 0;
}

/* FLD m32fp/m64fp, FILD m16/m32/m64. */
static ALWAYS_INLINE void load_mem(struct cpu *cpu, const struct insn *i, struct fpu_state *f, enum mem_kind k)
{
    uint32_t off = ea_off(cpu, i);
    uint64_t raw = read_operand(cpu, i->seg, off, k);
    fpu_note_mem(cpu, f, i, off);
    if (!push_room(cpu, f)) return;
    struct fx80_env e = fpu_env(f);
    struct fx80 v = convert_operand(&e, raw, k);
    if (fpu_commit(cpu, f, &e)) fpu_push(f, v);
}
FPU_OP(op_fld_m32, load_mem(cpu, i, f, MK_F32))
FPU_OP(op_fld_m64, load_mem(cpu, i, f, MK_F64))
FPU_OP(op_fild_m16, load_mem(cpu, i, f, MK_I16))
FPU_OP(op_fild_m32, load_mem(cpu, i, f, MK_I32))
FPU_OP(op_fild_m64, load_mem(cpu, i, f, MK_I64))

/* FLD m80fp: loaded as it is, SNaN and denormals included (no IE, no DE). */
static ALWAYS_INLINE void do_fld_m80(struct cpu *cpu, const struct insn *i, struct fpu_state *f)
{
    uint32_t off = ea_off(cpu, i);
    struct fx80 v = read80(cpu, i->seg, off);
    fpu_note_mem(cpu, f, i, off);
    if (!push_room(cpu, f)) return;
    set_c1(f, 0);
    fpu_push(f, v);
}
FPU_OP(op_fld_m80, do_fld_m80(cpu, i, f))

/* FBLD: 18 BCD digits and a sign, exact. */
static ALWAYS_INLINE void do_fbld(struct cpu *cpu, const struct insn *i, struct fpu_state *f)
{
    uint32_t off = ea_off(cpu, i);
    uint8_t bcd[10];
    read_bytes(cpu, i->seg, off, bcd, 10);
    fpu_note_mem(cpu, f, i, off);
    if (!push_room(cpu, f)) return;
    set_c1(f, 0);
    fpu_push(f, fx80_from_bcd(bcd));
}
FPU_OP(op_fbld, do_fbld(cpu, i, f))

/* FLD ST(i): copied as it is. An empty source is an underflow even when the
 * stack is also full (measured: C1 = 0, the indefinite pushed). */
static ALWAYS_INLINE void do_fld_st(struct cpu *cpu, const struct insn *i, struct fpu_state *f)
{
    int sti = i->rm;
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, sti))) {
        if (fpu_underflow(cpu, f)) fpu_push(f, fx80_indefinite());
        return;
    }
    if (!push_room(cpu, f)) return;
    struct fx80 v = st_get(f, sti);
    set_c1(f, 0);
    fpu_push(f, v);
}
FPU_OP(op_fld_st, do_fld_st(cpu, i, f))

/* FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ (D9 E8-EE): rounded by RC. */
static ALWAYS_INLINE void load_const(struct cpu *cpu, const struct insn *i, struct fpu_state *f, enum fx_const k)
{
    fpu_note(cpu, f, i);
    if (!push_room(cpu, f)) return;
    struct fx80_env e = fpu_env64(f);
    struct fx80 v = fx80_const(&e, k);
    set_c1(f, 0);
    fpu_push(f, v);
}
FPU_OP(op_fld1, load_const(cpu, i, f, FXK_ONE))
FPU_OP(op_fldl2t, load_const(cpu, i, f, FXK_L2T))
FPU_OP(op_fldl2e, load_const(cpu, i, f, FXK_L2E))
FPU_OP(op_fldpi, load_const(cpu, i, f, FXK_PI))
FPU_OP(op_fldlg2, load_const(cpu, i, f, FXK_LG2))
FPU_OP(op_fldln2, load_const(cpu, i, f, FXK_LN2))
FPU_OP(op_fldz, load_const(cpu, i, f, FXK_ZERO))

/* ---------------------------------------------------------------------------
 * Stores. */

/* The indefinite of each memory format, stored for a masked stack underflow
 * (SDM vol. 1, 4.8.3.7, table 4-3; 4.2.2 integer indefinite). */
static uint64_t indefinite_bits(enum mem_kind k)
{
    switch (k) {
    case MK_F32: return 0xFFC00000u;
    case MK_F64: return 0xFFF8000000000000ull;
    case MK_I16: return 0x8000u;
    case MK_I32: return 0x80000000u;
    default: return 0x8000000000000000ull;
    }
}

static ALWAYS_INLINE void write_operand(struct cpu *cpu, int seg, uint32_t off, enum mem_kind k, uint64_t v)
{
    switch (k) {
    case MK_I16: wr16(cpu, seg, off, (uint16_t)v); break;
    case MK_F32: case MK_I32: wr32(cpu, seg, off, (uint32_t)v); break;
    default: write64(cpu, seg, off, v); break;
    }
}

static ALWAYS_INLINE uint64_t convert_store(struct fx80_env *e, struct fx80 v, enum mem_kind k)
{
    switch (k) {
    case MK_F32: return fx80_to_f32(e, v);
    case MK_F64: return fx80_to_f64(e, v);
    case MK_I16: return (uint64_t)fx80_to_int(e, v, 16, 0);
    case MK_I32: return (uint64_t)fx80_to_int(e, v, 32, 0);
    default: return (uint64_t)fx80_to_int(e, v, 64, 0);
    }
}

/* FST/FSTP m32fp/m64fp, FIST/FISTP m16/m32, FISTP m64: rounded by RC;
 * C1 says rounded up. Memory is written first; then the status and the pop. */
static ALWAYS_INLINE void store_mem(struct cpu *cpu, const struct insn *i, struct fpu_state *f, enum mem_kind k, int pop)
{
    uint32_t off = ea_off(cpu, i);
    if (unlikely(st_empty(f, 0))) {
        if (f->cw & FX_IE) write_operand(cpu, i->seg, off, k, indefinite_bits(k));
        fpu_note_mem(cpu, f, i, off);
        if (fpu_underflow(cpu, f) && pop) fpu_pop(f);
        return;
    }
    struct fx80_env e = fpu_env(f);
    uint64_t bits = convert_store(&e, st_get(f, 0), k);
    if (likely(fpu_store_ok(f, &e))) write_operand(cpu, i->seg, off, k, bits);
    fpu_note_mem(cpu, f, i, off);
    if (fpu_commit_store(cpu, f, &e) && pop) fpu_pop(f);
}
FPU_OP(op_fst_m32, store_mem(cpu, i, f, MK_F32, 0))
FPU_OP(op_fstp_m32, store_mem(cpu, i, f, MK_F32, 1))
FPU_OP(op_fst_m64, store_mem(cpu, i, f, MK_F64, 0))
FPU_OP(op_fstp_m64, store_mem(cpu, i, f, MK_F64, 1))
FPU_OP(op_fist_m16, store_mem(cpu, i, f, MK_I16, 0))
FPU_OP(op_fistp_m16, store_mem(cpu, i, f, MK_I16, 1))
FPU_OP(op_fist_m32, store_mem(cpu, i, f, MK_I32, 0))
FPU_OP(op_fistp_m32, store_mem(cpu, i, f, MK_I32, 1))
FPU_OP(op_fistp_m64, store_mem(cpu, i, f, MK_I64, 1))

/* FSTP m80fp: the register as it is, no exception but stack underflow. */
static ALWAYS_INLINE void do_fstp_m80(struct cpu *cpu, const struct insn *i, struct fpu_state *f)
{
    uint32_t off = ea_off(cpu, i);
    if (unlikely(st_empty(f, 0))) {
        if (f->cw & FX_IE) write80(cpu, i->seg, off, fx80_indefinite());
        fpu_note_mem(cpu, f, i, off);
        if (fpu_underflow(cpu, f)) fpu_pop(f);
        return;
    }
    write80(cpu, i->seg, off, st_get(f, 0));
    fpu_note_mem(cpu, f, i, off);
    set_c1(f, 0);
    fpu_pop(f);
}
FPU_OP(op_fstp_m80, do_fstp_m80(cpu, i, f))

/* FBSTP: rounded to an integer by RC, 18 digits; out of range is IE and the BCD indefinite. */
static ALWAYS_INLINE void do_fbstp(struct cpu *cpu, const struct insn *i, struct fpu_state *f)
{
    static const uint8_t bcd_indefinite[10] = { 0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF };
    uint32_t off = ea_off(cpu, i);
    if (unlikely(st_empty(f, 0))) {
        if (f->cw & FX_IE) write_bytes(cpu, i->seg, off, bcd_indefinite, 10);
        fpu_note_mem(cpu, f, i, off);
        if (fpu_underflow(cpu, f)) fpu_pop(f);
        return;
    }
    struct fx80_env e = fpu_env(f);
    uint8_t bcd[10];
    fx80_to_bcd(&e, st_get(f, 0), bcd);
    if (fpu_store_ok(f, &e)) write_bytes(cpu, i->seg, off, bcd, 10);
    fpu_note_mem(cpu, f, i, off);
    if (fpu_commit_store(cpu, f, &e)) fpu_pop(f);
}
FPU_OP(op_fbstp, do_fbstp(cpu, i, f))

/* FST/FSTP ST(i) (and the FSTP1/FSTP8/FSTP9 aliases D9 D8+i, DF D0+i, DF D8+i,
 * which every Intel x87 executes as FSTP ST(i)). */
static ALWAYS_INLINE void store_st(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int pop)
{
    int sti = i->rm;
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0))) {
        if (fpu_underflow(cpu, f)) {
            st_set(f, sti, fx80_indefinite());
            if (pop) fpu_pop(f);
        }
        return;
    }
    st_set(f, sti, st_get(f, 0));
    set_c1(f, 0);
    if (pop) fpu_pop(f);
}
FPU_OP(op_fst_st, store_st(cpu, i, f, 0))
FPU_OP(op_fstp_st, store_st(cpu, i, f, 1))

/* ---------------------------------------------------------------------------
 * Register moves. */

/* FXCH ST(i) (and the FXCH4/FXCH7 aliases DD C8+i, DF C8+i). Masked underflow:
 * each empty one becomes the indefinite, then they are exchanged (measured). */
static ALWAYS_INLINE void do_fxch(struct cpu *cpu, const struct insn *i, struct fpu_state *f)
{
    int sti = i->rm;
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0) || st_empty(f, sti))) {
        if (!fpu_underflow(cpu, f)) return;
        if (st_empty(f, 0)) st_set(f, 0, fx80_indefinite());
        if (st_empty(f, sti)) st_set(f, sti, fx80_indefinite());
    } else {
        set_c1(f, 0);
    }
    unsigned a = st_phys(f, 0), b = st_phys(f, sti);
    struct fx80 t = f->st[a];
    f->st[a] = f->st[b];
    f->st[b] = t;
}
FPU_OP(op_fxch, do_fxch(cpu, i, f))

/* FCMOVcc ST(0), ST(i): DA /0-/3 B E BE U, DB /0-/3 NB NE NBE NU. Both registers
 * are checked whatever the condition; masked underflow puts the indefinite in
 * ST(0) (measured). C1 is left alone otherwise. */
static ALWAYS_INLINE void do_fcmov(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int cc)
{
    int sti = i->rm;
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0) || st_empty(f, sti))) {
        if (fpu_underflow(cpu, f)) st_set(f, 0, fx80_indefinite());
        return;
    }
    if (cond_eval(cpu, cc)) st_set(f, 0, st_get(f, sti));
}
FPU_OP(op_fcmovb, do_fcmov(cpu, i, f, 0x2))
FPU_OP(op_fcmove, do_fcmov(cpu, i, f, 0x4))
FPU_OP(op_fcmovbe, do_fcmov(cpu, i, f, 0x6))
FPU_OP(op_fcmovu, do_fcmov(cpu, i, f, 0xA))
FPU_OP(op_fcmovnb, do_fcmov(cpu, i, f, 0x3))
FPU_OP(op_fcmovne, do_fcmov(cpu, i, f, 0x5))
FPU_OP(op_fcmovnbe, do_fcmov(cpu, i, f, 0x7))
FPU_OP(op_fcmovnu, do_fcmov(cpu, i, f, 0xB))

/* FCHS, FABS: the sign bit only, C1 = 0. */
static ALWAYS_INLINE void sign_op(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int abs)
{
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0))) {
        if (fpu_underflow(cpu, f)) st_set(f, 0, fx80_indefinite());
        return;
    }
    unsigned r = st_phys(f, 0);
    if (abs) f->st[r].se &= 0x7FFF;
    else f->st[r].se ^= 0x8000;
    set_c1(f, 0);
}
FPU_OP(op_fchs, sign_op(cpu, i, f, 0))
FPU_OP(op_fabs, sign_op(cpu, i, f, 1))

/* FFREE ST(i): tagged empty; FFREEP (DF C0+i) then pops, which frees ST(0) too
 * (measured). C1 is cleared, as seen on hardware. */
static ALWAYS_INLINE void do_ffree(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int pop)
{
    fpu_note(cpu, f, i);
    st_free(f, i->rm);
    set_c1(f, 0);
    if (pop) fpu_pop(f);
}
FPU_OP(op_ffree, do_ffree(cpu, i, f, 0))
FPU_OP(op_ffreep, do_ffree(cpu, i, f, 1))

/* FINCSTP, FDECSTP: TOP moves, tags stay, C1 = 0. */
static ALWAYS_INLINE void move_top(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int delta)
{
    fpu_note(cpu, f, i);
    f->top = (uint8_t)((f->top + delta) & 7);
    set_c1(f, 0);
}
FPU_OP(op_fincstp, move_top(cpu, i, f, 1))
FPU_OP(op_fdecstp, move_top(cpu, i, f, -1))

FPU_OP(op_fnop, fpu_note(cpu, f, i))

/* ---------------------------------------------------------------------------
 * One-operand operations on ST(0). */

enum { UN_SQRT, UN_RNDINT, UN_F2XM1, UN_SIN, UN_COS };

static ALWAYS_INLINE void unary_op(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int op)
{
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0))) {
        if (op == UN_SIN || op == UN_COS) f->sw &= (uint16_t)~SW_C2;
        if (fpu_underflow(cpu, f)) st_set(f, 0, fx80_indefinite());
        return;
    }
    struct fx80_env e = op == UN_SQRT ? fpu_env(f) : fpu_env64(f);
    struct fx80 a = st_get(f, 0), r;
    int out_of_range = 0;
    switch (op) {
    case UN_SQRT: r = fx80_sqrt(&e, a); break;
    case UN_RNDINT: r = fx80_round_int(&e, a); break;
    case UN_F2XM1: r = fx80_f2xm1(&e, a); break;
    case UN_SIN: r = fx80_sin(&e, a, &out_of_range); break;
    default: r = fx80_cos(&e, a, &out_of_range); break;
    }
    if (op == UN_SIN || op == UN_COS) {
        /* |x| >= 2^63: C2 = 1 and ST(0) unchanged (SDM vol. 2 FSIN). */
        f->sw = (uint16_t)((f->sw & ~SW_C2) | (out_of_range ? SW_C2 : 0));
        if (out_of_range) return;
    }
    if (fpu_commit(cpu, f, &e)) st_set(f, 0, r);
}
FPU_OP(op_fsqrt, unary_op(cpu, i, f, UN_SQRT))
FPU_OP(op_frndint, unary_op(cpu, i, f, UN_RNDINT))
FPU_OP(op_f2xm1, unary_op(cpu, i, f, UN_F2XM1))
FPU_OP(op_fsin, unary_op(cpu, i, f, UN_SIN))
FPU_OP(op_fcos, unary_op(cpu, i, f, UN_COS))

/* FPTAN, FSINCOS, FXTRACT replace ST(0) and push a second result. A stack fault
 * (ST(0) empty, or ST(7) in use) with IE masked leaves the indefinite in ST(0)
 * and pushes another (measured); C1 = 1 for the overflow. */
enum { PP_TAN, PP_SINCOS, PP_XTRACT };

static ALWAYS_INLINE void replace_and_push(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int op)
{
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0) || !st_empty(f, 7))) {
        if (op != PP_XTRACT) f->sw &= (uint16_t)~SW_C2;  /* not "out of range" (measured) */
        int masked = st_empty(f, 0) ? fpu_underflow(cpu, f) : fpu_overflow(cpu, f);
        if (masked) {
            st_set(f, 0, fx80_indefinite());
            fpu_push(f, fx80_indefinite());
        }
        return;
    }
    struct fx80_env e = fpu_env64(f);
    struct fx80 a = st_get(f, 0), first, second;
    int out_of_range = 0;
    switch (op) {
    case PP_TAN:
        first = fx80_tan(&e, a, &out_of_range);
        second = fx_one;
        break;
    case PP_SINCOS: {
        struct fx80_env se = e;
        first = fx80_sin(&se, a, &out_of_range);
        second = fx80_cos(&e, a, &out_of_range);
        env_merge(&e, &se);
        break;
    }
    default:
        /* ST(0) <- exponent, then push the significand. */
        second = fx80_extract(&e, a, &first);
        break;
    }
    if (op != PP_XTRACT) {
        f->sw = (uint16_t)((f->sw & ~SW_C2) | (out_of_range ? SW_C2 : 0));
        if (out_of_range) return;
    }
    /* FPTAN of a NaN (or an invalid operand) pushes the NaN instead of 1.0 (measured). */
    if (op == PP_TAN && fx80_is_nan(first)) second = first;
    if (fpu_commit(cpu, f, &e)) {
        st_set(f, 0, first);
        fpu_push(f, second);
    }
}
FPU_OP(op_fptan, replace_and_push(cpu, i, f, PP_TAN))
FPU_OP(op_fsincos, replace_and_push(cpu, i, f, PP_SINCOS))
FPU_OP(op_fxtract, replace_and_push(cpu, i, f, PP_XTRACT))

/* ---------------------------------------------------------------------------
 * Two-operand operations on ST(0) and ST(1). */

enum { BI_SCALE, BI_PREM, BI_PREM1, BI_ATAN, BI_YL2X, BI_YL2XP1 };

static ALWAYS_INLINE void binary_op(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int op)
{
    /* FSCALE and FPREM(1) write ST(0); FPATAN, FYL2X, FYL2XP1 write ST(1) and pop. */
    int to_st1 = op == BI_ATAN || op == BI_YL2X || op == BI_YL2XP1;
    fpu_note(cpu, f, i);
    if (unlikely(st_empty(f, 0) || st_empty(f, 1))) {
        /* FPREM(1) also clears C2 ("complete"), as seen on hardware. */
        if (op == BI_PREM || op == BI_PREM1) f->sw &= (uint16_t)~SW_C2;
        if (fpu_underflow(cpu, f)) {
            st_set(f, to_st1, fx80_indefinite());
            if (to_st1) fpu_pop(f);
        }
        return;
    }
    struct fx80_env e = fpu_env64(f);
    struct fx80 a = st_get(f, 0), b = st_get(f, 1), r;
    unsigned q = 0;
    int partial = 0;
    switch (op) {
    case BI_SCALE: r = fx80_scale(&e, a, b); break;
    case BI_PREM: r = fx80_prem(&e, a, b, 0, &q, &partial); break;
    case BI_PREM1: r = fx80_prem(&e, a, b, 1, &q, &partial); break;
    case BI_ATAN: r = fx80_atan2(&e, b, a); break;
    case BI_YL2X: r = fx80_yl2x(&e, b, a); break;
    default: r = fx80_yl2xp1(&e, b, a); break;
    }
    if (!fpu_commit(cpu, f, &e)) {
        /* No quotient: FPREM(1) reports "complete" (measured). */
        if (op == BI_PREM || op == BI_PREM1) f->sw &= (uint16_t)~SW_C2;
        return;
    }
    st_set(f, to_st1, r);
    if (to_st1) fpu_pop(f);
    if (op == BI_PREM || op == BI_PREM1) {
        /* C0 = Q2, C3 = Q1, C1 = Q0, C2 = incomplete (SDM vol. 2 FPREM). A NaN
         * result has no quotient: C1 = C2 = 0, C0 and C3 stay (measured). */
        if (fx80_is_nan(r)) {
            f->sw &= (uint16_t)~(SW_C1 | SW_C2);
        } else {
            uint16_t cc = (uint16_t)(((q & 4) ? SW_C0 : 0) | ((q & 2) ? SW_C3 : 0) | ((q & 1) ? SW_C1 : 0) |
                                     (partial ? SW_C2 : 0));
            f->sw = (uint16_t)((f->sw & ~SW_CC) | cc);
        }
    }
}
FPU_OP(op_fscale, binary_op(cpu, i, f, BI_SCALE))
FPU_OP(op_fprem, binary_op(cpu, i, f, BI_PREM))
FPU_OP(op_fprem1, binary_op(cpu, i, f, BI_PREM1))
FPU_OP(op_fpatan, binary_op(cpu, i, f, BI_ATAN))
FPU_OP(op_fyl2x, binary_op(cpu, i, f, BI_YL2X))
FPU_OP(op_fyl2xp1, binary_op(cpu, i, f, BI_YL2XP1))

/* ---------------------------------------------------------------------------
 * Control instructions. They leave FIP/FOP/FDP alone (SDM vol. 1, 8.1.8). */

static void fpu_init_state(struct cpu *cpu, struct fpu_state *f)
{
    f->cw = CW_INIT;
    f->sw = 0;
    f->top = 0;
    f->tw = 0xFFFF;
    f->fip = f->fdp = 0;
    f->fcs = f->fds = 0;
    f->fop = 0;
    fpu_set_ferr(cpu, 0);
}

FPU_OP_NOWAIT(op_fninit, fpu_init_state(cpu, f))

/* FNCLEX: PE UE OE ZE DE IE, SF, ES and B cleared; FERR# goes away. */
static ALWAYS_INLINE void do_fnclex(struct cpu *cpu, struct fpu_state *f)
{
    f->sw &= (uint16_t)~(SW_EXC | SW_SF | SW_ES | SW_B);
    fpu_set_ferr(cpu, 0);
}
FPU_OP_NOWAIT(op_fnclex, do_fnclex(cpu, f))

/* FNENI, FNDISI, FNSETPM: 8087/287 instructions, no-ops since the 387 (SDM vol. 1, 8.3.13). */
FPU_OP_NOWAIT(op_fnop_legacy, (void)f)

FPU_OP_NOWAIT(op_fnstsw_ax, REG16(cpu, R_EAX) = fpu_status_word(f))
FPU_OP_NOWAIT(op_fnstsw_m16, wrm16(cpu, i, fpu_status_word(f)))
FPU_OP_NOWAIT(op_fnstcw, wrm16(cpu, i, f->cw))

/* FLDCW: unmasking a flagged exception makes it pending (reported at the next
 * waiting instruction; SDM vol. 2 FLDCW). */
static ALWAYS_INLINE void do_fldcw(struct cpu *cpu, const struct insn *i, struct fpu_state *f)
{
    uint16_t cw = rdm16(cpu, i);
    f->cw = (uint16_t)((cw & CW_VALID) | CW_ONES);
    fpu_update_es(cpu, f);
}
FPU_OP(op_fldcw, do_fldcw(cpu, i, f))

/* ---------------------------------------------------------------------------
 * Environment and state images (SDM vol. 1, 8.1.10, figures 8-9 to 8-12):
 * 14 bytes with a 16-bit operand size, 28 with 32; the protected-mode layouts
 * hold selector:offset pointers, the real-mode and virtual-8086 ones 20-bit
 * (16-bit layout) or 32-bit linear addresses. FSAVE/FRSTOR add ST(0)..ST(7). */

/* The tag the hardware reports for a non-empty register (SDM vol. 1, 8.1.7). */
static unsigned tag_of(struct fx80 v)
{
    unsigned exp = v.se & 0x7FFF;
    if (exp == 0x7FFF) return 2;                          /* NaN, infinity, pseudo forms */
    if (exp == 0) return v.sig == 0 ? 1 : 2;              /* zero; denormal, pseudo-denormal */
    return (v.sig >> 63) ? 0 : 2;                         /* normal; unnormal */
}

static uint16_t fpu_tag_word(const struct fpu_state *f)
{
    unsigned tw = 0;
    for (unsigned r = 0; r < 8; r++)
        tw |= (phys_empty(f, r) ? TAG_EMPTY : tag_of(f->st[r])) << (2 * r);
    return (uint16_t)tw;
}

static ALWAYS_INLINE void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static ALWAYS_INLINE void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xFFFF); put16(p + 2, v >> 16); }
static ALWAYS_INLINE unsigned get16(const uint8_t *p) { return p[0] | (unsigned)p[1] << 8; }
static ALWAYS_INLINE uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }

static int env_real_layout(const struct cpu *cpu) { return !cpu->pmode || cpu->v86; }

/* Build the environment image; returns its size. Reserved halves of the 32-bit
 * layouts read 0xFFFF as on hardware (measured for the protected-mode layout). */
static unsigned env_image(const struct cpu *cpu, const struct fpu_state *f, int op32, uint8_t *img)
{
    unsigned cw = f->cw, sw = fpu_status_word(f), tw = fpu_tag_word(f), fop = f->fop & 0x7FF;
    if (env_real_layout(cpu)) {
        /* Linear addresses, as the pointers were recorded as selector:offset. */
        uint32_t ip = ((uint32_t)f->fcs << 4) + f->fip;
        uint32_t dp = ((uint32_t)f->fds << 4) + f->fdp;
        if (op32) {
            put32(img + 0, 0xFFFF0000u | cw);
            put32(img + 4, 0xFFFF0000u | sw);
            put32(img + 8, 0xFFFF0000u | tw);
            put32(img + 12, 0xFFFF0000u | (ip & 0xFFFF));
            put32(img + 16, (ip >> 16) << 12 | fop);
            put32(img + 20, 0xFFFF0000u | (dp & 0xFFFF));
            put32(img + 24, (dp >> 16) << 12);
            return 28;
        }
        put16(img + 0, cw);
        put16(img + 2, sw);
        put16(img + 4, tw);
        put16(img + 6, ip & 0xFFFF);
        put16(img + 8, ((ip >> 16) & 0xF) << 12 | fop);
        put16(img + 10, dp & 0xFFFF);
        put16(img + 12, ((dp >> 16) & 0xF) << 12);
        return 14;
    }
    if (op32) {
        put32(img + 0, 0xFFFF0000u | cw);
        put32(img + 4, 0xFFFF0000u | sw);
        put32(img + 8, 0xFFFF0000u | tw);
        put32(img + 12, f->fip);
        put32(img + 16, f->fcs | (uint32_t)fop << 16);
        put32(img + 20, f->fdp);
        put32(img + 24, 0xFFFF0000u | f->fds);
        return 28;
    }
    put16(img + 0, cw);
    put16(img + 2, sw);
    put16(img + 4, tw);
    put16(img + 6, f->fip & 0xFFFF);
    put16(img + 8, f->fcs);
    put16(img + 10, f->fdp & 0xFFFF);
    put16(img + 12, f->fds);
    return 14;
}

/* Load an environment image read from memory (nothing can fault any more). */
static void env_load(struct cpu *cpu, struct fpu_state *f, int op32, const uint8_t *img)
{
    unsigned cw, sw, tw;
    if (op32) {
        cw = get16(img + 0);
        sw = get16(img + 4);
        tw = get16(img + 8);
    } else {
        cw = get16(img + 0);
        sw = get16(img + 2);
        tw = get16(img + 4);
    }
    if (env_real_layout(cpu)) {
        uint32_t ip, dp;
        if (op32) {
            ip = get16(img + 12) | ((get32(img + 16) >> 12) & 0xFFFF) << 16;
            f->fop = (uint16_t)(get32(img + 16) & 0x7FF);
            dp = get16(img + 20) | ((get32(img + 24) >> 12) & 0xFFFF) << 16;
        } else {
            ip = get16(img + 6) | (uint32_t)(get16(img + 8) >> 12) << 16;
            f->fop = (uint16_t)(get16(img + 8) & 0x7FF);
            dp = get16(img + 10) | (uint32_t)(get16(img + 12) >> 12) << 16;
        }
        f->fip = ip;
        f->fcs = 0;
        f->fdp = dp;
        f->fds = 0;
    } else if (op32) {
        f->fip = get32(img + 12);
        f->fcs = (uint16_t)get16(img + 16);
        f->fop = (uint16_t)((get32(img + 16) >> 16) & 0x7FF);
        f->fdp = get32(img + 20);
        f->fds = (uint16_t)get16(img + 24);
    } else {
        f->fip = get16(img + 6);
        f->fcs = (uint16_t)get16(img + 8);
        f->fdp = get16(img + 10);
        f->fds = (uint16_t)get16(img + 12);
    }
    f->cw = (uint16_t)((cw & CW_VALID) | CW_ONES);
    f->top = (uint8_t)((sw >> 11) & 7);
    f->sw = (uint16_t)(sw & ~SW_TOP);
    /* Only empty or not is taken from the image (SDM vol. 1, 8.1.7). */
    unsigned t = 0;
    for (unsigned r = 0; r < 8; r++)
        if (((tw >> (2 * r)) & 3) == TAG_EMPTY) t |= TAG_EMPTY << (2 * r);
    f->tw = (uint16_t)t;
    fpu_update_es(cpu, f);
}

/* FNSTENV: store, then mask every exception (SDM vol. 2 FSTENV), which also
 * clears ES (measured). */
static ALWAYS_INLINE void do_fnstenv(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int op32)
{
    uint8_t img[28];
    unsigned n = env_image(cpu, f, op32, img);
    write_bytes(cpu, i->seg, ea_off(cpu, i), img, n);
    f->cw |= SW_EXC;
    fpu_update_es(cpu, f);
}
FPU_OP_NOWAIT(op_fnstenv16, do_fnstenv(cpu, i, f, 0))
FPU_OP_NOWAIT(op_fnstenv32, do_fnstenv(cpu, i, f, 1))

static ALWAYS_INLINE void do_fldenv(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int op32)
{
    uint8_t img[28];
    read_bytes(cpu, i->seg, ea_off(cpu, i), img, op32 ? 28 : 14);
    env_load(cpu, f, op32, img);
}
FPU_OP(op_fldenv16, do_fldenv(cpu, i, f, 0))
FPU_OP(op_fldenv32, do_fldenv(cpu, i, f, 1))

/* FNSAVE: environment and ST(0)..ST(7), then FNINIT. */
static ALWAYS_INLINE void do_fnsave(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int op32)
{
    uint8_t img[108];
    unsigned n = env_image(cpu, f, op32, img);
    for (int k = 0; k < 8; k++) {
        struct fx80 v = st_get(f, k);
        memcpy(img + n + 10 * k, &v.sig, 8);
        put16(img + n + 10 * k + 8, v.se);
    }
    write_bytes(cpu, i->seg, ea_off(cpu, i), img, n + 80);
    fpu_init_state(cpu, f);
}
FPU_OP_NOWAIT(op_fnsave16, do_fnsave(cpu, i, f, 0))
FPU_OP_NOWAIT(op_fnsave32, do_fnsave(cpu, i, f, 1))

static ALWAYS_INLINE void do_frstor(struct cpu *cpu, const struct insn *i, struct fpu_state *f, int op32)
{
    uint8_t img[108];
    unsigned n = op32 ? 28 : 14;
    read_bytes(cpu, i->seg, ea_off(cpu, i), img, n + 80);
    env_load(cpu, f, op32, img);
    for (int k = 0; k < 8; k++) {
        unsigned r = st_phys(f, k);
        memcpy(&f->st[r].sig, img + n + 10 * k, 8);
        f->st[r].se = (uint16_t)get16(img + n + 10 * k + 8);
    }
}
FPU_OP(op_frstor16, do_frstor(cpu, i, f, 0))
FPU_OP(op_frstor32, do_frstor(cpu, i, f, 1))

/* ---------------------------------------------------------------------------
 * WAIT/FWAIT (9B): #NM only with CR0.TS and CR0.MP (SDM vol. 3, table 2-2),
 * then a pending unmasked exception is reported. Without an FPU it does nothing. */
static void op_fwait(struct cpu *cpu, const struct insn *i)
{
    if ((cpu->cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP)) cpu_raise(cpu, EXC_NM, 0);
    struct fpu_state *f = cpu->fpu;
    if (unlikely(f && (f->sw & SW_ES)) && fpu_report(cpu)) {
        cpu->eip = EIP_CUR(cpu, i);
        return;
    }
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * Register forms that share one ModRM reg value: the rm field picks. */

#define RM_GROUP(name, ...)                                                 \
    static void name(struct cpu *cpu, const struct insn *i)                 \
    {                                                                       \
        static insn_fn *const by_rm[8] = { __VA_ARGS__ };                   \
        MUSTTAIL return by_rm[i->rm](cpu, i);                               \
    }

#define UNDEF op_fpu_undefined
RM_GROUP(op_d9_d0, op_fnop, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF)
RM_GROUP(op_d9_e0, op_fchs, op_fabs, UNDEF, UNDEF, op_ftst, op_fxam, UNDEF, UNDEF)
RM_GROUP(op_d9_e8, op_fld1, op_fldl2t, op_fldl2e, op_fldpi, op_fldlg2, op_fldln2, op_fldz, UNDEF)
RM_GROUP(op_d9_f0, op_f2xm1, op_fyl2x, op_fptan, op_fpatan, op_fxtract, op_fprem1, op_fdecstp, op_fincstp)
RM_GROUP(op_d9_f8, op_fprem, op_fyl2xp1, op_fsqrt, op_fsincos, op_frndint, op_fscale, op_fsin, op_fcos)
RM_GROUP(op_da_e8, UNDEF, op_fucompp, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF)
RM_GROUP(op_db_e0, op_fnop_legacy, op_fnop_legacy, op_fnclex, op_fninit, op_fnop_legacy, UNDEF, UNDEF, UNDEF)
RM_GROUP(op_de_d8, UNDEF, op_fcompp, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF)
RM_GROUP(op_df_e0, op_fnstsw_ax, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF, UNDEF)

/* ---------------------------------------------------------------------------
 * Registration: [ModRM reg] -> handler, per ESC byte, for memory and register forms. */

struct esc_map {
    insn_fn *mem[8];
    insn_fn *reg[8];
};

static const struct esc_map esc_maps[8] = {
    [0] = { /* D8 */
        { op_fadd_m32, op_fmul_m32, op_fcom_m32, op_fcomp_m32, op_fsub_m32, op_fsubr_m32, op_fdiv_m32, op_fdivr_m32 },
        { op_fadd_st0, op_fmul_st0, op_fcom_st, op_fcomp_st, op_fsub_st0, op_fsubr_st0, op_fdiv_st0, op_fdivr_st0 },
    },
    [1] = { /* D9; D9 D8+i is the FSTP1 alias */
        { op_fld_m32, UNDEF, op_fst_m32, op_fstp_m32, NULL /* FLDENV */, op_fldcw, NULL /* FNSTENV */, op_fnstcw },
        { op_fld_st, op_fxch, op_d9_d0, op_fstp_st, op_d9_e0, op_d9_e8, op_d9_f0, op_d9_f8 },
    },
    [2] = { /* DA */
        { op_fadd_m32i, op_fmul_m32i, op_ficom_m32, op_ficomp_m32, op_fsub_m32i, op_fsubr_m32i, op_fdiv_m32i, op_fdivr_m32i },
        { op_fcmovb, op_fcmove, op_fcmovbe, op_fcmovu, UNDEF, op_da_e8, UNDEF, UNDEF },
    },
    [3] = { /* DB; /1 memory is FISTTP (SSE3): not on a P6 */
        { op_fild_m32, UNDEF, op_fist_m32, op_fistp_m32, UNDEF, op_fld_m80, UNDEF, op_fstp_m80 },
        { op_fcmovnb, op_fcmovne, op_fcmovnbe, op_fcmovnu, op_db_e0, op_fucomi, op_fcomi, UNDEF },
    },
    /* DC and DE register forms keep the reg field's operation with ST(i) as the
     * destination: /4 (E0+i) is ST(i) <- ST(0) - ST(i), Intel's FSUBR ST(i), ST(0);
     * /5 (E8+i) FSUB ST(i), ST(0); /6 (F0+i) FDIVR; /7 (F8+i) FDIV. */
    [4] = { /* DC; DC D0+i, D8+i are the FCOM2/FCOMP3 aliases */
        { op_fadd_m64, op_fmul_m64, op_fcom_m64, op_fcomp_m64, op_fsub_m64, op_fsubr_m64, op_fdiv_m64, op_fdivr_m64 },
        { op_fadd_sti, op_fmul_sti, op_fcom_st, op_fcomp_st, op_fsub_sti, op_fsubr_sti, op_fdiv_sti, op_fdivr_sti },
    },
    [5] = { /* DD; DD C8+i is the FXCH4 alias */
        { op_fld_m64, UNDEF, op_fst_m64, op_fstp_m64, NULL /* FRSTOR */, UNDEF, NULL /* FNSAVE */, op_fnstsw_m16 },
        { op_ffree, op_fxch, op_fst_st, op_fstp_st, op_fucom_st, op_fucomp_st, UNDEF, UNDEF },
    },
    [6] = { /* DE; DE D0+i is the FCOMP5 alias */
        { op_fadd_m16i, op_fmul_m16i, op_ficom_m16, op_ficomp_m16, op_fsub_m16i, op_fsubr_m16i, op_fdiv_m16i, op_fdivr_m16i },
        { op_fadd_p, op_fmul_p, op_fcomp_st, op_de_d8, op_fsub_p, op_fsubr_p, op_fdiv_p, op_fdivr_p },
    },
    [7] = { /* DF; C0+i FFREEP, C8+i FXCH7, D0+i FSTP8, D8+i FSTP9 */
        { op_fild_m16, UNDEF, op_fist_m16, op_fistp_m16, op_fbld, op_fild_m64, op_fbstp, op_fistp_m64 },
        { op_ffreep, op_fxch, op_fstp_st, op_fstp_st, op_df_e0, op_fucomip, op_fcomip, UNDEF },
    },
};
#undef UNDEF

void ops_fpu_init(void)
{
    for (unsigned esc = 0; esc < 8; esc++)
        for (int g = 0; g < 8; g++)
            op_register(0xD8 + esc, g, OSALL, OPF_MODRM, esc_maps[esc].reg[g], esc_maps[esc].mem[g]);
    /* The environment instructions' layout follows the operand size. */
    op_register(0xD9, 4, OS16, OPF_MODRM, op_d9_e0, op_fldenv16);
    op_register(0xD9, 4, OS32, OPF_MODRM, op_d9_e0, op_fldenv32);
    op_register(0xD9, 6, OS16, OPF_MODRM, op_d9_f0, op_fnstenv16);
    op_register(0xD9, 6, OS32, OPF_MODRM, op_d9_f0, op_fnstenv32);
    op_register(0xDD, 4, OS16, OPF_MODRM, op_fucom_st, op_frstor16);
    op_register(0xDD, 4, OS32, OPF_MODRM, op_fucom_st, op_frstor32);
    op_register(0xDD, 6, OS16, OPF_MODRM, op_fpu_undefined, op_fnsave16);
    op_register(0xDD, 6, OS32, OPF_MODRM, op_fpu_undefined, op_fnsave32);
    op_register(0x9B, -1, OSALL, 0, op_fwait, NULL);
}

/* ---------------------------------------------------------------------------
 * Attach and reset. */

void fpu_reset(struct cpu *cpu)
{
    struct fpu_state *f = cpu->fpu;
    if (!f) return;
    memset(f, 0, sizeof(*f));
    f->cw = CW_ONES;        /* 0040H; all registers +0.0, tagged valid (FTW 5555H) */
    fpu_set_ferr(cpu, 0);
}

int fpu_attach(struct cpu *cpu)
{
    if (!cpu->fpu) {
        cpu->fpu = calloc(1, sizeof(*cpu->fpu));
        if (!cpu->fpu) return -1;
    }
    fpu_reset(cpu);
    return 0;
}

void fpu_detach(struct cpu *cpu)
{
    free(cpu->fpu);
    cpu->fpu = NULL;
}
