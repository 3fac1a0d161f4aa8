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
