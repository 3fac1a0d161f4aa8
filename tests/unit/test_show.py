"""A run's table says which k6 thresholds were crossed: slow answers alone are not failed ones,
so a healthy run that only crossed its latency threshold does not read as failed."""
from churnlab.evidence.k6_summary import LoadSummary
from churnlab.load import show


def summary(crossed: list[str], p95: float | None = 2345.0) -> LoadSummary:
    return LoadSummary(scenario="ab", requests=10_000, rps=800.0, error_rate=0.0, p95_ms=p95,
                       thresholds_passed=not crossed, thresholds_crossed=crossed)


def test_passed():
    assert show.thresholds(summary([])) == "[green]passed[/]"


def test_latency_alone_is_slow_not_failed():
    text = show.thresholds(summary(["http_req_duration p(95)<2000"]))
    assert text.startswith("[yellow]latency crossed[/]") and "p(95)<2000" in text and "2,345 ms" in text
    assert "[red]" not in text


def test_failed_requests_are_red_and_named():
    text = show.thresholds(summary(["http_req_duration p(95)<2000", "http_req_failed rate<0.01"]))
    assert text.startswith("[red]crossed[/]") and "http_req_failed rate<0.01" in text


def test_an_older_record_without_names_still_reads_crossed():
    old = summary([])
    old.thresholds_passed = False
    assert show.thresholds(old) == "[red]crossed[/]"


def test_a_healthy_verdict_says_its_answers_were_slow():
    """The demo's gthread act on 2 cores: no request failed, p95 above k6's 2 s threshold. The verdict
    is healthy and says why the thresholds line is not green."""
    from churnlab import diagnosis
    from churnlab.core import run_record

    record = run_record.RunRecord(
        run_id="r", app_settings={"WORKER_CLASS": "gthread", "WORKERS": "20", "THREADS": "40", "CONN_MAX_AGE": "0"},
        summary={"requests": 6000, "status_counts": {"200": 6000}, "p95_ms": 7760.4,
                 "thresholds_crossed": ["http_req_duration p(95)<2000"]})
    verdict = diagnosis.diagnose(diagnosis.facts_from_record(record, []))
    assert verdict.case == diagnosis.HEALTHY and verdict.headline.startswith("healthy: 0 of 6,000 requests failed")
    assert verdict.evidence == [
        "answers were slow, not failed: p95 7,760 ms crossed k6's latency threshold (p(95)<2000); the DB path "
        "held, so look at the app's CPU and the load's size on this machine"]
