/* QEMU firmware configuration device (see fw_cfg.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/fw_cfg.h"

/* Odd guest accesses, each reported once. */
#define FW_CFG_LOG_DATA_WRITE   0x01
#define FW_CFG_LOG_WIDE_ACCESS  0x02
#define FW_CFG_LOG_DMA_DESC     0x04
#define FW_CFG_LOG_DMA_RANGE    0x08
#define FW_CFG_LOG_DMA_WRITE    0x10

static void log_once(struct fw_cfg *f, unsigned kind, const char *what, uint64_t val)
{
    if (f->logged & kind) return;
    f->logged |= kind;
    fprintf(stderr, "fw_cfg: %s %#llx (logged once)\n", what, (unsigned long long)val);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (24 - 8 * k));
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int k = 0; k < bytes; k++) p[k] = (uint8_t)(v >> (8 * k));
}

/* ---------------------------------------------------------------------------
 * Items. */

/* The write-channel bit does not take part in the selection (QEMU >= 2.4). */
static uint16_t entry_key(uint16_t selector)
{
    return selector & (uint16_t)~FW_CFG_WRITE_CHANNEL;
}

static int find_entry(const struct fw_cfg *f, uint16_t key)
{
    for (int k = 0; k < f->nentries; k++)
        if (f->entry[k].key == key) return k;
    return -1;
}

int fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len)
{
    key = entry_key(key);
    if (len > FW_CFG_MAX_ITEM_LEN) return -1;
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy) return -1;
        memcpy(copy, data, len);
    }
    int k = find_entry(f, key);
    if (k < 0) {
        if (f->nentries == FW_CFG_MAX_ENTRIES) {
            free(copy);
            return -1;
        }
        k = f->nentries++;
    } else {
        free(f->entry[k].data);
    }
    f->entry[k].key = key;
    f->entry[k].len = len;
    f->entry[k].data = copy;
    /* The selected item may have moved or changed size. */
    f->cur = find_entry(f, entry_key(f->selector));
    if (f->cur >= 0 && f->offset > f->entry[f->cur].len) f->offset = f->entry[f->cur].len;
    return 0;
}

int fw_cfg_add_i16(struct fw_cfg *f, uint16_t key, uint16_t v)
{
    uint8_t b[2];
    put_le(b, v, 2);
    return fw_cfg_add_bytes(f, key, b, 2);
}

int fw_cfg_add_i32(struct fw_cfg *f, uint16_t key, uint32_t v)
{
    uint8_t b[4];
    put_le(b, v, 4);
    return fw_cfg_add_bytes(f, key, b, 4);
}

int fw_cfg_add_i64(struct fw_cfg *f, uint16_t key, uint64_t v)
{
    uint8_t b[8];
    put_le(b, v, 8);
    return fw_cfg_add_bytes(f, key, b, 8);
}

/* The directory (key 0x19): a big-endian count, then per file its size and
 * key (big-endian), two reserved bytes and the NUL-terminated name. */
static int rebuild_file_dir(struct fw_cfg *f)
{
    uint32_t len = 4 + FW_CFG_DIR_ENTRY_LEN * (uint32_t)f->nfiles;
    uint8_t *dir = calloc(1, len);
    if (!dir) return -1;
    put_be32(dir, (uint32_t)f->nfiles);
    for (int k = 0; k < f->nfiles; k++) {
        uint8_t *e = dir + 4 + FW_CFG_DIR_ENTRY_LEN * k;
        uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + k);
        int idx = find_entry(f, key);
        put_be32(e, idx >= 0 ? f->entry[idx].len : 0);
        put_be16(e + 4, key);
        memcpy(e + 8, f->file_name[k], FW_CFG_FILE_NAME_LEN);
    }
    int rc = fw_cfg_add_bytes(f, FW_CFG_FILE_DIR, dir, len);
    free(dir);
    return rc;
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, uint32_t len)
{
    size_t n = strlen(name);
    if (n == 0 || n >= FW_CFG_FILE_NAME_LEN) return -1;
    int k;
    for (k = 0; k < f->nfiles; k++)
        if (!strcmp(f->file_name[k], name)) break;
    if (k == FW_CFG_MAX_FILES) return -1;
    uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + k);
    if (fw_cfg_add_bytes(f, key, data, len)) return -1;
    if (k == f->nfiles) {
        memset(f->file_name[k], 0, FW_CFG_FILE_NAME_LEN);
        memcpy(f->file_name[k], name, n);
        f->nfiles++;
    }
    return rebuild_file_dir(f) ? -1 : key;
}

