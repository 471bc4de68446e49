/* Virtual clock and timers (see clock.h). */
#include <stdlib.h>
#include <time.h>

#include "devices/clock.h"

struct vclock {
    enum vclock_mode mode;
    uint64_t (*icount)(void *opaque);
    void *opaque;
    uint32_t ns_per_insn;
    /* realtime */
    int64_t host_base;        /* host ns at creation */
    int64_t paused_total;     /* host ns spent paused */
    int64_t paused_since;     /* host ns when paused, or -1 */
    /* deterministic */
    int64_t skipped;          /* ns added while halted */
    int64_t last;             /* the clock never goes backwards */
    struct vtimer *timers;    /* sorted by expiry */
    void (*deadline_fn)(void *opaque);   /* an earlier deadline was armed */
    void *deadline_opaque;
};

static int64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct vclock *vclock_new(enum vclock_mode mode, uint64_t (*icount)(void *opaque), void *opaque)
{
    struct vclock *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->mode = mode;
    c->icount = icount;
    c->opaque = opaque;
    c->ns_per_insn = 1;
    c->host_base = host_ns();
    c->paused_since = -1;
    if (mode == VCLOCK_DETERMINISTIC && icount) c->skipped = -(int64_t)icount(opaque) * c->ns_per_insn;
    return c;
}

void vclock_free(struct vclock *c) { free(c); }
enum vclock_mode vclock_mode(const struct vclock *c) { return c->mode; }

int64_t vclock_ns(struct vclock *c)
{
    int64_t now;
    if (c->mode == VCLOCK_REALTIME) {
        int64_t h = c->paused_since >= 0 ? c->paused_since : host_ns();
        now = h - c->host_base - c->paused_total;
    } else {
        uint64_t n = c->icount ? c->icount(c->opaque) : 0;
        now = (int64_t)n * c->ns_per_insn + c->skipped;
    }
    if (now < c->last) now = c->last;
    c->last = now;
    return now;
}

void vclock_set_ns_per_insn(struct vclock *c, uint32_t ns)
{
    int64_t now = vclock_ns(c);
    c->ns_per_insn = ns ? ns : 1;
    uint64_t n = c->icount ? c->icount(c->opaque) : 0;
    c->skipped = now - (int64_t)n * c->ns_per_insn;
}

uint32_t vclock_ns_per_insn(const struct vclock *c) { return c->ns_per_insn; }

void vclock_pause(struct vclock *c, int paused)
{
    if (c->mode != VCLOCK_REALTIME) return;
    if (paused && c->paused_since < 0) c->paused_since = host_ns();
    else if (!paused && c->paused_since >= 0) {
        c->paused_total += host_ns() - c->paused_since;
        c->paused_since = -1;
    }
}

void vclock_skip_to(struct vclock *c, int64_t ns)
{
    int64_t now = vclock_ns(c);
    if (c->mode == VCLOCK_DETERMINISTIC && ns > now) c->skipped += ns - now;
}

void vtimer_init(struct vtimer *t, struct vclock *c, vtimer_fn *fn, void *opaque)
{
    t->clock = c;
    t->fn = fn;
    t->opaque = opaque;
    t->next = NULL;
    t->armed = 0;
    t->expire = 0;
}

void vtimer_del(struct vtimer *t)
{
    if (!t->armed) return;
    struct vtimer **pp = &t->clock->timers;
    while (*pp && *pp != t) pp = &(*pp)->next;
    if (*pp) *pp = t->next;
    t->next = NULL;
    t->armed = 0;
}

void vtimer_mod(struct vtimer *t, int64_t expire_ns)
{
    vtimer_del(t);
    t->expire = expire_ns;
    struct vtimer **pp = &t->clock->timers;
    while (*pp && (*pp)->expire <= expire_ns) pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    t->armed = 1;
    if (t->clock->timers == t && t->clock->deadline_fn) t->clock->deadline_fn(t->clock->deadline_opaque);
}

void vclock_set_deadline_listener(struct vclock *c, void (*fn)(void *opaque), void *opaque)
{
    c->deadline_fn = fn;
    c->deadline_opaque = opaque;
}

int64_t vclock_next_deadline(const struct vclock *c)
{
    return c->timers ? c->timers->expire : INT64_MAX;
}

void vclock_run_timers(struct vclock *c)
{
    int64_t now = vclock_ns(c);
    /* Bounded: a timer that keeps re-arming itself in the past cannot hang us. */
    for (int k = 0; k < 10000 && c->timers && c->timers->expire <= now; k++) {
        struct vtimer *t = c->timers;
        c->timers = t->next;
        t->next = NULL;
        t->armed = 0;
        t->fn(t->opaque);
    }
}
