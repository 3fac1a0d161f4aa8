"""Bad input to the investigation commands: a clear message, nothing started."""
import pytest

from churnlab.core.errors import LabError
from churnlab.reports import matrix
from tests.helpers import env_table, table


@pytest.mark.parametrize("variants,profiles,levels,message", [
    (["direct", "warp"], ["repro"], [10], "unknown variant 'warp'"),
    (["direct"], ["repro", "fast"], [10], "unknown profile 'fast'"),
    (["direct"], ["repro"], [0], "VUS levels must be >= 1"),
    ([], ["repro"], [10], "at least one variant"),
])
def test_matrix_plan_refuses_bad_input(variants, profiles, levels, message):
    with pytest.raises(LabError, match=message):
        matrix.plan(variants, profiles, levels)


def test_matrix_plan_is_the_cross_product():
    plan = matrix.plan(["direct", "gthread"], ["repro", "tuned"], [100, 500])
    assert len(plan) == 8 and ("gthread", "tuned", 500) in plan


# -- churnlab investigate, the single file, and diagnose --snapshot: one line, exit 2, nothing read or started --
PROBE_CASES = table("""
    investigate --seconds 0 -> --seconds='0' must be a whole number from 1 to 300
    investigate --seconds 301 -> --seconds='301' must be a whole number from 1 to 300
    investigate --seconds 2.5 -> --seconds='2.5' must be a whole number
    investigate --seconds ² -> --seconds='²' must be a whole number
    investigate --db db -> --db='db' must be HOST:PORT
    investigate --db db:0 -> --db='db:0' must be HOST:PORT
    investigate --db db:65536 -> --db='db:65536' must be HOST:PORT
    investigate --db 'db;rm -rf:5432' -> must be HOST:PORT
    investigate --db :5432 -> --db=':5432' must be HOST:PORT
    investigate --journal-unit app.service --log /etc/hostname -> give --journal-unit or --log, not both
    investigate --journal-unit 'app service' -> is not a systemd unit name
    investigate --log /nonexistent/app.log -> --log='/nonexistent/app.log' cannot be read
    investigate --log /etc -> --log='/etc' is a folder, not a log file
    investigate --snapshot /nonexistent/snap.json -> its folder '/nonexistent' does not exist or is not writable
    investigate --snapshot /etc -> --snapshot='/etc' is a folder
    investigate --bogus -> No such option: --bogus
    diagnose --snapshot /nonexistent/snap.json -> snapshot '/nonexistent/snap.json' cannot be read
    diagnose --snapshot /etc/hostname -> is not JSON
    diagnose --snapshot /etc/hostname --run x -> give RUN or SNAPSHOT, not both
""")
ids = [" ".join(a) for a, _ in PROBE_CASES]


@pytest.mark.parametrize("argv,message", PROBE_CASES, ids=ids)
def test_the_probe_refuses_bad_input_in_one_line(cli, started, argv, message):
    out = cli(*argv)
    assert out.code == 2, out
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr + out.stdout and out.stdout == ""
    assert started == []


@pytest.mark.parametrize("argv,message", [c for c in PROBE_CASES if c[0][0] == "investigate"],
                         ids=[i for i in ids if i.startswith("investigate")])
def test_the_single_file_refuses_the_same_input_the_same_way(capsys, started, argv, message):
    from churnlab.investigate import main

    assert main.main(argv[1:]) == 2
    out = capsys.readouterr()
    if argv[1] == "--bogus":
        message = "unrecognized arguments: --bogus"  # argparse's words for typer's
    assert out.out == "" and out.err.count("\n") == 1 and message in out.err, out.err
    assert started == []


@pytest.mark.parametrize("env,message", env_table("""
    SNAPSHOT=/nonexistent/snap.json -> snapshot '/nonexistent/snap.json' cannot be read
    SNAPSHOT=/etc/hostname RUN=some-run -> give RUN or SNAPSHOT, not both
"""))
def test_make_diagnose_snapshot_refuses_bad_input(cli, env, message):
    out = cli("diagnose", **env)
    assert out.code == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out


@pytest.mark.parametrize("content,message", [
    ('{"kind": "churnlab-investigate-snapshot", "version": 99}', "snapshot version 99 is unknown"),
    ('{"kind": "churnlab-investigate-snapshot"}', "snapshot version None is unknown"),
    ('{"run_id": "x", "schema_version": 2}', "not a churnlab investigate snapshot"),
    ("[1, 2]", "not a churnlab investigate snapshot"),
    ('{"kind": "churnlab-investigate-snapshot", "version": 1, "app_servers": [1]}', "not a snapshot this churnlab"),
    ("{not json", "is not JSON"),
    ("", "is not JSON"),
], ids=["future-version", "no-version", "a-run-json", "a-list", "bad-shape", "not-json", "empty"])
def test_an_unreadable_snapshot_is_one_line(cli, tmp_path, content, message):
    path = tmp_path / "snap.json"
    path.write_text(content)
    out = cli("diagnose", SNAPSHOT=str(path))
    assert out.code == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out
