/* Tasks: the TSS (inner stacks, I/O permission bitmap, V86 interrupt
 * redirection bitmap) and the hardware task switch (SDM vol. 3, chapter 7).
 *
 * A task switch checks the new TSS and reads it, saves the old task into its
 * TSS, updates the busy bits and the back link: until then a fault leaves the
 * old task as it was. After that the switch is committed (TR, CR3, registers,
 * EFLAGS, EIP), and the segment loads that follow fault in the context of the
 * new task (SDM vol. 3, 7.3, step 13): every register is loaded, the first
 * failed check is raised at the end, and cpu->cur is cleared so that the fault
 * reports the new task's EIP. */
#include "seg.h"

/* 32-bit TSS offsets (SDM vol. 3, figure 7-2). */
enum {
    TSS32_LINK = 0x00, TSS32_ESP0 = 0x04, TSS32_CR3 = 0x1C, TSS32_EIP = 0x20, TSS32_EFLAGS = 0x24,
    TSS32_GPR = 0x28, TSS32_SEG = 0x48, TSS32_LDT = 0x60, TSS32_TRAP = 0x64, TSS32_IOMAP = 0x66,
    TSS32_MIN_LIMIT = 0x67,
};
/* 16-bit TSS offsets (SDM vol. 3, figure 7-11). */
enum {
    TSS16_LINK = 0x00, TSS16_SP0 = 0x02, TSS16_IP = 0x0E, TSS16_FLAGS = 0x10, TSS16_GPR = 0x12,
    TSS16_SEG = 0x22, TSS16_LDT = 0x2A, TSS16_MIN_LIMIT = 0x2B,
};

/* The state a TSS holds for its task. */
struct tss_state {
    uint32_t eip, eflags, cr3;
    uint32_t gpr[8];
    uint16_t seg[6];
    uint16_t ldt;
    int trap;
};

/* ---------------------------------------------------------------------------
 * TSS fields used outside task switches. */

void tss_inner_stack(struct cpu *cpu, int dpl, uint32_t ext, uint16_t *ss, uint32_t *esp)
{
    uint32_t base = cpu->tr.base;
    if (tss_is32(cpu)) {
        uint32_t at = TSS32_ESP0 + (uint32_t)dpl * 8;
        if (at + 5 > cpu->tr.limit) RAISE_TS(cpu, sel_err(cpu->tr.sel) | ext);
        *esp = sys_read(cpu, base + at, 4);
        *ss = (uint16_t)sys_read(cpu, base + at + 4, 2);
    } else {
        uint32_t at = TSS16_SP0 + (uint32_t)dpl * 4;
        if (at + 3 > cpu->tr.limit) RAISE_TS(cpu, sel_err(cpu->tr.sel) | ext);
        *esp = sys_read(cpu, base + at, 2);
        *ss = (uint16_t)sys_read(cpu, base + at + 2, 2);
    }
}

uint64_t inner_stack_check(struct cpu *cpu, uint16_t ss, int dpl, uint32_t ext)
{
    uint32_t err = sel_err(ss) | ext;
    uint64_t d;
    if (sel_is_null(ss) || !desc_fetch(cpu, ss, &d)) RAISE_TS(cpu, err);
    if ((ss & 3) != dpl || desc_dpl(d) != dpl || !desc_is_writable_data(d)) RAISE_TS(cpu, err);
    if (!desc_present(d)) RAISE_SS(cpu, err);
    return d;
}

/* Offset of the I/O map base in the current TSS; #GP(0) without a 32-bit TSS. */
static uint32_t tss_iomap_base(struct cpu *cpu)
{
    if (!tss_is32(cpu) || cpu->tr.limit < TSS32_MIN_LIMIT) RAISE_GP(cpu, 0);
    return sys_read(cpu, cpu->tr.base + TSS32_IOMAP, 2);
}

/* I/O permission (SDM vol. 1, 18.5). The processor reads two bitmap bytes, so
 * both must lie inside the TSS limit; every bit of the access must be clear. */
void io_check(struct cpu *cpu, uint16_t port, int size)
{
    if (!cpu->pmode) return;
    if (!cpu->v86 && cpu->cpl <= ((cpu->eflags & F_IOPL) >> 12)) return;
    uint32_t at = tss_iomap_base(cpu) + (port >> 3);
    if (at + 1 > cpu->tr.limit) RAISE_GP(cpu, 0);
    uint32_t bits = sys_read(cpu, cpu->tr.base + at, 2);
    uint32_t mask = ((1u << size) - 1) << (port & 7);
    if (bits & mask) RAISE_GP(cpu, 0);
}

