/* Unit tests of the stack, branch, string and I/O instructions (cpu/ops_flow.c,
 * cpu/ops_string.c) through the public API: a machine with RAM and a test
 * device on ports 0x100-0x103, code copied into RAM and run, state checked.
 *
 * What the 286 vectors cannot show is the focus: repeated string instructions
 * against an element-by-element model (the fast runs through the TLB, overlap,
 * 16-bit wrap, both directions, page crossings), restart after a page fault in
 * the middle, restart around interrupts, self-modifying code written by REP
 * STOS, INS not reading the port when the destination faults, ENTER nesting,
 * POP to an ESP-based address, branch targets beyond the CS limit, and the
 * privilege rules of CLI/POPF/HLT at CPL 3.
 *
 * Exceptions are taken in the exception hook, which records them and leaves
 * cpu_run with longjmp (no IDT needed); the state then is the state at the fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/ioport.h"
#include "cpu/memory.h"

#define RAM_SIZE   (8u << 20)
#define CODE16     0x8000u      /* real-mode code (CS = 0) */
#define STACK16    0x7000u
#define IRQ_HANDLER16 0x7800u
#define CODE32     0x00400000u  /* protected-mode code */
#define STACK32    0x00380000u
#define PAGE_DIR   0x00010000u
#define PAGE_TABLES 0x00011000u /* two tables: 0-8 MiB identity */
#define TEST_PORT  0x100u
#define IRQ_VECTOR 0x40

static struct memory *mem;
static struct ioports *io;
static struct cpu *cpu;
static int passed, failed;

static jmp_buf exc_jmp;
static int exc_vec;
static uint32_t exc_err;
static int hw_irqs;              /* external interrupts taken (hook with vector >= 32) */

static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: ");
        vprintf(fmt, ap);
        printf("\n");
    }
    va_end(ap);
}

/* Processor exceptions stop the run; software and external interrupts are
 * delivered normally (counted). */
static void on_exception(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    if (vector >= 32) {
        hw_irqs += !is_soft;
        return;
    }
    if (is_soft) return;
    exc_vec = vector;
    exc_err = error;
    longjmp(exc_jmp, 1);
}

/* ---------------------------------------------------------------------------
 * The test device: reads return a running sequence, writes are logged. */

struct test_dev {
    uint32_t next;          /* value of the next read (per byte) */
    unsigned reads;         /* read accesses */
    unsigned writes;
    uint32_t log[64];
    int log_size[64];
};
static struct test_dev dev;

static uint32_t dev_read(void *opaque, uint16_t port, int size)
{
    struct test_dev *d = opaque;
    uint32_t v = 0;
    for (int k = 0; k < size; k++) v |= (uint32_t)((d->next++) & 0xFF) << (8 * k);
    d->reads++;
    return v;
}

static void dev_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct test_dev *d = opaque;
    if (d->writes < 64) {
        d->log[d->writes] = val;
        d->log_size[d->writes] = size;
    }
    d->writes++;
}

static void dev_reset(uint32_t first)
{
    memset(&dev, 0, sizeof(dev));
    dev.next = first;
}

/* External interrupt source for the REP-with-interrupts case. */
static int irq_ack(void *opaque)
{
    cpu_set_intr(cpu, 0);
    return IRQ_VECTOR;
}

/* ---------------------------------------------------------------------------
 * Memory helpers. */

static uint8_t *ram(void) { return memory_ram(mem); }
static void put(uint32_t addr, const void *p, uint32_t len) { memory_write(mem, addr, p, len); }
static void put32(uint32_t addr, uint32_t v) { memory_write32(mem, addr, v); }
static uint32_t get32(uint32_t addr) { return memory_read32(mem, addr); }
static uint16_t get16(uint32_t addr) { return (uint16_t)memory_read_sized(mem, addr, 2); }
static void put16(uint32_t addr, uint16_t v) { memory_write_sized(mem, addr, v, 2); }

/* A small deterministic generator. */
static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void fill_random(uint32_t addr, uint32_t len)
{
    uint8_t *buf = malloc(len);
    for (uint32_t k = 0; k < len; k++) buf[k] = (uint8_t)rnd();
    put(addr, buf, len);
    free(buf);
}

/* ---------------------------------------------------------------------------
 * Machine modes. */

static void set_seg(int seg, uint16_t sel, uint32_t base, uint32_t limit, uint16_t flags)
{
    struct cpu_segment_state s = { sel, base, limit, flags };
    cpu_set_seg(cpu, seg, &s);
}

static void enter_real(void)
{
    cpu_reset(cpu);
    for (int s = 0; s < 6; s++) cpu_set_seg_real(cpu, s, 0);
    cpu_set_reg(cpu, R_ESP, STACK16);
    cpu_set_eflags(cpu, 0x2);
}

/* Identity paging of 0-8 MiB with P, W and U; `absent` (if not 0) is left out. */
static void build_paging(uint32_t absent)
{
    put32(PAGE_DIR, (PAGE_TABLES) | 7);
    put32(PAGE_DIR + 4, (PAGE_TABLES + 0x1000) | 7);
    for (uint32_t p = 0; p < 2048; p++) {
        uint32_t addr = p << 12;
        put32(PAGE_TABLES + p * 4, addr == absent && absent ? 0 : (addr | 7));
    }
}

static void set_present(uint32_t page, int present)
{
    put32(PAGE_TABLES + (page >> 12) * 4, present ? (page | 7) : 0);
}

/* Flat 32-bit protected mode at `cpl`, with or without paging. */
static void enter_flat32(int cpl, int paging)
{
    cpu_reset(cpu);
    if (paging) cpu_set_cr(cpu, 3, PAGE_DIR);
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET | (paging ? CR0_PG : 0));
    uint16_t dpl = (uint16_t)(cpl << 5);
    set_seg(S_CS, (uint16_t)(cpl ? 0x1B : 0x08), 0, 0xFFFFFFFFu, (uint16_t)(0xC09B | dpl));
    for (int s = 0; s < 6; s++) {
        if (s == S_CS) continue;
        set_seg(s, (uint16_t)(cpl ? 0x23 : 0x10), 0, 0xFFFFFFFFu, (uint16_t)(0xC093 | dpl));
    }
    cpu_set_reg(cpu, R_ESP, STACK32);
    cpu_set_eflags(cpu, 0x2);
}

/* Run code at `addr` (UD2 appended) until the first processor exception.
 * Returns its vector (6 at the appended UD2 means "ran to the end"), -1 if the
 * budget ran out. */
static int run_code_at(uint32_t addr, const uint8_t *code, uint32_t len)
{
    static const uint8_t ud2[2] = { 0x0F, 0x0B };
    put(addr, code, len);
    put(addr + len, ud2, 2);
    cpu_set_eip(cpu, addr);
    exc_vec = -1;
    if (setjmp(exc_jmp) == 0) {
        for (int k = 0; k < 1000 && exc_vec < 0; k++) cpu_run(cpu, 100000);
    }
    return exc_vec;
}

