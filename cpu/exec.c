/* The execution loop and the basic-block cache.
 *
 * A block is a run of pre-decoded instructions starting at one physical
 * address, inside one 4 KiB page, ending at a branch or mode change, at the page
 * end or after BLOCK_MAX_INSNS. Blocks are found by (physical address, decode
 * mode). Each page with blocks records which 128-byte chunks they cover; a write
 * to such a chunk (through the TLB slow path, DMA or a loader) invalidates them.
 * If the block running now is hit, the instructions after the current one are
 * patched to leave the block, so the new bytes are decoded before they run. */
#include <stdarg.h>
#include <stdlib.h>

#include "internal.h"
#include "decode.h"

#define HASH_BITS 16
#define HASH_SIZE (1u << HASH_BITS)
#define ARENA_BYTES (48u << 20)
#define BLOCK_BYTES(n) (sizeof(struct block) + sizeof(struct insn) * ((n) + 1))

struct code_page {
    struct block *blocks;
    uint32_t chunk_mask;     /* 128-byte chunks covered by the blocks in this page */
};

struct blockcache {
    struct block *hash[HASH_SIZE];
    struct code_page **pages;   /* by physical page number, allocated on first use */
    uint32_t *page_list;        /* the page numbers allocated in `pages`, for a quick flush */
    uint32_t npages, page_list_cap;
    uint8_t *arena;
    size_t used;
    struct block *running;      /* the block executing now, for self-modifying code */
    /* A block decoded for one use only: page-crossing instructions, single-step,
     * CS-limit edges, the cache switched off. */
    union {
        struct block b;
        uint8_t bytes[BLOCK_BYTES(BLOCK_MAX_INSNS)];
    } scratch;
};

static inline uint32_t hash_of(uint32_t phys, uint32_t mode)
{
    uint32_t h = phys * 0x9E3779B1u ^ mode;
    return (h ^ (h >> 16)) & (HASH_SIZE - 1);
}

struct blockcache *blockcache_new(void)
{
    struct blockcache *bc = calloc(1, sizeof(*bc));
    if (!bc) return NULL;
    bc->pages = calloc(1u << 20, sizeof(*bc->pages));
    bc->arena = malloc(ARENA_BYTES);
    if (!bc->pages || !bc->arena) {
        free(bc->pages);
        free(bc->arena);
        free(bc);
        return NULL;
    }
    return bc;
}

void blockcache_free(struct blockcache *bc)
{
    if (!bc) return;
    for (uint32_t k = 0; k < bc->npages; k++) free(bc->pages[bc->page_list[k]]);
    free(bc->page_list);
    free(bc->pages);
    free(bc->arena);
    free(bc);
}

void blockcache_flush(struct cpu *cpu)
{
    struct blockcache *bc = cpu->bc;
    memset(bc->hash, 0, sizeof(bc->hash));
    for (uint32_t k = 0; k < bc->npages; k++) {
        struct code_page *p = bc->pages[bc->page_list[k]];
        p->blocks = NULL;
        p->chunk_mask = 0;
    }
    bc->used = 0;
    cpu->stats.block_flushes++;
}

int blockcache_page_has_code(struct cpu *cpu, uint32_t phys_page)
{
    struct code_page *p = cpu->bc->pages[phys_page >> 12];
    return p && p->chunk_mask;
}

static uint32_t chunk_bits(uint32_t start, uint32_t end)   /* offsets in the page, end exclusive */
{
    uint32_t first = start >> 7, last = (end - 1) >> 7;
    uint32_t hi = last == 31 ? 0xFFFFFFFFu : (2u << last) - 1;
    return hi & ~((1u << first) - 1);
}

/* Instructions after the current one leave the block: their bytes changed. */
static void op_smc_exit(struct cpu *cpu, const struct insn *i)
{
    cpu->eip = (cpu->eip + i->off) & EIP_MASK(cpu);
}

static void op_block_end(struct cpu *cpu, const struct insn *i)
{
    cpu->eip = (cpu->eip + i->off) & EIP_MASK(cpu);
}

