/* String instructions: MOVS CMPS STOS LODS SCAS INS OUTS, alone or with
 * REP / REPE / REPNE (SDM vol. 2, REP/REPE/REPZ/REPNE/REPNZ and each instruction).
 *
 * Address size (i->pfx & PFX_ADDR32) picks SI/DI/CX or ESI/EDI/ECX; with 16-bit
 * addressing the upper halves are never touched. The source segment is i->seg
 * (DS or the override), the destination always ES.
 *
 * Repeated forms update SI/DI/CX right after each element's memory accesses, so a
 * fault in the middle leaves the state of the completed iterations and EIP at the
 * instruction, which then restarts where it stopped. Each call runs a bounded
 * amount of work; if the count is not exhausted it ends the block with EIP at
 * the instruction, so that the main loop can take interrupts, and runs again.
 *
 * REP MOVS and REP STOS copy/fill whole runs through host pointers when both
 * sides hit the TLB (plain RAM, no cached code, no MMIO) inside one page and
 * inside the segment limits; everything else goes element by element. */
#include "internal.h"

/* Work allowed per call: a fast run costs one unit per element, a single element
 * through the segment/TLB path costs REP_SLOW_COST. */
#define REP_BUDGET 4096
#define REP_SLOW_COST 4

static ALWAYS_INLINE uint32_t sreg(const struct cpu *cpu, int r, int a32)
{
    return a32 ? REG32(cpu, r) : REG16(cpu, r);
}

static ALWAYS_INLINE void set_sreg(struct cpu *cpu, int r, int a32, uint32_t v)
{
    if (a32) REG32(cpu, r) = v;
    else REG16(cpu, r) = (uint16_t)v;
}

/* +size or -size by DF, as a 32-bit addend. */
static ALWAYS_INLINE uint32_t str_delta(const struct cpu *cpu, int size)
{
    return (cpu->eflags & F_DF) ? (uint32_t)-size : (uint32_t)size;
}

static ALWAYS_INLINE int has_rep(const struct insn *i)
{
    return (i->pfx & (PFX_REP | PFX_REPNE)) != 0;
}

static ALWAYS_INLINE uint32_t size_mask(int size)
{
    return size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
}

static ALWAYS_INLINE uint32_t get_acc(const struct cpu *cpu, int size)
{
    return size == 1 ? REG8(cpu, 0) : size == 2 ? REG16(cpu, R_EAX) : EAX(cpu);
}

static ALWAYS_INLINE void set_acc(struct cpu *cpu, int size, uint32_t v)
{
    if (size == 1) REG8(cpu, 0) = (uint8_t)v;
    else if (size == 2) REG16(cpu, R_EAX) = (uint16_t)v;
    else EAX(cpu) = v;
}

/* Units of work for this call: one element per call under single-step, so that
 * the trap comes after each iteration. */
static ALWAYS_INLINE int rep_budget(const struct cpu *cpu)
{
    return unlikely(cpu->eflags & F_TF) ? 1 : REP_BUDGET;
}

/* CMPS and SCAS set the flags of SUB (first operand minus second). */
static ALWAYS_INLINE void set_sub_flags(struct cpu *cpu, int size, uint32_t a, uint32_t b)
{
    uint32_t m = size_mask(size);
    lf_set(cpu, LF_OP(LF_SUB, size >> 1), (a - b) & m, a & m, b & m);
}

/* ---------------------------------------------------------------------------
 * Fast runs through the TLB. */

/* How many elements of `size` bytes, starting at `off` and going up (or down with
 * `back`), stay inside the segment's limits, inside the address size and inside
 * the page of `lin` (the linear address of `off`). 0 when even the first does not. */
static uint32_t run_length(const struct seg_cache *s, int write, uint32_t off, uint32_t lin,
                           int size, int back, uint32_t amask)
{
    uint32_t lo = write ? s->wlo : s->rlo;
    uint32_t hi = write ? s->whi : s->rhi;
    if (hi > amask) hi = amask;
    if (off < lo || (uint64_t)off + (uint32_t)size - 1 > hi) return 0;
    uint32_t in_page = lin & 0xFFFu;
    if (in_page + (uint32_t)size > 0x1000u) return 0;
    uint64_t seg_bytes, page_bytes;
    if (!back) {
        seg_bytes = (uint64_t)hi - off + 1;
        page_bytes = 0x1000u - in_page;
    } else {
        seg_bytes = (uint64_t)(off - lo) + (uint32_t)size;
        page_bytes = (uint64_t)in_page + (uint32_t)size;
    }
    uint64_t bytes = seg_bytes < page_bytes ? seg_bytes : page_bytes;
    return (uint32_t)(bytes / (uint32_t)size);
}

