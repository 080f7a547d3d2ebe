"""Feeder trench networks as trees along shared routes, never as stars of straight lines.

The feeder network of one OLT joins the OLT to its splitter cabinets. Here it is
the Euclidean minimum spanning tree (EMST) over the OLT and its cabinets,
rooted at the OLT. Each edge is a straight segment times a route factor (streets
are not straight). Coordinates are planar metres (a metric CRS such as EPSG:32651).

How it is computed
------------------
Every EMST edge is a Delaunay edge. If ``pq`` is in a minimum spanning tree, the
closed disc with diameter ``pq`` holds no third point ``r``: such an ``r`` would see
``pq`` at an angle of at least 90 degrees, so ``|pr| < |pq|`` and ``|qr| < |pq|``, and
``pq`` would be the strictly longest edge of the cycle ``p-q-r``, which no minimum
spanning tree contains. An edge with such an empty circle lies in every Delaunay
triangulation. So ``scipy.spatial.Delaunay`` gives a sparse candidate graph
(at most ``3n - 6`` edges) that holds an EMST, and
``scipy.sparse.csgraph.minimum_spanning_tree`` finds it in ``O(n log n)``; no
dense distance matrix is built. Delaunay fails on fewer than three distinct
points and on collinear points. Duplicate points are merged first and hang
off their twin by a zero-length edge. Collinear points get the chain in order
along their line, which is their EMST. Any other failure of Qhull falls back
to the complete graph when there are at most ``COMPLETE_GRAPH_MAX`` points.

How good the approximation is
-----------------------------
1. **Never longer than the star.** The star of straight feeders from the root,
   ``sum_i |r - p_i|``, is itself a spanning tree of the same points. The MST is
   the shortest of all spanning trees, so ``tree_m <= star_m``. Both lengths are
   multiplied by the same route factor, so the inequality holds for route lengths too.
2. **Close to the shortest possible network.** The Steiner minimal tree (SMT)
   may add junctions anywhere, and it is the shortest network joining the points:
   ``SMT <= MST``. In any metric, ``MST <= 2 (1 - 1/n) SMT``. In the Euclidean
   plane the best widely accepted bound is ``MST <= 1.2134 SMT`` (Chung and Graham,
   1985). Gilbert and Pollak (1968) conjectured ``2/sqrt(3) ~ 1.1547``, the ratio of
   the equilateral triangle. Du and Hwang (1990) published a proof of it, which
   Ivanov and Tuzhilin (2012) showed to have a gap, so that bound is still a
   conjecture. The trench estimate is therefore at most about 21 % above the
   best possible network over the same points (under the same route factor).
3. **Paths are longer than straight lines.** The fibre from the OLT to a cabinet
   runs along the tree. Its length ``path_m[i]`` is at least ``route_factor * |r - p_i|``
   (triangle inequality) and at most ``tree_m``. The MST does not bound this
   stretch: for cabinets spread around a circle, the far ones are reached the long
   way round the chain. That is why an optical budget must be checked against
   ``path_m``, not against the straight distance.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order, dijkstra, minimum_spanning_tree
from scipy.spatial import Delaunay, QhullError

from gis.errors import InputError, ScenarioError

log = logging.getLogger(__name__)

__all__ = ["COMPLETE_GRAPH_MAX", "FeederForest", "FeederTree", "feeder_forest", "feeder_tree"]

#: Largest number of distinct points for which the complete graph is an acceptable fallback.
COMPLETE_GRAPH_MAX = 1500

_COLLINEAR_RTOL = 1e-10


@dataclass(frozen=True, eq=False)
class FeederTree:
    """A tree over points, rooted at ``root``; lengths are route lengths (straight × route factor).

    Attributes
    ----------
    parent
        (n,) index of each point's parent; -1 at the root.
    edge_m
        (n,) route length of the edge from each point to its parent [m]; 0 at the root.
    path_m
        (n,) route length from the root to each point along the tree [m].
    star_m
        Sum of the straight distances from the root × route factor [m]: the star this tree replaces.
    root
        Index of the root point.
    order
        (n,) the points in breadth-first order from the root: each after its parent.
    """

    parent: np.ndarray
    edge_m: np.ndarray
    path_m: np.ndarray
    star_m: float
    root: int
    order: np.ndarray

    @property
    def total_m(self) -> float:
        """Route length of the whole tree: the trench it needs [m]."""
        return float(self.edge_m.sum())

    def edges(self) -> pd.DataFrame:
        """Columns ``parent``, ``child``, ``length_m``: one row per edge.

        Rows follow :attr:`order`, so every parent appears as a child before its own children.
        """
        child = self.order[self.parent[self.order] >= 0]
        return pd.DataFrame({"parent": self.parent[child], "child": child, "length_m": self.edge_m[child]})


@dataclass(frozen=True, eq=False)
class FeederForest:
    """Feeder trees of many OLTs at once, over their cabinets.

    Attributes
    ----------
    edges
        Columns ``olt``, ``parent`` (cabinet index; -1 is the OLT itself), ``child``
        (cabinet index), ``length_m`` (route length) [m]; ordered by OLT, then as in
        :meth:`FeederTree.edges`.
    path_m
        (n_cabinets,) route length from each cabinet's OLT along its tree [m].
    total_m
        (n_olts,) route length of each OLT's tree [m]; 0 for an OLT without cabinets.
    star_m
        (n_olts,) sum of straight OLT-to-cabinet distances × route factor [m].
    """

    edges: pd.DataFrame
    path_m: np.ndarray
    total_m: np.ndarray
    star_m: np.ndarray


def _as_xy(xy, name: str) -> np.ndarray:
    """(n, 2) finite float coordinates, or an InputError naming ``name``."""
    arr = np.asarray(xy, dtype=float)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"expected (n, 2) planar coordinates in metres, got shape {arr.shape}", field=name)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{int((~np.isfinite(arr)).any(axis=1).sum())} points have missing or infinite "
                         "coordinates", field=name)
    return arr


def _check_route_factor(route_factor: float) -> float:
    if not (np.isfinite(route_factor) and route_factor >= 1.0):
        raise ScenarioError(f"route_factor must be >= 1 (a route is never shorter than the straight line), "
                            f"got {route_factor}")
    return float(route_factor)


def _pair_graph(pts: np.ndarray, i: np.ndarray, j: np.ndarray) -> sparse.csr_matrix:
    """Sparse upper-triangular graph of the pairs (i, j) weighted by distance; duplicates merged."""
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keep = lo != hi
    pairs = np.unique(np.column_stack([lo[keep], hi[keep]]), axis=0)
    dist = np.hypot(*(pts[pairs[:, 0]] - pts[pairs[:, 1]]).T)
    n = len(pts)
    return sparse.csr_matrix((dist, (pairs[:, 0], pairs[:, 1])), shape=(n, n))


def _complete_graph(pts: np.ndarray) -> sparse.csr_matrix:
    i, j = np.triu_indices(len(pts), k=1)
    return _pair_graph(pts, i, j)


def _is_collinear(pts: np.ndarray) -> bool:
    s = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False)
    return bool(s[1] <= _COLLINEAR_RTOL * s[0])


def _chain_graph(pts: np.ndarray) -> sparse.csr_matrix:
    """The chain through collinear points in order along their line (their EMST)."""
    centred = pts - pts.mean(axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    order = np.argsort(centred @ direction, kind="stable")
    return _pair_graph(pts, order[:-1], order[1:])


def _delaunay_graph(pts: np.ndarray) -> sparse.csr_matrix:
    """Delaunay edges, plus an edge from each point Qhull left out to its nearest vertex."""
    tri = Delaunay(pts)
    s = tri.simplices
    i = np.concatenate([s[:, 0], s[:, 1], s[:, 2]])
    j = np.concatenate([s[:, 1], s[:, 2], s[:, 0]])
    if len(tri.coplanar):
        i = np.concatenate([i, tri.coplanar[:, 0]])
        j = np.concatenate([j, tri.coplanar[:, 2]])
    return _pair_graph(pts, i, j)


def _candidate_graph(pts: np.ndarray) -> sparse.csr_matrix:
    """A sparse graph over distinct points that contains a Euclidean minimum spanning tree."""
    n = len(pts)
    if n <= 3:
        return _complete_graph(pts) if n < 3 or not _is_collinear(pts) else _chain_graph(pts)
    if _is_collinear(pts):
        return _chain_graph(pts)
    try:
        return _delaunay_graph(pts)
    except QhullError as err:
        if n > COMPLETE_GRAPH_MAX:
            raise InputError(f"Delaunay triangulation of {n} points failed ({str(err).splitlines()[0]})",
                             field="xy") from err
        log.warning("Delaunay failed on %d points; using the complete graph", n)
        return _complete_graph(pts)


def _emst_rooted(pts: np.ndarray, root: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(parent, path length, breadth-first order) of the EMST over distinct points rooted at ``root``."""
    n = len(pts)
    if n == 1:
        return np.array([-1]), np.zeros(1), np.zeros(1, dtype=np.int64)
    mst = minimum_spanning_tree(_candidate_graph(pts))
    path, pred = dijkstra(mst, directed=False, indices=root, return_predecessors=True)
    if not np.all(np.isfinite(path)):
        # Qhull can drop points it cannot tell apart from others; the complete graph cannot miss them.
        if n > COMPLETE_GRAPH_MAX:
            raise InputError(f"{int((~np.isfinite(path)).sum())} points are too close to others to "
                             "triangulate; round the coordinates", field="xy")
        mst = minimum_spanning_tree(_complete_graph(pts))
        path, pred = dijkstra(mst, directed=False, indices=root, return_predecessors=True)
    pred = np.where(pred < 0, -1, pred).astype(np.int64)
    return pred, path, breadth_first_order(mst, root, directed=False, return_predecessors=False)


