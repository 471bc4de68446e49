/* Differential test of Bubble's integer instructions against the host CPU.
 *
 * The host is x86-64 and cannot run 32-bit code, but 64-bit code with 32-bit
 * (or, with 66h, 16-bit) operand size computes the same results for the
 * integer instructions below. Each case is a random sequence of 1-8
 * instructions (plus the moves that set up REP counts and string pointers),
 * random registers and flags weighted to the edges, and a 64 KiB data buffer
 * mapped at the same low address natively and in the emulated flat address
 * space. The sequence runs on the host (tests/diffhw/native.c) and in Bubble
 * (tests/diffhw/emu.c); registers, OF SF ZF AF PF CF DF (minus what the SDM
 * leaves undefined, tests/diffhw/flags.c), the data buffer and the exception
 * (#DE, #UD) must match. On a mismatch the first prefix that differs is found
 * and the guilty instruction is rerun alone from the host's state before it.
 *
 * Opcodes covered (all with 8/16/32-bit operands where the opcode has them,
 * register and 32-bit-addressed memory operands, every ModRM/SIB/displacement
 * form except 16-bit addressing; LOCK where it is legal):
 *   ADD OR ADC SBB AND SUB XOR CMP   00-05 08-0D 10-15 18-1D 20-25 28-2D 30-35 38-3D, 80 81 83
 *   TEST                              84 85 A8 A9, F6/F7 /0 (and the /1 alias)
 *   INC DEC NOT NEG                   FE/FF /0 /1, F6/F7 /2 /3
 *   MUL IMUL DIV IDIV                 F6/F7 /4-/7 (#DE included), 0F AF, 69, 6B
 *   ROL ROR RCL RCR SHL SHR SAL SAR   C0 C1 D0 D1 D2 D3 /0-/7
 *   SHLD SHRD                         0F A4 A5 AC AD
 *   BT BTS BTR BTC                    0F A3 AB B3 BB (register offsets into memory), 0F BA /4-/7
 *   BSF BSR                           0F BC BD
 *   SETcc CMOVcc                      0F 90-9F, 0F 40-4F
 *   MOVZX MOVSX                       0F B6 B7 BE BF
 *   MOV                               88 89 8A 8B C6 C7 B0-BF A0-A3
 *   XCHG XADD CMPXCHG CMPXCHG8B       86 87 91-97, 0F C0 C1, 0F B0 B1, 0F C7 /1
 *   BSWAP LEA                         0F C8-CF, 8D
 *   CBW/CWDE CWD/CDQ                  98 99
 *   CLC STC CMC CLD STD LAHF SAHF     F8 F9 F5 FC FD 9F 9E
 *   MOVS CMPS STOS LODS SCAS          A4-A7 AA-AF with F3/F2, DF 0 and 1, segment overrides
 *   XLAT NOP                          D7, 90, 0F 1F /0
 *   Jcc JMP JECXZ LOOP LOOPE LOOPNE   70-7F, 0F 80-8F, EB, E9, E3, E2, E1, E0 (forward only)
 *   #UD                               LOCK on a register or on MOV/CMP/TEST, UD2, LEA reg,
 *                                     FE /7, FF /7, CMPXCHG8B reg
 *   prefixes                          66, F0, F2, F3, 26 36 3E (and 67 natively)
 * Not covered (they differ in 64-bit mode or touch the stack or I/O): PUSH POP
 * PUSHA POPA PUSHF POPF CALL RET ENTER LEAVE, BCD (27 2F 37 3F D4 D5), BOUND,
 * ARPL, INTO, segment registers, far transfers, INS OUTS IN OUT, 16-bit
 * addressing, x87, system instructions.
 *
 * Usage: test_diffhw [--seed N] [--count N] [--soak] [--only MNEMONIC[,...]]
 *                    [--case N] [--no-cache] [--verbose]
 * Ends with "RESULT: P passed, F failed"; exits 1 on any failure. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#if !defined(__x86_64__) || !defined(__linux__)
/* The oracle is the host CPU: nothing to compare against elsewhere. */
int main(void)
{
    printf("SKIP: test_diffhw needs an x86-64 Linux host\n");
    return 77;
}
#else

