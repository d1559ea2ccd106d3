"""The command line reaches the guest intact (QEMU's -append, PVH cmdline_paddr).

hypothesis picks the arguments after `hello` and the status of `exit`; the
guest must echo the line exactly and return exactly the status asked for.
"""

from __future__ import annotations

import pytest
from guest_harness import Scenario, qemu_available, run_qemu
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.qemu, pytest.mark.kvm]

CMDLINE_MAX = 255  # guest/x86/platform.h CMDLINE_MAX - 1
GREETING = "hello from ember test guest: "


@pytest.fixture(scope="module", autouse=True)
def _need_qemu() -> None:
    reason = qemu_available()
    if reason:
        pytest.skip(reason)


tails = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40).map(
    lambda t: t.replace("'", ""))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(tails, max_size=6))
def test_hello_echoes_the_command_line(words: list[str]) -> None:
    cmdline = " ".join(["hello", *words])[:CMDLINE_MAX]
    run = run_qemu(Scenario(name="cmdline", cmdline=cmdline, status=0, timeout=20))
    assert run.status == 0, run.output
    (line,) = [line for line in run.lines if line.startswith(GREETING)]
    assert line.endswith(f", cmdline '{cmdline}'"), line


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.integers(0, 255))
def test_exit_status_round_trips(status: int) -> None:
    run = run_qemu(Scenario(name="exit", cmdline=f"exit {status}", status=status, timeout=20))
    # A process exit status has 8 bits, so QEMU's (status << 1) | 1 loses bit 7.
    assert run.returncode == ((status << 1) | 1) & 0xFF, run.output


def test_longest_command_line_is_kept_whole() -> None:
    cmdline = ("hello " + "x" * CMDLINE_MAX)[:CMDLINE_MAX]
    run = run_qemu(Scenario(name="long", cmdline=cmdline, status=0, timeout=20))
    assert any(line.endswith(f"cmdline '{cmdline}'") for line in run.lines), run.output
