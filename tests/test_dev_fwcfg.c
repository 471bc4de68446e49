/* QEMU's fw_cfg device (devices/fw_cfg.c) driven through its ports as SeaBIOS
 * drives it: the signature and ID, selection and the data offset, the items a
 * PC gives (RAM size, CPUs, boot menu), the file directory and the files, and
 * the DMA interface (descriptors in guest RAM, select/read/skip, zero fill past
 * an item's end, the error bit, bounds on every guest address and length).
 * Facts from QEMU's docs/specs/fw_cfg.rst. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/fw_cfg.h"

#include "tests/check.h"

#define RAM_BYTES (2u << 20)

static struct ioports *io;
static struct memory *mem;
static struct fw_cfg fw;

static void select_key(uint16_t key) { io_write(io, FW_CFG_PORT_SEL, key, 2); }
static uint8_t data8(void) { return (uint8_t)io_read(io, FW_CFG_PORT_DATA, 1); }

static void read_data(void *buf, uint32_t len)
{
    uint8_t *p = buf;
    for (uint32_t k = 0; k < len; k++) p[k] = data8();
}

static uint64_t read_le(int bytes)
{
    uint64_t v = 0;
    for (int k = 0; k < bytes; k++) v |= (uint64_t)data8() << (8 * k);
    return v;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t bswap32(uint32_t v)
{
    return v >> 24 | (v >> 8 & 0xFF00) | (v << 8 & 0xFF0000) | v << 24;
}

/* A file's key and size from the directory, as SeaBIOS finds them; -1 if absent. */
static int find_file(const char *name, uint32_t *size)
{
    select_key(FW_CFG_FILE_DIR);
    uint8_t c[4];
    read_data(c, 4);
    uint32_t count = be32(c);
    int key = -1;
    for (uint32_t k = 0; k < count; k++) {
        uint8_t e[FW_CFG_DIR_ENTRY_LEN];
        read_data(e, sizeof(e));
        if (key < 0 && !strncmp((const char *)e + 8, name, FW_CFG_FILE_NAME_LEN)) {
            key = e[4] << 8 | e[5];
            if (size) *size = be32(e);
        }
    }
    return key;
}

/* Write a FWCfgDmaAccess at `at` and start it the way SeaBIOS does: one
 * 32-bit write of the big-endian low half at 0x518. Returns the control
 * field the device left. */
static uint32_t dma(uint32_t at, uint32_t control, uint32_t length, uint64_t address)
{
    uint8_t d[16];
    for (int k = 0; k < 4; k++) {
        d[k] = (uint8_t)(control >> (24 - 8 * k));
        d[4 + k] = (uint8_t)(length >> (24 - 8 * k));
    }
    for (int k = 0; k < 8; k++) d[8 + k] = (uint8_t)(address >> (56 - 8 * k));
    memory_write(mem, at, d, sizeof(d));
    io_write(io, FW_CFG_PORT_DMA + 4, bswap32(at), 4);
    uint8_t c[4];
    memory_read(mem, at, c, 4);
    return be32(c);
}

/* ------------------------------------------------------------------------- */

static void test_signature_and_id(void)
{
    char sig[5] = { 0 };
    select_key(FW_CFG_SIGNATURE);
    read_data(sig, 4);
    check(!strcmp(sig, "QEMU"), "key 0 reads \"QEMU\" (got \"%s\")", sig);
    check(data8() == 0 && data8() == 0, "past an item's end the data port reads 0");

    select_key(FW_CFG_SIGNATURE);
    check(data8() == 'Q', "selecting again starts over at offset 0");
    check(io_read(io, FW_CFG_PORT_SEL, 1) == 'E', "a byte read at 0x510 reads data too (one combined register)");

    select_key(FW_CFG_ID);
    uint32_t id = (uint32_t)read_le(4);
    check(id == (FW_CFG_VERSION | FW_CFG_VERSION_DMA), "ID: traditional and DMA interfaces (%#x)", id);
    select_key(FW_CFG_WRITE_CHANNEL | FW_CFG_ID);
    check(read_le(4) == id, "the write-channel bit does not change the selection");

    select_key(0x0123);
    check(data8() == 0 && data8() == 0, "a key with no item reads 0");
    select_key(FW_CFG_ARCH_LOCAL | 0x0123);
    check(data8() == 0, "an arch-local key with no item reads 0");

    select_key(FW_CFG_SIGNATURE);
    io_write(io, FW_CFG_PORT_DATA, 'X', 1);
    check(data8() == 'Q', "data port writes are ignored and do not move the offset");
}

