/* Stack, near branches, port I/O, flag control and miscellaneous one-byte
 * instructions: PUSH/POP (registers, segments, immediates, memory, all, flags),
 * ENTER/LEAVE, Jcc/JMP/CALL/RET near, LOOP/JCXZ, INT n/INT3/INTO/ICEBP, BOUND,
 * IN/OUT, CLI/STI/CLD/STD, HLT, XLAT and the hint NOPs. The string instructions
 * are in cpu/ops_string.c (registered from here).
 *
 * References are to the Intel SDM, vol. 2 (instruction pages) unless noted. */
#include "internal.h"


static ALWAYS_INLINE unsigned iopl(const struct cpu *cpu)
{
    return (cpu->eflags & F_IOPL) >> 12;
}

/* A near branch target must lie inside CS, else #GP(0) before anything changes. */
static ALWAYS_INLINE void check_near_target(struct cpu *cpu, uint32_t target)
{
    if (unlikely(target > cpu->seg[S_CS].limit))
        RAISE_GP(cpu, 0);
}

/* ---------------------------------------------------------------------------
 * PUSH and POP of general registers (50+r, 58+r) and immediates (68, 6A). */

static void op_push_r16(struct cpu *cpu, const struct insn *i)
{
    push16(cpu, REG16(cpu, i->reg));   /* PUSH SP pushes SP as it was before the push */
    NEXT(cpu, i);
}

static void op_push_r32(struct cpu *cpu, const struct insn *i)
{
    push32(cpu, REG32(cpu, i->reg));
    NEXT(cpu, i);
}

/* POP SP: the increment happens first, then the popped value lands in SP. */
static void op_pop_r16(struct cpu *cpu, const struct insn *i)
{
    uint16_t v = pop16(cpu);
    REG16(cpu, i->reg) = v;
    NEXT(cpu, i);
}

static void op_pop_r32(struct cpu *cpu, const struct insn *i)
{
    uint32_t v = pop32(cpu);
    REG32(cpu, i->reg) = v;
    NEXT(cpu, i);
}

static void op_push_imm16(struct cpu *cpu, const struct insn *i)
{
    push16(cpu, (uint16_t)i->imm);
    NEXT(cpu, i);
}

