/* Host character backends (see chardev.h). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "frontend/chardev.h"

enum chardev_kind { CHR_NULL, CHR_STDIO, CHR_FILE, CHR_TCP_SERVER, CHR_TCP_CLIENT };

#define ESCAPE_CHAR 0x01           /* Ctrl-A, as QEMU's -nographic */
#define STALL_TIMEOUT_MS 2000      /* a TCP client that stops reading for this long loses output */

struct chardev {
    struct char_backend be;        /* first: the device holds a pointer to it */
    enum chardev_kind kind;
    int in_fd, out_fd;             /* -1 when absent (tcp: the client socket for both) */
    int listen_fd;
    int in_eof;                    /* stdin is at end of file */
    int escapes;                   /* Ctrl-A commands are on (stdio on a terminal) */
    int escape_pending;            /* Ctrl-A seen, its command key comes next */
    int raw_tty;                   /* we put the terminal in raw mode */
    int stalled;                   /* tcp client not reading: output dropped until it drains */
    int out_broken;                /* stdout/file write failed: reported once, output dropped */
    int delivering;
    int exit_requested;
    void (*exit_fn)(void *opaque);
    void *exit_opaque;
    int port;                      /* tcp: the port */
    uint8_t inbuf[4096];           /* read from in_fd, not yet taken by the device */
    size_t in_pos, in_len;
    char name[160];
};

/* ---- the terminal ---------------------------------------------------------
 * The saved terminal state is process-wide, like the terminal itself: exit
 * and signal handlers receive no argument, so it lives in a static. */
static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;

static void restore_terminal(void)
{
    if (termios_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
        termios_saved = 0;
    }
}

static void fatal_signal(int sig)
{
    restore_terminal();   /* tcsetattr is async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Signals that would end the process with the terminal left raw. A handler
 * the program installed already (the main loop's SIGINT/SIGTERM) is kept: it
 * exits cleanly and the atexit handler restores the terminal. */
static void install_terminal_guards(void)
{
    static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
    for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++) {
        struct sigaction old;
        if (sigaction(sigs[k], NULL, &old) || old.sa_handler != SIG_DFL) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        sigaction(sigs[k], &sa, NULL);
    }
}

/* Raw input (no echo, no line editing, no signals from Ctrl-C/Ctrl-Z: they go
 * to the guest), output processing kept so our own messages stay readable. */
static int enter_raw_mode(void)
{
    static int atexit_done;   /* registering once per process is all atexit allows */
    struct termios raw;
    if (tcgetattr(STDIN_FILENO, &saved_termios)) return -1;
    raw = saved_termios;
    raw.c_iflag &= (tcflag_t) ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cflag &= (tcflag_t) ~(CSIZE | PARENB);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    termios_saved = 1;
    if (!atexit_done) {
        atexit(restore_terminal);
        atexit_done = 1;
    }
    install_terminal_guards();
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw)) {
        termios_saved = 0;
        return -1;
    }
    return 0;
}

/* ---- output --------------------------------------------------------------- */