#include "diffhw/gen.c"
#include "diffhw/flags.c"
#include "diffhw/native.c"
#ifndef DIFFHW_NATIVE_ONLY
#include "diffhw/emu.c"
#endif

#define DEFAULT_SEED  0x5EEDB0BBull
#define DEFAULT_COUNT 150000
#define QUICK_COUNT   5000     /* TESTS_QUICK=1 */
#define SOAK_CHUNK    20000
#define MAX_LEN       8        /* instructions per sequence, before preparation moves */

struct options {
    uint64_t seed;
    long count;
    long one_case;             /* --case: only this case, verbose */
    int soak;
    int verbose;
    int no_cache;              /* --no-cache: Bubble without its block cache */
    uint8_t allowed[NUM_FAMILIES];
    int only;
};

/* Registers and memory bytes not compared: the destination of an
 * instruction that leaves it undefined. */
struct dest_mask {
    uint32_t reg[8];
    uint32_t mem_lo, mem_hi;   /* offsets into the data buffer, [lo, hi) */
};

struct testcase {
    uint64_t seed, index;
    struct machine_state init;
    uint8_t *mem;                          /* initial data */
    uint32_t code_addr;                    /* where Bubble runs it */
    struct ginsn seq[MAX_SEQ];
    int n;                                 /* generated */
    int len;                               /* kept after the analysis */
    struct machine_state pre[MAX_SEQ + 1]; /* native state before each instruction */
    uint32_t undef_after[MAX_SEQ + 1];     /* flags undefined after k instructions */
    uint8_t skipped[MAX_SEQ + 1];          /* instruction k jumped over */
    int dest_undef;                        /* the last instruction's destination is undefined */
    struct run_result nat;                 /* native result of the kept sequence */
    uint8_t *nat_mem;
};

struct stats {
    long passed, failed, skipped;
    long executed[NUM_FAMILIES];
    long faults[NUM_FAMILIES];
    long fails[NUM_FAMILIES];
    long truncated;
    long mem_operands, page_crossing;      /* memory operands run, and those that straddle two pages */
    long code_crossing;                    /* cases whose code straddles two pages in Bubble */
};

struct harness {
    struct options opt;
    struct native nx;
#ifndef DIFFHW_NATIVE_ONLY
    struct emu emu;
#endif
    struct stats st;
    uint8_t *scratch_a, *scratch_b;        /* DATA_SIZE each */
};

/* Set by SIGINT in --soak mode, read between cases. */
static volatile sig_atomic_t soak_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    soak_interrupted = 1;
}

/* ---------------------------------------------------------------------------
 * Printing. */
static void print_flags(FILE *f, uint32_t fl, uint32_t undef)
{
    static const struct { uint32_t bit; char c; } names[] = {
        { F_OF, 'O' }, { F_DF, 'D' }, { F_SF, 'S' }, { F_ZF, 'Z' }, { F_AF, 'A' }, { F_PF, 'P' }, { F_CF, 'C' },
    };
    fputc('[', f);
    for (unsigned k = 0; k < sizeof names / sizeof names[0]; k++) {
        char c = (fl & names[k].bit) ? names[k].c : '.';
        if (undef & names[k].bit) c = (fl & names[k].bit) ? (char)(names[k].c + 32) : '_';
        fputc(c, f);
    }
    fputc(']', f);
}

static void print_state(FILE *f, const char *label, const struct machine_state *s, uint32_t undef)
{
    fprintf(f, "    %-8s", label);
    for (int i = 0; i < 8; i++)
        fprintf(f, " %s=%08x", regname(i, 4), s->reg[i]);
    fputc(' ', f);
    print_flags(f, s->flags, undef);
    fputc('\n', f);
}

