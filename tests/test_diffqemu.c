/* Differential test against qemu-i386 (Debian qemu-user) for the instructions
 * that only exist outside 64-bit mode, so the host CPU cannot be the oracle.
 *
 * How it works: a seeded generator builds test cases of 1-6 instructions with
 * edge-weighted operands. Each batch becomes a small ELF32 program written
 * directly by this file (no assembler or 32-bit libc needed): a data area at
 * DATA_BASE (scratch + stack), and for every case a driver that restores the
 * data area, applies the case's memory patches, loads the eight registers and
 * EFLAGS, runs the case, and writes the registers, EFLAGS, DS, ES and the whole
 * data area to stdout with write(2). A fault (SIGSEGV for #BR/#OF, SIGFPE for
 * #DE, SIGILL) is caught by a handler on an alternate signal stack that records
 * the registers of the signal context and goes on with the next case.
 * The same case bytes then run in our CPU (32-bit flat protected mode, the same
 * addresses, DS/ES with the selectors qemu's process has) up to a HLT placed
 * after them, and the results are compared. Flags the SDM leaves undefined are
 * masked (qemu's values for them are not silicon's), as are the upper 16 bits
 * a 32-bit PUSH Sreg writes (implementation-specific, SDM PUSH).
 *
 * Opcodes covered (32-bit code, 32-bit stack; "66" = 16-bit operand size,
 * "67" = 16-bit address size):
 *   40-47 INC r32, 48-4F DEC r32 (and 66: r16)
 *   50-57 PUSH r, 58-5F POP r (and 66), POP ESP (5C)
 *   68 PUSH imm32, 6A PUSH imm8 (and 66 68 imm16, 66 6A)
 *   FF /6 PUSH m, 8F /0 POP m (absolute and [ESP+disp8], incl. the POP [ESP+d]
 *     rule that the address uses ESP after the pop) (and 66)
 *   E8 CALL rel32, C3 RET, C2 RET imm16 (32-bit operand size only: 66 CALL/RET
 *     truncate EIP to 16 bits, which a user-mode process cannot run)
 *   60 PUSHAD, 61 POPAD, 66 60 PUSHA, 66 61 POPA
 *   9C PUSHFD, 9D POPFD (and 66): arithmetic flags, DF, reserved bits
 *   27 DAA, 2F DAS, 37 AAA, 3F AAS, D4 ib AAM, D5 ib AAD (any base; AAM 0 -> #DE)
 *   62 BOUND r32/r16, m (in range, and out of range -> #BR)
 *   06 PUSH ES, 07 POP ES, 1E PUSH DS, 1F POP DS (and 66)
 *   C5 LDS, C4 LES (and 66) with the process's own selectors (and null for ES)
 *   C8 ENTER (levels 0-3, and levels >= 32 that wrap), C9 LEAVE (and 66)
 *   D7 XLAT (with DS, SS: and ES: segments)
 *   E2 LOOP, E1 LOOPE, E0 LOOPNE, E3 JECXZ (and 67: CX), forward and backward
 *   CE INTO (taken -> #OF, and not taken), D6 SALC
 * Helper instructions the cases also use: MOV r32, imm32 (B8+r), short JMP (EB).
 *
 * Usage: test_diffqemu [--seed N] [--count N] [--soak] [--verbose]
 *                      [--show N] [--keep DIR] [--qemu PATH] [--qemu-only]
 *   --count   cases per run (default 5000; TESTS_QUICK=1: 1000)
 *   --soak    rounds with seeds N, N+1... until a round has a mismatch
 *   --show    print the first N mismatches in full (default 10; --verbose: all)
 *   --keep    keep the generated ELF files and qemu's output in DIR
 *   --qemu-only  run only the qemu side and the generator's self-check
 * Exit 77 with "SKIP:" when qemu-i386 is missing (QEMU_I386 overrides the path).
 * Ends with "RESULT: P passed, F failed" and a per-instruction table. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "cpu/ioport.h"
#include "cpu/memory.h"

/* ===========================================================================
 * Layout of the test program (the same addresses in qemu and in our RAM). */
#define DRV_PAGE       0x001FF000u   /* driver variables and stack */
#define SIGACT_ADDR    (DRV_PAGE + 0x000)
#define ZEROMASK_ADDR  (DRV_PAGE + 0x020)
#define ALTSTK_DESC    (DRV_PAGE + 0x030)
#define RESUME_ADDR    (DRV_PAGE + 0x040)
#define PROBE_ADDR     (DRV_PAGE + 0x080)
#define PROBE_SIZE     0x40u
#define DRV_STACK_TOP  (DRV_PAGE + 0xE00)
#define HDR_ADDR       (DRV_PAGE + 0xF80)  /* result header, right below the data area */
#define HDR_SIZE       0x80u
#define DATA_BASE      0x00200000u         /* scratch [0, 0x400), stack [0x400, 0xC00) */
#define DATA_SIZE      0xC00u
#define SCRATCH_SLOTS  0x200u              /* patch slots (8 bytes each) below this offset */
#define STACK_OFF      0x400u
#define PRISTINE_ADDR  0x00201000u         /* the data area's initial contents */
#define ALTSTACK_BASE  0x00202000u
#define ALTSTACK_SIZE  0x8000u
#define DATASEG_FILESZ 0x3000u             /* DRV_PAGE .. ALTSTACK_BASE come from the file */
#define DATASEG_MEMSZ  (DATASEG_FILESZ + ALTSTACK_SIZE)
#define CODE_BASE      0x00400000u
#define COMMON_SIZE    0x400u              /* entry, handler and subroutines */
#define SLOT_SIZE      0x200u              /* one case: driver before, case, driver after */
#define CASE_OFF       0x100u              /* where the case's bytes start inside its slot */
#define RECORD_SIZE    (HDR_SIZE + DATA_SIZE)
#define ESP_MIN        (DATA_BASE + 0x480u)  /* ESP stays here between instructions */
#define ESP_MAX        (DATA_BASE + 0xB80u)

#define RAM_BYTES      (8u << 20)
#define GDT_ADDR       0x1000u
#define GDTR_ADDR      0x1800u  /* GDTR, then IDTR at +8 */
#define IDT_ADDR       0x1900u  /* 32 interrupt gates */
#define STUBS_ADDR     0x1C00u  /* a HLT per vector: the gates' targets */
#define BOOT_ADDR      0x2000u

#define REC_MAGIC      0xD1FFCA5Eu
#define PROBE_MAGIC    0x50524230u
#define DEFAULT_SEED   20240601u
#define DEFAULT_COUNT  5000u
#define QUICK_COUNT    1000u
#define BATCH_CASES    1000u
#define MAX_ITEMS      6
#define MAX_CODE       96
#define MAX_PATCH      16
#define QEMU_TIMEOUT_S 120
#define OUR_BUDGET     4000000u

/* Header fields of one result record. */
enum {
    H_MAGIC = 0, H_IDX = 4, H_STATUS = 8, H_TRAPNO = 12, H_ERR = 16, H_EIP = 20,
    H_REGS = 24, H_EFLAGS = 56, H_DS = 60, H_ES = 64, H_SIGNO = 68,
};
/* Probe fields: the segment selectors and EFLAGS the user-mode process starts with. */
enum { P_MAGIC = 0, P_CS = 4, P_DS = 8, P_ES = 12, P_FS = 16, P_GS = 20, P_SS = 24, P_EFLAGS = 28, P_ESP = 32 };

/* i386 Linux system calls and constants used by the driver. */
enum { SYS_EXIT = 1, SYS_WRITE = 4, SYS_RT_SIGRETURN = 173, SYS_RT_SIGACTION = 174,
       SYS_RT_SIGPROCMASK = 175, SYS_SIGALTSTACK = 186 };
#define K_SA_SIGINFO  0x00000004u
#define K_SA_ONSTACK  0x08000000u
#define K_SA_RESTORER 0x04000000u
#define K_SA_NODEFER  0x40000000u

#define FLAGS_ARITH (F_OF | F_SF | F_ZF | F_AF | F_PF | F_CF)
/* The EFLAGS bits compared: the low 16 (reserved ones included) and AC, ID. */
#define FLAGS_CMP 0x0024FFFFu

/* ===========================================================================
 * Small utilities. */
struct rng { uint64_t s; };

