/* Network options in QEMU's spelling: which card, its MAC and ISA resources,
 * and the user-mode (slirp) backend's configuration.
 *
 *   -nic user[,model=ne2k_pci|ne2k_isa][,mac=52:54:00:12:34:56][,USER...]
 *   -nic none
 *   -netdev user,id=NAME[,USER...]
 *   -device ne2k_pci,netdev=NAME[,mac=..]
 *   -device ne2k_isa,netdev=NAME[,iobase=0x300][,irq=9][,mac=..]
 *
 * USER options (the slirp network; defaults are slirp's):
 *   hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT   (repeatable)
 *                   HOSTADDR defaults to 127.0.0.1 (QEMU binds to every
 *                   address; we deliberately do not: 0.0.0.0 or [::] must be
 *                   asked for). GUESTADDR defaults to dhcpstart. IPv4
 *                   only: libslirp 4.7 drops IPv6 host connections to the
 *                   guest's IPv4 address, so [IPv6] is refused up front.
 *   restrict=on|off the guest reaches nothing but the forwards (and DHCP/TFTP)
 *   net=10.0.2.0/24 the guest network (ADDR/BITS or ADDR/MASK; no mask: by class)
 *   host=10.0.2.2   the host's address in it        (default: net + 2)
 *   dns=10.0.2.3    the DNS forwarder               (default: net + 3)
 *   dhcpstart=10.0.2.15  the first of 16 DHCP leases (default: net + 15)
 *   tftp=DIR, bootfile=FILE, hostname=NAME, domainname=NAME, ipv6=on|off
 * A comma inside a value is written ",," as in QEMU.
 *
 * Parsing touches nothing on the host; net_slirp_open (net_slirp.h) binds
 * the forwards. */
#ifndef BUBBLE_NETOPTS_H
#define BUBBLE_NETOPTS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

enum net_model { NET_MODEL_NONE, NET_MODEL_NE2K_PCI, NET_MODEL_NE2K_ISA };
enum net_backend_kind { NET_BACKEND_NONE, NET_BACKEND_USER };

#define NETOPTS_MAX_FWD 32

struct netopts_fwd {
    int udp;
    struct in_addr host;          /* where the host side listens */
    uint16_t host_port;
    struct in_addr guest;         /* 0.0.0.0: the DHCP start address */
    uint16_t guest_port;
    char name[64];                /* for messages: "tcp:127.0.0.1:2222" */
};

/* The user-mode backend. Addresses in network byte order. */
struct netopts_user {
    int restricted;
    int ipv6;
    struct in_addr net, mask, host, dns, dhcp_start;
    char tftp[1024];              /* "" when off */
    char bootfile[256];
    char hostname[64];
    char domainname[256];
    struct netopts_fwd fwd[NETOPTS_MAX_FWD];
    int nfwd;
};

struct netopts {
    enum net_model model;         /* NET_MODEL_NONE: no card */
    enum net_backend_kind backend;/* what the card is plugged into */
    uint8_t mac[6];
    uint16_t iobase;              /* ne2k_isa */
    uint8_t irq;                  /* ne2k_isa */
    struct netopts_user user;
    /* bookkeeping between -nic, -netdev and -device (checked by netopts_finish) */
    int nic_given, nic_none;
    int netdev_given, device_given;
    char netdev_id[32];
    char device_netdev[32];
    char device_spec[64];         /* for messages */
};

/* Defaults: no card; MAC 52:54:00:12:34:56; ne2k_isa at 0x300, IRQ 9; slirp's
 * network 10.0.2.0/24 with IPv6 on. Nothing given on the command line means
 * no card (call netopts_parse_nic(o, "user", ...) first for QEMU's default). */
void netopts_init(struct netopts *o);

/* Each returns 0, or -1 with a one-line reason in err (naming the offending
 * part: "hostfwd=tcp:127.0.0.1:99999-:22: port 99999 out of range"). */
int netopts_parse_nic(struct netopts *o, const char *spec, char *err, size_t errlen);
int netopts_parse_netdev(struct netopts *o, const char *spec, char *err, size_t errlen);
/* 1: a network card, taken; 0: not a network device (o untouched, the
 * caller handles it); -1: a network card with bad properties. */
int netopts_parse_device(struct netopts *o, const char *spec, char *err, size_t errlen);
/* After the whole command line: -netdev and -device must pair up. */
int netopts_finish(struct netopts *o, char *err, size_t errlen);

const char *net_model_name(enum net_model m);

/* For the program's -help. */
#define NETOPTS_USAGE \
    "Network:\n" \
    "  -nic user[,model=ne2k_pci|ne2k_isa][,mac=M][,hostfwd=tcp:127.0.0.1:2222-:22][,restrict=on]\n" \
    "       [,net=10.0.2.0/24][,host=A][,dns=A][,dhcpstart=A][,tftp=DIR][,bootfile=F][,hostname=N][,ipv6=off]\n" \
    "                           user-mode networking (slirp): DHCP, DNS, TFTP; forwards bind to\n" \
    "                           127.0.0.1 unless an address is given; hostfwd=udp:... too\n" \
    "  -nic none                no network card\n" \
    "  -netdev user,id=N[,...] -device ne2k_pci,netdev=N[,mac=M]\n" \
    "  -device ne2k_isa,netdev=N[,iobase=0x300][,irq=9][,mac=M]\n"

#endif
