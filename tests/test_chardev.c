/* Tests of the host character backends (frontend/chardev.c, included here:
 * frontend/ is not in libbubble.a): spec parsing and errors, the file
 * backend, the tcp server on 127.0.0.1 with an ephemeral port (a client
 * connects, data both ways, a second client is turned away, reconnecting, a
 * port in use is a clear error), the tcp client, flow control of input (a
 * device with little room gets everything, in order), stdio with a non-tty
 * stdin, and the Ctrl-A escapes. Loopback networking only. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "frontend/chardev.c"

#include "tests/check.h"

/* A fake device: takes at most `room` bytes until the test drains it. */
struct fake_dev {
    struct char_backend *be;
    uint8_t got[65536];
    size_t len;
    int room, cap;
};

static int dev_can_receive(void *opaque)
{
    struct fake_dev *d = opaque;
    return d->room;
}

static void dev_receive(void *opaque, const uint8_t *buf, size_t n)
{
    struct fake_dev *d = opaque;
    if ((int)n > d->room) check(0, "backend delivered %zu bytes with room for %d", n, d->room);
    for (size_t k = 0; k < n && d->len < sizeof(d->got); k++) d->got[d->len++] = buf[k];
    d->room -= (int)n;
}

/* The guest read everything: room again, and tell the backend. */
static void dev_drain(struct fake_dev *d)
{
    d->room = d->cap;
    chr_rx_ready(d->be);
}

static void dev_attach(struct fake_dev *d, struct chardev *c, int cap)
{
    memset(d, 0, sizeof(*d));
    d->be = chardev_backend(c);
    d->cap = d->room = cap;
    chr_set_receiver(d->be, dev_can_receive, dev_receive, d);
}

/* One main-loop iteration: poll the backend's fds (timeout in ms) and handle them. */
static int poll_once(struct chardev *c, int timeout_ms)
{
    struct pollfd fds[CHARDEV_MAX_FDS];
    int n = chardev_poll_fds(c, fds, CHARDEV_MAX_FDS);
    if (n == 0) return 0;
    int r = poll(fds, (nfds_t)n, timeout_ms);
    if (r > 0) chardev_poll_handle(c, fds, n);
    return r;
}

static int connect_client(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read from a socket until `want` bytes or a timeout. */
static size_t recv_some(int fd, char *buf, size_t want, int timeout_ms)
{
    size_t got = 0;
    while (got < want) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) <= 0) break;
        ssize_t r = recv(fd, buf + got, want - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

static void test_specs(void)
{
    char err[256];
    struct chardev *c = chardev_open("none", err, sizeof(err));
    check(!c && err[0] == 0, "none: no device, no error");
    check(chardev_spec_is_none("none") && !chardev_spec_is_none("null"), "chardev_spec_is_none");
    c = chardev_open("null", err, sizeof(err));
    check(c != NULL, "null opens");
    if (c) {
        chr_write(chardev_backend(c), (const uint8_t *)"x", 1);
        struct pollfd fds[CHARDEV_MAX_FDS];
        check(chardev_poll_fds(c, fds, CHARDEV_MAX_FDS) == 0, "null has nothing to poll");
        chardev_close(c);
    }
    c = chardev_open("pty", err, sizeof(err));
    check(!c && strstr(err, "unsupported") && strstr(err, "pty"), "unknown backend named in the error: %s", err);
    c = chardev_open("tcp:127.0.0.1", err, sizeof(err));
    check(!c && strstr(err, "tcp:"), "tcp without a port: %s", err);
    c = chardev_open("tcp:127.0.0.1:99999,server,nowait", err, sizeof(err));
    check(!c && err[0], "tcp port out of range: %s", err);
    c = chardev_open("tcp:127.0.0.1:0,server,nowait,telnet", err, sizeof(err));
    check(!c && strstr(err, "telnet"), "unsupported option named: %s", err);
    c = chardev_open("file:/nonexistent-dir/x", err, sizeof(err));
    check(!c && strstr(err, "/nonexistent-dir/x"), "file error names the path: %s", err);
}

static void test_file(void)
{
    char path[] = "/tmp/bubble-chardev-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        if (write(fd, "old contents", 12) != 12) { /* truncation below is what we check */ }
        close(fd);
    }
    char spec[64], err[256];
    snprintf(spec, sizeof(spec), "file:%s", path);
    struct chardev *c = chardev_open(spec, err, sizeof(err));
    check(c != NULL, "file opens: %s", err);
    if (!c) return;
    struct char_backend *be = chardev_backend(c);
    chr_write(be, (const uint8_t *)"serial ", 7);
    chr_write(be, (const uint8_t *)"output\n", 7);
    struct pollfd fds[CHARDEV_MAX_FDS];
    check(chardev_poll_fds(c, fds, CHARDEV_MAX_FDS) == 0, "file has no input to poll");
    chardev_close(c);
    char buf[64] = { 0 };
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f) fclose(f);
    check(n == 14 && !strcmp(buf, "serial output\n"), "file holds exactly the output (truncated first): '%s'", buf);
    unlink(path);
}

