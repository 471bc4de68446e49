#!/usr/bin/env bash
# Runs every test of the project and ends with exactly one line
#   N passed, M failed[, K skipped]
# exiting non-zero when M > 0.
#
#   tests/run.sh [pattern...]  only tests whose name contains one of the patterns
#
# Tests are the executables $BUILD/tests/test_* (BUILD defaults to build) and the
# executable scripts tests/*.test.sh. Protocol of one test:
#   - it prints what it likes and ends with `RESULT: P passed, F failed[, S skipped]`;
#     the counts are added up over all tests;
#   - a non-zero exit counts at least one failure whatever its RESULT line says;
#   - no RESULT line: 1 passed or 1 failed by its exit code;
#   - `SKIP: reason` and exit 77: skipped, and the reason is shown (never silent).
# Environment: TESTS_QUICK=1 is passed through (tests may shorten themselves);
# TEST_TIMEOUT (seconds, default 600) ends a test that hangs and counts it failed;
# TESTS_VERBOSE=1 shows every test's output, not only the output of failing tests.
# Each test's full output is kept in $BUILD/test-logs/NAME.log.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

BUILD=${BUILD:-build}
patterns=("$@")
timeout_s=${TEST_TIMEOUT:-600}
logdir=$BUILD/test-logs
mkdir -p "$logdir" 2>/dev/null || logdir=$(mktemp -d)
export TESTS_QUICK=${TESTS_QUICK:-}
export BUILD

# Collect the tests, sorted, as "name<TAB>path".
tests=()
shopt -s nullglob
for path in "$BUILD"/tests/test_*; do
    [[ -f $path && -x $path ]] || continue
    case $path in *.o|*.d|*.log) continue ;; esac
    tests+=("$path")
done
for path in tests/*.test.sh; do
    [[ -f $path && -x $path ]] || continue
    tests+=("$path")
done
shopt -u nullglob

total_pass=0
total_fail=0
total_skip=0
failed_names=()

now_ms() { date +%s%3N; }

for path in "${tests[@]}"; do
    name=$(basename "$path")
    wanted=$(( ${#patterns[@]} == 0 ))
    for p in "${patterns[@]}"; do [[ $name == *"$p"* ]] && wanted=1; done
    if (( ! wanted )); then
        continue
    fi
    log=$logdir/$name.log
    start=$(now_ms)
    if command -v timeout >/dev/null 2>&1; then
        timeout --kill-after=10 "$timeout_s" "$path" >"$log" 2>&1 </dev/null
    else
        "$path" >"$log" 2>&1 </dev/null
    fi
    rc=$?
    elapsed=$(( $(now_ms) - start ))
    secs=$(printf '%d.%01d' $((elapsed / 1000)) $(((elapsed % 1000) / 100)))

    # The last RESULT line wins.
    result=$(grep -E '^RESULT: [0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?[[:space:]]*$' "$log" | tail -n 1)
    p=0 f=0 s=0 note=""
    if [[ $rc -eq 77 ]]; then
        reason=$(grep -m1 -E '^SKIP:' "$log" | sed -e 's/^SKIP:[[:space:]]*//')
        [[ -n $reason ]] || reason="(exit 77 without a SKIP: line)"
        if [[ -n $result ]]; then
            read -r p f s < <(sed -E 's/^RESULT: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\1 \2 \4/' <<<"$result")
            s=${s:-0}
            (( s == 0 )) && s=1
        else
            s=1
        fi
        note="skipped: $reason"
    elif [[ -n $result ]]; then
        read -r p f s < <(sed -E 's/^RESULT: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\1 \2 \4/' <<<"$result")
        s=${s:-0}
        if [[ $rc -ne 0 && $f -eq 0 ]]; then
            f=1
            note="exit status $rc"
        fi
    else
        if [[ $rc -eq 0 ]]; then p=1; else f=1; note="exit status $rc, no RESULT line"; fi
    fi
    # Skips are never silent: show the test's SKIP: reasons.
    if [[ $rc -ne 77 && $s -gt 0 ]]; then
        reasons=$(grep -E '^SKIP:' "$log" | sed -e 's/^SKIP:[[:space:]]*//' | paste -sd ';' -)
        [[ -n $reasons ]] || reasons="(no SKIP: line given)"
        note="${note:+$note; }skipped: $reasons"
    fi
    if [[ $rc -eq 124 || $rc -eq 137 ]] && command -v timeout >/dev/null 2>&1; then
        note="timed out after ${timeout_s}s (exit $rc)"
    fi

    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + s))

    if (( f > 0 )); then status=FAIL; elif (( s > 0 && p == 0 )); then status=SKIP; else status=PASS; fi
    counts="$p passed, $f failed"
    (( s > 0 )) && counts="$counts, $s skipped"
    printf '%-4s %-28s %-36s %7s s%s\n' "$status" "$name" "$counts" "$secs" "${note:+  ($note)}"

    if [[ $status == FAIL ]]; then
        failed_names+=("$name")
        echo "---- output of $name (last 200 lines; full log: $log) ----"
        tail -n 200 "$log"
        echo "---- end of $name ----"
    elif [[ ${TESTS_VERBOSE:-} == 1 ]]; then
        cat "$log"
    fi
done

if (( ${#failed_names[@]} > 0 )); then
    echo "failing tests: ${failed_names[*]}"
fi
summary="$total_pass passed, $total_fail failed"
(( total_skip > 0 )) && summary="$summary, $total_skip skipped"
echo "$summary"
(( total_fail == 0 ))