/* ---------------------------------------------------------------------------
 * The port interface. */

static void select_item(struct fw_cfg *f, uint16_t selector)
{
    f->selector = selector;
    f->cur = find_entry(f, entry_key(selector));
    f->offset = 0;
}

/* The selected item's next byte; 0 past its end or with no item (fw_cfg.rst, Data Register). */
static uint8_t read_data_byte(struct fw_cfg *f)
{
    if (f->cur < 0) return 0;
    const struct fw_cfg_entry *e = &f->entry[f->cur];
    if (f->offset >= e->len) return 0;
    return e->data[f->offset++];
}

/* 0x510-0x511 decode as one register, as on QEMU: a 16-bit write at 0x510
 * selects, byte writes are data writes (ignored), byte reads read data. */
static uint32_t ctl_read(void *opaque, uint16_t port, int size)
{
    struct fw_cfg *f = opaque;
    if (size != 1) log_once(f, FW_CFG_LOG_WIDE_ACCESS, "wide read of the selector/data ports, port", port);
    uint32_t v = 0;
    for (int k = 0; k < size; k++) v |= (uint32_t)read_data_byte(f) << (8 * k);
    return v;
}

static void ctl_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct fw_cfg *f = opaque;
    if (size == 2 && port == FW_CFG_PORT_SEL) {
        select_item(f, (uint16_t)val);
        return;
    }
    if (size == 1) {
        log_once(f, FW_CFG_LOG_DATA_WRITE, "data port write ignored (read-only since QEMU 2.4), value", val);
        return;
    }
    log_once(f, FW_CFG_LOG_WIDE_ACCESS, "odd write to the selector/data ports, port", port);
}

/* ---------------------------------------------------------------------------
 * The DMA interface. */

static int ram_range_ok(const struct fw_cfg *f, uint64_t addr, uint64_t len)
{
    uint64_t ram = memory_ram_size(f->mem);
    return addr <= ram && len <= ram - addr;
}

/* `length` bytes of the selected item from the data offset to guest RAM;
 * past the item's end the guest gets zeros. Returns 0, or -1 (error bit). */
static int dma_read(struct fw_cfg *f, uint64_t address, uint32_t length)
{
    static const uint8_t zeros[4096];
    if (!ram_range_ok(f, address, length)) {
        log_once(f, FW_CFG_LOG_DMA_RANGE, "DMA read outside guest RAM, address", address);
        return -1;
    }
    uint32_t dst = (uint32_t)address, left = length;
    if (f->cur >= 0) {
        const struct fw_cfg_entry *e = &f->entry[f->cur];
        uint32_t avail = f->offset < e->len ? e->len - f->offset : 0;
        uint32_t n = left < avail ? left : avail;
        if (n) memory_write(f->mem, dst, e->data + f->offset, n);
        f->offset += n;
        dst += n;
        left -= n;
    }
    while (left) {
        uint32_t n = left < sizeof(zeros) ? left : (uint32_t)sizeof(zeros);
        memory_write(f->mem, dst, zeros, n);
        dst += n;
        left -= n;
    }
    return 0;
}

static void dma_skip(struct fw_cfg *f, uint32_t length)
{
    if (f->cur < 0) return;
    uint32_t len = f->entry[f->cur].len;
    f->offset = length >= len - f->offset ? len : f->offset + length;
}

/* Runs the FWCfgDmaAccess at `desc` (big-endian control, length, address),
 * then writes its control field back: 0, or the error bit (fw_cfg.rst,
 * Guest-side DMA Interface). Operations complete at once. */
static void dma_run(struct fw_cfg *f, uint64_t desc)
{
    if (!ram_range_ok(f, desc, 16)) {
        log_once(f, FW_CFG_LOG_DMA_DESC, "DMA descriptor outside guest RAM, address", desc);
        return;
    }
    uint8_t d[16];
    memory_read(f->mem, (uint32_t)desc, d, sizeof(d));
    uint32_t control = get_be32(d), length = get_be32(d + 4);
    uint64_t address = get_be64(d + 8);
    int error = 0;
    if (control & FW_CFG_DMA_CTL_SELECT) select_item(f, (uint16_t)(control >> 16));
    if (control & FW_CFG_DMA_CTL_READ) {
        error = dma_read(f, address, length) != 0;
    } else if (control & FW_CFG_DMA_CTL_WRITE) {
        log_once(f, FW_CFG_LOG_DMA_WRITE, "DMA write to a read-only item, selector", f->selector);
        error = 1;
    } else if (control & FW_CFG_DMA_CTL_SKIP) {
        dma_skip(f, length);
    }
    uint8_t status[4];
    put_be32(status, error ? FW_CFG_DMA_CTL_ERROR : 0);
    memory_write(f->mem, (uint32_t)desc, status, sizeof(status));
}

