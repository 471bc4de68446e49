/* Unit tests of the protected-mode machinery (cpu/seg.c, cpu/interrupt.c,
 * cpu/task.c): segment loads, far JMP/CALL/RET, IRET, interrupt delivery in
 * every mode, task switches, I/O permission.
 *
 * The machine is built through the public API (memory, ports, CPU); a GDT, IDT,
 * TSSs and stacks are written into RAM; then the functions under test are
 * called directly, each inside a setjmp so a raised exception is caught with
 * its vector and error code. A fault must leave the registers as they were.
 * A last group runs real instruction sequences through cpu_run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/internal.h"
#include "cpu/seg.h"

#define RAM_SIZE (4u << 20)

/* Memory map of the test machine. */
#define GDT_BASE   0x1000u
#define GDT_LIMIT  0xFFu
#define IDT_BASE   0x2000u
#define IDT_LIMIT  0x7FFu
#define TSS_A      0x10000u     /* 32-bit TSS with an I/O bitmap (8 KiB) */
#define TSS_A_IOMAP 0x88u       /* the redirection bitmap is the 32 bytes below */
#define TSS_A_LIMIT (TSS_A_IOMAP + 0x2000u)   /* the whole bitmap, then its 0xFF byte */
#define TSS_B      0x6000u      /* 32-bit TSS of a second task */
#define TSS_C      0x6800u      /* 16-bit TSS */
#define LDT_BASE   0x7000u
#define STACK0_TOP 0x9000u      /* ring 0 stack (TSS_A ESP0) */
#define STACK1_TOP 0xA000u      /* ring 1 stack */
#define STACK3_TOP 0x8000u      /* ring 3 stack */
#define STACKB_TOP 0xB000u      /* task B's stack */
#define STACK16_BASE 0x20000u   /* 16-bit stack segment */

/* Selectors. */
enum {
    SEL_CODE0 = 0x08, SEL_DATA0 = 0x10, SEL_CODE3 = 0x18, SEL_DATA3 = 0x20, SEL_TSS_A = 0x28,
    SEL_CALLGATE32 = 0x30, SEL_CALLGATE16 = 0x38, SEL_CODE0_16 = 0x40, SEL_DATA0_NP = 0x48,
    SEL_TSS_B = 0x50, SEL_TASKGATE = 0x58, SEL_STACK16 = 0x60, SEL_LDT = 0x68, SEL_CONF0 = 0x70,
    SEL_TSS_C = 0x78, SEL_CODE1 = 0x80, SEL_DATA1 = 0x88, SEL_CODE3_SMALL = 0x90,
    SEL_CALLGATE_NP = 0x98, SEL_DATA0_RO = 0xA0, SEL_EXECONLY3 = 0xA8, SEL_SS_NP = 0xB0,
    SEL_CALLGATE_TO1 = 0xB8, SEL_CODE3_16 = 0xC0,
};
#define LDT_DATA3 (0x04u | 0x3u)  /* LDT entry 0, RPL 3 */

/* Interrupt vectors of the test IDT. */
enum {
    VEC_INT0 = 0x20,      /* interrupt gate, DPL 0 */
    VEC_TRAP3 = 0x21,     /* trap gate, DPL 3 */
    VEC_NP = 0x22,        /* not present, DPL 3 */
    VEC_TASK = 0x23,      /* task gate to TSS_B, DPL 3 */
    VEC_INT16 = 0x24,     /* 16-bit interrupt gate, DPL 3 */
    VEC_CONF = 0x25,      /* trap gate to conforming code, DPL 3 */
    VEC_BADTYPE = 0x26,   /* a call gate in the IDT */
    VEC_TOV86 = 0x27,     /* interrupt gate DPL 3 to a CPL 3 handler */
};
#define HANDLER_INT0   0x5100u
#define HANDLER_TRAP3  0x5200u
#define HANDLER_GATE32 0x5000u
#define HANDLER_GATE16 0x6100u

static struct memory *mem;
static struct ioports *io;
static struct cpu *cpu;
static int passed, failed;

/* The exception a TRY caught: vector (or -1) and error code. */
static int exc;
static uint32_t exc_err;

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

/* Run `stmt` with cpu_raise caught. */
#define TRY(stmt)                                                   \
    do {                                                            \
        jmp_buf jb_;                                                \
        cpu->jmp = &jb_;                                            \
        cpu->cur = NULL;                                            \
        if (setjmp(jb_) == 0) {                                     \
            stmt;                                                   \
            exc = -1;                                               \
        } else {                                                    \
            exc = cpu->exc_vec;                                     \
            exc_err = cpu->exc_err;                                 \
        }                                                           \
        cpu->jmp = NULL;                                            \
    } while (0)

#define CHECK_EXC(what, vec, err) \
    check(exc == (vec) && (exc < 0 || exc_err == (uint32_t)(err)), "%s: want exception %d (%x), got %d (%x)", \
          what, (int)(vec), (unsigned)(err), exc, exc_err)

/* ---------------------------------------------------------------------------
 * Memory helpers. */

static void w8(uint32_t a, uint8_t v) { memory_write(mem, a, &v, 1); }
static void w16(uint32_t a, uint16_t v) { memory_write(mem, a, &v, 2); }
static void w32(uint32_t a, uint32_t v) { memory_write32(mem, a, v); }
static uint8_t r8(uint32_t a) { uint8_t v; memory_read(mem, a, &v, 1); return v; }
static uint16_t r16(uint32_t a) { uint16_t v; memory_read(mem, a, &v, 2); return v; }
static uint32_t r32(uint32_t a) { return memory_read32(mem, a); }

static uint64_t make_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t gdb)
{
    uint64_t d = (limit & 0xFFFFu) | (uint64_t)(base & 0xFFFFFFu) << 16;
    d |= (uint64_t)access << 40;
    d |= (uint64_t)((limit >> 16) & 0xF) << 48;
    d |= (uint64_t)(gdb & 0xF0) << 48;
    d |= (uint64_t)(base >> 24) << 56;
    return d;
}

static uint64_t make_gate(uint16_t sel, uint32_t off, uint8_t access, int params)
{
    return (off & 0xFFFFu) | (uint64_t)sel << 16 | (uint64_t)(params & 0x1F) << 32 |
           (uint64_t)access << 40 | (uint64_t)(off >> 16) << 48;
}

static void put_desc(uint32_t table, uint16_t sel, uint64_t d)
{
    w32(table + (sel & ~7u), (uint32_t)d);
    w32(table + (sel & ~7u) + 4, (uint32_t)(d >> 32));
}
static uint64_t get_desc(uint32_t table, uint16_t sel)
{
    return (uint64_t)r32(table + (sel & ~7u) + 4) << 32 | r32(table + (sel & ~7u));
}

