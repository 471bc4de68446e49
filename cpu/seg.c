/* Segmentation: descriptor tables, segment register loads, and the far
 * transfers (JMP, CALL, RET, IRET) in real, protected and virtual-8086 mode.
 *
 * Every function here checks everything (descriptors, stack room, the new EIP
 * against the new limit) before it changes anything: faults are raised with
 * cpu_raise() while the CPU still holds the state of the instruction's start.
 * Memory writes (stack frames, accessed bits) come next, registers last, and
 * cpu->eip is set at the very end. The references are the Intel SDM vol. 2
 * pseudo-code of each instruction and vol. 3 chapter 5 (protection). */
#include "seg.h"

/* ---------------------------------------------------------------------------
 * Descriptor tables. */

/* The LDT is usable once LLDT or a task switch loaded a valid one. */
static int ldt_usable(const struct cpu *cpu)
{
    return !sel_is_null(cpu->ldtr.sel) && (cpu->ldtr.flags & SEGF_P);
}

uint32_t desc_addr(const struct cpu *cpu, uint16_t sel)
{
    uint32_t base = (sel & 4) ? cpu->ldtr.base : cpu->gdt_base;
    return base + (sel & 0xFFF8u);
}

int desc_fetch(struct cpu *cpu, uint16_t sel, uint64_t *d)
{
    uint32_t limit;
    if (sel & 4) {
        if (!ldt_usable(cpu)) return 0;
        limit = cpu->ldtr.limit;
    } else {
        limit = cpu->gdt_limit;
    }
    if ((uint32_t)(sel | 7) > limit) return 0;
    uint32_t a = desc_addr(cpu, sel);
    uint32_t lo = sys_read(cpu, a, 4);
    uint32_t hi = sys_read(cpu, a + 4, 4);
    *d = (uint64_t)hi << 32 | lo;
    return 1;
}

int desc_lookup(struct cpu *cpu, uint16_t sel, uint64_t *d)
{
    if (!(sel & 4) && sel_is_null(sel)) return 0;
    return desc_fetch(cpu, sel, d);
}

/* #GP(sel) when the selector is outside its table (internal.h's contract). */
uint64_t desc_read(struct cpu *cpu, uint16_t sel)
{
    uint64_t d;
    if (!desc_fetch(cpu, sel, &d)) RAISE_GP(cpu, sel_err(sel));
    return d;
}

void desc_set_accessed(struct cpu *cpu, uint16_t sel, uint64_t d)
{
    if (desc_is_system(d) || (d & (1ull << 40))) return;
    sys_write(cpu, desc_addr(cpu, sel) + 5, ((uint32_t)(d >> 40) & 0xFF) | SEGF_A, 1);
}

void desc_set_busy(struct cpu *cpu, uint16_t sel, int busy)
{
    uint32_t a = (cpu->gdt_base + (sel & 0xFFF8u)) + 5;
    uint32_t access = sys_read(cpu, a, 1);
    access = busy ? access | DESC_TSS_BUSY_BIT : access & ~(uint32_t)DESC_TSS_BUSY_BIT;
    sys_write(cpu, a, access, 1);
}

void seg_cache_from_desc(struct seg_cache *s, uint16_t sel, uint64_t d)
{
    uint16_t flags = desc_flags(d);
    if (!desc_is_system(d)) flags |= SEGF_A;
    seg_cache_set(s, sel, desc_base(d), desc_limit(d), flags);
}

/* ---------------------------------------------------------------------------
 * Segment register loads. */

void seg_load_real(struct cpu *cpu, int seg, uint16_t sel)
{
    struct seg_cache *s = &cpu->seg[seg];
    /* Real mode keeps the limit and attributes (unreal mode works). A segment left
     * null by protected mode has no descriptor to keep: it gets the 64 KiB
     * read/write segment real-mode code expects. CS is readable and writable in
     * real mode whatever code descriptor it last held; its D bit stays. */
    uint32_t limit = s->limit;
    uint16_t flags = s->flags;
    if (!(flags & SEGF_P)) {
        limit = 0xFFFF;
        flags = SEGF_P | SEGF_S | SEGF_RW | SEGF_A;
    }
    if (seg == S_CS)
        flags = (flags & (SEGF_DB | SEGF_G | SEGF_AVL)) | SEGF_P | SEGF_S | SEGF_RW | SEGF_A;
    seg_cache_set(s, sel, (uint32_t)sel << 4, limit, flags);
}

void seg_load_v86(struct cpu *cpu, int seg, uint16_t sel)
{
    seg_cache_set(&cpu->seg[seg], sel, (uint32_t)sel << 4, 0xFFFF, SEGF_V86);
}

