/* Block backends (frontend/block.c, included: the library holds no frontend
 * code): raw images read and written through the backend and checked on the
 * file, -snapshot leaving the image untouched, read-only and CD-ROM modes,
 * locking, and clear errors for missing, empty and directory images. */
#include "frontend/block.c"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/check.h"

static char dir[256];

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static uint8_t pattern(uint64_t off)
{
    return (uint8_t)(off * 7 + (off >> 9) * 3 + 1);
}

static int make_image(const char *path, uint64_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    for (uint64_t k = 0; k < size; k++) fputc(pattern(k), f);
    return fclose(f);
}

static uint8_t *slurp(const char *path, uint64_t size)
{
    uint8_t *buf = malloc(size);
    FILE *f = fopen(path, "rb");
    if (!buf || !f || fread(buf, 1, size, f) != size) {
        free(buf);
        buf = NULL;
    }
    if (f) fclose(f);
    return buf;
}

static int untouched(const char *path, uint64_t size)
{
    uint8_t *buf = slurp(path, size);
    if (!buf) return 0;
    int ok = 1;
    for (uint64_t k = 0; k < size && ok; k++) ok = buf[k] == pattern(k);
    free(buf);
    struct stat st;
    return ok && !stat(path, &st) && (uint64_t)st.st_size == size;
}

static void test_errors(void)
{
    char err[256], path[512];
    path_of(path, sizeof(path), "missing.img");
    err[0] = 0;
    check(block_open(path, 0, err, sizeof(err)) == NULL, "a missing image fails");
    check(strstr(err, "missing.img") && strstr(err, "No such file"), "and says so: %s", err);
    path_of(path, sizeof(path), "empty.img");
    FILE *f = fopen(path, "wb");
    fclose(f);
    check(block_open(path, 0, err, sizeof(err)) == NULL && strstr(err, "empty"), "an empty image fails: %s", err);
    check(block_open(dir, 0, err, sizeof(err)) == NULL && strstr(err, "directory"), "a directory fails: %s", err);
    check(block_open("", 0, err, sizeof(err)) == NULL, "no file name fails");
    struct stat st;
    check(!stat(path, &st) && st.st_size == 0, "the failed open left the empty file as it was");
}

static void test_raw(void)
{
    char err[256], path[512];
    uint64_t size = 1 << 20;
    path_of(path, sizeof(path), "raw.img");
    make_image(path, size);
    struct block_backend *b = block_open(path, 0, err, sizeof(err));
    check(b != NULL, "open a raw image: %s", b ? "" : err);
    if (!b) return;
    check(b->size == size && !b->read_only && !b->removable, "size and flags");
    uint8_t buf[4096];
    check(!blk_read(b, 4000, buf, sizeof(buf)), "read");
    int ok = 1;
    for (int k = 0; k < 4096; k++) ok &= buf[k] == pattern(4000 + (uint64_t)k);
    check(ok, "read returns the file's bytes");
    check(blk_read(b, size - 10, buf, 20) == -EINVAL, "a read past the end fails");
    for (int k = 0; k < 1000; k++) buf[k] = (uint8_t)(0xC0 ^ k);
    check(!blk_write(b, 12345, buf, 1000), "write");
    check(!blk_flush(b), "flush");
    uint8_t *file = slurp(path, size);
    check(file && !memcmp(file + 12345, buf, 1000), "the write is in the file after flush");
    check(file && file[12344] == pattern(12344) && file[13345] == pattern(13345), "neighbours untouched");
    free(file);
    char err2[256];
    check(block_open(path, 0, err2, sizeof(err2)) == NULL && strstr(err2, "in use"),
          "a second writer is refused: %s", err2);
    block_close(b);
    b = block_open(path, 0, err, sizeof(err));
    check(b != NULL, "the lock goes with the close");
    uint8_t back[1000];
    check(b && !blk_read(b, 12345, back, 1000) && !memcmp(back, buf, 1000), "reopened: the data is there");
    block_close(b);
}

