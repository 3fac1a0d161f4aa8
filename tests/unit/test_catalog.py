"""Variants and profiles come from config/presets.yml; bad names and knobs are
refused with the valid values; the compose lab's presets overlay carries the
preset, the knobs and the profile's sysctls, and nothing structural."""
from pathlib import Path

import pytest
import yaml

from churnlab.compose.stack import FRONT_OVERLAYS
from churnlab.core import catalog
from churnlab.core.errors import LabError
from churnlab.core.paths import COMPOSE_DIR, PRESETS_FILE
from tests.helpers import env_table

ISSUE_VARIANTS = {"direct", "persistent", "gthread", "pgbouncer", "pgbouncer-local"}
# today's stack (tests/unit/test_today_stack.py)
TODAY_VARIANTS = {"gevent", "gevent-pool", "native-pool", "native-pool-small", "pgbouncer-today",
                  "pgbouncer-today-fixed", "asgi", "asgi-pool"}
ISSUE_PROFILES = {"default", "repro", "tuned"}
PRESETS = {  # the issue's variant table
    "direct": ("eventlet", "6", "1", "0", "db", "5432"),
    "persistent": ("eventlet", "6", "1", "600", "db", "5432"),
    "gthread": ("gthread", "20", "40", "600", "db", "5432"),
    "pgbouncer": ("eventlet", "6", "1", "0", "pgbouncer", "6432"),
    "pgbouncer-local": ("eventlet", "6", "1", "0", "/run/pgbouncer", "6432"),
}


def test_catalog_lists_the_variants_and_profiles_of_the_data_file():
    assert set(catalog.variants()) == ISSUE_VARIANTS | TODAY_VARIANTS
    assert set(catalog.profiles()) == ISSUE_PROFILES
    data = yaml.safe_load(PRESETS_FILE.read_text())
    assert list(data["variants"]) == catalog.variants()
    assert all(catalog.about("variant", v) for v in catalog.variants())
    assert all(catalog.about("profile", p) for p in catalog.profiles())


@pytest.mark.parametrize("variant,profile,word", [("nope", "repro", "variant"), ("direct", "fast", "profile")])
def test_unknown_names_are_refused_with_the_valid_values(variant, profile, word):
    with pytest.raises(LabError) as info:
        catalog.Selection.of(variant, profile)
    valid = catalog.variants() if word == "variant" else catalog.profiles()
    assert str(info.value) == f"unknown {word} {(variant if word == 'variant' else profile)!r}; " \
                              f"valid {word}s: {', '.join(valid)}"


@pytest.mark.parametrize("knobs,fragment", env_table("""
    WORKERS=0 -> WORKERS='0' must be a whole number from 1 to 64
    WORKERS=² -> WORKERS='²' must be a whole number
    THREADS=many -> THREADS='many'
    THREADS=-1 -> THREADS='-1' must be a whole number from 1 to 256
    CONN_MAX_AGE=-1 -> CONN_MAX_AGE='-1'
    CONN_MAX_AGE=86401 -> CONN_MAX_AGE='86401' must be a whole number from 0 to 86400
    WORKER_CLASS=tornado-x -> WORKER_CLASS='tornado-x' is not one of
    BOGUS=1 -> unknown knob 'BOGUS'
"""))
def test_bad_knobs_are_refused(knobs, fragment):
    with pytest.raises(LabError) as info:
        catalog.Selection.of("direct", "repro", knobs)
    assert fragment in str(info.value)


def test_empty_knobs_mean_the_variant_preset():
    sel = catalog.Selection.of("gthread", "repro", {"WORKERS": "", "THREADS": None, "CONN_MAX_AGE": "0"})
    assert sel.knobs == {"CONN_MAX_AGE": "0"}


