"""A load generator that ran out is caught: from run.json's per-generator
lines (what k6 itself reported), the verdict says the measurement is not
valid, why, and what to do, ahead of any verdict about the app."""
from churnlab import diagnosis
from churnlab.core import run_record
from churnlab.evidence import k6_merge

GTHREAD = {"WORKER_CLASS": "gthread", "WORKERS": "20", "THREADS": "40", "CONN_MAX_AGE": "600",
           "DB_HOST": "db", "DB_PORT": "5432"}


def _record(per_loadgen, status_counts, app_errors=(), port_range="60000 60019"):
    return run_record.RunRecord(
        run_id="r", selection=run_record.Selection(variant="gthread", profile="default"), app_settings=GTHREAD,
        load=run_record.Load(vus=100, iterations=2000, loadgens=len(per_loadgen), loadgen_port_range=port_range,
                             per_loadgen=per_loadgen),
        summary={"requests": sum(status_counts.values()), "status_counts": status_counts},
        app_errors=list(app_errors))


def test_the_generators_own_eaddrnotavail_makes_the_run_invalid_not_the_app():
    per = [{"name": "1", "requests": 2000, "errors": 1500, "dropped_iterations": 0,
            "k6_errors": {k6_merge.LOADGEN_EADDRNOTAVAIL: 1500}}]
    verdict = diagnosis.diagnose(diagnosis.facts_from_record(_record(per, {"200": 500, "0": 1500}), []))
    assert verdict.case == diagnosis.LOADGEN_LIMITED
    assert verdict.headline.startswith("measurement not valid: the load generator was the limit, not the app")
    assert "1,500 of 2,000 requests" in verdict.headline and "60000 60019" in verdict.headline
    assert any("(unclassified)" in line or "(healthy)" in line for line in verdict.evidence), verdict.evidence
    shown = [f.shown_by for f in verdict.fixes]
    assert shown == ["make load LOADGENS=2", "make load LOADGEN_PORT_RANGE='1024 65535'", "make load KEEPALIVE=1"]


def test_dropped_iterations_make_the_run_invalid_too():
    per = [{"name": str(i), "requests": 900, "errors": 0, "dropped_iterations": 50, "k6_errors": {}}
           for i in (1, 2)]
    verdict = diagnosis.diagnose(diagnosis.facts_from_record(_record(per, {"200": 1800}, port_range=""), []))
    assert verdict.case == diagnosis.LOADGEN_LIMITED and "k6 dropped 100 iterations" in verdict.headline
    assert verdict.fixes[0].shown_by == "make load LOADGENS=4"


def test_the_apps_own_errors_with_a_sound_generator_are_the_apps():
    per = [{"name": "1", "requests": 2000, "errors": 1500, "dropped_iterations": 0, "k6_errors": {}}]
    errors = [{"kind": "EADDRNOTAVAIL: Cannot assign requested address", "target": "db:5432", "count": 1500}]
    record = _record(per, {"200": 500, "499": 1500}, errors)
    assert diagnosis.diagnose(diagnosis.facts_from_record(record, [])).case == diagnosis.PORT_EXHAUSTION_POSTGRES


def test_an_old_record_has_no_generator_facts():
    record = _record([], {"200": 2000}, port_range="")
    assert diagnosis.diagnose(diagnosis.facts_from_record(record, [])).case == diagnosis.HEALTHY


def test_a_generator_short_of_cpu_makes_the_run_invalid():
    per = [{"name": "1", "requests": 1000, "errors": 0, "dropped_iterations": 0, "k6_errors": {},
            **k6_merge.cpu_figures(cpu_s=1.9, seconds=20.0, cores=0.1)},
           {"name": "2", "requests": 1000, "errors": 0, "dropped_iterations": 0, "k6_errors": {},
            **k6_merge.cpu_figures(cpu_s=1.0, seconds=20.0, cores=0.1, throttled=0.2)},
           {"name": "3", "requests": 1000, "errors": 0, "dropped_iterations": 0, "k6_errors": {},
            **k6_merge.cpu_figures(cpu_s=1.5, seconds=20.0, cores=0.1, throttled=0.8)}]
    record = _record(per, {"200": 2000}, port_range="")
    record.load.loadgen_cpus = "0.1"
    verdict = diagnosis.diagnose(diagnosis.facts_from_record(record, []))
    assert verdict.case == diagnosis.LOADGEN_LIMITED
    assert ("k6 was short of CPU: generator 1 busy 95%; generator 3 busy 75%, throttled in 80% of the kernel's "
            "periods (the CPU it could use: LOADGEN_CPUS=0.1)") in verdict.headline
    assert "generator 2" not in verdict.headline  # 50% busy, throttled in 20%: it had CPU to spare
    assert verdict.fixes[-1].shown_by == "make load LOADGEN_CPUS=<more, or unset>"


def test_a_busy_but_not_starved_generator_is_sound():
    per = [{"name": "1", "requests": 2000, "errors": 0, "dropped_iterations": 0, "k6_errors": {},
            **k6_merge.cpu_figures(cpu_s=30.0, seconds=20.0, cores=2.0)}]  # 75% of 2 cores
    record = _record(per, {"200": 2000}, port_range="")
    assert diagnosis.diagnose(diagnosis.facts_from_record(record, [])).case == diagnosis.HEALTHY
