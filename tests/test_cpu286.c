/* 286 real-mode conformance vectors (SingleStepTests/80286, captured from a
 * Harris 80C286; see ../shared/cputests/README.md and 80286-real/README.md).
 *
 * Each vector is one instruction followed by HLT: we load the initial registers
 * and RAM bytes, run until the CPU halts, and compare every register and every
 * listed RAM byte with the final state. Exceptions go through the real-mode IVT
 * (the vector's RAM holds the IVT entry, and a HLT at the handler).
 *
 * We are a 386-class CPU, so a few documented 286 behaviours differ; those tests
 * are excluded by the narrow rules in `exclusions[]` below, each with its reason,
 * and the summary prints how many tests each rule took out. Two differences are
 * small enough to compare around instead (`equivalences[]`): #SS where the 286
 * gives #13, and the 286 stepping SI/DI/CX before a string fault.
 * FLAGS are compared under metadata.json's flags-mask and 0x0FFF, and so is the
 * FLAGS image an exception pushes (found from the final SS:SP: the vectors'
 * exception.flag_address is rounded down to even).
 *
 * Usage: test_cpu286 [--dir PATH] [--file NAME]... [--verbose] [--max-fail N]
 *                    [--show-excluded] [--no-block-cache]
 * The vectors are found with --dir, else $BUBBLE_SHARED/cputests/80286-real, else
 * ../shared/cputests/80286-real beside the repository (the directory that holds
 * the Makefile, found from the executable's path or the working directory).
 * TESTS_QUICK=1 runs the first 50 tests of each file.
 *
 * Output: one line per opcode file, the exclusion table, totals, then
 * RESULT: P passed, F failed, S skipped, counted in opcode files: a file passes
 * when at least 95% of its compared tests pass; F gets one more when fewer than
 * 99% of all compared tests pass (the bar); S counts files excluded entirely.
 * Exit status is non-zero below the bar. (Counting files, not vectors, lets a
 * run above the bar end with "0 failed" for tests/run.sh; the vector counts are
 * on the "vectors:" line.) */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "cpu/cpu.h"
#include "cpu/ioport.h"
#include "cpu/memory.h"

#define RAM_BYTES (16u << 20)
#define QUICK_TESTS_PER_FILE 50
#define FILE_BAR_PERCENT 95.0
#define TOTAL_BAR_PERCENT 99.0
#define INSN_BUDGET_PER_RUN 256      /* instructions per cpu_run call */
#define INSN_BUDGET_TOTAL 20000      /* a test that has not halted by then fails */
#define MAX_RAM_ENTRIES 1024

/* ===========================================================================
 * A small JSON parser: the whole document becomes a tree of nodes allocated
 * from a pool; strings are unescaped in place in the input buffer. */

enum json_type { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
    enum json_type type;
    const char *key;          /* member name when the parent is an object */
    const char *str;          /* J_STR: NUL-terminated, unescaped */
    int64_t num;              /* J_NUM (truncated if it had a fraction), J_BOOL */
    struct jnode *child;      /* J_ARR, J_OBJ: first element */
    struct jnode *next;       /* next sibling */
    uint32_t count;           /* J_ARR, J_OBJ: number of elements */
};

#define POOL_CHUNK_NODES 65536
struct pool_chunk {
    struct pool_chunk *next;
    size_t used;
    struct jnode nodes[POOL_CHUNK_NODES];
};
struct jpool {
    struct pool_chunk *head, *cur;
};

static struct jnode *pool_alloc(struct jpool *pool)
{
    if (!pool->cur || pool->cur->used == POOL_CHUNK_NODES) {
        struct pool_chunk *next = pool->cur ? pool->cur->next : pool->head;
        if (!next) {
            next = malloc(sizeof(*next));
            if (!next) return NULL;
            next->next = NULL;
            if (pool->cur) pool->cur->next = next;
            else pool->head = next;
        }
        next->used = 0;
        pool->cur = next;
    }
    struct jnode *n = &pool->cur->nodes[pool->cur->used++];
    memset(n, 0, sizeof(*n));
    return n;
}

/* Keep the chunks, forget the nodes. */
static void pool_reset(struct jpool *pool)
{
    pool->cur = NULL;
}

static void pool_free(struct jpool *pool)
{
    struct pool_chunk *c = pool->head;
    while (c) {
        struct pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    pool->head = pool->cur = NULL;
}

struct jparser {
    char *p, *end;
    struct jpool *pool;
    const char *err;
    int depth;
};

static void skip_ws(struct jparser *jp)
{
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
        jp->p++;
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Writes code point `cp` as UTF-8 at *w (at most 4 bytes; a \uXXXX escape is 6). */
static void put_utf8(char **w, uint32_t cp)
{
    char *o = *w;
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    *w = o;
}

static int parse_hex4(struct jparser *jp, uint32_t *out)
{
    if (jp->end - jp->p < 4) return -1;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int d = hex_digit((unsigned char)jp->p[k]);
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    jp->p += 4;
    *out = v;
    return 0;
}

/* Parses a string at jp->p (on the opening quote); unescapes in place and
 * NUL-terminates it (the output is never longer than the input). */
static const char *parse_string(struct jparser *jp)
{
    if (jp->p >= jp->end || *jp->p != '"') { jp->err = "expected a string"; return NULL; }
    char *start = ++jp->p;
    char *w = start;
    while (jp->p < jp->end) {
        char c = *jp->p++;
        if (c == '"') {
            *w = '\0';
            return start;
        }
        if ((unsigned char)c < 0x20) { jp->err = "control character in string"; return NULL; }
        if (c != '\\') {
            *w++ = c;
            continue;
        }
        if (jp->p >= jp->end) break;
        char e = *jp->p++;
        switch (e) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (parse_hex4(jp, &cp)) { jp->err = "bad \\u escape"; return NULL; }
            /* A surrogate pair is two escapes (12 input bytes, 4 output bytes). */
            if (cp >= 0xD800 && cp < 0xDC00 && jp->end - jp->p >= 6 && jp->p[0] == '\\' && jp->p[1] == 'u') {
                uint32_t lo;
                jp->p += 2;
                if (parse_hex4(jp, &lo) || lo < 0xDC00 || lo > 0xDFFF) { jp->err = "bad surrogate pair"; return NULL; }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&w, cp);
            break;
        }
        default:
            jp->err = "bad escape";
            return NULL;
        }
    }
    jp->err = "unterminated string";
    return NULL;
}

static struct jnode *parse_value(struct jparser *jp);

static struct jnode *parse_number(struct jparser *jp, struct jnode *n)
{
    char *s = jp->p;
    int is_int = 1;
    if (jp->p < jp->end && *jp->p == '-') jp->p++;
    if (jp->p >= jp->end || !isdigit((unsigned char)*jp->p)) { jp->err = "bad number"; return NULL; }
    while (jp->p < jp->end && isdigit((unsigned char)*jp->p)) jp->p++;
    if (jp->p < jp->end && *jp->p == '.') {
        is_int = 0;
        jp->p++;
        while (jp->p < jp->end && isdigit((unsigned char)*jp->p)) jp->p++;
    }
    if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
        is_int = 0;
        jp->p++;
        if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-')) jp->p++;
        while (jp->p < jp->end && isdigit((unsigned char)*jp->p)) jp->p++;
    }
    n->type = J_NUM;
    /* The buffer is NUL-terminated past its end, and a number is always followed by
     * a delimiter or the end, so strtoll/strtod stop where we stopped. */
    if (is_int) n->num = strtoll(s, NULL, 10);
    else n->num = (int64_t)strtod(s, NULL);
    return n;
}

