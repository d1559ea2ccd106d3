"""The validating kernel command line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.arch.x86.cmdline import DEFAULT_CMDLINE_MAX, Cmdline, CmdlineError
from ember.arch.x86.errors import BootError


def test_build_and_bytes():
    c = Cmdline(64)
    c.insert("console", "ttyS0")
    c.insert_str("  panic=-1 quiet ")
    assert str(c) == "console=ttyS0 panic=-1 quiet"
    assert c.to_bytes() == b"console=ttyS0 panic=-1 quiet\0"
    assert len(c) == len(str(c))
    assert Cmdline.parse(str(c)) == c


def test_capacity_is_exclusive_of_nul():
    assert len(Cmdline.parse("x" * 10, 10)) == 10
    with pytest.raises(CmdlineError, match="11 bytes, longer than the 10"):
        Cmdline.parse("x" * 11, 10)


def test_failed_insert_leaves_line_unchanged():
    c = Cmdline.parse("a=1", 8)
    with pytest.raises(CmdlineError):
        c.insert("bb", "22222")
    assert str(c) == "a=1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("root=/dev/vda\0evil", "NUL byte at position 13"),
        ("quiet\tx", "character '\\\\t'"),
        ("caf\u00e9", "printable ASCII"),
        ("line\nbreak", "printable ASCII"),
    ],
)
def test_bad_characters(text, message):
    with pytest.raises(CmdlineError, match=message):
        Cmdline.parse(text)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("", "x", "key is empty"),
        ("a b", "x", "spaces or '='"),
        ("a=b", "x", "spaces or '='"),
        ("k", "a b", "contains a space"),
    ],
)
def test_bad_key_values(key, value, message):
    with pytest.raises(CmdlineError, match=message):
        Cmdline().insert(key, value)


def test_errors_are_boot_errors_with_config_exit_code():
    assert issubclass(CmdlineError, BootError)
    assert CmdlineError.exit_code == 2
    with pytest.raises(CmdlineError):
        Cmdline(0)
    with pytest.raises(CmdlineError, match="empty"):
        Cmdline().insert_str("   ")


def test_default_capacity_matches_x86():
    assert Cmdline().capacity == DEFAULT_CMDLINE_MAX == 2047


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(1, 256))
def test_parse_property(text, capacity):
    try:
        c = Cmdline.parse(text, capacity)
    except CmdlineError:
        stripped = text.strip()
        assert any(not 0x20 <= ord(ch) < 0x7F for ch in text) or len(stripped) > capacity
        return
    raw = c.to_bytes()
    assert raw.endswith(b"\0") and b"\0" not in raw[:-1]
    assert len(c) <= capacity
    assert all(0x20 <= b < 0x7F for b in raw[:-1])
    assert str(c) == text.strip()
