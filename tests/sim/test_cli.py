"""``ember sim`` from the command line: tables, JSON, plots and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ember.cli import main


def trace_dir(tmp_path: Path, vms: int = 12, samples: int = 8, name: str = "day") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for i in range(vms):
        values = [(i * 7 + k * 13) % 60 for k in range(samples)]
        (folder / f"vm{i:02d}").write_text("\n".join(map(str, values)) + "\n")
    return folder


def test_run_json_has_the_documented_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = trace_dir(tmp_path)
    rc = main(["sim", "run", "--trace", str(folder), "--samples", "8", "--hosts", "10", "--json",
               "--policy", "iqr-mu-1.5", "--model", "cloudsim"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("energy_kwh", "migrations", "slatah", "pdm", "slav", "esv", "hosts", "vms"):
        assert key in out
    assert out["hosts"] == 10 and out["vms"] == 12 and out["model"] == "cloudsim" and out["policy"] == "iqr-mu-1.5"
    assert 0 <= out["slatah"] <= 1 and out["slav"] == pytest.approx(out["slatah"] * out["pdm"])


def test_run_table_names_mode_and_fixes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = trace_dir(tmp_path)
    assert main(["sim", "run", "--trace", str(folder), "--samples", "8", "--hosts", "10"]) == 0
    out = capsys.readouterr().out
    assert "model ember" in out and "seed 0" in out and "vms-stay" in out and "energy kWh" in out


def test_compare_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = trace_dir(tmp_path)
    png = tmp_path / "out.png"
    rc = main(["sim", "compare", "--trace", str(folder), "--samples", "8", "--hosts", "10", "--jobs", "2",
               "--policies", "npa,dvfs,thr-mmt-0.8,lr-rs-1.2", "--json", "--plot", str(png)])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["policy"] for r in rows] == ["npa", "dvfs", "thr-mmt-0.8", "lr-rs-1.2"]
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--policy", "thr-xyz-0.8"], "unknown VM selector 'xyz'"),
        (["--policy", "thr-mmt-1.5"], "threshold 1.5"),
        (["--policy", "bogus"], "is not <detector>-<selector>-<parameter>"),
        (["--samples", "9"], "has 8 values, needs 9"),
        (["--hosts", "1"], "do not fit on 1 hosts"),
        (["--seed", "-3"], "--seed must be 0 or more"),
        (["--interval", "0"], "--interval must be positive"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                               message: str) -> None:
    folder = trace_dir(tmp_path)
    rc = main(["sim", "run", "--trace", str(folder), "--samples", "8", *argv])
    err = capsys.readouterr().err
    assert rc != 0
    assert err.startswith("ember: error: ") and message in err and err.count("\n") == 1


def test_malformed_trace_and_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = trace_dir(tmp_path)
    (folder / "vm05").write_text("1\n2\nthree\n")
    assert main(["sim", "compare", "--trace", str(folder), "--samples", "3"]) == 2
    assert "vm05, line 3: 'three' is not an integer" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["sim", "run", "--trace", str(empty)]) == 2
    assert "holds no files" in capsys.readouterr().err


def test_compare_sweeps_a_folder_of_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    days = tmp_path / "days"
    days.mkdir()
    for name in ("d2", "d1"):
        trace_dir(days, name=name)
    rc = main(["sim", "compare", "--trace", str(days), "--samples", "8", "--hosts", "10", "--jobs", "1",
               "--policies", "dvfs,thr-mu-0.8"])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split()[:2] for line in lines if line.startswith(("d1", "d2"))]
    assert rows == [["d1", "dvfs"], ["d1", "thr-mu-0.8"], ["d2", "dvfs"], ["d2", "thr-mu-0.8"]]