def feeder_tree(xy, *, root: int = 0, route_factor: float = 1.0) -> FeederTree:
    """The Euclidean minimum spanning tree over ``xy``, rooted at ``root``, lengths × ``route_factor``.

    Parameters
    ----------
    xy
        (n, 2) planar coordinates in metres, the root among them (typically the
        OLT at row 0 and its cabinets after it). Duplicate points are allowed.
    root
        Row of the root.
    route_factor
        Route length / straight-line length, >= 1.

    Returns
    -------
    FeederTree with parent, edge and path lengths per point, and the star length.
    """
    pts = _as_xy(xy, "xy")
    rf = _check_route_factor(route_factor)
    n = len(pts)
    if not 0 <= root < n:
        raise InputError(f"root {root} is not a row of the {n} points", field="root")
    uniq, twin_of = np.unique(pts, axis=0, return_inverse=True)
    twin_of = twin_of.reshape(-1)
    # one representative row per distinct point: the root for its own point, else the first row
    rep = np.full(len(uniq), n, dtype=np.int64)
    np.minimum.at(rep, twin_of, np.arange(n))
    rep[twin_of[root]] = root
    parent_u, path_u, order_u = _emst_rooted(uniq, int(twin_of[root]))
    is_rep = rep[twin_of] == np.arange(n)
    parent_of_rep = np.where(parent_u[twin_of] >= 0, rep[np.maximum(parent_u[twin_of], 0)], -1)
    parent = np.where(is_rep, parent_of_rep, rep[twin_of])
    edge_m = np.zeros(n)
    has_parent = parent >= 0
    edge_m[has_parent] = np.hypot(*(pts[has_parent] - pts[parent[has_parent]]).T) * rf
    star_m = float(np.hypot(*(pts - pts[root]).T).sum() * rf)
    rank_u = np.empty(len(uniq), dtype=np.int64)
    rank_u[order_u] = np.arange(len(uniq))
    order = np.lexsort((~is_rep, rank_u[twin_of]))  # distinct points breadth-first, each followed by its twins
    return FeederTree(parent=parent, edge_m=edge_m, path_m=path_u[twin_of] * rf, star_m=star_m, root=int(root),
                      order=order)


