/* POST code ports: firmware writes progress codes to port 0x80 (and, on
 * some boards, 0x190). With -d post each one is logged as "POST xx". Writes
 * are otherwise harmless; reads return the last code, as on most boards. */
#ifndef BUBBLE_POSTCODE_H
#define BUBBLE_POSTCODE_H

#include <stdint.h>
#include <stdio.h>

struct ioports;

struct postcode {
    FILE *log;          /* NULL: not logged */
    uint8_t last;
};

int postcode_init(struct postcode *p, struct ioports *io, FILE *log);

#endif
