/* The BIOS through its public API, on a bare CPU + memory + ports machine with
 * fake chips: a CMOS/RTC whose time and update flag the test controls, a PIC
 * that delivers the vector the test names, a keyboard controller, a UART, port
 * 92h, and the real PCI bus (devices/pci.c) with a few fake functions. Guest
 * code calls the services (INT nn; HLT at 0000:0600) and the test checks
 * registers, flags and memory. Disks are in-memory block backends.
 *
 * Ends with "RESULT: P passed, F failed"; exit status 1 when F > 0. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bios/bios.h"
#include "cpu/cpu.h"
#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/hostif.h"
#include "devices/pci.h"

#define RAM_BYTES (16u << 20)
#define CALL_ADDR 0x600u

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
 * In-memory disks. */

struct memdisk {
    struct block_backend be;
    uint8_t *data;
    int writes;
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
    if (b->read_only) return -EROFS;
    if (off > b->size || len > b->size - off) return -EIO;
    memcpy(d->data + off, buf, len);
    d->writes++;
    return 0;
}

static struct memdisk *memdisk_new(uint64_t size, int read_only)
{
    struct memdisk *d = calloc(1, sizeof(*d));
    d->data = calloc(1, (size_t)size);
    d->be.size = size;
    d->be.read_only = read_only;
    d->be.name = "memdisk";
    d->be.read = md_read;
    d->be.write = md_write;
    return d;
}

static void memdisk_free(struct memdisk *d)
{
    if (!d) return;
    free(d->data);
    free(d);
}

/* Fills every sector with a pattern naming it: bytes 0-3 the LBA, then its low byte. */
static void memdisk_pattern(struct memdisk *d, uint32_t ssize)
{
    for (uint64_t s = 0; s < d->be.size / ssize; s++) {
        uint8_t *p = d->data + s * ssize;
        memset(p, (uint8_t)(s * 7 + 1), ssize);
        p[0] = (uint8_t)s;
        p[1] = (uint8_t)(s >> 8);
        p[2] = (uint8_t)(s >> 16);
        p[3] = (uint8_t)(s >> 24);
    }
}

/* A boot record that prints `tag` and DL on port E9h, then stops. */
static void make_boot_sector(uint8_t *p, char tag, int signature)
{
    static const uint8_t code[] = {
        0xB0, 0x00,       /* mov al, tag */
        0xE6, 0xE9,       /* out 0E9h, al */
        0x88, 0xD0,       /* mov al, dl */
        0xE6, 0xE9,       /* out 0E9h, al */
        0xFA,             /* cli */
        0xF4,             /* hlt */
        0xEB, 0xFD,       /* jmp hlt */
    };
    memset(p, 0, 512);
    memcpy(p, code, sizeof(code));
    p[1] = (uint8_t)tag;
    if (signature) {
        p[510] = 0x55;
        p[511] = 0xAA;
    }
}

/* ---------------------------------------------------------------------------
 * The test machine and its fake chips. */

struct pci_fake {
    struct pci_device dev;
};

struct tm {
    struct memory *mem;
    struct ioports *io;
    struct cpu *cpu;
    struct bios *bios;
    /* E9h output. */
    char e9[256];
    size_t e9_len;
    /* PIC. */
    uint8_t pic_writes[64][2];     /* (port, value) */
    int npic_writes;
    uint8_t pic_mask[2];
    int eoi_master, eoi_slave;
    int vector;
    /* PIT. */
    uint8_t pit_writes[8][2];
    int npit_writes;
    /* CMOS. */
    uint8_t cmos[128];
    uint8_t cmos_index;
    int uip_reads;                 /* reads of register A that show an update in progress */
    /* Port 92h. */
    uint8_t port92;
    /* Keyboard controller. */
    uint8_t kbc_out[32];
    int kbc_head, kbc_tail;
    int kbc_expect_cmdbyte;
    int kbc_expect_outport;
    uint8_t kbc_outport;
    uint8_t kbc_cmdbyte;
    int kbc_reset_pulses;
    int kbc_self_tests;
    /* UART at 3F8h. */
    int uart_present;
    uint8_t uart_ier, uart_lcr;
    char uart_out[512];
    size_t uart_out_len;
    uint8_t uart_in[64];
    int uart_in_head, uart_in_tail;
    /* PCI. */
    int have_pci;
    struct pci_bus pci;
    struct pci_fake pcidev[6];
    int npcidev;
};

static void pic_record(struct tm *m, uint16_t port, uint8_t v)
{
    if (m->npic_writes < 64) {
        m->pic_writes[m->npic_writes][0] = (uint8_t)port;
        m->pic_writes[m->npic_writes][1] = v;
        m->npic_writes++;
    }
}

static uint32_t pic_read(void *o, uint16_t port, int size)
{
    struct tm *m = o;
    if (port == 0x21) return m->pic_mask[0];
    if (port == 0xA1) return m->pic_mask[1];
    return 0;
}

static void pic_write(void *o, uint16_t port, uint32_t v, int size)
{
    struct tm *m = o;
    pic_record(m, port, (uint8_t)v);
    if (port == 0x21) m->pic_mask[0] = (uint8_t)v;
    if (port == 0xA1) m->pic_mask[1] = (uint8_t)v;
    if (port == 0x20 && v == 0x20) m->eoi_master++;
    if (port == 0xA0 && v == 0x20) m->eoi_slave++;
}

static uint32_t pit_read(void *o, uint16_t port, int size) { return 0; }
static void pit_write(void *o, uint16_t port, uint32_t v, int size)
{
    struct tm *m = o;
    if (m->npit_writes < 8) {
        m->pit_writes[m->npit_writes][0] = (uint8_t)port;
        m->pit_writes[m->npit_writes][1] = (uint8_t)v;
        m->npit_writes++;
    }
}

static uint32_t cmos_read_port(void *o, uint16_t port, int size)
{
    struct tm *m = o;
    if (port == 0x70) return 0xFF;
    uint8_t i = m->cmos_index;
    if (i == 0x0A) {
        uint8_t v = m->cmos[0x0A];
        if (m->uip_reads > 0) {
            m->uip_reads--;
            v |= 0x80;
        }
        return v;
    }
    if (i == 0x0C) {
        uint8_t v = m->cmos[0x0C];
        m->cmos[0x0C] = 0;
        return v;
    }
    return m->cmos[i];
}

static void cmos_write_port(void *o, uint16_t port, uint32_t v, int size)
{
    struct tm *m = o;
    if (port == 0x70) {
        m->cmos_index = v & 0x7F;
        return;
    }
    if (m->cmos_index == 0x0C || m->cmos_index == 0x0D) return;
    m->cmos[m->cmos_index] = (uint8_t)(m->cmos_index == 0x0A ? v & 0x7F : v);
}

static uint32_t p92_read(void *o, uint16_t port, int size) { return ((struct tm *)o)->port92; }
static void p92_write(void *o, uint16_t port, uint32_t v, int size)
{
    struct tm *m = o;
    m->port92 = (uint8_t)v;
    memory_set_a20(m->mem, (v & 2) != 0);
}

static void kbc_push(struct tm *m, uint8_t v)
{
    m->kbc_out[m->kbc_tail] = v;
    m->kbc_tail = (m->kbc_tail + 1) % 32;
}

static uint32_t kbc_read(void *o, uint16_t port, int size)
{
    struct tm *m = o;
    if (port == 0x64) return (m->kbc_head != m->kbc_tail ? 0x01 : 0) | 0x14;
    if (m->kbc_head == m->kbc_tail) return 0;
    uint8_t v = m->kbc_out[m->kbc_head];
    m->kbc_head = (m->kbc_head + 1) % 32;
    return v;
}

static void kbc_write(void *o, uint16_t port, uint32_t v, int size)
{
    struct tm *m = o;
    if (port == 0x64) {
        switch (v) {
        case 0xAA: kbc_push(m, 0x55); m->kbc_self_tests++; break;
        case 0xAB: kbc_push(m, 0x00); break;
        case 0x60: m->kbc_expect_cmdbyte = 1; break;
        case 0xD1: m->kbc_expect_outport = 1; break;
        case 0xFE: m->kbc_reset_pulses++; break;
        default: break;
        }
        return;
    }
    if (m->kbc_expect_outport) {
        m->kbc_outport = (uint8_t)v;
        m->kbc_expect_outport = 0;
        return;
    }
    if (m->kbc_expect_cmdbyte) {
        m->kbc_cmdbyte = (uint8_t)v;
        m->kbc_expect_cmdbyte = 0;
        return;
    }
    kbc_push(m, 0xFA);                 /* the keyboard acknowledges everything */
    if (v == 0xFF) kbc_push(m, 0xAA);
}

static uint32_t uart_read(void *o, uint16_t port, int size)
{
    struct tm *m = o;
    switch (port - 0x3F8) {
    case 0:
        if (m->uart_in_head == m->uart_in_tail) return 0;
        {
            uint8_t v = m->uart_in[m->uart_in_head];
            m->uart_in_head = (m->uart_in_head + 1) % 64;
            return v;
        }
    case 1: return m->uart_ier;
    case 3: return m->uart_lcr;
    case 5: return 0x60 | (m->uart_in_head != m->uart_in_tail ? 1 : 0);
    default: return 0;
    }
}

static void uart_write(void *o, uint16_t port, uint32_t v, int size)
{
    struct tm *m = o;
    switch (port - 0x3F8) {
    case 0:
        if (!(m->uart_lcr & 0x80) && m->uart_out_len < sizeof(m->uart_out) - 1)
            m->uart_out[m->uart_out_len++] = (char)v;
        break;
    case 1:
        if (!(m->uart_lcr & 0x80)) m->uart_ier = v & 0x0F;
        break;
    case 3: m->uart_lcr = (uint8_t)v; break;
    default: break;
    }
}

static uint32_t e9_read(void *o, uint16_t port, int size) { return 0xE9; }
static void e9_write(void *o, uint16_t port, uint32_t v, int size)
{
    struct tm *m = o;
    if (m->e9_len < sizeof(m->e9) - 1) m->e9[m->e9_len++] = (char)v;
}

static int intr_ack(void *o)
{
    struct tm *m = o;
    cpu_set_intr(m->cpu, 0);
    return m->vector;
}

static void raise_irq(struct tm *m, int vector)
{
    m->vector = vector;
    cpu_set_intr(m->cpu, 1);
}

/* Dummy BAR handlers for the fake PCI functions. */
static uint32_t bar_io_read(void *o, uint16_t port, int size) { return 0; }
static void bar_io_write(void *o, uint16_t port, uint32_t v, int size) {}
static uint32_t bar_mem_read(void *o, uint32_t a, int size) { return 0; }
static void bar_mem_write(void *o, uint32_t a, uint32_t v, int size) {}
static const struct io_handlers bar_io = { bar_io_read, bar_io_write, 1 | 2 | 4 };

static struct pci_device *add_pci(struct tm *m, int devfn, uint16_t vendor, uint16_t device, uint32_t class_code,
                                  uint8_t pin)
{
    struct pci_device *d = &m->pcidev[m->npcidev++].dev;
    pci_device_init(d, "fake", vendor, device, 0, class_code);
    d->config[PCI_INTERRUPT_PIN] = pin;
    return d;
}

static void setup_pci(struct tm *m)
{
    pci_bus_init(&m->pci, m->io, m->mem);
    struct pci_device *d;
    add_pci(m, 0, 0x8086, 0x1237, 0x060000, 0);                       /* host bridge */
    pci_bus_add(&m->pci, &m->pcidev[0].dev, PCI_DEVFN(0, 0));
    d = add_pci(m, 0, 0x8086, 0x7000, 0x060100, 0);                   /* PIIX3 ISA */
    for (int k = 0x60; k < 0x64; k++) d->wmask[k] = 0xFF;
    pci_bus_add(&m->pci, d, PCI_DEVFN(1, 0));
    d = add_pci(m, 0, 0x8086, 0x7010, 0x010180, 0);                   /* PIIX3 IDE */
    for (int k = 0x40; k < 0x44; k++) d->wmask[k] = 0xFF;
    pci_bar_io(d, 4, 16, &bar_io, NULL);
    pci_bus_add(&m->pci, d, PCI_DEVFN(1, 1));
    d = add_pci(m, 0, 0x1234, 0x1111, 0x030000, 0);                   /* VGA */
    pci_bar_mem(d, 0, 16u << 20, bar_mem_read, bar_mem_write, NULL);
    pci_bar_mem(d, 2, 4096, bar_mem_read, bar_mem_write, NULL);
    pci_bar_mem(d, PCI_ROM_BAR, 64 << 10, bar_mem_read, bar_mem_write, NULL);
    pci_bus_add(&m->pci, d, PCI_DEVFN(2, 0));
    d = add_pci(m, 0, 0x10EC, 0x8029, 0x020000, 1);                   /* NE2000, INTA */
    pci_bar_io(d, 0, 32, &bar_io, NULL);
    pci_bus_add(&m->pci, d, PCI_DEVFN(3, 0));
    d = add_pci(m, 0, 0x1AF4, 0x1000, 0x020000, 2);                   /* another NIC, INTB */
    pci_bar_io(d, 0, 64, &bar_io, NULL);
    pci_bar_mem(d, 1, 4096, bar_mem_read, bar_mem_write, NULL);
    pci_bus_add(&m->pci, d, PCI_DEVFN(5, 0));
    m->have_pci = 1;
}

