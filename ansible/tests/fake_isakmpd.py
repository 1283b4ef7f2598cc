"""A stand-in for isakmpd in the integration run: reads the FIFO as isakmpd
does (opened read-write, non-blocking, so it never sees end of file), logs
every line, keeps the SAs it was told are up, and answers `S` by writing
them to the result file in isakmpd's report format.

- `t NAME` and `t main NAME` tear down the SA NAME (phase 2, phase 1);
- `c NAME` brings phase 2 NAME up;
- lines `PHASE NAME DST` appended to var/isakmpd.up bring SAs up (a peer
  answering), read at each `S` and between FIFO reads;
- the flows its phase 2 SAs install are written to var/ipsecctl.sa, which
  the stand-in ipsecctl prints for `-sa`, as a kernel would hold them.

Usage: fake_isakmpd.py ROOT [SECONDS]; it exits after SECONDS (600) so that
it never outlives the run, or when the FIFO goes away.
"""

import os
import select
import sys
import time


class Isakmpd:
    def __init__(self, root):
        self.root = root
        self.sas = {}  # name -> (phase, dst)
        self.log = open(os.path.join(root, "var/log/fifo"), "a", encoding="utf-8")

    def path(self, rel):
        return os.path.join(self.root, rel)

    def take_up_file(self):
        up = self.path("var/isakmpd.up")
        try:
            with open(up, encoding="utf-8") as f:
                lines = f.read().splitlines()
            os.remove(up)
        except FileNotFoundError:
            return
        for line in lines:
            phase, name, dst = line.split()
            self.sas[name] = (int(phase), dst)

    def write_kernel(self):
        """The flows of the phase 2 SAs, named from-SRC-to-DST, as
        `ipsecctl -sa` prints a kernel's."""
        flows = []
        for name, (phase, dst) in sorted(self.sas.items()):
            nets = name[len("from-"):].split("-to-", 1) if name.startswith("from-") else []
            if phase != 2 or len(nets) != 2:
                continue
            src, to = nets
            flows.append(f"flow esp out from {src} to {to} peer {dst} type require\n")
            flows.append(f"flow esp in from {to} to {src} peer {dst} type use\n")
        text = "FLOWS:\n" + ("".join(flows) or "No flows\n") + "\nSAD:\nNo entries\n"
        tmp = self.path("var/ipsecctl.sa.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.path("var/ipsecctl.sa"))

    def sync(self):
        self.take_up_file()
        self.write_kernel()

    def report(self):
        self.sync()
        out = []
        for name, (phase, dst) in sorted(self.sas.items()):
            kind = "Phase 1/Initiator" if phase == 1 else "Phase 2"
            out.append(
                f"SA name: {name} ({kind})\nsrc: 192.0.2.1 dst: {dst}\nFlags 0x00000001\n\n"
            )
        tmp = self.path("var/run/isakmpd.result.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(out))
        os.replace(tmp, self.path("var/run/isakmpd.result"))

    def line(self, line):
        self.log.write(line + "\n")
        self.log.flush()
        words = line.split()
        if line == "S":
            self.report()
        elif words[:2] == ["t", "main"] and len(words) == 3:
            self.sas.pop(words[2], None)
        elif words[:1] == ["t"] and len(words) == 2:
            self.sas.pop(words[1], None)
        elif words[:1] == ["c"] and len(words) == 2:
            self.sas[words[1]] = (2, "0.0.0.0")
        self.sync()


def main(root, seconds):
    fifo = os.path.join(root, "var/run/isakmpd.fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo, 0o600)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    daemon = Isakmpd(root)
    with open(os.path.join(root, "var/run/fake_isakmpd.ready"), "w", encoding="utf-8") as f:
        f.write(str(os.getpid()))
    pending = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end and os.path.exists(fifo):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            daemon.sync()
            continue
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            continue
        pending += chunk
        while b"\n" in pending:
            raw, pending = pending.split(b"\n", 1)
            daemon.line(raw.decode("utf-8", "replace"))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 600.0)
