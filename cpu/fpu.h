/* The x87: state, and the software 80-bit arithmetic it computes with.
 *
 * Everything is computed in integer arithmetic on our own 80-bit extended
 * format (sign, 15-bit exponent, 64-bit significand with explicit integer bit),
 * so a guest sees the same bits on any host. Never the host's long double.
 *
 * Two layers:
 *  - cpu/fx80.c (+ cpu/fx80_trans.c): the arithmetic. Pure functions over
 *    struct fx80 with a struct fx80_env (precision and rounding control in, the
 *    exception flags and C1 "rounded up" out). No CPU state.
 *  - cpu/ops_fpu.c (+ cpu/fpu.c): the x87 itself: the register stack, tags,
 *    control/status words, exceptions (#MF or FERR#), the instructions. */
#ifndef BUBBLE_FPU_H
#define BUBBLE_FPU_H

#include <stdint.h>

/* An 80-bit extended value: exactly the memory format's fields. */
struct fx80 {
    uint64_t sig;      /* significand, bit 63 = explicit integer bit */
    uint16_t se;       /* bit 15 = sign, bits 0-14 = biased exponent (bias 16383) */
};

/* x87 exception flags, as in the status word (SDM vol. 1, 8.1.3). */
#define FX_IE 0x01    /* invalid operation */
#define FX_DE 0x02    /* denormal operand */
#define FX_ZE 0x04    /* divide by zero */
#define FX_OE 0x08    /* overflow */
#define FX_UE 0x10    /* underflow */
#define FX_PE 0x20    /* precision (inexact) */
#define FX_SF 0x40    /* stack fault (with IE; C1 says overflow or underflow) */

/* Precision control (CW bits 8-9) and rounding control (CW bits 10-11). */
enum fx_precision { FX_PC24 = 0, FX_PC_RESERVED = 1, FX_PC53 = 2, FX_PC64 = 3 };
enum fx_rounding { FX_RN = 0, FX_RD = 1, FX_RU = 2, FX_RZ = 3 };

struct fx80_env {
    uint8_t precision;    /* enum fx_precision */
    uint8_t rounding;     /* enum fx_rounding */
    uint8_t masks;        /* CW bits 0-5: masked exceptions (FX_* bits) */
    uint8_t flags;        /* out: exceptions raised by the operation (FX_* bits) */
    uint8_t c1;           /* out: 1 when the result was rounded up (SDM vol. 1, 8.1.3.1) */
    uint8_t unmasked;     /* out: an unmasked exception means the destination is not written (FX_* bits) */
};

/* The x87 register file and environment (SDM vol. 1, 8.1). */
struct fpu_state {
    struct fx80 st[8];    /* physical registers R0-R7; ST(i) = st[(top + i) & 7] */
    uint16_t cw;          /* control word */
    uint16_t sw;          /* status word, TOP bits kept in `top` (merged when read) */
    uint16_t tw;          /* 2 bits per physical register, kept as 3 (empty) or 0 (in use); the full
                           * tags (valid/zero/special) are computed from the contents when stored */
    uint8_t top;
    uint16_t fop;         /* last non-control instruction opcode (11 bits) */
    uint32_t fip, fdp;    /* its instruction and data pointers */
    uint16_t fcs, fds;
};

#endif
