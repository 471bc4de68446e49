/* Loading a Linux bzImage by the x86 boot protocol (-kernel/-initrd/-append),
 * without a disk: Documentation/arch/x86/boot.rst, "32-bit boot protocol".
 * The files are read (and checked) when the machine is built; they are copied
 * into guest RAM and the CPU enters the kernel at boot time, after POST. */
#ifndef BUBBLE_LINUXBOOT_H
#define BUBBLE_LINUXBOOT_H

#include <stddef.h>
#include <stdint.h>

struct cpu;
struct memory;

struct e820_entry {
    uint64_t addr, size;
    uint32_t type;       /* 1 RAM, 2 reserved, 3 ACPI, 4 NVS */
};

struct linuxboot {
    uint8_t *kernel;          /* the whole bzImage file */
    size_t kernel_len;
    uint8_t *initrd;
    size_t initrd_len;
    char *cmdline;
    uint16_t protocol;        /* boot protocol version from the header */
    uint32_t setup_len;       /* bytes of real-mode setup (boot sector + setup) */
    uint32_t initrd_max;      /* highest address the initrd may end at */
    uint32_t cmdline_max;
};

/* Read and check the files. Returns 0, or -1 with a message in err. */
int linuxboot_open(struct linuxboot *lb, const char *kernel, const char *initrd, const char *cmdline,
                   char *err, size_t errlen);
void linuxboot_close(struct linuxboot *lb);

/* Copy kernel, initrd, command line and boot_params into RAM and set the CPU at
 * the kernel's 32-bit entry (protected mode, flat segments, ESI = boot_params).
 * `e820` describes the machine's memory map. Returns 0, or -1 with a message. */
int linuxboot_enter(struct linuxboot *lb, struct cpu *cpu, struct memory *mem, uint32_t ram_size,
                    const struct e820_entry *e820, int n_e820, char *err, size_t errlen);

#endif
