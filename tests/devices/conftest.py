"""Fixtures shared by the device tests."""

from __future__ import annotations

import pytest
from device_fakes import RecordingIrq, Sink


@pytest.fixture
def irq() -> RecordingIrq:
    return RecordingIrq()


@pytest.fixture
def sink() -> Sink:
    return Sink()
