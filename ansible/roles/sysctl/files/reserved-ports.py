"""The host's own listening ports inside a profile's ephemeral port range.

Run on the host by the sysctl role (python3 -I -c, standard library only),
with a JSON object on stdin: {"range": "1024 65535", "extra": [8000, 443]}.
Prints net.ipv4.ip_local_reserved_ports as the kernel writes it back
("22,8000-8001"): the TCP ports listening now (/proc/net/tcp, tcp6), the
extra ones (the lab's own services, listening later), and the ports reserved
already, those inside the range only. Empty when the range is empty or
nothing falls inside it. A port taken by an outgoing connection during
exhaustion can no longer keep a restarting service from listening.
"""
import json
import sys

LISTEN = "0A"


def listening() -> set[int]:
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name, encoding="ascii") as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def reserved_now() -> set[int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_reserved_ports", encoding="ascii") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return set()
    ports = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        ports.update(range(int(lo), int(hi or lo) + 1))
    return ports


def canonical(ports: list[int]) -> str:
    out, start, prev = [], None, None
    for p in ports:
        if start is None:
            start = prev = p
        elif p == prev + 1:
            prev = p
        else:
            out.append(f"{start}-{prev}" if prev > start else str(start))
            start = prev = p
    if start is not None:
        out.append(f"{start}-{prev}" if prev > start else str(start))
    return ",".join(out)


def main() -> None:
    req = json.load(sys.stdin)
    bounds = req.get("range", "").split()
    if len(bounds) != 2:
        print("")
        return
    lo, hi = int(bounds[0]), int(bounds[1])
    ports = listening() | {int(p) for p in req.get("extra", [])} | reserved_now()
    print(canonical(sorted(p for p in ports if lo <= p <= hi)))


if __name__ == "__main__":
    main()