static void block_unlink_hash(struct blockcache *bc, struct block *b)
{
    struct block **pp = &bc->hash[hash_of(b->phys, b->key_mode)];
    while (*pp) {
        if (*pp == b) {
            *pp = b->hash_next;
            return;
        }
        pp = &(*pp)->hash_next;
    }
}

static void invalidate_in_page(struct cpu *cpu, struct code_page *p, uint32_t bits)
{
    struct blockcache *bc = cpu->bc;
    struct block **pp = &p->blocks;
    uint32_t mask = 0;
    while (*pp) {
        struct block *b = *pp;
        if (b->chunk_mask & bits) {
            *pp = b->page_next;
            b->valid = 0;
            block_unlink_hash(bc, b);
            cpu->stats.block_invalidations++;
            if (b == bc->running && cpu->cur) {
                struct insn *end = &b->insn[b->ninsn];
                for (struct insn *q = (struct insn *)cpu->cur + 1; q <= end; q++) q->fn = op_smc_exit;
            }
        } else {
            mask |= b->chunk_mask;
            pp = &b->page_next;
        }
    }
    p->chunk_mask = mask;
}

void blockcache_invalidate_phys(struct cpu *cpu, uint32_t phys, uint32_t len)
{
    struct blockcache *bc = cpu->bc;
    while (len) {
        uint32_t off = phys & 0xFFF;
        uint32_t chunk = 0x1000 - off;
        if (chunk > len) chunk = len;
        struct code_page *p = bc->pages[phys >> 12];
        if (p && p->chunk_mask) {
            uint32_t bits = chunk_bits(off, off + chunk);
            if (p->chunk_mask & bits) invalidate_in_page(cpu, p, bits);
        }
        phys += chunk;
        len -= chunk;
    }
}

static void code_write_listener(void *opaque, uint32_t phys, uint32_t len)
{
    blockcache_invalidate_phys(opaque, phys, len);
}

/* Decode a block at CS:EIP (linear `lin`, physical `phys`) into `b`.
 * `max` limits the instruction count; returns 0 when the block must not be
 * cached (an instruction crossing the page, code outside RAM/ROM). */
static int block_decode(struct cpu *cpu, struct block *b, uint32_t lin, uint32_t phys, int max)
{
    const struct seg_cache *cs = &cpu->seg[S_CS];
    uint8_t *page = memory_host_page(cpu->mem, phys & ~0xFFFu, 0);
    uint32_t poff = phys & 0xFFF;
    uint32_t consumed = 0;
    int cacheable = page != NULL;
    int n = 0;
    uint8_t buf[16];

    for (;;) {
        uint16_t flags = 0;
        struct insn *i = &b->insn[n];
        uint64_t eip_here = (uint64_t)cpu->eip + consumed;
        uint32_t limit_room = eip_here > cs->limit ? 0 : (uint32_t)(cs->limit - eip_here + 1 > 16 ? 16 : cs->limit - eip_here + 1);
        uint32_t page_room = 0x1000 - (poff + consumed);
        int len;
        if (page && page_room >= 16 && limit_room >= 16) {
            len = decode_insn(page + poff + consumed, 16, cpu->code32, i, &flags);
        } else {
            /* Near the page end or the CS limit. */
            unsigned avail = page_room < limit_room ? page_room : limit_room;
            if (page) memcpy(buf, page + poff + consumed, avail);
            else for (unsigned k = 0; k < avail; k++) buf[k] = (uint8_t)memory_read_sized(cpu->mem, phys + consumed + k, 1);
            len = decode_insn(buf, avail, cpu->code32, i, &flags);
            if (len == 0) {
                if (n > 0) break;  /* the next block starts with it */
                if (limit_room < 16 && avail == limit_room)
                    RAISE_GP(cpu, 0);  /* fetch beyond the CS limit */
                /* The first instruction crosses into the next page: fetch it (this may #PF). */
                uint32_t lin2 = (lin + page_room);
                uint32_t phys2 = mmu_translate_fetch(cpu, lin2);
                uint32_t more = 16 - avail;
                if (more > limit_room - avail) more = limit_room - avail;
                for (unsigned k = 0; k < more; k++)
                    buf[avail + k] = (uint8_t)memory_read_sized(cpu->mem, phys2 + k, 1);
                len = decode_insn(buf, avail + more, cpu->code32, i, &flags);
                if (len == 0) RAISE_GP(cpu, 0);
                cacheable = 0;
                flags |= OPF_END;
            }
        }
        i->off = (uint16_t)consumed;
        consumed += (uint32_t)len;
        n++;
        if ((flags & OPF_END) || n >= max || consumed >= 0x1000 - poff) break;
    }
    b->ninsn = (uint16_t)n;
    b->eip_end = consumed;
    b->phys = phys;
    b->key_mode = cpu->code32;
    b->valid = 1;
    b->link[0] = b->link[1] = NULL;
    b->link_rr = 0;
    uint32_t end = poff + consumed > 0x1000 ? 0x1000 : poff + consumed;
    b->chunk_mask = chunk_bits(poff, end);
    struct insn *s = &b->insn[n];
    memset(s, 0, sizeof(*s));
    s->fn = op_block_end;
    s->off = (uint16_t)consumed;
    cpu->stats.blocks_decoded++;
    return cacheable;
}

