/* Unit tests of the system instructions (cpu/ops_system.c) through the public API:
 * CPUID, MSRs, control and debug registers, descriptor-table registers,
 * LAR/LSL/VERR/VERW, SYSENTER/SYSEXIT, privilege faults at CPL 3.
 *
 * Each case copies a few instruction bytes into RAM (a fresh address each time)
 * ending with UD2, and runs until the first exception: the exception hook
 * records it and leaves cpu_run with longjmp, so no IDT or delivery is involved.
 * #UD at the UD2 means the code ran to its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/memory.h"
#include "cpu/ioport.h"

#define RAM_SIZE   (4u << 20)
#define GDT_BASE   0x1000u
#define GDT_LIMIT  0x7Fu
#define SCRATCH    0x3000u      /* data the code reads and writes */
#define CODE_FIRST 0x9000u       /* below 64 KiB: the real-mode cases run here too */

/* Selectors of the test GDT. */
enum {
    SEL_CODE0 = 0x08, SEL_DATA0 = 0x10, SEL_CODE3 = 0x18, SEL_DATA3 = 0x20,
    SEL_LDT = 0x28, SEL_TSS = 0x30, SEL_INTGATE = 0x38, SEL_CALLGATE3 = 0x40,
    SEL_DATA0_G = 0x48, SEL_CONFORMING0 = 0x50, SEL_EXECONLY0 = 0x58,
    SEL_RODATA3 = 0x60, SEL_SYS_TYPE0 = 0x68, SEL_DATA0_BYTES = 0x70,
};

/* Access byte | (G, D/B) << 8, as struct cpu_segment_state wants. */
#define FLAGS_CODE32(dpl) (0xC09Bu | (dpl) << 5)
#define FLAGS_DATA32(dpl) (0xC093u | (dpl) << 5)

static struct memory *mem;
static struct ioports *io;
static struct cpu *cpu;
static uint32_t code_next = CODE_FIRST;

static jmp_buf exc_jmp;
static int exc_vec;
static uint32_t exc_err;
static int exc_has_err;

#include "tests/check.h"

static void on_exception(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    exc_vec = vector;
    exc_err = error;
    exc_has_err = has_error;
    longjmp(exc_jmp, 1);
}

/* Run `len` bytes of code (UD2 appended) at a fresh address. Returns the vector of
 * the first exception, or -1 if the budget ran out. *at gets the code address. */
static int run_at(const uint8_t *code, size_t len, uint32_t *at)
{
    static const uint8_t ud2[2] = { 0x0F, 0x0B };
    uint32_t addr = code_next;
    code_next += (uint32_t)((len + 2 + 15) & ~15u);
    memory_write(mem, addr, code, (uint32_t)len);
    memory_write(mem, addr + (uint32_t)len, ud2, 2);
    if (at) *at = addr;
    cpu_set_eip(cpu, addr);
    exc_vec = -1;
    if (setjmp(exc_jmp) == 0)
        cpu_run(cpu, 1000);
    return exc_vec;
}

/* The code must run to its UD2. */
static void run_ok(const char *what, const uint8_t *code, size_t len)
{
    uint32_t at;
    int v = run_at(code, len, &at);
    check(v == 6 && cpu_get_eip(cpu) == at + len, "%s: ran to the end (vector %d, eip %08x, want %08x)",
          what, v, cpu_get_eip(cpu), at + (uint32_t)len);
}

/* The first instruction must raise `vec` (with `err` if it has an error code). */
static void run_fault(const char *what, const uint8_t *code, size_t len, int vec, uint32_t err)
{
    uint32_t at;
    int v = run_at(code, len, &at);
    int ok = v == vec && cpu_get_eip(cpu) == at && (!exc_has_err || exc_err == err);
    check(ok, "%s: want vector %d err %x at %08x, got vector %d err %x at %08x", what, vec, err, at,
          v, exc_err, cpu_get_eip(cpu));
}

#define RUN_OK(what, ...) do { const uint8_t c_[] = { __VA_ARGS__ }; run_ok(what, c_, sizeof c_); } while (0)
#define RUN_FAULT(what, vec, err, ...) \
    do { const uint8_t c_[] = { __VA_ARGS__ }; run_fault(what, c_, sizeof c_, vec, err); } while (0)

/* ---------------------------------------------------------------------------
 * Machine set-up. */

static uint64_t make_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t gdb)
{
    uint64_t d = (limit & 0xFFFFu) | (uint64_t)(base & 0xFFFFFFu) << 16;
    d |= (uint64_t)access << 40;
    d |= (uint64_t)((limit >> 16) & 0xF) << 48;
    d |= (uint64_t)(gdb & 0xF0) << 48;
    d |= (uint64_t)(base >> 24) << 56;
    return d;
}

static void write32(uint32_t addr, uint32_t v) { memory_write32(mem, addr, v); }
static uint32_t read32(uint32_t addr) { return memory_read32(mem, addr); }

static void write_desc(uint16_t sel, uint64_t d)
{
    write32(GDT_BASE + sel, (uint32_t)d);
    write32(GDT_BASE + sel + 4, (uint32_t)(d >> 32));
}

static void build_gdt(void)
{
    write_desc(SEL_CODE0, make_desc(0, 0xFFFFF, 0x9B, 0xC0));
    write_desc(SEL_DATA0, make_desc(0, 0xFFFFF, 0x93, 0xC0));
    write_desc(SEL_CODE3, make_desc(0, 0xFFFFF, 0xFB, 0xC0));
    write_desc(SEL_DATA3, make_desc(0, 0xFFFFF, 0xF3, 0xC0));
    write_desc(SEL_LDT, make_desc(0x5000, 0x1F, 0x82, 0x00));          /* LDT, DPL 0 */
    write_desc(SEL_TSS, make_desc(0x6000, 0x67, 0x89, 0x00));          /* 32-bit TSS, DPL 0 */
    write_desc(SEL_INTGATE, make_desc(0x00080000, 0x1234, 0x8E, 0x00)); /* interrupt gate */
    write_desc(SEL_CALLGATE3, make_desc(0x00080000, 0x1234, 0xEC, 0x00)); /* call gate, DPL 3 */
    write_desc(SEL_DATA0_G, make_desc(0, 0xFFFFF, 0x93, 0xC0));
    write_desc(SEL_CONFORMING0, make_desc(0, 0xFFFF, 0x9F, 0x40));     /* conforming readable code */
    write_desc(SEL_EXECONLY0, make_desc(0, 0xFFFF, 0x99, 0x40));       /* execute-only code */
    write_desc(SEL_RODATA3, make_desc(0x7000, 0xFFF, 0xF1, 0x40));     /* read-only data, DPL 3 */
    write_desc(SEL_SYS_TYPE0, make_desc(0, 0xFFFF, 0x80, 0x00));       /* reserved system type 0 */
    write_desc(SEL_DATA0_BYTES, make_desc(0, 0x12345, 0x93, 0x40));    /* byte-granular limit */
}

