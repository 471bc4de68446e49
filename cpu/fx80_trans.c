/* Transcendentals of the x87 (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1,
 * FYL2X, FYL2XP1) in integer arithmetic.
 *
 * Each result is computed in a wider software format (struct xf: sign,
 * exponent, 128-bit significand) to about 2^-120 relative, then rounded once
 * to 64 bits by fx80_round_pack. Where the exact result lies extremely close to
 * a representable value (sin x ~ x, cos x ~ 1 for tiny x...), it is written as
 * an exact leading term plus a correction, and the addition keeps a sticky bit
 * so that directed rounding goes the right way.
 *
 * Argument reduction of FSIN/FCOS/FSINCOS/FPTAN divides by the x87's own
 * 66-bit pi/2 (SDM vol. 1, 8.3.10), exactly: the guest gets the hardware's
 * results near multiples of pi, not the mathematically exact ones.
 * The constants come from tests/fx80/gen_constants.py. */
#include "fx80.h"

typedef unsigned __int128 u128;

#define BIAS    16383
#define EXP_INF 0x7FFF
#define INT_BIT 0x8000000000000000ull
#define U128(hi, lo) (((u128)(hi) << 64) | (lo))

#define PI_SIG U128(0xC90FDAA22168C234ULL, 0xC4C6628B80DC1CD1ULL)   /* exponent 1 */
#define LN2_SIG U128(0xB17217F7D1CF79ABULL, 0xC9E3B39803F2F6AFULL)   /* exponent -1 */
#define LOG2E_SIG U128(0xB8AA3B295C17F0BBULL, 0xBE87FED0691D3E88ULL)   /* exponent 0 */
#define SQRT2_SIG U128(0xB504F333F9DE6484ULL, 0x597D89B3754ABE9FULL)   /* exponent 0 */
/* 1/(2n+3)!: sin(r) = r - r^3 (sin_coef(r^2)) */
static const u128 sin_coef[16] = {
    U128(0x2AAAAAAAAAAAAAAAULL, 0xAAAAAAAAAAAAAAAAULL),
    U128(0x0222222222222222ULL, 0x2222222222222222ULL),
    U128(0x000D00D00D00D00DULL, 0x00D00D00D00D00D0ULL),
    U128(0x00002E3BC74AAD8EULL, 0x671F5583911CA002ULL),
    U128(0x0000006B99159FD5ULL, 0x138E3F9D1F92E0DFULL),
    U128(0x00000000B092309DULL, 0x43684BE51C198E91ULL),
    U128(0x0000000000D73F9FULL, 0x399DC0F88EC32B58ULL),
    U128(0x000000000000CA96ULL, 0x3B81856A53593028ULL),
    U128(0x0000000000000097ULL, 0xA4DA340A0AB92650ULL),
    U128(0x0000000000000000ULL, 0x5C6E3BDB73D5C62FULL),
    U128(0x0000000000000000ULL, 0x002EC368262C7033ULL),
    U128(0x0000000000000000ULL, 0x000013F3CCDD165FULL),
    U128(0x0000000000000000ULL, 0x0000000746AC70B7ULL),
    U128(0x0000000000000000ULL, 0x00000000024B3F31ULL),
    U128(0x0000000000000000ULL, 0x000000000000A1A6ULL),
    U128(0x0000000000000000ULL, 0x0000000000000027ULL),
};
/* 1/(2n+2)!: cos(r) = 1 - r^2 (cos_coef(r^2)) */
static const u128 cos_coef[16] = {
    U128(0x8000000000000000ULL, 0x0000000000000000ULL),
    U128(0x0AAAAAAAAAAAAAAAULL, 0xAAAAAAAAAAAAAAAAULL),
    U128(0x005B05B05B05B05BULL, 0x05B05B05B05B05B0ULL),
    U128(0x0001A01A01A01A01ULL, 0xA01A01A01A01A01AULL),
    U128(0x0000049F93EDDE27ULL, 0xD71CBBC05B4FA999ULL),
    U128(0x00000008F76C77FCULL, 0x6C4BDAA26D4C3D67ULL),
    U128(0x000000000C9CBA54ULL, 0x603E4E905D6F8A2EULL),
    U128(0x00000000000D73F9ULL, 0xF399DC0F88EC32B5ULL),
    U128(0x0000000000000B41ULL, 0x3C31DCBECBBDD802ULL),
    U128(0x0000000000000007ULL, 0x950AE900808941EAULL),
    U128(0x0000000000000000ULL, 0x04338E5B6DFE14A5ULL),
    U128(0x0000000000000000ULL, 0x0001F2CF01972F57ULL),
    U128(0x0000000000000000ULL, 0x000000C4742FE352ULL),
    U128(0x0000000000000000ULL, 0x0000000042862898ULL),
    U128(0x0000000000000000ULL, 0x000000000013932CULL),
    U128(0x0000000000000000ULL, 0x000000000000050DULL),
};
/* 1/(2n+3): atanh and atan series */
static const u128 odd_coef[26] = {
    U128(0x5555555555555555ULL, 0x5555555555555555ULL),
    U128(0x3333333333333333ULL, 0x3333333333333333ULL),
    U128(0x2492492492492492ULL, 0x4924924924924924ULL),
    U128(0x1C71C71C71C71C71ULL, 0xC71C71C71C71C71CULL),
    U128(0x1745D1745D1745D1ULL, 0x745D1745D1745D17ULL),
    U128(0x13B13B13B13B13B1ULL, 0x3B13B13B13B13B13ULL),
    U128(0x1111111111111111ULL, 0x1111111111111111ULL),
    U128(0x0F0F0F0F0F0F0F0FULL, 0x0F0F0F0F0F0F0F0FULL),
    U128(0x0D79435E50D79435ULL, 0xE50D79435E50D794ULL),
    U128(0x0C30C30C30C30C30ULL, 0xC30C30C30C30C30CULL),
    U128(0x0B21642C8590B216ULL, 0x42C8590B21642C85ULL),
    U128(0x0A3D70A3D70A3D70ULL, 0xA3D70A3D70A3D70AULL),
    U128(0x097B425ED097B425ULL, 0xED097B425ED097B4ULL),
    U128(0x08D3DCB08D3DCB08ULL, 0xD3DCB08D3DCB08D3ULL),
    U128(0x0842108421084210ULL, 0x8421084210842108ULL),
    U128(0x07C1F07C1F07C1F0ULL, 0x7C1F07C1F07C1F07ULL),
    U128(0x0750750750750750ULL, 0x7507507507507507ULL),
    U128(0x06EB3E45306EB3E4ULL, 0x5306EB3E45306EB3ULL),
    U128(0x0690690690690690ULL, 0x6906906906906906ULL),
    U128(0x063E7063E7063E70ULL, 0x63E7063E7063E706ULL),
    U128(0x05F417D05F417D05ULL, 0xF417D05F417D05F4ULL),
    U128(0x05B05B05B05B05B0ULL, 0x5B05B05B05B05B05ULL),
    U128(0x0572620AE4C415C9ULL, 0x882B9310572620AEULL),
    U128(0x05397829CBC14E5EULL, 0x0A72F05397829CBCULL),
    U128(0x0505050505050505ULL, 0x0505050505050505ULL),
    U128(0x04D4873ECADE304DULL, 0x4873ECADE304D487ULL),
};
/* 1/(n+2)!: expm1(y) = y + y^2 (exp_coef(y)) */
static const u128 exp_coef[30] = {
    U128(0x8000000000000000ULL, 0x0000000000000000ULL),
    U128(0x2AAAAAAAAAAAAAAAULL, 0xAAAAAAAAAAAAAAAAULL),
    U128(0x0AAAAAAAAAAAAAAAULL, 0xAAAAAAAAAAAAAAAAULL),
    U128(0x0222222222222222ULL, 0x2222222222222222ULL),
    U128(0x005B05B05B05B05BULL, 0x05B05B05B05B05B0ULL),
    U128(0x000D00D00D00D00DULL, 0x00D00D00D00D00D0ULL),
    U128(0x0001A01A01A01A01ULL, 0xA01A01A01A01A01AULL),
    U128(0x00002E3BC74AAD8EULL, 0x671F5583911CA002ULL),
    U128(0x0000049F93EDDE27ULL, 0xD71CBBC05B4FA999ULL),
    U128(0x0000006B99159FD5ULL, 0x138E3F9D1F92E0DFULL),
    U128(0x00000008F76C77FCULL, 0x6C4BDAA26D4C3D67ULL),
    U128(0x00000000B092309DULL, 0x43684BE51C198E91ULL),
    U128(0x000000000C9CBA54ULL, 0x603E4E905D6F8A2EULL),
    U128(0x0000000000D73F9FULL, 0x399DC0F88EC32B58ULL),
    U128(0x00000000000D73F9ULL, 0xF399DC0F88EC32B5ULL),
    U128(0x000000000000CA96ULL, 0x3B81856A53593028ULL),
    U128(0x0000000000000B41ULL, 0x3C31DCBECBBDD802ULL),
    U128(0x0000000000000097ULL, 0xA4DA340A0AB92650ULL),
    U128(0x0000000000000007ULL, 0x950AE900808941EAULL),
    U128(0x0000000000000000ULL, 0x5C6E3BDB73D5C62FULL),
    U128(0x0000000000000000ULL, 0x04338E5B6DFE14A5ULL),
    U128(0x0000000000000000ULL, 0x002EC368262C7033ULL),
    U128(0x0000000000000000ULL, 0x0001F2CF01972F57ULL),
    U128(0x0000000000000000ULL, 0x000013F3CCDD165FULL),
    U128(0x0000000000000000ULL, 0x000000C4742FE352ULL),
    U128(0x0000000000000000ULL, 0x0000000746AC70B7ULL),
    U128(0x0000000000000000ULL, 0x0000000042862898ULL),
    U128(0x0000000000000000ULL, 0x00000000024B3F31ULL),
    U128(0x0000000000000000ULL, 0x000000000013932CULL),
    U128(0x0000000000000000ULL, 0x000000000000A1A6ULL),
};
/* atan(i/16) */
static const u128 atan_table[17] = {
    U128(0x0000000000000000ULL, 0x0000000000000000ULL),
    U128(0x0FFAADDB967EF4E3ULL, 0x6CB2792DC0E2E0D5ULL),
    U128(0x1FD5BA9AAC2F6DC6ULL, 0x5912F313E7D111DEULL),
    U128(0x2F72F6979CB6044DULL, 0x1EC2D3E207271D21ULL),
    U128(0x3EB6EBF25901BAC5ULL, 0x5B71E7BD7DE885F9ULL),
    U128(0x4D89DCDC1FAF2F34ULL, 0xE2D5DA4C693D7994ULL),
    U128(0x5BD86507937BC239ULL, 0xC55190916E7F2241ULL),
    U128(0x6993BB0F308FF2DBULL, 0x213E4AF4800F389BULL),
    U128(0x76B19C1586ED3DA2ULL, 0xB7F222F65E1D4681ULL),
    U128(0x832BF4A6D9867E2AULL, 0x4B6A09CB61A515C0ULL),
    U128(0x8F005D5EF7F59F9BULL, 0x5C835E1665C43747ULL),
    U128(0x9A2F80E671BDDA20ULL, 0x4226F8E2204FF3BCULL),
    U128(0xA4BC7D1934F70924ULL, 0x19A87F2A457DAC9EULL),
    U128(0xAEAC4C38B4D8C080ULL, 0x14725E2F3E52070AULL),
    U128(0xB8053E2BC2319E73ULL, 0xCB2DA55210A4443DULL),
    U128(0xC0CE85B8AC526640ULL, 0x89DD62C46E92FA24ULL),
    U128(0xC90FDAA22168C234ULL, 0xC4C6628B80DC1CD1ULL),
};