/* MOV/POP/LSS to SS in protected mode (SDM vol. 2, MOV: "IF SS is loaded"). */
static void seg_load_prot_ss(struct cpu *cpu, uint16_t sel)
{
    uint64_t d;
    if (sel_is_null(sel)) RAISE_GP(cpu, 0);
    if (!desc_fetch(cpu, sel, &d)) RAISE_GP(cpu, sel_err(sel));
    if ((sel & 3) != cpu->cpl || !desc_is_writable_data(d) || desc_dpl(d) != cpu->cpl)
        RAISE_GP(cpu, sel_err(sel));
    if (!desc_present(d)) RAISE_SS(cpu, sel_err(sel));
    desc_set_accessed(cpu, sel, d);
    seg_cache_from_desc(&cpu->seg[S_SS], sel, d);
    cpu_update_mode(cpu);
}

/* DS ES FS GS in protected mode: null is allowed (every access through it then
 * faults); otherwise data or readable code, privilege checked unless conforming. */
static void seg_load_prot_data(struct cpu *cpu, int seg, uint16_t sel)
{
    uint64_t d;
    if (sel_is_null(sel)) {
        seg_cache_null(&cpu->seg[seg], sel);
        return;
    }
    if (!desc_fetch(cpu, sel, &d)) RAISE_GP(cpu, sel_err(sel));
    if (!desc_is_readable(d)) RAISE_GP(cpu, sel_err(sel));
    if (!desc_is_conforming(d) && ((sel & 3) > desc_dpl(d) || cpu->cpl > desc_dpl(d)))
        RAISE_GP(cpu, sel_err(sel));
    if (!desc_present(d)) RAISE_NP(cpu, sel_err(sel));
    desc_set_accessed(cpu, sel, d);
    seg_cache_from_desc(&cpu->seg[seg], sel, d);
}

void seg_load(struct cpu *cpu, int seg, uint16_t sel)
{
    if (seg == S_CS || seg > S_GS) {
        cpu_log_unimpl(cpu, "seg_load: segment %d cannot be loaded this way\n", seg);
        RAISE_UD(cpu);
    }
    if (!cpu->pmode) {
        seg_load_real(cpu, seg, sel);
        if (seg == S_SS) cpu_update_mode(cpu);
    } else if (cpu->v86) {
        seg_load_v86(cpu, seg, sel);
        if (seg == S_SS) cpu_update_mode(cpu);
    } else if (seg == S_SS) {
        seg_load_prot_ss(cpu, sel);
    } else {
        seg_load_prot_data(cpu, seg, sel);
    }
}

void seg_null_invalid_data(struct cpu *cpu)
{
    static const int segs[4] = { S_ES, S_DS, S_FS, S_GS };
    for (int k = 0; k < 4; k++) {
        struct seg_cache *s = &cpu->seg[segs[k]];
        uint16_t f = s->flags;
        if (!(f & SEGF_P) || !(f & SEGF_S)) continue;              /* already unusable */
        if ((f & SEGF_CODE) && (f & SEGF_DC)) continue;             /* conforming code */
        if (((f & SEGF_DPL) >> 5) < cpu->cpl) seg_cache_null(s, 0);
    }
}

/* ---------------------------------------------------------------------------
 * LLDT, LTR, and the descriptor probes. */

void load_ldtr(struct cpu *cpu, uint16_t sel)
{
    uint64_t d;
    if (sel_is_null(sel)) {
        seg_cache_set(&cpu->ldtr, sel, 0, 0, 0);   /* no P: the LDT is unusable */
        return;
    }
    if ((sel & 4) || !desc_fetch(cpu, sel, &d)) RAISE_GP(cpu, sel_err(sel));
    if (!desc_is_system(d) || desc_type(d) != DESC_LDT) RAISE_GP(cpu, sel_err(sel));
    if (!desc_present(d)) RAISE_NP(cpu, sel_err(sel));
    seg_cache_from_desc(&cpu->ldtr, sel, d);
}

void load_tr(struct cpu *cpu, uint16_t sel)
{
    uint64_t d;
    if (sel_is_null(sel)) RAISE_GP(cpu, 0);
    if ((sel & 4) || !desc_fetch(cpu, sel, &d)) RAISE_GP(cpu, sel_err(sel));
    if (!desc_is_system(d) || (desc_type(d) != DESC_TSS16_AVAIL && desc_type(d) != DESC_TSS32_AVAIL))
        RAISE_GP(cpu, sel_err(sel));
    if (!desc_present(d)) RAISE_NP(cpu, sel_err(sel));
    desc_set_busy(cpu, sel, 1);
    seg_cache_from_desc(&cpu->tr, sel, d | (uint64_t)DESC_TSS_BUSY_BIT << 40);
}

/* DPL against CPL and RPL, skipped for conforming code (SDM vol. 2, LAR/LSL/VERR). */
static int probe_privilege_ok(const struct cpu *cpu, uint16_t sel, uint64_t d)
{
    if (desc_is_conforming(d)) return 1;
    return desc_dpl(d) >= cpu->cpl && desc_dpl(d) >= (sel & 3);
}

