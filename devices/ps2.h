/* PS/2 keyboard (MF2, ID AB 83) and mouse (with the IntelliMouse wheel
 * extensions), as plugged into the 8042 controller (devices/i8042.c).
 *
 * Each device has a queue of bytes for the controller: replies to commands
 * come out before pending scancodes or packets, as a device answers a command
 * before it resumes sending. The controller takes a byte with *_read() when
 * its output buffer is free and is told by `notify` when bytes are waiting;
 * it sends a byte to the device with *_write().
 *
 * Host input: ps2_kbd_key() takes USB HID usage IDs of the keyboard page
 * (SDL2 scancodes are equal to them) and produces make/break sequences of
 * the selected scancode set; ps2_mouse_move() takes relative motion. */
#ifndef BUBBLE_PS2_H
#define BUBBLE_PS2_H

#include <stdint.h>

#include "devices/clock.h"

/* Scancodes held by a device. Real keyboards buffer 16 bytes; we hold more so
 * that a burst of host input (a paste) is not lost while the guest catches up. */
#define PS2_QUEUE_SIZE 256
#define PS2_REPLY_SIZE 16

struct ps2_queue {
    uint8_t data[PS2_QUEUE_SIZE];
    uint16_t head, count;
};

struct ps2_reply {
    uint8_t data[PS2_REPLY_SIZE];
    uint8_t head, count;
};

/* The device has bytes for the controller. */
typedef void ps2_notify_fn(void *opaque);

/* ---- keyboard ------------------------------------------------------------- */

/* Set-3 key attributes (commands F7-FD). */
#define PS2_KEY_BREAK     0x01   /* sends a break code on release */
#define PS2_KEY_TYPEMATIC 0x02   /* repeats while held */

struct ps2_kbd {
    struct ps2_queue q;            /* scancodes */
    struct ps2_reply reply;        /* command replies: sent first */
    struct vclock *clock;
    struct vtimer repeat_timer;    /* typematic repeat of the last key pressed */
    ps2_notify_fn *notify;
    void *opaque;

    uint8_t scancode_set;          /* 1, 2 or 3 */
    uint8_t scanning;              /* F4 enables, F5 disables */
    uint8_t leds;                  /* ED: bit 0 Scroll, 1 Num, 2 Caps Lock */
    uint8_t typematic;             /* F3: bits 6-5 delay, 4-0 rate */
    uint8_t pending_cmd;           /* a command waiting for its argument, or 0 */
    uint8_t last_sent;             /* for FE (resend) */
    int16_t repeat_key;            /* HID usage repeating, or -1 */
    uint8_t keys_down[32];         /* bitmap of HID usages held */
    uint8_t set3_attr[256];        /* PS2_KEY_* per set-3 code */
    uint32_t logged_keys[8];       /* host keys without a scancode, reported once */
    uint32_t logged_cmds[8];       /* unknown commands, reported once */
};

void ps2_kbd_init(struct ps2_kbd *k, struct vclock *clock, ps2_notify_fn *notify, void *opaque);
/* Power-on state: set 2, scanning, defaults, empty queues. */
void ps2_kbd_reset(struct ps2_kbd *k);
/* A byte from the controller (a command or its argument). */
void ps2_kbd_write(struct ps2_kbd *k, uint8_t byte);
int ps2_kbd_pending(const struct ps2_kbd *k);
/* Takes the next byte (0 if none; check ps2_kbd_pending first). */
uint8_t ps2_kbd_read(struct ps2_kbd *k);
/* Host key event: `usage` is a USB HID keyboard usage ID (0x04 'a' ... 0xE7 right GUI). */
void ps2_kbd_key(struct ps2_kbd *k, int usage, int pressed);

/* The 8042's scancode translation (set 2 to set 1, command byte bit 6) for
 * one byte; the F0 break prefix is handled by the caller (it sets bit 7 of
 * the next translated byte). */
uint8_t ps2_translate_set2(uint8_t code);

/* ---- mouse ---------------------------------------------------------------- */

/* Buttons for ps2_mouse_move (and packet byte 0 for the first three). */
#define PS2_MOUSE_LEFT   0x01
#define PS2_MOUSE_RIGHT  0x02
#define PS2_MOUSE_MIDDLE 0x04
#define PS2_MOUSE_BUTTON4 0x08
#define PS2_MOUSE_BUTTON5 0x10

struct ps2_mouse {
    struct ps2_queue q;            /* movement packets */
    struct ps2_reply reply;        /* command replies: sent first */
    ps2_notify_fn *notify;
    void *opaque;

    uint8_t remote;                /* remote mode (F0) rather than stream mode (EA) */
    uint8_t wrap;                  /* wrap (echo) mode (EE) */
    uint8_t reporting;             /* data reporting enabled (F4) */
    uint8_t scaling21;             /* 2:1 scaling (E7) */
    uint8_t resolution;            /* 0-3: 1, 2, 4, 8 counts/mm */
    uint8_t sample_rate;
    uint8_t id;                    /* 0 standard, 3 IntelliMouse, 4 IntelliMouse Explorer */
    uint8_t pending_cmd;           /* a command waiting for its argument, or 0 */
    uint8_t rates[3];              /* the last three sample rates set (wheel handshakes) */
    uint8_t buttons;               /* PS2_MOUSE_* held */
    uint8_t reported_buttons;      /* as in the last packet */
    uint8_t last_sent;             /* for FE (resend) */
    int32_t dx, dy, dz;            /* movement not yet reported (PS/2 sense: +y up, +z toward the user) */
    uint32_t logged_cmds[8];       /* unknown commands, reported once */
};

void ps2_mouse_init(struct ps2_mouse *m, ps2_notify_fn *notify, void *opaque);
/* Power-on state: stream mode, reporting off, 100 samples/s, 4 counts/mm, ID 0. */
void ps2_mouse_reset(struct ps2_mouse *m);
void ps2_mouse_write(struct ps2_mouse *m, uint8_t byte);
int ps2_mouse_pending(const struct ps2_mouse *m);
uint8_t ps2_mouse_read(struct ps2_mouse *m);
/* Host motion in screen sense: dx right, dy down, dz wheel clicks (positive
 * = away from the user, as SDL reports); buttons is a PS2_MOUSE_* mask. */
void ps2_mouse_move(struct ps2_mouse *m, int dx, int dy, int dz, unsigned buttons);

#endif
