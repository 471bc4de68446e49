/* Unit tests of the integer data instructions (cpu/ops_alu.c) through the
 * public API: each case builds a machine, puts a few instructions and a HLT in
 * RAM, runs them in flat protected mode and checks every general register,
 * the flags it names and the memory it names. The expected values were worked
 * out by hand from the SDM; the encodings come from nasm.
 *
 * A case that faults is checked against the state at the fault, taken in the
 * exception hook, which then leaves cpu_run with a longjmp (the machine is
 * thrown away after each case, so no delivery or IDT is needed): the faulting
 * instruction must not have changed anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/ioport.h"
#include "cpu/memory.h"

#define RAM_SIZE  (1u << 20)
#define CODE_ADDR 0x1000u
#define DATA_ADDR 0x4000u
#define STACK_TOP 0x8000u
#define OSZAPC (F_OF | F_SF | F_ZF | F_AF | F_PF | F_CF)

static int passed, failed;

struct vm {
    const char *name;
    struct memory *mem;
    struct ioports *io;
    struct cpu *cpu;
    uint32_t expect[8];        /* expected registers (start as the initial ones) */
    uint32_t end_eip;          /* address of the HLT that ends the code */
    int exc_vec;               /* first exception, or -1 */
    uint32_t exc_err;
    uint32_t exc_eip;
    uint32_t at_exc[8];        /* registers when it was raised */
    uint32_t flags_at_exc;
    int exc_expected;
    int ok;
    jmp_buf stop;              /* the exception hook leaves cpu_run through this */
};

static void fail(struct vm *v, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s: ", v->name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    v->ok = 0;
}

static void exception_hook(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    struct vm *v = opaque;
    v->exc_vec = vector;
    v->exc_err = error;
    v->exc_eip = cpu_get_eip(v->cpu);
    for (int r = 0; r < 8; r++) v->at_exc[r] = cpu_get_reg(v->cpu, r);
    v->flags_at_exc = cpu_get_eflags(v->cpu);
    longjmp(v->stop, 1);
}

static void set_seg(struct cpu *cpu, int seg, uint16_t sel, uint32_t limit, uint16_t flags)
{
    struct cpu_segment_state s = { .selector = sel, .base = 0, .limit = limit, .flags = flags };
    cpu_set_seg(cpu, seg, &s);
}

/* A machine in flat 32-bit protected mode (or with a 16-bit code segment).
 * ES is a read-only data segment and FS a data segment ending at 0x4FFF, for
 * the fault cases. Registers start with distinct patterns. */
static struct vm *vm_begin(const char *name, int code32)
{
    struct vm *v = calloc(1, sizeof(*v));
    v->name = name;
    v->ok = 1;
    v->exc_vec = -1;
    v->mem = memory_new(RAM_SIZE);
    v->io = ioports_new();
    ioports_set_log(v->io, NULL, 0);
    v->cpu = cpu_new(v->mem, v->io);
    cpu_reset(v->cpu);
    cpu_set_exception_hook(v->cpu, exception_hook, v);
    cpu_set_cr(v->cpu, 0, CR0_PE | CR0_ET);
    if (code32) set_seg(v->cpu, S_CS, 0x08, 0xFFFFFFFFu, 0xC09B);
    else set_seg(v->cpu, S_CS, 0x08, 0xFFFFu, 0x009B);
    set_seg(v->cpu, S_SS, 0x10, 0xFFFFFFFFu, 0xC093);
    set_seg(v->cpu, S_DS, 0x10, 0xFFFFFFFFu, 0xC093);
    set_seg(v->cpu, S_GS, 0x10, 0xFFFFFFFFu, 0xC093);
    set_seg(v->cpu, S_ES, 0x18, 0xFFFFFFFFu, 0xC091);   /* read-only */
    set_seg(v->cpu, S_FS, 0x20, 0x4FFFu, 0x4093);       /* limit 0x4FFF */
    for (int r = 0; r < 8; r++) {
        uint32_t val = r == R_ESP ? STACK_TOP : 0x01010101u * (uint32_t)(0x11 * (r + 1));
        cpu_set_reg(v->cpu, r, val);
        v->expect[r] = val;
    }
    cpu_set_eflags(v->cpu, 0x2);
    cpu_set_eip(v->cpu, CODE_ADDR);
    return v;
}

static void set_reg(struct vm *v, int r, uint32_t val)
{
    cpu_set_reg(v->cpu, r, val);
    v->expect[r] = val;
}
static void set_flags(struct vm *v, uint32_t f) { cpu_set_eflags(v->cpu, 0x2 | f); }
static void put32(struct vm *v, uint32_t addr, uint32_t val) { memory_write(v->mem, addr, &val, 4); }
static void put16(struct vm *v, uint32_t addr, uint16_t val) { memory_write(v->mem, addr, &val, 2); }
static void put8(struct vm *v, uint32_t addr, uint8_t val) { memory_write(v->mem, addr, &val, 1); }