static uint64_t rng_next(struct rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint32_t rnd(struct rng *r, uint32_t n) { return n ? (uint32_t)(rng_next(r) % n) : 0; }
static uint32_t rnd32(struct rng *r) { return (uint32_t)rng_next(r); }
static int chance(struct rng *r, unsigned percent) { return rnd(r, 100) < percent; }

static const char *const reg_names[8] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" };

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

struct buf {
    uint8_t *p;
    size_t len, cap;
    uint32_t base;   /* linear address of p[0] */
};
static void buf_reserve(struct buf *b, size_t n)
{
    if (b->len + n <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) { perror("realloc"); exit(2); }
    b->p = p;
    b->cap = cap;
}
static void e8(struct buf *b, uint8_t v) { buf_reserve(b, 1); b->p[b->len++] = v; }
static void e32(struct buf *b, uint32_t v) { buf_reserve(b, 4); put32(b->p + b->len, v); b->len += 4; }
static uint32_t here(const struct buf *b) { return b->base + (uint32_t)b->len; }
static void pad_to(struct buf *b, uint32_t addr, uint8_t fill)
{
    if (here(b) > addr) { fprintf(stderr, "diffqemu: layout overflow at %08x > %08x\n", here(b), addr); exit(2); }
    while (here(b) < addr) e8(b, fill);
}

/* ===========================================================================
 * A tiny x86 emitter for the driver code. */
static void x_mov_r_imm(struct buf *b, int r, uint32_t v) { e8(b, 0xB8 + r); e32(b, v); }
static void x_mov_m_imm(struct buf *b, uint32_t addr, uint32_t v) { e8(b, 0xC7); e8(b, 0x05); e32(b, addr); e32(b, v); }
static void x_mov_m_r(struct buf *b, uint32_t addr, int r)
{
    if (r == R_EAX) { e8(b, 0xA3); e32(b, addr); return; }
    e8(b, 0x89); e8(b, 0x05 | r << 3); e32(b, addr);
}
static void x_mov_sreg_r(struct buf *b, int sreg, int r) { e8(b, 0x8E); e8(b, 0xC0 | sreg << 3 | r); }
static void x_mov_m_sreg(struct buf *b, uint32_t addr, int sreg) { e8(b, 0x8C); e8(b, 0x05 | sreg << 3); e32(b, addr); }
static void x_int80(struct buf *b) { e8(b, 0xCD); e8(b, 0x80); }
static void x_call(struct buf *b, uint32_t target) { e8(b, 0xE8); e32(b, target - (here(b) + 4)); }
static void x_jmp(struct buf *b, uint32_t target) { e8(b, 0xE9); e32(b, target - (here(b) + 4)); }
/* mov eax, [ebx + d8] */
static void x_mov_eax_ebx_d8(struct buf *b, int8_t d) { e8(b, 0x8B); e8(b, 0x43); e8(b, (uint8_t)d); }
static void x_syscall(struct buf *b, uint32_t nr, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4)
{
    x_mov_r_imm(b, R_EAX, nr);
    x_mov_r_imm(b, R_EBX, a1);
    x_mov_r_imm(b, R_ECX, a2);
    x_mov_r_imm(b, R_EDX, a3);
    x_mov_r_imm(b, R_ESI, a4);
    x_int80(b);
}

/* ===========================================================================
 * Instruction kinds (what the per-instruction table counts). */
enum kind {
    K_INC32, K_DEC32, K_INC16, K_DEC16,
    K_PUSH_R32, K_PUSH_R16, K_POP_R32, K_POP_R16, K_POP_ESP,
    K_PUSH_I32, K_PUSH_I8, K_PUSH_I16, K_PUSH_I8_16,
    K_PUSH_M32, K_PUSH_M16, K_POP_M32, K_POP_M16,
    K_CALL, K_CALL_RET, K_CALL_RETI,
    K_PUSHAD, K_POPAD, K_PUSHAW, K_POPAW,
    K_PUSHFD, K_POPFD, K_PUSHFW, K_POPFW,
    K_DAA, K_DAS, K_AAA, K_AAS, K_AAM, K_AAD,
    K_BOUND32, K_BOUND16,
    K_PUSH_ES, K_POP_ES, K_PUSH_DS, K_POP_DS, K_PUSH_SREG16, K_POP_SREG16,
    K_LDS32, K_LES32, K_LDS16, K_LES16,
    K_ENTER32, K_ENTER16, K_LEAVE32, K_LEAVE16,
    K_XLAT,
    K_LOOP, K_LOOPE, K_LOOPNE, K_JECXZ, K_LOOP_A16, K_LOOPE_A16, K_LOOPNE_A16, K_JCXZ_A16,
    K_INTO, K_SALC,
    K_COUNT
};
static const char *const kind_name[K_COUNT] = {
    [K_INC32] = "inc r32 (40+r)", [K_DEC32] = "dec r32 (48+r)",
    [K_INC16] = "inc r16 (66 40+r)", [K_DEC16] = "dec r16 (66 48+r)",
    [K_PUSH_R32] = "push r32 (50+r)", [K_PUSH_R16] = "push r16 (66 50+r)",
    [K_POP_R32] = "pop r32 (58+r)", [K_POP_R16] = "pop r16 (66 58+r)", [K_POP_ESP] = "pop esp (5c)",
    [K_PUSH_I32] = "push imm32 (68)", [K_PUSH_I8] = "push imm8 (6a)",
    [K_PUSH_I16] = "push imm16 (66 68)", [K_PUSH_I8_16] = "push imm8 o16 (66 6a)",
    [K_PUSH_M32] = "push m32 (ff /6)", [K_PUSH_M16] = "push m16 (66 ff /6)",
    [K_POP_M32] = "pop m32 (8f /0)", [K_POP_M16] = "pop m16 (66 8f /0)",
    [K_CALL] = "call rel32 (e8)", [K_CALL_RET] = "call+ret (e8 c3)", [K_CALL_RETI] = "call+ret imm16 (e8 c2)",
    [K_PUSHAD] = "pushad (60)", [K_POPAD] = "popad (61)", [K_PUSHAW] = "pusha (66 60)", [K_POPAW] = "popa (66 61)",
    [K_PUSHFD] = "pushfd (9c)", [K_POPFD] = "popfd (9d)", [K_PUSHFW] = "pushf (66 9c)", [K_POPFW] = "popf (66 9d)",
    [K_DAA] = "daa (27)", [K_DAS] = "das (2f)", [K_AAA] = "aaa (37)", [K_AAS] = "aas (3f)",
    [K_AAM] = "aam ib (d4)", [K_AAD] = "aad ib (d5)",
    [K_BOUND32] = "bound r32 (62)", [K_BOUND16] = "bound r16 (66 62)",
    [K_PUSH_ES] = "push es (06)", [K_POP_ES] = "pop es (07)", [K_PUSH_DS] = "push ds (1e)", [K_POP_DS] = "pop ds (1f)",
    [K_PUSH_SREG16] = "push ds/es o16 (66 1e/06)", [K_POP_SREG16] = "pop ds/es o16 (66 1f/07)",
    [K_LDS32] = "lds r32 (c5)", [K_LES32] = "les r32 (c4)", [K_LDS16] = "lds r16 (66 c5)", [K_LES16] = "les r16 (66 c4)",
    [K_ENTER32] = "enter (c8)", [K_ENTER16] = "enter o16 (66 c8)", [K_LEAVE32] = "leave (c9)", [K_LEAVE16] = "leave o16 (66 c9)",
    [K_XLAT] = "xlat (d7)",
    [K_LOOP] = "loop (e2)", [K_LOOPE] = "loope (e1)", [K_LOOPNE] = "loopne (e0)", [K_JECXZ] = "jecxz (e3)",
    [K_LOOP_A16] = "loop a16 (67 e2)", [K_LOOPE_A16] = "loope a16 (67 e1)",
    [K_LOOPNE_A16] = "loopne a16 (67 e0)", [K_JCXZ_A16] = "jcxz a16 (67 e3)",
    [K_INTO] = "into (ce)", [K_SALC] = "salc (d6)",
};

/* ===========================================================================
 * The generator's model. It tracks what the driver needs to keep a case inside
 * the data area: ESP exactly, the other registers where their values follow
 * from the instructions, and a shadow of the data area (which bytes hold known
 * values, a pushed EFLAGS image, or implementation-defined bytes). It does not
 * compute results: the CPUs do. */
enum { SH_KNOWN = 1, SH_FLAGS = 2, SH_UNDEF = 4,
       SH_FSTART2 = 8, SH_FSTART4 = 16 };   /* first byte of a 16- or 32-bit EFLAGS image */

struct mstate {            /* the part copied for each attempt */
    uint32_t reg[8];
    uint8_t rknown[8];
    uint32_t undef;        /* arithmetic flags undefined now */
    uint32_t undef_any;    /* ... at any point so far (for faults mid-case) */
    uint16_t ds, es;
    int slot;              /* next free 8-byte patch slot */
    int npatch;
    int len;               /* code bytes so far */
    int fail;
};
struct journal_entry { uint16_t off; uint8_t mem, st, ever; };
struct model {
    struct mstate s;
    uint8_t mem[DATA_SIZE], st[DATA_SIZE], ever[DATA_SIZE];
    struct journal_entry *journal;
    int nj, jcap;
};

struct patch { uint32_t addr, val; };
struct tcase {
    uint32_t idx;
    uint32_t addr;                 /* linear address of the first case byte */
    uint32_t reg[8];
    uint32_t flags;                /* OSZAPC and DF loaded before the case */
    struct patch patch[MAX_PATCH];
    int npatch;
    uint8_t code[MAX_CODE];
    int len;
    int nitems;
    uint8_t kind[MAX_ITEMS], off[MAX_ITEMS], ilen[MAX_ITEMS];
    uint32_t undef_end, undef_any; /* flags to ignore at the end / after a fault */
    uint8_t mask_end[DATA_SIZE / 8], mask_any[DATA_SIZE / 8];  /* bytes to ignore */
    /* What the generator's model expects at the end (a check of the harness itself). */
    uint32_t mreg[8];
    uint8_t mknown;                /* bit r: mreg[r] is known */
    uint16_t mds, mes;
    uint8_t mmem[DATA_SIZE];
    uint8_t mmem_known[DATA_SIZE / 8];
};

/* ===========================================================================
 * Results of one case, from either side. */
struct result {
    int fault;             /* 0: ran to the end */
    int vector;            /* ours: the vector; qemu: trapno */
    int signo;             /* qemu only */
    uint32_t eip;          /* fault EIP */
    uint32_t reg[8];
    uint32_t eflags;
    uint16_t ds, es;
    uint8_t data[DATA_SIZE];
    const char *why;       /* ours: a harness-level problem (ran away, budget) */
};

struct gen {
    struct rng rng;
    struct tcase *t;
    struct model *m;
    uint16_t sel_ds, sel_es;       /* the process's selectors */
    const uint8_t *pristine;
};

static void j_save(struct model *m, uint32_t off)
{
    if (m->nj == m->jcap) {
        m->jcap = m->jcap ? m->jcap * 2 : 1024;
        m->journal = realloc(m->journal, (size_t)m->jcap * sizeof(*m->journal));
        if (!m->journal) { perror("realloc"); exit(2); }
    }
    m->journal[m->nj++] = (struct journal_entry){ (uint16_t)off, m->mem[off], m->st[off], m->ever[off] };
}
static void j_rollback(struct model *m, int mark)
{
    while (m->nj > mark) {
        struct journal_entry *e = &m->journal[--m->nj];
        m->mem[e->off] = e->mem;
        m->st[e->off] = e->st;
        m->ever[e->off] = e->ever;
    }
}

static int data_ok(uint32_t addr, uint32_t n)
{
    return addr >= DATA_BASE && addr + n <= DATA_BASE + DATA_SIZE && addr + n > addr;
}

/* Read `n` bytes of the shadow. Returns the AND of the SH_KNOWN/SH_FLAGS bits and
 * the OR of SH_UNDEF over the bytes; fails the attempt outside the data area. */
static unsigned m_load(struct gen *g, uint32_t addr, int n, uint32_t *val)
{
    struct model *m = g->m;
    if (!data_ok(addr, n)) { m->s.fail = 1; *val = 0; return 0; }
    unsigned all = SH_KNOWN | SH_FLAGS, any = 0;
    uint32_t v = 0;
    for (int k = 0; k < n; k++) {
        uint32_t o = addr - DATA_BASE + k;
        all &= m->st[o];
        any |= m->st[o];
        v |= (uint32_t)m->mem[o] << (8 * k);
    }
    *val = v;
    return (all & (SH_KNOWN | SH_FLAGS)) | (any & SH_UNDEF) | (m->st[addr - DATA_BASE] & (SH_FSTART2 | SH_FSTART4));
}
/* The same without failing the attempt when the bytes are outside the data area. */
static unsigned m_peek(struct gen *g, uint32_t addr, int n, uint32_t *val)
{
    if (!data_ok(addr, n)) { *val = 0; return 0; }
    return m_load(g, addr, n, val);
}
static void m_store_byte(struct gen *g, uint32_t addr, uint8_t v, uint8_t st)
{
    struct model *m = g->m;
    uint32_t o = addr - DATA_BASE;
    j_save(m, o);
    m->mem[o] = v;
    m->st[o] = st;
    if (st & SH_UNDEF) m->ever[o] = 1;
}
/* Store `n` bytes of `v`, each with state `st`. */
static void m_store(struct gen *g, uint32_t addr, int n, uint32_t v, uint8_t st)
{
    if (!data_ok(addr, n)) { g->m->s.fail = 1; return; }
    for (int k = 0; k < n; k++) m_store_byte(g, addr + k, (uint8_t)(v >> (8 * k)), st);
}
/* Copy shadow bytes (PUSH m, POP m, ENTER's frame pointer copies). */
static void m_copy(struct gen *g, uint32_t dst, int n, const uint8_t *srcmem, const uint8_t *srcst)
{
    if (!data_ok(dst, n)) { g->m->s.fail = 1; return; }
    const uint8_t starts = SH_FSTART2 | SH_FSTART4;
    for (int k = 0; k < n; k++) m_store_byte(g, dst + k, srcmem[k], srcst[k] & (uint8_t)~starts);
    /* A whole EFLAGS image copied from its start is still one (a 16-bit copy of a
     * 32-bit image is its 16-bit low word); any other copy is not. */
    if (srcst[0] & starts) {
        uint8_t mark = n == 4 ? (srcst[0] & SH_FSTART4) : SH_FSTART2;
        g->m->st[dst - DATA_BASE] |= mark;
    }
}
static void m_snapshot(struct gen *g, uint32_t addr, int n, uint8_t *mem, uint8_t *st)
{
    struct model *m = g->m;
    if (!data_ok(addr, n)) { m->s.fail = 1; memset(mem, 0, n); memset(st, 0, n); return; }
    memcpy(mem, m->mem + (addr - DATA_BASE), n);
    memcpy(st, m->st + (addr - DATA_BASE), n);
}

#define ESP_ (g->m->s.reg[R_ESP])

static void push_val(struct gen *g, int n, uint32_t v, uint8_t st)
{
    uint32_t a = ESP_ - n;
    m_store(g, a, n, v, st);
    ESP_ = a;
}
static void push_reg(struct gen *g, int n, int r, uint32_t value)
{
    push_val(g, n, value, g->m->s.rknown[r] ? SH_KNOWN : 0);
}
/* Pop n bytes; `allow_undef` lets implementation-defined bytes through (POP Sreg's upper half). */
static unsigned pop_val(struct gen *g, int n, uint32_t *v, int allow_undef)
{
    unsigned st = m_load(g, ESP_, n, v);
    if ((st & SH_UNDEF) && !allow_undef) g->m->s.fail = 1;
    ESP_ += n;
    return st;
}
static void set_reg32(struct gen *g, int r, uint32_t v, int known)
{
    g->m->s.reg[r] = v;
    g->m->s.rknown[r] = (uint8_t)(known != 0);
}
static void set_reg16(struct gen *g, int r, uint16_t v, int known)
{
    struct mstate *s = &g->m->s;
    s->reg[r] = (s->reg[r] & 0xFFFF0000u) | v;
    s->rknown[r] = (uint8_t)(s->rknown[r] && known);
}

static void emit(struct gen *g, uint8_t v)
{
    struct mstate *s = &g->m->s;
    if (s->len >= MAX_CODE) { s->fail = 1; return; }
    g->t->code[s->len++] = v;
}
static void emit16(struct gen *g, uint16_t v) { emit(g, v & 0xFF); emit(g, v >> 8); }
static void emit32(struct gen *g, uint32_t v) { emit16(g, v & 0xFFFF); emit16(g, v >> 16); }
static uint32_t cur_eip(struct gen *g) { return g->t->addr + g->m->s.len; }

/* A memory patch applied before the case: 8-byte slots at the start of scratch. */
static uint32_t alloc_slot(struct gen *g)
{
    struct mstate *s = &g->m->s;
    if ((uint32_t)(s->slot + 1) * 8 > SCRATCH_SLOTS) { s->fail = 1; return DATA_BASE; }
    return DATA_BASE + 8u * (uint32_t)s->slot++;
}
static void add_patch(struct gen *g, uint32_t addr, uint32_t val)
{
    struct mstate *s = &g->m->s;
    if (s->npatch >= MAX_PATCH) { s->fail = 1; return; }
    g->t->patch[s->npatch++] = (struct patch){ addr, val };
    m_store(g, addr, 4, val, SH_KNOWN);
}

/* --- operand choices, weighted to the edges --- */
static const uint32_t edges32[] = {
    0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x10001,
    0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF, 0xFFFFFFFE, 0x8000FFFF, 0xFFFF7FFF,
    0x0000FFFE, 0xFFFF0000, 0x00FF00FF,
};
static const uint8_t bcd_al[] = {
    0x00, 0x01, 0x09, 0x0A, 0x0F, 0x10, 0x19, 0x1A, 0x5F, 0x60, 0x66, 0x79, 0x7F, 0x80,
    0x99, 0x9A, 0x9F, 0xA0, 0xF0, 0xF9, 0xFA, 0xFF,
};
static uint32_t pick32(struct gen *g)
{
    struct rng *r = &g->rng;
    switch (rnd(r, 4)) {
    case 0: case 1: return edges32[rnd(r, sizeof(edges32) / sizeof(edges32[0]))];
    case 2: return rnd32(r);
    default: return (rnd32(r) & 0xFF00FFFFu) | (uint32_t)bcd_al[rnd(r, sizeof(bcd_al))] << 16;
    }
}
static uint32_t pick_eax(struct gen *g)
{
    struct rng *r = &g->rng;
    if (chance(r, 40)) return pick32(g);
    uint32_t ah = chance(r, 50) ? bcd_al[rnd(r, sizeof(bcd_al))] : rnd(r, 256);
    return (pick32(g) & 0xFFFF0000u) | ah << 8 | bcd_al[rnd(r, sizeof(bcd_al))];
}
static uint16_t pick16(struct gen *g) { return (uint16_t)pick32(g); }

/* --- the instruction generators --- */
static const uint32_t F_ZAPSO = F_OF | F_SF | F_ZF | F_AF | F_PF;

static void need_flags(struct gen *g, uint32_t f) { if (g->m->s.undef & f) g->m->s.fail = 1; }
static void flags_define(struct gen *g, uint32_t def, uint32_t undef)
{
    struct mstate *s = &g->m->s;
    s->undef = (s->undef & ~def) | undef;
    s->undef_any |= s->undef;
}

/* INC/DEC of a register's value (the model's copy). */
static void apply_incdec(struct gen *g, int r, int dec, int op16)
{
    struct mstate *s = &g->m->s;
    uint32_t d = dec ? 0xFFFFFFFFu : 1u;
    if (op16) s->reg[r] = (s->reg[r] & 0xFFFF0000u) | ((s->reg[r] + d) & 0xFFFF);
    else s->reg[r] += d;
    flags_define(g, F_ZAPSO, 0);
}

static void g_incdec(struct gen *g, int dec, int op16)
{
    int r = chance(&g->rng, 8) ? R_ESP : (int)rnd(&g->rng, 8);
    if (op16) emit(g, 0x66);
    emit(g, (dec ? 0x48 : 0x40) + r);
    apply_incdec(g, r, dec, op16);
}

static void g_push_r(struct gen *g, int op16)
{
    int r = rnd(&g->rng, 8);
    uint32_t v = g->m->s.reg[r];
    if (op16) emit(g, 0x66);
    emit(g, 0x50 + r);
    push_reg(g, op16 ? 2 : 4, r, v);   /* PUSH ESP pushes the value before the push */
}

static void g_pop_r(struct gen *g, int op16)
{
    int r;
    do r = rnd(&g->rng, 8); while (r == R_ESP);
    uint32_t v;
    if (op16) emit(g, 0x66);
    emit(g, 0x58 + r);
    unsigned st = pop_val(g, op16 ? 2 : 4, &v, 0);
    if (op16) set_reg16(g, r, (uint16_t)v, st & SH_KNOWN);
    else set_reg32(g, r, v, st & SH_KNOWN);
}

/* PUSH imm32 with a known stack address; POP ESP loads it (the increment is lost). */
static void g_pop_esp(struct gen *g)
{
    uint32_t target = ESP_ + (rnd(&g->rng, 0x81) - 0x40);
    if (chance(&g->rng, 30)) target = ESP_;
    emit(g, 0x68); emit32(g, target);
    push_val(g, 4, target, SH_KNOWN);
    emit(g, 0x5C);
    uint32_t v;
    pop_val(g, 4, &v, 0);
    ESP_ = target;
}

static void g_push_imm(struct gen *g, enum kind k)
{
    uint32_t v = pick32(g);
    switch (k) {
    case K_PUSH_I32: emit(g, 0x68); emit32(g, v); push_val(g, 4, v, SH_KNOWN); break;
    case K_PUSH_I8: emit(g, 0x6A); emit(g, (uint8_t)v); push_val(g, 4, (uint32_t)(int32_t)(int8_t)v, SH_KNOWN); break;
    case K_PUSH_I16: emit(g, 0x66); emit(g, 0x68); emit16(g, (uint16_t)v); push_val(g, 2, v & 0xFFFF, SH_KNOWN); break;
    default: emit(g, 0x66); emit(g, 0x6A); emit(g, (uint8_t)v);
        push_val(g, 2, (uint16_t)(int16_t)(int8_t)v, SH_KNOWN); break;
    }
}

/* PUSH m: absolute scratch address, or [ESP+d8] (ESP before the push). */
static void g_push_m(struct gen *g, int op16)
{
    int n = op16 ? 2 : 4;
    uint32_t src;
    if (op16) emit(g, 0x66);
    emit(g, 0xFF);
    if (chance(&g->rng, 50)) {
        src = DATA_BASE + rnd(&g->rng, STACK_OFF - 4);
        emit(g, 0x35); emit32(g, src);
    } else {
        int8_t d = (int8_t)(rnd(&g->rng, 0xC0) - 0x40);
        src = ESP_ + (int32_t)d;
        emit(g, 0x74); emit(g, 0x24); emit(g, (uint8_t)d);
    }
    uint8_t mem[4], st[4];
    m_snapshot(g, src, n, mem, st);
    uint32_t dst = ESP_ - n;
    m_copy(g, dst, n, mem, st);
    ESP_ = dst;
}

/* POP m: absolute scratch address, or [ESP+d8] with ESP after the pop (SDM POP). */
static void g_pop_m(struct gen *g, int op16)
{
    int n = op16 ? 2 : 4;
    uint8_t mem[4], st[4];
    m_snapshot(g, ESP_, n, mem, st);
    uint32_t dst;
    if (op16) emit(g, 0x66);
    emit(g, 0x8F);
    if (chance(&g->rng, 50)) {
        dst = DATA_BASE + SCRATCH_SLOTS + rnd(&g->rng, STACK_OFF - SCRATCH_SLOTS - 4);
        emit(g, 0x05); emit32(g, dst);
        ESP_ += n;
    } else {
        int8_t d = (int8_t)(rnd(&g->rng, 0xC0) - 0x40);
        emit(g, 0x44); emit(g, 0x24); emit(g, (uint8_t)d);
        ESP_ += n;
        dst = ESP_ + (int32_t)d;
    }
    m_copy(g, dst, n, mem, st);
}

static const uint8_t filler_ops[] = { 0x40, 0x42, 0x46, 0x47, 0x48, 0x4A, 0x4E, 0x4F };  /* inc/dec eax edx esi edi */
static void emit_filler(struct gen *g, int n, int *touched)
{
    for (int k = 0; k < n; k++) {
        uint8_t op = filler_ops[rnd(&g->rng, sizeof(filler_ops))];
        emit(g, op);
        *touched |= 1 << (op & 7);
    }
}
static void forget_regs(struct gen *g, int mask)
{
    for (int r = 0; r < 8; r++)
        if (mask & (1 << r)) g->m->s.rknown[r] = 0;
}

/* CALL rel32 to the next instruction: a push of the return address. */
static void g_call(struct gen *g)
{
    emit(g, 0xE8); emit32(g, 0);
    push_val(g, 4, cur_eip(g), SH_KNOWN);
}

/* CALL f; JMP short over; f: [INC/DEC]; RET [imm16]; over: */
static void g_call_ret(struct gen *g, int with_imm)
{
    static const uint16_t imms[] = { 0, 1, 2, 3, 4, 8, 0x10, 0x20, 0x40, 0x100, 0x200, 0x8000, 0xFFFF };
    int body = (int)rnd(&g->rng, 2);
    uint16_t imm = with_imm ? imms[rnd(&g->rng, sizeof(imms) / sizeof(imms[0]))] : 0;
    int retlen = with_imm ? 3 : 1;
    emit(g, 0xE8); emit32(g, 2);
    uint32_t ret_addr = cur_eip(g);
    push_val(g, 4, ret_addr, SH_KNOWN);
    emit(g, 0xEB); emit(g, (uint8_t)(body + retlen));
    if (body) {
        uint8_t op = filler_ops[rnd(&g->rng, sizeof(filler_ops))];
        emit(g, op);
        apply_incdec(g, op & 7, op >= 0x48, 0);
    }
    if (with_imm) { emit(g, 0xC2); emit16(g, imm); } else emit(g, 0xC3);
    uint32_t v;
    unsigned st = pop_val(g, 4, &v, 0);
    if (!(st & SH_KNOWN) || v != ret_addr) g->m->s.fail = 1;
    ESP_ += imm;
}

static void g_pusha(struct gen *g, int op16)
{
    struct mstate *s = &g->m->s;
    int n = op16 ? 2 : 4;
    uint32_t old_esp = s->reg[R_ESP];
    int esp_known = 1;
    if (op16) emit(g, 0x66);
    emit(g, 0x60);
    for (int r = 0; r < 8; r++) {
        uint32_t v = r == R_ESP ? old_esp : s->reg[r];
        int known = r == R_ESP ? esp_known : s->rknown[r];
        push_val(g, n, op16 ? (v & 0xFFFF) : v, known ? SH_KNOWN : 0);
    }
}

static void g_popa(struct gen *g, int op16)
{
    int n = op16 ? 2 : 4;
    if (op16) emit(g, 0x66);
    emit(g, 0x61);
    for (int r = 7; r >= 0; r--) {
        uint32_t v;
        unsigned st = pop_val(g, n, &v, r == R_ESP);
        if (r == R_ESP) continue;   /* skipped: ESP moves by the pops only */
        if (op16) set_reg16(g, r, (uint16_t)v, st & SH_KNOWN);
        else set_reg32(g, r, v, st & SH_KNOWN);
    }
}

static void g_pushf(struct gen *g, int op16)
{
    need_flags(g, FLAGS_ARITH);     /* no undefined flag may reach memory */
    if (op16) emit(g, 0x66);
    emit(g, 0x9C);
    push_val(g, op16 ? 2 : 4, 0, SH_FLAGS);
    g->m->st[ESP_ - DATA_BASE] |= op16 ? SH_FSTART2 : SH_FSTART4;
}

/* A value POPF may load at any CPL with the same result: no TF (it would trap),
 * IF set and IOPL 0 as the user process has them, no NT/AC/ID/VIF/VIP. */
static int popf_value_safe(uint32_t v, int op16)
{
    uint32_t bad = F_TF | F_IOPL | F_NT | (op16 ? 0 : (F_RF | F_VM | F_AC | F_VIF | F_VIP | F_ID));
    return (v & bad) == 0 && (v & F_IF);
}
static uint32_t pick_popf_value(struct gen *g)
{
    uint32_t v = (rnd32(&g->rng) & (FLAGS_ARITH | F_DF)) | F_IF;
    if (chance(&g->rng, 25)) v |= rnd32(&g->rng) & 0x802Au;   /* reserved bits 1, 3, 5, 15 */
    if (chance(&g->rng, 10)) v |= rnd32(&g->rng) & 0xFFC00000u; /* reserved high bits */
    return v;
}
static void g_popf(struct gen *g, int op16)
{
    int n = op16 ? 2 : 4;
    uint32_t v;
    unsigned st = m_peek(g, ESP_, n, &v);
    /* A pushed EFLAGS image pops back safely only from its first byte, and a
     * 32-bit POPF needs a 32-bit image (a misaligned pop moves IF, and the CPL 0
     * we run at honours IF where qemu's CPL 3 ignores it). */
    int image = (st & SH_FLAGS) && (st & (op16 ? (SH_FSTART2 | SH_FSTART4) : SH_FSTART4));
    int ok = image || ((st & SH_KNOWN) && !(st & SH_UNDEF) && popf_value_safe(v, op16));
    if (!ok || chance(&g->rng, 50)) {
        v = pick_popf_value(g);
        if (op16) { emit(g, 0x66); emit(g, 0x68); emit16(g, (uint16_t)v); }
        else { emit(g, 0x68); emit32(g, v); }
        push_val(g, n, op16 ? (v & 0xFFFF) : v, SH_KNOWN);
    }
    if (op16) emit(g, 0x66);
    emit(g, 0x9D);
    pop_val(g, n, &v, 0);
    flags_define(g, FLAGS_ARITH, 0);
}

static void g_bcd(struct gen *g, enum kind k)
{
    static const uint8_t bases[] = { 10, 10, 10, 0, 1, 2, 7, 8, 16, 0x7F, 0x80, 0xFF };
    switch (k) {
    case K_DAA: need_flags(g, F_AF | F_CF); emit(g, 0x27); flags_define(g, F_SF | F_ZF | F_PF | F_AF | F_CF, F_OF); break;
    case K_DAS: need_flags(g, F_AF | F_CF); emit(g, 0x2F); flags_define(g, F_SF | F_ZF | F_PF | F_AF | F_CF, F_OF); break;
    case K_AAA: need_flags(g, F_AF); emit(g, 0x37); flags_define(g, F_AF | F_CF, F_OF | F_SF | F_ZF | F_PF); break;
    case K_AAS: need_flags(g, F_AF); emit(g, 0x3F); flags_define(g, F_AF | F_CF, F_OF | F_SF | F_ZF | F_PF); break;
    case K_AAM: {
        uint8_t base = chance(&g->rng, 85) ? bases[rnd(&g->rng, sizeof(bases))] : (uint8_t)rnd(&g->rng, 256);
        emit(g, 0xD4); emit(g, base);
        flags_define(g, F_SF | F_ZF | F_PF, F_OF | F_AF | F_CF);
        break;
    }
    default: {
        uint8_t base = chance(&g->rng, 85) ? bases[rnd(&g->rng, sizeof(bases))] : (uint8_t)rnd(&g->rng, 256);
        emit(g, 0xD5); emit(g, base);
        flags_define(g, F_SF | F_ZF | F_PF, F_OF | F_AF | F_CF);
        break;
    }
    }
    g->m->s.rknown[R_EAX] = 0;
}

static void g_salc(struct gen *g) { need_flags(g, F_CF); emit(g, 0xD6); g->m->s.rknown[R_EAX] = 0; }
static void g_into(struct gen *g) { need_flags(g, F_OF); emit(g, 0xCE); }

/* BOUND r, m: in range (mostly), at the limits, or out of range (#BR). */
static void g_bound(struct gen *g, int op16)
{
    struct mstate *s = &g->m->s;
    int r = rnd(&g->rng, 8);
    uint32_t slot = alloc_slot(g);
    int32_t v = op16 ? (int16_t)s->reg[r] : (int32_t)s->reg[r];
    int64_t lo, hi;
    int64_t vmin = op16 ? INT16_MIN : INT32_MIN, vmax = op16 ? INT16_MAX : INT32_MAX;
    if (s->rknown[r] && chance(&g->rng, 85)) {
        static const int64_t spans[] = { 0, 1, 2, 0x7F, 0x1000, 0x7FFF, 0x7FFFFFFF };
        int64_t below = spans[rnd(&g->rng, 7)], above = spans[rnd(&g->rng, 7)];
        lo = v - below;
        hi = v + above;
        switch (rnd(&g->rng, 5)) {
        case 0: lo = v + 1 + (int64_t)rnd(&g->rng, 3); break;   /* below the lower bound */
        case 1: hi = v - 1 - (int64_t)rnd(&g->rng, 3); break;   /* above the upper bound */
        default: break;
        }
        if (lo < vmin) lo = vmin;
        if (lo > vmax) lo = vmax;
        if (hi > vmax) hi = vmax;
        if (hi < vmin) hi = vmin;
    } else {
        lo = op16 ? (int16_t)pick16(g) : (int32_t)pick32(g);
        hi = op16 ? (int16_t)pick16(g) : (int32_t)pick32(g);
    }
    if (op16) {
        emit(g, 0x66);
        add_patch(g, slot, ((uint32_t)lo & 0xFFFF) | ((uint32_t)hi & 0xFFFF) << 16);
    } else {
        add_patch(g, slot, (uint32_t)lo);
        add_patch(g, slot + 4, (uint32_t)hi);
    }
    emit(g, 0x62); emit(g, 0x05 | r << 3); emit32(g, slot);
}

static uint16_t cur_sreg(struct gen *g, int sreg) { return sreg == S_DS ? g->m->s.ds : g->m->s.es; }

/* PUSH Sreg: with a 32-bit operand the selector fills the low word and the
 * high word is implementation-defined (SDM PUSH), so the model marks it. */
static void push_sreg_value(struct gen *g, uint16_t sel, int op16)
{
    if (op16) { push_val(g, 2, sel, SH_KNOWN); return; }
    uint32_t a = ESP_ - 4;
    m_store(g, a, 2, sel, SH_KNOWN);
    m_store(g, a + 2, 2, 0, SH_UNDEF);
    ESP_ = a;
}
static void g_push_sreg(struct gen *g, int sreg, int op16)
{
    if (op16) emit(g, 0x66);
    emit(g, sreg == S_DS ? 0x1E : 0x06);
    push_sreg_value(g, cur_sreg(g, sreg), op16);
}

static int sel_ok_for(struct gen *g, int sreg, uint32_t sel)
{
    sel &= 0xFFFF;
    if (sel == g->sel_ds || sel == g->sel_es) return sel != 0 || sreg == S_ES;
    return sreg == S_ES && sel == 0;
}
static uint16_t pick_sel(struct gen *g, int sreg)
{
    uint16_t c[3] = { g->sel_ds, g->sel_es, 0 };
    for (;;) {
        uint16_t s = c[rnd(&g->rng, sreg == S_ES ? 3 : 2)];
        if (sel_ok_for(g, sreg, s)) return s;
    }
}

static void set_sreg(struct gen *g, int sreg, uint16_t sel)
{
    if (sreg == S_DS) g->m->s.ds = sel; else g->m->s.es = sel;
}

static void g_pop_sreg(struct gen *g, int sreg, int op16)
{
    struct mstate *s = &g->m->s;
    int n = op16 ? 2 : 4;
    uint32_t v;
    unsigned st = m_peek(g, ESP_, 2, &v);
    int ok = (st & SH_KNOWN) && !(st & SH_UNDEF) && sel_ok_for(g, sreg, v);
    if (!ok || chance(&g->rng, 40)) {
        /* Put an acceptable selector on the stack first. */
        uint16_t sel = pick_sel(g, sreg);
        int how = rnd(&g->rng, 3);
        if (op16) emit(g, 0x66);
        if (how == 0 && (sel == s->ds || sel == s->es)) {
            emit(g, sel == s->ds ? 0x1E : 0x06);
            push_sreg_value(g, sel, op16);
        } else if (how == 1 && sel < 0x80) {
            emit(g, 0x6A); emit(g, (uint8_t)sel);
            push_val(g, n, sel, SH_KNOWN);
        } else if (op16) {
            emit(g, 0x68); emit16(g, sel);
            push_val(g, 2, sel, SH_KNOWN);
        } else {
            uint32_t v32 = sel | (rnd32(&g->rng) & 0xFFFF0000u);
            emit(g, 0x68); emit32(g, v32);
            push_val(g, 4, v32, SH_KNOWN);
        }
    }
    if (op16) emit(g, 0x66);
    emit(g, sreg == S_DS ? 0x1F : 0x07);
    st = m_load(g, ESP_, 2, &v);
    if (!(st & SH_KNOWN) || (st & SH_UNDEF) || !sel_ok_for(g, sreg, v)) s->fail = 1;
    ESP_ += n;
    set_sreg(g, sreg, (uint16_t)v);
}

static void g_lxs(struct gen *g, int sreg, int op16)
{
    int r;
    do r = rnd(&g->rng, 8); while (r == R_ESP);
    uint32_t slot = alloc_slot(g);
    uint16_t sel = pick_sel(g, sreg);
    uint32_t off = pick32(g);
    if (op16) {
        emit(g, 0x66);
        add_patch(g, slot, (off & 0xFFFF) | (uint32_t)sel << 16);
    } else {
        add_patch(g, slot, off);
        add_patch(g, slot + 4, sel | (rnd32(&g->rng) & 0xFFFF0000u));
    }
    emit(g, sreg == S_DS ? 0xC5 : 0xC4); emit(g, 0x05 | r << 3); emit32(g, slot);
    if (op16) set_reg16(g, r, (uint16_t)off, 1);
    else set_reg32(g, r, off, 1);
    set_sreg(g, sreg, sel);
}

/* ENTER size, level (SDM ENTER, 32-bit stack). */
static void g_enter(struct gen *g, int op16)
{
    static const uint16_t sizes[] = { 0, 0, 1, 2, 3, 4, 8, 0x10, 0x20, 0x40, 0x7F, 0x80, 0x100, 0x1FF, 0xFFFF };
    struct mstate *s = &g->m->s;
    int n = op16 ? 2 : 4;
    uint16_t size = sizes[rnd(&g->rng, sizeof(sizes) / sizeof(sizes[0]))];
    uint8_t level_byte = (uint8_t)rnd(&g->rng, 4);
    if (chance(&g->rng, 10)) level_byte |= (uint8_t)(rnd(&g->rng, 8) << 5);   /* levels wrap modulo 32 */
    int level = level_byte & 31;
    if (level > 1 && !s->rknown[R_EBP]) { s->fail = 1; return; }
    if (op16) emit(g, 0x66);
    emit(g, 0xC8); emit16(g, size); emit(g, level_byte);

    push_reg(g, n, R_EBP, op16 ? s->reg[R_EBP] & 0xFFFF : s->reg[R_EBP]);
    uint32_t frame = ESP_;
    uint32_t ebp = s->reg[R_EBP];
    for (int k = 1; k < level; k++) {
        ebp -= n;
        uint8_t mem[4], st[4];
        m_snapshot(g, ebp, n, mem, st);
        m_copy(g, ESP_ - n, n, mem, st);
        ESP_ -= n;
    }
    if (level > 0) push_val(g, n, op16 ? frame & 0xFFFF : frame, SH_KNOWN);
    if (op16) set_reg16(g, R_EBP, (uint16_t)frame, 1);
    else set_reg32(g, R_EBP, frame, 1);
    ESP_ -= size;
}

static void g_leave(struct gen *g, int op16)
{
    struct mstate *s = &g->m->s;
    if (!s->rknown[R_EBP]) { s->fail = 1; return; }
    if (op16) emit(g, 0x66);
    emit(g, 0xC9);
    ESP_ = s->reg[R_EBP];
    uint32_t v;
    unsigned st = pop_val(g, op16 ? 2 : 4, &v, 0);
    if (op16) set_reg16(g, R_EBP, (uint16_t)v, st & SH_KNOWN);
    else set_reg32(g, R_EBP, v, st & SH_KNOWN);
}

/* MOV EBX, table; [segment] XLAT. */
static void g_xlat(struct gen *g)
{
    uint32_t table = DATA_BASE + rnd(&g->rng, DATA_SIZE - 0x100);
    /* AL is not modelled, so no byte of the table may be implementation-defined. */
    for (uint32_t k = 0; k < 0x100; k++)
        if (g->m->st[table - DATA_BASE + k] & SH_UNDEF) { g->m->s.fail = 1; return; }
    emit(g, 0xBB); emit32(g, table);
    set_reg32(g, R_EBX, table, 1);
    switch (rnd(&g->rng, 5)) {
    case 0: emit(g, 0x36); break;                             /* SS: */
    case 1: if (g->m->s.es != 0) emit(g, 0x26); break;        /* ES: (when not null) */
    case 2: emit(g, 0x3E); break;                             /* DS: */
    default: break;
    }
    emit(g, 0xD7);
    g->m->s.rknown[R_EAX] = 0;
}

/* LOOP family. Forward: skip 0-3 filler bytes when taken. Backward (not JCXZ):
 * MOV ECX, n; L: body; LOOPcc L, with n small (or CX = 0 with 67: 65536 rounds). */
static void g_loop(struct gen *g, enum kind k)
{
    static const uint8_t ops[] = {
        [K_LOOP] = 0xE2, [K_LOOPE] = 0xE1, [K_LOOPNE] = 0xE0, [K_JECXZ] = 0xE3,
        [K_LOOP_A16] = 0xE2, [K_LOOPE_A16] = 0xE1, [K_LOOPNE_A16] = 0xE0, [K_JCXZ_A16] = 0xE3,
    };
    uint8_t op = ops[k];
    int a16 = k >= K_LOOP_A16;
    int touched = 0;
    if (op != 0xE3 && chance(&g->rng, 35)) {
        static const uint32_t n32[] = { 1, 2, 3, 4, 7 };
        static const uint32_t n16[] = { 1, 2, 3, 0x10001, 0xFFFF0002, 0x7FFF0003, 0x10000, 0 };
        uint32_t n = a16 ? n16[rnd(&g->rng, 8)] : n32[rnd(&g->rng, 5)];
        emit(g, 0xB9); emit32(g, n);
        int body = 1 + rnd(&g->rng, 2);
        emit_filler(g, body, &touched);
        if (a16) emit(g, 0x67);
        emit(g, op); emit(g, (uint8_t)-(body + 2 + a16));
        forget_regs(g, touched | 1 << R_ECX);
        flags_define(g, F_ZAPSO, 0);   /* the body ran at least once */
        return;
    }
    if (op == 0xE1 || op == 0xE0) need_flags(g, F_ZF);
    int fill = rnd(&g->rng, 4);
    if (a16) emit(g, 0x67);
    emit(g, op); emit(g, (uint8_t)fill);
    emit_filler(g, fill, &touched);
    forget_regs(g, touched | (op == 0xE3 ? 0 : 1 << R_ECX));
    /* The filler may or may not run: flags undefined before stay undefined. */
}

static void gen_item(struct gen *g, enum kind k)
{
    switch (k) {
    case K_INC32: g_incdec(g, 0, 0); break;
    case K_DEC32: g_incdec(g, 1, 0); break;
    case K_INC16: g_incdec(g, 0, 1); break;
    case K_DEC16: g_incdec(g, 1, 1); break;
    case K_PUSH_R32: g_push_r(g, 0); break;
    case K_PUSH_R16: g_push_r(g, 1); break;
    case K_POP_R32: g_pop_r(g, 0); break;
    case K_POP_R16: g_pop_r(g, 1); break;
    case K_POP_ESP: g_pop_esp(g); break;
    case K_PUSH_I32: case K_PUSH_I8: case K_PUSH_I16: case K_PUSH_I8_16: g_push_imm(g, k); break;
    case K_PUSH_M32: g_push_m(g, 0); break;
    case K_PUSH_M16: g_push_m(g, 1); break;
    case K_POP_M32: g_pop_m(g, 0); break;
    case K_POP_M16: g_pop_m(g, 1); break;
    case K_CALL: g_call(g); break;
    case K_CALL_RET: g_call_ret(g, 0); break;
    case K_CALL_RETI: g_call_ret(g, 1); break;
    case K_PUSHAD: g_pusha(g, 0); break;
    case K_PUSHAW: g_pusha(g, 1); break;
    case K_POPAD: g_popa(g, 0); break;
    case K_POPAW: g_popa(g, 1); break;
    case K_PUSHFD: g_pushf(g, 0); break;
    case K_PUSHFW: g_pushf(g, 1); break;
    case K_POPFD: g_popf(g, 0); break;
    case K_POPFW: g_popf(g, 1); break;
    case K_DAA: case K_DAS: case K_AAA: case K_AAS: case K_AAM: case K_AAD: g_bcd(g, k); break;
    case K_BOUND32: g_bound(g, 0); break;
    case K_BOUND16: g_bound(g, 1); break;
    case K_PUSH_ES: g_push_sreg(g, S_ES, 0); break;
    case K_PUSH_DS: g_push_sreg(g, S_DS, 0); break;
    case K_POP_ES: g_pop_sreg(g, S_ES, 0); break;
    case K_POP_DS: g_pop_sreg(g, S_DS, 0); break;
    case K_PUSH_SREG16: g_push_sreg(g, chance(&g->rng, 50) ? S_DS : S_ES, 1); break;
    case K_POP_SREG16: g_pop_sreg(g, chance(&g->rng, 50) ? S_DS : S_ES, 1); break;
    case K_LDS32: g_lxs(g, S_DS, 0); break;
    case K_LES32: g_lxs(g, S_ES, 0); break;
    case K_LDS16: g_lxs(g, S_DS, 1); break;
    case K_LES16: g_lxs(g, S_ES, 1); break;
    case K_ENTER32: g_enter(g, 0); break;
    case K_ENTER16: g_enter(g, 1); break;
    case K_LEAVE32: g_leave(g, 0); break;
    case K_LEAVE16: g_leave(g, 1); break;
    case K_XLAT: g_xlat(g); break;
    case K_LOOP: case K_LOOPE: case K_LOOPNE: case K_JECXZ:
    case K_LOOP_A16: case K_LOOPE_A16: case K_LOOPNE_A16: case K_JCXZ_A16: g_loop(g, k); break;
    case K_INTO: g_into(g); break;
    case K_SALC: g_salc(g); break;
    case K_COUNT: break;
    }
}

static void mask_bits(uint8_t *bits, const uint8_t *ever_or_undef, int use_st, const uint8_t *st)
{
    memset(bits, 0, DATA_SIZE / 8);
    for (uint32_t o = 0; o < DATA_SIZE; o++) {
        int on = use_st ? (st[o] & SH_UNDEF) != 0 : ever_or_undef[o] != 0;
        if (on) bits[o / 8] |= (uint8_t)(1u << (o % 8));
    }
}

/* Build one case at `addr`. */
static void gen_case(struct gen *g, struct tcase *t, uint32_t idx, uint32_t addr)
{
    struct model *m = g->m;
    struct rng *r = &g->rng;
    memset(t, 0, sizeof(*t));
    t->idx = idx;
    t->addr = addr;
    g->t = t;

    memcpy(m->mem, g->pristine, DATA_SIZE);
    memset(m->st, SH_KNOWN, DATA_SIZE);
    /* Patch slots hold values that later items choose but that are in place from
     * the start: unknown to the model until patched. */
    memset(m->st, 0, SCRATCH_SLOTS);
    memset(m->ever, 0, DATA_SIZE);
    m->nj = 0;
    memset(&m->s, 0, sizeof(m->s));

    for (int k = 0; k < 8; k++) t->reg[k] = pick32(g);
    t->reg[R_EAX] = pick_eax(g);
    uint32_t esp = DATA_BASE + 0x800u + rnd(r, 0x200) - 0x100;
    if (chance(r, 80)) esp &= ~3u;
    t->reg[R_ESP] = esp;
    if (chance(r, 50)) t->reg[R_EBP] = esp + rnd(r, 0x180) - 0x40;
    t->flags = rnd32(r) & (FLAGS_ARITH | F_DF);
    for (int k = 0; k < 8; k++) { m->s.reg[k] = t->reg[k]; m->s.rknown[k] = 1; }
    m->s.ds = g->sel_ds;
    m->s.es = g->sel_es;

    int nitems = chance(r, 35) ? 1 : 2 + (int)rnd(r, MAX_ITEMS - 1);
    for (int it = 0; it < nitems; it++) {
        for (int attempt = 0; attempt < 40; attempt++) {
            struct mstate saved = m->s;
            int mark = m->nj;
            enum kind k = (enum kind)rnd(r, K_COUNT);
            int start = m->s.len;
            gen_item(g, k);
            uint32_t e = m->s.reg[R_ESP];
            if (!m->s.fail && (e < ESP_MIN || e > ESP_MAX)) m->s.fail = 1;
            if (m->s.fail) {
                j_rollback(m, mark);
                m->s = saved;
                continue;
            }
            t->kind[t->nitems] = (uint8_t)k;
            t->off[t->nitems] = (uint8_t)start;
            t->ilen[t->nitems] = (uint8_t)(m->s.len - start);
            t->nitems++;
            break;
        }
    }
    t->len = m->s.len;
    t->npatch = m->s.npatch;
    t->undef_end = m->s.undef;
    t->undef_any = m->s.undef_any;
    mask_bits(t->mask_end, NULL, 1, m->st);
    mask_bits(t->mask_any, m->ever, 0, NULL);
    for (int k = 0; k < 8; k++) {
        t->mreg[k] = m->s.reg[k];
        if (m->s.rknown[k]) t->mknown |= (uint8_t)(1u << k);
    }
    t->mds = m->s.ds;
    t->mes = m->s.es;
    memcpy(t->mmem, m->mem, DATA_SIZE);
    for (uint32_t o = 0; o < DATA_SIZE; o++)
        if (m->st[o] & SH_KNOWN) t->mmem_known[o / 8] |= (uint8_t)(1u << (o % 8));
}

/* Where qemu ran a case to its end, the registers and bytes the model knows must
 * match: a disagreement is a bug in this generator (or in qemu), not in our CPU. */
static int model_check(const struct tcase *t, const struct result *q, char *why, size_t cap)
{
    size_t n = 0;
    int bad = 0;
    if (q->fault) return 0;
    for (int r = 0; r < 8; r++)
        if ((t->mknown >> r & 1) && q->reg[r] != t->mreg[r]) {
            bad++;
            if (n < cap) n += (size_t)snprintf(why + n, cap - n, "  model %s=%08x, qemu %08x\n", reg_names[r], t->mreg[r], q->reg[r]);
        }
    for (uint32_t o = 0; o < DATA_SIZE; o++)
        if ((t->mmem_known[o / 8] >> (o % 8) & 1) && q->data[o] != t->mmem[o]) {
            if (bad++ < 8 && n < cap)
                n += (size_t)snprintf(why + n, cap - n, "  model mem %08x=%02x, qemu %02x\n", DATA_BASE + o, t->mmem[o], q->data[o]);
        }
    if (q->ds != t->mds || q->es != t->mes) {
        bad++;
        if (n < cap) n += (size_t)snprintf(why + n, cap - n, "  model ds=%04x es=%04x, qemu %04x %04x\n", t->mds, t->mes, q->ds, q->es);
    }
    return bad;
}

/* ===========================================================================
 * The ELF32 program. */
struct layout {
    uint32_t handler, restorer, record, prep, exit_code, first_pre_jmp;
};

static void emit_common(struct buf *c, uint16_t sel_ds, uint16_t sel_es, struct layout *L, int probe_only)
{
    static const int sigs[] = { 4, 5, 7, 8, 11 };   /* SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV */
    c->base = CODE_BASE;
    /* entry */
    x_syscall(c, SYS_SIGALTSTACK, ALTSTK_DESC, 0, 0, 0);
    for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
        x_syscall(c, SYS_RT_SIGACTION, (uint32_t)sigs[k], SIGACT_ADDR, 0, 8);
    /* The probe: selectors, EFLAGS and ESP as the process starts. */
    x_mov_m_sreg(c, PROBE_ADDR + P_CS, S_CS);
    x_mov_m_sreg(c, PROBE_ADDR + P_DS, S_DS);
    x_mov_m_sreg(c, PROBE_ADDR + P_ES, S_ES);
    x_mov_m_sreg(c, PROBE_ADDR + P_FS, S_FS);
    x_mov_m_sreg(c, PROBE_ADDR + P_GS, S_GS);
    x_mov_m_sreg(c, PROBE_ADDR + P_SS, S_SS);
    e8(c, 0x9C); e8(c, 0x8F); e8(c, 0x05); e32(c, PROBE_ADDR + P_EFLAGS);   /* pushfd; pop [] */
    x_mov_m_r(c, PROBE_ADDR + P_ESP, R_ESP);
    x_mov_r_imm(c, R_ESP, DRV_STACK_TOP);
    x_syscall(c, SYS_WRITE, 1, PROBE_ADDR, PROBE_SIZE, 0);
    L->first_pre_jmp = here(c);
    x_jmp(c, here(c) + 5);   /* patched to the first case */

    /* exit(0) */
    L->exit_code = here(c);
    x_mov_r_imm(c, R_EAX, SYS_EXIT);
    x_mov_r_imm(c, R_EBX, 0);
    x_int80(c);

    /* record: write the header and the data area. */
    L->record = here(c);
    x_mov_r_imm(c, R_EAX, sel_ds);
    x_mov_sreg_r(c, S_DS, R_EAX);
    x_syscall(c, SYS_WRITE, 1, HDR_ADDR, RECORD_SIZE, 0);
    e8(c, 0xC3);

    /* prep: segments, data area, header fields the fault path fills. */
    L->prep = here(c);
    x_mov_r_imm(c, R_EAX, sel_ds);
    x_mov_sreg_r(c, S_DS, R_EAX);
    x_mov_r_imm(c, R_EAX, sel_es);
    x_mov_sreg_r(c, S_ES, R_EAX);
    e8(c, 0xFC);   /* cld */
    x_mov_r_imm(c, R_ESI, PRISTINE_ADDR);
    x_mov_r_imm(c, R_EDI, DATA_BASE);
    x_mov_r_imm(c, R_ECX, DATA_SIZE / 4);
    e8(c, 0xF3); e8(c, 0xA5);   /* rep movsd */
    x_mov_r_imm(c, R_EAX, 0);
    static const uint32_t zero_fields[] = { H_STATUS, H_TRAPNO, H_ERR, H_EIP, H_DS, H_ES, H_SIGNO };
    for (size_t k = 0; k < sizeof(zero_fields) / sizeof(zero_fields[0]); k++)
        x_mov_m_r(c, HDR_ADDR + zero_fields[k], R_EAX);
    e8(c, 0xC3);

    /* The signal handler (SA_SIGINFO on the alternate stack): copy the signal
     * context into the header and resume at the current case's record call. */
    L->handler = here(c);
    e8(c, 0x8B); e8(c, 0x6C); e8(c, 0x24); e8(c, 0x04);      /* mov ebp, [esp+4]: signo */
    x_mov_m_r(c, HDR_ADDR + H_SIGNO, R_EBP);
    e8(c, 0x8B); e8(c, 0x5C); e8(c, 0x24); e8(c, 0x0C);      /* mov ebx, [esp+12]: ucontext */
    e8(c, 0x83); e8(c, 0xC3); e8(c, 20);                     /* add ebx, 20: uc_mcontext */
    static const struct { int8_t src; uint8_t dst; } ctx[] = {
        { 44, H_REGS + 4 * R_EAX }, { 40, H_REGS + 4 * R_ECX }, { 36, H_REGS + 4 * R_EDX },
        { 32, H_REGS + 4 * R_EBX }, { 28, H_REGS + 4 * R_ESP }, { 24, H_REGS + 4 * R_EBP },
        { 20, H_REGS + 4 * R_ESI }, { 16, H_REGS + 4 * R_EDI }, { 48, H_TRAPNO }, { 52, H_ERR },
        { 56, H_EIP }, { 64, H_EFLAGS }, { 12, H_DS }, { 8, H_ES },
    };
    for (size_t k = 0; k < sizeof(ctx) / sizeof(ctx[0]); k++) {
        x_mov_eax_ebx_d8(c, ctx[k].src);
        x_mov_m_r(c, HDR_ADDR + ctx[k].dst, R_EAX);
    }
    e8(c, 0x81); e8(c, 0x25); e32(c, HDR_ADDR + H_DS); e32(c, 0xFFFF);   /* and dword [], 0xffff */
    e8(c, 0x81); e8(c, 0x25); e32(c, HDR_ADDR + H_ES); e32(c, 0xFFFF);
    x_mov_m_imm(c, HDR_ADDR + H_STATUS, 1);
    /* Unblock everything (in case SA_NODEFER is not honoured) and leave the frame. */
    x_syscall(c, SYS_RT_SIGPROCMASK, 2 /* SIG_SETMASK */, ZEROMASK_ADDR, 0, 8);
    x_mov_r_imm(c, R_ESP, DRV_STACK_TOP);
    e8(c, 0xFF); e8(c, 0x25); e32(c, RESUME_ADDR);            /* jmp [resume] */

    L->restorer = here(c);
    x_mov_r_imm(c, R_EAX, SYS_RT_SIGRETURN);
    x_int80(c);

    pad_to(c, CODE_BASE + COMMON_SIZE, 0xCC);
    if (probe_only) {
        uint32_t at = L->first_pre_jmp;
        put32(c->p + (at - c->base) + 1, L->exit_code - (at + 5));
    }
}

static uint32_t case_addr(uint32_t k) { return CODE_BASE + COMMON_SIZE + k * SLOT_SIZE + CASE_OFF; }

static void emit_case(struct buf *c, const struct layout *L, const struct tcase *t, int last)
{
    uint32_t slot = t->addr - CASE_OFF;
    pad_to(c, slot, 0xCC);
    /* before the case */
    x_mov_r_imm(c, R_ESP, DRV_STACK_TOP);
    x_call(c, L->prep);
    for (int k = 0; k < t->npatch; k++) x_mov_m_imm(c, t->patch[k].addr, t->patch[k].val);
    x_mov_m_imm(c, HDR_ADDR + H_IDX, t->idx);
    uint32_t resume_fixup = here(c);
    x_mov_m_imm(c, RESUME_ADDR, 0);   /* filled in below */
    e8(c, 0x68); e32(c, t->flags | F_IF | 0x2);   /* push imm32; popfd */
    e8(c, 0x9D);
    for (int r = 0; r < 8; r++) if (r != R_ESP) x_mov_r_imm(c, r, t->reg[r]);
    x_mov_r_imm(c, R_ESP, t->reg[R_ESP]);
    if (here(c) > t->addr) { fprintf(stderr, "diffqemu: case %u driver too long\n", t->idx); exit(2); }
    /* Jump over the padding straight to the case. */
    if (here(c) < t->addr) {
        uint32_t gap = t->addr - here(c);
        if (gap >= 2 && gap < 0x80) { e8(c, 0xEB); e8(c, (uint8_t)(gap - 2)); }
        pad_to(c, t->addr, 0x90);
    }
    /* the case */
    for (int k = 0; k < t->len; k++) e8(c, t->code[k]);
    /* after the case */
    for (int r = 0; r < 8; r++) x_mov_m_r(c, HDR_ADDR + H_REGS + 4 * r, r);
    x_mov_r_imm(c, R_ESP, DRV_STACK_TOP);
    e8(c, 0x9C); e8(c, 0x8F); e8(c, 0x05); e32(c, HDR_ADDR + H_EFLAGS);
    x_mov_m_sreg(c, HDR_ADDR + H_DS, S_DS);
    x_mov_m_sreg(c, HDR_ADDR + H_ES, S_ES);
    uint32_t resume = here(c);
    x_call(c, L->record);
    if (last) x_jmp(c, L->exit_code);
    else x_jmp(c, here(c) + 5);   /* the next slot's driver: patched by the caller */
    if (here(c) > slot + SLOT_SIZE) { fprintf(stderr, "diffqemu: case %u slot overflow\n", t->idx); exit(2); }
    put32(c->p + (resume_fixup - c->base) + 6, resume);
}

/* Write the ELF32 executable. */
static int write_elf(const char *path, const struct buf *code, const uint8_t *dataseg)
{
    uint8_t eh[52 + 2 * 32];
    memset(eh, 0, sizeof(eh));
    memcpy(eh, "\177ELF", 4);
    eh[4] = 1; eh[5] = 1; eh[6] = 1;            /* 32-bit, little-endian, version 1 */
    uint16_t h16[] = { 2 /* ET_EXEC */, 3 /* EM_386 */ };
    memcpy(eh + 16, h16, 4);
    put32(eh + 20, 1);
    put32(eh + 24, CODE_BASE);                  /* e_entry */
    put32(eh + 28, 52);                         /* e_phoff */
    put32(eh + 32, 0);
    put32(eh + 36, 0);
    uint16_t h16b[] = { 52, 32, 2, 40, 0, 0 };  /* ehsize, phentsize, phnum, shentsize, shnum, shstrndx */
    memcpy(eh + 40, h16b, 12);
    uint8_t *ph = eh + 52;
    /* data: file offset 0x1000 */
    put32(ph + 0, 1); put32(ph + 4, 0x1000); put32(ph + 8, DRV_PAGE); put32(ph + 12, DRV_PAGE);
    put32(ph + 16, DATASEG_FILESZ); put32(ph + 20, DATASEG_MEMSZ); put32(ph + 24, 6); put32(ph + 28, 0x1000);
    ph += 32;
    uint32_t code_off = 0x1000 + DATASEG_FILESZ;
    put32(ph + 0, 1); put32(ph + 4, code_off); put32(ph + 8, CODE_BASE); put32(ph + 12, CODE_BASE);
    put32(ph + 16, (uint32_t)code->len); put32(ph + 20, (uint32_t)code->len); put32(ph + 24, 5); put32(ph + 28, 0x1000);

    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); return -1; }
    static const uint8_t zero[0x1000];
    int ok = fwrite(eh, sizeof(eh), 1, f) == 1
        && fwrite(zero, 0x1000 - sizeof(eh), 1, f) == 1
        && fwrite(dataseg, DATASEG_FILESZ, 1, f) == 1
        && fwrite(code->p, code->len, 1, f) == 1;
    if (fclose(f) != 0) ok = 0;
    if (!ok) { fprintf(stderr, "diffqemu: writing %s failed\n", path); return -1; }
    chmod(path, 0755);
    return 0;
}

