#!/usr/bin/env bash
# Linux guest tests: boots the reference guest (tools/build-guest.sh: Debian's
# 686 kernel, busybox, dropbear) on bubble and checks it from the serial
# console, as a user at the `root@bubble:~# ` prompt would.
#
# Scenarios, one emulator each, two at a time (the host has 2 cores):
#   kernel    -kernel/-initrd/-append console=ttyS0, -hda a copy of disk.img:
#             uname, /proc/cpuinfo, busybox awk floating point (the x87),
#             shell arithmetic, md5sum, dmesg, the emulator's CPU use while the
#             guest idles, and files written to the FAT partition that must be
#             in the image file after SIGTERM ends the emulator
#   ctrl-a    the same boot under a pseudo-terminal: files written must be in
#             the image after Ctrl-A x
#   snapshot  the same boot with -snapshot: the guest writes, the image file
#             stays byte for byte the same
#   disk      -hda (a copy of) disk.img through our BIOS and SYSLINUX
#   iso       -cdrom guest.iso -boot d through our BIOS and ISOLINUX
#   seabios   -bios SeaBIOS (Debian's bios-256k.bin) -hda a copy of disk.img
# Each check is one counted pass or fail; the end is `RESULT: P passed, F failed`.
#
# The console is the emulator's stdin and stdout (-nographic; -serial stdio on a
# FIFO and a log file), or a pseudo-terminal made by script(1) for Ctrl-A x.
# Commands are typed as `echo @@B""N@@; CMD; echo "@@E""N@@ $?"`: the markers
# the shell prints cannot match the echo of the typed line.
#
# Environment:
#   TESTS_QUICK=1          the kernel scenario only
#   LINUX_TESTS="a b"      run only these scenarios
#   LINUX_BOOT_TIMEOUT=S   seconds to reach the prompt (default 120)
#   LINUX_CMD_TIMEOUT=S    seconds for one command (default 90)
#   LINUX_JOBS=N           emulators at a time (default 2)
#   LINUX_BUDGET=S         wall seconds for all scenarios (default 480); past
#                          it the emulators still running are ended (failures)
#   LINUX_APPEND_EXTRA=... extra kernel parameters for the -kernel boots
#   BUBBLE=path            the emulator (default ./bubble)
# Logs (consoles, emulator stderr, -d int logs of the BIOS boots) are kept in
# $BUILD/test-logs/linux/ (BUILD defaults to build).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

BUILD=${BUILD:-build}
BUBBLE=${BUBBLE:-./bubble}
BOOT_TIMEOUT=${LINUX_BOOT_TIMEOUT:-120}
CMD_TIMEOUT=${LINUX_CMD_TIMEOUT:-90}
JOBS=${LINUX_JOBS:-2}
# Wall-clock budget from the start (the guest build included), inside
# tests/run.sh's 600 s default.
BUDGET=${LINUX_BUDGET:-480}
APPEND_EXTRA=${LINUX_APPEND_EXTRA:-}
IMAGES=images
SEABIOS=/usr/share/seabios/bios-256k.bin
PROMPT='root@bubble:~# '
# Seconds within which a BIOS boot must print the kernel's first line.
KERNEL_START_TIMEOUT=60
# Idle: the emulator may use at most this share of one core (percent).
IDLE_MAX_PERCENT=10
IDLE_SECONDS=10

if [[ -n ${LINUX_TESTS:-} ]]; then
    SCENARIOS=$LINUX_TESTS
elif [[ -n ${TESTS_QUICK:-} ]]; then
    SCENARIOS="kernel"
else
    SCENARIOS="kernel ctrl-a snapshot disk iso seabios"
fi

work=$BUILD/test-logs/linux
rm -rf "$work"
mkdir -p "$work" || { echo "cannot create $work"; exit 2; }
work=$(cd "$work" && pwd)
: > "$work/pids"

now_ms() { date +%s%3N; }
secs_since() { # start_ms -> "12.3"
    local d=$(( $(now_ms) - $1 ))
    printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100))
}

