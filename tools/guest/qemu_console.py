#!/usr/bin/env python3
"""Boots the reference guest under QEMU and drives its serial console.

Used by tools/guest/check-with-qemu.sh (a developer tool, not a test): waits
for the shell prompt on ttyS0, runs commands there, checks the answers, and
optionally logs in over SSH through a QEMU user-mode port forward. Prints the
host seconds (from QEMU's start) at which each milestone was seen.

usage: qemu_console.py --name NAME --log FILE [--ssh-key KEY]
                       [--command CMD --expect REGEX]... -- QEMU ARGS...
With --ssh-key, '-nic user,...,hostfwd=tcp:127.0.0.1:PORT-:22' must be among
the QEMU arguments, with the literal PORT: a free loopback port replaces it.
"""
import argparse
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time

PROMPT = "root@bubble:~# "
DHCP_DONE = re.compile(r"bubble-guest: dhcp: eth0 bound to (\S+)")
KERNEL_START = "Linux version"


class Console:
    """The guest's serial console, as QEMU's stdin and stdout."""

    def __init__(self, argv, log_path):
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.text = ""        # everything seen so far
        self.pos = 0          # where the next expect() starts looking
        self.arrivals = []    # (end offset in text, host seconds) per read

    def elapsed(self):
        return time.monotonic() - self.start

    def _read(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return True
        data = os.read(self.proc.stdout.fileno(), 65536)
        if not data:
            return False
        chunk = data.decode("utf-8", errors="replace")
        self.text += chunk
        self.arrivals.append((len(self.text), self.elapsed()))
        self.log.write(chunk)
        self.log.flush()
        return True

    def expect(self, pattern, timeout):
        """Waits for a regex after the last match; returns the match or None."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.text, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.5)):
                return None

    def seen(self, pattern):
        """Searches everything printed so far, without moving the position."""
        return re.search(pattern, self.text)

    def time_of(self, pattern):
        """Host seconds at which the first match of pattern arrived, or None."""
        m = re.search(pattern, self.text)
        if not m:
            return None
        for end, t in self.arrivals:
            if end >= m.end():
                return t
        return None

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def run(self, command, timeout):
        """Runs a shell command on the console; returns its output or None."""
        # The markers are computed by the shell so that the echo of the typed
        # line cannot match them.
        self.send("echo __begin_$((1+1))__; " + command + "; echo __end_$((40+2))__")
        begin = self.expect(r"__begin_2__\r?\n", timeout)
        end = begin and self.expect(r"__end_42__", timeout)
        if not end:
            return None
        self.expect(re.escape(PROMPT), 10)
        return self.text[begin.end():end.start()].replace("\r", "")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ssh_argv(port, *options):
    return ["ssh", "-p", str(port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR", *options,
            "root@127.0.0.1"]


def ssh_run(argv, deadline, env=None):
    """Retries an ssh command until it succeeds or time is up."""
    last = ""
    while time.monotonic() < deadline:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, env=env,
                               stdin=subprocess.DEVNULL, start_new_session=True,
                               timeout=max(5, deadline - time.monotonic()))
            if r.returncode == 0:
                return r.stdout.strip(), None
            last = (r.stderr or r.stdout).strip()
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
        time.sleep(1)
    return None, last


def ssh_checks(name, key, port, con, failures, times):
    """Key login (with and without a terminal) and empty-password login.
    The first one is timed: the same milestone as the peers' table in
    shared/machine-facts.md ("first ssh ... uname -a through hostfwd")."""
    key_opts = ["-i", key, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
    out, err = ssh_run(ssh_argv(port, *key_opts) + ["uname -a"], time.monotonic() + 120)
    if out is None:
        failures.append("ssh uname -a failed: %s" % err)
        return
    times["ssh"] = con.elapsed()
    print("  %-8s ssh uname -a: %s" % (name, out))
    if "i686" not in out:
        failures.append("ssh uname -a: %r is not the 686 kernel" % out)
    out, err = ssh_run(ssh_argv(port, "-tt", *key_opts) + ["tty"], time.monotonic() + 30)
    if out is None or "/dev/pts/" not in out:
        failures.append("ssh -tt tty: %r %s" % (out, err or ""))
    else:
        print("  %-8s ssh -tt tty: %s" % (name, out))
    # OpenSSH reads the (empty) password from an askpass program.
    with tempfile.TemporaryDirectory() as tmp:
        askpass = os.path.join(tmp, "askpass")
        with open(askpass, "w") as f:
            f.write("#!/bin/sh\necho\n")
        os.chmod(askpass, 0o755)
        env = dict(os.environ, SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE="force")
        out, err = ssh_run(ssh_argv(port, "-o", "PubkeyAuthentication=no",
                                    "-o", "PreferredAuthentications=password") + ["id -un"],
                           time.monotonic() + 30, env)
    if out != "root":
        failures.append("empty-password ssh login: %r %s" % (out, err or ""))
    else:
        print("  %-8s ssh with an empty password: logged in as %s" % (name, out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--ssh-key")
    ap.add_argument("--command", action="append", default=[])
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("qemu", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    qemu = args.qemu[1:] if args.qemu[:1] == ["--"] else args.qemu
    if len(args.command) != len(args.expect):
        ap.error("each --command needs its --expect")
    port = None
    if args.ssh_key:
        port = free_port()
        qemu = [a.replace("PORT", str(port)) for a in qemu]

    failures = []
    times = {}
    con = Console(qemu, args.log)
    try:
        if not con.expect(re.escape(PROMPT), args.timeout):
            failures.append("no shell prompt %r within %.0f s" % (PROMPT, args.timeout))
            return report(args.name, con, times, failures)
        times["prompt"] = con.elapsed()
        if args.ssh_key:
            if not con.seen(DHCP_DONE.pattern):
                con.expect(DHCP_DONE, 60)
            times["dhcp"] = con.time_of(DHCP_DONE.pattern)
            if times["dhcp"] is None:
                failures.append("no DHCP lease reported on the console")
            ssh_checks(args.name, args.ssh_key, port, con, failures, times)
        for command, pattern in zip(args.command, args.expect):
            out = con.run(command, 60)
            if out is None:
                failures.append("%r did not finish" % command)
                break
            if not re.search(pattern, out, re.M):
                failures.append("%r printed %r, expected /%s/" % (command, out.strip(), pattern))
            else:
                print("  %-8s $ %s\n  %-8s   %s" % (args.name, command, "",
                      out.strip().replace("\n", "\n" + " " * 13)))
        con.run("sync", 10)
    finally:
        con.close()
    return report(args.name, con, times, failures)


def report(name, con, times, failures):
    parts = []
    kernel = con.time_of(KERNEL_START)
    if kernel is not None:
        parts.append("kernel banner at %.1f s" % kernel)
    if "prompt" in times:
        parts.append("shell prompt at %.1f s" % times["prompt"])
    if times.get("dhcp") is not None:
        guest = re.search(r"\[\s*([0-9.]+)\] " + DHCP_DONE.pattern, con.text)
        parts.append("DHCP bound at %.1f s (guest clock %s s)"
                     % (times["dhcp"], guest.group(1) if guest else "?"))
    if "ssh" in times:
        parts.append("ssh uname -a done at %.1f s" % times["ssh"])
    status = "FAILED" if failures else "ok"
    print("%s: %s (%s)" % (name, status, ", ".join(parts) or "no milestones"))
    for f in failures:
        print("  %s: %s" % (name, f))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
