/* bubble's command line and main loop.
 *
 * Options follow QEMU's spelling. The main loop runs the PC in slices, runs
 * its timers, and polls the host's descriptors (serial backends); when the
 * guest halts it sleeps until the next timer, so an idle guest costs the host
 * almost nothing. Disks are flushed on every exit path, Ctrl-C and SIGTERM
 * included. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bios/bios.h"
#include "devices/pc.h"
#include "frontend/block.h"
#include "frontend/chardev.h"
#include "frontend/linuxboot.h"
#include "frontend/net_slirp.h"
#include "frontend/netopts.h"

#define BUBBLE_VERSION "0.1"
#define MAX_SERIAL 2

struct options {
    uint32_t ram_mb;
    const char *bios;
    const char *hd[PC_MAX_HD];
    const char *cdrom;
    const char *fd[2];
    const char *boot;
    const char *kernel, *initrd, *append;
    const char *serial[MAX_SERIAL];
    int nserial;
    const char *debugcon;
    unsigned log_mask;
    int log_post;
    const char *log_file;
    int exit_device;
    uint16_t exit_iobase, exit_iosize;
    int snapshot;
    int nographic;
    int display_none;
    int no_reboot;
    int stats;
    int icount_shift;            /* -icount N: deterministic, 2^N ns per instruction; -1: realtime */
    int64_t rtc_base;            /* -rtc base=...: seconds since 1970, or -1 */
    struct netopts net;
    int log_net;
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
        "Machine:\n"
        "  -m SIZE                  RAM in MiB (suffix M or G; default 128)\n"
        "  -bios FILE               another firmware ROM (64-256 KiB, e.g. SeaBIOS) instead of ours\n"
        "Disks:\n"
        "  -hda/-hdb/-hdc/-hdd FILE IDE hard disk images (raw)\n"
        "  -cdrom FILE              ISO image on the secondary master\n"
        "  -fda/-fdb FILE           floppy images (1.44 MB, 720 KB and the other standard sizes)\n"
        "  -drive file=F[,if=ide][,index=N][,media=disk|cdrom][,format=raw][,snapshot=on][,readonly=on]\n"
        "  -snapshot                write to temporary overlays; image files stay untouched\n"
        "  -boot ORDER              a (floppy), c (hard disk), d (CD-ROM); order=..., once=...\n"
        "                           with -bios (SeaBIOS, via fw_cfg): menu=on|off, splash-time=MS,\n"
        "                           reboot-timeout=MS, strict=on|off\n"
        "Linux:\n"
        "  -kernel bzImage -initrd FILE -append CMDLINE   boot Linux without a disk\n"
        "Console:\n"
        "  -nographic               no window: serial port 1 on this terminal (Ctrl-A x exits)\n"
        "  -display none            no window\n"
        "  -serial SPEC             stdio, file:PATH, tcp:127.0.0.1:4444,server[,nowait], null, none\n"
        "  -debugcon SPEC           ports 0xE9 and 0x402 (SeaBIOS's log): stdio, file:PATH, none\n"
        NETOPTS_USAGE
        "Debugging:\n"
        "  -d LIST                  logs: int,cpu,exec,unimp,pcall,post,net (comma separated)\n"
        "  -D FILE                  write logs to FILE instead of stderr\n"
        "  -device isa-debug-exit[,iobase=N,iosize=N]   a write of V exits with status (V<<1)|1\n"
        "  -no-reboot               exit instead of resetting on a triple fault\n"
        "  -icount N                deterministic time: 2^N ns per instruction (for tests)\n"
        "  -rtc base=utc|localtime|YYYY-MM-DDTHH:MM:SS   the RTC's start time\n"
        "  -stats                   print CPU counters at exit\n"
        "  -version, -h\n");
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
    if (v < 2 || v > 3584) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_log_mask(const char *s, struct options *o)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "int", LOG_INT }, { "cpu", LOG_CPU }, { "exec", LOG_EXEC }, { "unimp", LOG_UNIMP },
        { "pcall", LOG_PCALL }, { "guest_errors", LOG_UNIMP },
    };
    char *copy = strdup(s), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "post")) {
            o->log_post = 1;
            continue;
        }
        if (!strcmp(tok, "net")) {
            o->log_net = 1;
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (!strcmp(tok, names[k].name)) break;
        if (k == sizeof(names) / sizeof(names[0])) {
            fprintf(stderr, "bubble: -d: unknown log item '%s' (known: int cpu exec unimp pcall post net)\n", tok);
            rc = -1;
            break;
        }
        o->log_mask |= names[k].bit;
    }
    free(copy);
    return rc;
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