static void build_dataseg(uint8_t *d, const uint8_t *pristine, uint32_t handler, uint32_t restorer)
{
    memset(d, 0, DATASEG_FILESZ);
    uint8_t *sa = d + (SIGACT_ADDR - DRV_PAGE);
    put32(sa + 0, handler);
    put32(sa + 4, K_SA_SIGINFO | K_SA_ONSTACK | K_SA_RESTORER | K_SA_NODEFER);
    put32(sa + 8, restorer);
    /* sa_mask (8 bytes) stays empty */
    uint8_t *ss = d + (ALTSTK_DESC - DRV_PAGE);
    put32(ss + 0, ALTSTACK_BASE);
    put32(ss + 4, 0);
    put32(ss + 8, ALTSTACK_SIZE);
    put32(d + (HDR_ADDR - DRV_PAGE) + H_MAGIC, REC_MAGIC);
    put32(d + (PROBE_ADDR - DRV_PAGE) + P_MAGIC, PROBE_MAGIC);
    if (pristine) memcpy(d + (PRISTINE_ADDR - DRV_PAGE), pristine, DATA_SIZE);
}

/* ===========================================================================
 * Running qemu-i386. */
static char *find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = strdup(path);
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", *dir ? dir : ".", name);
        if (access(full, X_OK) == 0) { free(copy); return strdup(full); }
    }
    free(copy);
    return NULL;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    uint8_t *p = malloc(cap);
    for (;;) {
        if (n == cap) { cap *= 2; p = realloc(p, cap); if (!p) { fclose(f); return NULL; } }
        size_t got = fread(p + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    *len = n;
    return p;
}

/* Run `elf` under qemu; its stdout goes to `out`. Returns the exit status, or -1. */
static int run_qemu(const char *qemu, const char *elf, const char *out, const char *errpath)
{
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return -1; }
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || fe < 0) _exit(126);
        dup2(fd, 1);
        dup2(fe, 2);
        execl(qemu, qemu, elf, (char *)NULL);
        _exit(127);
    }
    time_t start = time(NULL);
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) return status;
        if (w < 0) { perror("waitpid"); return -1; }
        if (time(NULL) - start > QEMU_TIMEOUT_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "diffqemu: qemu-i386 timed out after %d s\n", QEMU_TIMEOUT_S);
            return -1;
        }
        usleep(2000);
    }
}

