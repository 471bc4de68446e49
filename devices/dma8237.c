/* Intel 8237A DMA controller pair (see dma8237.h). */
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/dma8237.h"

/* Register numbers (DMA1 port, or DMA2 port offset / 2). */
enum {
    REG_STATUS_COMMAND = 8, REG_REQUEST = 9, REG_SINGLE_MASK = 10, REG_MODE = 11,
    REG_CLEAR_FLIPFLOP = 12, REG_MASTER_CLEAR = 13, REG_CLEAR_MASK = 14, REG_ALL_MASK = 15,
};

#define CMD_MEM_TO_MEM   0x01
#define CMD_DISABLE      0x04
#define MODE_TYPE(m)     (((m) >> 2) & 3)   /* 0 verify, 1 write (to memory), 2 read (from memory) */
#define MODE_AUTOINIT    0x10
#define MODE_DECREMENT   0x20
#define MODE_SELECT(m)   ((m) >> 6)         /* 0 demand, 1 single, 2 block, 3 cascade */
#define TYPE_VERIFY 0
#define TYPE_WRITE  1
#define TYPE_READ   2
#define SELECT_CASCADE 3

enum {
    LOG_MEM_TO_MEM = 1u << 0,
    LOG_ILLEGAL_TYPE = 1u << 1,
    LOG_DIRECTION = 1u << 2,
    LOG_CASCADE = 1u << 3,
    LOG_BAD_CHANNEL = 1u << 4,
    LOG_NO_CASCADE = 1u << 5,
};

static void log_once(struct dma *d, unsigned what, const char *fmt, unsigned v)
{
    if (d->logged & what) return;
    d->logged |= what;
    fprintf(stderr, "dma8237: ");
    fprintf(stderr, fmt, v);
    fprintf(stderr, " (logged once)\n");
}

/* ---------------------------------------------------------------------------
 * Transfers */

int dma_channel_ready(const struct dma *d, int channel)
{
    if (channel < 0 || channel > 7) return 0;
    const struct dma_controller *c = &d->ctl[channel >> 2];
    if ((c->mask & (1u << (channel & 3))) || (c->command & CMD_DISABLE)) return 0;
    if (MODE_SELECT(d->ch[channel].mode) == SELECT_CASCADE) return 0;
    /* DMA1 reaches the bus through DMA2's channel 4. */
    if (channel < 4 && ((d->ctl[1].mask & 1) || (d->ctl[1].command & CMD_DISABLE))) return 0;
    return 1;
}

int dma_terminal_count(const struct dma *d, int channel)
{
    return channel >= 0 && channel <= 7 && d->ch[channel].tc;
}

void dma_set_dreq(struct dma *d, int channel, int level)
{
    if (channel < 0 || channel > 7) return;
    uint8_t bit = (uint8_t)(1u << (channel & 3));
    if (level) d->ctl[channel >> 2].dreq |= bit;
    else d->ctl[channel >> 2].dreq &= (uint8_t)~bit;
}

/* ISA bus address of a channel's current address: 16-bit channels address
 * words, so the register is shifted left and page bit 0 is unused. */
static uint32_t bus_address(const struct dma_channel *c, int wide, uint16_t addr)
{
    if (wide) return ((uint32_t)(c->page & 0xFE) << 16) | ((uint32_t)addr << 1);
    return ((uint32_t)c->page << 16) | addr;
}

static void move_units(struct dma *d, uint32_t phys, uint8_t *buf, uint32_t bytes, int type, int to_memory)
{
    if (type == TYPE_WRITE && to_memory) memory_write(d->mem, phys, buf, bytes);
    else if (type == TYPE_READ && !to_memory) memory_read(d->mem, phys, buf, bytes);
    /* Verify or a direction mismatch: the cycles run but no data moves. */
}

static void reach_terminal_count(struct dma *d, int channel)
{
    struct dma_channel *c = &d->ch[channel];
    struct dma_controller *ctl = &d->ctl[channel >> 2];
    c->tc = 1;
    ctl->status |= (uint8_t)(1u << (channel & 3));
    ctl->request &= (uint8_t)~(1u << (channel & 3));
    if (c->mode & MODE_AUTOINIT) {
        c->cur_addr = c->base_addr;
        c->cur_count = c->base_count;
    } else {
        ctl->mask |= (uint8_t)(1u << (channel & 3));   /* datasheet: TC sets the mask bit without auto-init */
    }
}

