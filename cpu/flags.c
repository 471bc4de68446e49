/* Lazy arithmetic flags: OF SF ZF AF PF CF are computed from the last
 * flag-setting operation only when something reads them. */
#include "internal.h"

#define P(n) (((n) ^ ((n) >> 1) ^ ((n) >> 2) ^ ((n) >> 3) ^ ((n) >> 4) ^ ((n) >> 5) ^ ((n) >> 6) ^ ((n) >> 7) ^ 1) & 1)
#define P4(n) P(n), P(n + 1), P(n + 2), P(n + 3)
#define P16(n) P4(n), P4(n + 4), P4(n + 8), P4(n + 12)
#define P64(n) P16(n), P16(n + 16), P16(n + 32), P16(n + 48)
const uint8_t parity_table[256] = { P64(0), P64(64), P64(128), P64(192) };

static const uint32_t size_msb[3] = { 0x80u, 0x8000u, 0x80000000u };

static inline int lf_kind(const struct cpu *cpu) { return (int)(cpu->lf_op >> 2); }
static inline int lf_size(const struct cpu *cpu) { return (int)(cpu->lf_op & 3); }

int flag_cf(struct cpu *cpu)
{
    return flag_cf_inline(cpu);
}

int flag_zf(struct cpu *cpu)
{
    if (lf_kind(cpu) == LF_EAGER) return (cpu->lf_flags & F_ZF) != 0;
    return cpu->lf_res == 0;
}

int flag_sf(struct cpu *cpu)
{
    if (lf_kind(cpu) == LF_EAGER) return (cpu->lf_flags & F_SF) != 0;
    return (cpu->lf_res & size_msb[lf_size(cpu)]) != 0;
}

int flag_pf(struct cpu *cpu)
{
    if (lf_kind(cpu) == LF_EAGER) return (cpu->lf_flags & F_PF) != 0;
    return parity_table[cpu->lf_res & 0xFF];
}

int flag_af(struct cpu *cpu)
{
    uint32_t a = cpu->lf_a, b = cpu->lf_b, r = cpu->lf_res;
    switch (lf_kind(cpu)) {
    case LF_EAGER: return (cpu->lf_flags & F_AF) != 0;
    case LF_ADD: case LF_ADC: case LF_SUB: case LF_SBB:
        return ((a ^ b ^ r) & 0x10) != 0;
    case LF_INC: return (r & 0xF) == 0;
    case LF_DEC: return (r & 0xF) == 0xF;
    case LF_NEG: return ((a ^ r) & 0x10) != 0;
    default: return 0;   /* logic: 0; shifts: undefined, 0 */
    }
}

int flag_of(struct cpu *cpu)
{
    uint32_t a = cpu->lf_a, b = cpu->lf_b, r = cpu->lf_res;
    int sz = lf_size(cpu);
    uint32_t msb = size_msb[sz];
    switch (lf_kind(cpu)) {
    case LF_EAGER: return (cpu->lf_flags & F_OF) != 0;
    case LF_ADD: case LF_ADC: return (((a ^ r) & (b ^ r)) & msb) != 0;
    case LF_SUB: case LF_SBB: return (((a ^ b) & (a ^ r)) & msb) != 0;
    case LF_LOGIC: return 0;
    case LF_INC: return r == msb;
    case LF_DEC: return r == msb - 1;
    case LF_NEG: return a == msb;
    case LF_SHL: return ((r & msb) != 0) ^ flag_cf(cpu);
    /* Count 1: the original MSB; larger counts (undefined in the SDM) as the hardware: MSB ^ MSB-1 of the result. */
    case LF_SHR: return (((r << 1) ^ r) & msb) != 0;
    case LF_SAR: return 0;
    }
    return 0;
}

uint32_t flags_get(struct cpu *cpu)
{
    if (lf_kind(cpu) == LF_EAGER) return cpu->lf_flags & F_OSZAPC;
    uint32_t f = 0;
    if (flag_cf(cpu)) f |= F_CF;
    if (flag_pf(cpu)) f |= F_PF;
    if (flag_af(cpu)) f |= F_AF;
    if (flag_zf(cpu)) f |= F_ZF;
    if (flag_sf(cpu)) f |= F_SF;
    if (flag_of(cpu)) f |= F_OF;
    return f;
}

/* SDM vol. 1, B.1.4.7 condition encoding: O NO B AE E NE BE A S NS P NP L GE LE G. */
int cond_eval(struct cpu *cpu, int cc)
{
    int r;
    int kind = lf_kind(cpu);
    /* Fast paths after CMP/SUB, the common case before a branch. */
    if (kind == LF_SUB) {
        uint32_t a = cpu->lf_a, b = cpu->lf_b;
        int sz = lf_size(cpu);
        int32_t sa, sb;
        switch (cc >> 1) {
        case 1: r = a < b; break;                 /* B */
        case 2: r = a == b; break;                /* E */
        case 3: r = a <= b; break;                /* BE */
        case 6: case 7:
            sa = sz == 0 ? (int8_t)a : sz == 1 ? (int16_t)a : (int32_t)a;
            sb = sz == 0 ? (int8_t)b : sz == 1 ? (int16_t)b : (int32_t)b;
            r = (cc >> 1) == 6 ? sa < sb : sa <= sb;
            break;
        default: goto slow;
        }
        return r ^ (cc & 1);
    }
slow:
    switch (cc >> 1) {
    case 0: r = flag_of(cpu); break;
    case 1: r = flag_cf(cpu); break;
    case 2: r = flag_zf(cpu); break;
    case 3: r = flag_cf(cpu) || flag_zf(cpu); break;
    case 4: r = flag_sf(cpu); break;
    case 5: r = flag_pf(cpu); break;
    case 6: r = flag_sf(cpu) != flag_of(cpu); break;
    default: r = flag_zf(cpu) || (flag_sf(cpu) != flag_of(cpu)); break;
    }
    return r ^ (cc & 1);
}
