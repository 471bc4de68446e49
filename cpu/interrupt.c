/* Interrupt and exception delivery: the IVT in real mode, the IDT in protected
 * mode (interrupt, trap and task gates, with a stack switch on a privilege
 * change), and the virtual-8086 cases (to a CPL 0 handler, or with CR4.VME back
 * to the 8086 program's own IVT). SDM vol. 3 chapter 6 and 20.3, vol. 2 INT n.
 *
 * Everything that can fault is read and checked before the frame is written,
 * and the frame is written before SS, ESP, CS, EFLAGS and EIP change. A fault
 * here is raised as usual; the exec loop turns it into #DF where it must. */
#include "seg.h"

static int iopl_of(const struct cpu *cpu) { return (int)((cpu->eflags & F_IOPL) >> 12); }

/* Real mode: FLAGS, CS, IP onto the stack, CS:IP from the IVT. The IDTR still
 * gives the table's base and limit (SDM vol. 3, 20.1.4). */
static void deliver_real(struct cpu *cpu, int vec, uint32_t ret_eip)
{
    if ((uint32_t)vec * 4 + 3 > cpu->idt_limit) RAISE_GP(cpu, 0);
    uint32_t entry = sys_read(cpu, cpu->idt_base + (uint32_t)vec * 4, 4);
    struct push_stack st;
    stack_current(cpu, &st);
    struct frame f = { .n = 0, .size = 2 };
    frame_push(&f, cpu_eflags(cpu));
    frame_push(&f, cpu->seg[S_CS].sel);
    frame_push(&f, ret_eip);
    frame_check(cpu, &st, &f, 0);
    frame_write(cpu, &st, &f);

    ESP(cpu) = frame_esp(&st, &f);
    cpu_set_eflags_masked(cpu, 0, F_IF | F_TF | F_AC);
    seg_load_real(cpu, S_CS, (uint16_t)(entry >> 16));
    cpu_update_mode(cpu);
    cpu->eip = entry & 0xFFFF;
}

/* INT n in V86 mode redirected by CR4.VME to the 8086 program's IVT at linear 0
 * (methods 5 and 6 of SDM vol. 3, table 20-2). With IOPL < 3 the pushed FLAGS
 * carry VIF as IF and IOPL 3, and VIF is cleared instead of IF. */
static void deliver_v86_ivt(struct cpu *cpu, int vec, uint32_t ret_eip)
{
    int iopl = iopl_of(cpu);
    uint32_t entry = lin_read(cpu, (uint32_t)vec * 4, 4);   /* a user-level access */
    uint32_t flags = cpu_eflags(cpu) & 0xFFFF;
    if (iopl < 3) flags = (flags & ~F_IF) | ((cpu->eflags & F_VIF) ? F_IF : 0) | F_IOPL;
    struct push_stack st;
    stack_current(cpu, &st);
    struct frame f = { .n = 0, .size = 2 };
    frame_push(&f, flags);
    frame_push(&f, cpu->seg[S_CS].sel);
    frame_push(&f, ret_eip);
    frame_check(cpu, &st, &f, 0);
    frame_write(cpu, &st, &f);

    ESP(cpu) = frame_esp(&st, &f);
    cpu_set_eflags_masked(cpu, 0, F_TF | (iopl == 3 ? F_IF : F_VIF));
    seg_load_v86(cpu, S_CS, (uint16_t)(entry >> 16));
    cpu_update_mode(cpu);
    cpu->eip = entry & 0xFFFF;
}

/* Through a task gate: switch tasks, then push the error code on the new task's
 * stack (SDM vol. 2, INT n: TASK-GATE). */
static void deliver_task_gate(struct cpu *cpu, uint64_t gate, int has_err, uint32_t err,
                              uint32_t ret_eip, uint32_t ext)
{
    uint16_t tss_sel = gate_selector(gate);
    uint64_t tss = task_gate_tss(cpu, tss_sel, ext);
    PCALL_LOG(cpu, "pcall: interrupt through task gate to %04x\n", tss_sel);
    int trap = task_switch_ext(cpu, tss_sel, tss, TS_INT, ret_eip, ext);
    if (has_err) {
        struct push_stack st;
        stack_current(cpu, &st);
        struct frame f = { .n = 0, .size = tss_is32(cpu) ? 4 : 2 };
        frame_push(&f, err);
        frame_check(cpu, &st, &f, ext);
        frame_write(cpu, &st, &f);
        ESP(cpu) = frame_esp(&st, &f);
    }
    task_switch_finish(cpu, trap, ext);
}

/* Through an interrupt or trap gate: same privilege, more privilege (stack from
 * the TSS), or from V86 mode to CPL 0 (data segments pushed, then nulled). */