static void print_insn(FILE *f, int idx, const struct ginsn *in, int skipped)
{
    char hex[3 * MAX_INSN_BYTES + 1];
    int k = 0;
    hex[0] = 0;
    for (int b = 0; b < in->len[STREAM_EMU]; b++)
        k += snprintf(hex + k, sizeof hex - k, "%02x ", in->bytes[STREAM_EMU][b]);
    fprintf(f, "    %2d: %-30s %s%s\n", idx, hex, in->text, skipped ? "   (jumped over)" : "");
    if (in->len[STREAM_NAT] != in->len[STREAM_EMU] ||
        memcmp(in->bytes[STREAM_NAT], in->bytes[STREAM_EMU], in->len[STREAM_EMU])) {
        k = 0;
        for (int b = 0; b < in->len[STREAM_NAT]; b++)
            k += snprintf(hex + k, sizeof hex - k, "%02x ", in->bytes[STREAM_NAT][b]);
        fprintf(f, "        %-30s (host encoding)\n", hex);
    }
}

static const char *vector_name(int v)
{
    switch (v) {
    case -1: return "none";
    case EXC_DE: return "#DE";
    case EXC_DB: return "#DB";
    case EXC_UD: return "#UD";
    case EXC_NM: return "#NM";
    case EXC_DF: return "#DF";
    case EXC_GP: return "#GP";
    case EXC_SS: return "#SS";
    case EXC_PF: return "#PF";
    default: return "exception";
    }
}

static void print_result(FILE *f, const char *label, const struct run_result *r, uint32_t undef)
{
    print_state(f, label, &r->st, undef);
    if (r->vector >= 0)
        fprintf(f, "             exception %s (vector %d) at insn %d\n", vector_name(r->vector), r->vector, r->fault_insn);
    if (r->other)
        fprintf(f, "             %s\n", r->why);
}

/* ---------------------------------------------------------------------------
 * Comparison. Returns 1 when the results differ; prints the differences to f. */
static int compare_results(const struct run_result *nat, const uint8_t *nat_mem,
                           const struct run_result *emu, const uint8_t *emu_mem,
                           uint32_t undef, const struct dest_mask *dm, FILE *f)
{
    int bad = 0;
    if (emu->other) {
        bad = 1;
        if (f) fprintf(f, "    diff: bubble: %s\n", emu->why);
    }
    if (nat->vector != emu->vector) {
        bad = 1;
        if (f) fprintf(f, "    diff: exception: host %s, bubble %s (vector %d)\n", vector_name(nat->vector),
                       vector_name(emu->vector), emu->vector);
    } else if (nat->vector >= 0 && emu->fault_insn >= 0 && nat->fault_insn != emu->fault_insn) {
        bad = 1;
        if (f) fprintf(f, "    diff: exception at insn %d on the host, %d in bubble\n", nat->fault_insn, emu->fault_insn);
    }
    for (int i = 0; i < 8; i++) {
        uint32_t d = (nat->st.reg[i] ^ emu->st.reg[i]) & ~(dm ? dm->reg[i] : 0);
        if (d) {
            bad = 1;
            if (f) fprintf(f, "    diff: %s host %08x bubble %08x\n", regname(i, 4), nat->st.reg[i], emu->st.reg[i]);
        }
    }
    uint32_t fmask = FLAGS_CMP & ~undef;
    uint32_t fd = (nat->st.flags ^ emu->st.flags) & fmask;
    if (fd) {
        bad = 1;
        if (f) {
            fprintf(f, "    diff: flags host ");
            print_flags(f, nat->st.flags, undef);
            fprintf(f, " bubble ");
            print_flags(f, emu->st.flags, undef);
            fprintf(f, " differ in");
            static const struct { uint32_t bit; const char *n; } fn[] = {
                { F_OF, "OF" }, { F_DF, "DF" }, { F_SF, "SF" }, { F_ZF, "ZF" }, { F_AF, "AF" }, { F_PF, "PF" }, { F_CF, "CF" },
            };
            for (unsigned k = 0; k < sizeof fn / sizeof fn[0]; k++)
                if (fd & fn[k].bit) fprintf(f, " %s", fn[k].n);
            fprintf(f, " (lower case / _ = undefined, not compared)\n");
        }
    }
    int shown = 0;
    int mem_differs = memcmp(nat_mem, emu_mem, DATA_SIZE) != 0;
    for (uint32_t off = 0; mem_differs && off < DATA_SIZE; off++) {
        if (dm && off >= dm->mem_lo && off < dm->mem_hi) continue;
        if (nat_mem[off] != emu_mem[off]) {
            bad = 1;
            if (f && shown < 16)
                fprintf(f, "    diff: memory 0x%08x host %02x bubble %02x\n", DATA_BASE + off, nat_mem[off], emu_mem[off]);
            shown++;
        }
    }
    if (f && shown > 16)
        fprintf(f, "    diff: ... %d bytes of memory differ in all\n", shown);
    return bad;
}

