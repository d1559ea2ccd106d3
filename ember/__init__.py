"""ember: a virtualization platform written in Python.

The package tree is the architecture (see docs/architecture.md): ``kvm`` wraps
the kernel interface, ``memory`` owns guest memory, ``arch.x86`` knows the boot
protocols, ``devices`` emulate hardware, ``vmm`` builds and runs a VM, and the
other levels of virtualization live in ``isa`` (RISC-V user mode), ``cluster``
and ``sim`` (data-center policies and simulator).
"""

__version__ = "0.1.0"