/* Host pointer of `lin` if the TLB maps its page for this access, else NULL. */
static ALWAYS_INLINE uint8_t *tlb_host(struct cpu *cpu, uint32_t lin, int write)
{
    const struct tlb_entry *e = &cpu->tlbc[(lin >> 12) & TLB_MASK];
    uint32_t tag = write ? e->wtag : e->rtag;
    if (tag != (lin & ~0xFFFu)) return NULL;
    return (uint8_t *)(e->addend + lin);
}

/* Element by element through host memory, in execution order: what overlapping
 * MOVS produce (a run with the destination just above the source repeats a pattern). */
static void copy_elements(uint8_t *dst, const uint8_t *src, uint32_t n, int size, int back)
{
    for (uint32_t k = 0; k < n; k++) {
        uint32_t at = (back ? n - 1 - k : k) * (uint32_t)size;
        uint8_t tmp[4];
        memcpy(tmp, src + at, (size_t)size);
        memcpy(dst + at, tmp, (size_t)size);
    }
}

/* Up to `max` MOVS elements in one run; updates SI and DI (not CX). Returns the
 * count done, 0 when the fast path does not apply to the next element. */
static uint32_t movs_run(struct cpu *cpu, const struct insn *i, int size, int a32, uint32_t max)
{
    uint32_t si = sreg(cpu, R_ESI, a32), di = sreg(cpu, R_EDI, a32);
    const struct seg_cache *src = &cpu->seg[i->seg], *dst = &cpu->seg[S_ES];
    uint32_t slin = src->base + si, dlin = dst->base + di;
    uint8_t *ps = tlb_host(cpu, slin, 0);
    uint8_t *pd = tlb_host(cpu, dlin, 1);
    if (!ps || !pd) return 0;
    int back = (cpu->eflags & F_DF) != 0;
    uint32_t amask = a32 ? 0xFFFFFFFFu : 0xFFFFu;
    uint32_t n = run_length(src, 0, si, slin, size, back, amask);
    uint32_t nd = run_length(dst, 1, di, dlin, size, back, amask);
    if (nd < n) n = nd;
    if (max < n) n = max;
    if (n == 0) return 0;

    uint32_t bytes = n * (uint32_t)size;
    if (back) {   /* point at the lowest element */
        ps -= bytes - (uint32_t)size;
        pd -= bytes - (uint32_t)size;
    }
    uintptr_t s = (uintptr_t)ps, d = (uintptr_t)pd;
    int clobbers = back ? (d < s && s - d < bytes) : (d > s && d - s < bytes);
    if (clobbers) copy_elements(pd, ps, n, size, back);
    else memmove(pd, ps, bytes);

    uint32_t step = back ? (uint32_t)-bytes : bytes;
    set_sreg(cpu, R_ESI, a32, si + step);
    set_sreg(cpu, R_EDI, a32, di + step);
    return n;
}

/* Up to `max` STOS elements in one run; updates DI (not CX). */
static uint32_t stos_run(struct cpu *cpu, int size, int a32, uint32_t max)
{
    uint32_t di = sreg(cpu, R_EDI, a32);
    const struct seg_cache *dst = &cpu->seg[S_ES];
    uint32_t dlin = dst->base + di;
    uint8_t *pd = tlb_host(cpu, dlin, 1);
    if (!pd) return 0;
    int back = (cpu->eflags & F_DF) != 0;
    uint32_t n = run_length(dst, 1, di, dlin, size, back, a32 ? 0xFFFFFFFFu : 0xFFFFu);
    if (max < n) n = max;
    if (n == 0) return 0;

    uint32_t bytes = n * (uint32_t)size;
    if (back) pd -= bytes - (uint32_t)size;
    /* Every element holds the same value, so the order does not matter. */
    uint32_t v = get_acc(cpu, size);
    if (size == 1) {
        memset(pd, (int)v, bytes);
    } else if (size == 2) {
        uint16_t w = (uint16_t)v;
        for (uint32_t k = 0; k < n; k++) memcpy(pd + 2 * k, &w, 2);
    } else {
        for (uint32_t k = 0; k < n; k++) memcpy(pd + 4 * k, &v, 4);
    }

    uint32_t step = back ? (uint32_t)-bytes : bytes;
    set_sreg(cpu, R_EDI, a32, di + step);
    return n;
}