static void build_tables(void)
{
    memset(memory_ram(mem), 0, 0x40000);
    put_desc(GDT_BASE, SEL_CODE0, make_desc(0, 0xFFFFF, 0x9A, 0xC0));
    put_desc(GDT_BASE, SEL_DATA0, make_desc(0, 0xFFFFF, 0x92, 0xC0));
    put_desc(GDT_BASE, SEL_CODE3, make_desc(0, 0xFFFFF, 0xFA, 0xC0));
    put_desc(GDT_BASE, SEL_DATA3, make_desc(0, 0xFFFFF, 0xF2, 0xC0));
    put_desc(GDT_BASE, SEL_TSS_A, make_desc(TSS_A, TSS_A_LIMIT, 0x89, 0x00));
    put_desc(GDT_BASE, SEL_CALLGATE32, make_gate(SEL_CODE0, HANDLER_GATE32, 0xEC, 2));
    put_desc(GDT_BASE, SEL_CALLGATE16, make_gate(SEL_CODE0_16, HANDLER_GATE16, 0xE4, 1));
    put_desc(GDT_BASE, SEL_CODE0_16, make_desc(0, 0xFFFF, 0x9A, 0x00));
    put_desc(GDT_BASE, SEL_DATA0_NP, make_desc(0, 0xFFFF, 0x12, 0x40));
    put_desc(GDT_BASE, SEL_TSS_B, make_desc(TSS_B, 0x67, 0x89, 0x00));
    put_desc(GDT_BASE, SEL_TASKGATE, make_gate(SEL_TSS_B, 0, 0xE5, 0));
    put_desc(GDT_BASE, SEL_STACK16, make_desc(STACK16_BASE, 0xFFFF, 0x92, 0x00));
    put_desc(GDT_BASE, SEL_LDT, make_desc(LDT_BASE, 0x1F, 0x82, 0x00));
    put_desc(GDT_BASE, SEL_CONF0, make_desc(0, 0xFFFFF, 0x9E, 0xC0));
    put_desc(GDT_BASE, SEL_TSS_C, make_desc(TSS_C, 0x2B, 0x81, 0x00));
    put_desc(GDT_BASE, SEL_CODE1, make_desc(0, 0xFFFFF, 0xBA, 0xC0));
    put_desc(GDT_BASE, SEL_DATA1, make_desc(0, 0xFFFFF, 0xB2, 0xC0));
    put_desc(GDT_BASE, SEL_CODE3_SMALL, make_desc(0, 0x0FFF, 0xFA, 0x40));
    put_desc(GDT_BASE, SEL_CALLGATE_NP, make_gate(SEL_CODE0, HANDLER_GATE32, 0x6C, 0));
    put_desc(GDT_BASE, SEL_DATA0_RO, make_desc(0, 0xFFFFF, 0x90, 0xC0));
    put_desc(GDT_BASE, SEL_EXECONLY3, make_desc(0, 0xFFFFF, 0xF8, 0xC0));
    put_desc(GDT_BASE, SEL_SS_NP, make_desc(0, 0xFFFFF, 0x12, 0xC0));
    put_desc(GDT_BASE, SEL_CALLGATE_TO1, make_gate(SEL_CODE1, HANDLER_GATE32, 0xEC, 0));
    put_desc(GDT_BASE, SEL_CODE3_16, make_desc(0, 0xFFFF, 0xFA, 0x00));
    put_desc(LDT_BASE, LDT_DATA3, make_desc(0x40000, 0xFFFF, 0xF2, 0x40));

    put_desc(IDT_BASE, VEC_INT0 * 8, make_gate(SEL_CODE0, HANDLER_INT0, 0x8E, 0));
    put_desc(IDT_BASE, VEC_TRAP3 * 8, make_gate(SEL_CODE0, HANDLER_TRAP3, 0xEF, 0));
    put_desc(IDT_BASE, VEC_NP * 8, make_gate(SEL_CODE0, HANDLER_TRAP3, 0x6E, 0));
    put_desc(IDT_BASE, VEC_TASK * 8, make_gate(SEL_TSS_B, 0, 0xE5, 0));
    put_desc(IDT_BASE, VEC_INT16 * 8, make_gate(SEL_CODE0_16, 0x6100, 0xE6, 0));
    put_desc(IDT_BASE, VEC_CONF * 8, make_gate(SEL_CONF0, 0x5400, 0xEF, 0));
    put_desc(IDT_BASE, VEC_BADTYPE * 8, make_gate(SEL_CODE0, 0x5500, 0xEC, 0));
    put_desc(IDT_BASE, VEC_TOV86 * 8, make_gate(SEL_CODE3, 0x5600, 0xEE, 0));
    put_desc(IDT_BASE, EXC_GP * 8, make_gate(SEL_CODE0, 0x5700, 0x8E, 0));
    put_desc(IDT_BASE, EXC_PF * 8, make_gate(SEL_CODE0, 0x5800, 0x8E, 0));

    /* TSS A: ring 0 and ring 1 stacks, I/O bitmap with ports 0x80 and 0x3F9 denied. */
    w32(TSS_A + 0x04, STACK0_TOP);
    w16(TSS_A + 0x08, SEL_DATA0);
    w32(TSS_A + 0x0C, STACK1_TOP);
    w16(TSS_A + 0x10, SEL_DATA1 | 1);
    w16(TSS_A + 0x66, TSS_A_IOMAP);
    w8(TSS_A + TSS_A_IOMAP + 0x80 / 8, 0x01);
    w8(TSS_A + TSS_A_IOMAP + 0x3F9 / 8, 0x02);
    w8(TSS_A + TSS_A_IOMAP + 0x2000, 0xFF);
    /* V86 redirection bitmap: vector 0x30 goes to the IDT, the rest to the IVT. */
    w8(TSS_A + TSS_A_IOMAP - 32 + 0x30 / 8, 0x01);

    /* TSS B: a flat ring 0 task. */
    w32(TSS_B + 0x1C, 0);
    w32(TSS_B + 0x20, 0x5A00);             /* EIP */
    w32(TSS_B + 0x24, 0x2 | F_IF);         /* EFLAGS */
    w32(TSS_B + 0x28, 0x11111111);         /* EAX */
    w32(TSS_B + 0x2C, 0x22222222);         /* ECX */
    w32(TSS_B + 0x38, STACKB_TOP);         /* ESP */
    w16(TSS_B + 0x48, SEL_DATA0);          /* ES */
    w16(TSS_B + 0x4C, SEL_CODE0);          /* CS */
    w16(TSS_B + 0x50, SEL_DATA0);          /* SS */
    w16(TSS_B + 0x54, SEL_DATA0);          /* DS */
    w16(TSS_B + 0x58, 0);                  /* FS */
    w16(TSS_B + 0x5C, 0);                  /* GS */
    w16(TSS_B + 0x60, SEL_LDT);            /* LDT */

    /* TSS C: a 16-bit ring 0 task. */
    w16(TSS_C + 0x0E, 0x6200);             /* IP */
    w16(TSS_C + 0x10, 0x2);                /* FLAGS */
    w16(TSS_C + 0x12, 0x1234);             /* AX */
    w16(TSS_C + 0x1A, 0x0F00);             /* SP */
    w16(TSS_C + 0x22, SEL_DATA0);          /* ES */
    w16(TSS_C + 0x24, SEL_CODE0_16);       /* CS */
    w16(TSS_C + 0x26, SEL_STACK16);        /* SS */
    w16(TSS_C + 0x28, SEL_DATA0);          /* DS */
}

/* Load a segment register straight from the test GDT (no checks). */
static void set_seg(int seg, uint16_t sel)
{
    seg_cache_from_desc(&cpu->seg[seg], sel, get_desc((sel & 4) ? LDT_BASE : GDT_BASE, sel));
}

/* 32-bit protected mode at CPL `cpl` (0 or 3) with flat segments, TR = TSS_A. */
static void enter_pmode(int cpl)
{
    cpu_reset(cpu);
    build_tables();
    cpu->gdt_base = GDT_BASE;
    cpu->gdt_limit = GDT_LIMIT;
    cpu->idt_base = IDT_BASE;
    cpu->idt_limit = IDT_LIMIT;
    cpu->cr0 |= CR0_PE;
    cpu_set_eflags_masked(cpu, 0, EFL_ALL);
    uint16_t cs = cpl ? SEL_CODE3 | 3 : SEL_CODE0;
    uint16_t ds = cpl ? SEL_DATA3 | 3 : SEL_DATA0;
    set_seg(S_CS, cs);
    for (int s = S_ES; s <= S_GS; s++)
        if (s != S_CS) set_seg(s, ds);
    cpu_update_mode(cpu);
    TRY(load_tr(cpu, SEL_TSS_A));
    ESP(cpu) = cpl ? STACK3_TOP : STACK0_TOP;
    cpu->eip = 0x4000;
}

/* ---------------------------------------------------------------------------
 * Segment loads. */

