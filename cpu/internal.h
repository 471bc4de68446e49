/* What every file of the CPU shares: the state, the pre-decoded instruction,
 * memory access through segmentation and the software TLB, lazy flags,
 * exceptions, and the opcode registration the decoder reads.
 *
 * Rules every instruction handler keeps (they make faults precise):
 *  - Do every access that can fault before changing any architectural state:
 *    write memory first, then registers, flags and EIP. A fault longjmps out of
 *    the handler and the instruction is restarted from its first byte.
 *  - Leave through NEXT(i) (go on with the block), or set cpu->eip and return
 *    (the block ends: branches, mode changes, REP restarts).
 *  - Never test the operand size at run time: the decoder picks the 16- or
 *    32-bit handler. Address size is in i->amask and i->pfx. */
#ifndef BUBBLE_CPU_INTERNAL_H
#define BUBBLE_CPU_INTERNAL_H

#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>

#include "cpu.h"
#include "memory.h"
#include "ioport.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bubble assumes a little-endian host"
#endif

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define NORETURN    __attribute__((noreturn))
#define ALWAYS_INLINE inline __attribute__((always_inline))

struct cpu;
struct insn;
typedef void insn_fn(struct cpu *cpu, const struct insn *i);

/* ---------------------------------------------------------------------------
 * A pre-decoded instruction (32 bytes). */
struct insn {
    insn_fn *fn;
    uint8_t len;      /* length in bytes */
    uint8_t reg;      /* ModRM reg field, or the register in the opcode's low bits (50+r) */
    uint8_t rm;       /* ModRM rm field (the register of a register form) */
    uint8_t seg;      /* segment of the memory operand (override applied); string source */
    uint8_t base;     /* EA base register, or R_NONE */
    uint8_t index;    /* EA index register, or R_NONE */
    uint8_t scale;    /* EA index shift, 0-3 */
    uint8_t pfx;      /* PFX_* */
    uint16_t off;     /* offset of this instruction from the block's first EIP */
    uint16_t imm2;    /* second immediate: selector of a far pointer, ENTER nesting level */
    uint32_t disp;    /* EA displacement; moffs */
    uint32_t imm;     /* immediate (sign-extended where the opcode says); relative branch offset */
    uint32_t amask;   /* 0xFFFF for 16-bit addressing, 0xFFFFFFFF for 32-bit */
    uint8_t opcode;   /* primary opcode byte (second byte for 0F xx), for logging */
    uint8_t modrm;    /* the ModRM byte, where there is one */
    uint8_t ext;      /* 1 for 0F-prefixed opcodes */
    uint8_t unused;
};

#define R_NONE 8      /* a register slot that always reads 0, for EA without base/index */

/* i->pfx */
#define PFX_REP    0x01   /* F3 */
#define PFX_REPNE  0x02   /* F2 */
#define PFX_LOCK   0x04
#define PFX_ADDR32 0x08   /* effective address size is 32 */
#define PFX_OP32   0x10   /* effective operand size is 32 */
#define PFX_SEGOVR 0x20   /* a segment override was given */
#define PFX_MEM    0x40   /* ModRM names memory (mod != 3) */

/* ---------------------------------------------------------------------------
 * Segment register cache. The offsets valid for an access are precomputed:
 * an access of n bytes at offset o is allowed when rlo <= o and o+n-1 <= rhi
 * (wlo/whi for writes); an empty range (lo > hi) forbids every access. */
struct seg_cache {
    uint32_t base;
    uint32_t limit;       /* byte granular */
    uint32_t rlo, rhi;
    uint32_t wlo, whi;
    uint16_t sel;
    uint16_t flags;       /* access byte | (G, D/B, L, AVL) << 8, as in struct cpu_segment_state */
};
/* flags bits */
#define SEGF_A      0x0001  /* accessed */
#define SEGF_RW     0x0002  /* readable code / writable data */
#define SEGF_DC     0x0004  /* expand-down data / conforming code */
#define SEGF_CODE   0x0008
#define SEGF_S      0x0010  /* code or data (not system) */
#define SEGF_DPL    0x0060
#define SEGF_P      0x0080
#define SEGF_AVL    0x1000
#define SEGF_DB     0x4000
#define SEGF_G      0x8000

