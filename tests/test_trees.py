"""Feeder trees: the Delaunay EMST against brute force, and its bounds against the star."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.errors import InputError, ScenarioError
from gis.trees import feeder_forest, feeder_tree


def prim_length(pts: np.ndarray) -> float:
    """Brute-force Prim over all pairs: the EMST length."""
    n = len(pts)
    in_tree = np.zeros(n, dtype=bool)
    in_tree[0] = True
    best = np.hypot(*(pts - pts[0]).T)
    total = 0.0
    for _ in range(n - 1):
        k = int(np.argmin(np.where(in_tree, np.inf, best)))
        total += best[k]
        in_tree[k] = True
        best = np.minimum(best, np.hypot(*(pts - pts[k]).T))
    return total


def assert_is_tree(tree, pts: np.ndarray, route_factor: float):
    """A spanning tree rooted at tree.root whose lengths agree with the coordinates."""
    n = len(pts)
    parent = tree.parent
    assert parent[tree.root] == -1 and (parent >= 0).sum() == n - 1
    straight = np.hypot(*(pts - pts[tree.root]).T) * route_factor
    assert np.all(tree.path_m >= straight - 1e-6)          # never shorter than the straight line
    assert np.all(tree.path_m <= tree.total_m + 1e-6)      # never longer than the whole tree
    assert tree.total_m <= tree.star_m + 1e-6              # never longer than the star
    assert tree.star_m == pytest.approx(straight.sum())
    child = np.flatnonzero(parent >= 0)
    np.testing.assert_allclose(tree.path_m[child], tree.path_m[parent[child]] + tree.edge_m[child], atol=1e-6)
    np.testing.assert_allclose(tree.edge_m[child], np.hypot(*(pts[child] - pts[parent[child]]).T) * route_factor)
    edges = tree.edges()
    assert len(edges) == n - 1
    seen = {tree.root}
    for p, c in zip(edges["parent"], edges["child"], strict=True):     # every parent is reached before its children
        assert p in seen
        seen.add(c)
    assert seen == set(range(n))


coords_int = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=40)
coords_float = st.lists(st.tuples(st.floats(-5e4, 5e4), st.floats(-5e4, 5e4)), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(points=st.one_of(coords_int, coords_float), data=st.data(), rf=st.floats(1.0, 2.0))
def test_tree_matches_brute_force_prim(points, data, rf):
    pts = np.array(points, dtype=float)
    root = data.draw(st.integers(0, len(pts) - 1))
    tree = feeder_tree(pts, root=root, route_factor=rf)
    assert tree.total_m == pytest.approx(prim_length(pts) * rf, rel=1e-9, abs=1e-6)
    assert_is_tree(tree, pts, rf)


def test_larger_instance_matches_brute_force():
    rng = np.random.default_rng(7)
    pts = np.vstack([rng.normal(0, 2_000, (900, 2)), rng.uniform(-20_000, 20_000, (600, 2))])
    tree = feeder_tree(pts, route_factor=1.4)
    assert tree.total_m == pytest.approx(prim_length(pts) * 1.4, rel=1e-12)
    assert_is_tree(tree, pts, 1.4)
    assert tree.total_m < 0.2 * tree.star_m


def test_collinear_and_duplicate_points():
    rng = np.random.default_rng(3)
    t = rng.permutation(np.r_[np.arange(30.0), 4.0, 4.0])       # 30 points on a line, two twins
    pts = np.column_stack([100 + 3 * t, 50 - 4 * t])              # slope -4/3: step 5 m
    tree = feeder_tree(pts, root=int(np.argmax(t == 10)), route_factor=1.5)
    assert tree.total_m == pytest.approx(29 * 5 * 1.5)
    assert_is_tree(tree, pts, 1.5)
    same = feeder_tree(np.zeros((5, 2)))
    assert same.total_m == 0 and np.all(same.path_m == 0) and (same.parent >= 0).sum() == 4


@pytest.mark.parametrize("pts, total", [
    ([[0, 0]], 0.0), ([[0, 0], [3, 4]], 5.0), ([[0, 0], [3, 4], [6, 8]], 10.0), ([[0, 0], [1, 0], [0, 1]], 2.0)])
def test_fewer_than_four_points(pts, total):
    tree = feeder_tree(pts)
    assert tree.total_m == pytest.approx(total)
    assert_is_tree(tree, np.array(pts, dtype=float), 1.0)


def test_square_lattice_ties():
    # cocircular points everywhere: any EMST has (n - 1) unit edges
    g = np.stack(np.meshgrid(np.arange(15.0), np.arange(15.0)), -1).reshape(-1, 2) * 100
    tree = feeder_tree(g, root=112)
    assert tree.total_m == pytest.approx(224 * 100)
    assert_is_tree(tree, g, 1.0)


def test_equilateral_triangle_steiner_ratio():
    # MST = 2 sides; the Steiner tree through the centre is sqrt(3): the ratio 2/sqrt(3) of Gilbert-Pollak
    pts = np.array([[0, 0], [1, 0], [0.5, math.sqrt(3) / 2]]) * 1000
    assert feeder_tree(pts).total_m / (math.sqrt(3) * 1000) == pytest.approx(2 / math.sqrt(3))


def test_paths_along_a_ring_are_much_longer_than_straight():
    # root at the centre of a ring of cabinets: the tree is one spoke and the ring, so the far
    # cabinets sit nearly half the ring away; the budget must use path_m, not the radius
    ang = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    pts = np.vstack([[0, 0], np.column_stack([np.cos(ang), np.sin(ang)]) * 1000])
    tree = feeder_tree(pts)
    assert tree.path_m.max() > 2.5 * 1000
    assert tree.total_m < tree.star_m


def test_forest_is_one_tree_per_olt():
    rng = np.random.default_rng(11)
    olts = rng.uniform(0, 10_000, (5, 2))
    nodes = rng.uniform(0, 10_000, (80, 2))
    olt_of = rng.integers(0, 4, 80)          # OLT 4 feeds nothing
    nodes[0] = olts[olt_of[0]]               # a cabinet in the OLT's own building
    forest = feeder_forest(nodes, olt_of, olts, route_factor=1.4)
    for o in range(5):
        idx = np.flatnonzero(olt_of == o)
        tree = feeder_tree(np.vstack([olts[o], nodes[idx]]), route_factor=1.4)
        assert forest.total_m[o] == pytest.approx(tree.total_m)
        assert forest.star_m[o] == pytest.approx(tree.star_m)
        np.testing.assert_allclose(forest.path_m[idx], tree.path_m[1:])
        e = forest.edges[forest.edges["olt"] == o]
        assert len(e) == len(idx) and set(e["child"]) == set(idx)
        assert set(e["parent"]) <= set(idx) | {-1}
    assert forest.total_m[4] == 0 and forest.path_m[0] == 0
    assert forest.edges["length_m"].sum() == pytest.approx(forest.total_m.sum())
    assert forest.total_m.sum() < forest.star_m.sum()


def test_bad_input():
    with pytest.raises(ScenarioError, match="route_factor"):
        feeder_tree([[0, 0], [1, 1]], route_factor=0.9)
    with pytest.raises(InputError, match="missing or infinite"):
        feeder_tree([[0, 0], [np.nan, 1]])
    with pytest.raises(InputError, match="root 5"):
        feeder_tree([[0, 0], [1, 1]], root=5)
    with pytest.raises(InputError, match="integer rows of the 2 OLTs"):
        feeder_forest([[0, 0], [1, 1]], [0, 2], [[0, 0], [5, 5]])
    with pytest.raises(InputError, match="3 OLT assignments for 2"):
        feeder_forest([[0, 0], [1, 1]], [0, 1, 1], [[0, 0], [5, 5]])
    empty = feeder_forest(np.zeros((0, 2)), np.zeros(0, dtype=int), [[0, 0]])
    assert empty.edges.empty and empty.total_m.tolist() == [0.0]