int tss_redir_bit(struct cpu *cpu, int vec)
{
    uint32_t at = tss_iomap_base(cpu) - 32 + ((uint32_t)vec >> 3);
    if (at > cpu->tr.limit) RAISE_GP(cpu, 0);
    return (int)(sys_read(cpu, cpu->tr.base + at, 1) >> (vec & 7)) & 1;
}

/* ---------------------------------------------------------------------------
 * Task gates. */

uint64_t task_gate_tss(struct cpu *cpu, uint16_t tss_sel, uint32_t ext)
{
    uint32_t err = sel_err(tss_sel) | ext;
    uint64_t d;
    if ((tss_sel & 4) || !desc_fetch(cpu, tss_sel, &d)) RAISE_GP(cpu, err);
    if (!desc_is_system(d) || (desc_type(d) != DESC_TSS16_AVAIL && desc_type(d) != DESC_TSS32_AVAIL))
        RAISE_GP(cpu, err);
    if (!desc_present(d)) RAISE_NP(cpu, err);
    return d;
}

/* ---------------------------------------------------------------------------
 * Reading and writing task state. */

static void tss_read_state(struct cpu *cpu, uint32_t base, int is32, struct tss_state *t)
{
    if (is32) {
        t->cr3 = sys_read(cpu, base + TSS32_CR3, 4);
        t->eip = sys_read(cpu, base + TSS32_EIP, 4);
        t->eflags = sys_read(cpu, base + TSS32_EFLAGS, 4);
        for (int r = 0; r < 8; r++) t->gpr[r] = sys_read(cpu, base + TSS32_GPR + (uint32_t)r * 4, 4);
        for (int s = 0; s < 6; s++) t->seg[s] = (uint16_t)sys_read(cpu, base + TSS32_SEG + (uint32_t)s * 4, 2);
        t->ldt = (uint16_t)sys_read(cpu, base + TSS32_LDT, 2);
        t->trap = (int)(sys_read(cpu, base + TSS32_TRAP, 2) & 1);
    } else {
        /* A 16-bit TSS has no CR3, FS, GS or T bit: FS and GS become null. */
        t->cr3 = 0;
        t->eip = sys_read(cpu, base + TSS16_IP, 2);
        t->eflags = sys_read(cpu, base + TSS16_FLAGS, 2);
        for (int r = 0; r < 8; r++) t->gpr[r] = sys_read(cpu, base + TSS16_GPR + (uint32_t)r * 2, 2);
        for (int s = S_ES; s <= S_DS; s++) t->seg[s] = (uint16_t)sys_read(cpu, base + TSS16_SEG + (uint32_t)s * 2, 2);
        t->seg[S_FS] = 0;
        t->seg[S_GS] = 0;
        t->ldt = (uint16_t)sys_read(cpu, base + TSS16_LDT, 2);
        t->trap = 0;
    }
}

/* Save the running task: EIP, EFLAGS, general and segment registers. CR3 and the
 * LDT selector are not written back (SDM vol. 3, 7.2.1). */
static void tss_save_state(struct cpu *cpu, uint32_t base, int is32, uint32_t eflags, uint32_t eip)
{
    if (is32) {
        sys_write(cpu, base + TSS32_EIP, eip, 4);
        sys_write(cpu, base + TSS32_EFLAGS, eflags, 4);
        for (int r = 0; r < 8; r++) sys_write(cpu, base + TSS32_GPR + (uint32_t)r * 4, REG32(cpu, r), 4);
        for (int s = 0; s < 6; s++) sys_write(cpu, base + TSS32_SEG + (uint32_t)s * 4, cpu->seg[s].sel, 2);
    } else {
        sys_write(cpu, base + TSS16_IP, eip & 0xFFFF, 2);
        sys_write(cpu, base + TSS16_FLAGS, eflags & 0xFFFF, 2);
        for (int r = 0; r < 8; r++) sys_write(cpu, base + TSS16_GPR + (uint32_t)r * 2, REG16(cpu, r), 2);
        for (int s = S_ES; s <= S_DS; s++) sys_write(cpu, base + TSS16_SEG + (uint32_t)s * 2, cpu->seg[s].sel, 2);
    }
}

/* ---------------------------------------------------------------------------
 * Segment loads of the new task (SDM vol. 3, table 7-1). They run after the
 * commit point, so a failed check is taken in the new task; and as the SDM says
 * (7.3, step 13; #TS in 6.15), the rest of the state is still loaded, without
 * further checks, before the first fault is raised. */

struct task_fault {
    int vec;          /* -1: none yet */
    uint32_t err;
};

/* Load a segment register from its descriptor as it is (no checks), or make it
 * unusable when there is none to load. CS keeps CPL = RPL. */
