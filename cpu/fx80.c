/* Software 80-bit extended arithmetic for the x87: the basic operations,
 * conversions and constants (fx80.h says what each function promises).
 *
 * Values are unpacked to sign, biased exponent and a 64-bit significand with
 * the integer bit at bit 63 (denormals normalised, with an exponent below 1);
 * results are built as a 128-bit significand whose bits below the kept
 * precision hold the exact remainder or a sticky bit, and fx80_round_pack
 * rounds them once, as the x87 does (SDM vol. 1, 4.8.4 and 8.1.5). */
#include <string.h>

#include "fx80.h"

typedef unsigned __int128 u128;

#define BIAS      16383
#define EXP_INF   0x7FFF
#define INT_BIT   0x8000000000000000ull
#define QUIET_BIT 0x4000000000000000ull
#define WRAP      24576        /* exponent bias adjust of unmasked O/U results (SDM vol. 1, 8.4) */

static inline int sign_of(struct fx80 a) { return a.se >> 15; }
static inline int exp_of(struct fx80 a) { return a.se & 0x7FFF; }
static inline struct fx80 make(int sign, int exp, uint64_t sig)
{
    struct fx80 r = { sig, (uint16_t)((sign ? 0x8000 : 0) | (exp & 0x7FFF)) };
    return r;
}
static inline int clz64(uint64_t v) { return __builtin_clzll(v); }
static inline int clz128(u128 v)
{
    uint64_t hi = (uint64_t)(v >> 64);
    return hi ? clz64(hi) : 64 + clz64((uint64_t)v);
}

/* ---------------------------------------------------------------------------
 * Classification. */

/* Exponent nonzero without the integer bit: unnormal, pseudo-infinity and
 * pseudo-NaN, all invalid operands since the 387 (SDM vol. 1, 8.2.2). */
static inline int is_unsupported(struct fx80 a) { return exp_of(a) != 0 && !(a.sig & INT_BIT); }
static inline int is_inf(struct fx80 a) { return exp_of(a) == EXP_INF && a.sig == INT_BIT; }
static inline int is_zero(struct fx80 a) { return exp_of(a) == 0 && a.sig == 0; }
static inline int is_denormal(struct fx80 a) { return exp_of(a) == 0 && a.sig != 0; }
static inline int is_nan(struct fx80 a) { return exp_of(a) == EXP_INF && (a.sig & INT_BIT) && (a.sig << 1) != 0; }
static inline int is_snan(struct fx80 a) { return is_nan(a) && !(a.sig & QUIET_BIT); }
/* Exponent 7FFF or unsupported: everything that is neither finite nor zero. */
static inline int is_special(struct fx80 a) { return exp_of(a) == EXP_INF || is_unsupported(a); }

enum fx_class fx80_classify(struct fx80 a)
{
    if (is_unsupported(a)) return FXC_UNSUPPORTED;
    if (exp_of(a) == EXP_INF) return (a.sig << 1) ? FXC_NAN : FXC_INF;
    if (exp_of(a) == 0) return a.sig ? FXC_DENORMAL : FXC_ZERO;
    return FXC_NORMAL;
}
int fx80_is_nan(struct fx80 a) { return is_nan(a); }
int fx80_is_snan(struct fx80 a) { return is_snan(a); }
struct fx80 fx80_indefinite(void) { return make(1, EXP_INF, INT_BIT | QUIET_BIT); }
struct fx80 fx80_zero(int sign) { return make(sign, 0, 0); }
struct fx80 fx80_inf(int sign) { return make(sign, EXP_INF, INT_BIT); }

/* A finite nonzero value, normalised: value = sig * 2^(exp - BIAS - 63), bit 63 set.
 * Denormals and pseudo-denormals have the weight of exponent 1. */
struct unp { int sign; int32_t exp; uint64_t sig; };

static inline struct unp unpack(struct fx80 a)
{
    struct unp u = { sign_of(a), exp_of(a), a.sig };
    if (u.exp == 0) {
        int lz = clz64(u.sig);
        u.sig <<= lz;
        u.exp = 1 - lz;
    }
    return u;
}

/* ---------------------------------------------------------------------------
 * Exceptions. Every public function starts with begin(); pre-computation
 * exceptions (invalid, denormal, zero divide) stop the operation when unmasked. */

static inline void begin(struct fx80_env *env)
{
    env->flags = 0;
    env->c1 = 0;
    env->unmasked = 0;
}

/* Raises `flag`; returns 1 when it is unmasked (the operation stops there). */
static inline int raise(struct fx80_env *env, unsigned flag)
{
    env->flags |= (uint8_t)flag;
    if (env->masks & flag) return 0;
    env->unmasked |= (uint8_t)flag;
    return 1;
}