struct tm_config {
    struct block_backend *hd[4];
    struct block_backend *fd[2];
    struct block_backend *cdrom;
    const char *boot;
    int nographic;
    int no_pci;
    int no_uart;
    uint8_t cmos_regb;             /* 0: 24-hour BCD */
    int (*boot_hook)(void *opaque);
    void *boot_hook_opaque;
};

static void exc_hook(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    struct tm *m = opaque;
    if (is_soft || vector >= 0x20 || vector == m->vector) return;   /* the IRQs the test raises */
    struct cpu_segment_state cs;
    cpu_get_seg(m->cpu, S_CS, &cs);
    printf("  (exception %d error %#x at %04x:%04x)\n", vector, error, cs.selector, cpu_get_eip(m->cpu));
}

static struct tm *tm_new(const struct tm_config *c)
{
    struct tm *m = calloc(1, sizeof(*m));
    m->mem = memory_new(RAM_BYTES);
    m->io = ioports_new();
    ioports_set_log(m->io, NULL, 0);
    m->cpu = cpu_new(m->mem, m->io);
    struct cpu_callbacks cb = { .opaque = m, .intr_ack = intr_ack };
    cpu_set_callbacks(m->cpu, &cb);
    cpu_set_exception_hook(m->cpu, exc_hook, m);

    static const struct io_handlers pic_h = { pic_read, pic_write, 1 };
    static const struct io_handlers pit_h = { pit_read, pit_write, 1 };
    static const struct io_handlers cmos_h = { cmos_read_port, cmos_write_port, 1 };
    static const struct io_handlers p92_h = { p92_read, p92_write, 1 };
    static const struct io_handlers kbc_h = { kbc_read, kbc_write, 1 };
    static const struct io_handlers uart_h = { uart_read, uart_write, 1 };
    static const struct io_handlers e9_h = { e9_read, e9_write, 1 };
    ioports_register(m->io, 0x20, 2, &pic_h, m);
    ioports_register(m->io, 0xA0, 2, &pic_h, m);
    ioports_register(m->io, 0x40, 4, &pit_h, m);
    ioports_register(m->io, 0x70, 2, &cmos_h, m);
    ioports_register(m->io, 0x92, 1, &p92_h, m);
    ioports_register(m->io, 0x60, 1, &kbc_h, m);
    ioports_register(m->io, 0x64, 1, &kbc_h, m);
    ioports_register(m->io, 0xE9, 1, &e9_h, m);
    if (!c->no_uart) {
        ioports_register(m->io, 0x3F8, 8, &uart_h, m);
        m->uart_present = 1;
    }
    if (!c->no_pci) setup_pci(m);

    /* The RTC: 12:34:56 on 2024-05-17, 24-hour BCD unless told otherwise. */
    m->cmos[0x00] = 0x56;
    m->cmos[0x02] = 0x34;
    m->cmos[0x04] = 0x12;
    m->cmos[0x07] = 0x17;
    m->cmos[0x08] = 0x05;
    m->cmos[0x09] = 0x24;
    m->cmos[0x32] = 0x20;
    m->cmos[0x0A] = 0x26;
    m->cmos[0x0B] = c->cmos_regb ? c->cmos_regb : 0x02;
    m->cmos[0x0D] = 0x80;

    struct bios_config bc;
    memset(&bc, 0, sizeof(bc));
    bc.cpu = m->cpu;
    bc.mem = m->mem;
    bc.io = m->io;
    bc.ram_size = RAM_BYTES;
    for (int k = 0; k < 4; k++) bc.hd[k] = c->hd[k];
    bc.fd[0] = c->fd[0];
    bc.fd[1] = c->fd[1];
    bc.cdrom = c->cdrom;
    bc.cdrom_ide_index = 2;
    bc.boot = c->boot;
    bc.nographic = c->nographic;
    bc.boot_hook = c->boot_hook;
    bc.boot_hook_opaque = c->boot_hook_opaque;
    bc.log = stdout;
    m->bios = bios_new(&bc);
    if (!m->bios || bios_map_rom(m->bios)) {
        printf("FAIL: bios_new or bios_map_rom\n");
        exit(1);
    }
    cpu_reset(m->cpu);
    return m;
}

static void tm_free(struct tm *m)
{
    bios_free(m->bios);
    cpu_free(m->cpu);
    ioports_free(m->io);
    memory_free(m->mem);
    free(m);
}

/* Runs until the CPU halts. 0 on a halt, -1 when the budget ran out. */
static int run_to_halt(struct tm *m, uint64_t budget)
{
    uint64_t start = cpu_icount(m->cpu);
    while (cpu_icount(m->cpu) - start < budget) {
        enum cpu_stop why = cpu_run(m->cpu, 200000);
        if (why == CPU_STOP_HALT) return 0;
        if (why == CPU_STOP_RESET) return -2;
    }
    return -1;
}

/* Power on and run POST and the boot until the boot record halts. */
static int tm_boot(struct tm *m)
{
    return run_to_halt(m, 50000000);
}

static uint8_t rd8(struct tm *m, uint32_t a)
{
    uint8_t v;
    memory_read(m->mem, a, &v, 1);
    return v;
}
static uint16_t rd16(struct tm *m, uint32_t a) { return (uint16_t)(rd8(m, a) | rd8(m, a + 1) << 8); }
static uint32_t rd32(struct tm *m, uint32_t a) { return rd16(m, a) | (uint32_t)rd16(m, a + 2) << 16; }
static void wr8(struct tm *m, uint32_t a, uint8_t v) { memory_write(m->mem, a, &v, 1); }
static void wr16(struct tm *m, uint32_t a, uint16_t v)
{
    wr8(m, a, (uint8_t)v);
    wr8(m, a + 1, (uint8_t)(v >> 8));
}
static void wr32(struct tm *m, uint32_t a, uint32_t v)
{
    wr16(m, a, (uint16_t)v);
    wr16(m, a + 2, (uint16_t)(v >> 16));
}

/* ---------------------------------------------------------------------------
 * Calling a service: INT n; HLT at 0000:0600 with the registers given. */

struct r {
    uint32_t eax, ebx, ecx, edx, esi, edi, ebp;
    uint16_t ds, es;
    uint32_t flags;
};

static void regs_set(struct tm *m, const struct r *r)
{
    cpu_set_reg(m->cpu, R_EAX, r->eax);
    cpu_set_reg(m->cpu, R_EBX, r->ebx);
    cpu_set_reg(m->cpu, R_ECX, r->ecx);
    cpu_set_reg(m->cpu, R_EDX, r->edx);
    cpu_set_reg(m->cpu, R_ESI, r->esi);
    cpu_set_reg(m->cpu, R_EDI, r->edi);
    cpu_set_reg(m->cpu, R_EBP, r->ebp);
    cpu_set_reg(m->cpu, R_ESP, 0x7000);
    cpu_set_seg_real(m->cpu, S_DS, r->ds);
    cpu_set_seg_real(m->cpu, S_ES, r->es);
    cpu_set_seg_real(m->cpu, S_SS, 0);
    cpu_set_seg_real(m->cpu, S_CS, 0);
}

static void regs_get(struct tm *m, struct r *r)
{
    r->eax = cpu_get_reg(m->cpu, R_EAX);
    r->ebx = cpu_get_reg(m->cpu, R_EBX);
    r->ecx = cpu_get_reg(m->cpu, R_ECX);
    r->edx = cpu_get_reg(m->cpu, R_EDX);
    r->esi = cpu_get_reg(m->cpu, R_ESI);
    r->edi = cpu_get_reg(m->cpu, R_EDI);
    r->ebp = cpu_get_reg(m->cpu, R_EBP);
    struct cpu_segment_state s;
    cpu_get_seg(m->cpu, S_DS, &s);
    r->ds = s.selector;
    cpu_get_seg(m->cpu, S_ES, &s);
    r->es = s.selector;
    r->flags = cpu_get_eflags(m->cpu);
}

/* Start the call; returns 0 when it came back to the HLT after INT. */
static void call_start(struct tm *m, int vec, const struct r *in)
{
    uint8_t code[3] = { 0xCD, (uint8_t)vec, 0xF4 };
    memory_write(m->mem, CALL_ADDR, code, 3);
    regs_set(m, in);
    cpu_set_eip(m->cpu, CALL_ADDR);
    cpu_set_eflags(m->cpu, 0x0002 | (in->flags & 0x0001));
    cpu_set_halted(m->cpu, 0);
}

static int call_done(struct tm *m)
{
    struct cpu_segment_state cs;
    cpu_get_seg(m->cpu, S_CS, &cs);
    return cs.selector == 0 && cpu_get_eip(m->cpu) == CALL_ADDR + 3;
}

static int call_int(struct tm *m, int vec, struct r *r)
{
    call_start(m, vec, r);
    int rc = run_to_halt(m, 20000000);
    regs_get(m, r);
    if (rc || !call_done(m)) {
        struct cpu_segment_state cs;
        cpu_get_seg(m->cpu, S_CS, &cs);
        printf("  INT %02Xh did not return (rc %d, at %04x:%04x)\n", vec, rc, cs.selector, cpu_get_eip(m->cpu));
        return -1;
    }
    return 0;
}

#define CF(r) ((r).flags & 1)
#define ZF(r) (((r).flags >> 6) & 1)
#define AH(r) (((r).eax >> 8) & 0xFF)
#define AL(r) ((r).eax & 0xFF)

/* ---------------------------------------------------------------------------
 * POST and boot. */

