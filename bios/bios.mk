# Bubble's BIOS: the ROM (nasm) is built into libbubble.a through bios/rom.c,
# which .incbin's the assembled image named by BIOS_ROM_FILE.
# The Makefile includes this file; it must come after the Makefile's rules.
NASM ?= nasm

# The image also depends on the ROM's include files, if it ever has any.
$(BUILD)/bios/bios.bin: $(wildcard bios/*.inc)

# rom.o embeds the image: its own recipe passes the file name. It also depends
# on the makefiles, so an object built before this file was included is redone.
$(BUILD)/bios/rom.o: bios/rom.c $(BUILD)/bios/bios.bin bios/bios.mk Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DBIOS_ROM_FILE='"$(BUILD)/bios/bios.bin"' -MMD -MP -c -o $@ $<