static void set_flat(int seg, uint16_t sel, uint16_t flags)
{
    struct cpu_segment_state s = { sel, 0, 0xFFFFFFFFu, flags };
    cpu_set_seg(cpu, seg, &s);
}

/* 32-bit protected mode, flat segments at CPL `cpl`. */
static void enter_pmode(int cpl)
{
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET);
    set_flat(S_CS, cpl ? SEL_CODE3 | 3 : SEL_CODE0, FLAGS_CODE32(cpl ? 3u : 0u));
    uint16_t dsel = cpl ? SEL_DATA3 | 3 : SEL_DATA0;
    uint16_t dfl = FLAGS_DATA32(cpl ? 3u : 0u);
    set_flat(S_SS, dsel, dfl);
    set_flat(S_DS, dsel, dfl);
    set_flat(S_ES, dsel, dfl);
    set_flat(S_FS, dsel, dfl);
    set_flat(S_GS, dsel, dfl);
    cpu_set_eflags(cpu, 0x2);
    cpu_set_reg(cpu, R_ESP, 0x8000);
}

/* ---------------------------------------------------------------------------
 * Real mode: LGDT/LIDT/SGDT/SIDT with both operand sizes, what does not exist there. */

static void test_real_mode(void)
{
    cpu_reset(cpu);
    cpu_set_seg_real(cpu, S_CS, 0);
    cpu_set_seg_real(cpu, S_DS, 0);
    cpu_set_seg_real(cpu, S_SS, 0);
    cpu_set_reg(cpu, R_ESP, 0x8000);

    /* LGDT with 16-bit operand size keeps 24 bits of the base. */
    write32(0x500, 0x20000000u | GDT_LIMIT);   /* limit, base bytes 0-1 */
    write32(0x504, 0xFF00);                      /* base bytes 2-3: base = 0xFF002000 */
    RUN_OK("lgdt16", 0x0F, 0x01, 0x16, 0x00, 0x05);                  /* lgdt [0x500] */
    RUN_OK("sgdt32 (real mode)", 0x66, 0x0F, 0x01, 0x06, 0x10, 0x05); /* o32 sgdt [0x510] */
    check((read32(0x510) & 0xFFFF) == GDT_LIMIT && read32(0x512) == 0x002000,
          "lgdt16 base %08x limit %04x", read32(0x512), read32(0x510) & 0xFFFF);

    /* LIDT with 32-bit operand size keeps the full base; SIDT16 stores the top byte as 0. */
    write32(0x520, 0x56780000u | 0x3FF);
    write32(0x524, 0x1234);
    RUN_OK("lidt32", 0x66, 0x0F, 0x01, 0x1E, 0x20, 0x05);             /* o32 lidt [0x520] */
    write32(0x530, 0xFFFFFFFFu);
    write32(0x534, 0xFFFFFFFFu);
    RUN_OK("sidt16", 0x0F, 0x01, 0x0E, 0x30, 0x05);                   /* sidt [0x530] */
    check(read32(0x530) == 0x56780000u + 0x3FF && read32(0x534) == 0xFFFF0034u,
          "sidt16 stored %08x %08x", read32(0x530), read32(0x534));
    RUN_OK("sidt32", 0x66, 0x0F, 0x01, 0x0E, 0x30, 0x05);
    check(read32(0x532) == 0x12345678u, "sidt32 base %08x", read32(0x532));

    /* The real GDT, for the protected-mode tests. */
    write32(0x540, (GDT_BASE << 16) | GDT_LIMIT);
    write32(0x544, 0);
    RUN_OK("lgdt32", 0x66, 0x0F, 0x01, 0x16, 0x40, 0x05);

    RUN_FAULT("lar in real mode", 6, 0, 0x0F, 0x02, 0xC3);
    RUN_FAULT("sldt in real mode", 6, 0, 0x0F, 0x00, 0xC0);
    RUN_FAULT("verr in real mode", 6, 0, 0x0F, 0x00, 0xE3);
    RUN_FAULT("arpl in real mode", 6, 0, 0x63, 0xD8);
    RUN_FAULT("sysenter in real mode", 13, 0, 0x0F, 0x34);
    cpu_set_reg(cpu, R_EAX, 0);
    RUN_OK("mov eax,cr0 in real mode", 0x66, 0x0F, 0x20, 0xC0);
    check(cpu_get_reg(cpu, R_EAX) == cpu_get_cr(cpu, 0), "mov eax,cr0 = %08x", cpu_get_reg(cpu, R_EAX));
    cpu_set_reg(cpu, R_ECX, 0x174);
    RUN_OK("rdmsr in real mode", 0x0F, 0x32);
}

/* ---------------------------------------------------------------------------
 * CPUID. */

static void cpuid(uint32_t leaf, uint32_t r[4])
{
    cpu_set_reg(cpu, R_EAX, leaf);
    cpu_set_reg(cpu, R_ECX, 0);
    RUN_OK("cpuid", 0x0F, 0xA2);
    r[0] = cpu_get_reg(cpu, R_EAX);
    r[1] = cpu_get_reg(cpu, R_EBX);
    r[2] = cpu_get_reg(cpu, R_ECX);
    r[3] = cpu_get_reg(cpu, R_EDX);
}

static void test_cpuid(void)
{
    enter_pmode(0);
    uint32_t r[4], leaf2[4];
    cpuid(0, r);
    char vendor[13];
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    vendor[12] = 0;
    check(r[0] == 2 && strcmp(vendor, "GenuineIntel") == 0, "cpuid 0: max %u vendor %s", r[0], vendor);

    cpuid(1, r);
    check(r[0] == 0x633, "cpuid 1 signature %08x", r[0]);
    /* DE PSE TSC MSR CX8 SEP MTRR PGE CMOV PAT; bit 0 (FPU) follows the x87. */
    check((r[3] & ~1u) == 0x0001B93Cu, "cpuid 1 edx %08x", r[3]);
    check(r[1] == 0 && r[2] == 0, "cpuid 1 ebx %08x ecx %08x", r[1], r[2]);

    cpuid(2, leaf2);
    check((leaf2[0] & 0xFF) == 1 && !(leaf2[0] & 0x80000000u), "cpuid 2 eax %08x", leaf2[0]);

    cpuid(0x80000000u, r);
    check(r[0] == 0x80000004u, "cpuid 80000000 eax %08x", r[0]);
    char brand[49] = { 0 };
    for (uint32_t l = 0; l < 3; l++) {
        cpuid(0x80000002u + l, r);
        memcpy(brand + 16 * l, r, 16);
    }
    check(strcmp(brand, "Bubble i686 virtual CPU") == 0, "brand \"%s\"", brand);

    /* Beyond the maxima: the highest basic leaf. */
    cpuid(3, r);
    check(memcmp(r, leaf2, sizeof r) == 0, "cpuid 3 = leaf 2");
    cpuid(0x80000005u, r);
    check(memcmp(r, leaf2, sizeof r) == 0, "cpuid 80000005 = leaf 2");
    cpuid(0x40000000u, r);
    check(memcmp(r, leaf2, sizeof r) == 0, "cpuid 40000000 = leaf 2");
}