/* What is not compared when the last of `len` instructions left its destination undefined. */
static void make_dest_mask(const struct testcase *c, int len, struct dest_mask *dm)
{
    memset(dm, 0, sizeof *dm);
    if (!c->dest_undef || len != c->len || len == 0) return;
    const struct ginsn *in = &c->seq[len - 1];
    const struct machine_state *pre = &c->pre[len - 1];
    uint32_t m = in->size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
    if (in->sem == SEM_BSF) {
        dm->reg[in->reg] = m;
    } else if (in->rm.is_mem) {
        uint32_t a = ea_value(&in->rm.ea, pre) - DATA_BASE;
        dm->mem_lo = a;
        dm->mem_hi = a + in->size;
    } else {
        dm->reg[in->rm.reg] = m;
    }
}

/* ---------------------------------------------------------------------------
 * Native analysis: run every prefix on the host to learn the state before
 * each instruction, follow which flags are undefined, and decide how much of
 * the sequence is kept. Returns -1 when the host run hit something that is not
 * an instruction fault we compare (a generator bug). */
static int analyse_case(struct harness *h, struct testcase *c)
{
    struct run_result r;
    c->undef_after[0] = 0;
    memset(c->skipped, 0, sizeof c->skipped);
    c->dest_undef = 0;
    c->len = c->n;
    for (int k = 0; k <= c->n; k++) {
        native_run(&h->nx, c->seq, k, &c->init, c->mem, &r);
        if (r.other) {
            c->nat = r;
            return -1;
        }
        c->pre[k] = r.st;
        if (r.vector >= 0) {
            /* Instruction k-1 faulted: it changes nothing, the case ends there. */
            c->len = k;
            c->nat = r;
            break;
        }
        if (k == c->n) {
            c->nat = r;
            break;
        }
        if (c->skipped[k]) {
            c->undef_after[k + 1] = c->undef_after[k];
            continue;
        }
        struct effect e;
        insn_effect(&c->seq[k], &r.st, h->nx.data, &e);
        if (e.read & c->undef_after[k]) {
            /* It would read a flag left undefined: keep only what came before. */
            c->len = k;
            c->nat = r;
            h->st.truncated++;
            break;
        }
        c->undef_after[k + 1] = effect_after(&e, c->undef_after[k]);
        if (e.taken)
            c->skipped[k + 1] = 1;
        if (e.dest_undef) {
            c->len = k + 1;
            c->dest_undef = 1;
            native_run(&h->nx, c->seq, k + 1, &c->init, c->mem, &c->nat);
            if (c->nat.other) return -1;
            break;
        }
    }
    memcpy(c->nat_mem, h->nx.data, DATA_SIZE);
    return 0;
}

/* Flags undefined in a native result of the first `len` instructions. */
static uint32_t undef_for(const struct testcase *c, const struct run_result *r, int len)
{
    if (r->vector >= 0 && r->fault_insn >= 0)
        return c->undef_after[r->fault_insn];
    return c->undef_after[len];
}

#ifndef DIFFHW_NATIVE_ONLY
/* ---------------------------------------------------------------------------
 * Narrowing a failure down: the first prefix that differs, then the guilty
 * instruction alone (or with the branch before it) from the host's state. */
