/* CPU state: creation, reset, mode bookkeeping, segment caches, EFLAGS, and
 * the register access the rest of the machine uses. */
#include <stdlib.h>

#include "internal.h"
#include "fpu_ops.h"

struct blockcache *blockcache_new(void);
void blockcache_free(struct blockcache *bc);
void cpu_exec_init(struct cpu *cpu);

/* EFLAGS bits that exist on this CPU (everything else reads as 0, bit 1 as 1). */
#define EFLAGS_VALID (F_OSZAPC | F_TF | F_IF | F_DF | F_IOPL | F_NT | F_RF | F_VM | F_AC | F_VIF | F_VIP | F_ID)

static void memory_map_changed(void *opaque)
{
    /* A20 or a ROM/MMIO mapping changed: host pointers in the TLB may be stale. */
    tlb_flush_all_global(opaque);
}

struct cpu *cpu_new(struct memory *mem, struct ioports *io)
{
    struct cpu *cpu = calloc(1, sizeof(*cpu));
    if (!cpu) return NULL;
    cpu->mem = mem;
    cpu->io = io;
    cpu->bc = blockcache_new();
    if (!cpu->bc) {
        free(cpu);
        return NULL;
    }
    cpu->block_cache_on = 1;
    cpu_exec_init(cpu);
    if (fpu_attach(cpu)) {
        blockcache_free(cpu->bc);
        free(cpu);
        return NULL;
    }
    memory_set_map_listener(mem, memory_map_changed, cpu);
    cpu_reset(cpu);
    return cpu;
}

void cpu_free(struct cpu *cpu)
{
    if (!cpu) return;
    memory_set_code_listener(cpu->mem, NULL, NULL);
    memory_set_map_listener(cpu->mem, NULL, NULL);
    blockcache_free(cpu->bc);
    fpu_detach(cpu);
    free(cpu);
}

void cpu_set_callbacks(struct cpu *cpu, const struct cpu_callbacks *cb) { cpu->cb = *cb; }

void cpu_set_exception_hook(struct cpu *cpu, cpu_exception_hook *hook, void *opaque)
{
    cpu->exc_hook = hook;
    cpu->exc_hook_opaque = opaque;
}

void cpu_set_log(struct cpu *cpu, unsigned mask, FILE *out)
{
    cpu->log_mask = mask;
    cpu->log_out = out;
}

void cpu_set_block_cache(struct cpu *cpu, int enabled) { cpu->block_cache_on = (uint8_t)!!enabled; }

void seg_cache_set(struct seg_cache *s, uint16_t sel, uint32_t base, uint32_t limit, uint16_t flags)
{
    s->sel = sel;
    s->base = base;
    s->limit = limit;
    s->flags = flags;
    /* Expand-down data: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF by B (SDM vol. 3, 3.4.5.1). */
    uint32_t lo = 0, hi = limit;
    if ((flags & SEGF_S) && !(flags & SEGF_CODE) && (flags & SEGF_DC)) {
        lo = limit + 1;
        hi = (flags & SEGF_DB) ? 0xFFFFFFFFu : 0xFFFFu;
        if (limit == 0xFFFFFFFFu) { lo = 1; hi = 0; }
    }
    int readable = !(flags & SEGF_S) ? 1 : !(flags & SEGF_CODE) || (flags & SEGF_RW);
    int writable = !(flags & SEGF_S) ? 1 : !(flags & SEGF_CODE) && (flags & SEGF_RW);
    s->rlo = readable ? lo : 1;
    s->rhi = readable ? hi : 0;
    s->wlo = writable ? lo : 1;
    s->whi = writable ? hi : 0;
}

void seg_cache_null(struct seg_cache *s, uint16_t sel)
{
    s->sel = sel;
    s->base = 0;
    s->limit = 0;
    s->flags = 0;
    s->rlo = s->wlo = 1;
    s->rhi = s->whi = 0;
}

