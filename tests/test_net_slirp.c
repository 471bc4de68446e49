/* Tests of the network options (frontend/netopts.c) and the slirp backend
 * (frontend/net_slirp.c), both included here: frontend/ is not in
 * libbubble.a.
 *
 * Options: -nic, -netdev and -device specs, good and bad, and forwards bound
 * to 127.0.0.1 unless told otherwise. The backend: a real slirp driven with
 * frames built here, as a guest would send them: DHCP DISCOVER/REQUEST gets
 * 10.0.2.15, ARP for the host and DNS addresses, a host connection to a TCP
 * forward becomes a SYN towards the guest, a datagram to a UDP forward
 * arrives, the guest's UDP reaches a host socket (and not with restrict=on),
 * a port in use is a clear error, slirp's own timers run (the router
 * advertisement, with the clock moved on). Backpressure: a card that
 * refuses gets nothing, frames wait in order, slirp's sockets are not read
 * meanwhile; after rx_ready they arrive in order, and a 256 KiB transfer
 * through a card with an 8-frame ring arrives whole with nothing dropped;
 * the queue's bound (drops counted past 512); more sockets than pollfd
 * entries are polled in turns; nothing leaks a descriptor. Loopback only. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frontend/netopts.c"
#include "frontend/net_slirp.c"

#include "tests/check.h"

/* ==== options ================================================================ */

static int addr_is(struct in_addr a, const char *dotted)
{
    struct in_addr b;
    inet_pton(AF_INET, dotted, &b);
    return a.s_addr == b.s_addr;
}

static int nic(struct netopts *o, const char *spec, char *err, size_t errlen)
{
    netopts_init(o);
    err[0] = 0;
    if (netopts_parse_nic(o, spec, err, errlen)) return -1;
    return netopts_finish(o, err, errlen);
}

static void expect_nic_error(const char *spec, const char *fragment)
{
    struct netopts o;
    char err[256];
    int rc = nic(&o, spec, err, sizeof(err));
    check(rc == -1 && strstr(err, fragment), "-nic %s: expected an error with '%s', got %d '%s'", spec, fragment,
          rc, err);
}

static void test_nic_options(void)
{
    struct netopts o;
    char err[256];

    check(nic(&o, "user", err, sizeof(err)) == 0, "-nic user: %s", err);
    check(o.model == NET_MODEL_NE2K_PCI && o.backend == NET_BACKEND_USER, "-nic user: ne2k_pci on user");
    check(!memcmp(o.mac, "\x52\x54\x00\x12\x34\x56", 6), "default MAC 52:54:00:12:34:56");
    check(addr_is(o.user.net, "10.0.2.0") && addr_is(o.user.mask, "255.255.255.0") &&
              addr_is(o.user.host, "10.0.2.2") && addr_is(o.user.dns, "10.0.2.3") &&
              addr_is(o.user.dhcp_start, "10.0.2.15") && o.user.ipv6 && !o.user.restricted,
          "slirp's default network");

    check(nic(&o, "user,model=ne2k_isa,mac=02:00:00:aa:bb:0c,hostfwd=tcp::2222-:22,"
                  "hostfwd=udp:0.0.0.0:5353-10.0.2.20:53,restrict=on", err, sizeof(err)) == 0, "full -nic: %s", err);
    check(o.model == NET_MODEL_NE2K_ISA && o.iobase == 0x300 && o.irq == 9, "model=ne2k_isa at 0x300, IRQ 9");
    check(!memcmp(o.mac, "\x02\x00\x00\xaa\xbb\x0c", 6), "mac= parsed");
    check(o.user.restricted == 1, "restrict=on");
    check(o.user.nfwd == 2, "two forwards");
    check(!o.user.fwd[0].udp && addr_is(o.user.fwd[0].host, "127.0.0.1") &&
              o.user.fwd[0].host_port == 2222 && o.user.fwd[0].guest.s_addr == 0 && o.user.fwd[0].guest_port == 22,
          "hostfwd=tcp::2222-:22 binds 127.0.0.1 only, guest = dhcpstart");
    check(!strcmp(o.user.fwd[0].name, "tcp:127.0.0.1:2222"), "forward name '%s'", o.user.fwd[0].name);
    check(o.user.fwd[1].udp && addr_is(o.user.fwd[1].host, "0.0.0.0") && addr_is(o.user.fwd[1].guest, "10.0.2.20") &&
              o.user.fwd[1].guest_port == 53, "hostfwd=udp:0.0.0.0:5353-10.0.2.20:53");

    check(nic(&o, "user,hostfwd=:127.0.0.1:8080-:80", err, sizeof(err)) == 0 && !o.user.fwd[0].udp,
          "empty protocol means tcp: %s", err);
    check(nic(&o, "user,net=192.168.76.0/24", err, sizeof(err)) == 0 && addr_is(o.user.host, "192.168.76.2") &&
              addr_is(o.user.dns, "192.168.76.3") && addr_is(o.user.dhcp_start, "192.168.76.15"),
          "net= moves host, dns, dhcpstart: %s", err);
    check(nic(&o, "user,net=10.0.0.0", err, sizeof(err)) == 0 && addr_is(o.user.mask, "255.0.0.0"),
          "net=10.0.0.0 is /8 by class: %s", err);
    check(nic(&o, "user,net=172.20.0.0/255.255.0.0,host=172.20.0.1,dns=172.20.0.53,dhcpstart=172.20.1.0", err,
              sizeof(err)) == 0 && addr_is(o.user.mask, "255.255.0.0") && addr_is(o.user.host, "172.20.0.1") &&
              addr_is(o.user.dns, "172.20.0.53") && addr_is(o.user.dhcp_start, "172.20.1.0"),
          "net with a dotted mask, explicit host/dns/dhcpstart: %s", err);
    check(nic(&o, "user,tftp=/srv/a,,b,bootfile=pxelinux.0,hostname=guest,domainname=example.org,ipv6=off", err,
              sizeof(err)) == 0 && !strcmp(o.user.tftp, "/srv/a,b") && !strcmp(o.user.bootfile, "pxelinux.0") &&
              !strcmp(o.user.hostname, "guest") && !strcmp(o.user.domainname, "example.org") && !o.user.ipv6,
          "tftp (with ,, for a comma), bootfile, hostname, domainname, ipv6=off: %s", err);
    check(nic(&o, "none", err, sizeof(err)) == 0 && o.model == NET_MODEL_NONE && o.backend == NET_BACKEND_NONE,
          "-nic none");
    netopts_init(&o);
    check(netopts_finish(&o, err, sizeof(err)) == 0 && o.model == NET_MODEL_NONE, "nothing given: no card");

    expect_nic_error("tap", "not supported");
    expect_nic_error("none,model=ne2k_pci", "no options");
    expect_nic_error("user,model=e1000", "available models");
    expect_nic_error("user,mac=01:00:5e:00:00:01", "multicast");
    expect_nic_error("user,mac=52:54:00:12:34", "six hex pairs");
    expect_nic_error("user,mac=52:54:00:12:34:zz", "six hex pairs");
    expect_nic_error("user,hostfwd=tcp::99999-:22", "host port");
    expect_nic_error("user,hostfwd=tcp::0-:22", "host port");
    expect_nic_error("user,hostfwd=tcp::2222-:0", "guest port");
    expect_nic_error("user,hostfwd=tcp::22", "expected");
    expect_nic_error("user,hostfwd=tcp::x-:22", "host port");
    expect_nic_error("user,hostfwd=sctp::1-:2", "protocol");
    expect_nic_error("user,hostfwd=tcp:1.2.3:22-:22", "host address");
    expect_nic_error("user,hostfwd=tcp:[::1]:22-:22", "IPv6 host addresses are not supported");
    expect_nic_error("user,hostfwd=tcp::2222-10.0.3.5:22", "not in net");
    expect_nic_error("user,hostfwd=tcp::2222-:22,hostfwd=tcp:127.0.0.1:2222-:23", "given twice");
    expect_nic_error("user,net=10.0.2.1/24", "host bits");
    expect_nic_error("user,net=10.0.2.0/31", "prefix");
    expect_nic_error("user,net=10.0.2.0/255.0.255.0", "contiguous");
    expect_nic_error("user,host=10.0.3.2", "not a station address");
    expect_nic_error("user,dns=10.0.2.255", "not a station address");
    expect_nic_error("user,dns=10.0.2.2", "must differ");
    expect_nic_error("user,dhcpstart=10.0.2.250", "16 leases");
    expect_nic_error("user,dhcpstart=10.0.2.1", "16 leases");
    expect_nic_error("user,restrict=maybe", "on or off");
    expect_nic_error("user,foo=1", "unknown option 'foo'");
    expect_nic_error("user,hostfwd", "needs a value");
    expect_nic_error("user,model", "needs a value");
    expect_nic_error("user,iobase=0x320", "-device ne2k_isa");

    /* two cards */
    netopts_init(&o);
    check(netopts_parse_nic(&o, "user", err, sizeof(err)) == 0 && netopts_parse_nic(&o, "user", err, sizeof(err)) == -1 &&
              strstr(err, "only one"), "a second -nic is refused: %s", err);
}