static int match_word(struct jparser *jp, const char *w)
{
    size_t len = strlen(w);
    if ((size_t)(jp->end - jp->p) < len || memcmp(jp->p, w, len) != 0) return 0;
    jp->p += len;
    return 1;
}

static struct jnode *parse_container(struct jparser *jp, struct jnode *n, int is_obj)
{
    char close = is_obj ? '}' : ']';
    struct jnode **tail = &n->child;
    n->type = is_obj ? J_OBJ : J_ARR;
    jp->p++;
    if (++jp->depth > 64) { jp->err = "nested too deep"; return NULL; }
    skip_ws(jp);
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        jp->depth--;
        return n;
    }
    for (;;) {
        const char *key = NULL;
        skip_ws(jp);
        if (is_obj) {
            key = parse_string(jp);
            if (!key) return NULL;
            skip_ws(jp);
            if (jp->p >= jp->end || *jp->p != ':') { jp->err = "expected ':'"; return NULL; }
            jp->p++;
        }
        struct jnode *v = parse_value(jp);
        if (!v) return NULL;
        v->key = key;
        *tail = v;
        tail = &v->next;
        n->count++;
        skip_ws(jp);
        if (jp->p < jp->end && *jp->p == ',') { jp->p++; continue; }
        if (jp->p < jp->end && *jp->p == close) { jp->p++; break; }
        jp->err = is_obj ? "expected ',' or '}'" : "expected ',' or ']'";
        return NULL;
    }
    jp->depth--;
    return n;
}

static struct jnode *parse_value(struct jparser *jp)
{
    skip_ws(jp);
    if (jp->p >= jp->end) { jp->err = "unexpected end"; return NULL; }
    struct jnode *n = pool_alloc(jp->pool);
    if (!n) { jp->err = "out of memory"; return NULL; }
    char c = *jp->p;
    switch (c) {
    case '{': return parse_container(jp, n, 1);
    case '[': return parse_container(jp, n, 0);
    case '"':
        n->type = J_STR;
        n->str = parse_string(jp);
        return n->str ? n : NULL;
    case 't':
        if (!match_word(jp, "true")) break;
        n->type = J_BOOL; n->num = 1;
        return n;
    case 'f':
        if (!match_word(jp, "false")) break;
        n->type = J_BOOL; n->num = 0;
        return n;
    case 'n':
        if (!match_word(jp, "null")) break;
        n->type = J_NULL;
        return n;
    default:
        if (c == '-' || isdigit((unsigned char)c)) return parse_number(jp, n);
        break;
    }
    jp->err = "unexpected character";
    return NULL;
}

/* Parses buf[0..len) (buf[len] must be a writable NUL). Returns the root or NULL
 * with a message in *err. */
static struct jnode *json_parse(char *buf, size_t len, struct jpool *pool, char *err, size_t errlen)
{
    struct jparser jp = { .p = buf, .end = buf + len, .pool = pool };
    struct jnode *root = parse_value(&jp);
    if (root) {
        skip_ws(&jp);
        if (jp.p != jp.end) { root = NULL; jp.err = "trailing characters"; }
    }
    if (!root) snprintf(err, errlen, "%s at byte %ld", jp.err ? jp.err : "error", (long)(jp.p - buf));
    return root;
}

static const struct jnode *json_get(const struct jnode *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ) return NULL;
    for (const struct jnode *m = obj->child; m; m = m->next)
        if (strcmp(m->key, key) == 0) return m;
    return NULL;
}

static int json_int(const struct jnode *n, int64_t *out)
{
    if (!n || n->type != J_NUM) return -1;
    *out = n->num;
    return 0;
}

/* ===========================================================================
 * Files. */

/* Reads a whole (possibly gzip-compressed) file, NUL-terminated. */
static char *read_gz(const char *path, size_t *len_out)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz) return NULL;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) break;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        int n = gzread(gz, buf + len, (unsigned)(cap - len > INT_MAX ? INT_MAX : cap - len));
        if (n < 0) { free(buf); buf = NULL; break; }
        if (n == 0) break;
        len += (size_t)n;
    }
    gzclose(gz);
    if (buf) {
        buf[len] = '\0';
        *len_out = len;
    }
    return buf;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Walks up from `start` to the repository root (the directory with the Makefile
 * and cpu/cpu.h); writes the vectors' directory beside it. */
static int vectors_beside_repo(const char *start, char *out, size_t outlen)
{
    char dir[PATH_MAX];
    if (!realpath(start, dir)) return -1;
    for (;;) {
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof(probe), "%s/Makefile", dir);
        int has_makefile = path_exists(probe);
        snprintf(probe, sizeof(probe), "%s/cpu/cpu.h", dir);
        if (has_makefile && path_exists(probe)) {
            int w = snprintf(out, outlen, "%s/../shared/cputests/80286-real", dir);
            return w > 0 && (size_t)w < outlen ? 0 : -1;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) return -1;
        *slash = '\0';
    }
}

static int find_vectors_at(const char *argv0, const char *opt_dir, char *out, size_t outlen);

/* Finds the vectors and gives their path without "..". */
static int find_vectors(const char *argv0, const char *opt_dir, char *out, size_t outlen)
{
    char found[PATH_MAX], canon[PATH_MAX];
    if (find_vectors_at(argv0, opt_dir, found, sizeof(found)) != 0) {
        snprintf(out, outlen, "%s", found);
        return -1;
    }
    snprintf(out, outlen, "%s", realpath(found, canon) ? canon : found);
    return 0;
}

static int find_vectors_at(const char *argv0, const char *opt_dir, char *out, size_t outlen)
{
    if (opt_dir) {
        snprintf(out, outlen, "%s", opt_dir);
        return is_dir(out) ? 0 : -1;
    }
    const char *shared = getenv("BUBBLE_SHARED");
    if (shared && *shared) {
        snprintf(out, outlen, "%s/cputests/80286-real", shared);
        if (is_dir(out)) return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        if (vectors_beside_repo(exe, out, outlen) == 0 && is_dir(out)) return 0;
    }
    if (argv0 && strchr(argv0, '/')) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof(tmp), "%s", argv0);
        char *slash = strrchr(tmp, '/');
        *slash = '\0';
        if (vectors_beside_repo(tmp[0] ? tmp : "/", out, outlen) == 0 && is_dir(out)) return 0;
    }
    if (vectors_beside_repo(".", out, outlen) == 0 && is_dir(out)) return 0;
    snprintf(out, outlen, "../shared/cputests/80286-real");
    return -1;
}

/* ===========================================================================
 * Exclusions: 286 behaviour that a 386 documents differently. Each rule is
 * narrow and is counted; nothing is excluded because our CPU fails it. */

enum exclusion {
    EX_META_STATUS,     /* metadata status undefined / undocumented / fpu */
    EX_286_ONLY,        /* 0F 04 (STOREALL), 0F 05 (LOADALL) */
    EX_REVOKED,         /* revocation_list.txt */
    EX_386_PREFIX,      /* 64 65 66 67 where the 286 takes no prefix */
    EX_LOCK,            /* LOCK on an instruction the 386 does not allow it on */
    EX_LENGTH,          /* longer than the 286's 10-byte limit: #13 on a 286 */
    EX_MOV_FS_GS,       /* 8C/8E with reg 4 or 5: FS/GS on a 386, #UD on a 286 */
    EX_COUNT
};