def feeder_forest(node_xy, olt_of_node, olt_xy, *, route_factor: float = 1.0) -> FeederForest:
    """One feeder tree per OLT over the cabinets assigned to it (see :func:`feeder_tree`).

    Parameters
    ----------
    node_xy
        (n, 2) planar coordinates of the cabinets, metres.
    olt_of_node
        (n,) index into ``olt_xy`` of the OLT each cabinet is fed from.
    olt_xy
        (m, 2) planar coordinates of the OLTs, metres.
    route_factor
        Route length / straight-line length, >= 1.
    """
    nodes, olts = _as_xy(node_xy, "node_xy"), _as_xy(olt_xy, "olt_xy")
    olt_of = np.asarray(olt_of_node).reshape(-1)
    if len(olt_of) != len(nodes):
        raise InputError(f"{len(olt_of)} OLT assignments for {len(nodes)} cabinets", field="olt_of_node")
    if len(olt_of) and (not np.issubdtype(olt_of.dtype, np.integer) or olt_of.min() < 0
                        or olt_of.max() >= len(olts)):
        raise InputError(f"OLT assignments must be integer rows of the {len(olts)} OLTs", field="olt_of_node")
    path_m, total_m, star_m = np.zeros(len(nodes)), np.zeros(len(olts)), np.zeros(len(olts))
    parts = []
    order = np.argsort(olt_of, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(olt_of[order])) + 1) if len(order) else []
    for group in groups:
        o = int(olt_of[group[0]])
        tree = feeder_tree(np.vstack([olts[o], nodes[group]]), root=0, route_factor=route_factor)
        e = tree.edges()
        node_row = np.concatenate([[-1], group])  # tree row -> cabinet index (row 0 is the OLT)
        parts.append(pd.DataFrame({"olt": o, "parent": node_row[e["parent"].to_numpy()],
                                   "child": node_row[e["child"].to_numpy()], "length_m": e["length_m"].to_numpy()}))
        path_m[group] = tree.path_m[1:]
        total_m[o], star_m[o] = tree.total_m, tree.star_m
    empty = pd.DataFrame({"olt": np.array([], dtype=np.int64), "parent": np.array([], dtype=np.int64),
                          "child": np.array([], dtype=np.int64), "length_m": np.array([], dtype=float)})
    edges = pd.concat(parts, ignore_index=True) if parts else empty
    return FeederForest(edges=edges, path_m=path_m, total_m=total_m, star_m=star_m)