static struct block *block_find(struct cpu *cpu, int one_insn)
{
    struct blockcache *bc = cpu->bc;
    uint32_t lin = cpu->seg[S_CS].base + cpu->eip;
    uint32_t phys = mmu_translate_fetch(cpu, lin);
    uint32_t mode = cpu->code32;
    cpu->stats.block_lookups++;

    if (unlikely(!cpu->block_cache_on || one_insn)) {
        block_decode(cpu, &bc->scratch.b, lin, phys, 1);
        return &bc->scratch.b;
    }
    uint32_t h = hash_of(phys, mode);
    for (struct block *b = bc->hash[h]; b; b = b->hash_next) {
        if (b->phys == phys && b->key_mode == mode) {
            /* A block decoded under a larger CS limit must not run past this one. */
            if ((uint64_t)cpu->eip + b->eip_end - 1 <= cpu->seg[S_CS].limit) return b;
            block_decode(cpu, &bc->scratch.b, lin, phys, 1);
            return &bc->scratch.b;
        }
    }
    if (bc->used + BLOCK_BYTES(BLOCK_MAX_INSNS) > ARENA_BYTES) blockcache_flush(cpu);
    struct block *b = (struct block *)(bc->arena + bc->used);
    if (!block_decode(cpu, b, lin, phys, BLOCK_MAX_INSNS)) {
        memcpy(&bc->scratch.b, b, BLOCK_BYTES(b->ninsn));
        return &bc->scratch.b;
    }
    bc->used += (BLOCK_BYTES(b->ninsn) + 15) & ~(size_t)15;
    b->hash_next = bc->hash[h];
    bc->hash[h] = b;
    struct code_page **pp = &bc->pages[phys >> 12];
    if (!*pp) {
        if (bc->npages == bc->page_list_cap) {
            bc->page_list_cap = bc->page_list_cap ? bc->page_list_cap * 2 : 1024;
            bc->page_list = realloc(bc->page_list, bc->page_list_cap * sizeof(*bc->page_list));
        }
        *pp = calloc(1, sizeof(**pp));
        if (!*pp || !bc->page_list) {
            fprintf(stderr, "bubble: out of memory in the block cache\n");
            abort();
        }
        bc->page_list[bc->npages++] = phys >> 12;
    }
    if (!(*pp)->chunk_mask) tlb_drop_write_phys(cpu, phys & ~0xFFFu);
    b->page_next = (*pp)->blocks;
    (*pp)->blocks = b;
    (*pp)->chunk_mask |= b->chunk_mask;
    return b;
}

/* ---------------------------------------------------------------------------
 * Exceptions. */