static inline struct fx80 invalid(struct fx80_env *env)
{
    raise(env, FX_IE);
    return fx80_indefinite();
}

static inline struct fx80 quiet(struct fx80 a) { a.sig |= QUIET_BIT; return a; }

/* NaN operands of a two-operand operation (SDM vol. 1, 4.8.3.5, table 4-7):
 * an SNaN raises IE; of two NaNs the QNaN wins over an SNaN, else the larger
 * significand (on a tie the positive one). */
static struct fx80 propagate_nan2(struct fx80_env *env, struct fx80 a, struct fx80 b)
{
    int sa = is_snan(a), sb = is_snan(b);
    if (sa || sb) raise(env, FX_IE);
    if (!is_nan(b)) return quiet(a);
    if (!is_nan(a)) return quiet(b);
    if (sa != sb) return sa ? b : a;
    if (a.sig != b.sig) return quiet(a.sig > b.sig ? a : b);
    return quiet(sign_of(a) ? b : a);
}

static struct fx80 propagate_nan1(struct fx80_env *env, struct fx80 a)
{
    if (is_snan(a)) raise(env, FX_IE);
    return quiet(a);
}

/* The checks every two-operand arithmetic operation starts with: unsupported
 * operands, then NaNs. Returns 1 with *res set when they decide the result. */
int fx80_nan_operands(struct fx80_env *env, struct fx80 a, struct fx80 b, struct fx80 *res)
{
    if (!is_special(a) && !is_special(b)) return 0;
    if (is_unsupported(a) || is_unsupported(b)) {
        *res = invalid(env);
        return 1;
    }
    if (is_nan(a) || is_nan(b)) {
        *res = propagate_nan2(env, a, b);
        return 1;
    }
    return 0;
}

int fx80_nan_operand(struct fx80_env *env, struct fx80 a, struct fx80 *res)
{
    if (is_unsupported(a)) {
        *res = invalid(env);
        return 1;
    }
    if (is_nan(a)) {
        *res = propagate_nan1(env, a);
        return 1;
    }
    return 0;
}