static void test_post_and_mbr_boot(void)
{
    printf("-- POST, MBR boot\n");
    struct memdisk *hd = memdisk_new(8u << 20, 0);
    make_boot_sector(hd->data, 'M', 1);
    struct memdisk *fd = memdisk_new(1474560, 0);
    make_boot_sector(fd->data, 'F', 1);
    struct tm_config c = { .hd = { &hd->be }, .fd = { &fd->be } };
    struct tm *m = tm_new(&c);
    int rc = tm_boot(m);
    CHECK(rc == 0, "boot halts (rc %d)", rc);
    CHECK(m->e9_len == 2 && m->e9[0] == 'M' && (uint8_t)m->e9[1] == 0x80,
          "the MBR ran with DL=80h (E9 output %zu bytes: %c %02x)", m->e9_len, m->e9[0], (uint8_t)m->e9[1]);

    /* IVT. */
    CHECK(rd16(m, 0x13 * 4 + 2) == 0xF000, "INT 13h vector in the ROM segment");
    CHECK(rd16(m, 0x1E * 4) == 0xEFC7 && rd16(m, 0x1E * 4 + 2) == 0xF000, "INT 1Eh points at the diskette table");
    CHECK(rd32(m, 0x79 * 4) == 0, "INT 79h is null");
    CHECK(rd16(m, 0x41 * 4 + 2) == 0x9FC0 && rd16(m, 0x41 * 4) == 0x3D, "INT 41h points at the FDPT in the EBDA");
    /* BDA and EBDA. */
    CHECK(rd16(m, 0x413) == 639, "base memory 639 KiB (got %u)", rd16(m, 0x413));
    CHECK(rd16(m, 0x40E) == 0x9FC0, "EBDA segment 9FC0h (got %04x)", rd16(m, 0x40E));
    CHECK(rd8(m, 0x9FC00) == 1, "EBDA size 1 KiB");
    uint16_t equip = rd16(m, 0x410);
    CHECK((equip & 0x01) && ((equip >> 6) & 3) == 0, "equipment: one floppy (%04x)", equip);
    CHECK(((equip >> 4) & 3) == 2, "equipment: 80x25 colour (%04x)", equip);
    CHECK(((equip >> 9) & 7) == 1, "equipment: one serial port (%04x)", equip);
    CHECK(rd16(m, 0x400) == 0x3F8, "COM1 at 3F8h");
    CHECK(rd8(m, 0x475) == 1, "one hard disk in the BDA");
    CHECK(rd16(m, 0x480) == 0x1E && rd16(m, 0x482) == 0x3E && rd16(m, 0x41A) == rd16(m, 0x41C), "keyboard buffer");
    CHECK(rd8(m, 0x449) == 3 && rd16(m, 0x44A) == 80 && rd16(m, 0x463) == 0x3D4 && rd8(m, 0x484) == 24,
          "video mode 3 in the BDA");
    /* The banner on screen. */
    char line[12];
    for (int k = 0; k < 11; k++) line[k] = (char)rd8(m, 0xB8000 + 2 * k);
    line[11] = 0;
    CHECK(!strcmp(line, "Bubble BIOS"), "banner on screen ('%s')", line);
    /* Tick count from the RTC's 12:34:56. */
    uint32_t want = (uint32_t)((uint64_t)(12 * 3600 + 34 * 60 + 56) * 1193182 / 65536);
    uint32_t ticks = rd32(m, 0x46C);
    CHECK(ticks == want, "tick count from the RTC (%u, want %u)", ticks, want);

    /* PICs: ICW1-4 with vectors 08h and 70h. */
    int seen_master = 0, seen_slave = 0;
    for (int k = 0; k + 3 < m->npic_writes; k++) {
        uint8_t (*w)[2] = &m->pic_writes[k];
        if (w[0][0] == 0x20 && w[0][1] == 0x11) {
            for (int j = k + 1; j < m->npic_writes; j++)
                if (m->pic_writes[j][0] == 0x21) {
                    seen_master = m->pic_writes[j][1] == 0x08;
                    break;
                }
        }
        if (w[0][0] == 0xA0 && w[0][1] == 0x11) {
            for (int j = k + 1; j < m->npic_writes; j++)
                if (m->pic_writes[j][0] == 0xA1) {
                    seen_slave = m->pic_writes[j][1] == 0x70;
                    break;
                }
        }
    }
    CHECK(seen_master && seen_slave, "PICs initialised with vectors 08h and 70h");
    CHECK(!(m->pic_mask[0] & 0x07), "IRQ 0-2 unmasked (mask %02x)", m->pic_mask[0]);
    /* PIT channel 0: mode 3, count 65536. */
    CHECK(m->npit_writes >= 3 && m->pit_writes[0][0] == 0x43 && m->pit_writes[0][1] == 0x36 &&
          m->pit_writes[1][1] == 0 && m->pit_writes[2][1] == 0, "PIT channel 0 at 18.2 Hz");
    /* CMOS. */
    CHECK(m->cmos[0x10] == 0x40, "CMOS floppy types 40h (got %02x)", m->cmos[0x10]);
    CHECK(m->cmos[0x12] == 0xF0 && m->cmos[0x19] == 47, "CMOS hard disk type (%02x %u)", m->cmos[0x12], m->cmos[0x19]);
    CHECK((m->cmos[0x15] | m->cmos[0x16] << 8) == 640, "CMOS base memory 640");
    CHECK((m->cmos[0x17] | m->cmos[0x18] << 8) == 15360 && (m->cmos[0x30] | m->cmos[0x31] << 8) == 15360,
          "CMOS extended memory 15360 KiB");
    uint16_t sum = 0;
    for (int k = 0x10; k <= 0x2D; k++) sum = (uint16_t)(sum + m->cmos[k]);
    CHECK(m->cmos[0x2E] == (sum >> 8) && m->cmos[0x2F] == (sum & 0xFF), "CMOS checksum");
    CHECK(m->cmos[0x0A] == 0x26 && (m->cmos[0x0B] & 0x72) == 0x02, "RTC registers A and B (%02x %02x)",
          m->cmos[0x0A], m->cmos[0x0B]);
    CHECK(m->port92 & 2, "A20 on through port 92h");
    CHECK(m->kbc_self_tests == 1 && m->kbc_cmdbyte == 0x65, "keyboard controller tested and enabled (cmd %02x)",
          m->kbc_cmdbyte);
    CHECK(m->uart_lcr == 0x03, "COM1 8N1");

    /* INT 11h, 12h. */
    struct r r = { 0 };
    call_int(m, 0x11, &r);
    CHECK((r.eax & 0xFFFF) == equip, "INT 11h = equipment word");
    r = (struct r){ 0 };
    call_int(m, 0x12, &r);
    CHECK((r.eax & 0xFFFF) == 639, "INT 12h = 639");
    tm_free(m);
    memdisk_free(hd);
    memdisk_free(fd);
}

static void test_boot_order(void)
{
    printf("-- boot order\n");
    struct memdisk *hd = memdisk_new(1u << 20, 0);
    make_boot_sector(hd->data, 'M', 0);          /* no signature: not bootable */
    struct memdisk *fd = memdisk_new(737280, 0);
    make_boot_sector(fd->data, 'F', 0);          /* floppies boot without one */

    struct tm_config c = { .hd = { &hd->be }, .fd = { &fd->be }, .boot = "c" };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "boots");
    CHECK(m->e9_len == 2 && m->e9[0] == 'F' && m->e9[1] == 0, "falls back to the floppy with DL=0 (%zu: %c)",
          m->e9_len, m->e9[0]);
    tm_free(m);

    c.boot = "order=c,strict=on";
    m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "halts");
    CHECK(m->e9_len == 0, "strict: nothing boots");
    int found = 0;
    for (uint32_t a = 0xB8000; a < 0xB8000 + 4000 - 40; a += 2) {
        char s[20];
        for (int k = 0; k < 19; k++) s[k] = (char)rd8(m, a + 2 * k);
        s[19] = 0;
        if (!strcmp(s, "No bootable device.")) found = 1;
    }
    CHECK(found, "INT 18h message on screen");
    tm_free(m);

    hd->data[510] = 0x55;
    hd->data[511] = 0xAA;
    c.boot = "a";
    m = tm_new(&c);
    CHECK(tm_boot(m) == 0 && m->e9_len == 2 && m->e9[0] == 'F', "-boot a boots the floppy first");
    tm_free(m);
    c.boot = NULL;
    c.fd[0] = NULL;
    m = tm_new(&c);
    CHECK(tm_boot(m) == 0 && m->e9_len == 2 && m->e9[0] == 'M', "default order: the hard disk");
    tm_free(m);
    memdisk_free(hd);
    memdisk_free(fd);
}

/* ---------------------------------------------------------------------------
 * CD-ROM images (El Torito). */

static struct memdisk *make_iso(uint32_t sectors, uint8_t media, uint16_t load_seg, uint16_t count, uint32_t image_lba)
{
    struct memdisk *d = memdisk_new((uint64_t)sectors * 2048, 1);
    memdisk_pattern(d, 2048);
    uint8_t *brvd = d->data + 17 * 2048;
    memset(brvd, 0, 2048);
    brvd[0] = 0;
    memcpy(brvd + 1, "CD001", 5);
    brvd[6] = 1;
    memcpy(brvd + 7, "EL TORITO SPECIFICATION", 23);
    uint32_t catalog = 19;
    brvd[0x47] = (uint8_t)catalog;
    uint8_t *cat = d->data + catalog * 2048;
    memset(cat, 0, 2048);
    cat[0] = 1;
    memcpy(cat + 4, "BUBBLE TEST", 11);
    cat[0x1E] = 0x55;
    cat[0x1F] = 0xAA;
    uint16_t sum = 0;
    for (int k = 0; k < 32; k += 2) sum = (uint16_t)(sum + (cat[k] | cat[k + 1] << 8));
    uint16_t fix = (uint16_t)-sum;
    cat[0x1C] = (uint8_t)fix;
    cat[0x1D] = (uint8_t)(fix >> 8);
    uint8_t *e = cat + 32;
    e[0] = 0x88;
    e[1] = media;
    e[2] = (uint8_t)load_seg;
    e[3] = (uint8_t)(load_seg >> 8);
    e[6] = (uint8_t)count;
    e[7] = (uint8_t)(count >> 8);
    e[8] = (uint8_t)image_lba;
    e[9] = (uint8_t)(image_lba >> 8);
    return d;
}

static void test_cdrom_noemu(void)
{
    printf("-- CD-ROM, no emulation\n");
    struct memdisk *cd = make_iso(64, 0, 0, 4, 21);
    make_boot_sector(cd->data + 21 * 2048, 'C', 0);
    struct tm_config c = { .cdrom = &cd->be, .boot = "d" };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "boots");
    CHECK(m->e9_len == 2 && m->e9[0] == 'C' && (uint8_t)m->e9[1] == 0xE0, "the CD boot image ran with DL=E0h");
    CHECK(rd8(m, 0x7C00 + 2047) == cd->data[21 * 2048 + 2047], "four 512-byte sectors loaded");
    CHECK(rd8(m, 0x7C00 + 2048) != cd->data[21 * 2048 + 2048] || cd->data[21 * 2048 + 2048] == 0,
          "no more than four");

    /* 4B01h: the specification packet. */
    struct r r = { .eax = 0x4B01, .edx = 0xE0, .esi = 0x1000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd8(m, 0x1000) == 0x13 && rd8(m, 0x1001) == 0 && rd8(m, 0x1002) == 0xE0 &&
          rd32(m, 0x1004) == 21 && rd16(m, 0x100C) == 0x07C0 && rd16(m, 0x100E) == 4,
          "INT 13h 4B01h packet (CF %d, media %u drive %02x lba %u seg %04x count %u)", (int)CF(r), rd8(m, 0x1001),
          rd8(m, 0x1002), rd32(m, 0x1004), rd16(m, 0x100C), rd16(m, 0x100E));
    /* 41h, 42h, 48h on the CD. */
    r = (struct r){ .eax = 0x4100, .ebx = 0x55AA, .edx = 0xE0 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && (r.ebx & 0xFFFF) == 0xAA55 && AH(r) == 0x30, "41h on the CD");
    uint8_t dap[16] = { 0x10, 0, 2, 0, 0x00, 0x20, 0x00, 0x00, 30, 0, 0, 0, 0, 0, 0, 0 };   /* 2 sectors at 0:2000 from 30 */
    memory_write(m->mem, 0x1100, dap, 16);
    r = (struct r){ .eax = 0x4200, .edx = 0xE0, .esi = 0x1100 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd32(m, 0x2000) == 30 && rd32(m, 0x2000 + 2048) == 31 && rd8(m, 0x2000 + 4095) == cd->data[31 * 2048 + 4095 - 2048],
          "42h reads 2048-byte sectors");
    wr16(m, 0x1200, 0x4A);
    r = (struct r){ .eax = 0x4800, .edx = 0xE0, .esi = 0x1200 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd16(m, 0x1218) == 2048 && rd32(m, 0x1210) == 64 && (rd16(m, 0x1202) & 0x04),
          "48h: 2048-byte sectors, 64 of them, removable");
    CHECK(rd16(m, 0x121E) == 0xBEDD && !memcmp((char[]){ (char)rd8(m, 0x1228), (char)rd8(m, 0x1229),
                                                         (char)rd8(m, 0x122A), (char)rd8(m, 0x122B), (char)rd8(m, 0x122C) }, "ATAPI", 5),
          "48h: ATAPI device path");
    r = (struct r){ .eax = 0x4300, .edx = 0xE0, .esi = 0x1100 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x03, "43h on the CD: write protected");
    r = (struct r){ .eax = 0x0201, .ecx = 0x0001, .edx = 0xE0, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x01, "CHS read on the CD fails");
    tm_free(m);
    memdisk_free(cd);

    /* A boot image bigger than the BIOS's 64 KiB transfer buffer, loaded at 1000:0000. */
    cd = make_iso(200, 0, 0x1000, 300, 40);
    make_boot_sector(cd->data + 40 * 2048, 'B', 0);
    c.cdrom = &cd->be;
    m = tm_new(&c);
    CHECK(tm_boot(m) == 0 && m->e9_len == 2 && m->e9[0] == 'B', "a 150 KiB no-emulation image boots");
    CHECK(rd8(m, 0x10000 + 60 * 2048) == 100 && rd8(m, 0x10000 + 300 * 512 - 1) == cd->data[40 * 2048 + 300 * 512 - 1],
          "all of it loaded (%u %u/%u)", rd8(m, 0x10000 + 60 * 2048), rd8(m, 0x10000 + 300 * 512 - 1),
          cd->data[40 * 2048 + 300 * 512 - 1]);
    tm_free(m);
    memdisk_free(cd);
}