static uint32_t code_base(void)
{
    struct cpu_segment_state cs;
    cpu_get_seg(cpu, S_CS, &cs);
    return cs.base;
}

/* Runs to the end: #UD with EIP at the appended UD2. */
static int run_ok(const char *what, uint32_t addr, const uint8_t *code, uint32_t len)
{
    int v = run_code_at(addr, code, len);
    int ok = v == 6 && code_base() + cpu_get_eip(cpu) == addr + len;
    check(ok, "%s: ran to the end (vector %d, eip %08x)", what, v, cpu_get_eip(cpu));
    return ok;
}

#define CODE(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

/* ---------------------------------------------------------------------------
 * An element-by-element model of MOVS and STOS over a flat byte array. */

struct str_model {
    uint32_t src_base, dst_base;
    uint32_t si, di, cx;
    uint32_t amask;       /* 0xFFFF or 0xFFFFFFFF */
    int size, back;
    uint32_t acc;
};

static void model_movs(uint8_t *m, struct str_model *s)
{
    uint32_t d = s->back ? (uint32_t)-s->size : (uint32_t)s->size;
    while (s->cx) {
        uint8_t tmp[4];
        memcpy(tmp, m + s->src_base + s->si, (size_t)s->size);
        memcpy(m + s->dst_base + s->di, tmp, (size_t)s->size);
        s->si = (s->si + d) & s->amask;
        s->di = (s->di + d) & s->amask;
        s->cx--;
    }
}

static void model_stos(uint8_t *m, struct str_model *s)
{
    uint32_t d = s->back ? (uint32_t)-s->size : (uint32_t)s->size;
    while (s->cx) {
        memcpy(m + s->dst_base + s->di, &s->acc, (size_t)s->size);
        s->di = (s->di + d) & s->amask;
        s->cx--;
    }
}

/* REP MOVS / REP STOS in real mode (16-bit addressing, wrap at 64 KiB) against the
 * model: random offsets (aligned so no element straddles 0xFFFF), counts beyond
 * one call's budget, both directions, overlapping or separate segments. */
static void test_rep_real_random(void)
{
    int bad = 0;
    uint8_t *shadow = malloc(RAM_SIZE);
    for (int n = 0; n < 300 && bad < 5; n++) {
        enter_real();
        int size = 1 << (rnd() % 3);
        int stos = rnd() % 4 == 0;
        uint16_t ds = 0x1000, es = (rnd() & 1) ? 0x1000 : 0x2000;
        if (rnd() % 4 == 0) es = 0x1800;   /* half-overlapping segments */
        struct str_model s = {
            .src_base = (uint32_t)ds << 4, .dst_base = (uint32_t)es << 4,
            .si = rnd() & 0xFFFF & ~(uint32_t)(size - 1), .di = rnd() & 0xFFFF & ~(uint32_t)(size - 1),
            .cx = rnd() % 6000, .amask = 0xFFFF, .size = size, .back = rnd() & 1, .acc = rnd(),
        };
        if (rnd() % 3 == 0) {   /* close overlap: destination a few elements from the source */
            es = ds;
            s.dst_base = s.src_base;
            s.di = (s.si + (uint32_t)((int)(rnd() % 9) - 4) * (uint32_t)size) & 0xFFFF;
        }
        fill_random(0x10000, 0x30000);
        cpu_set_seg_real(cpu, S_DS, ds);
        cpu_set_seg_real(cpu, S_ES, es);
        cpu_set_reg(cpu, R_ESI, 0xABCD0000u | s.si);
        cpu_set_reg(cpu, R_EDI, 0x12340000u | s.di);
        cpu_set_reg(cpu, R_ECX, 0x55AA0000u | s.cx);
        cpu_set_reg(cpu, R_EAX, s.acc);
        cpu_set_eflags(cpu, 0x2 | (s.back ? F_DF : 0));
        memcpy(shadow, ram(), RAM_SIZE);
        uint32_t si0 = s.si, di0 = s.di, cx0 = s.cx;
        if (stos) model_stos(shadow, &s);
        else model_movs(shadow, &s);

        uint8_t code[4];
        uint32_t len = 0;
        code[len++] = 0xF3;
        if (size == 4) code[len++] = 0x66;
        code[len++] = stos ? (size == 1 ? 0xAA : 0xAB) : (size == 1 ? 0xA4 : 0xA5);
        char what[96];
        snprintf(what, sizeof what, "real rep %s%d si %04x di %04x cx %u %s es %04x", stos ? "stos" : "movs",
                 size * 8, si0, di0, cx0, s.back ? "down" : "up", es);
        if (!run_ok(what, CODE16, code, len)) { bad++; continue; }
        uint32_t esi = cpu_get_reg(cpu, R_ESI), edi = cpu_get_reg(cpu, R_EDI), ecx = cpu_get_reg(cpu, R_ECX);
        int regs_ok = ecx == 0x55AA0000u && edi == (0x12340000u | s.di) &&
                      esi == (0xABCD0000u | s.si);
        int mem_ok = memcmp(shadow + 0x10000, ram() + 0x10000, 0x30000) == 0;
        check(regs_ok && mem_ok, "%s: esi %08x edi %08x ecx %08x (want si %04x di %04x), memory %s", what,
              esi, edi, ecx, s.si, s.di, mem_ok ? "ok" : "differs");
        if (!(regs_ok && mem_ok)) bad++;
    }
    free(shadow);
}

/* The same in flat 32-bit mode with paging: unaligned elements, page crossings. */
static void test_rep_flat_random(void)
{
    int bad = 0;
    uint8_t *shadow = malloc(RAM_SIZE);
    build_paging(0);
    for (int n = 0; n < 200 && bad < 5; n++) {
        enter_flat32(0, 1);
        int size = 1 << (rnd() % 3);
        int stos = rnd() % 4 == 0;
        struct str_model s = {
            .src_base = 0, .dst_base = 0,
            .si = 0x100000 + 0x8000 + rnd() % 0x20000, .di = 0x100000 + 0x8000 + rnd() % 0x20000,
            .cx = rnd() % 7000, .amask = 0xFFFFFFFFu, .size = size, .back = rnd() & 1, .acc = rnd(),
        };
        if (rnd() % 3 == 0) s.di = s.si + (uint32_t)((int)(rnd() % 17) - 8);
        fill_random(0x100000, 0x40000);
        cpu_set_reg(cpu, R_ESI, s.si);
        cpu_set_reg(cpu, R_EDI, s.di);
        cpu_set_reg(cpu, R_ECX, s.cx);
        cpu_set_reg(cpu, R_EAX, s.acc);
        cpu_set_eflags(cpu, 0x2 | (s.back ? F_DF : 0));
        memcpy(shadow, ram(), RAM_SIZE);
        uint32_t si0 = s.si, cx0 = s.cx;
        if (stos) model_stos(shadow, &s);
        else model_movs(shadow, &s);

        uint8_t code[4];
        uint32_t len = 0;
        code[len++] = 0xF3;
        if (size == 2) code[len++] = 0x66;
        code[len++] = stos ? (size == 1 ? 0xAA : 0xAB) : (size == 1 ? 0xA4 : 0xA5);
        char what[96];
        snprintf(what, sizeof what, "flat rep %s%d esi %08x edi %08x ecx %u %s", stos ? "stos" : "movs",
                 size * 8, si0, s.di, cx0, s.back ? "down" : "up");
        if (!run_ok(what, CODE32, code, len)) { bad++; continue; }
        uint32_t esi = cpu_get_reg(cpu, R_ESI), edi = cpu_get_reg(cpu, R_EDI), ecx = cpu_get_reg(cpu, R_ECX);
        int regs_ok = ecx == 0 && edi == s.di && esi == (stos ? si0 : s.si);
        int mem_ok = memcmp(shadow + 0x100000, ram() + 0x100000, 0x40000) == 0;
        check(regs_ok && mem_ok, "%s: esi %08x edi %08x ecx %08x, memory %s", what, esi, edi, ecx,
              mem_ok ? "ok" : "differs");
        if (!(regs_ok && mem_ok)) bad++;
    }
    free(shadow);
}

