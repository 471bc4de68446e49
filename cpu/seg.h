/* Protected-mode machinery shared by cpu/seg.c, cpu/interrupt.c, cpu/task.c and
 * the system instructions (cpu/ops_system.c): descriptor fields, descriptor
 * table look-ups, LLDT/LTR, and what LAR/LSL/VERR/VERW need.
 *
 * Descriptor layout (SDM vol. 3, 3.4.5): a 64-bit value as it sits in memory,
 * low dword first. Selectors: index << 3 | TI << 2 | RPL. */
#ifndef BUBBLE_CPU_SEG_H
#define BUBBLE_CPU_SEG_H

#include "internal.h"

/* Descriptor types (the 4-bit type field with S = 0), SDM vol. 3, table 3-2. */
enum {
    DESC_TSS16_AVAIL = 0x1,
    DESC_LDT         = 0x2,
    DESC_TSS16_BUSY  = 0x3,
    DESC_CALLGATE16  = 0x4,
    DESC_TASKGATE    = 0x5,
    DESC_INTGATE16   = 0x6,
    DESC_TRAPGATE16  = 0x7,
    DESC_TSS32_AVAIL = 0x9,
    DESC_TSS32_BUSY  = 0xB,
    DESC_CALLGATE32  = 0xC,
    DESC_INTGATE32   = 0xE,
    DESC_TRAPGATE32  = 0xF,
};
#define DESC_TSS_BUSY_BIT 0x2   /* in the type field: available 1/9 -> busy 3/B */

/* Segment-cache flags of a V86 segment: present, DPL 3, read/write data, accessed. */
#define SEGF_V86 (SEGF_P | SEGF_DPL | SEGF_S | SEGF_RW | SEGF_A)

/* Every EFLAGS bit software can hold (bit 1 is fixed and never in a mask). */
#define EFL_ALL (F_CF | F_PF | F_AF | F_ZF | F_SF | F_TF | F_IF | F_DF | F_OF | F_IOPL | \
                 F_NT | F_RF | F_VM | F_AC | F_VIF | F_VIP | F_ID)
#define EFL_LOW16 (EFL_ALL & 0xFFFFu)

/* ---------------------------------------------------------------------------
 * Descriptor fields. */
static inline uint32_t desc_base(uint64_t d)
{
    return (uint32_t)((d >> 16) & 0xFFFFFFu) | (uint32_t)((d >> 32) & 0xFF000000u);
}
/* Limit in bytes, scaled by G. */
static inline uint32_t desc_limit(uint64_t d)
{
    uint32_t raw = (uint32_t)(d & 0xFFFFu) | (uint32_t)((d >> 32) & 0xF0000u);
    return (d & (1ull << 55)) ? (raw << 12) | 0xFFFu : raw;
}
/* Access byte | (AVL, L, D/B, G) << 12: the seg_cache / cpu_segment_state flags layout. */
static inline uint16_t desc_flags(uint64_t d)
{
    return (uint16_t)((d >> 40) & 0xF0FFu);
}
static inline int desc_type(uint64_t d) { return (int)((d >> 40) & 0xF); }
static inline int desc_dpl(uint64_t d) { return (int)((d >> 45) & 3); }
static inline int desc_present(uint64_t d) { return (int)((d >> 47) & 1); }
static inline int desc_is_system(uint64_t d) { return !((d >> 44) & 1); }
static inline int desc_is_code(uint64_t d) { return !desc_is_system(d) && (d & (1ull << 43)); }
static inline int desc_is_data(uint64_t d) { return !desc_is_system(d) && !(d & (1ull << 43)); }
static inline int desc_is_conforming(uint64_t d) { return desc_is_code(d) && (d & (1ull << 42)); }
/* Readable code or data (what DS ES FS GS may hold). */
static inline int desc_is_readable(uint64_t d) { return desc_is_data(d) || (desc_is_code(d) && (d & (1ull << 41))); }
static inline int desc_is_writable_data(uint64_t d) { return desc_is_data(d) && (d & (1ull << 41)); }
static inline int desc_is_tss(uint64_t d)
{
    int t = desc_type(d);
    return desc_is_system(d) && (t == DESC_TSS16_AVAIL || t == DESC_TSS16_BUSY ||
                                 t == DESC_TSS32_AVAIL || t == DESC_TSS32_BUSY);
}
/* Gate fields (call, interrupt, trap and task gates). */
static inline uint16_t gate_selector(uint64_t d) { return (uint16_t)(d >> 16); }
static inline uint32_t gate_offset(uint64_t d)
{
    return (uint32_t)(d & 0xFFFFu) | (uint32_t)((d >> 32) & 0xFFFF0000u);
}
static inline int gate_param_count(uint64_t d) { return (int)((d >> 32) & 0x1F); }

