/* 8042 keyboard controller (see i8042.h). References: IBM PS/2 Hardware
 * Interface Technical Reference, "Keyboard/Auxiliary Device Controller";
 * Intel UPI-41/42 (8042) data sheet for the chip itself. */
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/i8042.h"

#define PORT_DATA   0x60
#define PORT_STATUS 0x64

/* Command byte (controller RAM byte 0). */
#define CB_KBD_INT     0x01
#define CB_AUX_INT     0x02
#define CB_SYS         0x04
#define CB_KBD_DISABLE 0x10
#define CB_AUX_DISABLE 0x20
#define CB_XLAT        0x40

/* Status register. */
#define ST_OBF      0x01
#define ST_IBF      0x02
#define ST_SYS      0x04
#define ST_CMD      0x08   /* A2: last write was to the command port */
#define ST_UNLOCKED 0x10   /* the keyboard lock switch is off */
#define ST_AUX_OBF  0x20

/* Output port P2. */
#define OP_RESET 0x01      /* 0 holds the CPU in reset */
#define OP_A20   0x02

/* The power-on command byte: keyboard interrupt and translation on, as PC
 * firmware leaves it (the firmware and OS reprogram it anyway). */
#define CB_POWER_ON (CB_KBD_INT | CB_XLAT)

/* Input port P1 (command C0): keyboard not locked, no manufacturing jumper,
 * colour display. */
#define INPUT_PORT 0xA0

static void log_unknown_command(struct i8042 *c, uint8_t cmd)
{
    if (c->logged[cmd >> 5] & (1u << (cmd & 31))) return;
    c->logged[cmd >> 5] |= 1u << (cmd & 31);
    fprintf(stderr, "i8042: unimplemented controller command %#x ignored (logged once)\n", cmd);
}

static void update_irqs(struct i8042 *c)
{
    int kbd = c->obf && !c->ob_aux && (c->ram[0] & CB_KBD_INT);
    int aux = c->obf && c->ob_aux && (c->ram[0] & CB_AUX_INT);
    if (kbd != c->irq_kbd_level) {
        c->irq_kbd_level = (uint8_t)kbd;
        irq_set(&c->irq_kbd, kbd);
    }
    if (aux != c->irq_mouse_level) {
        c->irq_mouse_level = (uint8_t)aux;
        irq_set(&c->irq_mouse, aux);
    }
}

static void load_output(struct i8042 *c, uint8_t b, int aux)
{
    c->ob = b;
    c->ob_aux = (uint8_t)aux;
    c->obf = 1;
}

/* A byte from the keyboard, translated to set 1 when the command byte asks
 * (F0 is swallowed and sets bit 7 of the next code). Returns -1 when nothing
 * is ready for the output buffer yet. */
static int take_keyboard_byte(struct i8042 *c)
{
    while (ps2_kbd_pending(&c->kbd)) {
        uint8_t b = ps2_kbd_read(&c->kbd);
        if (!(c->ram[0] & CB_XLAT)) return b;
        if (b == 0xF0) {
            c->xlat_break = 1;
            continue;
        }
        b = (uint8_t)(ps2_translate_set2(b) | (c->xlat_break ? 0x80 : 0));
        c->xlat_break = 0;
        return b;
    }
    return -1;
}

/* Fill a free output buffer: the controller's replies first, then the two
 * devices in turn (the one not served last goes first, so neither starves). */
static void fill_output(struct i8042 *c)
{
    if (c->obf || c->filling) return;
    c->filling = 1;
    if (c->reply_count) {
        load_output(c, c->reply[c->reply_head], c->reply_aux[c->reply_head]);
        c->reply_head = (uint8_t)((c->reply_head + 1) % I8042_REPLY_SIZE);
        c->reply_count--;
    } else {
        int kbd_ok = !(c->ram[0] & CB_KBD_DISABLE);
        int aux_ok = !(c->ram[0] & CB_AUX_DISABLE) && ps2_mouse_pending(&c->mouse);
        if (aux_ok && !c->ob_aux) {
            load_output(c, ps2_mouse_read(&c->mouse), 1);
        } else {
            int b = kbd_ok ? take_keyboard_byte(c) : -1;
            if (b >= 0) load_output(c, (uint8_t)b, 0);
            else if (aux_ok) load_output(c, ps2_mouse_read(&c->mouse), 1);
        }
    }
    c->filling = 0;
    update_irqs(c);
}