/* ---------------------------------------------------------------------------
 * Software TLB: direct mapped, one table per privilege view. A tag is the
 * linear page address; TLB_INVALID never matches. addend + linear = host pointer.
 * Pages that are MMIO never get a tag (always the slow path); pages that hold
 * cached code get a read tag but no write tag, so writes reach the SMC check. */
#define TLB_BITS 11
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_MASK (TLB_SIZE - 1)
#define TLB_INVALID 1u
struct tlb_entry {          /* 16 bytes: the fast path touches only these */
    uint32_t rtag, wtag;
    uintptr_t addend;
};
struct tlb_aux {            /* beside each entry, for the slow paths */
    uint32_t phys;          /* physical page address */
    uint32_t global;        /* the PTE had G with CR4.PGE */
};
enum { MMU_SUPER = 0, MMU_USER = 1, MMU_SLOW = 2 };  /* MMU_SLOW: alignment checking is on */

/* ---------------------------------------------------------------------------
 * Lazy flags: the last flag-setting operation and its operands; OF SF ZF AF PF CF
 * are computed only when read. LF_EAGER means lf_flags holds them as bits. */
enum lf_kind {
    LF_EAGER = 0,
    LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_INC, LF_DEC, LF_NEG,
    LF_SHL, LF_SHR, LF_SAR,
};
#define LF_OP(kind, size) ((kind) << 2 | (size))  /* size: 0 = 8, 1 = 16, 2 = 32 bits */
#define LF_SZ8  0
#define LF_SZ16 1
#define LF_SZ32 2

/* ---------------------------------------------------------------------------
 * Block cache. */
#define BLOCK_MAX_INSNS 64
struct block {
    uint32_t phys;            /* physical address of the first byte */
    uint32_t key_mode;        /* decode mode: bit 0 = 32-bit code */
    uint32_t eip_end;         /* offset one past the last byte, from the first EIP */
    uint16_t ninsn;
    uint16_t valid;
    struct block *hash_next;  /* hash chain */
    struct block *page_next;  /* blocks starting in the same physical page */
    uint32_t chunk_mask;      /* 128-byte chunks of the page this block's bytes cover */
    uint32_t link_rr;         /* which link slot to replace next */
    /* Direct links to the blocks that followed this one, valid while the CPU is in
     * the state they were found in (EIP, CS base, TLB generation, privilege view). */
    struct block *link[2];
    uint32_t link_eip[2], link_cs_base[2], link_gen[2], link_mmu[2];
    struct insn insn[];       /* ninsn instructions, then a sentinel that ends the block */
};

/* ---------------------------------------------------------------------------
 * The CPU. */
struct cpu {
    union {
        uint32_t r32[9];      /* r32[R_NONE] is always 0 */
        uint16_t r16[18];
        uint8_t r8[36];
    } gpr;
    uint32_t eip;             /* inside a block: the EIP of the block's first instruction */
    uint32_t eflags;          /* every bit except OF SF ZF AF PF CF, which are lazy */

    uint32_t lf_res, lf_a, lf_b;  /* result, first and second operand */
    uint32_t lf_flags;        /* LF_EAGER: the six flags; LF_INC/DEC: old CF; ADC/SBB: carry in */
    uint32_t lf_op;           /* LF_OP(kind, size) */

    struct tlb_entry *tlbc;   /* tlb[mmu_idx] */
    const struct insn *cur;   /* the instruction running now (NULL between blocks) */

    struct seg_cache seg[8];  /* ES CS SS DS FS GS, [6] and [7] unused (S_NONE) */
    struct seg_cache ldtr, tr;
    uint32_t gdt_base, idt_base;
    uint16_t gdt_limit, idt_limit;

    uint32_t cr0, cr2, cr3, cr4;
    uint32_t dr[8];

    /* Derived from the above by cpu_update_mode(). */
    uint8_t cpl;
    uint8_t pmode;            /* CR0.PE */
    uint8_t v86;              /* EFLAGS.VM (with PE) */
    uint8_t code32;           /* CS.D */
    uint8_t stack32;          /* SS.B */
    uint8_t mmu_idx;
    uint8_t halted;
    uint8_t inhibit_irq;      /* after MOV SS, POP SS, STI: no interrupt before the next instruction */