struct probe {
    uint16_t cs, ds, es, fs, gs, ss;
    uint32_t eflags, esp;
};

static void parse_record(const uint8_t *p, struct result *r)
{
    memset(r, 0, sizeof(*r));
    r->fault = get32(p + H_STATUS) != 0;
    r->vector = (int)get32(p + H_TRAPNO);
    r->signo = (int)get32(p + H_SIGNO);
    r->eip = get32(p + H_EIP);
    for (int k = 0; k < 8; k++) r->reg[k] = get32(p + H_REGS + 4 * k);
    r->eflags = get32(p + H_EFLAGS);
    r->ds = (uint16_t)get32(p + H_DS);
    r->es = (uint16_t)get32(p + H_ES);
    memcpy(r->data, p + HDR_SIZE, DATA_SIZE);
}

/* ===========================================================================
 * Our CPU. */
struct ours {
    struct memory *mem;
    struct ioports *io;
    struct cpu *cpu;
    struct probe pr;
    uint16_t cs_sel, ss_sel;
    int fault_seen;
    int fault_vec;
    uint32_t fault_eip;
    uint32_t fault_reg[8];
    uint32_t fault_eflags;
    uint16_t fault_ds, fault_es;
    uint8_t fault_data[DATA_SIZE];   /* the data area before the exception frame was pushed */
};

