/* System instructions: segment register moves and loads, far transfers,
 * descriptor-table and task registers, LAR/LSL/VERR/VERW, control and debug
 * registers, MSRs, the time-stamp and performance counters, SYSENTER/SYSEXIT
 * and CPUID. The descriptor-level work of far transfers and segment loads is in
 * cpu/seg.c; this file decodes operands, checks privilege and calls it. */
#include "seg.h"

/* ---------------------------------------------------------------------------
 * Small shared checks. */

/* Privileged instructions: CPL 0 in protected mode; V86 runs at CPL 3. Real mode passes. */
static void require_cpl0(struct cpu *cpu)
{
    if (cpu->v86 || (cpu->pmode && cpu->cpl != 0))
        RAISE_GP(cpu, 0);
}

/* Instructions that do not exist in real and virtual-8086 mode (group 6, LAR, LSL, ARPL). */
static void require_protected_mode(struct cpu *cpu)
{
    if (!cpu->pmode || cpu->v86)
        RAISE_UD(cpu);
}

static void set_zf(struct cpu *cpu, int zf)
{
    lf_update(cpu, F_ZF, zf ? F_ZF : 0);
}

/* Offset of the n-th byte of the memory operand, wrapped at the address size. */
static uint32_t ea_plus(const struct cpu *cpu, const struct insn *i, uint32_t n)
{
    return (ea_off(cpu, i) + n) & i->amask;
}

/* ---------------------------------------------------------------------------
 * 8C MOV Ev,Sreg and 8E MOV Sreg,Ev. Registered for sreg 0-5 only (6 and 7 are #UD). */

/* With a 32-bit register destination the selector is zero-extended (P6 and
 * later, SDM vol. 2 MOV); memory destinations are always 16 bits. */
static void mov_rm_sreg_r16(struct cpu *cpu, const struct insn *i)
{
    REG16(cpu, i->rm) = cpu->seg[i->reg].sel;
    NEXT(cpu, i);
}

static void mov_rm_sreg_r32(struct cpu *cpu, const struct insn *i)
{
    REG32(cpu, i->rm) = cpu->seg[i->reg].sel;
    NEXT(cpu, i);
}

static void mov_rm_sreg_m(struct cpu *cpu, const struct insn *i)
{
    wrm16(cpu, i, cpu->seg[i->reg].sel);
    NEXT(cpu, i);
}

static void mov_sreg_rm_r(struct cpu *cpu, const struct insn *i)
{
    seg_load(cpu, i->reg, REG16(cpu, i->rm));
    NEXT(cpu, i);
}

static void mov_sreg_rm_m(struct cpu *cpu, const struct insn *i)
{
    seg_load(cpu, i->reg, rdm16(cpu, i));
    NEXT(cpu, i);
}

/* MOV SS holds off interrupts until the next instruction has run (SDM vol. 2 MOV). */
static void mov_ss_rm_r(struct cpu *cpu, const struct insn *i)
{
    seg_load(cpu, S_SS, REG16(cpu, i->rm));
    cpu->inhibit_irq = 1;
    END_NEXT(cpu, i);
}

