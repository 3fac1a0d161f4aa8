"""Bad input, through the real command line with make's variables in the
environment: one line on stderr, exit code 2, no traceback, nothing started."""
import pytest
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.core import bounds, catalog
from churnlab.core.paths import ROOT

BAD = [
    # (command, make variables, what the one line says)
    ("up", {"APP_PORT": "70000"}, "APP_PORT='70000' must be a whole number from 1024 to 65535"),
    ("up", {"APP_PORT": "0"}, "APP_PORT='0' must be a whole number from 1024 to 65535"),
    ("up", {"APP_PORT": "80"}, "below 1024 needs root"),
    ("up", {"WORKERS": "²"}, "WORKERS='²' must be a whole number from 1 to 64"),
    ("up", {"WORKERS": "65"}, "WORKERS='65'"),
    ("up", {"THREADS": "-1"}, "THREADS='-1' must be a whole number from 1 to 256"),
    ("up", {"CONN_MAX_AGE": "1e9"}, "CONN_MAX_AGE='1e9'"),
    ("up", {"VARIANT": "dir'ect"}, "unknown variant \"dir'ect\"; valid variants: direct, persistent, gthread"),
    ("up", {"VARIANT": "[red]x"}, "unknown variant '[red]x'"),
    ("up", {"PROFILE": "warp"}, "unknown profile 'warp'; valid profiles: default, repro, tuned"),
    ("up", {"WORKER_CLASS": "tornado"}, "WORKER_CLASS='tornado' is not one of"),
    ("load", {"VUS": "10000000"}, "VUS='10000000' must be a whole number from 1 to 5000"),
    ("load", {"VUS": "0"}, "VUS='0'"),
    ("load", {"ITERATIONS": "x"}, "ITERATIONS='x'"),
    ("load", {"VUS": "600", "ITERATIONS": "100"}, "ITERATIONS (100) must be >= VUS (600)"),
    ("load", {"SAMPLE_INTERVAL": "0.01"}, "SAMPLE_INTERVAL='0.01' must be a number from 0.1 to 60"),
    ("load", {"SAMPLE_INTERVAL": "nan"}, "SAMPLE_INTERVAL='nan'"),
    ("load", {"KEEPALIVE": "maybe"}, "KEEPALIVE='maybe' must be one of"),
    ("load", {"SCENARIO": "soak"}, "unknown SCENARIO 'soak'; valid SCENARIOs: ab, ramp"),
    ("load", {"LOADGENS": "9"}, "LOADGENS='9' must be a whole number from 1 to 8"),
    ("load", {"VUS": "2", "ITERATIONS": "10", "LOADGENS": "3"}, "must be >= LOADGENS (3)"),
    ("load", {"LOADGEN_PORT_RANGE": "60000"}, "LOADGEN_PORT_RANGE='60000' must be two ports 'low high'"),
    ("load", {"LOADGEN_PORT_RANGE": "61000 60000"}, "low <= high"),
    ("load", {"LOADGEN_PORT_RANGE": "80 90"}, "from 1024 to 65535"),
    ("diagnose", {"RUN": "/tmp"}, "RUN='/tmp' must be a run id"),
    ("diagnose", {"RUN": "../x"}, "RUN='../x' must be a run id"),
    ("diagnose", {"RUN": "a/../../b"}, "must be a run id"),
    ("diagnose", {"RUN": "no-such-run"}, "no run 'no-such-run' under results/"),
    ("diagnose", {"DIAG_SECONDS": "301"}, "DIAG_SECONDS='301'"),
    ("logs", {"SERVICE": "app; x"}, "unknown service 'app; x'; valid services: app, db"),
    ("matrix", {"VARIANTS": "direct warp"}, "unknown variant 'warp'"),
    ("matrix", {"PROFILES": "repro,fast"}, "unknown profile 'fast'"),
    ("matrix", {"VUS_LEVELS": "5x"}, "VUS_LEVELS='5x' must be a whole number from 1 to 5000"),
    ("matrix", {"VUS_LEVELS": "0"}, "VUS_LEVELS='0'"),
    ("demo", {"VUS": "-5"}, "VUS='-5'"),
    # numbers longer than Python reads as an int (4,300 digits): one line, the value's start and length
    ("load", {"VUS": "1" + "0" * 5000}, "VUS='100000000000'... (5,001 characters) must be a whole number"),
    ("load", {"LOADGEN_PORT_RANGE": "1" + "0" * 5000 + " 2"}, "(5,003 characters) must be two ports"),
    ("load", {"FAULT": "db-restart", "FAULT_AT": "9" * 5000 + "s"}, "FAULT_AT='999999999999'... (5,001 characters)"),
    ("up", {"APP_PORT": "9" * 5000}, "APP_PORT='999999999999'... (5,000 characters)"),
    ("load", {"SAMPLE_INTERVAL": "1." + "0" * 5000}, "SAMPLE_INTERVAL='1.0000000000'..."),
]