# ---------------------------------------------------------------- clean-up
# Every emulator (and script(1) wrapper) started is listed in $work/pids; at
# exit each one still running is ended by its id, after checking it is ours
# (every emulator's command line names a file in $work).
kill_listed() {
    local pid cmd
    [[ -f $work/pids ]] || return 0
    while read -r pid; do
        [[ -n $pid ]] || continue
        cmd=$( { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null) || continue
        case "$cmd" in
        *"$work/"*) kill -TERM "$pid" 2>/dev/null ;;
        esac
    done < "$work/pids"
    sleep 0.5
    while read -r pid; do
        [[ -n $pid ]] || continue
        cmd=$( { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null) || continue
        case "$cmd" in
        *"$work/"*) kill -KILL "$pid" 2>/dev/null ;;
        esac
    done < "$work/pids"
}
main_cleanup() {
    local j
    for j in $(jobs -p); do kill -TERM "$j" 2>/dev/null; done
    kill_listed
    rm -f "$work"/*.img "$work"/*.in
}
trap main_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ results
# Inside a scenario: RES is its results file, SCN its name.
pass() { echo "PASS [$SCN] $1"; echo "PASS $1" >> "$RES"; }
fail() { echo "FAIL [$SCN] $1"; echo "FAIL $1" >> "$RES"; }
note() { echo "     [$SCN] $*"; }
timing() { echo "$1 $2" >> "$work/$SCN.timings"; note "time: $1 $2"; }  # name value-with-unit
excerpt() { # file lines [label]: the tail of a log, CRs and escapes removed
    [[ -s $1 ]] || { note "(${3:-$1}: empty)"; return 0; }
    echo "     ---- ${3:-$(basename "$1")}, last $2 lines ----"
    tail -n "$2" "$1" | tr -d '\r' | sed -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/^/     | /'
    echo "     ----"
}

# ------------------------------------------------------------ console
# con_start NAME pipe|pty ARGS...: starts the emulator with ARGS.
# Sets CON_PID (the emulator), CON_LOG (its console), CON_ERR (its stderr).
con_start() {
    local name=$1 mode=$2
    shift 2
    CON_LOG=$work/$name.console.log
    CON_ERR=$work/$name.stderr.log
    CON_N=0
    CON_DEAD=""
    CON_WRAPPER=""
    CON_STATUS=""
    local fifo=$work/$name.in
    rm -f "$fifo" "$CON_LOG" "$CON_ERR"
    mkfifo "$fifo" || return 1
    # Read-write: opening does not block, and the emulator never sees EOF.
    exec {CON_FD}<>"$fifo"
    echo "$BUBBLE $*" > "$work/$name.cmdline"
    CON_T0=$(now_ms)
    if [[ $mode == pty ]]; then
        local cmd
        cmd="exec $(printf '%q ' "$BUBBLE" "$@") 2>$(printf '%q' "$CON_ERR")"
        SHELL=/bin/sh script -qfec "$cmd" /dev/null < "$fifo" > "$CON_LOG" 2>&1 &
        CON_WRAPPER=$!
        echo "$CON_WRAPPER" >> "$work/pids"
        CON_PID=""
        local _
        for _ in $(seq 1 100); do
            CON_PID=$(child_of "$CON_WRAPPER")
            [[ -n $CON_PID ]] && break
            sleep 0.1
        done
        [[ -n $CON_PID ]] || { CON_PID=$CON_WRAPPER; return 1; }
    else
        "$BUBBLE" "$@" < "$fifo" > "$CON_LOG" 2> "$CON_ERR" &
        CON_PID=$!
    fi
    echo "$CON_PID" >> "$work/pids"
}

child_of() { # pid -> its first child's pid
    local c
    c=$(cat /proc/"$1"/task/*/children 2>/dev/null | awk '{ print $1; exit }')
    if [[ -z $c ]]; then
        local st f
        for st in /proc/[0-9]*/stat; do
            # field 4 is the parent; the name (field 2) has no spaces here
            read -r -a f < "$st" 2>/dev/null || continue
            [[ ${f[3]:-} == "$1" ]] && { c=${f[0]}; break; }
        done
    fi
    echo "$c"
}

con_alive() { kill -0 "$CON_PID" 2>/dev/null; }

# Collects the exit status once the emulator has ended.
con_reap() {
    [[ -n $CON_STATUS ]] && return 0
    if [[ -n $CON_WRAPPER ]]; then
        wait "$CON_WRAPPER" 2>/dev/null
    else
        wait "$CON_PID" 2>/dev/null
    fi
    CON_STATUS=$?
}