int dma_transfer(struct dma *d, int channel, void *buf, int len, int to_memory)
{
    if (channel < 0 || channel > 7) {
        log_once(d, LOG_BAD_CHANNEL, "transfer on channel %u that does not exist", (unsigned)channel);
        return 0;
    }
    struct dma_channel *c = &d->ch[channel];
    c->tc = 0;
    if (!buf || len <= 0 || !dma_channel_ready(d, channel)) {
        if (channel < 4 && ((d->ctl[1].mask & 1) || (d->ctl[1].command & CMD_DISABLE)))
            log_once(d, LOG_NO_CASCADE, "channel %u refused: DMA2 channel 4 (the cascade) is masked or disabled",
                     (unsigned)channel);
        return 0;
    }
    int type = MODE_TYPE(c->mode);
    if (type == 3) {
        log_once(d, LOG_ILLEGAL_TYPE, "illegal transfer type 3 in mode %02x", c->mode);
        return 0;
    }
    if (type != TYPE_VERIFY && (type == TYPE_WRITE) != !!to_memory)
        log_once(d, LOG_DIRECTION, "device direction disagrees with the channel's mode %02x: no data moved",
                 c->mode);
    int wide = channel >= 4;
    uint32_t unit = wide ? 2 : 1;
    uint32_t units = (uint32_t)len / unit, done = 0;
    uint8_t *p = buf;
    while (done < units) {
        uint32_t left = (uint32_t)c->cur_count + 1;
        uint32_t n = units - done;
        if (n > left) n = left;
        if (c->mode & MODE_DECREMENT) {
            n = 1;   /* one unit at a time, downwards */
        } else {
            uint32_t to_wrap = 0x10000u - c->cur_addr;   /* the address wraps inside its 64K (128K) block */
            if (n > to_wrap) n = to_wrap;
        }
        move_units(d, bus_address(c, wide, c->cur_addr), p + done * unit, n * unit, type, to_memory);
        c->cur_addr = (uint16_t)(c->mode & MODE_DECREMENT ? c->cur_addr - n : c->cur_addr + n);
        c->cur_count = (uint16_t)(c->cur_count - n);
        done += n;
        if (n == left) {
            reach_terminal_count(d, channel);
            break;
        }
    }
    return (int)(done * unit);
}

/* ---------------------------------------------------------------------------
 * Registers */

static void master_clear(struct dma_controller *c)
{
    c->command = 0;
    c->status = 0;
    c->request = 0;
    c->temp = 0;
    c->flipflop = 0;
    c->mask = 0x0F;
}

/* Address and count registers: one byte per access, low first (the byte pointer flip-flop). */
static uint8_t read_addr_count(struct dma_controller *ctl, struct dma_channel *c, int is_count)
{
    uint16_t v = is_count ? c->cur_count : c->cur_addr;
    uint8_t b = (uint8_t)(ctl->flipflop ? v >> 8 : v);
    ctl->flipflop ^= 1;
    return b;
}

static void write_addr_count(struct dma_controller *ctl, struct dma_channel *c, int is_count, uint8_t v)
{
    uint16_t *base = is_count ? &c->base_count : &c->base_addr;
    if (ctl->flipflop) *base = (uint16_t)((*base & 0x00FF) | v << 8);
    else *base = (uint16_t)((*base & 0xFF00) | v);
    /* Base and current registers are written together. */
    if (is_count) c->cur_count = *base;
    else c->cur_addr = *base;
    ctl->flipflop ^= 1;
}

static uint8_t controller_read(struct dma *d, int which, int reg)
{
    struct dma_controller *ctl = &d->ctl[which];
    uint8_t v;
    if (reg < 8) return read_addr_count(ctl, &d->ch[which * 4 + (reg >> 1)], reg & 1);
    switch (reg) {
    case REG_STATUS_COMMAND:
        v = (uint8_t)((ctl->status & 0x0F) | ((ctl->request | ctl->dreq) & 0x0F) << 4);
        ctl->status &= 0xF0;   /* reading clears the TC bits */
        return v;
    case REG_MASTER_CLEAR:
        return ctl->temp;      /* temporary register */
    case REG_ALL_MASK:
        return (uint8_t)(0xF0 | ctl->mask);
    default:
        return 0xFF;           /* write-only registers */
    }
}