static void task_load_unchecked(struct cpu *cpu, int seg, uint16_t sel)
{
    uint64_t d;
    if (sel_is_null(sel) || !desc_fetch(cpu, sel, &d)) {
        if (seg == S_CS) seg_cache_set(&cpu->seg[S_CS], sel, 0, 0, (uint16_t)((sel & 3) << 5));
        else seg_cache_null(&cpu->seg[seg], sel);
        return;
    }
    if (seg == S_CS) d = (d & ~(3ull << 45)) | (uint64_t)(sel & 3) << 45;
    seg_cache_from_desc(&cpu->seg[seg], sel, d);
}

/* Record a failed check; the segment is loaded unchecked all the same. */
static void task_fail(struct cpu *cpu, struct task_fault *f, int seg, uint16_t sel, int vec, uint32_t err)
{
    if (f->vec < 0) {
        f->vec = vec;
        f->err = err;
    }
    if (seg >= 0) task_load_unchecked(cpu, seg, sel);
}

static void task_load_ldt(struct cpu *cpu, uint16_t sel, uint32_t ext, struct task_fault *f)
{
    uint64_t d;
    uint32_t err = sel_err(sel) | ext;
    if (sel_is_null(sel)) return;   /* LDTR was left unusable */
    if ((sel & 4) || !desc_fetch(cpu, sel, &d) || !desc_is_system(d) || desc_type(d) != DESC_LDT) {
        task_fail(cpu, f, -1, sel, EXC_TS, err);
        return;
    }
    if (!desc_present(d)) task_fail(cpu, f, -1, sel, EXC_TS, err);
    seg_cache_from_desc(&cpu->ldtr, sel, d);
}

static void task_load_cs(struct cpu *cpu, uint16_t sel, uint32_t ext, struct task_fault *f)
{
    uint64_t d;
    uint32_t err = sel_err(sel) | ext;
    int rpl = sel & 3;
    if (f->vec >= 0)
        task_load_unchecked(cpu, S_CS, sel);
    else if (sel_is_null(sel) || !desc_fetch(cpu, sel, &d) || !desc_is_code(d) ||
             (desc_is_conforming(d) ? desc_dpl(d) > rpl : desc_dpl(d) != rpl))
        task_fail(cpu, f, S_CS, sel, EXC_TS, err);
    else if (!desc_present(d))
        task_fail(cpu, f, S_CS, sel, EXC_NP, err);
    else {
        desc_set_accessed(cpu, sel, d);
        seg_cache_from_desc(&cpu->seg[S_CS], sel, d);
    }
}

static void task_load_ss(struct cpu *cpu, uint16_t sel, uint32_t ext, struct task_fault *f)
{
    uint64_t d;
    uint32_t err = sel_err(sel) | ext;
    if (f->vec >= 0)
        task_load_unchecked(cpu, S_SS, sel);
    else if (sel_is_null(sel) || !desc_fetch(cpu, sel, &d) || (sel & 3) != cpu->cpl ||
             !desc_is_writable_data(d) || desc_dpl(d) != cpu->cpl)
        task_fail(cpu, f, S_SS, sel, EXC_TS, err);
    else if (!desc_present(d))
        task_fail(cpu, f, S_SS, sel, EXC_SS, err);
    else {
        desc_set_accessed(cpu, sel, d);
        seg_cache_from_desc(&cpu->seg[S_SS], sel, d);
    }
}

static void task_load_data(struct cpu *cpu, int seg, uint16_t sel, uint32_t ext, struct task_fault *f)
{
    uint64_t d;
    uint32_t err = sel_err(sel) | ext;
    if (f->vec >= 0)
        task_load_unchecked(cpu, seg, sel);
    else if (sel_is_null(sel))
        return;   /* already null */
    else if (!desc_fetch(cpu, sel, &d) || !desc_is_readable(d) ||
             (!desc_is_conforming(d) && (desc_dpl(d) < cpu->cpl || desc_dpl(d) < (sel & 3))))
        task_fail(cpu, f, seg, sel, EXC_TS, err);
    else if (!desc_present(d))
        task_fail(cpu, f, seg, sel, EXC_NP, err);
    else {
        desc_set_accessed(cpu, sel, d);
        seg_cache_from_desc(&cpu->seg[seg], sel, d);
    }
}

/* ---------------------------------------------------------------------------
 * The switch. */