/* ---------------------------------------------------------------------------
 * Restart after a page fault in the middle of a repeated instruction. */

static void test_rep_page_fault(void)
{
    const uint32_t hole = 0x00202000u;

    /* REP MOVSD upwards into a missing page. */
    build_paging(hole);
    enter_flat32(0, 1);
    fill_random(0x180000, 0x4000);
    memset(ram() + hole - 0x1000, 0, 0x3000);
    uint8_t expect[0x2000];
    memcpy(expect, ram() + 0x180000, sizeof expect);
    cpu_set_reg(cpu, R_ESI, 0x180000);
    cpu_set_reg(cpu, R_EDI, hole - 0x100);
    cpu_set_reg(cpu, R_ECX, 0x2000 / 4);
    int v = run_code_at(CODE32, CODE(0xF3, 0xA5));   /* rep movsd */
    uint32_t done = 0x100 / 4;
    check(v == 14 && cpu_get_eip(cpu) == CODE32 && cpu_get_cr(cpu, 2) == hole && (exc_err & 2),
          "rep movsd into a missing page: vector %d err %x eip %08x cr2 %08x", v, exc_err,
          cpu_get_eip(cpu), cpu_get_cr(cpu, 2));
    check(cpu_get_reg(cpu, R_ECX) == 0x2000 / 4 - done && cpu_get_reg(cpu, R_ESI) == 0x180000 + done * 4 &&
          cpu_get_reg(cpu, R_EDI) == hole, "rep movsd at the fault: ecx %x esi %x edi %x",
          cpu_get_reg(cpu, R_ECX), cpu_get_reg(cpu, R_ESI), cpu_get_reg(cpu, R_EDI));
    check(memcmp(ram() + hole - 0x100, expect, 0x100) == 0, "rep movsd: the elements before the fault are stored");
    set_present(hole, 1);
    v = run_code_at(CODE32, CODE(0xF3, 0xA5));   /* resumes where it stopped */
    check(v == 6 && cpu_get_reg(cpu, R_ECX) == 0 && memcmp(ram() + hole - 0x100, expect, 0x2000) == 0,
          "rep movsd restarted after the fault: vector %d ecx %x", v, cpu_get_reg(cpu, R_ECX));

    /* REP STOSB downwards (DF = 1) into a missing page below. */
    build_paging(hole);
    enter_flat32(0, 1);
    memset(ram() + hole - 0x1000, 0x11, 0x3000);
    cpu_set_reg(cpu, R_EDI, hole + 0x1000 + 0x40);
    cpu_set_reg(cpu, R_ECX, 0x100);
    cpu_set_reg(cpu, R_EAX, 0x5A);
    cpu_set_eflags(cpu, 0x2 | F_DF);
    v = run_code_at(CODE32, CODE(0xF3, 0xAA));
    check(v == 14 && cpu_get_cr(cpu, 2) == hole + 0xFFF && cpu_get_reg(cpu, R_EDI) == hole + 0xFFF &&
          cpu_get_reg(cpu, R_ECX) == 0x100 - 0x41, "std; rep stosb into a missing page: vector %d cr2 %08x edi %08x ecx %x",
          v, cpu_get_cr(cpu, 2), cpu_get_reg(cpu, R_EDI), cpu_get_reg(cpu, R_ECX));
    set_present(hole, 1);
    v = run_code_at(CODE32, CODE(0xF3, 0xAA));
    int filled = 1;
    for (uint32_t a = hole + 0x1040 - 0xFF; a <= hole + 0x1040; a++) filled &= ram()[a] == 0x5A;
    check(v == 6 && filled && ram()[hole + 0x1040 - 0x100] == 0x11 && ram()[hole + 0x1041] == 0x11 &&
          cpu_get_reg(cpu, R_EDI) == hole + 0x1040 - 0x100, "std; rep stosb restarted: vector %d edi %08x",
          v, cpu_get_reg(cpu, R_EDI));

    /* REP INSB into a missing page: no port read is lost or made twice. */
    build_paging(hole);
    enter_flat32(0, 1);
    dev_reset(1);
    cpu_set_reg(cpu, R_EDI, hole - 8);
    cpu_set_reg(cpu, R_ECX, 16);
    cpu_set_reg(cpu, R_EDX, TEST_PORT);
    v = run_code_at(CODE32, CODE(0xF3, 0x6C));   /* rep insb */
    check(v == 14 && dev.reads == 8 && cpu_get_reg(cpu, R_ECX) == 8 && cpu_get_reg(cpu, R_EDI) == hole,
          "rep insb into a missing page: vector %d, %u port reads (want 8), ecx %u", v, dev.reads,
          cpu_get_reg(cpu, R_ECX));
    set_present(hole, 1);
    v = run_code_at(CODE32, CODE(0xF3, 0x6C));
    int seq = 1;
    for (uint32_t k = 0; k < 16; k++) seq &= ram()[hole - 8 + k] == k + 1;
    check(v == 6 && dev.reads == 16 && seq, "rep insb restarted: %u reads, data %s", dev.reads, seq ? "in order" : "wrong");

    /* INSW with the word straddling into the missing page: faults before the read. */
    build_paging(hole);
    enter_flat32(0, 1);
    dev_reset(1);
    cpu_set_reg(cpu, R_EDI, hole - 1);
    cpu_set_reg(cpu, R_EDX, TEST_PORT);
    v = run_code_at(CODE32, CODE(0x66, 0x6D));   /* insw */
    check(v == 14 && dev.reads == 0 && cpu_get_reg(cpu, R_EDI) == hole - 1,
          "insw straddling a missing page: vector %d, %u port reads", v, dev.reads);
    build_paging(0);
}

