/* The BIOS core: the trap port that ROM stubs call, the caller's registers,
 * guest memory and port helpers, POST, and the machine-facing API. */
#include <stdlib.h>
#include <string.h>

#include "bios/bios_internal.h"
#include "cpu/cpu.h"
#include "cpu/ioport.h"
#include "cpu/memory.h"

/* The ROM image compiled in (bios/rom.c). */
extern const uint8_t *bios_embedded_rom(size_t *len);

/* ---------------------------------------------------------------------------
 * Logging. */

void bios_log(struct bios *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bios: ", b->log);
    vfprintf(b->log, fmt, ap);
    fputc('\n', b->log);
    fflush(b->log);
    va_end(ap);
}

void bios_unimpl(struct bios *b, int intno, const struct regs *r)
{
    uint8_t ah = r->a.h;
    uint8_t *bits = b->unimpl_logged[intno & 0xFF];
    if (bits[ah >> 3] & (1u << (ah & 7))) return;
    bits[ah >> 3] |= (uint8_t)(1u << (ah & 7));
    bios_log(b, "INT %02Xh AH=%02Xh (AX=%04X BX=%04X CX=%04X DX=%04X) is not implemented (logged once)",
             intno, ah, r->a.x, r->b.x, r->c.x, r->d.x);
}

/* ---------------------------------------------------------------------------
 * Memory and ports. */

uint8_t phys_r8(struct bios *b, uint32_t a)
{
    uint8_t v;
    memory_read(b->mem, a, &v, 1);
    return v;
}
uint16_t phys_r16(struct bios *b, uint32_t a)
{
    uint8_t v[2];
    memory_read(b->mem, a, v, 2);
    return get16(v);
}
uint32_t phys_r32(struct bios *b, uint32_t a)
{
    uint8_t v[4];
    memory_read(b->mem, a, v, 4);
    return get32(v);
}
void phys_w8(struct bios *b, uint32_t a, uint8_t v) { memory_write(b->mem, a, &v, 1); }
void phys_w16(struct bios *b, uint32_t a, uint16_t v)
{
    uint8_t p[2];
    put16(p, v);
    memory_write(b->mem, a, p, 2);
}
void phys_w32(struct bios *b, uint32_t a, uint32_t v)
{
    uint8_t p[4];
    put32(p, v);
    memory_write(b->mem, a, p, 4);
}

int guest_read(struct bios *b, uint32_t lin, void *buf, uint32_t len)
{
    return cpu_read_linear(b->cpu, lin, buf, len);
}
int guest_write(struct bios *b, uint32_t lin, const void *buf, uint32_t len)
{
    return cpu_write_linear(b->cpu, lin, buf, len);
}

uint8_t inb(struct bios *b, uint16_t port) { return (uint8_t)io_read(b->io, port, 1); }
void outb(struct bios *b, uint16_t port, uint8_t v) { io_write(b->io, port, v, 1); }
uint32_t inl(struct bios *b, uint16_t port) { return io_read(b->io, port, 4); }
void outl(struct bios *b, uint16_t port, uint32_t v) { io_write(b->io, port, v, 4); }

/* Index writes keep bit 7 clear: NMI stays enabled, as after POST on an AT. */
uint8_t cmos_read(struct bios *b, uint8_t index)
{
    outb(b, 0x70, index & 0x7F);
    return inb(b, 0x71);
}
void cmos_write(struct bios *b, uint8_t index, uint8_t v)
{
    outb(b, 0x70, index & 0x7F);
    outb(b, 0x71, v);
}

/* ---------------------------------------------------------------------------
 * The caller's registers. While the trap's OUT runs, the guest's EAX is at
 * SS:(E)SP and, for INT services, the IRET frame follows: IP, CS, FLAGS. */

static uint32_t stack_lin(struct bios *b, uint32_t off)
{
    struct cpu_segment_state ss;
    cpu_get_seg(b->cpu, S_SS, &ss);
    uint32_t esp = cpu_get_reg(b->cpu, R_ESP);
    uint32_t mask = (ss.flags & 0x4000) ? 0xFFFFFFFFu : 0xFFFFu;   /* SS.B: 32-bit stack */
    return ss.base + ((esp + off) & mask);
}

