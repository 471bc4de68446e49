/* Interrupt lines between devices: a device holds a struct irq_line and sets
 * its level; whoever receives it (the PIC, the PIIX3 PIRQ router) provided
 * the callback. Edge-triggered inputs see 0 -> 1 transitions. */
#ifndef BUBBLE_IRQ_H
#define BUBBLE_IRQ_H

typedef void irq_set_fn(void *opaque, int n, int level);

struct irq_line {
    irq_set_fn *set;
    void *opaque;
    int n;
};

static inline void irq_set(const struct irq_line *l, int level)
{
    if (l && l->set) l->set(l->opaque, l->n, level);
}
static inline void irq_raise(const struct irq_line *l) { irq_set(l, 1); }
static inline void irq_lower(const struct irq_line *l) { irq_set(l, 0); }
/* An edge: raise then lower (ISA devices that pulse their line). */
static inline void irq_pulse(const struct irq_line *l)
{
    irq_set(l, 1);
    irq_set(l, 0);
}

#endif
