"""The SCRAM-SHA-256 verifier PostgreSQL is to store for the app's password,
computed on the database host as psql's \\password computes it on a client: the
password itself never reaches the server (no statement, log line or argv holds
it), only this verifier does.

stdin: JSON {"password": the password, "stored": the role's pg_authid.rolpassword or ""}.
stdout: "stored" itself when the password matches it (nothing to change), else
a new verifier (a random 16-byte salt, PostgreSQL's 4096 iterations).
"""
import base64
import hashlib
import hmac
import json
import os
import re
import stringprep
import sys
import unicodedata

PROHIBITED = (stringprep.in_table_a1, stringprep.in_table_c12, stringprep.in_table_c21_c22,
              stringprep.in_table_c3, stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
              stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9)


def saslprep(password: str) -> str:
    """PostgreSQL's pg_saslprep (RFC 4013), as libpq applies it when the app logs in: ASCII as it is;
    otherwise mapped and NFKC-normalized, or left as it is where that is not a valid SASLprep string."""
    if password.isascii():
        return password
    out = unicodedata.normalize("NFKC", "".join(" " if stringprep.in_table_c12(c) else c
                                                for c in password if not stringprep.in_table_b1(c)))
    if not out or any(check(c) for c in out for check in PROHIBITED):
        return password
    if any(map(stringprep.in_table_d1, out)) and (any(map(stringprep.in_table_d2, out))
                                                  or not (stringprep.in_table_d1(out[0])
                                                          and stringprep.in_table_d1(out[-1]))):
        return password
    return out


def verifier(password: bytes, salt: bytes, iterations: int) -> str:
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = [base64.b64encode(b).decode() for b in (salt, hashlib.sha256(client_key).digest(), server_key)]
    return f"SCRAM-SHA-256${iterations}:{b64[0]}${b64[1]}:{b64[2]}"


data = json.load(sys.stdin)
password = saslprep(data["password"]).encode()
stored = data["stored"]
found = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+", stored)
if found and hmac.compare_digest(verifier(password, base64.b64decode(found[2]), int(found[1])), stored):
    print(stored)
else:
    print(verifier(password, os.urandom(16), 4096))