/* ---------------------------------------------------------------------------
 * REP around interrupts: the instruction stops after its budget with EIP on
 * itself, an interrupt is taken there, and the instruction then finishes. */

static void test_rep_interrupt(void)
{
    enter_real();
    struct cpu_callbacks cb = { .opaque = NULL, .intr_ack = irq_ack, .ferr = NULL };
    cpu_set_callbacks(cpu, &cb);
    /* IVT[0x40] -> 0000:IRQ_HANDLER16: mov [0x600],cx; inc byte [0x602]; iret */
    put16(IRQ_VECTOR * 4, IRQ_HANDLER16);
    put16(IRQ_VECTOR * 4 + 2, 0);
    put(IRQ_HANDLER16, CODE(0x89, 0x0E, 0x00, 0x06, 0xFE, 0x06, 0x02, 0x06, 0xCF));
    put16(0x600, 0);
    ram()[0x602] = 0;
    cpu_set_seg_real(cpu, S_ES, 0x2000);
    cpu_set_reg(cpu, R_EDI, 0);
    cpu_set_reg(cpu, R_ECX, 0xF000);
    cpu_set_reg(cpu, R_EAX, 0x77);
    cpu_set_eflags(cpu, 0x2 | F_IF);
    memset(ram() + 0x20000, 0, 0x10000);
    static const uint8_t code[] = { 0xF3, 0xAA, 0x0F, 0x0B };   /* rep stosb; ud2 */
    put(CODE16, code, sizeof code);
    cpu_set_eip(cpu, CODE16);
    hw_irqs = 0;
    exc_vec = -1;
    if (setjmp(exc_jmp) == 0) cpu_run(cpu, 1);   /* one call of the instruction */
    uint32_t cx1 = cpu_get_reg(cpu, R_ECX);
    check(exc_vec == -1 && cpu_get_eip(cpu) == CODE16 && cx1 > 0 && cx1 < 0xF000,
          "rep stosb stops part way with eip on itself: eip %04x cx %x", cpu_get_eip(cpu), cx1);
    cpu_set_intr(cpu, 1);
    if (setjmp(exc_jmp) == 0) {
        for (int k = 0; k < 100 && exc_vec < 0; k++) cpu_run(cpu, 100000);
    }
    int filled = 1;
    for (uint32_t a = 0x20000; a < 0x2F000; a++) filled &= ram()[a] == 0x77;
    check(exc_vec == 6 && cpu_get_eip(cpu) == CODE16 + 2 && cpu_get_reg(cpu, R_ECX) == 0 && filled &&
          ram()[0x2F000] == 0, "rep stosb finishes after the interrupt: vector %d eip %04x cx %x",
          exc_vec, cpu_get_eip(cpu), cpu_get_reg(cpu, R_ECX));
    check(hw_irqs == 1 && ram()[0x602] == 1 && get16(0x600) == cx1,
          "the interrupt came between iterations: %d taken, cx seen by the handler %x (want %x)",
          hw_irqs, get16(0x600), cx1);
    struct cpu_callbacks none = { 0 };
    cpu_set_callbacks(cpu, &none);
}

/* REP STOSB overwriting the instructions that follow it in the same block. */
static void test_rep_smc(void)
{
    enter_real();
    /* rep stosb (ES:DI = the ud2 right after it, CX = 2, AL = 90h: NOP NOP); then
     * inc bx; ud2. Without self-modifying-code handling the first ud2 would run. */
    cpu_set_reg(cpu, R_EDI, CODE16 + 2);
    cpu_set_reg(cpu, R_ECX, 2);
    cpu_set_reg(cpu, R_EAX, 0x90);
    cpu_set_reg(cpu, R_EBX, 0);
    int ok = run_ok("rep stosb over the next instructions", CODE16, CODE(0xF3, 0xAA, 0x0F, 0x0B, 0x43));
    check(ok && cpu_get_reg(cpu, R_EBX) == 1, "the overwritten code ran: bx %x", cpu_get_reg(cpu, R_EBX));
}

/* CMPS / SCAS termination. */
static void test_cmps_scas(void)
{
    enter_real();
    cpu_set_seg_real(cpu, S_DS, 0x1000);
    cpu_set_seg_real(cpu, S_ES, 0x2000);
    memcpy(ram() + 0x10100, "hello, world", 12);
    memcpy(ram() + 0x20100, "hello, there", 12);
    cpu_set_reg(cpu, R_ESI, 0x100);
    cpu_set_reg(cpu, R_EDI, 0x100);
    cpu_set_reg(cpu, R_ECX, 12);
    run_ok("repe cmpsb", CODE16, CODE(0xF3, 0xA6));
    /* Stops after the first differing byte (index 7: 'w' vs 't'). */
    check(cpu_get_reg(cpu, R_ECX) == 4 && cpu_get_reg(cpu, R_ESI) == 0x108 && cpu_get_reg(cpu, R_EDI) == 0x108 &&
          !(cpu_get_eflags(cpu) & F_ZF) && !(cpu_get_eflags(cpu) & F_CF),
          "repe cmpsb: cx %u si %x di %x flags %x", cpu_get_reg(cpu, R_ECX), cpu_get_reg(cpu, R_ESI),
          cpu_get_reg(cpu, R_EDI), cpu_get_eflags(cpu));

    memcpy(ram() + 0x20200, "abcdef\0xyz", 10);
    cpu_set_reg(cpu, R_EDI, 0x200);
    cpu_set_reg(cpu, R_ECX, 0xFFFF);
    cpu_set_reg(cpu, R_EAX, 0);
    run_ok("repne scasb", CODE16, CODE(0xF2, 0xAE));
    check(cpu_get_reg(cpu, R_ECX) == 0xFFFF - 7 && cpu_get_reg(cpu, R_EDI) == 0x207 && (cpu_get_eflags(cpu) & F_ZF),
          "repne scasb (strlen): cx %x di %x", cpu_get_reg(cpu, R_ECX), cpu_get_reg(cpu, R_EDI));

    /* CX = 0: nothing happens, flags untouched. */
    cpu_set_reg(cpu, R_ECX, 0);
    cpu_set_reg(cpu, R_EDI, 0x200);
    cpu_set_eflags(cpu, 0x2 | F_CF);
    run_ok("repne scasb, cx 0", CODE16, CODE(0xF2, 0xAE));
    check(cpu_get_reg(cpu, R_EDI) == 0x200 && cpu_get_eflags(cpu) == (0x2 | F_CF), "rep with cx 0: di %x flags %x",
          cpu_get_reg(cpu, R_EDI), cpu_get_eflags(cpu));

    /* LODSW with 32-bit addressing (67 prefix) in real mode leaves nothing behind in the upper halves. */
    cpu_set_seg_real(cpu, S_DS, 0);
    put16(0x9000, 0xBEEF);
    cpu_set_reg(cpu, R_ESI, 0x9000);
    run_ok("a32 lodsw", CODE16, CODE(0x67, 0xAD));
    check((cpu_get_reg(cpu, R_EAX) & 0xFFFF) == 0xBEEF && cpu_get_reg(cpu, R_ESI) == 0x9002,
          "a32 lodsw: ax %x esi %x", cpu_get_reg(cpu, R_EAX), cpu_get_reg(cpu, R_ESI));
}

