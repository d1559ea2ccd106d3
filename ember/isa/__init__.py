"""ISA-level virtualization: running programs of one instruction set on another.

``ember.isa.riscv`` runs static RV64GC Linux executables in user mode, by
interpretation or by dynamic binary translation to Python.
"""
