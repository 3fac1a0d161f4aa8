"""The pgbouncer role's check of an owner's PgBouncer (ansible/roles/pgbouncer/files/owner-check.py):
where it listens and how it logs users in decide whether the app can reach it, read before anything
is written. One line when it could not; nothing when it can."""
import importlib.util

import pytest

from tests.helpers import ROOT

spec = importlib.util.spec_from_file_location("owner_check", ROOT / "ansible/roles/pgbouncer/files/owner-check.py")
owner_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(owner_check)

GOOD = ("[databases]\nownerdb = host=127.0.0.1\n[pgbouncer]\nlisten_addr = 10.0.0.5,127.0.0.1\nlisten_port = 6432\n"
        "auth_type = scram-sha-256\nauth_file = /etc/pgbouncer/userlist.txt\n")


def check(tmp_path, ini: str, addresses=("10.0.0.5", "127.0.0.1"), extra: str = "") -> str:
    path = tmp_path / "pgbouncer.ini"
    lab = tmp_path / "churnlab.ini"
    lab.write_text("[pgbouncer]\nlisten_addr = *\nlisten_port = 6432\nauth_type = trust\n")  # the lab's: left out
    (tmp_path / "more.ini").write_text(extra)
    path.write_text(ini + f"%include {tmp_path / 'more.ini'}\n%include {lab}\n")
    return owner_check.problem({"path": str(path), "skip": str(lab), "addresses": list(addresses), "port": 6432,
                                "socket_dir": "/var/run/postgresql", "auth_file": "/etc/pgbouncer/userlist.txt"})


@pytest.mark.parametrize("ini, addresses, extra, said", [
    (GOOD, ("10.0.0.5", "127.0.0.1"), "", ""),
    (GOOD.replace("10.0.0.5,127.0.0.1", "*"), ("10.0.0.5", "127.0.0.1"), "", ""),
    (GOOD.replace("10.0.0.5,127.0.0.1", "0.0.0.0"), ("10.0.0.5",), "", ""),
    # an included file of the owner's counts, in its place (later wins)
    (GOOD, ("10.0.0.6",), "listen_addr = 10.0.0.6\n", ""),
    (GOOD, ("10.0.0.6",), "",
     "does not listen on 10.0.0.6, where the app connects (listen_addr = 10.0.0.5,127.0.0.1)"),
    (GOOD.replace("listen_port = 6432", "listen_port = 6543"), ("10.0.0.5",), "",
     "listens on port 6543, the app connects to 6432 (listen_port)"),
    (GOOD.replace("listen_port = 6432\n", ""), ("10.0.0.5",), "", ""),  # PgBouncer's default port
    # the Unix socket beside the app (no address): PgBouncer's default directory is /tmp
    (GOOD, (), "", "puts its socket in /tmp, the app looks in /var/run/postgresql (unix_socket_dir)"),
    (GOOD + "unix_socket_dir = /var/run/postgresql/\n", (), "", ""),
    (GOOD.replace("scram-sha-256", "cert"), ("10.0.0.5",), "", "authenticates with auth_type = cert"),
    (GOOD.replace("auth_file = /etc/pgbouncer/userlist.txt\n", "auth_file = /etc/pgbouncer/owner.txt\n"),
     ("10.0.0.5",), "", "reads its users from auth_file = /etc/pgbouncer/owner.txt, not /etc/pgbouncer/userlist.txt"),
    # the [databases] section's lines are not settings
    ("[databases]\nlisten_port = 1\n" + GOOD, ("10.0.0.5",), "", ""),
])
def test_an_owners_pgbouncer_is_judged_by_where_the_app_connects(tmp_path, ini, addresses, extra, said):
    line = check(tmp_path, ini, addresses, extra)
    assert (said in line and line.startswith("the owner's PgBouncer (")) if said else line == "", line
    assert "\n" not in line