static const struct {
    const char *name;
    const char *reason;
} exclusions[EX_COUNT] = {
    [EX_META_STATUS] = { "metadata-status",
        "metadata.json marks the opcode (or ModRM reg form) undefined, undocumented or fpu (no FPU at capture)" },
    [EX_286_ONLY] = { "286-only",
        "0F 04 STOREALL / 0F 05 LOADALL exist only on the 286" },
    [EX_REVOKED] = { "revoked",
        "hash listed in revocation_list.txt (test known to be wrong)" },
    [EX_386_PREFIX] = { "386-prefix",
        "a 64/65/66/67 byte where the 286 takes no prefix: FS/GS/operand-size/address-size prefix on a 386" },
    [EX_LOCK] = { "lock-not-lockable",
        "LOCK before an instruction other than a memory-destination ADD ADC AND OR SBB SUB XOR NOT NEG INC DEC XCHG: "
        "the 286 ignores it, a 386 raises #UD (SDM vol. 2, LOCK)" },
    [EX_LENGTH] = { "insn-length>10",
        "instruction longer than 10 bytes: #13 on a 286, legal up to 15 bytes on a 386 (SDM vol. 3, 22.11)" },
    [EX_MOV_FS_GS] = { "mov-sreg-fs-gs",
        "MOV to/from Sreg with ModRM reg 4/5: #UD on a 286, FS/GS on a 386" },
};

/* Equivalences: the test runs and is compared in full, with one documented
 * difference allowed for. */
enum equivalence {
    EQ_SS_FAULT_13,     /* SS limit violation: #13 on a 286, #SS (12) on a 386 */
    EQ_STRING_FAULT,    /* a faulting word string op: the 286 has already stepped SI/DI/CX */
    EQ_COUNT
};
static const struct {
    const char *name;
    const char *reason;
} equivalences[EQ_COUNT] = {
    [EQ_SS_FAULT_13] = { "ss-fault-as-13",
        "a stack-segment limit violation is #13 on a 286 but #SS (12) on a 386 (SDM vol. 3, 20.1.4 and the "
        "instructions' real-address-mode exceptions): IVT[12] is given IVT[13]'s handler and #SS accepted for #13" },
    [EQ_STRING_FAULT] = { "string-fault-regs",
        "a word string instruction faulting with #13: the 286 has already stepped SI/DI (and CX under REP) for "
        "the faulting element, a 386 fault leaves them at it (SDM vol. 3, 6.5): SI/DI one step back and CX one "
        "or two more are accepted, everything else is compared" },
};

/* ===========================================================================
 * Metadata (metadata.json). */

struct opmeta {
    char status[16];
    uint16_t flags_mask;
};

static void opmeta_from_node(const struct jnode *n, struct opmeta *m)
{
    const struct jnode *s = json_get(n, "status");
    const struct jnode *mask = json_get(n, "flags-mask");
    snprintf(m->status, sizeof(m->status), "%s", s && s->type == J_STR ? s->str : "normal");
    m->flags_mask = mask && mask->type == J_NUM ? (uint16_t)mask->num : 0xFFFF;
}

/* Looks up the opcode `op` (file name without ".N"), with ModRM reg `reg` where the
 * metadata splits it (reg < 0: unknown). Returns 0 and fills *m, or -1. */
static int meta_lookup(const struct jnode *opcodes, const char *op, int reg, struct opmeta *m)
{
    const struct jnode *n = json_get(opcodes, op);
    if (!n) return -1;
    const struct jnode *regs = json_get(n, "reg");
    if (regs) {
        char key[12];
        if (reg < 0) return -1;
        snprintf(key, sizeof(key), "%d", reg);
        n = json_get(regs, key);
        if (!n) return -1;
    }
    opmeta_from_node(n, m);
    return 0;
}

static int status_excluded(const char *status)
{
    return strcmp(status, "undefined") == 0 || strcmp(status, "undocumented") == 0 || strcmp(status, "fpu") == 0;
}

/* ===========================================================================
 * Revocation list. */

struct revoked {
    char (*hash)[41];
    size_t n;
};

static void load_revoked(const char *dir, struct revoked *r)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/revocation_list.txt", dir);
    r->hash = NULL;
    r->n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[256];
    size_t cap = 0;
    while (fgets(line, sizeof(line), f)) {
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        if (*s == '#' || *s == '\0') continue;
        size_t len = 0;
        while (isxdigit((unsigned char)s[len])) len++;
        if (len != 40) continue;
        if (r->n == cap) {
            cap = cap ? cap * 2 : 16;
            char (*nh)[41] = realloc(r->hash, cap * sizeof(*nh));
            if (!nh) break;
            r->hash = nh;
        }
        for (size_t k = 0; k < 40; k++) r->hash[r->n][k] = (char)tolower((unsigned char)s[k]);
        r->hash[r->n][40] = '\0';
        r->n++;
    }
    fclose(f);
}

static int is_revoked(const struct revoked *r, const char *hash)
{
    if (!hash) return 0;
    for (size_t k = 0; k < r->n; k++)
        if (strcasecmp(r->hash[k], hash) == 0) return 1;
    return 0;
}

/* ===========================================================================
 * One vector, taken out of its JSON object. */

enum { V_AX, V_BX, V_CX, V_DX, V_CS, V_SS, V_DS, V_ES, V_SP, V_BP, V_SI, V_DI, V_IP, V_FLAGS, V_NREG };
static const char *const vreg_name[V_NREG] = {
    "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
};
/* Where each vector register lives in our CPU: a general register or a segment. */
static const int vreg_gpr[V_NREG] = {
    R_EAX, R_EBX, R_ECX, R_EDX, -1, -1, -1, -1, R_ESP, R_EBP, R_ESI, R_EDI, -1, -1,
};
static const int vreg_seg[V_NREG] = {
    -1, -1, -1, -1, S_CS, S_SS, S_DS, S_ES, -1, -1, -1, -1, -1, -1,
};

struct ram_byte {
    uint32_t addr;
    uint8_t val;
};

struct vector {
    int64_t idx;
    const char *name;
    const char *hash;
    uint8_t bytes[32];
    int nbytes;
    uint16_t init[V_NREG];
    uint16_t fin[V_NREG];       /* init with final's changes applied */
    struct ram_byte ram_init[MAX_RAM_ENTRIES];
    int n_init;
    struct ram_byte ram_fin[MAX_RAM_ENTRIES];
    int n_fin;
    int exc;                    /* expected exception/interrupt vector, or -1 */
    uint32_t flag_addr;
};

static int read_regs(const struct jnode *regs, uint16_t *out, int need_all)
{
    if (!regs || regs->type != J_OBJ) return -1;
    for (int r = 0; r < V_NREG; r++) {
        int64_t v;
        const struct jnode *n = json_get(regs, vreg_name[r]);
        if (!n) {
            if (need_all) return -1;
            continue;
        }
        if (json_int(n, &v)) return -1;
        out[r] = (uint16_t)v;
    }
    return 0;
}

