/* Paging (SDM vol. 3, 4.3: 32-bit paging with 4 KiB and 4 MiB pages), the
 * software TLB fill, and the slow paths of memory access: page crossing, MMIO,
 * writes to pages holding cached code, alignment checks. */
#include "internal.h"

#define PTE_P   0x001u
#define PTE_W   0x002u
#define PTE_U   0x004u
#define PTE_A   0x020u
#define PTE_D   0x040u
#define PTE_PS  0x080u
#define PTE_G   0x100u

#define PF_P 1u   /* the page was present: a protection violation */
#define PF_W 2u
#define PF_U 4u

static inline uint32_t a20_mask(struct cpu *cpu)
{
    return memory_a20(cpu->mem) ? 0xFFFFFFFFu : ~(1u << 20);
}

struct xlate {
    uint32_t phys;        /* physical page address */
    int writable;         /* this privilege may write the page without a fault */
    int dirty;            /* the D bit is set (writes need no walk) */
    int global;
};

/* Walk the page tables. Returns 0, or the #PF error code (with bit 31 set so
 * that 0 stays "success") when the access faults. `set_bits` marks A and D. */
static uint32_t walk(struct cpu *cpu, uint32_t lin, int write, int user, int set_bits, struct xlate *x)
{
    uint32_t mask = a20_mask(cpu);
    if (!(cpu->cr0 & CR0_PG)) {
        x->phys = lin & ~0xFFFu & mask;
        x->writable = 1;
        x->dirty = 1;
        x->global = 0;
        return 0;
    }
    uint32_t err_base = (write ? PF_W : 0) | (user ? PF_U : 0);
    int wp = (cpu->cr0 & CR0_WP) != 0;
    uint32_t pde_addr = ((cpu->cr3 & ~0xFFFu) + ((lin >> 22) << 2)) & mask;
    uint32_t pde = memory_read32(cpu->mem, pde_addr);
    if (!(pde & PTE_P)) return 0x80000000u | err_base;

    if ((pde & PTE_PS) && (cpu->cr4 & CR4_PSE)) {
        /* 4 MiB page: the PDE alone gives the rights. */
        int u_ok = (pde & PTE_U) != 0, w_ok = (pde & PTE_W) != 0;
        if (user && !u_ok) return 0x80000000u | err_base | PF_P;
        if (write && !w_ok && (user || wp)) return 0x80000000u | err_base | PF_P;
        if (set_bits) {
            uint32_t nv = pde | PTE_A | (write ? PTE_D : 0);
            if (nv != pde) memory_write32(cpu->mem, pde_addr, nv);
            pde = nv;
        }
        x->phys = ((pde & 0xFFC00000u) | (lin & 0x003FF000u)) & mask;
        x->writable = w_ok || (!user && !wp);
        x->dirty = (pde & PTE_D) != 0;
        x->global = (pde & PTE_G) && (cpu->cr4 & CR4_PGE);
        return 0;
    }

    uint32_t pte_addr = ((pde & ~0xFFFu) + (((lin >> 12) & 0x3FF) << 2)) & mask;
    uint32_t pte = memory_read32(cpu->mem, pte_addr);
    if (!(pte & PTE_P)) return 0x80000000u | err_base;
    /* Rights are the intersection of both levels (SDM vol. 3, 4.6). */
    int u_ok = (pde & pte & PTE_U) != 0, w_ok = (pde & pte & PTE_W) != 0;
    if (user && !u_ok) return 0x80000000u | err_base | PF_P;
    if (write && !w_ok && (user || wp)) return 0x80000000u | err_base | PF_P;
    if (set_bits) {
        if (!(pde & PTE_A)) memory_write32(cpu->mem, pde_addr, pde | PTE_A);
        uint32_t nv = pte | PTE_A | (write ? PTE_D : 0);
        if (nv != pte) memory_write32(cpu->mem, pte_addr, nv);
        pte = nv;
    }
    x->phys = (pte & ~0xFFFu) & mask;
    x->writable = w_ok || (!user && !wp);
    x->dirty = (pte & PTE_D) != 0;
    x->global = (pte & PTE_G) && (cpu->cr4 & CR4_PGE);
    return 0;
}

NORETURN static void page_fault(struct cpu *cpu, uint32_t lin, uint32_t err)
{
    cpu->cr2 = lin;
    cpu_raise(cpu, EXC_PF, err & 0x7FFFFFFFu);
}

/* Translate one access, fill the TLB of privilege `user`, and return the physical
 * address; *host is the host pointer of the byte, or NULL for MMIO/ROM writes. */
