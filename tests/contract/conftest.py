"""Contract tests: our files against the real tools (docker compose config,
k6, ansible, make, pip), without starting a container or contacting a host."""
import pytest

from tests.helpers import STEERING, clean_env, offline  # noqa: F401 (shared with the tests)


@pytest.fixture(autouse=True)
def _no_inherited_lab_variables(monkeypatch):
    for name in STEERING:
        monkeypatch.delenv(name, raising=False)
