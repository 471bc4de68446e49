/* test_diffhw, part 4: running the same sequence in Bubble.
 *
 * 32-bit flat protected mode at CPL 0 (every segment base 0, limit 4 GiB), the
 * emulated encoding at EMU_CODE_ADDR followed by HLT, IF = 0 so HLT stops
 * cpu_run. An exception is caught by the exception hook, which snapshots the
 * registers at that moment and stops the CPU; the IDT is empty (zeroed low
 * memory), so delivery fails without writing memory, whatever ESP holds. */

#include "cpu/memory.h"
#include "cpu/ioport.h"

struct emu {
    struct memory *mem;
    struct ioports *io;
    struct cpu *cpu;
    /* The first exception of a run. */
    int exc_seen;
    int exc_vector;
    struct machine_state exc_state;
    uint32_t exc_eip;
    int need_reset;       /* the last run ended oddly: cpu_reset first */
};

static void emu_exception_hook(void *opaque, int vector, int has_error, uint32_t error, int is_soft)
{
    struct emu *e = opaque;
    (void)has_error; (void)error; (void)is_soft;
    if (e->exc_seen)
        return;
    e->exc_seen = 1;
    e->exc_vector = vector;
    for (int i = 0; i < 8; i++)
        e->exc_state.reg[i] = cpu_get_reg(e->cpu, i);
    e->exc_state.flags = cpu_get_eflags(e->cpu) & FLAGS_CMP;
    e->exc_eip = cpu_get_eip(e->cpu);
    cpu_request_stop(e->cpu);
}

static int emu_init(struct emu *e)
{
    memset(e, 0, sizeof *e);
    e->need_reset = 1;
    e->mem = memory_new(EMU_RAM_SIZE);
    e->io = ioports_new();
    if (!e->mem || !e->io) return -1;
    ioports_set_log(e->io, NULL, 0);
    e->cpu = cpu_new(e->mem, e->io);
    if (!e->cpu) return -1;
    cpu_set_exception_hook(e->cpu, emu_exception_hook, e);
    return 0;
}

static void emu_flat_segments(struct cpu *cpu)
{
    struct cpu_segment_state code = { 0x08, 0, 0xFFFFFFFFu, 0xC09B };  /* P S code readable accessed, D G */
    struct cpu_segment_state data = { 0x10, 0, 0xFFFFFFFFu, 0xC093 };  /* P S data writable accessed, B G */
    cpu_set_seg(cpu, S_CS, &code);
    cpu_set_seg(cpu, S_DS, &data);
    cpu_set_seg(cpu, S_ES, &data);
    cpu_set_seg(cpu, S_SS, &data);
    cpu_set_seg(cpu, S_FS, &data);
    cpu_set_seg(cpu, S_GS, &data);
}

/* Run the first `n` instructions at `code_addr` (inside the two code pages). */
static void emu_run(struct emu *e, const struct ginsn *seq, int n, uint32_t code_addr,
                    const struct machine_state *init, const uint8_t *init_mem, struct run_result *out)
{
    uint8_t code[EMU_CODE_MAX];
    uint32_t starts[MAX_SEQ + 1];
    uint32_t at = code_addr - EMU_CODE_ADDR;
    memset(code, 0, sizeof code);
    size_t len = build_code(seq, n, STREAM_EMU, code + at, starts);
    code[at + len] = 0xF4;                              /* HLT */
    memory_write(e->mem, EMU_CODE_ADDR, code, sizeof code);   /* tells the block cache */
    memcpy(memory_ram(e->mem) + DATA_BASE, init_mem, DATA_SIZE);

    struct cpu *cpu = e->cpu;
    /* cpu_reset flushes the whole block cache (slow); a run that ended in HLT
     * only needs its state set again. Reusing the CPU also exercises the
     * invalidation of cached blocks when the code bytes change. */
    if (e->need_reset) {
        cpu_reset(cpu);
        e->need_reset = 0;
    }
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET);
    emu_flat_segments(cpu);
    for (int i = 0; i < 8; i++)
        cpu_set_reg(cpu, i, init->reg[i]);
    cpu_set_eflags(cpu, 0x2 | (init->flags & FLAGS_CMP));
    cpu_set_eip(cpu, code_addr);
    cpu_set_halted(cpu, 0);
    e->exc_seen = 0;

    enum cpu_stop stop = cpu_run(cpu, 100000);

    memset(out, 0, sizeof *out);
    out->vector = -1;
    out->fault_insn = -1;
    /* After an exception the failed delivery ends in a triple fault, which leaves
     * nothing behind that the next run does not set again; anything stranger
     * (budget exhausted, no halt) gets a full reset. */
    if (!e->exc_seen && stop != CPU_STOP_HALT)
        e->need_reset = 1;
    if (e->exc_seen) {
        out->st = e->exc_state;
        out->vector = e->exc_vector;
        if (e->exc_eip >= code_addr && e->exc_eip < code_addr + len)
            out->fault_insn = insn_at(starts, n, e->exc_eip - code_addr);
        return;
    }
    for (int i = 0; i < 8; i++)
        out->st.reg[i] = cpu_get_reg(cpu, i);
    out->st.flags = cpu_get_eflags(cpu) & FLAGS_CMP;
    uint32_t eip = cpu_get_eip(cpu);
    if (stop != CPU_STOP_HALT || !cpu_is_halted(cpu)) {
        out->other = 1;
        snprintf(out->why, sizeof out->why, "cpu_run stopped (reason %d) at eip 0x%x without halting", (int)stop, eip);
    } else if (eip != code_addr + len + 1) {
        out->other = 1;
        snprintf(out->why, sizeof out->why, "halted at eip 0x%x, expected 0x%x", eip, code_addr + (uint32_t)len + 1);
    }
}

static const uint8_t *emu_data(struct emu *e)
{
    return memory_ram(e->mem) + DATA_BASE;
}
