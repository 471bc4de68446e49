/* The PC: an i440FX/PIIX3 machine with its ISA devices, built around the CPU.
 * The front end fills a struct pc_config (host backends already opened),
 * creates the machine and calls pc_run in its main loop. */
#ifndef BUBBLE_PC_H
#define BUBBLE_PC_H

#include <stdint.h>
#include <stdio.h>

#include "cpu/cpu.h"
#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/clock.h"
#include "devices/debugport.h"
#include "devices/dma8237.h"
#include "devices/fdc82077.h"
#include "devices/fw_cfg.h"
#include "devices/hostif.h"
#include "devices/i440fx.h"
#include "devices/i8042.h"
#include "devices/mc146818.h"
#include "devices/ne2000.h"
#include "devices/pci.h"
#include "devices/pic8259.h"
#include "devices/piix3.h"
#include "devices/pit8254.h"
#include "devices/postcode.h"
#include "devices/sysctl.h"
#include "devices/uart16550.h"

struct bios;
struct linuxboot;

#define PC_MAX_HD 4

struct pc_config {
    uint32_t ram_mb;
    const uint8_t *bios_rom;      /* -bios: another firmware image (64-256 KiB), or NULL for ours */
    uint32_t bios_rom_len;
    /* Disks by IDE position: 0 primary master, 1 primary slave, 2 secondary master, 3 secondary slave. */
    struct block_backend *hd[PC_MAX_HD];
    struct block_backend *cdrom;  /* at IDE position `cdrom_index` (QEMU's -cdrom: 2) */
    int cdrom_index;
    struct block_backend *fd[2];
    const char *boot;             /* QEMU's -boot argument, or NULL */
    struct char_backend *serial[2];
    /* -kernel: our BIOS's INT 19h calls this after POST instead of booting a disk;
     * nonzero means the host enters the kernel itself (the hook stops the CPU). */
    int (*boot_hook)(void *opaque);
    void *boot_hook_opaque;
    /* Network card: 0 none, 1 NE2000 PCI (RTL8029AS), 2 NE2000 ISA. */
    int nic_model;
    uint8_t nic_mac[6];
    uint16_t nic_iobase;          /* ISA */
    uint8_t nic_irq;              /* ISA */
    struct net_backend *nic_backend;   /* NULL: a card with no cable */
    FILE *debugcon;               /* -debugcon: port 0xE9 output, or NULL */
    FILE *post_log;               /* -d post: POST codes, or NULL */
    int exit_device;              /* -device isa-debug-exit */
    uint16_t exit_iobase, exit_iosize;
    int nographic;
    int deterministic;            /* time from instructions (tests) instead of the host clock */
    int64_t rtc_start;            /* seconds since 1970 in guest local time; -1: the host's */
    unsigned log_mask;            /* -d */
    FILE *log;                    /* -D */
};

struct pc {
    struct pc_config cfg;
    struct memory *mem;
    struct ioports *io;
    struct cpu *cpu;
    struct vclock *clock;
    struct pic pic;
    struct pit pit;
    struct rtc rtc;
    struct dma dma;
    struct fdc fdc;
    struct sysctl sysctl;
    struct i8042 kbc;
    struct uart16550 uart[2];
    int uart_present[2];
    struct pci_bus pci;
    struct i440fx host;
    struct piix3 piix3;
    struct ne2000 nic;
    int nic_present;
    struct postcode post;
    struct debugcon debugcon;
    struct debugcon debugcon_402; /* SeaBIOS's debug port (QEMU's isa-debugcon at 0x402) */
    struct fw_cfg fw_cfg;
    struct debugexit debugexit;
    struct bios *bios;
    int reset_pending;
    int exit_requested;
    int exit_status;
};

enum pc_run_result {
    PC_RAN,         /* ran a slice: call again */
    PC_IDLE,        /* the CPU is halted: nothing to do for *idle_ns (INT64_MAX: until a host event) */
    PC_EXIT,        /* the guest asked to exit (isa-debug-exit): pc->exit_status */
    PC_RESET,       /* the machine was reset (triple fault, reset request) */
};

/* Builds the machine. Returns NULL with a message in err. */
struct pc *pc_new(const struct pc_config *cfg, char *err, size_t errlen);
/* Flushes every disk and frees everything (not the backends the config gave). */
void pc_free(struct pc *pc);
/* Machine reset (the reset button, a triple fault, port 0xCF9/92h/0x64). */
void pc_reset(struct pc *pc);
/* Runs the CPU for a slice of virtual time, with the timers due. */
enum pc_run_result pc_run(struct pc *pc, int64_t *idle_ns);
/* Flush every writable disk (the guest's data reaches the files). */
void pc_flush_disks(struct pc *pc);

#endif
