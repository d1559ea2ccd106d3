"""Every scenario of guest/unittests.cfg, booted under QEMU (the peer VMM).

The same ELF is what ember boots; these tests pin down what a correct VMM
makes the guest print and return, so a difference under ember is ember's bug.
"""

from __future__ import annotations

import pytest
from guest_harness import VM_STOP_STATUSES, load_scenarios, missing_lines, qemu_available, run_qemu

SCENARIOS = load_scenarios()

pytestmark = [pytest.mark.qemu, pytest.mark.kvm]


@pytest.fixture(scope="module", autouse=True)
def _need_qemu() -> None:
    reason = qemu_available()
    if reason:
        pytest.skip(reason)


def _param(s):
    marks = [getattr(pytest.mark, need) for need in s.needs]
    return pytest.param(s, id=s.name, marks=marks)


@pytest.mark.parametrize("scenario", [_param(s) for s in SCENARIOS])
def test_scenario_under_qemu(scenario) -> None:
    run = run_qemu(scenario)
    assert not run.timed_out, f"no exit within {scenario.timeout}s; output:\n{run.output}"
    if scenario.status in VM_STOP_STATUSES:
        # -no-reboot turns a triple fault or a reset into QEMU exiting 0.
        assert run.returncode == 0, f"QEMU exit {run.returncode}; output:\n{run.output}"
    else:
        assert run.status == scenario.status, (
            f"status {run.status} (QEMU exit {run.returncode}), expected {scenario.status};"
            f" output:\n{run.output}")
    missing = missing_lines(run, scenario.expect)
    assert not missing, f"lines not found: {missing}; output:\n{run.output}"