static int has_iret_frame(int svc)
{
    switch (svc) {
    case SVC_INT10: case SVC_INT13: case SVC_INT14: case SVC_INT15: case SVC_INT16:
    case SVC_INT17: case SVC_INT1A: case SVC_WAIT:
        return 1;
    default:
        return 0;
    }
}

static void regs_load(struct bios *b, struct regs *r, int svc)
{
    memset(r, 0, sizeof(*r));
    uint8_t v[4];
    if (guest_read(b, stack_lin(b, 0), v, 4)) memset(v, 0, 4);
    r->a.e = get32(v);
    r->b.e = cpu_get_reg(b->cpu, R_EBX);
    r->c.e = cpu_get_reg(b->cpu, R_ECX);
    r->d.e = cpu_get_reg(b->cpu, R_EDX);
    r->esi = cpu_get_reg(b->cpu, R_ESI);
    r->edi = cpu_get_reg(b->cpu, R_EDI);
    r->ebp = cpu_get_reg(b->cpu, R_EBP);
    struct cpu_segment_state s;
    cpu_get_seg(b->cpu, S_DS, &s);
    r->ds = s.selector;
    cpu_get_seg(b->cpu, S_ES, &s);
    r->es = s.selector;
    if (has_iret_frame(svc)) {
        uint8_t f[2];
        if (guest_read(b, stack_lin(b, 8), f, 2)) memset(f, 0, 2);
        r->flags = get16(f);
    } else {
        r->flags = (uint16_t)cpu_get_eflags(b->cpu);
    }
}

static void regs_store(struct bios *b, const struct regs *old, const struct regs *r, int svc)
{
    uint8_t v[4];
    put32(v, r->a.e);
    guest_write(b, stack_lin(b, 0), v, 4);
    if (r->b.e != old->b.e) cpu_set_reg(b->cpu, R_EBX, r->b.e);
    if (r->c.e != old->c.e) cpu_set_reg(b->cpu, R_ECX, r->c.e);
    if (r->d.e != old->d.e) cpu_set_reg(b->cpu, R_EDX, r->d.e);
    if (r->esi != old->esi) cpu_set_reg(b->cpu, R_ESI, r->esi);
    if (r->edi != old->edi) cpu_set_reg(b->cpu, R_EDI, r->edi);
    if (r->ebp != old->ebp) cpu_set_reg(b->cpu, R_EBP, r->ebp);
    /* Segment results (ES:DI tables, ES:BX...) only ever come from real or V86 mode calls. */
    if (r->ds != old->ds) cpu_set_seg_real(b->cpu, S_DS, r->ds);
    if (r->es != old->es) cpu_set_seg_real(b->cpu, S_ES, r->es);
    uint32_t live = cpu_get_eflags(b->cpu);
    if (has_iret_frame(svc)) {
        uint8_t f[2];
        put16(f, r->flags);
        guest_write(b, stack_lin(b, 8), f, 2);
        live = (live & ~F_CF) | (r->retry ? F_CF : 0);
    } else {
        /* Far-call services (32-bit PCI BIOS) and internal ones return their flags live. */
        live = (live & ~(F_CF | F_ZF)) | (r->flags & (F_CF | F_ZF));
        if (r->retry) live |= F_CF;
    }
    cpu_set_eflags(b->cpu, live);
}

/* ---------------------------------------------------------------------------
 * POST. The ROM has set the IVT; this does the rest that needs no waiting. */

static void pic_init(struct bios *b)
{
    /* ICW1 edge, cascade, ICW4; ICW2 vectors 08h and 70h; ICW3 slave on IRQ 2; ICW4 8086 mode. */
    outb(b, 0x20, 0x11);
    outb(b, 0xA0, 0x11);
    outb(b, 0x21, 0x08);
    outb(b, 0xA1, 0x70);
    outb(b, 0x21, 0x04);
    outb(b, 0xA1, 0x02);
    outb(b, 0x21, 0x01);
    outb(b, 0xA1, 0x01);
    /* Unmasked: timer, keyboard, cascade; RTC (its interrupts stay off until a wait). */
    outb(b, 0x21, 0xF8);
    outb(b, 0xA1, 0xFE);
}