static uint32_t translate(struct cpu *cpu, uint32_t lin, int write, int user, uint8_t **host)
{
    struct xlate x;
    cpu->stats.tlb_misses++;
    uint32_t err = walk(cpu, lin, write, user, 1, &x);
    if (err) page_fault(cpu, lin, err);

    uint8_t *page = memory_host_page(cpu->mem, x.phys, 0);
    int t = user ? MMU_USER : MMU_SUPER;
    struct tlb_entry *e = &cpu->tlb[t][(lin >> 12) & TLB_MASK];
    struct tlb_aux *aux = &cpu->tlb_aux[t][(lin >> 12) & TLB_MASK];
    e->rtag = TLB_INVALID;
    e->wtag = TLB_INVALID;
    aux->phys = x.phys;
    aux->global = x.global;
    if (page) {
        e->addend = (uintptr_t)page - (lin & ~0xFFFu);
        e->rtag = lin & ~0xFFFu;
        /* Writes stay on the slow path until D is set, for ROM, and for code pages. */
        /* One addend serves both: only when reads and writes hit the same host page
         * (not for shadow pages that read ROM and write RAM). */
        if (x.writable && (x.dirty || write) && memory_host_page(cpu->mem, x.phys, 1) == page &&
            !blockcache_page_has_code(cpu, x.phys))
            e->wtag = lin & ~0xFFFu;
    }
    if (host) {
        uint8_t *wp = write ? memory_host_page(cpu->mem, x.phys, 1) : page;
        *host = wp ? wp + (lin & 0xFFF) : NULL;
    }
    return x.phys | (lin & 0xFFF);
}

static uint32_t read_in_page(struct cpu *cpu, uint32_t lin, int size, int user)
{
    uint8_t *host;
    uint32_t phys = translate(cpu, lin, 0, user, &host);
    if (host) {
        uint32_t v = 0;
        memcpy(&v, host, (size_t)size);
        return v;
    }
    return memory_read_sized(cpu->mem, phys, size);
}

static void write_phys(struct cpu *cpu, uint32_t phys, uint8_t *host, uint32_t val, int size)
{
    if (host) {
        memcpy(host, &val, (size_t)size);
        if (blockcache_page_has_code(cpu, phys & ~0xFFFu)) {
            cpu->stats.smc_writes++;
            blockcache_invalidate_phys(cpu, phys, (uint32_t)size);
        }
    } else {
        memory_write_sized(cpu->mem, phys, val, size);
    }
}

static uint32_t read_access(struct cpu *cpu, uint32_t lin, int size, int user)
{
    if ((lin & 0xFFF) <= 0x1000u - size) return read_in_page(cpu, lin, size, user);
    /* Crossing a page: both pages must be readable before we return anything. */
    uint32_t v = 0;
    for (int k = 0; k < size; k++) v |= read_in_page(cpu, lin + k, 1, user) << (8 * k);
    return v;
}

static void write_access(struct cpu *cpu, uint32_t lin, uint32_t val, int size, int user)
{
    uint8_t *host;
    if ((lin & 0xFFF) <= 0x1000u - size) {
        uint32_t phys = translate(cpu, lin, 1, user, &host);
        write_phys(cpu, phys, host, val, size);
        return;
    }
    /* Crossing a page: translate both pages before writing any byte, so a fault
     * on the second page leaves memory untouched. */
    uint32_t first = 0x1000u - (lin & 0xFFF);
    uint8_t *host2;
    uint32_t phys1 = translate(cpu, lin, 1, user, &host);
    uint32_t phys2 = translate(cpu, lin + first, 1, user, &host2);
    for (int k = 0; k < size; k++) {
        uint8_t b = (uint8_t)(val >> (8 * k));
        if ((uint32_t)k < first)
            write_phys(cpu, phys1 + k, host ? host + k : NULL, b, 1);
        else
            write_phys(cpu, phys2 + (k - first), host2 ? host2 + (k - first) : NULL, b, 1);
    }
}

uint32_t mem_read_slow(struct cpu *cpu, uint32_t lin, int size)
{
    if (cpu->mmu_idx == MMU_SLOW && (lin & (uint32_t)(size - 1)))
        cpu_raise(cpu, EXC_AC, 0);
    return read_access(cpu, lin, size, cpu->mmu_idx != MMU_SUPER);
}

void mem_write_slow(struct cpu *cpu, uint32_t lin, uint32_t val, int size)
{
    if (cpu->mmu_idx == MMU_SLOW && (lin & (uint32_t)(size - 1)))
        cpu_raise(cpu, EXC_AC, 0);
    write_access(cpu, lin, val, size, cpu->mmu_idx != MMU_SUPER);
}

