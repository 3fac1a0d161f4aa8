"""run.json's one writer and one reader agree: for any valid record (any status, a fault
with or without its recovery, any generators' lines, any summary, verdict and budget),
write(run_dir, record) then read(run_dir) gives an equal record, and writing it again
gives the same bytes."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from churnlab.core import run_record
from churnlab.diagnosis import Fix, Verdict
from churnlab.evidence import k6_merge
from churnlab.evidence.k6_summary import LoadSummary
from churnlab.evidence.port_budget import PortBudget

text = st.text(max_size=12)
maybe_text = st.none() | text
counts = st.integers(0, 10**9)
maybe_count = st.none() | counts
reals = st.floats(allow_nan=False, allow_infinity=False)  # what JSON carries (k6 writes no NaN)
maybe_real = st.none() | reals
json_values = st.recursive(st.none() | st.booleans() | st.integers() | reals | text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                           max_leaves=8)
json_objects = st.dictionaries(text, json_values, max_size=4)
strings = st.dictionaries(text, text, max_size=4)


def _all(cls, **given_fields):
    """st.builds(cls) with a strategy for every field (the ones not named: by their type)."""
    by_type = {"str": text, "str | None": maybe_text, "int": counts, "int | None": maybe_count,
               "float": reals, "float | None": maybe_real, "bool": st.booleans(),
               "bool | None": st.none() | st.booleans(), "dict": json_objects,
               "dict[str, int]": st.dictionaries(text, counts, max_size=3), "list[str]": st.lists(text, max_size=3)}
    return st.builds(cls, **{f.name: given_fields[f.name] if f.name in given_fields else by_type[f.type]
                             for f in dataclasses.fields(cls)})


generators = _all(k6_merge.Generator).map(k6_merge.Generator.as_dict)
summaries = _all(LoadSummary, status_counts=st.dictionaries(text, counts, max_size=3)).map(LoadSummary.as_dict)
budgets = _all(PortBudget).map(PortBudget.as_dict)
verdicts = st.builds(Verdict, case=text, headline=text, evidence=st.lists(text, max_size=3),
                     fixes=st.lists(_all(Fix), max_size=2)).map(Verdict.as_dict)
errors = st.fixed_dictionaries({"kind": text, "target": text, "count": counts})
recoveries = _all(run_record.Recovery)
faults = _all(run_record.Fault, recovery=st.none() | recoveries)

records = _all(
    run_record.RunRecord,
    run_id=st.text(min_size=1, max_size=40),
    status=st.sampled_from(run_record.STATUSES),
    selection=_all(run_record.Selection, knobs=strings, hosts=json_objects),
    app_settings=strings,
    load=_all(run_record.Load, per_loadgen=st.lists(generators, max_size=3)),
    summary=st.none() | summaries | json_objects,
    app_errors=st.lists(errors, max_size=3),
    db=_all(run_record.Db),
    evidence=_all(run_record.Evidence, port_budget=st.lists(budgets, max_size=2)),
    versions=json_objects,
    verdict=st.none() | verdicts,
    overhead=st.none() | json_objects,
    schema_version=st.just(run_record.SCHEMA_VERSION),
    fault=st.none() | faults,
)


@given(record=records)
@example(record=run_record.RunRecord(run_id="r", fault=run_record.Fault()))  # a fault with every field empty
@example(record=run_record.RunRecord(run_id="r", status=run_record.FAILED, summary={}, verdict={}, overhead={},
                                     fault=run_record.Fault(recovery=run_record.Recovery())))
def test_write_then_read_gives_the_same_record(record):
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        run_record.write(run_dir, record)
        first = (run_dir / run_record.RUN_JSON).read_bytes()
        back = run_record.read(run_dir)
        assert back == record
        assert (back.fault is None) == (record.fault is None)
        run_record.write(run_dir, back)
        assert (run_dir / run_record.RUN_JSON).read_bytes() == first
        assert sorted(p.name for p in run_dir.iterdir()) == [run_record.RUN_JSON]  # no temporary file left
