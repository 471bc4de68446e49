# Differential test against qemu-i386 (tests/test_diffqemu.c; notes in tests/diffqemu/README.md).
# The test itself is built and run like every tests/test_*.c; these are shortcuts.
#   make diffqemu        the default run (fixed seed)
#   make diffqemu-soak   rounds with new seeds until a mismatch or Ctrl-C
.PHONY: diffqemu diffqemu-soak
diffqemu: $(BUILD)/tests/test_diffqemu
	$(BUILD)/tests/test_diffqemu $(DIFFQEMU_ARGS)

diffqemu-soak: $(BUILD)/tests/test_diffqemu
	$(BUILD)/tests/test_diffqemu --soak --count 20000 $(DIFFQEMU_ARGS)
