"""ember's own test guest: where its ELF is and which scenarios it runs.

The guest (``guest/``, C and a little assembly) is built by ``make setup`` into
``guest/build/ember-test.elf``; ``EMBER_TEST_GUEST`` points elsewhere.
"""

from __future__ import annotations

import os

from ember.errors import ConfigError

#: Scenario name → what it does (the guest's own list; see docs/guest.md).
SCENARIOS: dict[str, str] = {
    "hello": "print a greeting with the CPU count, memory size and command line",
    "smp": "start every vCPU (INIT-SIPI-SIPI); each reports in",
    "memtouch": "memtouch N: dirty N MiB of guest memory from ring 3 and verify it",
    "pio": "pio N: N port writes to port 0x80 from ring 3, timed with the guest clock",
    "hypercall": "make KVM hypercalls (vmcall) from ring 0 and report the results",
    "tick": "tick [N]: print 'tick <n> <guest ns>' every 10 ms (N times, or until stopped)",
    "exit": "exit N: exit with status N",
    "triplefault": "triple-fault the CPU (the VMM sees a shutdown)",
    "reset": "reset through the i8042 keyboard controller",
    "rtc": "read the CMOS real-time clock",
    "echo": "echo UART input back using the receive interrupt; 'q' ends",
    "irqlevel": "irqlevel [N]: N rounds of a level-triggered IOAPIC interrupt and its EOI",
    "mmio": "access an unassigned MMIO address",
    "ud": "execute ud2 in ring 3; the guest's #UD handler reports it",
}
ELF_NAME = "ember-test.elf"


def test_guest_path() -> str:
    env = os.environ.get("EMBER_TEST_GUEST")
    if env:
        p = env
    else:
        root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
        p = os.path.join(root, "guest", "build", ELF_NAME)
    if not os.path.isfile(p):
        raise ConfigError(f"the test guest is not built ({p} is missing): run `make setup`")
    return p


def parse_guest_spec(spec: str) -> tuple[str, str]:
    """'test:<scenario>[ args]' or 'test:<scenario>:<arg>...' → (ELF, command line)."""
    kind, sep, rest = spec.partition(":")
    if kind != "test" or not sep:
        raise ConfigError(f"--guest {spec!r}: write test:<scenario>, e.g. test:hello")
    words = rest.replace(":", " ").split()
    if not words:
        raise ConfigError(f"--guest {spec!r}: name a scenario: {', '.join(SCENARIOS)}")
    if words[0] not in SCENARIOS:
        raise ConfigError(f"unknown test-guest scenario {words[0]!r}; choose from {', '.join(SCENARIOS)}")
    return test_guest_path(), " ".join(words)