/* ---------------------------------------------------------------------------
 * The wide format: value = (-1)^sign * m * 2^(exp - 127); m = 0 is zero, else
 * bit 127 is set. Operations truncate, keeping a sticky bit in bit 0. */

struct xf { int sign; int32_t exp; u128 m; };

static const struct xf xf_one = { 0, 0, (u128)1 << 127 };

static inline int clz128(u128 v)
{
    uint64_t hi = (uint64_t)(v >> 64);
    return hi ? __builtin_clzll(hi) : 64 + __builtin_clzll((uint64_t)v);
}

static inline struct xf xf_make(int sign, int32_t exp, u128 m)
{
    struct xf r = { sign, exp, m };
    if (m && !(m >> 127)) {
        int lz = clz128(m);
        r.m <<= lz;
        r.exp -= lz;
    }
    return r;
}

static inline struct xf xf_neg(struct xf a) { a.sign ^= 1; return a; }
static inline struct xf xf_abs(struct xf a) { a.sign = 0; return a; }
static inline struct xf xf_const(u128 sig, int32_t exp) { struct xf r = { 0, exp, sig }; return r; }

/* A finite fx80 (denormals have the weight of exponent 1). */
static inline struct xf xf_from_fx80(struct fx80 a)
{
    int e = a.se & 0x7FFF;
    return xf_make(a.se >> 15, (e ? e : 1) - BIAS, (u128)a.sig << 64);
}

