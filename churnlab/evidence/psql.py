"""One persistent psql session inside a container, for sampling without
opening a connection per sample (and, over a Unix socket, without a port)."""
from __future__ import annotations

import subprocess

END = "__churnlab_end__"


class PsqlSession:
    """Send SQL, read back rows as lists of strings (psql unaligned output)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1, env=env)

    def query(self, sql: str, header: bool = False) -> list[list[str]]:
        """Run one statement; rows split on '|'. With header=True, row 0 is the column names."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"\\pset tuples_only {'off' if header else 'on'}\n{sql.rstrip(';')};\n\\echo {END}\n")
        self.proc.stdin.flush()
        rows = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise OSError("psql ended: " + (self.proc.stderr.read() if self.proc.stderr else "").strip())
            line = line.rstrip("\n")
            if line == END:
                return rows
            if line:
                rows.append(line.split("|"))

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def psql_flags() -> list[str]:
    return ["-X", "-q", "-A", "-F", "|", "-P", "footer=off", "-v", "ON_ERROR_STOP=0"]