/* Load the code (hex bytes), append HLT, run until the HLT or the first exception. */
static void run(struct vm *v, const char *hex)
{
    uint8_t code[64];
    unsigned n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') { p++; continue; }
        unsigned byte;
        if (sscanf(p, "%2x", &byte) != 1 || n >= sizeof(code) - 1) {
            fail(v, "bad code string \"%s\"", hex);
            return;
        }
        code[n++] = (uint8_t)byte;
        p += 2;
    }
    v->end_eip = CODE_ADDR + n;
    code[n++] = 0xF4;
    memory_write(v->mem, CODE_ADDR, code, n);
    if (setjmp(v->stop) == 0) cpu_run(v->cpu, 100);
    /* Until HLT is implemented it raises #UD: that still marks the end. */
    if (v->exc_vec == EXC_UD && v->exc_eip == v->end_eip) v->exc_vec = -1;
}

static void expect_reg(struct vm *v, int r, uint32_t val) { v->expect[r] = val; }

static uint32_t final_reg(struct vm *v, int r)
{
    return v->exc_vec >= 0 ? v->at_exc[r] : cpu_get_reg(v->cpu, r);
}
static uint32_t final_flags(struct vm *v)
{
    return v->exc_vec >= 0 ? v->flags_at_exc : cpu_get_eflags(v->cpu);
}

static void expect_flags(struct vm *v, uint32_t mask, uint32_t val)
{
    uint32_t f = final_flags(v);
    if ((f & mask) != (val & mask))
        fail(v, "flags %03x, expected %03x under mask %03x", f & mask, val & mask, mask);
}
static void expect_mem(struct vm *v, uint32_t addr, int size, uint32_t val)
{
    uint32_t got = 0;
    memory_read(v->mem, addr, &got, (uint32_t)size);
    if (got != val) fail(v, "mem[%05x] = %0*x, expected %0*x", addr, size * 2, got, size * 2, val);
}
/* The instruction at CODE_ADDR must fault with `vec` (error code 0 where it has one). */
static void expect_exc(struct vm *v, int vec)
{
    v->exc_expected = 1;
    if (v->exc_vec != vec) {
        fail(v, "exception %d, expected %d", v->exc_vec, vec);
        return;
    }
    if (v->exc_eip != CODE_ADDR) fail(v, "exception at EIP %x, expected %x", v->exc_eip, CODE_ADDR);
    if (v->exc_err != 0) fail(v, "error code %x, expected 0", v->exc_err);
}

static void vm_end(struct vm *v)
{
    static const char *const names[8] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" };
    if (v->exc_vec >= 0 && !v->exc_expected)
        fail(v, "unexpected exception %d (error %x) at EIP %x", v->exc_vec, v->exc_err, v->exc_eip);
    for (int r = 0; r < 8; r++) {
        uint32_t got = final_reg(v, r);
        if (got != v->expect[r]) fail(v, "%s = %08x, expected %08x", names[r], got, v->expect[r]);
    }
    if (v->ok) passed++;
    else failed++;
    cpu_free(v->cpu);
    ioports_free(v->io);
    memory_free(v->mem);
    free(v);
}

/* ---------------------------------------------------------------------------
 * ADD OR ADC SBB AND SUB XOR CMP TEST */