static void test_cdrom_floppy_emulation(void)
{
    printf("-- CD-ROM, 1.44 MB floppy emulation\n");
    uint32_t img_lba = 24, img_sectors = 1474560 / 2048;
    struct memdisk *cd = make_iso(img_lba + img_sectors + 8, 2, 0, 1, img_lba);
    uint8_t *img = cd->data + (uint64_t)img_lba * 2048;
    memdisk_pattern(&(struct memdisk){ .be = { .size = 1474560 }, .data = img }, 512);
    make_boot_sector(img, 'E', 1);
    struct memdisk *fd = memdisk_new(737280, 0);
    memdisk_pattern(fd, 512);
    struct tm_config c = { .cdrom = &cd->be, .fd = { &fd->be }, .boot = "d" };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "boots");
    CHECK(m->e9_len == 2 && m->e9[0] == 'E' && m->e9[1] == 0, "the emulated floppy booted with DL=0");
    uint16_t equip = rd16(m, 0x410);
    CHECK((equip & 1) && ((equip >> 6) & 3) == 1, "two floppies now (%04x)", equip);

    struct r r = { .eax = 0x0800, .edx = 0x00 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && ((r.ecx >> 8) & 0xFF) == 79 && (r.ecx & 0x3F) == 18 && ((r.edx >> 8) & 0xFF) == 1 &&
          (r.ebx & 0xFF) == 4, "08h on drive 0: 1.44 MB geometry (CX %04x DX %04x BL %u)", r.ecx & 0xFFFF,
          r.edx & 0xFFFF, r.ebx & 0xFF);
    /* CHS 1/1/3 = LBA (1*2+1)*18+2 = 56 of the image. */
    r = (struct r){ .eax = 0x0201, .ecx = 0x0103, .edx = 0x0100, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && AL(r) == 1 && rd32(m, 0x3000) == 56, "CHS read from the emulated floppy (LBA %u)", rd32(m, 0x3000));
    r = (struct r){ .eax = 0x0301, .ecx = 0x0103, .edx = 0x0100, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x03, "the emulated floppy is write protected");
    /* The real A: is B: now. */
    r = (struct r){ .eax = 0x0201, .ecx = 0x0002, .edx = 0x0001, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd32(m, 0x3000) == 1, "drive 1 is the real floppy");
    r = (struct r){ .eax = 0x4B01, .edx = 0x00, .esi = 0x1000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd8(m, 0x1001) == 2 && rd8(m, 0x1002) == 0 && rd32(m, 0x1004) == img_lba &&
          rd8(m, 0x1012) == 1 && (rd8(m, 0x1011) & 0x3F) == 18, "4B01h: 1.44 MB emulation packet");
    r = (struct r){ .eax = 0x4B00, .edx = 0x00, .esi = 0x1000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r), "4B00h terminates the emulation");
    r = (struct r){ .eax = 0x0201, .ecx = 0x0002, .edx = 0x0000, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd32(m, 0x3000) == 1, "drive 0 is the real floppy again");
    CHECK(((rd16(m, 0x410) >> 6) & 3) == 0, "one floppy again");
    tm_free(m);
    memdisk_free(cd);
    memdisk_free(fd);
}

/* ---------------------------------------------------------------------------
 * INT 13h on hard disks and floppies. */

static void test_int13_hd(void)
{
    printf("-- INT 13h, hard disks\n");
    /* 40 MiB: LBA-assisted translation gives 16 heads, 63 sectors, 1024 cylinders... no: 81920/1008 = 81. */
    struct memdisk *hd = memdisk_new(40u << 20, 0);
    memdisk_pattern(hd, 512);
    make_boot_sector(hd->data, 'M', 1);
    /* A second disk with a partition table made with 255 heads, 63 sectors. */
    struct memdisk *hd2 = memdisk_new(64u << 20, 0);
    memdisk_pattern(hd2, 512);
    uint8_t *pe = hd2->data + 0x1BE;
    memset(hd2->data + 0x1BE, 0, 64);
    pe[0] = 0x80; pe[1] = 1; pe[2] = 1; pe[3] = 0; pe[4] = 0x83;
    pe[5] = 254; pe[6] = 0x3F | 0x00; pe[7] = 7;      /* ends at C7 H254 S63 */
    hd2->data[510] = 0x55;
    hd2->data[511] = 0xAA;
    struct memdisk *ro = memdisk_new(1u << 20, 1);
    struct tm_config c = { .hd = { &hd->be, NULL, &hd2->be, &ro->be } };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0 && m->e9_len == 2 && m->e9[0] == 'M', "boots");
    CHECK(rd8(m, 0x475) == 3, "three hard disks (%u)", rd8(m, 0x475));

    struct r r = { .eax = 0x0800, .edx = 0x80 };
    call_int(m, 0x13, &r);
    unsigned maxcyl = ((r.ecx >> 8) & 0xFF) | ((r.ecx & 0xC0) << 2);
    CHECK(!CF(r) && (r.ecx & 0x3F) == 63 && ((r.edx >> 8) & 0xFF) == 15 && maxcyl == 81 - 1 && (r.edx & 0xFF) == 3,
          "08h: 81/16/63, 3 drives (CX %04x DX %04x)", r.ecx & 0xFFFF, r.edx & 0xFFFF);
    r = (struct r){ .eax = 0x0800, .edx = 0x81 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && ((r.edx >> 8) & 0xFF) == 254 && (r.ecx & 0x3F) == 63,
          "08h on the second disk: 255 heads from its partition table (DX %04x)", r.edx & 0xFFFF);

    /* CHS read: C2 H3 S4 = (2*16+3)*63+3 = 2208. */
    r = (struct r){ .eax = 0x0202, .ecx = 0x0204, .edx = 0x0380, .ebx = 0x4000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && AH(r) == 0 && AL(r) == 2 && rd32(m, 0x4000) == 2208 && rd32(m, 0x4200) == 2209, "02h reads by CHS");
    /* Cylinder bits 8-9 in CL: C=300 -> CH=2Ch, CL=40h|sector. */
    r = (struct r){ .eax = 0x0201, .ecx = 0x2C41, .edx = 0x0080, .ebx = 0x4000 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x04, "beyond the last cylinder: AH=04h");
    CHECK(rd8(m, 0x474) == 0x04, "status in the BDA");
    r = (struct r){ .eax = 0x0100, .edx = 0x80 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x04, "01h returns the last status");
    r = (struct r){ .eax = 0x0201, .ecx = 0x0000, .edx = 0x0080, .ebx = 0x4000 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x04, "sector 0 does not exist");
    r = (struct r){ .eax = 0x0200, .ecx = 0x0001, .edx = 0x0080, .ebx = 0x4000 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x01, "count 0: bad command");
    r = (struct r){ .eax = 0x0201, .ecx = 0x0001, .edx = 0x0085, .ebx = 0x4000 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x01, "no drive 85h");
    r = (struct r){ .eax = 0x0101, .ecx = 0x0001, .edx = 0x0000, .ebx = 0x4000 };
    call_int(m, 0x13, &r);   /* AH=01h on floppy 0 which is absent */
    CHECK(CF(r) && AH(r) == 0x80, "absent floppy: time-out");

    /* CHS write, read back. */
    for (int k = 0; k < 512; k++) wr8(m, 0x5000 + k, (uint8_t)(k ^ 0x5A));
    r = (struct r){ .eax = 0x0301, .ecx = 0x0005, .edx = 0x0180, .ebx = 0x5000 };   /* C0 H1 S5 = 63+4 = 67 */
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && AL(r) == 1 && hd->data[67 * 512 + 7] == (7 ^ 0x5A), "03h writes the disk");
    r = (struct r){ .eax = 0x0301, .ecx = 0x0001, .edx = 0x0082, .ebx = 0x5000 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x03, "write to a read-only image: AH=03h");

    /* Extensions. */
    r = (struct r){ .eax = 0x4100, .ebx = 0x55AA, .edx = 0x80 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && (r.ebx & 0xFFFF) == 0xAA55 && AH(r) == 0x30 && (r.ecx & 1), "41h: EDD 3.0");
    r = (struct r){ .eax = 0x4100, .ebx = 0x1234, .edx = 0x80 };
    call_int(m, 0x13, &r);
    CHECK(CF(r), "41h needs BX=55AAh");
    uint8_t dap[24] = { 0x10, 0, 3, 0, 0x00, 0x00, 0x00, 0x06 };   /* 3 sectors to 0600:0000 */
    uint64_t lba = 70000;
    memcpy(dap + 8, &lba, 8);
    memory_write(m->mem, 0x1100, dap, 16);
    r = (struct r){ .eax = 0x4200, .edx = 0x80, .esi = 0x0100, .ds = 0x0100 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd32(m, 0x6000) == 70000 && rd32(m, 0x6400) == 70002, "42h reads by LBA");
    lba = 81920 - 1;
    memcpy(dap + 8, &lba, 8);
    memory_write(m->mem, 0x1100, dap, 16);
    r = (struct r){ .eax = 0x4200, .edx = 0x80, .esi = 0x1100 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x04 && rd16(m, 0x1102) == 0, "42h past the end fails, count 0");
    /* EDD 3.0 flat buffer. */
    uint8_t dap3[24] = { 0x18, 0, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 5, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x20, 0x00, 0, 0, 0, 0 };
    memory_write(m->mem, 0x1100, dap3, 24);
    r = (struct r){ .eax = 0x4200, .edx = 0x80, .esi = 0x1100 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd32(m, 0x200000) == 5, "42h to a 64-bit flat address above 1 MiB");
    /* 43h write. */
    for (int k = 0; k < 512; k++) wr8(m, 0x7000 + k, 0xC3);
    uint8_t dapw[16] = { 0x10, 0, 1, 0, 0x00, 0x70, 0x00, 0x00, 0x10, 0x27, 0, 0, 0, 0, 0, 0 };   /* LBA 10000 */
    memory_write(m->mem, 0x1100, dapw, 16);
    r = (struct r){ .eax = 0x4300, .edx = 0x80, .esi = 0x1100 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && hd->data[10000 * 512 + 100] == 0xC3, "43h writes by LBA");
    /* 48h with EDD 3.0 fields. */
    wr16(m, 0x1200, 0x4A);
    r = (struct r){ .eax = 0x4800, .edx = 0x80, .esi = 0x1200 };
    call_int(m, 0x13, &r);
    uint8_t p[0x4A];
    memory_read(m->mem, 0x1200, p, sizeof(p));
    uint64_t total;
    memcpy(&total, p + 16, 8);
    uint8_t sum = 0;
    for (int k = 0x1E; k < 0x4A; k++) sum = (uint8_t)(sum + p[k]);
    CHECK(!CF(r) && (p[0] | p[1] << 8) == 0x4A && total == 81920 && (p[24] | p[25] << 8) == 512, "48h: size and sectors");
    CHECK((p[0x1E] | p[0x1F] << 8) == 0xBEDD && p[0x20] == 0x2C && !memcmp(p + 0x24, "PCI ", 4) &&
          !memcmp(p + 0x28, "ATA     ", 8) && p[0x31] == 1 && p[0x32] == 1 && p[0x33] == 0 && p[0x38] == 0 && sum == 0,
          "48h: EDD 3.0 device path (PCI 00:01.1, channel 0, master) with checksum");
    uint32_t dpte = (uint32_t)(p[28] | p[29] << 8) * 16 + (p[26] | p[27] << 8);
    uint8_t t[16], tsum = 0;
    memory_read(m->mem, dpte, t, 16);
    for (int k = 0; k < 16; k++) tsum = (uint8_t)(tsum + t[k]);
    CHECK((t[0] | t[1] << 8) == 0x1F0 && t[6] == 14 && tsum == 0 && t[14] == 0x11, "48h: the DPTE (1F0h, IRQ 14)");
    wr16(m, 0x1200, 0x1A);
    r = (struct r){ .eax = 0x4800, .edx = 0x81, .esi = 0x1200 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd16(m, 0x1200) == 0x1A, "48h with a 1Ah buffer: EDD 1.1 fields only");
    wr16(m, 0x1200, 0x10);
    r = (struct r){ .eax = 0x4800, .edx = 0x80, .esi = 0x1200 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x01, "48h with a too small buffer fails");
    /* 15h. */
    r = (struct r){ .eax = 0x1500, .edx = 0x80 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && AH(r) == 3 && (((r.ecx & 0xFFFF) << 16) | (r.edx & 0xFFFF)) == 81u * 16 * 63, "15h: fixed disk and its size");
    r = (struct r){ .eax = 0x1500, .edx = 0x84 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && AH(r) == 0, "15h: no such drive");
    r = (struct r){ .eax = 0x4700, .edx = 0x80, .esi = 0x1100 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r), "47h seek");
    r = (struct r){ .eax = 0x7700, .edx = 0x80 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x01, "unknown function: AH=01h");
    tm_free(m);
    memdisk_free(hd);
    memdisk_free(hd2);
    memdisk_free(ro);
}