void cpu_update_mode(struct cpu *cpu)
{
    const struct seg_cache *cs = &cpu->seg[S_CS];
    cpu->pmode = (cpu->cr0 & CR0_PE) != 0;
    cpu->v86 = cpu->pmode && (cpu->eflags & F_VM);
    if (!cpu->pmode) cpu->cpl = 0;
    else if (cpu->v86) cpu->cpl = 3;
    else if ((cs->flags & (SEGF_S | SEGF_CODE | SEGF_DC)) == (SEGF_S | SEGF_CODE | SEGF_DC)) cpu->cpl = cs->sel & 3;
    else cpu->cpl = (cs->flags & SEGF_DPL) >> 5;
    cpu->code32 = !cpu->v86 && (cs->flags & SEGF_DB) != 0;
    cpu->stack32 = (cpu->seg[S_SS].flags & SEGF_DB) != 0;
    if (cpu->cpl != 3) cpu->mmu_idx = MMU_SUPER;
    else if ((cpu->cr0 & CR0_AM) && (cpu->eflags & F_AC)) cpu->mmu_idx = MMU_SLOW;
    else cpu->mmu_idx = MMU_USER;
    cpu->tlbc = cpu->tlb[cpu->mmu_idx];
}

uint32_t cpu_eflags(struct cpu *cpu)
{
    return (cpu->eflags & ~F_OSZAPC) | flags_get(cpu) | 2u;
}

void cpu_set_eflags_masked(struct cpu *cpu, uint32_t v, uint32_t mask)
{
    uint32_t old = cpu_eflags(cpu);
    uint32_t nv = ((old & ~mask) | (v & mask)) & EFLAGS_VALID;
    lf_set_flags(cpu, nv & F_OSZAPC);
    cpu->eflags = (nv & ~F_OSZAPC) | 2u;
    if ((old ^ nv) & (F_VM | F_AC)) cpu_update_mode(cpu);
}

void cpu_reset(struct cpu *cpu)
{
    /* Everything architectural goes back to the power-on state (SDM vol. 3, 9.1.1). */
    memset(&cpu->gpr, 0, sizeof(cpu->gpr));
    EDX(cpu) = 0x00000633;  /* family 6, model 3, stepping 3: matches CPUID */
    cpu->eip = 0xFFF0;
    cpu->eflags = 2;
    lf_set_flags(cpu, 0);
    const uint16_t data_flags = SEGF_P | SEGF_S | SEGF_RW | SEGF_A;
    for (int s = 0; s < 8; s++) seg_cache_set(&cpu->seg[s], 0, 0, 0xFFFF, data_flags);
    seg_cache_set(&cpu->seg[S_CS], 0xF000, 0xFFFF0000u, 0xFFFF, data_flags);
    seg_cache_set(&cpu->ldtr, 0, 0, 0xFFFF, SEGF_P | 2);
    seg_cache_set(&cpu->tr, 0, 0, 0xFFFF, SEGF_P | 11);
    cpu->gdt_base = cpu->idt_base = 0;
    cpu->gdt_limit = cpu->idt_limit = 0xFFFF;
    cpu->cr0 = CR0_ET | CR0_CD | CR0_NW;
    cpu->cr2 = cpu->cr3 = cpu->cr4 = 0;
    memset(cpu->dr, 0, sizeof(cpu->dr));
    cpu->dr[6] = 0xFFFF0FF0u;
    cpu->dr[7] = 0x400;
    cpu->halted = 0;
    cpu->inhibit_irq = 0;
    cpu->nmi_pending = cpu->nmi_blocked = 0;
    cpu->reset_request = 0;
    cpu->exc_nest = 0;
    cpu->cur = NULL;
    cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
    cpu->apic_base = 0xFEE00900ull;   /* BSP, enabled, at the default base */
    cpu->msr_misc_enable = 0;
    memset(cpu->mtrr, 0, sizeof(cpu->mtrr));
    cpu->mtrr_def_type = 0;
    cpu->pat = 0x0007040600070406ull;
    memset(cpu->pmc, 0, sizeof(cpu->pmc));
    memset(cpu->evntsel, 0, sizeof(cpu->evntsel));
    cpu->tsc_offset = 0 - cpu->icount;
    if (cpu->fpu) fpu_reset(cpu);
    cpu_update_mode(cpu);
    tlb_flush_all_global(cpu);
    blockcache_flush(cpu);
}

