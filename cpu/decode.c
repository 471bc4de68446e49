/* The decoder: prefixes, the opcode map (filled by the ops files through
 * op_register), ModRM/SIB/displacement and immediates, into struct insn.
 * SDM vol. 2, chapter 2 (instruction format) and appendix A (opcode map). */
#include <pthread.h>

#include "internal.h"
#include "decode.h"

struct opentry {
    insn_fn *reg;
    insn_fn *mem;
    uint16_t flags;
    uint8_t present;
};

/* [operand size 32][opcode 0x000-0x1FF][ModRM reg]; filled once, read-only after. */
static struct opentry optable[2][512][8];
static uint8_t op_has_modrm[512];
static uint8_t op_reg_only[512];
static pthread_once_t optable_once = PTHREAD_ONCE_INIT;

void op_register(unsigned opcode, int group, unsigned sizes, unsigned flags,
                 insn_fn *reg_form, insn_fn *mem_form)
{
    if (opcode >= 512 || group > 7) {
        fprintf(stderr, "op_register: bad opcode %x /%d\n", opcode, group);
        return;
    }
    if (flags & OPF_MODRM) op_has_modrm[opcode] = 1;
    if (flags & OPF_REGONLY) op_reg_only[opcode] = 1;
    for (int os = 0; os < 2; os++) {
        if (!(sizes & (os ? OS32 : OS16))) continue;
        for (int g = 0; g < 8; g++) {
            if (group >= 0 && g != group) continue;
            struct opentry *e = &optable[os][opcode][g];
            e->reg = reg_form;
            e->mem = mem_form;
            e->flags = (uint16_t)flags;
            e->present = 1;
        }
    }
}

static void optable_build(void)
{
    ops_alu_init();
    ops_flow_init();
    ops_system_init();
    ops_fpu_init();
}

void decode_init(void)
{
    pthread_once(&optable_once, optable_build);
}

/* Bytes of the instruction being decoded. The caller fills `buf` with what is
 * available in the current page (`avail`); needing more bytes than that is
 * reported by setting `short_fetch`. */
struct fetch {
    const uint8_t *buf;
    unsigned avail;
    unsigned pos;
    int short_fetch;
};

static inline uint8_t fetch8(struct fetch *f)
{
    if (f->pos >= f->avail) {
        f->short_fetch = 1;
        f->pos++;
        return 0;
    }
    return f->buf[f->pos++];
}
static inline uint16_t fetch16(struct fetch *f)
{
    uint16_t lo = fetch8(f);
    return (uint16_t)(lo | fetch8(f) << 8);
}
static inline uint32_t fetch32(struct fetch *f)
{
    uint32_t lo = fetch16(f);
    return lo | (uint32_t)fetch16(f) << 16;
}

/* 16-bit ModRM base/index pairs (SDM vol. 2, table 2-1). */
static const uint8_t ea16_base[8] = { R_EBX, R_EBX, R_EBP, R_EBP, R_NONE, R_NONE, R_EBP, R_EBX };
static const uint8_t ea16_index[8] = { R_ESI, R_EDI, R_ESI, R_EDI, R_ESI, R_EDI, R_NONE, R_NONE };

static void decode_modrm(struct fetch *f, struct insn *i, int addr32, int seg_override, int reg_only)
{
    uint8_t modrm = fetch8(f);
    int mod = reg_only ? 3 : modrm >> 6, rm = modrm & 7;
    i->modrm = modrm;
    i->reg = (modrm >> 3) & 7;
    i->rm = (uint8_t)rm;
    i->base = R_NONE;
    i->index = R_NONE;
    i->scale = 0;
    i->disp = 0;
    if (mod == 3) return;
    i->pfx |= PFX_MEM;
    int seg = S_DS;
    if (!addr32) {
        if (mod == 0 && rm == 6) {
            i->disp = fetch16(f);
        } else {
            i->base = ea16_base[rm];
            i->index = ea16_index[rm];
            if (i->base == R_EBP) seg = S_SS;
            if (mod == 1) i->disp = (uint32_t)(int32_t)(int8_t)fetch8(f);
            else if (mod == 2) i->disp = fetch16(f);
        }
    } else {
        if (rm == 4) {
            uint8_t sib = fetch8(f);
            int base = sib & 7, index = (sib >> 3) & 7;
            i->scale = sib >> 6;
            i->index = index == 4 ? R_NONE : (uint8_t)index;
            if (base == 5 && mod == 0) {
                i->disp = fetch32(f);
            } else {
                i->base = (uint8_t)base;
                if (base == R_ESP || base == R_EBP) seg = S_SS;
            }
        } else if (rm == 5 && mod == 0) {
            i->disp = fetch32(f);
        } else {
            i->base = (uint8_t)rm;
            if (rm == R_EBP) seg = S_SS;
        }
        if (mod == 1) i->disp += (uint32_t)(int32_t)(int8_t)fetch8(f);
        else if (mod == 2) i->disp += fetch32(f);
    }
    i->seg = (uint8_t)(seg_override != S_NONE ? seg_override : seg);
}

/* Decode one instruction from `bytes` (`avail` of them readable). Returns the
 * length, 0 when more bytes are needed than available. */