static void test_netdev_device_options(void)
{
    struct netopts o;
    char err[256];

    netopts_init(&o);
    check(netopts_parse_netdev(&o, "user,id=n0,hostfwd=tcp::2222-:22", err, sizeof(err)) == 0, "-netdev: %s", err);
    check(netopts_parse_device(&o, "ne2k_isa,netdev=n0,iobase=0x320,irq=10,mac=52:54:00:00:00:02", err,
                               sizeof(err)) == 1, "-device ne2k_isa: %s", err);
    check(netopts_finish(&o, err, sizeof(err)) == 0, "pairing: %s", err);
    check(o.model == NET_MODEL_NE2K_ISA && o.backend == NET_BACKEND_USER && o.iobase == 0x320 && o.irq == 10 &&
              o.mac[5] == 2 && o.user.nfwd == 1 && addr_is(o.user.fwd[0].host, "127.0.0.1"),
          "ne2k_isa at 0x320 IRQ 10 on the user network");

    /* -device before -netdev is fine */
    netopts_init(&o);
    check(netopts_parse_device(&o, "ne2k_pci,netdev=lan", err, sizeof(err)) == 1 &&
              netopts_parse_netdev(&o, "user,id=lan", err, sizeof(err)) == 0 && netopts_finish(&o, err, sizeof(err)) == 0 &&
              o.model == NET_MODEL_NE2K_PCI && o.backend == NET_BACKEND_USER, "-device then -netdev: %s", err);

    /* -nic none and a -device card */
    netopts_init(&o);
    check(netopts_parse_nic(&o, "none", err, sizeof(err)) == 0 && netopts_parse_netdev(&o, "user,id=a", err, sizeof(err)) == 0 &&
              netopts_parse_device(&o, "ne2k_pci,netdev=a", err, sizeof(err)) == 1 && netopts_finish(&o, err, sizeof(err)) == 0,
          "-nic none with -netdev/-device: %s", err);

    /* a card with no cable */
    netopts_init(&o);
    check(netopts_parse_device(&o, "ne2k_pci", err, sizeof(err)) == 1 && netopts_finish(&o, err, sizeof(err)) == 0 &&
              o.model == NET_MODEL_NE2K_PCI && o.backend == NET_BACKEND_NONE, "-device ne2k_pci alone: %s", err);

    /* not ours */
    netopts_init(&o);
    check(netopts_parse_device(&o, "isa-debug-exit,iobase=0xf4", err, sizeof(err)) == 0 && o.model == NET_MODEL_NONE,
          "-device isa-debug-exit is left to the caller");
    check(netopts_parse_device(&o, "e1000,netdev=n0", err, sizeof(err)) == 0, "-device e1000 is not ours");

    struct {
        const char *netdev, *device, *fragment;
    } bad[] = {
        { "user", NULL, "needs id=" },
        { "user,id=0bad", NULL, "starting with a letter" },
        { "tap,id=t0", NULL, "not supported" },
        { "user,id=n0", NULL, "no -device uses it" },
        { NULL, "ne2k_pci,netdev=n1", "no -netdev with id=n1" },
        { "user,id=n0", "ne2k_pci,netdev=n1", "no -netdev with id=n1" },
        { "user,id=n0", "ne2k_isa,netdev=n0,irq=8", "irq=8" },
        { "user,id=n0", "ne2k_isa,netdev=n0,iobase=0x301", "iobase=0x301" },
        { "user,id=n0", "ne2k_isa,netdev=n0,iobase=0x100", "iobase=0x100" },
        { "user,id=n0", "ne2k_pci,netdev=n0,iobase=0x300", "unknown property 'iobase'" },
        { "user,id=n0", "ne2k_pci,netdev=n0,mac=ff:ff:ff:ff:ff:ff", "multicast" },
        { "user,id=n0,model=ne2k_pci", NULL, "unknown option 'model'" },
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        netopts_init(&o);
        err[0] = 0;
        int rc = 0;
        if (bad[k].netdev) rc = netopts_parse_netdev(&o, bad[k].netdev, err, sizeof(err));
        if (rc == 0 && bad[k].device) rc = netopts_parse_device(&o, bad[k].device, err, sizeof(err)) < 0 ? -1 : 0;
        if (rc == 0) rc = netopts_finish(&o, err, sizeof(err));
        check(rc == -1 && strstr(err, bad[k].fragment), "-netdev %s -device %s: expected '%s', got '%s'",
              bad[k].netdev ? bad[k].netdev : "-", bad[k].device ? bad[k].device : "-", bad[k].fragment, err);
    }
    netopts_init(&o);
    check(netopts_parse_nic(&o, "user", err, sizeof(err)) == 0 &&
              netopts_parse_device(&o, "ne2k_pci,netdev=n0", err, sizeof(err)) == -1 && strstr(err, "only one"),
          "-nic user and a -device card: %s", err);
    netopts_init(&o);
    check(netopts_parse_device(&o, "ne2k_pci", err, sizeof(err)) == 1 &&
              netopts_parse_device(&o, "ne2k_isa", err, sizeof(err)) == -1 && strstr(err, "only one"),
          "two -device cards: %s", err);
}