static void test_pc_items(void)
{
    select_key(FW_CFG_RAM_SIZE);
    check(read_le(8) == RAM_BYTES, "RAM size (key 3), little-endian 64-bit");
    select_key(FW_CFG_NB_CPUS);
    check(read_le(2) == 1, "one CPU (key 5)");
    select_key(FW_CFG_MAX_CPUS);
    check(read_le(2) == 1, "at most one CPU (key 0x0F)");
    select_key(FW_CFG_NOGRAPHIC);
    check(read_le(2) == 1, "nographic (key 4): SeaBIOS mirrors its console on COM1");
    select_key(FW_CFG_BOOT_MENU);
    check(read_le(2) == 1, "-boot menu=on (key 0x0E)");
    select_key(FW_CFG_NUMA);
    check(read_le(8) == 0, "no NUMA nodes (key 0x0D)");
    select_key(FW_CFG_ACPI_TABLES);
    check(read_le(2) == 0, "no legacy ACPI tables (key 0x8000): a zero count");
    select_key(FW_CFG_SMBIOS_ENTRIES);
    check(read_le(2) == 0, "no SMBIOS entries (key 0x8001)");
    select_key(FW_CFG_IRQ0_OVERRIDE);
    check(read_le(4) == 0, "no IRQ 0 override without an I/O APIC (key 0x8002)");
}

static void test_file_directory(void)
{
    select_key(FW_CFG_FILE_DIR);
    uint8_t c[4];
    read_data(c, 4);
    uint32_t count = be32(c);
    check(count == 4, "four files in the directory (got %u)", count);
    int keys_ok = 1, names_ok = 1;
    for (uint32_t k = 0; k < count; k++) {
        uint8_t e[FW_CFG_DIR_ENTRY_LEN];
        read_data(e, sizeof(e));
        int key = e[4] << 8 | e[5];
        if (key != (int)(FW_CFG_FILE_FIRST + k)) keys_ok = 0;
        if (!memchr(e + 8, 0, FW_CFG_FILE_NAME_LEN) || !e[8]) names_ok = 0;
    }
    check(keys_ok, "file keys run from 0x20, big-endian");
    check(names_ok, "file names are NUL-terminated within 56 bytes");
    check(data8() == 0, "the directory ends after count entries");

    uint32_t size = 0;
    int key = find_file("etc/e820", &size);
    check(key >= FW_CFG_FILE_FIRST && size == 20, "etc/e820: one 20-byte entry (key %#x, %u bytes)", key, size);
    select_key((uint16_t)key);
    uint64_t addr = read_le(8), len = read_le(8);
    uint32_t type = (uint32_t)read_le(4);
    check(addr == 0 && len == RAM_BYTES && type == FW_CFG_E820_RAM, "etc/e820: RAM from 0, all of it");

    key = find_file("etc/boot-fail-wait", &size);
    select_key((uint16_t)key);
    check(size == 4 && read_le(4) == 3000, "etc/boot-fail-wait: -boot reboot-timeout=3000");
    key = find_file("etc/boot-menu-wait", &size);
    select_key((uint16_t)key);
    check(size == 2 && read_le(2) == 1500, "etc/boot-menu-wait: -boot splash-time=1500");
    key = find_file("bootorder", &size);
    check(key >= FW_CFG_FILE_FIRST && size == 0, "bootorder: present and empty (the order is in CMOS)");
    check(find_file("etc/nothing", NULL) < 0, "no such file");

    /* Replacing a file keeps its key and updates the directory. */
    int before = find_file("bootorder", NULL);
    int again = fw_cfg_add_file(&fw, "bootorder", "HALT", 4);
    check(again == before && find_file("bootorder", &size) == before && size == 4,
          "a file added again keeps its key, the directory shows the new size");
    char name[80];
    memset(name, 'n', sizeof(name));
    name[FW_CFG_FILE_NAME_LEN] = 0;
    check(fw_cfg_add_file(&fw, name, "x", 1) < 0, "a 56-character name does not fit (55 + NUL)");
    name[FW_CFG_FILE_NAME_LEN - 1] = 0;
    int k55 = fw_cfg_add_file(&fw, name, "abc", 3);
    check(k55 >= FW_CFG_FILE_FIRST && find_file(name, &size) == k55 && size == 3, "a 55-character name fits");
}

