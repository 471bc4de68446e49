/* The decoder's entry points, for the block cache (cpu/exec.c). */
#ifndef BUBBLE_DECODE_H
#define BUBBLE_DECODE_H

#include "internal.h"

/* Fill the opcode table (once per process). */
void decode_init(void);
/* Decode one instruction from `bytes`, of which `avail` are readable. Returns its
 * length, or 0 when it needs bytes beyond `avail`. *flags gets the OPF_* flags. */
int decode_insn(const uint8_t *bytes, unsigned avail, int code32, struct insn *i, uint16_t *flags);
/* More than 15 bytes: #GP(0). */
void op_too_long(struct cpu *cpu, const struct insn *i);

#endif
