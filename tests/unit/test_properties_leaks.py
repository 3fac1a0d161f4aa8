"""Exercise.leaks(text) against an oracle of its own: a hidden scenario made of seeded,
random names (a variant, a profile, knobs, a sizing, a generator's port range), written
into random text in the forms the lab writes them (VARIANT=..., a run id, a results path,
KEY=value, a JSON field, the bare name as a word). Wherever one is written, leaks finds
it; text that holds none of the names gives []. The oracle is what was written, never
leaks() itself."""
from __future__ import annotations

import dataclasses

from hypothesis import assume, example, given
from hypothesis import strategies as st

from churnlab.core import catalog
from churnlab.training import exercises
from churnlab.training.exercises import Scenario

BASE = exercises.get("incident")
name = st.from_regex(r"[a-z][a-z0-9]{2,7}(-[a-z0-9]{2,5}){0,2}", fullmatch=True)
variants = st.sampled_from(catalog.variants()) | name
profiles = st.sampled_from(catalog.profiles()) | name
knobs = st.dictionaries(st.sampled_from(["WORKERS", "THREADS", "CONN_MAX_AGE", "WORKER_CONNECTIONS"]),
                        st.integers(0, 5000).map(str), max_size=3)
sizings = st.just("") | name.map("training-{}".format)
port_ranges = st.just("") | st.tuples(st.integers(1024, 65535), st.integers(0, 500)).map(
    lambda t: f"{t[0]} {min(t[0] + t[1], 65535)}")
# Random text around them; a separator that is no part of a word keeps a bare name a word.
filler = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
separators = st.sampled_from([" ", "\n", "\t", ", ", ": ", "(", ")", "'", '"', "/", "; ", ".\n", "=", "[", "]"])


@st.composite
def scenarios(draw):
    variant, profile = draw(variants), draw(profiles)
    assume(variant not in profile and profile not in variant)
    port_range = draw(port_ranges)
    return Scenario(variant, profile, draw(knobs), draw(sizings), {"port_range": port_range} if port_range else {})


def _exercise(scenario: Scenario) -> exercises.Exercise:
    return dataclasses.replace(BASE, scenario=scenario)


def _written(s: Scenario) -> list[tuple[str, str]]:
    """(text, the name it gives away) for every form the lab writes a hidden name in."""
    v, p = s.variant, s.profile
    forms = [(f"VARIANT={v}", f"VARIANT={v}"), (f"PROFILE={p}", f"PROFILE={p}"),
             (f"make lab-up VARIANT={v} PROFILE={p}", f"VARIANT={v}"), (f"{v} + {p}", f"{v} + {p}"),
             (f"20261125T200000Z-{v}-{p}-ab-c500", f"-{v}-{p}-"),
             (f"results/20261125T200000Z-{v}-{p}-ramp-c100-ka/run.json", f"-{v}-{p}-"),
             # a field that names it: JSON, YAML, a log's key=value; the two common words included
             (f'"variant": "{v}"', v), (f"variant: {v}", v), (f"variant={v}", v),
             (f'"profile": "{p}"', p), (f"profile: {p}", p), (f"profile={p}", p)]
    forms += [(f"{k}={value}", f"{k}={value}") for k, value in s.knobs.items()]
    if s.pg_sizing:
        forms += [(f"config/postgresql/{s.pg_sizing}.conf", s.pg_sizing)]
    if s.loadgen:
        forms += [(f"LOADGEN_PORT_RANGE={s.loadgen['port_range']}", f"LOADGEN_PORT_RANGE={s.loadgen['port_range']}")]
    if v != "pgbouncer":  # the bare word is also the PgBouncer host's name
        forms += [(f"{v}", v), (f"the {v} workers", v)]
    if p != "default":  # the bare word is common English
        forms += [(f"{p}", p), (f"sysctls of {p}", p)]
    return forms


surroundings = st.lists(st.tuples(filler, separators, separators, filler), min_size=3, max_size=3)


@given(scenario=scenarios(), picks=st.lists(st.integers(0, 99), min_size=1, max_size=3), around=surroundings)
@example(scenario=Scenario("pgbouncer", "default"), picks=[6, 9], around=[("{", "", ", ", "}")] * 3)  # JSON
@example(scenario=Scenario("pgbouncer", "default"), picks=[7, 10], around=[("", "\n", "\n", "")] * 3)  # YAML
def test_a_hidden_name_written_anywhere_is_found(scenario, picks, around):
    ex = _exercise(scenario)
    forms = _written(scenario)
    chosen = list(dict.fromkeys(forms[i % len(forms)] for i in picks))
    text = "".join(before + sep + written + sep2 + after
                   for (written, _), (before, sep, sep2, after) in zip(chosen, around, strict=False))
    found = ex.leaks(text)
    for _, given_away in chosen:
        assert given_away in found, (text, found)
    assert set(found) <= {*ex.hidden_words(), scenario.variant, scenario.profile}, found  # its own names only


@given(scenario=scenarios(), text=filler, glued=st.lists(st.sampled_from(["x", "s", "_1", "2", "é", "ing"]),
                                                           min_size=2, max_size=2))
def test_text_without_the_names_gives_nothing(scenario, text, glued):
    secrets = [scenario.variant, scenario.profile, *(f"{k}={v}" for k, v in scenario.knobs.items()),
               *([scenario.pg_sizing] if scenario.pg_sizing else []),
               *([scenario.loadgen["port_range"]] if scenario.loadgen else [])]
    assume(not any(secret in text for secret in secrets))
    ex = _exercise(scenario)
    assert ex.leaks(text) == [], text
    # a name inside a longer word names nothing (directory is not direct, reproduce is not repro)
    near = f"{glued[0]}{scenario.variant} {scenario.profile}{glued[1]} {scenario.variant}{glued[1]}"
    assert ex.leaks(f"{text} {near} {text}") == [], near
