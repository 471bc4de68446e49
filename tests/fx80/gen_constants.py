#!/usr/bin/env python3
"""Prints the 128-bit constants of cpu/fx80_trans.c (needs mpmath).

Fixed-point constants are floor(c * 2^128) (all below 1); significands of the
constants pi, ln 2 and log2(e) are their top 128 bits (truncated), with the
exponent of the leading bit. Run: python3 tests/fx80/gen_constants.py"""
from mpmath import mp, mpf, pi, log, atan, factorial, floor

mp.prec = 600


def fixed(c):
    v = int(floor(c * mpf(2) ** 128))
    assert 0 <= v < 2 ** 128
    return v


def u128(v):
    return "U128(0x%016XULL, 0x%016XULL)" % (v >> 64, v & (2 ** 64 - 1))


def table(name, values, comment):
    print("/* %s */" % comment)
    print("static const u128 %s[%d] = {" % (name, len(values)))
    for v in values:
        print("    %s," % u128(fixed(v)))
    print("};")


def significand(c):
    e = int(floor(mp.log(c, 2)))
    m = int(floor(c * mpf(2) ** (127 - e)))
    assert 2 ** 127 <= m < 2 ** 128
    return m, e


for name, c in (("PI", +pi), ("LN2", log(2)), ("LOG2E", 1 / log(2)), ("SQRT2", mp.sqrt(2))):
    m, e = significand(c)
    print("#define %s_SIG %s   /* exponent %d */" % (name, u128(m), e))
table("sin_coef", [1 / factorial(2 * n + 3) for n in range(16)], "1/(2n+3)!: sin(r) = r - r^3 (sin_coef(r^2))")
table("cos_coef", [1 / factorial(2 * n + 2) for n in range(16)], "1/(2n+2)!: cos(r) = 1 - r^2 (cos_coef(r^2))")
table("odd_coef", [mpf(1) / (2 * n + 3) for n in range(26)], "1/(2n+3): atanh and atan series")
table("exp_coef", [1 / factorial(n + 2) for n in range(30)], "1/(n+2)!: expm1(y) = y + y^2 (exp_coef(y))")
table("atan_table", [atan(mpf(i) / 16) for i in range(17)], "atan(i/16)")