static void test_tcp_server(void)
{
    char err[256];
    struct chardev *c = chardev_open("tcp:127.0.0.1:0,server,nowait", err, sizeof(err));
    check(c != NULL, "tcp server opens on an ephemeral port: %s", err);
    if (!c) return;
    int port = chardev_tcp_port(c);
    check(port > 0, "bound port %d", port);
    check(strstr(chardev_name(c), "127.0.0.1") != NULL, "name %s", chardev_name(c));
    struct fake_dev dev;
    dev_attach(&dev, c, 3);
    struct char_backend *be = chardev_backend(c);

    chr_write(be, (const uint8_t *)"lost", 4);   /* no client yet: dropped, no error */

    /* A port in use is a clear error. */
    char spec[64];
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d,server,nowait", port);
    struct chardev *c2 = chardev_open(spec, err, sizeof(err));
    check(!c2 && strstr(err, "already in use"), "second server on the port: %s", err);
    if (c2) chardev_close(c2);

    int cl = connect_client(port);
    check(cl >= 0, "client connects");
    for (int k = 0; k < 20 && c->in_fd < 0; k++) poll_once(c, 100);
    check(c->in_fd >= 0, "server accepted the client");

    /* Client to device, through a device with room for 3 bytes at a time. */
    const char *msg = "hello, serial port";
    if (send(cl, msg, strlen(msg), 0) != (ssize_t)strlen(msg)) check(0, "client send");
    for (int k = 0; k < 100 && dev.len < strlen(msg); k++) {
        poll_once(c, 20);
        dev_drain(&dev);
    }
    check(dev.len == strlen(msg) && !memcmp(dev.got, msg, dev.len), "device got '%.*s'", (int)dev.len, dev.got);

    /* Device to client. */
    chr_write(be, (const uint8_t *)"guest says hi", 13);
    char buf[128];
    size_t n = recv_some(cl, buf, 13, 1000);
    check(n == 13 && !memcmp(buf, "guest says hi", 13), "client got the output (%zu bytes)", n);

    /* A second client is turned away with a message. */
    int cl2 = connect_client(port);
    check(cl2 >= 0, "second client connects at the TCP level");
    for (int k = 0; k < 5; k++) poll_once(c, 50);
    n = recv_some(cl2, buf, sizeof(buf) - 1, 1000);
    buf[n] = 0;
    check(strstr(buf, "already has a client") != NULL, "second client told the port is busy: '%s'", buf);
    char probe;
    check(recv(cl2, &probe, 1, 0) == 0, "second client disconnected");
    close(cl2);
    chr_write(be, (const uint8_t *)"still", 5);
    n = recv_some(cl, buf, 5, 1000);
    check(n == 5 && !memcmp(buf, "still", 5), "first client still connected");

    /* Reconnect: the first client leaves, a new one comes. */
    close(cl);
    for (int k = 0; k < 20 && c->in_fd >= 0; k++) poll_once(c, 50);
    check(c->in_fd < 0, "server noticed the disconnect");
    chr_write(be, (const uint8_t *)"nobody", 6);   /* no client: dropped */
    int cl3 = connect_client(port);
    for (int k = 0; k < 20 && c->in_fd < 0; k++) poll_once(c, 50);
    check(c->in_fd >= 0, "reconnected client accepted");
    chr_write(be, (const uint8_t *)"again", 5);
    n = recv_some(cl3, buf, 5, 1000);
    check(n == 5 && !memcmp(buf, "again", 5), "reconnected client gets output");
    if (send(cl3, "z", 1, 0) != 1) check(0, "send");
    size_t before = dev.len;
    for (int k = 0; k < 20 && dev.len == before; k++) {
        dev_drain(&dev);
        poll_once(c, 50);
    }
    check(dev.len == before + 1 && dev.got[before] == 'z', "reconnected client's input arrives");
    close(cl3);
    chardev_close(c);

    /* The default host is 127.0.0.1. */
    c = chardev_open("tcp::0,server=on,wait=off", err, sizeof(err));
    check(c && strstr(chardev_name(c), "127.0.0.1"), "empty host listens on 127.0.0.1: %s", c ? chardev_name(c) : err);
    chardev_close(c);
}