/* ---------------------------------------------------------------------------
 * One element of each instruction, through the segment checks and the TLB.
 * Registers change only after the element's memory accesses. */

static ALWAYS_INLINE void movs_one(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    uint32_t si = sreg(cpu, R_ESI, a32), di = sreg(cpu, R_EDI, a32);
    uint32_t v = seg_read(cpu, i->seg, si, size);
    seg_write(cpu, S_ES, di, v, size);
    uint32_t d = str_delta(cpu, size);
    set_sreg(cpu, R_ESI, a32, si + d);
    set_sreg(cpu, R_EDI, a32, di + d);
}

static ALWAYS_INLINE void stos_one(struct cpu *cpu, int size, int a32)
{
    uint32_t di = sreg(cpu, R_EDI, a32);
    seg_write(cpu, S_ES, di, get_acc(cpu, size), size);
    set_sreg(cpu, R_EDI, a32, di + str_delta(cpu, size));
}

static ALWAYS_INLINE void lods_one(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    uint32_t si = sreg(cpu, R_ESI, a32);
    uint32_t v = seg_read(cpu, i->seg, si, size);
    set_acc(cpu, size, v);
    set_sreg(cpu, R_ESI, a32, si + str_delta(cpu, size));
}

/* Returns 1 when the result was zero (ZF). */
static ALWAYS_INLINE int cmps_one(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    uint32_t si = sreg(cpu, R_ESI, a32), di = sreg(cpu, R_EDI, a32);
    uint32_t a = seg_read(cpu, i->seg, si, size);
    uint32_t b = seg_read(cpu, S_ES, di, size);
    set_sub_flags(cpu, size, a, b);
    uint32_t d = str_delta(cpu, size);
    set_sreg(cpu, R_ESI, a32, si + d);
    set_sreg(cpu, R_EDI, a32, di + d);
    return a == b;
}

static ALWAYS_INLINE int scas_one(struct cpu *cpu, int size, int a32)
{
    uint32_t di = sreg(cpu, R_EDI, a32);
    uint32_t a = get_acc(cpu, size);
    uint32_t b = seg_read(cpu, S_ES, di, size);
    set_sub_flags(cpu, size, a, b);
    set_sreg(cpu, R_EDI, a32, di + str_delta(cpu, size));
    return a == b;
}

/* INS: a port read may have side effects, so every check of the destination comes
 * first: the segment limits, then paging (a page that would fault is made to
 * fault now, through the ordinary write path). */
static void ins_probe(struct cpu *cpu, uint32_t di, int size)
{
    seg_check_write(cpu, S_ES, di, size);
    uint32_t lin = cpu->seg[S_ES].base + di;
    uint32_t last = lin + (uint32_t)size - 1;
    int user = cpu->mmu_idx != MMU_SUPER;
    if (!tlb_host(cpu, lin, 1) && mmu_translate_probe(cpu, lin, 1, user) < 0)
        mem_write_slow(cpu, lin, 0, 1);
    if ((last ^ lin) & ~0xFFFu) {
        if (!tlb_host(cpu, last, 1) && mmu_translate_probe(cpu, last, 1, user) < 0)
            mem_write_slow(cpu, last, 0, 1);
    }
}

static ALWAYS_INLINE void ins_one(struct cpu *cpu, int size, int a32)
{
    uint32_t di = sreg(cpu, R_EDI, a32);
    uint16_t port = REG16(cpu, R_EDX);
    ins_probe(cpu, di, size);
    uint32_t v = io_read(cpu->io, port, size);
    seg_write(cpu, S_ES, di, v, size);
    set_sreg(cpu, R_EDI, a32, di + str_delta(cpu, size));
}

