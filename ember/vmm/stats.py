"""Exit accounting: counts by exit reason and by port/MMIO address, per vCPU, merged on demand."""

from __future__ import annotations

from collections import Counter

from ember.kvm.caps import ExitReason


class ExitStats:
    """Exit counts of one vCPU (updated only by its thread) or merged over all of them."""

    __slots__ = (
        "device_errors",
        "mmio_read",
        "mmio_write",
        "pio_in",
        "pio_out",
        "reasons",
        "unhandled_mmio",
        "unhandled_pio",
    )

    def __init__(self) -> None:
        self.reasons: Counter[int] = Counter()
        self.pio_out: Counter[int] = Counter()
        self.pio_in: Counter[int] = Counter()
        self.mmio_read: Counter[int] = Counter()
        self.mmio_write: Counter[int] = Counter()
        self.unhandled_pio: Counter[int] = Counter()
        self.unhandled_mmio: Counter[int] = Counter()
        self.device_errors = 0

    def merge(self, other: ExitStats) -> None:
        for name in ("reasons", "pio_out", "pio_in", "mmio_read", "mmio_write", "unhandled_pio", "unhandled_mmio"):
            getattr(self, name).update(getattr(other, name))
        self.device_errors += other.device_errors

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_reason": {ExitReason.name_of(k): v for k, v in self.reasons.most_common()},
            "pio_out": {f"{k:#x}": v for k, v in self.pio_out.most_common()},
            "pio_in": {f"{k:#x}": v for k, v in self.pio_in.most_common()},
            "mmio_read": {f"{k:#x}": v for k, v in self.mmio_read.most_common()},
            "mmio_write": {f"{k:#x}": v for k, v in self.mmio_write.most_common()},
            "unhandled_pio": {f"{k:#x}": v for k, v in self.unhandled_pio.most_common()},
            "unhandled_mmio": {f"{k:#x}": v for k, v in self.unhandled_mmio.most_common()},
            "device_errors": self.device_errors,
        }

    def format(self, port_names: dict[int, str] | None = None, top: int = 8) -> str:
        names = port_names or {}
        lines = [f"exits: {self.total}"]
        for k, v in self.reasons.most_common():
            lines.append(f"  {ExitReason.name_of(k):<16} {v:>10}")
        for title, counter, fmt in (
            ("port writes", self.pio_out, "port {:#06x}"),
            ("port reads", self.pio_in, "port {:#06x}"),
            ("mmio writes", self.mmio_write, "addr {:#x}"),
            ("mmio reads", self.mmio_read, "addr {:#x}"),
        ):
            if counter:
                lines.append(f"{title}:")
                for k, v in counter.most_common(top):
                    label = fmt.format(k)
                    extra = f" ({names[k]})" if k in names else ""
                    lines.append(f"  {label}{extra:<12} {v:>10}")
        unhandled = sum(self.unhandled_pio.values()) + sum(self.unhandled_mmio.values())
        if unhandled:
            lines.append(f"unhandled accesses (ignored): {unhandled}")
        return "\n".join(lines)