/* -drive file=...,if=ide,index=N,media=cdrom,format=raw,snapshot=on */
static int parse_drive(struct options *o, const char *s)
{
    char *copy = strdup(s), *save = NULL;
    const char *file = NULL, *media = "disk";
    int index = -1, rc = -1;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strncmp(tok, "file=", 5)) file = tok + 5;
        else if (!strncmp(tok, "index=", 6)) index = atoi(tok + 6);
        else if (!strncmp(tok, "media=", 6)) media = tok + 6;
        else if (!strcmp(tok, "if=ide") || !strcmp(tok, "format=raw") || !strcmp(tok, "snapshot=off")) {
        } else if (!strcmp(tok, "snapshot=on")) o->snapshot = 1;
        else {
            fprintf(stderr, "bubble: -drive: unsupported property '%s' (file, if=ide, index, media, format=raw, snapshot)\n", tok);
            goto out;
        }
    }
    if (!file) {
        fprintf(stderr, "bubble: -drive %s: no file=\n", s);
        goto out;
    }
    if (!strcmp(media, "cdrom")) {
        o->cdrom = strdup(file);
        rc = 0;
        goto out;
    }
    if (strcmp(media, "disk")) {
        fprintf(stderr, "bubble: -drive: media=%s: expected disk or cdrom\n", media);
        goto out;
    }
    if (index < 0)
        for (index = 0; index < PC_MAX_HD && o->hd[index]; index++) {}
    if (index < 0 || index >= PC_MAX_HD) {
        fprintf(stderr, "bubble: -drive: no free IDE position (index 0-3)\n");
        goto out;
    }
    o->hd[index] = strdup(file);
    rc = 0;
out:
    free(copy);
    return rc;
}