/* ==== frames ===================================================================== */

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define GUEST_IP IP(10, 0, 2, 15)
#define HOST_IP IP(10, 0, 2, 2)
#define DNS_IP IP(10, 0, 2, 3)

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t k = 0; k + 1 < len; k += 2) sum += get16(p + k);
    if (len & 1) sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

static size_t put_eth(uint8_t *f, const uint8_t dst[6], uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, type);
    return 14;
}

/* IPv4 header at p for `payload` bytes after it. */
static void put_ipv4(uint8_t *p, uint8_t proto, uint32_t src, uint32_t dst, size_t payload)
{
    memset(p, 0, 20);
    p[0] = 0x45;
    put16(p + 2, (uint16_t)(20 + payload));
    put16(p + 4, 0x1234);
    p[8] = 64;
    p[9] = proto;
    put32(p + 12, src);
    put32(p + 16, dst);
    put16(p + 10, fold(sum16(p, 20, 0)));
}

/* A UDP datagram (checksum 0: none, allowed over IPv4). Returns the frame length. */
static size_t build_udp(uint8_t *f, const uint8_t dst_mac[6], uint32_t src, uint32_t dst, uint16_t sport,
                        uint16_t dport, const uint8_t *data, size_t len)
{
    size_t n = put_eth(f, dst_mac, 0x0800);
    put_ipv4(f + n, 17, src, dst, 8 + len);
    uint8_t *u = f + n + 20;
    put16(u, sport);
    put16(u + 2, dport);
    put16(u + 4, (uint16_t)(8 + len));
    put16(u + 6, 0);
    memcpy(u + 8, data, len);
    return n + 28 + len;
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static size_t build_tcp(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq,
                        uint32_t ack, uint8_t flags, uint16_t window, const uint8_t *opts, size_t optlen)
{
    size_t n = put_eth(f, (const uint8_t *)"\x52\x55\x0a\x00\x02\x02", 0x0800);
    size_t tcplen = 20 + optlen;
    put_ipv4(f + n, 6, src, dst, tcplen);
    uint8_t *t = f + n + 20;
    memset(t, 0, tcplen);
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = (uint8_t)((tcplen / 4) << 4);
    t[13] = flags;
    put16(t + 14, window);
    if (optlen) memcpy(t + 20, opts, optlen);
    uint8_t pseudo[12];
    put32(pseudo, src);
    put32(pseudo + 4, dst);
    pseudo[8] = 0;
    pseudo[9] = 6;
    put16(pseudo + 10, (uint16_t)tcplen);
    put16(t + 16, fold(sum16(t, tcplen, sum16(pseudo, 12, 0))));
    return n + 20 + tcplen;
}

static size_t build_arp_request(uint8_t *f, uint32_t sender, uint32_t target)
{
    size_t n = put_eth(f, broadcast_mac, 0x0806);
    uint8_t *a = f + n;
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);
    memcpy(a + 8, guest_mac, 6);
    put32(a + 14, sender);
    memset(a + 18, 0, 6);
    put32(a + 24, target);
    return n + 28;
}

/* A DHCP message from the guest (BOOTP with the full 312-byte options area). */
static size_t build_dhcp(uint8_t *f, uint8_t type, uint32_t xid, uint32_t requested, uint32_t server)
{
    uint8_t bootp[548];
    memset(bootp, 0, sizeof(bootp));
    bootp[0] = 1;                 /* BOOTREQUEST */
    bootp[1] = 1;                 /* Ethernet */
    bootp[2] = 6;
    put32(bootp + 4, xid);
    memcpy(bootp + 28, guest_mac, 6);
    put32(bootp + 236, 0x63825363);   /* the magic cookie */
    uint8_t *o = bootp + 240;
    *o++ = 53, *o++ = 1, *o++ = type;
    if (requested) *o++ = 50, *o++ = 4, put32(o, requested), o += 4;
    if (server) *o++ = 54, *o++ = 4, put32(o, server), o += 4;
    *o++ = 55, *o++ = 3, *o++ = 1, *o++ = 3, *o++ = 6;   /* asks for mask, router, DNS */
    *o = 255;
    return build_udp(f, broadcast_mac, 0, 0xFFFFFFFF, 68, 67, bootp, sizeof(bootp));
}

/* What the test needs of a frame sent to the guest. */
struct parsed {
    uint16_t type;
    uint8_t proto;
    uint32_t src, dst;
    const uint8_t *l4;
    size_t l4len;
};

