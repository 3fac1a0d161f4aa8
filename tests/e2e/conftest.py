"""End-to-end fixtures: real images, real Postgres/PgBouncer/k6, real app."""
import pytest

from churnlab.compose import images, lab
from churnlab.compose.stack import project_containers, require_docker
from churnlab.core import catalog
from churnlab.load import run as loadrun
from tests.e2e import alerts
from tests.helpers import STEERING
from tests.hosts import beside_e2e

# The incident's ab shape (500 clients, no keep-alive) with 3,000 requests: three times the 1,000
# connections that use up the repro range, so a variant that opens one per request runs out (about
# 1,900 of the 3,000 fail) and a bounded one shows its bound. The incident's full 10,000 (make load's
# default) would take 20-50 s more a run and show nothing else (tests/hosts runs the same 3,000).
SHORT_LOAD = loadrun.LoadParams(scenario="ab", vus=500, iterations=3000)


# make test (scripts/test-suites.sh): the e2e tests marked no_load put no load on, measure no time and read
# no run of another test. They run last, and the hosts' loads begin with them: the file named by
# beside_e2e.ENV (the hosts' tests wait for it) is made when the first of them starts (beside_e2e.loads_done).
NO_LOAD = "no_load"


def pytest_collection_modifyitems(items):
    tail = [item for item in items if item.get_closest_marker(NO_LOAD)]
    items[:] = [item for item in items if not item.get_closest_marker(NO_LOAD)] + tail


def pytest_runtest_setup(item):
    if item.get_closest_marker(NO_LOAD):
        beside_e2e.loads_done()


@pytest.fixture(scope="session")
def built():
    require_docker()  # fails with the reason (no engine, no Compose v2) rather than skipping
    images.build_all()
    yield
    lab.down()


@pytest.fixture()
def fresh_lab(built):
    """Start a variant from a clean slate (no TIME_WAIT left from another run), with Prometheus if
    observe. It stays up: the next test's fresh start replaces all but Postgres, and the session's end
    takes it down."""

    def start(variant, profile, observe=False, **knobs):
        extra = {"prom_port": alerts.PROM_PORT} if observe else {}
        return lab.up(catalog.Selection.of(variant, profile, knobs, observe=observe), fresh=True, **extra)

    return start


@pytest.fixture()
def incident_run(fresh_lab):
    def run(variant, profile, params=SHORT_LOAD, **knobs):
        stack = fresh_lab(variant, profile, **knobs)
        return loadrun.run(stack, params)

    return run


# Shared gthread stack
@pytest.fixture(scope="module")
def gthread_stack(built):
    """One healthy gthread + default stack for a module's small loads (a few thousand requests)."""
    yield lab.up(catalog.Selection.of("gthread", "default"), fresh=True)
    lab.down()
# Training mode (tests/e2e/test_training.py)
@pytest.fixture()
def exercise_cli(built, monkeypatch, capsys):
    """The churnlab command line in-process, as `make exercise-*` runs it; every
    output is kept (for the hiding checks), and the exercise is stopped at the end."""
    from churnlab import cli as cli_module
    from churnlab.training import session

    for name in STEERING:
        monkeypatch.delenv(name, raising=False)
    outputs: list[str] = []

    def run(*args: str, **env: str) -> tuple[int, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            cli_module.main(list(args))
        for key in env:
            monkeypatch.delenv(key)
        out = capsys.readouterr()
        outputs.append(out.out + out.err)
        code = info.value.code
        return (code if isinstance(code, int) else 1), out.out + out.err

    run.outputs = outputs
    if session.read_state() is not None:
        run("exercise", "stop")
    if project_containers():  # a trainee's own lab left up by an earlier module: its switch message names it
        lab.down()
    yield run
    if session.read_state() is not None:
        run("exercise", "stop")