int seg_lar(struct cpu *cpu, uint16_t sel, uint32_t *access_rights)
{
    uint64_t d;
    if (!desc_lookup(cpu, sel, &d)) return 0;
    if (desc_is_system(d)) {
        switch (desc_type(d)) {
        case DESC_TSS16_AVAIL: case DESC_LDT: case DESC_TSS16_BUSY: case DESC_CALLGATE16:
        case DESC_TASKGATE: case DESC_TSS32_AVAIL: case DESC_TSS32_BUSY: case DESC_CALLGATE32:
            break;
        default:
            return 0;
        }
    }
    if (!probe_privilege_ok(cpu, sel, d)) return 0;
    *access_rights = (uint32_t)(d >> 32) & 0x00F0FF00u;
    return 1;
}

int seg_lsl(struct cpu *cpu, uint16_t sel, uint32_t *limit)
{
    uint64_t d;
    if (!desc_lookup(cpu, sel, &d)) return 0;
    if (desc_is_system(d)) {
        switch (desc_type(d)) {
        case DESC_TSS16_AVAIL: case DESC_LDT: case DESC_TSS16_BUSY:
        case DESC_TSS32_AVAIL: case DESC_TSS32_BUSY:
            break;
        default:
            return 0;
        }
    }
    if (!probe_privilege_ok(cpu, sel, d)) return 0;
    *limit = desc_limit(d);
    return 1;
}

int seg_verr(struct cpu *cpu, uint16_t sel)
{
    uint64_t d;
    if (!desc_lookup(cpu, sel, &d)) return 0;
    if (!desc_is_readable(d)) return 0;
    return probe_privilege_ok(cpu, sel, d);
}

int seg_verw(struct cpu *cpu, uint16_t sel)
{
    uint64_t d;
    if (!desc_lookup(cpu, sel, &d)) return 0;
    if (!desc_is_writable_data(d)) return 0;
    return probe_privilege_ok(cpu, sel, d);
}

/* ---------------------------------------------------------------------------
 * Stack frames for far transfers. */

void stack_current(struct cpu *cpu, struct push_stack *st)
{
    st->ss = cpu->seg[S_SS];
    st->esp = ESP(cpu);
    st->mask = sp_mask(cpu);
    st->sys = 0;
}

void stack_new(struct push_stack *st, uint16_t sel, uint64_t d, uint32_t esp)
{
    seg_cache_from_desc(&st->ss, sel, d);
    st->esp = esp;
    st->mask = (desc_flags(d) & SEGF_DB) ? 0xFFFFFFFFu : 0xFFFFu;
    st->sys = 1;
}

static uint32_t frame_slot(const struct push_stack *st, const struct frame *f, int k)
{
    return (st->esp - (uint32_t)(k + 1) * (uint32_t)f->size) & st->mask;
}

void frame_check(struct cpu *cpu, const struct push_stack *st, const struct frame *f, uint32_t err)
{
    for (int k = 0; k < f->n; k++) {
        uint32_t off = frame_slot(st, f, k);
        if (off < st->ss.wlo || (uint64_t)off + (uint32_t)(f->size - 1) > st->ss.whi)
            RAISE_SS(cpu, err);
    }
}

void frame_write(struct cpu *cpu, const struct push_stack *st, const struct frame *f)
{
    for (int k = 0; k < f->n; k++) {
        uint32_t lin = st->ss.base + frame_slot(st, f, k);
        if (st->sys) sys_write(cpu, lin, f->v[k], f->size);
        else lin_write(cpu, lin, f->v[k], f->size);
    }
}

uint32_t frame_esp(const struct push_stack *st, const struct frame *f)
{
    uint32_t esp = st->esp - (uint32_t)f->n * (uint32_t)f->size;
    return (st->esp & ~st->mask) | (esp & st->mask);
}

/* Push a frame on the current stack and move ESP: check, write, commit. */
static void push_frame_current(struct cpu *cpu, const struct frame *f, uint32_t err,
                               uint32_t new_eip, uint32_t new_limit)
{
    struct push_stack st;
    stack_current(cpu, &st);
    frame_check(cpu, &st, f, err);
    if (new_eip > new_limit) RAISE_GP(cpu, 0);
    frame_write(cpu, &st, f);
    ESP(cpu) = frame_esp(&st, f);
}

/* ESP after a return to an outer stack: a 16-bit SS changes only SP (the upper
 * half keeps the inner value, as on hardware). */
static void set_outer_esp(struct cpu *cpu, uint32_t esp, int ss32)
{
    if (ss32) ESP(cpu) = esp;
    else ESP(cpu) = (ESP(cpu) & 0xFFFF0000u) | (esp & 0xFFFFu);
}

/* ---------------------------------------------------------------------------
 * Checks shared by the protected-mode far transfers. */