static int parse_frame(const uint8_t *f, size_t len, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    if (len < 14) return -1;
    p->type = get16(f + 12);
    if (p->type != 0x0800) return 0;
    const uint8_t *ip = f + 14;
    if (len < 34 || (ip[0] >> 4) != 4) return -1;
    size_t ihl = (size_t)(ip[0] & 15) * 4, total = get16(ip + 2);
    if (total < ihl || 14 + total > len) return -1;
    p->proto = ip[9];
    p->src = get32(ip + 12);
    p->dst = get32(ip + 16);
    p->l4 = ip + ihl;
    p->l4len = total - ihl;
    return 0;
}

/* ==== a fake card ========================================================================= */

#define CARD_MAX_FRAMES 4096

struct fake_card {
    struct net_backend *be;
    int room;                       /* frames it takes now; -1: any number */
    int ring;                       /* room after a drain */
    uint8_t (*frames)[NET_MAX_FRAME];
    size_t lens[CARD_MAX_FRAMES];
    int n, seen;                    /* frames got; frames the test has looked at */
    int delivered_while_full, bad_length;
};

static int card_can_receive(void *opaque, size_t len)
{
    struct fake_card *c = opaque;
    return c->room != 0;
}

static void card_receive(void *opaque, const uint8_t *frame, size_t len)
{
    struct fake_card *c = opaque;
    if (c->room == 0) c->delivered_while_full++;
    if (len < 60 || len > NET_MAX_FRAME) c->bad_length++;
    if (c->room > 0) c->room--;
    if (c->n < CARD_MAX_FRAMES && len <= NET_MAX_FRAME) {
        memcpy(c->frames[c->n], frame, len);
        c->lens[c->n++] = len;
    }
}

static struct fake_card *card_attach(struct net_slirp *ns)
{
    struct fake_card *c = calloc(1, sizeof(*c));
    c->frames = calloc(CARD_MAX_FRAMES, NET_MAX_FRAME);
    c->be = net_slirp_backend(ns);
    c->room = -1;
    net_set_receiver(c->be, card_can_receive, card_receive, c);
    return c;
}

static void card_free(struct fake_card *c)
{
    free(c->frames);
    free(c);
}

/* One main-loop round: poll slirp's sockets for at most timeout_ms. *pollin
 * is set when any descriptor was offered for reading. */
static void pump(struct net_slirp *ns, int timeout_ms, int *pollin)
{
    struct pollfd fds[NET_SLIRP_POLL_FDS];
    int64_t t = (int64_t)timeout_ms * 1000000;
    int n = net_slirp_poll_fds(ns, fds, NET_SLIRP_POLL_FDS, &t);
    for (int k = 0; k < n; k++)
        if (pollin && (fds[k].events & POLLIN)) *pollin = 1;
    struct timespec ts = { (time_t)(t / 1000000000), (long)(t % 1000000000) };
    int r = ppoll(fds, (nfds_t)n, &ts, NULL);
    net_slirp_poll_handle(ns, fds, n, r < 0);
}

/* The next frame to the guest that `want` accepts, pumping up to ms; NULL if none. */
static const uint8_t *wait_frame(struct net_slirp *ns, struct fake_card *c, int (*want)(const uint8_t *, size_t, void *),
                                 void *arg, int ms, size_t *len)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        while (c->seen < c->n) {
            int k = c->seen++;
            if (want(c->frames[k], c->lens[k], arg)) {
                if (len) *len = c->lens[k];
                return c->frames[k];
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > ms) return NULL;
        pump(ns, 10, NULL);
    }
}

/* ==== host sockets ========================================================================= */

static uint16_t free_port(int type)
{
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    bind(s, (struct sockaddr *)&a, sizeof(a));
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

static int count_open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* The listening socket of this process on `port`, its local address in *a. */
static int find_listener(uint16_t port, struct sockaddr_in *a)
{
    for (int fd = 3; fd < 1024; fd++) {
        int on = 0;
        socklen_t len = sizeof(on);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) || !on) continue;
        len = sizeof(*a);
        if (!getsockname(fd, (struct sockaddr *)a, &len) && a->sin_family == AF_INET && ntohs(a->sin_port) == port)
            return fd;
    }
    return -1;
}

/* slirp's end of a host connection: the socket whose peer is `client`. */
static int find_peer(int client)
{
    struct sockaddr_in me, peer;
    socklen_t len = sizeof(me);
    getsockname(client, (struct sockaddr *)&me, &len);
    for (int fd = 3; fd < 1024; fd++) {
        if (fd == client) continue;
        len = sizeof(peer);
        if (!getpeername(fd, (struct sockaddr *)&peer, &len) && peer.sin_family == AF_INET &&
            peer.sin_port == me.sin_port && peer.sin_addr.s_addr == me.sin_addr.s_addr)
            return fd;
    }
    return -1;
}

static int connect_loopback(uint16_t port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(s, (struct sockaddr *)&a, sizeof(a))) {
        close(s);
        return -1;
    }
    return s;
}

static struct net_slirp *open_user(const char *spec, char *err, size_t errlen)
{
    struct netopts o;
    netopts_init(&o);
    if (netopts_parse_nic(&o, spec, err, errlen) || netopts_finish(&o, err, errlen)) return NULL;
    return net_slirp_open(&o, err, errlen);
}

/* ==== frame matchers ========================================================================= */

static int is_dhcp_reply(const uint8_t *f, size_t len, void *arg)
{
    struct parsed p;
    return !parse_frame(f, len, &p) && p.type == 0x0800 && p.proto == 17 && p.l4len >= 8 + 240 &&
           get16(p.l4 + 2) == 68 && p.l4[8] == 2;
}

static int is_arp_reply(const uint8_t *f, size_t len, void *arg)
{
    return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 && get32(f + 28) == *(uint32_t *)arg;
}

static int is_tcp_syn_to(const uint8_t *f, size_t len, void *arg)
{
    struct parsed p;
    return !parse_frame(f, len, &p) && p.type == 0x0800 && p.proto == 6 && p.l4len >= 20 &&
           get16(p.l4 + 2) == *(uint16_t *)arg && (p.l4[13] & (TCP_SYN | TCP_ACK)) == TCP_SYN;
}

static int is_udp_to(const uint8_t *f, size_t len, void *arg)
{
    struct parsed p;
    return !parse_frame(f, len, &p) && p.type == 0x0800 && p.proto == 17 && p.l4len >= 8 &&
           get16(p.l4 + 2) == *(uint16_t *)arg;
}