static int parse_rtc(struct options *o, const char *s)
{
    if (strncmp(s, "base=", 5)) {
        fprintf(stderr, "bubble: -rtc %s: expected base=utc|localtime|DATE\n", s);
        return -1;
    }
    s += 5;
    if (!strcmp(s, "localtime")) { o->rtc_base = -1; return 0; }
    if (!strcmp(s, "utc")) { o->rtc_base = (int64_t)time(NULL); return 0; }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) < 3) {
        fprintf(stderr, "bubble: -rtc base=%s: expected YYYY-MM-DD[THH:MM:SS]\n", s);
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    o->rtc_base = (int64_t)timegm(&tm);
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
        if (a[0] == '-' && a[1] == '-') a++;   /* --opt works as -opt */
        int need = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "-help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-version")) {
            printf("bubble %s\n", BUBBLE_VERSION);
            exit(0);
        } else if (!strcmp(a, "-nographic")) {
            o->nographic = 1;
            need = 0;
        } else if (!strcmp(a, "-no-reboot")) {
            o->no_reboot = 1;
            need = 0;
        } else if (!strcmp(a, "-snapshot")) {
            o->snapshot = 1;
            need = 0;
        } else if (!strcmp(a, "-stats")) {
            o->stats = 1;
            need = 0;
        } else if (!v) {
            if (a[0] != '-') fprintf(stderr, "bubble: unexpected argument '%s' (try -help)\n", argv[k]);
            else fprintf(stderr, "bubble: option %s needs an argument (try -help)\n", argv[k]);
            return -1;
        } else if (!strcmp(a, "-m")) {
            if (parse_size_mb(v, &o->ram_mb)) {
                fprintf(stderr, "bubble: -m %s: expected a size between 2 MiB and 3.5 GiB\n", v);
                return -1;
            }
        } else if (!strcmp(a, "-bios")) o->bios = v;
        else if (!strcmp(a, "-hda")) o->hd[0] = v;
        else if (!strcmp(a, "-hdb")) o->hd[1] = v;
        else if (!strcmp(a, "-hdc")) o->hd[2] = v;
        else if (!strcmp(a, "-hdd")) o->hd[3] = v;
        else if (!strcmp(a, "-cdrom")) o->cdrom = v;
        else if (!strcmp(a, "-fda")) o->fd[0] = v;
        else if (!strcmp(a, "-fdb")) o->fd[1] = v;
        else if (!strcmp(a, "-boot")) o->boot = v;
        else if (!strcmp(a, "-kernel")) o->kernel = v;
        else if (!strcmp(a, "-initrd")) o->initrd = v;
        else if (!strcmp(a, "-append")) o->append = v;
        else if (!strcmp(a, "-drive")) {
            if (parse_drive(o, v)) return -1;
        } else if (!strcmp(a, "-serial")) {
            if (o->nserial == MAX_SERIAL) {
                fprintf(stderr, "bubble: at most %d -serial options\n", MAX_SERIAL);
                return -1;
            }
            o->serial[o->nserial++] = v;
        } else if (!strcmp(a, "-debugcon")) o->debugcon = v;
        else if (!strcmp(a, "-d")) {
            if (!strcmp(v, "help")) {
                printf("log items: int cpu exec unimp pcall post net\n");
                exit(0);
            }
            if (parse_log_mask(v, o)) return -1;
        } else if (!strcmp(a, "-D")) o->log_file = v;
        else if (!strcmp(a, "-device")) {
            char err[256];
            int r = netopts_parse_device(&o->net, v, err, sizeof(err));
            if (r < 0) {
                fprintf(stderr, "bubble: -device %s: %s\n", v, err);
                return -1;
            }
            if (r == 0 && parse_device(o, v)) return -1;
        } else if (!strcmp(a, "-nic") || !strcmp(a, "-netdev")) {
            char err[256];
            int r = !strcmp(a, "-nic") ? netopts_parse_nic(&o->net, v, err, sizeof(err))
                                       : netopts_parse_netdev(&o->net, v, err, sizeof(err));
            if (r) {
                fprintf(stderr, "bubble: %s %s: %s\n", a, v, err);
                return -1;
            }
        } else if (!strcmp(a, "-display")) {
            if (strcmp(v, "none")) {
                fprintf(stderr, "bubble: -display %s: only 'none' exists until the display lands\n", v);
                return -1;
            }
            o->display_none = 1;
        } else if (!strcmp(a, "-icount")) {
            char *end;
            long n = strtol(strncmp(v, "shift=", 6) ? v : v + 6, &end, 10);
            if (*end || n < 0 || n > 10) {
                fprintf(stderr, "bubble: -icount %s: expected a shift between 0 and 10\n", v);
                return -1;
            }
            o->icount_shift = (int)n;
        } else if (!strcmp(a, "-rtc")) {
            if (parse_rtc(o, v)) return -1;
        } else if (!strcmp(a, "-vga")) {
            fprintf(stderr, "bubble: %s is not supported yet (the display comes next)\n", a);
            return -1;
        } else {
            fprintf(stderr, "bubble: unknown option '%s' (try -help)\n", argv[k]);
            return -1;
        }
        if (need) k++;
    }
    char nerr[256];
    if (netopts_finish(&o->net, nerr, sizeof(nerr))) {
        fprintf(stderr, "bubble: %s\n", nerr);
        return -1;
    }
    if ((o->initrd || o->append) && !o->kernel) {
        fprintf(stderr, "bubble: -initrd and -append need -kernel\n");
        return -1;
    }
    return 0;
}