int task_switch_ext(struct cpu *cpu, uint16_t sel, uint64_t desc, int reason, uint32_t next_eip, uint32_t ext)
{
    int new32 = (desc_type(desc) & 8) != 0;
    uint32_t nbase = desc_base(desc);
    uint32_t nlimit = desc_limit(desc);
    if (nlimit < (new32 ? (uint32_t)TSS32_MIN_LIMIT : (uint32_t)TSS16_MIN_LIMIT))
        RAISE_TS(cpu, sel_err(sel) | ext);

    /* Read the new TSS once before writing anything, so that a #PF on it comes
     * while nothing has changed; read it again after saving, in case the old
     * and new TSS overlap. */
    struct tss_state t;
    tss_read_state(cpu, nbase, new32, &t);
    uint32_t eflags = cpu_eflags(cpu);
    if (reason == TS_IRET) eflags &= ~F_NT;
    tss_save_state(cpu, cpu->tr.base, tss_is32(cpu), eflags, next_eip);
    tss_read_state(cpu, nbase, new32, &t);

    uint16_t old_sel = cpu->tr.sel;
    if (reason == TS_JMP || reason == TS_IRET) desc_set_busy(cpu, old_sel, 0);
    if (reason == TS_CALL || reason == TS_INT) {
        sys_write(cpu, nbase + TSS32_LINK, old_sel, 2);   /* same offset in both formats */
        t.eflags |= F_NT;
    }
    if (reason != TS_IRET) desc_set_busy(cpu, sel, 1);

    PCALL_LOG(cpu, "pcall: task switch %04x -> %04x (%s), eip %08x, %d-bit TSS\n", old_sel, sel,
              reason == TS_JMP ? "jmp" : reason == TS_CALL ? "call" : reason == TS_IRET ? "iret" : "int",
              t.eip, new32 ? 32 : 16);

    /* Commit point: the new task's registers. */
    seg_cache_from_desc(&cpu->tr, sel, desc | (uint64_t)DESC_TSS_BUSY_BIT << 40);
    cpu->cr0 |= CR0_TS;
    cpu->dr[7] &= ~0x155u;   /* L0-L3 and LE are cleared on a task switch (SDM vol. 3, 17.2.4) */
    if (new32 && (cpu->cr0 & CR0_PG)) {
        cpu->cr3 = t.cr3 & 0xFFFFF018u;   /* as MOV CR3 keeps it: base, PCD, PWT */
        tlb_flush_all(cpu);
    }
    for (int r = 0; r < 8; r++) {
        if (new32) REG32(cpu, r) = t.gpr[r];
        else REG16(cpu, r) = (uint16_t)t.gpr[r];
    }
    if (new32) cpu_set_eflags_masked(cpu, t.eflags, EFL_ALL);
    else cpu_set_eflags_masked(cpu, t.eflags & 0xFFFF, EFL_LOW16 | F_VM);
    cpu->eip = new32 ? t.eip : t.eip & 0xFFFF;
    cpu->cur = NULL;

    /* Selectors first, descriptors unusable until each one passes its checks.
     * CS gets a placeholder whose DPL is its RPL, so that CPL is the new task's
     * even if loading CS faults. */
    seg_cache_set(&cpu->ldtr, t.ldt, 0, 0, 0);
    for (int s = 0; s < 6; s++) seg_cache_null(&cpu->seg[s], t.seg[s]);
    seg_cache_set(&cpu->seg[S_CS], t.seg[S_CS], 0, 0, (uint16_t)((t.seg[S_CS] & 3) << 5));
    cpu_update_mode(cpu);

    struct task_fault fault = { -1, 0 };
    task_load_ldt(cpu, t.ldt, ext, &fault);
    if (cpu->eflags & F_VM) {
        for (int s = 0; s < 6; s++) seg_load_v86(cpu, s, t.seg[s]);
    } else {
        task_load_cs(cpu, t.seg[S_CS], ext, &fault);
        cpu_update_mode(cpu);   /* CPL is the new CS.RPL for the checks below */
        task_load_ss(cpu, t.seg[S_SS], ext, &fault);
        task_load_data(cpu, S_ES, t.seg[S_ES], ext, &fault);
        task_load_data(cpu, S_DS, t.seg[S_DS], ext, &fault);
        task_load_data(cpu, S_FS, t.seg[S_FS], ext, &fault);
        task_load_data(cpu, S_GS, t.seg[S_GS], ext, &fault);
    }
    cpu_update_mode(cpu);
    if (fault.vec >= 0) cpu_raise(cpu, fault.vec, fault.err);
    return t.trap;
}

void task_switch_finish(struct cpu *cpu, int trap, uint32_t ext)
{
    if (cpu->eip > cpu->seg[S_CS].limit) RAISE_GP(cpu, ext);
    if (trap) {
        cpu->dr[6] |= 0x8000;   /* DR6.BT: the debug trap of the new TSS's T bit */
        cpu_raise(cpu, EXC_DB, 0);
    }
}

void task_switch(struct cpu *cpu, uint16_t sel, uint64_t desc, int reason, uint32_t next_eip)
{
    int trap = task_switch_ext(cpu, sel, desc, reason, next_eip, 0);
    task_switch_finish(cpu, trap, 0);
}