static void test_alu(void)
{
    struct vm *v;

    v = vm_begin("add eax, ebx (carry, zero)", 1);
    set_reg(v, R_EAX, 0xFFFFFFFF); set_reg(v, R_EBX, 1);
    run(v, "01 d8");
    expect_reg(v, R_EAX, 0);
    expect_flags(v, OSZAPC, F_CF | F_ZF | F_AF | F_PF);
    vm_end(v);

    v = vm_begin("adc eax, ebx (carry in, overflow)", 1);
    set_reg(v, R_EAX, 0x7FFFFFFF); set_reg(v, R_EBX, 0); set_flags(v, F_CF);
    run(v, "11 d8");
    expect_reg(v, R_EAX, 0x80000000);
    expect_flags(v, OSZAPC, F_OF | F_SF | F_AF | F_PF);
    vm_end(v);

    v = vm_begin("sbb al, 1 (borrow in)", 1);
    set_reg(v, R_EAX, 0x12345600); set_flags(v, F_CF);
    run(v, "1c 01");
    expect_reg(v, R_EAX, 0x123456FE);
    expect_flags(v, OSZAPC, F_CF | F_SF | F_AF);
    vm_end(v);

    v = vm_begin("add ax, -1 (83, sign-extended imm8, upper half kept)", 1);
    set_reg(v, R_EAX, 0x12340001);
    run(v, "66 83 c0 ff");
    expect_reg(v, R_EAX, 0x12340000);
    expect_flags(v, OSZAPC, F_CF | F_ZF | F_AF | F_PF);
    vm_end(v);

    v = vm_begin("add ah, al", 1);
    set_reg(v, R_EAX, 0x00008080);
    run(v, "00 c4");
    expect_reg(v, R_EAX, 0x00000080);
    expect_flags(v, OSZAPC, F_CF | F_OF | F_ZF | F_PF);
    vm_end(v);

    v = vm_begin("cmp dword [m], 5", 1);
    put32(v, DATA_ADDR, 3);
    run(v, "83 3d 00 40 00 00 05");
    expect_flags(v, OSZAPC, F_CF | F_SF | F_AF);
    expect_mem(v, DATA_ADDR, 4, 3);
    vm_end(v);

    v = vm_begin("sub [m], ecx", 1);
    put32(v, DATA_ADDR, 10); set_reg(v, R_ECX, 3);
    run(v, "29 0d 00 40 00 00");
    expect_flags(v, OSZAPC, 0);
    expect_mem(v, DATA_ADDR, 4, 7);
    vm_end(v);

    v = vm_begin("xor eax, eax", 1);
    set_flags(v, F_CF | F_OF);
    run(v, "31 c0");
    expect_reg(v, R_EAX, 0);
    expect_flags(v, OSZAPC & ~F_AF, F_ZF | F_PF);
    vm_end(v);

    v = vm_begin("test byte [m], 0x80", 1);
    put8(v, DATA_ADDR, 0x81);
    run(v, "f6 05 00 40 00 00 80");
    expect_flags(v, OSZAPC & ~F_AF, F_SF);
    expect_mem(v, DATA_ADDR, 1, 0x81);
    vm_end(v);

    v = vm_begin("add [es:m], eax to a read-only segment: #GP, nothing changed", 1);
    put32(v, DATA_ADDR, 0x55); set_flags(v, F_CF | F_ZF);
    run(v, "26 01 05 00 40 00 00");
    expect_exc(v, EXC_GP);
    expect_flags(v, OSZAPC, F_CF | F_ZF);
    expect_mem(v, DATA_ADDR, 4, 0x55);
    vm_end(v);

    v = vm_begin("neg dword [m]", 1);
    put32(v, DATA_ADDR, 1);
    run(v, "f7 1d 00 40 00 00");
    expect_mem(v, DATA_ADDR, 4, 0xFFFFFFFF);
    expect_flags(v, F_CF | F_SF | F_ZF | F_OF, F_CF | F_SF);
    vm_end(v);

    v = vm_begin("not ax", 1);
    set_reg(v, R_EAX, 0x12340F0F); set_flags(v, F_ZF);
    run(v, "66 f7 d0");
    expect_reg(v, R_EAX, 0x1234F0F0);
    expect_flags(v, OSZAPC, F_ZF);
    vm_end(v);

    v = vm_begin("16-bit code: add [bx+si], ax; add eax, ebx (66)", 0);
    set_reg(v, R_EBX, DATA_ADDR); set_reg(v, R_ESI, 0); set_reg(v, R_EAX, 0xFFFF0002);
    put16(v, DATA_ADDR, 0x7FFF);
    run(v, "01 00 66 01 d8");
    expect_mem(v, DATA_ADDR, 2, 0x8001);
    expect_reg(v, R_EAX, 0xFFFF4002);
    vm_end(v);
}

/* ---------------------------------------------------------------------------
 * INC DEC */
static void test_incdec(void)
{
    struct vm *v;

    v = vm_begin("inc eax keeps CF", 1);
    set_reg(v, R_EAX, 0xFFFFFFFF); set_flags(v, F_CF);
    run(v, "40");
    expect_reg(v, R_EAX, 0);
    expect_flags(v, OSZAPC, F_CF | F_ZF | F_AF | F_PF);
    vm_end(v);

    v = vm_begin("dec word [m] overflow", 1);
    put16(v, DATA_ADDR, 0x8000);
    run(v, "66 ff 0d 00 40 00 00");
    expect_mem(v, DATA_ADDR, 2, 0x7FFF);
    expect_flags(v, OSZAPC, F_OF | F_AF | F_PF);
    vm_end(v);

    v = vm_begin("inc cx keeps the upper half", 1);
    set_reg(v, R_ECX, 0xABCDFFFF);
    run(v, "66 41");
    expect_reg(v, R_ECX, 0xABCD0000);
    expect_flags(v, F_ZF, F_ZF);
    vm_end(v);
}

/* ---------------------------------------------------------------------------
 * MUL IMUL DIV IDIV */