struct repro {
    int first_bad;              /* the prefix length that first differs */
    int start, count;           /* the instructions of the smallest failing rerun */
    int family;                 /* whom to blame */
    int found;                  /* start/count reproduce the failure on their own */
    struct machine_state init;
    uint32_t undef;
    struct dest_mask dm;
    struct run_result nat, emu;
};

static int run_pair(struct harness *h, const struct ginsn *seq, int n, uint32_t code_addr, const struct machine_state *init,
                    const uint8_t *mem, uint32_t undef, const struct dest_mask *dm,
                    struct run_result *nat, struct run_result *emu)
{
    native_run(&h->nx, seq, n, init, mem, nat);
    memcpy(h->scratch_b, h->nx.data, DATA_SIZE);
    emu_run(&h->emu, seq, n, code_addr, init, mem, emu);
    if (nat->other) return 0;
    return compare_results(nat, h->scratch_b, emu, emu_data(&h->emu), undef, dm, NULL);
}

/* Try seq[start .. start+count) from the host's state before seq[start]. */
static int try_repro(struct harness *h, struct testcase *c, int start, int count, struct repro *rp)
{
    /* The memory before seq[start]: rerun the prefix on the host. */
    struct run_result tmp;
    native_run(&h->nx, c->seq, start, &c->init, c->mem, &tmp);
    memcpy(h->scratch_a, h->nx.data, DATA_SIZE);
    struct machine_state init = tmp.st;

    uint32_t undef = 0;
    int dest_undef = 0;
    struct machine_state st = init;
    for (int j = 0; j < count; j++) {
        struct effect e;
        native_run(&h->nx, c->seq + start, j, &init, h->scratch_a, &tmp);
        st = tmp.st;
        insn_effect(&c->seq[start + j], &st, h->nx.data, &e);
        if (e.read & undef) return 0;
        undef = effect_after(&e, undef);
        dest_undef = e.dest_undef;
        if (e.taken && j + 1 < count) break;
    }
    struct testcase one = *c;
    memset(&rp->dm, 0, sizeof rp->dm);
    if (dest_undef) {
        one.dest_undef = 1;
        one.len = start + count;
        one.pre[start + count - 1] = st;
        make_dest_mask(&one, start + count, &rp->dm);
    }
    if (!run_pair(h, c->seq + start, count, c->code_addr, &init, h->scratch_a, undef, &rp->dm, &rp->nat, &rp->emu))
        return 0;
    if (rp->nat.vector >= 0) undef = 0;   /* a faulting single instruction changes no flag */
    rp->start = start;
    rp->count = count;
    rp->init = init;
    rp->undef = undef;
    rp->found = 1;
    return 1;
}

static void narrow_failure(struct harness *h, struct testcase *c, struct repro *rp)
{
    memset(rp, 0, sizeof *rp);
    rp->first_bad = c->len;
    for (int p = 1; p <= c->len; p++) {
        struct run_result nat, emu;
        struct dest_mask dm;
        make_dest_mask(c, p, &dm);
        native_run(&h->nx, c->seq, p, &c->init, c->mem, &nat);
        uint32_t undef = undef_for(c, &nat, p);
        memcpy(h->scratch_b, h->nx.data, DATA_SIZE);
        emu_run(&h->emu, c->seq, p, c->code_addr, &c->init, c->mem, &emu);
        if (compare_results(&nat, h->scratch_b, &emu, emu_data(&h->emu), undef, &dm, NULL)) {
            rp->first_bad = p;
            break;
        }
    }
    int culprit = rp->first_bad - 1;
    if (culprit < 0) culprit = 0;
    rp->family = c->seq[culprit].family;
    if (!c->skipped[culprit] && try_repro(h, c, culprit, 1, rp))
        return;
    if (culprit > 0 && try_repro(h, c, culprit - 1, 2, rp)) {
        if (c->seq[culprit - 1].branch) rp->family = c->seq[culprit - 1].family;
        return;
    }
}
#endif