/* Denormal operands raise DE; returns 1 when it is unmasked. */
static inline int denormal_operands(struct fx80_env *env, struct fx80 a, struct fx80 b)
{
    if (is_denormal(a) || is_denormal(b)) return raise(env, FX_DE);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Rounding. */

static inline int precision_bits(unsigned pc)
{
    return pc == FX_PC24 ? 24 : pc == FX_PC53 ? 53 : 64;
}

/* Rounds v (nonzero) to keep its top bits above bit `drop` in `rc`; the carry
 * out of bit 127 is reported through *carry (v then becomes 2^127). */
static inline u128 round_bits(u128 v, int drop, int sign, unsigned rc, int *inexact, int *up, int *carry)
{
    u128 unit = (u128)1 << drop, mask = unit - 1, rem = v & mask;
    v &= ~mask;
    *inexact = rem != 0;
    *up = 0;
    *carry = 0;
    if (!rem) return v;
    switch (rc) {
    case FX_RN: {
        u128 half = unit >> 1;
        *up = rem > half || (rem == half && (v & unit));
        break;
    }
    case FX_RD: *up = sign; break;
    case FX_RU: *up = !sign; break;
    default: break;
    }
    if (*up) {
        v += unit;
        if (v == 0) {
            v = (u128)1 << 127;
            *carry = 1;
        }
    }
    return v;
}

static inline u128 shift_right_jam(u128 v, int n)
{
    if (n <= 0) return v;
    if (n >= 128) return v != 0;
    return (v >> n) | ((v & (((u128)1 << n) - 1)) != 0);
}

/* The rounding core shared by register results and stores to the narrower
 * formats: v (bit 127 set) times 2^(exp - BIAS - 127) rounded to `prec` bits
 * with the exponent range [emin, emax] (biased, in extended terms). The result
 * is in *out_exp / return (64-bit significand); a denormal result has
 * *out_exp = emin and bit 63 clear, zero has significand 0.
 * Tininess is detected after rounding with unbounded exponent, overflow too
 * (SDM vol. 1, 4.9.1.4-5). Masked overflow gives infinity (*out_exp = EXP_INF)
 * or the largest finite value; unmasked O/U give the result with the exponent
 * wrapped by `wrap`, or (wrap = 0: a store to memory, which writes nothing)
 * only their flag. */
static uint64_t round_core(struct fx80_env *env, int sign, int32_t exp, u128 v, int prec,
                           int32_t emin, int32_t emax, int32_t wrap, int32_t *out_exp)
{
    int drop = 128 - prec, inexact, up, carry;
    unsigned rc = env->rounding & 3;
    u128 r = round_bits(v, drop, sign, rc, &inexact, &up, &carry);
    int32_t e = exp + carry;

    if (e > emax) {
        if (!(env->masks & FX_OE) && (!wrap || e - wrap <= emax)) {
            env->flags |= FX_OE;
            env->unmasked |= FX_OE;
            if (!wrap) return 0;                  /* a memory destination: nothing else */
            if (inexact) env->flags |= FX_PE;
            env->c1 = (uint8_t)up;
            *out_exp = e - wrap;
            return (uint64_t)(r >> 64);
        }
        env->flags |= FX_OE | FX_PE;
        /* Unmasked but too large even wrapped (FSCALE): infinity whatever the rounding (measured). */
        if (!(env->masks & FX_OE)) {
            env->unmasked |= FX_OE;
            env->c1 = 1;
            *out_exp = EXP_INF;
            return INT_BIT;
        }
        /* Round to nearest and away from zero give infinity, the others the largest finite. */
        if (rc == FX_RN || (rc == FX_RU && !sign) || (rc == FX_RD && sign)) {
            env->c1 = 1;
            *out_exp = EXP_INF;
            return INT_BIT;
        }
        env->c1 = 0;
        *out_exp = emax;
        return ~0ull << (64 - prec);
    }
    if (e < emin) {
        if (!(env->masks & FX_UE) && (!wrap || e + wrap >= emin)) {
            env->flags |= FX_UE;
            env->unmasked |= FX_UE;
            if (!wrap) return 0;
            if (inexact) env->flags |= FX_PE;
            env->c1 = (uint8_t)up;
            *out_exp = e + wrap;
            return (uint64_t)(r >> 64);
        }
        /* Unmasked but too small even wrapped (FSCALE): zero whatever the rounding (measured). */
        if (!(env->masks & FX_UE)) {
            env->flags |= FX_UE | FX_PE;
            env->unmasked |= FX_UE;
            env->c1 = 0;
            *out_exp = emin;
            return 0;
        }
        /* Masked: denormalise, then round at the same bit of the significand. */
        r = round_bits(shift_right_jam(v, emin - exp), drop, sign, rc, &inexact, &up, &carry);
        if (inexact) env->flags |= FX_UE | FX_PE;
        env->c1 = (uint8_t)up;
        *out_exp = emin;
        return (uint64_t)(r >> 64);
    }
    if (inexact) env->flags |= FX_PE;
    env->c1 = (uint8_t)up;
    *out_exp = e;
    return (uint64_t)(r >> 64);
}

static struct fx80 round_pack(struct fx80_env *env, int sign, int32_t exp, u128 v, int prec)
{
    int32_t e;
    uint64_t sig;
    if (v == 0) return make(sign, 0, 0);
    if (!(v >> 127)) {
        int lz = clz128(v);
        v <<= lz;
        exp -= lz;
    }
    sig = round_core(env, sign, exp, v, prec, 1, EXP_INF - 1, WRAP, &e);
    if (!(sig & INT_BIT)) e = 0;                   /* denormal or zero */
    return make(sign, e, sig);
}

struct fx80 fx80_round_pack(struct fx80_env *env, int sign, int32_t exp, uint64_t hi, uint64_t lo, int prec)
{
    return round_pack(env, sign, exp, (u128)hi << 64 | lo, prec);
}

static inline struct fx80 pack_unp(struct fx80_env *env, struct unp u, int prec)
{
    return round_pack(env, u.sign, u.exp, (u128)u.sig << 64, prec);
}

struct fx80 fx80_round_prec(struct fx80_env *env, struct fx80 a)
{
    struct fx80 r;
    begin(env);
    if (is_special(a) || is_zero(a)) return a;
    r = pack_unp(env, unpack(a), precision_bits(env->precision));
    return r;
}

/* ---------------------------------------------------------------------------
 * Addition and subtraction. */

static struct fx80 add_signed(struct fx80_env *env, struct fx80 a, struct fx80 b, int negate_b)
{
    struct fx80 res;
    int prec = precision_bits(env->precision);
    begin(env);
    if (fx80_nan_operands(env, a, b, &res)) return res;
    int sa = sign_of(a), sb = sign_of(b) ^ negate_b;
    if (is_inf(a) || is_inf(b)) {
        if (is_inf(a) && is_inf(b) && sa != sb) return invalid(env);
        if (denormal_operands(env, a, b)) return a;
        return fx80_inf(is_inf(a) ? sa : sb);
    }
    if (denormal_operands(env, a, b)) return a;
    if (is_zero(a) || is_zero(b)) {
        if (is_zero(a) && is_zero(b))
            return fx80_zero(sa == sb ? sa : (env->rounding & 3) == FX_RD);
        struct unp u = unpack(is_zero(a) ? b : a);
        u.sign = is_zero(a) ? sb : sa;
        return pack_unp(env, u, prec);
    }
    struct unp x = unpack(a), y = unpack(b);
    x.sign = sa;
    y.sign = sb;
    if (y.exp > x.exp || (y.exp == x.exp && y.sig > x.sig)) {
        struct unp t = x;
        x = y;
        y = t;
    }
    /* One bit of headroom for the carry: value = v * 2^(x.exp - BIAS - 126). */
    u128 vx = (u128)x.sig << 63;
    u128 vy = shift_right_jam((u128)y.sig << 63, x.exp - y.exp);
    u128 v = x.sign == y.sign ? vx + vy : vx - vy;
    if (v == 0) return fx80_zero((env->rounding & 3) == FX_RD);
    return round_pack(env, x.sign, x.exp + 1, v, prec);
}

struct fx80 fx80_add(struct fx80_env *env, struct fx80 a, struct fx80 b) { return add_signed(env, a, b, 0); }
struct fx80 fx80_sub(struct fx80_env *env, struct fx80 a, struct fx80 b) { return add_signed(env, a, b, 1); }

/* ---------------------------------------------------------------------------
 * Multiplication, division, square root. */

struct fx80 fx80_mul(struct fx80_env *env, struct fx80 a, struct fx80 b)
{
    struct fx80 res;
    int sign = sign_of(a) ^ sign_of(b);
    begin(env);
    if (fx80_nan_operands(env, a, b, &res)) return res;
    if (is_inf(a) || is_inf(b)) {
        if (is_zero(a) || is_zero(b)) return invalid(env);
        if (denormal_operands(env, a, b)) return a;
        return fx80_inf(sign);
    }
    if (denormal_operands(env, a, b)) return a;
    if (is_zero(a) || is_zero(b)) return fx80_zero(sign);
    struct unp x = unpack(a), y = unpack(b);
    u128 p = (u128)x.sig * y.sig;     /* value = p * 2^(x.exp + y.exp - 2 BIAS - 126) */
    return round_pack(env, sign, x.exp + y.exp - BIAS + 1, p, precision_bits(env->precision));
}

/* The 128-bit quotient of two normalised significands with a sticky bit:
 * value (num/den) = q * 2^-127 * 2^(*adjust). */
static u128 divide_sig(uint64_t num, uint64_t den, int *adjust)
{
    u128 n;
    if (num >= den) {
        n = (u128)num << 63;
        *adjust = 0;
    } else {
        n = (u128)num << 64;
        *adjust = -1;
    }
    uint64_t q1 = (uint64_t)(n / den);
    uint64_t r1 = (uint64_t)(n % den);
    u128 n2 = (u128)r1 << 64;
    uint64_t q2 = (uint64_t)(n2 / den);
    uint64_t r2 = (uint64_t)(n2 % den);
    return ((u128)q1 << 64) | q2 | (r2 != 0);
}

struct fx80 fx80_div(struct fx80_env *env, struct fx80 a, struct fx80 b)
{
    struct fx80 res;
    int sign = sign_of(a) ^ sign_of(b);
    begin(env);
    if (fx80_nan_operands(env, a, b, &res)) return res;
    if (is_inf(a)) {
        if (is_inf(b)) return invalid(env);
        if (denormal_operands(env, a, b)) return a;
        return fx80_inf(sign);
    }
    if (is_inf(b)) {
        if (denormal_operands(env, a, b)) return a;
        return fx80_zero(sign);
    }
    if (is_zero(b)) {
        if (is_zero(a)) return invalid(env);
        /* Zero divide outranks a denormal dividend (SDM vol. 1, 4.9.2): no DE. */
        if (raise(env, FX_ZE)) return a;
        return fx80_inf(sign);
    }
    if (denormal_operands(env, a, b)) return a;
    if (is_zero(a)) return fx80_zero(sign);
    struct unp x = unpack(a), y = unpack(b);
    int adjust;
    u128 q = divide_sig(x.sig, y.sig, &adjust);
    return round_pack(env, sign, x.exp - y.exp + BIAS + adjust, q, precision_bits(env->precision));
}

/* floor(sqrt((2i + 1) 2^55)) >> 16 for i = 64..255: the square root of a
 * 64-bit number with top byte i, to about 8 bits. */
static const uint16_t sqrt_seed[192] = {
    32895, 33149, 33401, 33652, 33900, 34146, 34391, 34634, 34876, 35115, 35353, 35590,
    35825, 36058, 36290, 36521, 36750, 36977, 37203, 37428, 37652, 37874, 38095, 38314,
    38532, 38749, 38965, 39180, 39394, 39606, 39817, 40027, 40236, 40444, 40651, 40857,
    41062, 41266, 41468, 41670, 41871, 42071, 42270, 42468, 42665, 42861, 43056, 43251,
    43444, 43637, 43829, 44020, 44210, 44399, 44588, 44775, 44962, 45148, 45334, 45519,
    45702, 45886, 46068, 46250, 46431, 46611, 46791, 46970, 47148, 47326, 47503, 47679,
    47854, 48029, 48204, 48377, 48550, 48723, 48895, 49066, 49237, 49407, 49576, 49745,
    49914, 50081, 50249, 50415, 50581, 50747, 50912, 51076, 51240, 51404, 51567, 51729,
    51891, 52053, 52213, 52374, 52534, 52693, 52852, 53011, 53169, 53326, 53483, 53640,
    53796, 53952, 54107, 54262, 54416, 54570, 54724, 54877, 55029, 55182, 55333, 55485,
    55636, 55786, 55937, 56086, 56236, 56385, 56533, 56681, 56829, 56977, 57124, 57270,
    57417, 57563, 57708, 57853, 57998, 58143, 58287, 58430, 58574, 58717, 58859, 59002,
    59144, 59285, 59427, 59568, 59708, 59849, 59989, 60128, 60268, 60407, 60546, 60684,
    60822, 60960, 61097, 61234, 61371, 61508, 61644, 61780, 61916, 62051, 62186, 62321,
    62455, 62589, 62723, 62857, 62990, 63123, 63256, 63388, 63521, 63652, 63784, 63915,
    64047, 64177, 64308, 64438, 64568, 64698, 64828, 64957, 65086, 65215, 65343, 65471,
};

/* floor(sqrt(n)) for 2^126 <= n < 2^128, with the remainder n - root^2: the
 * seed, two Newton steps on the top 64 bits, one on all 128 (which never lands
 * below the root), then an exact correction of the last unit or two. */
static uint64_t isqrt128(u128 n, u128 *rem)
{
    uint64_t hi = (uint64_t)(n >> 64);
    uint64_t y = (uint64_t)sqrt_seed[(hi >> 56) - 64] << 16;
    y = (y + hi / y) >> 1;
    y = (y + hi / y) >> 1;
    u128 x = (u128)y << 32;
    u128 r = (x + n / x) >> 1;
    if (r >> 64) r = ~0ull;
    while (r * r > n) r--;
    *rem = n - r * r;
    return (uint64_t)r;
}

struct fx80 fx80_sqrt(struct fx80_env *env, struct fx80 a)
{
    struct fx80 res;
    begin(env);
    if (fx80_nan_operand(env, a, &res)) return res;
    if (is_zero(a)) return a;
    if (sign_of(a)) return invalid(env);
    if (is_inf(a)) return a;
    if (is_denormal(a) && raise(env, FX_DE)) return a;
    struct unp x = unpack(a);
    int32_t e = x.exp - BIAS;              /* a = (sig / 2^63) * 2^e */
    u128 n = (e & 1) ? (u128)x.sig << 64 : (u128)x.sig << 63;
    u128 rem;
    uint64_t root = isqrt128(n, &rem);     /* root / 2^63 = sqrt(a / 2^(e & ~1)) */
    /* Below the root: more than half an ulp exactly when rem > root (never exactly half). */
    uint64_t low = (rem > root ? INT_BIT : 0) | (rem != 0);
    int32_t half = (e - (e & 1)) / 2;
    return round_pack(env, 0, half + BIAS, ((u128)root << 64) | low, precision_bits(env->precision));
}

/* ---------------------------------------------------------------------------
 * Rounding to an integer (FRNDINT, FIST, FBSTP). */

/* |u| rounded to an integer in rc; *inexact and *up (magnitude increased) out.
 * Returns 0 with *huge = 1 when |u| >= 2^64. */
static uint64_t round_magnitude(struct unp u, unsigned rc, int *inexact, int *up, int *huge)
{
    int32_t e = u.exp - BIAS;           /* |u| = sig / 2^63 * 2^e */
    *huge = 0;
    *inexact = 0;
    *up = 0;
    if (e >= 64) {
        *huge = 1;
        return 0;
    }
    if (e >= 63) return u.sig;
    if (e < -1) {
        /* Below one half: zero or one, by direction only. */
        *inexact = 1;
        *up = (rc == FX_RU && !u.sign) || (rc == FX_RD && u.sign);
        return (uint64_t)*up;
    }
    int frac = 126 - e;                 /* v = sig << 63 has 64..127 fraction bits */
    int carry;
    u128 v = round_bits((u128)u.sig << 63, frac, u.sign, rc, inexact, up, &carry);
    return (uint64_t)(v >> frac);
}

static inline struct fx80 from_u64(int sign, uint64_t m)
{
    if (!m) return fx80_zero(sign);
    int lz = clz64(m);
    return make(sign, BIAS + 63 - lz, m << lz);
}

struct fx80 fx80_round_int(struct fx80_env *env, struct fx80 a)
{
    struct fx80 res;
    begin(env);
    if (fx80_nan_operand(env, a, &res)) return res;
    if (is_inf(a) || is_zero(a)) return a;
    if (is_denormal(a) && raise(env, FX_DE)) return a;
    struct unp u = unpack(a);
    if (u.exp - BIAS >= 63) return a;
    int inexact, up, huge;
    uint64_t m = round_magnitude(u, env->rounding & 3, &inexact, &up, &huge);
    if (inexact) env->flags |= FX_PE;
    env->c1 = (uint8_t)up;
    return from_u64(u.sign, m);
}

int64_t fx80_to_int(struct fx80_env *env, struct fx80 a, int bits, int truncate)
{
    const int64_t indefinite = (int64_t)((uint64_t)-1 << (bits - 1));
    begin(env);
    if (is_special(a)) {
        raise(env, FX_IE);
        return indefinite;
    }
    if (is_zero(a)) return 0;
    struct unp u = unpack(a);
    int inexact, up, huge;
    uint64_t m = round_magnitude(u, truncate ? FX_RZ : (env->rounding & 3), &inexact, &up, &huge);
    uint64_t limit = (uint64_t)1 << (bits - 1);       /* |min| */
    if (huge || m > limit || (m == limit && !u.sign)) {
        raise(env, FX_IE);
        return indefinite;
    }
    if (inexact) env->flags |= FX_PE;
    env->c1 = (uint8_t)up;
    return u.sign ? (int64_t)(0 - m) : (int64_t)m;
}

/* ---------------------------------------------------------------------------
 * FSCALE, FXTRACT, FPREM. */

struct fx80 fx80_scale(struct fx80_env *env, struct fx80 a, struct fx80 b)
{
    struct fx80 res;
    begin(env);
    if (fx80_nan_operands(env, a, b, &res)) return res;
    if (is_inf(b)) {
        if (sign_of(b) ? is_inf(a) : is_zero(a)) return invalid(env);
        if (denormal_operands(env, a, b)) return a;
        if (is_inf(a) || is_zero(a)) return a;
        return sign_of(b) ? fx80_zero(sign_of(a)) : fx80_inf(sign_of(a));
    }
    if (denormal_operands(env, a, b)) return a;
    if (is_inf(a) || is_zero(a)) return a;
    /* trunc(b), clamped far beyond any representable scale. */
    int32_t n = 0;
    if (!is_zero(b)) {
        struct unp s = unpack(b);
        int32_t e = s.exp - BIAS;
        if (e >= 0) {
            int32_t m = e > 30 ? 0x7FFFFFF : (int32_t)(s.sig >> (63 - e));
            if (m > 0x7FFFFFF) m = 0x7FFFFFF;
            n = s.sign ? -m : m;
        }
    }
    struct unp x = unpack(a);
    return round_pack(env, x.sign, x.exp + n, (u128)x.sig << 64, 64);
}

struct fx80 fx80_extract(struct fx80_env *env, struct fx80 a, struct fx80 *exp)
{
    struct fx80 res;
    begin(env);
    if (fx80_nan_operand(env, a, &res)) {
        *exp = res;
        return res;
    }
    if (is_inf(a)) {
        *exp = fx80_inf(0);
        return a;
    }
    if (is_zero(a)) {
        *exp = fx80_inf(1);
        raise(env, FX_ZE);
        return a;
    }
    if (is_denormal(a) && raise(env, FX_DE)) {
        *exp = a;
        return a;
    }
    struct unp u = unpack(a);
    int32_t e = u.exp - BIAS;
    *exp = from_u64(e < 0, (uint64_t)(e < 0 ? -(int64_t)e : e));
    return make(u.sign, BIAS, u.sig);
}

/* The implementation-dependent N of a partial remainder: the exponent is
 * reduced by D - N with N in 32..63 (SDM vol. 2, FPREM). */
static inline int32_t partial_reduction(int32_t d) { return d - 32 - (d & 31); }

struct fx80 fx80_prem(struct fx80_env *env, struct fx80 a, struct fx80 b, int ieee, unsigned *q, int *partial)
{
    struct fx80 res;
    *q = 0;
    *partial = 0;
    begin(env);
    if (fx80_nan_operands(env, a, b, &res)) return res;
    if (is_inf(a) || is_zero(b)) return invalid(env);
    if (denormal_operands(env, a, b)) return a;
    if (is_zero(a)) return a;
    /* A finite dividend over infinity: the dividend, normalised like any result. */
    if (is_inf(b)) return pack_unp(env, unpack(a), 64);

    struct unp x = unpack(a), y = unpack(b);
    int32_t d = x.exp - y.exp;
    int32_t rexp = y.exp;                 /* the remainder's weight: that of the divisor */
    uint64_t quot = 0, r;
    if (d >= 64) {
        int32_t n = d - partial_reduction(d);
        u128 num = (u128)x.sig << n;
        quot = (uint64_t)(num / y.sig);
        r = (uint64_t)(num % y.sig);
        rexp = x.exp - n;
        *partial = 1;
    } else if (d >= 0) {
        u128 num = (u128)x.sig << d;
        quot = (uint64_t)(num / y.sig);
        r = (uint64_t)(num % y.sig);
    } else {
        r = x.sig;
        rexp = x.exp;
    }
    int sign = x.sign;
    if (ieee && !*partial) {
        /* Round the quotient to nearest even: compare 2r with the divisor. */
        int round_up;
        if (d >= 0) {
            u128 twice = (u128)r << 1;
            round_up = twice > y.sig || (twice == y.sig && (quot & 1));
        } else {
            round_up = d == -1 && x.sig > y.sig;   /* |a| > |b| / 2 */
        }
        if (round_up) {
            if (d >= 0) {
                r = y.sig - r;
            } else {
                /* a lies in (b/2, b): the remainder is b - a at the weight of a. */
                r = (uint64_t)(((u128)y.sig << 1) - x.sig);
            }
            quot++;
            sign ^= 1;
        }
    }
    /* A partial remainder leaves C0, C3 and C1 clear (measured). */
    *q = *partial ? 0 : (unsigned)(quot & 7);
    if (r == 0) return fx80_zero(x.sign);
    return round_pack(env, sign, rexp, (u128)r << 64, 64);
}

/* ---------------------------------------------------------------------------
 * Comparison. */

int fx80_compare(struct fx80_env *env, struct fx80 a, struct fx80 b, int quiet_nan)
{
    begin(env);
    if (is_special(a) || is_special(b)) {
        if (is_unsupported(a) || is_unsupported(b)) {
            raise(env, FX_IE);
            return 2;
        }
        if (is_nan(a) || is_nan(b)) {
            if (!quiet_nan || is_snan(a) || is_snan(b)) raise(env, FX_IE);
            return 2;
        }
    }
    /* The condition codes are written even with DE unmasked (measured). */
    denormal_operands(env, a, b);
    if (is_zero(a) && is_zero(b)) return 0;
    int sa = sign_of(a), sb = sign_of(b);
    if (is_zero(a)) return sb ? 1 : -1;
    if (is_zero(b)) return sa ? -1 : 1;
    if (sa != sb) return sa ? -1 : 1;
    struct unp x = unpack(a), y = unpack(b);
    int mag;
    if (x.exp != y.exp) mag = x.exp > y.exp ? 1 : -1;
    else if (x.sig != y.sig) mag = x.sig > y.sig ? 1 : -1;
    else return 0;
    return sa ? -mag : mag;
}

/* ---------------------------------------------------------------------------
 * Conversions from and to the memory formats. */

static struct fx80 from_ieee(struct fx80_env *env, uint64_t v, int frac_bits, int exp_bits)
{
    int sign = (int)(v >> (frac_bits + exp_bits));
    int32_t emax = (1 << exp_bits) - 1, bias = emax >> 1;
    int32_t e = (int32_t)(v >> frac_bits) & emax;
    uint64_t frac = v & (((uint64_t)1 << frac_bits) - 1);
    begin(env);
    if (e == emax) {
        if (!frac) return fx80_inf(sign);
        struct fx80 n = make(sign, EXP_INF, INT_BIT | (frac << (63 - frac_bits)));
        if (!(n.sig & QUIET_BIT)) raise(env, FX_IE);
        return quiet(n);
    }
    if (e == 0) {
        if (!frac) return fx80_zero(sign);
        raise(env, FX_DE);
        int lz = clz64(frac);
        /* frac * 2^(1 - bias - frac_bits) */
        return make(sign, 1 - bias - frac_bits + BIAS + 63 - lz, frac << lz);
    }
    return make(sign, e - bias + BIAS, INT_BIT | (frac << (63 - frac_bits)));
}

struct fx80 fx80_from_f32(struct fx80_env *env, uint32_t v) { return from_ieee(env, v, 23, 8); }
struct fx80 fx80_from_f64(struct fx80_env *env, uint64_t v) { return from_ieee(env, v, 52, 11); }

struct fx80 fx80_from_i64(int64_t v)
{
    return from_u64(v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

/* A store to a narrower IEEE format: SNaN raises IE and is quieted, unsupported
 * values give the indefinite; rounding uses rc with the format's precision and
 * exponent range (precision control plays no part). */
static uint64_t to_ieee(struct fx80_env *env, struct fx80 a, int frac_bits, int exp_bits)
{
    int sign = sign_of(a);
    int32_t emax = (1 << exp_bits) - 1, bias = emax >> 1;
    uint64_t s = (uint64_t)sign << (frac_bits + exp_bits);
    uint64_t quiet_bit = (uint64_t)1 << (frac_bits - 1);
    uint64_t inf = (uint64_t)emax << frac_bits;
    begin(env);
    if (is_unsupported(a)) {
        raise(env, FX_IE);
        return ((uint64_t)1 << (frac_bits + exp_bits)) | inf | quiet_bit;
    }
    if (is_nan(a)) {
        if (is_snan(a)) raise(env, FX_IE);
        return s | inf | quiet_bit | ((a.sig << 1) >> (64 - frac_bits));
    }
    if (is_inf(a)) return s | inf;
    if (is_zero(a)) return s;
    struct unp u = unpack(a);
    int32_t e;
    uint64_t sig = round_core(env, sign, u.exp, (u128)u.sig << 64, frac_bits + 1,
                              BIAS - bias + 1, BIAS + bias, 0, &e);
    env->unmasked = env->flags & ~env->masks & (FX_IE | FX_DE | FX_OE | FX_UE);
    if (e == EXP_INF) return s | inf;
    if (!(sig & INT_BIT)) return s | (sig >> (63 - frac_bits));        /* denormal or zero */
    return s | ((uint64_t)(e - BIAS + bias) << frac_bits) | ((sig << 1) >> (64 - frac_bits));
}

uint32_t fx80_to_f32(struct fx80_env *env, struct fx80 a) { return (uint32_t)to_ieee(env, a, 23, 8); }
uint64_t fx80_to_f64(struct fx80_env *env, struct fx80 a) { return to_ieee(env, a, 52, 11); }

/* ---------------------------------------------------------------------------
 * Packed BCD. */

struct fx80 fx80_from_bcd(const uint8_t bcd[10])
{
    uint64_t m = 0;
    for (int i = 8; i >= 0; i--) m = m * 100 + (uint64_t)(bcd[i] >> 4) * 10 + (bcd[i] & 15);
    return from_u64(bcd[9] >> 7, m);
}

void fx80_to_bcd(struct fx80_env *env, struct fx80 a, uint8_t bcd[10])
{
    static const uint8_t indefinite[10] = { 0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF };
    begin(env);
    memset(bcd, 0, 10);
    if (is_special(a)) {
        raise(env, FX_IE);
        memcpy(bcd, indefinite, 10);
        return;
    }
    bcd[9] = (uint8_t)(sign_of(a) << 7);
    if (is_zero(a)) return;
    struct unp u = unpack(a);
    int inexact, up, huge;
    uint64_t m = round_magnitude(u, env->rounding & 3, &inexact, &up, &huge);
    if (huge || m > 999999999999999999ull) {
        raise(env, FX_IE);
        memcpy(bcd, indefinite, 10);
        return;
    }
    if (inexact) env->flags |= FX_PE;
    env->c1 = (uint8_t)up;
    for (int i = 0; i < 9; i++) {
        unsigned two = (unsigned)(m % 100);
        m /= 100;
        bcd[i] = (uint8_t)((two / 10) << 4 | (two % 10));
    }
}

/* ---------------------------------------------------------------------------
 * Constants: the x87 holds them with 66 significant bits and rounds them to 64
 * by the rounding control (SDM vol. 1, 8.3.8); the result is the constant
 * correctly rounded. Here: the top 64 bits and what follows them, as
 * 0 (nothing), 1 (less than half an ulp) or 3 (more than half). */

struct fx80_constant { uint64_t sig; uint8_t extra; uint16_t exp; };

static const struct fx80_constant fx80_constants[] = {
    [FXK_ONE]  = { 0x8000000000000000ull, 0, BIAS },
    [FXK_L2T]  = { 0xD49A784BCD1B8AFEull, 1, BIAS + 1 },   /* log2(10): 0.01100... */
    [FXK_L2E]  = { 0xB8AA3B295C17F0BBull, 3, BIAS },       /* log2(e): 0.1011111... */
    [FXK_PI]   = { 0xC90FDAA22168C234ull, 3, BIAS + 1 },   /* pi: 0.1110... */
    [FXK_LG2]  = { 0x9A209A84FBCFF798ull, 3, BIAS - 2 },   /* log10(2): 0.10111... */
    [FXK_LN2]  = { 0xB17217F7D1CF79ABull, 3, BIAS - 1 },   /* ln(2): 0.11100... */
    [FXK_ZERO] = { 0, 0, 0 },
};

struct fx80 fx80_const(const struct fx80_env *env, enum fx_const k)
{
    const struct fx80_constant *c = &fx80_constants[k];
    int up;
    switch (env->rounding & 3) {
    case FX_RN: up = c->extra == 3; break;
    case FX_RU: up = c->extra != 0; break;
    default: up = 0; break;
    }
    return make(0, c->exp, c->sig + (uint64_t)up);
}