/* ---------------------------------------------------------------------------
 * MSRs. */

static int wrmsr(uint32_t msr, uint64_t v)
{
    cpu_set_reg(cpu, R_ECX, msr);
    cpu_set_reg(cpu, R_EAX, (uint32_t)v);
    cpu_set_reg(cpu, R_EDX, (uint32_t)(v >> 32));
    static const uint8_t code[] = { 0x0F, 0x30 };
    uint32_t at;
    int vec = run_at(code, sizeof code, &at);
    return vec == 6 ? 0 : vec;
}

static int rdmsr(uint32_t msr, uint64_t *v)
{
    cpu_set_reg(cpu, R_ECX, msr);
    static const uint8_t code[] = { 0x0F, 0x32 };
    uint32_t at;
    int vec = run_at(code, sizeof code, &at);
    *v = cpu_get_reg(cpu, R_EAX) | (uint64_t)cpu_get_reg(cpu, R_EDX) << 32;
    return vec == 6 ? 0 : vec;
}

static void check_msr_roundtrip(uint32_t msr, uint64_t v)
{
    uint64_t got = 0;
    int w = wrmsr(msr, v), r = rdmsr(msr, &got);
    check(w == 0 && r == 0 && got == v, "msr %x: wrote %llx (vec %d), read %llx (vec %d)", msr,
          (unsigned long long)v, w, (unsigned long long)got, r);
}

static void test_msr(void)
{
    enter_pmode(0);
    uint64_t v = 0;
    check_msr_roundtrip(0x174, 0x08);
    check_msr_roundtrip(0x175, 0xC0001000u);
    check_msr_roundtrip(0x176, 0xC0002000u);
    check_msr_roundtrip(0x1B, 0xFEE00900u);
    check_msr_roundtrip(0x1A0, 0x1);
    check_msr_roundtrip(0x200, 0x0000000F00000006ull);   /* variable base, WB */
    check_msr_roundtrip(0x201, 0x0000000FF0000800ull);   /* variable mask, valid */
    check_msr_roundtrip(0x20F, 0x0000000FFF000800ull);
    check_msr_roundtrip(0x250, 0x0606060606060606ull);
    check_msr_roundtrip(0x26F, 0x0500050005000500ull);
    check_msr_roundtrip(0x2FF, 0xC06);
    check_msr_roundtrip(0x277, 0x0007010600070106ull);
    check_msr_roundtrip(0x8B, 0);

    check(rdmsr(0xFE, &v) == 0 && v == 0x508, "mtrrcap %llx", (unsigned long long)v);
    check(wrmsr(0xFE, 0) == 13, "mtrrcap is read-only");
    check(wrmsr(0x200, 0x0000000000000002ull) == 13, "mtrr type 2 is #GP");
    check(wrmsr(0x200, 0x0000001000000006ull) == 13, "mtrr base beyond 36 bits is #GP");
    check(wrmsr(0x201, 0x0000000FF0000400ull) == 13, "mtrr mask reserved bit is #GP");
    check(wrmsr(0x2FF, 0x1006) == 13, "mtrr def type reserved bit is #GP");
    check(wrmsr(0x277, 0x0007040600070402ull) == 13, "pat type 2 is #GP");
    check(rdmsr(0x179, &v) == 0 && v == 0, "mcg_cap %llx", (unsigned long long)v);
    check(rdmsr(0x17A, &v) == 0 && v == 0, "mcg_status %llx", (unsigned long long)v);
    check(rdmsr(0x17, &v) == 0, "platform id readable");
    check(rdmsr(0x2A, &v) == 0, "ebl_cr_poweron readable");
    check(rdmsr(0x12345, &v) == 13, "unknown msr read is #GP");
    check(wrmsr(0xC0000080u, 0) == 13, "unknown msr write is #GP (no EFER)");

    /* TSC: WRMSR writes the low 32 bits and clears the high ones (P6); it then counts on. */
    check(wrmsr(0x10, 0x123456789ABCull) == 0, "wrmsr tsc");
    check(rdmsr(0x10, &v) == 0 && v >= 0x56789ABCull && v < 0x56789ABCull + 100,
          "tsc after write %llx", (unsigned long long)v);
    RUN_OK("rdtsc", 0x0F, 0x31);
    uint64_t t = cpu_get_reg(cpu, R_EAX) | (uint64_t)cpu_get_reg(cpu, R_EDX) << 32;
    check(t > v && t < v + 100, "rdtsc %llx after %llx", (unsigned long long)t, (unsigned long long)v);

    cpu_set_reg(cpu, R_ECX, 1);
    cpu_set_reg(cpu, R_EAX, 0xDEAD);
    RUN_OK("rdpmc 1", 0x0F, 0x33);
    check(cpu_get_reg(cpu, R_EAX) == 0 && cpu_get_reg(cpu, R_EDX) == 0, "rdpmc 1 reads 0");
    cpu_set_reg(cpu, R_ECX, 2);
    RUN_FAULT("rdpmc 2", 13, 0, 0x0F, 0x33);
}

/* ---------------------------------------------------------------------------
 * Control and debug registers at CPL 0. */

