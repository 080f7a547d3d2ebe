"""The reported station loads: each cell's solved traffic shared by the stations reaching it, within capacity."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.model_5g import shared_flows


def test_cells_share_by_capacity_when_it_fits():
    # cell 0 (12 Mbit/s) reaches a macro (cap 30) and a small cell (cap 10); the solver put it all on the small one
    cell, site = np.array([0, 0]), np.array([0, 1])
    out = shared_flows(cell, site, np.array([2.0, 10.0]), np.array([30.0, 10.0]))
    assert out.tolist() == pytest.approx([9.0, 3.0])


def test_an_overloaded_share_is_moved_as_little_as_possible():
    # cell 0 (10) reaches s0 and s1 (cap 10 each); cell 1 (9) reaches only s1: a half share would load s1 with 14
    out = shared_flows(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([10.0, 0.0, 9.0]), np.array([10.0, 10.0]))
    assert out.tolist() == pytest.approx([9.0, 1.0, 9.0])


@st.composite
def solved_flows(draw):
    n_cells, n_sites = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    pairs = sorted({(draw(st.integers(0, n_cells - 1)), draw(st.integers(0, n_sites - 1)))
                    for _ in range(draw(st.integers(1, 15)))})
    cell, site = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    flow = np.array([draw(st.floats(0, 50)) for _ in pairs])
    # capacities at least the solved load (the program's station_capacity rows), some with slack
    load = np.bincount(site, weights=flow, minlength=n_sites)
    cap = load + np.array([draw(st.sampled_from([0.0, 1.0, 20.0, 100.0])) for _ in range(n_sites)])
    return cell, site, flow, cap


@settings(max_examples=80, deadline=None)
@given(solved_flows())
def test_shared_flows_keep_every_cell_total_and_every_site_capacity(inst):
    cell, site, flow, cap = inst
    out = shared_flows(cell, site, flow, cap)
    assert (out >= -1e-9).all()
    assert np.bincount(cell, weights=out) == pytest.approx(np.bincount(cell, weights=flow), abs=1e-6)
    assert (np.bincount(site, weights=out, minlength=len(cap)) <= cap + 1e-6).all()