static void test_seg_load(void)
{
    enter_pmode(0);
    TRY(seg_load(cpu, S_DS, SEL_DATA3 | 3));
    CHECK_EXC("mov ds, data3 at cpl 0", -1, 0);
    check(cpu->seg[S_DS].sel == (SEL_DATA3 | 3) && (r8(GDT_BASE + SEL_DATA3 + 5) & 1),
          "ds loaded and accessed bit set (access %02x)", r8(GDT_BASE + SEL_DATA3 + 5));

    TRY(seg_load(cpu, S_SS, SEL_DATA3 | 3));
    CHECK_EXC("mov ss, data3 at cpl 0", EXC_GP, SEL_DATA3);
    TRY(seg_load(cpu, S_SS, 0));
    CHECK_EXC("mov ss, null", EXC_GP, 0);
    TRY(seg_load(cpu, S_SS, SEL_SS_NP));
    CHECK_EXC("mov ss, not present", EXC_SS, SEL_SS_NP);
    TRY(seg_load(cpu, S_SS, SEL_DATA0_RO));
    CHECK_EXC("mov ss, read-only", EXC_GP, SEL_DATA0_RO);
    TRY(seg_load(cpu, S_SS, SEL_STACK16));
    CHECK_EXC("mov ss, 16-bit stack", -1, 0);
    check(cpu->stack32 == 0, "16-bit SS clears stack32");

    TRY(seg_load(cpu, S_ES, SEL_DATA0_NP));
    CHECK_EXC("mov es, not present", EXC_NP, SEL_DATA0_NP);
    TRY(seg_load(cpu, S_ES, 0xFF8));
    CHECK_EXC("mov es, beyond gdt", EXC_GP, 0xFF8);
    TRY(seg_load(cpu, S_ES, SEL_TSS_A));
    CHECK_EXC("mov es, tss", EXC_GP, SEL_TSS_A);
    TRY(seg_load(cpu, S_ES, SEL_EXECONLY3));
    CHECK_EXC("mov es, execute-only code", EXC_GP, SEL_EXECONLY3);
    TRY(seg_load(cpu, S_ES, SEL_CONF0 | 3));
    CHECK_EXC("mov es, conforming readable code with rpl 3", -1, 0);
    TRY(seg_load(cpu, S_FS, 3));
    CHECK_EXC("mov fs, null", -1, 0);
    check(cpu->seg[S_FS].sel == 3 && cpu->seg[S_FS].rlo > cpu->seg[S_FS].rhi, "null fs forbids access");
    TRY(seg_load(cpu, S_GS, LDT_DATA3));
    CHECK_EXC("mov gs, ldt selector without an ldt", EXC_GP, LDT_DATA3 & ~3u);
    TRY(load_ldtr(cpu, SEL_LDT));
    CHECK_EXC("lldt", -1, 0);
    TRY(seg_load(cpu, S_GS, LDT_DATA3));
    CHECK_EXC("mov gs, ldt selector", -1, 0);
    check(cpu->seg[S_GS].base == 0x40000, "gs base from the ldt: %x", cpu->seg[S_GS].base);

    /* CPL 3 may not load DPL 0 data. */
    enter_pmode(3);
    TRY(seg_load(cpu, S_DS, SEL_DATA0 | 3));
    CHECK_EXC("mov ds, data0 at cpl 3", EXC_GP, SEL_DATA0);
    TRY(seg_load(cpu, S_DS, SEL_DATA3));   /* RPL 0 < DPL 3 is fine */
    CHECK_EXC("mov ds, data3 rpl 0 at cpl 3", -1, 0);

    /* Real mode keeps limit and attributes (unreal mode). */
    cpu_reset(cpu);
    seg_cache_set(&cpu->seg[S_DS], 0, 0, 0xFFFFFFFFu, 0x93 | SEGF_G | SEGF_DB);
    TRY(seg_load(cpu, S_DS, 0x1234));
    check(exc < 0 && cpu->seg[S_DS].base == 0x12340 && cpu->seg[S_DS].limit == 0xFFFFFFFFu,
          "real mode ds load keeps the 4 GiB limit (base %x limit %x)", cpu->seg[S_DS].base, cpu->seg[S_DS].limit);
}

/* ---------------------------------------------------------------------------
 * Far JMP, CALL, RET. */

static void test_far_jmp(void)
{
    enter_pmode(0);
    TRY(far_jmp(cpu, SEL_CODE0_16, 0x1234, 1, 0x4005));
    check(exc < 0 && cpu->seg[S_CS].sel == SEL_CODE0_16 && cpu->eip == 0x1234 && !cpu->code32,
          "jmp to 16-bit code: cs %04x eip %x code32 %d", cpu->seg[S_CS].sel, cpu->eip, cpu->code32);
    enter_pmode(0);
    TRY(far_jmp(cpu, SEL_CODE0_16, 0x10000, 1, 0x4005));
    CHECK_EXC("jmp beyond the limit", EXC_GP, 0);
    check(cpu->seg[S_CS].sel == SEL_CODE0 && cpu->eip == 0x4000, "state kept after the fault");
    TRY(far_jmp(cpu, SEL_CODE3 | 3, 0x100, 1, 0x4005));
    CHECK_EXC("jmp to cpl 3 code from cpl 0", EXC_GP, SEL_CODE3);
    TRY(far_jmp(cpu, SEL_CONF0 | 3, 0x100, 1, 0x4005));
    check(exc < 0 && cpu->seg[S_CS].sel == SEL_CONF0 && cpu->cpl == 0,
          "jmp to conforming code keeps cpl, rpl = cpl (cs %04x)", cpu->seg[S_CS].sel);
    enter_pmode(3);
    TRY(far_jmp(cpu, SEL_CALLGATE32 | 3, 0, 1, 0x4005));
    CHECK_EXC("jmp through a call gate to more privileged code", EXC_GP, SEL_CODE0);
    TRY(far_jmp(cpu, 0, 0, 1, 0x4005));
    CHECK_EXC("jmp to null", EXC_GP, 0);
    TRY(far_jmp(cpu, SEL_DATA3 | 3, 0, 1, 0x4005));
    CHECK_EXC("jmp to data", EXC_GP, SEL_DATA3);

    /* Real mode. */
    cpu_reset(cpu);
    TRY(far_jmp(cpu, 0x1000, 0x0123, 0, 0));
    check(exc < 0 && cpu->seg[S_CS].base == 0x10000 && cpu->eip == 0x123, "real-mode jmp far");
}

