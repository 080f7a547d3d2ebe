"""Integer apportionment shared by the seed builders."""
from __future__ import annotations

import numpy as np


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total`` (Hamilton's method).

    Ties in the remainders go to the earlier row, so the result is deterministic.
    """
    weights = np.asarray(weights, dtype=float)
    exact = weights / weights.sum() * total
    base = np.floor(exact).astype(np.int64)
    short = int(total - base.sum())
    order = np.lexsort((np.arange(len(exact)), -(exact - base)))
    base[order[:short]] += 1
    return base
