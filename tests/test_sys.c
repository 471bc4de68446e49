/* System-level test kernels on our CPU.
 *
 * Each kernel is a small bare-metal program (tests/sys/NAME.asm, assembled by
 * the rules in tests/sys.mk into $BUILD/tests/sys/NAME.bin) that checks its own
 * results. It is loaded at physical 0x10000 and started in real mode at
 * 1000:0000 with 32 MiB of RAM and A20 on. It reports through two ports:
 *   0xE9  text, a byte per write: one line per check ("ok NAME" or
 *         "FAIL NAME got X want Y"), shown here prefixed with "[kernel] ";
 *   0xF4  the result (byte, word or dword write): 0 = pass, otherwise the code
 *         of the first failed check; the run stops there.
 * A kernel fails on a non-zero result, a triple fault (cpu_run returning
 * CPU_STOP_RESET), a halt, or running out of its instruction budget or host
 * time. triple_fault is the exception: it must end in CPU_STOP_RESET.
 * The same kernels boot on QEMU and Bochs (tests/sys/qemu/run.sh), which is
 * how they were checked against reference CPUs.
 *
 * Each kernel runs in a child process, so an emulator crash or a hang inside
 * cpu_run fails that kernel and the others still run.
 *
 * Usage: test_sys [--only NAME] [--dir DIR] [--verbose] [--no-fork] [--list]
 *   --only NAME  run one kernel
 *   --dir DIR    where the NAME.bin files are (default: sys/ beside this
 *                executable, i.e. $BUILD/tests/sys)
 *   --verbose    log every interrupt and exception (cpu_set_log LOG_INT) to stderr
 *   --no-fork    run in this process (for a debugger)
 * Ends with "RESULT: P passed, F failed"; exit status 1 when F > 0. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "cpu/ioport.h"
#include "cpu/memory.h"

#define RAM_BYTES        (32u << 20)
#define LOAD_ADDR        0x10000u
#define LOAD_SEG         0x1000u
#define MAX_IMAGE        (0xA0000u - LOAD_ADDR)
#define PORT_TEXT        0xE9
#define PORT_RESULT      0xF4
#define RUN_SLICE        200000u          /* instructions per cpu_run call */
#define INSN_BUDGET      400000000ull     /* a kernel that runs longer has hung */
#define TIME_LIMIT_S     60.0
#define MAX_OUTPUT       (256u << 10)     /* text shown per kernel; the rest is dropped */
#define LINE_MAX_CHARS   240
#define EXC_HISTORY      16
#define HARD_LIMIT_S     (unsigned)(TIME_LIMIT_S + 30)  /* SIGALRM for a child stuck in cpu_run */

enum expect { EXPECT_PASS, EXPECT_RESET };

struct kernel {
    const char *name;
    enum expect expect;
};

static const struct kernel kernels[] = {
    { "pm_switch", EXPECT_PASS },
    { "gates", EXPECT_PASS },
    { "tasks", EXPECT_PASS },
    { "paging", EXPECT_PASS },
    { "v86", EXPECT_PASS },
    { "smc", EXPECT_PASS },
    { "exceptions", EXPECT_PASS },
    { "sysenter", EXPECT_PASS },
    { "triple_fault", EXPECT_RESET },
};

/* How a run ended. */
enum outcome { OUT_RESULT, OUT_RESET, OUT_HALT, OUT_BUDGET, OUT_TIME };

struct exc_record {
    int vector, has_error, is_soft;
    uint32_t error;
    uint16_t cs;
    uint32_t eip;
};

/* One kernel's run: the machine and what the kernel told us. */
struct run {
    const char *name;
    struct memory *mem;
    struct ioports *io;
    struct cpu *cpu;
    char line[LINE_MAX_CHARS + 1];
    size_t line_len;
    size_t output_bytes;
    int output_dropped;
    int have_result;
    uint32_t result;
    struct exc_record exc[EXC_HISTORY];
    unsigned exc_count;
};

static void flush_line(struct run *r)
{
    if (r->line_len == 0) return;
    r->line[r->line_len] = 0;
    printf("[%s] %s\n", r->name, r->line);
    r->line_len = 0;
}

static void text_byte(struct run *r, uint8_t c)
{
    if (r->output_bytes >= MAX_OUTPUT) {
        if (!r->output_dropped) {
            flush_line(r);
            printf("[%s] (more than %u bytes of output: the rest is dropped)\n", r->name, MAX_OUTPUT);
            r->output_dropped = 1;
        }
        return;
    }
    r->output_bytes++;
    if (c == '\n') {
        flush_line(r);
        return;
    }
    if (c == '\r') return;
    if (r->line_len == LINE_MAX_CHARS) flush_line(r);
    r->line[r->line_len++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
}

static uint32_t text_read(void *opaque, uint16_t port, int size)
{
    (void)opaque;
    (void)port;
    (void)size;
    return PORT_TEXT;   /* what QEMU's debugcon and Bochs' port E9 hack return */
}

static void text_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    (void)port;
    (void)size;
    text_byte(opaque, (uint8_t)val);
}