static void test_control_registers(void)
{
    enter_pmode(0);
    uint32_t cr0 = cpu_get_cr(cpu, 0);

    cpu_set_reg(cpu, R_EAX, CR0_PG | CR0_ET);
    RUN_FAULT("cr0 PG without PE", 13, 0, 0x0F, 0x22, 0xC0);
    cpu_set_reg(cpu, R_EAX, CR0_PE | CR0_NW | CR0_ET);
    RUN_FAULT("cr0 NW without CD", 13, 0, 0x0F, 0x22, 0xC0);
    check(cpu_get_cr(cpu, 0) == cr0, "cr0 unchanged after faults");

    /* Reserved CR0 bits are ignored; ET stays 1. */
    cpu_set_reg(cpu, R_EAX, CR0_PE | CR0_MP | 0x00000F00u);
    RUN_OK("mov cr0", 0x0F, 0x22, 0xC0, 0x0F, 0x20, 0xC3);   /* mov cr0,eax; mov ebx,cr0 */
    check(cpu_get_reg(cpu, R_EBX) == (CR0_PE | CR0_MP | CR0_ET), "cr0 read back %08x", cpu_get_reg(cpu, R_EBX));

    cpu_set_reg(cpu, R_EAX, 0x12345FFFu);
    RUN_OK("mov cr3", 0x0F, 0x22, 0xD8, 0x0F, 0x20, 0xDA);   /* mov cr3,eax; mov edx,cr3 */
    check(cpu_get_reg(cpu, R_EDX) == 0x12345018u, "cr3 read back %08x", cpu_get_reg(cpu, R_EDX));

    cpu_set_reg(cpu, R_EAX, CR4_PSE | CR4_PGE | CR4_TSD | CR4_DE | 0x100);
    RUN_OK("mov cr4", 0x0F, 0x22, 0xE0, 0x0F, 0x20, 0xE6);   /* mov cr4,eax; mov esi,cr4 */
    check(cpu_get_reg(cpu, R_ESI) == (CR4_PSE | CR4_PGE | CR4_TSD | CR4_DE | 0x100),
          "cr4 read back %08x", cpu_get_reg(cpu, R_ESI));
    cpu_set_reg(cpu, R_EAX, 0x20);   /* PAE: not reported, reserved */
    RUN_FAULT("cr4 PAE", 13, 0, 0x0F, 0x22, 0xE0);
    cpu_set_reg(cpu, R_EAX, 0x200);  /* OSFXSR: no FXSR */
    RUN_FAULT("cr4 OSFXSR", 13, 0, 0x0F, 0x22, 0xE0);
    cpu_set_reg(cpu, R_EAX, CR4_VME); /* VME: not reported */
    RUN_FAULT("cr4 VME", 13, 0, 0x0F, 0x22, 0xE0);

    RUN_FAULT("mov eax,cr1", 6, 0, 0x0F, 0x20, 0xC8);
    RUN_FAULT("mov cr5,eax", 6, 0, 0x0F, 0x22, 0xE8);
    RUN_FAULT("mov eax,cr6", 6, 0, 0x0F, 0x20, 0xF0);
    RUN_FAULT("mov cr7,eax", 6, 0, 0x0F, 0x22, 0xF8);

    /* SMSW to a 32-bit register: the whole CR0; LMSW cannot clear PE. */
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET | CR0_TS | CR0_NE | CR0_WP);
    cpu_set_reg(cpu, R_EAX, 0xFFFFFFFFu);
    RUN_OK("smsw eax", 0x0F, 0x01, 0xE0);
    check(cpu_get_reg(cpu, R_EAX) == (CR0_PE | CR0_ET | CR0_TS | CR0_NE | CR0_WP), "smsw eax %08x",
          cpu_get_reg(cpu, R_EAX));
    RUN_OK("smsw ax", 0x66, 0x0F, 0x01, 0xE0);
    cpu_set_reg(cpu, R_EBX, 0x0006);   /* MP EM, PE clear, TS clear */
    RUN_OK("lmsw bx", 0x0F, 0x01, 0xF3);
    check(cpu_get_cr(cpu, 0) == (CR0_PE | CR0_MP | CR0_EM | CR0_ET | CR0_NE | CR0_WP), "lmsw: cr0 %08x",
          cpu_get_cr(cpu, 0));
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET | CR0_TS);
    RUN_OK("clts", 0x0F, 0x06);
    check(cpu_get_cr(cpu, 0) == (CR0_PE | CR0_ET), "clts: cr0 %08x", cpu_get_cr(cpu, 0));

    RUN_OK("wbinvd invd", 0x0F, 0x09, 0x0F, 0x08);
    cpu_set_reg(cpu, R_EAX, 0x400000);
    RUN_OK("invlpg", 0x0F, 0x01, 0x38);
    RUN_FAULT("rsm", 6, 0, 0x0F, 0xAA);
    RUN_FAULT("invlpg register form", 6, 0, 0x0F, 0x01, 0xF8);
    RUN_FAULT("lgdt register form", 6, 0, 0x0F, 0x01, 0xD0);
    RUN_FAULT("lds register form", 6, 0, 0xC5, 0xC0);
    RUN_FAULT("mov cs,ax", 6, 0, 0x8E, 0xC8);
    RUN_FAULT("mov ax,sreg7", 6, 0, 0x8C, 0xF8);

    /* Debug registers. */
    cpu_set_cr(cpu, 4, 0);
    RUN_OK("mov eax,dr4 (=dr6)", 0x0F, 0x21, 0xE0);
    check(cpu_get_reg(cpu, R_EAX) == 0xFFFF0FF0u, "dr6 %08x", cpu_get_reg(cpu, R_EAX));
    cpu_set_reg(cpu, R_EAX, 0x12345678u);
    RUN_OK("mov dr0", 0x0F, 0x23, 0xC0, 0x0F, 0x21, 0xC3);   /* mov dr0,eax; mov ebx,dr0 */
    check(cpu_get_reg(cpu, R_EBX) == 0x12345678u, "dr0 %08x", cpu_get_reg(cpu, R_EBX));
    cpu_set_reg(cpu, R_EAX, 0);
    RUN_OK("mov dr5 (=dr7)", 0x0F, 0x23, 0xE8, 0x0F, 0x21, 0xFB);   /* mov dr5,eax; mov ebx,dr7 */
    check(cpu_get_reg(cpu, R_EBX) == 0x400, "dr7 %08x", cpu_get_reg(cpu, R_EBX));
    cpu_set_cr(cpu, 4, CR4_DE);
    RUN_FAULT("dr4 with CR4.DE", 6, 0, 0x0F, 0x21, 0xE0);
    cpu_set_cr(cpu, 4, 0);
    /* DR7.GD: the next access is #DB with DR6.BD, and GD is cleared. */
    cpu_set_reg(cpu, R_EAX, 0x2000);
    RUN_OK("set dr7.gd", 0x0F, 0x23, 0xF8);
    RUN_FAULT("dr access with GD", 1, 0, 0x0F, 0x21, 0xC0);
    RUN_OK("dr6 after GD", 0x0F, 0x21, 0xF0);
    check(cpu_get_reg(cpu, R_EAX) & 0x2000, "dr6.BD set: %08x", cpu_get_reg(cpu, R_EAX));
    RUN_OK("dr7 after GD", 0x0F, 0x21, 0xF8);
    check(cpu_get_reg(cpu, R_EAX) == 0x400, "dr7.GD cleared: %08x", cpu_get_reg(cpu, R_EAX));
}