static int wait_writable(int fd, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int r;
    do r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

static void tcp_disconnect(struct chardev *c);

/* Blocking write of everything (a terminal or file that is slow makes us wait,
 * like a serial line with flow control). */
static void write_fd_all(struct chardev *c, const uint8_t *buf, size_t len)
{
    while (len && c->out_fd >= 0) {
        ssize_t r = write(c->out_fd, buf, len);
        if (r > 0) {
            buf += r;
            len -= (size_t)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && errno == EAGAIN) {
            wait_writable(c->out_fd, -1);
        } else {
            if (!c->out_broken)
                fprintf(stderr, "bubble: serial %s: write failed (%s); further output is dropped\n", c->name,
                        r < 0 ? strerror(errno) : "no progress");
            c->out_broken = 1;
            c->out_fd = -1;
            return;
        }
    }
}

/* A TCP client gets what it reads; one that stops reading (its window full
 * for STALL_TIMEOUT_MS) loses output until it drains, so it cannot freeze the guest. */
static void write_tcp(struct chardev *c, const uint8_t *buf, size_t len)
{
    if (c->stalled) {
        if (!wait_writable(c->out_fd, 0)) return;
        c->stalled = 0;
    }
    while (len && c->out_fd >= 0) {
        ssize_t r = send(c->out_fd, buf, len, MSG_NOSIGNAL);
        if (r > 0) {
            buf += r;
            len -= (size_t)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && errno == EAGAIN) {
            if (!wait_writable(c->out_fd, STALL_TIMEOUT_MS)) {
                fprintf(stderr, "bubble: serial %s: the client is not reading; dropping output until it does\n",
                        c->name);
                c->stalled = 1;
                return;
            }
        } else {
            tcp_disconnect(c);
            return;
        }
    }
}

static void chr_write_cb(struct char_backend *be, const uint8_t *buf, size_t len)
{
    struct chardev *c = (struct chardev *)be;
    switch (c->kind) {
    case CHR_STDIO:
    case CHR_FILE:
        write_fd_all(c, buf, len);
        break;
    case CHR_TCP_SERVER:
    case CHR_TCP_CLIENT:
        if (c->out_fd >= 0) write_tcp(c, buf, len);
        break;
    case CHR_NULL:
        break;
    }
}

/* ---- input ---------------------------------------------------------------- */

/* Hand buffered input to the device as far as it has room. */
static void deliver(struct chardev *c)
{
    if (c->delivering) return;
    c->delivering = 1;
    while (c->in_pos < c->in_len && c->be.receive && c->be.can_receive) {
        int room = c->be.can_receive(c->be.rx_opaque);
        if (room <= 0) break;
        size_t n = c->in_len - c->in_pos;
        if (n > (size_t)room) n = (size_t)room;
        const uint8_t *p = c->inbuf + c->in_pos;
        c->in_pos += n;
        c->be.receive(c->be.rx_opaque, p, n);
    }
    if (c->in_pos == c->in_len) c->in_pos = c->in_len = 0;
    c->delivering = 0;
}

static void chr_rx_ready_cb(struct char_backend *be)
{
    deliver((struct chardev *)be);
}

static void print_escape_help(void)
{
    fprintf(stderr,
            "\n"
            "C-a h    print this help\n"
            "C-a x    exit the emulator\n"
            "C-a a    send C-a to the guest\n");
}

static void request_exit(struct chardev *c)
{
    c->exit_requested = 1;
    if (c->exit_fn) {
        c->exit_fn(c->exit_opaque);
        return;
    }
    fprintf(stderr, "\nbubble: terminated (C-a x)\n");
    exit(0);
}

/* Ctrl-A commands on the terminal; returns the bytes left for the guest. */
static size_t filter_escapes(struct chardev *c, uint8_t *buf, size_t len)
{
    size_t out = 0;
    for (size_t k = 0; k < len; k++) {
        uint8_t b = buf[k];
        if (!c->escape_pending) {
            if (b == ESCAPE_CHAR) c->escape_pending = 1;
            else buf[out++] = b;
            continue;
        }
        c->escape_pending = 0;
        switch (b) {
        case 'x': case 'X':
            request_exit(c);
            return out;
        case 'h': case 'H': case '?':
            print_escape_help();
            break;
        case 'a': case ESCAPE_CHAR:
            buf[out++] = ESCAPE_CHAR;
            break;
        case 'c':
            fprintf(stderr, "\nbubble: there is no monitor (C-a h for help)\n");
            break;
        default:
            fprintf(stderr, "\nbubble: unknown key C-a %c (C-a h for help)\n", b >= 0x20 && b < 0x7F ? b : '?');
            break;
        }
    }
    return out;
}

static void read_input(struct chardev *c)
{
    if (c->in_pos < c->in_len) return;   /* the previous read is not delivered yet */
    ssize_t r = read(c->in_fd, c->inbuf, sizeof(c->inbuf));
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (r <= 0) {
        if (c->kind == CHR_STDIO) c->in_eof = 1;   /* no more input; output goes on */
        else tcp_disconnect(c);
        return;
    }
    size_t n = (size_t)r;
    if (c->escapes) n = filter_escapes(c, c->inbuf, n);
    c->in_pos = 0;
    c->in_len = n;
    deliver(c);
}

/* ---- tcp ------------------------------------------------------------------ */

static void set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void tcp_disconnect(struct chardev *c)
{
    if (c->in_fd >= 0) close(c->in_fd);
    c->in_fd = c->out_fd = -1;
    c->stalled = 0;
    if (c->kind == CHR_TCP_CLIENT)
        fprintf(stderr, "bubble: serial %s: the server closed the connection\n", c->name);
}

static void tcp_attach_client(struct chardev *c, int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    set_nonblocking(fd);
    c->in_fd = c->out_fd = fd;
    c->stalled = 0;
}

static void tcp_accept(struct chardev *c)
{
    int fd = accept(c->listen_fd, NULL, NULL);
    if (fd < 0) return;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (c->in_fd >= 0) {
        /* One client at a time: tell the newcomer and hang up. */
        static const char busy[] = "bubble: this serial port already has a client\r\n";
        if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* it is going anyway */ }
        close(fd);
        return;
    }
    tcp_attach_client(c, fd);
}

