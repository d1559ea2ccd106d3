"""How a host shares its CPU among its VMs (time-shared, over-subscribable).

Each VM asks for its requested MIPS capped at one core. If the asks fit the
host, each gets its ask; otherwise every ask is scaled by host MIPS / total
asks. CloudSim's scheduler also floors each scaled share to a whole MIPS; the
``floor`` flag reproduces that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def share_scale(ask_total: np.ndarray, host_mips: np.ndarray) -> np.ndarray:
    """Factor each ask is multiplied by: 1 where the asks fit, else capacity / asks."""
    import numpy as np

    over = ask_total > host_mips
    return np.where(over, host_mips / np.where(over, ask_total, 1.0), 1.0)


def floor_shares(values: np.ndarray, oversubscribed: np.ndarray, floor: bool) -> np.ndarray:
    """CloudSim floors the shares of an oversubscribed host to whole MIPS; exact otherwise."""
    import numpy as np

    if not floor:
        return values
    return np.where(oversubscribed, np.floor(values), values)