static void device_notify(void *opaque)
{
    fill_output(opaque);
}

/* Controller output (replies, D2/D3 data): queued behind a full output buffer. */
static void reply(struct i8042 *c, uint8_t b, int aux)
{
    if (c->reply_count >= I8042_REPLY_SIZE) {
        if (!(c->logged_misc & 1))
            fprintf(stderr, "i8042: the guest does not read its replies; reply %#x dropped (logged once)\n", b);
        c->logged_misc |= 1;
        return;
    }
    int slot = (c->reply_head + c->reply_count) % I8042_REPLY_SIZE;
    c->reply[slot] = b;
    c->reply_aux[slot] = (uint8_t)aux;
    c->reply_count++;
    fill_output(c);
}

static void set_a20(struct i8042 *c, int on)
{
    c->out_port = (uint8_t)((c->out_port & ~OP_A20) | (on ? OP_A20 : 0));
    if (c->a20_set) c->a20_set(c->a20_opaque, on);
    else if (c->mem) memory_set_a20(c->mem, on);
}

void i8042_set_a20_handler(struct i8042 *c, void (*fn)(void *opaque, int enabled), void *opaque)
{
    c->a20_set = fn;
    c->a20_opaque = opaque;
}

static void request_reset(struct i8042 *c)
{
    if (c->reset_request) c->reset_request(c->reset_opaque);
    else if (!(c->logged_misc & 2)) {
        fprintf(stderr, "i8042: the guest pulled the reset line but the machine has no reset handler (logged once)\n");
        c->logged_misc |= 2;
    }
}

/* D1: bit 1 gates A20, bit 0 low resets the CPU. */
static void write_output_port(struct i8042 *c, uint8_t v)
{
    c->out_port = v;
    set_a20(c, (v & OP_A20) != 0);
    if (!(v & OP_RESET)) request_reset(c);
}

/* D0: the port as written (our own A20 gate), with the live output-buffer-full lines. */
static uint8_t read_output_port(const struct i8042 *c)
{
    return (uint8_t)((c->out_port & 0xCE) | OP_RESET |
                     (c->obf && !c->ob_aux ? 0x10 : 0) | (c->obf && c->ob_aux ? 0x20 : 0));
}

static void write_command_byte(struct i8042 *c, uint8_t v)
{
    c->ram[0] = v;
    c->sys_flag = (v & CB_SYS) != 0;
    update_irqs(c);
    fill_output(c);   /* an interface may have been enabled */
}

/* A data byte on 0x60 for the command that asked for one. */
static void command_data(struct i8042 *c, uint8_t cmd, uint8_t v)
{
    if (cmd >= 0x60 && cmd <= 0x7F) {
        if ((cmd & 0x1F) == 0) write_command_byte(c, v);
        else c->ram[cmd & 0x1F] = v;
        return;
    }
    switch (cmd) {
    case 0xD1: write_output_port(c, v); break;
    case 0xD2: reply(c, v, 0); break;
    case 0xD3: reply(c, v, 1); break;
    case 0xD4: ps2_mouse_write(&c->mouse, v); break;
    }
}

static void set_command_bits(struct i8042 *c, uint8_t set, uint8_t clear)
{
    write_command_byte(c, (uint8_t)((c->ram[0] | set) & ~clear));
}

