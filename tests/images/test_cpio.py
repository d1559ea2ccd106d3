"""The newc cpio writer and reader, checked against GNU cpio."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.images import ImageError
from ember.images.cpio import HEADER_SIZE, CpioWriter, read_newc


def _sample() -> CpioWriter:
    w = CpioWriter()
    w.add_file("init", b"#!/bin/sh\necho hi\n", mode=0o755)
    w.add_file("a/b/c.txt", b"x" * 5)  # parents come first, automatically
    w.add_symlink("bin/sh", "busybox")
    w.add_chardev("dev/console", 5, 1)
    w.add_file("empty", b"")
    return w


def test_roundtrip_and_layout():
    data = _sample().to_bytes()
    assert len(data) % 4 == 0
    entries = read_newc(data)
    names = [e.name for e in entries]
    assert names == [
        "init",
        "a",
        "a/b",
        "a/b/c.txt",
        "bin",
        "bin/sh",
        "dev",
        "dev/console",
        "empty",
    ]
    by = {e.name: e for e in entries}
    assert by["init"].data == b"#!/bin/sh\necho hi\n" and by["init"].mode == stat.S_IFREG | 0o755
    assert by["a"].is_dir and by["bin/sh"].link_target == "busybox"
    assert stat.S_ISCHR(by["dev/console"].mode)
    assert (by["dev/console"].rdevmajor, by["dev/console"].rdevminor) == (5, 1)
    # The trailer: a header, "TRAILER!!!\0" (11 bytes) padded so 110 + 11 -> 124.
    trailer = data[-124:]
    assert trailer[:6] == b"070701" and trailer[HEADER_SIZE : HEADER_SIZE + 11] == b"TRAILER!!!\0"


def test_deterministic():
    assert _sample().to_bytes() == _sample().to_bytes()


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio is not installed (make setup)")
def test_gnu_cpio_reads_it(tmp_path):
    data = _sample().to_bytes()
    listing = subprocess.run(
        ["cpio", "-itv", "--quiet"], input=data, capture_output=True, check=True
    ).stdout.decode()
    lines = {
        line.split()[-1] if "->" not in line else line.split()[-3]: line
        for line in listing.splitlines()
    }
    assert set(lines) == {
        "init",
        "a",
        "a/b",
        "a/b/c.txt",
        "bin",
        "bin/sh",
        "dev",
        "dev/console",
        "empty",
    }
    assert lines["dev/console"].startswith("crw") and "5,   1" in lines["dev/console"]
    assert "bin/sh -> busybox" in lines["bin/sh"]
    # Extract and compare file contents.
    subprocess.run(["cpio", "-id", "--quiet"], input=data, cwd=tmp_path, check=True)
    assert (tmp_path / "a/b/c.txt").read_bytes() == b"xxxxx"
    assert (tmp_path / "init").stat().st_mode & 0o777 == 0o755


def test_bad_names_and_duplicates():
    w = CpioWriter()
    for bad in ("/abs", "../up", "a/../../b", "", "nul\0"):
        with pytest.raises(ImageError, match="bad cpio member name"):
            w.add_file(bad, b"")
    w.add_file("f", b"1")
    with pytest.raises(ImageError, match="added twice"):
        w.add_file("f", b"2")
    w.add_dir("d")
    w.add_dir("d")  # directories may be repeated


_names = st.lists(
    st.text(alphabet="abcxyz019_.-", min_size=1, max_size=8).filter(lambda s: s not in (".", "..")),
    min_size=1,
    max_size=3,
).map("/".join)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_names, st.binary(max_size=300), max_size=12))
def test_roundtrip_property(files):
    w = CpioWriter()
    added = {}
    for name, data in files.items():
        try:
            w.add_file(name, data)
        except ImageError:
            continue  # a name clashing with an implied parent directory
        added[name] = data
    got = {e.name: e.data for e in read_newc(w.to_bytes()) if not e.is_dir}
    assert got == added


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 2000))
def test_reader_on_garbage_and_truncation(garbage, cut):
    for data in (garbage, b"070701" + garbage, _sample().to_bytes()[:cut]):
        try:
            read_newc(data)
        except ImageError as exc:
            assert str(exc)