static int read_ram(const struct jnode *ram, struct ram_byte *out, int *n_out)
{
    int n = 0;
    if (!ram || ram->type != J_ARR) return -1;
    for (const struct jnode *e = ram->child; e; e = e->next) {
        int64_t a, v;
        if (e->type != J_ARR || e->count != 2) return -1;
        if (json_int(e->child, &a) || json_int(e->child->next, &v)) return -1;
        if (n == MAX_RAM_ENTRIES || a < 0 || a >= (int64_t)RAM_BYTES) return -1;
        out[n].addr = (uint32_t)a;
        out[n].val = (uint8_t)v;
        n++;
    }
    *n_out = n;
    return 0;
}

static int vector_from_json(const struct jnode *t, struct vector *v)
{
    const struct jnode *n;
    int64_t x;
    v->idx = json_int(json_get(t, "idx"), &x) == 0 ? x : -1;
    n = json_get(t, "name");
    v->name = n && n->type == J_STR ? n->str : "?";
    n = json_get(t, "hash");
    v->hash = n && n->type == J_STR ? n->str : NULL;
    n = json_get(t, "bytes");
    if (!n || n->type != J_ARR || n->count == 0 || n->count > sizeof(v->bytes)) return -1;
    v->nbytes = 0;
    for (const struct jnode *b = n->child; b; b = b->next) {
        if (json_int(b, &x)) return -1;
        v->bytes[v->nbytes++] = (uint8_t)x;
    }
    const struct jnode *init = json_get(t, "initial");
    const struct jnode *fin = json_get(t, "final");
    if (read_regs(json_get(init, "regs"), v->init, 1)) return -1;
    memcpy(v->fin, v->init, sizeof(v->fin));
    if (read_regs(json_get(fin, "regs"), v->fin, 0)) return -1;
    if (read_ram(json_get(init, "ram"), v->ram_init, &v->n_init)) return -1;
    if (read_ram(json_get(fin, "ram"), v->ram_fin, &v->n_fin)) return -1;
    v->exc = -1;
    v->flag_addr = 0;
    const struct jnode *exc = json_get(t, "exception");
    if (exc && exc->type == J_OBJ) {
        if (json_int(json_get(exc, "number"), &x)) return -1;
        v->exc = (int)x;
        if (json_int(json_get(exc, "flag_address"), &x) == 0) v->flag_addr = (uint32_t)x;
    }
    return 0;
}

/* ===========================================================================
 * Decoding just enough of the instruction bytes to apply the exclusions. */

/* Prefixes as the 286 knows them (no FS/GS, no operand/address size). */
static int is_286_prefix(uint8_t b)
{
    return b == 0x26 || b == 0x2E || b == 0x36 || b == 0x3E || b == 0xF0 || b == 0xF2 || b == 0xF3;
}

/* LOCK is allowed by a 386 on these memory-destination forms only (SDM vol. 2, LOCK;
 * 80386 PRM: an undefined-opcode exception results from LOCK before any other). */
static int lock_allowed_on_386(uint8_t op, int has_modrm, uint8_t modrm)
{
    int mem = has_modrm && (modrm >> 6) != 3;
    int reg = (modrm >> 3) & 7;
    switch (op) {
    case 0x00: case 0x01: case 0x08: case 0x09: case 0x10: case 0x11: case 0x18: case 0x19:
    case 0x20: case 0x21: case 0x28: case 0x29: case 0x30: case 0x31: case 0x86: case 0x87:
        return mem;
    case 0x80: case 0x81: case 0x82: case 0x83:
        return mem && reg != 7;
    case 0xF6: case 0xF7:
        return mem && (reg == 2 || reg == 3);
    case 0xFE: case 0xFF:
        return mem && reg <= 1;
    default:
        return 0;
    }
}

struct insn_shape {
    int nprefix;
    int has_lock;
    int has_rep;       /* F2 or F3 */
    int seg_override;  /* the last segment prefix (26 2E 36 3E), or 0 */
    uint8_t op;        /* first opcode byte (after the prefixes) */
    int has_modrm;     /* a byte follows the opcode (ModRM for the forms we ask about) */
    uint8_t modrm;
    int len;           /* instruction length: the bytes minus the trailing HLT */
};

static void insn_shape(const struct vector *v, struct insn_shape *s)
{
    int i = 0;
    memset(s, 0, sizeof(*s));
    while (i < v->nbytes - 1 && is_286_prefix(v->bytes[i])) {
        if (v->bytes[i] == 0xF0) s->has_lock = 1;
        if (v->bytes[i] == 0xF2 || v->bytes[i] == 0xF3) s->has_rep = 1;
        if ((v->bytes[i] & 0xE7) == 0x26) s->seg_override = v->bytes[i];
        i++;
    }
    s->nprefix = i;
    s->op = v->bytes[i];
    s->has_modrm = i + 1 < v->nbytes;
    s->modrm = s->has_modrm ? v->bytes[i + 1] : 0;
    s->len = v->nbytes - 1;
}

/* The file name is the opcode, "0F01"-style for two bytes, ".N" for a ModRM reg group. */
struct file_id {
    char op[8];        /* the opcode part of the name */
    int group;         /* the ".N", or -1 */
};

static void file_id_parse(const char *name, struct file_id *id)
{
    const char *dot = strchr(name, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);
    if (n >= sizeof(id->op)) n = sizeof(id->op) - 1;
    memcpy(id->op, name, n);
    id->op[n] = '\0';
    id->group = dot && isdigit((unsigned char)dot[1]) ? dot[1] - '0' : -1;
}

/* What the comparison needs to know about a test beyond the vector. */
struct test_ctx {
    uint16_t flags_mask;       /* metadata.json flags-mask (0xFFFF when none) */
    struct insn_shape shape;
};

/* Returns the exclusion that applies to this test, or -1. Fills *ctx. */
static int classify(const struct vector *v, const struct file_id *id, const struct jnode *opcodes,
                    const struct revoked *rev, struct test_ctx *ctx)
{
    struct insn_shape s;
    struct opmeta meta;
    insn_shape(v, &s);
    ctx->shape = s;
    int reg = id->group >= 0 ? id->group : (s.has_modrm ? (s.modrm >> 3) & 7 : -1);

    ctx->flags_mask = 0xFFFF;
    if (meta_lookup(opcodes, id->op, reg, &meta) == 0) {
        ctx->flags_mask = meta.flags_mask;
        if (status_excluded(meta.status)) return EX_META_STATUS;
    }
    if (strcasecmp(id->op, "0F04") == 0 || strcasecmp(id->op, "0F05") == 0) return EX_286_ONLY;
    if (is_revoked(rev, v->hash)) return EX_REVOKED;
    if (s.op >= 0x64 && s.op <= 0x67) return EX_386_PREFIX;
    if (s.has_lock && !lock_allowed_on_386(s.op, s.has_modrm, s.modrm)) return EX_LOCK;
    if (s.len > 10 && v->exc == 13) return EX_LENGTH;
    if ((s.op == 0x8C || s.op == 0x8E) && s.has_modrm && (reg == 4 || reg == 5)) return EX_MOV_FS_GS;
    return -1;
}

/* ===========================================================================
 * The machine, created once and reset between tests. */

