/* Emulated time and timers.
 *
 * Device timers run off the virtual clock, in nanoseconds. Two modes:
 *  - realtime: the clock follows the host's monotonic clock (minus time the
 *    machine was paused), so the guest keeps wall-clock time and an idle guest
 *    sleeps until its next timer;
 *  - deterministic (tests): the clock is derived from instructions retired
 *    (ns_per_insn each) plus the time skipped while the CPU was halted, so a
 *    run is repeatable to the instruction.
 * Nothing ticks: a device computes its state from the clock when read and arms
 * one timer for its next event (an interrupt, an output change). */
#ifndef BUBBLE_CLOCK_H
#define BUBBLE_CLOCK_H

#include <stdint.h>

struct vclock;
typedef void vtimer_fn(void *opaque);

struct vtimer {
    struct vclock *clock;
    int64_t expire;           /* ns; valid while armed */
    vtimer_fn *fn;
    void *opaque;
    struct vtimer *next;      /* in the clock's list, sorted by expiry */
    int armed;
};

enum vclock_mode { VCLOCK_REALTIME, VCLOCK_DETERMINISTIC };

/* `icount` reads the CPU's retired-instruction counter (deterministic mode). */
struct vclock *vclock_new(enum vclock_mode mode, uint64_t (*icount)(void *opaque), void *opaque);
void vclock_free(struct vclock *c);
enum vclock_mode vclock_mode(const struct vclock *c);
/* Current virtual time in ns (0 at creation). */
int64_t vclock_ns(struct vclock *c);
/* Deterministic mode: nanoseconds per instruction (default 1, i.e. 1000 MIPS nominal). */
void vclock_set_ns_per_insn(struct vclock *c, uint32_t ns);
uint32_t vclock_ns_per_insn(const struct vclock *c);
/* The host pauses/resumes the machine (realtime mode stops counting while paused). */
void vclock_pause(struct vclock *c, int paused);
/* Deterministic mode: the CPU is halted until `ns`: jump the clock there. */
void vclock_skip_to(struct vclock *c, int64_t ns);

void vtimer_init(struct vtimer *t, struct vclock *c, vtimer_fn *fn, void *opaque);
/* Arm (or re-arm) to fire when the clock reaches `expire_ns`. */
void vtimer_mod(struct vtimer *t, int64_t expire_ns);
void vtimer_del(struct vtimer *t);
static inline int vtimer_pending(const struct vtimer *t) { return t->armed; }

/* For the main loop: the earliest expiry (INT64_MAX if none), and running
 * every timer that is due (a callback may re-arm timers). */
int64_t vclock_next_deadline(const struct vclock *c);
void vclock_run_timers(struct vclock *c);
/* Told when a timer armed by vtimer_mod becomes the earliest: the machine ends
 * the CPU's current slice, which was sized for the old deadline, so that the
 * main loop runs the timer on time (a guest polling a device status would
 * otherwise spin to the end of the slice). */
void vclock_set_deadline_listener(struct vclock *c, void (*fn)(void *opaque), void *opaque);

#endif
