/* The pass/fail counter the unit tests share: check(cond, fmt, ...) counts a
 * pass, or prints "FAIL: ..." and counts a failure; the test ends with
 * `RESULT: passed passed, failed failed` (tests/run.sh reads that line). */
#ifndef BUBBLE_TESTS_CHECK_H
#define BUBBLE_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int passed, failed;

__attribute__((format(printf, 2, 3)))
static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: ");
        vprintf(fmt, ap);
        printf("\n");
    }
    va_end(ap);
}

#endif
