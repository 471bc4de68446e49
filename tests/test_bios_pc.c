/* The BIOS on the whole PC (devices/pc.c): the real PIC, PIT, RTC, 8042 and
 * PS/2 keyboard, UART, i440FX/PIIX3 and IDE, with a deterministic clock and
 * in-memory disks. Where test_bios.c checks each service against fake chips,
 * this checks that POST and the services work with the chips the machine
 * really has: the boot, the RTC time, waits timed by the RTC, the timer tick,
 * keys typed on the PS/2 keyboard, PCI set-up, Ctrl-Alt-Del, and the
 * -nographic console on COM1.
 *
 * Ends with "RESULT: P passed, F failed"; exit status 1 when F > 0. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bios/bios.h"
#include "devices/pc.h"

static int passed, failed;

#define CHECK(cond, ...) check((cond), __LINE__, __VA_ARGS__)
static void check(int ok, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL (line %d): ", line);
        vprintf(fmt, ap);
        printf("\n");
    }
    va_end(ap);
}

/* ---------------------------------------------------------------------------
 * Disks in memory and a serial terminal that records. */

struct memdisk {
    struct block_backend be;
    uint8_t *data;
};

static int md_read(struct block_backend *b, uint64_t off, void *buf, size_t len)
{
    struct memdisk *d = (struct memdisk *)b;
    if (off > b->size || len > b->size - off) return -EIO;
    memcpy(buf, d->data + off, len);
    return 0;
}

static int md_write(struct block_backend *b, uint64_t off, const void *buf, size_t len)
{
    struct memdisk *d = (struct memdisk *)b;
    if (off > b->size || len > b->size - off) return -EIO;
    memcpy(d->data + off, buf, len);
    return 0;
}

static struct memdisk *memdisk_new(uint64_t size)
{
    struct memdisk *d = calloc(1, sizeof(*d));
    d->data = calloc(1, (size_t)size);
    d->be.size = size;
    d->be.name = "memdisk";
    d->be.read = md_read;
    d->be.write = md_write;
    for (uint64_t s = 0; s < size / 512; s++) {
        d->data[s * 512] = (uint8_t)s;
        d->data[s * 512 + 1] = (uint8_t)(s >> 8);
    }
    /* The boot record: E9h <- 'M', DL; then stop with interrupts off. */
    static const uint8_t code[] = { 0xB0, 'M', 0xE6, 0xE9, 0x88, 0xD0, 0xE6, 0xE9, 0xFA, 0xF4, 0xEB, 0xFD };
    memset(d->data, 0, 512);
    memcpy(d->data, code, sizeof(code));
    d->data[510] = 0x55;
    d->data[511] = 0xAA;
    return d;
}

struct term {
    struct char_backend be;
    char out[4096];
    size_t len;
};

static void term_write(struct char_backend *c, const uint8_t *buf, size_t len)
{
    struct term *t = (struct term *)c;
    for (size_t k = 0; k < len && t->len < sizeof(t->out) - 1; k++) t->out[t->len++] = (char)buf[k];
}

/* ---------------------------------------------------------------------------
 * Running the machine. */

struct machine {
    struct pc *pc;
    struct memdisk *hd;
    struct term term;
    FILE *debugcon;
};

/* 2024-05-17 12:34:56 as seconds since 1970. */
#define RTC_START 1715949296LL

static int machine_new(struct machine *m, int nographic)
{
    memset(m, 0, sizeof(*m));
    m->hd = memdisk_new(4u << 20);
    m->debugcon = tmpfile();
    m->term.be.write = term_write;
    struct pc_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.ram_mb = 32;
    cfg.hd[0] = &m->hd->be;
    cfg.cdrom_index = -1;
    cfg.serial[0] = &m->term.be;
    cfg.debugcon = m->debugcon;
    cfg.nographic = nographic;
    cfg.deterministic = 1;
    cfg.rtc_start = RTC_START;
    cfg.log = stdout;
    char err[256];
    m->pc = pc_new(&cfg, err, sizeof(err));
    if (!m->pc) {
        printf("SKIP: the PC cannot be built: %s\n", err);
        return -1;
    }
    return 0;
}

static void machine_free(struct machine *m)
{
    if (m->pc) pc_free(m->pc);
    fclose(m->debugcon);
    free(m->hd->data);
    free(m->hd);
}