struct machine {
    struct memory *mem;
    struct ioports *io;
    struct cpu *cpu;
    uint8_t *ram;
    /* First exception or interrupt taken in this test, from the hook. */
    int first_vec;
    int nvec;
    int need_reset;     /* cpu_reset before the next test */
};

static void on_exception(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    struct machine *m = opaque;
    if (m->nvec++ == 0) m->first_vec = vector;
}

static void write_byte(struct machine *m, uint32_t addr, uint8_t val)
{
    /* Through memory_write, so the block cache hears about code bytes changing. */
    memory_write(m->mem, addr, &val, 1);
}

/* Zeroes every non-zero page of RAM (after a test that may have written anywhere). */
static size_t scrub_ram(struct machine *m)
{
    static const uint8_t zero_page[4096];
    size_t dirty = 0;
    for (uint32_t a = 0; a < RAM_BYTES; a += 4096) {
        if (memcmp(m->ram + a, zero_page, 4096) == 0) continue;
        for (uint32_t k = 0; k < 4096; k++) dirty += m->ram[a + k] != 0;
        memory_write(m->mem, a, zero_page, 4096);
    }
    return dirty;
}

/* A real-mode segment as after reset: base = selector * 16, 64 KiB limit,
 * present read/write accessed data (CS as well: real mode does not look at it). */
static void set_real_seg(struct cpu *cpu, int seg, uint16_t selector)
{
    struct cpu_segment_state st = {
        .selector = selector, .base = (uint32_t)selector << 4, .limit = 0xFFFF, .flags = 0x93,
    };
    cpu_set_seg(cpu, seg, &st);
}

struct run_result {
    int halted;
    int reset;          /* CPU_STOP_RESET: shutdown */
    uint64_t insns;
};

/* Sets the vector's initial state. cpu_reset flushes the whole block cache, which
 * costs about a millisecond, so it runs only when the machine may be in a state
 * the registers below do not cover (first test of a file, after a failure);
 * otherwise every register a real-mode instruction can change is set here. */
static void load_state(struct machine *m, const struct vector *v)
{
    struct cpu *cpu = m->cpu;
    if (m->need_reset) {
        cpu_reset(cpu);
        m->need_reset = 0;
    }
    for (int r = 0; r < 8; r++) cpu_set_reg(cpu, r, 0);
    for (int r = 0; r < V_NREG; r++) {
        if (vreg_gpr[r] >= 0) cpu_set_reg(cpu, vreg_gpr[r], v->init[r]);
        else if (vreg_seg[r] >= 0) set_real_seg(cpu, vreg_seg[r], v->init[r]);
    }
    set_real_seg(cpu, S_FS, 0);
    set_real_seg(cpu, S_GS, 0);
    cpu_set_eip(cpu, v->init[V_IP]);
    /* Bits 12-15 (IOPL, NT) cannot be set in real mode on a 286: the vectors' initial
     * value is what LOADALL was given, so mask them (80286-real/README.md). Bits 3, 5
     * and 15 are reserved (0) and bit 1 reads as 1. */
    cpu_set_eflags(cpu, (v->init[V_FLAGS] & 0x0FD7u) | 0x0002u);
    cpu_set_halted(cpu, 0);
}

static void run_until_halt(struct machine *m, struct run_result *res)
{
    uint64_t start = cpu_icount(m->cpu);
    res->halted = res->reset = 0;
    m->first_vec = -1;
    m->nvec = 0;
    while (cpu_icount(m->cpu) - start < INSN_BUDGET_TOTAL) {
        enum cpu_stop why = cpu_run(m->cpu, INSN_BUDGET_PER_RUN);
        if (cpu_is_halted(m->cpu)) { res->halted = 1; break; }
        if (why == CPU_STOP_RESET) { res->reset = 1; break; }
        if (why == CPU_STOP_HALT) { res->halted = 1; break; }
    }
    res->insns = cpu_icount(m->cpu) - start;
}

/* A compared item that differs, for the report. */
struct mismatch {
    char what[24];
    uint32_t expected, actual;
};
#define MAX_MISMATCH 48

struct outcome {
    int pass;
    int used_ss_equivalence;
    int used_string_equivalence;
    struct mismatch mm[MAX_MISMATCH];
    int nmm;
    int more;           /* mismatches beyond MAX_MISMATCH */
    struct run_result run;
    int vec_seen;
};

static void add_mismatch(struct outcome *o, const char *what, uint32_t expected, uint32_t actual)
{
    o->pass = 0;
    if (o->nmm == MAX_MISMATCH) { o->more++; return; }
    struct mismatch *x = &o->mm[o->nmm++];
    snprintf(x->what, sizeof(x->what), "%s", what);
    x->expected = expected;
    x->actual = actual;
}

static int ram_find(const struct ram_byte *list, int n, uint32_t addr)
{
    for (int k = 0; k < n; k++)
        if (list[k].addr == addr) return k;
    return -1;
}

/* Addresses this test wrote to RAM or expects in RAM, for the cleanup. */
struct touched {
    uint32_t addr[2 * MAX_RAM_ENTRIES + 8];
    int n;
};

static void touch(struct touched *t, uint32_t addr)
{
    if (t->n < (int)(sizeof(t->addr) / sizeof(t->addr[0]))) t->addr[t->n++] = addr;
}

/* Runs one vector and compares. */
/* Can this instruction make an access through SS (so that a 386 raises #SS where
 * the 286 raises #13)? Stack instructions, and memory operands whose segment is SS:
 * BP-based addressing without an override, or an SS override. */
static int may_access_ss(const struct insn_shape *s)
{
    switch (s->op) {
    case 0x06: case 0x07: case 0x0E: case 0x16: case 0x17: case 0x1E: case 0x1F:
    case 0x60: case 0x61: case 0x68: case 0x6A: case 0x8F: case 0x9A: case 0x9C: case 0x9D:
    case 0xC2: case 0xC3: case 0xC8: case 0xC9: case 0xCA: case 0xCB: case 0xCC: case 0xCD:
    case 0xCE: case 0xCF: case 0xE8:
        return 1;
    default:
        if (s->op >= 0x50 && s->op <= 0x5F) return 1;
        break;
    }
    int reg = (s->modrm >> 3) & 7;
    if (s->op == 0xFF && s->has_modrm && (reg == 2 || reg == 3 || reg == 6)) return 1;
    if (s->seg_override == 0x36) return 1;
    if (s->seg_override) return 0;
    /* Opcodes with a ModRM memory operand, where BP-based forms default to SS. */
    int has_modrm_operand = (s->op < 0x40 && (s->op & 7) < 4) || s->op == 0x62 || s->op == 0x69 ||
                            s->op == 0x6B || (s->op >= 0x80 && s->op <= 0x8F) || s->op == 0xC0 ||
                            s->op == 0xC1 || s->op == 0xC4 || s->op == 0xC5 || s->op == 0xC6 ||
                            s->op == 0xC7 || (s->op >= 0xD0 && s->op <= 0xD3) || s->op == 0xF6 ||
                            s->op == 0xF7 || s->op == 0xFE || s->op == 0xFF;
    if (!has_modrm_operand || !s->has_modrm) return 0;
    int mod = s->modrm >> 6, rm = s->modrm & 7;
    return mod != 3 && (rm == 2 || rm == 3 || (rm == 6 && mod != 0));
}