int decode_insn(const uint8_t *bytes, unsigned avail, int code32, struct insn *i, uint16_t *flags_out)
{
    struct fetch f = { bytes, avail, 0, 0 };
    int op32 = code32, addr32 = code32;
    int seg_override = S_NONE;
    uint8_t pfx = 0;
    unsigned opcode;

    memset(i, 0, sizeof(*i));
    for (;;) {
        uint8_t b = fetch8(&f);
        if (f.short_fetch) return 0;
        if (f.pos > 15) {
            /* More than 15 bytes: #GP(0) (SDM vol. 2, 2.3.11). */
            i->fn = op_too_long;
            i->len = 15;
            *flags_out = OPF_END;
            return 15;
        }
        switch (b) {
        case 0x26: seg_override = S_ES; pfx |= PFX_SEGOVR; continue;
        case 0x2E: seg_override = S_CS; pfx |= PFX_SEGOVR; continue;
        case 0x36: seg_override = S_SS; pfx |= PFX_SEGOVR; continue;
        case 0x3E: seg_override = S_DS; pfx |= PFX_SEGOVR; continue;
        case 0x64: seg_override = S_FS; pfx |= PFX_SEGOVR; continue;
        case 0x65: seg_override = S_GS; pfx |= PFX_SEGOVR; continue;
        case 0x66: op32 = !code32; continue;
        case 0x67: addr32 = !code32; continue;
        case 0xF0: pfx |= PFX_LOCK; continue;
        case 0xF2: pfx = (uint8_t)((pfx & ~PFX_REP) | PFX_REPNE); continue;
        case 0xF3: pfx = (uint8_t)((pfx & ~PFX_REPNE) | PFX_REP); continue;
        default: break;
        }
        opcode = b;
        if (b == 0x0F) opcode = 0x100u | fetch8(&f);
        break;
    }
    if (op32) pfx |= PFX_OP32;
    if (addr32) pfx |= PFX_ADDR32;
    i->pfx = pfx;
    i->amask = addr32 ? 0xFFFFFFFFu : 0xFFFFu;
    i->opcode = (uint8_t)opcode;
    i->ext = opcode >= 0x100;
    i->base = R_NONE;
    i->index = R_NONE;
    i->seg = (uint8_t)(seg_override != S_NONE ? seg_override : S_DS);

    const struct opentry *e;
    int has_modrm = op_has_modrm[opcode];
    if (has_modrm) {
        decode_modrm(&f, i, addr32, seg_override, op_reg_only[opcode]);
        e = &optable[op32][opcode][i->reg];
    } else {
        i->reg = opcode & 7;
        e = &optable[op32][opcode][0];
    }
    uint16_t fl = e->flags;
    if (!e->present) {
        i->fn = op_unimpl;
        fl = OPF_END;
    } else if (fl & OPF_MOFFS) {
        i->disp = addr32 ? fetch32(&f) : fetch16(&f);
        i->pfx |= PFX_MEM;
        i->fn = e->mem ? e->mem : e->reg;
    } else if (has_modrm) {
        i->fn = (i->pfx & PFX_MEM) ? e->mem : e->reg;
    } else {
        i->fn = e->reg;
    }
    if (!i->fn) {
        i->fn = op_ud;
        fl |= OPF_END;
    }

    int take_imm = !(fl & OPF_IMMGRP) || i->reg <= 1;
    if (take_imm) {
        if (fl & OPF_IMM8) i->imm = fetch8(&f);
        if (fl & OPF_IMM8S) i->imm = (uint32_t)(int32_t)(int8_t)fetch8(&f);
        if (fl & OPF_IMM16) i->imm = fetch16(&f);
        if (fl & OPF_IMMV) i->imm = op32 ? fetch32(&f) : fetch16(&f);
        if (fl & OPF_IMM8_2) i->imm2 = fetch8(&f);
        if (fl & OPF_REL8) i->imm = (uint32_t)(int32_t)(int8_t)fetch8(&f);
        if (fl & OPF_RELV) i->imm = op32 ? fetch32(&f) : (uint32_t)(int32_t)(int16_t)fetch16(&f);
        if (fl & OPF_FAR) {
            i->imm = op32 ? fetch32(&f) : fetch16(&f);
            i->imm2 = fetch16(&f);
        }
    }
    if (f.short_fetch) return 0;
    if (f.pos > 15) {
        i->fn = op_too_long;
        fl = OPF_END;
        f.pos = 15;
    }
    /* LOCK only on the instructions that allow it, with a memory destination (SDM vol. 2, LOCK). */
    if ((pfx & PFX_LOCK) && (!(fl & OPF_LOCK) || !(i->pfx & PFX_MEM)) && i->fn != op_unimpl) {
        i->fn = op_ud;
        fl |= OPF_END;
    }
    i->len = (uint8_t)f.pos;
    *flags_out = fl;
    return (int)f.pos;
}

void op_too_long(struct cpu *cpu, const struct insn *i)
{
    RAISE_GP(cpu, 0);
}

void op_ud(struct cpu *cpu, const struct insn *i)
{
    RAISE_UD(cpu);
}