# con_wait FIXED-STRING SECONDS: waits until the console shows the string.
# On failure CON_WHY says why.
con_wait() {
    local pat=$1 deadline=$(( $(now_ms) + $2 * 1000 ))
    while :; do
        grep -aqF -- "$pat" "$CON_LOG" 2>/dev/null && return 0
        if ! con_alive; then
            grep -aqF -- "$pat" "$CON_LOG" 2>/dev/null && return 0
            con_reap
            CON_WHY="the emulator exited with status $CON_STATUS"
            return 1
        fi
        if (( $(now_ms) >= deadline )); then
            CON_WHY="not seen within $2 s"
            return 1
        fi
        sleep 0.3
    done
}

# After a time-out: the console's last lines, for the record.
con_tail_note() {
    excerpt "$CON_LOG" 8 "console when the command timed out"
}

con_prompts() { grep -aoF -- "$PROMPT" "$CON_LOG" 2>/dev/null | wc -l; }

# con_run CMD [SECONDS]: types CMD at the prompt and waits for it to finish.
# Sets CON_RAW (its output without CRs), CON_OUT (the same without kernel
# console lines), CON_RC (its exit status) and CON_SECS (host wall and
# emulator CPU seconds); returns 1 with CON_WHY on a time-out. After one
# time-out the console counts as dead and later commands fail at once.
con_run() {
    local cmd=$1 t=${2:-$CMD_TIMEOUT}
    CON_OUT=""
    CON_RC=""
    if [[ -n $CON_DEAD ]]; then
        CON_WHY="not run: the console stopped answering ($CON_DEAD)"
        return 1
    fi
    CON_N=$((CON_N + 1))
    local n=$CON_N
    local prompts_before t0 c0
    prompts_before=$(con_prompts)
    t0=$(now_ms)
    c0=$(proc_cpu_ticks "$CON_PID")
    printf 'echo @@B""%d@@; %s; echo "@@E""%d@@ $?"\n' "$n" "$cmd" "$n" >&"$CON_FD"
    if ! con_wait "@@E$n@@ " "$t"; then
        local c1
        c1=$(proc_cpu_ticks "$CON_PID")
        [[ -n $c0 && -n $c1 ]] && CON_WHY="$CON_WHY; the emulator used $(ticks_to_secs $((c1 - c0))) s of CPU meanwhile"
        CON_DEAD="'$cmd': $CON_WHY"
        CON_WHY="no answer: $CON_WHY"
        con_tail_note
        return 1
    fi
    local raw
    raw=$(tr -d '\r' < "$CON_LOG" | awk -v b="@@B$n@@" -v e="@@E$n@@ " '
        { sub(/[ \t]+$/, "", $0) }
        $0 == b { on = 1; next }
        on && index($0, e) == 1 { print "@@RC " substr($0, length(e) + 1); exit }
        on { print }')
    CON_RC=$(sed -n 's/^@@RC //p' <<< "$raw")
    CON_RAW=$(sed '/^@@RC /d' <<< "$raw")
    CON_OUT=$(grep -vE '^\[ *[0-9]+\.[0-9]+\] ' <<< "$CON_RAW")
    CON_SECS=$(secs_since "$t0")
    local c1
    c1=$(proc_cpu_ticks "$CON_PID")
    if [[ -n $c0 && -n $c1 ]]; then
        CON_SECS="$CON_SECS wall, $(ticks_to_secs $((c1 - c0))) CPU"
    fi
    # The next prompt: typing before it is harmless, waiting keeps logs tidy.
    local _
    for _ in $(seq 1 30); do
        (( $(con_prompts) > prompts_before )) && break
        sleep 0.2
    done
    return 0
}

# con_check NAME CMD EXTENDED-REGEX: one check: the command's output matches.
con_check() {
    local name=$1 cmd=$2 re=$3
    if ! con_run "$cmd"; then
        fail "$name: $CON_WHY"
        return 1
    fi
    if grep -qE -- "$re" <<< "$CON_OUT"; then
        pass "$name (${CON_SECS})"
        return 0
    fi
    fail "$name: expected /$re/, got: $(head -c 600 <<< "$CON_OUT")"
    return 1
}

# con_boot NAME: waits for the prompt; one check. BIOS boots also need the
# kernel's first line within KERNEL_START_TIMEOUT.
con_boot() {
    local name=$1 bios=${2:-}
    if [[ -n $bios ]]; then
        if ! con_wait "Linux version" "$KERNEL_START_TIMEOUT"; then
            fail "$name: the kernel did not start ($CON_WHY)"
            boot_failure_details
            return 1
        fi
        timing kernel-start "$(secs_since "$CON_T0")s"
    fi
    if ! con_wait "$PROMPT" "$BOOT_TIMEOUT"; then
        fail "$name: no shell prompt: $CON_WHY"
        boot_failure_details
        return 1
    fi
    local t
    t=$(secs_since "$CON_T0")
    timing shell "${t}s"
    pass "$name: shell prompt after ${t}s"
    return 0
}

boot_failure_details() {
    excerpt "$CON_LOG" 40 "console"
    excerpt "$CON_ERR" 20 "emulator stderr"
    if [[ -s $work/$SCN.int.log ]]; then
        grep -avE '^(software )?interrupt v=(08|1c|30) ' "$work/$SCN.int.log" > "$work/$SCN.int-notimer.log"
        excerpt "$work/$SCN.int-notimer.log" 25 "-d int,unimp log without timer interrupts"
        local unimp
        unimp=$(grep -a -E 'unimpl|unclaimed|unknown' "$work/$SCN.int.log" | head -20)
        [[ -n $unimp ]] && { echo "     ---- unimplemented/unclaimed (first 20) ----"; sed 's/^/     | /' <<< "$unimp"; }
    fi
    con_alive && note "the emulator was still running (CPU time $(proc_cpu_ticks "$CON_PID") ticks)"
}

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
ticks_to_secs() { # ticks -> "1.2"
    local ms=$(( $1 * 1000 / CLK_TCK ))
    printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100))
}
proc_cpu_ticks() { # pid -> utime + stime in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null
}