/* 8237 pair: the slave controller's channels 0-3 reach memory through channel 4
 * of the master, which must be in cascade mode and unmasked (as every PC BIOS
 * leaves it); the floppy's channel 2 depends on it. */
static void dma_init(struct bios *b)
{
    outb(b, 0x0D, 0x00);      /* master clear, slave controller */
    outb(b, 0xDA, 0x00);      /* master clear, master controller */
    outb(b, 0xD6, 0xC0);      /* channel 4: cascade mode */
    outb(b, 0xD4, 0x00);      /* unmask channel 4 */
}

static void pit_init(struct bios *b)
{
    outb(b, 0x43, 0x36);      /* channel 0, lobyte/hibyte, mode 3 (square wave), binary */
    outb(b, 0x40, 0x00);      /* count 65536: 1193182 / 65536 = 18.2 Hz */
    outb(b, 0x40, 0x00);
}

static void a20_enable(struct bios *b)
{
    uint8_t v = inb(b, 0x92);
    if (v == 0xFF) return;    /* no port 92h: the gate stays as the machine set it */
    outb(b, 0x92, (uint8_t)((v | 0x02) & ~0x01));   /* bit 0 would reset the CPU */
}

/* Where conventional memory ends and the EBDA starts, and where RAM above
 * 1 MiB ends (the PCI hole starts at 3.5 GiB): fixed by the RAM size. */
static void layout_init(struct bios *b)
{
    uint32_t ram = b->cfg.ram_size;
    uint32_t low_kb = (ram >= 0xA0000 ? 0xA0000 : ram) >> 10;
    b->base_kb = low_kb - 1;                            /* 1 KiB EBDA at the top */
    b->ebda_seg = (uint16_t)(b->base_kb << 6);
    b->ram_top = ram > 0xE0000000u ? 0xE0000000u : ram;
}

static void bda_ebda_init(struct bios *b)
{
    /* Clear the BDA (the IVT is the ROM's). */
    uint8_t zero[256];
    memset(zero, 0, sizeof(zero));
    memory_write(b->mem, BDA, zero, sizeof(zero));

    for (uint32_t k = 0; k < 1024; k += sizeof(zero)) memory_write(b->mem, ebda_addr(b, k), zero, sizeof(zero));
    phys_w8(b, ebda_addr(b, 0), 1);                     /* EBDA size in KiB */
    bda_w16(b, 0x0E, b->ebda_seg);
    bda_w16(b, 0x13, (uint16_t)b->base_kb);

    /* Equipment word (INT 11h): bit 1 x87, bit 2 PS/2 mouse port, bits 4-5 = 10b 80x25 colour.
     * disk_post and serial_post add the drive and port counts. */
    uint16_t equip = 0x0020 | 0x0004;
    if (b->cpu_features & 1) equip |= 0x0002;
    bda_w16(b, 0x10, equip);
    bda_w16(b, 0x72, 0x0000);
}

static void post(struct bios *b, struct regs *r)
{
    b->cpu_features = r->b.e;
    memset(&b->emu, 0, sizeof(b->emu));
    b->serial_esc = 0;
    bda_ebda_init(b);
    pic_init(b);
    dma_init(b);
    pit_init(b);
    a20_enable(b);
    serial_post(b);
    system_post(b);           /* RTC, memory size in CMOS, tick count */
    disk_post(b);             /* drives, BDA counts, CMOS drive types, FDPTs */
    system_cmos_checksum(b);
    pci_post(b);
    kbd_post(b);
    video_post(b);
}

static void post_log(struct bios *b, struct regs *r)
{
    switch (r->a.l) {
    case 1: bios_log(b, "POST: keyboard controller self test failed"); break;
    case 2: bios_log(b, "POST: keyboard reset failed (no keyboard?)"); break;
    case 3: bios_log(b, "POST: no keyboard controller at port 64h"); break;
    default: bios_log(b, "POST: problem %u", r->a.l); break;
    }
}