static void test_muldiv(void)
{
    struct vm *v;

    v = vm_begin("mul ebx", 1);
    set_reg(v, R_EAX, 0x80000000); set_reg(v, R_EBX, 4);
    run(v, "f7 e3");
    expect_reg(v, R_EAX, 0); expect_reg(v, R_EDX, 2);
    expect_flags(v, F_CF | F_OF, F_CF | F_OF);
    vm_end(v);

    v = vm_begin("imul ecx (one operand)", 1);
    set_reg(v, R_EAX, 0xFFFFFFFE); set_reg(v, R_ECX, 3);
    run(v, "f7 e9");
    expect_reg(v, R_EAX, 0xFFFFFFFA); expect_reg(v, R_EDX, 0xFFFFFFFF);
    expect_flags(v, F_CF | F_OF, 0);
    vm_end(v);

    v = vm_begin("imul eax, ebx, 0x10 (overflow)", 1);
    set_reg(v, R_EBX, 0x10000000);
    run(v, "6b c3 10");
    expect_reg(v, R_EAX, 0);
    expect_flags(v, F_CF | F_OF, F_CF | F_OF);
    vm_end(v);

    v = vm_begin("imul ax, bx", 1);
    set_reg(v, R_EAX, 0xAAAA0003); set_reg(v, R_EBX, 0xBBBBFFFE);
    run(v, "66 0f af c3");
    expect_reg(v, R_EAX, 0xAAAAFFFA);
    expect_flags(v, F_CF | F_OF, 0);
    vm_end(v);

    v = vm_begin("div ecx by zero: #DE", 1);
    set_reg(v, R_ECX, 0);
    run(v, "f7 f1");
    expect_exc(v, EXC_DE);
    vm_end(v);

    v = vm_begin("div bl quotient overflow: #DE", 1);
    set_reg(v, R_EAX, 0x1000); set_reg(v, R_EBX, 0x10);
    run(v, "f6 f3");
    expect_exc(v, EXC_DE);
    vm_end(v);

    v = vm_begin("idiv ecx INT64_MIN / -1: #DE", 1);
    set_reg(v, R_EDX, 0x80000000); set_reg(v, R_EAX, 0); set_reg(v, R_ECX, 0xFFFFFFFF);
    run(v, "f7 f9");
    expect_exc(v, EXC_DE);
    vm_end(v);

    v = vm_begin("idiv cl -128 / -1: #DE", 1);
    set_reg(v, R_EAX, 0xFF80); set_reg(v, R_ECX, 0xFF);
    run(v, "f6 f9");
    expect_exc(v, EXC_DE);
    vm_end(v);

    v = vm_begin("idiv bx -7 / 2", 1);
    set_reg(v, R_EDX, 0x1111FFFF); set_reg(v, R_EAX, 0x2222FFF9); set_reg(v, R_EBX, 0x33330002);
    run(v, "66 f7 fb");
    expect_reg(v, R_EAX, 0x2222FFFD); expect_reg(v, R_EDX, 0x1111FFFF);
    vm_end(v);

    v = vm_begin("div dword [m]", 1);
    set_reg(v, R_EDX, 1); set_reg(v, R_EAX, 0); put32(v, DATA_ADDR, 0x10);
    run(v, "f7 35 00 40 00 00");
    expect_reg(v, R_EAX, 0x10000000); expect_reg(v, R_EDX, 0);
    vm_end(v);
}

/* ---------------------------------------------------------------------------
 * Shifts and rotates, SHLD SHRD */