static inline struct xf xf_from_int(int32_t n)
{
    return xf_make(n < 0, 127, (u128)(n < 0 ? -(int64_t)n : n));
}

/* The 256-bit product of two 128-bit numbers. */
static inline void mul128(u128 a, u128 b, u128 *hi, u128 *lo)
{
    uint64_t a1 = (uint64_t)(a >> 64), a0 = (uint64_t)a, b1 = (uint64_t)(b >> 64), b0 = (uint64_t)b;
    u128 p00 = (u128)a0 * b0, p01 = (u128)a0 * b1, p10 = (u128)a1 * b0, p11 = (u128)a1 * b1;
    u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
    *lo = (mid << 64) | (uint64_t)p00;
    *hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
}

static inline u128 mulhi(u128 a, u128 b)
{
    u128 hi, lo;
    mul128(a, b, &hi, &lo);
    return hi;
}

static struct xf xf_mul(struct xf a, struct xf b)
{
    struct xf r = { a.sign ^ b.sign, 0, 0 };
    u128 hi, lo;
    if (!a.m || !b.m) return r;
    mul128(a.m, b.m, &hi, &lo);
    r.exp = a.exp + b.exp + 1;
    if (!(hi >> 127)) {
        hi = hi << 1 | lo >> 127;
        lo <<= 1;
        r.exp--;
    }
    r.m = hi | (lo != 0);
    return r;
}

