/* Software 80-bit extended arithmetic for the x87 (cpu/fx80.c, cpu/fx80_trans.c).
 *
 * Every operation follows the x87's rules as the SDM vol. 1 chapter 8 and the
 * per-instruction pages of vol. 2 give them: results rounded to env->precision
 * significant bits (24/53/64; the reserved 01 acts as 64) with env->rounding,
 * the exponent range kept extended (precision control rounds the significand
 * only), denormal operands flagged (FX_DE), invalid operations give the real
 * indefinite (negative QNaN C000000000000000, exponent 7FFF) when masked, SNaN
 * operands raise FX_IE and are quieted, NaN propagation (SDM vol. 1, table 4-7):
 * a QNaN wins over an SNaN, else the larger significand, on a tie the positive
 * one; masked overflow gives infinity or the largest finite number by rounding
 * mode, masked underflow denormalises (tininess after rounding, UE only when
 * inexact), and env->c1 reports rounding up (magnitude increased).
 *
 * Every function clears env->flags, env->c1 and env->unmasked first.
 * env->unmasked gets the raised exceptions among IE, DE, ZE, OE, UE whose mask
 * bit is clear (PE never stops anything). What the caller then writes:
 *  - IE, DE or ZE unmasked: nothing (pre-computation exceptions; the return
 *    value is meaningless). Exceptions to this, measured on hardware: loads from
 *    memory (fx80_from_f32/f64) with only DE unmasked still load, and compares
 *    set the condition codes (the return value) whatever the masks.
 *  - OE or UE unmasked with a register destination: the returned value, whose
 *    exponent is wrapped by 24576 (SDM vol. 1, 8.4 and 4.9.1.4/5); when even
 *    the wrapped exponent does not fit (FSCALE), infinity or zero as returned.
 *  - OE or UE unmasked with a memory destination (fx80_to_f32/f64): nothing;
 *    the flags are then only OE or UE (no PE, C1 = 0).
 * Unsupported encodings (pseudo-NaN, pseudo-infinity, unnormals) are invalid
 * operands, as on a 387 and later; pseudo-denormals are denormals (DE) with
 * the weight of exponent 1.
 *
 * The transcendentals are correctly rounded (computed to about 2^-120, see
 * cpu/fx80_trans.c); the hardware is within 1 ulp of that, so a few percent of
 * results differ from a given CPU by one ulp. Measured hardware details kept:
 * FSIN/FCOS/FPTAN reduce by the x87's 66-bit pi; F2XM1 of |x| > 1 returns x
 * (inexact); FYL2XP1 of x <= -1 returns x (inexact); FYL2X/FYL2XP1 results are
 * always flagged inexact. Caller-side details measured on hardware: FPTAN of a
 * NaN pushes the NaN instead of 1.0; FSINCOS takes C1 from the sine. */
#ifndef BUBBLE_FX80_H
#define BUBBLE_FX80_H

#include <stdint.h>

#include "fpu.h"

/* Classification (the FXAM classes, SDM vol. 2 FXAM). */
enum fx_class { FXC_UNSUPPORTED, FXC_NAN, FXC_NORMAL, FXC_INF, FXC_ZERO, FXC_EMPTY, FXC_DENORMAL };
enum fx_class fx80_classify(struct fx80 a);
int fx80_is_nan(struct fx80 a);
int fx80_is_snan(struct fx80 a);
struct fx80 fx80_indefinite(void);
struct fx80 fx80_zero(int sign);
struct fx80 fx80_inf(int sign);

/* Arithmetic. */
struct fx80 fx80_add(struct fx80_env *env, struct fx80 a, struct fx80 b);
struct fx80 fx80_sub(struct fx80_env *env, struct fx80 a, struct fx80 b);
struct fx80 fx80_mul(struct fx80_env *env, struct fx80 a, struct fx80 b);
struct fx80 fx80_div(struct fx80_env *env, struct fx80 a, struct fx80 b);
struct fx80 fx80_sqrt(struct fx80_env *env, struct fx80 a);
struct fx80 fx80_round_int(struct fx80_env *env, struct fx80 a);            /* FRNDINT */
struct fx80 fx80_scale(struct fx80_env *env, struct fx80 a, struct fx80 b); /* FSCALE: a * 2^trunc(b) */
/* FXTRACT: *exp gets the exponent as a value, the return is the significand. */
struct fx80 fx80_extract(struct fx80_env *env, struct fx80 a, struct fx80 *exp);
/* FPREM (ieee = 0, truncating quotient) and FPREM1 (ieee = 1, round to nearest).
 * *q gets the low three quotient bits (C0=q2, C3=q1, C1=q0) and *partial 1 when
 * the reduction is incomplete (C2; then *q = 0: C0, C3, C1 read 0 on hardware).
 * A partial remainder reduces the exponent difference D to N = 32 + (D mod 32). */
