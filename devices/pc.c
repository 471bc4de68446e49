/* The PC: wiring of the i440FX/PIIX3 machine (see pc.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bios/bios.h"
#include "devices/pc.h"

/* ---------------------------------------------------------------------------
 * Wiring callbacks. */

static void pc_set_intr(void *opaque, int level)
{
    struct pc *pc = opaque;
    cpu_set_intr(pc->cpu, level);
}

static int pc_intr_ack(void *opaque)
{
    struct pc *pc = opaque;
    return pic_intr_ack(&pc->pic);
}

/* FERR# goes to IRQ 13 on a PC (the legacy x87 error path with CR0.NE = 0). */
static void pc_ferr(void *opaque, int level)
{
    struct pc *pc = opaque;
    pic_set_irq(&pc->pic, 13, level);
}

/* Port F0h: a write clears the x87 error latch, dropping IRQ 13 (and IGNNE#
 * lets waiting x87 instructions through: the CPU models that side). */
static uint32_t pc_fpu_clear_read(void *opaque, uint16_t port, int size)
{
    return 0xFF;
}

static void pc_fpu_clear_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct pc *pc = opaque;
    pic_set_irq(&pc->pic, 13, 0);
}

static void pc_reset_request(void *opaque)
{
    struct pc *pc = opaque;
    pc->reset_pending = 1;
    cpu_request_stop(pc->cpu);
}

static void pc_reset_request_cf9(void *opaque, int hard)
{
    pc_reset_request(opaque);
}

static void pc_kbc_a20(void *opaque, int enabled)
{
    sysctl_set_kbc_a20(opaque, enabled);
}

static void pc_exit_request(void *opaque)
{
    struct pc *pc = opaque;
    pc->exit_requested = 1;
    pc->exit_status = pc->debugexit.status;
    cpu_request_stop(pc->cpu);
}

static uint64_t pc_icount(void *opaque)
{
    return cpu_icount(opaque);
}

/* A device armed a timer earlier than the slice pc_run sized: end the slice. */
static void pc_deadline_moved(void *opaque)
{
    struct pc *pc = opaque;
    cpu_request_stop(pc->cpu);
}

/* ---------------------------------------------------------------------------
 * CMOS contents the BIOS and old operating systems read. */

static int floppy_cmos_type(const struct block_backend *b)
{
    if (!b) return 0;
    switch (b->size) {
    case 368640: return 1;    /* 360 KB 5.25" */
    case 1228800: return 2;   /* 1.2 MB 5.25" */
    case 737280: return 3;    /* 720 KB 3.5" */
    case 1474560: return 4;   /* 1.44 MB 3.5" */
    case 2949120: return 5;   /* 2.88 MB 3.5" */
    default: return 4;
    }
}