# con_stop: ends the emulator (SIGTERM, then SIGKILL after 15 s).
con_stop() {
    [[ -n ${CON_PID:-} ]] || return 0
    if con_alive; then
        kill -TERM "$CON_PID" 2>/dev/null
        local _
        for _ in $(seq 1 50); do con_alive || break; sleep 0.3; done
        con_alive && kill -KILL "$CON_PID" 2>/dev/null
    fi
    con_reap
    [[ -n $CON_WRAPPER ]] && kill -TERM "$CON_WRAPPER" 2>/dev/null
    con_close_input
}

con_close_input() {
    [[ -n ${CON_FD:-} ]] && exec {CON_FD}>&-
    CON_FD=""
}

# con_exit_by HOW NAME: HOW is sigterm or ctrl-a; one check: the emulator
# ends within 15 s (what it said on the way out is shown).
con_exit_by() {
    local how=$1 name=$2
    if ! con_alive; then
        con_reap
        fail "$name: the emulator had already exited (status $CON_STATUS)"
        return 1
    fi
    if [[ $how == sigterm ]]; then
        kill -TERM "$CON_PID"
    else
        printf '\001x' >&"$CON_FD"
    fi
    local _
    for _ in $(seq 1 50); do con_alive || break; sleep 0.3; done
    if con_alive; then
        fail "$name: still running 15 s after $how"
        con_stop
        return 1
    fi
    con_reap
    local said
    said=$(grep -ahE 'disks flushed|terminated|exit requested' "$CON_ERR" "$CON_LOG" 2>/dev/null | tr -d '\r' | head -1)
    con_close_input
    pass "$name: exited with status $CON_STATUS (${said:-no message})"
    return 0
}

# ------------------------------------------------------------ shared checks
# The files a guest writes to the FAT partition (sda1), and what must be read
# back from the image: one line, and a 108,894-byte file (many sectors).
SEQ_N=20000
seq_md5() { seq 1 "$SEQ_N" | md5sum | cut -d' ' -f1; }

guest_write_files() { # name content
    local name=$1 content=$2
    con_run "mount -t vfat /dev/sda1 /mnt && echo $content > /mnt/HELLO.TXT && seq 1 $SEQ_N > /mnt/SEQ.TXT && sync && cat /mnt/HELLO.TXT && md5sum /mnt/SEQ.TXT" 60 \
        || { fail "$name: $CON_WHY"; return 1; }
    if [[ $CON_RC == 0 ]] && grep -qx -- "$content" <<< "$CON_OUT" && grep -q "^$(seq_md5) " <<< "$CON_OUT"; then
        pass "$name: the guest wrote /mnt/HELLO.TXT and /mnt/SEQ.TXT and synced (${CON_SECS})"
        return 0
    fi
    fail "$name: status $CON_RC, output: $(head -c 600 <<< "$CON_OUT")"
    return 1
}