static void test_shifts(void)
{
    struct vm *v;

    v = vm_begin("shl eax, 1", 1);
    set_reg(v, R_EAX, 0x80000001);
    run(v, "d1 e0");
    expect_reg(v, R_EAX, 2);
    expect_flags(v, F_CF | F_OF | F_ZF | F_SF | F_PF, F_CF | F_OF);
    vm_end(v);

    v = vm_begin("shl eax, cl with CL = 0 changes no flag", 1);
    set_reg(v, R_EAX, 0x1234); set_reg(v, R_ECX, 0x100); set_flags(v, F_CF | F_ZF | F_SF | F_OF);
    run(v, "d3 e0");
    expect_flags(v, OSZAPC, F_CF | F_ZF | F_SF | F_OF);
    vm_end(v);

    v = vm_begin("rol al, 1", 1);
    set_reg(v, R_EAX, 0x81);
    run(v, "d0 c0");
    expect_reg(v, R_EAX, 0x03);
    expect_flags(v, F_CF | F_OF, F_CF | F_OF);
    vm_end(v);

    v = vm_begin("ror eax, 4", 1);
    set_reg(v, R_EAX, 0x12345678); set_flags(v, F_ZF);
    run(v, "c1 c8 04");
    expect_reg(v, R_EAX, 0x81234567);
    expect_flags(v, F_CF | F_ZF | F_SF | F_PF | F_AF, F_CF | F_ZF);
    vm_end(v);

    v = vm_begin("rcl bl, 1", 1);
    set_reg(v, R_EBX, 0x80); set_flags(v, F_CF);
    run(v, "d0 d3");
    expect_reg(v, R_EBX, 0x01);
    expect_flags(v, F_CF | F_OF, F_CF | F_OF);
    vm_end(v);

    v = vm_begin("rcr word [m], cl (2)", 1);
    set_reg(v, R_ECX, 2); put16(v, DATA_ADDR, 3);
    run(v, "66 d3 1d 00 40 00 00");
    expect_mem(v, DATA_ADDR, 2, 0x8000);
    expect_flags(v, F_CF, F_CF);
    vm_end(v);

    v = vm_begin("rcl dword [es:m], 1 to a read-only segment: #GP, flags kept", 1);
    put32(v, DATA_ADDR, 0x80000000); set_flags(v, F_ZF);
    run(v, "26 d1 15 00 40 00 00");
    expect_exc(v, EXC_GP);
    expect_flags(v, OSZAPC, F_ZF);
    expect_mem(v, DATA_ADDR, 4, 0x80000000);
    vm_end(v);

    v = vm_begin("sar al, cl (9)", 1);
    set_reg(v, R_EAX, 0x80); set_reg(v, R_ECX, 9);
    run(v, "d2 f8");
    expect_reg(v, R_EAX, 0xFF);
    expect_flags(v, F_CF | F_SF | F_ZF, F_CF | F_SF);
    vm_end(v);

    v = vm_begin("shr eax, 31", 1);
    set_reg(v, R_EAX, 0x80000000);
    run(v, "c1 e8 1f");
    expect_reg(v, R_EAX, 1);
    expect_flags(v, F_CF | F_ZF | F_SF, 0);
    vm_end(v);

    v = vm_begin("rol al, 8", 1);
    set_reg(v, R_EAX, 0x81); set_flags(v, F_ZF);
    run(v, "c0 c0 08");
    expect_reg(v, R_EAX, 0x81);
    expect_flags(v, F_CF | F_ZF, F_CF | F_ZF);
    vm_end(v);

    v = vm_begin("shld eax, ebx, 4", 1);
    set_reg(v, R_EAX, 0x12345678); set_reg(v, R_EBX, 0x9ABCDEF0);
    run(v, "0f a4 d8 04");
    expect_reg(v, R_EAX, 0x23456789);
    expect_flags(v, F_CF | F_ZF | F_SF, F_CF);
    vm_end(v);

    v = vm_begin("shrd ax, bx, cl (4)", 1);
    set_reg(v, R_EAX, 0x55551234); set_reg(v, R_EBX, 0x6666ABCD); set_reg(v, R_ECX, 4);
    run(v, "66 0f ad d8");
    expect_reg(v, R_EAX, 0x5555D123);
    expect_flags(v, F_CF | F_ZF | F_SF, F_SF);
    vm_end(v);
}

/* ---------------------------------------------------------------------------
 * BT BTS BTR BTC BSF BSR */
static void test_bits(void)
{
    struct vm *v;

    v = vm_begin("bt [m], eax with eax = -1 (bit 31 of the dword below)", 1);
    set_reg(v, R_EAX, 0xFFFFFFFF); put32(v, DATA_ADDR - 4, 0x80000000);
    run(v, "0f a3 05 00 40 00 00");
    expect_flags(v, F_CF, F_CF);
    vm_end(v);

    v = vm_begin("bts dword [m], ecx with ecx = 35", 1);
    set_reg(v, R_ECX, 35); put32(v, DATA_ADDR + 4, 1); set_flags(v, F_CF | F_ZF);
    run(v, "0f ab 0d 00 40 00 00");
    expect_mem(v, DATA_ADDR + 4, 4, 9);
    expect_flags(v, F_CF | F_ZF, F_ZF);
    vm_end(v);

    v = vm_begin("btc eax, 33", 1);
    set_reg(v, R_EAX, 0xF);
    run(v, "0f ba f8 21");
    expect_reg(v, R_EAX, 0xD);
    expect_flags(v, F_CF, F_CF);
    vm_end(v);

    v = vm_begin("btr word [m], bx with bx = -17", 1);
    set_reg(v, R_EBX, 0x1234FFEF); put16(v, DATA_ADDR - 4, 0x8001);
    run(v, "66 0f b3 1d 00 40 00 00");
    expect_mem(v, DATA_ADDR - 4, 2, 0x0001);
    expect_flags(v, F_CF, F_CF);
    vm_end(v);

    v = vm_begin("bsf eax, ebx with ebx = 0 keeps eax", 1);
    set_reg(v, R_EAX, 0x1234); set_reg(v, R_EBX, 0);
    run(v, "0f bc c3");
    expect_flags(v, F_ZF, F_ZF);
    vm_end(v);

    v = vm_begin("bsf eax, ebx", 1);
    set_reg(v, R_EBX, 0xF0); set_flags(v, F_ZF);
    run(v, "0f bc c3");
    expect_reg(v, R_EAX, 4);
    expect_flags(v, F_ZF, 0);
    vm_end(v);

    v = vm_begin("bsr ecx, [m]", 1);
    put32(v, DATA_ADDR, 0x00012345);
    run(v, "0f bd 0d 00 40 00 00");
    expect_reg(v, R_ECX, 16);
    expect_flags(v, F_ZF, 0);
    vm_end(v);
}