struct fx80 fx80_prem(struct fx80_env *env, struct fx80 a, struct fx80 b, int ieee, unsigned *q, int *partial);

/* Comparison: returns -1 (a < b), 0 (equal), 1 (a > b) or 2 (unordered).
 * `quiet` = 1 for FUCOM/FUCOMI (only SNaN raises IE), 0 for FCOM (any NaN raises IE). */
int fx80_compare(struct fx80_env *env, struct fx80 a, struct fx80 b, int quiet);

/* Conversions. Loads of narrower formats are exact (denormal inputs flag DE). */
struct fx80 fx80_from_f32(struct fx80_env *env, uint32_t v);
struct fx80 fx80_from_f64(struct fx80_env *env, uint64_t v);
struct fx80 fx80_from_i64(int64_t v);
uint32_t fx80_to_f32(struct fx80_env *env, struct fx80 a);
uint64_t fx80_to_f64(struct fx80_env *env, struct fx80 a);
/* Integer stores round by env->rounding (truncate = 1 forces toward zero: FISTTP);
 * out of range or NaN gives IE and the integer indefinite (the smallest value).
 * Stores (integer, BCD, f32/f64) never flag DE for a denormal source (measured). */
int64_t fx80_to_int(struct fx80_env *env, struct fx80 a, int bits, int truncate);
/* Round to env->precision as a register result would be (FLD from memory does not). */
struct fx80 fx80_round_prec(struct fx80_env *env, struct fx80 a);
/* Packed BCD (10 bytes: 9 bytes of 18 digits, sign byte). Loading invalid digits
 * is undefined on hardware; we convert them as digit values. Storing rounds by
 * env->rounding; out of range or NaN gives IE and the BCD indefinite (bytes 9, 8,
 * 7 = FF FF C0, the rest 0). */
struct fx80 fx80_from_bcd(const uint8_t bcd[10]);
void fx80_to_bcd(struct fx80_env *env, struct fx80 a, uint8_t bcd[10]);

/* Transcendentals (cpu/fx80_trans.c), argument reduction and results as the
 * x87 defines them: FSIN/FCOS/FSINCOS/FPTAN set *out_of_range (C2) and leave
 * the operand when |a| >= 2^63. */
struct fx80 fx80_sin(struct fx80_env *env, struct fx80 a, int *out_of_range);
struct fx80 fx80_cos(struct fx80_env *env, struct fx80 a, int *out_of_range);
struct fx80 fx80_tan(struct fx80_env *env, struct fx80 a, int *out_of_range);
struct fx80 fx80_atan2(struct fx80_env *env, struct fx80 y, struct fx80 x);      /* FPATAN: atan(y/x) with quadrant */
struct fx80 fx80_f2xm1(struct fx80_env *env, struct fx80 a);                     /* 2^a - 1, |a| <= 1 */
struct fx80 fx80_yl2x(struct fx80_env *env, struct fx80 y, struct fx80 x);       /* y * log2(x) */
struct fx80 fx80_yl2xp1(struct fx80_env *env, struct fx80 y, struct fx80 x);     /* y * log2(x + 1) */

/* Constants as FLD1/FLDL2T/FLDL2E/FLDPI/FLDLG2/FLDLN2 load them: the 66-bit
 * internal constant rounded by env->rounding (SDM vol. 1, 8.3.8). */
enum fx_const { FXK_ONE, FXK_L2T, FXK_L2E, FXK_PI, FXK_LG2, FXK_LN2, FXK_ZERO };
struct fx80 fx80_const(const struct fx80_env *env, enum fx_const k);

/* Shared by cpu/fx80.c and cpu/fx80_trans.c, not meant for the instructions.
 * fx80_round_pack: the value hi:lo * 2^(exp - 16383 - 127) (any nonzero
 * hi:lo, exp biased and unbounded) rounded to `prec` bits (24, 53, 64) with the
 * x87's overflow, underflow, precision and C1 rules; it adds to env->flags.
 * fx80_nan_operands/fx80_nan_operand: unsupported operands (IE, indefinite)
 * and NaN propagation; return 1 with *res set when they decide the result. */
struct fx80 fx80_round_pack(struct fx80_env *env, int sign, int32_t exp, uint64_t hi, uint64_t lo, int prec);
int fx80_nan_operands(struct fx80_env *env, struct fx80 a, struct fx80 b, struct fx80 *res);
int fx80_nan_operand(struct fx80_env *env, struct fx80 a, struct fx80 *res);

#endif
