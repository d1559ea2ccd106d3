"""Errors of the x86 boot layer.

::

    EmberError
     +-- BootError          a kernel image, command line or layout the boot protocol rejects
          +-- CmdlineError  a kernel command line that is malformed or too long
"""

from __future__ import annotations

from ember.errors import EmberError


class BootError(EmberError):
    """The kernel image or the boot layout cannot be used; the message says why."""


class CmdlineError(BootError):
    """The kernel command line is not valid: a bad character, or longer than the kernel allows.

    This is the user's input (``--cmdline``), so it exits like a ConfigError.
    """

    exit_code = 2