/* ---------------------------------------------------------------------------
 * XCHG XADD CMPXCHG CMPXCHG8B */
static void test_atomics(void)
{
    struct vm *v;

    v = vm_begin("xadd eax, eax", 1);
    set_reg(v, R_EAX, 3);
    run(v, "0f c1 c0");
    expect_reg(v, R_EAX, 6);
    vm_end(v);

    v = vm_begin("xadd [m], ecx", 1);
    set_reg(v, R_ECX, 7); put32(v, DATA_ADDR, 5);
    run(v, "0f c1 0d 00 40 00 00");
    expect_reg(v, R_ECX, 5);
    expect_mem(v, DATA_ADDR, 4, 12);
    vm_end(v);

    v = vm_begin("xadd [m], cl (carry)", 1);
    set_reg(v, R_ECX, 0x20); put8(v, DATA_ADDR, 0xF0);
    run(v, "0f c0 0d 00 40 00 00");
    expect_reg(v, R_ECX, 0xF0);
    expect_mem(v, DATA_ADDR, 1, 0x10);
    expect_flags(v, F_CF | F_ZF, F_CF);
    vm_end(v);

    v = vm_begin("cmpxchg [m], ecx (equal)", 1);
    set_reg(v, R_EAX, 5); set_reg(v, R_ECX, 9); put32(v, DATA_ADDR, 5);
    run(v, "0f b1 0d 00 40 00 00");
    expect_mem(v, DATA_ADDR, 4, 9);
    expect_flags(v, F_ZF | F_CF, F_ZF);
    vm_end(v);

    v = vm_begin("cmpxchg [m], ecx (not equal)", 1);
    set_reg(v, R_EAX, 4); set_reg(v, R_ECX, 9); put32(v, DATA_ADDR, 5);
    run(v, "0f b1 0d 00 40 00 00");
    expect_reg(v, R_EAX, 5);
    expect_mem(v, DATA_ADDR, 4, 5);
    expect_flags(v, F_ZF | F_CF, F_CF);
    vm_end(v);

    v = vm_begin("cmpxchg [es:m], ecx (not equal) still writes: #GP", 1);
    set_reg(v, R_EAX, 4); set_reg(v, R_ECX, 9); put32(v, DATA_ADDR, 5);
    run(v, "26 0f b1 0d 00 40 00 00");
    expect_exc(v, EXC_GP);
    vm_end(v);

    v = vm_begin("cmpxchg bl, cl", 1);
    set_reg(v, R_EAX, 0x11); set_reg(v, R_EBX, 0x11); set_reg(v, R_ECX, 0x22);
    run(v, "0f b0 cb");
    expect_reg(v, R_EBX, 0x22);
    expect_flags(v, F_ZF, F_ZF);
    vm_end(v);

    v = vm_begin("cmpxchg8b [m] (equal)", 1);
    set_reg(v, R_EAX, 0x11111111); set_reg(v, R_EDX, 0x22222222);
    set_reg(v, R_EBX, 0x33333333); set_reg(v, R_ECX, 0x44444444);
    put32(v, DATA_ADDR, 0x11111111); put32(v, DATA_ADDR + 4, 0x22222222);
    set_flags(v, F_CF);
    run(v, "0f c7 0d 00 40 00 00");
    expect_mem(v, DATA_ADDR, 4, 0x33333333); expect_mem(v, DATA_ADDR + 4, 4, 0x44444444);
    expect_flags(v, OSZAPC, F_ZF | F_CF);
    vm_end(v);

    v = vm_begin("cmpxchg8b [m] (not equal)", 1);
    set_reg(v, R_EAX, 0x11111111); set_reg(v, R_EDX, 0x22222222);
    put32(v, DATA_ADDR, 0x11111111); put32(v, DATA_ADDR + 4, 0x55555555);
    set_flags(v, F_ZF);
    run(v, "0f c7 0d 00 40 00 00");
    expect_reg(v, R_EAX, 0x11111111); expect_reg(v, R_EDX, 0x55555555);
    expect_mem(v, DATA_ADDR + 4, 4, 0x55555555);
    expect_flags(v, F_ZF, 0);
    vm_end(v);

    v = vm_begin("cmpxchg8b with a register operand: #UD", 1);
    run(v, "0f c7 c8");
    expect_exc(v, EXC_UD);
    vm_end(v);

    v = vm_begin("xchg [m], ebx", 1);
    set_reg(v, R_EBX, 2); put32(v, DATA_ADDR, 1);
    run(v, "87 1d 00 40 00 00");
    expect_reg(v, R_EBX, 1);
    expect_mem(v, DATA_ADDR, 4, 2);
    vm_end(v);

    v = vm_begin("xchg ecx, eax; xchg dx, ax", 1);
    set_reg(v, R_EAX, 0x11112222); set_reg(v, R_ECX, 0x33334444); set_reg(v, R_EDX, 0x55556666);
    run(v, "91 66 92");
    /* after 91: eax = 33334444, ecx = 11112222; after 66 92: ax <-> dx */
    expect_reg(v, R_ECX, 0x11112222);
    expect_reg(v, R_EAX, 0x33336666);
    expect_reg(v, R_EDX, 0x55554444);
    vm_end(v);

    v = vm_begin("xchg [es:m], ebx to a read-only segment: #GP", 1);
    set_reg(v, R_EBX, 2); put32(v, DATA_ADDR, 1);
    run(v, "26 87 1d 00 40 00 00");
    expect_exc(v, EXC_GP);
    expect_mem(v, DATA_ADDR, 4, 1);
    vm_end(v);

    v = vm_begin("lock add ebx, eax (register destination): #UD", 1);
    run(v, "f0 01 c3");
    expect_exc(v, EXC_UD);
    vm_end(v);
}