static ALWAYS_INLINE void outs_one(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    uint32_t si = sreg(cpu, R_ESI, a32);
    uint32_t v = seg_read(cpu, i->seg, si, size);
    io_write(cpu->io, REG16(cpu, R_EDX), v, size);
    set_sreg(cpu, R_ESI, a32, si + str_delta(cpu, size));
}

/* ---------------------------------------------------------------------------
 * Whole instructions. Each returns 1 when the instruction is complete, 0 when it
 * stopped with work left (CX not 0) and must run again. */

static ALWAYS_INLINE int do_movs(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    if (!has_rep(i)) {
        movs_one(cpu, i, size, a32);
        return 1;
    }
    uint32_t count = sreg(cpu, R_ECX, a32);
    int budget = rep_budget(cpu);
    while (count != 0) {
        if (budget <= 0) return 0;
        uint32_t n = movs_run(cpu, i, size, a32, count < (uint32_t)budget ? count : (uint32_t)budget);
        if (n == 0) {
            movs_one(cpu, i, size, a32);
            n = 1;
            budget -= REP_SLOW_COST - 1;
        }
        count -= n;
        budget -= (int)n;
        set_sreg(cpu, R_ECX, a32, count);
    }
    return 1;
}

static ALWAYS_INLINE int do_stos(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    if (!has_rep(i)) {
        stos_one(cpu, size, a32);
        return 1;
    }
    uint32_t count = sreg(cpu, R_ECX, a32);
    int budget = rep_budget(cpu);
    while (count != 0) {
        if (budget <= 0) return 0;
        uint32_t n = stos_run(cpu, size, a32, count < (uint32_t)budget ? count : (uint32_t)budget);
        if (n == 0) {
            stos_one(cpu, size, a32);
            n = 1;
            budget -= REP_SLOW_COST - 1;
        }
        count -= n;
        budget -= (int)n;
        set_sreg(cpu, R_ECX, a32, count);
    }
    return 1;
}

static ALWAYS_INLINE int do_lods(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    if (!has_rep(i)) {
        lods_one(cpu, i, size, a32);
        return 1;
    }
    uint32_t count = sreg(cpu, R_ECX, a32);
    for (int budget = rep_budget(cpu); count != 0; budget -= REP_SLOW_COST) {
        if (budget <= 0) return 0;
        lods_one(cpu, i, size, a32);
        set_sreg(cpu, R_ECX, a32, --count);
    }
    return 1;
}

/* REPE (F3) goes on while the elements are equal, REPNE (F2) while they differ. */
static ALWAYS_INLINE int do_cmps(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    if (!has_rep(i)) {
        cmps_one(cpu, i, size, a32);
        return 1;
    }
    int while_equal = (i->pfx & PFX_REP) != 0;
    uint32_t count = sreg(cpu, R_ECX, a32);
    for (int budget = rep_budget(cpu); count != 0; budget -= REP_SLOW_COST) {
        if (budget <= 0) return 0;
        int equal = cmps_one(cpu, i, size, a32);
        set_sreg(cpu, R_ECX, a32, --count);
        if (equal != while_equal) break;
    }
    return 1;
}

static ALWAYS_INLINE int do_scas(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    if (!has_rep(i)) {
        scas_one(cpu, size, a32);
        return 1;
    }
    int while_equal = (i->pfx & PFX_REP) != 0;
    uint32_t count = sreg(cpu, R_ECX, a32);
    for (int budget = rep_budget(cpu); count != 0; budget -= REP_SLOW_COST) {
        if (budget <= 0) return 0;
        int equal = scas_one(cpu, size, a32);
        set_sreg(cpu, R_ECX, a32, --count);
        if (equal != while_equal) break;
    }
    return 1;
}

/* INS and OUTS: the I/O permission is checked once, before the first element
 * (it cannot change between elements). */
static ALWAYS_INLINE int do_ins(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    if (!has_rep(i)) {
        io_check(cpu, REG16(cpu, R_EDX), size);
        ins_one(cpu, size, a32);
        return 1;
    }
    uint32_t count = sreg(cpu, R_ECX, a32);
    if (count == 0) return 1;
    io_check(cpu, REG16(cpu, R_EDX), size);
    for (int budget = rep_budget(cpu); count != 0; budget -= REP_SLOW_COST) {
        if (budget <= 0) return 0;
        ins_one(cpu, size, a32);
        set_sreg(cpu, R_ECX, a32, --count);
    }
    return 1;
}

