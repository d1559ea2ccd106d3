"""Errors of emulated devices.

::

    EmberError
     +-- DeviceError              a device refused an access or a saved state
          +-- DeviceAccessError   an I/O access outside the device or of a bad size/value
          +-- DeviceStateError    a saved state that is inconsistent or out of range

A guest can never cause one of these through its own port accesses: the VMM's
bus only forwards accesses inside a device's range, with sizes 1, 2 or 4. They
signal a bug in the caller or a corrupt snapshot, so messages name the device,
the field and the allowed range.
"""

from __future__ import annotations

from ember.errors import EmberError


class DeviceError(EmberError):
    """Base of every error raised by ember's emulated devices."""


class DeviceAccessError(DeviceError):
    """A port access the device cannot decode: offset, size or value out of range."""


class DeviceStateError(DeviceError):
    """A saved device state was rejected on restore."""