static void test_int13_floppy(void)
{
    printf("-- INT 13h, floppies\n");
    struct memdisk *fa = memdisk_new(1474560, 0), *fb = memdisk_new(737280, 0);
    memdisk_pattern(fa, 512);
    memdisk_pattern(fb, 512);
    make_boot_sector(fa->data, 'F', 1);
    struct tm_config c = { .fd = { &fa->be, &fb->be }, .boot = "a" };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0 && m->e9[0] == 'F', "boots from A:");
    CHECK(m->cmos[0x10] == 0x43, "CMOS floppy types 1.44M + 720K (%02x)", m->cmos[0x10]);
    struct r r = { .eax = 0x0800, .edx = 0x01 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && (r.ebx & 0xFF) == 3 && ((r.ecx >> 8) & 0xFF) == 79 && (r.ecx & 0x3F) == 9 &&
          ((r.edx >> 8) & 0xFF) == 1 && (r.edx & 0xFF) == 2 && r.es == 0xF000,
          "08h on B:: 720 KB, 2 drives, ES:DI table (BX %04x CX %04x DX %04x)", r.ebx & 0xFFFF, r.ecx & 0xFFFF, r.edx & 0xFFFF);
    uint32_t dpt = 0xF0000 + (r.edi & 0xFFFF);
    CHECK(rd8(m, dpt + 4) == 9, "its table says 9 sectors per track");
    /* C79 H1 S18 on A: = (79*2+1)*18+17 = 2879, the last sector. */
    r = (struct r){ .eax = 0x0201, .ecx = 0x4F12, .edx = 0x0100, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd32(m, 0x3000) == 2879, "read the last sector of A:");
    r = (struct r){ .eax = 0x0201, .ecx = 0x4F13, .edx = 0x0100, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(CF(r) && AH(r) == 0x04 && rd8(m, 0x441) == 0x04, "sector 19 does not exist (status %02x)", rd8(m, 0x441));
    r = (struct r){ .eax = 0x0204, .ecx = 0x0001, .edx = 0x0001, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && AL(r) == 4 && rd32(m, 0x3600) == 3, "multi-sector read from B:");
    r = (struct r){ .eax = 0x0509, .ecx = 0x0200, .edx = 0x0101, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && fb->data[((2 * 2 + 1) * 9) * 512 + 10] == 0xF6, "05h formats a track of B:");
    r = (struct r){ .eax = 0x1500, .edx = 0x00 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && AH(r) == 2, "15h: floppy with change line");
    r = (struct r){ .eax = 0x1600, .edx = 0x00 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && AH(r) == 0, "16h: no media change");
    r = (struct r){ .eax = 0x0800, .edx = 0x02 };
    call_int(m, 0x13, &r);
    CHECK(CF(r), "08h on a third floppy fails");
    tm_free(m);
    memdisk_free(fa);
    memdisk_free(fb);
}

/* ---------------------------------------------------------------------------
 * INT 15h. */

static void test_int15(void)
{
    printf("-- INT 15h: memory map, sizes, A20, block move, configuration\n");
    struct memdisk *hd = memdisk_new(1u << 20, 0);
    make_boot_sector(hd->data, 'M', 1);
    struct tm_config c = { .hd = { &hd->be } };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "boots");

    struct { uint64_t base, len; uint32_t type; } e[16];
    int n = 0;
    uint32_t cont = 0;
    do {
        struct r r = { .eax = 0xE820, .edx = 0x534D4150, .ecx = 24, .ebx = cont, .edi = 0x1000 };
        if (call_int(m, 0x15, &r) || CF(r) || r.eax != 0x534D4150 || (r.ecx != 20 && r.ecx != 24)) {
            CHECK(0, "E820h call %d failed (CF %d EAX %08x ECX %u)", n, (int)CF(r), r.eax, r.ecx);
            break;
        }
        uint8_t buf[20];
        memory_read(m->mem, 0x1000, buf, 20);
        memcpy(&e[n].base, buf, 8);
        memcpy(&e[n].len, buf + 8, 8);
        memcpy(&e[n].type, buf + 16, 4);
        n++;
        cont = r.ebx;
    } while (cont && n < 16);
    CHECK(n == 5, "E820h: 5 entries (%d)", n);
    int sorted = 1, disjoint = 1;
    uint64_t ram = 0;
    for (int k = 0; k < n; k++) {
        if (k && e[k].base < e[k - 1].base) sorted = 0;
        if (k && e[k].base < e[k - 1].base + e[k - 1].len) disjoint = 0;
        if (e[k].type == 1) ram += e[k].len;
        if (e[k].type == 1 && e[k].base < 0x100000 && e[k].base + e[k].len > 0x9FC00) disjoint = 0;
    }
    CHECK(sorted && disjoint, "E820h: sorted, no overlaps, no RAM over the EBDA");
    CHECK(ram == 0x9FC00 + (RAM_BYTES - 0x100000), "E820h: all RAM counted (%llu)", (unsigned long long)ram);
    CHECK(n == 5 && e[0].base == 0 && e[0].len == 0x9FC00 && e[1].type == 2 && e[1].base == 0x9FC00 &&
          e[2].base == 0xF0000 && e[2].type == 2 && e[3].base == 0x100000 && e[4].base == 0xFFFC0000 && e[4].type == 2,
          "E820h: the expected map");
    struct bios_e820 map[8];
    int nm = bios_e820_map(m->bios, map, 8);
    CHECK(nm == n && map[3].size == e[3].len, "bios_e820_map agrees");
    struct r r = { .eax = 0xE820, .edx = 0x534D4150, .ecx = 16, .ebx = 0, .edi = 0x1000 };
    call_int(m, 0x15, &r);
    CHECK(CF(r) && AH(r) == 0x86, "E820h with a 16-byte buffer fails");
    r = (struct r){ .eax = 0xE820, .edx = 0x12345678, .ecx = 20, .ebx = 0, .edi = 0x1000 };
    call_int(m, 0x15, &r);
    CHECK(CF(r), "E820h without SMAP fails");
    r = (struct r){ .eax = 0xE820, .edx = 0x534D4150, .ecx = 20, .ebx = 9, .edi = 0x1000 };
    call_int(m, 0x15, &r);
    CHECK(CF(r), "E820h with a bad continuation fails");

    r = (struct r){ .eax = 0xE801 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && (r.eax & 0xFFFF) == 0x3C00 && (r.ecx & 0xFFFF) == 0x3C00 && (r.ebx & 0xFFFF) == 0 && (r.edx & 0xFFFF) == 0,
          "E801h: 15 MiB between 1 and 16 MiB, none above");
    r = (struct r){ .eax = 0x8800 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && (r.eax & 0xFFFF) == 15360, "88h: 15360 KiB");
    r = (struct r){ .eax = 0x5300 };
    call_int(m, 0x15, &r);
    CHECK(CF(r) && AH(r) == 0x86, "APM (5300h): not supported, CF and AH=86h");
    r = (struct r){ .eax = 0xC000 };
    call_int(m, 0x15, &r);
    uint32_t t = (uint32_t)r.es * 16 + (r.ebx & 0xFFFF);
    CHECK(!CF(r) && AH(r) == 0 && rd16(m, t) == 8 && rd8(m, t + 2) == 0xFC, "C0h: configuration table, model FCh");
    r = (struct r){ .eax = 0xC100 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && r.es == 0x9FC0, "C1h: EBDA segment");

    r = (struct r){ .eax = 0x2400 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && !(m->port92 & 2) && !memory_a20(m->mem) && m->kbc_outport == 0xDD,
          "2400h turns A20 off at port 92h and the 8042");
    r = (struct r){ .eax = 0x2402 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && AL(r) == 0, "2402h says off");
    r = (struct r){ .eax = 0x2401 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && memory_a20(m->mem), "2401h turns it on");
    r = (struct r){ .eax = 0x2402 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && AL(r) == 1, "2402h says on");
    r = (struct r){ .eax = 0x2403 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && (r.ebx & 3) == 3, "2403h: 8042 and port 92h");

    /* 87h: 16 words from 0x300000 to 0x8000 (GDT at 0:2000). */
    for (int k = 0; k < 32; k++) wr8(m, 0x300000 + k, (uint8_t)(0xA0 + k));
    uint8_t gdt[48];
    memset(gdt, 0, sizeof(gdt));
    uint8_t *src = gdt + 0x10, *dst = gdt + 0x18;
    src[0] = 0xFF; src[1] = 0xFF; src[2] = 0x00; src[3] = 0x00; src[4] = 0x30; src[5] = 0x93;
    dst[0] = 0xFF; dst[1] = 0xFF; dst[2] = 0x00; dst[3] = 0x80; dst[4] = 0x00; dst[5] = 0x93;
    memory_write(m->mem, 0x2000, gdt, sizeof(gdt));
    r = (struct r){ .eax = 0x8700, .ecx = 16, .esi = 0x2000 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && AH(r) == 0 && rd8(m, 0x8000) == 0xA0 && rd8(m, 0x801F) == 0xBF, "87h block move");
    r = (struct r){ .eax = 0x8600, .ecx = 0, .edx = 0 };
    call_int(m, 0x15, &r);
    CHECK(!CF(r), "86h for 0 us returns at once");
    tm_free(m);
    memdisk_free(hd);
}

/* INT 15h 86h: the stub sleeps until the RTC's periodic interrupts have added up. */
static void test_int15_wait(void)
{
    printf("-- INT 15h 86h wait\n");
    struct memdisk *hd = memdisk_new(1u << 20, 0);
    make_boot_sector(hd->data, 'M', 1);
    struct tm_config c = { .hd = { &hd->be } };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "boots");
    struct r r = { .eax = 0x8600, .ecx = 0, .edx = 5000 };   /* 5 ms: six 976 us periods */
    call_start(m, 0x15, &r);
    int periods = 0;
    for (int k = 0; k < 20; k++) {
        int rc = run_to_halt(m, 1000000);
        if (rc) break;
        if (call_done(m)) break;
        if (k == 0) CHECK(m->cmos[0x0B] & 0x40, "the RTC periodic interrupt is on while waiting");
        m->cmos[0x0C] = 0xC0;
        periods++;
        raise_irq(m, 0x70);
    }
    regs_get(m, &r);
    CHECK(call_done(m) && !CF(r), "86h returns");
    CHECK(periods == 6, "after six RTC periods (%d)", periods);
    CHECK(!(m->cmos[0x0B] & 0x40), "the periodic interrupt is off again");
    CHECK(m->eoi_slave >= 6, "IRQ 8 acknowledged at both PICs");
    r = (struct r){ .eax = 0x8300, .ecx = 0, .edx = 100, .ebx = 0x0800 };
    wr8(m, 0x800, 0);
    call_int(m, 0x15, &r);
    CHECK(!CF(r) && (m->cmos[0x0B] & 0x40), "83h starts an event wait");
    m->cmos[0x0C] = 0xC0;
    raise_irq(m, 0x70);
    uint8_t code[] = { 0xFB, 0xF4, 0xFA, 0xF4 };   /* sti; hlt (wakes for the IRQ); cli; hlt */
    memory_write(m->mem, 0x700, code, sizeof(code));
    cpu_set_eip(m->cpu, 0x700);
    cpu_set_halted(m->cpu, 0);
    run_to_halt(m, 100000);
    CHECK(rd8(m, 0x800) & 0x80, "83h sets bit 7 of the caller's flag byte when the time is up");
    tm_free(m);
    memdisk_free(hd);
}

/* ---------------------------------------------------------------------------
 * INT 1Ah. */