static void test_call_gate(void)
{
    enter_pmode(3);
    uint32_t esp3 = STACK3_TOP - 8;
    ESP(cpu) = esp3;
    w32(esp3, 0xAAAA0001);       /* parameter 0 */
    w32(esp3 + 4, 0xBBBB0002);   /* parameter 1 */
    TRY(far_call(cpu, SEL_CALLGATE32 | 3, 0xDEAD, 1, 0x4007));
    CHECK_EXC("call gate 32 from cpl 3", -1, 0);
    uint32_t sp = STACK0_TOP - 24;
    check(cpu->cpl == 0 && cpu->seg[S_CS].sel == SEL_CODE0 && cpu->eip == HANDLER_GATE32 &&
          cpu->seg[S_SS].sel == SEL_DATA0 && ESP(cpu) == sp,
          "call gate: cpl %d cs %04x eip %x ss %04x esp %x", cpu->cpl, cpu->seg[S_CS].sel, cpu->eip,
          cpu->seg[S_SS].sel, ESP(cpu));
    check(r32(sp) == 0x4007 && r32(sp + 4) == (SEL_CODE3 | 3) && r32(sp + 8) == 0xAAAA0001 &&
          r32(sp + 12) == 0xBBBB0002 && r32(sp + 16) == esp3 && r32(sp + 20) == (SEL_DATA3 | 3),
          "call gate frame: %x %x %x %x %x %x", r32(sp), r32(sp + 4), r32(sp + 8), r32(sp + 12),
          r32(sp + 16), r32(sp + 20));

    /* RET 8 back to CPL 3: SS:ESP from the frame, parameters released on both stacks;
     * a DPL 0 data segment left in DS is nulled. */
    set_seg(S_DS, SEL_DATA0);
    set_seg(S_ES, SEL_DATA3 | 3);
    TRY(far_ret(cpu, 1, 8));
    CHECK_EXC("ret 8 to cpl 3", -1, 0);
    check(cpu->cpl == 3 && cpu->eip == 0x4007 && cpu->seg[S_SS].sel == (SEL_DATA3 | 3) && ESP(cpu) == esp3 + 8,
          "ret to outer: cpl %d eip %x ss %04x esp %x", cpu->cpl, cpu->eip, cpu->seg[S_SS].sel, ESP(cpu));
    check(cpu->seg[S_DS].sel == 0 && cpu->seg[S_ES].sel == (SEL_DATA3 | 3), "ds nulled (%04x), es kept (%04x)",
          cpu->seg[S_DS].sel, cpu->seg[S_ES].sel);

    /* 16-bit call gate: word parameters, 16-bit frame. */
    enter_pmode(3);
    ESP(cpu) = STACK3_TOP - 2;
    w16(STACK3_TOP - 2, 0x5151);
    TRY(far_call(cpu, SEL_CALLGATE16 | 3, 0, 1, 0x4007));
    CHECK_EXC("call gate 16", -1, 0);
    sp = STACK0_TOP - 10;
    check(cpu->eip == HANDLER_GATE16 && !cpu->code32 && ESP(cpu) == sp && r16(sp) == 0x4007 &&
          r16(sp + 2) == (SEL_CODE3 | 3) && r16(sp + 4) == 0x5151 && r16(sp + 6) == ((STACK3_TOP - 2) & 0xFFFF) &&
          r16(sp + 8) == (SEL_DATA3 | 3), "call gate 16 frame: esp %x: %x %x %x %x %x", ESP(cpu), r16(sp),
          r16(sp + 2), r16(sp + 4), r16(sp + 6), r16(sp + 8));
    TRY(far_ret(cpu, 0, 2));
    check(exc < 0 && cpu->cpl == 3 && cpu->eip == 0x4007 && ESP(cpu) == STACK3_TOP,
          "16-bit ret 2 to outer: eip %x esp %x", cpu->eip, ESP(cpu));

    /* Faults leave everything unchanged. */
    enter_pmode(3);
    TRY(far_call(cpu, SEL_CALLGATE_NP | 3, 0, 1, 0x4007));
    CHECK_EXC("call gate not present", EXC_NP, SEL_CALLGATE_NP);
    w16(TSS_A + 0x08, SEL_SS_NP);
    TRY(far_call(cpu, SEL_CALLGATE32 | 3, 0, 1, 0x4007));
    CHECK_EXC("inner stack not present", EXC_SS, SEL_SS_NP);
    w16(TSS_A + 0x08, SEL_DATA3 | 3);
    TRY(far_call(cpu, SEL_CALLGATE32 | 3, 0, 1, 0x4007));
    CHECK_EXC("inner stack of the wrong privilege", EXC_TS, SEL_DATA3);
    w16(TSS_A + 0x08, SEL_DATA0);
    check(cpu->cpl == 3 && cpu->seg[S_CS].sel == (SEL_CODE3 | 3) && ESP(cpu) == STACK3_TOP && cpu->eip == 0x4000,
          "state unchanged after the faults");

    /* Call to a ring 1 handler takes SS1:ESP1. */
    enter_pmode(3);
    TRY(far_call(cpu, SEL_CALLGATE_TO1 | 3, 0, 1, 0x4007));
    check(exc < 0 && cpu->cpl == 1 && cpu->seg[S_SS].sel == (SEL_DATA1 | 1) && ESP(cpu) == STACK1_TOP - 16,
          "call gate to ring 1: cpl %d ss %04x esp %x", cpu->cpl, cpu->seg[S_SS].sel, ESP(cpu));

    /* Same-privilege direct far call and ret. */
    enter_pmode(0);
    TRY(far_call(cpu, SEL_CODE0_16, 0x300, 0, 0x4005));
    check(exc < 0 && ESP(cpu) == STACK0_TOP - 4 && r16(STACK0_TOP - 4) == 0x4005 && r16(STACK0_TOP - 2) == SEL_CODE0,
          "16-bit far call frame");
    TRY(far_ret(cpu, 0, 0));
    check(exc < 0 && ESP(cpu) == STACK0_TOP && cpu->eip == 0x4005 && cpu->code32, "16-bit far ret back to 32-bit code");

    /* RET to an inner level is #GP(cs). */
    enter_pmode(3);
    ESP(cpu) = STACK3_TOP - 8;
    w32(STACK3_TOP - 8, 0x100);
    w32(STACK3_TOP - 4, SEL_CODE0);
    TRY(far_ret(cpu, 1, 0));
    CHECK_EXC("ret to cpl 0 from cpl 3", EXC_GP, SEL_CODE0);
    check(ESP(cpu) == STACK3_TOP - 8, "esp unchanged");
}

/* ---------------------------------------------------------------------------
 * Interrupts and IRET. */

static void test_real_interrupts(void)
{
    cpu_reset(cpu);
    build_tables();
    cpu->idt_base = 0;
    cpu->idt_limit = 0x3FF;
    w16(0x21 * 4, 0x1234);
    w16(0x21 * 4 + 2, 0x2000);
    cpu_set_seg_real(cpu, S_CS, 0x1000);
    cpu_set_seg_real(cpu, S_SS, 0);
    ESP(cpu) = 0x7000;
    cpu_set_eflags_masked(cpu, F_IF | F_TF | F_CF, EFL_ALL);
    TRY(cpu_deliver(cpu, 0x21, INT_SOFT, 0, 0, 0x0456));
    check(exc < 0 && cpu->seg[S_CS].sel == 0x2000 && cpu->seg[S_CS].base == 0x20000 && cpu->eip == 0x1234 &&
          ESP(cpu) == 0x6FFA && !(cpu->eflags & (F_IF | F_TF)),
          "real-mode int: cs %04x eip %x esp %x", cpu->seg[S_CS].sel, cpu->eip, ESP(cpu));
    check(r16(0x6FFA) == 0x456 && r16(0x6FFC) == 0x1000 && (r16(0x6FFE) & (F_IF | F_TF | F_CF)) == (F_IF | F_TF | F_CF),
          "real-mode frame %x %x %x", r16(0x6FFA), r16(0x6FFC), r16(0x6FFE));
    TRY(iret(cpu, 0));
    check(exc < 0 && cpu->seg[S_CS].sel == 0x1000 && cpu->eip == 0x456 && ESP(cpu) == 0x7000 &&
          (cpu_eflags(cpu) & (F_IF | F_TF | F_CF)) == (F_IF | F_TF | F_CF), "real-mode iret");

    cpu->idt_limit = 0x21 * 4 + 2;
    TRY(cpu_deliver(cpu, 0x21, INT_SOFT, 0, 0, 0x0456));
    CHECK_EXC("real-mode int beyond the idt limit", EXC_GP, 0);
    check(ESP(cpu) == 0x7000 && cpu->eip == 0x456, "unchanged after the fault");
}

