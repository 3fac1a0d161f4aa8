"""Properties of the parsers every make variable goes through (churnlab.core.bounds):
whatever the text, a value comes back in its range, or a LabError of one line that
names the variable and the range; never another exception, never a value outside.
The texts: plain numbers, huge digit strings (beyond Python's 4,300-digit int),
unicode digits ('²', '٣', '５'), unicode whitespace, signs, exponents, separators."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from churnlab.core import bounds
from churnlab.core.errors import LabError

WHOLE = sorted(name for name, r in bounds.RANGES.items() if r.whole)
DECIMAL = sorted(name for name, r in bounds.RANGES.items() if not r.whole)
PORT_RANGES = ["LOADGEN_PORT_RANGE"]
DURATIONS = ["FAULT_AT", "FAULT_FOR", "FAULT_TAIL"]

ASCII_DIGITS = "0123456789"
UNICODE_DIGITS = "²³¹٠١٢٣٤٥٦٧٨٩０１２３４５６７８９߀໑௭𝟘𝟙"  # isdigit() or isdecimal(), none ASCII
WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2003\u2028\u2029\u3000"  # what str.strip() takes
OTHER = "+-.,_eEsSx:/'\"\\=[]"

# Texts built from the pieces a number is made of, and the ones around it.
pieces = st.one_of(
    st.text(ASCII_DIGITS, min_size=1, max_size=8),
    st.sampled_from(list(UNICODE_DIGITS + WHITESPACE + OTHER)),
    st.sampled_from(["nan", "inf", "-inf", "1e9", "0x10", "1_000", "١٠", "  ", "s", "10s", "1024 65535", "-"]),
    st.integers(25, 6000).map(lambda n: "9" * n),  # longer than any range, some beyond int's 4,300 digits
    st.integers(4290, 4310).map(lambda n: "1" + "0" * n),
)
texts = st.one_of(st.lists(pieces, max_size=6).map("".join), st.text(max_size=40))


def _one_line_naming(exc: LabError, name: str) -> str:
    message = str(exc)
    assert message.splitlines() == [message] and message.strip() == message, repr(message)
    assert message.startswith(f"{name}=") and "Traceback" not in message
    return message


def _plain(raw: str, decimal: bool) -> bool:
    """An ASCII decimal numeral (with one fraction part where the range takes one), short enough to read."""
    whole_part, dot, fraction = raw.partition(".") if decimal else (raw, "", "")
    return (len(raw) <= bounds.MAX_CHARS and whole_part != "" and set(whole_part) <= set(ASCII_DIGITS)
            and (not dot or (fraction != "" and set(fraction) <= set(ASCII_DIGITS))))


@given(name=st.sampled_from(WHOLE + DECIMAL), text=texts)
@example(name="VUS", text="1" + "0" * 5000)          # issue 20: a ValueError traceback before
@example(name="WORKERS", text="²")
@example(name="VUS", text="\u3000\u2028500\x85")
@example(name="SAMPLE_INTERVAL", text="1." + "0" * 5000)
def test_number_is_in_range_or_one_line(name, text):
    r = bounds.RANGES[name]
    raw = text.strip()
    try:
        value = bounds.number(name, text)
    except LabError as exc:
        message = _one_line_naming(exc, name)
        low, high = (f"{int(x)}" if r.whole else f"{x:g}" for x in (r.low, r.high))
        assert f"from {low} to {high}" in message
        # refused only what is not a short plain numeral, or is one outside the range
        assert not _plain(raw, not r.whole) or not r.low <= float(raw) <= r.high
        return
    assert r.low <= value <= r.high and _plain(raw, not r.whole)
    assert value == (int(raw) if r.whole else float(raw)) and isinstance(value, int if r.whole else float)
    assert bounds.whole(name, text) == int(value)


@given(data=st.data(), name=st.sampled_from(WHOLE))
def test_every_whole_value_in_range_is_read_back_whatever_surrounds_it(data, name):
    r = bounds.RANGES[name]
    n = data.draw(st.integers(int(r.low), int(r.high)))
    zeros = data.draw(st.integers(0, bounds.MAX_CHARS - len(str(n))))
    pad = st.text(WHITESPACE, max_size=3)
    text = data.draw(pad) + "0" * zeros + str(n) + data.draw(pad)
    assert bounds.number(name, text) == n == bounds.whole(name, text)
    assert bounds.number(name, n) == n  # a number that is not text (a preset's field)


@given(data=st.data(), name=st.sampled_from(DECIMAL))
def test_every_decimal_value_in_range_is_read_back(data, name):
    r = bounds.RANGES[name]
    x = data.draw(st.floats(r.low, r.high))
    assert bounds.number(name, x) == x  # a preset's float, as YAML gives it
    assert bounds.number(name, f" {x!r}\t") == x


@given(name=st.sampled_from(WHOLE), n=st.integers(-10**30, 10**30))
def test_a_whole_number_outside_the_range_is_refused(name, n):
    r = bounds.RANGES[name]
    if r.low <= n <= r.high:
        assert bounds.number(name, str(n)) == n
    else:
        with pytest.raises(LabError) as exc:
            bounds.number(name, str(n))
        _one_line_naming(exc.value, name)


@given(name=st.sampled_from(PORT_RANGES), text=st.one_of(texts, st.lists(pieces, max_size=9).map(" ".join)))
@example(name="LOADGEN_PORT_RANGE", text="1" + "0" * 5000 + " 2")
@example(name="LOADGEN_PORT_RANGE", text="61000 60000")
@example(name="LOADGEN_PORT_RANGE", text="-1024 2000")
def test_port_range_is_an_ordered_pair_in_range_or_one_line(name, text):
    r = bounds.RANGES[name]
    try:
        low, high = bounds.port_range(name, text)
    except LabError as exc:
        assert "two ports 'low high'" in _one_line_naming(exc, name)
        return
    assert r.low <= low <= high <= r.high and isinstance(low, int) and isinstance(high, int)
    numerals = [p for p in text.replace("-", " ").split() if p]
    assert [int(p) for p in numerals] == [low, high] and all(set(p) <= set(ASCII_DIGITS) for p in numerals)


@given(data=st.data(), name=st.sampled_from(PORT_RANGES))
def test_every_ordered_pair_in_range_is_read_back(data, name):
    r = bounds.RANGES[name]
    low = data.draw(st.integers(int(r.low), int(r.high)))
    high = data.draw(st.integers(low, int(r.high)))
    sep = data.draw(st.sampled_from([" ", "-", " - ", "\t", "  ", "\u3000", "--"]))
    pad = data.draw(st.text(WHITESPACE, max_size=2))
    assert bounds.port_range(name, f"{pad}{low}{sep}{high}{pad}") == (low, high)
    if low < high:
        with pytest.raises(LabError, match="low <= high"):
            bounds.port_range(name, f"{high} {low}")


@given(name=st.sampled_from(DURATIONS), text=texts)
@example(name="FAULT_AT", text="9" * 5000 + "s")
@example(name="FAULT_AT", text="²s")
@example(name="FAULT_FOR", text="s")
def test_seconds_are_whole_in_range_or_one_line(name, text):
    r = bounds.RANGES[name]
    raw = text.strip()
    try:
        value = bounds.seconds(name, text)
    except LabError as exc:
        _one_line_naming(exc, name)
        return
    numeral = raw.removesuffix("s")
    assert isinstance(value, int) and r.low <= value <= r.high
    assert _plain(numeral, False) and int(numeral) == value


@given(data=st.data(), name=st.sampled_from(DURATIONS))
def test_every_duration_in_range_is_read_with_or_without_its_s(data, name):
    r = bounds.RANGES[name]
    n = data.draw(st.integers(int(r.low), int(r.high)))
    pad = data.draw(st.text(WHITESPACE, max_size=2))
    assert bounds.seconds(name, f"{pad}{n}{pad}") == n == bounds.seconds(name, f"{pad}{n}s{pad}")


# split_list: a part is anything without a comma or whitespace (str.isspace: re's \s)
parts = st.text(st.characters(blacklist_categories=("Cs",)).filter(lambda c: c != "," and not c.isspace()),
                min_size=1, max_size=8)
separators = st.text(" ,\t\n\u3000\xa0", min_size=1, max_size=3)


@given(items=st.lists(parts, max_size=6), data=st.data())
def test_split_list_gives_back_the_parts_whatever_separates_them(items, data):
    seps = [data.draw(separators) for _ in range(len(items) + 1)]
    lead, trail = data.draw(st.booleans()), data.draw(st.booleans())
    text = (seps[0] if lead else "") + "".join(
        item + (seps[i + 1] if i < len(items) - 1 or trail else "") for i, item in enumerate(items))
    assert bounds.split_list(text) == items


@given(text=st.text(max_size=40))
def test_split_list_parts_are_never_empty_and_hold_no_separator(text):
    got = bounds.split_list(text)
    assert all(part and "," not in part and not any(c.isspace() for c in part) for part in got)
    assert bounds.split_list(",".join(got)) == got == bounds.split_list(" ".join(got))
    assert "".join(got) == "".join(c for c in text if c != "," and not c.isspace())
