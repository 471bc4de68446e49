/* Integer data instructions: arithmetic and logic, INC/DEC, shifts and rotates,
 * multiply and divide, BCD adjustments, bit tests and scans, moves, exchanges,
 * sign extensions, CMOVcc/SETcc and the 486/Pentium atomics.
 *
 * Every operation is one ALWAYS_INLINE body taking the operand size `sz`
 * (SZ8/SZ16/SZ32) and the form `mem` (0: ModRM register, 1: memory) as
 * constants; small macros stamp out one handler per form and size, so no
 * handler tests a mode at run time. Semantics follow the Intel SDM vol. 2. */
#include "internal.h"

enum { SZ8 = LF_SZ8, SZ16 = LF_SZ16, SZ32 = LF_SZ32 };

/* ---------------------------------------------------------------------------
 * Operand helpers. */
static ALWAYS_INLINE uint32_t sz_mask(int sz) { return sz == SZ8 ? 0xFFu : sz == SZ16 ? 0xFFFFu : 0xFFFFFFFFu; }
static ALWAYS_INLINE uint32_t sz_msb(int sz) { return sz == SZ8 ? 0x80u : sz == SZ16 ? 0x8000u : 0x80000000u; }
static ALWAYS_INLINE unsigned sz_bits(int sz) { return 8u << sz; }
static ALWAYS_INLINE int32_t sz_sext(int sz, uint32_t v)
{
    return sz == SZ8 ? (int8_t)v : sz == SZ16 ? (int16_t)v : (int32_t)v;
}

static ALWAYS_INLINE uint32_t reg_get(struct cpu *cpu, int sz, int n)
{
    return sz == SZ8 ? REG8(cpu, n) : sz == SZ16 ? REG16(cpu, n) : REG32(cpu, n);
}
/* 8- and 16-bit writes keep the rest of the 32-bit register. */
static ALWAYS_INLINE void reg_put(struct cpu *cpu, int sz, int n, uint32_t v)
{
    if (sz == SZ8) REG8(cpu, n) = (uint8_t)v;
    else if (sz == SZ16) REG16(cpu, n) = (uint16_t)v;
    else REG32(cpu, n) = v;
}

/* The ModRM r/m operand: register i->rm, or memory at offset `off` of i->seg
 * (the caller computes the EA once with rm_ea and passes it to every access). */
static ALWAYS_INLINE uint32_t rm_ea(struct cpu *cpu, const struct insn *i, int mem)
{
    return mem ? ea_off(cpu, i) : 0;
}
static ALWAYS_INLINE uint32_t rm_get(struct cpu *cpu, const struct insn *i, int mem, int sz, uint32_t off)
{
    return mem ? seg_read(cpu, i->seg, off, 1 << sz) : reg_get(cpu, sz, i->rm);
}
static ALWAYS_INLINE void rm_put(struct cpu *cpu, const struct insn *i, int mem, int sz, uint32_t off, uint32_t v)
{
    if (mem) seg_write(cpu, i->seg, off, v, 1 << sz);
    else reg_put(cpu, sz, i->rm, v);
}

/* SF ZF PF of a result, for the operations that set flags eagerly. */
static ALWAYS_INLINE uint32_t flags_szp(int sz, uint32_t r)
{
    uint32_t f = parity_table[r & 0xFF] ? F_PF : 0;
    if ((r & sz_mask(sz)) == 0) f |= F_ZF;
    if (r & sz_msb(sz)) f |= F_SF;
    return f;
}

/* ---------------------------------------------------------------------------
 * Handler stamping. A body has the signature
 *   body(struct cpu *cpu, const struct insn *i, int mem, int sz, <one argument>)
 * and the argument (an operation, a count, a size) is an expression evaluated
 * inside the handler, so it may use `cpu` and `i`. */
#define HANDLER(name, call) \
    static void name(struct cpu *cpu, const struct insn *i) { call; NEXT(cpu, i); }