static void test_int1a(void)
{
    printf("-- INT 1Ah: ticks and RTC\n");
    struct memdisk *hd = memdisk_new(1u << 20, 0);
    make_boot_sector(hd->data, 'M', 1);
    struct tm_config c = { .hd = { &hd->be } };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "boots");
    struct r r = { .eax = 0x0200 };
    m->uip_reads = 3;
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && (r.ecx & 0xFFFF) == 0x1234 && ((r.edx >> 8) & 0xFF) == 0x56, "02h: 12:34:56 (CX %04x DX %04x)",
          r.ecx & 0xFFFF, r.edx & 0xFFFF);
    CHECK(m->uip_reads == 0, "02h waited for the update to finish");
    r = (struct r){ .eax = 0x0400 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && (r.ecx & 0xFFFF) == 0x2024 && (r.edx & 0xFFFF) == 0x0517, "04h: 2024-05-17 (CX %04x DX %04x)",
          r.ecx & 0xFFFF, r.edx & 0xFFFF);
    r = (struct r){ .eax = 0x0300, .ecx = 0x2359, .edx = 0x5800 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && m->cmos[4] == 0x23 && m->cmos[2] == 0x59 && m->cmos[0] == 0x58 && !(m->cmos[0x0B] & 0x80),
          "03h sets the time");
    r = (struct r){ .eax = 0x0500, .ecx = 0x1999, .edx = 0x1231 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && m->cmos[0x32] == 0x19 && m->cmos[9] == 0x99 && m->cmos[8] == 0x12 && m->cmos[7] == 0x31, "05h sets the date");
    wr32(m, 0x46C, 0x00123456);
    wr8(m, 0x470, 1);
    r = (struct r){ .eax = 0x0000 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && (r.ecx & 0xFFFF) == 0x0012 && (r.edx & 0xFFFF) == 0x3456 && AL(r) == 1 && rd8(m, 0x470) == 0,
          "00h: ticks and the midnight flag, cleared");
    r = (struct r){ .eax = 0x0100, .ecx = 0x0001, .edx = 0x0002 };
    call_int(m, 0x1A, &r);
    CHECK(rd32(m, 0x46C) == 0x10002, "01h sets the ticks");
    /* Binary, 12-hour RTC: 11 PM = 0x8B in binary with PM. */
    m->cmos[0x0B] = 0x04;
    m->cmos[0x04] = 0x80 | 11;
    m->cmos[0x02] = 7;
    m->cmos[0x00] = 45;
    r = (struct r){ .eax = 0x0200 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && (r.ecx & 0xFFFF) == 0x2307 && ((r.edx >> 8) & 0xFF) == 0x45,
          "02h converts a binary 12-hour RTC to BCD 24-hour (CX %04x)", r.ecx & 0xFFFF);
    r = (struct r){ .eax = 0x0300, .ecx = 0x0915, .edx = 0x3000 };
    call_int(m, 0x1A, &r);
    CHECK(m->cmos[4] == 9 && m->cmos[2] == 15 && m->cmos[0] == 30, "03h writes binary 12-hour (AM) values");
    r = (struct r){ .eax = 0x0600, .ecx = 0x0600, .edx = 0 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && (m->cmos[0x0B] & 0x20), "06h sets an alarm");
    r = (struct r){ .eax = 0x0600, .ecx = 0x0700, .edx = 0 };
    call_int(m, 0x1A, &r);
    CHECK(CF(r), "06h with an alarm set fails");
    r = (struct r){ .eax = 0x0700 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && !(m->cmos[0x0B] & 0x20), "07h resets it");
    tm_free(m);
    memdisk_free(hd);
}

/* ---------------------------------------------------------------------------
 * Keyboard: scan codes through port 60h and IRQ 1, keys out of INT 16h. */

static void key_irq(struct tm *m, uint8_t sc)
{
    kbc_push(m, sc);
    raise_irq(m, 0x09);
    uint8_t code[] = { 0xFB, 0xF4, 0xFA, 0xF4 };   /* sti; hlt (wakes for the IRQ); cli; hlt */
    memory_write(m->mem, 0x700, code, sizeof(code));
    cpu_set_seg_real(m->cpu, S_CS, 0);
    cpu_set_reg(m->cpu, R_ESP, 0x7000);
    cpu_set_seg_real(m->cpu, S_SS, 0);
    cpu_set_eip(m->cpu, 0x700);
    cpu_set_halted(m->cpu, 0);
    run_to_halt(m, 1000000);
}

static void keys(struct tm *m, const uint8_t *sc, int n)
{
    for (int k = 0; k < n; k++) key_irq(m, sc[k]);
}

static uint16_t get_key(struct tm *m, int fn)
{
    struct r r = { .eax = (uint32_t)fn << 8 };
    if (call_int(m, 0x16, &r)) return 0xFFFF;
    return (uint16_t)r.eax;
}

static void test_keyboard(void)
{
    printf("-- INT 09h and INT 16h\n");
    struct memdisk *hd = memdisk_new(1u << 20, 0);
    make_boot_sector(hd->data, 'M', 1);
    struct tm_config c = { .hd = { &hd->be } };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "boots");
    int eoi = m->eoi_master;
    struct r r = { .eax = 0x0100 };
    call_int(m, 0x16, &r);
    CHECK(ZF(r), "01h: nothing yet");
    keys(m, (const uint8_t[]){ 0x1E, 0x9E }, 2);                 /* a */
    CHECK(m->eoi_master >= eoi + 2, "IRQ 1 acknowledged");
    r = (struct r){ .eax = 0x0100 };
    call_int(m, 0x16, &r);
    CHECK(!ZF(r) && (r.eax & 0xFFFF) == 0x1E61, "01h sees 'a' (%04x)", r.eax & 0xFFFF);
    CHECK(get_key(m, 0x00) == 0x1E61, "00h takes it");
    r = (struct r){ .eax = 0x0100 };
    call_int(m, 0x16, &r);
    CHECK(ZF(r), "and the buffer is empty again");
    keys(m, (const uint8_t[]){ 0x2A, 0x1E, 0x9E, 0xAA }, 4);     /* Shift+a */
    CHECK(get_key(m, 0x00) == 0x1E41, "Shift+a = 'A'");
    keys(m, (const uint8_t[]){ 0x3A, 0xBA, 0x1E, 0x9E, 0x3A, 0xBA }, 6);   /* Caps, a, Caps */
    CHECK(get_key(m, 0x00) == 0x1E41, "Caps Lock+a = 'A'");
    keys(m, (const uint8_t[]){ 0x1D, 0x2E, 0xAE, 0x9D }, 4);     /* Ctrl+c */
    CHECK(get_key(m, 0x00) == 0x2E03, "Ctrl+C = 03h");
    keys(m, (const uint8_t[]){ 0x38, 0x2D, 0xAD, 0xB8 }, 4);     /* Alt+x */
    CHECK(get_key(m, 0x00) == 0x2D00, "Alt+X = 2D00h");
    keys(m, (const uint8_t[]){ 0x38, 0x4F, 0xCF, 0x50, 0xD0, 0x51, 0xD1, 0xB8 }, 8);  /* Alt+1,2,3 keypad */
    CHECK(get_key(m, 0x00) == 123, "Alt+keypad 123 = character 123");
    keys(m, (const uint8_t[]){ 0xE0, 0x48, 0xE0, 0xC8 }, 4);     /* grey Up */
    CHECK(get_key(m, 0x11) == 0x48E0 && get_key(m, 0x10) == 0x48E0, "10h: grey Up = 48E0h");
    keys(m, (const uint8_t[]){ 0xE0, 0x48, 0xE0, 0xC8 }, 4);
    CHECK(get_key(m, 0x00) == 0x4800, "00h: grey Up = 4800h");
    keys(m, (const uint8_t[]){ 0x48, 0xC8 }, 2);                 /* keypad 8 without Num Lock */
    CHECK(get_key(m, 0x10) == 0x4800, "keypad Up = 4800h");
    keys(m, (const uint8_t[]){ 0x45, 0xC5, 0x48, 0xC8 }, 4);     /* Num Lock, keypad 8 */
    CHECK(get_key(m, 0x00) == 0x4838, "Num Lock + keypad 8 = '8'");
    CHECK(rd8(m, 0x417) & 0x20, "Num Lock on in the shift flags");
    keys(m, (const uint8_t[]){ 0x57, 0xD7, 0x1C, 0x9C }, 4);     /* F11, Enter */
    CHECK(get_key(m, 0x00) == 0x1C0D, "00h skips F11 and gives Enter");
    keys(m, (const uint8_t[]){ 0x57, 0xD7 }, 2);
    CHECK(get_key(m, 0x10) == 0x8500, "10h gives F11 = 8500h");
    keys(m, (const uint8_t[]){ 0xE0, 0x1C, 0xE0, 0x9C }, 4);     /* keypad Enter */
    CHECK(get_key(m, 0x10) == 0xE00D, "10h: keypad Enter = E00Dh");
    keys(m, (const uint8_t[]){ 0xE0, 0x1C, 0xE0, 0x9C }, 4);
    CHECK(get_key(m, 0x00) == 0x1C0D, "00h: keypad Enter = 1C0Dh");
    keys(m, (const uint8_t[]){ 0x2A, 0x1D }, 2);
    r = (struct r){ .eax = 0x0200 };
    call_int(m, 0x16, &r);
    CHECK((AL(r) & 0x06) == 0x06, "02h: Shift and Ctrl (%02x)", AL(r));
    keys(m, (const uint8_t[]){ 0xE0, 0x38 }, 2);
    r = (struct r){ .eax = 0x1200 };
    call_int(m, 0x16, &r);
    CHECK((AL(r) & 0x0E) == 0x0E && (AH(r) & 0x09) == 0x09, "12h: left Ctrl, right Alt (%04x)", r.eax & 0xFFFF);
    keys(m, (const uint8_t[]){ 0xAA, 0x9D, 0xE0, 0xB8 }, 4);
    r = (struct r){ .eax = 0x0200 };
    call_int(m, 0x16, &r);
    CHECK(AL(r) == 0x20, "all released, Num Lock stays (%02x)", AL(r));
    r = (struct r){ .eax = 0x0500, .ecx = 0x3B00 };
    call_int(m, 0x16, &r);
    CHECK(AL(r) == 0 && get_key(m, 0x00) == 0x3B00, "05h stores a key");
    /* A full buffer holds 15 keys. */
    int stored = 0;
    for (int k = 0; k < 20; k++) {
        r = (struct r){ .eax = 0x0500, .ecx = 0x1E61 };
        call_int(m, 0x16, &r);
        if (AL(r) == 0) stored++;
    }
    CHECK(stored == 15, "the buffer holds 15 keys (%d)", stored);
    for (int k = 0; k < 15; k++) get_key(m, 0x00);

    /* 00h waits: the CPU halts inside INT 16h until a key comes. */
    r = (struct r){ .eax = 0x0000 };
    call_start(m, 0x16, &r);
    int rc = run_to_halt(m, 1000000);
    CHECK(rc == 0 && !call_done(m), "00h with no key halts in the BIOS");
    kbc_push(m, 0x2C);
    raise_irq(m, 0x09);
    rc = run_to_halt(m, 1000000);
    regs_get(m, &r);
    CHECK(rc == 0 && call_done(m) && (r.eax & 0xFFFF) == 0x2C7A, "and returns the key typed meanwhile (%04x)",
          r.eax & 0xFFFF);
    key_irq(m, 0xAC);

    /* Ctrl-Alt-Del: warm boot flag, reset through the 8042, then POST again. */
    m->e9_len = 0;
    keys(m, (const uint8_t[]){ 0x1D, 0x38 }, 2);
    key_irq(m, 0x53);
    CHECK(m->kbc_reset_pulses == 1, "Ctrl-Alt-Del pulses the reset line");
    CHECK(m->e9_len == 2 && m->e9[0] == 'M', "and the BIOS starts over and boots again");
    tm_free(m);
    memdisk_free(hd);
}

/* ---------------------------------------------------------------------------
 * INT 10h text output and the serial mirror. */