static void test_pmode_interrupts(void)
{
    /* Hardware interrupt from CPL 3 through a DPL 0 interrupt gate. */
    enter_pmode(3);
    cpu_set_eflags_masked(cpu, F_IF | F_TF | F_NT | F_CF, EFL_ALL);
    TRY(cpu_deliver(cpu, VEC_INT0, INT_HW, 0, 0, 0x4000));
    CHECK_EXC("hardware interrupt from cpl 3", -1, 0);
    uint32_t sp = STACK0_TOP - 20;
    check(cpu->cpl == 0 && cpu->eip == HANDLER_INT0 && ESP(cpu) == sp && cpu->seg[S_SS].sel == SEL_DATA0 &&
          !(cpu->eflags & (F_IF | F_TF | F_NT)), "interrupt gate: cpl %d eip %x esp %x eflags %x", cpu->cpl,
          cpu->eip, ESP(cpu), cpu_eflags(cpu));
    check(r32(sp) == 0x4000 && r32(sp + 4) == (SEL_CODE3 | 3) && (r32(sp + 8) & (F_IF | F_TF | F_CF)) == (F_IF | F_TF | F_CF) &&
          r32(sp + 12) == STACK3_TOP && r32(sp + 16) == (SEL_DATA3 | 3), "interrupt frame");
    /* IRET back: IF comes back (CPL 0 <= IOPL). */
    TRY(iret(cpu, 1));
    check(exc < 0 && cpu->cpl == 3 && cpu->eip == 0x4000 && ESP(cpu) == STACK3_TOP &&
          (cpu->eflags & (F_IF | F_TF | F_NT)) == (F_IF | F_TF | F_NT), "iret to cpl 3: eflags %x", cpu_eflags(cpu));

    /* INT n from CPL 3 to a DPL 0 gate: #GP(vec*8+2). */
    enter_pmode(3);
    TRY(cpu_deliver(cpu, VEC_INT0, INT_SOFT, 0, 0, 0x4002));
    CHECK_EXC("int to a dpl 0 gate", EXC_GP, VEC_INT0 * 8 + 2);
    /* Not present: #NP(vec*8+2+EXT). */
    TRY(cpu_deliver(cpu, VEC_NP, INT_SOFT, 0, 0, 0x4002));
    CHECK_EXC("int to a not-present gate", EXC_NP, VEC_NP * 8 + 2);
    TRY(cpu_deliver(cpu, VEC_NP, INT_HW, 0, 0, 0x4002));
    CHECK_EXC("hardware interrupt to a not-present gate", EXC_NP, VEC_NP * 8 + 3);
    TRY(cpu_deliver(cpu, VEC_BADTYPE, INT_EXC, 1, 0, 0x4002));
    CHECK_EXC("call gate in the idt", EXC_GP, VEC_BADTYPE * 8 + 3);
    cpu->idt_limit = 0x80 * 8 - 1;
    TRY(cpu_deliver(cpu, 0x80, INT_HW, 0, 0, 0x4002));
    CHECK_EXC("beyond the idt limit", EXC_GP, 0x80 * 8 + 3);
    cpu->idt_limit = IDT_LIMIT;
    check(cpu->cpl == 3 && ESP(cpu) == STACK3_TOP && cpu->eip == 0x4000, "unchanged after the faults");

    /* Trap gate keeps IF; an exception pushes its error code. */
    enter_pmode(0);
    cpu_set_eflags_masked(cpu, F_IF, EFL_ALL);
    TRY(cpu_deliver(cpu, VEC_TRAP3, INT_EXC, 1, 0x1234, 0x4000));
    sp = STACK0_TOP - 16;
    check(exc < 0 && ESP(cpu) == sp && (cpu->eflags & F_IF) && r32(sp) == 0x1234 && r32(sp + 4) == 0x4000 &&
          r32(sp + 8) == SEL_CODE0, "same-level trap gate with error code: esp %x", ESP(cpu));

    /* Inner stack without room: #SS(new ss | EXT), nothing changed. */
    enter_pmode(3);
    w32(TSS_A + 0x04, 0x10);
    w16(TSS_A + 0x08, SEL_STACK16);
    put_desc(GDT_BASE, SEL_STACK16, make_desc(STACK16_BASE, 0xFFFF, 0x96, 0x00));  /* expand-down, limit 0xFFFF: empty */
    TRY(cpu_deliver(cpu, VEC_INT0, INT_HW, 0, 0, 0x4000));
    CHECK_EXC("no room on the inner stack", EXC_SS, SEL_STACK16 | 1);
    check(cpu->cpl == 3 && ESP(cpu) == STACK3_TOP, "unchanged");

    /* 16-bit interrupt gate. */
    enter_pmode(3);
    TRY(cpu_deliver(cpu, VEC_INT16, INT_SOFT, 0, 0, 0x4002));
    sp = STACK0_TOP - 10;
    check(exc < 0 && cpu->eip == 0x6100 && !cpu->code32 && ESP(cpu) == sp && r16(sp) == 0x4002 &&
          r16(sp + 2) == (SEL_CODE3 | 3) && r16(sp + 6) == (STACK3_TOP & 0xFFFF) && r16(sp + 8) == (SEL_DATA3 | 3),
          "16-bit gate frame");
    TRY(iret(cpu, 0));
    check(exc < 0 && cpu->cpl == 3 && cpu->eip == 0x4002 && ESP(cpu) == STACK3_TOP, "16-bit iret to cpl 3");

    /* Conforming handler: no stack switch, CPL stays 3. */
    enter_pmode(3);
    TRY(cpu_deliver(cpu, VEC_CONF, INT_SOFT, 0, 0, 0x4002));
    check(exc < 0 && cpu->cpl == 3 && ESP(cpu) == STACK3_TOP - 12 && cpu->seg[S_CS].sel == (SEL_CONF0 | 3),
          "conforming handler at cpl 3: cs %04x esp %x", cpu->seg[S_CS].sel, ESP(cpu));

    /* IRET at CPL 3 cannot change IOPL or IF (IOPL 0). */
    enter_pmode(3);
    ESP(cpu) = STACK3_TOP - 12;
    w32(STACK3_TOP - 12, 0x4100);
    w32(STACK3_TOP - 8, SEL_CODE3 | 3);
    w32(STACK3_TOP - 4, F_IF | F_IOPL | F_CF | F_VM);
    TRY(iret(cpu, 1));
    check(exc < 0 && !(cpu->eflags & (F_IF | F_IOPL | F_VM)) && (cpu_eflags(cpu) & F_CF) && cpu->eip == 0x4100,
          "iret at cpl 3 keeps IF, IOPL, VM: eflags %x", cpu_eflags(cpu));
}

static void test_v86(void)
{
    /* IRET from CPL 0 into V86 mode. */
    enter_pmode(0);
    uint32_t sp = STACK0_TOP - 36;
    ESP(cpu) = sp;
    w32(sp + 0, 0x0100);                     /* EIP */
    w32(sp + 4, 0x1000);                     /* CS */
    w32(sp + 8, F_VM | F_IF | 0x2);          /* EFLAGS, IOPL 0 */
    w32(sp + 12, 0x0FFE);                    /* ESP */
    w32(sp + 16, 0x2000);                    /* SS */
    w32(sp + 20, 0x3000);                    /* ES */
    w32(sp + 24, 0x4000);                    /* DS */
    w32(sp + 28, 0x5000);                    /* FS */
    w32(sp + 32, 0x6000);                    /* GS */
    TRY(iret(cpu, 1));
    CHECK_EXC("iret to v86", -1, 0);
    check(cpu->v86 && cpu->cpl == 3 && cpu->seg[S_CS].base == 0x10000 && cpu->eip == 0x100 &&
          cpu->seg[S_SS].base == 0x20000 && ESP(cpu) == 0x0FFE && cpu->seg[S_DS].base == 0x40000 &&
          cpu->seg[S_GS].sel == 0x6000 && cpu->seg[S_DS].limit == 0xFFFF && !cpu->code32,
          "v86 state: v86 %d cpl %d cs %x eip %x esp %x", cpu->v86, cpu->cpl, cpu->seg[S_CS].base, cpu->eip, ESP(cpu));

    /* INT n with IOPL 0 is #GP(0); an external interrupt goes to the CPL 0 handler. */
    TRY(cpu_deliver(cpu, VEC_TRAP3, INT_SOFT, 0, 0, 0x102));
    CHECK_EXC("int n in v86 with iopl 0", EXC_GP, 0);
    TRY(cpu_deliver(cpu, VEC_INT0, INT_HW, 0, 0, 0x100));
    CHECK_EXC("interrupt from v86", -1, 0);
    sp = STACK0_TOP - 36;
    check(!cpu->v86 && cpu->cpl == 0 && cpu->eip == HANDLER_INT0 && ESP(cpu) == sp &&
          cpu->seg[S_DS].sel == 0 && cpu->seg[S_GS].sel == 0 && !(cpu->eflags & (F_VM | F_IF)),
          "from v86: v86 %d cpl %d esp %x ds %04x", cpu->v86, cpu->cpl, ESP(cpu), cpu->seg[S_DS].sel);
    check(r32(sp) == 0x100 && r32(sp + 4) == 0x1000 && (r32(sp + 8) & F_VM) && r32(sp + 12) == 0x0FFE &&
          r32(sp + 16) == 0x2000 && r32(sp + 20) == 0x3000 && r32(sp + 24) == 0x4000 && r32(sp + 28) == 0x5000 &&
          r32(sp + 32) == 0x6000, "v86 interrupt frame");
    TRY(iret(cpu, 1));
    check(exc < 0 && cpu->v86 && cpu->eip == 0x100 && cpu->seg[S_ES].sel == 0x3000, "iret back to v86");

    /* A handler that is not CPL 0: #GP(sel | EXT). */
    TRY(cpu_deliver(cpu, VEC_TOV86, INT_HW, 0, 0, 0x100));
    CHECK_EXC("v86 interrupt to a cpl 3 handler", EXC_GP, SEL_CODE3 | 1);

    /* IRET in V86 with IOPL < 3 and no VME: #GP(0). With IOPL 3: a real-mode IRET. */
    TRY(iret(cpu, 0));
    CHECK_EXC("iret in v86 with iopl 0", EXC_GP, 0);
    cpu_set_eflags_masked(cpu, F_IOPL, F_IOPL);
    ESP(cpu) = 0x0FFA;
    w16(0x20000 + 0x0FFA, 0x0222);
    w16(0x20000 + 0x0FFC, 0x1100);
    w16(0x20000 + 0x0FFE, F_CF | 0x2);      /* IOPL field 0 in the image: kept at 3 */
    TRY(iret(cpu, 0));
    check(exc < 0 && cpu->v86 && cpu->eip == 0x222 && cpu->seg[S_CS].base == 0x11000 &&
          ((cpu->eflags & F_IOPL) == F_IOPL) && (cpu_eflags(cpu) & F_CF), "v86 iret with iopl 3");

    /* CR4.VME: INT n redirected to the IVT by the TSS bitmap. */
    cpu->cr4 |= CR4_VME;
    cpu_set_eflags_masked(cpu, F_IF, F_IOPL | F_IF | F_VIF);   /* IOPL 0, VIF 0 */
    w16(0x21 * 4, 0x0300);
    w16(0x21 * 4 + 2, 0x1200);
    ESP(cpu) = 0x1000;
    TRY(cpu_deliver(cpu, 0x21, INT_SOFT, 0, 0, 0x0224));
    check(exc < 0 && cpu->v86 && cpu->seg[S_CS].sel == 0x1200 && cpu->eip == 0x300 && ESP(cpu) == 0x0FFA &&
          (cpu->eflags & F_IF), "vme method 6: cs %04x eip %x esp %x", cpu->seg[S_CS].sel, cpu->eip, ESP(cpu));
    uint16_t fl = r16(0x20000 + 0x0FFE);
    check((fl & F_IOPL) == F_IOPL && !(fl & F_IF) && r16(0x20000 + 0x0FFA) == 0x224,
          "vme method 6 frame: flags %04x (IF from VIF, IOPL 3)", fl);
    /* VME IRET moves IF into VIF. */
    w16(0x20000 + 0x0FFE, F_IF | 0x2);
    TRY(iret(cpu, 0));
    check(exc < 0 && cpu->eip == 0x224 && (cpu->eflags & F_VIF) && (cpu->eflags & F_IF), "vme iret sets VIF");
    TRY(cpu_deliver(cpu, 0x30, INT_SOFT, 0, 0, 0x0226));
    CHECK_EXC("vme: vector with its redirection bit set, iopl < 3", EXC_GP, 0);
}

