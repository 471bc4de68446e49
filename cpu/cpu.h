/* The CPU as the rest of the machine sees it: create, reset, run, raise IRQs,
 * read and set registers (for tests, the BIOS trap and savestates).
 * The internals every cpu/ file shares are in cpu/internal.h. */
#ifndef BUBBLE_CPU_H
#define BUBBLE_CPU_H

#include <stdint.h>
#include <stdio.h>

struct cpu;
struct memory;
struct ioports;

/* General registers, in encoding order (ModRM reg field). */
enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI };
/* Segment registers, in encoding order (sreg field). */
enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_NONE = 7 };

/* EFLAGS bits (Intel SDM vol. 1, 3.4.3). */
#define F_CF   0x00000001u
#define F_PF   0x00000004u
#define F_AF   0x00000010u
#define F_ZF   0x00000040u
#define F_SF   0x00000080u
#define F_TF   0x00000100u
#define F_IF   0x00000200u
#define F_DF   0x00000400u
#define F_OF   0x00000800u
#define F_IOPL 0x00003000u
#define F_NT   0x00004000u
#define F_RF   0x00010000u
#define F_VM   0x00020000u
#define F_AC   0x00040000u
#define F_VIF  0x00080000u
#define F_VIP  0x00100000u
#define F_ID   0x00200000u
#define F_OSZAPC (F_OF | F_SF | F_ZF | F_AF | F_PF | F_CF)

/* CR0 bits */
#define CR0_PE 0x00000001u
#define CR0_MP 0x00000002u
#define CR0_EM 0x00000004u
#define CR0_TS 0x00000008u
#define CR0_ET 0x00000010u
#define CR0_NE 0x00000020u
#define CR0_WP 0x00010000u
#define CR0_AM 0x00040000u
#define CR0_NW 0x20000000u
#define CR0_CD 0x40000000u
#define CR0_PG 0x80000000u
/* CR4 bits we implement */
#define CR4_VME 0x0001u
#define CR4_PVI 0x0002u
#define CR4_TSD 0x0004u
#define CR4_DE  0x0008u
#define CR4_PSE 0x0010u
#define CR4_PGE 0x0080u
#define CR4_PCE 0x0100u

/* -d log classes, named as QEMU names them. */
#define LOG_INT    0x01u  /* every interrupt and exception */
#define LOG_CPU    0x02u  /* registers at each block */
#define LOG_EXEC   0x04u  /* each block run */
#define LOG_UNIMP  0x08u  /* unimplemented opcodes and registers */
#define LOG_PCALL  0x10u  /* protected-mode far calls, task switches */

/* Why cpu_run returned. */
enum cpu_stop {
    CPU_STOP_BUDGET,   /* ran the number of instructions asked for */
    CPU_STOP_HALT,     /* HLT with interrupts that cannot wake it now */
    CPU_STOP_RESET,    /* triple fault or a reset request: the machine should reset */
    CPU_STOP_REQUEST,  /* cpu_request_stop() was called (device or host event) */
};

/* A snapshot of the architectural state the outside world reads or sets. */
struct cpu_segment_state {
    uint16_t selector;
    uint32_t base;
    uint32_t limit;     /* byte granular, already scaled by G */
    uint16_t flags;     /* descriptor bits 40-47 (access byte) | bits 52-55 << 8 (AVL, L, D/B, G) */
};

struct cpu_callbacks {
    void *opaque;
    /* Interrupt acknowledge: returns the vector of the pending maskable interrupt. */
    int (*intr_ack)(void *opaque);
    /* The CPU asserts FERR# (x87 error with CR0.NE=0); the PC routes it to IRQ 13. */
    void (*ferr)(void *opaque, int level);
};

struct cpu *cpu_new(struct memory *mem, struct ioports *io);
void cpu_free(struct cpu *cpu);
void cpu_set_callbacks(struct cpu *cpu, const struct cpu_callbacks *cb);
/* Power-on/RESET state: real mode, CS:IP = F000:FFF0 with CS base FFFF0000. */
void cpu_reset(struct cpu *cpu);
/* Run at most `budget` instructions; returns why it stopped. */
enum cpu_stop cpu_run(struct cpu *cpu, uint64_t budget);
/* Level of the INTR line (from the PIC). */
void cpu_set_intr(struct cpu *cpu, int level);
void cpu_set_nmi(struct cpu *cpu);
/* Makes cpu_run return at the next block boundary. Safe from device callbacks. */
void cpu_request_stop(struct cpu *cpu);
/* Instructions retired since reset (a monotonic clock for deterministic mode). */
uint64_t cpu_icount(const struct cpu *cpu);

/* Logging (-d / -D). */
void cpu_set_log(struct cpu *cpu, unsigned mask, FILE *out);

/* Block cache switch, for the benchmark that measures it. */
void cpu_set_block_cache(struct cpu *cpu, int enabled);
/* Counters (Blink's -Z style): blocks decoded, invalidations, TLB misses... */
void cpu_print_stats(const struct cpu *cpu, FILE *out);

/* Register access, for tests, the BIOS trap and savestates. */
uint32_t cpu_get_reg(const struct cpu *cpu, int reg);
void cpu_set_reg(struct cpu *cpu, int reg, uint32_t v);
uint32_t cpu_get_eip(const struct cpu *cpu);
void cpu_set_eip(struct cpu *cpu, uint32_t eip);
uint32_t cpu_get_eflags(const struct cpu *cpu);
void cpu_set_eflags(struct cpu *cpu, uint32_t v);
void cpu_get_seg(const struct cpu *cpu, int seg, struct cpu_segment_state *out);
void cpu_set_seg(struct cpu *cpu, int seg, const struct cpu_segment_state *in);
/* Real-mode style load: selector, base = selector * 16, limit and flags kept. */
void cpu_set_seg_real(struct cpu *cpu, int seg, uint16_t selector);
uint32_t cpu_get_cr(const struct cpu *cpu, int n);
void cpu_set_cr(struct cpu *cpu, int n, uint32_t v);
/* Descriptor table registers (loaders that enter protected mode directly). */
void cpu_set_gdtr(struct cpu *cpu, uint32_t base, uint16_t limit);
void cpu_set_idtr(struct cpu *cpu, uint32_t base, uint16_t limit);
void cpu_get_gdtr(const struct cpu *cpu, uint32_t *base, uint16_t *limit);
void cpu_get_idtr(const struct cpu *cpu, uint32_t *base, uint16_t *limit);
int cpu_is_halted(const struct cpu *cpu);
void cpu_set_halted(struct cpu *cpu, int halted);

/* Exceptions and interrupts (vector numbers). */
enum {
    EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5, EXC_UD = 6,
    EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12, EXC_GP = 13,
    EXC_PF = 14, EXC_MF = 16, EXC_AC = 17, EXC_MC = 18,
};

/* Test hook: called for every exception or interrupt taken (before delivery),
 * so a test can stop at the first exception the way the 286 vectors expect. */
typedef void cpu_exception_hook(void *opaque, int vector, int has_error, uint32_t error, int is_soft);
void cpu_set_exception_hook(struct cpu *cpu, cpu_exception_hook *hook, void *opaque);

/* Guest-memory helpers that go through segmentation-free linear addressing
 * with paging (supervisor access). Return 0 on success, -1 on a fault
 * (no exception is raised). For BIOS services and debuggers. */
int cpu_read_linear(struct cpu *cpu, uint32_t lin, void *buf, uint32_t len);
int cpu_write_linear(struct cpu *cpu, uint32_t lin, const void *buf, uint32_t len);

#endif
