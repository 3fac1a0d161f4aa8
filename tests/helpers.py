"""What every test group shares: the repository, the variables that steer the
lab (never inherited from the caller: an exported CONFIRM=yes must not turn a
"production is refused" test into a run), make, and the lab hosts' containers."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

from churnlab.core import bounds
from churnlab.core.paths import ROOT

VENV_BIN = ROOT / ".venv" / "bin"
# make's variables (the CLI reads them from the environment) and the front
# door's, all of them from churnlab.core.bounds; ANSIBLE_* are dropped as well.
STEERING = bounds.STEERING
# A test's own make must not inherit the make running the tests (make test):
# its level and flags change what make prints ("make[1]: ***"), and its list
# of variables named on its command line (CHURNLAB_GIVEN) would confirm for a test.
MAKE_INHERITED = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "CHURNLAB_GIVEN")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that steers the lab, with the venv first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in STEERING and k not in MAKE_INHERITED and not k.startswith("ANSIBLE_")}
    env.update({"PATH": f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"})
    env.update(extra)
    return env


def make(*args: str, timeout: float = 900, check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(["make", "-s", *args], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"make {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def offline(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run argv in a new network namespace whose only interface is loopback
    (unshare --net; a user namespace too when not root), so a bug in what it
    runs could never send a packet anywhere else. Never without it."""
    if not shutil.which("unshare"):
        raise AssertionError("unshare (util-linux) is needed to run this with no route but loopback")
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    netns = ["unshare", *user, "--net", "--", "bash", "-c", 'ip link set lo up && exec "$@"', "offline"]
    return subprocess.run([*netns, *argv], capture_output=True, text=True, **kwargs)


def make_offline(*make_args: str, env: dict[str, str] | None = None,
                 timeout: float = 180) -> subprocess.CompletedProcess:
    """make, in a network namespace with only loopback (offline), then the namespace's interfaces on
    stderr ("interfaces: lo "), so a test can show nothing else was there to send through."""
    script = (f"make -s {' '.join(shlex.quote(a) for a in make_args)}; rc=$?; "
              "echo \"interfaces: $(ip -o link show | awk -F': ' '{print $2}' | tr '\\n' ' ')\" >&2; exit $rc")
    return offline(["bash", "-c", script], cwd=ROOT, env=env if env is not None else clean_env(), timeout=timeout)


def assert_refused_offline(proc: subprocess.CompletedProcess, message: str) -> None:
    """make_offline's outcome was a refusal before any connection: exit 2, one line naming `message`,
    no traceback, ansible-playbook never started, and nothing but loopback in the namespace."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert "PLAY [" not in proc.stdout  # ansible-playbook never started
    assert "interfaces: lo \n" in proc.stderr  # the namespace had nothing but loopback


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP of an ansible-playbook run: host -> {ok, changed, unreachable, failed}."""
    out: dict[str, dict[str, int]] = {}
    for host, ok, changed, unreachable, failed in RECAP.findall(output):
        out[host] = {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
    return out


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def lab_host_containers() -> list[str]:
    if not docker_available():
        return []
    proc = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter",
                           "label=com.docker.compose.project=churnlab-hosts"], capture_output=True, text=True)
    return proc.stdout.split()


def table(text: str) -> list[tuple[list[str], str]]:
    """Test cases written one per line, `ARGUMENTS -> what the outcome says`. The arguments are
    split as a shell splits them (quotes keep spaces): a make target and NAME=value pairs, or pairs alone.
    A long case goes on the next line: a line that starts with `->` is the outcome of the one before."""
    lines = [line.strip() for line in text.strip().splitlines()]
    joined = [f"{line} {lines[i + 1]}" if i + 1 < len(lines) and lines[i + 1].startswith("-> ") else line
              for i, line in enumerate(lines) if not line.startswith("-> ")]
    rows = []
    for line in joined:
        args, sep, message = line.partition(" -> ")
        if not sep:
            raise ValueError(f"a case needs ' -> ': {line!r}")
        rows.append((shlex.split(args), message.strip()))
    return rows


def env_table(text: str) -> list[tuple[dict[str, str], str]]:
    """table() of NAME=value pairs alone, each row's pairs as a mapping."""
    return [(dict(arg.split("=", 1) for arg in args), message) for args, message in table(text)]


def _answer(call, args, queue) -> None:
    queue.put(call(*args))


def at_once(call, *args, processes: int, timeout: float = 60) -> list:
    """What `call(*args)` returned in each of several processes started together (forked): two
    commands at once, as two makes on one checkout."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_answer, args=(call, args, queue)) for _ in range(processes)]
    for p in procs:
        p.start()
    answers = [queue.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=timeout)
    return answers