/* ---------------------------------------------------------------------------
 * Task switches. */

static void test_tasks(void)
{
    enter_pmode(0);
    EAX(cpu) = 0xA0A0A0A0;
    set_seg(S_FS, SEL_DATA0);
    TRY(far_call(cpu, SEL_TSS_B, 0, 1, 0x4007));
    CHECK_EXC("call to a tss", -1, 0);
    check(cpu->tr.sel == SEL_TSS_B && cpu->eip == 0x5A00 && EAX(cpu) == 0x11111111 && ESP(cpu) == STACKB_TOP &&
          (cpu->eflags & F_NT) && (cpu->eflags & F_IF) && (cpu->cr0 & CR0_TS) && cpu->ldtr.sel == SEL_LDT &&
          cpu->seg[S_FS].sel == 0, "task b running: tr %04x eip %x eax %x eflags %x", cpu->tr.sel, cpu->eip,
          EAX(cpu), cpu_eflags(cpu));
    check(r16(TSS_B) == SEL_TSS_A && r32(TSS_A + 0x20) == 0x4007 && r32(TSS_A + 0x28) == 0xA0A0A0A0 &&
          r16(TSS_A + 0x58) == SEL_DATA0, "back link and saved state");
    check((r8(GDT_BASE + SEL_TSS_A + 5) & 0x0F) == DESC_TSS32_BUSY && (r8(GDT_BASE + SEL_TSS_B + 5) & 0x0F) == DESC_TSS32_BUSY,
          "both tasks busy");

    /* A busy TSS cannot be called. */
    TRY(far_call(cpu, SEL_TSS_A, 0, 1, 0x5A05));
    CHECK_EXC("call to a busy tss", EXC_GP, SEL_TSS_A);

    /* IRET with NT returns. */
    EAX(cpu) = 0x5555;
    cpu->cur = NULL;
    TRY(iret(cpu, 1));
    CHECK_EXC("iret to the calling task", -1, 0);
    check(cpu->tr.sel == SEL_TSS_A && cpu->eip == 0x4007 && EAX(cpu) == 0xA0A0A0A0 && !(cpu->eflags & F_NT) &&
          cpu->seg[S_FS].sel == SEL_DATA0, "back in task a: eip %x eax %x", cpu->eip, EAX(cpu));
    check((r8(GDT_BASE + SEL_TSS_B + 5) & 0x0F) == DESC_TSS32_AVAIL && r32(TSS_B + 0x28) == 0x5555 &&
          !(r32(TSS_B + 0x24) & F_NT), "task b saved, not busy, NT clear in its image");

    /* JMP through a task gate: no back link, old task not busy. */
    enter_pmode(0);
    TRY(far_jmp(cpu, SEL_TASKGATE, 0, 1, 0x4007));
    check(exc < 0 && cpu->tr.sel == SEL_TSS_B && !(cpu->eflags & F_NT) &&
          (r8(GDT_BASE + SEL_TSS_A + 5) & 0x0F) == DESC_TSS32_AVAIL, "jmp through a task gate");

    /* Exception through a task gate: the error code lands on the new task's stack. */
    enter_pmode(3);
    TRY(cpu_deliver(cpu, VEC_TASK, INT_EXC, 1, 0xBEEF, 0x4000));
    check(exc < 0 && cpu->tr.sel == SEL_TSS_B && ESP(cpu) == STACKB_TOP - 4 && r32(STACKB_TOP - 4) == 0xBEEF &&
          cpu->cpl == 0 && (cpu->eflags & F_NT), "task gate with error code: esp %x", ESP(cpu));
    check(r16(TSS_A + 0x4C) == (SEL_CODE3 | 3) && r32(TSS_A + 0x20) == 0x4000, "interrupted cpl 3 task saved");

    /* A new TSS whose limit is too small: #TS(sel) before anything changes. */
    enter_pmode(0);
    put_desc(GDT_BASE, SEL_TSS_B, make_desc(TSS_B, 0x50, 0x89, 0x00));
    TRY(far_jmp(cpu, SEL_TSS_B, 0, 1, 0x4007));
    CHECK_EXC("tss limit too small", EXC_TS, SEL_TSS_B);
    check(cpu->tr.sel == SEL_TSS_A && cpu->eip == 0x4000, "still task a");

    /* A bad CS in the new task: #TS(cs) in the context of the new task. */
    enter_pmode(0);
    w16(TSS_B + 0x4C, SEL_DATA0);
    TRY(far_jmp(cpu, SEL_TSS_B, 0, 1, 0x4007));
    CHECK_EXC("new task's cs is data", EXC_TS, SEL_DATA0);
    check(cpu->tr.sel == SEL_TSS_B && cpu->eip == 0x5A00 && cpu->seg[S_CS].sel == SEL_DATA0,
          "fault taken in the new task (tr %04x eip %x)", cpu->tr.sel, cpu->eip);
    w16(TSS_B + 0x4C, SEL_CODE0);

    /* A bad SS: #TS(ss), and the rest of the state is loaded all the same
     * (SDM vol. 3, 7.3 step 13), so the handler has a stack. */
    enter_pmode(0);
    w16(TSS_B + 0x50, SEL_DATA3 | 3);
    TRY(far_jmp(cpu, SEL_TSS_B, 0, 1, 0x4007));
    CHECK_EXC("new task's ss has the wrong privilege", EXC_TS, SEL_DATA3);
    check(cpu->tr.sel == SEL_TSS_B && cpu->seg[S_SS].sel == (SEL_DATA3 | 3) && cpu->seg[S_SS].whi == 0xFFFFFFFFu &&
          cpu->seg[S_DS].sel == SEL_DATA0 && cpu->seg[S_DS].rhi == 0xFFFFFFFFu && cpu->cpl == 0,
          "registers loaded unchecked after the fault");
    w16(TSS_B + 0x50, SEL_DATA0);

    /* T bit: #DB after the switch, DR6.BT set. */
    enter_pmode(0);
    w16(TSS_B + 0x64, 1);
    TRY(far_jmp(cpu, SEL_TSS_B, 0, 1, 0x4007));
    CHECK_EXC("T bit", EXC_DB, 0);
    check(cpu->tr.sel == SEL_TSS_B && cpu->eip == 0x5A00 && (cpu->dr[6] & 0x8000), "debug trap after the switch");
    w16(TSS_B + 0x64, 0);

    /* 16-bit TSS. */
    enter_pmode(0);
    TRY(far_call(cpu, SEL_TSS_C, 0, 1, 0x4007));
    check(exc < 0 && cpu->tr.sel == SEL_TSS_C && cpu->eip == 0x6200 && (EAX(cpu) & 0xFFFF) == 0x1234 &&
          !cpu->stack32 && (ESP(cpu) & 0xFFFF) == 0x0F00 && !cpu->code32 && r16(TSS_C) == SEL_TSS_A,
          "16-bit task: eip %x ax %x", cpu->eip, EAX(cpu) & 0xFFFF);
    /* A CPL 0 interrupt in a 16-bit task takes SP0 from the 16-bit TSS. */
    w16(TSS_C + 0x02, 0x0E00);
    w16(TSS_C + 0x04, SEL_STACK16);
    TRY(iret(cpu, 0));
    check(exc < 0 && cpu->tr.sel == SEL_TSS_A && cpu->eip == 0x4007 && r16(TSS_C + 0x0E) != 0,
          "iret from the 16-bit task");
}