# host_check_files name image content: the files are in the image file.
host_check_files() {
    local name=$1 img=$2 content=$3
    if ! command -v mtype >/dev/null 2>&1; then
        fail "$name: mtype (mtools) is not installed"
        return 1
    fi
    local hello seq
    hello=$(MTOOLS_SKIP_CHECK=1 mtype -i "$img@@1M" ::/HELLO.TXT 2>&1 | tr -d '\r')
    seq=$(MTOOLS_SKIP_CHECK=1 mtype -i "$img@@1M" ::/SEQ.TXT 2>/dev/null | md5sum | cut -d' ' -f1)
    if [[ $hello == "$content" && $seq == "$(seq_md5)" ]]; then
        pass "$name: HELLO.TXT and SEQ.TXT are in the image file with the right contents"
        return 0
    fi
    fail "$name: in the image: HELLO.TXT='$(head -c 200 <<< "$hello")', SEQ.TXT md5 $seq (want $(seq_md5))"
    return 1
}

copy_image() { # destination
    cp --sparse=always "$IMAGES/disk.img" "$1"
}

KERNEL_ARGS=(-kernel "$IMAGES/vmlinuz" -initrd "$IMAGES/initrd.gz"
             -append "console=ttyS0${APPEND_EXTRA:+ $APPEND_EXTRA}" -m 128 -nographic)