static void on_exception(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    struct ours *o = opaque;
    (void)has_error; (void)error; (void)is_soft;
    if (o->fault_seen) return;
    struct cpu_segment_state s;
    o->fault_seen = 1;
    o->fault_vec = vector;
    o->fault_eip = cpu_get_eip(o->cpu);
    for (int r = 0; r < 8; r++) o->fault_reg[r] = cpu_get_reg(o->cpu, r);
    o->fault_eflags = cpu_get_eflags(o->cpu);
    cpu_get_seg(o->cpu, S_DS, &s); o->fault_ds = s.selector;
    cpu_get_seg(o->cpu, S_ES, &s); o->fault_es = s.selector;
    memory_read(o->mem, DATA_BASE, o->fault_data, DATA_SIZE);
}

static void put_desc(uint8_t *gdt, int idx, uint8_t access)
{
    /* base 0, limit 0xFFFFF pages, G=1, D/B=1 */
    uint8_t *d = gdt + 8 * idx;
    d[0] = 0xFF; d[1] = 0xFF; d[2] = 0; d[3] = 0; d[4] = 0;
    d[5] = access; d[6] = 0xCF; d[7] = 0;
}

static void flat_seg(struct cpu *cpu, int seg, uint16_t sel, uint8_t access)
{
    struct cpu_segment_state s = { sel, 0, 0xFFFFFFFFu, (uint16_t)(access | 0xC000) };
    cpu_set_seg(cpu, seg, &s);
}

