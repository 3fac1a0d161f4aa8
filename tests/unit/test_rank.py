"""The rank's arithmetic and order on synthetic figures: the ceiling ratio, the
ranking rule, k6's own errors, the README block and the diagnosis following the
latest rank. No lab: rank.document/markdown/write_readme are pure given figures."""
import json

import pytest

from churnlab import diagnosis
from churnlab.core import catalog
from churnlab.core.errors import LabError
from churnlab.diagnosis import ranking
from churnlab.reports import rank
from tests.helpers import env_table


def fig(rps, error_rate=0.0, peak_db=10, peak_ports=100, k6=None, cpu=None):
    return {"run": f"run-{rps}", "status": "finished", "requests": 10000, "rps": rps, "p50_ms": 100.0,
            "p99_ms": 900.0, "error_rate": error_rate, "app_errors": 0, "peak_db": peak_db, "peak_ports": peak_ports,
            "peak_port_pct": 1.0, "k6_errors": k6 or {}, "generator_errors": 0, "verdict": "healthy",
            "cpu_s": cpu or {}, "wall_s": 10.0, "k6_cpu_share": 0.2, "cpu_ms_per_request": {}}


def cand(name, ratios, error_rate=0.0, holds=True, levels=(500, 5000), ping=1000.0):
    variant, _, profile = name.partition("+")
    c = rank.Candidate(name, variant, profile, planned_levels=len(levels), shown_by=f"VARIANT={variant}",
                       repro={"applies": holds is not None, "holds": holds})
    for vus, ratio in zip(levels, ratios, strict=False):
        c.levels.append({"vus": vus, "ping": fig(ping), "healthz": fig(ping * ratio, error_rate),
                         "ratio": rank.pair(fig(ping * ratio), fig(ping))})
    return c


def test_the_ceiling_ratio_is_healthz_over_ping_of_the_same_level():
    assert rank.pair(fig(800.0), fig(1000.0)) == 0.8
    assert rank.pair(fig(171.0), fig(1579.0)) == 0.108
    assert rank.pair(fig(800.0), None) is None and rank.pair(fig(800.0), fig(0.0)) is None
    assert rank.pair(fig(836.0), fig(164.0, error_rate=0.2)) is None  # a ping run that timed out is no ceiling


def test_the_order_follows_the_rule():
    best = cand("gthread+default", [0.9, 0.7])                       # worst ratio 0.7, no errors
    second = cand("direct+tuned", [0.12, 0.11], holds=None)          # n/a under repro counts as holding
    fails_repro = cand("native+default", [0.95, 0.9], holds=False)   # better ratio, but fails under repro
    errors = cand("pgbouncer-local+default", [0.99, 0.99], error_rate=0.05)
    incomplete = cand("gevent+default", [0.99], levels=(500,))  # one of its two levels never ran
    incomplete.planned_levels = 2
    order = rank.ranked([errors, incomplete, second, fails_repro, best])
    assert [c.name for c in order] == ["gthread+default", "direct+tuned", "native+default",
                                       "pgbouncer-local+default", "gevent+default"]
    assert best.summary()["min_ratio"] == 0.7 and not best.summary()["meets_target"]
    assert cand("x+default", [0.85, 0.8]).summary()["meets_target"]


def test_among_error_free_fixes_the_higher_worst_ratio_wins():
    steady = cand("a+default", [0.6, 0.6])
    peaky = cand("b+default", [0.95, 0.5])  # better at c=500, worse at c=5,000
    assert [c.name for c in rank.ranked([peaky, steady])] == ["a+default", "b+default"]


def document(*cands):
    machine = {"cores": 2, "kernel": "6.1", "machine": "x86_64", "python": "3.11", "loadavg": [1.0, 1.0, 1.0]}
    return rank.document("20261125T000000Z", list(cands), [500, 5000], 10000, dict(machine), dict(machine), 600.0,
                         {"app": {"django": "4.1.3", "gunicorn": "21.2.0"}, "postgres": "15.18"}, None)


def test_the_document_and_its_tables_follow_the_numbers():
    data = document(cand("direct+tuned", [0.11, 0.1], holds=None), cand("gthread+default", [0.7, 0.6]))
    assert data["order"] == ["gthread+default", "direct+tuned"] and data["recommended"] == "gthread+default"
    text = rank.markdown(data)
    assert text.index("| 1 | gthread+default") < text.index("| 2 | direct+tuned")
    assert "0.70 / 0.60" in text and "on 2 cores" in text and "django 4.1.3" in text


