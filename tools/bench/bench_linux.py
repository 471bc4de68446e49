#!/usr/bin/env python3
"""Linux benchmark: the reference guest on bubble and on QEMU, in one run.

Driven by tools/bench-linux.sh (which checks the prerequisites and documents
the options). For each emulator and run it boots images/vmlinuz +
images/initrd.gz with the serial console on a loopback TCP port, and measures
in host seconds:

  prompt   process start to the shell prompt on ttyS0
  dhcp     process start to "bubble-guest: dhcp: eth0 bound to ..." (needs a NIC)
  ash      busybox ash loop counting to 200,000
  md5      md5sum of 64 MiB from /dev/zero
  gzip     gzip -9 of an 8,000,000-byte text file (made in the guest, untimed)
  awk      busybox awk floating-point loop, 100,000 iterations

A workload's host time runs from sending its command line to the arrival of
its completion marker. The guest's own `time` is read as a cross-check of the
guest clock, and each workload's output is checked (a wrong answer is
reported, not timed silently). A tool, not a test.
"""
import argparse
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import time

PROMPT = "root@bubble:~# "
DHCP_DONE = re.compile(r"bubble-guest: dhcp: eth0 bound to (\S+)")
# A kernel message on the console, which can land in the middle of a command's output.
KERNEL_MESSAGE = re.compile(r"\[\s*[0-9]+\.[0-9]+\] [^\n]*\n?")
SHELLS_STARTED = re.compile(r"\[\s*([0-9]+\.[0-9]+)\] bubble-guest: init: starting console shells")
# busybox time: "real\t0m 4.50s" (or "1h 2m 3s" past an hour).
GUEST_REAL = re.compile(r"real\s+(?:(\d+)h\s*)?(?:(\d+)m\s*)?([0-9.]+)s")

TEXT_FILE = "/tmp/bench.txt"
TEXT_BYTES = 8000000
# Made untimed before the gzip workload: seq is fast on every emulator.
PREPARE = "seq 1 2000000 | head -c %d > %s; wc -c < %s" % (TEXT_BYTES, TEXT_FILE, TEXT_FILE)

AWK_PROGRAM = ("BEGIN { s = 0; x = 1.5; for (i = 1; i <= 100000; i++) "
               "{ s += 1 / (i * i); x = x * 1.0000001 + 0.5 / i } printf \"%.9f %.6f\\n\", s, x }")


def awk_expected():
    """The awk loop's answer in host doubles (the guest's x87 may differ in the last bits)."""
    s, x = 0.0, 1.5
    for i in range(1, 100001):
        s += 1.0 / (i * i)
        x = x * 1.0000001 + 0.5 / i
    return s, x


def check_awk(out):
    m = re.search(r"([0-9.]+) ([0-9.]+)", out)
    if not m:
        return "no numbers in %r" % out
    s, x = awk_expected()
    gs, gx = float(m.group(1)), float(m.group(2))
    # Within the printed precision (plus one unit for the x87's extended intermediates).
    if abs(gs - s) > 1.5e-9 or abs(gx - x) > 1.5e-6:
        return "printed %s %s, expected %.9f %.6f" % (m.group(1), m.group(2), s, x)
    return None


def check_exact(expected):
    def check(out):
        return None if out.split() == expected.split() else "printed %r, expected %r" % (out.strip(), expected)
    return check


# (key, label, command line, output check). The checks of md5 and ash are exact;
# gzip's output hash is compared between the emulators (busybox gzip's stream
# is not byte-identical to the host's gzip).
WORKLOADS = [
    ("ash", "ash loop to 200,000",
     "time sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo $i'",
     check_exact("200000")),
    ("md5", "md5sum of 64 MiB of zeros",
     "time sh -c 'dd if=/dev/zero bs=1M count=64 2>/dev/null | md5sum'",
     check_exact("7f614da9329cd3aebf59b91aadc30bf0 -")),
    ("gzip", "gzip -9 of 8 MB of text",
     "time sh -c 'gzip -9 < %s | md5sum'" % TEXT_FILE,
     lambda out: None if re.fullmatch(r"[0-9a-f]{32} -", out) else "printed %r" % out),
    ("awk", "awk float loop, 100,000",
     "time awk '%s'" % AWK_PROGRAM,
     check_awk),
]