NORETURN void cpu_raise(struct cpu *cpu, int vec, uint32_t err)
{
    if (cpu->cur) {
        /* The instructions before this one in the block completed. */
        if (cpu->bc->running) cpu->icount += (uint64_t)(cpu->cur - cpu->bc->running->insn);
        cpu->eip += cpu->cur->off;
        cpu->cur = NULL;
    }
    cpu->exc_vec = vec;
    cpu->exc_err = err;
    longjmp(*cpu->jmp, 1);
}

void cpu_log(struct cpu *cpu, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(cpu->log_out ? cpu->log_out : stderr, fmt, ap);
    va_end(ap);
}

void cpu_log_unimpl(struct cpu *cpu, const char *fmt, ...)
{
    if (!(cpu->log_mask & LOG_UNIMP)) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(cpu->log_out ? cpu->log_out : stderr, fmt, ap);
    va_end(ap);
}

NORETURN void cpu_raise_unimpl(struct cpu *cpu, const struct insn *i)
{
    unsigned key = (i->ext ? 0x100u : 0) | i->opcode;
    if (!(cpu->unimpl_logged[key >> 3] & (1u << (key & 7)))) {
        cpu->unimpl_logged[key >> 3] |= (uint8_t)(1u << (key & 7));
        uint8_t bytes[15] = { 0 };
        uint32_t eip = EIP_CUR(cpu, i);
        cpu_read_linear(cpu, cpu->seg[S_CS].base + eip, bytes, i->len ? i->len : 1);
        FILE *out = cpu->log_out ? cpu->log_out : stderr;
        fprintf(out, "bubble: unimplemented opcode %s%02x at %04x:%08x, bytes:", i->ext ? "0f " : "",
                i->opcode, cpu->seg[S_CS].sel, eip);
        for (int k = 0; k < (i->len ? i->len : 1); k++) fprintf(out, " %02x", bytes[k]);
        fprintf(out, " (#UD, logged once)\n");
    }
    RAISE_UD(cpu);
}

void op_unimpl(struct cpu *cpu, const struct insn *i)
{
    cpu_raise_unimpl(cpu, i);
}

/* Exception classes for the double-fault rules (SDM vol. 3, 6.15, table 6-5). */
enum { EXC_CLASS_NONE, EXC_CLASS_BENIGN, EXC_CLASS_CONTRIB, EXC_CLASS_PF, EXC_CLASS_DF };

static int exc_class(int vec)
{
    switch (vec) {
    case EXC_DE: case EXC_TS: case EXC_NP: case EXC_SS: case EXC_GP: return EXC_CLASS_CONTRIB;
    case EXC_PF: return EXC_CLASS_PF;
    case EXC_DF: return EXC_CLASS_DF;
    default: return EXC_CLASS_BENIGN;
    }
}

static void log_interrupt(struct cpu *cpu, const char *what, int vec, int has_err, uint32_t err)
{
    cpu_log(cpu, "%s v=%02x", what, vec);
    if (has_err) cpu_log(cpu, " e=%04x", err);
    cpu_log(cpu, " cpl=%d %04x:%08x", cpu->cpl, cpu->seg[S_CS].sel, cpu->eip);
    if (vec == EXC_PF) cpu_log(cpu, " cr2=%08x", cpu->cr2);
    cpu_log(cpu, " esp=%08x eflags=%08x\n", ESP(cpu), cpu_eflags(cpu));
}

/* Deliver the exception cpu_raise recorded, turning a fault during the delivery
 * of another one into #DF, and a fault during #DF into a triple fault (reset). */