/* ---------------------------------------------------------------------------
 * One case. */
static void print_case(FILE *f, const struct testcase *c)
{
    fprintf(f, "  seed 0x%" PRIx64 " case %" PRIu64 " (rerun: --seed 0x%" PRIx64 " --case %" PRIu64 ")\n",
            c->seed, c->index, c->seed, c->index);
    print_state(f, "initial", &c->init, 0);
    fprintf(f, "    sequence (%d of %d generated instructions kept):\n", c->len, c->n);
    for (int i = 0; i < c->len; i++)
        print_insn(f, i, &c->seq[i], c->skipped[i]);
}

static void run_case(struct harness *h, struct testcase *c)
{
    struct rng r;
    rng_seed_case(&r, c->seed, c->index);
    gen_initial(&r, &c->init, c->mem);
    c->n = gen_sequence(&r, &c->init, h->opt.only ? h->opt.allowed : NULL, c->seq, MAX_LEN);
    /* In Bubble the code sometimes straddles a page boundary (fetch across pages). */
    c->code_addr = chance(&r, 30) ? EMU_CODE_ADDR + 0x1000 - 1 - rnd(&r, 48) : EMU_CODE_ADDR + rnd(&r, 64);
    int verbose = h->opt.verbose || h->opt.one_case >= 0;

    if (analyse_case(h, c) < 0) {
        h->st.skipped++;
        fprintf(stderr, "test_diffhw: harness problem, case skipped: %s\n", c->nat.why);
        print_case(stderr, c);
        return;
    }
    uint32_t code_len = 0;
    for (int i = 0; i < c->len; i++) {
        const struct ginsn *in = &c->seq[i];
        code_len += in->len[STREAM_EMU];
        if (c->skipped[i]) continue;
        h->st.executed[in->family]++;
        if (in->has_rm && in->rm.is_mem && !in->no_access) {
            uint32_t a = ea_value(&in->rm.ea, &c->pre[i]);
            h->st.mem_operands++;
            if ((a & 0xFFF) + in->size > 0x1000) h->st.page_crossing++;
        }
    }
    if ((c->code_addr & 0xFFF) + code_len >= 0x1000) h->st.code_crossing++;
    if (c->nat.vector >= 0 && c->nat.fault_insn >= 0)
        h->st.faults[c->seq[c->nat.fault_insn].family]++;

    uint32_t undef = undef_for(c, &c->nat, c->len);
#ifdef DIFFHW_NATIVE_ONLY
    /* Without an emulator, check that the host runs are repeatable (harness check). */
    struct dest_mask dm;
    struct run_result again;
    make_dest_mask(c, c->len, &dm);
    native_run(&h->nx, c->seq, c->len, &c->init, c->mem, &again);
    int bad = compare_results(&c->nat, c->nat_mem, &again, h->nx.data, undef, &dm, stdout);
    if (verbose || bad) {
        printf("case %" PRIu64 ":%s\n", c->index, bad ? " NOT REPEATABLE" : "");
        print_case(stdout, c);
        print_result(stdout, "host", &c->nat, undef);
    }
    if (bad) h->st.failed++;
    else h->st.passed++;
#else
    struct dest_mask dm;
    struct run_result emu;
    make_dest_mask(c, c->len, &dm);
    emu_run(&h->emu, c->seq, c->len, c->code_addr, &c->init, c->mem, &emu);
    int bad = compare_results(&c->nat, c->nat_mem, &emu, emu_data(&h->emu), undef, &dm, NULL);
    if (verbose && !bad) {
        printf("case %" PRIu64 ": ok\n", c->index);
        print_case(stdout, c);
        print_result(stdout, "host", &c->nat, undef);
        print_result(stdout, "bubble", &emu, undef);
    }
    if (!bad) {
        h->st.passed++;
        return;
    }
    h->st.failed++;

    struct repro rp;
    narrow_failure(h, c, &rp);
    int first_of_family = h->st.fails[rp.family]++ == 0;
    if (!first_of_family && !verbose) {
        printf("FAIL seed 0x%" PRIx64 " case %" PRIu64 ": %s (%s)\n", c->seed, c->index,
               families[rp.family].name, c->seq[rp.first_bad > 0 ? rp.first_bad - 1 : 0].text);
        return;
    }
    printf("FAIL %s: seed 0x%" PRIx64 " case %" PRIu64 "\n", families[rp.family].name, c->seed, c->index);
    print_case(stdout, c);
    /* Rerun to print the differences (narrowing reused the emulator). */
    emu_run(&h->emu, c->seq, c->len, c->code_addr, &c->init, c->mem, &emu);
    print_result(stdout, "host", &c->nat, undef);
    print_result(stdout, "bubble", &emu, undef);
    compare_results(&c->nat, c->nat_mem, &emu, emu_data(&h->emu), undef, &dm, stdout);
    if (rp.found) {
        printf("  smallest rerun: instruction%s %d%s from the host's state before it:\n",
               rp.count > 1 ? "s" : "", rp.start, rp.count > 1 ? "-next" : "");
        print_state(stdout, "initial", &rp.init, 0);
        for (int i = 0; i < rp.count; i++)
            print_insn(stdout, rp.start + i, &c->seq[rp.start + i], 0);
        for (int i = 0; i < rp.count; i++) {
            const struct ginsn *in = &c->seq[rp.start + i];
            if (in->has_rm && in->rm.is_mem) {
                uint32_t a = ea_value(&in->rm.ea, &rp.init);
                if (a >= DATA_BASE && a < DATA_BASE + DATA_SIZE - 8) {
                    printf("    memory operand at 0x%08x before:", a);
                    for (int b = 0; b < 8; b++) printf(" %02x", h->scratch_a[a - DATA_BASE + b]);
                    printf("\n");
                }
            }
        }
        run_pair(h, c->seq + rp.start, rp.count, c->code_addr, &rp.init, h->scratch_a, rp.undef, &rp.dm, &rp.nat, &rp.emu);
        print_result(stdout, "host", &rp.nat, rp.undef);
        print_result(stdout, "bubble", &rp.emu, rp.undef);
        compare_results(&rp.nat, h->scratch_b, &rp.emu, emu_data(&h->emu), rp.undef, &rp.dm, stdout);
    } else {
        printf("  the first %d instruction%s differ; no smaller rerun reproduces it\n",
               rp.first_bad, rp.first_bad == 1 ? "" : "s");
    }
    fflush(stdout);
#endif
}