static void test_tcp_client(void)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1) || getsockname(ls, (struct sockaddr *)&a, &al)) {
        check(0, "test listener");
        close(ls);
        return;
    }
    char spec[64], err[256];
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", ntohs(a.sin_port));
    struct chardev *c = chardev_open(spec, err, sizeof(err));
    check(c != NULL, "tcp client connects: %s", err);
    int peer = accept(ls, NULL, NULL);
    close(ls);
    if (!c || peer < 0) {
        if (peer >= 0) close(peer);
        chardev_close(c);
        return;
    }
    struct fake_dev dev;
    dev_attach(&dev, c, 64);
    chr_write(chardev_backend(c), (const uint8_t *)"out", 3);
    char buf[16];
    check(recv_some(peer, buf, 3, 1000) == 3 && !memcmp(buf, "out", 3), "client mode output");
    if (send(peer, "in", 2, 0) != 2) check(0, "send");
    for (int k = 0; k < 20 && dev.len < 2; k++) poll_once(c, 50);
    check(dev.len == 2 && !memcmp(dev.got, "in", 2), "client mode input");
    close(peer);
    chardev_close(c);
    /* Nobody listening: a clear error. */
    c = chardev_open(spec, err, sizeof(err));
    check(!c && strstr(err, "cannot connect"), "connect refused: %s", err);
}

/* stdio with input from a pipe: flow control and the Ctrl-A escapes. */
static int exit_calls;
static void on_exit_request(void *opaque) { exit_calls++; }

static void test_stdio_input(void)
{
    char err[256];
    struct chardev *c = chardev_open("stdio", err, sizeof(err));
    check(c != NULL, "stdio opens: %s", err);
    if (!c) return;
    check(!c->raw_tty, "stdin is not a terminal here: no raw mode");
    /* Feed stdin's place from a pipe. */
    int p[2];
    if (pipe(p)) {
        check(0, "pipe");
        chardev_close(c);
        return;
    }
    c->in_fd = p[0];
    struct fake_dev dev;
    dev_attach(&dev, c, 16);

    /* More input than the device holds at once, many times over: nothing lost. */
    static uint8_t data[20000];
    for (size_t k = 0; k < sizeof(data); k++) data[k] = (uint8_t)(k * 13 + 7);
    size_t sent = 0;
    for (int spins = 0; spins < 100000 && dev.len < sizeof(data); spins++) {
        if (sent < sizeof(data)) {
            ssize_t w = write(p[1], data + sent, sizeof(data) - sent > 4096 ? 4096 : sizeof(data) - sent);
            if (w > 0) sent += (size_t)w;
        }
        poll_once(c, 10);
        dev_drain(&dev);
    }
    check(dev.len == sizeof(data) && !memcmp(dev.got, data, sizeof(data)), "all %zu bytes in order (got %zu)",
          sizeof(data), dev.len);

    /* Escapes (as on a terminal). */
    c->escapes = 1;
    chardev_set_exit_handler(c, on_exit_request, NULL);
    dev.len = 0;
    const char esc[] = "ab\x01" "a" "c\x01" "h" "d\x01" "x" "e";
    if (write(p[1], esc, sizeof(esc) - 1) != (ssize_t)(sizeof(esc) - 1)) check(0, "write");
    for (int k = 0; k < 20 && !exit_calls; k++) {
        poll_once(c, 20);
        dev_drain(&dev);
    }
    check(exit_calls == 1 && chardev_exit_requested(c), "C-a x requests exit");
    check(dev.len == 5 && !memcmp(dev.got, "ab\x01" "cd", 5), "C-a a sends C-a; C-a h and C-a x are not sent: '%.*s'",
          (int)dev.len, dev.got);

    /* End of input: no more polling of stdin. */
    close(p[1]);
    for (int k = 0; k < 20 && !c->in_eof; k++) {
        poll_once(c, 20);
        dev_drain(&dev);
    }
    check(c->in_eof, "EOF seen on stdin");
    struct pollfd fds[CHARDEV_MAX_FDS];
    check(chardev_poll_fds(c, fds, CHARDEV_MAX_FDS) == 0, "stdin not polled after EOF");
    close(p[0]);
    c->in_fd = STDIN_FILENO;
    chardev_close(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_specs();
    test_file();
    test_tcp_server();
    test_tcp_client();
    test_stdio_input();
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