/* Data descriptor access byte for a selector: present, DPL = RPL, writable, accessed. */
static uint8_t data_access(uint16_t sel) { return (uint8_t)(0x93 | (sel & 3) << 5); }

/* Reset our CPU into 32-bit flat protected mode with our GDT loaded (LGDT run at CPL 0). */
static int ours_boot(struct ours *o)
{
    struct cpu *cpu = o->cpu;
    uint8_t gdt[32 * 8];
    memset(gdt, 0, sizeof(gdt));
    put_desc(gdt, o->cs_sel >> 3, 0x9B);
    put_desc(gdt, o->ss_sel >> 3, 0x93);
    const uint16_t data_sels[] = { o->pr.ds, o->pr.es, o->pr.ss, o->pr.fs, o->pr.gs };
    for (size_t k = 0; k < sizeof(data_sels) / sizeof(data_sels[0]); k++)
        if (data_sels[k] >> 3) put_desc(gdt, data_sels[k] >> 3, data_access(data_sels[k]));
    memory_write(o->mem, GDT_ADDR, gdt, sizeof(gdt));
    uint8_t dtr[16] = { 0 };
    dtr[0] = sizeof(gdt) - 1; dtr[1] = 0; put32(dtr + 2, GDT_ADDR);    /* GDTR */
    /* IDT: 32-bit interrupt gates (DPL 3, so INTO passes the gate check) to one
     * HLT per vector. The case runs at CPL 0, so the frame lands on its stack;
     * the hook snapshots the data area before that. */
    dtr[8] = 32 * 8 - 1; dtr[9] = 0; put32(dtr + 10, IDT_ADDR);
    memory_write(o->mem, GDTR_ADDR, dtr, sizeof(dtr));
    uint8_t idt[32 * 8], stubs[32];
    for (int v = 0; v < 32; v++) {
        uint32_t target = STUBS_ADDR + (uint32_t)v;
        uint8_t *d = idt + 8 * v;
        d[0] = target & 0xFF; d[1] = (target >> 8) & 0xFF;
        d[2] = o->cs_sel & 0xFF; d[3] = o->cs_sel >> 8;
        d[4] = 0; d[5] = 0xEE;
        d[6] = (target >> 16) & 0xFF; d[7] = target >> 24;
        stubs[v] = 0xF4;
    }
    memory_write(o->mem, IDT_ADDR, idt, sizeof(idt));
    memory_write(o->mem, STUBS_ADDR, stubs, sizeof(stubs));
    static const uint8_t boot[] = {
        0x0F, 0x01, 0x15, GDTR_ADDR & 0xFF, GDTR_ADDR >> 8, 0, 0,            /* lgdt [GDTR] */
        0x0F, 0x01, 0x1D, (GDTR_ADDR + 8) & 0xFF, (GDTR_ADDR + 8) >> 8, 0, 0, /* lidt [GDTR+8] */
        0xF4,
    };
    memory_write(o->mem, BOOT_ADDR, boot, sizeof(boot));
    cpu_reset(cpu);
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET);
    flat_seg(cpu, S_CS, o->cs_sel, 0x9B);
    flat_seg(cpu, S_SS, o->ss_sel, 0x93);
    flat_seg(cpu, S_DS, o->ss_sel, 0x93);
    flat_seg(cpu, S_ES, o->ss_sel, 0x93);
    cpu_set_eflags(cpu, 0x2);
    cpu_set_eip(cpu, BOOT_ADDR);
    cpu_set_halted(cpu, 0);
    o->fault_seen = 0;
    for (int k = 0; k < 100 && !cpu_is_halted(cpu) && !o->fault_seen; k++) cpu_run(cpu, 100);
    if (!cpu_is_halted(cpu) || o->fault_seen || cpu_get_eip(cpu) != BOOT_ADDR + sizeof(boot)) {
        fprintf(stderr, "diffqemu: our CPU did not run the LGDT/LIDT boot code (eip %08x, fault %d vec %d)\n",
                cpu_get_eip(cpu), o->fault_seen, o->fault_vec);
        return -1;
    }
    return 0;
}