/* ---------------------------------------------------------------------------
 * Segment registers, LAR LSL VERR VERW, SLDT STR, ARPL. */

static int zf(void) { return (cpu_get_eflags(cpu) & F_ZF) != 0; }

/* Run `op eax,bx` (or `op bx`) with BX = sel and ZF preset to `zf_before`
 * (the opposite of the expected result); returns ZF, *out gets EAX. */
static int sel_op(const uint8_t *code, size_t len, uint16_t sel, uint32_t *out, int zf_before)
{
    cpu_set_reg(cpu, R_EBX, sel);
    cpu_set_reg(cpu, R_EAX, 0xAAAAAAAAu);
    cpu_set_eflags(cpu, (cpu_get_eflags(cpu) & ~F_ZF) | (zf_before ? F_ZF : 0));
    run_ok("selector op", code, len);
    if (out) *out = cpu_get_reg(cpu, R_EAX);
    return zf();
}

static const uint8_t LAR32[] = { 0x0F, 0x02, 0xC3 }, LAR16[] = { 0x66, 0x0F, 0x02, 0xC3 };
static const uint8_t LSL32[] = { 0x0F, 0x03, 0xC3 }, LSL16[] = { 0x66, 0x0F, 0x03, 0xC3 };
static const uint8_t VERR[] = { 0x0F, 0x00, 0xE3 }, VERW[] = { 0x0F, 0x00, 0xEB };

static void expect_lar(uint16_t sel, int ok, uint32_t rights)
{
    uint32_t v;
    int z = sel_op(LAR32, sizeof LAR32, sel, &v, !ok);
    if (ok) check(z && v == rights, "lar %04x: zf %d eax %08x want %08x", sel, z, v, rights);
    else check(!z && v == 0xAAAAAAAAu, "lar %04x: zf %d eax %08x want failure", sel, z, v);
}

static void expect_lsl(uint16_t sel, int ok, uint32_t limit)
{
    uint32_t v;
    int z = sel_op(LSL32, sizeof LSL32, sel, &v, !ok);
    if (ok) check(z && v == limit, "lsl %04x: zf %d eax %08x want %08x", sel, z, v, limit);
    else check(!z && v == 0xAAAAAAAAu, "lsl %04x: zf %d eax %08x want failure", sel, z, v);
}

static void expect_verr_verw(uint16_t sel, int r, int w)
{
    int zr = sel_op(VERR, sizeof VERR, sel, NULL, !r);
    int zw = sel_op(VERW, sizeof VERW, sel, NULL, !w);
    check(zr == r && zw == w, "verr/verw %04x: %d %d want %d %d", sel, zr, zw, r, w);
}

static void test_descriptors_cpl0(void)
{
    enter_pmode(0);
    expect_lar(SEL_CODE0, 1, 0x00C09B00u);
    expect_lar(SEL_DATA3 | 3, 1, 0x00C0F300u);
    expect_lar(SEL_LDT, 1, 0x00008200u);
    expect_lar(SEL_TSS, 1, 0x00008900u);
    expect_lar(SEL_CALLGATE3, 1, 0x0000EC00u);
    expect_lar(SEL_INTGATE, 0, 0);
    expect_lar(SEL_SYS_TYPE0, 0, 0);
    expect_lar(0, 0, 0);
    expect_lar(3, 0, 0);
    expect_lar(GDT_LIMIT + 1, 0, 0);    /* beyond the GDT */
    expect_lar(0x0C, 0, 0);             /* LDT selector with no LDT */
    expect_lar(SEL_DATA0 | 3, 0, 0);    /* RPL 3 > DPL 0 */
    expect_lar(SEL_CONFORMING0 | 3, 1, 0x00409F00u);   /* conforming: no privilege check */
    uint32_t v;
    int z = sel_op(LAR16, sizeof LAR16, SEL_CODE0, &v, 0);
    check(z && v == 0xAAAA9B00u, "lar16: zf %d eax %08x", z, v);

    expect_lsl(SEL_DATA0_G, 1, 0xFFFFFFFFu);
    expect_lsl(SEL_DATA0_BYTES, 1, 0x12345);
    expect_lsl(SEL_TSS, 1, 0x67);
    expect_lsl(SEL_LDT, 1, 0x1F);
    expect_lsl(SEL_CALLGATE3, 0, 0);    /* gates have no limit */
    expect_lsl(SEL_INTGATE, 0, 0);
    expect_lsl(0, 0, 0);
    z = sel_op(LSL16, sizeof LSL16, SEL_DATA0_BYTES, &v, 0);
    check(z && v == 0xAAAA2345u, "lsl16: zf %d eax %08x", z, v);

    expect_verr_verw(SEL_DATA0, 1, 1);
    expect_verr_verw(SEL_CODE0, 1, 0);
    expect_verr_verw(SEL_EXECONLY0, 0, 0);
    expect_verr_verw(SEL_RODATA3, 1, 0);
    expect_verr_verw(SEL_TSS, 0, 0);
    expect_verr_verw(0, 0, 0);

    /* SLDT/STR/MOV from Sreg to a 32-bit register zero-extend; 16-bit keep the top. */
    cpu_set_reg(cpu, R_EAX, 0xFFFFFFFFu);
    cpu_set_reg(cpu, R_ECX, 0xFFFFFFFFu);
    RUN_OK("sldt eax; str ecx", 0x0F, 0x00, 0xC0, 0x0F, 0x00, 0xC9);
    check(cpu_get_reg(cpu, R_EAX) == 0 && cpu_get_reg(cpu, R_ECX) == 0, "sldt %08x str %08x",
          cpu_get_reg(cpu, R_EAX), cpu_get_reg(cpu, R_ECX));
    cpu_set_reg(cpu, R_EAX, 0xFFFFFFFFu);
    cpu_set_reg(cpu, R_EDX, 0xFFFFFFFFu);
    RUN_OK("mov eax,ds; mov dx,cs", 0x8C, 0xD8, 0x66, 0x8C, 0xCA);
    check(cpu_get_reg(cpu, R_EAX) == SEL_DATA0 && cpu_get_reg(cpu, R_EDX) == (0xFFFF0000u | SEL_CODE0),
          "mov from sreg: eax %08x edx %08x", cpu_get_reg(cpu, R_EAX), cpu_get_reg(cpu, R_EDX));
    write32(SCRATCH, 0xFFFFFFFFu);
    cpu_set_reg(cpu, R_ESI, SCRATCH);
    RUN_OK("mov [esi],ds", 0x8C, 0x1E);
    check(read32(SCRATCH) == (0xFFFF0000u | SEL_DATA0), "mov [esi],ds wrote %08x", read32(SCRATCH));

    /* ARPL ax,bx */
    cpu_set_reg(cpu, R_EAX, 0x12340011u);
    cpu_set_reg(cpu, R_EBX, 0x3);
    RUN_OK("arpl adjust", 0x63, 0xD8);
    check(cpu_get_reg(cpu, R_EAX) == 0x12340013u && zf(), "arpl: %08x zf %d", cpu_get_reg(cpu, R_EAX), zf());
    cpu_set_reg(cpu, R_EBX, 0x1);
    RUN_OK("arpl keep", 0x63, 0xD8);
    check(cpu_get_reg(cpu, R_EAX) == 0x12340013u && !zf(), "arpl keep: %08x zf %d", cpu_get_reg(cpu, R_EAX), zf());

    /* SGDT/SIDT in protected mode, 32-bit operand size. */
    cpu_set_reg(cpu, R_ESI, SCRATCH + 0x10);
    RUN_OK("sgdt [esi]", 0x0F, 0x01, 0x06);
    check((read32(SCRATCH + 0x10) & 0xFFFF) == GDT_LIMIT && read32(SCRATCH + 0x12) == GDT_BASE,
          "sgdt: %08x %08x", read32(SCRATCH + 0x10), read32(SCRATCH + 0x12));
}