/* "HOST:PORT" with HOST possibly empty or [IPv6]. */
static int parse_host_port(const char *s, char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
    const char *colon;
    if (*s == '[') {
        const char *close_br = strchr(s, ']');
        if (!close_br || close_br[1] != ':') goto bad;
        size_t n = (size_t)(close_br - s - 1);
        if (n >= hostlen) goto bad;
        memcpy(host, s + 1, n);
        host[n] = 0;
        colon = close_br + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) goto bad;
        size_t n = (size_t)(colon - s);
        if (n >= hostlen) goto bad;
        memcpy(host, s, n);
        host[n] = 0;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535) goto bad;
    *port = (int)p;
    if (!host[0]) snprintf(host, hostlen, "127.0.0.1");
    return 0;
bad:
    snprintf(err, errlen, "expected tcp:HOST:PORT[,server][,nowait], got 'tcp:%s'", s);
    return -1;
}

static int tcp_listen(struct chardev *c, const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "tcp:%s:%d: cannot resolve '%s' (%s)", host, port, host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "tcp:%s:%d: socket: %s", host, port, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    /* Lets a restarted emulator reuse a port left in TIME_WAIT; Linux still
     * refuses a port another socket is listening on. */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1)) {
        int e = errno;
        if (e == EADDRINUSE)
            snprintf(err, errlen, "tcp:%s:%d: port %d is already in use (%s)", host, port, port, strerror(e));
        else
            snprintf(err, errlen, "tcp:%s:%d: cannot listen: %s", host, port, strerror(e));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (!getsockname(fd, (struct sockaddr *)&ss, &sl)) {
        if (ss.ss_family == AF_INET) port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    c->listen_fd = fd;
    c->port = port;
    return 0;
}

static int tcp_connect(struct chardev *c, const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "tcp:%s:%d: cannot resolve '%s' (%s)", host, port, host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (!connect(fd, a->ai_addr, a->ai_addrlen)) break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "tcp:%s:%d: cannot connect: %s", host, port, strerror(e));
        return -1;
    }
    c->port = port;
    tcp_attach_client(c, fd);
    return 0;
}

/* "HOST:PORT[,server][,nowait]..." */
static int open_tcp(struct chardev *c, const char *spec, char *err, size_t errlen)
{
    char buf[256], host[128];
    int port, server = 0, wait = 1;
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "tcp: spec too long");
        return -1;
    }
    strcpy(buf, spec);
    char *opts = strchr(buf, ',');
    if (opts) *opts++ = 0;
    if (parse_host_port(buf, host, sizeof(host), &port, err, errlen)) return -1;
    for (char *save = NULL, *o = opts ? strtok_r(opts, ",", &save) : NULL; o; o = strtok_r(NULL, ",", &save)) {
        if (!strcmp(o, "server") || !strcmp(o, "server=on")) server = 1;
        else if (!strcmp(o, "server=off")) server = 0;
        else if (!strcmp(o, "nowait") || !strcmp(o, "wait=off")) wait = 0;
        else if (!strcmp(o, "wait") || !strcmp(o, "wait=on")) wait = 1;
        else if (!strcmp(o, "nodelay") || !strcmp(o, "nodelay=on")) { /* always on */ }
        else {
            snprintf(err, errlen, "tcp:%s: unsupported option '%s' (server, nowait, wait=off, nodelay)", spec, o);
            return -1;
        }
    }
    if (!server) {
        c->kind = CHR_TCP_CLIENT;
        if (tcp_connect(c, host, port, err, errlen)) return -1;
        snprintf(c->name, sizeof(c->name), "tcp:%s:%d", host, port);
        return 0;
    }
    c->kind = CHR_TCP_SERVER;
    if (tcp_listen(c, host, port, err, errlen)) return -1;
    snprintf(c->name, sizeof(c->name), "tcp:%s:%d,server", host, c->port);
    if (wait) {
        fprintf(stderr, "bubble: waiting for a connection on %s\n", c->name);
        int fd;
        do fd = accept(c->listen_fd, NULL, NULL);
        while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            snprintf(err, errlen, "%s: accept: %s", c->name, strerror(errno));
            return -1;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        tcp_attach_client(c, fd);
    }
    return 0;
}

