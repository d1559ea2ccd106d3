"""Architecture-specific parts of ember: how a guest is booted on each ISA."""