/* ---------------------------------------------------------------------------
 * CPL 3: privileged instructions fault, the unprivileged ones work. */

static void test_cpl3(void)
{
    enter_pmode(3);
    RUN_FAULT("mov cr0,eax at cpl3", 13, 0, 0x0F, 0x22, 0xC0);
    RUN_FAULT("mov eax,cr3 at cpl3", 13, 0, 0x0F, 0x20, 0xD8);
    RUN_FAULT("mov eax,cr1 at cpl3 (#UD first)", 6, 0, 0x0F, 0x20, 0xC8);
    RUN_FAULT("mov eax,dr7 at cpl3", 13, 0, 0x0F, 0x21, 0xF8);
    RUN_FAULT("rdmsr at cpl3", 13, 0, 0x0F, 0x32);
    RUN_FAULT("wrmsr at cpl3", 13, 0, 0x0F, 0x30);
    RUN_FAULT("clts at cpl3", 13, 0, 0x0F, 0x06);
    RUN_FAULT("wbinvd at cpl3", 13, 0, 0x0F, 0x09);
    RUN_FAULT("lmsw at cpl3", 13, 0, 0x0F, 0x01, 0xF0);
    cpu_set_reg(cpu, R_ESI, SCRATCH);
    RUN_FAULT("lgdt at cpl3", 13, 0, 0x0F, 0x01, 0x16);
    RUN_FAULT("lidt at cpl3", 13, 0, 0x0F, 0x01, 0x1E);
    RUN_FAULT("invlpg at cpl3", 13, 0, 0x0F, 0x01, 0x3E);
    RUN_FAULT("lldt at cpl3", 13, 0, 0x0F, 0x00, 0xD0);
    RUN_FAULT("ltr at cpl3", 13, 0, 0x0F, 0x00, 0xD8);
    RUN_FAULT("sysexit at cpl3", 13, 0, 0x0F, 0x35);
    cpu_set_reg(cpu, R_ECX, 0);
    RUN_FAULT("rdpmc at cpl3 without PCE", 13, 0, 0x0F, 0x33);

    RUN_OK("smsw, sgdt, sidt, sldt, str at cpl3", 0x0F, 0x01, 0xE0, 0x0F, 0x01, 0x06, 0x0F, 0x01, 0x0E,
           0x0F, 0x00, 0xC0, 0x0F, 0x00, 0xC8);
    RUN_OK("rdtsc at cpl3", 0x0F, 0x31);
    RUN_OK("cpuid at cpl3", 0x0F, 0xA2);
    cpu_set_cr(cpu, 4, CR4_TSD | 0x100);   /* TSD, PCE */
    RUN_FAULT("rdtsc at cpl3 with TSD", 13, 0, 0x0F, 0x31);
    cpu_set_reg(cpu, R_ECX, 0);
    RUN_OK("rdpmc at cpl3 with PCE", 0x0F, 0x33);
    cpu_set_cr(cpu, 4, 0);

    expect_lar(SEL_DATA0, 0, 0);            /* DPL 0 < CPL 3 */
    expect_lar(SEL_DATA3 | 3, 1, 0x00C0F300u);
    expect_lar(SEL_CONFORMING0, 1, 0x00409F00u);
    expect_lar(SEL_CALLGATE3, 1, 0x0000EC00u);
    expect_lar(SEL_TSS, 0, 0);
    expect_lsl(SEL_DATA3, 1, 0xFFFFFFFFu);
    expect_lsl(SEL_DATA0_G, 0, 0);
    expect_verr_verw(SEL_DATA3 | 3, 1, 1);
    expect_verr_verw(SEL_RODATA3 | 3, 1, 0);
    expect_verr_verw(SEL_DATA0, 0, 0);
    expect_verr_verw(SEL_CONFORMING0, 1, 0);   /* conforming readable code: readable at any CPL */
}

/* ---------------------------------------------------------------------------
 * SYSENTER / SYSEXIT. */

static void expect_seg(int seg, uint16_t sel, uint16_t flags)
{
    struct cpu_segment_state s;
    cpu_get_seg(cpu, seg, &s);
    check(s.selector == sel && s.base == 0 && s.limit == 0xFFFFFFFFu && (s.flags & 0xF0FF) == flags,
          "seg %d: sel %04x base %08x limit %08x flags %04x, want sel %04x flags %04x", seg, s.selector,
          s.base, s.limit, s.flags, sel, flags);
}

