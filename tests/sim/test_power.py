from __future__ import annotations

import numpy as np
import pytest

from ember.cluster.power import HP_ML110_G4, HP_ML110_G5, PowerModel, power_of, table_array


def test_table_points_and_interpolation() -> None:
    assert HP_ML110_G4.power(0) == 86 and HP_ML110_G4.power(1) == 117
    assert HP_ML110_G5.power(0.5) == pytest.approx(116)
    assert HP_ML110_G4.power(0.05) == pytest.approx(87.7)  # halfway 86 .. 89.4
    assert HP_ML110_G5.power(0.93) == pytest.approx(133 + 0.3 * 2)


def test_vectorised_matches_scalar_and_clips() -> None:
    t = table_array([HP_ML110_G4, HP_ML110_G5])
    u = np.linspace(-0.1, 1.1, 97)
    kind = np.arange(97) % 2
    vec = power_of(t, kind, u)
    ref = [(HP_ML110_G4, HP_ML110_G5)[k].power(float(x)) for k, x in zip(kind, u)]
    assert vec == pytest.approx(ref)
    assert vec[0] == 86 and vec[-1] == (117, 135)[kind[-1]]


def test_power_model_rejects_bad_tables() -> None:
    with pytest.raises(ValueError):
        PowerModel("short", (1, 2, 3))
    with pytest.raises(ValueError):
        PowerModel("falling", (10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