/* JMP/CALL straight to a code segment (SDM vol. 2, JMP: CONFORMING-CODE-SEGMENT,
 * NONCONFORMING-CODE-SEGMENT). */
static void check_direct_code(struct cpu *cpu, uint16_t sel, uint64_t d)
{
    if (!desc_is_code(d)) RAISE_GP(cpu, sel_err(sel));
    if (desc_is_conforming(d)) {
        if (desc_dpl(d) > cpu->cpl) RAISE_GP(cpu, sel_err(sel));
    } else if ((sel & 3) > cpu->cpl || desc_dpl(d) != cpu->cpl) {
        RAISE_GP(cpu, sel_err(sel));
    }
    if (!desc_present(d)) RAISE_NP(cpu, sel_err(sel));
}

/* A call gate or task gate named by JMP/CALL: DPL >= CPL and >= RPL, present. */
static void check_gate(struct cpu *cpu, uint16_t sel, uint64_t d)
{
    if (desc_dpl(d) < cpu->cpl || desc_dpl(d) < (sel & 3)) RAISE_GP(cpu, sel_err(sel));
    if (!desc_present(d)) RAISE_NP(cpu, sel_err(sel));
}

/* The code segment a call gate names. */
static uint64_t gate_code_target(struct cpu *cpu, uint16_t sel)
{
    uint64_t d;
    if (sel_is_null(sel)) RAISE_GP(cpu, 0);
    if (!desc_fetch(cpu, sel, &d)) RAISE_GP(cpu, sel_err(sel));
    if (!desc_is_code(d) || desc_dpl(d) > cpu->cpl) RAISE_GP(cpu, sel_err(sel));
    if (!desc_present(d)) RAISE_NP(cpu, sel_err(sel));
    return d;
}

static void load_cs_prot(struct cpu *cpu, uint16_t sel, uint64_t d, int cpl)
{
    seg_cache_from_desc(&cpu->seg[S_CS], (uint16_t)((sel & 0xFFFC) | cpl), d);
}

/* JMP or CALL to a task gate or straight to a TSS descriptor (SDM vol. 2, JMP:
 * TASK-GATE, TASK-STATE-SEGMENT). */
static void far_task(struct cpu *cpu, uint16_t sel, uint64_t d, int reason, uint32_t next_eip)
{
    uint16_t tss_sel = sel;
    uint64_t tss = d;
    if (desc_type(d) == DESC_TASKGATE) {
        check_gate(cpu, sel, d);
        tss_sel = gate_selector(d);
        tss = task_gate_tss(cpu, tss_sel, 0);
    } else {
        if (desc_dpl(d) < cpu->cpl || desc_dpl(d) < (sel & 3) || (sel & 4))
            RAISE_GP(cpu, sel_err(sel));
        if (!desc_present(d)) RAISE_NP(cpu, sel_err(sel));
    }
    PCALL_LOG(cpu, "pcall: %s to task %04x from %04x:%08x\n", reason == TS_CALL ? "call" : "jmp",
              tss_sel, cpu->seg[S_CS].sel, next_eip);
    int trap = task_switch_ext(cpu, tss_sel, tss, reason, next_eip, 0);
    task_switch_finish(cpu, trap, 0);
}

/* ---------------------------------------------------------------------------
 * Far JMP. */

static void far_jmp_real(struct cpu *cpu, uint16_t sel, uint32_t off)
{
    uint32_t limit = cpu->v86 ? 0xFFFF : cpu->seg[S_CS].limit;
    if (off > limit) RAISE_GP(cpu, 0);
    if (cpu->v86) seg_load_v86(cpu, S_CS, sel);
    else seg_load_real(cpu, S_CS, sel);
    cpu_update_mode(cpu);
    cpu->eip = off;
}

static void jmp_call_gate(struct cpu *cpu, uint16_t sel, uint64_t g)
{
    check_gate(cpu, sel, g);
    uint16_t tsel = gate_selector(g);
    uint64_t cd = gate_code_target(cpu, tsel);
    if (!desc_is_conforming(cd) && desc_dpl(cd) != cpu->cpl) RAISE_GP(cpu, sel_err(tsel));
    uint32_t eip = gate_offset(g);
    if (desc_type(g) == DESC_CALLGATE16) eip &= 0xFFFF;
    if (eip > desc_limit(cd)) RAISE_GP(cpu, 0);
    desc_set_accessed(cpu, tsel, cd);
    load_cs_prot(cpu, tsel, cd, cpu->cpl);
    cpu_update_mode(cpu);
    cpu->eip = eip;
}