static void test_sysenter(void)
{
    static const uint8_t ud2[2] = { 0x0F, 0x0B };
    const uint32_t kernel_entry = 0x30000, user_return = 0x31000;
    memory_write(mem, kernel_entry, ud2, 2);
    memory_write(mem, user_return, ud2, 2);

    enter_pmode(0);
    check(wrmsr(0x174, 0) == 0, "sysenter_cs 0");
    enter_pmode(3);
    RUN_FAULT("sysenter with SYSENTER_CS 0", 13, 0, 0x0F, 0x34);
    enter_pmode(0);
    RUN_FAULT("sysexit with SYSENTER_CS 0", 13, 0, 0x0F, 0x35);
    check(wrmsr(0x174, SEL_CODE0 | 3) == 0 && wrmsr(0x175, 0x9000) == 0 && wrmsr(0x176, kernel_entry) == 0,
          "sysenter msrs");

    enter_pmode(3);
    cpu_set_eflags(cpu, 0x202 | F_RF);
    static const uint8_t sysenter[] = { 0x0F, 0x34 };
    int v = run_at(sysenter, sizeof sysenter, NULL);
    check(v == 6 && cpu_get_eip(cpu) == kernel_entry, "sysenter: vector %d eip %08x", v, cpu_get_eip(cpu));
    check(cpu_get_reg(cpu, R_ESP) == 0x9000, "sysenter esp %08x", cpu_get_reg(cpu, R_ESP));
    check(!(cpu_get_eflags(cpu) & (F_IF | F_RF)), "sysenter clears IF RF: %08x", cpu_get_eflags(cpu));
    expect_seg(S_CS, SEL_CODE0, 0xC09B);
    expect_seg(S_SS, SEL_DATA0, 0xC093);

    cpu_set_reg(cpu, R_ECX, 0x7000);
    cpu_set_reg(cpu, R_EDX, user_return);
    static const uint8_t sysexit[] = { 0x0F, 0x35 };
    v = run_at(sysexit, sizeof sysexit, NULL);
    check(v == 6 && cpu_get_eip(cpu) == user_return, "sysexit: vector %d eip %08x", v, cpu_get_eip(cpu));
    check(cpu_get_reg(cpu, R_ESP) == 0x7000, "sysexit esp %08x", cpu_get_reg(cpu, R_ESP));
    expect_seg(S_CS, SEL_CODE3 | 3, 0xC0FB);
    expect_seg(S_SS, SEL_DATA3 | 3, 0xC0F3);
    /* Now at CPL 3: privileged instructions fault. */
    RUN_FAULT("rdmsr after sysexit", 13, 0, 0x0F, 0x32);
}

/* ---------------------------------------------------------------------------
 * Segment loads and far transfers: the operand plumbing into cpu/seg.c. */

/* A UD2 at a fresh address: the target of a far transfer. */
static uint32_t place_ud2(void)
{
    static const uint8_t ud2[2] = { 0x0F, 0x0B };
    uint32_t addr = code_next;
    code_next += 16;
    memory_write(mem, addr, ud2, 2);
    return addr;
}

static uint16_t seg_sel(int seg)
{
    struct cpu_segment_state s;
    cpu_get_seg(cpu, seg, &s);
    return s.selector;
}

static void expect_far_landing(const char *what, const uint8_t *code, size_t len, uint32_t target,
                               uint16_t cs)
{
    int v = run_at(code, len, NULL);
    check(v == 6 && cpu_get_eip(cpu) == target && seg_sel(S_CS) == cs,
          "%s: vector %d at %04x:%08x, want %04x:%08x", what, v, seg_sel(S_CS), cpu_get_eip(cpu), cs, target);
}