/* ---- opening -------------------------------------------------------------- */

int chardev_spec_is_none(const char *spec)
{
    return spec && !strcmp(spec, "none");
}

static int open_stdio(struct chardev *c)
{
    c->kind = CHR_STDIO;
    c->in_fd = STDIN_FILENO;
    c->out_fd = STDOUT_FILENO;
    snprintf(c->name, sizeof(c->name), "stdio");
    if (isatty(STDIN_FILENO)) {
        c->escapes = 1;
        if (!enter_raw_mode()) c->raw_tty = 1;
    }
    return 0;
}

static int open_file(struct chardev *c, const char *path, char *err, size_t errlen)
{
    c->kind = CHR_FILE;
    c->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c->out_fd < 0) {
        snprintf(err, errlen, "file:%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    snprintf(c->name, sizeof(c->name), "file:%s", path);
    return 0;
}

struct chardev *chardev_open(const char *spec, char *err, size_t errlen)
{
    if (errlen) err[0] = 0;
    if (!spec || chardev_spec_is_none(spec)) return NULL;
    struct chardev *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->in_fd = c->out_fd = c->listen_fd = -1;
    c->port = -1;
    c->be.write = chr_write_cb;
    c->be.rx_ready = chr_rx_ready_cb;
    int rc = 0;
    if (!strcmp(spec, "stdio") || !strcmp(spec, "mon:stdio")) {
        rc = open_stdio(c);
    } else if (!strcmp(spec, "null")) {
        c->kind = CHR_NULL;
        snprintf(c->name, sizeof(c->name), "null");
    } else if (!strncmp(spec, "file:", 5) && spec[5]) {
        rc = open_file(c, spec + 5, err, errlen);
    } else if (!strncmp(spec, "tcp:", 4)) {
        rc = open_tcp(c, spec + 4, err, errlen);
    } else {
        snprintf(err, errlen, "unsupported serial backend '%s' (expected stdio, file:PATH, "
                 "tcp:HOST:PORT,server[,nowait], tcp:HOST:PORT, null or none)", spec);
        rc = -1;
    }
    if (rc) {
        chardev_close(c);
        return NULL;
    }
    return c;
}

void chardev_close(struct chardev *c)
{
    if (!c) return;
    if (c->raw_tty) restore_terminal();
    if (c->kind == CHR_FILE && c->out_fd >= 0) close(c->out_fd);
    if ((c->kind == CHR_TCP_SERVER || c->kind == CHR_TCP_CLIENT) && c->in_fd >= 0) close(c->in_fd);
    if (c->listen_fd >= 0) close(c->listen_fd);
    free(c);
}

struct char_backend *chardev_backend(struct chardev *c) { return c ? &c->be : NULL; }
const char *chardev_name(const struct chardev *c) { return c->name; }
int chardev_tcp_port(const struct chardev *c) { return c->kind == CHR_TCP_SERVER ? c->port : -1; }

void chardev_set_exit_handler(struct chardev *c, void (*fn)(void *opaque), void *opaque)
{
    c->exit_fn = fn;
    c->exit_opaque = opaque;
}

int chardev_exit_requested(const struct chardev *c) { return c->exit_requested; }

/* ---- polling -------------------------------------------------------------- */

int chardev_poll_fds(struct chardev *c, struct pollfd *fds, int max)
{
    int n = 0;
    deliver(c);   /* the device may have made room since the last poll */
    if (c->listen_fd >= 0 && n < max) {
        fds[n].fd = c->listen_fd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        n++;
    }
    /* Read more only once the device has taken what we have. */
    if (c->in_fd >= 0 && !c->in_eof && c->be.receive && c->in_pos == c->in_len && n < max) {
        fds[n].fd = c->in_fd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        n++;
    }
    return n;
}

void chardev_poll_handle(struct chardev *c, const struct pollfd *fds, int n)
{
    /* Input first: a client that hung up is gone before a new one is accepted. */
    int accept_ready = 0;
    for (int k = 0; k < n; k++) {
        if (!fds[k].revents) continue;
        if (fds[k].fd == c->listen_fd) accept_ready = 1;
        else if (fds[k].fd == c->in_fd && (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) read_input(c);
    }
    if (accept_ready) tcp_accept(c);
}
