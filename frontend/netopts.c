/* Network options in QEMU's spelling (see netopts.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "frontend/netopts.h"

#define TOKEN_MAX 1400

static const uint8_t default_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* Which user options one spec set explicitly (the others derive from net=). */
struct user_given {
    int net, host, dns, dhcp_start;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

const char *net_model_name(enum net_model m)
{
    switch (m) {
    case NET_MODEL_NE2K_PCI: return "ne2k_pci";
    case NET_MODEL_NE2K_ISA: return "ne2k_isa";
    case NET_MODEL_NONE: break;
    }
    return "none";
}

static struct in_addr ipv4(uint32_t host_order)
{
    struct in_addr a;
    a.s_addr = htonl(host_order);
    return a;
}

static void user_defaults(struct netopts_user *u)
{
    memset(u, 0, sizeof(*u));
    u->ipv6 = 1;
    u->net = ipv4(0x0A000200);          /* 10.0.2.0/24, slirp's and QEMU's default */
    u->mask = ipv4(0xFFFFFF00);
    u->host = ipv4(0x0A000202);
    u->dns = ipv4(0x0A000203);
    u->dhcp_start = ipv4(0x0A00020F);
}

void netopts_init(struct netopts *o)
{
    memset(o, 0, sizeof(*o));
    o->model = NET_MODEL_NONE;
    o->backend = NET_BACKEND_NONE;
    memcpy(o->mac, default_mac, 6);
    o->iobase = 0x300;
    o->irq = 9;
    user_defaults(&o->user);
}

/* ---- lexing ----------------------------------------------------------------- */

/* The next comma-separated item of *p into buf (",," is a literal comma).
 * 1: got one; 0: end of the spec; -1: longer than the buffer. */
static int next_item(const char **p, char *buf, size_t cap)
{
    const char *s = *p;
    if (!*s) return 0;
    size_t n = 0;
    while (*s) {
        if (*s == ',') {
            if (s[1] != ',') {
                s++;
                break;
            }
            s++;   /* ",," */
        }
        if (n + 1 >= cap) return -1;
        buf[n++] = *s++;
    }
    buf[n] = 0;
    *p = s;
    return 1;
}

/* Split "key=value" in place; value is NULL when there is no '='. */
static char *split_value(char *item)
{
    char *eq = strchr(item, '=');
    if (!eq) return NULL;
    *eq = 0;
    return eq + 1;
}

static int parse_on_off(const char *v, int *out)
{
    if (!v) return -1;
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true")) *out = 1;
    else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false")) *out = 0;
    else return -1;
    return 0;
}

static int parse_ipv4(const char *s, struct in_addr *a)
{
    return inet_pton(AF_INET, s, a) == 1 ? 0 : -1;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+' || isspace((unsigned char)*s)) return -1;
    unsigned long v = strtoul(s, &end, 0);
    if (*end || v > max) return -1;
    *out = v;
    return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
    unsigned long v;
    if (parse_uint(s, 65535, &v) || v == 0) return -1;
    *port = (uint16_t)v;
    return 0;
}

/* aa:bb:cc:dd:ee:ff (or with '-'): a unicast address, not all zero. */
static int parse_mac(const char *s, uint8_t mac[6], char *err, size_t errlen)
{
    for (int k = 0; k < 6; k++) {
        if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
            return fail(err, errlen, "mac=%s: expected six hex pairs like 52:54:00:12:34:56", s);
        char hex[3] = { s[0], s[1], 0 };
        mac[k] = (uint8_t)strtoul(hex, NULL, 16);
        s += 2;
        if (k < 5) {
            if (*s != ':' && *s != '-')
                return fail(err, errlen, "mac=...: expected six hex pairs like 52:54:00:12:34:56");
            s++;
        }
    }
    if (*s) return fail(err, errlen, "mac=...: expected six hex pairs like 52:54:00:12:34:56");
    if (mac[0] & 1) return fail(err, errlen, "mac=...: a multicast address (the first byte must be even)");
    if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
        return fail(err, errlen, "mac=00:00:00:00:00:00 is not a station address");
    return 0;
}

/* net=ADDR/BITS, ADDR/MASK, or ADDR alone (mask by address class, as QEMU). */
static int parse_net(const char *s, struct in_addr *net, struct in_addr *mask, char *err, size_t errlen)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen >= sizeof(addr)) return fail(err, errlen, "net=%s: expected ADDR/BITS like 10.0.2.0/24", s);
    memcpy(addr, s, alen);
    addr[alen] = 0;
    if (parse_ipv4(addr, net)) return fail(err, errlen, "net=%s: expected ADDR/BITS like 10.0.2.0/24", s);
    uint32_t a = ntohl(net->s_addr), m;
    if (!slash) {
        m = !(a & 0x80000000u) ? 0xFF000000u : (a & 0xC0000000u) == 0x80000000u ? 0xFFFF0000u : 0xFFFFFF00u;
    } else if (strchr(slash + 1, '.')) {
        struct in_addr ma;
        if (parse_ipv4(slash + 1, &ma)) return fail(err, errlen, "net=%s: bad mask", s);
        m = ntohl(ma.s_addr);
        if (m & (~m >> 1)) return fail(err, errlen, "net=%s: the mask is not contiguous", s);
    } else {
        unsigned long bits;
        if (parse_uint(slash + 1, 32, &bits)) return fail(err, errlen, "net=%s: the prefix length is 1-30", s);
        m = bits ? 0xFFFFFFFFu << (32 - bits) : 0;
    }
    if (m == 0 || (~m) < 3u) return fail(err, errlen, "net=%s: the prefix length is 1-30", s);
    if (a & ~m) return fail(err, errlen, "net=%s: host bits are set (the network address ends in zeros)", s);
    mask->s_addr = htonl(m);
    return 0;
}