void far_jmp(struct cpu *cpu, uint16_t sel, uint32_t off, int op32, uint32_t next_eip)
{
    if (!op32) off &= 0xFFFF;
    if (!cpu->pmode || cpu->v86) {
        far_jmp_real(cpu, sel, off);
        return;
    }
    if (sel_is_null(sel)) RAISE_GP(cpu, 0);
    uint64_t d = desc_read(cpu, sel);
    if (!desc_is_system(d)) {
        check_direct_code(cpu, sel, d);
        if (off > desc_limit(d)) RAISE_GP(cpu, 0);
        desc_set_accessed(cpu, sel, d);
        load_cs_prot(cpu, sel, d, cpu->cpl);
        cpu_update_mode(cpu);
        cpu->eip = off;
        return;
    }
    switch (desc_type(d)) {
    case DESC_CALLGATE16:
    case DESC_CALLGATE32:
        jmp_call_gate(cpu, sel, d);
        return;
    case DESC_TASKGATE:
    case DESC_TSS16_AVAIL:
    case DESC_TSS32_AVAIL:
        far_task(cpu, sel, d, TS_JMP, next_eip);
        return;
    default:
        RAISE_GP(cpu, sel_err(sel));
    }
}

/* ---------------------------------------------------------------------------
 * Far CALL. */

static void far_call_real(struct cpu *cpu, uint16_t sel, uint32_t off, int op32, uint32_t next_eip)
{
    struct frame f = { .n = 0, .size = op32 ? 4 : 2 };
    frame_push(&f, cpu->seg[S_CS].sel);
    frame_push(&f, next_eip);
    push_frame_current(cpu, &f, 0, off, cpu->v86 ? 0xFFFF : cpu->seg[S_CS].limit);
    if (cpu->v86) seg_load_v86(cpu, S_CS, sel);
    else seg_load_real(cpu, S_CS, sel);
    cpu_update_mode(cpu);
    cpu->eip = off;
}

/* CALL through a call gate to a more privileged non-conforming segment: new stack
 * from the TSS, old SS:ESP and the gate's parameters copied onto it (SDM vol. 2,
 * CALL: CALL-GATE-MORE-PRIVILEGE). */
static void call_gate_inner(struct cpu *cpu, uint64_t g, uint16_t tsel, uint64_t cd, uint32_t eip, uint32_t next_eip)
{
    int dpl = desc_dpl(cd);
    int size = desc_type(g) == DESC_CALLGATE32 ? 4 : 2;
    uint16_t nss;
    uint32_t nesp;
    tss_inner_stack(cpu, dpl, 0, &nss, &nesp);
    uint64_t sd = inner_stack_check(cpu, nss, dpl, 0);
    struct push_stack st;
    stack_new(&st, nss, sd, nesp);

    struct frame f = { .n = 0, .size = size };
    frame_push(&f, cpu->seg[S_SS].sel);
    frame_push(&f, ESP(cpu));
    for (int k = gate_param_count(g) - 1; k >= 0; k--)
        frame_push(&f, stack_peek(cpu, (uint32_t)(k * size), size));
    frame_push(&f, cpu->seg[S_CS].sel);
    frame_push(&f, next_eip);
    frame_check(cpu, &st, &f, sel_err(nss));
    if (eip > desc_limit(cd)) RAISE_GP(cpu, 0);
    frame_write(cpu, &st, &f);
    desc_set_accessed(cpu, nss, sd);
    desc_set_accessed(cpu, tsel, cd);

    PCALL_LOG(cpu, "pcall: call gate to %04x:%08x cpl %d->%d, stack %04x:%08x, %d params\n",
              tsel, eip, cpu->cpl, dpl, nss, nesp, gate_param_count(g));
    seg_cache_from_desc(&cpu->seg[S_SS], nss, sd);
    ESP(cpu) = frame_esp(&st, &f);
    load_cs_prot(cpu, tsel, cd, dpl);
    cpu_update_mode(cpu);
    cpu->eip = eip;
}

static void call_gate(struct cpu *cpu, uint16_t sel, uint64_t g, uint32_t next_eip)
{
    check_gate(cpu, sel, g);
    uint16_t tsel = gate_selector(g);
    uint64_t cd = gate_code_target(cpu, tsel);
    int gate32 = desc_type(g) == DESC_CALLGATE32;
    uint32_t eip = gate32 ? gate_offset(g) : gate_offset(g) & 0xFFFF;
    if (!desc_is_conforming(cd) && desc_dpl(cd) < cpu->cpl) {
        call_gate_inner(cpu, g, tsel, cd, eip, next_eip);
        return;
    }
    struct frame f = { .n = 0, .size = gate32 ? 4 : 2 };
    frame_push(&f, cpu->seg[S_CS].sel);
    frame_push(&f, next_eip);
    push_frame_current(cpu, &f, 0, eip, desc_limit(cd));
    desc_set_accessed(cpu, tsel, cd);
    load_cs_prot(cpu, tsel, cd, cpu->cpl);
    cpu_update_mode(cpu);
    cpu->eip = eip;
}