/* ---------------------------------------------------------------------------
 * Port I/O. */

static void test_io(void)
{
    enter_real();
    dev_reset(0x10);
    cpu_set_reg(cpu, R_EDX, TEST_PORT);
    cpu_set_reg(cpu, R_EAX, 0x11223344);
    run_ok("out dx,al; out dx,ax; out dx,eax", CODE16, CODE(0xEE, 0xEF, 0x66, 0xEF));
    check(dev.writes == 3 && dev.log[0] == 0x44 && dev.log_size[0] == 1 && dev.log[1] == 0x3344 &&
          dev.log_size[1] == 2 && dev.log[2] == 0x11223344 && dev.log_size[2] == 4,
          "out: %u writes %x/%d %x/%d %x/%d", dev.writes, dev.log[0], dev.log_size[0], dev.log[1],
          dev.log_size[1], dev.log[2], dev.log_size[2]);
    cpu_set_reg(cpu, R_EAX, 0xFFFFFFFF);
    run_ok("in al,dx", CODE16, CODE(0xEC));
    check(cpu_get_reg(cpu, R_EAX) == 0xFFFFFF10, "in al,dx: eax %08x", cpu_get_reg(cpu, R_EAX));
    run_ok("in ax,dx", CODE16, CODE(0xED));
    check(cpu_get_reg(cpu, R_EAX) == 0xFFFF1211, "in ax,dx: eax %08x", cpu_get_reg(cpu, R_EAX));
    run_ok("in eax,dx", CODE16, CODE(0x66, 0xED));
    check(cpu_get_reg(cpu, R_EAX) == 0x16151413, "in eax,dx: eax %08x", cpu_get_reg(cpu, R_EAX));

    /* Immediate port forms reach ports below 0x100 only: the device is not there. */
    cpu_set_reg(cpu, R_EAX, 0x5A);
    run_ok("out 0x80,al (unclaimed)", CODE16, CODE(0xE6, 0x80));

    /* REP OUTSB and REP INSW. */
    dev_reset(0x40);
    cpu_set_seg_real(cpu, S_DS, 0x1000);
    cpu_set_seg_real(cpu, S_ES, 0x2000);
    memcpy(ram() + 0x10300, "\x01\x02\x03\x04\x05", 5);
    cpu_set_reg(cpu, R_ESI, 0x300);
    cpu_set_reg(cpu, R_ECX, 5);
    run_ok("rep outsb", CODE16, CODE(0xF3, 0x6E));
    int ok = dev.writes == 5;
    for (unsigned k = 0; k < 5 && ok; k++) ok = dev.log[k] == k + 1 && dev.log_size[k] == 1;
    check(ok && cpu_get_reg(cpu, R_ESI) == 0x305 && cpu_get_reg(cpu, R_ECX) == 0, "rep outsb: %u writes", dev.writes);
    cpu_set_reg(cpu, R_EDI, 0x400);
    cpu_set_reg(cpu, R_ECX, 3);
    run_ok("rep insw", CODE16, CODE(0xF3, 0x6D));
    check(dev.reads == 3 && get16(0x20400) == 0x4140 && get16(0x20404) == 0x4544 && cpu_get_reg(cpu, R_EDI) == 0x406,
          "rep insw: %u reads, %04x %04x", dev.reads, get16(0x20400), get16(0x20404));

    /* INSW at ES:FFFF faults (#GP in real mode) before the port is read. */
    dev_reset(0);
    cpu_set_reg(cpu, R_EDI, 0xFFFF);
    int v = run_code_at(CODE16, CODE(0x6D));
    check(v == 13 && dev.reads == 0 && cpu_get_reg(cpu, R_EDI) == 0xFFFF && cpu_get_eip(cpu) == CODE16,
          "insw at ES:FFFF: vector %d, %u port reads", v, dev.reads);
}

/* ---------------------------------------------------------------------------
 * ENTER with nesting levels, against the SDM algorithm. */

struct enter_model {
    uint32_t esp, ebp;
    int op, stack32;
};

static uint32_t rd_model(const uint8_t *m, uint32_t addr, int size)
{
    uint32_t v = 0;
    memcpy(&v, m + addr, (size_t)size);
    return v;
}

static void model_enter(uint8_t *m, uint32_t ss_base, struct enter_model *e, uint16_t alloc, uint8_t level_in)
{
    uint32_t mask = e->stack32 ? 0xFFFFFFFFu : 0xFFFFu;
    int op = e->op;
    unsigned level = level_in & 31;
    uint32_t sp = (e->esp - (uint32_t)op) & mask;
    memcpy(m + ss_base + sp, &e->ebp, (size_t)op);
    uint32_t frame = op == 4 ? (e->esp & ~mask) | sp : (sp & 0xFFFF);
    if (level > 0) {
        uint32_t bp = e->ebp;
        for (unsigned k = 1; k < level; k++) {
            bp = (bp - (uint32_t)op) & mask;
            uint32_t v = rd_model(m, ss_base + bp, op);
            sp = (sp - (uint32_t)op) & mask;
            memcpy(m + ss_base + sp, &v, (size_t)op);
        }
        sp = (sp - (uint32_t)op) & mask;
        memcpy(m + ss_base + sp, &frame, (size_t)op);
    }
    sp = (sp - alloc) & mask;
    e->esp = (e->esp & ~mask) | sp;
    if (op == 4) e->ebp = frame;
    else e->ebp = (e->ebp & 0xFFFF0000u) | frame;
}

static void enter_case(int pmode, int op, uint16_t alloc, uint8_t level)
{
    uint8_t *shadow = malloc(RAM_SIZE);
    uint32_t ss_base, esp, ebp;
    if (pmode) {
        enter_flat32(0, 0);
        ss_base = 0;
        esp = 0x300000;
        ebp = 0x300400;
    } else {
        enter_real();
        cpu_set_seg_real(cpu, S_SS, 0x3000);
        ss_base = 0x30000;
        esp = 0xABCD0000u | 0x2000;
        ebp = 0x55550000u | 0x2400;
    }
    fill_random(ss_base + (esp & 0xFFFF) - 0x1000 + (pmode ? esp & 0xFFFF0000u : 0), 0x2000);
    cpu_set_reg(cpu, R_ESP, esp);
    cpu_set_reg(cpu, R_EBP, ebp);
    memcpy(shadow, ram(), RAM_SIZE);
    struct enter_model e = { esp, ebp, op, pmode };
    model_enter(shadow, ss_base, &e, alloc, level);

    uint8_t code[6];
    uint32_t len = 0;
    if ((op == 4) != (pmode != 0)) code[len++] = 0x66;
    code[len++] = 0xC8;
    code[len++] = (uint8_t)alloc;
    code[len++] = (uint8_t)(alloc >> 8);
    code[len++] = level;
    char what[80];
    snprintf(what, sizeof what, "%s enter%d %u,%u", pmode ? "flat" : "real", op * 8, alloc, level);
    if (run_ok(what, pmode ? CODE32 : CODE16, code, len)) {
        uint32_t lo = ss_base + (esp & (pmode ? 0xFFFFFFFFu : 0xFFFFu)) - 0x1000;
        int mem_ok = memcmp(shadow + lo, ram() + lo, 0x2000) == 0;
        check(mem_ok && cpu_get_reg(cpu, R_ESP) == e.esp && cpu_get_reg(cpu, R_EBP) == e.ebp,
              "%s: esp %08x (want %08x) ebp %08x (want %08x) memory %s", what, cpu_get_reg(cpu, R_ESP), e.esp,
              cpu_get_reg(cpu, R_EBP), e.ebp, mem_ok ? "ok" : "differs");
    }
    free(shadow);
}