static struct xf xf_add(struct xf a, struct xf b)
{
    if (!b.m) return a;
    if (!a.m) return b;
    if (b.exp > a.exp || (b.exp == a.exp && b.m > a.m)) {
        struct xf t = a;
        a = b;
        b = t;
    }
    int32_t d = a.exp - b.exp;
    u128 bm = d >= 128 ? 1 : d ? (b.m >> d) | ((b.m << (128 - d)) != 0) : b.m;
    if (a.sign == b.sign) {
        u128 s = a.m + bm;
        if (s < a.m) return (struct xf){ a.sign, a.exp + 1, (s >> 1) | (s & 1) | (u128)1 << 127 };
        return (struct xf){ a.sign, a.exp, s };
    }
    return xf_make(a.sign, a.exp, a.m - bm);
}

static inline struct xf xf_sub(struct xf a, struct xf b) { return xf_add(a, xf_neg(b)); }

/* One 64-bit digit of a long division (Knuth, TAOCP vol. 2, 4.3.1, algorithm D):
 * q = floor((u:u0) / d) for a normalised 128-bit d and u < d; u becomes the
 * remainder. */
static uint64_t divide_digit(u128 *u, uint64_t u0, u128 d)
{
    uint64_t d1 = (uint64_t)(d >> 64), d0 = (uint64_t)d;
    uint64_t u2 = (uint64_t)(*u >> 64), u1 = (uint64_t)*u;
    u128 qhat, rhat;
    if (u2 >= d1) {
        qhat = ~0ull;
        rhat = *u - qhat * d1;
    } else {
        qhat = *u / d1;
        rhat = *u - qhat * d1;
    }
    while (!(rhat >> 64) && qhat * d0 > (rhat << 64 | u0)) {
        qhat--;
        rhat += d1;
    }
    /* (u2:u1:u0) - qhat (d1:d0): the top digit ends 0, or all ones when qhat
     * was still one too large (then add d back). */
    u128 p0 = qhat * d0, p1 = qhat * d1;
    u128 low = (u128)u1 << 64 | u0, plow = p0 + ((u128)(uint64_t)p1 << 64);
    uint64_t top = u2 - (uint64_t)(p1 >> 64) - (plow < p0) - (low < plow);
    low -= plow;
    if (top) {
        qhat--;
        low += d;
    }
    *u = low;
    return (uint64_t)qhat;
}