# shared/machine-facts.md, same guest, this machine kind (host seconds).
PEERS = {
    "prompt": (None, None),
    "dhcp": ("5.6-6.6", "96"),
    "ash": ("4.45", "64"),
    "md5": ("1.64", "19.2"),
    "gzip": ("1.8", "28.4"),
    "awk": ("1.8", "19.3"),
}
ROWS = [("prompt", "boot to shell prompt"), ("dhcp", "boot to DHCP done")] + \
       [(key, label) for key, label, _, _ in WORKLOADS]


class BenchError(Exception):
    pass


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds of a process (all its threads) so far, from /proc."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Console:
    """One emulator process and its guest's serial console over loopback TCP.
    The emulator waits for our connection before it starts the guest, so no
    output is lost and process start is the time origin."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.err_path = log_path + ".stderr"
        self.text = ""
        self.pos = 0
        self.arrivals = []   # (end offset in text, host seconds since start, CPU seconds) per read
        self.sock = None
        self.kernel_messages = []   # printed in the middle of commands' output
        self.port = free_port()
        self.argv = [a.replace("PORT", str(self.port)) for a in argv]
        with open(self.err_path, "w") as err:
            self.start = time.monotonic()
            # stdin stays an open pipe: QEMU's monitor is on stdio with -nographic.
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=err,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise BenchError("%s exited with status %d before its console listened (see %s)"
                                     % (name, self.proc.returncode, self.err_path))
                if time.monotonic() > deadline:
                    raise BenchError("%s: no console on 127.0.0.1:%d after 20 s" % (name, self.port))
                time.sleep(0.01)
        self.sock.setblocking(False)

    def elapsed(self):
        return time.monotonic() - self.start

    def _read(self, timeout):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            if self.proc.poll() is not None:
                raise BenchError("%s exited with status %d (see %s)"
                                 % (self.name, self.proc.returncode, self.err_path))
            return
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        now = self.elapsed()
        cpu = cpu_seconds(self.proc.pid)
        if not data:
            self.proc.wait(5)
            raise BenchError("%s closed its console (exit status %s, see %s)"
                             % (self.name, self.proc.returncode, self.err_path))
        chunk = data.decode("utf-8", errors="replace")
        self.text += chunk
        self.arrivals.append((len(self.text), now, cpu))
        self.log.write(chunk)
        self.log.flush()

    def expect(self, regex, timeout):
        """The first match after the previous one, with its host arrival time; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.text, self.pos)
            if m:
                self.pos = m.end()
                return m, self.arrival_of(m.end())
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            self._read(min(left, 0.5))

    def arrival_of(self, offset):
        for end, t, _ in self.arrivals:
            if end >= offset:
                return t
        return None

    def cpu_at(self, offset):
        """The emulator's CPU seconds when the text up to offset had arrived."""
        for end, _, cpu in self.arrivals:
            if end >= offset:
                return cpu
        return None

    def send(self, line):
        data = (line + "\n").encode()
        self.sock.setblocking(True)
        self.sock.sendall(data)
        self.sock.setblocking(False)

    def run(self, command, timeout):
        """Types a command line; returns its output, the host seconds from sending it to
        the arrival of the end marker, that arrival (host seconds since start), and the
        emulator's CPU seconds over the same span.
        The markers are computed by the shell so that the echoed line cannot match them."""
        sent = self.elapsed()
        cpu_sent = cpu_seconds(self.proc.pid)
        self.send("echo __begin_$((1+1))__; %s; echo __end_$((40+2))__" % command)
        begin, _ = self.expect(re.compile(r"__begin_2__\r?\n"), timeout)
        if not begin:
            raise BenchError("%s: %r did not start within %.0f s" % (self.name, command, timeout))
        end, t_end = self.expect(re.compile(r"__end_42__"), max(1, timeout - (self.elapsed() - sent)))
        if not end:
            raise BenchError("%s: %r did not finish within %.0f s" % (self.name, command, timeout))
        cpu_end = self.cpu_at(end.end())
        cpu = cpu_end - cpu_sent if cpu_end is not None and cpu_sent is not None else None
        out = self.text[begin.end():end.start()].replace("\r", "")
        self.kernel_messages += [m.strip() for m in KERNEL_MESSAGE.findall(out)]
        out = KERNEL_MESSAGE.sub("", out)
        prompt, _ = self.expect(re.compile(re.escape(PROMPT)), 60)
        if not prompt:
            raise BenchError("%s: no prompt after %r" % (self.name, command))
        return out, t_end - sent, t_end, cpu

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.sock:
            self.sock.close()
        self.log.close()


