/* bubble's command line and main loop.
 *
 * Options follow QEMU's spelling. Until the PC (chipset, disks, BIOS) lands,
 * the machine is a bare CPU with RAM, a ROM given by -bios (mapped so that it
 * ends at 4 GiB, its last 128 KiB also at 0xE0000), the debug console and the
 * exit port: enough to run test programs and firmware-style code. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu/cpu.h"
#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/debugport.h"

#define BUBBLE_VERSION "0.1"

struct options {
    uint32_t ram_mb;
    const char *bios;
    const char *debugcon;     /* "stdio", "file:PATH", "none" or NULL */
    unsigned log_mask;
    const char *log_file;
    int exit_device;          /* isa-debug-exit present */
    uint16_t exit_iobase, exit_iosize;
    int no_reboot;
    int stats;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: bubble [options]\n"
        "  -m SIZE                  RAM size in MiB (suffix M or G accepted; default 128)\n"
        "  -bios FILE               firmware ROM (64 KiB to 256 KiB), mapped to end at 4 GiB\n"
        "  -debugcon stdio|file:PATH|none   where bytes written to port 0xE9 go\n"
        "  -device isa-debug-exit[,iobase=N,iosize=N]   writes of V to the port exit with (V<<1)|1\n"
        "  -d LIST                  logs: int,cpu,exec,unimp,pcall (comma separated), or help\n"
        "  -D FILE                  write logs to FILE instead of stderr\n"
        "  -no-reboot               exit instead of resetting on a triple fault\n"
        "  -nographic, -display none  accepted (there is no window yet)\n"
        "  -stats                   print CPU counters at exit\n"
        "  -version, -h/-help\n");
}

static int parse_size_mb(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v <= 0) return -1;
    if (*end == 'G' || *end == 'g') v *= 1024, end++;
    else if (*end == 'M' || *end == 'm') end++;
    if (*end) return -1;
    if (v < 1 || v > 3584) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_log_mask(const char *s, unsigned *mask)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "int", LOG_INT }, { "cpu", LOG_CPU }, { "exec", LOG_EXEC }, { "unimp", LOG_UNIMP },
        { "pcall", LOG_PCALL }, { "guest_errors", LOG_UNIMP },
    };
    char *copy = strdup(s), *save = NULL;
    int ok = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t k;
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (!strcmp(tok, names[k].name)) break;
        if (k == sizeof(names) / sizeof(names[0])) {
            fprintf(stderr, "bubble: -d: unknown log item '%s' (known: int cpu exec unimp pcall)\n", tok);
            ok = -1;
            break;
        }
        *mask |= names[k].bit;
    }
    free(copy);
    return ok;
}

static int parse_device(struct options *o, const char *s)
{
    if (strncmp(s, "isa-debug-exit", 14) || (s[14] && s[14] != ',')) {
        fprintf(stderr, "bubble: -device %s: unknown or not yet supported device\n", s);
        return -1;
    }
    o->exit_device = 1;
    o->exit_iobase = 0x501;
    o->exit_iosize = 2;
    const char *p = s + 14;
    while (*p == ',') {
        p++;
        char *end;
        if (!strncmp(p, "iobase=", 7)) o->exit_iobase = (uint16_t)strtoul(p + 7, &end, 0);
        else if (!strncmp(p, "iosize=", 7)) o->exit_iosize = (uint16_t)strtoul(p + 7, &end, 0);
        else {
            fprintf(stderr, "bubble: -device isa-debug-exit: unknown property at '%s'\n", p);
            return -1;
        }
        p = end;
    }
    if (*p || o->exit_iosize < 1 || o->exit_iosize > 4) {
        fprintf(stderr, "bubble: -device %s: bad properties\n", s);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    /* Options of QEMU's that the PC issue brings; refused clearly until then. */
    static const char *later[] = { "-hda", "-hdb", "-hdc", "-hdd", "-cdrom", "-fda", "-fdb", "-boot",
                                   "-kernel", "-initrd", "-append", "-nic", "-netdev", "-snapshot",
                                   "-serial", "-drive", "-vga", NULL };
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
        if (a[0] == '-' && a[1] == '-') a++;   /* --opt works as -opt */
        int need = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "-help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-version")) {
            printf("bubble %s\n", BUBBLE_VERSION);
            exit(0);
        } else if (!strcmp(a, "-m")) {
            need = 1;
            if (v && parse_size_mb(v, &o->ram_mb)) {
                fprintf(stderr, "bubble: -m %s: expected a size in MiB between 1 and 3584\n", v);
                return -1;
            }
        } else if (!strcmp(a, "-bios")) {
            need = 1;
            o->bios = v;
        } else if (!strcmp(a, "-debugcon")) {
            need = 1;
            o->debugcon = v;
        } else if (!strcmp(a, "-d")) {
            need = 1;
            if (v && !strcmp(v, "help")) {
                printf("log items: int cpu exec unimp pcall\n");
                exit(0);
            }
            if (v && parse_log_mask(v, &o->log_mask)) return -1;
        } else if (!strcmp(a, "-D")) {
            need = 1;
            o->log_file = v;
        } else if (!strcmp(a, "-device")) {
            need = 1;
            if (v && parse_device(o, v)) return -1;
        } else if (!strcmp(a, "-display")) {
            need = 1;
            if (v && strcmp(v, "none")) {
                fprintf(stderr, "bubble: -display %s: only 'none' exists until the display lands\n", v);
                return -1;
            }
        } else if (!strcmp(a, "-nographic")) {
        } else if (!strcmp(a, "-no-reboot")) {
            o->no_reboot = 1;
        } else if (!strcmp(a, "-stats")) {
            o->stats = 1;
        } else {
            for (int j = 0; later[j]; j++) {
                if (!strcmp(a, later[j])) {
                    fprintf(stderr, "bubble: %s is not supported yet (it comes with the PC: disks, BIOS, Linux boot)\n", a);
                    return -1;
                }
            }
            fprintf(stderr, "bubble: unknown option '%s' (try -help)\n", argv[k]);
            return -1;
        }
        if (need) {
            if (!v) {
                fprintf(stderr, "bubble: option %s needs an argument\n", argv[k]);
                return -1;
            }
            k++;
        }
    }
    return 0;
}