static void mov_ss_rm_m(struct cpu *cpu, const struct insn *i)
{
    seg_load(cpu, S_SS, rdm16(cpu, i));
    cpu->inhibit_irq = 1;
    END_NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * 63 ARPL Ew,Gw: raise the destination selector's RPL to the source's. */

static void arpl_r(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    uint16_t dst = REG16(cpu, i->rm), src = REG16(cpu, i->reg);
    int adjust = (dst & 3) < (src & 3);
    if (adjust)
        REG16(cpu, i->rm) = (uint16_t)((dst & ~3) | (src & 3));
    set_zf(cpu, adjust);
    NEXT(cpu, i);
}

/* The memory operand is written only when the RPL changes. */
static void arpl_m(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    uint16_t dst = rdm16(cpu, i), src = REG16(cpu, i->reg);
    int adjust = (dst & 3) < (src & 3);
    if (adjust)
        wrm16(cpu, i, (uint16_t)((dst & ~3) | (src & 3)));
    set_zf(cpu, adjust);
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * Far transfers. far_jmp/far_call/far_ret/iret set cpu->eip themselves. */

static void call_far_ptr16(struct cpu *cpu, const struct insn *i)
{
    far_call(cpu, i->imm2, i->imm & 0xFFFF, 0, EIP_NEXT(cpu, i));
}

static void call_far_ptr32(struct cpu *cpu, const struct insn *i)
{
    far_call(cpu, i->imm2, i->imm, 1, EIP_NEXT(cpu, i));
}

static void jmp_far_ptr16(struct cpu *cpu, const struct insn *i)
{
    far_jmp(cpu, i->imm2, i->imm & 0xFFFF, 0, EIP_NEXT(cpu, i));
}

static void jmp_far_ptr32(struct cpu *cpu, const struct insn *i)
{
    far_jmp(cpu, i->imm2, i->imm, 1, EIP_NEXT(cpu, i));
}

/* FF /3 and FF /5: the far pointer is in memory, offset first, selector after it. */
static void call_far_m16(struct cpu *cpu, const struct insn *i)
{
    uint16_t off = rdm16(cpu, i);
    uint16_t sel = rd16(cpu, i->seg, ea_plus(cpu, i, 2));
    far_call(cpu, sel, off, 0, EIP_NEXT(cpu, i));
}

static void call_far_m32(struct cpu *cpu, const struct insn *i)
{
    uint32_t off = rdm32(cpu, i);
    uint16_t sel = rd16(cpu, i->seg, ea_plus(cpu, i, 4));
    far_call(cpu, sel, off, 1, EIP_NEXT(cpu, i));
}

static void jmp_far_m16(struct cpu *cpu, const struct insn *i)
{
    uint16_t off = rdm16(cpu, i);
    uint16_t sel = rd16(cpu, i->seg, ea_plus(cpu, i, 2));
    far_jmp(cpu, sel, off, 0, EIP_NEXT(cpu, i));
}

static void jmp_far_m32(struct cpu *cpu, const struct insn *i)
{
    uint32_t off = rdm32(cpu, i);
    uint16_t sel = rd16(cpu, i->seg, ea_plus(cpu, i, 4));
    far_jmp(cpu, sel, off, 1, EIP_NEXT(cpu, i));
}

static void retf16(struct cpu *cpu, const struct insn *i) { far_ret(cpu, 0, 0); }
static void retf32(struct cpu *cpu, const struct insn *i) { far_ret(cpu, 1, 0); }
static void retf16_imm(struct cpu *cpu, const struct insn *i) { far_ret(cpu, 0, (uint16_t)i->imm); }
static void retf32_imm(struct cpu *cpu, const struct insn *i) { far_ret(cpu, 1, (uint16_t)i->imm); }
static void iret16(struct cpu *cpu, const struct insn *i) { iret(cpu, 0); }
static void iret32(struct cpu *cpu, const struct insn *i) { iret(cpu, 1); }

/* ---------------------------------------------------------------------------
 * LES LDS LSS LFS LGS: a far pointer from memory into Sreg:Gv. The segment is
 * loaded (the last thing that can fault) before the register is written. */

static void load_far_pointer16(struct cpu *cpu, const struct insn *i, int seg)
{
    uint16_t off = rdm16(cpu, i);
    uint16_t sel = rd16(cpu, i->seg, ea_plus(cpu, i, 2));
    seg_load(cpu, seg, sel);
    REG16(cpu, i->reg) = off;
}

static void load_far_pointer32(struct cpu *cpu, const struct insn *i, int seg)
{
    uint32_t off = rdm32(cpu, i);
    uint16_t sel = rd16(cpu, i->seg, ea_plus(cpu, i, 4));
    seg_load(cpu, seg, sel);
    REG32(cpu, i->reg) = off;
}

static void les16(struct cpu *cpu, const struct insn *i) { load_far_pointer16(cpu, i, S_ES); NEXT(cpu, i); }
static void les32(struct cpu *cpu, const struct insn *i) { load_far_pointer32(cpu, i, S_ES); NEXT(cpu, i); }
static void lds16(struct cpu *cpu, const struct insn *i) { load_far_pointer16(cpu, i, S_DS); NEXT(cpu, i); }
static void lds32(struct cpu *cpu, const struct insn *i) { load_far_pointer32(cpu, i, S_DS); NEXT(cpu, i); }
static void lfs16(struct cpu *cpu, const struct insn *i) { load_far_pointer16(cpu, i, S_FS); NEXT(cpu, i); }
static void lfs32(struct cpu *cpu, const struct insn *i) { load_far_pointer32(cpu, i, S_FS); NEXT(cpu, i); }
static void lgs16(struct cpu *cpu, const struct insn *i) { load_far_pointer16(cpu, i, S_GS); NEXT(cpu, i); }
static void lgs32(struct cpu *cpu, const struct insn *i) { load_far_pointer32(cpu, i, S_GS); NEXT(cpu, i); }
/* LSS changes the stack size: the block ends. It does not inhibit interrupts. */
static void lss16(struct cpu *cpu, const struct insn *i) { load_far_pointer16(cpu, i, S_SS); END_NEXT(cpu, i); }
static void lss32(struct cpu *cpu, const struct insn *i) { load_far_pointer32(cpu, i, S_SS); END_NEXT(cpu, i); }

/* ---------------------------------------------------------------------------
 * LAR LSL VERR VERW: the descriptor checks are seg_lar/seg_lsl/seg_verr/seg_verw
 * (cpu/seg.c); a bad selector clears ZF instead of faulting. */

/* The 16-bit r/m operand (a selector, or the MSW for LMSW). */
static uint16_t rm16_operand(struct cpu *cpu, const struct insn *i)
{
    return (i->pfx & PFX_MEM) ? rdm16(cpu, i) : REG16(cpu, i->rm);
}

static void lar16(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    uint32_t rights;
    int ok = seg_lar(cpu, rm16_operand(cpu, i), &rights);
    if (ok)
        REG16(cpu, i->reg) = (uint16_t)rights;
    set_zf(cpu, ok);
    NEXT(cpu, i);
}

static void lar32(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    uint32_t rights;
    int ok = seg_lar(cpu, rm16_operand(cpu, i), &rights);
    if (ok)
        REG32(cpu, i->reg) = rights;
    set_zf(cpu, ok);
    NEXT(cpu, i);
}

static void lsl16(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    uint32_t limit;
    int ok = seg_lsl(cpu, rm16_operand(cpu, i), &limit);
    if (ok)
        REG16(cpu, i->reg) = (uint16_t)limit;
    set_zf(cpu, ok);
    NEXT(cpu, i);
}

static void lsl32(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    uint32_t limit;
    int ok = seg_lsl(cpu, rm16_operand(cpu, i), &limit);
    if (ok)
        REG32(cpu, i->reg) = limit;
    set_zf(cpu, ok);
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * 0F 00: group 6. None of it exists in real or V86 mode. */

/* SLDT/STR to a 32-bit register zero-extend (P6 and later, SDM vol. 2 SLDT, STR). */
static void sldt_r16(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    REG16(cpu, i->rm) = cpu->ldtr.sel;
    NEXT(cpu, i);
}

static void sldt_r32(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    REG32(cpu, i->rm) = cpu->ldtr.sel;
    NEXT(cpu, i);
}

static void sldt_m(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    wrm16(cpu, i, cpu->ldtr.sel);
    NEXT(cpu, i);
}

static void str_r16(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    REG16(cpu, i->rm) = cpu->tr.sel;
    NEXT(cpu, i);
}

static void str_r32(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    REG32(cpu, i->rm) = cpu->tr.sel;
    NEXT(cpu, i);
}

static void str_m(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    wrm16(cpu, i, cpu->tr.sel);
    NEXT(cpu, i);
}

static void lldt(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    require_cpl0(cpu);
    load_ldtr(cpu, rm16_operand(cpu, i));
    NEXT(cpu, i);
}

static void ltr(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    require_cpl0(cpu);
    load_tr(cpu, rm16_operand(cpu, i));
    NEXT(cpu, i);
}

static void verr(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    set_zf(cpu, seg_verr(cpu, rm16_operand(cpu, i)));
    NEXT(cpu, i);
}

static void verw(struct cpu *cpu, const struct insn *i)
{
    require_protected_mode(cpu);
    set_zf(cpu, seg_verw(cpu, rm16_operand(cpu, i)));
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * The CPUID profile: one family-6 processor that reports what the emulator
 * implements (the leaves themselves are at the end of this file). */

#define CPUID_MAX_BASIC    2u
#define CPUID_MAX_EXT      0x80000004u
#define CPUID_SIGNATURE    ((6u << 8) | (3u << 4) | 3u)   /* family 6, model 3, stepping 3 */

#define CPUID_FPU   (1u << 0)
#define CPUID_VME   (1u << 1)
#define CPUID_DE    (1u << 2)
#define CPUID_PSE   (1u << 3)
#define CPUID_TSC   (1u << 4)
#define CPUID_MSR   (1u << 5)
#define CPUID_CX8   (1u << 8)
#define CPUID_SEP   (1u << 11)
#define CPUID_MTRR  (1u << 12)
#define CPUID_PGE   (1u << 13)
#define CPUID_CMOV  (1u << 15)
#define CPUID_PAT   (1u << 16)

/* Not reported: VME, PAE, MCE, APIC, MCA, PSE-36, MMX, FXSR, SSE. PAT is: the MSR
 * is kept and memory types have no effect on an emulator. */
#define CPUID_BASE_FEATURES (CPUID_DE | CPUID_PSE | CPUID_TSC | CPUID_MSR | CPUID_CX8 | \
                             CPUID_SEP | CPUID_MTRR | CPUID_PGE | CPUID_CMOV | CPUID_PAT)

static uint32_t cpuid_features_edx(const struct cpu *cpu)
{
    uint32_t f = CPUID_BASE_FEATURES;
    /* x87 issue: the FPU bit (0) comes from cpu->fpu; with CMOV it also promises
     * FCMOVcc and FCOMI/FUCOMI (SDM vol. 2 CPUID), which the x87 must implement. */
    if (cpu->fpu != NULL)
        f |= CPUID_FPU;
    return f;
}

/* ---------------------------------------------------------------------------
 * Control registers. */


/* CR0 bits software can change; ET is hardwired to 1 since the Pentium and the
 * other bits are reserved: setting them is ignored (SDM vol. 3, 2.5). */
#define CR0_WRITABLE (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_NE | CR0_WP | CR0_AM | \
                      CR0_NW | CR0_CD | CR0_PG)

/* CR4 bits this CPU has; the others are reserved and writing them is #GP(0).
 * VME/PVI follow the CPUID VME bit so the two never disagree. */
static uint32_t cr4_valid_bits(const struct cpu *cpu)
{
    uint32_t bits = CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | CR4_PCE;
    if (cpuid_features_edx(cpu) & CPUID_VME)
        bits |= CR4_VME | CR4_PVI;
    return bits;
}

/* Every CR0 write (MOV CR0, LMSW, CLTS): combination checks, TLB, mode. */
static void write_cr0(struct cpu *cpu, uint32_t v)
{
    if ((v & CR0_PG) && !(v & CR0_PE))
        RAISE_GP(cpu, 0);
    if ((v & CR0_NW) && !(v & CR0_CD))
        RAISE_GP(cpu, 0);
    uint32_t old = cpu->cr0;
    uint32_t nv = (old & ~CR0_WRITABLE) | (v & CR0_WRITABLE) | CR0_ET;
    cpu->cr0 = nv;
    if ((old ^ nv) & (CR0_PG | CR0_WP | CR0_PE))
        tlb_flush_all_global(cpu);
    cpu_update_mode(cpu);
}

static void write_cr3(struct cpu *cpu, uint32_t v)
{
    /* Only the directory base, PCD and PWT exist in 32-bit paging (SDM vol. 3, 4.3). */
    cpu->cr3 = v & 0xFFFFF018u;
    tlb_flush_all(cpu);
    cpu_update_mode(cpu);
}

static void write_cr4(struct cpu *cpu, uint32_t v)
{
    if (v & ~cr4_valid_bits(cpu))
        RAISE_GP(cpu, 0);
    uint32_t old = cpu->cr4;
    cpu->cr4 = v;
    if ((old ^ v) & (CR4_PGE | CR4_PSE))
        tlb_flush_all_global(cpu);
    cpu_update_mode(cpu);
}

/* 0F 20 and 0F 22 always name a register: the mod bits are ignored (SDM vol. 2 MOV CR),
 * so both forms come here and the register is ModRM.rm. Operand size does not matter. */
/* CR1 and CR5-CR7 do not exist: #UD, which takes priority over the privilege
 * check as a decoding fault (SDM vol. 3, table 6-2). */
static void require_valid_cr(struct cpu *cpu, int n)
{
    if (n == 1 || n > 4)
        RAISE_UD(cpu);
}

static void mov_r_cr(struct cpu *cpu, const struct insn *i)
{
    require_valid_cr(cpu, i->reg);
    require_cpl0(cpu);
    uint32_t v;
    switch (i->reg) {
    case 0: v = cpu->cr0; break;
    case 2: v = cpu->cr2; break;
    case 3: v = cpu->cr3; break;
    default: v = cpu->cr4; break;
    }
    REG32(cpu, i->rm) = v;
    NEXT(cpu, i);
}

static void mov_cr_r(struct cpu *cpu, const struct insn *i)
{
    require_valid_cr(cpu, i->reg);
    require_cpl0(cpu);
    uint32_t v = REG32(cpu, i->rm);
    switch (i->reg) {
    case 0: write_cr0(cpu, v); break;
    case 2: cpu->cr2 = v; break;
    case 3: write_cr3(cpu, v); break;
    default: write_cr4(cpu, v); break;
    }
    END_NEXT(cpu, i);
}

/* 0F 01 /4 SMSW: not privileged. To a 32-bit register the whole CR0 (P6
 * behaviour; the SDM calls the upper half undefined). */
static void smsw_r16(struct cpu *cpu, const struct insn *i)
{
    REG16(cpu, i->rm) = (uint16_t)cpu->cr0;
    NEXT(cpu, i);
}

static void smsw_r32(struct cpu *cpu, const struct insn *i)
{
    REG32(cpu, i->rm) = cpu->cr0;
    NEXT(cpu, i);
}

static void smsw_m(struct cpu *cpu, const struct insn *i)
{
    wrm16(cpu, i, (uint16_t)cpu->cr0);
    NEXT(cpu, i);
}

/* 0F 01 /6 LMSW: loads PE MP EM TS, and cannot clear PE (SDM vol. 2 LMSW). */
static void lmsw(struct cpu *cpu, const struct insn *i)
{
    require_cpl0(cpu);
    uint16_t msw = rm16_operand(cpu, i);
    uint32_t low4 = CR0_PE | CR0_MP | CR0_EM | CR0_TS;
    write_cr0(cpu, (cpu->cr0 & ~low4) | (msw & low4) | (cpu->cr0 & CR0_PE));
    END_NEXT(cpu, i);
}

/* 0F 06 CLTS. The block ends: x87 handlers may have been decoded for the old TS. */
static void clts(struct cpu *cpu, const struct insn *i)
{
    require_cpl0(cpu);
    cpu->cr0 &= ~CR0_TS;
    END_NEXT(cpu, i);
}

/* 0F 08 INVD, 0F 09 WBINVD: there are no caches to write back or drop. */
static void invd(struct cpu *cpu, const struct insn *i)
{
    require_cpl0(cpu);
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * 0F 01 /0-/3: descriptor-table registers, /7 INVLPG. */

/* With 16-bit operand size the stored base has its top byte 0 (the 24-bit form
 * of the 286, as 386-and-later processors store it: SDM vol. 2 SGDT, P6 edition). */
static void store_table_register(struct cpu *cpu, const struct insn *i, uint16_t limit,
                                 uint32_t base)
{
    seg_check_write(cpu, i->seg, ea_plus(cpu, i, 2), 4);
    wrm16(cpu, i, limit);
    wr32(cpu, i->seg, ea_plus(cpu, i, 2), base);
}

static void sgdt16(struct cpu *cpu, const struct insn *i)
{
    store_table_register(cpu, i, cpu->gdt_limit, cpu->gdt_base & 0x00FFFFFFu);
    NEXT(cpu, i);
}

static void sgdt32(struct cpu *cpu, const struct insn *i)
{
    store_table_register(cpu, i, cpu->gdt_limit, cpu->gdt_base);
    NEXT(cpu, i);
}

static void sidt16(struct cpu *cpu, const struct insn *i)
{
    store_table_register(cpu, i, cpu->idt_limit, cpu->idt_base & 0x00FFFFFFu);
    NEXT(cpu, i);
}

static void sidt32(struct cpu *cpu, const struct insn *i)
{
    store_table_register(cpu, i, cpu->idt_limit, cpu->idt_base);
    NEXT(cpu, i);
}

/* LGDT/LIDT with 16-bit operand size load a 24-bit base (SDM vol. 2 LGDT). */
static void read_table_register(struct cpu *cpu, const struct insn *i, uint32_t base_mask,
                                uint16_t *limit, uint32_t *base)
{
    require_cpl0(cpu);
    *limit = rdm16(cpu, i);
    *base = rd32(cpu, i->seg, ea_plus(cpu, i, 2)) & base_mask;
}

static void lgdt16(struct cpu *cpu, const struct insn *i)
{
    uint16_t limit; uint32_t base;
    read_table_register(cpu, i, 0x00FFFFFFu, &limit, &base);
    cpu->gdt_limit = limit;
    cpu->gdt_base = base;
    NEXT(cpu, i);
}

static void lgdt32(struct cpu *cpu, const struct insn *i)
{
    uint16_t limit; uint32_t base;
    read_table_register(cpu, i, 0xFFFFFFFFu, &limit, &base);
    cpu->gdt_limit = limit;
    cpu->gdt_base = base;
    NEXT(cpu, i);
}

static void lidt16(struct cpu *cpu, const struct insn *i)
{
    uint16_t limit; uint32_t base;
    read_table_register(cpu, i, 0x00FFFFFFu, &limit, &base);
    cpu->idt_limit = limit;
    cpu->idt_base = base;
    NEXT(cpu, i);
}

static void lidt32(struct cpu *cpu, const struct insn *i)
{
    uint16_t limit; uint32_t base;
    read_table_register(cpu, i, 0xFFFFFFFFu, &limit, &base);
    cpu->idt_limit = limit;
    cpu->idt_base = base;
    NEXT(cpu, i);
}

/* INVLPG: the linear address of the operand, no limit check. The block ends in
 * case it maps the code that follows. */
static void invlpg(struct cpu *cpu, const struct insn *i)
{
    require_cpl0(cpu);
    tlb_flush_page(cpu, cpu->seg[i->seg].base + ea_off(cpu, i));
    END_NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * Debug registers (SDM vol. 3, 17.2). Breakpoints are kept, not acted on yet. */

#define DR6_FIXED1  0xFFFF0FF0u   /* reserved bits that read as 1 */
#define DR6_BITS    0x0000E00Fu   /* B0-B3, BD, BS, BT */
#define DR6_BD      0x00002000u
#define DR7_FIXED1  0x00000400u
#define DR7_BITS    0xFFFF23FFu   /* L0-G3, LE, GE, GD, R/W and LEN fields */
#define DR7_GD      0x00002000u
#define DR7_ENABLES 0x000000FFu

/* DR4 and DR5 are DR6 and DR7 unless CR4.DE makes them #UD. */
static int debug_register_index(struct cpu *cpu, int n)
{
    if (n == 4 || n == 5) {
        if (cpu->cr4 & CR4_DE)
            RAISE_UD(cpu);
        return n + 2;
    }
    return n;
}

/* Common checks; DR7.GD turns any access into #DB with DR6.BD, and GD is cleared
 * so the handler can use the registers (SDM vol. 3, 17.2.4). */
static int debug_register_access(struct cpu *cpu, const struct insn *i)
{
    require_cpl0(cpu);
    int n = debug_register_index(cpu, i->reg);
    if (cpu->dr[7] & DR7_GD) {
        cpu->dr[6] |= DR6_BD;
        cpu->dr[7] &= ~DR7_GD;
        cpu_raise(cpu, EXC_DB, 0);
    }
    return n;
}

static void mov_r_dr(struct cpu *cpu, const struct insn *i)
{
    int n = debug_register_access(cpu, i);
    uint32_t v = cpu->dr[n];
    if (n == 6) v = (v & DR6_BITS) | DR6_FIXED1;
    if (n == 7) v = (v & DR7_BITS) | DR7_FIXED1;
    REG32(cpu, i->rm) = v;
    NEXT(cpu, i);
}

static void mov_dr_r(struct cpu *cpu, const struct insn *i)
{
    int n = debug_register_access(cpu, i);
    uint32_t v = REG32(cpu, i->rm);
    if (n == 6) {
        v = (v & DR6_BITS) | DR6_FIXED1;
    } else if (n == 7) {
        v = (v & DR7_BITS) | DR7_FIXED1;
        if ((v & DR7_ENABLES) && !(cpu->dr[7] & DR7_ENABLES))
            cpu_log_unimpl(cpu, "debug breakpoints enabled (DR7=%08x) but not implemented\n", v);
    }
    cpu->dr[n] = v;
    END_NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * Model-specific registers (SDM vol. 4 for the P6 family). */

#define MSR_IA32_TSC            0x010u
#define MSR_IA32_PLATFORM_ID    0x017u
#define MSR_IA32_APIC_BASE      0x01Bu
#define MSR_EBL_CR_POWERON      0x02Au
#define MSR_BIOS_SIGN_ID        0x08Bu
#define MSR_MTRRCAP             0x0FEu
#define MSR_SYSENTER_CS         0x174u
#define MSR_SYSENTER_ESP        0x175u
#define MSR_SYSENTER_EIP        0x176u
#define MSR_MCG_CAP             0x179u
#define MSR_MCG_STATUS          0x17Au
#define MSR_MISC_ENABLE         0x1A0u
#define MSR_MTRR_PHYS_FIRST     0x200u   /* 8 base/mask pairs: 0x200-0x20F */
#define MSR_MTRR_PHYS_LAST      0x20Fu
#define MSR_MTRR_FIX64K_00000   0x250u
#define MSR_MTRR_FIX16K_80000   0x258u
#define MSR_MTRR_FIX16K_A0000   0x259u
#define MSR_MTRR_FIX4K_FIRST    0x268u   /* 0x268-0x26F */
#define MSR_MTRR_FIX4K_LAST     0x26Fu
#define MSR_PAT                 0x277u
#define MSR_MTRR_DEF_TYPE       0x2FFu
#define MSR_P6_PERFCTR0         0x0C1u
#define MSR_P6_PERFCTR1         0x0C2u
#define MSR_P6_EVNTSEL0         0x186u
#define MSR_P6_EVNTSEL1         0x187u

/* P6 performance counters (SDM vol. 3, 19.6.8/appendix A): 40 bits; EN (bit 22)
 * of EVNTSEL0 enables both. INST_RETIRED (C0h) and CPU_CLK_UNHALTED (79h, one
 * clock per instruction here) count; other events read 0. No overflow
 * interrupt (there is no local APIC). */
#define PMC_MASK        0xFFFFFFFFFFull
#define EVNTSEL_EN      (1u << 22)

static int pmc_counting(const struct cpu *cpu, int n)
{
    unsigned ev = cpu->evntsel[n] & 0xFF;
    return (cpu->evntsel[0] & EVNTSEL_EN) && (ev == 0xC0 || ev == 0x79) && (cpu->evntsel[n] & (3u << 16));
}

static uint64_t pmc_value(const struct cpu *cpu, int n)
{
    uint64_t v = cpu->pmc[n];
    if (pmc_counting(cpu, n)) v += cpu->icount - cpu->pmc_sync[n];
    return v & PMC_MASK;
}

/* Fold the running count in, so a change of configuration starts from here. */
static void pmc_sync_all(struct cpu *cpu)
{
    for (int n = 0; n < 2; n++) {
        cpu->pmc[n] = pmc_value(cpu, n);
        cpu->pmc_sync[n] = cpu->icount;
    }
}

/* 8 variable ranges, fixed ranges, write-combining (SDM vol. 3, 11.11.1). */
#define MTRRCAP_VALUE       (8u | 0x100u | 0x400u)
#define PHYS_ADDR_BITS      36
#define PHYS_RESERVED       (~0ull << PHYS_ADDR_BITS)
#define MTRR_BASE_RESERVED  (PHYS_RESERVED | 0xF00ull)
#define MTRR_MASK_RESERVED  (PHYS_RESERVED | 0x7FFull)
#define MTRR_DEF_RESERVED   (~0xCFFull)    /* type (0-7), FE (10), E (11) */

enum msr_result { MSR_OK, MSR_UNKNOWN, MSR_INVALID };

/* cpu->mtrr[] slot of an MTRR MSR, or -1: variable pairs 0-15, fixed 16-26. */
static int mtrr_slot(uint32_t msr)
{
    if (msr >= MSR_MTRR_PHYS_FIRST && msr <= MSR_MTRR_PHYS_LAST)
        return (int)(msr - MSR_MTRR_PHYS_FIRST);
    if (msr == MSR_MTRR_FIX64K_00000) return 16;
    if (msr == MSR_MTRR_FIX16K_80000) return 17;
    if (msr == MSR_MTRR_FIX16K_A0000) return 18;
    if (msr >= MSR_MTRR_FIX4K_FIRST && msr <= MSR_MTRR_FIX4K_LAST)
        return 19 + (int)(msr - MSR_MTRR_FIX4K_FIRST);
    return -1;
}

/* Memory types an MTRR may hold: UC WC WT WP WB. */
static int mtrr_type_ok(unsigned type)
{
    return type == 0 || type == 1 || type == 4 || type == 5 || type == 6;
}

/* A fixed-range MTRR holds eight types, one per byte. */
static int mtrr_fixed_ok(uint64_t v)
{
    for (int b = 0; b < 8; b++)
        if (!mtrr_type_ok((unsigned)(v >> (8 * b)) & 0xFF))
            return 0;
    return 1;
}

static int mtrr_value_ok(int slot, uint64_t v)
{
    if (slot >= 16)
        return mtrr_fixed_ok(v);
    if (slot & 1)
        return !(v & MTRR_MASK_RESERVED);
    return !(v & MTRR_BASE_RESERVED) && mtrr_type_ok((unsigned)v & 0xFF);
}

/* PAT entries are 3-bit types; 2 and 3 are reserved (SDM vol. 3, 11.12.2). */
static int pat_value_ok(uint64_t v)
{
    for (int b = 0; b < 8; b++) {
        unsigned e = (unsigned)(v >> (8 * b)) & 0xFF;
        if (e > 7 || e == 2 || e == 3)
            return 0;
    }
    return 1;
}

static enum msr_result msr_read(struct cpu *cpu, uint32_t msr, uint64_t *v)
{
    int slot = mtrr_slot(msr);
    if (slot >= 0) {
        *v = cpu->mtrr[slot];
        return MSR_OK;
    }
    switch (msr) {
    case MSR_IA32_TSC:         *v = cpu_tsc(cpu); return MSR_OK;
    case MSR_IA32_PLATFORM_ID: *v = 0; return MSR_OK;
    case MSR_IA32_APIC_BASE:   *v = cpu->apic_base; return MSR_OK;
    case MSR_EBL_CR_POWERON:   *v = 0; return MSR_OK;
    case MSR_BIOS_SIGN_ID:     *v = 0; return MSR_OK;   /* no microcode update loaded */
    case MSR_MTRRCAP:          *v = MTRRCAP_VALUE; return MSR_OK;
    case MSR_SYSENTER_CS:      *v = cpu->sysenter_cs; return MSR_OK;
    case MSR_SYSENTER_ESP:     *v = cpu->sysenter_esp; return MSR_OK;
    case MSR_SYSENTER_EIP:     *v = cpu->sysenter_eip; return MSR_OK;
    case MSR_MCG_CAP:          *v = 0; return MSR_OK;
    case MSR_MCG_STATUS:       *v = 0; return MSR_OK;
    case MSR_MISC_ENABLE:      *v = cpu->msr_misc_enable; return MSR_OK;
    case MSR_PAT:              *v = cpu->pat; return MSR_OK;
    case MSR_MTRR_DEF_TYPE:    *v = cpu->mtrr_def_type; return MSR_OK;
    case MSR_P6_PERFCTR0:      *v = pmc_value(cpu, 0); return MSR_OK;
    case MSR_P6_PERFCTR1:      *v = pmc_value(cpu, 1); return MSR_OK;
    case MSR_P6_EVNTSEL0:      *v = cpu->evntsel[0]; return MSR_OK;
    case MSR_P6_EVNTSEL1:      *v = cpu->evntsel[1]; return MSR_OK;
    default:                   return MSR_UNKNOWN;
    }
}

static enum msr_result msr_write(struct cpu *cpu, uint32_t msr, uint64_t v)
{
    int slot = mtrr_slot(msr);
    if (slot >= 0) {
        if (!mtrr_value_ok(slot, v))
            return MSR_INVALID;
        cpu->mtrr[slot] = v;
        return MSR_OK;
    }
    switch (msr) {
    case MSR_IA32_TSC:
        /* Before family 0Fh model 3, WRMSR writes the low 32 bits and clears the
         * high ones (SDM vol. 3, 17.17). */
        cpu->tsc_offset = (v & 0xFFFFFFFFu) - cpu->icount;
        return MSR_OK;
    case MSR_IA32_APIC_BASE:   cpu->apic_base = v; return MSR_OK;
    case MSR_EBL_CR_POWERON:   return MSR_OK;   /* bus configuration: nothing to change */
    case MSR_BIOS_SIGN_ID:     return MSR_OK;   /* written with 0 before CPUID to read the revision */
    case MSR_SYSENTER_CS:      cpu->sysenter_cs = (uint32_t)v; return MSR_OK;
    case MSR_SYSENTER_ESP:     cpu->sysenter_esp = (uint32_t)v; return MSR_OK;
    case MSR_SYSENTER_EIP:     cpu->sysenter_eip = (uint32_t)v; return MSR_OK;
    case MSR_MCG_STATUS:       return v ? MSR_INVALID : MSR_OK;   /* no machine checks to clear */
    case MSR_MISC_ENABLE:      cpu->msr_misc_enable = v; return MSR_OK;
    case MSR_PAT:
        if (!pat_value_ok(v))
            return MSR_INVALID;
        cpu->pat = v;
        return MSR_OK;
    case MSR_MTRR_DEF_TYPE:
        if ((v & MTRR_DEF_RESERVED) || !mtrr_type_ok((unsigned)v & 0xFF))
            return MSR_INVALID;
        cpu->mtrr_def_type = v;
        return MSR_OK;
    case MSR_P6_PERFCTR0:
    case MSR_P6_PERFCTR1:
        /* WRMSR writes the low 32 bits, sign-extended to 40 (SDM vol. 3, 19.6.8.1). */
        pmc_sync_all(cpu);
        cpu->pmc[msr - MSR_P6_PERFCTR0] = (uint64_t)(int64_t)(int32_t)v & PMC_MASK;
        return MSR_OK;
    case MSR_P6_EVNTSEL0:
    case MSR_P6_EVNTSEL1:
        if (v >> 32)
            return MSR_INVALID;
        pmc_sync_all(cpu);
        cpu->evntsel[msr - MSR_P6_EVNTSEL0] = (uint32_t)v;
        return MSR_OK;
    case MSR_IA32_PLATFORM_ID:
    case MSR_MTRRCAP:
    case MSR_MCG_CAP:
        return MSR_INVALID;   /* read-only */
    default:
        return MSR_UNKNOWN;
    }
}

/* 0F 32 RDMSR */
static void rdmsr(struct cpu *cpu, const struct insn *i)
{
    require_cpl0(cpu);
    uint64_t v;
    switch (msr_read(cpu, ECX(cpu), &v)) {
    case MSR_OK:
        break;
    case MSR_UNKNOWN:
        cpu_log_unimpl(cpu, "rdmsr of unknown MSR 0x%08x\n", ECX(cpu));
        RAISE_GP(cpu, 0);
    case MSR_INVALID:
        RAISE_GP(cpu, 0);
    }
    EAX(cpu) = (uint32_t)v;
    EDX(cpu) = (uint32_t)(v >> 32);
    NEXT(cpu, i);
}

/* 0F 30 WRMSR */
static void wrmsr(struct cpu *cpu, const struct insn *i)
{
    require_cpl0(cpu);
    uint64_t v = (uint64_t)EDX(cpu) << 32 | EAX(cpu);
    switch (msr_write(cpu, ECX(cpu), v)) {
    case MSR_OK:
        break;
    case MSR_UNKNOWN:
        cpu_log_unimpl(cpu, "wrmsr of unknown MSR 0x%08x (value %016llx)\n", ECX(cpu),
                       (unsigned long long)v);
        RAISE_GP(cpu, 0);
    case MSR_INVALID:
        RAISE_GP(cpu, 0);
    }
    NEXT(cpu, i);
}

/* 0F 31 RDTSC: CR4.TSD makes it privileged. */
static void rdtsc(struct cpu *cpu, const struct insn *i)
{
    if ((cpu->cr4 & CR4_TSD) && (cpu->v86 || (cpu->pmode && cpu->cpl != 0)))
        RAISE_GP(cpu, 0);
    uint64_t t = cpu_tsc(cpu);
    EAX(cpu) = (uint32_t)t;
    EDX(cpu) = (uint32_t)(t >> 32);
    NEXT(cpu, i);
}

/* 0F 33 RDPMC: the two P6 counters exist and count nothing. */
static void rdpmc(struct cpu *cpu, const struct insn *i)
{
    if (!(cpu->cr4 & CR4_PCE) && (cpu->v86 || (cpu->pmode && cpu->cpl != 0)))
        RAISE_GP(cpu, 0);
    if (ECX(cpu) > 1)
        RAISE_GP(cpu, 0);
    uint64_t v = pmc_value(cpu, (int)ECX(cpu));
    EAX(cpu) = (uint32_t)v;
    EDX(cpu) = (uint32_t)(v >> 32);
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * SYSENTER / SYSEXIT (SDM vol. 2): flat 4 GiB segments derived from
 * IA32_SYSENTER_CS, no descriptor is read. */

/* Access byte | (G, D/B) << 8 for the flat segments. */
#define FLAT_CODE(dpl) (0xC000u | 0x9Bu | (dpl) << 5)   /* P S code, readable, accessed */
#define FLAT_DATA(dpl) (0xC000u | 0x93u | (dpl) << 5)   /* P S data, writable, accessed */

static void load_flat_segments(struct cpu *cpu, uint16_t cs, uint16_t ss, unsigned dpl)
{
    seg_cache_set(&cpu->seg[S_CS], cs, 0, 0xFFFFFFFFu, (uint16_t)FLAT_CODE(dpl));
    seg_cache_set(&cpu->seg[S_SS], ss, 0, 0xFFFFFFFFu, (uint16_t)FLAT_DATA(dpl));
}

static void sysenter(struct cpu *cpu, const struct insn *i)
{
    if (!cpu->pmode || (cpu->sysenter_cs & 0xFFFC) == 0)
        RAISE_GP(cpu, 0);
    uint16_t cs = (uint16_t)(cpu->sysenter_cs & 0xFFFC);
    cpu_set_eflags_masked(cpu, 0, F_VM | F_IF | F_RF);
    load_flat_segments(cpu, cs, (uint16_t)(cs + 8), 0);
    cpu_update_mode(cpu);
    ESP(cpu) = cpu->sysenter_esp;
    END_AT(cpu, cpu->sysenter_eip);
}

static void sysexit(struct cpu *cpu, const struct insn *i)
{
    if (!cpu->pmode || cpu->v86 || cpu->cpl != 0 || (cpu->sysenter_cs & 0xFFFC) == 0)
        RAISE_GP(cpu, 0);
    uint16_t base = (uint16_t)cpu->sysenter_cs;
    load_flat_segments(cpu, (uint16_t)((base + 16) | 3), (uint16_t)((base + 24) | 3), 3);
    cpu_update_mode(cpu);
    ESP(cpu) = ECX(cpu);
    END_AT(cpu, EDX(cpu));
}

/* ---------------------------------------------------------------------------
 * CPUID: one family-6 profile that reports what the emulator implements. */

/* Leaf 2 descriptors of a 512 KiB-L2 Pentium II (SDM vol. 2, CPUID table 3-12):
 * AL = 01 (one call), 01 02 03 04 instruction/data TLBs, 08 0C 16 KiB L1 I/D, 43 L2. */
static const uint32_t cpuid_leaf2[4] = { 0x03020101u, 0, 0, 0x0C040843u };

static const char cpuid_vendor[12] = { 'G','e','n','u','i','n','e','I','n','t','e','l' };
static const char cpuid_brand[48] = "Bubble i686 virtual CPU";

static uint32_t bytes_le32(const char *p)
{
    return (uint32_t)(uint8_t)p[0] | (uint32_t)(uint8_t)p[1] << 8 |
           (uint32_t)(uint8_t)p[2] << 16 | (uint32_t)(uint8_t)p[3] << 24;
}

/* out[] = EAX EBX ECX EDX. Leaves beyond the basic or extended maximum return the
 * highest basic leaf, as Intel processors do (SDM vol. 2 CPUID). */
static void cpuid_leaf(const struct cpu *cpu, uint32_t leaf, uint32_t out[4])
{
    int extended = leaf >= 0x80000000u;
    if ((!extended && leaf > CPUID_MAX_BASIC) || (extended && leaf > CPUID_MAX_EXT))
        leaf = CPUID_MAX_BASIC;
    memset(out, 0, 4 * sizeof out[0]);
    switch (leaf) {
    case 0:
        out[0] = CPUID_MAX_BASIC;
        out[1] = bytes_le32(cpuid_vendor);        /* "Genu" */
        out[3] = bytes_le32(cpuid_vendor + 4);    /* "ineI" */
        out[2] = bytes_le32(cpuid_vendor + 8);    /* "ntel" */
        break;
    case 1:
        out[0] = CPUID_SIGNATURE;
        out[3] = cpuid_features_edx(cpu);
        break;
    case 2:
        memcpy(out, cpuid_leaf2, sizeof cpuid_leaf2);
        break;
    case 0x80000000u:
        out[0] = CPUID_MAX_EXT;
        break;
    case 0x80000001u:
        break;   /* no extended features */
    case 0x80000002u: case 0x80000003u: case 0x80000004u: {
        const char *p = cpuid_brand + 16 * (leaf - 0x80000002u);
        for (int r = 0; r < 4; r++)
            out[r] = bytes_le32(p + 4 * r);
        break;
    }
    }
}

/* 0F A2 CPUID: the leaf is in EAX; ECX (the sub-leaf) selects nothing here. */
static void cpuid(struct cpu *cpu, const struct insn *i)
{
    uint32_t r[4];
    cpuid_leaf(cpu, EAX(cpu), r);
    EAX(cpu) = r[0];
    EBX(cpu) = r[1];
    ECX(cpu) = r[2];
    EDX(cpu) = r[3];
    NEXT(cpu, i);
}

/* ---------------------------------------------------------------------------
 * Registration. */

#define OP0F(b) (0x100u | (b))

static void register_one_byte_map(void)
{
    for (int s = 0; s < 8; s++) {
        int valid = s <= S_GS;
        op_register(0x8C, s, OS16, OPF_MODRM, valid ? mov_rm_sreg_r16 : NULL, valid ? mov_rm_sreg_m : NULL);
        op_register(0x8C, s, OS32, OPF_MODRM, valid ? mov_rm_sreg_r32 : NULL, valid ? mov_rm_sreg_m : NULL);
        if (s == S_SS)
            op_register(0x8E, s, OSALL, OPF_MODRM | OPF_END, mov_ss_rm_r, mov_ss_rm_m);
        else if (valid && s != S_CS)
            op_register(0x8E, s, OSALL, OPF_MODRM, mov_sreg_rm_r, mov_sreg_rm_m);
        else
            op_register(0x8E, s, OSALL, OPF_MODRM, NULL, NULL);   /* MOV CS and sreg 6-7: #UD */
    }

    op_register(0x63, -1, OSALL, OPF_MODRM, arpl_r, arpl_m);

    op_register(0x9A, -1, OS16, OPF_FAR | OPF_END, call_far_ptr16, NULL);
    op_register(0x9A, -1, OS32, OPF_FAR | OPF_END, call_far_ptr32, NULL);
    op_register(0xEA, -1, OS16, OPF_FAR | OPF_END, jmp_far_ptr16, NULL);
    op_register(0xEA, -1, OS32, OPF_FAR | OPF_END, jmp_far_ptr32, NULL);

    op_register(0xC4, -1, OS16, OPF_MODRM, NULL, les16);
    op_register(0xC4, -1, OS32, OPF_MODRM, NULL, les32);
    op_register(0xC5, -1, OS16, OPF_MODRM, NULL, lds16);
    op_register(0xC5, -1, OS32, OPF_MODRM, NULL, lds32);

    op_register(0xCA, -1, OS16, OPF_IMM16 | OPF_END, retf16_imm, NULL);
    op_register(0xCA, -1, OS32, OPF_IMM16 | OPF_END, retf32_imm, NULL);
    op_register(0xCB, -1, OS16, OPF_END, retf16, NULL);
    op_register(0xCB, -1, OS32, OPF_END, retf32, NULL);
    op_register(0xCF, -1, OS16, OPF_END, iret16, NULL);
    op_register(0xCF, -1, OS32, OPF_END, iret32, NULL);

    op_register(0xFF, 3, OS16, OPF_MODRM | OPF_END, NULL, call_far_m16);
    op_register(0xFF, 3, OS32, OPF_MODRM | OPF_END, NULL, call_far_m32);
    op_register(0xFF, 5, OS16, OPF_MODRM | OPF_END, NULL, jmp_far_m16);
    op_register(0xFF, 5, OS32, OPF_MODRM | OPF_END, NULL, jmp_far_m32);
}

static void register_group6_group7(void)
{
    op_register(OP0F(0x00), 0, OS16, OPF_MODRM, sldt_r16, sldt_m);
    op_register(OP0F(0x00), 0, OS32, OPF_MODRM, sldt_r32, sldt_m);
    op_register(OP0F(0x00), 1, OS16, OPF_MODRM, str_r16, str_m);
    op_register(OP0F(0x00), 1, OS32, OPF_MODRM, str_r32, str_m);
    op_register(OP0F(0x00), 2, OSALL, OPF_MODRM, lldt, lldt);
    op_register(OP0F(0x00), 3, OSALL, OPF_MODRM, ltr, ltr);
    op_register(OP0F(0x00), 4, OSALL, OPF_MODRM, verr, verr);
    op_register(OP0F(0x00), 5, OSALL, OPF_MODRM, verw, verw);
    op_register(OP0F(0x00), 6, OSALL, OPF_MODRM, NULL, NULL);
    op_register(OP0F(0x00), 7, OSALL, OPF_MODRM, NULL, NULL);

    /* Register forms of /0-/3 and /7 are VMX/MONITOR/SWAPGS encodings we lack: #UD. */
    op_register(OP0F(0x01), 0, OS16, OPF_MODRM, NULL, sgdt16);
    op_register(OP0F(0x01), 0, OS32, OPF_MODRM, NULL, sgdt32);
    op_register(OP0F(0x01), 1, OS16, OPF_MODRM, NULL, sidt16);
    op_register(OP0F(0x01), 1, OS32, OPF_MODRM, NULL, sidt32);
    op_register(OP0F(0x01), 2, OS16, OPF_MODRM, NULL, lgdt16);
    op_register(OP0F(0x01), 2, OS32, OPF_MODRM, NULL, lgdt32);
    op_register(OP0F(0x01), 3, OS16, OPF_MODRM, NULL, lidt16);
    op_register(OP0F(0x01), 3, OS32, OPF_MODRM, NULL, lidt32);
    op_register(OP0F(0x01), 4, OS16, OPF_MODRM, smsw_r16, smsw_m);
    op_register(OP0F(0x01), 4, OS32, OPF_MODRM, smsw_r32, smsw_m);
    op_register(OP0F(0x01), 5, OSALL, OPF_MODRM, NULL, NULL);
    op_register(OP0F(0x01), 6, OSALL, OPF_MODRM | OPF_END, lmsw, lmsw);
    op_register(OP0F(0x01), 7, OSALL, OPF_MODRM | OPF_END, NULL, invlpg);
}

static void register_0f_map(void)
{
    register_group6_group7();

    op_register(OP0F(0x02), -1, OS16, OPF_MODRM, lar16, lar16);
    op_register(OP0F(0x02), -1, OS32, OPF_MODRM, lar32, lar32);
    op_register(OP0F(0x03), -1, OS16, OPF_MODRM, lsl16, lsl16);
    op_register(OP0F(0x03), -1, OS32, OPF_MODRM, lsl32, lsl32);

    op_register(OP0F(0x06), -1, OSALL, OPF_END, clts, NULL);
    op_register(OP0F(0x08), -1, OSALL, 0, invd, NULL);
    op_register(OP0F(0x09), -1, OSALL, 0, invd, NULL);
    op_register(OP0F(0x0B), -1, OSALL, 0, op_ud, NULL);

    /* MOV to/from CR and DR ignore mod: the same handler for both forms. */
    op_register(OP0F(0x20), -1, OSALL, OPF_MODRM | OPF_REGONLY, mov_r_cr, mov_r_cr);
    op_register(OP0F(0x21), -1, OSALL, OPF_MODRM | OPF_REGONLY, mov_r_dr, mov_r_dr);
    op_register(OP0F(0x22), -1, OSALL, OPF_MODRM | OPF_REGONLY | OPF_END, mov_cr_r, mov_cr_r);
    op_register(OP0F(0x23), -1, OSALL, OPF_MODRM | OPF_REGONLY | OPF_END, mov_dr_r, mov_dr_r);

    op_register(OP0F(0x30), -1, OSALL, 0, wrmsr, NULL);
    op_register(OP0F(0x31), -1, OSALL, 0, rdtsc, NULL);
    op_register(OP0F(0x32), -1, OSALL, 0, rdmsr, NULL);
    op_register(OP0F(0x33), -1, OSALL, 0, rdpmc, NULL);
    op_register(OP0F(0x34), -1, OSALL, OPF_END, sysenter, NULL);
    op_register(OP0F(0x35), -1, OSALL, OPF_END, sysexit, NULL);

    op_register(OP0F(0xA2), -1, OSALL, 0, cpuid, NULL);
    op_register(OP0F(0xAA), -1, OSALL, 0, op_ud, NULL);   /* RSM: no SMM */

    op_register(OP0F(0xB2), -1, OS16, OPF_MODRM | OPF_END, NULL, lss16);
    op_register(OP0F(0xB2), -1, OS32, OPF_MODRM | OPF_END, NULL, lss32);
    op_register(OP0F(0xB4), -1, OS16, OPF_MODRM, NULL, lfs16);
    op_register(OP0F(0xB4), -1, OS32, OPF_MODRM, NULL, lfs32);
    op_register(OP0F(0xB5), -1, OS16, OPF_MODRM, NULL, lgs16);
    op_register(OP0F(0xB5), -1, OS32, OPF_MODRM, NULL, lgs32);
}

void ops_system_init(void)
{
    register_one_byte_map();
    register_0f_map();
}