/* a / b (b nonzero): two digits of long division; the remainder becomes the sticky bit. */
static struct xf xf_div(struct xf a, struct xf b)
{
    struct xf r = { a.sign ^ b.sign, a.exp - b.exp, 0 };
    u128 u;
    uint64_t n1, n0;
    if (!a.m) return r;
    if (a.m < b.m) {                     /* a.m 2^128 / b.m */
        r.exp--;
        u = a.m;
        n1 = n0 = 0;
    } else {                             /* a.m 2^127 / b.m */
        u = a.m >> 1;
        n1 = (uint64_t)(a.m & 1) << 63;
        n0 = 0;
    }
    uint64_t q1 = divide_digit(&u, n1, b.m);
    uint64_t q0 = divide_digit(&u, n0, b.m);
    r.m = ((u128)q1 << 64 | q0) | (u != 0);
    return r;
}

/* floor(|x| * 2^128) for |x| < 1. */
static inline u128 fixed_of(struct xf x)
{
    int32_t shift = -x.exp - 1;
    if (!x.m || shift >= 128) return 0;
    return x.m >> shift;
}
static inline struct xf xf_of_fixed(u128 f) { return xf_make(0, -1, f); }

/* c[0] + z (c[1] + z (c[2] + ...)) and c[0] - z (c[1] - z (c[2] - ...)), z < 1 fixed point. */
static u128 series_pos(u128 z, const u128 *c, int n)
{
    u128 t = c[n - 1];
    for (int i = n - 2; i >= 0; i--) t = c[i] + mulhi(z, t);
    return t;
}
static u128 series_alt(u128 z, const u128 *c, int n)
{
    u128 t = c[n - 1];
    for (int i = n - 2; i >= 0; i--) t = c[i] - mulhi(z, t);
    return t;
}

static struct fx80 xf_round(struct fx80_env *env, struct xf v)
{
    if (!v.m) return fx80_zero(v.sign);
    return fx80_round_pack(env, v.sign, v.exp + BIAS, (uint64_t)(v.m >> 64), (uint64_t)v.m, 64);
}

/* A result known to be irrational (never exact): where it lies within 2^-127
 * of a representable value the computation cannot tell the side, but it must
 * still be flagged inexact. */
static struct fx80 xf_round_inexact(struct fx80_env *env, struct xf v)
{
    if (!v.m) return fx80_zero(v.sign);
    v.m |= 1;
    return xf_round(env, v);
}

#define N_SIN (int)(sizeof sin_coef / sizeof sin_coef[0])
#define N_COS (int)(sizeof cos_coef / sizeof cos_coef[0])
#define N_ODD (int)(sizeof odd_coef / sizeof odd_coef[0])
#define N_EXP (int)(sizeof exp_coef / sizeof exp_coef[0])

/* ---------------------------------------------------------------------------
 * Common operand handling. */

static inline int sign_of(struct fx80 a) { return a.se >> 15; }
static inline int exp_of(struct fx80 a) { return a.se & 0x7FFF; }
static inline int is_zero(struct fx80 a) { return exp_of(a) == 0 && a.sig == 0; }
static inline int is_inf(struct fx80 a) { return exp_of(a) == EXP_INF && a.sig == INT_BIT; }
static inline int is_denormal(struct fx80 a) { return exp_of(a) == 0 && a.sig != 0; }

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