static size_t debugcon_text(struct machine *m, char *buf, size_t cap)
{
    fflush(m->debugcon);
    long pos = ftell(m->debugcon);
    rewind(m->debugcon);
    size_t n = fread(buf, 1, cap - 1, m->debugcon);
    buf[n] = 0;
    fseek(m->debugcon, pos, SEEK_SET);
    return n;
}

static int halted_with_if_off(struct machine *m)
{
    return cpu_is_halted(m->pc->cpu) && !(cpu_get_eflags(m->pc->cpu) & F_IF);
}

/* Run until `done` (or the CPU stops for good). Returns 0 when done. */
static int run_until(struct machine *m, int (*done)(struct machine *), int64_t max_slices, int *resets)
{
    for (int64_t k = 0; k < max_slices; k++) {
        if (done(m)) return 0;
        int64_t idle = 0;
        enum pc_run_result r = pc_run(m->pc, &idle);
        if (r == PC_RESET && resets) (*resets)++;
        if (r == PC_EXIT) return -1;
        if (r == PC_IDLE && idle == INT64_MAX) return done(m) ? 0 : -1;
    }
    return done(m) ? 0 : -1;
}

/* ---------------------------------------------------------------------------
 * Calling a service: INT n; HLT at 0000:0600. */

#define CALL_ADDR 0x600u

struct r {
    uint32_t eax, ebx, ecx, edx, esi, edi;
    uint16_t ds, es;
    uint32_t flags;
};

static int call_done(struct machine *m)
{
    struct cpu_segment_state cs;
    cpu_get_seg(m->pc->cpu, S_CS, &cs);
    return cpu_is_halted(m->pc->cpu) && cs.selector == 0 && cpu_get_eip(m->pc->cpu) == CALL_ADDR + 3;
}

static int in_bios_wait(struct machine *m)
{
    struct cpu_segment_state cs;
    cpu_get_seg(m->pc->cpu, S_CS, &cs);
    return cpu_is_halted(m->pc->cpu) && cs.selector == 0xF000;
}

static void call_start(struct machine *m, int vec, const struct r *in)
{
    struct cpu *cpu = m->pc->cpu;
    uint8_t code[3] = { 0xCD, (uint8_t)vec, 0xF4 };
    memory_write(m->pc->mem, CALL_ADDR, code, 3);
    cpu_set_reg(cpu, R_EAX, in->eax);
    cpu_set_reg(cpu, R_EBX, in->ebx);
    cpu_set_reg(cpu, R_ECX, in->ecx);
    cpu_set_reg(cpu, R_EDX, in->edx);
    cpu_set_reg(cpu, R_ESI, in->esi);
    cpu_set_reg(cpu, R_EDI, in->edi);
    cpu_set_reg(cpu, R_ESP, 0x7000);
    cpu_set_seg_real(cpu, S_DS, in->ds);
    cpu_set_seg_real(cpu, S_ES, in->es);
    cpu_set_seg_real(cpu, S_SS, 0);
    cpu_set_seg_real(cpu, S_CS, 0);
    cpu_set_eip(cpu, CALL_ADDR);
    cpu_set_eflags(cpu, 0x0002 | (in->flags & F_IF));
    cpu_set_halted(cpu, 0);
}

static void regs_get(struct machine *m, struct r *r)
{
    struct cpu *cpu = m->pc->cpu;
    r->eax = cpu_get_reg(cpu, R_EAX);
    r->ebx = cpu_get_reg(cpu, R_EBX);
    r->ecx = cpu_get_reg(cpu, R_ECX);
    r->edx = cpu_get_reg(cpu, R_EDX);
    r->esi = cpu_get_reg(cpu, R_ESI);
    r->edi = cpu_get_reg(cpu, R_EDI);
    r->flags = cpu_get_eflags(cpu);
}

static int call_int(struct machine *m, int vec, struct r *r)
{
    call_start(m, vec, r);
    int rc = run_until(m, call_done, 100000, NULL);
    regs_get(m, r);
    if (rc) printf("  INT %02Xh did not return\n", vec);
    return rc;
}

#define CF(r) ((r).flags & 1)
#define AH(r) (((r).eax >> 8) & 0xFF)
#define AL(r) ((r).eax & 0xFF)

static uint32_t cfg_read(struct machine *m, int devfn, int reg, int size)
{
    io_write(m->pc->io, 0xCF8, 0x80000000u | (uint32_t)devfn << 8 | (reg & 0xFC), 4);
    return io_read(m->pc->io, (uint16_t)(0xCFC + (reg & 3)), size);
}

static void type_key(struct machine *m, int usage)
{
    ps2_kbd_key(&m->pc->kbc.kbd, usage, 1);
    ps2_kbd_key(&m->pc->kbc.kbd, usage, 0);
}