void far_call(struct cpu *cpu, uint16_t sel, uint32_t off, int op32, uint32_t next_eip)
{
    if (!op32) {
        off &= 0xFFFF;
        next_eip &= 0xFFFF;
    }
    if (!cpu->pmode || cpu->v86) {
        far_call_real(cpu, sel, off, op32, next_eip);
        return;
    }
    if (sel_is_null(sel)) RAISE_GP(cpu, 0);
    uint64_t d = desc_read(cpu, sel);
    if (!desc_is_system(d)) {
        check_direct_code(cpu, sel, d);
        struct frame f = { .n = 0, .size = op32 ? 4 : 2 };
        frame_push(&f, cpu->seg[S_CS].sel);
        frame_push(&f, next_eip);
        push_frame_current(cpu, &f, 0, off, desc_limit(d));
        desc_set_accessed(cpu, sel, d);
        load_cs_prot(cpu, sel, d, cpu->cpl);
        cpu_update_mode(cpu);
        cpu->eip = off;
        return;
    }
    switch (desc_type(d)) {
    case DESC_CALLGATE16:
    case DESC_CALLGATE32:
        call_gate(cpu, sel, d, next_eip);
        return;
    case DESC_TASKGATE:
    case DESC_TSS16_AVAIL:
    case DESC_TSS32_AVAIL:
        far_task(cpu, sel, d, TS_CALL, next_eip);
        return;
    default:
        RAISE_GP(cpu, sel_err(sel));
    }
}

/* ---------------------------------------------------------------------------
 * Far RET. */

static void far_ret_real(struct cpu *cpu, int op32, uint16_t imm)
{
    int size = op32 ? 4 : 2;
    uint32_t eip = stack_peek(cpu, 0, size);
    uint16_t cs = (uint16_t)stack_peek(cpu, (uint32_t)size, 2);
    uint32_t limit = cpu->v86 ? 0xFFFF : cpu->seg[S_CS].limit;
    if (eip > limit) RAISE_GP(cpu, 0);
    set_sp(cpu, ESP(cpu) + (uint32_t)(2 * size) + imm);
    if (cpu->v86) seg_load_v86(cpu, S_CS, cs);
    else seg_load_real(cpu, S_CS, cs);
    cpu_update_mode(cpu);
    cpu->eip = eip;
}

/* The code segment a RET or IRET returns to (SDM vol. 2, RET/IRET: PROTECTED-MODE-RETURN). */
static uint64_t return_code_target(struct cpu *cpu, uint16_t cs)
{
    uint64_t d;
    if (sel_is_null(cs)) RAISE_GP(cpu, 0);
    if (!desc_fetch(cpu, cs, &d)) RAISE_GP(cpu, sel_err(cs));
    int rpl = cs & 3;
    if (!desc_is_code(d) || rpl < cpu->cpl) RAISE_GP(cpu, sel_err(cs));
    if (desc_is_conforming(d) ? desc_dpl(d) > rpl : desc_dpl(d) != rpl) RAISE_GP(cpu, sel_err(cs));
    if (!desc_present(d)) RAISE_NP(cpu, sel_err(cs));
    return d;
}

/* The stack segment a RET or IRET to an outer level loads. */
static uint64_t return_stack_target(struct cpu *cpu, uint16_t ss, int rpl)
{
    uint64_t d;
    if (sel_is_null(ss)) RAISE_GP(cpu, 0);
    if (!desc_fetch(cpu, ss, &d)) RAISE_GP(cpu, sel_err(ss));
    if ((ss & 3) != rpl || !desc_is_writable_data(d) || desc_dpl(d) != rpl) RAISE_GP(cpu, sel_err(ss));
    if (!desc_present(d)) RAISE_SS(cpu, sel_err(ss));
    return d;
}

void far_ret(struct cpu *cpu, int op32, uint16_t imm)
{
    if (!cpu->pmode || cpu->v86) {
        far_ret_real(cpu, op32, imm);
        return;
    }
    int size = op32 ? 4 : 2;
    uint32_t eip = stack_peek(cpu, 0, size);
    uint16_t cs = (uint16_t)stack_peek(cpu, (uint32_t)size, 2);
    uint64_t cd = return_code_target(cpu, cs);
    int rpl = cs & 3;
    if (rpl == cpu->cpl) {
        if (eip > desc_limit(cd)) RAISE_GP(cpu, 0);
        desc_set_accessed(cpu, cs, cd);
        set_sp(cpu, ESP(cpu) + (uint32_t)(2 * size) + imm);
        load_cs_prot(cpu, cs, cd, rpl);
        cpu_update_mode(cpu);
        cpu->eip = eip;
        return;
    }
    /* RETURN-TO-OUTER-PRIVILEGE-LEVEL: SS:ESP sit above the parameters. */
    uint32_t at = (uint32_t)(2 * size) + imm;
    uint32_t esp = stack_peek(cpu, at, size);
    uint16_t ss = (uint16_t)stack_peek(cpu, at + (uint32_t)size, 2);
    uint64_t sd = return_stack_target(cpu, ss, rpl);
    if (eip > desc_limit(cd)) RAISE_GP(cpu, 0);
    desc_set_accessed(cpu, cs, cd);
    desc_set_accessed(cpu, ss, sd);

    PCALL_LOG(cpu, "pcall: ret to %04x:%08x cpl %d->%d, stack %04x:%08x\n", cs, eip, cpu->cpl, rpl, ss, esp);
    load_cs_prot(cpu, cs, cd, rpl);
    seg_cache_from_desc(&cpu->seg[S_SS], ss, sd);
    set_outer_esp(cpu, esp + imm, (desc_flags(sd) & SEGF_DB) != 0);
    cpu_update_mode(cpu);
    seg_null_invalid_data(cpu);
    cpu->eip = eip;
}