@pytest.mark.parametrize("command,env,message", BAD, ids=[f"{c}-{'-'.join(e)}" for c, e, _ in BAD])
def test_bad_value_is_one_line_exit_2_and_starts_nothing(cli, started, command, env, message):
    out = cli(command, **env)
    assert out.code == 2
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert started == []


@pytest.mark.parametrize("args,message", [
    (["up", "--bogus"], "No such option: --bogus"),
    (["nosuch"], "No such command 'nosuch'"),
    (["logs", "a", "b"], "unexpected extra argument"),
    (["logs", "--tail", "²"], "--tail='²' must be a whole number"),
])
def test_typers_own_parse_errors_are_one_line_too(cli, args, message):
    out = cli(*args)
    assert out.code == 2 and len(out.stderr.splitlines()) == 1 and message in out.stderr


@pytest.mark.parametrize("text", ["direct gthread", "direct,gthread", " direct , gthread ", "direct,\tgthread"])
def test_lists_take_commas_or_spaces(text):
    assert bounds.split_list(text) == ["direct", "gthread"]


def test_matrix_reads_lists_either_way(cli, monkeypatch):
    from churnlab.reports import matrix

    seen = []

    class Done(Exception):
        pass

    def fake_run(variants, profiles, levels, iterations, keepalive):
        seen.append((variants, profiles, levels, iterations, keepalive))
        raise Done

    monkeypatch.setattr(matrix, "run", fake_run)
    for variants in ("direct gthread", "direct,gthread"):
        with pytest.raises(Done):
            cli("matrix", VARIANTS=variants, PROFILES="repro tuned", VUS_LEVELS="100,500", KEEPALIVE="1")
    assert seen == [(["direct", "gthread"], ["repro", "tuned"], [100, 500], 10000, True)] * 2


def test_empty_make_variables_mean_the_defaults(cli, monkeypatch):
    from churnlab.compose import lab

    chosen = []

    class Up(Exception):
        pass

    def fake_up(selection, app_port, pg_major, **_published):
        chosen.append((selection.variant, selection.profile, selection.knobs, app_port, pg_major))
        raise Up

    monkeypatch.setattr(lab, "up", fake_up)
    with pytest.raises(Up):  # make exports every variable, set or not
        cli("up", VARIANT="", PROFILE="", WORKERS="", THREADS="", CONN_MAX_AGE="", WORKER_CLASS="", APP_PORT="",
            PG_MAJOR="")
    with pytest.raises(Up):
        cli("up", VARIANT="gthread", PROFILE="tuned", WORKERS="4", APP_PORT="18000", PG_MAJOR="15")
    assert chosen == [("direct", "repro", {}, 8000, "14"), ("gthread", "tuned", {"WORKERS": "4"}, 18000, "15")]


def test_variants_lists_the_data_file_and_the_ranges():
    result = CliRunner().invoke(app, ["variants"])
    assert result.exit_code == 0
    for name in catalog.variants() + catalog.profiles():
        assert name in result.output
    assert catalog.about("variant", "gthread") in result.output
    for name in bounds.RANGES:
        assert f"\n  {name} " in result.output
    names = CliRunner().invoke(app, ["variants", "--names", "variants"])
    assert names.output.split() == catalog.variants()


def test_the_makefile_exports_every_steering_variable_and_no_other():
    """bounds.STEERING is the one list: make exports each (the CLI reads them from the environment);
    PG_SIZING and CHURNLAB_PRESETS reach compose and Ansible from the caller's environment as they are."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    exported = {name for line in text.splitlines() if line.startswith("export ")
                for name in line.split("#")[0].split()[1:]}
    assert exported == set(bounds.STEERING) - set(bounds.ENVIRONMENT)


def test_overlong_seed_and_tail_are_one_short_line(cli, started):
    out = cli("exercise", "start", EX="incident", SEED="9" * 5000)
    assert out.code == 2 and len(out.stderr.splitlines()) == 1 and "(5,000 characters)" in out.stderr
    assert len(out.stderr) < 300 and "Traceback" not in out.stderr
    out = cli("logs", "--tail", "9" * 5000)
    assert out.code == 2 and "(5,000 characters) must be a whole number from 1 to 100,000" in out.stderr
    assert started == []