static ALWAYS_INLINE int do_outs(struct cpu *cpu, const struct insn *i, int size, int a32)
{
    if (!has_rep(i)) {
        io_check(cpu, REG16(cpu, R_EDX), size);
        outs_one(cpu, i, size, a32);
        return 1;
    }
    uint32_t count = sreg(cpu, R_ECX, a32);
    if (count == 0) return 1;
    io_check(cpu, REG16(cpu, R_EDX), size);
    for (int budget = rep_budget(cpu); count != 0; budget -= REP_SLOW_COST) {
        if (budget <= 0) return 0;
        outs_one(cpu, i, size, a32);
        set_sreg(cpu, R_ECX, a32, --count);
    }
    return 1;
}

/* ---------------------------------------------------------------------------
 * Handlers: one per instruction and element size; the address size is a
 * run-time test that picks a specialised copy of the body. Unfinished repeated
 * instructions end the block at themselves. */

#define STRING_HANDLER(name, body, size)                                      \
    static void name(struct cpu *cpu, const struct insn *i)                   \
    {                                                                         \
        int done = (i->pfx & PFX_ADDR32) ? body(cpu, i, size, 1)              \
                                         : body(cpu, i, size, 0);             \
        if (likely(done))                                                     \
            NEXT(cpu, i);                                                     \
        END_AT(cpu, EIP_CUR(cpu, i));                                         \
    }

/* OUTS ends the block as OUT does. */
#define STRING_HANDLER_END(name, body, size)                                  \
    static void name(struct cpu *cpu, const struct insn *i)                   \
    {                                                                         \
        int done = (i->pfx & PFX_ADDR32) ? body(cpu, i, size, 1)              \
                                         : body(cpu, i, size, 0);             \
        if (likely(done))                                                     \
            END_NEXT(cpu, i);                                                 \
        END_AT(cpu, EIP_CUR(cpu, i));                                         \
    }

STRING_HANDLER(op_movsb, do_movs, 1)
STRING_HANDLER(op_movsw, do_movs, 2)
STRING_HANDLER(op_movsd, do_movs, 4)
STRING_HANDLER(op_cmpsb, do_cmps, 1)
STRING_HANDLER(op_cmpsw, do_cmps, 2)
STRING_HANDLER(op_cmpsd, do_cmps, 4)
STRING_HANDLER(op_stosb, do_stos, 1)
STRING_HANDLER(op_stosw, do_stos, 2)
STRING_HANDLER(op_stosd, do_stos, 4)
STRING_HANDLER(op_lodsb, do_lods, 1)
STRING_HANDLER(op_lodsw, do_lods, 2)
STRING_HANDLER(op_lodsd, do_lods, 4)
STRING_HANDLER(op_scasb, do_scas, 1)
STRING_HANDLER(op_scasw, do_scas, 2)
STRING_HANDLER(op_scasd, do_scas, 4)
STRING_HANDLER(op_insb, do_ins, 1)
STRING_HANDLER(op_insw, do_ins, 2)
STRING_HANDLER(op_insd, do_ins, 4)
STRING_HANDLER_END(op_outsb, do_outs, 1)
STRING_HANDLER_END(op_outsw, do_outs, 2)
STRING_HANDLER_END(op_outsd, do_outs, 4)

void ops_string_init(void);

static void reg_string(unsigned byte_op, unsigned flags, insn_fn *b, insn_fn *w, insn_fn *d)
{
    op_register(byte_op, -1, OSALL, flags, b, NULL);
    op_register(byte_op + 1, -1, OS16, flags, w, NULL);
    op_register(byte_op + 1, -1, OS32, flags, d, NULL);
}

void ops_string_init(void)
{
    reg_string(0x6C, 0, op_insb, op_insw, op_insd);
    reg_string(0x6E, OPF_END, op_outsb, op_outsw, op_outsd);
    reg_string(0xA4, 0, op_movsb, op_movsw, op_movsd);
    reg_string(0xA6, 0, op_cmpsb, op_cmpsw, op_cmpsd);
    reg_string(0xAA, 0, op_stosb, op_stosw, op_stosd);
    reg_string(0xAC, 0, op_lodsb, op_lodsw, op_lodsd);
    reg_string(0xAE, 0, op_scasb, op_scasw, op_scasd);
}