static inline int sel_is_null(uint16_t sel) { return (sel & 0xFFFC) == 0; }
/* The error code that names a selector: index and TI, RPL replaced by the IDT/EXT bits. */
static inline uint32_t sel_err(uint16_t sel) { return sel & 0xFFFCu; }

/* ---------------------------------------------------------------------------
 * Descriptor tables (cpu/seg.c). All reads are implicit supervisor accesses
 * (sys_read) and may raise #PF. */

/* Read the descriptor for `sel` from the GDT or LDT (TI). Returns 0 without
 * faulting when the selector is null (GDT index 0) or outside the table (or TI = 1
 * with no valid LDT), 1 when *d was read. For LAR, LSL, VERR, VERW. */
int desc_lookup(struct cpu *cpu, uint16_t sel, uint64_t *d);
/* Like desc_lookup but the null selector is not special (GDT entry 0 is read):
 * 0 when outside the table. The callers raise the fault their instruction needs. */
int desc_fetch(struct cpu *cpu, uint16_t sel, uint64_t *d);
/* Linear address of the descriptor `sel` names (the caller checked the limit). */
uint32_t desc_addr(const struct cpu *cpu, uint16_t sel);
/* Set the accessed bit of a code/data descriptor in memory if it is clear (a
 * segment load sets it, SDM vol. 3, 3.4.5.1). May raise #PF. */
void desc_set_accessed(struct cpu *cpu, uint16_t sel, uint64_t d);
/* Set or clear the busy bit of the TSS descriptor `sel` in the GDT. */
void desc_set_busy(struct cpu *cpu, uint16_t sel, int busy);

/* Fill a segment cache from a descriptor (accessed bit set in the cache). */
void seg_cache_from_desc(struct seg_cache *s, uint16_t sel, uint64_t d);

/* LLDT: load LDTR (null is allowed and makes the LDT unusable). Raises #GP(sel)
 * for TI = 1, a selector outside the GDT or not an LDT descriptor, #NP(sel) when
 * not present. The caller checks CPL = 0 (#GP(0)) and protected mode (#UD). */
void load_ldtr(struct cpu *cpu, uint16_t sel);
/* LTR: load TR and mark the TSS busy. #GP(0) for null, #GP(sel) for TI = 1, outside
 * the GDT, or not an available TSS, #NP(sel) when not present. The caller checks
 * CPL = 0 and protected mode. */
void load_tr(struct cpu *cpu, uint16_t sel);

/* LAR, LSL, VERR, VERW in protected mode (the caller raises #UD in real and V86
 * mode): return 1 (ZF = 1) when the selector passes, 0 (ZF = 0) otherwise. They
 * raise nothing but #PF on the descriptor read. */
int seg_lar(struct cpu *cpu, uint16_t sel, uint32_t *access_rights);  /* high dword & 0x00F0FF00 */
int seg_lsl(struct cpu *cpu, uint16_t sel, uint32_t *limit);          /* scaled by G */
int seg_verr(struct cpu *cpu, uint16_t sel);
int seg_verw(struct cpu *cpu, uint16_t sel);

/* ---------------------------------------------------------------------------
 * Shared between seg.c, interrupt.c and task.c. */

/* Load a segment register the real-mode way (base = sel << 4; limit and
 * attributes kept) or the V86 way (limit 0xFFFF, DPL 3 data). CS too. */