# ------------------------------------------------------------ scenarios
scn_kernel() {
    local img=$work/kernel.img
    copy_image "$img" || { fail "copy disk.img: failed"; return; }
    con_start kernel pipe "${KERNEL_ARGS[@]}" -hda "$img" || { fail "start: could not start $BUBBLE"; return; }
    con_boot "boot -kernel" || { con_stop; return; }

    con_check "uname -a shows the 686 kernel" "uname -a" \
        '^Linux bubble 6\.1\.0-[0-9]+-686 .* i686 GNU/Linux$'

    if con_run "cat /proc/cpuinfo"; then
        local model flags
        model=$(grep -m1 '^model name' <<< "$CON_OUT")
        flags=$(grep -m1 '^flags' <<< "$CON_OUT")
        note "cpuinfo: $model"
        note "cpuinfo: $flags"
        if grep -q 'Bubble' <<< "$model"; then pass "/proc/cpuinfo names our CPU"; else fail "/proc/cpuinfo model name: '$model' (want Bubble)"; fi
        if grep -qw fpu <<< "$flags" && grep -qw cmov <<< "$flags"; then
            pass "/proc/cpuinfo flags include fpu and cmov"
        else
            fail "/proc/cpuinfo flags lack fpu or cmov: '$flags'"
        fi
    else
        fail "/proc/cpuinfo names our CPU: $CON_WHY"
        fail "/proc/cpuinfo flags include fpu and cmov: $CON_WHY"
    fi

    # The x87 through busybox awk (no libm: + - * / and printf): a harmonic
    # sum, Newton's square root of 2, a division printed with %e, truncation
    # of a negative number, a big product.
    con_check "awk floating point (x87)" \
        "awk 'BEGIN { s = 0; for (i = 1; i <= 1000; i++) s += 1 / i; x = 1; for (i = 0; i < 30; i++) x = (x + 2 / x) / 2; printf \"%.9f %.15f %.10e %d %.1f\\n\", s, x, 1 / 3, int(-7.5), 123456.5 * 1000 }'" \
        '^7\.485470861 1\.414213562373095 3\.3333333333e-01 -7 123456500\.0$'

    con_check "shell arithmetic" \
        'echo $(( (123456789 * 987) % 1000003 + (1 << 20) - 0x7fffffff / 3 )) $(( 3000000000 * 3 )) $(( -17 / 5 )) $(( -17 % 5 ))' \
        "^$(( (123456789 * 987) % 1000003 + (1 << 20) - 0x7fffffff / 3 )) 9000000000 -3 -2\$"

    # A file, not a pipe, for the big input: busybox seq writes line by line,
    # and a pipe can then cost a context switch per line (174,000 of them,
    # 20 s of host CPU, in some boots and not in others).
    con_check "md5sum of a known input" \
        "printf 'bubble\\n' | md5sum; seq 1 100000 > /tmp/seq.txt && md5sum < /tmp/seq.txt" \
        "^$(printf 'bubble\n' | md5sum | cut -d' ' -f1)  -
$(seq 1 100000 | md5sum | cut -d' ' -f1)  -\$"

    # Idle: let the shell settle, then read the emulator's CPU time.
    if [[ -z $CON_DEAD ]] && con_alive; then
        sleep 3
        local t0 t1 w0 w1 used pct
        t0=$(proc_cpu_ticks "$CON_PID")
        w0=$(now_ms)
        sleep "$IDLE_SECONDS"
        t1=$(proc_cpu_ticks "$CON_PID")
        w1=$(now_ms)
        if [[ -n $t0 && -n $t1 ]]; then
            used=$(( (t1 - t0) * 1000 / CLK_TCK ))  # ms of CPU
            pct=$(( used * 1000 / (w1 - w0) ))      # tenths of a percent
            timing idle-cpu "$((pct / 10)).$((pct % 10))%"
            if (( pct < IDLE_MAX_PERCENT * 10 )); then
                pass "idle guest costs $((pct / 10)).$((pct % 10))% of a core (< ${IDLE_MAX_PERCENT}%)"
            else
                fail "idle guest costs $((pct / 10)).$((pct % 10))% of a core (limit ${IDLE_MAX_PERCENT}%)"
            fi
        else
            fail "idle CPU: cannot read /proc/$CON_PID/stat"
        fi
    else
        fail "idle CPU: not measured (${CON_DEAD:-the emulator exited})"
    fi

    guest_write_files "disk write (-kernel, -hda)" "bubble-sigterm-$$"

    # dmesg last, so that it covers everything the checks did.
    if con_run "dmesg" 60; then
        printf '%s\n' "$CON_RAW" > "$work/kernel.dmesg"
        local bad storm nstorm
        bad=$(grep -E 'Oops|BUG:|Call Trace|Kernel panic|general protection' "$work/kernel.dmesg" | head -10)
        storm=$(grep -iE 'unknown|spurious' "$work/kernel.dmesg")
        nstorm=$(grep -c . <<< "$storm")
        [[ -z $storm ]] && nstorm=0
        if ! grep -q 'Linux version' "$work/kernel.dmesg"; then
            fail "dmesg: its output lacks 'Linux version' ($(wc -l < "$work/kernel.dmesg") lines; see $work/kernel.dmesg)"
        elif [[ -z $bad ]]; then
            pass "dmesg: no Oops, BUG or Call Trace ($(wc -l < "$work/kernel.dmesg") lines)"
        else
            fail "dmesg: $(head -c 800 <<< "$bad")"
        fi
        if (( nstorm <= 5 )); then
            pass "dmesg: $nstorm unknown/spurious lines (at most 5)"
        else
            fail "dmesg: $nstorm unknown/spurious lines (more than 5): $(head -5 <<< "$storm" | head -c 600)"
        fi
        local warnings
        warnings=$(grep -iE 'warn|error|fail|unknown|spurious|unsupported|not supported|timed? ?out|unable|invalid|bad |unstable|skew|lost' "$work/kernel.dmesg" | head -40)
        if [[ -n $warnings ]]; then
            note "kernel warnings, for the record (first 40; full dmesg in $work/kernel.dmesg):"
            sed 's/^/     | /' <<< "$warnings"
        fi
    else
        fail "dmesg: no Oops, BUG or Call Trace: $CON_WHY"
        fail "dmesg: unknown/spurious lines: $CON_WHY"
    fi

    con_exit_by sigterm "SIGTERM ends the emulator"
    host_check_files "disk data survives SIGTERM" "$img" "bubble-sigterm-$$"
}

scn_ctrl_a() {
    local img=$work/ctrl-a.img
    if ! command -v script >/dev/null 2>&1; then
        fail "Ctrl-A x: script(1) (bsdutils) is missing: no pseudo-terminal to type Ctrl-A into"
        return
    fi
    copy_image "$img" || { fail "copy disk.img: failed"; return; }
    con_start ctrl-a pty "${KERNEL_ARGS[@]}" -hda "$img" || { fail "start: could not start $BUBBLE under script(1)"; con_stop; return; }
    con_boot "boot -kernel on a terminal" || { con_stop; return; }
    guest_write_files "disk write (-kernel, -hda, terminal)" "bubble-ctrl-a-$$"
    con_exit_by ctrl-a "Ctrl-A x ends the emulator"
    host_check_files "disk data survives Ctrl-A x" "$img" "bubble-ctrl-a-$$"
}