static int ours_init(struct ours *o, const struct probe *pr)
{
    memset(o, 0, sizeof(*o));
    o->pr = *pr;
    /* Our own CPL-0 code and stack selectors (HLT must work), at GDT slots the
     * process's selectors do not use. */
    int used[32] = { 0 };
    const uint16_t sels[] = { pr->cs, pr->ds, pr->es, pr->fs, pr->gs, pr->ss };
    for (size_t k = 0; k < sizeof(sels) / sizeof(sels[0]); k++) if ((sels[k] >> 3) < 32) used[sels[k] >> 3] = 1;
    int idx[2], n = 0;
    for (int k = 1; k < 32 && n < 2; k++) if (!used[k]) idx[n++] = k;
    if (n < 2) { fprintf(stderr, "diffqemu: no free GDT slots\n"); return -1; }
    o->cs_sel = (uint16_t)(idx[0] << 3);
    o->ss_sel = (uint16_t)(idx[1] << 3);
    o->mem = memory_new(RAM_BYTES);
    o->io = ioports_new();
    if (!o->mem || !o->io) return -1;
    ioports_set_log(o->io, NULL, 0);
    o->cpu = cpu_new(o->mem, o->io);
    if (!o->cpu) return -1;
    cpu_set_exception_hook(o->cpu, on_exception, o);
    return ours_boot(o);
}

static void ours_run(struct ours *o, const struct tcase *t, const uint8_t *pristine, struct result *res)
{
    struct cpu *cpu = o->cpu;
    memset(res, 0, sizeof(*res));
    uint8_t img[DATA_SIZE];
    memcpy(img, pristine, DATA_SIZE);
    for (int k = 0; k < t->npatch; k++) put32(img + (t->patch[k].addr - DATA_BASE), t->patch[k].val);
    memory_write(o->mem, DATA_BASE, img, DATA_SIZE);
    uint8_t code[MAX_CODE + 1];
    memcpy(code, t->code, t->len);
    code[t->len] = 0xF4;   /* HLT */
    memory_write(o->mem, t->addr, code, t->len + 1);

    flat_seg(cpu, S_CS, o->cs_sel, 0x9B);
    flat_seg(cpu, S_SS, o->ss_sel, 0x93);
    flat_seg(cpu, S_DS, o->pr.ds, data_access(o->pr.ds));
    flat_seg(cpu, S_ES, o->pr.es, data_access(o->pr.es));
    for (int r = 0; r < 8; r++) cpu_set_reg(cpu, r, t->reg[r]);
    uint32_t base = (o->pr.eflags & ~(FLAGS_ARITH | F_DF | F_TF)) | F_IF | 0x2;
    cpu_set_eflags(cpu, base | t->flags);
    cpu_set_eip(cpu, t->addr);
    cpu_set_halted(cpu, 0);
    o->fault_seen = 0;

    uint64_t ran = 0, start = cpu_icount(cpu);
    while (!cpu_is_halted(cpu) && ran < OUR_BUDGET) {
        enum cpu_stop why = cpu_run(cpu, 100000);
        ran = cpu_icount(cpu) - start;
        if (why == CPU_STOP_RESET) { res->why = "reset (triple fault?)"; break; }
    }
    if (o->fault_seen) {
        /* State as the exception was raised (from the hook); the EIP the CPU
         * pushed (the instruction for a fault, the next one for a trap) from the frame. */
        res->fault = 1;
        res->vector = o->fault_vec;
        memcpy(res->reg, o->fault_reg, sizeof(res->reg));
        res->eflags = o->fault_eflags;
        res->ds = o->fault_ds;
        res->es = o->fault_es;
        memcpy(res->data, o->fault_data, DATA_SIZE);
        int vec = o->fault_vec;
        uint32_t pushed = 0;
        int err = vec == EXC_DF || (vec >= EXC_TS && vec <= EXC_PF) || vec == EXC_AC;
        if (!res->why && cpu_is_halted(cpu) && vec >= 0 && vec < 32 && cpu_get_eip(cpu) == STUBS_ADDR + (uint32_t)vec + 1
            && cpu_read_linear(cpu, cpu_get_reg(cpu, R_ESP) + (err ? 4 : 0), &pushed, 4) == 0) {
            res->eip = pushed;
        } else {
            res->eip = o->fault_eip;
            if (!res->why) res->why = "the exception did not reach its IDT handler (EIP below is from the hook)";
        }
    } else {
        if (!res->why && !cpu_is_halted(cpu)) res->why = "did not reach the HLT (budget)";
        else if (!res->why && cpu_get_eip(cpu) != t->addr + t->len + 1) res->why = "halted at the wrong place";
        for (int r = 0; r < 8; r++) res->reg[r] = cpu_get_reg(cpu, r);
        res->eflags = cpu_get_eflags(cpu);
        res->eip = cpu_get_eip(cpu);
        struct cpu_segment_state s;
        cpu_get_seg(cpu, S_DS, &s); res->ds = s.selector;
        cpu_get_seg(cpu, S_ES, &s); res->es = s.selector;
        memory_read(o->mem, DATA_BASE, res->data, DATA_SIZE);
    }
    if (res->why) ours_boot(o);
}

/* ===========================================================================
 * Comparison and reporting. */
static int signal_for_vector(int vec)
{
    switch (vec) {
    case EXC_DE: return SIGFPE;
    case EXC_UD: return SIGILL;
    case EXC_DB: case EXC_BP: return SIGTRAP;
    default: return SIGSEGV;
    }
}

/* qemu-user builds the signal frame after its exception index is reset, so the
 * context's trapno is -1: the vector follows from the instruction at the fault
 * EIP instead. INTO is a trap (its EIP is the next instruction), taken exactly
 * when OF is set: that tells it from a fault of the instruction after it.
 * -1: unknown. */
static int expected_vector(const struct tcase *t, uint32_t eip, uint32_t eflags)
{
    for (int k = 0; k < t->nitems; k++)
        if (t->kind[k] == K_INTO && eip == t->addr + t->off[k] + t->ilen[k] && (eflags & F_OF)) return EXC_OF;
    for (int k = 0; k < t->nitems; k++) {
        uint32_t start = t->addr + t->off[k], end = start + t->ilen[k];
        if (eip < start || eip >= end) continue;
        switch (t->kind[k]) {
        case K_BOUND32: case K_BOUND16: return EXC_BR;
        case K_AAM: return EXC_DE;
        default: return -1;
        }
    }
    return -1;
}

/* Fills `why` with the differences; returns the number of them. */
static int compare(const struct tcase *t, const struct result *q, const struct result *u, char *why, size_t cap)
{
    size_t n = 0;
    int diffs = 0;
#define NOTE(...) do { diffs++; if (n < cap) n += (size_t)snprintf(why + n, cap - n, __VA_ARGS__); } while (0)
    if (u->why) NOTE("  ours: %s (eip %08x)\n", u->why, u->eip);
    if (q->fault != u->fault) {
        if (q->fault) NOTE("  qemu faulted (signal %d, trap %d at %08x), ours ran to the end\n", q->signo, q->vector, q->eip);
        else NOTE("  ours faulted (vector %d at %08x), qemu ran to the end\n", u->vector, u->eip);
        return diffs;
    }
    if (q->fault) {
        int expect = q->vector >= 0 && q->vector < 32 ? q->vector : expected_vector(t, q->eip, q->eflags);
        if (q->signo != signal_for_vector(u->vector) || (expect >= 0 && expect != u->vector))
            NOTE("  fault: qemu signal %d (so vector %d), ours vector %d\n", q->signo, expect, u->vector);
        if (q->eip != u->eip) NOTE("  fault eip: qemu %08x ours %08x\n", q->eip, u->eip);
    }
    for (int r = 0; r < 8; r++)
        if (q->reg[r] != u->reg[r]) NOTE("  %s: qemu %08x ours %08x\n", reg_names[r], q->reg[r], u->reg[r]);
    uint32_t fm = FLAGS_CMP & ~(q->fault ? t->undef_any : t->undef_end);
    if ((q->eflags ^ u->eflags) & fm)
        NOTE("  eflags: qemu %08x ours %08x (differ %08x, compared %08x)\n", q->eflags, u->eflags,
             (q->eflags ^ u->eflags) & fm, fm);
    if (q->ds != u->ds) NOTE("  ds: qemu %04x ours %04x\n", q->ds, u->ds);
    if (q->es != u->es) NOTE("  es: qemu %04x ours %04x\n", q->es, u->es);
    const uint8_t *mask = q->fault ? t->mask_any : t->mask_end;
    int shown = 0;
    for (uint32_t o = 0; o < DATA_SIZE; o++) {
        if (mask[o / 8] & (1u << (o % 8))) continue;
        if (q->data[o] != u->data[o]) {
            if (shown < 8) NOTE("  mem %08x: qemu %02x ours %02x\n", DATA_BASE + o, q->data[o], u->data[o]);
            else diffs++;
            shown++;
        }
    }
    if (shown > 8 && n < cap) n += (size_t)snprintf(why + n, cap - n, "  ... %d bytes differ in all\n", shown);
#undef NOTE
    return diffs;
}

static void print_case(FILE *f, const struct tcase *t)
{
    fprintf(f, "case %u at %08x (%d instruction%s):\n", t->idx, t->addr, t->nitems, t->nitems == 1 ? "" : "s");
    for (int k = 0; k < t->nitems; k++) {
        fprintf(f, "    %-26s", kind_name[t->kind[k]]);
        for (int b = 0; b < t->ilen[k]; b++) fprintf(f, " %02x", t->code[t->off[k] + b]);
        fprintf(f, "\n");
    }
    fprintf(f, "  in:  eax=%08x ecx=%08x edx=%08x ebx=%08x esp=%08x ebp=%08x esi=%08x edi=%08x flags=%03x\n",
            t->reg[0], t->reg[1], t->reg[2], t->reg[3], t->reg[4], t->reg[5], t->reg[6], t->reg[7], t->flags);
    for (int k = 0; k < t->npatch; k++)
        fprintf(f, "  mem[%08x] = %08x\n", t->patch[k].addr, t->patch[k].val);
}
static void print_result(FILE *f, const char *who, const struct result *r)
{
    fprintf(f, "  %-4s %s eax=%08x ecx=%08x edx=%08x ebx=%08x esp=%08x ebp=%08x esi=%08x edi=%08x fl=%08x ds=%04x es=%04x",
            who, r->fault ? "FAULT" : "ok   ", r->reg[0], r->reg[1], r->reg[2], r->reg[3], r->reg[4], r->reg[5],
            r->reg[6], r->reg[7], r->eflags, r->ds, r->es);
    if (r->fault) fprintf(f, " vec/trap=%d sig=%d eip=%08x", r->vector, r->signo, r->eip);
    fprintf(f, "\n");
}

struct kstat {
    unsigned cases, failed, solo, solo_failed;
    int have_example;
    int example_solo;
    char *example;
};

struct opts {
    uint32_t seed;
    uint32_t count;
    int soak;
    int verbose;
    int show;
    const char *keep;
    const char *qemu;
    int qemu_only;
};

struct run {
    struct opts *opt;
    struct ours ours;
    struct probe pr;
    char tmpdir[256];
    unsigned passed, failed, faults_both, shown;
    unsigned model_bad, model_shown, qemu_faults;
    unsigned faults_by_vector[33];   /* [32]: vector not known */
    struct kstat ks[K_COUNT];
};

static char *format_failure(const struct tcase *t, const struct result *q, const struct result *u, const char *why)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    if (!f) return NULL;
    print_case(f, t);
    print_result(f, "qemu", q);
    print_result(f, "ours", u);
    fputs(why, f);
    fclose(f);
    return s;
}

