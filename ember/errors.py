"""The root of ember's exception tree.

Every error ember raises on purpose derives from :class:`EmberError`, so the CLI
can print it as one line and exit non-zero without a traceback. Each package
defines its own subclasses next to the code that raises them::

    EmberError
     +-- ConfigError            bad user input (sizes, paths, names, options)
     +-- ember.kvm.KvmError     the kernel's KVM interface refused or is missing
     +-- ember.memory.GuestMemoryError   a guest address or length out of bounds
     +-- ember.arch.x86.BootError        a kernel image the boot protocol rejects
     +-- ember.vmm.VmError               the VM could not be built or run
     +-- ember.images.ImageError         a guest image could not be fetched or built
     +-- ember.isa.riscv.IsaError        RISC-V loader/emulator errors
     +-- ember.sim.SimError              malformed traces, unknown policies

A message says what was wrong and what to do about it.
"""

from __future__ import annotations


class EmberError(Exception):
    """Base of every error ember raises deliberately."""

    #: Process exit status the CLI uses for this kind of error.
    exit_code: int = 1


class ConfigError(EmberError):
    """The user asked for something invalid: a size, a path, a name, an option."""

    exit_code = 2