static void op_push_imm32(struct cpu *cpu, const struct insn *i)
{
    push32(cpu, i->imm);
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * PUSH and POP of segment registers. */

static void op_push_sreg16(struct cpu *cpu, int s)
{
    push16(cpu, cpu->seg[s].sel);
}

/* With a 32-bit operand size the SDM (PUSH) allows either a zero-extended
 * doubleword or a 16-bit move into the low half of the slot; recent Intel
 * processors do the 16-bit move and leave the upper half unmodified. We do the
 * same: ESP moves by 4, the whole slot must pass the limit check, 2 bytes are written. */
static void op_push_sreg32(struct cpu *cpu, int s)
{
    uint32_t sp = (ESP(cpu) - 4) & sp_mask(cpu);
    seg_check_write(cpu, S_SS, sp, 4);
    wr16(cpu, S_SS, sp, cpu->seg[s].sel);
    set_sp(cpu, sp);
}

/* POP Sreg: read, load the register (every check of the mode), then move ESP,
 * using the stack size that was in force for the read. */
static void op_pop_sreg(struct cpu *cpu, int s, int size)
{
    uint32_t mask = sp_mask(cpu);
    uint32_t esp = ESP(cpu);
    uint16_t sel = (uint16_t)stack_peek(cpu, 0, size);
    seg_load(cpu, s, sel);
    ESP(cpu) = (esp & ~mask) | ((esp + (uint32_t)size) & mask);
}

static void op_push_es16(struct cpu *cpu, const struct insn *i) { op_push_sreg16(cpu, S_ES); NEXT(cpu, i); }
static void op_push_es32(struct cpu *cpu, const struct insn *i) { op_push_sreg32(cpu, S_ES); NEXT(cpu, i); }
static void op_push_cs16(struct cpu *cpu, const struct insn *i) { op_push_sreg16(cpu, S_CS); NEXT(cpu, i); }
static void op_push_cs32(struct cpu *cpu, const struct insn *i) { op_push_sreg32(cpu, S_CS); NEXT(cpu, i); }
static void op_push_ss16(struct cpu *cpu, const struct insn *i) { op_push_sreg16(cpu, S_SS); NEXT(cpu, i); }
static void op_push_ss32(struct cpu *cpu, const struct insn *i) { op_push_sreg32(cpu, S_SS); NEXT(cpu, i); }
static void op_push_ds16(struct cpu *cpu, const struct insn *i) { op_push_sreg16(cpu, S_DS); NEXT(cpu, i); }
static void op_push_ds32(struct cpu *cpu, const struct insn *i) { op_push_sreg32(cpu, S_DS); NEXT(cpu, i); }
static void op_push_fs16(struct cpu *cpu, const struct insn *i) { op_push_sreg16(cpu, S_FS); NEXT(cpu, i); }
static void op_push_fs32(struct cpu *cpu, const struct insn *i) { op_push_sreg32(cpu, S_FS); NEXT(cpu, i); }
static void op_push_gs16(struct cpu *cpu, const struct insn *i) { op_push_sreg16(cpu, S_GS); NEXT(cpu, i); }
static void op_push_gs32(struct cpu *cpu, const struct insn *i) { op_push_sreg32(cpu, S_GS); NEXT(cpu, i); }

static void op_pop_es16(struct cpu *cpu, const struct insn *i) { op_pop_sreg(cpu, S_ES, 2); NEXT(cpu, i); }
static void op_pop_es32(struct cpu *cpu, const struct insn *i) { op_pop_sreg(cpu, S_ES, 4); NEXT(cpu, i); }
static void op_pop_ds16(struct cpu *cpu, const struct insn *i) { op_pop_sreg(cpu, S_DS, 2); NEXT(cpu, i); }
static void op_pop_ds32(struct cpu *cpu, const struct insn *i) { op_pop_sreg(cpu, S_DS, 4); NEXT(cpu, i); }
static void op_pop_fs16(struct cpu *cpu, const struct insn *i) { op_pop_sreg(cpu, S_FS, 2); NEXT(cpu, i); }
static void op_pop_fs32(struct cpu *cpu, const struct insn *i) { op_pop_sreg(cpu, S_FS, 4); NEXT(cpu, i); }
static void op_pop_gs16(struct cpu *cpu, const struct insn *i) { op_pop_sreg(cpu, S_GS, 2); NEXT(cpu, i); }
static void op_pop_gs32(struct cpu *cpu, const struct insn *i) { op_pop_sreg(cpu, S_GS, 4); NEXT(cpu, i); }

/* POP SS: no interrupt until the next instruction has run (SDM vol. 3, 6.8.3). */
static void op_pop_ss16(struct cpu *cpu, const struct insn *i)
{
    op_pop_sreg(cpu, S_SS, 2);
    cpu->inhibit_irq = 1;
    END_NEXT(cpu, i);
}

static void op_pop_ss32(struct cpu *cpu, const struct insn *i)
{
    op_pop_sreg(cpu, S_SS, 4);
    cpu->inhibit_irq = 1;
    END_NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * PUSHA / POPA. Every write (or read) comes before ESP moves, so a fault in the
 * middle leaves the registers as they were. */

static void op_pusha16(struct cpu *cpu, const struct insn *i)
{
    uint32_t mask = sp_mask(cpu);
    uint32_t sp = ESP(cpu);
    const uint16_t v[8] = {
        REG16(cpu, R_EAX), REG16(cpu, R_ECX), REG16(cpu, R_EDX), REG16(cpu, R_EBX),
        REG16(cpu, R_ESP), REG16(cpu, R_EBP), REG16(cpu, R_ESI), REG16(cpu, R_EDI),
    };
    for (int k = 0; k < 8; k++) {
        sp = (sp - 2) & mask;
        wr16(cpu, S_SS, sp, v[k]);
    }
    set_sp(cpu, sp);
    NEXT(cpu, i);
}

static void op_pusha32(struct cpu *cpu, const struct insn *i)
{
    uint32_t mask = sp_mask(cpu);
    uint32_t sp = ESP(cpu);
    const uint32_t v[8] = {
        EAX(cpu), ECX(cpu), EDX(cpu), EBX(cpu), ESP(cpu), EBP(cpu), ESI(cpu), EDI(cpu),
    };
    for (int k = 0; k < 8; k++) {
        sp = (sp - 4) & mask;
        wr32(cpu, S_SS, sp, v[k]);
    }
    set_sp(cpu, sp);
    NEXT(cpu, i);
}

/* The stack holds DI SI BP SP BX DX CX AX from the top; the SP slot is skipped. */
static void op_popa16(struct cpu *cpu, const struct insn *i)
{
    uint16_t v[8];
    for (int k = 0; k < 8; k++) v[k] = (uint16_t)stack_peek(cpu, (uint32_t)k * 2, 2);
    REG16(cpu, R_EDI) = v[0];
    REG16(cpu, R_ESI) = v[1];
    REG16(cpu, R_EBP) = v[2];
    REG16(cpu, R_EBX) = v[4];
    REG16(cpu, R_EDX) = v[5];
    REG16(cpu, R_ECX) = v[6];
    REG16(cpu, R_EAX) = v[7];
    set_sp(cpu, ESP(cpu) + 16);
    NEXT(cpu, i);
}

static void op_popa32(struct cpu *cpu, const struct insn *i)
{
    uint32_t v[8];
    for (int k = 0; k < 8; k++) v[k] = stack_peek(cpu, (uint32_t)k * 4, 4);
    EDI(cpu) = v[0];
    ESI(cpu) = v[1];
    EBP(cpu) = v[2];
    EBX(cpu) = v[4];
    EDX(cpu) = v[5];
    ECX(cpu) = v[6];
    EAX(cpu) = v[7];
    set_sp(cpu, ESP(cpu) + 32);
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * 8F /0 POP Ev, FF /6 PUSH Ev. */

/* POP Ev computes its address after ESP is incremented (SDM POP): only a base
 * of ESP (32-bit addressing) can see the difference. */
static ALWAYS_INLINE uint32_t pop_ev_off(const struct cpu *cpu, const struct insn *i, uint32_t new_esp)
{
    uint32_t base = i->base == R_ESP ? new_esp : cpu->gpr.r32[i->base];
    return (i->disp + base + (cpu->gpr.r32[i->index] << i->scale)) & i->amask;
}

static void op_pop_ev_r16(struct cpu *cpu, const struct insn *i)
{
    uint16_t v = pop16(cpu);
    REG16(cpu, i->rm) = v;
    NEXT(cpu, i);
}

static void op_pop_ev_r32(struct cpu *cpu, const struct insn *i)
{
    uint32_t v = pop32(cpu);
    REG32(cpu, i->rm) = v;
    NEXT(cpu, i);
}

static void op_pop_ev_m16(struct cpu *cpu, const struct insn *i)
{
    uint32_t mask = sp_mask(cpu);
    uint16_t v = (uint16_t)stack_peek(cpu, 0, 2);
    uint32_t new_esp = (ESP(cpu) & ~mask) | ((ESP(cpu) + 2) & mask);
    wr16(cpu, i->seg, pop_ev_off(cpu, i, new_esp), v);
    ESP(cpu) = new_esp;
    NEXT(cpu, i);
}

static void op_pop_ev_m32(struct cpu *cpu, const struct insn *i)
{
    uint32_t mask = sp_mask(cpu);
    uint32_t v = stack_peek(cpu, 0, 4);
    uint32_t new_esp = (ESP(cpu) & ~mask) | ((ESP(cpu) + 4) & mask);
    wr32(cpu, i->seg, pop_ev_off(cpu, i, new_esp), v);
    ESP(cpu) = new_esp;
    NEXT(cpu, i);
}

/* PUSH Ev reads its operand (address computed with the old ESP) before the push. */
static void op_push_ev_r16(struct cpu *cpu, const struct insn *i)
{
    push16(cpu, REG16(cpu, i->rm));
    NEXT(cpu, i);
}

static void op_push_ev_r32(struct cpu *cpu, const struct insn *i)
{
    push32(cpu, REG32(cpu, i->rm));
    NEXT(cpu, i);
}

static void op_push_ev_m16(struct cpu *cpu, const struct insn *i)
{
    push16(cpu, rdm16(cpu, i));
    NEXT(cpu, i);
}

static void op_push_ev_m32(struct cpu *cpu, const struct insn *i)
{
    push32(cpu, rdm32(cpu, i));
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * PUSHF / POPF / CLI / STI and the virtual interrupt flag (SDM PUSHF, POPF, CLI,
 * STI; vol. 3, 20.2.7 and 20.3-20.4). In virtual-8086 mode with IOPL < 3 they
 * raise #GP(0), except that with CR4.VME the 16-bit PUSHF/POPF and CLI/STI work
 * on VIF instead of IF; at CPL 3 in protected mode, CR4.PVI does the same for
 * CLI/STI. CPUID may not report VME, in which case CR4.VME and PVI stay 0. */

static ALWAYS_INLINE int v86_iopl_low(const struct cpu *cpu)
{
    return cpu->v86 && iopl(cpu) < 3;
}

static void op_pushf16(struct cpu *cpu, const struct insn *i)
{
    uint32_t f = cpu_eflags(cpu);
    if (unlikely(v86_iopl_low(cpu))) {
        if (!(cpu->cr4 & CR4_VME)) RAISE_GP(cpu, 0);
        /* The image shows VIF as IF and IOPL as 3. */
        f = (f & ~F_IF) | ((f & F_VIF) ? F_IF : 0) | F_IOPL;
    }
    push16(cpu, (uint16_t)f);
    NEXT(cpu, i);
}

/* VM and RF are stored as 0 in the image. */
static void op_pushf32(struct cpu *cpu, const struct insn *i)
{
    if (unlikely(v86_iopl_low(cpu))) RAISE_GP(cpu, 0);
    push32(cpu, cpu_eflags(cpu) & ~(F_VM | F_RF));
    NEXT(cpu, i);
}

/* The flags POPF may change here: IOPL only at CPL 0 (or in real mode), IF only
 * when CPL <= IOPL; VM, VIP, VIF never. V86 with IOPL < 3 is handled by the callers. */
static uint32_t popf_mask(const struct cpu *cpu)
{
    uint32_t mask = F_OSZAPC | F_TF | F_DF | F_NT | F_AC | F_ID;
    if (!cpu->pmode)
        return mask | F_IF | F_IOPL;
    if (cpu->v86)
        return mask | F_IF;
    if (cpu->cpl == 0) mask |= F_IOPL;
    if (cpu->cpl <= iopl(cpu)) mask |= F_IF;
    return mask;
}

/* 16-bit POPF in V86 with IOPL < 3 and CR4.VME: IF goes to VIF; #GP(0) if that
 * would enable interrupts with one pending (VIP) or if TF would be set. */
static void popf16_vme(struct cpu *cpu, const struct insn *i)
{
    if (!(cpu->cr4 & CR4_VME)) RAISE_GP(cpu, 0);
    uint32_t v = stack_peek(cpu, 0, 2);
    if (((cpu->eflags & F_VIP) && (v & F_IF)) || (v & F_TF)) RAISE_GP(cpu, 0);
    set_sp(cpu, ESP(cpu) + 2);
    uint32_t mask = (F_OSZAPC | F_TF | F_DF | F_NT) & 0xFFFFu;
    cpu_set_eflags_masked(cpu, (v & mask) | ((v & F_IF) ? F_VIF : 0), mask | F_VIF);
}

/* A 16-bit POPF changes only the low 16 bits. */
static void op_popf16(struct cpu *cpu, const struct insn *i)
{
    if (unlikely(v86_iopl_low(cpu))) {
        popf16_vme(cpu, i);
        END_NEXT(cpu, i);
    }
    uint32_t mask = popf_mask(cpu) & 0xFFFFu;
    uint32_t v = stack_peek(cpu, 0, 2);
    set_sp(cpu, ESP(cpu) + 2);
    cpu_set_eflags_masked(cpu, v, mask);
    END_NEXT(cpu, i);
}

/* A 32-bit POPF clears RF. */
static void op_popf32(struct cpu *cpu, const struct insn *i)
{
    if (unlikely(v86_iopl_low(cpu))) RAISE_GP(cpu, 0);
    uint32_t mask = popf_mask(cpu) | F_RF;
    uint32_t v = stack_peek(cpu, 0, 4) & ~F_RF;
    set_sp(cpu, ESP(cpu) + 4);
    cpu_set_eflags_masked(cpu, v, mask);
    END_NEXT(cpu, i);
}

/* Which flag CLI/STI change: IF (returns 1) when CPL <= IOPL (always in real
 * mode; IOPL 3 in V86), VIF (returns 0) under CR4.VME in V86 or CR4.PVI at CPL 3,
 * else #GP(0). */
static int if_is_real(struct cpu *cpu)
{
    if (!cpu->pmode) return 1;
    if (cpu->v86) {
        if (iopl(cpu) == 3) return 1;
        if (cpu->cr4 & CR4_VME) return 0;
    } else {
        if (cpu->cpl <= iopl(cpu)) return 1;
        if (cpu->cpl == 3 && (cpu->cr4 & CR4_PVI)) return 0;
    }
    RAISE_GP(cpu, 0);
}

static void op_cli(struct cpu *cpu, const struct insn *i)
{
    cpu_set_eflags_masked(cpu, 0, if_is_real(cpu) ? F_IF : F_VIF);
    NEXT(cpu, i);
}

/* STI: interrupts are recognised only after the next instruction, and only when
 * IF was 0 before (SDM STI). Setting VIF with VIP pending is #GP(0). */
static void op_sti(struct cpu *cpu, const struct insn *i)
{
    if (!if_is_real(cpu)) {
        if (cpu->eflags & F_VIP) RAISE_GP(cpu, 0);
        cpu_set_eflags_masked(cpu, F_VIF, F_VIF);
        END_NEXT(cpu, i);
    }
    if (!(cpu->eflags & F_IF)) {
        cpu_set_eflags_masked(cpu, F_IF, F_IF);
        cpu->inhibit_irq = 1;
    }
    END_NEXT(cpu, i);
}

/* DF is held in cpu->eflags as it is and has no derived state. */
static void op_cld(struct cpu *cpu, const struct insn *i)
{
    cpu->eflags &= ~F_DF;
    NEXT(cpu, i);
}

static void op_std(struct cpu *cpu, const struct insn *i)
{
    cpu->eflags |= F_DF;
    NEXT(cpu, i);
}

static void op_hlt(struct cpu *cpu, const struct insn *i)
{
    if (cpu->pmode && (cpu->v86 || cpu->cpl != 0))
        RAISE_GP(cpu, 0);
    cpu->halted = 1;
    END_NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * Conditional and unconditional near jumps. The target wraps to the operand size. */

static void op_jcc16(struct cpu *cpu, const struct insn *i)
{
    if (cond_eval(cpu, i->opcode & 15)) {
        uint32_t target = (EIP_NEXT(cpu, i) + i->imm) & 0xFFFFu;
        check_near_target(cpu, target);
        END_AT(cpu, target);
    }
    END_NEXT(cpu, i);
}

static void op_jcc32(struct cpu *cpu, const struct insn *i)
{
    if (cond_eval(cpu, i->opcode & 15)) {
        uint32_t target = EIP_NEXT(cpu, i) + i->imm;
        check_near_target(cpu, target);
        END_AT(cpu, target);
    }
    END_NEXT(cpu, i);
}

static void op_jmp_rel16(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = (EIP_NEXT(cpu, i) + i->imm) & 0xFFFFu;
    check_near_target(cpu, target);
    END_AT(cpu, target);
}

static void op_jmp_rel32(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = EIP_NEXT(cpu, i) + i->imm;
    check_near_target(cpu, target);
    END_AT(cpu, target);
}

static void op_jmp_ev_r16(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = REG16(cpu, i->rm);
    check_near_target(cpu, target);
    END_AT(cpu, target);
}

static void op_jmp_ev_r32(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = REG32(cpu, i->rm);
    check_near_target(cpu, target);
    END_AT(cpu, target);
}

static void op_jmp_ev_m16(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = rdm16(cpu, i);
    check_near_target(cpu, target);
    END_AT(cpu, target);
}

static void op_jmp_ev_m32(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = rdm32(cpu, i);
    check_near_target(cpu, target);
    END_AT(cpu, target);
}

/* ---------------------------------------------------------------------------
 * LOOPNE / LOOPE / LOOP / JCXZ: the counter is CX or ECX by address size, the
 * target wraps to the operand size. The counter is written only after the
 * target check, so a #GP leaves it as it was. */

enum loop_kind { LOOP_NE, LOOP_E, LOOP_ANY };

static ALWAYS_INLINE void loop_common(struct cpu *cpu, const struct insn *i, uint32_t opmask, enum loop_kind kind)
{
    int a32 = (i->pfx & PFX_ADDR32) != 0;
    uint32_t count = (a32 ? ECX(cpu) : REG16(cpu, R_ECX)) - 1u;
    if (!a32) count &= 0xFFFFu;
    int taken = count != 0;
    if (kind == LOOP_NE) taken = taken && !flag_zf(cpu);
    else if (kind == LOOP_E) taken = taken && flag_zf(cpu);
    uint32_t target = (EIP_NEXT(cpu, i) + i->imm) & opmask;
    if (taken) check_near_target(cpu, target);
    if (a32) ECX(cpu) = count;
    else REG16(cpu, R_ECX) = (uint16_t)count;
    cpu->eip = taken ? target : EIP_NEXT(cpu, i);
}

static void op_loopne16(struct cpu *cpu, const struct insn *i) { loop_common(cpu, i, 0xFFFFu, LOOP_NE); }
static void op_loopne32(struct cpu *cpu, const struct insn *i) { loop_common(cpu, i, 0xFFFFFFFFu, LOOP_NE); }
static void op_loope16(struct cpu *cpu, const struct insn *i) { loop_common(cpu, i, 0xFFFFu, LOOP_E); }
static void op_loope32(struct cpu *cpu, const struct insn *i) { loop_common(cpu, i, 0xFFFFFFFFu, LOOP_E); }
static void op_loop16(struct cpu *cpu, const struct insn *i) { loop_common(cpu, i, 0xFFFFu, LOOP_ANY); }
static void op_loop32(struct cpu *cpu, const struct insn *i) { loop_common(cpu, i, 0xFFFFFFFFu, LOOP_ANY); }

static ALWAYS_INLINE void jcxz_common(struct cpu *cpu, const struct insn *i, uint32_t opmask)
{
    uint32_t count = (i->pfx & PFX_ADDR32) ? ECX(cpu) : REG16(cpu, R_ECX);
    if (count == 0) {
        uint32_t target = (EIP_NEXT(cpu, i) + i->imm) & opmask;
        check_near_target(cpu, target);
        END_AT(cpu, target);
    }
    END_NEXT(cpu, i);
}

static void op_jcxz16(struct cpu *cpu, const struct insn *i) { jcxz_common(cpu, i, 0xFFFFu); }
static void op_jcxz32(struct cpu *cpu, const struct insn *i) { jcxz_common(cpu, i, 0xFFFFFFFFu); }

/* ---------------------------------------------------------------------------
 * CALL and RET near. The target is checked before the return address is pushed. */

static void op_call_rel16(struct cpu *cpu, const struct insn *i)
{
    uint32_t next = EIP_NEXT(cpu, i);
    uint32_t target = (next + i->imm) & 0xFFFFu;
    check_near_target(cpu, target);
    push16(cpu, (uint16_t)next);
    END_AT(cpu, target);
}

static void op_call_rel32(struct cpu *cpu, const struct insn *i)
{
    uint32_t next = EIP_NEXT(cpu, i);
    uint32_t target = next + i->imm;
    check_near_target(cpu, target);
    push32(cpu, next);
    END_AT(cpu, target);
}

static void op_call_ev_r16(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = REG16(cpu, i->rm);
    check_near_target(cpu, target);
    push16(cpu, (uint16_t)EIP_NEXT(cpu, i));
    END_AT(cpu, target);
}

static void op_call_ev_r32(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = REG32(cpu, i->rm);
    check_near_target(cpu, target);
    push32(cpu, EIP_NEXT(cpu, i));
    END_AT(cpu, target);
}

static void op_call_ev_m16(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = rdm16(cpu, i);
    check_near_target(cpu, target);
    push16(cpu, (uint16_t)EIP_NEXT(cpu, i));
    END_AT(cpu, target);
}

static void op_call_ev_m32(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = rdm32(cpu, i);
    check_near_target(cpu, target);
    push32(cpu, EIP_NEXT(cpu, i));
    END_AT(cpu, target);
}

static void op_ret16(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = stack_peek(cpu, 0, 2);
    check_near_target(cpu, target);
    set_sp(cpu, ESP(cpu) + 2);
    END_AT(cpu, target);
}

static void op_ret32(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = stack_peek(cpu, 0, 4);
    check_near_target(cpu, target);
    set_sp(cpu, ESP(cpu) + 4);
    END_AT(cpu, target);
}

/* RET imm16: release imm16 more bytes after the return address. */
static void op_ret_imm16(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = stack_peek(cpu, 0, 2);
    check_near_target(cpu, target);
    set_sp(cpu, ESP(cpu) + 2 + (i->imm & 0xFFFFu));
    END_AT(cpu, target);
}

static void op_ret_imm32(struct cpu *cpu, const struct insn *i)
{
    uint32_t target = stack_peek(cpu, 0, 4);
    check_near_target(cpu, target);
    set_sp(cpu, ESP(cpu) + 4 + (i->imm & 0xFFFFu));
    END_AT(cpu, target);
}

/* ---------------------------------------------------------------------------
 * ENTER / LEAVE (SDM ENTER: the nesting level is imm8 mod 32; levels above 1
 * copy level-1 frame pointers from the enclosing frame, read at eBP-2, -4...
 * with the stack size's arithmetic). Registers change only after every access.
 *
 * The SDM lists #SS(0) when the new eSP is outside the stack segment: the slot
 * at the final eSP is checked against the limits (not probed through paging). */

static void op_enter16(struct cpu *cpu, const struct insn *i)
{
    uint32_t mask = sp_mask(cpu);
    uint32_t level = i->imm2 & 31u;
    uint32_t sp = (ESP(cpu) - 2) & mask;
    wr16(cpu, S_SS, sp, REG16(cpu, R_EBP));
    uint16_t frame = (uint16_t)sp;
    if (level > 0) {
        uint32_t bp = EBP(cpu);
        for (uint32_t k = 1; k < level; k++) {
            bp = (bp - 2) & mask;
            uint16_t v = rd16(cpu, S_SS, bp);
            sp = (sp - 2) & mask;
            wr16(cpu, S_SS, sp, v);
        }
        sp = (sp - 2) & mask;
        wr16(cpu, S_SS, sp, frame);
    }
    uint32_t final_sp = (sp - (i->imm & 0xFFFFu)) & mask;
    seg_check_write(cpu, S_SS, final_sp, 2);
    REG16(cpu, R_EBP) = frame;
    set_sp(cpu, final_sp);
    NEXT(cpu, i);
}

static void op_enter32(struct cpu *cpu, const struct insn *i)
{
    uint32_t mask = sp_mask(cpu);
    uint32_t level = i->imm2 & 31u;
    uint32_t sp = (ESP(cpu) - 4) & mask;
    wr32(cpu, S_SS, sp, EBP(cpu));
    uint32_t frame = (ESP(cpu) & ~mask) | sp;   /* eSP after the push of eBP */
    if (level > 0) {
        uint32_t bp = EBP(cpu);
        for (uint32_t k = 1; k < level; k++) {
            bp = (bp - 4) & mask;
            uint32_t v = rd32(cpu, S_SS, bp);
            sp = (sp - 4) & mask;
            wr32(cpu, S_SS, sp, v);
        }
        sp = (sp - 4) & mask;
        wr32(cpu, S_SS, sp, frame);
    }
    uint32_t final_sp = (sp - (i->imm & 0xFFFFu)) & mask;
    seg_check_write(cpu, S_SS, final_sp, 4);
    EBP(cpu) = frame;
    set_sp(cpu, final_sp);
    NEXT(cpu, i);
}

/* LEAVE: eSP <- eBP (by stack size), then pop eBP (by operand size). */
static void op_leave16(struct cpu *cpu, const struct insn *i)
{
    uint32_t sp = EBP(cpu) & sp_mask(cpu);
    uint16_t v = rd16(cpu, S_SS, sp);
    set_sp(cpu, sp + 2);
    REG16(cpu, R_EBP) = v;
    NEXT(cpu, i);
}

static void op_leave32(struct cpu *cpu, const struct insn *i)
{
    uint32_t sp = EBP(cpu) & sp_mask(cpu);
    uint32_t v = rd32(cpu, S_SS, sp);
    set_sp(cpu, sp + 4);
    EBP(cpu) = v;
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * Software interrupts and BOUND. cpu_deliver leaves cpu->eip at the handler. */

/* The exec loop tells the exception hook and the -d int log about exceptions and
 * external interrupts; instruction-made interrupts are reported here. */
static void soft_interrupt(struct cpu *cpu, const struct insn *i, int vec, enum int_kind kind)
{
    if (cpu->exc_hook) cpu->exc_hook(cpu->exc_hook_opaque, vec, 0, 0, kind != INT_ICEBP);
    if (cpu->log_mask & LOG_INT)
        cpu_log(cpu, "software interrupt v=%02x cpl=%d %04x:%08x esp=%08x eflags=%08x\n", vec, cpu->cpl,
                cpu->seg[S_CS].sel, EIP_CUR(cpu, i), ESP(cpu), cpu_eflags(cpu));
    cpu_deliver(cpu, vec, kind, 0, 0, EIP_NEXT(cpu, i));
}

static void op_int3(struct cpu *cpu, const struct insn *i)
{
    soft_interrupt(cpu, i, EXC_BP, INT_SOFT_EXC);
}

/* INT n is IOPL-sensitive in virtual-8086 mode (SDM vol. 3, 20.3.3): #GP(0) with
 * IOPL < 3, checked here before the hook hears of the interrupt; under CR4.VME
 * cpu_deliver decides (redirection bitmap). */
static void op_int_imm(struct cpu *cpu, const struct insn *i)
{
    if (unlikely(v86_iopl_low(cpu)) && !(cpu->cr4 & CR4_VME))
        RAISE_GP(cpu, 0);
    soft_interrupt(cpu, i, (int)(i->imm & 0xFFu), INT_SOFT);
}

static void op_into(struct cpu *cpu, const struct insn *i)
{
    if (flag_of(cpu)) {
        soft_interrupt(cpu, i, EXC_OF, INT_SOFT_EXC);
        return;
    }
    END_NEXT(cpu, i);
}

/* F1 (ICEBP/INT1): a #DB delivered like an exception trap, without the gate DPL check. */
static void op_icebp(struct cpu *cpu, const struct insn *i)
{
    soft_interrupt(cpu, i, EXC_DB, INT_ICEBP);
}

/* BOUND: #BR (a fault) when the signed index lies outside [lower, upper]. */
static void op_bound16(struct cpu *cpu, const struct insn *i)
{
    uint32_t off = ea_off(cpu, i);
    int16_t lower = (int16_t)rd16(cpu, i->seg, off);
    int16_t upper = (int16_t)rd16(cpu, i->seg, (off + 2) & i->amask);
    int16_t index = (int16_t)REG16(cpu, i->reg);
    if (index < lower || index > upper)
        cpu_raise(cpu, EXC_BR, 0);
    NEXT(cpu, i);
}

static void op_bound32(struct cpu *cpu, const struct insn *i)
{
    uint32_t off = ea_off(cpu, i);
    int32_t lower = (int32_t)rd32(cpu, i->seg, off);
    int32_t upper = (int32_t)rd32(cpu, i->seg, (off + 4) & i->amask);
    int32_t index = (int32_t)REG32(cpu, i->reg);
    if (index < lower || index > upper)
        cpu_raise(cpu, EXC_BR, 0);
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * IN / OUT. OUT ends the block: a device may raise an interrupt, change the A20
 * gate or the memory map, or ask the CPU to stop, and the loop should see it
 * before the next instruction. */

static void op_in_al_imm(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = (uint16_t)(i->imm & 0xFFu);
    io_check(cpu, port, 1);
    REG8(cpu, 0) = (uint8_t)io_read(cpu->io, port, 1);
    NEXT(cpu, i);
}

static void op_in_ax_imm(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = (uint16_t)(i->imm & 0xFFu);
    io_check(cpu, port, 2);
    REG16(cpu, R_EAX) = (uint16_t)io_read(cpu->io, port, 2);
    NEXT(cpu, i);
}

static void op_in_eax_imm(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = (uint16_t)(i->imm & 0xFFu);
    io_check(cpu, port, 4);
    EAX(cpu) = io_read(cpu->io, port, 4);
    NEXT(cpu, i);
}

static void op_out_imm_al(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = (uint16_t)(i->imm & 0xFFu);
    io_check(cpu, port, 1);
    io_write(cpu->io, port, REG8(cpu, 0), 1);
    END_NEXT(cpu, i);
}

static void op_out_imm_ax(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = (uint16_t)(i->imm & 0xFFu);
    io_check(cpu, port, 2);
    io_write(cpu->io, port, REG16(cpu, R_EAX), 2);
    END_NEXT(cpu, i);
}

static void op_out_imm_eax(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = (uint16_t)(i->imm & 0xFFu);
    io_check(cpu, port, 4);
    io_write(cpu->io, port, EAX(cpu), 4);
    END_NEXT(cpu, i);
}

static void op_in_al_dx(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = REG16(cpu, R_EDX);
    io_check(cpu, port, 1);
    REG8(cpu, 0) = (uint8_t)io_read(cpu->io, port, 1);
    NEXT(cpu, i);
}

static void op_in_ax_dx(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = REG16(cpu, R_EDX);
    io_check(cpu, port, 2);
    REG16(cpu, R_EAX) = (uint16_t)io_read(cpu->io, port, 2);
    NEXT(cpu, i);
}

static void op_in_eax_dx(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = REG16(cpu, R_EDX);
    io_check(cpu, port, 4);
    EAX(cpu) = io_read(cpu->io, port, 4);
    NEXT(cpu, i);
}

static void op_out_dx_al(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = REG16(cpu, R_EDX);
    io_check(cpu, port, 1);
    io_write(cpu->io, port, REG8(cpu, 0), 1);
    END_NEXT(cpu, i);
}

static void op_out_dx_ax(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = REG16(cpu, R_EDX);
    io_check(cpu, port, 2);
    io_write(cpu->io, port, REG16(cpu, R_EAX), 2);
    END_NEXT(cpu, i);
}

static void op_out_dx_eax(struct cpu *cpu, const struct insn *i)
{
    uint16_t port = REG16(cpu, R_EDX);
    io_check(cpu, port, 4);
    io_write(cpu->io, port, EAX(cpu), 4);
    END_NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * XLAT and the NOPs with a ModRM. */

/* AL <- [seg:eBX + AL] (the address wraps to the address size). */
static void op_xlat(struct cpu *cpu, const struct insn *i)
{
    uint32_t off = (EBX(cpu) + REG8(cpu, 0)) & i->amask;
    REG8(cpu, 0) = rd8(cpu, i->seg, off);
    NEXT(cpu, i);
}

/* 0F 1F /0 (NOP Ev), the 0F 18 prefetch hints and the reserved-NOP space 0F 19-1F:
 * no memory access, hence no fault (SDM NOP, PREFETCHh). */
static void op_nop_ev(struct cpu *cpu, const struct insn *i)
{
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * Registration. */

static void reg_pair(unsigned opcode, unsigned flags, insn_fn *f16, insn_fn *f32)
{
    op_register(opcode, -1, OS16, flags, f16, NULL);
    op_register(opcode, -1, OS32, flags, f32, NULL);
}

static void reg_group(unsigned opcode, int group, unsigned flags,
                      insn_fn *r16, insn_fn *m16, insn_fn *r32, insn_fn *m32)
{
    op_register(opcode, group, OS16, flags, r16, m16);
    op_register(opcode, group, OS32, flags, r32, m32);
}

void ops_flow_init(void)
{
    /* Segment registers. */
    reg_pair(0x06, 0, op_push_es16, op_push_es32);
    reg_pair(0x07, 0, op_pop_es16, op_pop_es32);
    reg_pair(0x0E, 0, op_push_cs16, op_push_cs32);
    reg_pair(0x16, 0, op_push_ss16, op_push_ss32);
    reg_pair(0x17, OPF_END, op_pop_ss16, op_pop_ss32);
    reg_pair(0x1E, 0, op_push_ds16, op_push_ds32);
    reg_pair(0x1F, 0, op_pop_ds16, op_pop_ds32);
    reg_pair(0x1A0, 0, op_push_fs16, op_push_fs32);
    reg_pair(0x1A1, 0, op_pop_fs16, op_pop_fs32);
    reg_pair(0x1A8, 0, op_push_gs16, op_push_gs32);
    reg_pair(0x1A9, 0, op_pop_gs16, op_pop_gs32);

    /* General registers, immediates, memory, all, flags. */
    for (unsigned r = 0; r < 8; r++) {
        reg_pair(0x50 + r, 0, op_push_r16, op_push_r32);
        reg_pair(0x58 + r, 0, op_pop_r16, op_pop_r32);
    }
    reg_pair(0x60, 0, op_pusha16, op_pusha32);
    reg_pair(0x61, 0, op_popa16, op_popa32);
    reg_group(0x62, -1, OPF_MODRM, NULL, op_bound16, NULL, op_bound32);
    reg_pair(0x68, OPF_IMMV, op_push_imm16, op_push_imm32);
    reg_pair(0x6A, OPF_IMM8S, op_push_imm16, op_push_imm32);
    reg_group(0x8F, 0, OPF_MODRM, op_pop_ev_r16, op_pop_ev_m16, op_pop_ev_r32, op_pop_ev_m32);
    reg_group(0xFF, 6, OPF_MODRM, op_push_ev_r16, op_push_ev_m16, op_push_ev_r32, op_push_ev_m32);
    reg_pair(0x9C, 0, op_pushf16, op_pushf32);
    reg_pair(0x9D, OPF_END, op_popf16, op_popf32);
    reg_pair(0xC8, OPF_IMM16 | OPF_IMM8_2, op_enter16, op_enter32);
    reg_pair(0xC9, 0, op_leave16, op_leave32);

    /* Near branches. */
    for (unsigned cc = 0; cc < 16; cc++) {
        reg_pair(0x70 + cc, OPF_REL8 | OPF_END, op_jcc16, op_jcc32);
        reg_pair(0x180 + cc, OPF_RELV | OPF_END, op_jcc16, op_jcc32);
    }
    reg_pair(0xC2, OPF_IMM16 | OPF_END, op_ret_imm16, op_ret_imm32);
    reg_pair(0xC3, OPF_END, op_ret16, op_ret32);
    reg_pair(0xE0, OPF_REL8 | OPF_END, op_loopne16, op_loopne32);
    reg_pair(0xE1, OPF_REL8 | OPF_END, op_loope16, op_loope32);
    reg_pair(0xE2, OPF_REL8 | OPF_END, op_loop16, op_loop32);
    reg_pair(0xE3, OPF_REL8 | OPF_END, op_jcxz16, op_jcxz32);
    reg_pair(0xE8, OPF_RELV | OPF_END, op_call_rel16, op_call_rel32);
    reg_pair(0xE9, OPF_RELV | OPF_END, op_jmp_rel16, op_jmp_rel32);
    reg_pair(0xEB, OPF_REL8 | OPF_END, op_jmp_rel16, op_jmp_rel32);
    reg_group(0xFF, 2, OPF_MODRM | OPF_END, op_call_ev_r16, op_call_ev_m16, op_call_ev_r32, op_call_ev_m32);
    reg_group(0xFF, 4, OPF_MODRM | OPF_END, op_jmp_ev_r16, op_jmp_ev_m16, op_jmp_ev_r32, op_jmp_ev_m32);
    op_register(0xFF, 7, OSALL, OPF_MODRM, NULL, NULL);   /* FF /7 is not an instruction: #UD */

    /* Interrupts. */
    reg_pair(0xCC, OPF_END, op_int3, op_int3);
    reg_pair(0xCD, OPF_IMM8 | OPF_END, op_int_imm, op_int_imm);
    reg_pair(0xCE, OPF_END, op_into, op_into);
    reg_pair(0xF1, OPF_END, op_icebp, op_icebp);

    /* Port I/O. */
    reg_pair(0xE4, OPF_IMM8, op_in_al_imm, op_in_al_imm);
    reg_pair(0xE5, OPF_IMM8, op_in_ax_imm, op_in_eax_imm);
    reg_pair(0xE6, OPF_IMM8 | OPF_END, op_out_imm_al, op_out_imm_al);
    reg_pair(0xE7, OPF_IMM8 | OPF_END, op_out_imm_ax, op_out_imm_eax);
    reg_pair(0xEC, 0, op_in_al_dx, op_in_al_dx);
    reg_pair(0xED, 0, op_in_ax_dx, op_in_eax_dx);
    reg_pair(0xEE, OPF_END, op_out_dx_al, op_out_dx_al);
    reg_pair(0xEF, OPF_END, op_out_dx_ax, op_out_dx_eax);

    /* Flags and the rest. */
    reg_pair(0xF4, OPF_END, op_hlt, op_hlt);
    reg_pair(0xFA, 0, op_cli, op_cli);
    reg_pair(0xFB, OPF_END, op_sti, op_sti);
    reg_pair(0xFC, 0, op_cld, op_cld);
    reg_pair(0xFD, 0, op_std, op_std);
    reg_pair(0xD7, 0, op_xlat, op_xlat);
    for (unsigned op = 0x118; op <= 0x11F; op++)
        reg_group(op, -1, OPF_MODRM, op_nop_ev, op_nop_ev, op_nop_ev, op_nop_ev);

    ops_string_init();
}