/* ---------------------------------------------------------------------------
 * I/O permission. */

static void test_io(void)
{
    enter_pmode(3);
    TRY(io_check(cpu, 0x60, 1));
    CHECK_EXC("port 0x60 allowed by the bitmap", -1, 0);
    TRY(io_check(cpu, 0x80, 1));
    CHECK_EXC("port 0x80 denied", EXC_GP, 0);
    TRY(io_check(cpu, 0x7E, 4));
    CHECK_EXC("dword 0x7e-0x81 touches 0x80", EXC_GP, 0);
    TRY(io_check(cpu, 0x3F8, 1));
    CHECK_EXC("port 0x3f8 allowed", -1, 0);
    TRY(io_check(cpu, 0x3F8, 2));
    CHECK_EXC("word 0x3f8 touches 0x3f9", EXC_GP, 0);
    TRY(io_check(cpu, 0xFFFF, 1));
    CHECK_EXC("port 0xffff allowed (its second byte is the 0xff terminator inside the limit)", -1, 0);
    put_desc(GDT_BASE, SEL_TSS_A, make_desc(TSS_A, TSS_A_IOMAP + 0x10, 0x8B, 0x00));
    cpu->tr.limit = TSS_A_IOMAP + 0x10;
    TRY(io_check(cpu, 0x100, 1));
    CHECK_EXC("bitmap beyond the tss limit", EXC_GP, 0);
    cpu_set_eflags_masked(cpu, F_IOPL, F_IOPL);
    TRY(io_check(cpu, 0x100, 1));
    CHECK_EXC("iopl 3 at cpl 3", -1, 0);
    cpu->cr0 &= ~CR0_PE;
    cpu_update_mode(cpu);
    TRY(io_check(cpu, 0x80, 1));
    CHECK_EXC("real mode", -1, 0);
}

/* ---------------------------------------------------------------------------
 * LAR, LSL, VERR, VERW, LLDT, LTR. */

static void test_probes(void)
{
    enter_pmode(3);
    uint32_t v = 0;
    int ok = seg_lar(cpu, SEL_DATA3 | 3, &v);
    check(ok && v == 0x00C0F200u, "lar data3: %d %08x", ok, v);
    check(!seg_lar(cpu, SEL_DATA0 | 3, &v), "lar data0 at cpl 3 fails");
    check(seg_lar(cpu, SEL_CONF0 | 3, &v), "lar conforming code at cpl 3");
    check(!seg_lar(cpu, 0, &v), "lar null fails");
    check(!seg_lar(cpu, 0xFF8, &v), "lar beyond the gdt fails");
    ok = seg_lsl(cpu, SEL_CODE3_SMALL | 3, &v);
    check(ok && v == 0xFFF, "lsl: %d %x", ok, v);
    check(!seg_lsl(cpu, SEL_CALLGATE32 | 3, &v), "lsl of a call gate fails");
    check(seg_lar(cpu, SEL_CALLGATE32 | 3, &v), "lar of a dpl 3 call gate");
    check(seg_verr(cpu, SEL_DATA3 | 3) && !seg_verr(cpu, SEL_EXECONLY3 | 3), "verr");
    check(seg_verw(cpu, SEL_DATA3 | 3) && !seg_verw(cpu, SEL_CODE3 | 3) && !seg_verw(cpu, SEL_DATA0), "verw");

    enter_pmode(0);
    TRY(load_tr(cpu, SEL_TSS_A));
    CHECK_EXC("ltr of a busy tss", EXC_GP, SEL_TSS_A);
    TRY(load_tr(cpu, 0));
    CHECK_EXC("ltr null", EXC_GP, 0);
    TRY(load_tr(cpu, SEL_TSS_B));
    check(exc < 0 && cpu->tr.sel == SEL_TSS_B && (r8(GDT_BASE + SEL_TSS_B + 5) & 0x0F) == DESC_TSS32_BUSY, "ltr marks busy");
    TRY(load_ldtr(cpu, SEL_DATA0));
    CHECK_EXC("lldt of a data segment", EXC_GP, SEL_DATA0);
    TRY(load_ldtr(cpu, 0));
    uint64_t d;
    check(exc < 0 && !desc_lookup(cpu, LDT_DATA3, &d), "lldt 0 makes the ldt unusable");
}

/* ---------------------------------------------------------------------------
 * Corners: 16-bit stacks, V86 tasks, mode exits. */