/* ---------------------------------------------------------------------------
 * The tests. */

static void test_boot_and_services(void)
{
    printf("-- boot and services on the PC\n");
    struct machine m;
    if (machine_new(&m, 0)) exit(77);
    int rc = run_until(&m, halted_with_if_off, 20000, NULL);
    char text[256];
    size_t n = debugcon_text(&m, text, sizeof(text));
    CHECK(rc == 0 && n == 2 && text[0] == 'M' && (uint8_t)text[1] == 0x80, "POST and the MBR boot (%zu bytes)", n);
    CHECK(rtc_nvram_get(&m.pc->rtc, 0x15) == 0x80 && rtc_nvram_get(&m.pc->rtc, 0x16) == 0x02, "CMOS base memory");
    CHECK(io_read(m.pc->io, 0x21, 1) == 0xF8 && io_read(m.pc->io, 0xA1, 1) == 0xFE, "PIC masks: IRQ 0-2 and 8 open");

    /* The RTC's time and date (BCD). */
    struct r r = { .eax = 0x0200 };
    call_int(&m, 0x1A, &r);
    CHECK(!CF(r) && (r.ecx & 0xFFFF) == 0x1234 && ((r.edx >> 8) & 0xFF) >= 0x56 && ((r.edx >> 8) & 0xFF) <= 0x57,
          "INT 1Ah 02h: 12:34:56 from the RTC (CX %04x DX %04x)", r.ecx & 0xFFFF, r.edx & 0xFFFF);
    r = (struct r){ .eax = 0x0400 };
    call_int(&m, 0x1A, &r);
    CHECK(!CF(r) && (r.ecx & 0xFFFF) == 0x2024 && (r.edx & 0xFFFF) == 0x0517, "INT 1Ah 04h: 2024-05-17 (CX %04x DX %04x)",
          r.ecx & 0xFFFF, r.edx & 0xFFFF);

    /* INT 15h 86h: 100 ms timed by the RTC; the PIT ticks meanwhile. */
    uint8_t tick[4];
    memory_read(m.pc->mem, 0x46C, tick, 4);
    uint32_t ticks0 = tick[0] | tick[1] << 8 | tick[2] << 16 | (uint32_t)tick[3] << 24;
    int64_t t0 = vclock_ns(m.pc->clock);
    r = (struct r){ .eax = 0x8600, .ecx = 0x0001, .edx = 0x86A0 };   /* 100000 us */
    call_int(&m, 0x15, &r);
    int64_t dt = vclock_ns(m.pc->clock) - t0;
    CHECK(!CF(r) && dt >= 100000000 && dt < 112000000, "INT 15h 86h waits 100 ms (%lld us)", (long long)(dt / 1000));
    memory_read(m.pc->mem, 0x46C, tick, 4);
    uint32_t ticks1 = tick[0] | tick[1] << 8 | tick[2] << 16 | (uint32_t)tick[3] << 24;
    CHECK(ticks1 - ticks0 >= 1 && ticks1 - ticks0 <= 3, "the tick count ran meanwhile (%u ticks)", ticks1 - ticks0);

    /* Keys typed on the PS/2 keyboard, through the 8042 and IRQ 1. */
    r = (struct r){ .eax = 0x0000 };
    call_start(&m, 0x16, &r);
    rc = run_until(&m, in_bios_wait, 100000, NULL);
    CHECK(rc == 0 && !call_done(&m), "INT 16h 00h waits for a key");
    type_key(&m, 0x04);                         /* a */
    rc = run_until(&m, call_done, 100000, NULL);
    regs_get(&m, &r);
    CHECK(rc == 0 && (r.eax & 0xFFFF) == 0x1E61, "and gets 'a' from the keyboard (%04x)", r.eax & 0xFFFF);
    ps2_kbd_key(&m.pc->kbc.kbd, 0xE1, 1);      /* left Shift */
    type_key(&m, 0x05);                         /* b */
    ps2_kbd_key(&m.pc->kbc.kbd, 0xE1, 0);
    type_key(&m, 0x52);                         /* Up */
    r = (struct r){ .eax = 0x1000 };
    call_int(&m, 0x16, &r);
    CHECK((r.eax & 0xFFFF) == 0x3042, "Shift+b = 'B' (%04x)", r.eax & 0xFFFF);
    r = (struct r){ .eax = 0x1000 };
    call_int(&m, 0x16, &r);
    CHECK((r.eax & 0xFFFF) == 0x48E0, "Up = 48E0h (%04x)", r.eax & 0xFFFF);

    /* INT 13h through the real machine. */
    uint8_t dap[16] = { 0x10, 0, 1, 0, 0x00, 0x20, 0x00, 0x00, 77, 0, 0, 0, 0, 0, 0, 0 };
    memory_write(m.pc->mem, 0x1100, dap, 16);
    r = (struct r){ .eax = 0x4200, .edx = 0x80, .esi = 0x1100 };
    call_int(&m, 0x13, &r);
    uint8_t sec[2];
    memory_read(m.pc->mem, 0x2000, sec, 2);
    CHECK(!CF(r) && sec[0] == 77 && sec[1] == 0, "INT 13h 42h reads LBA 77");

    /* A20 through port 92h. */
    r = (struct r){ .eax = 0x2400 };
    call_int(&m, 0x15, &r);
    CHECK(!CF(r) && !memory_a20(m.pc->mem), "INT 15h 2400h: A20 off through port 92h");
    r = (struct r){ .eax = 0x2401 };
    call_int(&m, 0x15, &r);
    CHECK(!CF(r) && memory_a20(m.pc->mem), "INT 15h 2401h: A20 on");

    /* PCI: the PIIX3's IDE and PIRQ routing as POST left them. */
    uint32_t bmiba = cfg_read(&m, PCI_DEVFN(1, 1), 0x20, 4);
    CHECK((bmiba & 1) && (bmiba & ~3u) >= 0xC000, "IDE bus master BAR at %04x", bmiba & ~3u);
    CHECK(cfg_read(&m, PCI_DEVFN(1, 1), 0x40, 4) == 0x80008000u, "IDE decode on");
    CHECK(cfg_read(&m, PCI_DEVFN(1, 0), 0x60, 4) == 0x0B0B0A0Au, "PIRQA-D -> 10, 10, 11, 11");
    r = (struct r){ .eax = 0xB102, .ecx = 0x1237, .edx = 0x8086 };
    call_int(&m, 0x1A, &r);
    CHECK(!CF(r) && (r.ebx & 0xFFFF) == 0, "PCI BIOS finds the i440FX at 00:00.0");

    /* Ctrl-Alt-Del: the 8042 pulses reset, the machine resets, POST runs again and boots. */
    int resets = 0;
    call_start(&m, 0x16, &(struct r){ .eax = 0x0000, .flags = F_IF });
    run_until(&m, in_bios_wait, 100000, NULL);
    ps2_kbd_key(&m.pc->kbc.kbd, 0xE0, 1);      /* left Ctrl */
    ps2_kbd_key(&m.pc->kbc.kbd, 0xE2, 1);      /* left Alt */
    ps2_kbd_key(&m.pc->kbc.kbd, 0x4C, 1);      /* Delete */
    ps2_kbd_key(&m.pc->kbc.kbd, 0x4C, 0);
    ps2_kbd_key(&m.pc->kbc.kbd, 0xE2, 0);
    ps2_kbd_key(&m.pc->kbc.kbd, 0xE0, 0);
    rc = run_until(&m, halted_with_if_off, 50000, &resets);
    n = debugcon_text(&m, text, sizeof(text));
    CHECK(rc == 0 && resets == 1 && n == 4 && text[2] == 'M', "Ctrl-Alt-Del resets and boots again (%d resets, %zu bytes)",
          resets, n);
    machine_free(&m);
}

static void test_nographic(void)
{
    printf("-- -nographic console on COM1\n");
    struct machine m;
    if (machine_new(&m, 1)) exit(77);
    int rc = run_until(&m, halted_with_if_off, 20000, NULL);
    CHECK(rc == 0, "boots");
    m.term.out[m.term.len] = 0;
    CHECK(strstr(m.term.out, "Bubble BIOS\r\n") && strstr(m.term.out, "Booting from Hard Disk...\r\n"),
          "the banner and the boot message reach COM1 ('%s')", m.term.out);
    size_t before = m.term.len;
    const char *msg = "ok\r\n";
    for (const char *p = msg; *p; p++) {
        struct r r = { .eax = 0x0E00 | (uint8_t)*p };
        call_int(&m, 0x10, &r);
    }
    m.term.out[m.term.len] = 0;
    CHECK(m.term.len - before == 4 && !strcmp(m.term.out + before, "ok\r\n"), "teletype output is mirrored");
    machine_free(&m);
}

int main(void)
{
    test_boot_and_services();
    test_nographic();
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