uint32_t sys_read(struct cpu *cpu, uint32_t lin, int size)
{
    struct tlb_entry *e = &cpu->tlb[MMU_SUPER][(lin >> 12) & TLB_MASK];
    if (e->rtag == (lin & ~0xFFFu) && (lin & 0xFFF) <= 0x1000u - size) {
        uint32_t v = 0;
        memcpy(&v, (const uint8_t *)(e->addend + lin), (size_t)size);
        return v;
    }
    return read_access(cpu, lin, size, 0);
}

void sys_write(struct cpu *cpu, uint32_t lin, uint32_t val, int size)
{
    struct tlb_entry *e = &cpu->tlb[MMU_SUPER][(lin >> 12) & TLB_MASK];
    if (e->wtag == (lin & ~0xFFFu) && (lin & 0xFFF) <= 0x1000u - size) {
        memcpy((uint8_t *)(e->addend + lin), &val, (size_t)size);
        return;
    }
    write_access(cpu, lin, val, size, 0);
}

NORETURN void seg_fault(struct cpu *cpu, int seg)
{
    cpu_raise(cpu, seg == S_SS ? EXC_SS : EXC_GP, 0);
}

/* Instruction fetch for the decoder: physical address of `lin`, raising #PF. */
uint32_t mmu_translate_fetch(struct cpu *cpu, uint32_t lin)
{
    int user = cpu->cpl == 3;
    int t = user ? MMU_USER : MMU_SUPER;
    if (cpu->tlb[t][(lin >> 12) & TLB_MASK].rtag == (lin & ~0xFFFu))
        return cpu->tlb_aux[t][(lin >> 12) & TLB_MASK].phys | (lin & 0xFFF);
    return translate(cpu, lin, 0, user, NULL);
}

int64_t mmu_translate_probe(struct cpu *cpu, uint32_t lin, int write, int user)
{
    struct xlate x;
    if (walk(cpu, lin, write, user, 0, &x)) return -1;
    return (int64_t)(x.phys | (lin & 0xFFF));
}

static void tlb_invalidate_entry(struct cpu *cpu, int t, unsigned k)
{
    cpu->tlb[t][k].rtag = TLB_INVALID;
    cpu->tlb[t][k].wtag = TLB_INVALID;
    cpu->tlb_aux[t][k].global = 0;
}

void tlb_flush_all(struct cpu *cpu)
{
    cpu->stats.tlb_flushes++;
    cpu->tlb_gen++;
    for (int t = 0; t < 2; t++)
        for (unsigned k = 0; k < TLB_SIZE; k++)
            if (!cpu->tlb_aux[t][k].global) tlb_invalidate_entry(cpu, t, k);
}

void tlb_flush_all_global(struct cpu *cpu)
{
    cpu->stats.tlb_flushes++;
    cpu->tlb_gen++;
    for (int t = 0; t < 3; t++)
        for (unsigned k = 0; k < TLB_SIZE; k++) tlb_invalidate_entry(cpu, t, k);
}

void tlb_flush_page(struct cpu *cpu, uint32_t lin)
{
    cpu->tlb_gen++;
    for (int t = 0; t < 2; t++) {
        struct tlb_entry *e = &cpu->tlb[t][(lin >> 12) & TLB_MASK];
        if (e->rtag == (lin & ~0xFFFu) || e->wtag == (lin & ~0xFFFu)) tlb_invalidate_entry(cpu, t, (lin >> 12) & TLB_MASK);
    }
}

/* A page became a code page: writes to it must take the slow path from now on. */
void tlb_drop_write_phys(struct cpu *cpu, uint32_t phys_page)
{
    for (int t = 0; t < 2; t++)
        for (unsigned k = 0; k < TLB_SIZE; k++) {
            struct tlb_entry *e = &cpu->tlb[t][k];
            if (e->wtag != TLB_INVALID && cpu->tlb_aux[t][k].phys == phys_page) e->wtag = TLB_INVALID;
        }
}

static int linear_copy(struct cpu *cpu, uint32_t lin, void *buf, uint32_t len, int write)
{
    uint8_t *p = buf;
    while (len) {
        uint32_t chunk = 0x1000u - (lin & 0xFFF);
        if (chunk > len) chunk = len;
        int64_t phys = mmu_translate_probe(cpu, lin, write, 0);
        if (phys < 0) return -1;
        if (write) memory_write(cpu->mem, (uint32_t)phys, p, chunk);
        else memory_read(cpu->mem, (uint32_t)phys, p, chunk);
        p += chunk;
        lin += chunk;
        len -= chunk;
    }
    return 0;
}

int cpu_read_linear(struct cpu *cpu, uint32_t lin, void *buf, uint32_t len)
{
    return linear_copy(cpu, lin, buf, len, 0);
}

int cpu_write_linear(struct cpu *cpu, uint32_t lin, const void *buf, uint32_t len)
{
    return linear_copy(cpu, lin, (void *)buf, len, 1);
}
