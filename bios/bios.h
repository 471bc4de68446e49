/* Bubble's own BIOS: a small ROM (bios/bios.asm) whose interrupt stubs trap to
 * services written in C (the other C files of bios/) through one I/O port.
 *
 * The machine creates the CPU, memory and ports, fills a struct bios_config
 * and calls bios_new(), which registers the trap ports (BIOS_TRAP_PORT, 0xE4-0xE7:
 * see bios/trap.h) and prepares the ROM image. The machine maps that image
 * (bios_rom_image) so that it ends at 4 GiB and at 1 MiB (0xF0000-0xFFFFF,
 * through the i440FX shadow logic), or calls bios_map_rom() on a machine
 * without one. From then on everything happens when the CPU runs from the
 * reset vector: POST programs the PICs, PIT, CMOS, A20, PCI devices and the
 * keyboard controller through their ports, and INT 19h boots from the boot
 * order. State lives in struct bios; a reset simply runs POST again. */
#ifndef BUBBLE_BIOS_H
#define BUBBLE_BIOS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cpu;
struct memory;
struct ioports;
struct block_backend;
struct bios;

#define BIOS_MAX_HD 4      /* IDE positions: 0 primary master, 1 primary slave, 2 secondary master, 3 secondary slave */
#define BIOS_MAX_FD 2

#define BIOS_ROM_SIZE 0x10000u
#define BIOS_ROM_BASE_LOW  0xF0000u
#define BIOS_ROM_BASE_HIGH 0xFFFF0000u

struct bios_config {
    struct cpu *cpu;
    struct memory *mem;
    struct ioports *io;
    uint32_t ram_size;                 /* bytes of RAM from address 0 (memory_ram_size) */

    /* Disks. Hard disks by IDE position (holes allowed): BIOS drives 0x80, 0x81...
     * in that order. Floppies A: and B: are drives 0x00, 0x01; 1.44 MB, 720 KB
     * and the other standard sizes get their geometry from the image size. */
    struct block_backend *hd[BIOS_MAX_HD];
    struct block_backend *fd[BIOS_MAX_FD];
    struct block_backend *cdrom;       /* 2048-byte sectors; INT 13h drive 0xE0; El Torito boot */
    int cdrom_ide_index;               /* its IDE position for EDD (QEMU's -cdrom: 2) */

    /* QEMU's -boot argument: "cda", "order=dc", "once=d,menu=on"... Letters:
     * a (floppy), c (first hard disk), d (CD-ROM); n (network) is skipped.
     * NULL means "cad". Devices not named are tried afterwards unless strict=on. */
    const char *boot;

    /* -kernel: INT 19h calls this before trying any disk. Nonzero means the
     * machine boots by itself: the ROM then waits with interrupts off (CLI; HLT)
     * and the machine, once cpu_run has returned (the hook should call
     * cpu_request_stop), puts the CPU at the kernel's entry. 0: boot from disks. */
    int (*boot_hook)(void *opaque);
    void *boot_hook_opaque;

    int nographic;                     /* mirror INT 10h text output to COM1 (and read keys from it) */
    FILE *log;                         /* messages: POST problems, unimplemented services (NULL: stderr) */
    int trace;                         /* log every service call (debugging boots) */
};

/* Registers the trap port and prepares the ROM. The config is copied (the
 * backends are not owned). Returns NULL with a message on stderr on failure. */
struct bios *bios_new(const struct bios_config *cfg);
/* Unregisters the trap port; unmaps what bios_map_rom() mapped. */
void bios_free(struct bios *b);

/* The ROM image to map: BIOS_ROM_SIZE bytes, its last byte at 0xFFFFF and at 0xFFFFFFFF. */
const uint8_t *bios_rom_image(const struct bios *b, size_t *len);
/* For machines without the i440FX shadow logic (tests): map the image as ROM
 * at 0xF0000 and at 0xFFFF0000. Returns 0 or -1. */
int bios_map_rom(struct bios *b);

/* The memory map INT 15h E820h reports (for the Linux loader, which fills
 * boot_params with it). Returns the number of entries (at most `max`). */
struct bios_e820 {
    uint64_t addr, size;
    uint32_t type;                     /* 1 RAM, 2 reserved */
};
int bios_e820_map(const struct bios *b, struct bios_e820 *out, int max);

#endif
