/* test_diffhw, part 3: running a sequence on the host CPU.
 *
 * The trampoline (x86-64, below) saves the host's callee-saved registers and
 * RSP in a context struct, loads RFLAGS and the eight 32-bit registers (a
 * 32-bit load zero-extends, so upper halves are 0), and jumps to the sequence.
 * The sequence ends with an absolute jump back to diffhw_native_exit, which
 * stores the registers and RFLAGS and returns to C. The sequence never touches
 * R8-R15 (no REX prefixes), so R15 keeps the context pointer and R14 a magic
 * value through it.
 *
 * ESP is an ordinary test register: the host stack is not used while the
 * sequence runs, and signals are delivered on an alternate stack. A fault
 * (SIGFPE for #DE, SIGILL for #UD, SIGSEGV) inside the sequence is caught by
 * a handler that recognises our code by R14/R15 and RIP, records it, and
 * resumes at diffhw_native_exit with the registers as they were at the fault
 * (the state the emulator must report at its exception). */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define NATIVE_MAGIC 0x5D1FF5D1FF5D1FF5ull

struct native_ctx {
    uint64_t reg[8];      /* 0: EAX ECX EDX EBX ESP EBP ESI EDI */
    uint64_t rflags;      /* 64 */
    uint64_t host_rsp;    /* 72 */
    uint64_t code;        /* 80 */
    uint64_t code_len;    /* 88 */
    uint64_t fault_sig;   /* 96 */
    uint64_t fault_rip;   /* 104 */
};
_Static_assert(__builtin_offsetof(struct native_ctx, rflags) == 64, "trampoline offsets");
_Static_assert(__builtin_offsetof(struct native_ctx, host_rsp) == 72, "trampoline offsets");
_Static_assert(__builtin_offsetof(struct native_ctx, code) == 80, "trampoline offsets");

void diffhw_native_enter(struct native_ctx *ctx);
extern const char diffhw_native_exit[];

__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl diffhw_native_enter\n"
    ".hidden diffhw_native_enter\n"
    ".type diffhw_native_enter, @function\n"
    "diffhw_native_enter:\n"
    "    push %rbx\n"
    "    push %rbp\n"
    "    push %r12\n"
    "    push %r13\n"
    "    push %r14\n"
    "    push %r15\n"
    "    mov %rdi, %r15\n"
    "    movabs $0x5D1FF5D1FF5D1FF5, %r14\n"
    "    mov %rsp, 72(%r15)\n"
    "    pushq 64(%r15)\n"
    "    popfq\n"
    "    mov 0(%r15), %eax\n"
    "    mov 8(%r15), %ecx\n"
    "    mov 16(%r15), %edx\n"
    "    mov 24(%r15), %ebx\n"
    "    mov 40(%r15), %ebp\n"
    "    mov 48(%r15), %esi\n"
    "    mov 56(%r15), %edi\n"
    "    mov 32(%r15), %esp\n"
    "    jmp *80(%r15)\n"
    ".globl diffhw_native_exit\n"
    ".hidden diffhw_native_exit\n"
    "diffhw_native_exit:\n"
    "    mov %rax, 0(%r15)\n"
    "    mov %rcx, 8(%r15)\n"
    "    mov %rdx, 16(%r15)\n"
    "    mov %rbx, 24(%r15)\n"
    "    mov %rsp, 32(%r15)\n"
    "    mov %rbp, 40(%r15)\n"
    "    mov %rsi, 48(%r15)\n"
    "    mov %rdi, 56(%r15)\n"
    "    mov 72(%r15), %rsp\n"
    "    pushfq\n"
    "    popq 64(%r15)\n"
    "    cld\n"
    "    pop %r15\n"
    "    pop %r14\n"
    "    pop %r13\n"
    "    pop %r12\n"
    "    pop %rbp\n"
    "    pop %rbx\n"
    "    ret\n"
    ".size diffhw_native_enter, .-diffhw_native_enter\n");

#define NATIVE_CODE_SIZE 0x10000u

struct native {
    uint8_t *code;        /* RWX, anywhere (above 4 GiB, out of reach of 32-bit addresses) */
    uint8_t *data;        /* DATA_BASE */
    void *altstack;
};

/* The result of one run, native or emulated. */
struct run_result {
    struct machine_state st;
    int vector;           /* -1: ran to the end; else the exception (#DE 0, #UD 6) */
    int fault_insn;       /* index of the faulting instruction, -1 if unknown */
    int other;            /* something else went wrong (native SIGSEGV, emulator timeout...) */
    char why[96];
};

/* Which case is running, for the message printed when something other than a
 * test sequence crashes (an emulator bug). Written before each case; read only
 * by the signal handler. */
static volatile uint64_t crash_seed, crash_case;

static void report_crash(int sig)
{
    char msg[200];
    int n = snprintf(msg, sizeof msg, "test_diffhw: signal %d outside the test sequence while running "
                     "seed 0x%llx case %llu (rerun: --seed 0x%llx --case %llu)\n", sig,
                     (unsigned long long)crash_seed, (unsigned long long)crash_case,
                     (unsigned long long)crash_seed, (unsigned long long)crash_case);
    if (n > 0 && write(2, msg, (size_t)n) < 0) { /* nothing more to do */ }
}