static void test_dma(void)
{
    check(io_read(io, FW_CFG_PORT_DMA, 4) == 0x554D4551u && io_read(io, FW_CFG_PORT_DMA + 4, 4) == 0x47464320u,
          "the DMA address register reads \"QEMU CFG\" in big-endian order");
    check(io_read(io, FW_CFG_PORT_DMA + 7, 1) == 'G', "byte 7 of the signature");

    uint32_t size;
    int e820 = find_file("etc/e820", &size);
    uint8_t buf[64];

    /* Select + read into RAM. */
    memset(buf, 0xAA, sizeof(buf));
    memory_write(mem, 0x3000, buf, sizeof(buf));
    uint32_t ctl = dma(0x1000, (uint32_t)e820 << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 20, 0x3000);
    memory_read(mem, 0x3000, buf, sizeof(buf));
    uint64_t len;
    memcpy(&len, buf + 8, 8);
    check(ctl == 0, "select+read: control cleared when done (%#x)", ctl);
    check(len == RAM_BYTES && buf[16] == 1 && buf[20] == 0xAA, "select+read: 20 bytes of etc/e820, nothing more");
    check(data8() == 0, "the data offset moved past the bytes read");

    /* Past the end: zeros. */
    memset(buf, 0xAA, sizeof(buf));
    memory_write(mem, 0x3000, buf, sizeof(buf));
    ctl = dma(0x1000, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 16, 0x3000);
    memory_read(mem, 0x3000, buf, sizeof(buf));
    int zeros = 1;
    for (int k = 4; k < 16; k++) zeros &= buf[k] == 0;
    check(ctl == 0 && buf[0] == 3 && zeros && buf[16] == 0xAA, "reading past the end fills zeros");

    /* Skip, then read, then a port read continues where DMA stopped. */
    select_key((uint16_t)e820);
    ctl = dma(0x1000, FW_CFG_DMA_CTL_SKIP, 8, 0);
    check(ctl == 0, "skip without select");
    ctl = dma(0x1000, FW_CFG_DMA_CTL_READ, 4, 0x3100);
    uint32_t lo;
    memory_read(mem, 0x3100, &lo, 4);
    check(ctl == 0 && lo == RAM_BYTES, "skip 8 then read: the length field");
    check(data8() == 0 && data8() == 0 && data8() == 0 && data8() == 0 && data8() == 1,
          "the port continues at the DMA's offset (length high half, then the type)");
    ctl = dma(0x1000, FW_CFG_DMA_CTL_SKIP, 0xFFFFFFFFu, 0);
    check(ctl == 0 && data8() == 0, "a huge skip stops at the item's end");

    /* Zero length; writes are refused. */
    ctl = dma(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 0, 0);
    check(ctl == 0 && data8() == 'Q', "a zero-length read selects and moves nothing");
    memory_write(mem, 0x3200, "ABCD", 4);
    ctl = dma(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 4, 0x3200);
    select_key(FW_CFG_SIGNATURE);
    check(ctl == FW_CFG_DMA_CTL_ERROR && data8() == 'Q', "a DMA write sets the error bit, the item stays");

    /* Bounds: destinations outside RAM are refused whole. */
    memset(buf, 0xAA, sizeof(buf));
    memory_write(mem, RAM_BYTES - 16, buf, 16);
    ctl = dma(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 32, RAM_BYTES - 16);
    memory_read(mem, RAM_BYTES - 16, buf, 16);
    check(ctl == FW_CFG_DMA_CTL_ERROR && buf[0] == 0xAA, "a read running past the end of RAM: error, nothing written");
    ctl = dma(0x1000, FW_CFG_DMA_CTL_READ, 4, 0x100000000ull + 0x3000);
    check(ctl == FW_CFG_DMA_CTL_ERROR, "a destination above 4 GiB: error");
    ctl = dma(0x1000, FW_CFG_DMA_CTL_READ, 0xFFFFFFFFu, 0x3000);
    check(ctl == FW_CFG_DMA_CTL_ERROR, "a 4 GiB length: error");
    ctl = dma(0x1000, FW_CFG_DMA_CTL_READ, 16, 0xFFFFFFFFFFFFFFF8ull);
    check(ctl == FW_CFG_DMA_CTL_ERROR, "an address that wraps: error");
    ctl = dma(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 16, RAM_BYTES - 16);
    memory_read(mem, RAM_BYTES - 16, buf, 16);
    check(ctl == 0 && buf[0] == 'Q' && buf[15] == 0, "the last 16 bytes of RAM are a valid destination");

    /* A descriptor outside RAM is ignored (nowhere to report); nothing breaks. */
    io_write(io, FW_CFG_PORT_DMA + 4, bswap32(RAM_BYTES - 8), 4);
    io_write(io, FW_CFG_PORT_DMA + 4, bswap32(0xFFFFFFF8u), 4);
    check(1, "descriptors straddling the end of RAM or of 4 GiB are ignored");

    /* 64-bit addresses: the high half first; the register is 0 again after an operation. */
    io_write(io, FW_CFG_PORT_DMA, bswap32(1), 4);
    memory_write(mem, 0x3300, "\xAA\xAA", 2);
    uint8_t d[16] = { 0, 0, 0, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x33, 0 };
    memory_write(mem, 0x1000, d, sizeof(d));
    io_write(io, FW_CFG_PORT_DMA + 4, bswap32(0x1000), 4);
    memory_read(mem, 0x3300, buf, 2);
    check(buf[0] == 0xAA, "a descriptor at 4 GiB + 0x1000 is not the one at 0x1000");
    io_write(io, FW_CFG_PORT_DMA + 4, bswap32(0x1000), 4);
    memory_read(mem, 0x3300, buf, 2);
    memory_read(mem, 0x1000, d, 4);
    check(buf[0] == 'Q' && buf[1] == 'E' && be32(d) == 0, "the high half was cleared by the operation: now it runs");

    /* Byte-wide writes: the operation starts with the byte at offset 7. */
    memory_write(mem, 0x1000, (uint8_t[16]){ 0, 1, 0, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 0, 0, 0, 1,
                                             0, 0, 0, 0, 0, 0, 0x34, 0 }, 16);
    memory_write(mem, 0x3400, "\xAA", 1);
    static const uint8_t addr_be[8] = { 0, 0, 0, 0, 0, 0, 0x10, 0x00 };
    for (int k = 0; k < 7; k++) io_write(io, FW_CFG_PORT_DMA + k, addr_be[k], 1);
    memory_read(mem, 0x3400, buf, 1);
    check(buf[0] == 0xAA, "byte writes: nothing before offset 7");
    io_write(io, FW_CFG_PORT_DMA + 7, addr_be[7], 1);
    memory_read(mem, 0x3400, buf, 1);
    check(buf[0] == 3, "byte writes: offset 7 starts it (one byte of the ID)");
}