static uint8_t *read_whole_file(const char *path, uint32_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bubble: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    long n = -1;
    if (!fseek(f, 0, SEEK_END)) n = ftell(f);
    if (n <= 0 || n > (16 << 20) || fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "bubble: '%s' is empty, too large or unreadable\n", path);
        fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "bubble: cannot read '%s'\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len_out = (uint32_t)n;
    return buf;
}

struct host {
    struct pc *pc;
    struct net_slirp *net;
    int kernel_pending;           /* the BIOS reached INT 19h: enter the kernel */
    struct chardev *serial[MAX_SERIAL];
    struct block_backend *disks[PC_MAX_HD + 3];
    int ndisks;
    FILE *log, *debugcon;
    struct linuxboot kernel;
    int have_kernel;
    uint8_t *bios_rom;
};

static void host_close(struct host *h)
{
    if (h->net) net_slirp_close(h->net);
    for (int k = 0; k < h->ndisks; k++) block_close(h->disks[k]);
    for (int k = 0; k < MAX_SERIAL; k++) chardev_close(h->serial[k]);
    if (h->have_kernel) linuxboot_close(&h->kernel);
    if (h->debugcon && h->debugcon != stdout) fclose(h->debugcon);
    if (h->log) fclose(h->log);
    free(h->bios_rom);
}

/* -kernel: our BIOS calls this at INT 19h, after POST (PICs, PCI and the rest
 * are set up as firmware leaves them): stop the CPU; the main loop enters the
 * kernel by the 32-bit boot protocol with the BIOS's own memory map. */
/* Ctrl-A x on a terminal backend: the main loop sees chardev_exit_requested()
 * and leaves through the normal path (disks flushed, terminal restored). */
static void on_console_exit(void *opaque)
{
    struct host *h = opaque;
    if (h->pc) cpu_request_stop(h->pc->cpu);
}

static int kernel_boot_hook(void *opaque)
{
    struct host *h = opaque;
    h->kernel_pending = 1;
    cpu_request_stop(h->pc->cpu);
    return 1;
}

static int enter_kernel(struct host *h, struct pc *pc, uint32_t ram_mb)
{
    uint32_t ram = ram_mb << 20;
    struct e820_entry map[32];
    int n = 0;
    if (pc->bios) {
        struct bios_e820 bmap[32];
        n = bios_e820_map(pc->bios, bmap, 32);
        for (int k = 0; k < n; k++) {
            map[k].addr = bmap[k].addr;
            map[k].size = bmap[k].size;
            map[k].type = bmap[k].type;
        }
    } else {
        /* Another firmware (-bios): the map a PC BIOS reports. */
        const struct e820_entry fixed[] = {
            { 0, 0x9FC00, 1 }, { 0x9FC00, 0x400, 2 }, { 0xF0000, 0x10000, 2 },
            { 0x100000, ram - 0x100000, 1 }, { 0xFFFC0000u, 0x40000, 2 },
        };
        n = 5;
        memcpy(map, fixed, sizeof(fixed));
    }
    char err[512];
    if (linuxboot_enter(&h->kernel, pc->cpu, pc->mem, ram, map, n, err, sizeof(err))) {
        fprintf(stderr, "bubble: -kernel: %s\n", err);
        return -1;
    }
    return 0;
}

static struct block_backend *open_disk(struct host *h, const char *path, int flags)
{
    char err[512];
    struct block_backend *b = block_open(path, flags, err, sizeof(err));
    if (!b) {
        fprintf(stderr, "bubble: %s\n", err);
        return NULL;
    }
    h->disks[h->ndisks++] = b;
    return b;
}