/* Word string instructions, whose faults the 286 reports after stepping SI/DI/CX. */
static int is_word_string_op(uint8_t op)
{
    return op == 0x6D || op == 0x6F || op == 0xA5 || op == 0xA7 || op == 0xAB || op == 0xAD || op == 0xAF;
}

/* EQ_STRING_FAULT: is `got` the 386 value for the 286's `want` in register r? */
static int string_fault_equivalent(const struct vector *v, const struct test_ctx *ctx, int r,
                                   uint32_t want, uint32_t got)
{
    if (v->exc != 13 || !is_word_string_op(ctx->shape.op)) return 0;
    uint32_t step = (v->init[V_FLAGS] & 0x400) ? 0xFFFEu : 2u;    /* DF: down */
    if (r == V_SI || r == V_DI) return got == ((want - step) & 0xFFFF);
    /* Under REP the 286 has counted the faulting element once (a read fault) or
     * twice (a write fault). */
    if (r == V_CX) return ctx->shape.has_rep && (got == ((want + 1) & 0xFFFF) || got == ((want + 2) & 0xFFFF));
    return 0;
}

static void run_vector(struct machine *m, const struct vector *v, const struct test_ctx *ctx,
                       struct outcome *o, struct touched *t)
{
    struct cpu *cpu = m->cpu;
    uint16_t flags_mask = ctx->flags_mask;
    o->pass = 1;
    o->nmm = o->more = 0;
    o->used_ss_equivalence = 0;
    o->used_string_equivalence = 0;
    t->n = 0;

    load_state(m, v);
    for (int k = 0; k < v->n_init; k++) {
        write_byte(m, v->ram_init[k].addr, v->ram_init[k].val);
        touch(t, v->ram_init[k].addr);
    }
    /* A 286 reports a stack-segment limit violation as #13 where a 386 raises #SS:
     * give IVT[12] the handler of IVT[13] (unless the test itself uses those bytes). */
    int ss_alias = 0;
    if (v->exc == 13) {
        int have13 = 1, free12 = 1;
        for (uint32_t a = 0; a < 4; a++) {
            if (ram_find(v->ram_init, v->n_init, 13 * 4 + a) < 0) have13 = 0;
            if (ram_find(v->ram_init, v->n_init, 12 * 4 + a) >= 0) free12 = 0;
        }
        if (have13 && free12) {
            for (uint32_t a = 0; a < 4; a++) {
                write_byte(m, 12 * 4 + a, m->ram[13 * 4 + a]);
                touch(t, 12 * 4 + a);
            }
            ss_alias = 1;
        }
    }

    run_until_halt(m, &o->run);
    o->vec_seen = m->first_vec;

    if (!o->run.halted) add_mismatch(o, o->run.reset ? "shutdown" : "no-halt", 1, 0);

    /* Which exception or interrupt was taken. */
    if (v->exc != m->first_vec) {
        if (v->exc == 13 && m->first_vec == 12 && ss_alias && may_access_ss(&ctx->shape))
            o->used_ss_equivalence = 1;
        else add_mismatch(o, "exception", (uint32_t)v->exc, (uint32_t)m->first_vec);
    }

    /* Registers: general registers in full (the upper halves must stay 0), segments
     * with their real-mode base, IP in full, FLAGS masked. */
    for (int r = 0; r < V_NREG; r++) {
        uint32_t want = v->fin[r];
        if (vreg_gpr[r] >= 0) {
            uint32_t got = cpu_get_reg(cpu, vreg_gpr[r]);
            if (got != want && string_fault_equivalent(v, ctx, r, want, got)) o->used_string_equivalence = 1;
            else if (got != want) add_mismatch(o, vreg_name[r], want, got);
        } else if (vreg_seg[r] >= 0) {
            struct cpu_segment_state ss;
            cpu_get_seg(cpu, vreg_seg[r], &ss);
            if (ss.selector != want) add_mismatch(o, vreg_name[r], want, ss.selector);
            if (ss.base != want << 4) {
                char what[24];
                snprintf(what, sizeof(what), "%s.base", vreg_name[r]);
                add_mismatch(o, what, want << 4, ss.base);
            }
        } else if (r == V_IP) {
            uint32_t got = cpu_get_eip(cpu);
            if (got != want) add_mismatch(o, "ip", want, got);
        } else {
            uint32_t mask = flags_mask & 0x0FFFu;
            uint32_t got = cpu_get_eflags(cpu);
            if ((got & mask) != (want & mask)) add_mismatch(o, "flags", want & mask, got & mask);
        }
    }

    /* RAM: every byte the test lists, final value if given, else the initial one.
     * The FLAGS image an exception pushed gets the same mask as FLAGS. It is the
     * first word of the 3-word frame below the handler's SS:SP; the vectors'
     * exception.flag_address is rounded down to even, one byte off when SP is odd. */
    uint32_t ss_base = (uint32_t)v->fin[V_SS] << 4;
    uint32_t flags_lo = ss_base + ((v->fin[V_SP] + 4u) & 0xFFFF);
    uint32_t flags_hi = ss_base + ((v->fin[V_SP] + 5u) & 0xFFFF);
    for (int pass = 0; pass < 2; pass++) {
        const struct ram_byte *list = pass ? v->ram_fin : v->ram_init;
        int n = pass ? v->n_fin : v->n_init;
        for (int k = 0; k < n; k++) {
            uint32_t a = list[k].addr;
            if (pass == 0 && ram_find(v->ram_fin, v->n_fin, a) >= 0) continue;
            if (pass == 1) touch(t, a);
            uint8_t want = list[k].val, got = m->ram[a];
            uint8_t mask = 0xFF;
            if (v->exc >= 0 && a == flags_lo) mask = (uint8_t)(flags_mask & 0xFF);
            if (v->exc >= 0 && a == flags_hi) mask = (uint8_t)((flags_mask >> 8) & 0x0F);
            if ((want & mask) != (got & mask)) {
                char what[24];
                snprintf(what, sizeof(what), "ram[%06X]", a);
                add_mismatch(o, what, want & mask, got & mask);
            }
        }
    }
}

/* Undoes the test's RAM changes (the bytes it listed; a failing test scrubs all RAM). */
static void cleanup_vector(struct machine *m, const struct touched *t)
{
    for (int k = 0; k < t->n; k++)
        if (m->ram[t->addr[k]]) write_byte(m, t->addr[k], 0);
}

static void print_vector_failure(const char *file, const struct vector *v, const struct outcome *o,
                                 uint16_t flags_mask)
{
    printf("FAIL %s #%lld \"%s\" hash %s\n", file, (long long)v->idx, v->name, v->hash ? v->hash : "-");
    printf("  bytes:");
    for (int k = 0; k < v->nbytes; k++) printf(" %02X", v->bytes[k]);
    printf("\n  initial:");
    for (int r = 0; r < V_NREG; r++) printf(" %s=%04X", vreg_name[r], v->init[r]);
    printf("\n  expected exception %d (flag_address %06X), took %d; flags mask %04X; %llu instructions%s%s\n",
           v->exc, v->flag_addr, o->vec_seen, flags_mask & 0x0FFF, (unsigned long long)o->run.insns,
           o->run.halted ? "" : ", did not halt", o->run.reset ? " (shutdown)" : "");
    for (int k = 0; k < o->nmm; k++)
        printf("  %-12s expected %04X got %04X\n", o->mm[k].what, o->mm[k].expected, o->mm[k].actual);
    if (o->more) printf("  ... and %d more differences\n", o->more);
}