    /* Interrupt lines. */
    uint8_t intr;             /* INTR level */
    uint8_t nmi_pending;
    uint8_t nmi_blocked;      /* from NMI delivery until IRET */
    volatile uint8_t stop_request;
    uint8_t reset_request;
    uint8_t fpu_ferr;

    /* Exceptions: run_block() sets the jump target; cpu_raise longjmps to it. */
    jmp_buf *jmp;
    int exc_vec;
    uint32_t exc_err;
    int exc_nest;             /* 0, or the class of the exception being delivered (double-fault rules) */

    /* MSRs and model-specific state. */
    uint32_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t tsc_offset;      /* TSC = icount + tsc_offset */
    uint64_t apic_base;
    uint64_t msr_misc_enable;
    uint64_t mtrr[32];        /* MTRRs kept so the kernel reads back what it wrote */
    uint64_t mtrr_def_type;
    uint64_t pat;
    uint64_t pmc[2];          /* P6 performance counters 0/1 at pmc_sync[] instructions */
    uint64_t pmc_sync[2];
    uint32_t evntsel[2];

    uint32_t tlb_gen;         /* bumped on every TLB flush: block links check it */
    uint64_t icount;          /* instructions retired */
    uint64_t icount_stop;     /* cpu_run returns at or after this count */

    struct memory *mem;
    struct ioports *io;
    struct cpu_callbacks cb;
    cpu_exception_hook *exc_hook;
    void *exc_hook_opaque;

    unsigned log_mask;
    FILE *log_out;
    uint8_t unimpl_logged[512 / 8];
    uint8_t block_cache_on;

    /* The x87 (filled in by the FPU issue). */
    struct fpu_state *fpu;

    struct blockcache *bc;
    struct cpu_stats {
        uint64_t blocks_decoded, block_lookups, block_invalidations, block_flushes;
        uint64_t tlb_misses, tlb_flushes, smc_writes, exceptions, interrupts, block_links;
    } stats;

    struct tlb_entry tlb[3][TLB_SIZE];
    struct tlb_aux tlb_aux[3][TLB_SIZE];
};

/* ---------------------------------------------------------------------------
 * Registers. */
#define REG32(c, n) ((c)->gpr.r32[n])
#define REG16(c, n) ((c)->gpr.r16[(n) * 2])
#define REG8(c, n)  ((c)->gpr.r8[((n) & 3) * 4 + ((n) >> 2)])   /* AL CL DL BL AH CH DH BH */
#define EAX(c) REG32(c, R_EAX)
#define ECX(c) REG32(c, R_ECX)
#define EDX(c) REG32(c, R_EDX)
#define EBX(c) REG32(c, R_EBX)
#define ESP(c) REG32(c, R_ESP)
#define EBP(c) REG32(c, R_EBP)
#define ESI(c) REG32(c, R_ESI)
#define EDI(c) REG32(c, R_EDI)

/* EIP of this instruction, and of the one after it. */
#define EIP_CUR(c, i)  ((c)->eip + (i)->off)
/* 16-bit code: IP wraps at 64 KiB. */
#define EIP_MASK(c)    ((c)->code32 ? 0xFFFFFFFFu : 0xFFFFu)
#define EIP_NEXT(c, i) (((c)->eip + (i)->off + (i)->len) & EIP_MASK(c))

/* Go on with the next instruction of the block (a tail call; the chain is at most
 * BLOCK_MAX_INSNS deep, so it is safe even where the compiler does not optimise it). */
#if defined(__clang__) && __clang_major__ >= 13
#define MUSTTAIL __attribute__((musttail))
#else
#define MUSTTAIL
#endif
#define NEXT(c, i) do { (c)->cur = (i) + 1; MUSTTAIL return (i)[1].fn((c), (i) + 1); } while (0)
/* End the block and continue at the next instruction (for OPF_END instructions). */
#define END_NEXT(c, i) do { (c)->eip = EIP_NEXT(c, i); return; } while (0)
/* End the block and continue at `target` (an EIP). */
#define END_AT(c, target) do { (c)->eip = (target); return; } while (0)