static void test_segments_and_far(void)
{
    enter_pmode(0);
    uint32_t p = SCRATCH + 0x100;

    cpu_set_reg(cpu, R_EAX, SEL_DATA3 | 3);
    RUN_OK("mov ds,ax", 0x8E, 0xD8);
    check(seg_sel(S_DS) == (SEL_DATA3 | 3), "mov ds,ax: ds %04x", seg_sel(S_DS));
    cpu_set_reg(cpu, R_EAX, SEL_CODE0);
    RUN_FAULT("mov ss,ax with a code selector", 13, SEL_CODE0, 0x8E, 0xD0);
    cpu_set_reg(cpu, R_EAX, SEL_DATA0);
    RUN_OK("mov ss,ax", 0x8E, 0xD0);
    enter_pmode(0);

    /* LDS esi,[ebx] (m16:32), 66 LFS di,[ebx] (m16:16), LSS esp,[ebx]. */
    write32(p, 0x11223344u);
    write32(p + 4, SEL_DATA0);
    cpu_set_reg(cpu, R_EBX, p);
    RUN_OK("lds esi,[ebx]", 0xC5, 0x33);
    check(cpu_get_reg(cpu, R_ESI) == 0x11223344u && seg_sel(S_DS) == SEL_DATA0, "lds: esi %08x ds %04x",
          cpu_get_reg(cpu, R_ESI), seg_sel(S_DS));
    write32(p + 8, ((uint32_t)SEL_DATA3 << 16 | 0x5566) | 3u << 16);
    cpu_set_reg(cpu, R_EBX, p + 8);
    cpu_set_reg(cpu, R_EDI, 0xFFFFFFFFu);
    RUN_OK("lfs di,[ebx]", 0x66, 0x0F, 0xB4, 0x3B);
    check(cpu_get_reg(cpu, R_EDI) == 0xFFFF5566u && seg_sel(S_FS) == (SEL_DATA3 | 3), "lfs16: edi %08x fs %04x",
          cpu_get_reg(cpu, R_EDI), seg_sel(S_FS));
    write32(p + 0x10, 0x7000);
    write32(p + 0x14, SEL_DATA0);
    cpu_set_reg(cpu, R_EBX, p + 0x10);
    RUN_OK("lss esp,[ebx]", 0x0F, 0xB2, 0x23);
    check(cpu_get_reg(cpu, R_ESP) == 0x7000 && seg_sel(S_SS) == SEL_DATA0, "lss: esp %08x ss %04x",
          cpu_get_reg(cpu, R_ESP), seg_sel(S_SS));
    write32(p + 0x18, 0xABCD);
    write32(p + 0x1C, SEL_CODE0);
    cpu_set_reg(cpu, R_EBX, p + 0x18);
    cpu_set_reg(cpu, R_ECX, 0x1234);
    RUN_OK("lgs ecx,[ebx] with a readable code selector", 0x0F, 0xB5, 0x0B);
    check(seg_sel(S_GS) == SEL_CODE0 && cpu_get_reg(cpu, R_ECX) == 0xABCD, "lgs with readable code: gs %04x ecx %08x",
          seg_sel(S_GS), cpu_get_reg(cpu, R_ECX));
    write32(p + 0x1C, SEL_EXECONLY0);
    cpu_set_reg(cpu, R_EAX, 0x5A5A5A5Au);
    RUN_FAULT("les eax,[ebx] with execute-only code", 13, SEL_EXECONLY0, 0xC4, 0x03);
    check(cpu_get_reg(cpu, R_EAX) == 0x5A5A5A5Au && seg_sel(S_ES) == SEL_DATA0, "les left eax and es alone on the fault");

    /* JMP ptr16:32, JMP m16:32, CALL m16:32, RETF, RETF imm16. */
    uint32_t t = place_ud2();
    {
        const uint8_t c[] = { 0xEA, (uint8_t)t, (uint8_t)(t >> 8), (uint8_t)(t >> 16), (uint8_t)(t >> 24),
                              SEL_CODE0, 0 };
        expect_far_landing("jmp far ptr16:32", c, sizeof c, t, SEL_CODE0);
    }
    t = place_ud2();
    write32(p + 0x20, t);
    write32(p + 0x24, SEL_CODE0);
    cpu_set_reg(cpu, R_EBX, p + 0x20);
    {
        const uint8_t c[] = { 0xFF, 0x2B };
        expect_far_landing("jmp far [ebx]", c, sizeof c, t, SEL_CODE0);
    }
    cpu_set_reg(cpu, R_ESP, 0x8000);
    uint32_t at;
    {
        const uint8_t c[] = { 0xFF, 0x1B };
        int v = run_at(c, sizeof c, &at);
        check(v == 6 && cpu_get_eip(cpu) == t && cpu_get_reg(cpu, R_ESP) == 0x8000 - 8 &&
              read32(0x8000 - 8) == at + 2 && (read32(0x8000 - 4) & 0xFFFF) == SEL_CODE0,
              "call far [ebx]: vector %d eip %08x esp %08x frame %08x %08x", v, cpu_get_eip(cpu),
              cpu_get_reg(cpu, R_ESP), read32(0x8000 - 8), read32(0x8000 - 4));
    }
    t = place_ud2();
    write32(0x8000 - 8, t);
    write32(0x8000 - 4, SEL_CODE0);
    cpu_set_reg(cpu, R_ESP, 0x8000 - 8);
    {
        const uint8_t c[] = { 0xCB };
        expect_far_landing("retf", c, sizeof c, t, SEL_CODE0);
        check(cpu_get_reg(cpu, R_ESP) == 0x8000, "retf: esp %08x", cpu_get_reg(cpu, R_ESP));
    }
    cpu_set_reg(cpu, R_ESP, 0x8000 - 8);
    {
        const uint8_t c[] = { 0xCA, 0x10, 0x00 };
        expect_far_landing("retf 16", c, sizeof c, t, SEL_CODE0);
        check(cpu_get_reg(cpu, R_ESP) == 0x8000 + 16, "retf 16: esp %08x", cpu_get_reg(cpu, R_ESP));
    }
    /* IRETD at the same privilege. */
    write32(0x8000 - 12, t);
    write32(0x8000 - 8, SEL_CODE0);
    write32(0x8000 - 4, 0x2 | F_CF);
    cpu_set_reg(cpu, R_ESP, 0x8000 - 12);
    {
        const uint8_t c[] = { 0xCF };
        expect_far_landing("iretd", c, sizeof c, t, SEL_CODE0);
        check(cpu_get_reg(cpu, R_ESP) == 0x8000 && (cpu_get_eflags(cpu) & F_CF), "iretd: esp %08x eflags %08x",
              cpu_get_reg(cpu, R_ESP), cpu_get_eflags(cpu));
    }

    /* LLDT, then a selector in the LDT; LTR marks the TSS busy. */
    write32(0x5008, 0x0000FFFFu);          /* LDT entry 1: data DPL 0, limit 0xFFFF */
    write32(0x500C, 0x00409300u);
    cpu_set_reg(cpu, R_EAX, SEL_LDT);
    RUN_OK("lldt ax", 0x0F, 0x00, 0xD0);
    RUN_OK("sldt ecx", 0x0F, 0x00, 0xC1);
    check(cpu_get_reg(cpu, R_ECX) == SEL_LDT, "sldt after lldt: %08x", cpu_get_reg(cpu, R_ECX));
    expect_lar(0x0C, 1, 0x00409300u);
    expect_lsl(0x0C, 1, 0xFFFF);
    expect_lar(0x24, 0, 0);   /* beyond the LDT limit */
    cpu_set_reg(cpu, R_EAX, SEL_DATA0);
    RUN_FAULT("lldt with a data selector", 13, SEL_DATA0, 0x0F, 0x00, 0xD0);
    cpu_set_reg(cpu, R_EAX, SEL_TSS);
    RUN_OK("ltr ax", 0x0F, 0x00, 0xD8);
    RUN_OK("str edx", 0x0F, 0x00, 0xCA);
    check(cpu_get_reg(cpu, R_EDX) == SEL_TSS, "str after ltr: %08x", cpu_get_reg(cpu, R_EDX));
    expect_lar(SEL_TSS, 1, 0x00008B00u);   /* now busy */
    cpu_set_reg(cpu, R_EAX, SEL_TSS);
    RUN_FAULT("ltr of a busy TSS", 13, SEL_TSS, 0x0F, 0x00, 0xD8);

    /* ARPL with a memory destination. */
    write32(p + 0x30, 0xEEEE0010u);
    cpu_set_reg(cpu, R_EBX, p + 0x30);
    cpu_set_reg(cpu, R_ECX, 2);
    RUN_OK("arpl [ebx],cx", 0x63, 0x0B);
    check(read32(p + 0x30) == 0xEEEE0012u && zf(), "arpl [ebx],cx: %08x zf %d", read32(p + 0x30), zf());

    /* SGDT with 16-bit operand size in protected mode; LIDT at CPL 0. */
    cpu_set_reg(cpu, R_ESI, p + 0x40);
    write32(p + 0x40, 0);
    write32(p + 0x44, 0xFFFFFFFFu);
    RUN_OK("o16 sgdt [esi]", 0x66, 0x0F, 0x01, 0x06);
    check(read32(p + 0x40) == (GDT_BASE << 16 | GDT_LIMIT) && read32(p + 0x44) == 0xFFFF0000u,
          "o16 sgdt: %08x %08x", read32(p + 0x40), read32(p + 0x44));
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
    cpu_reset(cpu);
    cpu_set_exception_hook(cpu, on_exception, NULL);
    build_gdt();

    test_real_mode();
    test_cpuid();
    test_msr();
    test_control_registers();
    test_descriptors_cpl0();
    test_cpl3();
    test_sysenter();
    test_segments_and_far();

    printf("RESULT: %d passed, %d failed\n", passed, failed);
    cpu_free(cpu);
    ioports_free(io);
    memory_free(mem);
    return failed ? 1 : 0;
}