@pytest.mark.parametrize("variant", sorted(PRESETS))
@pytest.mark.parametrize("profile", sorted(ISSUE_PROFILES))
def test_the_presets_overlay_carries_the_variant_and_the_profile(variant, profile):
    app = catalog.Selection.of(variant, profile).overlay()["services"]["app"]
    env = app["environment"]
    assert (env["WORKER_CLASS"], env["WORKERS"], env["THREADS"], env["CONN_MAX_AGE"],
            env["DB_HOST"], env["DB_PORT"]) == PRESETS[variant]
    assert ("DISABLE_SERVER_SIDE_CURSORS" in env) == variant.startswith("pgbouncer")
    low, high = map(int, app["sysctls"]["net.ipv4.ip_local_port_range"].split())
    expected_ports = {"default": 28232, "repro": 1000, "tuned": 64512}[profile]
    assert high - low + 1 == expected_ports
    assert app["sysctls"]["net.ipv4.tcp_tw_reuse"] == {"default": "2", "repro": "0", "tuned": "1"}[profile]
    assert app["image"] == "churnlab/app:1"
    # Presets only: no ports, volumes, services or dependencies in it.
    assert set(app) == {"image", "environment", "sysctls"}


def test_knob_overrides_reach_the_app():
    env = catalog.Selection.of("gthread", "repro", {"WORKERS": "2", "THREADS": "3", "CONN_MAX_AGE": "0"}) \
        .overlay()["services"]["app"]["environment"]
    assert (env["WORKER_CLASS"], env["WORKERS"], env["THREADS"], env["CONN_MAX_AGE"]) == ("gthread", "2", "3", "0")


def test_only_layouts_get_a_structural_overlay(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "STATE_DIR", tmp_path)
    files = {v: catalog.Selection.of(v, "repro").files() for v in PRESETS}
    assert files["direct"][0] == COMPOSE_DIR / "base.yml" and len(files["direct"]) == 2
    assert files["pgbouncer"][1] == COMPOSE_DIR / "variant-pgbouncer.yml"
    assert files["pgbouncer-local"][1] == COMPOSE_DIR / "variant-pgbouncer-local.yml"
    observe = {path.name for path in COMPOSE_DIR.glob("observe*.yml")}  # OBSERVE=1's add-ons
    # front-https.yml is the HTTPS front's (FRONT=https, any variant), not a variant's layout.
    overlays = {path.name for path in COMPOSE_DIR.glob("*.yml")} - {"base.yml", *FRONT_OVERLAYS.values()} - observe
    named = {catalog.variant(v).get("compose_overlay") for v in catalog.variants()} - {None}
    assert overlays == named  # every other overlay file is a variant's layout; none carries presets
    for name in overlays | observe:
        app = (yaml.safe_load((COMPOSE_DIR / name).read_text().replace("!reset ", "")))["services"].get("app", {})
        assert "environment" not in app and "sysctls" not in app
    # The generated file is written once per content and merges last.
    again = catalog.Selection.of("direct", "repro").files()
    assert again[-1] == files["direct"][-1] and again[-1].parent == tmp_path / "compose"
    assert yaml.safe_load(again[-1].read_text()) == catalog.Selection.of("direct", "repro").overlay()


def test_another_presets_file_is_read_from_churnlab_presets(tmp_path, monkeypatch):
    data = yaml.safe_load(PRESETS_FILE.read_text())
    data["variants"]["tiny"] = {**data["variants"]["gthread"], "workers": 2, "about": "two workers"}
    copy = tmp_path / "presets.yml"
    copy.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("CHURNLAB_PRESETS", str(copy))
    assert "tiny" in catalog.variants()
    assert catalog.Selection.of("tiny", "repro").app_environment()["WORKERS"] == "2"


@pytest.mark.parametrize("text,message", [
    ("variants: {}\n", "expected a mapping with 'variants' and 'profiles'"),
    ("variants: {x: {about: a}}\nprofiles: {}\n", "variant 'x' lacks"),
    (": [\n", "cannot read the presets file"),
])
def test_a_broken_presets_file_is_one_clear_error(tmp_path, monkeypatch, text, message):
    copy = tmp_path / "presets.yml"
    copy.write_text(text)
    monkeypatch.setenv("CHURNLAB_PRESETS", str(copy))
    with pytest.raises(LabError, match=message):
        catalog.variants()


def test_missing_presets_file(monkeypatch):
    monkeypatch.setenv("CHURNLAB_PRESETS", str(Path("/nonexistent/presets.yml")))
    with pytest.raises(LabError, match="is missing"):
        catalog.variants()