static void deliver_gate(struct cpu *cpu, uint64_t gate, int has_err, uint32_t err,
                         uint32_t ret_eip, uint32_t ext)
{
    int type = desc_type(gate);
    int gate32 = type == DESC_INTGATE32 || type == DESC_TRAPGATE32;
    uint32_t eip = gate32 ? gate_offset(gate) : gate_offset(gate) & 0xFFFF;
    uint16_t csel = gate_selector(gate);
    uint64_t cd;

    if (sel_is_null(csel)) RAISE_GP(cpu, ext);
    if (!desc_fetch(cpu, csel, &cd)) RAISE_GP(cpu, sel_err(csel) | ext);
    if (!desc_is_code(cd) || desc_dpl(cd) > cpu->cpl) RAISE_GP(cpu, sel_err(csel) | ext);
    if (!desc_present(cd)) RAISE_NP(cpu, sel_err(csel) | ext);
    int dpl = desc_dpl(cd);
    int inner = !desc_is_conforming(cd) && dpl < cpu->cpl;
    /* From V86 mode only a non-conforming CPL 0 handler will do. */
    if (cpu->v86 && (!inner || dpl != 0)) RAISE_GP(cpu, sel_err(csel) | ext);

    struct push_stack st;
    struct frame f = { .n = 0, .size = gate32 ? 4 : 2 };
    uint16_t nss = 0;
    uint64_t sd = 0;
    uint32_t stack_err = ext;
    if (inner) {
        uint32_t nesp;
        tss_inner_stack(cpu, dpl, ext, &nss, &nesp);
        sd = inner_stack_check(cpu, nss, dpl, ext);
        stack_new(&st, nss, sd, nesp);
        stack_err = sel_err(nss) | ext;
        if (cpu->v86) {
            frame_push(&f, cpu->seg[S_GS].sel);
            frame_push(&f, cpu->seg[S_FS].sel);
            frame_push(&f, cpu->seg[S_DS].sel);
            frame_push(&f, cpu->seg[S_ES].sel);
        }
        frame_push(&f, cpu->seg[S_SS].sel);
        frame_push(&f, ESP(cpu));
    } else {
        stack_current(cpu, &st);
    }
    frame_push(&f, cpu_eflags(cpu));
    frame_push(&f, cpu->seg[S_CS].sel);
    frame_push(&f, ret_eip);
    if (has_err) frame_push(&f, err);
    frame_check(cpu, &st, &f, stack_err);
    if (eip > desc_limit(cd)) RAISE_GP(cpu, ext);
    frame_write(cpu, &st, &f);
    if (inner) desc_set_accessed(cpu, nss, sd);
    desc_set_accessed(cpu, csel, cd);

    int new_cpl = inner ? dpl : cpu->cpl;
    if (inner) {
        PCALL_LOG(cpu, "pcall: interrupt gate to %04x:%08x cpl %d->%d%s, stack %04x:%08x\n",
                  csel, eip, cpu->cpl, dpl, cpu->v86 ? " from v86" : "", nss, st.esp);
        seg_cache_from_desc(&cpu->seg[S_SS], nss, sd);
    }
    ESP(cpu) = frame_esp(&st, &f);
    if (cpu->v86) {
        seg_cache_null(&cpu->seg[S_ES], 0);
        seg_cache_null(&cpu->seg[S_DS], 0);
        seg_cache_null(&cpu->seg[S_FS], 0);
        seg_cache_null(&cpu->seg[S_GS], 0);
    }
    seg_cache_from_desc(&cpu->seg[S_CS], (uint16_t)((csel & 0xFFFC) | new_cpl), cd);
    uint32_t clear = F_TF | F_NT | F_RF | F_VM;
    if (type == DESC_INTGATE16 || type == DESC_INTGATE32) clear |= F_IF;
    cpu_set_eflags_masked(cpu, 0, clear);
    cpu_update_mode(cpu);
    cpu->eip = eip;
}

static void deliver_prot(struct cpu *cpu, int vec, enum int_kind kind, int has_err, uint32_t err, uint32_t ret_eip)
{
    /* EXT: the event did not come from the program's own INT n / INT3 / INTO. */
    uint32_t ext = (kind == INT_SOFT || kind == INT_SOFT_EXC) ? 0 : 1;
    uint32_t idt_err = (uint32_t)vec * 8 + 2 + ext;

    if ((uint32_t)vec * 8 + 7 > cpu->idt_limit) RAISE_GP(cpu, idt_err);
    uint32_t a = cpu->idt_base + (uint32_t)vec * 8;
    uint32_t lo = sys_read(cpu, a, 4);
    uint32_t hi = sys_read(cpu, a + 4, 4);
    uint64_t gate = (uint64_t)hi << 32 | lo;
    int type = desc_type(gate);
    if (!desc_is_system(gate) ||
        !(type == DESC_TASKGATE || type == DESC_INTGATE16 || type == DESC_TRAPGATE16 ||
          type == DESC_INTGATE32 || type == DESC_TRAPGATE32))
        RAISE_GP(cpu, idt_err);
    if ((kind == INT_SOFT || kind == INT_SOFT_EXC) && desc_dpl(gate) < cpu->cpl) RAISE_GP(cpu, idt_err);
    if (!desc_present(gate)) RAISE_NP(cpu, idt_err);
    if (type == DESC_TASKGATE) deliver_task_gate(cpu, gate, has_err, err, ret_eip, ext);
    else deliver_gate(cpu, gate, has_err, err, ret_eip, ext);
}

void cpu_deliver(struct cpu *cpu, int vec, enum int_kind kind, int has_err, uint32_t err, uint32_t ret_eip)
{
    vec &= 0xFF;
    if (!cpu->pmode) {
        deliver_real(cpu, vec, ret_eip);   /* no error code in real mode */
        return;
    }
    /* INT n in V86 mode: IOPL-sensitive, and with CR4.VME subject to the TSS
     * redirection bitmap (SDM vol. 3, 20.3.3, table 20-2). */
    if (cpu->v86 && kind == INT_SOFT) {
        int iopl = iopl_of(cpu);
        if (cpu->cr4 & CR4_VME) {
            if (!tss_redir_bit(cpu, vec)) {
                deliver_v86_ivt(cpu, vec, ret_eip);      /* methods 5 and 6 */
                return;
            }
            if (iopl < 3) RAISE_GP(cpu, 0);             /* method 3 */
        } else if (iopl < 3) {
            RAISE_GP(cpu, 0);                            /* method 2 */
        }
    }
    deliver_prot(cpu, vec, kind, has_err, err, ret_eip);
}