static void controller_command(struct i8042 *c, uint8_t cmd)
{
    if (cmd >= 0x20 && cmd <= 0x3F) {
        reply(c, c->ram[cmd & 0x1F], 0);
        return;
    }
    if ((cmd >= 0x60 && cmd <= 0x7F) || (cmd >= 0xD1 && cmd <= 0xD4)) {
        c->pending = cmd;
        return;
    }
    if (cmd >= 0xF0) {
        /* Pulse output port bits 3-0 where the command has a 0: bit 0 is the reset line. */
        if (!(cmd & OP_RESET)) request_reset(c);
        return;
    }
    switch (cmd) {
    case 0xA4: reply(c, 0xF1, 0); break;            /* no password installed */
    case 0xA7: set_command_bits(c, CB_AUX_DISABLE, 0); break;
    case 0xA8: set_command_bits(c, 0, CB_AUX_DISABLE); break;
    case 0xA9: reply(c, 0x00, 0); break;            /* aux interface test passed */
    case 0xAA:                                      /* self-test passed */
        c->sys_flag = 1;
        reply(c, 0x55, 0);
        break;
    case 0xAB: reply(c, 0x00, 0); break;            /* keyboard interface test passed */
    case 0xAD: set_command_bits(c, CB_KBD_DISABLE, 0); break;
    case 0xAE: set_command_bits(c, 0, CB_KBD_DISABLE); break;
    case 0xC0: reply(c, INPUT_PORT, 0); break;
    case 0xD0: reply(c, read_output_port(c), 0); break;
    case 0xDD: set_a20(c, 0); break;                /* HP Vectra A20 commands */
    case 0xDF: set_a20(c, 1); break;
    case 0xE0:                                      /* test inputs T0/T1: the clock lines, high when enabled */
        reply(c, (uint8_t)(((c->ram[0] & CB_KBD_DISABLE) ? 0 : 1) | ((c->ram[0] & CB_AUX_DISABLE) ? 0 : 2)), 0);
        break;
    default:
        log_unknown_command(c, cmd);
        break;
    }
}

static uint8_t read_status(const struct i8042 *c)
{
    return (uint8_t)((c->obf ? ST_OBF : 0) | (c->sys_flag ? ST_SYS : 0) | (c->last_was_command ? ST_CMD : 0) |
                     ST_UNLOCKED | (c->obf && c->ob_aux ? ST_AUX_OBF : 0));
}

static uint8_t read_data(struct i8042 *c)
{
    uint8_t v = c->ob;   /* an empty buffer reads its last byte again */
    if (c->obf) {
        c->obf = 0;
        update_irqs(c);  /* the line drops, so the next byte is a new edge */
        fill_output(c);
    }
    return v;
}

static uint32_t kbc_read(void *opaque, uint16_t port, int size)
{
    struct i8042 *c = opaque;
    return port == PORT_DATA ? read_data(c) : read_status(c);
}

static void kbc_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct i8042 *c = opaque;
    uint8_t v = (uint8_t)val;
    if (port == PORT_STATUS) {
        c->last_was_command = 1;
        c->pending = 0;
        controller_command(c, v);
        return;
    }
    c->last_was_command = 0;
    if (c->pending) {
        uint8_t cmd = c->pending;
        c->pending = 0;
        command_data(c, cmd, v);
        return;
    }
    /* Any byte sent to the keyboard enables its interface again (IBM: command AD). */
    if (c->ram[0] & CB_KBD_DISABLE) set_command_bits(c, 0, CB_KBD_DISABLE);
    ps2_kbd_write(&c->kbd, v);
}

void i8042_reset(struct i8042 *c)
{
    memset(c->ram, 0, sizeof(c->ram));
    c->ram[0] = CB_POWER_ON;
    c->sys_flag = 0;
    c->last_was_command = 0;
    c->obf = 0;
    c->ob_aux = 0;
    c->ob = 0;
    c->pending = 0;
    c->xlat_break = 0;
    c->reply_head = c->reply_count = 0;
    /* Keyboard and mouse clock/data lines idle high, reset line inactive. */
    c->out_port = (uint8_t)(0xCC | OP_RESET | (c->mem && memory_a20(c->mem) ? OP_A20 : 0));
    ps2_kbd_reset(&c->kbd);
    ps2_mouse_reset(&c->mouse);
    update_irqs(c);
}

int i8042_init(struct i8042 *c, struct ioports *io, struct memory *mem, struct vclock *clock,
               struct irq_line irq_kbd, struct irq_line irq_mouse,
               void (*reset_request)(void *opaque), void *reset_opaque)
{
    static const struct io_handlers h = { kbc_read, kbc_write, 1 };
    memset(c, 0, sizeof(*c));
    c->mem = mem;
    c->irq_kbd = irq_kbd;
    c->irq_mouse = irq_mouse;
    c->reset_request = reset_request;
    c->reset_opaque = reset_opaque;
    ps2_kbd_init(&c->kbd, clock, device_notify, c);
    ps2_mouse_init(&c->mouse, device_notify, c);
    /* Drive both lines low once so the receivers start from a known level. */
    c->irq_kbd_level = c->irq_mouse_level = 1;
    i8042_reset(c);
    if (ioports_register(io, PORT_DATA, 1, &h, c)) return -1;
    return ioports_register(io, PORT_STATUS, 1, &h, c);
}
