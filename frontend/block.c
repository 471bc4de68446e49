/* Block backends: raw image files and the -snapshot overlay (see block.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/block.h"

#define SECTOR 512u

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int in_range(const struct block_backend *b, uint64_t off, size_t len)
{
    return off <= b->size && len <= b->size - off;
}

/* pread/pwrite until done; a read past the end of the file gives zeros. */
static int read_fully(int fd, uint64_t off, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) {
            memset(p, 0, len);
            return 0;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_fully(int fd, uint64_t off, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Raw images */

struct raw_image {
    struct block_backend b;
    int fd;
    char *path;
};

static int raw_read(struct block_backend *b, uint64_t off, void *buf, size_t len)
{
    struct raw_image *r = (struct raw_image *)b;
    if (!in_range(b, off, len)) return -EINVAL;
    return read_fully(r->fd, off, buf, len);
}

static int raw_write(struct block_backend *b, uint64_t off, const void *buf, size_t len)
{
    struct raw_image *r = (struct raw_image *)b;
    if (b->read_only) return -EROFS;
    if (!in_range(b, off, len)) return -EINVAL;
    return write_fully(r->fd, off, buf, len);
}

static int raw_flush(struct block_backend *b)
{
    struct raw_image *r = (struct raw_image *)b;
    if (b->read_only) return 0;
    return fdatasync(r->fd) ? -errno : 0;
}

static void raw_close(struct block_backend *b)
{
    struct raw_image *r = (struct raw_image *)b;
    int rc = raw_flush(b);
    if (rc) fprintf(stderr, "bubble: %s: flushing at close failed: %s\n", r->path, strerror(-rc));
    close(r->fd);
    free(r->path);
    free(r);
}

static int raw_probe(const uint8_t *head, size_t len)
{
    return 1;   /* anything is a raw image: the fallback */
}

static struct block_backend *raw_open(int fd, const char *path, uint64_t size, int read_only,
                                      char *err, size_t errlen)
{
    struct raw_image *r = calloc(1, sizeof(*r));
    char *copy = strdup(path);
    if (!r || !copy) {
        free(r);
        free(copy);
        set_error(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    r->fd = fd;
    r->path = copy;
    r->b.size = size;
    r->b.read_only = read_only;
    r->b.name = r->path;
    r->b.read = raw_read;
    r->b.write = raw_write;
    r->b.flush = raw_flush;
    r->b.close = raw_close;
    return &r->b;
}

/* Image formats, most specific first: a format recognises its header in
 * the first sector. Growing and compressed formats go before raw. */
struct block_format {
    const char *name;
    int (*probe)(const uint8_t *head, size_t len);
    struct block_backend *(*open)(int fd, const char *path, uint64_t size, int read_only,
                                  char *err, size_t errlen);
};

static const struct block_format formats[] = {
    { "raw", raw_probe, raw_open },
};

/* ---------------------------------------------------------------------------
 * Snapshot overlay: sectors written since open live in a sparse, unlinked
 * temporary file of the image's size; a bitmap says which. */

struct overlay {
    struct block_backend b;
    struct block_backend *base;
    int fd;
    uint8_t *dirty;
};

static int is_dirty(const struct overlay *o, uint64_t sector)
{
    return (o->dirty[sector >> 3] >> (sector & 7)) & 1;
}

static int overlay_read(struct block_backend *b, uint64_t off, void *buf, size_t len)
{
    struct overlay *o = (struct overlay *)b;
    if (!in_range(b, off, len)) return -EINVAL;
    uint8_t *p = buf;
    while (len) {
        /* The longest run of sectors that all come from the same side. */
        int dirty = is_dirty(o, off / SECTOR);
        uint64_t end = off;
        while (end < off + len && is_dirty(o, end / SECTOR) == dirty) end = (end / SECTOR + 1) * SECTOR;
        size_t n = (size_t)((end < off + len ? end : off + len) - off);
        int rc = dirty ? read_fully(o->fd, off, p, n) : blk_read(o->base, off, p, n);
        if (rc) return rc;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Bring a whole sector into the overlay before part of it is written. */
static int overlay_fill_sector(struct overlay *o, uint64_t sector)
{
    uint8_t tmp[SECTOR];
    uint64_t off = sector * SECTOR;
    size_t n = o->b.size - off < SECTOR ? (size_t)(o->b.size - off) : SECTOR;
    int rc = blk_read(o->base, off, tmp, n);
    if (!rc) rc = write_fully(o->fd, off, tmp, n);
    return rc;
}

static int overlay_write(struct block_backend *b, uint64_t off, const void *buf, size_t len)
{
    struct overlay *o = (struct overlay *)b;
    if (!in_range(b, off, len)) return -EINVAL;
    if (!len) return 0;
    uint64_t first = off / SECTOR, last = (off + len - 1) / SECTOR;
    /* A sector not wholly covered keeps the rest of its bytes from the image;
     * the image's last partial sector has no rest past the end. */
    int head_partial = off % SECTOR != 0;
    int tail_partial = (off + len) % SECTOR != 0 && off + len < b->size;
    int rc = 0;
    if (head_partial && !is_dirty(o, first)) rc = overlay_fill_sector(o, first);
    if (!rc && tail_partial && !is_dirty(o, last) && !(last == first && head_partial))
        rc = overlay_fill_sector(o, last);
    if (!rc) rc = write_fully(o->fd, off, buf, len);
    if (rc) return rc;
    for (uint64_t s = first; s <= last; s++) o->dirty[s >> 3] |= (uint8_t)(1u << (s & 7));
    return 0;
}

static int overlay_flush(struct block_backend *b)
{
    return 0;   /* nothing here outlives the process, by request */
}

static void overlay_close(struct block_backend *b)
{
    struct overlay *o = (struct overlay *)b;
    block_close(o->base);
    close(o->fd);
    free(o->dirty);
    free(o);
}

static int temp_file(void)
{
    const char *dirs[3] = { getenv("TMPDIR"), "/var/tmp", "/tmp" };
    for (int k = 0; k < 3; k++) {
        if (!dirs[k] || !*dirs[k]) continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/bubble-snapshot-XXXXXX", dirs[k]);
        int fd = mkstemp(path);
        if (fd < 0) continue;
        unlink(path);     /* gone when we close it, whatever happens */
        return fd;
    }
    return -1;
}

static struct block_backend *overlay_open(struct block_backend *base, char *err, size_t errlen)
{
    struct overlay *o = calloc(1, sizeof(*o));
    uint64_t sectors = (base->size + SECTOR - 1) / SECTOR;
    if (o) o->dirty = calloc((size_t)(sectors + 7) / 8, 1);
    if (!o || !o->dirty) {
        set_error(err, errlen, "%s: out of memory for the snapshot overlay", base->name);
        goto fail;
    }
    o->fd = temp_file();
    if (o->fd < 0 || ftruncate(o->fd, (off_t)base->size)) {
        set_error(err, errlen, "%s: cannot create the snapshot overlay in TMPDIR, /var/tmp or /tmp: %s",
                  base->name, strerror(errno));
        if (o->fd >= 0) close(o->fd);
        goto fail;
    }
    o->base = base;
    o->b.size = base->size;
    o->b.read_only = 0;
    o->b.removable = base->removable;
    o->b.name = base->name;
    o->b.read = overlay_read;
    o->b.write = overlay_write;
    o->b.flush = overlay_flush;
    o->b.close = overlay_close;
    return &o->b;
fail:
    if (o) free(o->dirty);
    free(o);
    block_close(base);
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Opening */

static uint64_t file_size(int fd, const struct stat *st)
{
    if (S_ISREG(st->st_mode)) return (uint64_t)st->st_size;
    off_t end = lseek(fd, 0, SEEK_END);   /* block devices */
    return end > 0 ? (uint64_t)end : 0;
}

struct block_backend *block_open(const char *path, int flags, char *err, size_t errlen)
{
    if (!path || !*path) {
        set_error(err, errlen, "no image file name given");
        return NULL;
    }
    int cdrom = (flags & BLK_CDROM) != 0;
    int snapshot = (flags & BLK_SNAPSHOT) && !cdrom;
    int read_only = cdrom || (flags & BLK_READONLY);
    /* Under -snapshot the image is only ever read. */
    int fd = open(path, (read_only || snapshot ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0 && !read_only && !snapshot && (errno == EACCES || errno == EROFS || errno == EPERM)) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            read_only = 1;
            fprintf(stderr, "bubble: warning: %s is not writable: opened read-only, the guest's writes "
                    "will fail (-snapshot keeps them in a temporary overlay)\n", path);
        }
    }
    if (fd < 0) {
        set_error(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        set_error(err, errlen, "cannot examine %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        set_error(err, errlen, "%s is a directory, not a disk image", path);
        close(fd);
        return NULL;
    }
    uint64_t size = file_size(fd, &st);
    if (size == 0) {
        set_error(err, errlen, "%s is empty: a disk image needs at least one sector", path);
        close(fd);
        return NULL;
    }
    int writable = !read_only && !snapshot;
    if (flock(fd, (writable ? LOCK_EX : LOCK_SH) | LOCK_NB)) {
        set_error(err, errlen, "%s is in use by another program (it holds a lock on it)", path);
        close(fd);
        return NULL;
    }
    if (cdrom && size % 2048)
        fprintf(stderr, "bubble: warning: %s is not a whole number of 2048-byte CD sectors\n", path);

    uint8_t head[SECTOR];
    if (read_fully(fd, 0, head, sizeof(head))) {
        set_error(err, errlen, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    const struct block_format *fmt = &formats[0];
    for (size_t k = 0; k < sizeof(formats) / sizeof(formats[0]); k++) {
        if (formats[k].probe(head, sizeof(head))) {
            fmt = &formats[k];
            break;
        }
    }
    struct block_backend *b = fmt->open(fd, path, size, read_only || snapshot, err, errlen);
    if (!b) {
        close(fd);
        return NULL;
    }
    b->removable = cdrom;
    if (snapshot) return overlay_open(b, err, errlen);
    return b;
}

void block_close(struct block_backend *b)
{
    if (b && b->close) b->close(b);
}
