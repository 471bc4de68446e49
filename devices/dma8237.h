/* Intel 8237A DMA controller pair of the PC/AT: DMA1 (8-bit channels 0-3,
 * ports 0x00-0x0F), DMA2 (16-bit channels 4-7, ports 0xC0-0xDF, channel 4
 * cascades DMA1) and the page registers 0x81-0x83, 0x87, 0x89-0x8B, 0x8F
 * (0x80 is left to the POST-code port).
 *
 * A device that owns a DREQ line (the floppy on channel 2) moves its data with
 * dma_transfer(); the controller supplies address, count and direction as the
 * guest programmed them. */
#ifndef BUBBLE_DMA8237_H
#define BUBBLE_DMA8237_H

#include <stdint.h>

struct ioports;
struct memory;

struct dma_channel {
    uint16_t base_addr, base_count;   /* reloaded by auto-initialisation */
    uint16_t cur_addr, cur_count;     /* count = transfers left - 1 */
    uint8_t mode;                     /* mode register, bits 7-2 */
    uint8_t page;                     /* page register (address bits 23-16) */
    uint8_t tc;                       /* the last dma_transfer reached terminal count */
};

struct dma_controller {
    uint8_t command;
    uint8_t status;     /* bits 0-3: terminal count reached (cleared when read) */
    uint8_t request;    /* software requests, bits 0-3 */
    uint8_t dreq;       /* hardware DREQ lines, bits 0-3 */
    uint8_t mask;       /* bits 0-3 */
    uint8_t flipflop;   /* byte pointer: 1 = the next access is the high byte */
    uint8_t temp;
};

struct dma {
    struct memory *mem;
    struct dma_controller ctl[2];     /* [0] DMA1, [1] DMA2 */
    struct dma_channel ch[8];
    unsigned logged;
};

int dma_init(struct dma *d, struct ioports *io, struct memory *mem);
void dma_reset(struct dma *d);

/* Move up to `len` bytes between `buf` and guest memory on `channel` (0-7; on
 * 16-bit channels whole words, so `len` is rounded down to even), in the
 * direction `to_memory` says (1: device -> memory, a "write" transfer). The
 * transfer stops at terminal count. Returns the bytes moved (0 if the channel
 * is masked, disabled or programmed otherwise); dma_terminal_count() then says
 * whether TC was reached. A verify transfer counts without touching memory. */
int dma_transfer(struct dma *d, int channel, void *buf, int len, int to_memory);
int dma_terminal_count(const struct dma *d, int channel);
/* Unmasked, its controller enabled (and, for 0-3, cascaded through channel 4). */
int dma_channel_ready(const struct dma *d, int channel);
/* A device's DREQ line (reported in the status register). */
void dma_set_dreq(struct dma *d, int channel, int level);

#endif