static void handle_exception(struct cpu *cpu)
{
    int vec = cpu->exc_vec;
    uint32_t err = cpu->exc_err;
    int cls = exc_class(vec);
    int prev = cpu->exc_nest;

    cpu->stats.exceptions++;
    if (prev == EXC_CLASS_DF && cls != EXC_CLASS_BENIGN) {
        if (cpu->log_mask & LOG_INT) cpu_log(cpu, "triple fault: v=%02x while delivering #DF, reset\n", vec);
        cpu->exc_nest = EXC_CLASS_NONE;
        cpu->reset_request = 1;
        return;
    }
    if ((prev == EXC_CLASS_CONTRIB && cls == EXC_CLASS_CONTRIB) ||
        (prev == EXC_CLASS_PF && (cls == EXC_CLASS_CONTRIB || cls == EXC_CLASS_PF))) {
        vec = EXC_DF;
        err = 0;
        cls = EXC_CLASS_DF;
    }
    int has_err = exc_has_error(vec);
    if (cpu->exc_hook) cpu->exc_hook(cpu->exc_hook_opaque, vec, has_err, err, 0);
    if (cpu->log_mask & LOG_INT) log_interrupt(cpu, "exception", vec, has_err, err);
    cpu->exc_nest = cls;
    cpu->halted = 0;
    cpu_deliver(cpu, vec, INT_EXC, has_err, err, cpu->eip);
    cpu->exc_nest = EXC_CLASS_NONE;
}

/* Take a pending NMI or maskable interrupt. Returns 1 if one was delivered. */
static int take_interrupt(struct cpu *cpu)
{
    if (cpu->nmi_pending && !cpu->nmi_blocked) {
        cpu->nmi_pending = 0;
        cpu->nmi_blocked = 1;
        cpu->halted = 0;
        if (cpu->exc_hook) cpu->exc_hook(cpu->exc_hook_opaque, EXC_NMI, 0, 0, 0);
        if (cpu->log_mask & LOG_INT) log_interrupt(cpu, "nmi", EXC_NMI, 0, 0);
        cpu->exc_nest = EXC_CLASS_BENIGN;
        cpu_deliver(cpu, EXC_NMI, INT_HW, 0, 0, cpu->eip);
        cpu->exc_nest = EXC_CLASS_NONE;
        return 1;
    }
    if (cpu->intr && (cpu->eflags & F_IF) && cpu->cb.intr_ack) {
        int vec = cpu->cb.intr_ack(cpu->cb.opaque);
        if (vec < 0) return 0;   /* the line dropped before the acknowledge */
        cpu->halted = 0;
        cpu->stats.interrupts++;
        if (cpu->exc_hook) cpu->exc_hook(cpu->exc_hook_opaque, vec, 0, 0, 0);
        if (cpu->log_mask & LOG_INT) log_interrupt(cpu, "interrupt", vec, 0, 0);
        cpu->exc_nest = EXC_CLASS_BENIGN;
        cpu_deliver(cpu, vec & 0xFF, INT_HW, 0, 0, cpu->eip);
        cpu->exc_nest = EXC_CLASS_NONE;
        return 1;
    }
    return 0;
}

static void log_block(struct cpu *cpu)
{
    if (cpu->log_mask & LOG_EXEC)
        cpu_log(cpu, "Trace %04x:%08x\n", cpu->seg[S_CS].sel, cpu->eip);
    if (cpu->log_mask & LOG_CPU) {
        cpu_log(cpu, "EAX=%08x EBX=%08x ECX=%08x EDX=%08x ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n"
                     "EIP=%08x EFL=%08x CPL=%d CS=%04x SS=%04x DS=%04x ES=%04x FS=%04x GS=%04x CR0=%08x CR3=%08x\n",
                EAX(cpu), EBX(cpu), ECX(cpu), EDX(cpu), ESI(cpu), EDI(cpu), EBP(cpu), ESP(cpu),
                cpu->eip, cpu_eflags(cpu), cpu->cpl, cpu->seg[S_CS].sel, cpu->seg[S_SS].sel,
                cpu->seg[S_DS].sel, cpu->seg[S_ES].sel, cpu->seg[S_FS].sel, cpu->seg[S_GS].sel,
                cpu->cr0, cpu->cr3);
    }
}

enum cpu_stop cpu_run(struct cpu *cpu, uint64_t budget)
{
    jmp_buf jb;
    jmp_buf *saved = cpu->jmp;
    enum cpu_stop why;
    struct blockcache *bc = cpu->bc;
    struct block *volatile prev = NULL;   /* the block that ran last, for direct links */