/* The address register reads as the signature, byte k at offset k. */
static uint32_t dma_port_read(void *opaque, uint16_t port, int size)
{
    unsigned off = (unsigned)(port - FW_CFG_PORT_DMA);
    uint32_t v = 0;
    for (int k = 0; k < size && off + (unsigned)k < 8; k++)
        v |= (uint32_t)((FW_CFG_DMA_SIGNATURE >> (8 * (7 - (off + (unsigned)k)))) & 0xFF) << (8 * k);
    return v;
}

/* Byte k of the access lands at offset off+k of the big-endian register; the
 * write that fills offset 7 (the low half) starts the operation, after which
 * the register reads back 0. */
static void dma_port_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct fw_cfg *f = opaque;
    unsigned off = (unsigned)(port - FW_CFG_PORT_DMA);
    for (int k = 0; k < size && off + (unsigned)k < 8; k++) {
        unsigned shift = 8 * (7 - (off + (unsigned)k));
        f->dma_addr = (f->dma_addr & ~(0xFFull << shift)) | (uint64_t)((val >> (8 * k)) & 0xFF) << shift;
    }
    if (off + (unsigned)size < 8) return;
    uint64_t desc = f->dma_addr;
    f->dma_addr = 0;
    dma_run(f, desc);
}

/* ---------------------------------------------------------------------------
 * Life cycle. */

int fw_cfg_init(struct fw_cfg *f, struct ioports *io, struct memory *mem, int dma)
{
    static const struct io_handlers ctl_h = { ctl_read, ctl_write, 1 | 2 };
    static const struct io_handlers dma_h = { dma_port_read, dma_port_write, 1 | 2 | 4 };
    memset(f, 0, sizeof(*f));
    f->mem = mem;
    f->dma_enabled = dma != 0;
    f->cur = -1;
    if (ioports_register(io, FW_CFG_PORT_SEL, 2, &ctl_h, f)) return -1;
    if (dma && ioports_register(io, FW_CFG_PORT_DMA, 8, &dma_h, f)) return -1;
    if (fw_cfg_add_bytes(f, FW_CFG_SIGNATURE, "QEMU", 4) ||
        fw_cfg_add_i32(f, FW_CFG_ID, FW_CFG_VERSION | (dma ? FW_CFG_VERSION_DMA : 0)) ||
        rebuild_file_dir(f))
        return -1;
    fw_cfg_reset(f);
    return 0;
}

void fw_cfg_free(struct fw_cfg *f)
{
    for (int k = 0; k < f->nentries; k++) {
        free(f->entry[k].data);
        f->entry[k].data = NULL;
    }
    f->nentries = 0;
    f->nfiles = 0;
    f->cur = -1;
}

void fw_cfg_reset(struct fw_cfg *f)
{
    select_item(f, FW_CFG_SIGNATURE);
    f->dma_addr = 0;
}

/* ---------------------------------------------------------------------------
 * The PC's contents. */

struct boot_options {
    int menu;                     /* 0 or 1 */
    long splash_time;             /* ms, -1: not given */
    long reboot_timeout;          /* ms, -1: wait forever after a boot failure */
    int strict;
};

static int parse_on_off(const char *v, size_t n, int *out)
{
    if (n == 2 && !strncmp(v, "on", 2)) *out = 1;
    else if (n == 3 && !strncmp(v, "off", 3)) *out = 0;
    else return -1;
    return 0;
}

static int parse_ms(const char *v, size_t n, long min, long *out)
{
    char buf[16];
    if (n == 0 || n >= sizeof(buf)) return -1;
    memcpy(buf, v, n);
    buf[n] = 0;
    char *end;
    long x = strtol(buf, &end, 10);
    if (*end || x < min || x > 0xFFFF) return -1;
    *out = x;
    return 0;
}