static void pc_fill_cmos(struct pc *pc)
{
    struct rtc *r = &pc->rtc;
    uint32_t ram_k = pc->cfg.ram_mb * 1024;
    uint32_t ext_k = ram_k > 1024 ? ram_k - 1024 : 0;
    if (ext_k > 0xFFFF) ext_k = 0xFFFF;
    rtc_nvram_set(r, CMOS_BASE_MEM_LO, 640 & 0xFF);
    rtc_nvram_set(r, CMOS_BASE_MEM_HI, 640 >> 8);
    rtc_nvram_set(r, CMOS_EXT_MEM_LO, (uint8_t)ext_k);
    rtc_nvram_set(r, CMOS_EXT_MEM_HI, (uint8_t)(ext_k >> 8));
    rtc_nvram_set(r, CMOS_EXT_MEM2_LO, (uint8_t)ext_k);
    rtc_nvram_set(r, CMOS_EXT_MEM2_HI, (uint8_t)(ext_k >> 8));
    uint32_t above16 = pc->cfg.ram_mb > 16 ? (pc->cfg.ram_mb - 16) * 16 : 0;   /* 64 KiB units */
    if (above16 > 0xFFFF) above16 = 0xFFFF;
    rtc_nvram_set(r, CMOS_MEM_ABOVE_16M_LO, (uint8_t)above16);
    rtc_nvram_set(r, CMOS_MEM_ABOVE_16M_HI, (uint8_t)(above16 >> 8));

    int fa = floppy_cmos_type(pc->cfg.fd[0]), fb = floppy_cmos_type(pc->cfg.fd[1]);
    rtc_nvram_set(r, CMOS_FLOPPY_TYPES, (uint8_t)(fa << 4 | fb));
    int nfloppies = (fa != 0) + (fb != 0);
    uint8_t equip = 0x02;                      /* x87 present, VGA (bits 4-5 = 0) */
    if (nfloppies) equip |= 0x01 | (uint8_t)((nfloppies - 1) << 6);
    rtc_nvram_set(r, CMOS_EQUIPMENT, equip);
    /* Hard disks 0 and 1: type 47 (user defined) in the extended bytes. */
    uint8_t types = 0;
    if (pc->cfg.hd[0]) { types |= 0xF0; rtc_nvram_set(r, CMOS_DISK0_EXT_TYPE, 47); }
    if (pc->cfg.hd[1]) { types |= 0x0F; rtc_nvram_set(r, CMOS_DISK1_EXT_TYPE, 47); }
    rtc_nvram_set(r, CMOS_DISK_TYPES, types);
    /* Boot order as Bochs and SeaBIOS read it: 0x3D low/high nibble, 0x38 high
     * nibble; 1 floppy, 2 hard disk, 3 CD-ROM. */
    const char *boot = pc->cfg.boot ? pc->cfg.boot : "cad";
    const char *order = strstr(boot, "once=");   /* the first boot's order; kept across resets */
    if (order) boot = order + 5;
    else if ((order = strstr(boot, "order="))) boot = order + 6;
    else if (strchr(boot, '=') && strchr(boot, '=') < boot + strcspn(boot, ","))
        boot = "cad";                            /* only options such as menu=on: QEMU's default order */
    uint8_t dev[3] = { 0, 0, 0 };
    int n = 0;
    for (const char *p = boot; *p && *p != ',' && n < 3; p++)
        dev[n++] = *p == 'a' ? 1 : *p == 'c' ? 2 : *p == 'd' ? 3 : 0;
    rtc_nvram_set(r, 0x3D, (uint8_t)(dev[1] << 4 | dev[0]));
    rtc_nvram_set(r, 0x38, (uint8_t)(dev[2] << 4 | 0x01));
    rtc_nvram_set(r, 0x5F, 0);                 /* CPUs - 1 */
    rtc_update_checksum(r);
}

/* ---------------------------------------------------------------------------
 * Firmware mapping: our BIOS or -bios, ending at 4 GiB, its last 128 KiB (or
 * all of a 64 KiB image) also below 1 MiB through the i440FX shadow logic. */