/* ---------------------------------------------------------------------------
 * IRET. */

static void iret_real(struct cpu *cpu, int op32)
{
    int size = op32 ? 4 : 2;
    uint32_t eip = stack_peek(cpu, 0, size);
    uint16_t cs = (uint16_t)stack_peek(cpu, (uint32_t)size, 2);
    uint32_t flags = stack_peek(cpu, (uint32_t)(2 * size), size);
    if (eip > cpu->seg[S_CS].limit) RAISE_GP(cpu, 0);
    set_sp(cpu, ESP(cpu) + (uint32_t)(3 * size));
    seg_load_real(cpu, S_CS, cs);
    /* 32-bit: VM, VIF and VIP are kept (SDM vol. 2, IRET: REAL-ADDRESS-MODE). */
    cpu_set_eflags_masked(cpu, flags, op32 ? EFL_ALL & ~(F_VM | F_VIF | F_VIP) : EFL_LOW16);
    cpu_update_mode(cpu);
    cpu->nmi_blocked = 0;
    cpu->eip = eip;
}

/* IRET in V86 mode: IOPL 3 pops like real mode (IOPL, VM, VIF, VIP kept); with
 * IOPL < 3 only a 16-bit IRET under CR4.VME is allowed, and it moves the popped IF
 * into VIF (SDM vol. 2, IRET: RETURN-FROM-VIRTUAL-8086-MODE; vol. 3, 20.3). */
static void iret_v86(struct cpu *cpu, int op32)
{
    int iopl = (int)((cpu->eflags & F_IOPL) >> 12);
    int size = op32 ? 4 : 2;
    if (iopl < 3 && (!(cpu->cr4 & CR4_VME) || op32)) RAISE_GP(cpu, 0);
    uint32_t eip = stack_peek(cpu, 0, size);
    uint16_t cs = (uint16_t)stack_peek(cpu, (uint32_t)size, 2);
    uint32_t flags = stack_peek(cpu, (uint32_t)(2 * size), size);
    if (eip > 0xFFFF) RAISE_GP(cpu, 0);
    uint32_t mask;
    if (iopl == 3) {
        mask = (op32 ? EFL_ALL : EFL_LOW16) & ~(F_IOPL | F_VM | F_VIF | F_VIP);
    } else {
        if (((flags & F_IF) && (cpu->eflags & F_VIP)) || (flags & F_TF)) RAISE_GP(cpu, 0);
        mask = (EFL_LOW16 & ~(F_IOPL | F_IF)) | F_VIF;
        flags = (flags & 0xFFFF) | ((flags & F_IF) ? F_VIF : 0);
    }
    set_sp(cpu, ESP(cpu) + (uint32_t)(3 * size));
    seg_load_v86(cpu, S_CS, cs);
    cpu_set_eflags_masked(cpu, flags, mask);
    cpu_update_mode(cpu);
    cpu->nmi_blocked = 0;
    cpu->eip = eip;
}

/* IRET from CPL 0 to a V86 image: ESP SS ES DS FS GS follow EIP CS EFLAGS. */
static void iret_to_v86(struct cpu *cpu, uint32_t eip, uint16_t cs, uint32_t flags)
{
    uint32_t esp = stack_peek(cpu, 12, 4);
    uint16_t sel[6];
    sel[S_SS] = (uint16_t)stack_peek(cpu, 16, 2);
    sel[S_ES] = (uint16_t)stack_peek(cpu, 20, 2);
    sel[S_DS] = (uint16_t)stack_peek(cpu, 24, 2);
    sel[S_FS] = (uint16_t)stack_peek(cpu, 28, 2);
    sel[S_GS] = (uint16_t)stack_peek(cpu, 32, 2);
    sel[S_CS] = cs;
    if (eip > 0xFFFF) RAISE_GP(cpu, 0);

    PCALL_LOG(cpu, "pcall: iret to v86 %04x:%04x, stack %04x:%08x\n", cs, eip, sel[S_SS], esp);
    cpu_set_eflags_masked(cpu, flags, EFL_ALL);
    for (int s = S_ES; s <= S_GS; s++) seg_load_v86(cpu, s, sel[s]);
    ESP(cpu) = esp;
    cpu_update_mode(cpu);
    cpu->nmi_blocked = 0;
    cpu->eip = eip;
}