def guest_real(out):
    m = GUEST_REAL.search(out)
    if not m:
        return None
    return int(m.group(1) or 0) * 3600 + int(m.group(2) or 0) * 60 + float(m.group(3))


def uptime(con, timeout):
    out, _, t_end, _ = con.run("cat /proc/uptime", timeout)
    m = re.search(r"^([0-9]+\.[0-9]+) ", out, re.M)
    if not m:
        raise BenchError("%s: /proc/uptime printed %r" % (con.name, out))
    return float(m.group(1)), t_end


def session(name, argv, has_nic, log_path, timeout):
    """One boot and the four workloads; returns {key: host seconds} plus extras."""
    r = {"outputs": {}, "guest": {}, "cpu": {}, "problems": []}
    con = Console(name, argv, log_path)
    try:
        m, t = con.expect(re.compile(re.escape(PROMPT)), timeout)
        if not m:
            raise BenchError("%s: no shell prompt within %.0f s (console log %s)" % (name, timeout, log_path))
        r["prompt"] = t
        # Where boot time goes: firmware and decompression, kernel init, /init.
        r["milestones"] = []
        for label, pattern in (("kernel banner", r"Linux version"), ("/init", r"Run /init as init process"),
                               ("shells", r"bubble-guest: init: starting console shells")):
            mm = re.search(pattern, con.text)
            if mm:
                r["milestones"].append((label, con.arrival_of(mm.end())))
        r["cpu"]["prompt"] = con.cpu_at(m.end())
        shells = SHELLS_STARTED.search(con.text)
        if shells:
            # Guest seconds since the kernel started, against host seconds since process start.
            r["boot_guest_clock"] = (float(shells.group(1)), con.arrival_of(shells.end()))
        if has_nic:
            # Usually after the prompt (udhcpc runs in the background), sometimes before.
            m = DHCP_DONE.search(con.text)
            t = con.arrival_of(m.end()) if m else con.expect(DHCP_DONE, timeout)[1]
            if t is None:
                raise BenchError("%s: no DHCP lease within %.0f s" % (name, timeout))
            r["dhcp"] = t
            m = DHCP_DONE.search(con.text)
            r["cpu"]["dhcp"] = con.cpu_at(m.end())
        # The console may still print kernel messages; the markers are robust to that.
        out, _, _, _ = con.run(PREPARE, timeout)
        if out.split() != [str(TEXT_BYTES)]:
            r["problems"].append("preparing %s printed %r" % (TEXT_FILE, out.strip()))
        up0 = uptime(con, timeout)
        for key, label, command, check in WORKLOADS:
            out, host, _, cpu = con.run(command, timeout)
            r[key] = host
            r["cpu"][key] = cpu
            r["guest"][key] = guest_real(out)
            result = GUEST_REAL.split(out)[0] if GUEST_REAL.search(out) else out
            result = re.sub(r"\s+", " ", result).strip()
            r["outputs"][key] = result
            problem = check(result)
            if problem:
                r["problems"].append("%s: %s" % (key, problem))
            if r["guest"][key] is None:
                r["problems"].append("%s: no `time` report in %r" % (key, out.strip()))
        up1 = uptime(con, timeout)
        r["clock"] = (up1[0] - up0[0], up1[1] - up0[1])
        r["kernel_messages"] = con.kernel_messages
    finally:
        con.close()
    return r


def fmt_s(v):
    return "%.2f s" % v if v is not None else "-"


def median_of(results, key, get):
    vals = [get(r, key) for r in results if get(r, key) is not None]
    return statistics.median(vals) if vals else None


