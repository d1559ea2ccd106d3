"""Shared fixtures and marker handling for ember's tests.

Markers (declared in pyproject.toml): ``kvm`` tests are skipped with the reason
when /dev/kvm cannot be opened, ``hwkvm`` tests when KVM is not hardware
assisted (this project's development machines run a software KVM), and ``slow``
tests carry their own explicit timeouts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def _kvm_unavailable_reason() -> str | None:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"/dev/kvm cannot be opened ({exc.strerror})"
    os.close(fd)
    return None


def _hardware_kvm_reason() -> str | None:
    """Why KVM here is not hardware assisted, or None when it is."""
    from ember.kvm.system import kvm_flavour

    flavour = kvm_flavour()
    if flavour.hardware:
        return None
    return f"KVM on this host is {flavour.description}; this test needs VT-x/AMD-V"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_kvm = _kvm_unavailable_reason()
    hw_reason: str | None = None
    hw_checked = False
    for item in items:
        if no_kvm and ("kvm" in item.keywords or "hwkvm" in item.keywords):
            item.add_marker(pytest.mark.skip(reason=no_kvm))
            continue
        if "hwkvm" in item.keywords:
            if not hw_checked:
                hw_reason, hw_checked = _hardware_kvm_reason(), True
            if hw_reason:
                item.add_marker(pytest.mark.skip(reason=hw_reason))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the project (traces etc.); skips when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared project material is not beside this checkout")
    return SHARED