def test_the_readme_block_is_written_between_its_markers_once(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{rank.README_BEGIN}\nstale table\n{rank.README_END}\nafter\n")
    data = document(cand("gthread+default", [0.7, 0.6]))
    rank.write_readme(data, readme)
    first = readme.read_text()
    assert "stale table" not in first and "gthread+default" in first and first.endswith("after\n")
    assert f"Measured {data['made'][:10]} " in first  # dated: the day the rank was made
    rank.write_readme(data, readme)
    assert readme.read_text() == first
    (tmp_path / "bare.md").write_text("no markers\n")
    with pytest.raises(LabError, match="no <!-- rank:begin -->"):
        rank.write_readme(data, tmp_path / "bare.md")


def test_the_diagnosis_follows_the_latest_rank(tmp_path, monkeypatch):
    facts = diagnosis.Facts(variant="direct", profile="repro", settings={"CONN_MAX_AGE": "0"},
                            errors=[{"kind": "OperationalError EADDRNOTAVAIL", "target": "db:5432", "count": 5}])
    static = [f.shown_by for f in diagnosis.diagnose(facts).fixes]
    assert static == ["VARIANT=gthread", "VARIANT=pgbouncer-local", "PROFILE=tuned"]
    tuned = cand("direct+tuned", [0.9, 0.9], holds=None)
    tuned.shown_by = "PROFILE=tuned"
    older = tmp_path / "rank-20261124T000000Z"
    older.mkdir()
    (older / "rank.json").write_text(json.dumps(document(cand("gthread+default", [0.9, 0.9]))))
    latest = tmp_path / "rank-20261125T000000Z"
    latest.mkdir()
    (latest / "rank.json").write_text(json.dumps(document(cand("gthread+default", [0.7, 0.6]), tuned)))
    monkeypatch.setattr(ranking, "RANK_RESULTS", tmp_path)
    fixes = diagnosis.diagnose(facts).fixes
    assert [f.shown_by for f in fixes] == ["PROFILE=tuned", "VARIANT=gthread", "VARIANT=pgbouncer-local"]
    assert fixes[0].measured.startswith("rank 1 of 2") and fixes[2].measured == ""


def test_the_rank_list_is_data_and_knobs_are_checked(tmp_path, monkeypatch):
    chosen = rank.candidates([])
    labels = [rank.label(c) for c in chosen]
    assert {"gthread+default", "direct+tuned", "pgbouncer-local+default"} <= set(labels)
    tuned = chosen[labels.index("direct+tuned")]
    assert rank.shown_by(tuned) == "PROFILE=tuned" and not rank.repro_applies(tuned)
    # ASGI: the fix (its pool) is run on repro; the trap beside it is no fix at all
    assert {"asgi-pool+default", "asgi+default"} <= set(labels)
    pool, trap = chosen[labels.index("asgi-pool+default")], chosen[labels.index("asgi+default")]
    assert rank.shown_by(pool) == "VARIANT=asgi-pool" and rank.repro_applies(pool)
    assert rank.shown_by(trap) == "" and not rank.repro_applies(trap)
    assert rank.output._repro({"variant": "asgi", "profile": "default", "repro": {"applies": False}}) == \
        "n/a (the trap, not a fix)"
    assert rank.output._repro({"variant": "direct", "profile": "tuned", "repro": {"applies": False}}) == \
        "n/a (the fix is its profile)"
    steps = rank.plan(chosen[:1], [500, 2000], 1000)
    assert [(s.selection.profile, s.params.endpoint, s.params.vus, s.fresh) for s in steps] == [
        ("default", rank.PING, 500, True), ("default", rank.HEALTHZ, 500, False),
        ("default", rank.PING, 2000, True), ("default", rank.HEALTHZ, 2000, False), ("repro", rank.HEALTHZ, 500, True)]
    assert steps[2].params.iterations == 2000  # never fewer requests than clients
    copy = tmp_path / "presets.yml"
    copy.write_text(catalog.presets_file().read_text().replace(
        "  - {variant: gthread, profile: default}\n",
        "  - {variant: gthread, profile: default, knobs: {WORKERS: 99}}\n"))
    monkeypatch.setenv("CHURNLAB_PRESETS", str(copy))
    with pytest.raises(LabError, match="WORKERS='99'"):
        rank.candidates([])


@pytest.mark.parametrize("env,message", env_table("""
    RANK_VARIANTS=warp -> unknown variant 'warp'
    RANK_VARIANTS=persistent -> not in the rank list
    RANK_VARIANTS=gthread+fast -> unknown profile 'fast'
    RANK_LEVELS=500,x -> RANK_LEVELS='x'
    RANK_ITERATIONS=0 -> RANK_ITERATIONS='0'
    RANK_REPRO=maybe -> RANK_REPRO='maybe'
"""))
def test_bad_rank_input_is_one_line_exit_2_nothing_started(cli, started, env, message):
    out = cli("rank", **env)
    assert out.code == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert started == []


def test_rank_readme_without_a_rank_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(rank.matrix, "RESULTS_DIR", tmp_path)
    out = cli("rank", "--readme")
    assert out.code == 2 and "no rank under results/" in out.stderr


def test_a_failed_run_is_recorded_and_the_rank_goes_on(tmp_path, monkeypatch):
    """Faked at our own boundaries (lab.up/down, loadrun.run writing a real run folder),
    as tests/unit/test_matrix_stops.py does for the matrix."""
    from churnlab.core import run_record
    from churnlab.evidence.k6_summary import LoadSummary
    from churnlab.load import run as loadrun

    monkeypatch.setattr(rank.matrix, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(rank.matrix.lab, "up", lambda selection, fresh=False: selection)
    monkeypatch.setattr(rank.matrix.lab, "down", lambda: None)
    monkeypatch.setattr(rank.html_report, "render", lambda *a, **k: tmp_path / "report.html")
    rates = {("gthread", rank.PING): 1000.0, ("gthread", rank.HEALTHZ): 700.0, ("direct", rank.PING): 1500.0}
    runs = []

    def run(stack, params):
        if (stack.variant, params.endpoint) not in rates:
            raise LabError("k6 failed (exit 107)")  # direct+tuned's healthz run
        run_id = f"20261125T00000{len(runs)}Z-{stack.variant}-{stack.profile}-ab-c{params.vus}"
        run_dir = tmp_path / run_id
        run_dir.mkdir()
        runs.append(run_id)
        summary = LoadSummary(scenario="ab", requests=params.iterations, rps=rates[stack.variant, params.endpoint],
                              error_rate=0.0, status_counts={"200": params.iterations})
        record = run_record.RunRecord(run_id=run_id, selection=run_record.Selection(stack.variant, stack.profile),
                                      summary=summary.as_dict(), versions={"postgres": "15"},
                                      verdict={"case": "healthy"})
        run_record.write(run_dir, record)
        return loadrun.RunResult(run_id=run_id, run_dir=run_dir, summary=summary, record=record,
                                 cpu_s={"app": 1.0, "db": 0.5, "k6": 0.5}, cpu_wall_s=1.0)  # what the load measured

    monkeypatch.setattr(rank.matrix.loadrun, "run", run)
    chosen = [catalog.Selection.of("direct", "tuned"), catalog.Selection.of("gthread", "default")]
    result = rank.run(chosen, [500], 1000)
    data = json.loads((result.rank_dir / "rank.json").read_text())
    assert result.stopped is None and len(runs) == 4  # gthread's repro check ran after direct's failure
    assert data["order"] == ["gthread+default", "direct+tuned"]
    gthread, direct = data["candidates"]
    assert gthread["levels"][0]["ratio"] == 0.7 and gthread["repro"]["holds"] is True
    assert gthread["levels"][0]["healthz"]["cpu_ms_per_request"] == {"app": 1.0, "db": 0.5, "k6": 0.5}
    assert direct["levels"][0]["healthz"]["status"] == "failed" and not direct["summary"]["complete"]
    assert direct["repro"]["applies"] is False and "n/a" in (result.rank_dir / "rank.md").read_text()


def test_the_cpu_bound_ratio_is_ping_cpu_over_healthz_cpu():
    level = {"ping": {"cpu_ms_per_request": {"app": 0.6, "db": 0.0, "k6": 0.4}},
             "healthz": {"cpu_ms_per_request": {"app": 1.1, "db": 0.2, "k6": 0.4}}}
    assert rank.cpu_bound_ratio(level) == round(1.0 / 1.7, 3)
    assert rank.cpu_bound_ratio({"ping": {"cpu_ms_per_request": {}}, "healthz": None}) is None


def test_the_note_names_each_app_stack_with_the_fixes_that_ran_on_it():
    incident = {"django": "4.1.3", "gunicorn": "21.2.0", "psycopg2": "2.9.5"}
    today = {"django": "5.2.19", "gunicorn": "27.0.1", "psycopg": "3.3.9"}
    data = {"candidates": [{"variant": "gthread", "app_versions": incident},
                           {"variant": "native-pool", "app_versions": today},
                           {"variant": "gthread", "app_versions": incident},
                           {"variant": "gevent-pool", "app_versions": today}],
            "versions": {"app": incident}}
    assert rank.app_stacks(data) == ["django 4.1.3, gunicorn 21.2.0, psycopg2 2.9.5 (gthread)",
                                     "django 5.2.19, gunicorn 27.0.1, psycopg 3.3.9 (native-pool, gevent-pool)"]
    # One stack: no list of fixes; a rank written before per-fix versions: the first run's.
    assert rank.app_stacks({**data, "candidates": data["candidates"][:1]}) == [
        "django 4.1.3, gunicorn 21.2.0, psycopg2 2.9.5"]
    assert rank.app_stacks({**data, "candidates": [{"variant": "gthread"}]}) == [
        "django 4.1.3, gunicorn 21.2.0, psycopg2 2.9.5"]
