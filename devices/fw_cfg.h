/* QEMU's firmware configuration device (fw_cfg), as SeaBIOS finds it on the
 * i440FX: named and numbered blobs the firmware reads to learn about the
 * machine (RAM size, CPUs, boot menu, memory map, boot order...).
 *
 * Guest interface (QEMU docs/specs/fw_cfg.rst), x86 I/O ports:
 *   0x510      selector, 16-bit write: picks an item, data offset back to 0;
 *   0x511      data, 8-bit read: the item's next byte, 0 past its end;
 *   0x514-51B  DMA address, 64-bit big-endian: a write that completes the low
 *              half (offset 4-7) runs the FWCfgDmaAccess at that address;
 *              reads return "QEMU CFG".
 * Items are read-only: data-port writes are ignored (QEMU >= 2.4) and DMA
 * writes fail with the error bit.
 *
 * Keys 0x0000-0x001F are QEMU's numbered items, 0x0020 and up the files of
 * the directory at key 0x0019, 0x8000 and up the x86-specific items. The
 * machine adds the contents (fw_cfg_add_* or fw_cfg_add_pc_items) after
 * fw_cfg_init; every item is a private copy. */
#ifndef BUBBLE_FW_CFG_H
#define BUBBLE_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

struct ioports;
struct memory;

#define FW_CFG_PORT_SEL   0x510
#define FW_CFG_PORT_DATA  0x511
#define FW_CFG_PORT_DMA   0x514          /* 8 ports: high half at 0x514, low half at 0x518 */

/* Selector keys. */
#define FW_CFG_SIGNATURE      0x0000
#define FW_CFG_ID             0x0001
#define FW_CFG_UUID           0x0002
#define FW_CFG_RAM_SIZE       0x0003
#define FW_CFG_NOGRAPHIC      0x0004
#define FW_CFG_NB_CPUS        0x0005
#define FW_CFG_NUMA           0x000D
#define FW_CFG_BOOT_MENU      0x000E
#define FW_CFG_MAX_CPUS       0x000F
#define FW_CFG_FILE_DIR       0x0019
#define FW_CFG_FILE_FIRST     0x0020
#define FW_CFG_WRITE_CHANNEL  0x4000     /* ignored since QEMU 2.4 */
#define FW_CFG_ARCH_LOCAL     0x8000
#define FW_CFG_ACPI_TABLES    0x8000
#define FW_CFG_SMBIOS_ENTRIES 0x8001
#define FW_CFG_IRQ0_OVERRIDE  0x8002
#define FW_CFG_E820_TABLE     0x8003

/* FW_CFG_ID bits. */
#define FW_CFG_VERSION        0x01       /* the traditional port interface */
#define FW_CFG_VERSION_DMA    0x02

/* FWCfgDmaAccess.control bits. */
#define FW_CFG_DMA_CTL_ERROR   0x01
#define FW_CFG_DMA_CTL_READ    0x02
#define FW_CFG_DMA_CTL_SKIP    0x04
#define FW_CFG_DMA_CTL_SELECT  0x08
#define FW_CFG_DMA_CTL_WRITE   0x10

#define FW_CFG_DMA_SIGNATURE   0x51454D5520434647ull   /* "QEMU CFG" */
#define FW_CFG_FILE_NAME_LEN   56                       /* with the NUL */
#define FW_CFG_DIR_ENTRY_LEN   64
#define FW_CFG_MAX_ENTRIES     64
#define FW_CFG_MAX_FILES       32
#define FW_CFG_MAX_ITEM_LEN    (16u << 20)

/* The e820 types in "etc/e820" (20-byte entries: u64 address, u64 length, u32 type, little-endian). */
#define FW_CFG_E820_RAM        1
#define FW_CFG_E820_RESERVED   2

struct fw_cfg_entry {
    uint16_t key;                 /* without the write-channel bit */
    uint32_t len;
    uint8_t *data;                /* owned copy (NULL when len is 0) */
};

struct fw_cfg {
    struct memory *mem;
    int dma_enabled;              /* the DMA ports exist (ID bit 1) */
    struct fw_cfg_entry entry[FW_CFG_MAX_ENTRIES];
    int nentries;
    char file_name[FW_CFG_MAX_FILES][FW_CFG_FILE_NAME_LEN];
    int nfiles;                   /* file k has key FW_CFG_FILE_FIRST + k */
    /* Guest-visible state. */
    uint16_t selector;            /* as written */
    int cur;                      /* index in entry[] of the selected item, -1 for none */
    uint32_t offset;              /* data offset in the selected item */
    uint64_t dma_addr;            /* the DMA address register */
    unsigned logged;              /* odd accesses already reported (FW_CFG_LOG_* bits) */
};

/* Registers the ports (the DMA ports only if `dma`) and adds the signature
 * and ID items. Returns 0, or -1 if a port is taken. */
int fw_cfg_init(struct fw_cfg *f, struct ioports *io, struct memory *mem, int dma);
/* Frees the items (not the struct). */
void fw_cfg_free(struct fw_cfg *f);
/* Machine reset: selector 0, offset 0, DMA address 0; the items stay. */
void fw_cfg_reset(struct fw_cfg *f);

/* Add (or replace) the numbered item `key`; the data is copied. 0 or -1. */
int fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len);
int fw_cfg_add_i16(struct fw_cfg *f, uint16_t key, uint16_t v);   /* little-endian */
int fw_cfg_add_i32(struct fw_cfg *f, uint16_t key, uint32_t v);
int fw_cfg_add_i64(struct fw_cfg *f, uint16_t key, uint64_t v);
/* Add a named file to the directory (a name already there is replaced).
 * Returns its key, or -1 (name too long, too many files, too large). */
int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, uint32_t len);

/* What a QEMU i440FX PC gives SeaBIOS. */
struct fw_cfg_pc_config {
    uint32_t ram_bytes;           /* all below 4 GiB */
    uint16_t cpus;
    int nographic;                /* SeaBIOS then mirrors its console on COM1 (sercon) */
    const char *boot;             /* QEMU's -boot argument, or NULL: menu=on|off,
                                   * splash-time=MS, reboot-timeout=MS, strict=on|off
                                   * (order= and once= are the CMOS's business) */
};
/* Adds the numbered items and the files "etc/e820", "etc/boot-fail-wait",
 * "bootorder" (and "etc/boot-menu-wait" with splash-time). Returns 0, or -1
 * with a message in err (a malformed -boot value). */
int fw_cfg_add_pc_items(struct fw_cfg *f, const struct fw_cfg_pc_config *c, char *err, size_t errlen);

#endif