scn_snapshot() {
    local img=$work/snapshot.img before after
    copy_image "$img" || { fail "copy disk.img: failed"; return; }
    before=$(md5sum < "$img" | cut -d' ' -f1)
    con_start snapshot pipe "${KERNEL_ARGS[@]}" -hda "$img" -snapshot || { fail "start: could not start $BUBBLE"; return; }
    con_boot "boot -kernel -snapshot" || { con_stop; return; }
    guest_write_files "disk write under -snapshot" "bubble-snapshot-$$"
    con_exit_by sigterm "SIGTERM ends the emulator (-snapshot)"
    after=$(md5sum < "$img" | cut -d' ' -f1)
    if [[ $before == "$after" ]]; then
        pass "-snapshot leaves the image file unchanged"
    else
        fail "-snapshot: the image file changed (md5 $before -> $after)"
    fi
}

# A boot through a BIOS and SYSLINUX/ISOLINUX: the loader's banner, the kernel,
# the prompt, uname, the command line syslinux.cfg gave, and the boot medium.
bios_boot() { # name banner mount-check-cmd mount-check-regex args...
    local name=$1 banner=$2 mcmd=$3 mre=$4
    shift 4
    con_start "$SCN" pipe "$@" -m 128 -nographic -d int,unimp -D "$work/$SCN.int.log" \
        || { fail "start: could not start $BUBBLE"; return; }
    if con_wait "$banner" "$KERNEL_START_TIMEOUT"; then
        timing loader "$(secs_since "$CON_T0")s"
        pass "$name: $banner started"
    else
        fail "$name: no '$banner' banner: $CON_WHY"
    fi
    con_boot "$name: boot" bios || { con_stop; return; }
    con_check "$name: uname -a shows the 686 kernel" "uname -a" \
        '^Linux bubble 6\.1\.0-[0-9]+-686 .* i686 GNU/Linux$'
    con_check "$name: the loader passed syslinux.cfg's command line" "cat /proc/cmdline" 'console=ttyS0'
    con_check "$name: the boot medium is readable" "$mcmd" "$mre"
    con_stop
}

scn_disk() {
    local img=$work/disk.img
    copy_image "$img" || { fail "copy disk.img: failed"; return; }
    bios_boot "disk (our BIOS, SYSLINUX)" "SYSLINUX" \
        "mount -t vfat -o ro /dev/sda1 /mnt && ls -1 /mnt && umount /mnt" '^initrd\.gz$' \
        -hda "$img"
}

scn_iso() {
    bios_boot "iso (our BIOS, ISOLINUX)" "ISOLINUX" \
        "mount -t iso9660 -o ro /dev/sr0 /mnt && ls -1 /mnt/isolinux && umount /mnt" '^isolinux\.bin$' \
        -cdrom "$IMAGES/guest.iso" -boot d
}

scn_seabios() {
    if [[ ! -f $SEABIOS ]]; then
        fail "seabios: $SEABIOS is missing (Debian package seabios)"
        return
    fi
    local img=$work/seabios.img
    copy_image "$img" || { fail "copy disk.img: failed"; return; }
    bios_boot "disk (SeaBIOS, SYSLINUX)" "SYSLINUX" \
        "mount -t vfat -o ro /dev/sda1 /mnt && ls -1 /mnt && umount /mnt" '^initrd\.gz$' \
        -bios "$SEABIOS" -hda "$img"
}

# Runs one scenario in the background: output to $work/NAME.out.
run_scenario() {
    local name=$1
    (
        SCN=$name
        RES=$work/$name.results
        : > "$RES"
        CON_PID=""
        CON_FD=""
        trap 'con_stop' EXIT
        trap 'exit 143' TERM
        local t0
        t0=$(now_ms)
        "scn_${name//-/_}"
        timing total "$(secs_since "$t0")s"
    ) > "$work/$name.out" 2>&1 &
}

