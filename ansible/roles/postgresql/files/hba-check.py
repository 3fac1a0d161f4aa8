"""The owner's pg_hba policy toward the lab's clients, read before the lab writes.

Run on the db host by the postgresql role (python3 -I -c, standard library
only), with a JSON object on stdin:
    {"path": ".../pg_hba.conf", "clients": ["10.0.0.5", "10.0.1.0/24"],
     "database": "lab", "user": "lab", "type": "host", "marker": "churnlab"}
For each client, the first of the owner's lines (the lab's own marked block
left out) that would match the app's connections decides. When that line
rejects them (method reject) or requires TLS of them (hostssl, hostgssenc or
method cert, while the lab's entries are plain host), one line naming it is
printed; nothing otherwise. A client that is not an address or CIDR is named
too. Exit code 0 either way: the role turns the line into its failure.
"""
import ipaddress
import json
import sys


def words(line: str) -> list[str]:
    """pg_hba.conf fields: whitespace-separated, "#" starts a comment outside quotes."""
    out, cur, quoted = [], "", False
    for ch in line:
        if ch == '"':
            quoted = not quoted
            cur += ch
        elif ch == "#" and not quoted:
            break
        elif ch.isspace() and not quoted:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def names(field: str) -> list[str]:
    return [n.strip('"') for n in field.split(",") if n]


def matches_name(field: str, wanted: str, database: bool, user: str) -> bool:
    for name in names(field):
        if name == wanted or name == "all":
            return True
        if database and name in ("sameuser", "samerole") and (name == "samerole" or user == wanted):
            return True
        if name.startswith(("+", "@")):  # a group or a file: it may hold the lab's name
            return True
    return False


def address(fields: list[str]) -> tuple[object, list[str]]:
    """The line's address (a network, 'all' or None for a host name) and the fields after it."""
    addr, rest = fields[0], fields[1:]
    if addr in ("all", "samenet"):
        return "all", rest
    if addr == "samehost":
        return None, rest
    try:
        if "/" in addr:
            return ipaddress.ip_network(addr, strict=False), rest
        if rest:
            try:
                return ipaddress.ip_network(f"{addr}/{rest[0]}", strict=False), rest[1:]
            except ValueError:
                pass
        return ipaddress.ip_network(addr), rest
    except ValueError:
        return None, rest  # a host name: not judged


def verdict(text: str, clients: list[str], database: str, user: str, lab_type: str, marker: str) -> str:
    nets = []
    for client in clients:
        try:
            nets.append((client, ipaddress.ip_network(client, strict=False)))
        except ValueError:
            return f"churnlab_db_clients_extra: {client!r} is not an IP address or CIDR"
    owner, inside = [], False
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("# BEGIN ") and marker in raw:
            inside = True
        elif raw.startswith("# END ") and marker in raw:
            inside = False
        elif not inside:
            owner.append((number, raw))
    for client, net in nets:
        for number, raw in owner:
            fields = words(raw)
            if len(fields) < 4 or fields[0] == "local" or not fields[0].startswith("host"):
                continue
            kind = fields[0]
            if kind == "hostnossl" and lab_type == "hostssl":
                continue
            if not (matches_name(fields[1], database, True, user) and matches_name(fields[2], user, False, user)):
                continue
            where, rest = address(fields[3:])
            if where is None or not rest:
                continue
            if where != "all" and (where.version != net.version or not net.overlaps(where)):
                continue
            method = rest[0]
            requires_tls = method == "cert" or kind == "hostgssenc" or (kind == "hostssl" and lab_type != "hostssl")
            if method == "reject" or requires_tls:
                why = "rejects" if method == "reject" else "requires TLS of"
                return (f"pg_hba.conf line {number} ({' '.join(fields)}) {why} the lab's client {client}: "
                        "the owner's policy wins, nothing was changed (adjust that line, or use postgresql_hba_type: "
                        "hostssl where it requires TLS)")
            break  # the first of the owner's lines that matches decides
    return ""


def main() -> None:
    req = json.load(sys.stdin)
    try:
        with open(req["path"], encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    print(verdict(text, req["clients"], req["database"], req["user"], req["type"], req["marker"]))


if __name__ == "__main__":
    main()