static int is_router_advert(const uint8_t *f, size_t len, void *arg)
{
    /* IPv6, next header ICMPv6 (58), type 134 */
    return len >= 14 + 40 + 4 && get16(f + 12) == 0x86DD && f[14 + 6] == 58 && f[14 + 40] == 134;
}

/* The value of DHCP option `code` in a reply, or NULL. */
static const uint8_t *dhcp_option(const struct parsed *p, uint8_t code, uint8_t *optlen)
{
    const uint8_t *o = p->l4 + 8 + 240, *end = p->l4 + p->l4len;
    while (o < end && *o != 255) {
        if (*o == 0) {
            o++;
            continue;
        }
        if (o + 2 > end || o + 2 + o[1] > end) return NULL;
        if (*o == code) {
            *optlen = o[1];
            return o + 2;
        }
        o += 2 + o[1];
    }
    return NULL;
}

/* ==== the backend ========================================================================= */

static void test_dhcp_arp(struct net_slirp *ns, struct fake_card *c)
{
    uint8_t f[1600];
    size_t len;
    struct parsed p;
    uint8_t olen;
    const uint8_t *o;

    net_send(c->be, f, build_dhcp(f, 1, 0xB0BB1E01, 0, 0));
    const uint8_t *r = wait_frame(ns, c, is_dhcp_reply, NULL, 2000, &len);
    check(r != NULL, "DHCP DISCOVER gets a reply");
    if (r) {
        parse_frame(r, len, &p);
        check(get32(p.l4 + 8 + 4) == 0xB0BB1E01, "the OFFER carries our xid");
        check(get32(p.l4 + 8 + 16) == GUEST_IP, "OFFER: yiaddr 10.0.2.15 (got %08x)", get32(p.l4 + 8 + 16));
        check(!memcmp(p.l4 + 8 + 28, guest_mac, 6), "OFFER: to our hardware address");
        o = dhcp_option(&p, 53, &olen);
        check(o && olen == 1 && o[0] == 2, "DHCP message type OFFER");
        o = dhcp_option(&p, 54, &olen);
        check(o && olen == 4 && get32(o) == HOST_IP, "server identifier 10.0.2.2");
        o = dhcp_option(&p, 3, &olen);
        check(o && olen >= 4 && get32(o) == HOST_IP, "router 10.0.2.2");
        o = dhcp_option(&p, 6, &olen);
        check(o && olen >= 4 && get32(o) == DNS_IP, "DNS 10.0.2.3");
        o = dhcp_option(&p, 1, &olen);
        check(o && olen == 4 && get32(o) == 0xFFFFFF00, "netmask 255.255.255.0");
    }
    net_send(c->be, f, build_dhcp(f, 3, 0xB0BB1E02, GUEST_IP, HOST_IP));
    r = wait_frame(ns, c, is_dhcp_reply, NULL, 2000, &len);
    check(r != NULL, "DHCP REQUEST gets a reply");
    if (r) {
        parse_frame(r, len, &p);
        o = dhcp_option(&p, 53, &olen);
        check(o && olen == 1 && o[0] == 5, "DHCP message type ACK");
        check(get32(p.l4 + 8 + 16) == GUEST_IP, "ACK: yiaddr 10.0.2.15");
        o = dhcp_option(&p, 51, &olen);
        check(o && olen == 4 && get32(o) > 0, "a lease time");
    }

    uint32_t target = HOST_IP;
    net_send(c->be, f, build_arp_request(f, GUEST_IP, HOST_IP));
    r = wait_frame(ns, c, is_arp_reply, &target, 1000, &len);
    check(r != NULL, "ARP who-has 10.0.2.2 is answered");
    if (r) {
        check(!memcmp(r, guest_mac, 6), "the ARP reply is addressed to us");
        check(!memcmp(r + 22, "\x52\x55\x0a\x00\x02\x02", 6), "10.0.2.2 is at 52:55:0a:00:02:02");
        check(!memcmp(r + 32, guest_mac, 6) && get32(r + 38) == GUEST_IP, "the reply's target is us");
        check(len >= 60, "frames are at least 60 bytes (got %zu)", len);
    }
    target = DNS_IP;
    net_send(c->be, f, build_arp_request(f, GUEST_IP, DNS_IP));
    check(wait_frame(ns, c, is_arp_reply, &target, 1000, &len) != NULL, "ARP who-has 10.0.2.3 is answered");
    target = IP(10, 0, 2, 99);
    net_send(c->be, f, build_arp_request(f, GUEST_IP, target));
    check(wait_frame(ns, c, is_arp_reply, &target, 100, &len) == NULL, "ARP for an unused address: no answer");
}