    cpu->icount_stop = cpu->icount + budget;
    cpu->jmp = &jb;
    cpu->stop_request = 0;
    if (setjmp(jb)) {
        /* An exception was raised by an instruction, a fetch or a delivery. */
        bc->running = NULL;
        cpu->cur = NULL;
        prev = NULL;
        handle_exception(cpu);
    }
    for (;;) {
        if (unlikely(cpu->reset_request)) {
            cpu->reset_request = 0;
            why = CPU_STOP_RESET;
            break;
        }
        if (unlikely(cpu->stop_request)) {
            cpu->stop_request = 0;
            why = CPU_STOP_REQUEST;
            break;
        }
        int one_insn = 0;
        if (cpu->inhibit_irq) {
            /* MOV SS / STI shadow: no interrupt before the next instruction, and
             * one may come right after it, so that instruction runs alone. */
            cpu->inhibit_irq = 0;
            one_insn = 1;
        } else if ((cpu->intr && (cpu->eflags & F_IF)) || (cpu->nmi_pending && !cpu->nmi_blocked)) {
            if (take_interrupt(cpu)) {
                prev = NULL;
                continue;
            }
        }
        if (cpu->halted) {
            why = CPU_STOP_HALT;
            break;
        }
        if (cpu->icount >= cpu->icount_stop) {
            why = CPU_STOP_BUDGET;
            break;
        }
        int single_step = (cpu->eflags & F_TF) != 0;
        one_insn |= single_step;
        struct block *b = NULL;
        uint32_t cs_base = cpu->seg[S_CS].base;
        if (prev) {
            /* Follow a link when the CPU is where and as it was when the link was made. */
            for (int k = 0; k < 2; k++) {
                struct block *t = prev->link[k];
                if (t && prev->link_eip[k] == cpu->eip && prev->link_cs_base[k] == cs_base &&
                    prev->link_gen[k] == cpu->tlb_gen && prev->link_mmu[k] == cpu->mmu_idx &&
                    t->valid && t->key_mode == cpu->code32 && !one_insn &&
                    (uint64_t)cpu->eip + t->eip_end - 1 <= cpu->seg[S_CS].limit) {
                    b = t;
                    cpu->stats.block_links++;
                    break;
                }
            }
        }
        if (!b) {
            uint64_t flushes = cpu->stats.block_flushes;
            b = block_find(cpu, one_insn);
            if (flushes != cpu->stats.block_flushes) prev = NULL;   /* its memory was reused */
            if (prev && b != &bc->scratch.b) {
                uint32_t k = prev->link_rr++ & 1;
                prev->link[k] = b;
                prev->link_eip[k] = cpu->eip;
                prev->link_cs_base[k] = cs_base;
                prev->link_gen[k] = cpu->tlb_gen;
                prev->link_mmu[k] = cpu->mmu_idx;
            }
        }
        if (unlikely(cpu->log_mask & (LOG_EXEC | LOG_CPU))) log_block(cpu);
        bc->running = b;
        cpu->cur = b->insn;
        b->insn[0].fn(cpu, b->insn);
        /* cpu->cur is the instruction that left the block: it ran, unless it is the
         * end sentinel or an SMC exit. A REP restart counts as one instruction. */
        const struct insn *last = cpu->cur;
        if (unlikely(!last))   /* a task switch committed: it ends its block */
            cpu->icount += b->ninsn;
        else
            cpu->icount += (uint64_t)(last - b->insn) + (last->fn != op_block_end && last->fn != op_smc_exit);
        cpu->cur = NULL;
        bc->running = NULL;
        prev = b == &bc->scratch.b ? NULL : b;
        if (unlikely(single_step) && !cpu->inhibit_irq) {
            /* Single-step trap after the instruction (SDM vol. 3, 17.3.1.4). */
            cpu->dr[6] |= 0x4000;
            cpu_deliver(cpu, EXC_DB, INT_EXC, 0, 0, cpu->eip);
        }
    }
    cpu->jmp = saved;
    return why;
}

void cpu_exec_init(struct cpu *cpu)
{
    decode_init();
    memory_set_code_listener(cpu->mem, code_write_listener, cpu);
}