static int pc_map_firmware(struct pc *pc, const uint8_t *rom, uint32_t len, char *err, size_t errlen)
{
    if (len < 0x10000 || len > 0x40000 || (len & 0xFFFF)) {
        snprintf(err, errlen, "firmware image of %u bytes: expected 64, 128, 192 or 256 KiB", len);
        return -1;
    }
    if (memory_map_rom(pc->mem, (uint32_t)(0x100000000ull - len), rom, len)) {
        snprintf(err, errlen, "cannot map the firmware at the top of 4 GiB");
        return -1;
    }
    uint32_t low = len < 0x20000 ? len : 0x20000;
    ram_shadow_load_rom(&pc->host.shadow, 0x100000 - low, rom + (len - low), low);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Building the machine. */

static int pc_build(struct pc *pc, char *err, size_t errlen)
{
    const struct pc_config *cfg = &pc->cfg;
    uint32_t ram = cfg->ram_mb << 20;

    pc->mem = memory_new(ram);
    pc->io = ioports_new();
    if (!pc->mem || !pc->io) {
        snprintf(err, errlen, "cannot allocate %u MiB of guest RAM", cfg->ram_mb);
        return -1;
    }
    ioports_set_log(pc->io, cfg->log, (cfg->log_mask & LOG_UNIMP) != 0);
    pc->cpu = cpu_new(pc->mem, pc->io);
    if (!pc->cpu) {
        snprintf(err, errlen, "cannot create the CPU");
        return -1;
    }
    cpu_set_log(pc->cpu, cfg->log_mask, cfg->log);

    pc->clock = vclock_new(cfg->deterministic ? VCLOCK_DETERMINISTIC : VCLOCK_REALTIME, pc_icount, pc->cpu);
    if (!pc->clock) {
        snprintf(err, errlen, "cannot create the clock");
        return -1;
    }
    struct cpu_callbacks cb = { .opaque = pc, .intr_ack = pc_intr_ack, .ferr = pc_ferr };
    cpu_set_callbacks(pc->cpu, &cb);
    vclock_set_deadline_listener(pc->clock, pc_deadline_moved, pc);

    int64_t start = cfg->rtc_start;
    if (start < 0) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        start = (int64_t)now + tm.tm_gmtoff;
    }
    if (pic_init(&pc->pic, pc->io, pc_set_intr, pc) ||
        pit_init(&pc->pit, pc->io, pc->clock, pic_irq(&pc->pic, 0)) ||
        rtc_init(&pc->rtc, pc->io, pc->clock, pic_irq(&pc->pic, 8), start) ||
        dma_init(&pc->dma, pc->io, pc->mem) ||
        fdc_init(&pc->fdc, pc->io, pc->clock, &pc->dma, pic_irq(&pc->pic, 6)) ||
        sysctl_init(&pc->sysctl, pc->io, pc->clock, pc->mem, &pc->pit, pc_reset_request, pc) ||
        i8042_init(&pc->kbc, pc->io, pc->mem, pc->clock, pic_irq(&pc->pic, 1), pic_irq(&pc->pic, 12),
                   pc_reset_request, pc) ||
        postcode_init(&pc->post, pc->io, cfg->post_log)) {
        snprintf(err, errlen, "cannot set up the ISA devices (an I/O port is claimed twice)");
        return -1;
    }
    i8042_set_a20_handler(&pc->kbc, pc_kbc_a20, &pc->sysctl);
    static const struct io_handlers fpu_clear = { pc_fpu_clear_read, pc_fpu_clear_write, 1 };
    if (ioports_register(pc->io, 0xF0, 1, &fpu_clear, pc)) {
        snprintf(err, errlen, "port F0h is claimed twice");
        return -1;
    }

    static const uint16_t com_base[2] = { 0x3F8, 0x2F8 };
    static const int com_irq[2] = { 4, 3 };
    for (int k = 0; k < 2; k++) {
        if (!cfg->serial[k]) continue;
        if (uart16550_init(&pc->uart[k], pc->io, com_base[k], pc->clock, pic_irq(&pc->pic, com_irq[k]),
                           cfg->serial[k])) {
            snprintf(err, errlen, "cannot set up COM%d", k + 1);
            return -1;
        }
        pc->uart_present[k] = 1;
    }

    struct irq_line isa_irq[16];
    for (int k = 0; k < 16; k++) isa_irq[k] = pic_irq(&pc->pic, k);
    if (pci_bus_init(&pc->pci, pc->io, pc->mem) ||
        i440fx_init(&pc->host, &pc->pci, pc->mem, ram) ||
        piix3_init(&pc->piix3, &pc->pci, 1, pc->io, pc->mem, pc->clock, isa_irq)) {
        snprintf(err, errlen, "cannot set up the PCI chipset");
        return -1;
    }
    pc->piix3.reset_request = pc_reset_request_cf9;
    pc->piix3.reset_opaque = pc;

    for (int k = 0; k < PC_MAX_HD; k++) {
        if (cfg->hd[k] && ide_attach_disk(&pc->piix3.ide, k / 2, k % 2, cfg->hd[k], 0, 0, 0)) {
            snprintf(err, errlen, "cannot attach disk %d (%s)", k, cfg->hd[k]->name ? cfg->hd[k]->name : "?");
            return -1;
        }
    }
    if (cfg->cdrom || cfg->cdrom_index >= 0) {
        int idx = cfg->cdrom_index >= 0 ? cfg->cdrom_index : 2;
        if (cfg->hd[idx]) {
            snprintf(err, errlen, "the CD-ROM and a hard disk both want IDE position %d", idx);
            return -1;
        }
        if (cfg->cdrom && ide_attach_cdrom(&pc->piix3.ide, idx / 2, idx % 2, cfg->cdrom)) {
            snprintf(err, errlen, "cannot attach the CD-ROM");
            return -1;
        }
    }

    if (cfg->nic_model == 1) {
        if (ne2000_init_pci(&pc->nic, &pc->pci, pc->clock, cfg->nic_mac, cfg->nic_backend)) {
            snprintf(err, errlen, "cannot add the NE2000 to the PCI bus");
            return -1;
        }
        pc->nic_present = 1;
    } else if (cfg->nic_model == 2) {
        if (cfg->nic_irq > 15 || cfg->nic_irq == 2 ||
            ne2000_init_isa(&pc->nic, pc->io, cfg->nic_iobase, pic_irq(&pc->pic, cfg->nic_irq), pc->clock,
                            cfg->nic_mac, cfg->nic_backend)) {
            snprintf(err, errlen, "ne2k_isa at %#x IRQ %u: the ports are taken or the IRQ is invalid",
                     cfg->nic_iobase, cfg->nic_irq);
            return -1;
        }
        pc->nic_present = 1;
    }

    if (cfg->debugcon) debugcon_init(&pc->debugcon, pc->io, 0xE9, cfg->debugcon);
    /* SeaBIOS's debug output: to -debugcon, else dropped without a word. */
    debugcon_init(&pc->debugcon_402, pc->io, 0x402, cfg->debugcon);
    struct fw_cfg_pc_config fc = { .ram_bytes = ram, .cpus = 1, .nographic = cfg->nographic, .boot = cfg->boot };
    if (fw_cfg_init(&pc->fw_cfg, pc->io, pc->mem, 1)) {
        snprintf(err, errlen, "cannot set up fw_cfg (ports 0x510-0x51B taken)");
        return -1;
    }
    if (fw_cfg_add_pc_items(&pc->fw_cfg, &fc, err, errlen)) return -1;
    if (cfg->exit_device &&
        debugexit_init(&pc->debugexit, pc->io, cfg->exit_iobase, cfg->exit_iosize, pc_exit_request, pc)) {
        snprintf(err, errlen, "isa-debug-exit: port %#x is already in use", cfg->exit_iobase);
        return -1;
    }

    for (int k = 0; k < 2; k++) fdc_attach(&pc->fdc, k, cfg->fd[k]);
    pc_fill_cmos(pc);

    /* Firmware. */
    if (cfg->bios_rom) {
        if (pc_map_firmware(pc, cfg->bios_rom, cfg->bios_rom_len, err, errlen)) return -1;
    } else {
        struct bios_config bc;
        memset(&bc, 0, sizeof(bc));
        bc.cpu = pc->cpu;
        bc.mem = pc->mem;
        bc.io = pc->io;
        bc.ram_size = ram;
        for (int k = 0; k < PC_MAX_HD && k < BIOS_MAX_HD; k++) bc.hd[k] = cfg->hd[k];
        bc.fd[0] = cfg->fd[0];
        bc.fd[1] = cfg->fd[1];
        bc.cdrom = cfg->cdrom;
        bc.cdrom_ide_index = cfg->cdrom_index >= 0 ? cfg->cdrom_index : 2;
        bc.boot = cfg->boot;
        bc.nographic = cfg->nographic;
        bc.log = cfg->log;
        bc.boot_hook = cfg->boot_hook;
        bc.boot_hook_opaque = cfg->boot_hook_opaque;
        pc->bios = bios_new(&bc);
        if (!pc->bios) {
            snprintf(err, errlen, "cannot set up the BIOS");
            return -1;
        }
        size_t len;
        const uint8_t *rom = bios_rom_image(pc->bios, &len);
        if (pc_map_firmware(pc, rom, (uint32_t)len, err, errlen)) return -1;
    }
    pc_reset(pc);
    return 0;
}