/* ===========================================================================
 * Driver. */

struct file_stats {
    char name[32];
    int total, excluded, compared, passed;
    int first_fail_set;
    char first_fail[512];
};

struct options {
    const char *dir;
    const char **files;
    int nfiles;
    int verbose;
    long max_fail;
    int show_excluded;
    int no_block_cache;
    int quick;
};

static int file_selected(const struct options *opt, const char *name)
{
    if (opt->nfiles == 0) return 1;
    for (int k = 0; k < opt->nfiles; k++) {
        size_t n = strlen(opt->files[k]);
        if (strcasecmp(name, opt->files[k]) == 0) return 1;
        /* "80" selects 80.0 ... 80.7 */
        if (strncasecmp(name, opt->files[k], n) == 0 && name[n] == '.') return 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json.gz names in `dir`, sorted, without the extension. */
static char **list_files(const char *dir, int *n_out)
{
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 8 || strcmp(e->d_name + len - 8, ".json.gz") != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 512;
            char **nn = realloc(names, (size_t)cap * sizeof(*nn));
            if (!nn) break;
            names = nn;
        }
        names[n] = strndup(e->d_name, len - 8);
        if (names[n]) n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(*names), cmp_str);
    *n_out = n;
    return names;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: test_cpu286 [--dir PATH] [--file NAME]... [--verbose] [--max-fail N]\n"
            "                   [--show-excluded] [--no-block-cache]\n"
            "  --dir PATH        the 80286-real vectors (default: ../shared/cputests/80286-real\n"
            "                    beside the repository, or $BUBBLE_SHARED/cputests/80286-real)\n"
            "  --file NAME       run one opcode file (\"00\", \"80.1\"; \"80\" runs 80.0-80.7); repeatable\n"
            "  --verbose         print each failing test: name, expected vs actual registers and RAM\n"
            "  --max-fail N      stop after N failing tests\n"
            "  --show-excluded   list every excluded test with its rule\n"
            "  --no-block-cache  run with the block cache off\n"
            "  TESTS_QUICK=1     first %d tests of each file\n", QUICK_TESTS_PER_FILE);
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->max_fail = -1;
    opt->files = calloc((size_t)argc, sizeof(*opt->files));
    const char *quick = getenv("TESTS_QUICK");
    opt->quick = quick && *quick && strcmp(quick, "0") != 0;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (strcmp(a, "--dir") == 0 && k + 1 < argc) opt->dir = argv[++k];
        else if (strcmp(a, "--file") == 0 && k + 1 < argc) opt->files[opt->nfiles++] = argv[++k];
        else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) opt->verbose = 1;
        else if (strcmp(a, "--max-fail") == 0 && k + 1 < argc) opt->max_fail = strtol(argv[++k], NULL, 0);
        else if (strcmp(a, "--show-excluded") == 0) opt->show_excluded = 1;
        else if (strcmp(a, "--no-block-cache") == 0) opt->no_block_cache = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); exit(0); }
        else {
            fprintf(stderr, "test_cpu286: unknown argument %s\n", a);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct totals {
    long total, excluded, compared, passed;
    long ex_count[EX_COUNT];
    long eq_count[EQ_COUNT];
    long stray_bytes;
    long failed_seen;
    int stopped;
};

/* Runs one opcode file. Returns 0, or -1 when the file cannot be read. */
static int run_file(struct machine *m, const char *dir, const char *name, const struct jnode *opcodes,
                    const struct revoked *rev, const struct options *opt, struct jpool *pool,
                    struct vector *v, struct file_stats *fs, struct totals *tot)
{
    char path[PATH_MAX + 64], err[128];
    size_t len;
    snprintf(path, sizeof(path), "%s/%s.json.gz", dir, name);
    memset(fs, 0, sizeof(*fs));
    snprintf(fs->name, sizeof(fs->name), "%s", name);

    char *buf = read_gz(path, &len);
    if (!buf) {
        printf("%s: cannot read %s\n", name, path);
        return -1;
    }
    pool_reset(pool);
    struct jnode *root = json_parse(buf, len, pool, err, sizeof(err));
    if (!root || root->type != J_ARR) {
        printf("%s: bad JSON: %s\n", name, root ? "not an array" : err);
        free(buf);
        return -1;
    }

    struct file_id id;
    file_id_parse(name, &id);
    m->need_reset = 1;
    struct outcome *o = malloc(sizeof(*o));
    struct touched *t = malloc(sizeof(*t));
    if (!o || !t) {
        free(o);
        free(t);
        free(buf);
        return -1;
    }
    int limit = opt->quick ? QUICK_TESTS_PER_FILE : INT_MAX;
    int bad_json = 0;
    for (const struct jnode *tj = root->child; tj && fs->total < limit; tj = tj->next) {
        if (vector_from_json(tj, v)) {
            bad_json++;
            continue;
        }
        fs->total++;
        struct test_ctx ctx;
        int ex = classify(v, &id, opcodes, rev, &ctx);
        if (ex >= 0) {
            fs->excluded++;
            tot->ex_count[ex]++;
            if (opt->show_excluded)
                printf("excluded %s #%lld \"%s\": %s\n", name, (long long)v->idx, v->name, exclusions[ex].name);
            continue;
        }
        fs->compared++;
        run_vector(m, v, &ctx, o, t);
        if (o->pass) {
            fs->passed++;
            if (o->used_ss_equivalence) tot->eq_count[EQ_SS_FAULT_13]++;
            if (o->used_string_equivalence) tot->eq_count[EQ_STRING_FAULT]++;
            cleanup_vector(m, t);
            continue;
        }
        tot->failed_seen++;
        if (!fs->first_fail_set) {
            /* One example per file for the summary. */
            int w = snprintf(fs->first_fail, sizeof(fs->first_fail), "#%lld \"%s\" (bytes", (long long)v->idx, v->name);
            for (int k = 0; k < v->nbytes && w < (int)sizeof(fs->first_fail) - 8; k++)
                w += snprintf(fs->first_fail + w, sizeof(fs->first_fail) - (size_t)w, " %02X", v->bytes[k]);
            w += snprintf(fs->first_fail + w, sizeof(fs->first_fail) - (size_t)w, "):");
            for (int k = 0; k < o->nmm && w < (int)sizeof(fs->first_fail) - 40; k++)
                w += snprintf(fs->first_fail + w, sizeof(fs->first_fail) - (size_t)w, " %s want %04X got %04X",
                              o->mm[k].what, o->mm[k].expected, o->mm[k].actual);
            fs->first_fail_set = 1;
        }
        if (opt->verbose) print_vector_failure(name, v, o, ctx.flags_mask);
        /* A failing CPU may have written anywhere or left odd state: start the next
         * test from zeroed RAM and a reset CPU. */
        cleanup_vector(m, t);
        scrub_ram(m);
        m->need_reset = 1;
        if (opt->max_fail >= 0 && tot->failed_seen >= opt->max_fail) {
            tot->stopped = 1;
            break;
        }
    }
    /* Bytes left behind by passing tests are writes the vectors did not expect. */
    size_t stray = scrub_ram(m);
    if (stray) {
        printf("%s: %zu stray RAM bytes written outside the listed addresses\n", name, stray);
        tot->stray_bytes += (long)stray;
    }
    if (bad_json) printf("%s: %d tests with an unexpected layout were skipped\n", name, bad_json);
    free(o);
    free(t);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt;
    char dir[PATH_MAX];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse_options(argc, argv, &opt)) return 2;

    if (find_vectors(argv[0], opt.dir, dir, sizeof(dir)) != 0) {
        printf("SKIP: 286 vectors not found (looked for %s; use --dir or BUBBLE_SHARED)\n", dir);
        free(opt.files);
        return 77;
    }

    /* Metadata: flags masks and each opcode's status. */
    char path[PATH_MAX + 64], err[128];
    size_t len;
    struct jpool meta_pool = { 0 }, pool = { 0 };
    snprintf(path, sizeof(path), "%s/metadata.json", dir);
    char *meta_buf = read_gz(path, &len);     /* gzread reads plain files too */
    const struct jnode *meta = meta_buf ? json_parse(meta_buf, len, &meta_pool, err, sizeof(err)) : NULL;
    const struct jnode *opcodes = json_get(meta, "opcodes");
    if (!opcodes) {
        printf("cannot use %s: %s\n", path, meta_buf ? err : strerror(errno));
        printf("RESULT: 0 passed, 1 failed\n");
        free(meta_buf);
        pool_free(&meta_pool);
        free(opt.files);
        return 1;
    }
    struct revoked rev;
    load_revoked(dir, &rev);

    int nfiles = 0;
    char **files = list_files(dir, &nfiles);
    if (!files || nfiles == 0) {
        printf("SKIP: no *.json.gz vectors in %s\n", dir);
        free(files);
        free(meta_buf);
        pool_free(&meta_pool);
        free(rev.hash);
        free(opt.files);
        return 77;
    }

    struct machine m = { 0 };
    m.mem = memory_new(RAM_BYTES);
    m.io = ioports_new();
    if (!m.mem || !m.io) {
        printf("cannot create the machine\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    /* IN from an unclaimed port reads all ones, as the vectors expect; no log. */
    ioports_set_log(m.io, NULL, 0);
    m.cpu = cpu_new(m.mem, m.io);
    m.ram = memory_ram(m.mem);
    if (!m.cpu || !m.ram || memory_ram_size(m.mem) < RAM_BYTES) {
        printf("cannot create the CPU\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    /* The 286 has 24 address lines: nothing wraps at 1 MiB. */
    memory_set_a20(m.mem, 1);
    cpu_set_exception_hook(m.cpu, on_exception, &m);
    if (opt.no_block_cache) cpu_set_block_cache(m.cpu, 0);
    scrub_ram(&m);

    printf("286 real-mode vectors from %s%s\n", dir, opt.quick ? " (TESTS_QUICK: first 50 per file)" : "");
    /* A --file that names no opcode file is an error, not a quiet pass. */
    int bad_names = 0;
    for (int a = 0; a < opt.nfiles; a++) {
        struct options one = opt;
        one.files = &opt.files[a];
        one.nfiles = 1;
        int found = 0;
        for (int k = 0; k < nfiles && !found; k++) found = file_selected(&one, files[k]);
        if (!found) {
            printf("--file %s: no such opcode file in %s\n", opt.files[a], dir);
            bad_names++;
        }
    }
    struct vector *v = malloc(sizeof(*v));
    struct file_stats *stats = calloc((size_t)nfiles, sizeof(*stats));
    struct totals tot = { 0 };
    int files_pass = 0, files_fail = 0, files_skip = 0, unreadable = 0;
    double t0 = now_seconds();
    for (int k = 0; k < nfiles && !tot.stopped; k++) {
        if (!file_selected(&opt, files[k])) continue;
        struct file_stats *fs = &stats[k];
        if (!memory_a20(m.mem)) memory_set_a20(m.mem, 1);
        if (run_file(&m, dir, files[k], opcodes, &rev, &opt, &pool, v, fs, &tot)) {
            unreadable++;
            continue;
        }
        tot.total += fs->total;
        tot.excluded += fs->excluded;
        tot.compared += fs->compared;
        tot.passed += fs->passed;
        const char *verdict = "";
        if (fs->compared == 0) {
            files_skip++;
            verdict = "  (all excluded)";
        } else if (100.0 * fs->passed / fs->compared >= FILE_BAR_PERCENT) {
            files_pass++;
        } else {
            files_fail++;
            verdict = "  BELOW 95%";
        }
        printf("%s: %d/%d (excluded %d)%s\n", fs->name, fs->passed, fs->compared, fs->excluded, verdict);
    }
    double elapsed = now_seconds() - t0;

    printf("\nExclusions (%ld tests):\n", tot.excluded);
    for (int e = 0; e < EX_COUNT; e++)
        printf("  %-20s %6ld  %s\n", exclusions[e].name, tot.ex_count[e], exclusions[e].reason);
    printf("Equivalences (compared in full, with one documented 286/386 difference allowed):\n");
    for (int e = 0; e < EQ_COUNT; e++)
        printf("  %-20s %6ld  %s\n", equivalences[e].name, tot.eq_count[e], equivalences[e].reason);
    printf("Flags: compared under metadata.json's flags-mask for the opcode (ModRM reg for groups) and 0x0FFF\n");

    int first = 1;
    for (int k = 0; k < nfiles; k++) {
        if (!stats[k].first_fail_set) continue;
        if (first) printf("\nFirst failure per opcode file:\n");
        first = 0;
        printf("  %s %s\n", stats[k].name, stats[k].first_fail);
    }

    double pct = tot.compared ? 100.0 * tot.passed / tot.compared : 100.0;
    printf("\nvectors: %ld passed, %ld failed, %ld excluded, of %ld (%.2f%% of compared pass) in %.1f s\n",
           tot.passed, tot.compared - tot.passed, tot.excluded, tot.total, pct, elapsed);
    if (tot.stray_bytes) printf("stray RAM writes: %ld bytes (see the per-file lines)\n", tot.stray_bytes);
    if (tot.stopped) printf("stopped after %ld failures (--max-fail)\n", tot.failed_seen);
    printf("files: %d at or above %.0f%%, %d below, %d all excluded%s\n", files_pass, FILE_BAR_PERCENT,
           files_fail, files_skip, unreadable ? ", some unreadable" : "");

    int below_bar = pct < TOTAL_BAR_PERCENT;
    int failed_units = files_fail + unreadable + below_bar + bad_names + (tot.stopped ? 1 : 0) +
                       (tot.stray_bytes ? 1 : 0);
    if (below_bar) printf("overall %.2f%% is below the %.0f%% bar\n", pct, TOTAL_BAR_PERCENT);
    if (files_skip) printf("SKIP: %d opcode files are entirely excluded (see Exclusions)\n", files_skip);
    printf("RESULT: %d passed, %d failed", files_pass, failed_units);
    if (files_skip) printf(", %d skipped", files_skip);
    printf("\n");

    for (int k = 0; k < nfiles; k++) free(files[k]);
    free(files);
    free(stats);
    free(v);
    cpu_free(m.cpu);
    ioports_free(m.io);
    memory_free(m.mem);
    pool_free(&pool);
    pool_free(&meta_pool);
    free(meta_buf);
    free(rev.hash);
    free(opt.files);
    return failed_units ? 1 : 0;
}