/* Generate, run and compare one batch. Returns -1 on a harness error. */
static int run_batch(struct run *R, uint32_t batch_seed, uint32_t first_idx, uint32_t n)
{
    struct gen g;
    memset(&g, 0, sizeof(g));
    g.rng.s = batch_seed * 0x100000001B3ull + 0x12345;
    g.sel_ds = R->pr.ds;
    g.sel_es = R->pr.es;
    uint8_t pristine[DATA_SIZE];
    for (uint32_t k = 0; k < DATA_SIZE; k += 4) put32(pristine + k, rnd32(&g.rng));
    /* Some recognisable low values too (BCD-ish bytes for XLAT, small numbers). */
    for (uint32_t k = 0; k < 64; k++) pristine[rnd(&g.rng, DATA_SIZE)] = bcd_al[rnd(&g.rng, sizeof(bcd_al))];
    g.pristine = pristine;
    struct model *m = calloc(1, sizeof(*m));
    struct tcase *cases = calloc(n, sizeof(*cases));
    if (!m || !cases) { perror("calloc"); exit(2); }
    g.m = m;
    for (uint32_t k = 0; k < n; k++) gen_case(&g, &cases[k], first_idx + k, case_addr(k));

    struct buf code = { 0 };
    struct layout L;
    emit_common(&code, R->pr.ds, R->pr.es, &L, 0);
    uint32_t prev_jmp = L.first_pre_jmp;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t slot = cases[k].addr - CASE_OFF;
        pad_to(&code, slot, 0xCC);
        put32(code.p + (prev_jmp - code.base) + 1, slot - (prev_jmp + 5));
        emit_case(&code, &L, &cases[k], k + 1 == n);
        prev_jmp = here(&code) - 5;
    }
    uint8_t *dataseg = malloc(DATASEG_FILESZ);
    build_dataseg(dataseg, pristine, L.handler, L.restorer);
    char elf[512], out[512], err[512];
    snprintf(elf, sizeof(elf), "%s/batch-%u.elf", R->tmpdir, first_idx);
    snprintf(out, sizeof(out), "%s/batch-%u.out", R->tmpdir, first_idx);
    snprintf(err, sizeof(err), "%s/batch-%u.err", R->tmpdir, first_idx);
    int rc = -1;
    if (write_elf(elf, &code, dataseg) == 0) {
        int st = run_qemu(R->opt->qemu, elf, out, err);
        size_t olen = 0;
        uint8_t *o = read_file(out, &olen);
        uint32_t got = 0;
        if (o && olen >= PROBE_SIZE) got = (uint32_t)((olen - PROBE_SIZE) / RECORD_SIZE);
        if (st != 0 || got != n) {
            fprintf(stdout, "FAIL: qemu-i386 on %s: status %d, %u of %u records\n", elf, st, got, n);
            size_t elen = 0;
            uint8_t *e = read_file(err, &elen);
            if (e && elen) fprintf(stdout, "qemu stderr: %.*s\n", (int)(elen > 2000 ? 2000 : elen), (const char *)e);
            free(e);
        }
        for (uint32_t k = 0; k < n; k++) {
            const struct tcase *t = &cases[k];
            char why[4096] = "";
            struct result q, u;
            int bad;
            if (k < got) {
                const uint8_t *rec = o + PROBE_SIZE + (size_t)k * RECORD_SIZE;
                if (get32(rec + H_MAGIC) != REC_MAGIC || get32(rec + H_IDX) != t->idx) {
                    fprintf(stdout, "FAIL: qemu record %u is malformed\n", k);
                    got = k;
                }
            }
            if (k >= got) {
                memset(&q, 0, sizeof(q));
                memset(&u, 0, sizeof(u));
                snprintf(why, sizeof(why), "  no qemu record (qemu died or stopped early)\n");
                bad = 1;
            } else {
                parse_record(o + PROBE_SIZE + (size_t)k * RECORD_SIZE, &q);
                char mwhy[2048] = "";
                if (model_check(t, &q, mwhy, sizeof(mwhy))) {
                    R->model_bad++;
                    if (R->model_shown++ < 5 || R->opt->verbose) {
                        fprintf(stdout, "MODEL (harness) disagreement with qemu, ");
                        print_case(stdout, t);
                        print_result(stdout, "qemu", &q);
                        fputs(mwhy, stdout);
                    }
                }
                if (q.fault) {
                    int v = expected_vector(t, q.eip, q.eflags);
                    R->qemu_faults++;
                    R->faults_by_vector[v >= 0 && v < 32 ? v : 32]++;
                }
                if (R->opt->qemu_only) {
                    u = q;
                    if (R->opt->verbose > 1) { print_case(stdout, t); print_result(stdout, "qemu", &q); }
                } else {
                    ours_run(&R->ours, t, pristine, &u);
                }
                bad = !R->opt->qemu_only && compare(t, &q, &u, why, sizeof(why)) != 0;
                if (q.fault && u.fault && !bad) R->faults_both++;
            }
            int seen[K_COUNT] = { 0 };
            for (int it = 0; it < t->nitems; it++) {
                int kk = t->kind[it];
                if (seen[kk]++) continue;
                struct kstat *ks = &R->ks[kk];
                ks->cases++;
                if (t->nitems == 1) ks->solo++;
                if (bad) {
                    ks->failed++;
                    if (t->nitems == 1) ks->solo_failed++;
                    int solo = t->nitems == 1;
                    if (!ks->have_example || (solo && !ks->example_solo)) {
                        free(ks->example);
                        ks->example = format_failure(t, &q, &u, why);
                        ks->have_example = 1;
                        ks->example_solo = solo;
                    }
                }
            }
            if (bad) {
                R->failed++;
                if (R->opt->verbose || R->shown < (unsigned)R->opt->show) {
                    char *s = format_failure(t, &q, &u, why);
                    fprintf(stdout, "MISMATCH %s", s ? s : "\n");
                    free(s);
                    R->shown++;
                }
            } else {
                R->passed++;
                if (R->opt->verbose > 1 && !R->opt->qemu_only) { print_case(stdout, t); print_result(stdout, "qemu", &q); }
            }
        }
        free(o);
        rc = 0;
    }
    if (!R->opt->keep) { unlink(elf); unlink(out); unlink(err); }
    free(dataseg);
    free(code.p);
    free(cases);
    free(m->journal);
    free(m);
    return rc;
}

static int run_probe(struct run *R)
{
    struct buf code = { 0 };
    struct layout L;
    emit_common(&code, 0, 0, &L, 1);
    uint8_t *dataseg = malloc(DATASEG_FILESZ);
    build_dataseg(dataseg, NULL, L.handler, L.restorer);
    char elf[512], out[512], err[512];
    snprintf(elf, sizeof(elf), "%s/probe.elf", R->tmpdir);
    snprintf(out, sizeof(out), "%s/probe.out", R->tmpdir);
    snprintf(err, sizeof(err), "%s/probe.err", R->tmpdir);
    int rc = -1;
    if (write_elf(elf, &code, dataseg) == 0) {
        int st = run_qemu(R->opt->qemu, elf, out, err);
        size_t len = 0;
        uint8_t *o = read_file(out, &len);
        if (st == 0 && o && len == PROBE_SIZE && get32(o + P_MAGIC) == PROBE_MAGIC) {
            R->pr.cs = (uint16_t)get32(o + P_CS);
            R->pr.ds = (uint16_t)get32(o + P_DS);
            R->pr.es = (uint16_t)get32(o + P_ES);
            R->pr.fs = (uint16_t)get32(o + P_FS);
            R->pr.gs = (uint16_t)get32(o + P_GS);
            R->pr.ss = (uint16_t)get32(o + P_SS);
            R->pr.eflags = get32(o + P_EFLAGS);
            R->pr.esp = get32(o + P_ESP);
            rc = 0;
        } else {
            size_t elen = 0;
            uint8_t *e = read_file(err, &elen);
            fprintf(stdout, "FAIL: the qemu-i386 probe did not run (status %d, %zu bytes)%s%.*s\n", st, len,
                    e && elen ? ": " : "", (int)(elen > 2000 ? 2000 : elen), e ? (const char *)e : "");
            free(e);
        }
        free(o);
    }
    if (!R->opt->keep) { unlink(elf); unlink(out); unlink(err); }
    free(dataseg);
    free(code.p);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: test_diffqemu [--seed N] [--count N] [--soak] [--verbose] [--show N] [--keep DIR] [--qemu PATH] [--qemu-only]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct opts opt = { DEFAULT_SEED, 0, 0, 0, 10, NULL, NULL, 0 };
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (!strcmp(a, "--seed") && k + 1 < argc) opt.seed = (uint32_t)strtoul(argv[++k], NULL, 0);
        else if (!strcmp(a, "--count") && k + 1 < argc) opt.count = (uint32_t)strtoul(argv[++k], NULL, 0);
        else if (!strcmp(a, "--soak")) opt.soak = 1;
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) opt.verbose++;
        else if (!strcmp(a, "--show") && k + 1 < argc) opt.show = atoi(argv[++k]);
        else if (!strcmp(a, "--keep") && k + 1 < argc) opt.keep = argv[++k];
        else if (!strcmp(a, "--qemu") && k + 1 < argc) opt.qemu = argv[++k];
        else if (!strcmp(a, "--qemu-only")) opt.qemu_only = 1;
        else usage();
    }
    if (!opt.count) {
        const char *q = getenv("TESTS_QUICK");
        opt.count = q && *q && strcmp(q, "0") ? QUICK_COUNT : DEFAULT_COUNT;
    }
    char *qemu = NULL;
    if (!opt.qemu) opt.qemu = getenv("QEMU_I386");
    if (opt.qemu) qemu = strdup(opt.qemu);
    else if (!(qemu = find_in_path("qemu-i386"))) qemu = find_in_path("qemu-i386-static");
    if (!qemu || access(qemu, X_OK) != 0) {
        printf("SKIP: qemu-i386 not found (Debian package qemu-user)\n");
        return 77;
    }
    opt.qemu = qemu;

    struct run R;
    memset(&R, 0, sizeof(R));
    R.opt = &opt;
    if (opt.keep) {
        mkdir(opt.keep, 0755);
        snprintf(R.tmpdir, sizeof(R.tmpdir), "%s", opt.keep);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(R.tmpdir, sizeof(R.tmpdir), "%s/diffqemu.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(R.tmpdir)) { perror("mkdtemp"); return 2; }
    }
    printf("diffqemu: seed %u, %u cases%s, oracle %s\n", opt.seed, opt.count, opt.soak ? " per round (soak)" : "", qemu);
    if (run_probe(&R) != 0) {
        printf("RESULT: 0 passed, 1 failed\n");
        return 1;
    }
    printf("qemu process: cs=%04x ds=%04x es=%04x fs=%04x gs=%04x ss=%04x eflags=%08x esp=%08x\n",
           R.pr.cs, R.pr.ds, R.pr.es, R.pr.fs, R.pr.gs, R.pr.ss, R.pr.eflags, R.pr.esp);
    if (R.pr.ds == 0 || (R.pr.ds & 3) != 3) {
        printf("FAIL: unexpected DS selector %04x in the qemu process\n", R.pr.ds);
        printf("RESULT: 0 passed, 1 failed\n");
        return 1;
    }
    if (!opt.qemu_only && ours_init(&R.ours, &R.pr) != 0) {
        printf("FAIL: could not set up our CPU\n");
        printf("RESULT: 0 passed, 1 failed\n");
        return 1;
    }

    int harness_error = 0;
    uint32_t round = 0;
    do {
        uint32_t seed = opt.seed + round;
        uint32_t failed_before = R.failed;
        for (uint32_t done = 0; done < opt.count; done += BATCH_CASES) {
            uint32_t n = opt.count - done < BATCH_CASES ? opt.count - done : BATCH_CASES;
            if (run_batch(&R, seed * 1000003u + done / BATCH_CASES, round * opt.count + done, n) != 0) {
                harness_error = 1;
                break;
            }
        }
        if (opt.soak) {
            printf("soak round %u (seed %u): %u passed, %u failed so far\n", round, seed, R.passed, R.failed);
            fflush(stdout);
            if (R.failed != failed_before) break;
        }
        round++;
    } while (opt.soak && !harness_error);

    printf("\nper instruction (cases containing it; single-instruction cases in brackets):\n");
    printf("  %-28s %8s %8s %10s %10s\n", "instruction", "cases", "failed", "[single]", "[failed]");
    for (int k = 0; k < K_COUNT; k++) {
        struct kstat *ks = &R.ks[k];
        printf("  %-28s %8u %8u %10u %10u\n", kind_name[k], ks->cases, ks->failed, ks->solo, ks->solo_failed);
    }
    int any_example = 0;
    for (int k = 0; k < K_COUNT; k++) {
        struct kstat *ks = &R.ks[k];
        if (!ks->example) continue;
        if (!any_example) printf("\none failing example per instruction (a single-instruction case where there is one):\n");
        any_example = 1;
        printf("[%s] %s", kind_name[k], ks->example);
        free(ks->example);
    }
    printf("\ncases where qemu faulted: %u (#DE %u, #OF %u, #BR %u, other %u); faulted on both sides and matched: %u\n",
           R.qemu_faults, R.faults_by_vector[EXC_DE], R.faults_by_vector[EXC_OF], R.faults_by_vector[EXC_BR],
           R.qemu_faults - R.faults_by_vector[EXC_DE] - R.faults_by_vector[EXC_OF] - R.faults_by_vector[EXC_BR],
           R.faults_both);
    printf("harness model disagreements with qemu (not counted as failures): %u\n", R.model_bad);
    if (!opt.keep) rmdir(R.tmpdir);
    if (R.ours.cpu) cpu_free(R.ours.cpu);
    if (R.ours.io) ioports_free(R.ours.io);
    if (R.ours.mem) memory_free(R.ours.mem);
    if (harness_error) R.failed++;
    printf("RESULT: %u passed, %u failed\n", R.passed, R.failed);
    free(qemu);
    return R.failed ? 1 : 0;
}