void cpu_set_intr(struct cpu *cpu, int level) { cpu->intr = (uint8_t)!!level; }
void cpu_set_nmi(struct cpu *cpu) { cpu->nmi_pending = 1; }
void cpu_request_stop(struct cpu *cpu) { cpu->stop_request = 1; }
uint64_t cpu_icount(const struct cpu *cpu) { return cpu->icount; }

uint32_t cpu_get_reg(const struct cpu *cpu, int reg) { return cpu->gpr.r32[reg & 7]; }
void cpu_set_reg(struct cpu *cpu, int reg, uint32_t v) { cpu->gpr.r32[reg & 7] = v; }
uint32_t cpu_get_eip(const struct cpu *cpu) { return cpu->eip; }
void cpu_set_eip(struct cpu *cpu, uint32_t eip) { cpu->eip = eip; }
uint32_t cpu_get_eflags(const struct cpu *cpu) { return cpu_eflags((struct cpu *)cpu); }
void cpu_set_eflags(struct cpu *cpu, uint32_t v) { cpu_set_eflags_masked(cpu, v, 0xFFFFFFFFu); }

void cpu_get_seg(const struct cpu *cpu, int seg, struct cpu_segment_state *out)
{
    const struct seg_cache *s = &cpu->seg[seg & 7];
    out->selector = s->sel;
    out->base = s->base;
    out->limit = s->limit;
    out->flags = s->flags;
}

void cpu_set_seg(struct cpu *cpu, int seg, const struct cpu_segment_state *in)
{
    seg_cache_set(&cpu->seg[seg & 7], in->selector, in->base, in->limit, in->flags);
    cpu_update_mode(cpu);
}

void cpu_set_seg_real(struct cpu *cpu, int seg, uint16_t selector)
{
    struct seg_cache *s = &cpu->seg[seg & 7];
    seg_cache_set(s, selector, (uint32_t)selector << 4, s->limit, s->flags);
    cpu_update_mode(cpu);
}

uint32_t cpu_get_cr(const struct cpu *cpu, int n)
{
    switch (n) {
    case 0: return cpu->cr0;
    case 2: return cpu->cr2;
    case 3: return cpu->cr3;
    case 4: return cpu->cr4;
    default: return 0;
    }
}

void cpu_set_cr(struct cpu *cpu, int n, uint32_t v)
{
    switch (n) {
    case 0: cpu->cr0 = v | CR0_ET; break;
    case 2: cpu->cr2 = v; break;
    case 3: cpu->cr3 = v; break;
    case 4: cpu->cr4 = v; break;
    default: return;
    }
    tlb_flush_all_global(cpu);
    cpu_update_mode(cpu);
}

void cpu_set_gdtr(struct cpu *cpu, uint32_t base, uint16_t limit) { cpu->gdt_base = base; cpu->gdt_limit = limit; }
void cpu_set_idtr(struct cpu *cpu, uint32_t base, uint16_t limit) { cpu->idt_base = base; cpu->idt_limit = limit; }
void cpu_get_gdtr(const struct cpu *cpu, uint32_t *base, uint16_t *limit) { *base = cpu->gdt_base; *limit = cpu->gdt_limit; }
void cpu_get_idtr(const struct cpu *cpu, uint32_t *base, uint16_t *limit) { *base = cpu->idt_base; *limit = cpu->idt_limit; }
int cpu_is_halted(const struct cpu *cpu) { return cpu->halted; }
void cpu_set_halted(struct cpu *cpu, int halted) { cpu->halted = (uint8_t)!!halted; }

void cpu_print_stats(const struct cpu *cpu, FILE *out)
{
    const struct cpu_stats *s = &cpu->stats;
    fprintf(out, "instructions %llu, blocks decoded %llu, lookups %llu, invalidations %llu, flushes %llu\n"
                 "tlb misses %llu, tlb flushes %llu, smc writes %llu, exceptions %llu, interrupts %llu, block links %llu\n",
            (unsigned long long)cpu->icount, (unsigned long long)s->blocks_decoded,
            (unsigned long long)s->block_lookups, (unsigned long long)s->block_invalidations,
            (unsigned long long)s->block_flushes, (unsigned long long)s->tlb_misses,
            (unsigned long long)s->tlb_flushes, (unsigned long long)s->smc_writes,
            (unsigned long long)s->exceptions, (unsigned long long)s->interrupts,
            (unsigned long long)s->block_links);
}