static void int17(struct bios *b, struct regs *r)
{
    /* No printer ports: every call times out (status bit 0), AH = status. */
    switch (r->a.h) {
    case 0x00: case 0x01: case 0x02:
        r->a.h = 0x01;
        break;
    default:
        bios_unimpl(b, 0x17, r);
        break;
    }
}

static void int18(struct bios *b)
{
    bios_printf(b, "No bootable device.\n");
    bios_log(b, "INT 18h: no bootable device; halted");
}

static const char *svc_name(int svc)
{
    switch (svc) {
    case SVC_POST: return "POST";
    case SVC_BOOTMSG: return "boot message";
    case SVC_KBD: return "INT 09h";
    case SVC_INT10: return "INT 10h";
    case SVC_INT13: return "INT 13h";
    case SVC_INT14: return "INT 14h";
    case SVC_INT15: return "INT 15h";
    case SVC_INT16: return "INT 16h";
    case SVC_INT17: return "INT 17h";
    case SVC_INT18: return "INT 18h";
    case SVC_INT19: return "INT 19h";
    case SVC_INT1A: return "INT 1Ah";
    case SVC_PCI32: return "PCI BIOS (32-bit)";
    case SVC_RTC: return "INT 70h";
    case SVC_WAIT: return "INT 15h wait";
    default: return "?";
    }
}

static void trap_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct bios *b = opaque;
    if (size != 4 || (val & BIOS_TRAP_MASK) != BIOS_TRAP_MAGIC) {
        if (!b->stray_logged) {
            b->stray_logged = 1;
            bios_log(b, "ignored a %d-byte write of %#x to the BIOS trap port %#x (logged once)", size, val, port);
        }
        return;
    }
    int svc = (int)(val & 0xFF);
    struct regs r, old;
    regs_load(b, &r, svc);
    old = r;
    if (b->cfg.trace && svc != SVC_RTC && svc != SVC_WAIT)
        bios_log(b, "%s AX=%04X BX=%04X CX=%04X DX=%04X SI=%04X DI=%04X DS=%04X ES=%04X", svc_name(svc),
                 r.a.x, r.b.x, r.c.x, r.d.x, (unsigned)(r.esi & 0xFFFF), (unsigned)(r.edi & 0xFFFF), r.ds, r.es);
    switch (svc) {
    case SVC_POST: post(b, &r); break;
    case SVC_BOOTMSG: bios_printf(b, "Bubble BIOS\n"); break;
    case SVC_POSTLOG: post_log(b, &r); break;
    case SVC_KBD: kbd_scancode(b, &r); break;
    case SVC_INT10: video_int10(b, &r); break;
    case SVC_INT13: disk_int13(b, &r); break;
    case SVC_INT14: serial_int14(b, &r); break;
    case SVC_INT15: system_int15(b, &r); break;
    case SVC_INT16: kbd_int16(b, &r); break;
    case SVC_INT17: int17(b, &r); break;
    case SVC_INT18: int18(b); break;
    case SVC_INT19: disk_int19(b, &r); break;
    case SVC_INT1A: system_int1a(b, &r); break;
    case SVC_PCI32: pci_bios_call(b, &r); break;
    case SVC_RTC: system_rtc_irq(b, &r); break;
    case SVC_WAIT: system_wait_check(b, &r); break;
    default:
        bios_log(b, "unknown BIOS trap service %#x", svc);
        return;
    }
    if (b->cfg.trace && svc != SVC_RTC && svc != SVC_WAIT && svc != SVC_POST)
        bios_log(b, "  -> AX=%04X BX=%04X CX=%04X DX=%04X CF=%d%s", r.a.x, r.b.x, r.c.x, r.d.x,
                 r.flags & FLAG_CF ? 1 : 0, r.retry ? " (retry)" : "");
    regs_store(b, &old, &r, svc);
}

static uint32_t trap_read(void *opaque, uint16_t port, int size)
{
    (void)opaque;
    (void)port;
    return size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
}

/* ---------------------------------------------------------------------------
 * The ROM image. */

