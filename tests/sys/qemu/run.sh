#!/bin/sh
# Cross-check the system test kernels on a reference emulator (not our CPU):
#   tests/sys/qemu/run.sh [qemu|bochs] [KERNEL...]
# Each kernel becomes a boot floppy (boot.asm + the kernel). QEMU: the kernel's
# 0xE9 text comes from -debugcon, its 0xF4 result from isa-debug-exit
# (exit status 2*code+1, so 1 = pass). Bochs: 0xE9 via port_e9_hack; the run
# ends at the "RESULT" line or the time limit.
set -u
export TERM=${TERM:-xterm}   # the Bochs "term" display wants one
EMU=${1:-qemu}
[ $# -gt 0 ] && shift
HERE=$(cd "$(dirname "$0")" && pwd)
SYS=$(dirname "$HERE")
OUT=${OUT:-/tmp/bubble-sys-xcheck}
mkdir -p "$OUT"
nasm -f bin -o "$OUT/boot.bin" "$HERE/boot.asm" || exit 1
if [ $# -eq 0 ]; then
    set -- $(cd "$SYS" && ls *.asm | sed 's/\.asm$//')
fi
for k in "$@"; do
    if ! nasm -f bin -I "$SYS/" -o "$OUT/$k.bin" "$SYS/$k.asm" 2>"$OUT/$k.nasm"; then
        head -20 "$OUT/$k.nasm"; echo "$k: ASSEMBLY FAILED"; continue
    fi
    img="$OUT/$k.img"
    dd if=/dev/zero of="$img" bs=512 count=2880 status=none
    dd if="$OUT/boot.bin" of="$img" conv=notrunc status=none
    dd if="$OUT/$k.bin" of="$img" bs=512 seek=1 conv=notrunc status=none
    case $EMU in
    qemu)
        timeout 30 qemu-system-i386 -cpu ${QEMU_CPU:-pentium3} -m 32 -display none -no-reboot \
            -serial null -monitor none -debugcon file:"$OUT/$k.log" \
            -device isa-debug-exit,iobase=0xf4,iosize=4 \
            -drive file="$img",format=raw,if=floppy,index=0 -boot a >/dev/null 2>"$OUT/$k.err"
        rc=$?
        sed "s/^/[$k] /" "$OUT/$k.log"
        if [ $rc -eq 1 ]; then echo "$k: PASS (qemu)"
        elif [ $rc -eq 0 ]; then echo "$k: qemu exited without a result (triple fault with -no-reboot?)"
        elif [ $rc -eq 124 ]; then echo "$k: TIMEOUT (qemu)"
        else echo "$k: FAIL (qemu) code $(( (rc - 1) / 2 ))"; fi
        ;;
    bochs)
        cat > "$OUT/$k.bxrc" <<EOB
megs: 32
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
floppya: 1_44="$img", status=inserted
boot: floppy
display_library: term
port_e9_hack: enabled=1
log: $OUT/$k.bochs.log
panic: action=report
error: action=report
cpu: reset_on_triple_fault=0
EOB
        : > "$OUT/$k.log"
        printf 'c\nquit\n' > "$OUT/bochs.rc"
        timeout -s KILL 60 bochs -q -f "$OUT/$k.bxrc" -rc "$OUT/bochs.rc" < /dev/null > "$OUT/$k.log" 2>&1 &
        pid=$!
        i=0
        while [ $i -lt 600 ] && kill -0 $pid 2>/dev/null; do
            grep -q '^RESULT' "$OUT/$k.log" 2>/dev/null && break
            sleep 0.1; i=$((i + 1))
        done
        sleep 0.2
        # bochs turns SIGTERM into a debugger break: kill its process by id
        for c in $(pgrep -P $pid); do kill -KILL $c 2>/dev/null; done
        wait $pid 2>/dev/null
        grep -a -v '^\(00\|=\|Bochs\|  \|Compiled\|Next at\|bx_dbg\|$\)' "$OUT/$k.log" | sed "s/^/[$k] /"
        if grep -aq 'exception with no resolution' "$OUT/$k.log"; then echo "$k: triple fault (bochs)"
        elif grep -aq '^RESULT pass' "$OUT/$k.log"; then echo "$k: PASS (bochs)"
        elif grep -aq '^RESULT' "$OUT/$k.log"; then echo "$k: FAIL (bochs)"
        else echo "$k: no result (bochs; see $OUT/$k.bochs.log)"; fi
        ;;
    esac
done