static uint32_t result_read(void *opaque, uint16_t port, int size)
{
    (void)opaque;
    (void)port;
    return size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
}

static void result_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct run *r = opaque;
    (void)size;
    if (port != PORT_RESULT) return;
    if (!r->have_result) {
        r->have_result = 1;
        r->result = val;
    }
    cpu_request_stop(r->cpu);
}

static void exception_hook(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    struct run *r = opaque;
    struct cpu_segment_state cs;
    struct exc_record *e = &r->exc[r->exc_count % EXC_HISTORY];
    cpu_get_seg(r->cpu, S_CS, &cs);
    e->vector = vector;
    e->has_error = has_error;
    e->error = error;
    e->is_soft = is_soft;
    e->cs = cs.selector;
    e->eip = cpu_get_eip(r->cpu);
    r->exc_count++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read the whole file; returns its size, or -1 with a message. */
static long load_file(const char *path, uint8_t **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t *buf = malloc(MAX_IMAGE + 1);
    if (!buf) {
        fclose(f);
        return -1;
    }
    size_t n = fread(buf, 1, MAX_IMAGE + 1, f);
    fclose(f);
    if (n > MAX_IMAGE) {
        fprintf(stderr, "%s: larger than %u bytes\n", path, MAX_IMAGE);
        free(buf);
        return -1;
    }
    *out = buf;
    return (long)n;
}

static int have_nasm(void)
{
    return system("command -v nasm >/dev/null 2>&1") == 0;
}

static void print_cpu_state(struct run *r)
{
    struct cpu_segment_state cs, ss;
    cpu_get_seg(r->cpu, S_CS, &cs);
    cpu_get_seg(r->cpu, S_SS, &ss);
    printf("[%s] state: CS:EIP %04x:%08x  SS:ESP %04x:%08x  EFLAGS %08x  CR0 %08x  CR2 %08x  CR3 %08x  CR4 %08x\n",
           r->name, cs.selector, cpu_get_eip(r->cpu), ss.selector, cpu_get_reg(r->cpu, R_ESP),
           cpu_get_eflags(r->cpu), cpu_get_cr(r->cpu, 0), cpu_get_cr(r->cpu, 2),
           cpu_get_cr(r->cpu, 3), cpu_get_cr(r->cpu, 4));
    printf("[%s] state: EAX %08x EBX %08x ECX %08x EDX %08x ESI %08x EDI %08x EBP %08x\n",
           r->name, cpu_get_reg(r->cpu, R_EAX), cpu_get_reg(r->cpu, R_EBX), cpu_get_reg(r->cpu, R_ECX),
           cpu_get_reg(r->cpu, R_EDX), cpu_get_reg(r->cpu, R_ESI), cpu_get_reg(r->cpu, R_EDI),
           cpu_get_reg(r->cpu, R_EBP));
    unsigned n = r->exc_count < EXC_HISTORY ? r->exc_count : EXC_HISTORY;
    if (n == 0) return;
    printf("[%s] the last %u of %u exceptions/interrupts (oldest first):\n", r->name, n, r->exc_count);
    for (unsigned k = r->exc_count - n; k < r->exc_count; k++) {
        const struct exc_record *e = &r->exc[k % EXC_HISTORY];
        printf("[%s]   vector %3d%s at %04x:%08x", r->name, e->vector, e->is_soft ? " (soft)" : "",
               e->cs, e->eip);
        if (e->has_error) printf(" error %04x", e->error);
        printf("\n");
    }
}

/* Run one kernel; returns 1 if it did what it should. */
static int run_kernel(const struct kernel *k, const char *dir, int verbose)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s.bin", dir, k->name) >= (int)sizeof path) {
        printf("FAIL %s: path too long\n", k->name);
        return 0;
    }
    uint8_t *image = NULL;
    long size = load_file(path, &image);
    if (size < 0) {
        printf("FAIL %s: cannot read %s (%s)", k->name, path, strerror(errno));
        if (!have_nasm())
            printf(": the kernels are assembled with nasm, which is not installed (apt-get install nasm), then `make`");
        else
            printf(": build the kernels with `make` (tests/sys.mk)");
        printf("\n");
        return 0;
    }

    struct run r;
    memset(&r, 0, sizeof r);
    r.name = k->name;
    r.mem = memory_new(RAM_BYTES);
    r.io = ioports_new();
    r.cpu = r.mem && r.io ? cpu_new(r.mem, r.io) : NULL;
    if (!r.cpu) {
        printf("FAIL %s: cannot create the machine\n", k->name);
        free(image);
        if (r.io) ioports_free(r.io);
        if (r.mem) memory_free(r.mem);
        return 0;
    }
    static const struct io_handlers text_h = { text_read, text_write, 1 };
    static const struct io_handlers result_h = { result_read, result_write, 1 | 2 | 4 };
    ioports_register(r.io, PORT_TEXT, 1, &text_h, &r);
    ioports_register(r.io, PORT_RESULT, 4, &result_h, &r);
    memory_set_a20(r.mem, 1);
    memory_write(r.mem, LOAD_ADDR, image, (uint32_t)size);
    free(image);

    cpu_reset(r.cpu);
    cpu_set_seg_real(r.cpu, S_CS, LOAD_SEG);
    cpu_set_eip(r.cpu, 0);
    cpu_set_exception_hook(r.cpu, exception_hook, &r);
    if (verbose) cpu_set_log(r.cpu, LOG_INT, stderr);

    enum outcome out;
    double t0 = now_s();
    for (;;) {
        enum cpu_stop why = cpu_run(r.cpu, RUN_SLICE);
        if (r.have_result) { out = OUT_RESULT; break; }
        if (why == CPU_STOP_RESET) { out = OUT_RESET; break; }
        if (why == CPU_STOP_HALT) { out = OUT_HALT; break; }
        if (cpu_icount(r.cpu) >= INSN_BUDGET) { out = OUT_BUDGET; break; }
        if (now_s() - t0 > TIME_LIMIT_S) { out = OUT_TIME; break; }
    }
    double elapsed = now_s() - t0;
    uint64_t icount = cpu_icount(r.cpu);
    flush_line(&r);

    int ok;
    if (k->expect == EXPECT_RESET)
        ok = out == OUT_RESET;
    else
        ok = out == OUT_RESULT && r.result == 0;

    if (ok) {
        printf("PASS %s (%s; %llu instructions, %.2f s)\n", k->name,
               out == OUT_RESET ? "triple fault, as expected" : "result 0",
               (unsigned long long)icount, elapsed);
    } else {
        printf("FAIL %s: ", k->name);
        switch (out) {
        case OUT_RESULT:
            if (k->expect == EXPECT_RESET)
                printf("reported result 0x%x instead of triple-faulting", r.result);
            else
                printf("result code 0x%x (the first failed check; see its FAIL line)", r.result);
            break;
        case OUT_RESET:
            printf("triple fault (CPU_STOP_RESET) before a result");
            break;
        case OUT_HALT:
            printf("halted before a result");
            break;
        case OUT_BUDGET:
            printf("no result after %llu instructions", (unsigned long long)icount);
            break;
        case OUT_TIME:
            printf("no result after %.0f s (%llu instructions)", elapsed, (unsigned long long)icount);
            break;
        }
        printf("\n");
        if (out != OUT_RESULT) print_cpu_state(&r);
    }
    fflush(stdout);

    cpu_free(r.cpu);
    ioports_free(r.io);
    memory_free(r.mem);
    return ok;
}