# ------------------------------------------------------------ main
t_script=$(now_ms)
echo "== reference guest (tools/build-guest.sh)"
if ! tools/build-guest.sh > "$work/build-guest.log" 2>&1; then
    tail -n 15 "$work/build-guest.log"
    if grep -qiE 'could not install host packages|missing host packages|do not resolve|package index|apt-get download .* failed|run as root|Temporary failure|Could not resolve|Unable to fetch|unable to locate' "$work/build-guest.log"; then
        missing=""
        for f in vmlinuz initrd.gz disk.img guest.iso; do [[ -f $IMAGES/$f ]] || missing="$missing $f"; done
        if [[ -n $missing ]]; then
            echo "SKIP: the reference guest cannot be built here (no network or packages; see $work/build-guest.log): $(grep -m1 -E 'error|missing|run as root' "$work/build-guest.log")"
            exit 77
        fi
        echo "note: tools/build-guest.sh failed for lack of network or packages; using the existing images"
    else
        echo "FAIL tools/build-guest.sh failed (see above and $work/build-guest.log)"
        echo "RESULT: 0 passed, 1 failed"
        exit 1
    fi
else
    tail -n 1 "$work/build-guest.log"
fi
echo "   ($(secs_since "$t_script")s)"
if [[ ! -x $BUBBLE ]]; then
    echo "FAIL $BUBBLE is missing: run make first"
    echo "RESULT: 0 passed, 1 failed"
    exit 1
fi

for s in $SCENARIOS; do
    if ! declare -F "scn_${s//-/_}" >/dev/null; then
        echo "unknown scenario '$s' (known: kernel ctrl-a snapshot disk iso seabios)"
        exit 2
    fi
done

# Scenarios are printed as they finish, so that a run cut short still shows
# what it saw. Past the time budget the emulators still running are ended:
# their scenarios then fail at once and report what they had reached.
echo "== scenarios: $SCENARIOS ($JOBS at a time, budget ${BUDGET}s; logs in $work)"
t_all=$(now_ms)
passed=0
failed=0
read -r -a pending <<< "$SCENARIOS"
running=()
declare -A scn_pid
budget_hit=""
report_scenario() {
    local s=$1 p f
    echo
    echo "== $s: $(cat "$work/$s.cmdline" 2>/dev/null)"
    cat "$work/$s.out"
    p=$(grep -c '^PASS' "$work/$s.results" 2>/dev/null)
    f=$(grep -c '^FAIL' "$work/$s.results" 2>/dev/null)
    if [[ ! -s $work/$s.results ]]; then
        f=1
        echo "FAIL [$s] the scenario ended without any result"
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
}
while (( ${#pending[@]} + ${#running[@]} > 0 )); do
    still=()
    for s in "${running[@]}"; do
        if kill -0 "${scn_pid[$s]}" 2>/dev/null; then
            still+=("$s")
        else
            wait "${scn_pid[$s]}" 2>/dev/null
            report_scenario "$s"
        fi
    done
    running=("${still[@]}")
    while (( ${#running[@]} < JOBS && ${#pending[@]} > 0 )); do
        s=${pending[0]}
        pending=("${pending[@]:1}")
        if [[ -n $budget_hit ]]; then
            echo
            echo "FAIL [$s] not run: the time budget of ${BUDGET}s was used up"
            failed=$((failed + 1))
            continue
        fi
        echo "   started $s at $(secs_since "$t_all")s"
        run_scenario "$s"
        scn_pid[$s]=$!
        running+=("$s")
    done
    if [[ -z $budget_hit ]] && (( $(now_ms) - t_script > BUDGET * 1000 )); then
        budget_hit=1
        echo "   time budget of ${BUDGET}s (counted from the start, guest build included) used up: ending the emulators still running"
        kill_listed
    fi
    (( ${#running[@]} > 0 )) && sleep 1
done

echo
echo "== timings (host seconds from the emulator's start; idle-cpu: share of one core)"
for s in $SCENARIOS; do
    [[ -f $work/$s.timings ]] && printf '   %-10s %s\n' "$s" "$(tr '\n' ' ' < "$work/$s.timings")"
done
echo "   all scenarios: $(secs_since "$t_all")s${budget_hit:+ (time budget of ${BUDGET}s exceeded)}"
echo "RESULT: $passed passed, $failed failed"
(( failed == 0 ))