static void test_reset_and_traditional_only(void)
{
    select_key(FW_CFG_ID);
    (void)data8();
    fw_cfg_reset(&fw);
    check(data8() == 'Q', "reset: the signature selected, offset 0");

    struct ioports *io2 = ioports_new();
    struct fw_cfg plain;
    ioports_set_log(io2, NULL, 0);
    check(fw_cfg_init(&plain, io2, mem, 0) == 0, "a device without DMA");
    io_write(io2, FW_CFG_PORT_SEL, FW_CFG_ID, 2);
    uint32_t id = 0;
    for (int k = 0; k < 4; k++) id |= io_read(io2, FW_CFG_PORT_DATA, 1) << (8 * k);
    check(id == FW_CFG_VERSION, "without DMA the ID has only bit 0");
    check(io_read(io2, FW_CFG_PORT_DMA, 4) == 0xFFFFFFFFu, "without DMA nothing answers at 0x514");
    struct fw_cfg dup;
    check(fw_cfg_init(&dup, io2, mem, 0) < 0, "the ports cannot be claimed twice");
    fw_cfg_free(&dup);
    fw_cfg_free(&plain);
    ioports_free(io2);
}

static void test_boot_option_errors(void)
{
    struct ioports *io2 = ioports_new();
    struct fw_cfg f;
    char err[128] = "";
    fw_cfg_init(&f, io2, mem, 1);
    struct fw_cfg_pc_config c = { RAM_BYTES, 1, 0, "order=cd,menu=maybe" };
    check(fw_cfg_add_pc_items(&f, &c, err, sizeof(err)) < 0 && strstr(err, "menu=maybe"),
          "-boot menu=maybe is refused with a message (%s)", err);
    c.boot = "d,reboot-timeout=70000";
    check(fw_cfg_add_pc_items(&f, &c, err, sizeof(err)) < 0, "reboot-timeout above 0xFFFF is refused");
    c.boot = "c,strict=on,once=d,splash=x.jpg";
    check(fw_cfg_add_pc_items(&f, &c, err, sizeof(err)) == 0, "order, once and splash are not fw_cfg's business");
    io_write(io2, FW_CFG_PORT_SEL, FW_CFG_NOGRAPHIC, 2);
    check(io_read(io2, FW_CFG_PORT_DATA, 1) == 0, "nographic 0 with a display");
    fw_cfg_free(&f);
    ioports_free(io2);
}

int main(void)
{
    io = ioports_new();
    mem = memory_new(RAM_BYTES);
    if (!io || !mem) {
        printf("out of memory\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    ioports_set_log(io, stdout, 1);
    char err[128] = "";
    struct fw_cfg_pc_config pcc = { RAM_BYTES, 1, 1, "order=c,menu=on,splash-time=1500,reboot-timeout=3000" };
    if (fw_cfg_init(&fw, io, mem, 1) || fw_cfg_add_pc_items(&fw, &pcc, err, sizeof(err))) {
        printf("setup failed: %s\nRESULT: 0 passed, 1 failed\n", err);
        return 1;
    }
    test_signature_and_id();
    test_pc_items();
    test_file_directory();
    test_dma();
    test_reset_and_traditional_only();
    test_boot_option_errors();
    fw_cfg_free(&fw);
    memory_free(mem);
    ioports_free(io);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
