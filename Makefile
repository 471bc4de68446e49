# bubble: a pure-software x86 PC emulator.
#   make            build ./bubble
#   make test       build and run every test (tests/run.sh); ends with "N passed, N failed"
#   make asan       build with AddressSanitizer + UBSan into build-asan/ and run the CPU tests there
#   make bench      CPU benchmark (tools/cpubench)
#   make install    install under PREFIX (default /usr/local)

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wno-unused-parameter
PKGS    := sdl2 zlib slirp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -I. $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -lpthread $(EXTRA_LDLIBS)

CORE_SRC  := $(wildcard cpu/*.c) $(wildcard devices/*.c) $(wildcard bios/*.c)
FRONT_SRC := $(wildcard frontend/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
TOOL_SRC  := $(wildcard tools/*.c)

CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
FRONT_OBJ := $(FRONT_SRC:%.c=$(BUILD)/%.o)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_BIN  := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)

.PHONY: all test asan bench install clean run
all: $(BUILD)/bubble $(TEST_BIN) $(TOOL_BIN) $(BUILD)/bios/bios.bin
ifeq ($(BUILD),build)
all: bubble
endif

# Our BIOS ROM (nasm).
$(BUILD)/bios/bios.bin: bios/bios.asm
	@mkdir -p $(dir $@)
	nasm -f bin -o $@ $<

# The main job: build the reference guest (Debian's 686 kernel with a busybox and
# dropbear initramfs, tools/build-guest.sh; skipped when up to date) and boot it
# on the serial console (Ctrl-A x quits).
run: all
	tools/build-guest.sh
	./bubble -kernel images/vmlinuz -initrd images/initrd.gz -append "console=ttyS0" -m 128 -nographic

# ./bubble is the default build's binary (replaced atomically: it may be running).
bubble: build/bubble
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/bubble: $(FRONT_OBJ) $(BUILD)/libbubble.a
	$(CC) $(ALL_CFLAGS) -o $@ $(FRONT_OBJ) $(BUILD)/libbubble.a $(LDLIBS)

$(BUILD)/libbubble.a: $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libbubble.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libbubble.a $(LDLIBS)

$(BUILD)/tools/%: tools/%.c $(BUILD)/libbubble.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libbubble.a $(LDLIBS)

test: all
	BUILD=$(BUILD) tests/run.sh

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    EXTRA_LDLIBS="-fsanitize=address,undefined" all
	BUILD=build-asan TESTS_QUICK=1 tests/run.sh cpu286 alu_unit flow_unit pmode_unit system_unit diffhw diffqemu test_sys fx80 fpu

bench: all
	$(BUILD)/tools/cpubench

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 bubble $(DESTDIR)$(PREFIX)/bin/bubble

clean:
	rm -rf build build-asan bubble

# Extra rules owned by a test or tool area (nasm-built test kernels and the like).
-include $(wildcard tests/*.mk tools/*.mk bios/*.mk)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