/* Effective address offset of the ModRM memory operand. */
static ALWAYS_INLINE uint32_t ea_off(const struct cpu *cpu, const struct insn *i)
{
    return (i->disp + cpu->gpr.r32[i->base] + (cpu->gpr.r32[i->index] << i->scale)) & i->amask;
}

/* ---------------------------------------------------------------------------
 * Exceptions. cpu_raise never returns: the instruction is abandoned and the
 * exception delivered with EIP at the instruction's first byte. `err` is ignored
 * for vectors that push no error code. */
NORETURN void cpu_raise(struct cpu *cpu, int vec, uint32_t err);
#define RAISE_UD(c)     cpu_raise((c), EXC_UD, 0)
#define RAISE_GP(c, e)  cpu_raise((c), EXC_GP, (e))
#define RAISE_SS(c, e)  cpu_raise((c), EXC_SS, (e))
#define RAISE_NP(c, e)  cpu_raise((c), EXC_NP, (e))
#define RAISE_TS(c, e)  cpu_raise((c), EXC_TS, (e))
/* #UD for an opcode we do not implement: logged once (with -d unimp) with its bytes. */
NORETURN void cpu_raise_unimpl(struct cpu *cpu, const struct insn *i);
void cpu_log_unimpl(struct cpu *cpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cpu_log(struct cpu *cpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Interrupt and exception delivery (cpu/interrupt.c), for every mode: real
 * (IVT), protected (interrupt/trap/task gates, privilege change with stack
 * switch) and virtual-8086. `ret_eip` is the EIP to push; on success the CPU is
 * at the handler. It may raise (the exec loop turns nested faults into #DF). */
enum int_kind {
    INT_HW,        /* external interrupt or NMI */
    INT_EXC,       /* processor exception */
    INT_SOFT,      /* INT n: gate DPL checked against CPL; IOPL-sensitive in V86 */
    INT_SOFT_EXC,  /* INT3, INTO: gate DPL checked, not IOPL-sensitive */
    INT_ICEBP,     /* F1: like an exception, no DPL check */
};
void cpu_deliver(struct cpu *cpu, int vec, enum int_kind kind, int has_err, uint32_t err, uint32_t ret_eip);

/* Which exceptions push an error code (SDM vol. 3, 6.13). */
static inline int exc_has_error(int vec)
{
    return vec == EXC_DF || (vec >= EXC_TS && vec <= EXC_PF) || vec == EXC_AC;
}

/* ---------------------------------------------------------------------------
 * Lazy flags (cpu/flags.c). */
uint32_t flags_get(struct cpu *cpu);            /* OF SF ZF AF PF CF as EFLAGS bits */
int flag_cf(struct cpu *cpu);
int flag_zf(struct cpu *cpu);
int flag_sf(struct cpu *cpu);
int flag_of(struct cpu *cpu);
int flag_pf(struct cpu *cpu);
int flag_af(struct cpu *cpu);
int cond_eval(struct cpu *cpu, int cc);         /* Jcc/SETcc/CMOVcc condition 0-15 (SDM B.1.4.7) */
extern const uint8_t parity_table[256];         /* 1 = even parity (PF set) */

/* CF is read on every INC/DEC/ADC/SBB: kept inline. */
static ALWAYS_INLINE int flag_cf_inline(struct cpu *cpu)
{
    uint32_t a = cpu->lf_a, b = cpu->lf_b, r = cpu->lf_res;
    int sz = (int)(cpu->lf_op & 3);
    switch ((int)(cpu->lf_op >> 2)) {
    case LF_EAGER: return cpu->lf_flags & F_CF;
    case LF_ADD: return r < a;
    case LF_ADC: return cpu->lf_flags ? r <= a : r < a;
    case LF_SUB: return a < b;
    case LF_SBB: return cpu->lf_flags ? a <= b : a < b;
    case LF_LOGIC: return 0;
    case LF_INC: case LF_DEC: return cpu->lf_flags & 1;
    case LF_NEG: return a != 0;
    case LF_SHL: return b <= (8u << sz) ? (int)((a >> ((8u << sz) - b)) & 1) : 0;
    case LF_SHR: return (int)((a >> (b - 1)) & 1);
    case LF_SAR: {
        /* Sign-extend the operand, then take the last bit shifted out. */
        int32_t s = sz == 0 ? (int8_t)a : sz == 1 ? (int16_t)a : (int32_t)a;
        return (int)((s >> (b - 1 > 31 ? 31 : b - 1)) & 1);
    }
    }
    return 0;
}


static ALWAYS_INLINE void lf_set(struct cpu *cpu, uint32_t op, uint32_t res, uint32_t a, uint32_t b)
{
    cpu->lf_op = op;
    cpu->lf_res = res;
    cpu->lf_a = a;
    cpu->lf_b = b;
}
/* Set all six flags at once (bits of F_OSZAPC). */
static ALWAYS_INLINE void lf_set_flags(struct cpu *cpu, uint32_t f)
{
    cpu->lf_op = LF_EAGER;
    cpu->lf_flags = f & F_OSZAPC;
}
/* Change some of the six flags, keep the others. */
static inline void lf_update(struct cpu *cpu, uint32_t mask, uint32_t f)
{
    uint32_t cur = flags_get(cpu);
    lf_set_flags(cpu, (cur & ~mask) | (f & mask));
}
/* INC/DEC keep CF; ADC/SBB need the carry in. */
static inline void lf_set_inc(struct cpu *cpu, int size, uint32_t res, uint32_t a)
{
    uint32_t cf = (uint32_t)flag_cf_inline(cpu);
    lf_set(cpu, LF_OP(LF_INC, size), res, a, 1);
    cpu->lf_flags = cf;
}
static inline void lf_set_dec(struct cpu *cpu, int size, uint32_t res, uint32_t a)
{
    uint32_t cf = (uint32_t)flag_cf_inline(cpu);
    lf_set(cpu, LF_OP(LF_DEC, size), res, a, 1);
    cpu->lf_flags = cf;
}
static inline void lf_set_carry(struct cpu *cpu, uint32_t op, uint32_t res, uint32_t a, uint32_t b, uint32_t cin)
{
    lf_set(cpu, op, res, a, b);
    cpu->lf_flags = cin;
}

/* EFLAGS as a whole. cpu_set_eflags_masked writes only the bits in `mask`
 * (the caller decides which bits CPL and IOPL allow) and updates derived state. */
uint32_t cpu_eflags(struct cpu *cpu);
void cpu_set_eflags_masked(struct cpu *cpu, uint32_t v, uint32_t mask);

/* ---------------------------------------------------------------------------
 * Mode and segments (cpu/cpu.c). */
/* Recompute cpl, pmode, v86, code32, stack32, mmu_idx after CR0, EFLAGS.VM, CS or SS change.
 * CPL comes from the CS cache: its DPL for non-conforming code (and for the real-mode
 * attributes CS keeps right after CR0.PE is set: CPL 0), its RPL for conforming code,
 * 0 in real mode, 3 in V86 mode. So a CS load must set the selector's RPL and the
 * descriptor's DPL as the SDM says (conforming: RPL = CPL). */
void cpu_update_mode(struct cpu *cpu);
/* Fill a segment cache from its parts and precompute the access ranges. */
void seg_cache_set(struct seg_cache *s, uint16_t sel, uint32_t base, uint32_t limit, uint16_t flags);
/* Forbid every access through this segment (null selector in protected mode). */
void seg_cache_null(struct seg_cache *s, uint16_t sel);

/* Segment register loads with every check of the mode we are in (cpu/seg.c):
 * MOV Sreg, POP Sreg, LDS and friends. Loading CS this way is not allowed (far
 * transfers load CS through the functions in cpu/seg.c). */
void seg_load(struct cpu *cpu, int seg, uint16_t sel);
/* Read the 8-byte descriptor for `sel` from the GDT or LDT; raises #GP(sel) beyond the limit. */
uint64_t desc_read(struct cpu *cpu, uint16_t sel);
/* Far JMP, CALL, RET, IRET (cpu/seg.c). `next_eip` is the EIP after the instruction. */
void far_jmp(struct cpu *cpu, uint16_t sel, uint32_t off, int op32, uint32_t next_eip);
void far_call(struct cpu *cpu, uint16_t sel, uint32_t off, int op32, uint32_t next_eip);
void far_ret(struct cpu *cpu, int op32, uint16_t imm);
void iret(struct cpu *cpu, int op32);
/* Task switch (cpu/task.c). `reason`: TS_JMP, TS_CALL, TS_IRET, TS_INT. */
enum { TS_JMP, TS_CALL, TS_IRET, TS_INT };
void task_switch(struct cpu *cpu, uint16_t sel, uint64_t desc, int reason, uint32_t next_eip);

/* I/O permission: IOPL in protected mode, the TSS bitmap when CPL > IOPL or in V86
 * (SDM vol. 1, 18.5). Raises #GP(0) when denied. */
void io_check(struct cpu *cpu, uint16_t port, int size);

/* ---------------------------------------------------------------------------
 * Memory (cpu/mmu.c). Slow paths: page walk and TLB fill, page crossing, MMIO,
 * code pages (self-modifying code), alignment check. */
uint32_t mem_read_slow(struct cpu *cpu, uint32_t lin, int size);
void mem_write_slow(struct cpu *cpu, uint32_t lin, uint32_t val, int size);
/* Implicit supervisor accesses (descriptor tables, TSS, IDT): CPL does not matter. */
uint32_t sys_read(struct cpu *cpu, uint32_t lin, int size);
void sys_write(struct cpu *cpu, uint32_t lin, uint32_t val, int size);
/* Raise #GP(0) or #SS(0) for an access outside a segment's limits. */
NORETURN void seg_fault(struct cpu *cpu, int seg);
void tlb_flush_all(struct cpu *cpu);                  /* CR3 load keeps global pages */
void tlb_flush_all_global(struct cpu *cpu);           /* CR0/CR4 changes, A20 */
void tlb_flush_page(struct cpu *cpu, uint32_t lin);   /* INVLPG */
/* Translate for a probe without raising: physical address or -1. */
int64_t mmu_translate_probe(struct cpu *cpu, uint32_t lin, int write, int user);
/* Instruction fetch: the physical address of `lin`, raising #PF. */
uint32_t mmu_translate_fetch(struct cpu *cpu, uint32_t lin);
/* A physical page now holds cached code: remove the write tags that point at it. */
void tlb_drop_write_phys(struct cpu *cpu, uint32_t phys_page);

static ALWAYS_INLINE uint32_t lin_read(struct cpu *cpu, uint32_t lin, int size)
{
    struct tlb_entry *e = &cpu->tlbc[(lin >> 12) & TLB_MASK];
    if (likely(e->rtag == (lin & ~0xFFFu) && (lin & 0xFFF) <= 0x1000u - size)) {
        const uint8_t *p = (const uint8_t *)(e->addend + lin);
        if (size == 1) return *p;
        if (size == 2) { uint16_t v; memcpy(&v, p, 2); return v; }
        uint32_t v; memcpy(&v, p, 4); return v;
    }
    return mem_read_slow(cpu, lin, size);
}
static ALWAYS_INLINE void lin_write(struct cpu *cpu, uint32_t lin, uint32_t val, int size)
{
    struct tlb_entry *e = &cpu->tlbc[(lin >> 12) & TLB_MASK];
    if (likely(e->wtag == (lin & ~0xFFFu) && (lin & 0xFFF) <= 0x1000u - size)) {
        uint8_t *p = (uint8_t *)(e->addend + lin);
        if (size == 1) *p = (uint8_t)val;
        else if (size == 2) { uint16_t v = (uint16_t)val; memcpy(p, &v, 2); }
        else memcpy(p, &val, 4);
        return;
    }
    mem_write_slow(cpu, lin, val, size);
}

/* Segment checks, then the TLB. */
static ALWAYS_INLINE uint32_t seg_read(struct cpu *cpu, int seg, uint32_t off, int size)
{
    const struct seg_cache *s = &cpu->seg[seg];
    if (unlikely(off < s->rlo || (uint64_t)off + (size - 1) > s->rhi))
        seg_fault(cpu, seg);
    return lin_read(cpu, s->base + off, size);
}
static ALWAYS_INLINE void seg_write(struct cpu *cpu, int seg, uint32_t off, uint32_t val, int size)
{
    const struct seg_cache *s = &cpu->seg[seg];
    if (unlikely(off < s->wlo || (uint64_t)off + (size - 1) > s->whi))
        seg_fault(cpu, seg);
    lin_write(cpu, s->base + off, val, size);
}
/* Check that a write would pass the segment limits, without writing (for
 * instructions that must fault before they change anything). */
static ALWAYS_INLINE void seg_check_write(struct cpu *cpu, int seg, uint32_t off, int size)
{
    const struct seg_cache *s = &cpu->seg[seg];
    if (unlikely(off < s->wlo || (uint64_t)off + (size - 1) > s->whi))
        seg_fault(cpu, seg);
}

static ALWAYS_INLINE uint8_t rd8(struct cpu *c, int seg, uint32_t off) { return (uint8_t)seg_read(c, seg, off, 1); }
static ALWAYS_INLINE uint16_t rd16(struct cpu *c, int seg, uint32_t off) { return (uint16_t)seg_read(c, seg, off, 2); }
static ALWAYS_INLINE uint32_t rd32(struct cpu *c, int seg, uint32_t off) { return seg_read(c, seg, off, 4); }
static ALWAYS_INLINE void wr8(struct cpu *c, int seg, uint32_t off, uint8_t v) { seg_write(c, seg, off, v, 1); }
static ALWAYS_INLINE void wr16(struct cpu *c, int seg, uint32_t off, uint16_t v) { seg_write(c, seg, off, v, 2); }
static ALWAYS_INLINE void wr32(struct cpu *c, int seg, uint32_t off, uint32_t v) { seg_write(c, seg, off, v, 4); }

/* The ModRM memory operand. */
static ALWAYS_INLINE uint8_t rdm8(struct cpu *c, const struct insn *i) { return rd8(c, i->seg, ea_off(c, i)); }
static ALWAYS_INLINE uint16_t rdm16(struct cpu *c, const struct insn *i) { return rd16(c, i->seg, ea_off(c, i)); }
static ALWAYS_INLINE uint32_t rdm32(struct cpu *c, const struct insn *i) { return rd32(c, i->seg, ea_off(c, i)); }
static ALWAYS_INLINE void wrm8(struct cpu *c, const struct insn *i, uint8_t v) { wr8(c, i->seg, ea_off(c, i), v); }
static ALWAYS_INLINE void wrm16(struct cpu *c, const struct insn *i, uint16_t v) { wr16(c, i->seg, ea_off(c, i), v); }
static ALWAYS_INLINE void wrm32(struct cpu *c, const struct insn *i, uint32_t v) { wr32(c, i->seg, ea_off(c, i), v); }

/* ---------------------------------------------------------------------------
 * Stack. The stack size (SS.B) picks ESP or SP; pushes write before ESP moves
 * so a fault leaves ESP untouched. */
static ALWAYS_INLINE uint32_t sp_mask(const struct cpu *cpu) { return cpu->stack32 ? 0xFFFFFFFFu : 0xFFFFu; }
static ALWAYS_INLINE void set_sp(struct cpu *cpu, uint32_t v)
{
    uint32_t m = sp_mask(cpu);
    ESP(cpu) = (ESP(cpu) & ~m) | (v & m);
}
static ALWAYS_INLINE void push16(struct cpu *cpu, uint16_t v)
{
    uint32_t sp = (ESP(cpu) - 2) & sp_mask(cpu);
    wr16(cpu, S_SS, sp, v);
    set_sp(cpu, sp);
}
static ALWAYS_INLINE void push32(struct cpu *cpu, uint32_t v)
{
    uint32_t sp = (ESP(cpu) - 4) & sp_mask(cpu);
    wr32(cpu, S_SS, sp, v);
    set_sp(cpu, sp);
}
static ALWAYS_INLINE uint16_t pop16(struct cpu *cpu)
{
    uint16_t v = rd16(cpu, S_SS, ESP(cpu) & sp_mask(cpu));
    set_sp(cpu, ESP(cpu) + 2);
    return v;
}
static ALWAYS_INLINE uint32_t pop32(struct cpu *cpu)
{
    uint32_t v = rd32(cpu, S_SS, ESP(cpu) & sp_mask(cpu));
    set_sp(cpu, ESP(cpu) + 4);
    return v;
}
/* Read the stack at ESP + `off` without moving ESP (multi-part pops that must not
 * change anything until every read has passed). */
static ALWAYS_INLINE uint32_t stack_peek(struct cpu *cpu, uint32_t off, int size)
{
    return seg_read(cpu, S_SS, (ESP(cpu) + off) & sp_mask(cpu), size);
}

/* ---------------------------------------------------------------------------
 * Opcode registration (cpu/decode.c). Each ops file registers its handlers from
 * its init function; the decoder reads the table. Opcodes 0x000-0x0FF are the
 * one-byte map, 0x100-0x1FF the 0F map. */
#define OS16  1
#define OS32  2
#define OSALL (OS16 | OS32)
enum {
    OPF_MODRM  = 1 << 0,   /* has a ModRM byte (and SIB/displacement) */
    OPF_IMM8   = 1 << 1,   /* imm8, zero-extended into imm */
    OPF_IMM8S  = 1 << 2,   /* imm8, sign-extended into imm */
    OPF_IMMV   = 1 << 3,   /* imm16 or imm32 by operand size (zero-extended) */
    OPF_IMM16  = 1 << 4,   /* imm16 into imm (RET n, ENTER's size) */
    OPF_IMM8_2 = 1 << 5,   /* a further imm8 into imm2 (ENTER's level) */
    OPF_FAR    = 1 << 6,   /* ptr16:16 or ptr16:32: offset into imm, selector into imm2 */
    OPF_MOFFS  = 1 << 7,   /* offset of address size into disp, base and index R_NONE */
    OPF_REL8   = 1 << 8,   /* rel8, sign-extended into imm */
    OPF_RELV   = 1 << 9,   /* rel16 or rel32 by operand size, sign-extended into imm */
    OPF_END    = 1 << 10,  /* ends the block (branches, mode changes, STI, HLT...) */
    OPF_LOCK   = 1 << 11,  /* LOCK allowed (with a memory operand) */
    OPF_IMMGRP = 1 << 12,  /* F6/F7 group: only /0 and /1 (TEST) take an immediate */
    OPF_REGONLY = 1 << 13, /* ModRM mod is treated as 3 whatever it says (MOV CRn/DRn) */
};
/* Register a handler pair for `opcode` (and ModRM reg field `group`, or -1 for all
 * eight) for the operand sizes in `sizes`. `reg_form` runs when there is no ModRM
 * or mod == 3, `mem_form` when ModRM names memory; NULL means #UD for that form. */
void op_register(unsigned opcode, int group, unsigned sizes, unsigned flags,
                 insn_fn *reg_form, insn_fn *mem_form);

/* Each ops file's init; the decoder calls them once. */
void ops_alu_init(void);      /* cpu/ops_alu.c: arithmetic, logic, shifts, mul/div, BCD, bits, moves */
void ops_flow_init(void);     /* cpu/ops_flow.c: stack, near branches, string, I/O, flags, misc */
void ops_system_init(void);   /* cpu/ops_system.c: segments, far transfers, system registers, CPUID, MSRs */
void ops_fpu_init(void);      /* cpu/ops_fpu.c: the x87 (until it lands: #NM/#UD) */
void ops_string_init(void);   /* cpu/ops_string.c: string instructions (called by ops_flow_init) */

/* Handlers the decoder itself uses. */
void op_ud(struct cpu *cpu, const struct insn *i);          /* #UD without logging (UD2, bad forms) */
void op_unimpl(struct cpu *cpu, const struct insn *i);      /* #UD, logged once */

/* Block cache (cpu/exec.c): writes to physical memory that may hold code. */
void blockcache_invalidate_phys(struct cpu *cpu, uint32_t phys, uint32_t len);
int blockcache_page_has_code(struct cpu *cpu, uint32_t phys_page);
void blockcache_flush(struct cpu *cpu);

/* Time stamp counter. */
static inline uint64_t cpu_tsc(const struct cpu *cpu) { return cpu->icount + cpu->tsc_offset; }

#endif