static void test_forwards(struct net_slirp *ns, struct fake_card *c, uint16_t tcp_port, uint16_t udp_port)
{
    struct sockaddr_in a;
    int lfd = find_listener(tcp_port, &a);
    check(lfd >= 0 && a.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
          "the TCP forward listens on 127.0.0.1 only (fd %d, %08x)", lfd, ntohl(a.sin_addr.s_addr));

    int s = connect_loopback(tcp_port);
    check(s >= 0, "a host client connects to the forward");
    uint16_t guest_port = 22;
    size_t len;
    const uint8_t *r = wait_frame(ns, c, is_tcp_syn_to, &guest_port, 2000, &len);
    check(r != NULL, "the connection shows up as a SYN towards the guest's port 22");
    if (r) {
        struct parsed p;
        parse_frame(r, len, &p);
        check(p.dst == GUEST_IP && p.src == HOST_IP, "SYN from 10.0.2.2 to 10.0.2.15 (%08x -> %08x)", p.src, p.dst);
        check(!memcmp(r, guest_mac, 6), "SYN addressed to the guest's MAC");
        check(len >= 60, "short frames are padded to 60 bytes (got %zu)", len);
    }
    if (s >= 0) close(s);

    /* UDP forward */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(udp_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    sendto(u, "hello guest", 11, 0, (struct sockaddr *)&to, sizeof(to));
    guest_port = 5353;
    r = wait_frame(ns, c, is_udp_to, &guest_port, 2000, &len);
    check(r != NULL, "a datagram to the UDP forward reaches the guest's port 5353");
    if (r) {
        struct parsed p;
        parse_frame(r, len, &p);
        check(p.dst == GUEST_IP && p.l4len == 8 + 11 && !memcmp(p.l4 + 8, "hello guest", 11), "with its payload");
    }
    close(u);
}

/* The guest's datagram to 10.0.2.2 reaches a socket on the host's 127.0.0.1 (unless restricted). */
static int guest_udp_reaches_host(struct net_slirp *ns, struct fake_card *c)
{
    int h = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    bind(h, (struct sockaddr *)&a, sizeof(a));
    getsockname(h, (struct sockaddr *)&a, &alen);
    uint8_t f[200];
    net_send(c->be, f, build_udp(f, (const uint8_t *)"\x52\x55\x0a\x00\x02\x02", GUEST_IP, HOST_IP, 40000,
                                 ntohs(a.sin_port), (const uint8_t *)"hello host", 10));
    char buf[64];
    int got = -1;
    for (int k = 0; k < 20 && got < 0; k++) {
        pump(ns, 10, NULL);
        got = (int)recv(h, buf, sizeof(buf), MSG_DONTWAIT);
    }
    close(h);
    return got == 10 && !memcmp(buf, "hello host", 10);
}

static void test_port_in_use(uint16_t tcp_port, uint16_t udp_port)
{
    char spec[200], err[256];
    /* tcp_port and udp_port are held by the first instance */
    snprintf(spec, sizeof(spec), "user,hostfwd=tcp::%u-:22", tcp_port);
    struct net_slirp *ns = open_user(spec, err, sizeof(err));
    char want[100];
    snprintf(want, sizeof(want), "hostfwd tcp:127.0.0.1:%u: port in use", tcp_port);
    check(!ns && !strcmp(err, want), "a TCP port in use: '%s' (expected '%s')", err, want);
    net_slirp_close(ns);

    snprintf(spec, sizeof(spec), "user,hostfwd=udp::%u-:53", udp_port);
    ns = open_user(spec, err, sizeof(err));
    snprintf(want, sizeof(want), "hostfwd udp:127.0.0.1:%u: port in use", udp_port);
    check(!ns && !strcmp(err, want), "a UDP port in use: '%s' (expected '%s')", err, want);
    net_slirp_close(ns);

    /* a port some other program listens on, and a later forward failing after an earlier one bound */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    bind(l, (struct sockaddr *)&a, sizeof(a));
    listen(l, 1);
    getsockname(l, (struct sockaddr *)&a, &alen);
    uint16_t free_one = free_port(SOCK_STREAM);
    snprintf(spec, sizeof(spec), "user,hostfwd=tcp::%u-:80,hostfwd=tcp::%u-:22", free_one, ntohs(a.sin_port));
    ns = open_user(spec, err, sizeof(err));
    check(!ns && strstr(err, "port in use"), "another program's port: '%s'", err);
    net_slirp_close(ns);
    close(l);
    /* the forward that did bind was released with the failed instance */
    struct sockaddr_in unused;
    check(find_listener(free_one, &unused) < 0, "a failed start-up leaves no listener behind");

    snprintf(spec, sizeof(spec), "user,tftp=/nonexistent/dir");
    ns = open_user(spec, err, sizeof(err));
    check(!ns && strstr(err, "tftp=/nonexistent/dir"), "tftp= a missing directory: '%s'", err);
}

static void test_restrict(void)
{
    char spec[200], err[256];
    uint16_t port = free_port(SOCK_STREAM);
    snprintf(spec, sizeof(spec), "user,restrict=on,hostfwd=tcp::%u-:22", port);
    struct net_slirp *ns = open_user(spec, err, sizeof(err));
    check(ns != NULL, "restrict=on starts: %s", err);
    if (!ns) return;
    struct fake_card *c = card_attach(ns);
    uint8_t f[100];
    net_send(c->be, f, build_arp_request(f, GUEST_IP, HOST_IP));
    check(!guest_udp_reaches_host(ns, c), "restrict=on: the guest's datagram does not reach the host");
    int s = connect_loopback(port);
    uint16_t guest_port = 22;
    check(wait_frame(ns, c, is_tcp_syn_to, &guest_port, 2000, NULL) != NULL, "restrict=on: forwards still work");
    if (s >= 0) close(s);
    net_slirp_close(ns);
    card_free(c);
}

/* slirp's router-advertisement timer (IPv6), found by moving the clock on. */
static void test_timers(void)
{
    char err[256];
    struct net_slirp *ns = open_user("user", err, sizeof(err));
    check(ns != NULL, "open: %s", err);
    if (!ns) return;
    struct fake_card *c = card_attach(ns);
    struct slirp_timer *t = next_timer(ns);
    check(t != NULL, "slirp armed a timer (the router advertisement)");
    int64_t timeout = -1;
    struct pollfd fds[NET_SLIRP_POLL_FDS];
    int n = net_slirp_poll_fds(ns, fds, NET_SLIRP_POLL_FDS, &timeout);
    check(timeout >= 0 && timeout <= 1000000000LL, "the wait is bounded by slirp (%lld ns)", (long long)timeout);
    net_slirp_poll_handle(ns, fds, n, 0);
    check(wait_frame(ns, c, is_router_advert, NULL, 50, NULL) == NULL, "no advertisement before its time");
    if (t) ns->clock_offset_ns = t->expire_ns - host_now_ns(ns) + 1000000;
    check(wait_frame(ns, c, is_router_advert, NULL, 500, NULL) != NULL, "the timer fired: a router advertisement");
    t = next_timer(ns);
    check(t && t->expire_ns > host_now_ns(ns), "and was armed again for later");
    net_slirp_close(ns);
    card_free(c);
}

/* ==== backpressure ============================================================================ */

#define TRANSFER (256 * 1024)

static uint8_t pattern_byte(uint32_t k)
{
    return (uint8_t)(k * 7 + (k >> 9));
}

struct tcp_guest {
    uint16_t host_port, guest_port;   /* slirp's side (10.0.2.2) and ours (10.0.2.15) */
    uint32_t iss, next_expected;      /* our sequence; the next byte we expect */
    uint8_t *got;
    uint32_t received, gaps, duplicates;
};

static void guest_ack(struct tcp_guest *g, struct fake_card *c)
{
    uint8_t f[100];
    net_send(c->be, f, build_tcp(f, GUEST_IP, HOST_IP, g->guest_port, g->host_port, g->iss + 1, g->next_expected,
                                 TCP_ACK, 65535, NULL, 0));
}

/* Take the new data frames the card got; 1 when any came. */
static int guest_take(struct tcp_guest *g, struct fake_card *c, uint32_t *first_seq, int *in_order)
{
    int any = 0;
    while (c->seen < c->n) {
        int k = c->seen++;
        struct parsed p;
        if (parse_frame(c->frames[k], c->lens[k], &p) || p.proto != 6 || p.l4len < 20) continue;
        size_t hl = (size_t)(p.l4[12] >> 4) * 4;
        if (hl > p.l4len || get16(p.l4 + 2) != g->guest_port) continue;
        uint32_t seq = get32(p.l4 + 4), dlen = (uint32_t)(p.l4len - hl);
        if (!dlen) continue;
        if (first_seq && !any) *first_seq = seq;
        any = 1;
        if (seq != g->next_expected) {
            if ((int32_t)(seq - g->next_expected) > 0) g->gaps++;
            else g->duplicates++;
            if (in_order) *in_order = 0;
            continue;
        }
        uint32_t off = g->received;
        if (off + dlen > TRANSFER) dlen = TRANSFER - off;
        memcpy(g->got + off, p.l4 + hl, dlen);
        g->received += dlen;
        g->next_expected += dlen;
    }
    return any;
}

static void test_backpressure(void)
{
    char spec[200], err[256];
    uint16_t port = free_port(SOCK_STREAM);
    snprintf(spec, sizeof(spec), "user,hostfwd=tcp::%u-:80", port);
    struct net_slirp *ns = open_user(spec, err, sizeof(err));
    check(ns != NULL, "open: %s", err);
    if (!ns) return;
    struct fake_card *c = card_attach(ns);
    uint8_t f[200];
    net_send(c->be, f, build_arp_request(f, GUEST_IP, HOST_IP));

    /* The handshake: host connects, slirp's SYN, our SYN-ACK (MSS 1460, window 64K). */
    int s = connect_loopback(port);
    struct tcp_guest g;
    memset(&g, 0, sizeof(g));
    g.guest_port = 80;
    g.iss = 0x10000000;
    g.got = calloc(1, TRANSFER);
    size_t len;
    const uint8_t *syn = wait_frame(ns, c, is_tcp_syn_to, &g.guest_port, 2000, &len);
    check(syn != NULL, "backpressure: the SYN arrives");
    if (!syn || s < 0) goto out;
    struct parsed p;
    parse_frame(syn, len, &p);
    g.host_port = get16(p.l4);
    g.next_expected = get32(p.l4 + 4) + 1;
    static const uint8_t mss[4] = { 2, 4, 0x05, 0xB4 };
    net_send(c->be, f, build_tcp(f, GUEST_IP, HOST_IP, g.guest_port, g.host_port, g.iss, g.next_expected,
                                 TCP_SYN | TCP_ACK, 65535, mss, sizeof(mss)));
    for (int k = 0; k < 5; k++) pump(ns, 5, NULL);
    c->seen = c->n;
    int peer = find_peer(s);
    check(peer >= 0, "slirp's end of the host connection found");

    /* A first 64 KiB with a card that takes everything: slirp's congestion window opens. */
    fcntl(s, F_SETFL, O_NONBLOCK);
    uint8_t *data = malloc(TRANSFER);
    for (uint32_t k = 0; k < TRANSFER; k++) data[k] = pattern_byte(k);
    size_t sent = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (g.received < 64 * 1024) {
        ssize_t w = sent < TRANSFER ? send(s, data + sent, TRANSFER - sent, MSG_DONTWAIT) : 0;
        if (w > 0) sent += (size_t)w;
        pump(ns, 2, NULL);
        guest_take(&g, c, NULL, NULL);
        guest_ack(&g, c);
        guest_take(&g, c, NULL, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 10) break;
    }
    check(g.received >= 64 * 1024 && g.gaps == 0, "the first 64 KiB arrive (%u bytes)", g.received);

    /* The card refuses; the guest acknowledges what it has (window 64K): the next window's frames wait. */
    c->room = 0;
    guest_ack(&g, c);
    for (int k = 0; k < 10; k++) {
        ssize_t w = sent < TRANSFER ? send(s, data + sent, TRANSFER - sent, MSG_DONTWAIT) : 0;
        if (w > 0) sent += (size_t)w;
        pump(ns, 5, NULL);
    }
    unsigned held = ns->q.count;
    check(c->n == c->seen && c->delivered_while_full == 0, "a refusing card is handed nothing");
    check(held > 4, "the frames wait in the queue (%u)", held);
    int unread1 = -1, unread2 = -1, pollin = 0;
    if (peer >= 0) ioctl(peer, FIONREAD, &unread1);
    for (int k = 0; k < 30; k++) {
        ssize_t w = sent < TRANSFER ? send(s, data + sent, TRANSFER - sent, MSG_DONTWAIT) : 0;
        if (w > 0) sent += (size_t)w;
        pump(ns, 5, &pollin);
    }
    if (peer >= 0) ioctl(peer, FIONREAD, &unread2);
    check(!pollin, "while frames wait, no socket is polled for reading");
    check(unread1 > 0 && unread2 >= unread1, "slirp leaves the host's data unread (%d then %d bytes waiting)",
          unread1, unread2);
    check(ns->q.count == held, "the queue does not grow (%u then %u)", held, ns->q.count);
    check(ns->st.dropped_full == 0, "nothing dropped");

    /* The card drains: everything that waited arrives, in order. */
    c->room = -1;
    net_rx_ready(c->be);
    check(ns->q.count == 0, "rx_ready delivered the queue (%u left)", ns->q.count);
    check(c->n - c->seen == (int)held, "all %u waiting frames arrived (%d)", held, c->n - c->seen);
    uint32_t first = 0, before = g.next_expected, got_before = g.received;
    int in_order = 1;
    guest_take(&g, c, &first, &in_order);
    check(in_order && first == before && g.gaps == 0 && g.duplicates == 0 && g.received > got_before,
          "in order, from the next byte on (%u bytes)", g.received - got_before);

    /* The rest through an 8-frame ring the guest drains after each round. */
    c->ring = 8;
    c->room = c->ring;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int held_again = 0;
    while (g.received < TRANSFER) {
        ssize_t w = sent < TRANSFER ? send(s, data + sent, TRANSFER - sent, MSG_DONTWAIT) : 0;
        if (w > 0) sent += (size_t)w;
        guest_ack(&g, c);
        pump(ns, 2, NULL);
        if (ns->q.count) held_again = 1;
        guest_take(&g, c, NULL, NULL);
        if (c->n > CARD_MAX_FRAMES / 2) c->n = c->seen = 0;
        c->room = c->ring;
        net_rx_ready(c->be);
        guest_take(&g, c, NULL, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 20) break;
    }
    check(g.received == TRANSFER, "the whole transfer arrived (%u of %u bytes)", g.received, TRANSFER);
    check(!memcmp(g.got, data, g.received), "byte for byte");
    check(held_again, "the small ring made frames wait");
    check(g.gaps == 0, "no frame was lost (%u gaps)", g.gaps);
    check(g.duplicates == 0, "no retransmission was needed (%u)", g.duplicates);
    check(ns->st.dropped_full == 0 && c->delivered_while_full == 0 && c->bad_length == 0,
          "nothing dropped, nothing forced on a full card");
    printf("backpressure: ");
    net_slirp_print_stats(ns, stdout);
    free(data);
out:
    if (s >= 0) close(s);
    free(g.got);
    net_slirp_close(ns);
    card_free(c);
}

/* The queue's bound: a refusing card and 600 ARP requests from the guest. The
 * first 512 replies wait, in order; the rest are dropped and counted. */
static void test_queue_bound(void)
{
    char err[256];
    struct net_slirp *ns = open_user("user", err, sizeof(err));
    check(ns != NULL, "open: %s", err);
    if (!ns) return;
    struct fake_card *c = card_attach(ns);
    c->room = 0;
    uint8_t f[100];
    for (int k = 0; k < 600; k++) net_send(c->be, f, build_arp_request(f, GUEST_IP, k & 1 ? DNS_IP : HOST_IP));
    check(ns->q.count == NET_SLIRP_QUEUE && ns->st.dropped_full == 600 - NET_SLIRP_QUEUE,
          "%d wait, %d dropped (%u, %llu)", NET_SLIRP_QUEUE, 600 - NET_SLIRP_QUEUE, ns->q.count,
          (unsigned long long)ns->st.dropped_full);
    c->room = -1;
    net_rx_ready(c->be);
    int in_order = c->n == NET_SLIRP_QUEUE;
    for (int k = 0; k < c->n && in_order; k++) in_order = get32(c->frames[k] + 28) == (k & 1 ? DNS_IP : HOST_IP);
    check(in_order, "the %d waiting replies arrive in order (%d)", NET_SLIRP_QUEUE, c->n);
    check(c->delivered_while_full == 0, "none while the card refused");
    net_slirp_close(ns);
    card_free(c);
}

/* More sockets than pollfd entries: polled in turns, none starves. */
static void test_many_sockets(void)
{
    char spec[4096], err[256];
    int len = snprintf(spec, sizeof(spec), "user");
    uint16_t ports[20];
    for (int k = 0; k < 20; k++) {
        /* free_port() closes its probe socket, so the kernel may hand out the
         * same ephemeral port twice: draw again until all twenty differ. */
        int dup;
        do {
            ports[k] = free_port(SOCK_DGRAM);
            dup = 0;
            for (int j = 0; j < k; j++) dup |= ports[j] == ports[k];
        } while (dup);
        len += snprintf(spec + len, sizeof(spec) - (size_t)len, ",hostfwd=udp::%u-:%d", ports[k], 1000 + k);
    }
    struct net_slirp *ns = open_user(spec, err, sizeof(err));
    check(ns != NULL, "20 forwards: %s", err);
    if (!ns) return;
    struct fake_card *c = card_attach(ns);
    uint8_t f[100];
    net_send(c->be, f, build_arp_request(f, GUEST_IP, HOST_IP));
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    for (int k = 0; k < 20; k++) {
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(ports[k]),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        sendto(u, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
    }
    int got[20] = { 0 }, all = 0;
    for (int round = 0; round < 100 && !all; round++) {
        struct pollfd fds[4];
        int64_t t = 50000000;
        int n = net_slirp_poll_fds(ns, fds, 4, &t);
        if (round == 0) check(n == 4 && t <= ROTATE_WAIT_NS, "a window of 4, short wait (%d, %lld)", n, (long long)t);
        struct timespec ts = { 0, (long)t };
        int r = ppoll(fds, (nfds_t)n, &ts, NULL);
        net_slirp_poll_handle(ns, fds, n, r < 0);
        while (c->seen < c->n) {
            struct parsed p;
            int k = c->seen++;
            if (!parse_frame(c->frames[k], c->lens[k], &p) && p.proto == 17) {
                int gp = get16(p.l4 + 2) - 1000;
                if (gp >= 0 && gp < 20) got[gp] = 1;
            }
        }
        all = 1;
        for (int k = 0; k < 20; k++) all &= got[k];
    }
    check(all, "every forward was read through a 4-entry window");
    close(u);
    net_slirp_close(ns);
    card_free(c);
}

int main(void)
{
    test_nic_options();
    test_netdev_device_options();

    int fds_before = count_open_fds();
    uint16_t tcp_port = free_port(SOCK_STREAM), udp_port = free_port(SOCK_DGRAM);
    char spec[200], err[256];
    snprintf(spec, sizeof(spec), "user,hostfwd=tcp::%u-:22,hostfwd=udp::%u-:5353", tcp_port, udp_port);
    struct net_slirp *ns = open_user(spec, err, sizeof(err));
    check(ns != NULL, "net_slirp_open: %s", err);
    if (ns) {
        struct fake_card *c = card_attach(ns);
        test_dhcp_arp(ns, c);
        test_forwards(ns, c, tcp_port, udp_port);
        check(guest_udp_reaches_host(ns, c), "the guest's datagram to 10.0.2.2 reaches the host's 127.0.0.1");
        test_port_in_use(tcp_port, udp_port);
        struct net_slirp_stats st;
        net_slirp_get_stats(ns, &st);
        check(st.from_guest >= 6 && st.to_guest >= 5 && st.dropped_full == 0 && st.dropped_bad == 0,
              "stats: %llu from the guest, %llu to it", (unsigned long long)st.from_guest,
              (unsigned long long)st.to_guest);
        net_slirp_close(ns);
        card_free(c);
    }
    test_restrict();
    test_timers();
    test_backpressure();
    test_queue_bound();
    test_many_sockets();
    check(count_open_fds() == fds_before, "every socket closed (%d open, %d before)", count_open_fds(), fds_before);

    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
