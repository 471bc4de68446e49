/* test_diffhw, part 2: what each instruction does to the arithmetic flags,
 * from the Intel SDM's "Flags Affected" sections (vol. 2) and appendix A of
 * vol. 1. Given the real state just before the instruction (from the native
 * run of the preceding prefix) the answer is exact: shift counts in CL, the
 * source of BSF/BSR, REP counts and branch outcomes are all known.
 *
 * Undefined flags are not compared. An instruction that READS a flag left
 * undefined (ADC after MUL, SETZ after BT...) would propagate the difference,
 * so the case is cut short before it; an instruction whose destination is
 * undefined (BSF/BSR of 0, SHLD/SHRD of a word by more than 16) ends the case
 * and its destination is not compared. */

static const uint32_t cond_flags[8] = {
    F_OF, F_CF, F_ZF, F_CF | F_ZF, F_SF, F_PF, F_SF | F_OF, F_ZF | F_SF | F_OF,
};

/* Jcc/SETcc/CMOVcc condition (SDM vol. 1, B.1). */
static int cond_true(int cc, uint32_t f)
{
    int of = !!(f & F_OF), cf = !!(f & F_CF), zf = !!(f & F_ZF), sf = !!(f & F_SF), pf = !!(f & F_PF);
    int r;
    switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf || zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf != of; break;
    default: r = zf || sf != of; break;
    }
    return r ^ (cc & 1);
}

static uint32_t ea_value(const struct mem_ea *ea, const struct machine_state *st)
{
    uint32_t a = ea->disp;
    if (ea->base != EA_NONE) a += st->reg[ea->base];
    if (ea->index != EA_NONE) a += st->reg[ea->index] << ea->scale;
    return a;
}

static uint32_t reg_value(const struct machine_state *st, int r, int size)
{
    if (size == 1) return (st->reg[r & 3] >> ((r & 4) ? 8 : 0)) & 0xFF;
    if (size == 2) return st->reg[r] & 0xFFFF;
    return st->reg[r];
}

static uint32_t rm_value(const struct ginsn *in, const struct machine_state *st, const uint8_t *data)
{
    if (!in->rm.is_mem)
        return reg_value(st, in->rm.reg, in->size);
    uint32_t a = ea_value(&in->rm.ea, st);
    uint32_t v = 0;
    if (a < DATA_BASE || a - DATA_BASE > DATA_SIZE - in->size)
        return 1;     /* cannot happen: the generator keeps operands inside the data */
    memcpy(&v, data + (a - DATA_BASE), in->size);
    return v;
}

/* Masked shift count; *known = 0 when it is in CL and the state is not known. */
static unsigned shift_count(const struct ginsn *in, const struct machine_state *pre, int *known)
{
    *known = 1;
    switch (in->count_src) {
    case CNT_ONE: return 1;
    case CNT_IMM: return in->count_imm & 31u;
    default:
        if (!pre) { *known = 0; return 0; }
        return pre->reg[R_ECX] & 31u;
    }
}

static void shift_effect(const struct ginsn *in, const struct machine_state *pre, struct effect *e)
{
    int known;
    unsigned c = shift_count(in, pre, &known);
    int rotate = in->op < 4;
    int through_carry = in->op == 2 || in->op == 3;
    if (!known) {
        e->read = through_carry ? F_CF : 0;
        e->undef = rotate ? F_OF : (F_OF | F_AF | F_CF);
        return;
    }
    if (c == 0)
        return;           /* a zero count changes no flag */
    if (through_carry)
        e->read = F_CF;
    if (rotate) {
        /* Only CF and OF; OF is defined for 1-bit rotates only. */
        e->def = F_CF;
    } else {
        e->def = F_SF | F_ZF | F_PF;
        e->undef = F_AF;
        /* SHL/SHR leave CF undefined when the count reaches the operand width. */
        if (in->op != 7 && c >= (unsigned)in->size * 8) e->undef |= F_CF;
        else e->def |= F_CF;
    }
    if (c == 1) e->def |= F_OF;
    else e->undef |= F_OF;
}

