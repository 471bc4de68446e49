/* Disk images for the block devices (struct block_backend, devices/hostif.h).
 *
 * Today: raw images (a file or a block device, byte for byte the disk). The
 * image format is chosen by probing the first sector against a table of
 * formats in block.c, where compressed or growing formats will join raw.
 * -snapshot is a layer over any format: writes go to a copy-on-write overlay
 * in an unlinked temporary file and the image is never modified. */
#ifndef BUBBLE_BLOCK_H
#define BUBBLE_BLOCK_H

#include <stddef.h>

#include "devices/hostif.h"

#define BLK_READONLY 1   /* never write the image; the guest's writes fail */
#define BLK_SNAPSHOT 2   /* writes go to a temporary overlay, dropped at close */
#define BLK_CDROM    4   /* read-only, removable, 2048-byte sectors */

/* Opens `path`. On failure returns NULL with a message in err. A writable
 * image is locked against a second bubble (flock); an image that cannot be
 * opened for writing is opened read-only, with a warning on stderr. */
struct block_backend *block_open(const char *path, int flags, char *err, size_t errlen);
/* Flushes and frees (NULL is fine). */
void block_close(struct block_backend *b);

#endif