static void native_fault(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    greg_t *gr = uc->uc_mcontext.gregs;
    struct native_ctx *ctx = (struct native_ctx *)gr[REG_R15];
    uint64_t rip = (uint64_t)gr[REG_RIP];
    (void)si;
    if ((uint64_t)gr[REG_R14] != NATIVE_MAGIC || rip < ctx->code || rip >= ctx->code + ctx->code_len) {
        /* Not ours: say where we were, then let the fault happen again with the default action. */
        report_crash(sig);
        signal(sig, SIG_DFL);
        return;
    }
    ctx->fault_sig = (uint64_t)sig;
    ctx->fault_rip = rip;
    gr[REG_RIP] = (greg_t)(uintptr_t)diffhw_native_exit;
}

static int native_init(struct native *nx)
{
    void *d = mmap((void *)(uintptr_t)DATA_BASE, DATA_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (d == MAP_FAILED || d != (void *)(uintptr_t)DATA_BASE) {
        printf("SKIP: cannot map the data buffer at 0x%x (%s)\n", DATA_BASE, strerror(errno));
        return -1;
    }
    nx->data = d;
    void *c = mmap(NULL, NATIVE_CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED || (uintptr_t)c < 0x100000000ull) {
        fprintf(stderr, "test_diffhw: cannot map code memory above 4 GiB\n");
        return -1;
    }
    nx->code = c;

    stack_t ss;
    nx->altstack = malloc(1 << 16);
    ss.ss_sp = nx->altstack;
    ss.ss_size = 1 << 16;
    ss.ss_flags = 0;
    if (!nx->altstack || sigaltstack(&ss, NULL) != 0) {
        fprintf(stderr, "test_diffhw: sigaltstack failed\n");
        return -1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = native_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    static const int sigs[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGTRAP };
    for (unsigned k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
        sigaction(sigs[k], &sa, NULL);
    return 0;
}

/* Lay out `n` instructions of one stream; a branch that comes last skips its
 * padding. `starts[i]` gets each instruction's offset, starts[n] the end. */
static size_t build_code(const struct ginsn *seq, int n, int stream, uint8_t *buf, uint32_t *starts)
{
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        starts[i] = (uint32_t)pos;
        memcpy(buf + pos, seq[i].bytes[stream], seq[i].len[stream]);
        pos += seq[i].len[stream];
    }
    if (n > 0 && seq[n - 1].branch) {
        memset(buf + pos, 0x90, seq[n - 1].skip[stream]);
        pos += seq[n - 1].skip[stream];
    }
    starts[n] = (uint32_t)pos;
    return pos;
}

static int insn_at(const uint32_t *starts, int n, uint32_t off)
{
    for (int i = n - 1; i >= 0; i--)
        if (starts[i] <= off)
            return i;
    return -1;
}

/* Run the first `n` instructions from `init` (registers, flags, memory).
 * The memory afterwards is in nx->data. */
static void native_run(struct native *nx, const struct ginsn *seq, int n, const struct machine_state *init,
                       const uint8_t *init_mem, struct run_result *out)
{
    uint32_t starts[MAX_SEQ + 1];
    memcpy(nx->data, init_mem, DATA_SIZE);
    size_t len = build_code(seq, n, STREAM_NAT, nx->code, starts);
    /* jmp qword [rip+0]; dq diffhw_native_exit */
    static const uint8_t jmp_abs[6] = { 0xFF, 0x25, 0, 0, 0, 0 };
    memcpy(nx->code + len, jmp_abs, sizeof jmp_abs);
    uint64_t exit_addr = (uint64_t)(uintptr_t)diffhw_native_exit;
    memcpy(nx->code + len + 6, &exit_addr, 8);

    struct native_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    for (int i = 0; i < 8; i++)
        ctx.reg[i] = init->reg[i];
    ctx.rflags = (init->flags & FLAGS_CMP) | 0x202;
    ctx.code = (uint64_t)(uintptr_t)nx->code;
    ctx.code_len = len + 14;
    diffhw_native_enter(&ctx);

    memset(out, 0, sizeof *out);
    for (int i = 0; i < 8; i++)
        out->st.reg[i] = (uint32_t)ctx.reg[i];
    out->st.flags = (uint32_t)ctx.rflags & FLAGS_CMP;
    out->vector = -1;
    out->fault_insn = -1;
    if (ctx.fault_sig) {
        out->fault_insn = insn_at(starts, n, (uint32_t)(ctx.fault_rip - ctx.code));
        switch (ctx.fault_sig) {
        case SIGFPE: out->vector = EXC_DE; break;
        case SIGILL: out->vector = EXC_UD; break;
        default:
            out->other = 1;
            snprintf(out->why, sizeof out->why, "native signal %d at insn %d", (int)ctx.fault_sig, out->fault_insn);
            break;
        }
    }
}