static void test_enter_leave(void)
{
    static const uint8_t levels[] = { 0, 1, 2, 3, 7, 31, 33 };
    for (int pm = 0; pm < 2; pm++)
        for (int op = 2; op <= 4; op += 2)
            for (unsigned k = 0; k < sizeof levels; k++) enter_case(pm, op, (uint16_t)(k * 0x24), levels[k]);

    /* LEAVE undoes a level-0 ENTER; a 16-bit stack keeps ESP's upper half. */
    enter_real();
    cpu_set_reg(cpu, R_ESP, 0x12340000u | STACK16);
    cpu_set_reg(cpu, R_EBP, 0xBEEF1111u);
    run_ok("enter 16,0; leave", CODE16, CODE(0xC8, 0x10, 0x00, 0x00, 0xC9));
    check(cpu_get_reg(cpu, R_ESP) == (0x12340000u | STACK16) && cpu_get_reg(cpu, R_EBP) == 0xBEEF1111u,
          "enter; leave: esp %08x ebp %08x", cpu_get_reg(cpu, R_ESP), cpu_get_reg(cpu, R_EBP));
}

/* ---------------------------------------------------------------------------
 * Stack details in 32-bit code. */

static void test_stack32(void)
{
    enter_flat32(0, 0);
    uint32_t sp = STACK32;

    /* pop dword [esp]: the address is computed after ESP moves. */
    put32(sp, 0x12345678);
    put32(sp + 4, 0);
    run_ok("pop dword [esp]", CODE32, CODE(0x8F, 0x04, 0x24));
    check(cpu_get_reg(cpu, R_ESP) == sp + 4 && get32(sp + 4) == 0x12345678,
          "pop [esp]: esp %08x [esp] %08x", cpu_get_reg(cpu, R_ESP), get32(sp + 4));

    /* push es with a 32-bit operand writes 16 bits into a 4-byte slot. */
    cpu_set_reg(cpu, R_ESP, sp);
    put32(sp - 4, 0xAAAAAAAA);
    run_ok("push es", CODE32, CODE(0x06));
    check(cpu_get_reg(cpu, R_ESP) == sp - 4 && get32(sp - 4) == 0xAAAA0010u, "push es: esp %08x slot %08x",
          cpu_get_reg(cpu, R_ESP), get32(sp - 4));

    /* push esp pushes the old value; pusha/popa round trip, popa skips ESP. */
    cpu_set_reg(cpu, R_ESP, sp);
    run_ok("push esp", CODE32, CODE(0x54));
    check(get32(sp - 4) == sp, "push esp stored %08x", get32(sp - 4));
    cpu_set_reg(cpu, R_ESP, sp);
    for (int r = 0; r < 8; r++) if (r != R_ESP) cpu_set_reg(cpu, r, 0x11111111u * (uint32_t)(r + 1));
    run_ok("pusha", CODE32, CODE(0x60));
    int ok = cpu_get_reg(cpu, R_ESP) == sp - 32 && get32(sp - 4) == 0x11111111u && get32(sp - 20) == sp &&
             get32(sp - 32) == 0x88888888u;
    check(ok, "pusha layout");
    put32(sp - 20, 0xDEADBEEF);
    for (int r = 0; r < 8; r++) if (r != R_ESP) cpu_set_reg(cpu, r, 0);
    run_ok("popa", CODE32, CODE(0x61));
    ok = cpu_get_reg(cpu, R_ESP) == sp;
    for (int r = 0; r < 8; r++) if (r != R_ESP) ok &= cpu_get_reg(cpu, r) == 0x11111111u * (uint32_t)(r + 1);
    check(ok, "popa restores all but esp (esp %08x)", cpu_get_reg(cpu, R_ESP));

    /* push imm8 is sign-extended; ret imm16 releases the bytes. */
    cpu_set_reg(cpu, R_ESP, sp);
    run_ok("push -2", CODE32, CODE(0x6A, 0xFE));
    check(get32(sp - 4) == 0xFFFFFFFEu, "push -2 stored %08x", get32(sp - 4));

    /* call rel32 / ret 8 */
    cpu_set_reg(cpu, R_ESP, sp);
    /* call +3; ud2 (skipped);  nop (target: at +8) ... layout: E8 03 00 00 00 | 0F 0B | 90 | C2 08 00 */
    /* The ret returns to the ud2 at +5, which ends the run. */
    int v = run_code_at(CODE32, CODE(0xE8, 0x03, 0x00, 0x00, 0x00, 0x0F, 0x0B, 0x90, 0xC2, 0x08, 0x00));
    check(v == 6 && cpu_get_eip(cpu) == CODE32 + 5 && cpu_get_reg(cpu, R_ESP) == sp + 8,
          "call/ret 8: vector %d eip %08x esp %08x", v, cpu_get_eip(cpu), cpu_get_reg(cpu, R_ESP));

    /* 16-bit operand size in 32-bit code: call rel16 truncates the target to 16
     * bits (here 0x0004, where a UD2 waits) and pushes a 16-bit return address. */
    cpu_set_reg(cpu, R_ESP, sp);
    put(0x4, CODE(0x0F, 0x0B));
    v = run_code_at(CODE32, CODE(0x66, 0xE8, 0x00, 0x00));
    check(v == 6 && cpu_get_eip(cpu) == 4 && cpu_get_reg(cpu, R_ESP) == sp - 2 && get16(sp - 2) == 4,
          "o16 call rel16: vector %d eip %08x esp %08x", v, cpu_get_eip(cpu), cpu_get_reg(cpu, R_ESP));
}

/* ---------------------------------------------------------------------------
 * Near branches beyond the CS limit fault before changing anything. */