static void shxd_effect(const struct ginsn *in, const struct machine_state *pre, struct effect *e)
{
    int known;
    unsigned c = shift_count(in, pre, &known);
    if (!known) {
        e->undef = in->size == 2 ? F_OSZAPC : (F_OF | F_AF);
        return;
    }
    if (c == 0)
        return;
    if (in->size == 2 && c > 16) {
        /* Count beyond the operand size: result and flags undefined. */
        e->undef = F_OSZAPC;
        e->dest_undef = 1;
        return;
    }
    e->def = F_CF | F_SF | F_ZF | F_PF;
    e->undef = F_AF;
    if (c == 1) e->def |= F_OF;
    else e->undef |= F_OF;
}

static int branch_taken(const struct ginsn *in, const struct machine_state *pre)
{
    uint32_t ecx = pre->reg[R_ECX];
    switch (in->branch) {
    case BR_JCC: return cond_true(in->op, pre->flags);
    case BR_JMP: return 1;
    case BR_JECXZ: return ecx == 0;
    case BR_LOOP: return ecx - 1 != 0;
    case BR_LOOPE: return ecx - 1 != 0 && (pre->flags & F_ZF);
    case BR_LOOPNE: return ecx - 1 != 0 && !(pre->flags & F_ZF);
    default: return 0;
    }
}

static void insn_effect(const struct ginsn *in, const struct machine_state *pre, const uint8_t *data, struct effect *e)
{
    memset(e, 0, sizeof *e);
    switch (in->sem) {
    case SEM_NONE:
        break;
    case SEM_ARITH:
        e->def = F_OSZAPC;
        break;
    case SEM_ARITH_CIN:
        e->read = F_CF;
        e->def = F_OSZAPC;
        break;
    case SEM_LOGIC:                     /* AND OR XOR TEST: AF undefined */
        e->def = F_OSZAPC & ~F_AF;
        e->undef = F_AF;
        break;
    case SEM_INCDEC:                    /* CF unaffected */
        e->def = F_OF | F_SF | F_ZF | F_AF | F_PF;
        break;
    case SEM_MUL:                       /* MUL, IMUL: SF ZF AF PF undefined */
        e->def = F_OF | F_CF;
        e->undef = F_SF | F_ZF | F_AF | F_PF;
        break;
    case SEM_DIV:                       /* all six undefined */
        e->undef = F_OSZAPC;
        break;
    case SEM_SHIFT:
        shift_effect(in, pre, e);
        break;
    case SEM_SHXD:
        shxd_effect(in, pre, e);
        break;
    case SEM_BT:                        /* CF = the bit; ZF unaffected; OF SF AF PF undefined */
        e->def = F_CF;
        e->undef = F_OF | F_SF | F_AF | F_PF;
        break;
    case SEM_BSF:                       /* ZF defined; CF OF SF AF PF undefined */
        e->def = F_ZF;
        e->undef = F_CF | F_OF | F_SF | F_AF | F_PF;
        if (pre && rm_value(in, pre, data) == 0)
            e->dest_undef = 1;
        break;
    case SEM_ZF:                        /* CMPXCHG8B */
        e->def = F_ZF;
        break;
    case SEM_SAHF:
        e->def = F_SF | F_ZF | F_AF | F_PF | F_CF;
        break;
    case SEM_LAHF:
        e->read = F_SF | F_ZF | F_AF | F_PF | F_CF;
        break;
    case SEM_SETCF:
        e->def = F_CF;
        break;
    case SEM_CMC:
        e->read = F_CF;
        e->def = F_CF;
        break;
    case SEM_CC:
        e->read = cond_flags[(in->op & 15) >> 1];
        break;
    case SEM_LOOPZ:
        e->read = F_ZF;
        break;
    case SEM_STRCMP:
        /* REPE/REPNE with ECX = 0 compares nothing and changes no flag. */
        if (!in->rep || (pre && pre->reg[R_ECX] != 0))
            e->def = F_OSZAPC;
        break;
    }
    if (pre && in->branch)
        e->taken = branch_taken(in, pre);
}