/* IRET with NT: return to the task in the back link (SDM vol. 2, IRET: TASK-RETURN). */
static void iret_task(struct cpu *cpu)
{
    uint16_t link = (uint16_t)sys_read(cpu, cpu->tr.base, 2);
    uint64_t d;
    if ((link & 4) || !desc_fetch(cpu, link, &d)) RAISE_TS(cpu, sel_err(link));
    if (!desc_is_system(d) || (desc_type(d) != DESC_TSS16_BUSY && desc_type(d) != DESC_TSS32_BUSY))
        RAISE_TS(cpu, sel_err(link));
    if (!desc_present(d)) RAISE_NP(cpu, sel_err(link));
    /* The task resumes after its IRET; the instruction running now is the IRET. */
    uint32_t next_eip = cpu->cur ? EIP_NEXT(cpu, cpu->cur) : cpu->eip;
    PCALL_LOG(cpu, "pcall: iret to task %04x\n", link);
    int trap = task_switch_ext(cpu, link, d, TS_IRET, next_eip, 0);
    cpu->nmi_blocked = 0;
    task_switch_finish(cpu, trap, 0);
}

/* EFLAGS bits a protected-mode IRET may write, by the CPL and IOPL it runs at. */
static uint32_t iret_flags_mask(const struct cpu *cpu, int op32)
{
    uint32_t mask = F_CF | F_PF | F_AF | F_ZF | F_SF | F_TF | F_DF | F_OF | F_NT;
    if (op32) mask |= F_RF | F_AC | F_ID;
    if (cpu->cpl <= ((cpu->eflags & F_IOPL) >> 12)) mask |= F_IF;
    if (cpu->cpl == 0) {
        mask |= F_IOPL;
        if (op32) mask |= F_VM | F_VIF | F_VIP;
    }
    return mask;
}

static void iret_prot(struct cpu *cpu, int op32)
{
    int size = op32 ? 4 : 2;
    uint32_t eip = stack_peek(cpu, 0, size);
    uint16_t cs = (uint16_t)stack_peek(cpu, (uint32_t)size, 2);
    uint32_t flags = stack_peek(cpu, (uint32_t)(2 * size), size);
    if (op32 && (flags & F_VM) && cpu->cpl == 0) {
        iret_to_v86(cpu, eip, cs, flags);
        return;
    }
    uint64_t cd = return_code_target(cpu, cs);
    int rpl = cs & 3;
    uint32_t mask = iret_flags_mask(cpu, op32);
    if (rpl == cpu->cpl) {
        if (eip > desc_limit(cd)) RAISE_GP(cpu, 0);
        desc_set_accessed(cpu, cs, cd);
        set_sp(cpu, ESP(cpu) + (uint32_t)(3 * size));
        load_cs_prot(cpu, cs, cd, rpl);
        cpu_set_eflags_masked(cpu, flags, mask);
        cpu_update_mode(cpu);
        cpu->nmi_blocked = 0;
        cpu->eip = eip;
        return;
    }
    /* RETURN-TO-OUTER-PRIVILEGE-LEVEL */
    uint32_t esp = stack_peek(cpu, (uint32_t)(3 * size), size);
    uint16_t ss = (uint16_t)stack_peek(cpu, (uint32_t)(4 * size), 2);
    uint64_t sd = return_stack_target(cpu, ss, rpl);
    if (eip > desc_limit(cd)) RAISE_GP(cpu, 0);
    desc_set_accessed(cpu, cs, cd);
    desc_set_accessed(cpu, ss, sd);

    PCALL_LOG(cpu, "pcall: iret to %04x:%08x cpl %d->%d, stack %04x:%08x\n", cs, eip, cpu->cpl, rpl, ss, esp);
    load_cs_prot(cpu, cs, cd, rpl);
    seg_cache_from_desc(&cpu->seg[S_SS], ss, sd);
    set_outer_esp(cpu, esp, (desc_flags(sd) & SEGF_DB) != 0);
    cpu_set_eflags_masked(cpu, flags, mask);
    cpu_update_mode(cpu);
    seg_null_invalid_data(cpu);
    cpu->nmi_blocked = 0;
    cpu->eip = eip;
}

void iret(struct cpu *cpu, int op32)
{
    if (!cpu->pmode) iret_real(cpu, op32);
    else if (cpu->v86) iret_v86(cpu, op32);
    else if (cpu->eflags & F_NT) iret_task(cpu);
    else iret_prot(cpu, op32);
}