struct pc *pc_new(const struct pc_config *cfg, char *err, size_t errlen)
{
    struct pc *pc = calloc(1, sizeof(*pc));
    if (!pc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pc->cfg = *cfg;
    if (pc->cfg.ram_mb < 2 || pc->cfg.ram_mb > 3584) {
        snprintf(err, errlen, "-m %u: RAM must be between 2 MiB and 3.5 GiB", pc->cfg.ram_mb);
        free(pc);
        return NULL;
    }
    if (pc_build(pc, err, errlen)) {
        pc_free(pc);
        return NULL;
    }
    return pc;
}

void pc_flush_disks(struct pc *pc)
{
    for (int k = 0; k < PC_MAX_HD; k++)
        if (pc->cfg.hd[k]) blk_flush(pc->cfg.hd[k]);
    for (int k = 0; k < 2; k++)
        if (pc->cfg.fd[k]) blk_flush(pc->cfg.fd[k]);
}

void pc_free(struct pc *pc)
{
    if (!pc) return;
    pc_flush_disks(pc);
    if (pc->bios) bios_free(pc->bios);
    fw_cfg_free(&pc->fw_cfg);
    if (pc->cpu) cpu_free(pc->cpu);
    if (pc->clock) vclock_free(pc->clock);
    if (pc->io) ioports_free(pc->io);
    if (pc->mem) memory_free(pc->mem);
    free(pc);
}

void pc_reset(struct pc *pc)
{
    pc->reset_pending = 0;
    memory_set_a20(pc->mem, 1);
    pic_reset(&pc->pic);
    pit_reset(&pc->pit);
    rtc_reset(&pc->rtc);
    dma_reset(&pc->dma);
    fdc_reset(&pc->fdc);
    i8042_reset(&pc->kbc);
    for (int k = 0; k < 2; k++)
        if (pc->uart_present[k]) uart16550_reset(&pc->uart[k]);
    pci_bus_reset(&pc->pci);
    ide_reset(&pc->piix3.ide);
    if (pc->nic_present) ne2000_reset(&pc->nic);
    fw_cfg_reset(&pc->fw_cfg);
    sysctl_reset(&pc->sysctl);    /* last: it sets PIT channel 2's gate */
    cpu_reset(pc->cpu);
    cpu_set_intr(pc->cpu, 0);
}

enum pc_run_result pc_run(struct pc *pc, int64_t *idle_ns)
{
    vclock_run_timers(pc->clock);
    if (pc->reset_pending) {
        pc_reset(pc);
        return PC_RESET;
    }
    if (pc->exit_requested) return PC_EXIT;