def print_table(results, names, bubble_nic, get, with_peers):
    """One row per milestone and workload; returns the ratios bubble/QEMU by key."""
    head = "%-28s %16s %10s %12s" % ("", "bubble", "QEMU", "bubble/QEMU")
    if with_peers:
        head += "   %12s %8s" % ("peers: QEMU", "Bochs")
    print(head)
    print("-" * len(head))
    ratios = {}
    for key, label in ROWS:
        med = {n: median_of(results[n], key, get) for n in names}
        cells = []
        for n in ("bubble", "qemu"):
            if n not in names:
                cells.append("")
            elif key == "dhcp" and n == "bubble" and not bubble_nic:
                cells.append("n/a (no NIC yet)")
            else:
                cells.append(fmt_s(med[n]))
        ratio = ""
        if med.get("bubble") is not None and med.get("qemu"):
            ratios[key] = med["bubble"] / med["qemu"]
            ratio = "%.2fx" % ratios[key]
        elif len(names) == 2:
            ratio = "n/a"
        line = "%-28s %16s %10s %12s" % (label, cells[0], cells[1], ratio)
        if with_peers:
            peer_q, peer_b = PEERS[key]
            line += "   %12s %8s" % (peer_q + " s" if peer_q else "", peer_b + " s" if peer_b else "")
        print(line)
    return ratios


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--bubble", required=True)
    ap.add_argument("--bubble-label", help="the binary's name to print (when --bubble is a snapshot copy)")
    ap.add_argument("--images", required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--only", choices=("bubble", "qemu"))
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--append", default="", help="more kernel arguments, for both emulators")
    ap.add_argument("--logs", required=True)
    args = ap.parse_args()

    kernel = os.path.join(args.images, "vmlinuz")
    initrd = os.path.join(args.images, "initrd.gz")
    serial = ["-serial", "tcp:127.0.0.1:PORT,server=on,wait=on"]
    cmdline = "console=ttyS0" + (" " + args.append if args.append else "")
    guest = ["-m", "128", "-nographic", "-kernel", kernel, "-initrd", initrd, "-append", cmdline]
    # A NIC once bubble has one (its -help lists -nic then).
    try:
        help_text = subprocess.run([args.bubble, "-help"], capture_output=True, text=True).stdout
    except OSError:
        help_text = ""
    bubble_nic = re.search(r"^\s*-nic\b", help_text, re.M) is not None
    emulators = {
        "bubble": ([args.bubble] + guest + serial + (["-nic", "user,model=ne2k_pci"] if bubble_nic else []),
                   bubble_nic),
        "qemu": (["qemu-system-i386", "-accel", "tcg,thread=single", "-cpu", "pentium3"] + guest + serial +
                 ["-nic", "user,model=ne2k_pci"], True),
    }
    names = [args.only] if args.only else ["bubble", "qemu"]
    os.makedirs(args.logs, exist_ok=True)
    qver = subprocess.run(["qemu-system-i386", "--version"], capture_output=True, text=True).stdout.splitlines()
    print("bench-linux: %d run(s), timeout %.0f s per step; console logs in %s"
          % (args.runs, args.timeout, args.logs))
    for n in names:
        shown = emulators[n][0]
        if n == "bubble" and args.bubble_label:
            shown = [args.bubble_label] + shown[1:]
        print("  %-6s %s" % (n, " ".join(a if a != cmdline else "'%s'" % a for a in shown)))
        if n == "bubble" and args.bubble_label:
            print("         (run from the copy %s, taken at the start)" % args.bubble)
    if "qemu" in names and qver:
        print("  (%s)" % qver[0])
    if args.append:
        print("  NOTE: not the reference command line: --append '%s'" % args.append)
    sys.stdout.flush()

    results = {n: [] for n in names}
    failures = []
    outputs_seen = {}
    for run in range(1, args.runs + 1):
        # Alternate the order so that a slow spell of the shared host does not always hit one side.
        order = names if run % 2 else names[::-1]
        for n in order:
            argv, has_nic = emulators[n]
            log = os.path.join(args.logs, "%s-run%d.log" % (n, run))
            try:
                r = session(n, argv, has_nic, log, args.timeout)
            except BenchError as e:
                print("run %d %-6s FAILED: %s" % (run, n, e))
                failures.append("run %d %s: %s" % (run, n, e))
                sys.stdout.flush()
                continue
            results[n].append(r)
            parts = ["prompt %.2f" % r["prompt"]]
            if "dhcp" in r:
                parts.append("dhcp %.2f" % r["dhcp"])
            for key, _, _, _ in WORKLOADS:
                g, c = r["guest"].get(key), r["cpu"].get(key)
                parts.append("%s %.2f (guest %s, cpu %s)" % (key, r[key], "%.2f" % g if g is not None else "?",
                                                           "%.2f" % c if c is not None else "?"))
            print("run %d %-6s %s s" % (run, n, ", ".join(parts)))
            print("run %d %-6s boot: %s s" % (run, n, ", ".join(
                "%s %.2f" % (label, t) for label, t in r["milestones"] + [("prompt", r["prompt"])])))
            for key, out in r["outputs"].items():
                outputs_seen.setdefault(key, {}).setdefault(out, []).append("%s#%d" % (n, run))
            for msg in r["kernel_messages"]:
                print("run %d %-6s kernel message during the commands: %s" % (run, n, msg))
            for p in r["problems"]:
                print("run %d %-6s WRONG OUTPUT: %s" % (run, n, p))
                failures.append("run %d %s: %s" % (run, n, p))
            sys.stdout.flush()

    print()
    print("Host seconds (wall clock) from process start (boot) and per workload, median of %d run(s)"
          % args.runs)
    ratios = print_table(results, names, bubble_nic, lambda r, key: r.get(key), with_peers=True)
    print("(peers: shared/machine-facts.md, QEMU 7.2 TCG and Bochs 2.7 on this machine kind, same guest)")
    print()
    print("The same in CPU seconds of the emulator process (less sensitive to other load on the host)")
    cpu_ratios = print_table(results, names, bubble_nic, lambda r, key: r["cpu"].get(key), with_peers=False)

    print()
    print("Guest clock against the host (1.00 = in step)")
    for n in names:
        rs = results[n]
        if not rs:
            continue
        per = []
        for key, _, _, _ in WORKLOADS:
            vals = [r["guest"][key] / r[key] for r in rs if r["guest"].get(key) and r.get(key)]
            if vals:
                per.append("%s %.2f" % (key, statistics.median(vals)))
        clock = [r["clock"][0] / r["clock"][1] for r in rs if r.get("clock") and r["clock"][1] > 0]
        boot = [r["boot_guest_clock"] for r in rs if r.get("boot_guest_clock")]
        line = "  %-6s `time` real / host: %s" % (n, ", ".join(per))
        if clock:
            line += "; /proc/uptime over the workloads: %.3f" % statistics.median(clock)
        print(line)
        if boot:
            g, h = boot[len(boot) // 2]
            print("  %-6s console shells started at guest %.2f s (kernel clock), host %.2f s (process clock)"
                  % (n, g, h))

    print()
    print("Workload outputs (checked; busybox time's report removed):")
    for key, seen in outputs_seen.items():
        print("  %-5s %s" % (key, "; ".join("%r (%s)" % (out, ", ".join(who)) for out, who in seen.items())))
    if len(names) == 2:
        for key, seen in outputs_seen.items():
            if len(seen) > 1:
                msg = "%s: the emulators disagree: %s" % (key, "; ".join(
                    "%r from %s" % (out, ", ".join(who)) for out, who in seen.items()))
                print("WRONG OUTPUT: " + msg)
                failures.append(msg)

    if ratios:
        print()
        worst = max(ratios.values())
        over = [k for k, v in ratios.items() if v > 4]
        print("Aim: every ratio within 4x of QEMU (then 2x). Worst wall-clock ratio %.2fx; %s"
              % (worst, "all within 4x" if not over else "over 4x: " + ", ".join(over)))
        if cpu_ratios:
            print("  (worst CPU-time ratio %.2fx)" % max(cpu_ratios.values()))
    missing = [n for n in names if not results[n]]
    if failures:
        print()
        print("%d problem(s):" % len(failures))
        for f in failures:
            print("  " + f)
    return 1 if failures or missing else 0


if __name__ == "__main__":
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the emulators are stopped.
    def interrupted(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nbench-linux: interrupted", file=sys.stderr)
        sys.exit(130)