static void test_read_only_and_cdrom(void)
{
    char err[256], path[512];
    uint64_t size = 300 * 2048;
    path_of(path, sizeof(path), "disc.iso");
    make_image(path, size);
    struct block_backend *b = block_open(path, BLK_READONLY, err, sizeof(err));
    check(b && b->read_only, "BLK_READONLY");
    uint8_t buf[512] = { 0 };
    check(b && blk_write(b, 0, buf, 512) == -EROFS, "writes fail with EROFS");
    struct block_backend *b2 = block_open(path, BLK_CDROM, err, sizeof(err));
    check(b2 != NULL, "readers share the image");
    check(b2 && b2->read_only && b2->removable && b2->size == size, "BLK_CDROM: read-only, removable");
    check(b2 && blk_write(b2, 0, buf, 512) == -EROFS, "CD-ROM writes fail");
    check(b2 && !blk_read(b2, 2048, buf, 512) && buf[0] == pattern(2048), "CD-ROM reads");
    block_close(b);
    block_close(b2);
    check(untouched(path, size), "the image is unchanged");
}

/* Snapshot: random writes against a model in memory; the file never changes. */
static void test_snapshot(void)
{
    char err[256], path[512];
    uint64_t size = 256 * 1024 + 300;      /* a partial last sector */
    path_of(path, sizeof(path), "snap.img");
    make_image(path, size);
    struct block_backend *b = block_open(path, BLK_SNAPSHOT, err, sizeof(err));
    check(b != NULL, "open with BLK_SNAPSHOT: %s", b ? "" : err);
    if (!b) return;
    check(!b->read_only && b->size == size, "the snapshot is writable");
    uint8_t *model = slurp(path, size);
    uint8_t *got = malloc(size);
    uint8_t buf[5000];
    unsigned seed = 12345;
    int ok = 1;
    for (int round = 0; round < 400 && ok; round++) {
        seed = seed * 1103515245u + 12345u;
        uint64_t off = (seed >> 4) % size;
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % sizeof(buf);
        if (off + len > size) len = (size_t)(size - off);
        for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)(round + k * 11);
        if (blk_write(b, off, buf, len)) ok = 0;
        memcpy(model + off, buf, len);
        if (round % 50 == 0) ok &= !blk_flush(b);
    }
    check(ok, "400 random writes, some unaligned, some at the end");
    check(!blk_read(b, 0, got, (size_t)size) && !memcmp(got, model, size), "the snapshot reads back the writes");
    check(!blk_read(b, 1000, got, 3) && !memcmp(got, model + 1000, 3), "small unaligned read");
    check(untouched(path, size), "the image file is untouched while the snapshot runs");
    struct block_backend *w = block_open(path, 0, err, sizeof(err));
    check(w == NULL, "a writer is refused while a snapshot reads the image");
    block_close(w);
    w = block_open(path, BLK_SNAPSHOT, err, sizeof(err));
    check(w != NULL, "a second snapshot may share it");
    block_close(w);
    block_close(b);
    check(untouched(path, size), "and after it closes");
    b = block_open(path, BLK_SNAPSHOT, err, sizeof(err));
    check(b && !blk_read(b, 0, got, (size_t)size) && got[0] == pattern(0) && got[size - 1] == pattern(size - 1),
          "a new snapshot starts from the image again");
    uint8_t one = 0x99;
    check(b && !blk_write(b, size - 1, &one, 1) && !blk_read(b, size - 2, buf, 2) && buf[0] == pattern(size - 2) &&
          buf[1] == 0x99, "a write to the last byte");
    block_close(b);
    free(model);
    free(got);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/bubble-test-block-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("cannot make a temporary directory\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    test_errors();
    test_raw();
    test_read_only_and_cdrom();
    test_snapshot();
    const char *names[] = { "empty.img", "raw.img", "disc.iso", "snap.img" };
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        char path[512];
        path_of(path, sizeof(path), names[k]);
        unlink(path);
    }
    rmdir(dir);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