static void test_branch_limit(void)
{
    enter_flat32(0, 0);
    set_seg(S_CS, 0x08, 0, CODE32 + 0xFFF, 0x409B);   /* byte-granular limit */
    uint32_t sp = STACK32;
    cpu_set_reg(cpu, R_ESP, sp);
    int v = run_code_at(CODE32, CODE(0xE9, 0x00, 0x10, 0x00, 0x00));   /* jmp +0x1000 */
    check(v == 13 && exc_err == 0 && cpu_get_eip(cpu) == CODE32, "jmp beyond the limit: vector %d eip %08x",
          v, cpu_get_eip(cpu));
    v = run_code_at(CODE32, CODE(0xE8, 0x00, 0x10, 0x00, 0x00));       /* call +0x1000 */
    check(v == 13 && cpu_get_eip(cpu) == CODE32 && cpu_get_reg(cpu, R_ESP) == sp,
          "call beyond the limit: vector %d esp %08x", v, cpu_get_reg(cpu, R_ESP));
    put32(sp, CODE32 + 0x2000);
    v = run_code_at(CODE32, CODE(0xC3));
    check(v == 13 && cpu_get_eip(cpu) == CODE32 && cpu_get_reg(cpu, R_ESP) == sp,
          "ret beyond the limit: vector %d esp %08x", v, cpu_get_reg(cpu, R_ESP));
    cpu_set_eflags(cpu, 0x2 | F_ZF);
    v = run_code_at(CODE32, CODE(0x0F, 0x84, 0x00, 0x10, 0x00, 0x00)); /* jz +0x1000 */
    check(v == 13 && cpu_get_eip(cpu) == CODE32, "jz beyond the limit: vector %d", v);
    cpu_set_eflags(cpu, 0x2);
    run_ok("jz not taken beyond the limit", CODE32, CODE(0x0F, 0x84, 0x00, 0x10, 0x00, 0x00));
    cpu_set_reg(cpu, R_ECX, 5);
    v = run_code_at(CODE32 + 0xF80, CODE(0xE2, 0x7F));   /* loop to CODE32 + 0x1001 */
    check(v == 13 && cpu_get_reg(cpu, R_ECX) == 5, "loop beyond the limit leaves ecx: vector %d ecx %u",
          v, cpu_get_reg(cpu, R_ECX));
}

/* ---------------------------------------------------------------------------
 * Privilege rules at CPL 3 with IOPL 0, and in real mode. */

static void test_privilege(void)
{
    build_paging(0);
    enter_flat32(3, 1);
    cpu_set_eflags(cpu, 0x2 | F_IF);
    int v = run_code_at(CODE32, CODE(0xFA));
    check(v == 13 && (cpu_get_eflags(cpu) & F_IF), "cli at cpl 3, iopl 0: vector %d", v);
    v = run_code_at(CODE32, CODE(0xFB));
    check(v == 13, "sti at cpl 3, iopl 0: vector %d", v);
    v = run_code_at(CODE32, CODE(0xF4));
    check(v == 13, "hlt at cpl 3: vector %d", v);
    /* push 0x3CD5; popf; pushf; pop eax: IF and IOPL stay, the rest follows. */
    if (run_ok("popf at cpl 3", CODE32, CODE(0x68, 0xD5, 0x3C, 0x00, 0x00, 0x9D, 0x9C, 0x58)))
        check(cpu_get_reg(cpu, R_EAX) == 0x0ED7, "popf at cpl 3: flags %08x (want 00000ed7)", cpu_get_reg(cpu, R_EAX));

    /* CPL 0: POPF changes IOPL and IF; 16-bit POPF leaves the upper half (AC). */
    enter_flat32(0, 1);
    cpu_set_eflags(cpu, 0x2 | F_AC);
    if (run_ok("popf at cpl 0", CODE32, CODE(0x66, 0x68, 0xD5, 0x3E, 0x66, 0x9D, 0x9C, 0x58)))
        check(cpu_get_reg(cpu, R_EAX) == (0x3ED7 | F_AC), "o16 popf at cpl 0: flags %08x", cpu_get_reg(cpu, R_EAX));
    /* 32-bit POPF never sets VM or RF. */
    if (run_ok("popf vm rf", CODE32, CODE(0x68, 0x02, 0x00, 0x03, 0x00, 0x9D, 0x9C, 0x58)))
        check(cpu_get_reg(cpu, R_EAX) == 0x2, "popf with VM|RF: flags %08x", cpu_get_reg(cpu, R_EAX));

    /* STI then CLI at CPL 0 with IOPL 0 is allowed. */
    cpu_set_eflags(cpu, 0x2);
    if (run_ok("sti; cli at cpl 0", CODE32, CODE(0xFB, 0xFA)))
        check(!(cpu_get_eflags(cpu) & F_IF), "sti; cli");

    /* Real mode: bound out of range is #BR at the instruction. */
    enter_real();
    put16(0x500, 10);
    put16(0x502, 20);
    cpu_set_reg(cpu, R_EAX, 21);
    v = run_code_at(CODE16, CODE(0x62, 0x06, 0x00, 0x05));   /* bound ax, [0x500] */
    check(v == 5 && cpu_get_eip(cpu) == CODE16, "bound out of range: vector %d", v);
    cpu_set_reg(cpu, R_EAX, 20);
    run_ok("bound in range", CODE16, CODE(0x62, 0x06, 0x00, 0x05));
    v = run_code_at(CODE16, CODE(0x62, 0xC0));   /* register form */
    check(v == 6 && cpu_get_eip(cpu) == CODE16, "bound with a register operand: vector %d", v);
}

/* Virtual-8086 mode at `iopl`, segments at 0, with or without CR4.VME. */
static void enter_v86(unsigned iopl, int vme)
{
    cpu_reset(cpu);
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET);
    cpu_set_cr(cpu, 4, vme ? CR4_VME : 0);
    for (int s = 0; s < 6; s++) set_seg(s, 0, 0, 0xFFFF, 0xF3);
    cpu_set_reg(cpu, R_ESP, STACK16);
    cpu_set_eflags(cpu, 0x2 | F_VM | F_IF | (iopl << 12));
}