/* ---- hostfwd -------------------------------------------------------------- */

/* Copy the text up to `stop` (not included) into buf; *p moves past stop.
 * -1 when stop is not found or the part is too long. */
static int take_until(const char **p, char stop, char *buf, size_t cap)
{
    const char *end = strchr(*p, stop);
    if (!end || (size_t)(end - *p) >= cap) return -1;
    memcpy(buf, *p, (size_t)(end - *p));
    buf[end - *p] = 0;
    *p = end + 1;
    return 0;
}

static int same_forward(const struct netopts_fwd *a, const struct netopts_fwd *b)
{
    return a->udp == b->udp && a->host_port == b->host_port && a->host.s_addr == b->host.s_addr;
}

/* [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static int parse_hostfwd(struct netopts_user *u, const char *v, char *err, size_t errlen)
{
    static const char *form = "expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT";
    struct netopts_fwd f;
    char proto[8], haddr[32], hport[8], gaddr[32];
    const char *p = v;
    memset(&f, 0, sizeof(f));
    if (u->nfwd == NETOPTS_MAX_FWD) return fail(err, errlen, "hostfwd: at most %d forwards", NETOPTS_MAX_FWD);
    if (take_until(&p, ':', proto, sizeof(proto))) return fail(err, errlen, "hostfwd=%s: %s", v, form);
    if (!strcmp(proto, "udp")) f.udp = 1;
    else if (strcmp(proto, "tcp") && proto[0])
        return fail(err, errlen, "hostfwd=%s: protocol '%s' (tcp or udp)", v, proto);
    if (*p == '[')
        return fail(err, errlen, "hostfwd=%s: IPv6 host addresses are not supported (libslirp cannot forward "
                    "them to the guest's IPv4 address)", v);
    if (take_until(&p, ':', haddr, sizeof(haddr))) return fail(err, errlen, "hostfwd=%s: %s", v, form);
    /* Deliberately not QEMU's "every address": only this machine, unless asked. */
    if (!haddr[0]) f.host.s_addr = htonl(INADDR_LOOPBACK);
    else if (parse_ipv4(haddr, &f.host)) return fail(err, errlen, "hostfwd=%s: bad host address '%s'", v, haddr);
    if (take_until(&p, '-', hport, sizeof(hport))) return fail(err, errlen, "hostfwd=%s: %s", v, form);
    if (parse_port(hport, &f.host_port)) return fail(err, errlen, "hostfwd=%s: bad host port (1-65535)", v);
    if (take_until(&p, ':', gaddr, sizeof(gaddr))) return fail(err, errlen, "hostfwd=%s: %s", v, form);
    if (gaddr[0] && parse_ipv4(gaddr, &f.guest))
        return fail(err, errlen, "hostfwd=%s: bad guest address '%s'", v, gaddr);
    if (parse_port(p, &f.guest_port)) return fail(err, errlen, "hostfwd=%s: bad guest port (1-65535)", v);

    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &f.host, text, sizeof(text));
    snprintf(f.name, sizeof(f.name), "%s:%s:%u", f.udp ? "udp" : "tcp", text, f.host_port);
    for (int k = 0; k < u->nfwd; k++)
        if (same_forward(&u->fwd[k], &f)) return fail(err, errlen, "hostfwd %s is given twice", f.name);
    u->fwd[u->nfwd++] = f;
    return 0;
}

/* ---- the user backend's options ---------------------------------------------- */

