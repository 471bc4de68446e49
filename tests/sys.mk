# System test kernels (tests/sys/*.asm): flat binaries assembled with nasm into
# $(BUILD)/tests/sys/NAME.bin, run on our CPU by $(BUILD)/tests/test_sys.
# tests/sys/qemu/run.sh boots the same kernels on QEMU or Bochs for comparison.
NASM     ?= nasm
SYS_ASM  := $(wildcard tests/sys/*.asm)
SYS_BINS := $(SYS_ASM:tests/sys/%.asm=$(BUILD)/tests/sys/%.bin)

all: $(SYS_BINS)

# The harness needs the kernels to run.
$(BUILD)/tests/test_sys: | $(SYS_BINS)

$(BUILD)/tests/sys/%.bin: tests/sys/%.asm tests/sys/lib.inc
	@mkdir -p $(dir $@)
	@command -v $(NASM) >/dev/null 2>&1 || { \
	    echo "error: $(NASM) not found: the system test kernels in tests/sys need nasm (apt-get install nasm)" >&2; \
	    exit 1; }
	$(NASM) -f bin -I tests/sys/ -MD $(@:.bin=.d) -MP -o $@ $<

.PHONY: sys-xcheck
# Cross-check the kernels on QEMU (SYS_EMU=bochs for Bochs); not part of `make test`.
sys-xcheck:
	tests/sys/qemu/run.sh $(or $(SYS_EMU),qemu)