static void test_v86(void)
{
    static const struct { const char *what; uint8_t code[3]; uint32_t len; } sensitive[] = {
        { "pushf", { 0x9C }, 1 }, { "popf", { 0x9D }, 1 }, { "o32 pushf", { 0x66, 0x9C }, 2 },
        { "o32 popf", { 0x66, 0x9D }, 2 }, { "cli", { 0xFA }, 1 }, { "sti", { 0xFB }, 1 },
        { "int 21h", { 0xCD, 0x21 }, 2 }, { "hlt", { 0xF4 }, 1 },
    };
    for (unsigned k = 0; k < sizeof sensitive / sizeof sensitive[0]; k++) {
        enter_v86(0, 0);
        int v = run_code_at(CODE16, sensitive[k].code, sensitive[k].len);
        check(v == 13 && cpu_get_eip(cpu) == CODE16 && cpu_get_reg(cpu, R_ESP) == STACK16,
              "v86 iopl 0: %s raises #GP (vector %d)", sensitive[k].what, v);
    }

    /* IOPL 3: CLI works; PUSHFD stores VM and RF as 0. */
    enter_v86(3, 0);
    if (run_ok("v86 iopl 3: cli; o32 pushf", CODE16, CODE(0xFA, 0x66, 0x9C)))
        check(!(cpu_get_eflags(cpu) & F_IF) && (cpu_get_eflags(cpu) & F_VM) && get32(STACK16 - 4) == 0x3002,
              "v86 iopl 3: eflags %08x, pushed %08x", cpu_get_eflags(cpu), get32(STACK16 - 4));

    /* CR4.VME, IOPL 0: CLI/STI work on VIF; PUSHF shows VIF as IF and IOPL 3; POPF
     * moves IF to VIF; a 32-bit PUSHF still faults. */
    enter_v86(0, 1);
    cpu_set_eflags(cpu, 0x2 | F_VM | F_IF | F_VIF);
    if (run_ok("vme: cli; pushf", CODE16, CODE(0xFA, 0x9C)))
        check((cpu_get_eflags(cpu) & (F_IF | F_VIF)) == F_IF && get16(STACK16 - 2) == 0x3002,
              "vme cli: eflags %08x, pushf stored %04x", cpu_get_eflags(cpu), get16(STACK16 - 2));
    if (run_ok("vme: sti; pushf", CODE16, CODE(0xFB, 0x9C)))
        check((cpu_get_eflags(cpu) & F_VIF) && get16(STACK16 - 4) == 0x3202,
              "vme sti: eflags %08x, pushf stored %04x", cpu_get_eflags(cpu), get16(STACK16 - 4));
    cpu_set_reg(cpu, R_ESP, STACK16);
    put16(STACK16, 0x0001);   /* CF, IF clear */
    if (run_ok("vme: popf", CODE16, CODE(0x9D)))
        check((cpu_get_eflags(cpu) & (F_IF | F_VIF | F_CF | F_IOPL)) == (F_IF | F_CF),
              "vme popf: eflags %08x", cpu_get_eflags(cpu));
    put16(STACK16 - 2, 0x0100);   /* TF set: #GP */
    cpu_set_reg(cpu, R_ESP, STACK16 - 2);
    int v = run_code_at(CODE16, CODE(0x9D));
    check(v == 13 && cpu_get_reg(cpu, R_ESP) == STACK16 - 2, "vme popf with TF: vector %d", v);
    v = run_code_at(CODE16, CODE(0x66, 0x9C));
    check(v == 13, "vme o32 pushf: vector %d", v);
    cpu_set_eflags(cpu, 0x2 | F_VM | F_IF | F_VIP);
    v = run_code_at(CODE16, CODE(0xFB));
    check(v == 13, "vme sti with VIP: vector %d", v);
}

/* ---------------------------------------------------------------------------
 * XLAT, LOOP/JCXZ address size, hint NOPs. */

static void test_misc(void)
{
    enter_real();
    cpu_set_seg_real(cpu, S_DS, 0x1000);
    for (int k = 0; k < 256; k++) ram()[0x10800 + k] = (uint8_t)(255 - k);
    cpu_set_reg(cpu, R_EBX, 0xFFFF0800u);
    cpu_set_reg(cpu, R_EAX, 0x1234);
    run_ok("xlat", CODE16, CODE(0xD7));
    check((cpu_get_reg(cpu, R_EAX) & 0xFFFF) == 0x12CB, "xlat: ax %04x", cpu_get_reg(cpu, R_EAX) & 0xFFFF);

    /* loop with 16-bit addressing decrements CX only. */
    cpu_set_reg(cpu, R_ECX, 0x00010003u);
    run_ok("loop $", CODE16, CODE(0xE2, 0xFE));
    check(cpu_get_reg(cpu, R_ECX) == 0x00010000u, "loop (a16): ecx %08x", cpu_get_reg(cpu, R_ECX));
    cpu_set_reg(cpu, R_ECX, 0x00010000u);
    run_ok("jcxz taken over ud2", CODE16, CODE(0xE3, 0x02, 0x0F, 0x0B, 0x41));
    check(cpu_get_reg(cpu, R_ECX) == 0x00010001u, "jcxz (a16) tested CX: ecx %08x", cpu_get_reg(cpu, R_ECX));
    cpu_set_reg(cpu, R_ECX, 0x00010000u);
    int v = run_code_at(CODE16, CODE(0x67, 0xE3, 0x02, 0x0F, 0x0B, 0x41));
    check(v == 6 && cpu_get_eip(cpu) == CODE16 + 3, "jecxz (a32) not taken with ECX != 0: eip %04x", cpu_get_eip(cpu));

    /* Multi-byte and hint NOPs do not touch memory (even beyond the limit). */
    cpu_set_reg(cpu, R_EBX, 0xFFFF);
    run_ok("nop word [bx+0x10]", CODE16, CODE(0x0F, 0x1F, 0x47, 0x10));
    run_ok("prefetchnta [bx+0x10]", CODE16, CODE(0x0F, 0x18, 0x47, 0x10));
    run_ok("0f 19 /7", CODE16, CODE(0x0F, 0x19, 0xF8));

    /* INT n / INT3 / INTO go through the IVT; the handler's IRET comes back. */
    put16(0x21 * 4, 0x7900);
    put16(0x21 * 4 + 2, 0);
    put(0x7900, CODE(0x43, 0xCF));   /* inc bx; iret */
    put16(4 * 4, 0x7900);
    put16(4 * 4 + 2, 0);
    cpu_set_reg(cpu, R_EBX, 0);
    cpu_set_reg(cpu, R_ESP, STACK16);
    cpu_set_eflags(cpu, 0x2 | F_OF);
    run_ok("int 21h; into", CODE16, CODE(0xCD, 0x21, 0xCE));
    check(cpu_get_reg(cpu, R_EBX) == 2 && cpu_get_reg(cpu, R_ESP) == STACK16, "int 21h; into: bx %u sp %04x",
          cpu_get_reg(cpu, R_EBX), cpu_get_reg(cpu, R_ESP));
}

int main(void)
{
    mem = memory_new(RAM_SIZE);
    io = ioports_new();
    cpu = mem && io ? cpu_new(mem, io) : NULL;
    if (!cpu) {
        printf("cannot create the machine\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    static const struct io_handlers h = { dev_read, dev_write, 1 | 2 | 4 };
    ioports_register(io, TEST_PORT, 4, &h, &dev);
    ioports_set_log(io, NULL, 0);
    cpu_set_exception_hook(cpu, on_exception, NULL);

    test_rep_real_random();
    test_rep_flat_random();
    test_rep_page_fault();
    test_rep_interrupt();
    test_rep_smc();
    test_cmps_scas();
    test_io();
    test_enter_leave();
    test_stack32();
    test_branch_limit();
    test_privilege();
    test_v86();
    test_misc();

    printf("RESULT: %d passed, %d failed\n", passed, failed);
    cpu_free(cpu);
    ioports_free(io);
    memory_free(mem);
    return failed ? 1 : 0;
}
