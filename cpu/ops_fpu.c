/* The x87 opcodes until the FPU lands (issue "The x87 FPU"): CPUID reports no
 * FPU, so ESC opcodes give #NM when CR0.EM or CR0.TS is set (SDM vol. 3, 2.5,
 * table 2-2) and #UD otherwise, logged once; WAIT gives #NM with TS and MP. */
#include "internal.h"

static void op_esc_nofpu(struct cpu *cpu, const struct insn *i)
{
    if (cpu->cr0 & (CR0_EM | CR0_TS)) cpu_raise(cpu, EXC_NM, 0);
    cpu_raise_unimpl(cpu, i);
}

static void op_wait(struct cpu *cpu, const struct insn *i)
{
    if ((cpu->cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP)) cpu_raise(cpu, EXC_NM, 0);
    NEXT(cpu, i);
}

void ops_fpu_init(void)
{
    for (unsigned op = 0xD8; op <= 0xDF; op++)
        op_register(op, -1, OSALL, OPF_MODRM | OPF_END, op_esc_nofpu, op_esc_nofpu);
    op_register(0x9B, -1, OSALL, 0, op_wait, NULL);
}