static void controller_write(struct dma *d, int which, int reg, uint8_t v)
{
    struct dma_controller *ctl = &d->ctl[which];
    if (reg < 8) {
        write_addr_count(ctl, &d->ch[which * 4 + (reg >> 1)], reg & 1, v);
        return;
    }
    uint8_t bit = (uint8_t)(1u << (v & 3));
    switch (reg) {
    case REG_STATUS_COMMAND:
        if (v & CMD_MEM_TO_MEM) log_once(d, LOG_MEM_TO_MEM, "memory-to-memory transfers (command %02x) not implemented", v);
        ctl->command = v;
        break;
    case REG_REQUEST:
        if (v & 4) ctl->request |= bit;
        else ctl->request &= (uint8_t)~bit;
        break;
    case REG_SINGLE_MASK:
        if (v & 4) ctl->mask |= bit;
        else ctl->mask &= (uint8_t)~bit;
        break;
    case REG_MODE: {
        int ch = which * 4 + (v & 3);
        d->ch[ch].mode = v & 0xFC;
        if (MODE_TYPE(v) == 3 && MODE_SELECT(v) != SELECT_CASCADE)
            log_once(d, LOG_ILLEGAL_TYPE, "illegal transfer type 3 in mode %02x", v);
        if (MODE_SELECT(v) == SELECT_CASCADE && ch != 4)
            log_once(d, LOG_CASCADE, "cascade mode on channel %u (no bus master there)", (unsigned)ch);
        break;
    }
    case REG_CLEAR_FLIPFLOP:
        ctl->flipflop = 0;
        break;
    case REG_MASTER_CLEAR:
        master_clear(ctl);
        break;
    case REG_CLEAR_MASK:
        ctl->mask = 0;
        break;
    case REG_ALL_MASK:
        ctl->mask = v & 0x0F;
        break;
    }
}

static uint32_t dma1_read(void *opaque, uint16_t port, int size)
{
    return controller_read(opaque, 0, port & 0x0F);
}

static void dma1_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    controller_write(opaque, 0, port & 0x0F, (uint8_t)val);
}

/* DMA2 decodes A4-A1: odd ports alias the even ones. */
static uint32_t dma2_read(void *opaque, uint16_t port, int size)
{
    return controller_read(opaque, 1, ((port - 0xC0) >> 1) & 0x0F);
}

static void dma2_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    controller_write(opaque, 1, ((port - 0xC0) >> 1) & 0x0F, (uint8_t)val);
}

/* Page register port -> channel (-1: not a DMA page register). */
static int page_channel(uint16_t port)
{
    static const int8_t map[16] = { -1, 2, 3, 1, -1, -1, -1, 0, -1, 6, 7, 5, -1, -1, -1, 4 };
    return map[port & 0x0F];
}

static uint32_t page_read(void *opaque, uint16_t port, int size)
{
    struct dma *d = opaque;
    int ch = page_channel(port);
    return ch < 0 ? 0xFF : d->ch[ch].page;
}

static void page_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct dma *d = opaque;
    int ch = page_channel(port);
    if (ch >= 0) d->ch[ch].page = (uint8_t)val;
}

void dma_reset(struct dma *d)
{
    memset(d->ctl, 0, sizeof(d->ctl));
    memset(d->ch, 0, sizeof(d->ch));
    master_clear(&d->ctl[0]);
    master_clear(&d->ctl[1]);
}

int dma_init(struct dma *d, struct ioports *io, struct memory *mem)
{
    static const struct io_handlers dma1 = { dma1_read, dma1_write, 1 };
    static const struct io_handlers dma2 = { dma2_read, dma2_write, 1 };
    static const struct io_handlers page = { page_read, page_write, 1 };
    memset(d, 0, sizeof(*d));
    d->mem = mem;
    dma_reset(d);
    if (ioports_register(io, 0x00, 16, &dma1, d) < 0) return -1;
    if (ioports_register(io, 0xC0, 32, &dma2, d) < 0) return -1;
    if (ioports_register(io, 0x81, 3, &page, d) < 0) return -1;
    if (ioports_register(io, 0x87, 1, &page, d) < 0) return -1;
    if (ioports_register(io, 0x89, 3, &page, d) < 0) return -1;
    if (ioports_register(io, 0x8F, 1, &page, d) < 0) return -1;
    return 0;
}