/* QEMU's -boot: [order=]DRIVES,once=,menu=,splash=,splash-time=,reboot-timeout=,strict=. */
static int parse_boot(const char *s, struct boot_options *b, char *err, size_t errlen)
{
    b->menu = 0;
    b->splash_time = -1;
    b->reboot_timeout = -1;
    b->strict = 0;
    if (!s) return 0;
    for (const char *p = s; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq) {
            size_t klen = (size_t)(eq - p), vlen = n - klen - 1;
            const char *v = eq + 1;
            int rc = 0;
            if (klen == 4 && !strncmp(p, "menu", 4)) rc = parse_on_off(v, vlen, &b->menu);
            else if (klen == 6 && !strncmp(p, "strict", 6)) rc = parse_on_off(v, vlen, &b->strict);
            else if (klen == 11 && !strncmp(p, "splash-time", 11)) rc = parse_ms(v, vlen, 0, &b->splash_time);
            else if (klen == 14 && !strncmp(p, "reboot-timeout", 14)) rc = parse_ms(v, vlen, -1, &b->reboot_timeout);
            if (rc) {
                snprintf(err, errlen, "-boot %s: bad value in '%.*s'", s, (int)n, p);
                return -1;
            }
        }
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

int fw_cfg_add_pc_items(struct fw_cfg *f, const struct fw_cfg_pc_config *c, char *err, size_t errlen)
{
    struct boot_options b;
    if (parse_boot(c->boot, &b, err, errlen)) return -1;

    static const uint8_t uuid[16];
    uint16_t cpus = c->cpus ? c->cpus : 1;
    /* NUMA: no nodes; then one (zero) node number per possible CPU, which
     * SeaBIOS reads as "etc/numa-cpu-map". */
    uint8_t numa[8 + 8 * 16];
    memset(numa, 0, sizeof(numa));
    uint32_t numa_len = 8 + 8 * (uint32_t)(cpus < 16 ? cpus : 16);
    uint16_t none = 0;
    int rc = fw_cfg_add_bytes(f, FW_CFG_UUID, uuid, sizeof(uuid)) |
             fw_cfg_add_i64(f, FW_CFG_RAM_SIZE, c->ram_bytes) |
             fw_cfg_add_i16(f, FW_CFG_NOGRAPHIC, c->nographic ? 1 : 0) |
             fw_cfg_add_i16(f, FW_CFG_NB_CPUS, cpus) |
             fw_cfg_add_i16(f, FW_CFG_MAX_CPUS, cpus) |
             fw_cfg_add_bytes(f, FW_CFG_NUMA, numa, numa_len) |
             fw_cfg_add_i16(f, FW_CFG_BOOT_MENU, (uint16_t)b.menu) |
             fw_cfg_add_bytes(f, FW_CFG_ACPI_TABLES, &none, 2) |      /* no tables: a zero count */
             fw_cfg_add_bytes(f, FW_CFG_SMBIOS_ENTRIES, &none, 2) |
             /* No I/O APIC on this board: ISA IRQ 0 is not rerouted to pin 2. */
             fw_cfg_add_i32(f, FW_CFG_IRQ0_OVERRIDE, 0);

    /* The memory map: the RAM, all below 4 GiB (SeaBIOS adds its own reservations). */
    uint8_t e820[20];
    put_le(e820, 0, 8);
    put_le(e820 + 8, c->ram_bytes, 8);
    put_le(e820 + 16, FW_CFG_E820_RAM, 4);
    rc |= fw_cfg_add_file(f, "etc/e820", e820, sizeof(e820)) < 0;

    uint8_t wait[4];
    put_le(wait, (uint32_t)b.reboot_timeout, 4);      /* -1: 0xFFFFFFFF, no retry */
    rc |= fw_cfg_add_file(f, "etc/boot-fail-wait", wait, sizeof(wait)) < 0;
    if (b.splash_time >= 0) {
        uint8_t menu_wait[2];
        put_le(menu_wait, (uint64_t)b.splash_time, 2);
        rc |= fw_cfg_add_file(f, "etc/boot-menu-wait", menu_wait, sizeof(menu_wait)) < 0;
    }
    /* Boot priorities by device path would come from bootindex properties;
     * -boot's drive order reaches SeaBIOS through CMOS 0x3D/0x38 as on QEMU.
     * strict=on ends the list: nothing outside it boots. */
    const char *order = b.strict ? "HALT" : "";
    rc |= fw_cfg_add_file(f, "bootorder", order, (uint32_t)strlen(order)) < 0;
    if (rc) {
        snprintf(err, errlen, "fw_cfg: out of memory or item slots");
        return -1;
    }
    return 0;
}