/* ---------------------------------------------------------------------------
 * MOV MOVZX MOVSX LEA BSWAP CBW... CMOVcc SETcc */
static void test_moves(void)
{
    struct vm *v;

    v = vm_begin("mov eax, [moffs]; mov [moffs], al", 1);
    put32(v, DATA_ADDR, 0xDEADBEEF);
    run(v, "a1 00 40 00 00 a2 04 40 00 00");
    expect_reg(v, R_EAX, 0xDEADBEEF);
    expect_mem(v, DATA_ADDR + 4, 1, 0xEF);
    vm_end(v);

    v = vm_begin("mov ah, 0x12", 1);
    set_reg(v, R_EAX, 0xAAAAAAAA);
    run(v, "b4 12");
    expect_reg(v, R_EAX, 0xAAAA12AA);
    vm_end(v);

    v = vm_begin("mov ax, 0x5678", 1);
    set_reg(v, R_EAX, 0xAAAAAAAA);
    run(v, "66 b8 78 56");
    expect_reg(v, R_EAX, 0xAAAA5678);
    vm_end(v);

    v = vm_begin("mov byte [m], 0x77", 1);
    run(v, "c6 05 00 40 00 00 77");
    expect_mem(v, DATA_ADDR, 1, 0x77);
    vm_end(v);

    v = vm_begin("movzx eax, byte [m]", 1);
    put8(v, DATA_ADDR, 0x80);
    run(v, "0f b6 05 00 40 00 00");
    expect_reg(v, R_EAX, 0x80);
    vm_end(v);

    v = vm_begin("movsx eax, bx", 1);
    set_reg(v, R_EBX, 0x1234FFFE);
    run(v, "0f bf c3");
    expect_reg(v, R_EAX, 0xFFFFFFFE);
    vm_end(v);

    v = vm_begin("movsx ax, bl", 1);
    set_reg(v, R_EAX, 0xAAAAAAAA); set_reg(v, R_EBX, 0x80);
    run(v, "66 0f be c3");
    expect_reg(v, R_EAX, 0xAAAAFF80);
    vm_end(v);

    v = vm_begin("lea eax, [ebx+ecx*4+8]", 1);
    set_reg(v, R_EBX, 0x100); set_reg(v, R_ECX, 0x10);
    run(v, "8d 44 8b 08");
    expect_reg(v, R_EAX, 0x148);
    vm_end(v);

    v = vm_begin("lea ax, [bx+si+1] (16-bit address wraps)", 1);
    set_reg(v, R_EAX, 0x12345678); set_reg(v, R_EBX, 0x1234FFFF); set_reg(v, R_ESI, 2);
    run(v, "66 67 8d 40 01");
    expect_reg(v, R_EAX, 0x12340002);
    vm_end(v);

    v = vm_begin("lea with a register operand: #UD", 1);
    run(v, "8d c0");
    expect_exc(v, EXC_UD);
    vm_end(v);

    v = vm_begin("c6 /1 (not MOV): #UD", 1);
    run(v, "c6 c8 00");
    expect_exc(v, EXC_UD);
    vm_end(v);

    v = vm_begin("bswap ecx", 1);
    set_reg(v, R_ECX, 0x12345678);
    run(v, "0f c9");
    expect_reg(v, R_ECX, 0x78563412);
    vm_end(v);

    v = vm_begin("cbw; cwd", 1);
    set_reg(v, R_EAX, 0x12345680); set_reg(v, R_EDX, 0x11111111);
    run(v, "66 98 66 99");
    expect_reg(v, R_EAX, 0x1234FF80);
    expect_reg(v, R_EDX, 0x1111FFFF);
    vm_end(v);

    v = vm_begin("cwde; cdq", 1);
    set_reg(v, R_EAX, 0x12348000);
    run(v, "98 99");
    expect_reg(v, R_EAX, 0xFFFF8000);
    expect_reg(v, R_EDX, 0xFFFFFFFF);
    vm_end(v);

    v = vm_begin("cmovne eax, [fs:0x5000] reads (and faults) when false", 1);
    set_flags(v, F_ZF);
    run(v, "64 0f 45 05 00 50 00 00");
    expect_exc(v, EXC_GP);
    vm_end(v);

    v = vm_begin("cmove eax, ebx", 1);
    set_flags(v, F_ZF);
    run(v, "0f 44 c3");
    expect_reg(v, R_EAX, v->expect[R_EBX]);
    vm_end(v);

    v = vm_begin("cmove eax, ebx (false)", 1);
    run(v, "0f 44 c3");
    vm_end(v);

    v = vm_begin("setc byte [m]; setnz al", 1);
    set_flags(v, F_CF | F_ZF); set_reg(v, R_EAX, 0x12345678); put8(v, DATA_ADDR, 0x55);
    run(v, "0f 92 05 00 40 00 00 0f 95 c0");
    expect_mem(v, DATA_ADDR, 1, 1);
    expect_reg(v, R_EAX, 0x12345600);
    vm_end(v);
}

