"""Trace folders: good ones load in sorted order, bad ones give one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.sim.errors import TraceError
from ember.sim.trace import load_trace, parse_values


def write(folder: Path, name: str, lines: list[str]) -> None:
    (folder / name).write_text("\n".join(lines) + "\n")


def test_loads_files_in_bytewise_order(tmp_path: Path) -> None:
    write(tmp_path, "b", ["1", "2", "3"])
    write(tmp_path, "B", ["4", "5", "6"])  # 'B' < 'a' < 'b' bytewise
    write(tmp_path, "a", ["7", "8", "9", "10"])
    t = load_trace(tmp_path, samples=3, interval_s=60)
    assert t.files == ("B", "a", "b")
    assert t.utilization.tolist() == [[0.04, 0.05, 0.06], [0.07, 0.08, 0.09], [0.01, 0.02, 0.03]]
    assert t.interval_s == 60


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["1", "x", "3"], "line 2: 'x' is not an integer"),
        (["1", "", "3"], "line 2: missing value"),
        (["1", "2.5", "3"], "line 2: '2.5' is not an integer"),
        (["1", "101", "3"], "line 2: 101 is outside 0-100"),
        (["1", "-1", "3"], "line 2: -1 is outside 0-100"),
        (["1", "2"], "has 2 values, needs 3"),
    ],
)
def test_bad_file_names_file_and_line(tmp_path: Path, lines: list[str], message: str) -> None:
    write(tmp_path, "good", ["1", "2", "3"])
    write(tmp_path, "vm7", lines)
    with pytest.raises(TraceError, match=message) as err:
        load_trace(tmp_path, samples=3)
    assert "vm7" in str(err.value)


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="holds no files"):
        load_trace(tmp_path)
    with pytest.raises(TraceError, match="does not exist"):
        load_trace(tmp_path / "nope")


def test_binary_file(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(TraceError, match="not a text file"):
        load_trace(tmp_path, samples=2)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_untrusted_text_either_parses_or_raises_trace_error(text: str) -> None:
    try:
        values = parse_values(text, "f", 3)
    except TraceError as exc:
        assert str(exc).startswith("f")
    else:
        assert len(values) == 3 and all(0 <= v <= 100 for v in values)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 100), min_size=3, max_size=20))
def test_integer_lines_round_trip(values: list[int]) -> None:
    text = "\n".join(map(str, values))
    assert parse_values(text, "f", 3) == values[:3]
    assert np.array(parse_values(text, "f", len(values))).tolist() == values
