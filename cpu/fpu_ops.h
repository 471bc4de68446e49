/* The x87 FPU as the rest of the CPU sees it (cpu/ops_fpu.c): attach one to a
 * CPU, and reset it. The state itself is struct fpu_state (cpu/fpu.h). */
#ifndef BUBBLE_FPU_OPS_H
#define BUBBLE_FPU_OPS_H

struct cpu;

/* Give the CPU an x87 (cpu->fpu), in its power-on state. Once per CPU, from
 * cpu_new; calling it again only resets the FPU. Returns 0, or -1 when out of memory. */
int fpu_attach(struct cpu *cpu);
/* Power-on/RESET state (SDM vol. 3, 9.1.1, table 9-1: FCW 0040H, FSW 0, all
 * registers +0.0 and tagged valid, pointers 0) and FERR# deasserted. No-op
 * without an FPU. INIT would leave the x87 alone: call it on RESET only. */
void fpu_reset(struct cpu *cpu);
/* Free the FPU (cpu_free). */
void fpu_detach(struct cpu *cpu);

#endif