#define RM_PAIR(name, body, sz, arg) \
    HANDLER(name##_r, body(cpu, i, 0, sz, arg)) \
    HANDLER(name##_m, body(cpu, i, 1, sz, arg))
#define RM_WD(name, body, arg) \
    RM_PAIR(name##16, body, SZ16, arg) \
    RM_PAIR(name##32, body, SZ32, arg)
#define RM_BWD(name, body, arg) \
    RM_PAIR(name##8, body, SZ8, arg) \
    RM_WD(name, body, arg)

/* Registration: byte opcodes ignore the operand size; word/dword opcodes get
 * the 16-bit handler pair for OS16 and the 32-bit pair for OS32. */
#define REG_B(opc, grp, fl, name) \
    op_register((opc), (grp), OSALL, OPF_MODRM | (fl), name##_r, name##_m)
#define REG_V(opc, grp, fl, name) do { \
    op_register((opc), (grp), OS16, OPF_MODRM | (fl), name##16_r, name##16_m); \
    op_register((opc), (grp), OS32, OPF_MODRM | (fl), name##32_r, name##32_m); \
} while (0)
/* Opcodes without ModRM: the same handler serves both forms. */
#define REG_NOMODRM(opc, sizes, fl, fn) op_register((opc), -1, (sizes), (fl), (fn), (fn))
#define REG_NOMODRM_V(opc, fl, fn16, fn32) do { \
    op_register((opc), -1, OS16, (fl), (fn16), (fn16)); \
    op_register((opc), -1, OS32, (fl), (fn32), (fn32)); \
} while (0)

/* ===========================================================================
 * ADD OR ADC SBB AND SUB XOR CMP, and TEST. The order is the ModRM reg field
 * of group 1 (SDM vol. 2, table A-6). */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP, ALU_TEST };

static ALWAYS_INLINE uint32_t alu_carry_in(struct cpu *cpu, int op)
{
    return (op == ALU_ADC || op == ALU_SBB) ? (uint32_t)flag_cf_inline(cpu) : 0;
}

static ALWAYS_INLINE uint32_t alu_calc(int op, int sz, uint32_t a, uint32_t b, uint32_t cin)
{
    uint32_t r;
    switch (op) {
    case ALU_ADD: r = a + b; break;
    case ALU_OR:  r = a | b; break;
    case ALU_ADC: r = a + b + cin; break;
    case ALU_SBB: r = a - b - cin; break;
    case ALU_XOR: r = a ^ b; break;
    case ALU_SUB: case ALU_CMP: r = a - b; break;
    default:      r = a & b; break;   /* AND, TEST */
    }
    return r & sz_mask(sz);
}

static ALWAYS_INLINE void alu_flags(struct cpu *cpu, int op, int sz, uint32_t r, uint32_t a, uint32_t b, uint32_t cin)
{
    switch (op) {
    case ALU_ADD: lf_set(cpu, LF_OP(LF_ADD, sz), r, a, b); break;
    case ALU_ADC: lf_set_carry(cpu, LF_OP(LF_ADC, sz), r, a, b, cin); break;
    case ALU_SBB: lf_set_carry(cpu, LF_OP(LF_SBB, sz), r, a, b, cin); break;
    case ALU_SUB: case ALU_CMP: lf_set(cpu, LF_OP(LF_SUB, sz), r, a, b); break;
    default: lf_set(cpu, LF_OP(LF_LOGIC, sz), r, a, b); break;
    }
}

static ALWAYS_INLINE int alu_writes(int op) { return op != ALU_CMP && op != ALU_TEST; }

/* E op= b, where b is a register or an immediate (already masked by the caller). */
static ALWAYS_INLINE void alu_e(struct cpu *cpu, const struct insn *i, int mem, int sz, int op, uint32_t b)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t a = rm_get(cpu, i, mem, sz, off);
    uint32_t cin = alu_carry_in(cpu, op);
    uint32_t r = alu_calc(op, sz, a, b, cin);
    if (alu_writes(op)) rm_put(cpu, i, mem, sz, off, r);
    alu_flags(cpu, op, sz, r, a, b, cin);
}
/* 00 01 08 ... 38 39, 84 85: E op= G */
static ALWAYS_INLINE void alu_eg(struct cpu *cpu, const struct insn *i, int mem, int sz, int op)
{
    alu_e(cpu, i, mem, sz, op, reg_get(cpu, sz, i->reg));
}
/* 80 81 82 83, F6/F7 /0 /1: E op= imm (83's imm8 is sign-extended by the decoder) */
static ALWAYS_INLINE void alu_ei(struct cpu *cpu, const struct insn *i, int mem, int sz, int op)
{
    alu_e(cpu, i, mem, sz, op, i->imm & sz_mask(sz));
}
/* 02 03 0A ... 3A 3B: G op= E */
static ALWAYS_INLINE void alu_ge(struct cpu *cpu, const struct insn *i, int mem, int sz, int op)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t b = rm_get(cpu, i, mem, sz, off);
    uint32_t a = reg_get(cpu, sz, i->reg);
    uint32_t cin = alu_carry_in(cpu, op);
    uint32_t r = alu_calc(op, sz, a, b, cin);
    if (alu_writes(op)) reg_put(cpu, sz, i->reg, r);
    alu_flags(cpu, op, sz, r, a, b, cin);
}
/* 04 05 0C ... 3C 3D, A8 A9: AL/AX/EAX op= imm */
static ALWAYS_INLINE void alu_ai(struct cpu *cpu, int sz, int op, uint32_t imm)
{
    uint32_t a = reg_get(cpu, sz, R_EAX);
    uint32_t b = imm & sz_mask(sz);
    uint32_t cin = alu_carry_in(cpu, op);
    uint32_t r = alu_calc(op, sz, a, b, cin);
    if (alu_writes(op)) reg_put(cpu, sz, R_EAX, r);
    alu_flags(cpu, op, sz, r, a, b, cin);
}

#define ALU_FAMILY(nm, op) \
    RM_BWD(nm##_eg, alu_eg, op) \
    RM_BWD(nm##_ge, alu_ge, op) \
    RM_BWD(nm##_ei, alu_ei, op) \
    HANDLER(nm##_ai8, alu_ai(cpu, SZ8, op, i->imm)) \
    HANDLER(nm##_ai16, alu_ai(cpu, SZ16, op, i->imm)) \
    HANDLER(nm##_ai32, alu_ai(cpu, SZ32, op, i->imm))

ALU_FAMILY(add, ALU_ADD)
ALU_FAMILY(or, ALU_OR)
ALU_FAMILY(adc, ALU_ADC)
ALU_FAMILY(sbb, ALU_SBB)
ALU_FAMILY(and, ALU_AND)
ALU_FAMILY(sub, ALU_SUB)
ALU_FAMILY(xor, ALU_XOR)
ALU_FAMILY(cmp, ALU_CMP)
ALU_FAMILY(test, ALU_TEST)   /* only eg, ei and ai are registered */

struct alu_family {
    insn_fn *eg8_r, *eg8_m, *eg16_r, *eg16_m, *eg32_r, *eg32_m;
    insn_fn *ge8_r, *ge8_m, *ge16_r, *ge16_m, *ge32_r, *ge32_m;
    insn_fn *ei8_r, *ei8_m, *ei16_r, *ei16_m, *ei32_r, *ei32_m;
    insn_fn *ai8, *ai16, *ai32;
};
#define ALU_TABLE(nm) { \
    nm##_eg8_r, nm##_eg8_m, nm##_eg16_r, nm##_eg16_m, nm##_eg32_r, nm##_eg32_m, \
    nm##_ge8_r, nm##_ge8_m, nm##_ge16_r, nm##_ge16_m, nm##_ge32_r, nm##_ge32_m, \
    nm##_ei8_r, nm##_ei8_m, nm##_ei16_r, nm##_ei16_m, nm##_ei32_r, nm##_ei32_m, \
    nm##_ai8, nm##_ai16, nm##_ai32 }
static const struct alu_family alu_families[9] = {
    ALU_TABLE(add), ALU_TABLE(or), ALU_TABLE(adc), ALU_TABLE(sbb),
    ALU_TABLE(and), ALU_TABLE(sub), ALU_TABLE(xor), ALU_TABLE(cmp), ALU_TABLE(test),
};

static void register_alu(void)
{
    for (int op = ALU_ADD; op <= ALU_CMP; op++) {
        const struct alu_family *f = &alu_families[op];
        unsigned base = (unsigned)op * 8;
        unsigned lock = op == ALU_CMP ? 0 : OPF_LOCK;
        op_register(base + 0, -1, OSALL, OPF_MODRM | lock, f->eg8_r, f->eg8_m);
        op_register(base + 1, -1, OS16, OPF_MODRM | lock, f->eg16_r, f->eg16_m);
        op_register(base + 1, -1, OS32, OPF_MODRM | lock, f->eg32_r, f->eg32_m);
        op_register(base + 2, -1, OSALL, OPF_MODRM, f->ge8_r, f->ge8_m);
        op_register(base + 3, -1, OS16, OPF_MODRM, f->ge16_r, f->ge16_m);
        op_register(base + 3, -1, OS32, OPF_MODRM, f->ge32_r, f->ge32_m);
        op_register(base + 4, -1, OSALL, OPF_IMM8, f->ai8, f->ai8);
        op_register(base + 5, -1, OS16, OPF_IMMV, f->ai16, f->ai16);
        op_register(base + 5, -1, OS32, OPF_IMMV, f->ai32, f->ai32);
        /* Group 1; 82 is an alias of 80 (valid outside 64-bit mode). */
        op_register(0x80, op, OSALL, OPF_MODRM | OPF_IMM8 | lock, f->ei8_r, f->ei8_m);
        op_register(0x82, op, OSALL, OPF_MODRM | OPF_IMM8 | lock, f->ei8_r, f->ei8_m);
        op_register(0x81, op, OS16, OPF_MODRM | OPF_IMMV | lock, f->ei16_r, f->ei16_m);
        op_register(0x81, op, OS32, OPF_MODRM | OPF_IMMV | lock, f->ei32_r, f->ei32_m);
        op_register(0x83, op, OS16, OPF_MODRM | OPF_IMM8S | lock, f->ei16_r, f->ei16_m);
        op_register(0x83, op, OS32, OPF_MODRM | OPF_IMM8S | lock, f->ei32_r, f->ei32_m);
    }
    const struct alu_family *t = &alu_families[ALU_TEST];
    op_register(0x84, -1, OSALL, OPF_MODRM, t->eg8_r, t->eg8_m);
    op_register(0x85, -1, OS16, OPF_MODRM, t->eg16_r, t->eg16_m);
    op_register(0x85, -1, OS32, OPF_MODRM, t->eg32_r, t->eg32_m);
    op_register(0xA8, -1, OSALL, OPF_IMM8, t->ai8, t->ai8);
    op_register(0xA9, -1, OS16, OPF_IMMV, t->ai16, t->ai16);
    op_register(0xA9, -1, OS32, OPF_IMMV, t->ai32, t->ai32);
    /* F6/F7 /1 is an undocumented alias of /0 (SDM table A-6 leaves it blank). */
    for (int g = 0; g <= 1; g++) {
        op_register(0xF6, g, OSALL, OPF_MODRM | OPF_IMMGRP | OPF_IMM8, t->ei8_r, t->ei8_m);
        op_register(0xF7, g, OS16, OPF_MODRM | OPF_IMMGRP | OPF_IMMV, t->ei16_r, t->ei16_m);
        op_register(0xF7, g, OS32, OPF_MODRM | OPF_IMMGRP | OPF_IMMV, t->ei32_r, t->ei32_m);
    }
}

/* ===========================================================================
 * INC, DEC (CF is kept). */
static ALWAYS_INLINE void incdec_e(struct cpu *cpu, const struct insn *i, int mem, int sz, int dec)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t a = rm_get(cpu, i, mem, sz, off);
    uint32_t r = (dec ? a - 1 : a + 1) & sz_mask(sz);
    rm_put(cpu, i, mem, sz, off, r);
    if (dec) lf_set_dec(cpu, sz, r, a);
    else lf_set_inc(cpu, sz, r, a);
}
RM_BWD(inc_e, incdec_e, 0)
RM_BWD(dec_e, incdec_e, 1)

/* 40+r, 48+r: the register is in the opcode. */
static ALWAYS_INLINE void incdec_reg(struct cpu *cpu, const struct insn *i, int sz, int dec)
{
    uint32_t a = reg_get(cpu, sz, i->reg);
    uint32_t r = (dec ? a - 1 : a + 1) & sz_mask(sz);
    reg_put(cpu, sz, i->reg, r);
    if (dec) lf_set_dec(cpu, sz, r, a);
    else lf_set_inc(cpu, sz, r, a);
}
HANDLER(inc_reg16, incdec_reg(cpu, i, SZ16, 0))
HANDLER(inc_reg32, incdec_reg(cpu, i, SZ32, 0))
HANDLER(dec_reg16, incdec_reg(cpu, i, SZ16, 1))
HANDLER(dec_reg32, incdec_reg(cpu, i, SZ32, 1))

/* ===========================================================================
 * Group 3: NOT NEG MUL IMUL DIV IDIV. */
static ALWAYS_INLINE void not_e(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t a = rm_get(cpu, i, mem, sz, off);
    rm_put(cpu, i, mem, sz, off, ~a & sz_mask(sz));
}
static ALWAYS_INLINE void neg_e(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t a = rm_get(cpu, i, mem, sz, off);
    uint32_t r = (0u - a) & sz_mask(sz);
    rm_put(cpu, i, mem, sz, off, r);
    lf_set(cpu, LF_OP(LF_NEG, sz), r, a, 0);
}

/* MUL/IMUL: CF = OF = the result did not fit the low half. SF ZF PF AF are
 * undefined (SDM); we set SF ZF PF from the low half and clear AF. */
static ALWAYS_INLINE void mul_set_flags(struct cpu *cpu, int sz, uint32_t lo, int overflow)
{
    lf_set_flags(cpu, flags_szp(sz, lo) | (overflow ? F_CF | F_OF : 0));
}

static ALWAYS_INLINE void mul_e(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t b = rm_get(cpu, i, mem, sz, off);
    if (sz == SZ8) {
        uint32_t p = (uint32_t)REG8(cpu, 0) * b;
        REG16(cpu, R_EAX) = (uint16_t)p;
        mul_set_flags(cpu, sz, p & 0xFF, (p >> 8) != 0);
    } else if (sz == SZ16) {
        uint32_t p = (uint32_t)REG16(cpu, R_EAX) * b;
        REG16(cpu, R_EAX) = (uint16_t)p;
        REG16(cpu, R_EDX) = (uint16_t)(p >> 16);
        mul_set_flags(cpu, sz, p & 0xFFFF, (p >> 16) != 0);
    } else {
        uint64_t p = (uint64_t)EAX(cpu) * b;
        EAX(cpu) = (uint32_t)p;
        EDX(cpu) = (uint32_t)(p >> 32);
        mul_set_flags(cpu, sz, (uint32_t)p, (p >> 32) != 0);
    }
}

static ALWAYS_INLINE void imul1_e(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    int32_t b = sz_sext(sz, rm_get(cpu, i, mem, sz, off));
    if (sz == SZ8) {
        int32_t p = (int8_t)REG8(cpu, 0) * b;
        REG16(cpu, R_EAX) = (uint16_t)p;
        mul_set_flags(cpu, sz, (uint32_t)p & 0xFF, p != (int8_t)p);
    } else if (sz == SZ16) {
        int32_t p = (int16_t)REG16(cpu, R_EAX) * b;
        REG16(cpu, R_EAX) = (uint16_t)p;
        REG16(cpu, R_EDX) = (uint16_t)((uint32_t)p >> 16);
        mul_set_flags(cpu, sz, (uint32_t)p & 0xFFFF, p != (int16_t)p);
    } else {
        int64_t p = (int64_t)(int32_t)EAX(cpu) * b;
        EAX(cpu) = (uint32_t)p;
        EDX(cpu) = (uint32_t)((uint64_t)p >> 32);
        mul_set_flags(cpu, sz, (uint32_t)p, p != (int32_t)p);
    }
}

/* Truncating signed multiply of IMUL Gv,Ev / Gv,Ev,imm. */
static ALWAYS_INLINE void imul_to_reg(struct cpu *cpu, const struct insn *i, int sz, uint32_t a, uint32_t b)
{
    int64_t p = (int64_t)sz_sext(sz, a) * sz_sext(sz, b);
    uint32_t r = (uint32_t)p & sz_mask(sz);
    reg_put(cpu, sz, i->reg, r);
    mul_set_flags(cpu, sz, r, p != sz_sext(sz, r));
}
/* 0F AF: Gv = Gv * Ev */
static ALWAYS_INLINE void imul_ge(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t b = rm_get(cpu, i, mem, sz, off);
    imul_to_reg(cpu, i, sz, reg_get(cpu, sz, i->reg), b);
}
/* 69, 6B: Gv = Ev * imm (6B's imm8 is sign-extended by the decoder) */
static ALWAYS_INLINE void imul_gei(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t a = rm_get(cpu, i, mem, sz, off);
    imul_to_reg(cpu, i, sz, a, i->imm);
}

/* DIV/IDIV: #DE for a zero divisor or a quotient that does not fit. The flags
 * are undefined (SDM); we leave them unchanged. */
static ALWAYS_INLINE void div_e(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t d = rm_get(cpu, i, mem, sz, off);
    if (d == 0) cpu_raise(cpu, EXC_DE, 0);
    if (sz == SZ8) {
        uint32_t n = REG16(cpu, R_EAX);
        uint32_t q = n / d;
        if (q > 0xFF) cpu_raise(cpu, EXC_DE, 0);
        REG16(cpu, R_EAX) = (uint16_t)((n % d) << 8 | q);
    } else if (sz == SZ16) {
        uint32_t n = (uint32_t)REG16(cpu, R_EDX) << 16 | REG16(cpu, R_EAX);
        uint32_t q = n / d;
        if (q > 0xFFFF) cpu_raise(cpu, EXC_DE, 0);
        REG16(cpu, R_EAX) = (uint16_t)q;
        REG16(cpu, R_EDX) = (uint16_t)(n % d);
    } else {
        uint64_t n = (uint64_t)EDX(cpu) << 32 | EAX(cpu);
        uint64_t q = n / d;
        if (q > 0xFFFFFFFFu) cpu_raise(cpu, EXC_DE, 0);
        EAX(cpu) = (uint32_t)q;
        EDX(cpu) = (uint32_t)(n % d);
    }
}

static ALWAYS_INLINE void idiv_e(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    int64_t d = sz_sext(sz, rm_get(cpu, i, mem, sz, off));
    if (d == 0) cpu_raise(cpu, EXC_DE, 0);
    int64_t n;
    if (sz == SZ8) n = (int16_t)REG16(cpu, R_EAX);
    else if (sz == SZ16) n = (int32_t)((uint32_t)REG16(cpu, R_EDX) << 16 | REG16(cpu, R_EAX));
    else n = (int64_t)((uint64_t)EDX(cpu) << 32 | EAX(cpu));
    if (sz == SZ32 && d == -1 && n == INT64_MIN) cpu_raise(cpu, EXC_DE, 0);   /* C would trap */
    int64_t q = n / d, r = n % d;
    if (q != sz_sext(sz, (uint32_t)q)) cpu_raise(cpu, EXC_DE, 0);
    if (sz == SZ8) {
        REG16(cpu, R_EAX) = (uint16_t)(((uint32_t)r & 0xFF) << 8 | ((uint32_t)q & 0xFF));
    } else {
        reg_put(cpu, sz, R_EAX, (uint32_t)q);
        reg_put(cpu, sz, R_EDX, (uint32_t)r);
    }
}

RM_BWD(not_e, not_e, 0)
RM_BWD(neg_e, neg_e, 0)
RM_BWD(mul_e, mul_e, 0)
RM_BWD(imul1_e, imul1_e, 0)
RM_BWD(div_e, div_e, 0)
RM_BWD(idiv_e, idiv_e, 0)
RM_WD(imul_ge, imul_ge, 0)
RM_WD(imul_gei, imul_gei, 0)

/* ===========================================================================
 * Shifts and rotates: group 2, ModRM reg field order. The count is masked to
 * 5 bits; a masked count of 0 changes nothing (not even the flags). */
enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };

static ALWAYS_INLINE void shift_e(struct cpu *cpu, const struct insn *i, int mem, int sz, int op, uint32_t count)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t a = rm_get(cpu, i, mem, sz, off);
    unsigned n = count & 31;
    if (n == 0) return;
    const unsigned bits = sz_bits(sz);
    const uint32_t mask = sz_mask(sz);
    uint32_t r, cf, of;
    switch (op) {
    case SH_SHL: case SH_SAL:
        r = (a << n) & mask;
        rm_put(cpu, i, mem, sz, off, r);
        lf_set(cpu, LF_OP(LF_SHL, sz), r, a, n);
        return;
    case SH_SHR:
        r = a >> n;
        rm_put(cpu, i, mem, sz, off, r);
        lf_set(cpu, LF_OP(LF_SHR, sz), r, a, n);
        return;
    case SH_SAR:
        r = (uint32_t)(sz_sext(sz, a) >> n) & mask;
        rm_put(cpu, i, mem, sz, off, r);
        lf_set(cpu, LF_OP(LF_SAR, sz), r, a, n);
        return;
    case SH_ROL: {
        /* CF = the bit rotated into bit 0; OF = MSB(result) ^ CF (defined for a count of 1). */
        unsigned k = n & (bits - 1);
        r = k ? ((a << k) | (a >> (bits - k))) & mask : a;
        cf = r & 1;
        of = ((r >> (bits - 1)) ^ cf) & 1;
        break;
    }
    case SH_ROR: {
        /* CF = the bit rotated into the MSB; OF = XOR of the two top bits. */
        unsigned k = n & (bits - 1);
        r = k ? ((a >> k) | (a << (bits - k))) & mask : a;
        cf = (r >> (bits - 1)) & 1;
        of = (cf ^ (r >> (bits - 2))) & 1;
        break;
    }
    case SH_RCL: case SH_RCR: {
        /* Rotate the (bits + 1)-bit value CF:operand by count mod (bits + 1). */
        unsigned w = bits + 1;
        unsigned k = n % w;
        uint64_t wmask = ((uint64_t)1 << w) - 1;
        uint64_t v = (uint64_t)flag_cf(cpu) << bits | a;
        if (k) {
            if (op == SH_RCL) v = ((v << k) | (v >> (w - k))) & wmask;
            else v = ((v >> k) | (v << (w - k))) & wmask;
        }
        r = (uint32_t)v & mask;
        cf = (uint32_t)(v >> bits) & 1;
        if (op == SH_RCL) of = ((r >> (bits - 1)) ^ cf) & 1;
        else of = ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1;
        break;
    }
    default:
        r = a, cf = of = 0;
        break;
    }
    rm_put(cpu, i, mem, sz, off, r);
    lf_update(cpu, F_CF | F_OF, (cf ? F_CF : 0) | (of ? F_OF : 0));
}

/* Per operation: count 1 (D0/D1), CL (D2/D3), imm8 (C0/C1), each in three sizes. */
#define SHIFT_COUNTS(nm, op) \
    RM_BWD(nm##_1_, shift_e1, op) \
    RM_BWD(nm##_cl_, shift_ecl, op) \
    RM_BWD(nm##_ib_, shift_eib, op)
#define shift_e1(cpu, i, mem, sz, op)  shift_e(cpu, i, mem, sz, op, 1)
#define shift_ecl(cpu, i, mem, sz, op) shift_e(cpu, i, mem, sz, op, REG8(cpu, R_ECX))
#define shift_eib(cpu, i, mem, sz, op) shift_e(cpu, i, mem, sz, op, i->imm)
SHIFT_COUNTS(rol, SH_ROL)
SHIFT_COUNTS(ror, SH_ROR)
SHIFT_COUNTS(rcl, SH_RCL)
SHIFT_COUNTS(rcr, SH_RCR)
SHIFT_COUNTS(shl, SH_SHL)
SHIFT_COUNTS(shr, SH_SHR)
SHIFT_COUNTS(sar, SH_SAR)

struct shift_family {
    /* [count source: 1, CL, imm8][size 8, 16, 32][register, memory] */
    insn_fn *fn[3][3][2];
};
#define SHIFT_SIZES(nm) { \
    { nm##8_r, nm##8_m }, { nm##16_r, nm##16_m }, { nm##32_r, nm##32_m } }
#define SHIFT_TABLE(nm) {{ SHIFT_SIZES(nm##_1_), SHIFT_SIZES(nm##_cl_), SHIFT_SIZES(nm##_ib_) }}
static const struct shift_family shift_families[8] = {
    SHIFT_TABLE(rol), SHIFT_TABLE(ror), SHIFT_TABLE(rcl), SHIFT_TABLE(rcr),
    SHIFT_TABLE(shl), SHIFT_TABLE(shr), SHIFT_TABLE(shl) /* SAL = SHL */, SHIFT_TABLE(sar),
};

static void register_shifts(void)
{
    /* {byte opcode, word/dword opcode, count source, decoder flags} */
    static const struct { unsigned opb, opv, cnt, flags; } forms[3] = {
        { 0xD0, 0xD1, 0, OPF_MODRM },
        { 0xD2, 0xD3, 1, OPF_MODRM },
        { 0xC0, 0xC1, 2, OPF_MODRM | OPF_IMM8 },
    };
    for (int g = 0; g < 8; g++) {
        for (int f = 0; f < 3; f++) {
            insn_fn *const (*fn)[2] = shift_families[g].fn[forms[f].cnt];
            op_register(forms[f].opb, g, OSALL, forms[f].flags, fn[SZ8][0], fn[SZ8][1]);
            op_register(forms[f].opv, g, OS16, forms[f].flags, fn[SZ16][0], fn[SZ16][1]);
            op_register(forms[f].opv, g, OS32, forms[f].flags, fn[SZ32][0], fn[SZ32][1]);
        }
    }
}

/* SHLD/SHRD (0F A4 A5 AC AD). For a 16-bit operand the bits beyond the source
 * come from the destination again (dest:src:dest), which is what P6-family
 * parts produce for counts 17-31 (the SDM calls the result undefined). CF is
 * the last bit shifted out, OF = MSB changed (defined for a count of 1), AF 0. */
static ALWAYS_INLINE void shld_e(struct cpu *cpu, const struct insn *i, int mem, int sz, uint32_t count)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t a = rm_get(cpu, i, mem, sz, off);
    uint32_t s = reg_get(cpu, sz, i->reg);
    unsigned n = count & 31;
    if (n == 0) return;
    uint32_t r, cf;
    if (sz == SZ16) {
        uint64_t w = (uint64_t)a << 32 | (uint64_t)s << 16 | a;
        r = (uint32_t)((w << n) >> 32) & 0xFFFF;
        cf = (uint32_t)(w >> (48 - n)) & 1;
    } else {
        r = (a << n) | (s >> (32 - n));
        cf = (a >> (32 - n)) & 1;
    }
    rm_put(cpu, i, mem, sz, off, r);
    uint32_t of = ((r ^ a) & sz_msb(sz)) ? F_OF : 0;
    lf_set_flags(cpu, flags_szp(sz, r) | (cf ? F_CF : 0) | of);
}
static ALWAYS_INLINE void shrd_e(struct cpu *cpu, const struct insn *i, int mem, int sz, uint32_t count)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t a = rm_get(cpu, i, mem, sz, off);
    uint32_t s = reg_get(cpu, sz, i->reg);
    unsigned n = count & 31;
    if (n == 0) return;
    uint32_t r, cf;
    if (sz == SZ16) {
        uint64_t w = (uint64_t)a << 32 | (uint64_t)s << 16 | a;
        r = (uint32_t)(w >> n) & 0xFFFF;
        cf = (uint32_t)(w >> (n - 1)) & 1;
    } else {
        r = (a >> n) | (s << (32 - n));
        cf = (a >> (n - 1)) & 1;
    }
    rm_put(cpu, i, mem, sz, off, r);
    uint32_t of = ((r ^ a) & sz_msb(sz)) ? F_OF : 0;
    lf_set_flags(cpu, flags_szp(sz, r) | (cf ? F_CF : 0) | of);
}
RM_WD(shld_ib, shld_e, i->imm)
RM_WD(shld_cl, shld_e, REG8(cpu, R_ECX))
RM_WD(shrd_ib, shrd_e, i->imm)
RM_WD(shrd_cl, shrd_e, REG8(cpu, R_ECX))

/* ===========================================================================
 * BCD adjustments (SDM vol. 2 DAA DAS AAA AAS AAM AAD). Flags the SDM leaves
 * undefined are computed deterministically: SF ZF PF from AL, OF 0. */

static void op_daa(struct cpu *cpu, const struct insn *i)
{
    uint32_t al = REG8(cpu, 0), old_al = al;
    int old_cf = flag_cf(cpu), cf = 0, af = 0;
    if ((al & 0x0F) > 9 || flag_af(cpu)) {
        cf = old_cf || al + 6 > 0xFF;
        al = (al + 6) & 0xFF;
        af = 1;
    }
    if (old_al > 0x99 || old_cf) {
        al = (al + 0x60) & 0xFF;
        cf = 1;
    } else {
        cf = 0;
    }
    REG8(cpu, 0) = (uint8_t)al;
    lf_set_flags(cpu, flags_szp(SZ8, al) | (cf ? F_CF : 0) | (af ? F_AF : 0));
    NEXT(cpu, i);
}

static void op_das(struct cpu *cpu, const struct insn *i)
{
    uint32_t al = REG8(cpu, 0), old_al = al;
    int old_cf = flag_cf(cpu), cf = 0, af = 0;
    if ((al & 0x0F) > 9 || flag_af(cpu)) {
        cf = old_cf || al < 6;
        al = (al - 6) & 0xFF;
        af = 1;
    }
    if (old_al > 0x99 || old_cf) {
        al = (al - 0x60) & 0xFF;
        cf = 1;
    }
    REG8(cpu, 0) = (uint8_t)al;
    lf_set_flags(cpu, flags_szp(SZ8, al) | (cf ? F_CF : 0) | (af ? F_AF : 0));
    NEXT(cpu, i);
}

/* AAA: AX += 106h (the carry of AL + 6 reaches AH on the 386 and later). */
static void op_aaa(struct cpu *cpu, const struct insn *i)
{
    uint32_t ax = REG16(cpu, R_EAX), adj = 0;
    if ((ax & 0x0F) > 9 || flag_af(cpu)) {
        ax += 0x106;
        adj = F_AF | F_CF;
    }
    ax &= 0xFF0F;
    REG16(cpu, R_EAX) = (uint16_t)ax;
    lf_set_flags(cpu, flags_szp(SZ8, ax & 0xFF) | adj);
    NEXT(cpu, i);
}

/* AAS: AX -= 6, AH -= 1. */
static void op_aas(struct cpu *cpu, const struct insn *i)
{
    uint32_t ax = REG16(cpu, R_EAX), adj = 0;
    if ((ax & 0x0F) > 9 || flag_af(cpu)) {
        ax -= 6;
        ax -= 0x100;
        adj = F_AF | F_CF;
    }
    ax &= 0xFF0F;
    REG16(cpu, R_EAX) = (uint16_t)ax;
    lf_set_flags(cpu, flags_szp(SZ8, ax & 0xFF) | adj);
    NEXT(cpu, i);
}

/* AAM imm8: AH = AL / imm, AL = AL % imm; #DE when imm is 0. OF AF CF are
 * undefined: cleared, as after a logic operation on AL. */
static void op_aam(struct cpu *cpu, const struct insn *i)
{
    uint32_t base = i->imm & 0xFF;
    if (base == 0) cpu_raise(cpu, EXC_DE, 0);
    uint32_t al = REG8(cpu, 0);
    uint32_t lo = al % base;
    REG16(cpu, R_EAX) = (uint16_t)((al / base) << 8 | lo);
    lf_set(cpu, LF_OP(LF_LOGIC, SZ8), lo, lo, 0);
    NEXT(cpu, i);
}

/* AAD imm8: AL = AL + AH * imm, AH = 0. OF AF CF are undefined: we give those
 * of the 8-bit addition AL + (AH * imm). */
static void op_aad(struct cpu *cpu, const struct insn *i)
{
    uint32_t al = REG8(cpu, 0);
    uint32_t prod = (REG8(cpu, 4) * (i->imm & 0xFF)) & 0xFF;
    uint32_t r = (al + prod) & 0xFF;
    REG16(cpu, R_EAX) = (uint16_t)r;
    lf_set(cpu, LF_OP(LF_ADD, SZ8), r, al, prod);
    NEXT(cpu, i);
}

/* ===========================================================================
 * Moves, exchanges, LEA, sign extensions. */
static ALWAYS_INLINE void mov_eg(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    rm_put(cpu, i, mem, sz, off, reg_get(cpu, sz, i->reg));
}
static ALWAYS_INLINE void mov_ge(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    reg_put(cpu, sz, i->reg, rm_get(cpu, i, mem, sz, off));
}
static ALWAYS_INLINE void mov_ei(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    rm_put(cpu, i, mem, sz, off, i->imm & sz_mask(sz));
}
RM_BWD(mov_eg, mov_eg, 0)
RM_BWD(mov_ge, mov_ge, 0)
RM_BWD(mov_ei, mov_ei, 0)

/* A0-A3: the offset is in i->disp, base and index are R_NONE. */
HANDLER(mov_al_moffs, REG8(cpu, 0) = rdm8(cpu, i))
HANDLER(mov_ax_moffs, REG16(cpu, R_EAX) = rdm16(cpu, i))
HANDLER(mov_eax_moffs, EAX(cpu) = rdm32(cpu, i))
HANDLER(mov_moffs_al, wrm8(cpu, i, REG8(cpu, 0)))
HANDLER(mov_moffs_ax, wrm16(cpu, i, REG16(cpu, R_EAX)))
HANDLER(mov_moffs_eax, wrm32(cpu, i, EAX(cpu)))

/* B0-BF: the register is in the opcode (B4-B7 are AH CH DH BH). */
HANDLER(mov_reg8_imm, REG8(cpu, i->reg) = (uint8_t)i->imm)
HANDLER(mov_reg16_imm, REG16(cpu, i->reg) = (uint16_t)i->imm)
HANDLER(mov_reg32_imm, REG32(cpu, i->reg) = i->imm)

/* 8D LEA: the offset only, truncated to the operand size. */
HANDLER(lea16, REG16(cpu, i->reg) = (uint16_t)ea_off(cpu, i))
HANDLER(lea32, REG32(cpu, i->reg) = ea_off(cpu, i))

/* XCHG: memory is written before the register. */
static ALWAYS_INLINE void xchg_eg(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t e = rm_get(cpu, i, mem, sz, off);
    rm_put(cpu, i, mem, sz, off, reg_get(cpu, sz, i->reg));
    reg_put(cpu, sz, i->reg, e);
}
RM_BWD(xchg_eg, xchg_eg, 0)

/* 91-97: XCHG eAX, reg. 90 (and F3 90, PAUSE) does nothing. */
static ALWAYS_INLINE void xchg_acc(struct cpu *cpu, const struct insn *i, int sz)
{
    uint32_t t = reg_get(cpu, sz, i->reg);
    reg_put(cpu, sz, i->reg, reg_get(cpu, sz, R_EAX));
    reg_put(cpu, sz, R_EAX, t);
}
HANDLER(xchg_acc16, xchg_acc(cpu, i, SZ16))
HANDLER(xchg_acc32, xchg_acc(cpu, i, SZ32))
HANDLER(op_nop, (void)0)

HANDLER(op_cbw, REG16(cpu, R_EAX) = (uint16_t)(int8_t)REG8(cpu, 0))
HANDLER(op_cwde, EAX(cpu) = (uint32_t)(int16_t)REG16(cpu, R_EAX))
HANDLER(op_cwd, REG16(cpu, R_EDX) = (REG16(cpu, R_EAX) & 0x8000) ? 0xFFFF : 0)
HANDLER(op_cdq, EDX(cpu) = (EAX(cpu) & 0x80000000u) ? 0xFFFFFFFFu : 0)

/* MOVZX/MOVSX: `sz` is the source size, `dsz` the destination's. */
static ALWAYS_INLINE void movzx(struct cpu *cpu, const struct insn *i, int mem, int sz, int dsz)
{
    uint32_t off = rm_ea(cpu, i, mem);
    reg_put(cpu, dsz, i->reg, rm_get(cpu, i, mem, sz, off));
}
static ALWAYS_INLINE void movsx(struct cpu *cpu, const struct insn *i, int mem, int sz, int dsz)
{
    uint32_t off = rm_ea(cpu, i, mem);
    reg_put(cpu, dsz, i->reg, (uint32_t)sz_sext(sz, rm_get(cpu, i, mem, sz, off)));
}
RM_PAIR(movzx_b16, movzx, SZ8, SZ16)
RM_PAIR(movzx_b32, movzx, SZ8, SZ32)
RM_PAIR(movzx_w16, movzx, SZ16, SZ16)
RM_PAIR(movzx_w32, movzx, SZ16, SZ32)
RM_PAIR(movsx_b16, movsx, SZ8, SZ16)
RM_PAIR(movsx_b32, movsx, SZ8, SZ32)
RM_PAIR(movsx_w16, movsx, SZ16, SZ16)
RM_PAIR(movsx_w32, movsx, SZ16, SZ32)

/* BSWAP (0F C8+r). With a 16-bit operand the SDM says undefined; Intel and AMD
 * parts clear the low word, and so do we. */
HANDLER(bswap32, REG32(cpu, i->reg) = __builtin_bswap32(REG32(cpu, i->reg)))
HANDLER(bswap16, REG16(cpu, i->reg) = 0)

/* ===========================================================================
 * Flag instructions. */
static void op_sahf(struct cpu *cpu, const struct insn *i)
{
    lf_update(cpu, F_SF | F_ZF | F_AF | F_PF | F_CF, REG8(cpu, 4));
    NEXT(cpu, i);
}
/* LAHF: AH = SF:ZF:0:AF:0:PF:1:CF */
static void op_lahf(struct cpu *cpu, const struct insn *i)
{
    REG8(cpu, 4) = (uint8_t)((flags_get(cpu) & (F_SF | F_ZF | F_AF | F_PF | F_CF)) | 0x02);
    NEXT(cpu, i);
}
static void op_cmc(struct cpu *cpu, const struct insn *i)
{
    lf_set_flags(cpu, flags_get(cpu) ^ F_CF);
    NEXT(cpu, i);
}
static void op_clc(struct cpu *cpu, const struct insn *i)
{
    lf_update(cpu, F_CF, 0);
    NEXT(cpu, i);
}
static void op_stc(struct cpu *cpu, const struct insn *i)
{
    lf_update(cpu, F_CF, F_CF);
    NEXT(cpu, i);
}
/* D6 SALC (undocumented, present on every IA-32 part): AL = CF ? FF : 00. */
static void op_salc(struct cpu *cpu, const struct insn *i)
{
    REG8(cpu, 0) = flag_cf(cpu) ? 0xFF : 0x00;
    NEXT(cpu, i);
}

/* ===========================================================================
 * CMOVcc, SETcc: the condition is the low nibble of the opcode. CMOV reads its
 * source even when the condition is false (a memory source can fault). */
static ALWAYS_INLINE void cmov(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t v = rm_get(cpu, i, mem, sz, off);
    if (cond_eval(cpu, i->opcode & 15)) reg_put(cpu, sz, i->reg, v);
}
static ALWAYS_INLINE void setcc(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    rm_put(cpu, i, mem, SZ8, off, (uint32_t)cond_eval(cpu, i->opcode & 15));
}
RM_WD(cmov, cmov, 0)
RM_PAIR(setcc, setcc, SZ8, 0)

/* ===========================================================================
 * Bit tests BT BTS BTR BTC (SDM vol. 2 BT): CF = the selected bit; ZF is kept;
 * OF SF AF PF are undefined (kept). The order is group 8's reg field - 4. */
enum { BIT_BT, BIT_BTS, BIT_BTR, BIT_BTC };

static ALWAYS_INLINE uint32_t bit_apply(int op, uint32_t v, uint32_t m)
{
    switch (op) {
    case BIT_BTS: return v | m;
    case BIT_BTR: return v & ~m;
    case BIT_BTC: return v ^ m;
    default: return v;
    }
}

static ALWAYS_INLINE void bit_op(struct cpu *cpu, const struct insn *i, int mem, int sz, int op,
                                 uint32_t bitoff, int reg_offset)
{
    uint32_t off = rm_ea(cpu, i, mem);
    /* A register offset with a memory operand is signed and may select a bit
     * outside the operand: address the operand-sized unit that holds it. */
    if (mem && reg_offset) {
        int32_t units = sz_sext(sz, bitoff) >> (sz == SZ16 ? 4 : 5);
        off = (off + (uint32_t)units * (1u << sz)) & i->amask;
    }
    uint32_t m = 1u << (bitoff & (sz_bits(sz) - 1));
    uint32_t v = rm_get(cpu, i, mem, sz, off);
    if (op != BIT_BT) rm_put(cpu, i, mem, sz, off, bit_apply(op, v, m));
    lf_update(cpu, F_CF, (v & m) ? F_CF : 0);
}
/* 0F A3 AB B3 BB: the offset is in Gv. */
static ALWAYS_INLINE void bit_eg(struct cpu *cpu, const struct insn *i, int mem, int sz, int op)
{
    bit_op(cpu, i, mem, sz, op, reg_get(cpu, sz, i->reg), 1);
}
/* 0F BA /4-/7: the offset is imm8, taken modulo the operand size. */
static ALWAYS_INLINE void bit_ei(struct cpu *cpu, const struct insn *i, int mem, int sz, int op)
{
    bit_op(cpu, i, mem, sz, op, i->imm, 0);
}
RM_WD(bt_eg, bit_eg, BIT_BT)
RM_WD(bts_eg, bit_eg, BIT_BTS)
RM_WD(btr_eg, bit_eg, BIT_BTR)
RM_WD(btc_eg, bit_eg, BIT_BTC)
RM_WD(bt_ei, bit_ei, BIT_BT)
RM_WD(bts_ei, bit_ei, BIT_BTS)
RM_WD(btr_ei, bit_ei, BIT_BTR)
RM_WD(btc_ei, bit_ei, BIT_BTC)

/* BSF/BSR: ZF = source is 0, and then the destination is left unchanged (as
 * P6-family parts do; the SDM says undefined). CF OF SF AF PF undefined: kept. */
static ALWAYS_INLINE void bsf(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t v = rm_get(cpu, i, mem, sz, off);
    if (v == 0) {
        lf_update(cpu, F_ZF, F_ZF);
        return;
    }
    reg_put(cpu, sz, i->reg, (uint32_t)__builtin_ctz(v));
    lf_update(cpu, F_ZF, 0);
}
static ALWAYS_INLINE void bsr(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t v = rm_get(cpu, i, mem, sz, off);
    if (v == 0) {
        lf_update(cpu, F_ZF, F_ZF);
        return;
    }
    reg_put(cpu, sz, i->reg, 31u - (uint32_t)__builtin_clz(v));
    lf_update(cpu, F_ZF, 0);
}
RM_WD(bsf, bsf, 0)
RM_WD(bsr, bsr, 0)

/* ===========================================================================
 * XADD, CMPXCHG, CMPXCHG8B. Memory is written before any register. */
static ALWAYS_INLINE void xadd(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t d = rm_get(cpu, i, mem, sz, off);
    uint32_t s = reg_get(cpu, sz, i->reg);
    uint32_t r = (d + s) & sz_mask(sz);
    if (mem) {
        rm_put(cpu, i, mem, sz, off, r);
        reg_put(cpu, sz, i->reg, d);
    } else {
        /* SRC = DEST, then DEST = sum: with the same register the sum wins. */
        reg_put(cpu, sz, i->reg, d);
        reg_put(cpu, sz, i->rm, r);
    }
    lf_set(cpu, LF_OP(LF_ADD, sz), r, d, s);
}

/* CMPXCHG: flags of CMP accumulator, dest. A memory destination is written in
 * both cases (with its own value when the compare fails), as the SDM says. */
static ALWAYS_INLINE void cmpxchg(struct cpu *cpu, const struct insn *i, int mem, int sz, int unused)
{
    uint32_t off = rm_ea(cpu, i, mem);
    uint32_t d = rm_get(cpu, i, mem, sz, off);
    uint32_t acc = reg_get(cpu, sz, R_EAX);
    if (acc == d) {
        rm_put(cpu, i, mem, sz, off, reg_get(cpu, sz, i->reg));
    } else {
        if (mem) rm_put(cpu, i, mem, sz, off, d);
        reg_put(cpu, sz, R_EAX, d);
    }
    lf_set(cpu, LF_OP(LF_SUB, sz), (acc - d) & sz_mask(sz), acc, d);
}
RM_BWD(xadd, xadd, 0)
RM_BWD(cmpxchg, cmpxchg, 0)

/* 0F C7 /1 CMPXCHG8B m64 (the operand size does not matter). The high dword
 * is first written back unchanged, so that when the low dword's write faults
 * (the quadword may straddle pages) memory has not changed. ZF only. */
static void cmpxchg8b_m(struct cpu *cpu, const struct insn *i)
{
    uint32_t off = ea_off(cpu, i);
    uint32_t off_hi = (off + 4) & i->amask;
    uint32_t lo = rd32(cpu, i->seg, off);
    uint32_t hi = rd32(cpu, i->seg, off_hi);
    int equal = lo == EAX(cpu) && hi == EDX(cpu);
    wr32(cpu, i->seg, off_hi, hi);
    if (equal) {
        wr32(cpu, i->seg, off, EBX(cpu));
        wr32(cpu, i->seg, off_hi, ECX(cpu));
    } else {
        wr32(cpu, i->seg, off, lo);
        EAX(cpu) = lo;
        EDX(cpu) = hi;
    }
    lf_update(cpu, F_ZF, equal ? F_ZF : 0);
    NEXT(cpu, i);
}

/* ===========================================================================
 * Registration. */
void ops_alu_init(void)
{
    register_alu();
    register_shifts();

    /* INC/DEC */
    for (unsigned r = 0; r < 8; r++) {
        REG_NOMODRM_V(0x40 + r, 0, inc_reg16, inc_reg32);
        REG_NOMODRM_V(0x48 + r, 0, dec_reg16, dec_reg32);
    }
    REG_B(0xFE, 0, OPF_LOCK, inc_e8);
    REG_B(0xFE, 1, OPF_LOCK, dec_e8);
    REG_V(0xFF, 0, OPF_LOCK, inc_e);
    REG_V(0xFF, 1, OPF_LOCK, dec_e);

    /* Group 3 (/0 /1 TEST are registered with the ALU) */
    REG_B(0xF6, 2, OPF_IMMGRP | OPF_IMM8 | OPF_LOCK, not_e8);
    REG_B(0xF6, 3, OPF_IMMGRP | OPF_IMM8 | OPF_LOCK, neg_e8);
    REG_B(0xF6, 4, OPF_IMMGRP | OPF_IMM8, mul_e8);
    REG_B(0xF6, 5, OPF_IMMGRP | OPF_IMM8, imul1_e8);
    REG_B(0xF6, 6, OPF_IMMGRP | OPF_IMM8, div_e8);
    REG_B(0xF6, 7, OPF_IMMGRP | OPF_IMM8, idiv_e8);
    REG_V(0xF7, 2, OPF_IMMGRP | OPF_IMMV | OPF_LOCK, not_e);
    REG_V(0xF7, 3, OPF_IMMGRP | OPF_IMMV | OPF_LOCK, neg_e);
    REG_V(0xF7, 4, OPF_IMMGRP | OPF_IMMV, mul_e);
    REG_V(0xF7, 5, OPF_IMMGRP | OPF_IMMV, imul1_e);
    REG_V(0xF7, 6, OPF_IMMGRP | OPF_IMMV, div_e);
    REG_V(0xF7, 7, OPF_IMMGRP | OPF_IMMV, idiv_e);
    REG_V(0x69, -1, OPF_IMMV, imul_gei);
    REG_V(0x6B, -1, OPF_IMM8S, imul_gei);
    REG_V(0x1AF, -1, 0, imul_ge);

    /* BCD and flags */
    REG_NOMODRM(0x27, OSALL, 0, op_daa);
    REG_NOMODRM(0x2F, OSALL, 0, op_das);
    REG_NOMODRM(0x37, OSALL, 0, op_aaa);
    REG_NOMODRM(0x3F, OSALL, 0, op_aas);
    REG_NOMODRM(0xD4, OSALL, OPF_IMM8, op_aam);
    REG_NOMODRM(0xD5, OSALL, OPF_IMM8, op_aad);
    REG_NOMODRM(0xD6, OSALL, 0, op_salc);
    REG_NOMODRM(0x9E, OSALL, 0, op_sahf);
    REG_NOMODRM(0x9F, OSALL, 0, op_lahf);
    REG_NOMODRM(0xF5, OSALL, 0, op_cmc);
    REG_NOMODRM(0xF8, OSALL, 0, op_clc);
    REG_NOMODRM(0xF9, OSALL, 0, op_stc);

    /* Moves and exchanges; XCHG with memory is always locked. */
    REG_B(0x86, -1, OPF_LOCK, xchg_eg8);
    REG_V(0x87, -1, OPF_LOCK, xchg_eg);
    REG_B(0x88, -1, 0, mov_eg8);
    REG_V(0x89, -1, 0, mov_eg);
    REG_B(0x8A, -1, 0, mov_ge8);
    REG_V(0x8B, -1, 0, mov_ge);
    op_register(0x8D, -1, OS16, OPF_MODRM, NULL, lea16);
    op_register(0x8D, -1, OS32, OPF_MODRM, NULL, lea32);
    REG_NOMODRM(0x90, OSALL, 0, op_nop);
    for (unsigned r = 1; r < 8; r++) REG_NOMODRM_V(0x90 + r, 0, xchg_acc16, xchg_acc32);
    REG_NOMODRM_V(0x98, 0, op_cbw, op_cwde);
    REG_NOMODRM_V(0x99, 0, op_cwd, op_cdq);
    REG_NOMODRM(0xA0, OSALL, OPF_MOFFS, mov_al_moffs);
    REG_NOMODRM_V(0xA1, OPF_MOFFS, mov_ax_moffs, mov_eax_moffs);
    REG_NOMODRM(0xA2, OSALL, OPF_MOFFS, mov_moffs_al);
    REG_NOMODRM_V(0xA3, OPF_MOFFS, mov_moffs_ax, mov_moffs_eax);
    for (unsigned r = 0; r < 8; r++) {
        REG_NOMODRM(0xB0 + r, OSALL, OPF_IMM8, mov_reg8_imm);
        REG_NOMODRM_V(0xB8 + r, OPF_IMMV, mov_reg16_imm, mov_reg32_imm);
    }
    REG_B(0xC6, 0, OPF_IMM8, mov_ei8);
    REG_V(0xC7, 0, OPF_IMMV, mov_ei);

    /* Group members that do not exist on a P6 raise #UD (without the
     * "unimplemented" log): C6/C7 /1-/7, FE /2-/7, 0F BA /0-/3. */
    for (int g = 1; g < 8; g++) {
        op_register(0xC6, g, OSALL, OPF_MODRM, NULL, NULL);
        op_register(0xC7, g, OSALL, OPF_MODRM, NULL, NULL);
        if (g >= 2) op_register(0xFE, g, OSALL, OPF_MODRM, NULL, NULL);
    }
    for (int g = 0; g < 4; g++) op_register(0x1BA, g, OSALL, OPF_MODRM, NULL, NULL);

    /* 0F map */
    for (unsigned cc = 0; cc < 16; cc++) {
        REG_V(0x140 + cc, -1, 0, cmov);
        REG_B(0x190 + cc, -1, 0, setcc);
    }
    REG_V(0x1A3, -1, 0, bt_eg);
    REG_V(0x1AB, -1, OPF_LOCK, bts_eg);
    REG_V(0x1B3, -1, OPF_LOCK, btr_eg);
    REG_V(0x1BB, -1, OPF_LOCK, btc_eg);
    REG_V(0x1BA, 4, OPF_IMM8, bt_ei);
    REG_V(0x1BA, 5, OPF_IMM8 | OPF_LOCK, bts_ei);
    REG_V(0x1BA, 6, OPF_IMM8 | OPF_LOCK, btr_ei);
    REG_V(0x1BA, 7, OPF_IMM8 | OPF_LOCK, btc_ei);
    REG_V(0x1A4, -1, OPF_IMM8, shld_ib);
    REG_V(0x1A5, -1, 0, shld_cl);
    REG_V(0x1AC, -1, OPF_IMM8, shrd_ib);
    REG_V(0x1AD, -1, 0, shrd_cl);
    REG_B(0x1B0, -1, OPF_LOCK, cmpxchg8);
    REG_V(0x1B1, -1, OPF_LOCK, cmpxchg);
    REG_B(0x1C0, -1, OPF_LOCK, xadd8);
    REG_V(0x1C1, -1, OPF_LOCK, xadd);
    op_register(0x1B6, -1, OS16, OPF_MODRM, movzx_b16_r, movzx_b16_m);
    op_register(0x1B6, -1, OS32, OPF_MODRM, movzx_b32_r, movzx_b32_m);
    op_register(0x1B7, -1, OS16, OPF_MODRM, movzx_w16_r, movzx_w16_m);
    op_register(0x1B7, -1, OS32, OPF_MODRM, movzx_w32_r, movzx_w32_m);
    op_register(0x1BE, -1, OS16, OPF_MODRM, movsx_b16_r, movsx_b16_m);
    op_register(0x1BE, -1, OS32, OPF_MODRM, movsx_b32_r, movsx_b32_m);
    op_register(0x1BF, -1, OS16, OPF_MODRM, movsx_w16_r, movsx_w16_m);
    op_register(0x1BF, -1, OS32, OPF_MODRM, movsx_w32_r, movsx_w32_m);
    REG_V(0x1BC, -1, 0, bsf);
    REG_V(0x1BD, -1, 0, bsr);
    op_register(0x1C7, 1, OSALL, OPF_MODRM | OPF_LOCK, NULL, cmpxchg8b_m);
    for (unsigned r = 0; r < 8; r++) REG_NOMODRM_V(0x1C8 + r, 0, bswap16, bswap32);
}