/* sys/ beside the executable: $BUILD/tests/test_sys -> $BUILD/tests/sys. */
static void default_dir(const char *argv0, char *out, size_t len)
{
    const char *slash = strrchr(argv0, '/');
    if (slash)
        snprintf(out, len, "%.*s/sys", (int)(slash - argv0), argv0);
    else {
        const char *build = getenv("BUILD");
        snprintf(out, len, "%s/tests/sys", build && *build ? build : "build");
    }
}

/* Run one kernel in a child process; returns 1 if it did what it should. */
static int run_kernel_isolated(const struct kernel *k, const char *dir, int verbose)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("test_sys: fork");
        return run_kernel(k, dir, verbose);
    }
    if (pid == 0) {
        alarm(HARD_LIMIT_S);
        int ok = run_kernel(k, dir, verbose);
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("test_sys: waitpid");
            return 0;
        }
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status) == 0;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGALRM)
            printf("FAIL %s: still inside cpu_run after %u s (killed)\n", k->name, HARD_LIMIT_S);
        else
            printf("FAIL %s: the emulator crashed (signal %d, %s); rerun with --only %s --no-fork under a debugger\n",
                   k->name, sig, strsignal(sig), k->name);
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: test_sys [--only NAME] [--dir DIR] [--verbose] [--no-fork] [--list]\n");
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    char dir[PATH_MAX];
    int verbose = 0, isolate = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    default_dir(argv[0], dir, sizeof dir);
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--only") && a + 1 < argc)
            only = argv[++a];
        else if (!strcmp(argv[a], "--dir") && a + 1 < argc)
            snprintf(dir, sizeof dir, "%s", argv[++a]);
        else if (!strcmp(argv[a], "--verbose") || !strcmp(argv[a], "-v"))
            verbose = 1;
        else if (!strcmp(argv[a], "--no-fork"))
            isolate = 0;
        else if (!strcmp(argv[a], "--list")) {
            for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++)
                printf("%s\n", kernels[k].name);
            return 0;
        } else if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    int passed = 0, failed = 0, found = 0;
    for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        if (only && strcmp(only, kernels[k].name)) continue;
        found = 1;
        int ok = isolate ? run_kernel_isolated(&kernels[k], dir, verbose)
                         : run_kernel(&kernels[k], dir, verbose);
        if (ok) passed++;
        else failed++;
    }
    if (!found) {
        fprintf(stderr, "test_sys: no kernel named %s (--list shows them)\n", only);
        return 2;
    }
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