static void test_corners(void)
{
    /* RET to an outer 16-bit stack changes only SP: the upper half of ESP keeps
     * the inner value (what hardware does, the reason for Linux's espfix). */
    enter_pmode(0);
    put_desc(GDT_BASE, 0xC8, make_desc(STACK16_BASE, 0xFFFF, 0xF2, 0x00));   /* 16-bit DPL 3 stack */
    ESP(cpu) = STACK0_TOP - 16;
    w32(STACK0_TOP - 16, 0x4100);
    w32(STACK0_TOP - 12, SEL_CODE3 | 3);
    w32(STACK0_TOP - 8, 0x1234);
    w32(STACK0_TOP - 4, 0xC8 | 3);
    TRY(far_ret(cpu, 1, 0));
    check(exc < 0 && cpu->cpl == 3 && ESP(cpu) == ((STACK0_TOP & 0xFFFF0000u) | 0x1234) && !cpu->stack32,
          "ret to a 16-bit outer stack: esp %08x", ESP(cpu));

    /* IRET to CPL 3 nulls a DPL 0 ES, keeps a DPL 3 DS. */
    enter_pmode(0);
    set_seg(S_ES, SEL_DATA0);
    set_seg(S_DS, SEL_DATA3 | 3);
    ESP(cpu) = STACK0_TOP - 20;
    w32(STACK0_TOP - 20, 0x4100);
    w32(STACK0_TOP - 16, SEL_CODE3 | 3);
    w32(STACK0_TOP - 12, 0x2);
    w32(STACK0_TOP - 8, STACK3_TOP);
    w32(STACK0_TOP - 4, SEL_DATA3 | 3);
    TRY(iret(cpu, 1));
    check(exc < 0 && cpu->seg[S_ES].sel == 0 && cpu->seg[S_DS].sel == (SEL_DATA3 | 3) && ESP(cpu) == STACK3_TOP,
          "iret to cpl 3: es %04x ds %04x", cpu->seg[S_ES].sel, cpu->seg[S_DS].sel);

    /* An interrupt whose inner stack is 16-bit: the upper ESP bits come from ESP0. */
    enter_pmode(3);
    w32(TSS_A + 0x04, 0x00050F00);
    w16(TSS_A + 0x08, SEL_STACK16);
    TRY(cpu_deliver(cpu, VEC_INT0, INT_HW, 0, 0, 0x4000));
    check(exc < 0 && ESP(cpu) == 0x00050F00 - 20 && r32(STACK16_BASE + 0x0F00 - 20) == 0x4000,
          "16-bit inner stack: esp %08x", ESP(cpu));

    /* A task switch into a V86 task. */
    enter_pmode(0);
    w32(TSS_B + 0x20, 0x0010);
    w32(TSS_B + 0x24, F_VM | F_IOPL | 0x2);
    w16(TSS_B + 0x48, 0x1111);
    w16(TSS_B + 0x4C, 0x2222);
    w16(TSS_B + 0x50, 0x3333);
    w16(TSS_B + 0x54, 0x4444);
    w16(TSS_B + 0x60, 0);
    TRY(far_jmp(cpu, SEL_TSS_B, 0, 1, 0x4007));
    check(exc < 0 && cpu->v86 && cpu->cpl == 3 && cpu->seg[S_CS].base == 0x22220 && cpu->seg[S_SS].base == 0x33330 &&
          cpu->seg[S_ES].sel == 0x1111 && cpu->eip == 0x10 && !cpu_get_cr(cpu, 3), "jmp to a v86 task: v86 %d cs %x",
          cpu->v86, cpu->seg[S_CS].base);
    /* I/O in V86 goes by the bitmap even with IOPL 3; task B's TSS has none. */
    w16(TSS_B + 0x66, 0x68);
    TRY(io_check(cpu, 0x80, 1));
    CHECK_EXC("v86 i/o without a bitmap, iopl 3", EXC_GP, 0);
    /* A far call in V86 is a real-mode one. */
    ESP(cpu) = 0x100;
    TRY(far_call(cpu, 0x5000, 0x1234, 0, 0x0017));
    check(exc < 0 && cpu->seg[S_CS].base == 0x50000 && cpu->seg[S_CS].limit == 0xFFFF && cpu->eip == 0x1234 &&
          ESP(cpu) == 0xFC && r16(0x33330 + 0xFC) == 0x17 && r16(0x33330 + 0xFE) == 0x2222, "v86 far call");
    TRY(far_jmp(cpu, 0x5000, 0x12345, 1, 0));
    CHECK_EXC("v86 jmp beyond 64 KiB", EXC_GP, 0);

    /* Back to real mode: CS keeps its limit, becomes writable; DS nulled in
     * protected mode becomes a 64 KiB segment again. */
    enter_pmode(0);
    set_seg(S_CS, SEL_CODE0_16);
    seg_cache_null(&cpu->seg[S_DS], 0);
    cpu->cr0 &= ~CR0_PE;
    cpu_update_mode(cpu);
    TRY(far_jmp(cpu, 0x0800, 0x0010, 0, 0));
    TRY(seg_load(cpu, S_DS, 0x0900));
    check(exc < 0 && !cpu->pmode && cpu->seg[S_CS].base == 0x8000 && cpu->seg[S_CS].whi == 0xFFFF &&
          cpu->seg[S_CS].wlo == 0 && cpu->seg[S_DS].limit == 0xFFFF && cpu->seg[S_DS].whi == 0xFFFF && !cpu->code32,
          "real mode after protected mode: cs writable (%x-%x), ds limit %x", cpu->seg[S_CS].wlo,
          cpu->seg[S_CS].whi, cpu->seg[S_DS].limit);
}

/* ---------------------------------------------------------------------------
 * Code run through cpu_run: the instructions call into the functions above. */

static jmp_buf run_jmp;
static int run_vec;

/* Stop at the first #UD (the UD2 that ends each sequence); let the rest be delivered. */
static void on_exception(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    if (vector != EXC_UD) return;
    run_vec = vector;
    exc_err = error;
    longjmp(run_jmp, 1);
}

static int run_until_exception(uint64_t budget)
{
    run_vec = -1;
    cpu_set_exception_hook(cpu, on_exception, NULL);
    if (setjmp(run_jmp) == 0) cpu_run(cpu, budget);
    cpu_set_exception_hook(cpu, NULL, NULL);
    return run_vec;
}

static void put_code(uint32_t at, const uint8_t *code, size_t len) { memory_write(mem, at, code, (uint32_t)len); }
#define PUT_CODE(at, ...) do { const uint8_t c_[] = { __VA_ARGS__ }; put_code(at, c_, sizeof c_); } while (0)

static void test_run_code(void)
{
    /* Real mode: INT 21h to a handler that does INC AX; IRET; then UD2. */
    cpu_reset(cpu);
    build_tables();
    cpu->idt_base = 0;
    cpu->idt_limit = 0x3FF;
    w16(0x21 * 4, 0x0000);
    w16(0x21 * 4 + 2, 0x0900);
    PUT_CODE(0x9000, 0x40, 0xCF);                       /* inc ax; iret */
    PUT_CODE(0x8000, 0xCD, 0x21, 0x40, 0x0F, 0x0B);     /* int 21h; inc ax; ud2 */
    cpu_set_seg_real(cpu, S_CS, 0x0800);
    cpu_set_seg_real(cpu, S_SS, 0);
    cpu_set_seg_real(cpu, S_DS, 0);
    ESP(cpu) = 0x7000;
    cpu->eip = 0;
    EAX(cpu) = 0;
    int v = run_until_exception(100);
    check(v == EXC_UD && EAX(cpu) == 2 && cpu->eip == 3 && ESP(cpu) == 0x7000,
          "real mode int/iret run: vector %d ax %x ip %x sp %x", v, EAX(cpu), cpu->eip, ESP(cpu));

    /* Protected mode, CPL 3: call far through the 32-bit call gate (two parameters),
     * the ring 0 routine adds them into EAX and returns with RETF 8. */
    enter_pmode(3);
    PUT_CODE(HANDLER_GATE32,
             0x8B, 0x44, 0x24, 0x08,                    /* mov eax, [esp+8] */
             0x03, 0x44, 0x24, 0x0C,                    /* add eax, [esp+12] */
             0xCA, 0x08, 0x00);                         /* retf 8 */
    PUT_CODE(0x4000,
             0x6A, 0x05,                                /* push 5 */
             0x6A, 0x07,                                /* push 7 */
             0x9A, 0x00, 0x00, 0x00, 0x00, SEL_CALLGATE32 | 3, 0x00,  /* call 0x33:0 */
             0x0F, 0x0B);                               /* ud2 */
    v = run_until_exception(100);
    check(v == EXC_UD && EAX(cpu) == 12 && cpu->cpl == 3 && ESP(cpu) == STACK3_TOP && cpu->eip == 0x400B,
          "call gate run: vector %d eax %d cpl %d esp %x eip %x", v, EAX(cpu), cpu->cpl, ESP(cpu), cpu->eip);

    /* INT 21h from CPL 3 through the DPL 3 trap gate, IRETD back. */
    enter_pmode(3);
    PUT_CODE(HANDLER_TRAP3, 0x40, 0xCF);                /* inc eax; iretd */
    PUT_CODE(0x4000, 0xCD, VEC_TRAP3, 0x40, 0x0F, 0x0B);
    EAX(cpu) = 0;
    v = run_until_exception(100);
    check(v == EXC_UD && EAX(cpu) == 2 && cpu->cpl == 3 && ESP(cpu) == STACK3_TOP,
          "int/iretd from cpl 3: vector %d eax %d", v, EAX(cpu));

    /* A #GP at CPL 3 (HLT) delivered to the ring 0 handler with its error code. */
    enter_pmode(3);
    PUT_CODE(0x5700, 0x0F, 0x0B);                       /* #GP handler: ud2 */
    PUT_CODE(0x4000, 0xF4);                             /* hlt */
    v = run_until_exception(100);
    check(v == EXC_UD && cpu->cpl == 0 && cpu->eip == 0x5700 && ESP(cpu) == STACK0_TOP - 24 &&
          r32(STACK0_TOP - 24) == 0 && r32(STACK0_TOP - 20) == 0x4000,
          "#GP from cpl 3 reached its handler: vector %d eip %x esp %x", v, cpu->eip, ESP(cpu));
}

int main(void)
{
    mem = memory_new(RAM_SIZE);
    io = ioports_new();
    cpu = cpu_new(mem, io);
    if (!mem || !io || !cpu) {
        fprintf(stderr, "cannot build the machine\n");
        return 2;
    }
    test_seg_load();
    test_far_jmp();
    test_call_gate();
    test_real_interrupts();
    test_pmode_interrupts();
    test_v86();
    test_tasks();
    test_io();
    test_probes();
    test_corners();
    test_run_code();
    cpu_free(cpu);
    ioports_free(io);
    memory_free(mem);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