void seg_load_real(struct cpu *cpu, int seg, uint16_t sel);
void seg_load_v86(struct cpu *cpu, int seg, uint16_t sel);

/* After a return to an outer level: null ES DS FS GS when they hold data or
 * non-conforming code more privileged than the new CPL (SDM vol. 2, RET/IRET). */
void seg_null_invalid_data(struct cpu *cpu);

/* A stack that a far transfer pushes a frame onto. The frame is checked
 * against the limits first (raising #SS(err)), written next, and only then does
 * the caller commit SS:ESP. `sys` selects supervisor writes (a new inner stack)
 * instead of writes at the current CPL (the current stack). */
struct push_stack {
    struct seg_cache ss;
    uint32_t esp;        /* ESP before the frame */
    uint32_t mask;       /* 0xFFFF or 0xFFFFFFFF, from ss's B bit */
    int sys;
};
#define FRAME_MAX 40
struct frame {
    uint32_t v[FRAME_MAX];   /* v[0] is pushed first (ends up at the highest address) */
    int n;
    int size;                /* 2 or 4 */
};
void stack_current(struct cpu *cpu, struct push_stack *st);
void stack_new(struct push_stack *st, uint16_t sel, uint64_t d, uint32_t esp);
void frame_check(struct cpu *cpu, const struct push_stack *st, const struct frame *f, uint32_t err);
void frame_write(struct cpu *cpu, const struct push_stack *st, const struct frame *f);
/* ESP after the frame is pushed (the bits above the stack size are kept). */
uint32_t frame_esp(const struct push_stack *st, const struct frame *f);
static inline void frame_push(struct frame *f, uint32_t v) { f->v[f->n++] = v; }

/* SS:ESP for privilege level `dpl` from the current TSS (SDM vol. 3, 7.2.1).
 * Raises #TS(TR | ext) when the fields are beyond the TSS limit. */
void tss_inner_stack(struct cpu *cpu, int dpl, uint32_t ext, uint16_t *ss, uint32_t *esp);
/* Validate a new inner stack segment for a privilege change to `dpl`: #TS(ss | ext)
 * unless it is a writable data segment with RPL = DPL = dpl, #SS(ss | ext) when not
 * present. Returns its descriptor. */
uint64_t inner_stack_check(struct cpu *cpu, uint16_t ss, int dpl, uint32_t ext);
/* Is the current TSS a 32-bit one? */
static inline int tss_is32(const struct cpu *cpu) { return (cpu->tr.flags & 0x8) != 0; }

/* task_switch with the EXT bit for the error codes it raises. Returns 1 when the
 * new TSS has its T bit set: the caller raises #DB once it has finished. */
int task_switch_ext(struct cpu *cpu, uint16_t sel, uint64_t desc, int reason, uint32_t next_eip, uint32_t ext);
/* After a task switch: #GP(ext) when EIP is outside the new CS limit, then the
 * T-bit #DB (DR6.BT) when `trap`. */
void task_switch_finish(struct cpu *cpu, int trap, uint32_t ext);
/* Validate the TSS a task gate names (the TSS selector in the gate): #GP(tss | ext)
 * for TI = 1, outside the GDT or not an available TSS; #NP(tss | ext) when not present. */
uint64_t task_gate_tss(struct cpu *cpu, uint16_t tss_sel, uint32_t ext);

/* V86 with CR4.VME: the bit for vector `vec` in the TSS interrupt redirection
 * bitmap, 32 bytes below the I/O map base (SDM vol. 3, 20.3.3): 0 sends INT n to
 * the 8086 program's IVT, 1 to the protected-mode IDT. #GP(0) if outside the TSS. */
int tss_redir_bit(struct cpu *cpu, int vec);

/* -d pcall logging (far calls through gates, task switches). */
#define PCALL_LOG(cpu, ...) \
    do { if ((cpu)->log_mask & LOG_PCALL) cpu_log((cpu), __VA_ARGS__); } while (0)

#endif