static int copy_string(char *dst, size_t cap, const char *key, const char *v, char *err, size_t errlen)
{
    if (!v[0]) return fail(err, errlen, "%s= is empty", key);
    if (strlen(v) >= cap) return fail(err, errlen, "%s=...: longer than %zu characters", key, cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int parse_address_option(const char *key, const char *v, struct in_addr *a, int *given,
                                char *err, size_t errlen)
{
    if (parse_ipv4(v, a)) return fail(err, errlen, "%s=%s: expected an IPv4 address", key, v);
    *given = 1;
    return 0;
}

/* 1: taken; 0: not a user-backend key; -1: bad value. */
static int parse_user_option(struct netopts_user *u, struct user_given *g, const char *key, const char *v,
                             char *err, size_t errlen)
{
    if (!strcmp(key, "hostfwd") || !strcmp(key, "restrict") || !strcmp(key, "net") || !strcmp(key, "host") ||
        !strcmp(key, "dns") || !strcmp(key, "dhcpstart") || !strcmp(key, "tftp") || !strcmp(key, "bootfile") ||
        !strcmp(key, "hostname") || !strcmp(key, "domainname") || !strcmp(key, "ipv6")) {
        if (!v) return fail(err, errlen, "%s needs a value (%s=...)", key, key);
    } else {
        return 0;
    }
    int rc = 0;
    if (!strcmp(key, "hostfwd")) rc = parse_hostfwd(u, v, err, errlen);
    else if (!strcmp(key, "restrict")) {
        if (parse_on_off(v, &u->restricted)) rc = fail(err, errlen, "restrict=%s: expected on or off", v);
    } else if (!strcmp(key, "ipv6")) {
        if (parse_on_off(v, &u->ipv6)) rc = fail(err, errlen, "ipv6=%s: expected on or off", v);
    } else if (!strcmp(key, "net")) {
        rc = parse_net(v, &u->net, &u->mask, err, errlen);
        g->net = 1;
    } else if (!strcmp(key, "host")) rc = parse_address_option(key, v, &u->host, &g->host, err, errlen);
    else if (!strcmp(key, "dns")) rc = parse_address_option(key, v, &u->dns, &g->dns, err, errlen);
    else if (!strcmp(key, "dhcpstart")) rc = parse_address_option(key, v, &u->dhcp_start, &g->dhcp_start, err, errlen);
    else if (!strcmp(key, "tftp")) rc = copy_string(u->tftp, sizeof(u->tftp), key, v, err, errlen);
    else if (!strcmp(key, "bootfile")) rc = copy_string(u->bootfile, sizeof(u->bootfile), key, v, err, errlen);
    else if (!strcmp(key, "hostname")) rc = copy_string(u->hostname, sizeof(u->hostname), key, v, err, errlen);
    else rc = copy_string(u->domainname, sizeof(u->domainname), key, v, err, errlen);
    return rc ? -1 : 1;
}

static int in_net(const struct netopts_user *u, struct in_addr a)
{
    return (a.s_addr & u->mask.s_addr) == u->net.s_addr;
}

/* A usable station address of the network: inside, not the network or broadcast address. */
static int station_in_net(const struct netopts_user *u, struct in_addr a)
{
    uint32_t host_bits = ntohl(a.s_addr) & ~ntohl(u->mask.s_addr);
    return in_net(u, a) && host_bits != 0 && host_bits != ~ntohl(u->mask.s_addr);
}

/* After one spec: addresses not given follow net=, then everything must fit. */
static int finish_user(struct netopts_user *u, const struct user_given *g, char *err, size_t errlen)
{
    uint32_t net = ntohl(u->net.s_addr), mask = ntohl(u->mask.s_addr);
    char a[INET_ADDRSTRLEN], n[INET_ADDRSTRLEN];
    if (g->net) {
        if (!g->host) u->host = ipv4(net | 2);
        if (!g->dns) u->dns = ipv4(net | 3);
        if (!g->dhcp_start) u->dhcp_start = ipv4(net | (15 & ~mask));
    }
    inet_ntop(AF_INET, &u->net, n, sizeof(n));
    static const char *names[] = { "host", "dns", "dhcpstart" };
    struct in_addr addrs[] = { u->host, u->dns, u->dhcp_start };
    for (int k = 0; k < 3; k++) {
        if (!station_in_net(u, addrs[k])) {
            inet_ntop(AF_INET, &addrs[k], a, sizeof(a));
            return fail(err, errlen, "%s=%s is not a station address of net=%s/%d", names[k], a, n,
                        32 - __builtin_ctz(mask));
        }
    }
    if (u->host.s_addr == u->dns.s_addr) return fail(err, errlen, "host= and dns= must differ");
    /* slirp leases 16 addresses from dhcpstart on. */
    uint32_t first = ntohl(u->dhcp_start.s_addr), last = first + 15;
    uint32_t host = ntohl(u->host.s_addr), dns = ntohl(u->dns.s_addr);
    if (!station_in_net(u, ipv4(last)) || (host >= first && host <= last) || (dns >= first && dns <= last)) {
        inet_ntop(AF_INET, &u->dhcp_start, a, sizeof(a));
        return fail(err, errlen, "dhcpstart=%s: the 16 leases from there must lie in the network and "
                    "miss host= and dns=", a);
    }
    for (int k = 0; k < u->nfwd; k++) {
        struct netopts_fwd *f = &u->fwd[k];
        if (f->guest.s_addr && !station_in_net(u, f->guest)) {
            inet_ntop(AF_INET, &f->guest, a, sizeof(a));
            return fail(err, errlen, "hostfwd %s: the guest address %s is not in net=%s", f->name, a, n);
        }
    }
    return 0;
}

/* The options after the backend type, for -nic (card keys allowed) or -netdev (id= allowed). */
static int parse_user_spec(struct netopts *o, const char *rest, int is_nic, char *err, size_t errlen)
{
    struct user_given g;
    char item[TOKEN_MAX];
    int r;
    memset(&g, 0, sizeof(g));
    while ((r = next_item(&rest, item, sizeof(item))) > 0) {
        char *v = split_value(item);
        int taken = parse_user_option(&o->user, &g, item, v, err, errlen);
        if (taken < 0) return -1;
        if (taken) continue;
        int known = is_nic ? !strcmp(item, "model") || !strcmp(item, "mac") : !strcmp(item, "id");
        if (known && !v) return fail(err, errlen, "%s needs a value (%s=...)", item, item);
        if (is_nic && !strcmp(item, "model")) {
            if (!strcmp(v, "ne2k_pci")) o->model = NET_MODEL_NE2K_PCI;
            else if (!strcmp(v, "ne2k_isa")) o->model = NET_MODEL_NE2K_ISA;
            else return fail(err, errlen, "model=%s: available models: ne2k_pci ne2k_isa", v);
        } else if (is_nic && !strcmp(item, "mac")) {
            if (parse_mac(v, o->mac, err, errlen)) return -1;
        } else if (!is_nic && !strcmp(item, "id")) {
            size_t len = strlen(v);
            if (!len || len >= sizeof(o->netdev_id) || !isalpha((unsigned char)v[0]))
                return fail(err, errlen, "id=%s: a name starting with a letter, at most %zu characters", v,
                            sizeof(o->netdev_id) - 1);
            for (size_t k = 0; k < len; k++)
                if (!isalnum((unsigned char)v[k]) && !strchr("_.-", v[k]))
                    return fail(err, errlen, "id=%s: letters, digits, '_', '.', '-' only", v);
            memcpy(o->netdev_id, v, len + 1);
        } else if (is_nic && (!strcmp(item, "iobase") || !strcmp(item, "irq"))) {
            return fail(err, errlen, "%s= is a property of the card: use -netdev user,id=n0 -device "
                        "ne2k_isa,netdev=n0,%s=...", item, item);
        } else {
            return fail(err, errlen, "unknown option '%s' (hostfwd, restrict, net, host, dns, dhcpstart, tftp, "
                        "bootfile, hostname, domainname, ipv6%s)", item, is_nic ? ", model, mac" : ", id");
        }
    }
    if (r < 0) return fail(err, errlen, "an option is too long");
    return finish_user(&o->user, &g, err, errlen);
}

/* The backend type: the first item, up to the first comma. */
static const char *take_type(const char *spec, char *type, size_t cap)
{
    size_t n = strcspn(spec, ",");
    if (n >= cap) n = cap - 1;
    memcpy(type, spec, n);
    type[n] = 0;
    return spec[n] == ',' ? spec + n + 1 : spec + n;
}

int netopts_parse_nic(struct netopts *o, const char *spec, char *err, size_t errlen)
{
    char type[32];
    const char *rest = take_type(spec, type, sizeof(type));
    if (o->nic_given) return fail(err, errlen, "only one network card is supported (one -nic)");
    if (o->device_given && strcmp(type, "none"))
        return fail(err, errlen, "-nic and -device %s: only one network card is supported", o->device_spec);
    if (!strcmp(type, "none")) {
        if (*rest) return fail(err, errlen, "-nic none takes no options");
        o->nic_given = o->nic_none = 1;
        return 0;
    }
    if (strcmp(type, "user"))
        return fail(err, errlen, "'%s' networking is not supported (user or none)", type);
    if (o->netdev_given) return fail(err, errlen, "-nic user and -netdev: only one network is supported");
    o->model = NET_MODEL_NE2K_PCI;
    if (parse_user_spec(o, rest, 1, err, errlen)) return -1;
    o->nic_given = 1;
    o->backend = NET_BACKEND_USER;
    return 0;
}

int netopts_parse_netdev(struct netopts *o, const char *spec, char *err, size_t errlen)
{
    char type[32];
    const char *rest = take_type(spec, type, sizeof(type));
    if (strcmp(type, "user"))
        return fail(err, errlen, "'%s' networking is not supported (-netdev user,id=NAME)", type);
    if (o->netdev_given) return fail(err, errlen, "only one -netdev is supported");
    if (o->nic_given && !o->nic_none)
        return fail(err, errlen, "-nic user and -netdev: only one network is supported");
    o->netdev_id[0] = 0;
    if (parse_user_spec(o, rest, 0, err, errlen)) return -1;
    if (!o->netdev_id[0]) return fail(err, errlen, "-netdev user needs id=NAME (for -device ...,netdev=NAME)");
    o->netdev_given = 1;
    return 0;
}

int netopts_parse_device(struct netopts *o, const char *spec, char *err, size_t errlen)
{
    char type[32], item[TOKEN_MAX];
    const char *rest = take_type(spec, type, sizeof(type));
    enum net_model model;
    if (!strcmp(type, "ne2k_pci")) model = NET_MODEL_NE2K_PCI;
    else if (!strcmp(type, "ne2k_isa")) model = NET_MODEL_NE2K_ISA;
    else return 0;
    if (o->device_given) return fail(err, errlen, "only one network card is supported (one -device %s)", type);
    if (o->nic_given && !o->nic_none)
        return fail(err, errlen, "-nic and -device %s: only one network card is supported", type);
    int r;
    while ((r = next_item(&rest, item, sizeof(item))) > 0) {
        char *v = split_value(item);
        unsigned long n;
        if (!v) return fail(err, errlen, "%s needs a value", item);
        if (!strcmp(item, "netdev")) {
            if (!v[0] || strlen(v) >= sizeof(o->device_netdev)) return fail(err, errlen, "netdev=%s: bad name", v);
            memcpy(o->device_netdev, v, strlen(v) + 1);
        } else if (!strcmp(item, "mac")) {
            if (parse_mac(v, o->mac, err, errlen)) return -1;
        } else if (model == NET_MODEL_NE2K_ISA && !strcmp(item, "iobase")) {
            /* 32 ports: the NIC's registers, the remote DMA data port and the reset port */
            if (parse_uint(v, 0xFFFF, &n) || n < 0x200 || n > 0x3E0 || (n & 0x1F))
                return fail(err, errlen, "iobase=%s: 0x200-0x3e0 in steps of 0x20", v);
            o->iobase = (uint16_t)n;
        } else if (model == NET_MODEL_NE2K_ISA && !strcmp(item, "irq")) {
            if (parse_uint(v, 15, &n) || !((1u << n) & 0x9EB8u))   /* 3 4 5 7 9 10 11 12 15 */
                return fail(err, errlen, "irq=%s: one of 3, 4, 5, 7, 9, 10, 11, 12, 15", v);
            o->irq = (uint8_t)n;
        } else {
            return fail(err, errlen, "%s: unknown property '%s' (netdev, mac%s)", type, item,
                        model == NET_MODEL_NE2K_ISA ? ", iobase, irq" : "");
        }
    }
    if (r < 0) return fail(err, errlen, "a property is too long");
    o->model = model;
    o->device_given = 1;
    snprintf(o->device_spec, sizeof(o->device_spec), "%s", type);
    return 1;
}

int netopts_finish(struct netopts *o, char *err, size_t errlen)
{
    if (o->device_given) {
        if (o->device_netdev[0]) {
            if (!o->netdev_given || strcmp(o->netdev_id, o->device_netdev))
                return fail(err, errlen, "-device %s,netdev=%s: no -netdev with id=%s", o->device_spec,
                            o->device_netdev, o->device_netdev);
            o->backend = NET_BACKEND_USER;
        } else {
            o->backend = NET_BACKEND_NONE;   /* a card with no cable, as QEMU allows */
        }
    }
    if (o->netdev_given && (!o->device_given || strcmp(o->netdev_id, o->device_netdev)))
        return fail(err, errlen, "-netdev user,id=%s: no -device uses it (e.g. -device ne2k_pci,netdev=%s)",
                    o->netdev_id, o->netdev_id);
    return 0;
}