static int read_rom_dir(struct bios *b)
{
    const uint8_t *p = b->rom;
    if (memcmp(p, "$BUBBLE$", 8) || get16(p + 8) != 1) return -1;
    for (int k = 0; k < 5; k++) b->dir.dpt[k + 1] = get16(p + 10 + 2 * k);
    b->dir.config_table = get16(p + 20);
    b->dir.bios32_dir = get16(p + 22);
    b->dir.pir_table = get16(p + 24);
    b->dir.pcibios32_entry = get16(p + 26);
    b->dir.dummy_iret = get16(p + 28);
    if (memcmp(p + b->dir.bios32_dir, "_32_", 4) || memcmp(p + b->dir.pir_table, "$PIR", 4)) return -1;
    return 0;
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    while (len--) s = (uint8_t)(s + *p++);
    return s;
}

static void patch_rom(struct bios *b)
{
    uint8_t *dir32 = b->rom + b->dir.bios32_dir;
    dir32[10] = 0;
    dir32[10] = (uint8_t)-checksum(dir32, 16);
    pci_build_pir(b);
}

struct bios *bios_new(const struct bios_config *cfg)
{
    if (!cfg || !cfg->cpu || !cfg->mem || !cfg->io) {
        fprintf(stderr, "bios: the configuration needs the CPU, memory and ports\n");
        return NULL;
    }
    if (cfg->ram_size < 0x100000u) {
        fprintf(stderr, "bios: at least 1 MiB of RAM is needed (have %u KiB)\n", cfg->ram_size >> 10);
        return NULL;
    }
    size_t len = 0;
    const uint8_t *img = bios_embedded_rom(&len);
    if (!img || len != BIOS_ROM_SIZE) {
        fprintf(stderr, "bios: the BIOS ROM is not built into this binary (%zu bytes; "
                "the Makefile must include bios/bios.mk)\n", len);
        return NULL;
    }
    struct bios *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->iobuf = malloc(IOBUF_SIZE);
    if (!b->iobuf) {
        free(b);
        return NULL;
    }
    b->cfg = *cfg;
    b->cpu = cfg->cpu;
    b->mem = cfg->mem;
    b->io = cfg->io;
    b->log = cfg->log ? cfg->log : stderr;
    memcpy(b->rom, img, BIOS_ROM_SIZE);
    if (read_rom_dir(b)) {
        fprintf(stderr, "bios: the ROM image has no valid directory\n");
        bios_free(b);
        return NULL;
    }
    layout_init(b);
    disk_set_boot_order(b, cfg->boot);
    patch_rom(b);
    static const struct io_handlers trap_h = { trap_read, trap_write, 1 | 2 | 4 };
    if (ioports_register(b->io, BIOS_TRAP_PORT, 4, &trap_h, b)) {
        fprintf(stderr, "bios: the trap port %#x is already taken\n", BIOS_TRAP_PORT);
        bios_free(b);
        return NULL;
    }
    b->trap_registered = 1;
    return b;
}

void bios_free(struct bios *b)
{
    if (!b) return;
    if (b->trap_registered) ioports_unregister(b->io, BIOS_TRAP_PORT, 4);
    if (b->rom_mapped) {
        memory_unmap(b->mem, BIOS_ROM_BASE_LOW);
        memory_unmap(b->mem, BIOS_ROM_BASE_HIGH);
    }
    free(b->iobuf);
    free(b);
}

const uint8_t *bios_rom_image(const struct bios *b, size_t *len)
{
    if (len) *len = BIOS_ROM_SIZE;
    return b->rom;
}

int bios_map_rom(struct bios *b)
{
    if (memory_map_rom(b->mem, BIOS_ROM_BASE_LOW, b->rom, BIOS_ROM_SIZE)) return -1;
    if (memory_map_rom(b->mem, BIOS_ROM_BASE_HIGH, b->rom, BIOS_ROM_SIZE)) {
        memory_unmap(b->mem, BIOS_ROM_BASE_LOW);
        return -1;
    }
    b->rom_mapped = 1;
    return 0;
}

int bios_e820_map(const struct bios *b, struct bios_e820 *out, int max)
{
    return system_e820(b, out, max);
}