    int64_t now = vclock_ns(pc->clock);
    int64_t deadline = vclock_next_deadline(pc->clock);
    uint64_t budget;
    if (pc->cfg.deterministic) {
        int64_t d = deadline == INT64_MAX ? 1000000 : (deadline - now) / vclock_ns_per_insn(pc->clock);
        budget = d < 1 ? 1 : d > 1000000 ? 1000000 : (uint64_t)d;
    } else {
        /* About a millisecond of guest work, less when a timer is due sooner. */
        int64_t d = deadline == INT64_MAX ? 400000 : (deadline - now) / 3;
        budget = d < 2000 ? 2000 : d > 400000 ? 400000 : (uint64_t)d;
    }

    enum cpu_stop why = cpu_run(pc->cpu, budget);
    switch (why) {
    case CPU_STOP_RESET:
        if (pc->cfg.log_mask & LOG_INT) fprintf(pc->cfg.log ? pc->cfg.log : stderr, "machine reset (triple fault or reset request)\n");
        pc_reset(pc);
        return PC_RESET;
    case CPU_STOP_HALT:
        now = vclock_ns(pc->clock);
        deadline = vclock_next_deadline(pc->clock);
        if (pc->cfg.deterministic) {
            if (deadline != INT64_MAX) {
                vclock_skip_to(pc->clock, deadline);
                return PC_RAN;
            }
            *idle_ns = INT64_MAX;
            return PC_IDLE;
        }
        *idle_ns = deadline == INT64_MAX ? INT64_MAX : deadline - now;
        if (*idle_ns <= 0) return PC_RAN;
        return PC_IDLE;
    case CPU_STOP_REQUEST:
    case CPU_STOP_BUDGET:
        break;
    }
    if (pc->exit_requested) return PC_EXIT;
    if (pc->reset_pending) {
        pc_reset(pc);
        return PC_RESET;
    }
    return PC_RAN;
}
