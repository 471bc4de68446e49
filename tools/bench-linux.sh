#!/bin/bash
# Linux benchmark of the PC: boots the reference guest (images/vmlinuz and
# images/initrd.gz from tools/build-guest.sh) on bubble and on QEMU in the same
# run, and prints host seconds for each, the ratios bubble/QEMU, and the
# peers' figures from shared/machine-facts.md:
#   - process start to the shell prompt on ttyS0, and to DHCP done (bubble:
#     once it has a network card; QEMU with -nic user,model=ne2k_pci);
#   - four workloads typed at the guest's shell, timed from the host (command
#     line sent to completion marker seen) and cross-checked with the guest's
#     `time`: a busybox ash loop to 200,000, md5sum of 64 MiB of zeros,
#     gzip -9 of 8 MB of text (made in the guest first, untimed), and a busybox
#     awk floating-point loop of 100,000 iterations.
# The consoles are on loopback TCP ports; the emulators run one at a time and
# are stopped on every exit path. A tool, not a test: the machine is shared and
# noisy, so compare the ratios of one run rather than absolute seconds.
#
# usage: tools/bench-linux.sh [--runs N] [--only bubble|qemu] [--timeout S]
#                             [--append ARGS] [--bubble PATH] [--images DIR] [--logs DIR]
#   --runs N      boot each emulator N times (alternating) and print medians (default 1)
#   --only E      run only bubble or only qemu
#   --timeout S   give up on a step (boot, a workload) after S host seconds (default 600)
#   --append ARGS more kernel arguments after console=ttyS0, for both emulators (a
#                 diagnostic: the figures to quote use the reference command line)
#   --bubble PATH the emulator binary (default ./bubble; build it with make)
#   --images DIR  where vmlinuz and initrd.gz are (default images/)
#   --logs DIR    keep the console logs there (default a new directory under /tmp)
# Exit status 0 when every run finished with the right answers.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUBBLE="$REPO/bubble"
IMAGES="$REPO/images"
LOGS=""
PASS=()
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
need_value() { [ $# -ge 2 ] || { echo "bench-linux: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
    --runs|--only|--timeout|--append) need_value "$@"; PASS+=("$1" "$2"); shift ;;
    --runs=*|--only=*|--timeout=*|--append=*) PASS+=("$1") ;;
    --bubble) need_value "$@"; BUBBLE="$2"; shift ;;
    --bubble=*) BUBBLE="${1#--bubble=}" ;;
    --images) need_value "$@"; IMAGES="$2"; shift ;;
    --images=*) IMAGES="${1#--images=}" ;;
    --logs) need_value "$@"; LOGS="$2"; shift ;;
    --logs=*) LOGS="${1#--logs=}" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench-linux: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

for f in vmlinuz initrd.gz; do
    [ -f "$IMAGES/$f" ] || { echo "bench-linux: $IMAGES/$f missing: run tools/build-guest.sh" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "bench-linux: python3 not found (apt-get install python3)" >&2; exit 1; }
only=""
for ((k = 0; k < ${#PASS[@]}; k++)); do
    case "${PASS[k]}" in --only) only="${PASS[k+1]}" ;; --only=*) only="${PASS[k]#--only=}" ;; esac
done
if [ "$only" != bubble ]; then
    command -v qemu-system-i386 >/dev/null \
        || { echo "bench-linux: qemu-system-i386 not found (apt-get install qemu-system-x86)" >&2; exit 1; }
fi
if [ "$only" != qemu ]; then
    [ -x "$BUBBLE" ] || { echo "bench-linux: $BUBBLE not found: run make" >&2; exit 1; }
fi
[ -n "$LOGS" ] || LOGS=$(mktemp -d "${TMPDIR:-/tmp}/bench-linux.XXXXXX")
mkdir -p "$LOGS"
# Every run uses the binary as it is now, even if make replaces it meanwhile.
RUN_BUBBLE="$BUBBLE"
if [ -x "$BUBBLE" ]; then
    RUN_BUBBLE="$LOGS/bubble"
    cp "$BUBBLE" "$RUN_BUBBLE"
fi

exec python3 "$REPO/tools/bench/bench_linux.py" --repo "$REPO" --bubble "$RUN_BUBBLE" \
    --bubble-label "$BUBBLE" --images "$IMAGES" --logs "$LOGS" "${PASS[@]}"
