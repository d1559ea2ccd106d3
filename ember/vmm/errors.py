"""Errors of building and running a VM."""

from __future__ import annotations

from ember.errors import EmberError


class VmError(EmberError):
    """The VM could not be built or run."""


class GuestCrashed(VmError):
    """KVM could not run the guest any further (internal error, failed entry...).

    The message's first line names the exit; the rest is the report the user
    needs: registers, the code bytes at rip, and the exit statistics.
    """

    exit_code = 3

    def __init__(self, summary: str, report: str) -> None:
        self.summary, self.report = summary, report
        super().__init__(f"{summary}\n{report}" if report else summary)
