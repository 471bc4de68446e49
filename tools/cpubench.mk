# cpubench's guest programs (owned by tools/cpubench.c).
# tools/cpubench/*.asm are assembled by nasm into the committed header
# tools/cpubench/guest.h, which cpubench.c includes. After editing an .asm,
# `make` (with nasm installed) regenerates the header; without nasm the
# committed header is used as it is, so building never needs nasm.
CPUBENCH_ASM := $(sort $(wildcard tools/cpubench/*.asm))

tools/cpubench/guest.h: $(CPUBENCH_ASM) tools/cpubench/mkheader.sh
	@if command -v nasm >/dev/null 2>&1; then \
	    echo "tools/cpubench/mkheader.sh $@ $(CPUBENCH_ASM)"; \
	    tools/cpubench/mkheader.sh $@ $(CPUBENCH_ASM); \
	else \
	    echo "nasm not found: using the committed $@"; \
	fi

$(BUILD)/tools/cpubench: tools/cpubench/guest.h
