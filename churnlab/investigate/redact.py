"""Secrets out of a snapshot: it leaves the host (to a laptop, a ticket), so
nothing read from a process's environment, command line or config goes in as is.

Three rules: a value whose name looks like a secret (password, secret, token,
key: any case, any part of the name), a password inside a URL/DSN
(postgres://user:PASS@host), and anything that looks like a private key.
"""
from __future__ import annotations

import re

MARK = "<redacted>"
SECRET_NAME = re.compile(r"pass(word|wd)?|secret|token|key|credential|auth", re.I)
# scheme://user:password@host: the password only; the user and host are evidence
DSN_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)(?=@)")
# key=value pairs inside a libpq DSN string: "host=db password=x"
KV_PASSWORD = re.compile(r"(?P<head>\b(password|passwd)\s*=\s*)(?P<password>'[^']*'|\S+)", re.I)
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S)


def text(value: str) -> str:
    """A free text (a command-line argument, a log line) with its secrets taken out."""
    value = PRIVATE_KEY.sub(MARK, value)
    value = DSN_PASSWORD.sub(lambda m: m.group("head") + MARK, value)
    return KV_PASSWORD.sub(lambda m: m.group("head") + MARK, value)


def secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def value(name: str, data):
    """A named value (an environment variable, a config setting): all of it when the name
    looks like a secret's, else its text with the secrets in it taken out."""
    if secret_name(name):
        return MARK
    if isinstance(data, str):
        return text(data)
    if isinstance(data, (list, tuple)):
        return [value("", item) for item in data]
    if isinstance(data, dict):
        return {k: value(str(k), v) for k, v in data.items()}
    return data


def mapping(data: dict) -> dict:
    return {k: value(str(k), v) for k, v in data.items()}


def argv(args: list[str]) -> list[str]:
    """A command line: `--password X`, `--db-password=X` and `-e SECRET=X` lose their values."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append(MARK)
            hide_next = False
            continue
        name, eq, rest = arg.partition("=")
        if eq and secret_name(name):
            out.append(f"{name}={MARK}")
        elif arg.startswith("-") and secret_name(arg):
            out.append(arg)
            hide_next = True
        else:
            out.append(text(arg))
    return out