static void print_family_table(const struct stats *st)
{
    printf("per-family instruction counts (executed, host faults, failing cases):\n");
    int col = 0;
    for (int f = 0; f < NUM_FAMILIES; f++) {
        if (!st->executed[f] && !st->fails[f]) continue;
        printf("  %-10s %7ld %5ld %4ld", families[f].name, st->executed[f], st->faults[f], st->fails[f]);
        if (++col % 3 == 0) printf("\n");
    }
    if (col % 3) printf("\n");
}

static int run_seed(struct harness *h, uint64_t seed, long count, struct testcase *c)
{
    long failed_before = h->st.failed;
    c->seed = seed;
    crash_seed = seed;
    for (long k = 0; k < count && !soak_interrupted; k++) {
        c->index = (uint64_t)(h->opt.one_case >= 0 ? h->opt.one_case : k);
        crash_case = c->index;
        run_case(h, c);
        if (h->opt.one_case >= 0) break;
    }
    return h->st.failed != failed_before;
}

static void usage(void)
{
    fprintf(stderr, "usage: test_diffhw [--seed N] [--count N] [--soak] [--only MNEMONIC[,MNEMONIC...]] [--case N]\n"
                    "                   [--no-cache] [--verbose]\n");
    exit(2);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->seed = DEFAULT_SEED;
    o->count = DEFAULT_COUNT;
    o->one_case = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seed") && i + 1 < argc) {
            o->seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--count") && i + 1 < argc) {
            o->count = strtol(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--case") && i + 1 < argc) {
            o->one_case = strtol(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--soak")) {
            o->soak = 1;
        } else if (!strcmp(a, "--no-cache")) {
            o->no_cache = 1;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o->verbose = 1;
        } else if (!strcmp(a, "--only") && i + 1 < argc) {
            char *list = strdup(argv[++i]);
            for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
                int hit = 0;
                for (int f = 0; f < NUM_FAMILIES; f++)
                    if (family_matches(families[f].name, tok)) { o->allowed[f] = 1; hit = 1; }
                if (!hit) {
                    fprintf(stderr, "test_diffhw: no instruction family '%s'; families:", tok);
                    for (int f = 0; f < NUM_FAMILIES; f++) fprintf(stderr, " %s", families[f].name);
                    fprintf(stderr, "\n");
                    return -1;
                }
            }
            free(list);
            o->only = 1;
        } else {
            usage();
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct harness h;     /* large; zeroed */
    static struct testcase c;
    if (parse_options(argc, argv, &h.opt) < 0) return 2;
    if (getenv("TESTS_QUICK") && *getenv("TESTS_QUICK") && h.opt.count == DEFAULT_COUNT)
        h.opt.count = QUICK_COUNT;
    if (strcmp(families[FAMILY_MOV].name, "MOV") || strcmp(families[FAMILY_NOP].name, "NOP")) {
        fprintf(stderr, "test_diffhw: FAMILY_MOV / FAMILY_NOP do not match the family table\n");
        return 2;
    }
    if (native_init(&h.nx) < 0) return 77;
#ifndef DIFFHW_NATIVE_ONLY
    if (emu_init(&h.emu) < 0) {
        fprintf(stderr, "test_diffhw: cannot create the emulated machine\n");
        return 2;
    }
    if (h.opt.no_cache)
        cpu_set_block_cache(h.emu.cpu, 0);
#endif
    c.mem = malloc(DATA_SIZE);
    c.nat_mem = malloc(DATA_SIZE);
    h.scratch_a = malloc(DATA_SIZE);
    h.scratch_b = malloc(DATA_SIZE);
    if (!c.mem || !c.nat_mem || !h.scratch_a || !h.scratch_b) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);

#ifdef DIFFHW_NATIVE_ONLY
    printf("test_diffhw: NATIVE ONLY build (no comparison)\n");
#endif
    if (h.opt.soak) {
        /* On the alternate stack: ^C may come while a sequence runs with a test ESP. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sa.sa_flags = SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        printf("test_diffhw: soak mode, %d cases per seed, ^C to stop\n", SOAK_CHUNK);
        while (!soak_interrupted) {
            uint64_t seed;
            if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
                seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
            long before_fail = h.st.failed, before_pass = h.st.passed;
            printf("seed 0x%" PRIx64 "...\n", seed);
            run_seed(&h, seed, SOAK_CHUNK, &c);
            printf("seed 0x%" PRIx64 ": %ld passed, %ld failed\n", seed, h.st.passed - before_pass,
                   h.st.failed - before_fail);
        }
    } else {
        printf("test_diffhw: seed 0x%" PRIx64 ", %ld cases%s\n", h.opt.seed,
               h.opt.one_case >= 0 ? 1L : h.opt.count, h.opt.only ? " (--only)" : "");
        run_seed(&h, h.opt.seed, h.opt.count, &c);
    }
    print_family_table(&h.st);
    printf("memory operands: %ld, %ld of them across a page boundary; cases with code across a page: %ld\n",
           h.st.mem_operands, h.st.page_crossing, h.st.code_crossing);
    printf("cases cut short before reading an undefined flag: %ld; skipped (harness): %ld\n",
           h.st.truncated, h.st.skipped);
    printf("RESULT: %ld passed, %ld failed\n", h.st.passed, h.st.failed);
    return h.st.failed || h.st.skipped ? 1 : 0;
}

#endif /* x86-64 Linux */