static inline int denormal_operand(struct fx80_env *env, struct fx80 a, struct fx80 b)
{
    if (is_denormal(a) || is_denormal(b)) return raise(env, FX_DE);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Sine, cosine and tangent. */

/* sin(r) = r - r^3 P(r^2) */
static struct xf sin_kernel(struct xf r, struct xf z)
{
    struct xf p = xf_of_fixed(series_alt(fixed_of(z), sin_coef, N_SIN));
    return xf_sub(r, xf_mul(xf_mul(r, z), p));
}

/* cos(r) = 1 - r^2 Q(r^2) */
static struct xf cos_kernel(struct xf z)
{
    struct xf q = xf_of_fixed(series_alt(fixed_of(z), cos_coef, N_COS));
    return xf_sub(xf_one, xf_mul(z, q));
}

/* tan(r) = r + r^3 (Q - P) / cos(r); cot(r) = 1/r - r (Q - P) / (sin(r) / r). */
static struct xf tan_kernel(struct xf r, struct xf z, int cotangent)
{
    u128 zf = fixed_of(z);
    u128 p = series_alt(zf, sin_coef, N_SIN), q = series_alt(zf, cos_coef, N_COS);
    struct xf d = xf_of_fixed(q - p);
    if (!cotangent) {
        struct xf c = xf_sub(xf_one, xf_mul(z, xf_of_fixed(q)));
        return xf_add(r, xf_div(xf_mul(xf_mul(r, z), d), c));
    }
    struct xf s = xf_sub(xf_one, xf_mul(z, xf_of_fixed(p)));
    return xf_sub(xf_div(xf_one, r), xf_div(xf_mul(r, d), s));
}

/* pi/2 with the 66 bits the x87 reduces with: 0x3243F6A8885A308D3 * 2^-65. */
static const u128 pio2_66 = U128(0x3ull, 0x243F6A8885A308D3ull);

/* |a| = k pi66/2 + r exactly, k the nearest integer; |a| < 2^63. */
static struct xf reduce(struct fx80 a, unsigned *k)
{
    struct xf x = xf_abs(xf_from_fx80(a));
    int32_t shift = x.exp + 2;           /* |a| * 2^65 = sig << shift */
    *k = 0;
    if (shift < 0) return x;             /* |a| < 1/2 */
    u128 n = (u128)a.sig << shift;
    u128 q = n / pio2_66, rem = n % pio2_66;
    int sign = 0;
    if (rem > pio2_66 >> 1) {
        q++;
        rem = pio2_66 - rem;
        sign = 1;
    }
    *k = (unsigned)q & 3;
    return xf_make(sign, 127 - 65, rem);
}

enum trig { TRIG_SIN, TRIG_COS, TRIG_TAN };

static struct fx80 trig(struct fx80_env *env, struct fx80 a, int *out_of_range, enum trig f)
{
    struct fx80 res;
    begin(env);
    *out_of_range = 0;
    if (fx80_nan_operand(env, a, &res)) return res;
    if (is_inf(a)) return invalid(env);
    if (is_zero(a)) return f == TRIG_COS ? (struct fx80){ INT_BIT, BIAS } : a;
    if (exp_of(a) >= BIAS + 63) {
        *out_of_range = 1;               /* |a| >= 2^63: C2, the operand unchanged */
        return a;
    }
    if (is_denormal(a) && raise(env, FX_DE)) return a;
    unsigned k;
    struct xf r = reduce(a, &k), v;
    struct xf z = xf_mul(r, r);
    int negate = 0;
    switch (f) {
    case TRIG_SIN:
        v = (k & 1) ? cos_kernel(z) : sin_kernel(r, z);
        negate = (k >= 2) ^ sign_of(a);
        break;
    case TRIG_COS:
        v = (k & 1) ? sin_kernel(r, z) : cos_kernel(z);
        negate = k == 1 || k == 2;
        break;
    default:
        v = tan_kernel(r, z, k & 1);
        negate = (k & 1) ^ sign_of(a);
        break;
    }
    if (negate) v = xf_neg(v);
    return xf_round_inexact(env, v);
}

struct fx80 fx80_sin(struct fx80_env *env, struct fx80 a, int *out_of_range) { return trig(env, a, out_of_range, TRIG_SIN); }
struct fx80 fx80_cos(struct fx80_env *env, struct fx80 a, int *out_of_range) { return trig(env, a, out_of_range, TRIG_COS); }
struct fx80 fx80_tan(struct fx80_env *env, struct fx80 a, int *out_of_range) { return trig(env, a, out_of_range, TRIG_TAN); }

/* ---------------------------------------------------------------------------
 * Arctangent. */

/* atan(t) for 0 <= t <= 1: atan(i/16) + atan(u), u = (t - i/16) / (1 + t i/16),
 * atan(u) = u - u^3 (1/3 - u^2/5 + ...). */
static struct xf atan_kernel(struct xf t)
{
    unsigned i = t.exp >= 0 ? 16 : (unsigned)(((fixed_of(t) >> 123) + 1) >> 1);
    struct xf u = t, base = { 0, 0, 0 };
    if (i) {
        struct xf c = xf_from_int((int32_t)i);
        c.exp -= 4;
        u = xf_div(xf_sub(t, c), xf_add(xf_one, xf_mul(t, c)));
        base = xf_of_fixed(atan_table[i]);
    }
    struct xf z = xf_mul(u, u);
    struct xf p = xf_of_fixed(series_alt(fixed_of(z), odd_coef, 13));
    return xf_add(base, xf_sub(u, xf_mul(xf_mul(u, z), p)));
}

struct fx80 fx80_atan2(struct fx80_env *env, struct fx80 y, struct fx80 x)
{
    struct fx80 res;
    const struct xf pi = xf_const(PI_SIG, 1), pio2 = xf_const(PI_SIG, 0), pio4 = xf_const(PI_SIG, -1);
    struct xf v;
    int sy = sign_of(y), sx = sign_of(x);
    begin(env);
    if (fx80_nan_operands(env, y, x, &res)) return res;
    if (denormal_operand(env, y, x)) return x;
    if (is_zero(y)) {
        v = sx ? pi : xf_const(0, 0);
    } else if (is_inf(y)) {
        v = !is_inf(x) ? pio2 : sx ? xf_sub(pi, pio4) : pio4;
    } else if (is_inf(x)) {
        v = sx ? pi : xf_const(0, 0);
    } else if (is_zero(x)) {
        v = pio2;
    } else {
        struct xf ay = xf_abs(xf_from_fx80(y)), ax = xf_abs(xf_from_fx80(x));
        if (ay.exp < ax.exp || (ay.exp == ax.exp && ay.m <= ax.m)) {
            v = atan_kernel(xf_div(ay, ax));
            if (sx) v = xf_sub(pi, v);
        } else {
            v = atan_kernel(xf_div(ax, ay));
            v = sx ? xf_add(pio2, v) : xf_sub(pio2, v);
        }
    }
    v.sign = sy;
    return xf_round_inexact(env, v);
}

/* ---------------------------------------------------------------------------
 * 2^x - 1. */

struct fx80 fx80_f2xm1(struct fx80_env *env, struct fx80 a)
{
    struct fx80 res;
    begin(env);
    if (fx80_nan_operand(env, a, &res)) return res;
    if (is_zero(a)) return a;
    if (is_inf(a)) return sign_of(a) ? (struct fx80){ INT_BIT, 0x8000 | BIAS } : a;
    if (is_denormal(a) && raise(env, FX_DE)) return a;
    if (exp_of(a) >= BIAS) {
        if (exp_of(a) == BIAS && a.sig == INT_BIT) {
            /* 2^-1 - 1 = -1/2 and 2^1 - 1 = 1, both flagged inexact; the hardware
             * rounds the latter as if from just below 1 (measured). */
            env->flags |= FX_PE;
            if (sign_of(a)) return (struct fx80){ INT_BIT, 0x8000 | (BIAS - 1) };
            return fx80_round_pack(env, 0, BIAS - 1, ~0ull, ~0ull, 64);
        }
        /* Beyond the domain (|a| > 1): the operand, inexact (measured). */
        env->flags |= FX_PE;
        return a;
    }
    /* y = x ln 2; 2^x - 1 = y + y^2 (1/2 + y/6 + y^2/24 + ...) */
    struct xf y = xf_mul(xf_from_fx80(a), xf_const(LN2_SIG, -1));
    u128 yf = fixed_of(y), t = exp_coef[N_EXP - 1];
    for (int i = N_EXP - 2; i >= 0; i--) t = y.sign ? exp_coef[i] - mulhi(yf, t) : exp_coef[i] + mulhi(yf, t);
    return xf_round_inexact(env, xf_add(y, xf_mul(xf_mul(y, y), xf_of_fixed(t))));
}

/* ---------------------------------------------------------------------------
 * Logarithms. */

/* ln(1 + s) - ln(1 - s) = 2 atanh(s) = 2s + 2s^3 (1/3 + s^2/5 + ...), |s| <= 0.172 */
static struct xf atanh2_kernel(struct xf s)
{
    struct xf z = xf_mul(s, s);
    struct xf p = xf_of_fixed(series_pos(fixed_of(z), odd_coef, N_ODD));
    struct xf r = xf_add(s, xf_mul(xf_mul(s, z), p));
    r.exp++;
    return r;
}

/* log2(v), v > 0 finite: v = 2^e m with m in [1/sqrt2, sqrt2), ln m = 2 atanh((m-1)/(m+1)). */
static struct xf log2_xf(struct xf v)
{
    int32_t e = v.exp;
    struct xf m = { 0, 0, v.m };
    if (v.m > SQRT2_SIG) {
        m.exp = -1;
        e++;
    }
    struct xf s = xf_div(xf_sub(m, xf_one), xf_add(m, xf_one));
    if (!s.m) return xf_from_int(e);     /* a power of two: exact */
    struct xf l = xf_mul(atanh2_kernel(s), xf_const(LOG2E_SIG, 0));
    l = xf_add(xf_from_int(e), l);
    l.m |= 1;                            /* irrational: never exact */
    return l;
}

/* The hardware flags every logarithm inexact, so that a tiny result underflows,
 * even when the logarithm of a power of two made it exact (measured). */
static struct fx80 log_result(struct fx80_env *env, struct fx80 r)
{
    env->flags |= FX_PE;
    if (exp_of(r) == 0 && (env->masks & FX_UE)) env->flags |= FX_UE;
    return r;
}

struct fx80 fx80_yl2x(struct fx80_env *env, struct fx80 y, struct fx80 x)
{
    struct fx80 res;
    int sy = sign_of(y);
    begin(env);
    if (fx80_nan_operands(env, y, x, &res)) return res;
    if (sign_of(x) && !is_zero(x)) return invalid(env);
    if (is_zero(x)) {
        if (is_zero(y)) return invalid(env);
        if (!is_inf(y) && raise(env, FX_ZE)) return x;
        return fx80_inf(!sy);
    }
    int one = exp_of(x) == BIAS && x.sig == INT_BIT;
    if (is_inf(x)) {
        if (is_zero(y)) return invalid(env);
        if (denormal_operand(env, y, x)) return x;
        return fx80_inf(sy);
    }
    if (is_inf(y)) {
        if (one) return invalid(env);
        if (denormal_operand(env, y, x)) return x;
        return fx80_inf(sy ^ (exp_of(x) < BIAS));
    }
    if (denormal_operand(env, y, x)) return x;
    if (is_zero(y)) return fx80_zero(sy ^ (exp_of(x) < BIAS));
    if (one) return fx80_zero(sy);
    return log_result(env, xf_round(env, xf_mul(xf_from_fx80(y), log2_xf(xf_from_fx80(x)))));
}

struct fx80 fx80_yl2xp1(struct fx80_env *env, struct fx80 y, struct fx80 x)
{
    struct fx80 res;
    int sy = sign_of(y), sx = sign_of(x);
    begin(env);
    if (fx80_nan_operands(env, y, x, &res)) return res;
    if (is_inf(x)) {
        if (sx || is_zero(y)) return invalid(env);
        if (denormal_operand(env, y, x)) return x;
        return fx80_inf(sy);
    }
    if (is_zero(x)) {
        if (is_inf(y)) return invalid(env);
        if (denormal_operand(env, y, x)) return x;
        return fx80_zero(sy ^ sx);
    }
    if (denormal_operand(env, y, x)) return x;
    if (is_zero(y)) return fx80_zero(sy ^ sx);
    if (is_inf(y)) return fx80_inf(sy ^ sx);
    struct xf vx = xf_from_fx80(x), l;
    if (sx && vx.exp >= 0) {
        /* x <= -1, outside the domain: the operand, inexact (measured). */
        env->flags |= FX_PE;
        return x;
    }
    if (vx.exp < -2 || (vx.exp == -2 && (vx.sign ? vx.m <= U128(0x95F619980C4336F7ull, 0x4D04EC99156A82C1ull)
                                                 : vx.m <= U128(0xD413CCCFE7799211ull, 0x65F626CDD52AFA7Cull)))) {
        /* 1 + x in [1/sqrt2, sqrt2] (the bounds: 1 - 1/sqrt2, sqrt2 - 1): ln(1 + x) = 2 atanh(x / (2 + x)) */
        struct xf two = { 0, 1, (u128)1 << 127 };
        l = xf_mul(atanh2_kernel(xf_div(vx, xf_add(two, vx))), xf_const(LOG2E_SIG, 0));
        l.m |= 1;
    } else {
        l = log2_xf(xf_add(xf_one, vx));
    }
    return log_result(env, xf_round(env, xf_mul(xf_from_fx80(y), l)));
}