int main(int argc, char **argv)
{
    struct options o;
    memset(&o, 0, sizeof(o));
    o.ram_mb = 128;
    o.icount_shift = -1;
    o.rtc_base = -1;
    netopts_init(&o.net);
    if (parse_args(argc, argv, &o)) return 2;

    struct host h;
    memset(&h, 0, sizeof(h));
    struct pc_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.ram_mb = o.ram_mb;
    cfg.cdrom_index = -1;
    cfg.boot = o.boot;
    cfg.deterministic = o.icount_shift >= 0;
    cfg.rtc_start = o.rtc_base;
    cfg.log_mask = o.log_mask;
    int status = 1;
    char err[512];

    if (o.log_file) {
        h.log = fopen(o.log_file, "w");
        if (!h.log) {
            fprintf(stderr, "bubble: -D %s: %s\n", o.log_file, strerror(errno));
            return 2;
        }
    }
    cfg.log = h.log ? h.log : stderr;
    if (o.log_post) cfg.post_log = cfg.log;

    if (o.bios) {
        cfg.bios_rom = h.bios_rom = read_whole_file(o.bios, &cfg.bios_rom_len);
        if (!h.bios_rom) goto out;
    }
    int snap = o.snapshot ? BLK_SNAPSHOT : 0;
    for (int k = 0; k < PC_MAX_HD; k++)
        if (o.hd[k] && !(cfg.hd[k] = open_disk(&h, o.hd[k], snap))) goto out;
    if (o.cdrom) {
        if (!(cfg.cdrom = open_disk(&h, o.cdrom, BLK_CDROM))) goto out;
        cfg.cdrom_index = 2;
    }
    for (int k = 0; k < 2; k++)
        if (o.fd[k] && !(cfg.fd[k] = open_disk(&h, o.fd[k], snap))) goto out;
    if (o.kernel) {
        if (linuxboot_open(&h.kernel, o.kernel, o.initrd, o.append, err, sizeof(err))) {
            fprintf(stderr, "bubble: -kernel: %s\n", err);
            goto out;
        }
        h.have_kernel = 1;
        cfg.boot_hook = kernel_boot_hook;
        cfg.boot_hook_opaque = &h;
    }

    /* Without a window (there is none yet), the console is the terminal. */
    cfg.nographic = 1;
    if (!o.nographic && !o.display_none)
        fprintf(stderr, "bubble: no display yet: running as with -nographic\n");
    if (o.nserial == 0) o.serial[o.nserial++] = "stdio";
    for (int k = 0; k < o.nserial; k++) {
        if (chardev_spec_is_none(o.serial[k])) continue;
        h.serial[k] = chardev_open(o.serial[k], err, sizeof(err));
        if (!h.serial[k]) {
            fprintf(stderr, "bubble: -serial %s: %s\n", o.serial[k], err);
            goto out;
        }
        cfg.serial[k] = chardev_backend(h.serial[k]);
        chardev_set_exit_handler(h.serial[k], on_console_exit, &h);
    }
    if (o.debugcon) {
        if (!strcmp(o.debugcon, "stdio")) h.debugcon = stdout;
        else if (!strncmp(o.debugcon, "file:", 5)) h.debugcon = fopen(o.debugcon + 5, "w");
        else if (strcmp(o.debugcon, "none")) {
            fprintf(stderr, "bubble: -debugcon %s: expected stdio, file:PATH or none\n", o.debugcon);
            goto out;
        }
        if (!h.debugcon && strcmp(o.debugcon, "none")) {
            fprintf(stderr, "bubble: -debugcon %s: %s\n", o.debugcon, strerror(errno));
            goto out;
        }
        cfg.debugcon = h.debugcon;
    }
    if (o.net.model != NET_MODEL_NONE) {
        cfg.nic_model = o.net.model == NET_MODEL_NE2K_PCI ? 1 : 2;
        memcpy(cfg.nic_mac, o.net.mac, 6);
        cfg.nic_iobase = o.net.iobase;
        cfg.nic_irq = o.net.irq;
        if (o.net.backend == NET_BACKEND_USER) {
            h.net = net_slirp_open(&o.net, err, sizeof(err));
            if (!h.net) {
                fprintf(stderr, "bubble: -nic: %s\n", err);
                goto out;
            }
            cfg.nic_backend = net_slirp_backend(h.net);
        }
    }
    cfg.exit_device = o.exit_device;
    cfg.exit_iobase = o.exit_iobase;
    cfg.exit_iosize = o.exit_iosize;

    struct pc *pc = pc_new(&cfg, err, sizeof(err));
    if (!pc) {
        fprintf(stderr, "bubble: %s\n", err);
        goto out;
    }
    h.pc = pc;
    if (cfg.deterministic) vclock_set_ns_per_insn(pc->clock, 1u << o.icount_shift);
    /* With another firmware there is no INT 19h hook: enter the kernel directly. */
    if (h.have_kernel && o.bios && enter_kernel(&h, pc, o.ram_mb)) {
        pc_free(pc);
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    status = 0;
    for (;;) {
        if (stop_signal) {
            fprintf(stderr, "\nbubble: stopped by signal %d; disks flushed\n", (int)stop_signal);
            status = 128 + (int)stop_signal;
            break;
        }
        int64_t idle_ns = 0;
        enum pc_run_result r = pc_run(pc, &idle_ns);
        if (r == PC_EXIT) {
            status = pc->exit_status;
            break;
        }
        if (r == PC_RESET && o.no_reboot) {
            fprintf(stderr, "bubble: the guest reset the machine; exiting (-no-reboot)\n");
            break;
        }
        if (r == PC_RESET && h.have_kernel && o.bios && enter_kernel(&h, pc, o.ram_mb)) break;
        if (h.kernel_pending) {
            h.kernel_pending = 0;
            if (enter_kernel(&h, pc, o.ram_mb)) break;
        }
        /* Host events: serial input and connections, the network's sockets and
         * timers. Sleep only while the guest is idle. */
        struct pollfd fds[MAX_SERIAL * CHARDEV_MAX_FDS + NET_SLIRP_POLL_FDS];
        int nfds[MAX_SERIAL], nser = 0;
        for (int k = 0; k < MAX_SERIAL; k++) {
            nfds[k] = h.serial[k] ? chardev_poll_fds(h.serial[k], fds + nser, CHARDEV_MAX_FDS) : 0;
            nser += nfds[k];
        }
        int64_t wait_ns = r == PC_IDLE ? (idle_ns > 1000000000 ? 1000000000 : idle_ns) : 0;
        int nnet = h.net ? net_slirp_poll_fds(h.net, fds + nser, NET_SLIRP_POLL_FDS, &wait_ns) : 0;
        if (wait_ns < 0) wait_ns = 0;
        struct timespec ts = { (time_t)(wait_ns / 1000000000), (long)(wait_ns % 1000000000) };
        int ready = (nser + nnet || r == PC_IDLE) ? ppoll(fds, (nfds_t)(nser + nnet), &ts, NULL) : 0;
        if (ready > 0) {
            int at = 0;
            for (int k = 0; k < MAX_SERIAL; k++) {
                if (h.serial[k] && nfds[k]) chardev_poll_handle(h.serial[k], fds + at, nfds[k]);
                at += nfds[k];
            }
        }
        if (h.net) net_slirp_poll_handle(h.net, fds + nser, nnet, ready < 0);
        int quit = 0;
        for (int k = 0; k < MAX_SERIAL; k++)
            if (h.serial[k] && chardev_exit_requested(h.serial[k])) quit = 1;
        if (quit) {
            fprintf(stderr, "\nbubble: exit requested (Ctrl-A x); disks flushed\n");
            break;
        }
    }
    if (o.stats) cpu_print_stats(pc->cpu, stderr);
    if (h.net && (o.stats || o.log_net)) net_slirp_print_stats(h.net, stderr);
    pc_free(pc);
out:
    host_close(&h);
    return status;
}