static void test_video(void)
{
    printf("-- INT 10h text, -nographic mirror, serial input\n");
    struct memdisk *hd = memdisk_new(1u << 20, 0);
    make_boot_sector(hd->data, 'M', 1);
    struct tm_config c = { .hd = { &hd->be }, .nographic = 1 };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "boots");
    CHECK(strstr(m->uart_out, "Bubble BIOS\r\n") && strstr(m->uart_out, "Booting from Hard Disk...\r\n"),
          "-nographic: the banner and boot message on COM1 ('%s')", m->uart_out);
    m->uart_out_len = 0;
    memset(m->uart_out, 0, sizeof(m->uart_out));

    struct r r = { .eax = 0x0003 };
    call_int(m, 0x10, &r);
    CHECK(rd8(m, 0xB8000) == ' ' && rd8(m, 0xB8001) == 0x07, "mode 3 clears the screen");
    const char *msg = "Hi\r\n";
    for (const char *p = msg; *p; p++) {
        r = (struct r){ .eax = 0x0E00 | (uint8_t)*p };
        call_int(m, 0x10, &r);
    }
    CHECK(rd8(m, 0xB8000) == 'H' && rd8(m, 0xB8002) == 'i', "teletype writes the text buffer");
    CHECK(m->uart_out_len == 4 && !memcmp(m->uart_out, "Hi\r\n", 4), "and COM1");
    r = (struct r){ .eax = 0x0300 };
    call_int(m, 0x10, &r);
    CHECK((r.edx & 0xFFFF) == 0x0100, "03h: cursor at row 1, column 0 (%04x)", r.edx & 0xFFFF);
    r = (struct r){ .eax = 0x0200, .edx = 0x1805 };
    call_int(m, 0x10, &r);
    r = (struct r){ .eax = 0x0941, .ebx = 0x001E, .ecx = 3 };
    call_int(m, 0x10, &r);
    uint32_t cell = 0xB8000 + (24 * 80 + 5) * 2;
    CHECK(rd8(m, cell) == 'A' && rd8(m, cell + 1) == 0x1E && rd8(m, cell + 4) == 'A' && rd8(m, cell + 6) == ' ',
          "09h writes three attributed characters");
    r = (struct r){ .eax = 0x0800 };
    call_int(m, 0x10, &r);
    CHECK((r.eax & 0xFFFF) == 0x1E41, "08h reads them back (%04x)", r.eax & 0xFFFF);
    /* A line feed on the last row scrolls. */
    r = (struct r){ .eax = 0x0E0A };
    call_int(m, 0x10, &r);
    CHECK(rd8(m, cell - 160) == 'A' && rd8(m, cell) == ' ', "LF on the last row scrolls the screen up");
    r = (struct r){ .eax = 0x0F00 };
    call_int(m, 0x10, &r);
    CHECK(AL(r) == 3 && AH(r) == 80 && ((r.ebx >> 8) & 0xFF) == 0, "0Fh: mode 3, 80 columns, page 0");
    r = (struct r){ .eax = 0x1200, .ebx = 0x0010 };
    call_int(m, 0x10, &r);
    CHECK(((r.ebx >> 8) & 0xFF) == 0 && (r.ebx & 0xFF) == 3, "12h BL=10h: colour, 256 KiB");
    r = (struct r){ .eax = 0x1A00 };
    call_int(m, 0x10, &r);
    CHECK(AL(r) == 0x1A && (r.ebx & 0xFF) == 0x08, "1Ah: VGA colour");
    r = (struct r){ .eax = 0x4F00 };
    call_int(m, 0x10, &r);
    CHECK((r.eax & 0xFFFF) != 0x004F, "no VBE");
    /* 06h: clear a window. */
    r = (struct r){ .eax = 0x0600, .ebx = 0x4F00, .ecx = 0x0000, .edx = 0x0101 };
    call_int(m, 0x10, &r);
    CHECK(rd8(m, 0xB8000) == ' ' && rd8(m, 0xB8001) == 0x4F && rd8(m, 0xB8000 + 160 + 3) == 0x4F, "06h AL=0 clears a window");
    /* 13h: a string with the cursor moved. */
    memory_write(m->mem, 0x2000, "OK", 2);
    r = (struct r){ .eax = 0x1301, .ebx = 0x0007, .ecx = 2, .edx = 0x0A0A, .ebp = 0x2000 };
    call_int(m, 0x10, &r);
    CHECK(rd8(m, 0xB8000 + (10 * 80 + 10) * 2) == 'O' && rd8(m, 0xB8000 + (10 * 80 + 11) * 2) == 'K', "13h writes a string");

    /* Keys typed on the serial console reach INT 16h. */
    const char *typed = "x\r\x1b[A";
    for (const char *p = typed; *p; p++) {
        m->uart_in[m->uart_in_tail] = (uint8_t)*p;
        m->uart_in_tail = (m->uart_in_tail + 1) % 64;
    }
    CHECK(get_key(m, 0x10) == 0x2D78 && get_key(m, 0x10) == 0x1C0D && get_key(m, 0x10) == 0x48E0,
          "serial input: 'x', Enter, Up");
    tm_free(m);
    memdisk_free(hd);
}

/* ---------------------------------------------------------------------------
 * PCI: POST resources, the PCI BIOS (INT 1Ah and the 32-bit entry), $PIR. */

static uint32_t cfg_read(struct tm *m, int devfn, int reg, int size)
{
    io_write(m->io, 0xCF8, 0x80000000u | (uint32_t)devfn << 8 | (reg & 0xFC), 4);
    return io_read(m->io, (uint16_t)(0xCFC + (reg & 3)), size);
}

static void test_pci(void)
{
    printf("-- PCI: enumeration, PCI BIOS, $PIR\n");
    struct memdisk *hd = memdisk_new(1u << 20, 0);
    make_boot_sector(hd->data, 'M', 1);
    struct tm_config c = { .hd = { &hd->be } };
    struct tm *m = tm_new(&c);
    CHECK(tm_boot(m) == 0, "boots");
    uint32_t ide_bar = cfg_read(m, PCI_DEVFN(1, 1), 0x20, 4);
    uint32_t nic_bar = cfg_read(m, PCI_DEVFN(3, 0), 0x10, 4);
    uint32_t nic2_io = cfg_read(m, PCI_DEVFN(5, 0), 0x10, 4), nic2_mem = cfg_read(m, PCI_DEVFN(5, 0), 0x14, 4);
    uint32_t fb = cfg_read(m, PCI_DEVFN(2, 0), 0x10, 4), mmio = cfg_read(m, PCI_DEVFN(2, 0), 0x18, 4);
    uint32_t rom = cfg_read(m, PCI_DEVFN(2, 0), 0x30, 4);
    CHECK((ide_bar & 1) && (ide_bar & ~3u) >= 0xC000 && !((ide_bar & ~3u) & 15), "IDE bus master BAR %08x", ide_bar);
    CHECK((nic_bar & 1) && (nic_bar & ~3u) >= 0xC000 && !((nic_bar & ~3u) & 31), "NIC I/O BAR %08x", nic_bar);
    CHECK((nic2_io & ~3u) >= 0xC000 && !((nic2_io & ~3u) & 63), "NIC 2 I/O BAR %08x", nic2_io);
    uint32_t io[3] = { ide_bar & ~3u, nic_bar & ~3u, nic2_io & ~3u }, iolen[3] = { 16, 32, 64 };
    int overlap = 0;
    for (int a = 0; a < 3; a++)
        for (int b2 = a + 1; b2 < 3; b2++)
            if (io[a] < io[b2] + iolen[b2] && io[b2] < io[a] + iolen[a]) overlap = 1;
    CHECK(!overlap, "I/O BARs do not overlap");
    CHECK(fb >= 0xE0000000u && !(fb & 0xFFFFFF) && (mmio & ~15u) >= 0xE0000000u && !(mmio & 0xFF0) &&
          (nic2_mem & ~15u) >= 0xE0000000u && (nic2_mem & ~15u) != (mmio & ~15u),
          "memory BARs in the PCI hole, aligned (%08x %08x %08x)", fb, mmio, nic2_mem);
    CHECK((rom & ~0x7FFu) >= 0xE0000000u && !(rom & 1) && !((rom & ~0x7FFu) & 0xFFFF), "ROM BAR placed, disabled (%08x)", rom);
    CHECK((cfg_read(m, PCI_DEVFN(3, 0), 4, 2) & 3) == 1 && (cfg_read(m, PCI_DEVFN(5, 0), 4, 2) & 3) == 3 &&
          (cfg_read(m, PCI_DEVFN(2, 0), 4, 2) & 3) == 3 && (cfg_read(m, PCI_DEVFN(1, 1), 4, 2) & 5) == 5,
          "command registers enable what the BARs need");
    /* Slot 3 INTA -> PIRQ (3+1-2)&3 = 2 -> IRQ 11; slot 5 INTB -> (5+2-2)&3 = 1 -> IRQ 10. */
    CHECK(cfg_read(m, PCI_DEVFN(3, 0), 0x3C, 1) == 11 && cfg_read(m, PCI_DEVFN(5, 0), 0x3C, 1) == 10,
          "interrupt lines follow the PIRQ wiring (%u %u)", cfg_read(m, PCI_DEVFN(3, 0), 0x3C, 1),
          cfg_read(m, PCI_DEVFN(5, 0), 0x3C, 1));
    CHECK(cfg_read(m, PCI_DEVFN(1, 0), 0x60, 4) == 0x0B0B0A0Au, "PIIX3 PIRQA-D routed to 10, 10, 11, 11 (%08x)",
          cfg_read(m, PCI_DEVFN(1, 0), 0x60, 4));
    CHECK(cfg_read(m, PCI_DEVFN(1, 1), 0x40, 4) == 0x80008000u, "PIIX3 IDE decode on");

    /* INT 1Ah B1xxh. */
    struct r r = { .eax = 0xB101 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && AH(r) == 0 && (AL(r) & 1) && r.edx == 0x20494350 && (r.ebx & 0xFFFF) == 0x0210 && (r.ecx & 0xFF) == 0,
          "B101h: PCI 2.10, mechanism #1, last bus 0");
    r = (struct r){ .eax = 0xB102, .ecx = 0x7010, .edx = 0x8086, .esi = 0 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && (r.ebx & 0xFFFF) == PCI_DEVFN(1, 1), "B102h finds the IDE function (%04x)", r.ebx & 0xFFFF);
    r = (struct r){ .eax = 0xB102, .ecx = 0x7010, .edx = 0x8086, .esi = 1 };
    call_int(m, 0x1A, &r);
    CHECK(CF(r) && AH(r) == 0x86, "B102h: no second one");
    r = (struct r){ .eax = 0xB102, .ecx = 0x7010, .edx = 0xFFFF };
    call_int(m, 0x1A, &r);
    CHECK(CF(r) && AH(r) == 0x83, "B102h: bad vendor");
    r = (struct r){ .eax = 0xB103, .ecx = 0x020000, .esi = 1 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && (r.ebx & 0xFFFF) == PCI_DEVFN(5, 0), "B103h: the second network controller");
    r = (struct r){ .eax = 0xB10A, .ebx = PCI_DEVFN(3, 0), .edi = 0 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && r.ecx == 0x802910EC, "B10Ah reads a dword (%08x)", r.ecx);
    r = (struct r){ .eax = 0xB109, .ebx = PCI_DEVFN(3, 0), .edi = 2 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && (r.ecx & 0xFFFF) == 0x8029, "B109h reads a word");
    r = (struct r){ .eax = 0xB109, .ebx = PCI_DEVFN(3, 0), .edi = 3 };
    call_int(m, 0x1A, &r);
    CHECK(CF(r) && AH(r) == 0x87, "B109h at an odd register: bad register number");
    r = (struct r){ .eax = 0xB10B, .ebx = PCI_DEVFN(3, 0), .edi = 0x3C, .ecx = 5 };
    call_int(m, 0x1A, &r);
    CHECK(!CF(r) && cfg_read(m, PCI_DEVFN(3, 0), 0x3C, 1) == 5, "B10Bh writes a byte");
    r = (struct r){ .eax = 0xB10E };
    call_int(m, 0x1A, &r);
    CHECK(CF(r) && AH(r) == 0x81, "B10Eh: not supported (the $PIR table says it)");

    /* The ROM's tables. */
    size_t len;
    const uint8_t *img = bios_rom_image(m->bios, &len);
    int pir = -1, b32 = -1;
    for (size_t k = 0; k + 16 <= len; k += 16) {
        if (!memcmp(img + k, "$PIR", 4)) pir = (int)k;
        if (!memcmp(img + k, "_32_", 4)) b32 = (int)k;
    }
    CHECK(pir >= 0 && b32 >= 0, "$PIR and _32_ found on 16-byte boundaries");
    if (pir >= 0) {
        uint16_t size = (uint16_t)(img[pir + 6] | img[pir + 7] << 8);
        uint8_t sum = 0;
        for (int k = 0; k < size; k++) sum = (uint8_t)(sum + img[pir + k]);
        const uint8_t *slot3 = img + pir + 32 + 16 * 2;
        CHECK(sum == 0 && img[pir + 9] == 0x08 && size == 32 + 16 * 31, "$PIR: checksum, router 00:01.0");
        CHECK(slot3[1] == PCI_DEVFN(3, 0) && slot3[2] == 0x62 && slot3[5] == 0x63 && slot3[8] == 0x60,
              "$PIR: slot 3 INTA-C on links 62h, 63h, 60h");
    }
    if (b32 >= 0) {
        uint8_t sum = 0;
        for (int k = 0; k < 16; k++) sum = (uint8_t)(sum + img[b32 + k]);
        CHECK(sum == 0 && img[b32 + 9] == 1, "_32_: checksum, one paragraph");
    }

    /* The 32-bit PCI BIOS, from flat protected mode: BIOS32 directory, then $PCI B101h and B10Ah. */
    if (b32 >= 0) {
        uint32_t entry = (uint32_t)(img[b32 + 4] | img[b32 + 5] << 8 | img[b32 + 6] << 16 | (uint32_t)img[b32 + 7] << 24);
        /* GDT: null, 0x08 code 32 flat, 0x10 data 32 flat. */
        uint8_t gdt[24] = { 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0x9B, 0xCF, 0, 0xFF, 0xFF, 0, 0, 0, 0x93, 0xCF, 0 };
        memory_write(m->mem, 0x3000, gdt, sizeof(gdt));
        cpu_set_gdtr(m->cpu, 0x3000, 23);
        wr32(m, 0x3100, entry);       /* far pointer for CALL FAR [mem]: offset, selector */
        wr16(m, 0x3104, 0x08);
        static const uint8_t code[] = {
            0xB8, 0x24, 0x50, 0x43, 0x49,        /* mov eax, "$PCI" */
            0x31, 0xDB,                          /* xor ebx, ebx */
            0xFF, 0x1D, 0x00, 0x31, 0x00, 0x00,  /* call far [0x3100] */
            0xA3, 0x00, 0x32, 0x00, 0x00,        /* mov [0x3200], eax */
            0x01, 0xD3,                          /* add ebx, edx */
            0x89, 0x1D, 0x08, 0x31, 0x00, 0x00,  /* mov [0x3108], ebx */
            0x66, 0xC7, 0x05, 0x0C, 0x31, 0x00, 0x00, 0x08, 0x00,   /* mov word [0x310C], 8 */
            0xB8, 0x01, 0xB1, 0x00, 0x00,        /* mov eax, 0xB101 */
            0xFF, 0x1D, 0x08, 0x31, 0x00, 0x00,  /* call far [0x3108] */
            0x89, 0x15, 0x04, 0x32, 0x00, 0x00,  /* mov [0x3204], edx */
            0xA3, 0x08, 0x32, 0x00, 0x00,        /* mov [0x3208], eax */
            0xB8, 0x0A, 0xB1, 0x00, 0x00,        /* mov eax, 0xB10A */
            0xBB, 0x18, 0x00, 0x00, 0x00,        /* mov ebx, devfn 3.0 */
            0x31, 0xFF,                          /* xor edi, edi */
            0xFF, 0x1D, 0x08, 0x31, 0x00, 0x00,  /* call far [0x3108] */
            0x89, 0x0D, 0x0C, 0x32, 0x00, 0x00,  /* mov [0x320C], ecx */
            0x9C, 0x58,                          /* pushfd; pop eax */
            0xA3, 0x10, 0x32, 0x00, 0x00,        /* mov [0x3210], eax */
            0xF4,                                /* hlt */
        };
        memory_write(m->mem, 0x3400, code, sizeof(code));
        struct cpu_segment_state cs = { 0x08, 0, 0xFFFFFFFFu, 0xC09B }, ds = { 0x10, 0, 0xFFFFFFFFu, 0xC093 };
        cpu_set_cr(m->cpu, 0, cpu_get_cr(m->cpu, 0) | 1);
        cpu_set_seg(m->cpu, S_CS, &cs);
        cpu_set_seg(m->cpu, S_DS, &ds);
        cpu_set_seg(m->cpu, S_ES, &ds);
        cpu_set_seg(m->cpu, S_SS, &ds);
        cpu_set_reg(m->cpu, R_ESP, 0x9000);
        cpu_set_eip(m->cpu, 0x3400);
        cpu_set_eflags(m->cpu, 0x0002);
        cpu_set_halted(m->cpu, 0);
        int rc = run_to_halt(m, 1000000);
        CHECK(rc == 0 && (rd32(m, 0x3200) & 0xFF) == 0, "BIOS32 finds $PCI (AL=%02x)", rd32(m, 0x3200) & 0xFF);
        CHECK(rd32(m, 0x3204) == 0x20494350 && ((rd32(m, 0x3208) >> 8) & 0xFF) == 0, "32-bit B101h: 'PCI '");
        CHECK(rd32(m, 0x320C) == 0x802910EC && !(rd32(m, 0x3210) & 1), "32-bit B10Ah reads a dword, CF clear");
    }
    tm_free(m);
    memdisk_free(hd);
}