static uint8_t *read_file(const char *path, long *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bubble: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) || (*len_out = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "bubble: cannot read '%s': %s\n", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)*len_out + 1);
    if (!buf || fread(buf, 1, (size_t)*len_out, f) != (size_t)*len_out) {
        fprintf(stderr, "bubble: cannot read '%s'\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    return buf;
}

/* -bios: 64 KiB to 256 KiB, a multiple of 64 KiB, ending at 4 GiB; its last
 * 128 KiB (or all of it when smaller) also at the top of the first MiB. */
static int load_bios(struct memory *mem, const char *path)
{
    long len;
    uint8_t *rom = read_file(path, &len);
    if (!rom) return -1;
    if (len < 0x10000 || len > 0x40000 || (len & 0xFFFF)) {
        fprintf(stderr, "bubble: -bios %s: size %ld bytes; expected 64, 128, 192 or 256 KiB\n", path, len);
        free(rom);
        return -1;
    }
    long low = len < 0x20000 ? len : 0x20000;
    int rc = memory_map_rom(mem, (uint32_t)(0x100000000ull - (uint64_t)len), rom, (uint32_t)len);
    if (!rc) rc = memory_map_rom(mem, (uint32_t)(0x100000 - low), rom + (len - low), (uint32_t)low);
    free(rom);
    return rc;
}

struct machine {
    struct memory *mem;
    struct ioports *io;
    struct cpu *cpu;
    struct debugcon debugcon;
    struct debugexit debugexit;
};

static void exit_requested(void *opaque)
{
    struct machine *m = opaque;
    cpu_request_stop(m->cpu);
}

int main(int argc, char **argv)
{
    struct options o = { .ram_mb = 128 };
    if (parse_args(argc, argv, &o)) return 2;
    if (!o.bios) {
        fprintf(stderr, "bubble: nothing to run: give -bios FILE (the PC with its own BIOS and disks comes next)\n");
        return 2;
    }

    FILE *log = NULL;
    if (o.log_file) {
        log = fopen(o.log_file, "w");
        if (!log) {
            fprintf(stderr, "bubble: -D %s: %s\n", o.log_file, strerror(errno));
            return 2;
        }
    }

    struct machine m;
    memset(&m, 0, sizeof(m));
    m.mem = memory_new(o.ram_mb << 20);
    m.io = ioports_new();
    if (!m.mem || !m.io) {
        fprintf(stderr, "bubble: cannot allocate %u MiB of guest RAM\n", o.ram_mb);
        return 1;
    }
    if (load_bios(m.mem, o.bios)) return 1;
    m.cpu = cpu_new(m.mem, m.io);
    if (!m.cpu) {
        fprintf(stderr, "bubble: cannot create the CPU\n");
        return 1;
    }
    cpu_set_log(m.cpu, o.log_mask, log ? log : stderr);
    ioports_set_log(m.io, log ? log : stderr, (o.log_mask & LOG_UNIMP) != 0);

    FILE *dc = NULL;
    if (o.debugcon && !strcmp(o.debugcon, "stdio")) dc = stdout;
    else if (o.debugcon && !strncmp(o.debugcon, "file:", 5)) {
        dc = fopen(o.debugcon + 5, "w");
        if (!dc) {
            fprintf(stderr, "bubble: -debugcon %s: %s\n", o.debugcon, strerror(errno));
            return 2;
        }
    } else if (o.debugcon && strcmp(o.debugcon, "none")) {
        fprintf(stderr, "bubble: -debugcon %s: expected stdio, file:PATH or none\n", o.debugcon);
        return 2;
    }
    if (dc) debugcon_init(&m.debugcon, m.io, 0xE9, dc);
    if (o.exit_device && debugexit_init(&m.debugexit, m.io, o.exit_iobase, o.exit_iosize, exit_requested, &m)) {
        fprintf(stderr, "bubble: isa-debug-exit: port %#x is already in use\n", o.exit_iobase);
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int status = 0;
    for (;;) {
        if (stop_signal) {
            fprintf(stderr, "bubble: stopped by signal %d\n", (int)stop_signal);
            status = 128 + (int)stop_signal;
            break;
        }
        enum cpu_stop why = cpu_run(m.cpu, 1000000);
        if (m.debugexit.requested) {
            status = m.debugexit.status;
            break;
        }
        if (why == CPU_STOP_RESET) {
            if (o.no_reboot) {
                fprintf(stderr, "bubble: triple fault or reset request; exiting (-no-reboot)\n");
                status = 1;
                break;
            }
            fprintf(stderr, "bubble: triple fault or reset request; resetting the CPU\n");
            cpu_reset(m.cpu);
        } else if (why == CPU_STOP_HALT) {
            /* No interrupt source exists yet in this bare machine: a halt is final. */
            fprintf(stderr, "bubble: the CPU halted with nothing to wake it; exiting\n");
            break;
        }
    }
    if (dc) fflush(dc);
    if (o.stats) cpu_print_stats(m.cpu, stderr);
    if (dc && dc != stdout) fclose(dc);
    cpu_free(m.cpu);
    ioports_free(m.io);
    memory_free(m.mem);
    if (log) fclose(log);
    return status;
}