/* ---------------------------------------------------------------------------
 * BCD and flag instructions */
static void test_bcd_flags(void)
{
    struct vm *v;

    v = vm_begin("add al, bl; daa (15 + 27)", 1);
    set_reg(v, R_EAX, 0x15); set_reg(v, R_EBX, 0x27);
    run(v, "00 d8 27");
    expect_reg(v, R_EAX, 0x42);
    expect_flags(v, F_CF | F_AF | F_ZF, F_AF);
    vm_end(v);

    v = vm_begin("add al, bl; daa (99 + 1)", 1);
    set_reg(v, R_EAX, 0x99); set_reg(v, R_EBX, 0x01);
    run(v, "00 d8 27");
    expect_reg(v, R_EAX, 0x00);
    expect_flags(v, F_CF | F_AF | F_ZF, F_CF | F_AF | F_ZF);
    vm_end(v);

    v = vm_begin("sub al, bl; das (42 - 27)", 1);
    set_reg(v, R_EAX, 0x42); set_reg(v, R_EBX, 0x27);
    run(v, "28 d8 2f");
    expect_reg(v, R_EAX, 0x15);
    expect_flags(v, F_CF | F_AF, F_AF);
    vm_end(v);

    v = vm_begin("add al, bl; aaa (9 + 8)", 1);
    set_reg(v, R_EAX, 0x09); set_reg(v, R_EBX, 0x08);
    run(v, "00 d8 37");
    expect_reg(v, R_EAX, 0x0107);
    expect_flags(v, F_CF | F_AF, F_CF | F_AF);
    vm_end(v);

    v = vm_begin("sub al, bl; aas (3 - 5)", 1);
    set_reg(v, R_EAX, 0x0203); set_reg(v, R_EBX, 0x05);
    /* sub al, bl: 03 - 05 = FE, AF = 1; aas: AX = 0x01F8 & 0xFF0F = 0x0108 */
    run(v, "28 d8 3f");
    expect_reg(v, R_EAX, 0x0108);
    expect_flags(v, F_CF | F_AF, F_CF | F_AF);
    vm_end(v);

    v = vm_begin("aam", 1);
    set_reg(v, R_EAX, 0x1234004F);
    run(v, "d4 0a");
    expect_reg(v, R_EAX, 0x12340709);
    expect_flags(v, F_ZF | F_SF | F_PF, F_PF);
    vm_end(v);

    v = vm_begin("aam 0: #DE", 1);
    run(v, "d4 00");
    expect_exc(v, EXC_DE);
    vm_end(v);

    v = vm_begin("aad", 1);
    set_reg(v, R_EAX, 0x12340709);
    run(v, "d5 0a");
    expect_reg(v, R_EAX, 0x1234004F);
    expect_flags(v, F_ZF | F_SF, 0);
    vm_end(v);

    v = vm_begin("stc; cmc; lahf", 1);
    set_reg(v, R_EAX, 0);
    set_flags(v, F_ZF | F_PF);
    run(v, "f9 f5 9f");
    expect_reg(v, R_EAX, 0x4600);
    expect_flags(v, OSZAPC, F_ZF | F_PF);
    vm_end(v);

    v = vm_begin("sahf keeps OF", 1);
    set_reg(v, R_EAX, 0xD500); set_flags(v, F_OF);
    run(v, "9e");
    expect_flags(v, OSZAPC, OSZAPC);
    vm_end(v);

    v = vm_begin("salc", 1);
    set_reg(v, R_EAX, 0x12345600); set_flags(v, F_CF);
    run(v, "d6");
    expect_reg(v, R_EAX, 0x123456FF);
    vm_end(v);

    v = vm_begin("clc; nop; pause", 1);
    set_flags(v, F_CF | F_ZF);
    run(v, "f8 90 f3 90");
    expect_flags(v, OSZAPC, F_ZF);
    vm_end(v);
}

int main(void)
{
    test_alu();
    test_incdec();
    test_muldiv();
    test_shifts();
    test_bits();
    test_atomics();
    test_moves();
    test_bcd_flags();
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