/* ---------------------------------------------------------------------------
 * Option ROMs, the timer tick, the boot hook, El Torito hard disk emulation,
 * stray writes to the trap port. */

static void irq_once(struct tm *m, int vector)
{
    raise_irq(m, vector);
    uint8_t code[] = { 0xFB, 0xF4, 0xFA, 0xF4 };   /* sti; hlt; cli; hlt */
    memory_write(m->mem, 0x700, code, sizeof(code));
    cpu_set_seg_real(m->cpu, S_CS, 0);
    cpu_set_seg_real(m->cpu, S_SS, 0);
    cpu_set_reg(m->cpu, R_ESP, 0x7000);
    cpu_set_eip(m->cpu, 0x700);
    cpu_set_halted(m->cpu, 0);
    run_to_halt(m, 1000000);
}

static int hook_calls;
static int boot_hook(void *opaque)
{
    struct tm **mp = opaque;     /* the machine is made after its config */
    hook_calls++;
    cpu_request_stop((*mp)->cpu);
    return 1;
}

static void make_option_rom(uint8_t *rom, size_t len, char tag, int good_sum)
{
    memset(rom, 0, len);
    rom[0] = 0x55;
    rom[1] = 0xAA;
    rom[2] = (uint8_t)(len / 512);
    const uint8_t code[] = { 0xB0, (uint8_t)tag, 0xE6, 0xE9, 0xCB };   /* mov al, tag; out 0E9h, al; retf */
    memcpy(rom + 3, code, sizeof(code));
    uint8_t sum = 0;
    for (size_t k = 0; k < len; k++) sum = (uint8_t)(sum + rom[k]);
    rom[len - 1] = (uint8_t)(-sum + (good_sum ? 0 : 1));
}

static void test_misc(void)
{
    printf("-- option ROMs, INT 08h, boot hook, hard disk emulation, stray trap writes\n");
    struct memdisk *hd = memdisk_new(1u << 20, 0);
    make_boot_sector(hd->data, 'M', 1);
    struct tm_config c = { .hd = { &hd->be } };
    struct tm *m = tm_new(&c);
    static uint8_t rom1[4096], rom2[2048];
    make_option_rom(rom1, sizeof(rom1), 'R', 1);
    make_option_rom(rom2, sizeof(rom2), 'X', 0);
    memory_map_rom(m->mem, 0xC8000, rom1, sizeof(rom1));
    memory_map_rom(m->mem, 0xD0000, rom2, sizeof(rom2));
    CHECK(tm_boot(m) == 0, "boots");
    CHECK(m->e9_len == 3 && m->e9[0] == 'R' && m->e9[1] == 'M', "the option ROM ran before the boot, the bad one did not (%zu)",
          m->e9_len);

    /* INT 08h: ticks, the user hook INT 1Ch, EOI, midnight. */
    static const uint8_t hook[] = { 0x2E, 0xFE, 0x06, 0x00, 0x09, 0xCF };   /* inc byte cs:[0900h]; iret */
    memory_write(m->mem, 0x800, hook, sizeof(hook));
    wr8(m, 0x900, 0);
    wr32(m, 0x1C * 4, 0x00000800);
    uint32_t t0 = rd32(m, 0x46C);
    int eoi = m->eoi_master;
    for (int k = 0; k < 3; k++) irq_once(m, 0x08);
    CHECK(rd32(m, 0x46C) == t0 + 3, "three ticks counted (%u -> %u)", t0, rd32(m, 0x46C));
    CHECK(rd8(m, 0x900) == 3, "INT 1Ch called each tick");
    CHECK(m->eoi_master == eoi + 3, "each tick acknowledged");
    wr32(m, 0x46C, 0x1800AF);
    wr8(m, 0x470, 0);
    irq_once(m, 0x08);
    CHECK(rd32(m, 0x46C) == 0 && rd8(m, 0x470) == 1, "midnight: the count wraps and the flag is set");

    /* Stray writes to the trap ports do nothing. */
    struct r r = { .eax = 0x0E41 };
    io_write(m->io, 0xE4, 0x12, 1);
    io_write(m->io, 0xE4, 0x12345610, 4);
    call_int(m, 0x10, &r);
    CHECK(call_done(m), "the machine goes on after stray trap writes");
    tm_free(m);

    /* The boot hook (-kernel): the machine takes over, the ROM waits with interrupts off. */
    hook_calls = 0;
    c.boot_hook = boot_hook;
    c.boot_hook_opaque = &m;
    m = tm_new(&c);
    int rc = tm_boot(m);
    CHECK(hook_calls == 1 && m->e9_len == 0, "the boot hook replaces the disk boot");
    if (rc) rc = run_to_halt(m, 1000000);   /* the stop request came first */
    CHECK(rc == 0 && !(cpu_get_eflags(m->cpu) & 0x200), "the ROM halts with interrupts off");
    tm_free(m);
    memdisk_free(hd);

    /* El Torito hard disk emulation: the image's MBR is drive 80h, the real disk 81h. */
    uint32_t img_lba = 24;
    struct memdisk *cd = make_iso(img_lba + 2048 / 4 + 8, 4, 0, 1, img_lba);
    uint8_t *img = cd->data + (uint64_t)img_lba * 2048;
    make_boot_sector(img, 'H', 1);
    uint8_t *pe = img + 0x1BE;
    pe[0] = 0x80; pe[1] = 1; pe[2] = 1; pe[3] = 0; pe[4] = 0x06;
    pe[5] = 3; pe[6] = 0x20 | 0x00; pe[7] = 3;   /* ends at C3 H3 S32: 4 heads, 32 sectors */
    pe[8] = 32; pe[12] = 0x00; pe[13] = 0x02;    /* LBA 32, 512 sectors */
    struct memdisk *hd2 = memdisk_new(1u << 20, 0);
    make_boot_sector(hd2->data, 'M', 1);
    hd2->data[4] = 0x77;
    struct tm_config c2 = { .hd = { &hd2->be }, .cdrom = &cd->be, .boot = "d" };
    m = tm_new(&c2);
    CHECK(tm_boot(m) == 0 && m->e9_len == 2 && m->e9[0] == 'H' && (uint8_t)m->e9[1] == 0x80,
          "the emulated hard disk booted with DL=80h");
    r = (struct r){ .eax = 0x0800, .edx = 0x80 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && ((r.edx >> 8) & 0xFF) == 3 && (r.ecx & 0x3F) == 32 && (r.edx & 0xFF) == 2,
          "08h: its geometry from the partition table, two hard disks (CX %04x DX %04x)", r.ecx & 0xFFFF, r.edx & 0xFFFF);
    r = (struct r){ .eax = 0x0201, .ecx = 0x0001, .edx = 0x0081, .ebx = 0x3000 };
    call_int(m, 0x13, &r);
    CHECK(!CF(r) && rd8(m, 0x3004) == 0x77, "81h is the real disk");
    tm_free(m);
    memdisk_free(cd);
    memdisk_free(hd2);
}

int main(void)
{
    test_post_and_mbr_boot();
    test_boot_order();
    test_cdrom_noemu();
    test_cdrom_floppy_emulation();
    test_int13_hd();
    test_int13_floppy();
    test_int15();
    test_int15_wait();
    test_int1a();
    test_keyboard();
    test_video();
    test_pci();
    test_misc();
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
