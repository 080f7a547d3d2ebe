r"""Large spatial set-multicover problems: a tiled solver with a proven Lagrangian bound.

The program, over rows i (points that need coverage ``b_i``) and columns j (candidate sites, cost ``c_j``)::

    min Σ_j c_j z_j   s.t.  Σ_j a_ij z_j ≥ b_i  ∀ i,   z_j ∈ {0, 1}

A city's evaluation lattice gives ~80,000 rows over ~65,000 columns; its LP relaxation alone takes HiGHS's
interior point ~90 s and its simplex much longer (measured 2026-11-30), yet every column reaches only
~1 km, so the problem is local. :func:`solve_cover` uses that:

* **Upper bound** (a feasible cover): the cheaper of the greedy rule (cheapest cost per newly covered row, then
  redundant columns removed) and the same rule on Lagrangian reduced costs (:func:`lagrangian_greedy`, with
  multipliers from :func:`subgradient`), improved by re-optimising square *windows* of the plane one at a time (a large
  neighbourhood search): inside a window every chosen column touching its rows is freed, and a small MIP
  (HiGHS through scipy, ended by its gap or a node limit, never a clock, so the result is reproducible)
  re-covers the window's rows and the rows the freed columns covered, with the columns outside held. A
  window's new cover replaces the old only if strictly cheaper, so the cost never rises. Passes shift the
  window grid so that no border stays a border.
* **Lower bound**: Lagrangian duality. For any multipliers ``u ≥ 0``,

      L(u) = Σ_i b_i u_i − Σ_j max(0, Σ_i a_ij u_i − c_j)  ≤  the LP optimum  ≤  the integer optimum

  (for z ∈ [0, 1], Σ_j c_j z_j ≥ Σ_j c_j z_j − Σ_i u_i (Σ_j a_ij z_j − b_i) ≥ L(u)). The multipliers come from
  *block coordinate ascent* on the LP dual over square tiles: a tile's rows get the dual of the tile's LP
  with every column's cost lowered by what the rows outside the tile already pay for it
  (c_j − Σ_{i ∉ tile} a_ij u_i), which maximises L over those rows with the others held, so L never falls.
  Shifted tile grids in later passes let the duals flow across tile borders. The ascent starts from the
  subgradient's multipliers (cheap and global: they carry the duals across the whole plane at once). The tile
  LPs go to HiGHS's interior point (with crossover): from the subgradient's multipliers a pass over Qingdao
  took 2.3 s against 3.6 s with the dual simplex, from zero 4.1 against 4.9 s for two passes, with L(u) equal
  or higher (measured 2026-12-01).

``gap = (UB − L(u)) / UB`` is then a proven optimality gap of the cover. Both bounds are deterministic
functions of the inputs (tiles, passes and limits are fixed, not timed). Tiles are coloured like a 2 × 2
chessboard; tiles of one colour are a tile apart, so when a tile is wider than four times the farthest
reach of a column (Qingdao: ~1.2 km against 6 km windows) they share no row or column and are solved side by
side in threads (HiGHS releases the GIL) with the same result as one by one; otherwise one by one.
"""
from __future__ import annotations

import heapq
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

log = logging.getLogger(__name__)

WINDOW_M = 6_000.0          # side of a re-optimisation window [m]
DUAL_TILE_M = 30_000.0      # side of a dual-ascent tile [m] (Qingdao, 2026-12-02, `bench_cover --ascent-tiles`, one
                            # pass from the subgradient's multipliers: 10 km 7.0721 bn CNY in 2.5 s, 20 km 7.0802 in
                            # 3.7 s, 30 km 7.0854 in 4.9 s, 40 km 7.0849 in 9.7 s, 60 km 7.0878 in 19.9 s; LP 7.0911)
WIDE_M = 10_000.0           # side of a wide window (radio.coverage_wide_passes) [m]
NODE_LIMIT = 200            # branch-and-bound nodes per window MIP
WINDOW_GAP = 0.01           # a window MIP's relative gap (a window's answer is kept only if strictly cheaper)
MAX_WINDOW_ROWS = 600       # a window with more rows is solved as quarters (recursively), one by one
SPREAD = 4.0               # windows and tiles wider than this many column reaches (+1 m)
SAFETY_S = 60.0             # a window MIP's clock, a safeguard only (the node limit ends it first)
WIDE_ROWS = 800             # wide pass k (0, 1, ...): windows of WIDE_M's side, up to WIDE_ROWS * 2**k rows
SUBGRADIENT_ITERATIONS = 1_000   # subgradient steps before the Lagrangian greedy and the dual ascent


def reduce_rows(a: sp.csr_matrix, need: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows with need > 0, equal rows merged (largest need), rows implied by a subset row with ≥ need dropped."""
    need = np.asarray(need, np.int64)
    keep = np.flatnonzero(need > 0)
    a = a[keep].tocsr()
    need = need[keep]
    keys = [a.indices[a.indptr[i]:a.indptr[i + 1]].tobytes() for i in range(a.shape[0])]
    codes, uniq = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    first = np.unique(codes, return_index=True)[1]
    u_need = np.zeros(len(uniq), np.int64)
    np.maximum.at(u_need, codes, need)
    u = a[first].tocsr()
    size = np.diff(u.indptr)
    inter = (u @ u.T).tocoo()
    sub = ((inter.data == size[inter.col]) & (size[inter.col] < size[inter.row])
           & (u_need[inter.col] >= u_need[inter.row]))
    drop = np.zeros(u.shape[0], bool)
    drop[inter.row[sub]] = True
    return u[~drop].tocsr(), u_need[~drop]


def greedy_cover(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Columns (bool mask) covering every row ``need`` times: cheapest cost per newly served row first, then
    redundant columns removed, dearest first. Rows that cannot reach their need take what they can."""
    cols = a.tocsc()
    residual = np.asarray(need, np.int64).copy()
    gain = np.diff(cols.indptr).astype(float)
    cost = np.asarray(cost, float)
    heap = [(cost[j] / gain[j], j) for j in np.flatnonzero(gain > 0)]
    heapq.heapify(heap)
    chosen = np.zeros(a.shape[1], bool)
    while heap and (residual > 0).any():
        ratio, j = heapq.heappop(heap)
        rows = cols.indices[cols.indptr[j]:cols.indptr[j + 1]]
        new = int((residual[rows] > 0).sum())
        if new == 0:
            continue
        if cost[j] / new > ratio * (1 + 1e-12):      # stale entry: re-queue at its current ratio
            heapq.heappush(heap, (cost[j] / new, j))
            continue
        chosen[j] = True
        residual[rows] -= 1
    return _drop_redundant(a, cols, need, cost, chosen)


def _drop_redundant(a: sp.csr_matrix, cols: sp.csc_matrix, need: np.ndarray, cost: np.ndarray,
                    chosen: np.ndarray) -> np.ndarray:
    """``chosen`` less the columns every row of which stays covered without them, dearest first (in place)."""
    have = np.asarray(a @ chosen.astype(float)).ravel()
    target = np.minimum(np.asarray(need, float), np.asarray(a.sum(axis=1)).ravel())
    for j in sorted(np.flatnonzero(chosen), key=lambda j: (-cost[j], j)):
        rows = cols.indices[cols.indptr[j]:cols.indptr[j + 1]]
        if (have[rows] > target[rows]).all():
            chosen[j] = False
            have[rows] -= 1
    return chosen


def subgradient(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray, *, target: float,
                iterations: int = SUBGRADIENT_ITERATIONS, u0: np.ndarray | None = None, step: float = 1.0,
                patience: int = 20) -> tuple[float, np.ndarray]:
    """``(L(u), u)`` for the best multipliers met in ``iterations`` steps of subgradient optimisation of the
    Lagrangian dual (Held and Karp's step ``step · (target − L(u)) / ‖s‖²`` along the subgradient
    ``s = b − A x(u)``, ``x_j(u) = 1`` where the reduced cost ``c_j − (Aᵀu)_j`` is negative, rows at
    ``u_i = 0`` that are over-covered left still; ``step`` halves after ``patience`` steps without a
    better L). ``target``: a cover's cost (an upper bound). A fixed number of steps: deterministic (the
    dense sums are numpy's own, never a threaded BLAS dot, so the steps do not depend on the machine's
    cores). A row's need is capped at its column count, as the covers take what they can: an unreachable
    row's multiplier would otherwise grow without limit and lift L(u) to the target.

    Each step is two sparse products, so a thousand steps over Qingdao's 80,000 rows take ~2 s: as tight as
    three passes of :func:`dual_ascent` (7.060 against 7.059 bn CNY) in about a tenth of the processor time
    (1.7 s on one core against 8.7 s on two), and a start from which one pass of it gets within 0.27 % of the
    LP optimum (measured 2026-12-01).
    """
    a = a.tocsr()
    at = a.T.tocsr()
    need = np.minimum(np.asarray(need, float), np.diff(a.indptr))
    cost = np.asarray(cost, float)
    u = np.zeros(a.shape[0]) if u0 is None else np.maximum(np.asarray(u0, float), 0.0).copy()
    best, best_u, stall = -np.inf, u.copy(), 0
    for _ in range(int(iterations)):
        reduced = cost - at @ u
        value = float(np.sum(need * u) + np.minimum(reduced, 0.0).sum())
        if not np.isfinite(best) or value > best + 1e-9 * abs(best):
            best, best_u, stall = value, u.copy(), 0
        else:
            stall += 1
            if stall >= patience:
                step, stall = step / 2, 0
        s = need - a @ (reduced < 0).astype(float)
        s[(u <= 0) & (s < 0)] = 0.0
        norm = float(np.sum(s * s))
        if norm == 0.0 or target <= value or step < 1e-6:
            break
        u = np.maximum(u + step * (target - value) / norm * s, 0.0)
    return lagrangian_bound(a, need, cost, best_u), best_u


def lagrangian_greedy(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Columns (bool mask) covering every row ``need`` times, chosen greedily on the Lagrangian reduced costs of
    multipliers ``u`` (Caprara, Fischetti and Toth's rule: with ``γ_j = c_j − Σ u_i`` over the rows column j
    still serves and ``μ_j`` their number, the least ``γ_j / μ_j`` when ``γ_j > 0``, else ``γ_j · μ_j``), then
    redundant columns removed, dearest first. Near-optimal multipliers (:func:`subgradient`) steer it to the
    columns the LP relaxation uses: Qingdao's layer 7.30 against the plain greedy's 7.74 bn CNY, and after the
    same four window passes 7.18 against 7.28 bn (measured 2026-12-01). A column's score only rises as rows
    are served, so stale heap entries are re-queued (lazy evaluation)."""
    cols = a.tocsc()
    residual = np.asarray(need, np.int64).copy()
    cost = np.asarray(cost, float)
    u = np.maximum(np.asarray(u, float), 0.0)

    def score(j: int) -> float | None:
        rows = cols.indices[cols.indptr[j]:cols.indptr[j + 1]]
        live = rows[residual[rows] > 0]
        if not len(live):
            return None
        gamma = cost[j] - float(u[live].sum())
        return gamma / len(live) if gamma > 0 else gamma * len(live)

    heap = [(sc, j) for j in range(a.shape[1]) if (sc := score(j)) is not None]
    heapq.heapify(heap)
    chosen = np.zeros(a.shape[1], bool)
    while heap and (residual > 0).any():
        sc, j = heapq.heappop(heap)
        now = score(j)
        if now is None:
            continue
        if now > sc + 1e-9 * max(1.0, abs(sc)):          # stale entry: re-queue at its current score
            heapq.heappush(heap, (now, j))
            continue
        chosen[j] = True
        residual[cols.indices[cols.indptr[j]:cols.indptr[j + 1]]] -= 1
    return _drop_redundant(a, cols, need, cost, chosen)


def lp_bound(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray, *, time_limit_s: float) -> float | None:
    """The LP relaxation's optimum of the covering rows ``a`` in one solve (None if HiGHS stops first); for
    small instances and tests (a city's rows use :func:`dual_ascent`)."""
    need = np.asarray(need, float)
    a = a[need > 0]
    need = need[need > 0]
    used = np.flatnonzero(np.diff(a.tocsc().indptr) > 0)
    if a.shape[0] == 0 or len(used) == 0:
        return 0.0
    res = linprog(np.asarray(cost, float)[used], A_ub=-a[:, used], b_ub=-need, bounds=(0, 1),
                  method="highs-ipm", options={"time_limit": float(time_limit_s)})
    return float(res.fun) if res.status == 0 else None


def lagrangian_bound(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray, u: np.ndarray) -> float:
    """L(u) = Σ b_i u_i − Σ_j max(0, (Aᵀu)_j − c_j): a lower bound on the covering optimum for any u ≥ 0."""
    u = np.maximum(np.asarray(u, float), 0.0)
    return float(np.sum(np.asarray(need, float) * u) - np.maximum(a.T @ u - np.asarray(cost, float), 0.0).sum())


def row_positions(a: sp.csr_matrix, col_xy: np.ndarray) -> np.ndarray:
    """Each row's position: the mean of its columns' positions [m] (rows without columns: NaN)."""
    n = np.diff(a.indptr).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.column_stack([a @ col_xy[:, 0], a @ col_xy[:, 1]]) / n[:, None]


def tile_windows(row_xy: np.ndarray, tile_m: float, offset_m: float = 0.0) -> list[list[np.ndarray]]:
    """Row indices grouped by square tiles of side ``tile_m`` (grid shifted by ``offset_m``), as four lists
    of tiles, one per chessboard colour (``(tx mod 2, ty mod 2)``), each in tile order."""
    xy = np.nan_to_num(np.asarray(row_xy, float))
    if len(xy) == 0:
        return []
    k = np.floor((xy + offset_m) / tile_m).astype(np.int64)
    k -= k.min(axis=0)
    colour = (k[:, 0] % 2) * 2 + (k[:, 1] % 2)
    key = (colour * (k[:, 0].max() + 1) + k[:, 0]) * (k[:, 1].max() + 1) + k[:, 1]
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(key[order]) != 0])
    tiles = np.split(order, starts[1:])
    col = colour[order[starts]]
    return [[np.sort(t) for t, c in zip(tiles, col, strict=True) if c == q] for q in range(4)]


def split_rows(rows: np.ndarray, row_xy: np.ndarray, max_rows: int) -> list[np.ndarray]:
    """``rows`` as one part, or split in quarters at the middle of their bounding box until every part holds at
    most ``max_rows`` (in a fixed order: a deterministic function of the positions)."""
    if len(rows) <= max_rows:
        return [rows]
    xy = np.nan_to_num(np.asarray(row_xy, float)[rows])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    if (hi - lo).max() <= 0:
        return [rows]
    mid = (lo + hi) / 2
    q = (xy[:, 0] > mid[0]).astype(int) * 2 + (xy[:, 1] > mid[1]).astype(int)
    return [p for k in range(4) if (q == k).any() for p in split_rows(rows[q == k], row_xy, max_rows)]


def _workers() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def reach_m(a: sp.csr_matrix, row_xy: np.ndarray, col_xy: np.ndarray) -> float:
    """The farthest a column lies from a row it covers [m] (rows placed at ``row_xy``)."""
    coo = a.tocoo()
    if coo.nnz == 0:
        return 0.0
    d = np.hypot(*(np.asarray(row_xy)[coo.row] - np.asarray(col_xy)[coo.col]).T)
    return float(np.nanmax(d, initial=0.0))


def widened(side_m: float, reach: float) -> float:
    """A window or tile side widened to more than four column reaches (so one colour's windows share no column)."""
    return max(side_m, SPREAD * reach + 1.0)


def layout(a: sp.csr_matrix, col_xy: np.ndarray, window_m: float = WINDOW_M,
           dual_tile_m: float = DUAL_TILE_M) -> tuple[np.ndarray, float, float, float]:
    """``(row_xy, reach, window_m, dual_tile_m)``: the rows' positions, the farthest reach of a column, and
    window and tile sides widened to more than four reaches (so they hold several discs and one colour runs
    in threads)."""
    col_xy = np.asarray(col_xy, float)
    row_xy = row_positions(a, col_xy)
    reach = reach_m(a, row_xy, col_xy)
    return row_xy, reach, widened(window_m, reach), widened(dual_tile_m, reach)


def _map(fn, items: list, parallel: bool, *, apply) -> list:
    """``fn`` over one colour's tiles. In threads when ``parallel`` (tiles a tile apart share no row or
    column only when a tile is wider than four reaches), returning the results for the caller to apply in
    tile order; else one by one, each applied (``apply``) before the next tile is solved (returns [])."""
    if parallel and len(items) > 1 and _workers() > 1:
        with ThreadPoolExecutor(_workers()) as pool:
            return list(pool.map(fn, items))
    if parallel:
        return [fn(x) for x in items]
    for x in items:
        apply(fn(x))
    return []


def _ascend(out, u: np.ndarray, aty: np.ndarray) -> None:
    """Apply one tile's new multipliers (in place)."""
    if out is not None:
        rows, cols, arj, new = out
        aty[cols] += arj.T @ (new - u[rows])
        u[rows] = new


def _entries(csc: sp.csc_matrix, cols: np.ndarray) -> np.ndarray:
    """Positions in ``csc.indices`` / ``csc.data`` of the nonzeros of columns ``cols`` (few columns: no slicing)."""
    return np.concatenate([np.arange(csc.indptr[j], csc.indptr[j + 1]) for j in cols] + [np.zeros(0, np.int64)])


def _swap(out, chosen: np.ndarray, have: np.ndarray, csc: sp.csc_matrix) -> None:
    """Apply one window's new cover (in place): only the rows of the columns it swaps are touched (the whole
    row vector per swap took ~0.8 s a single-threaded pass on Qingdao, on the main thread between batches)."""
    if out is not None:
        freed, pick = out
        chosen[freed] = False
        chosen[pick] = True
        for cols, sign in ((pick, 1.0), (freed, -1.0)):
            at = _entries(csc, cols)
            np.add.at(have, csc.indices[at], sign * csc.data[at])


def _offsets(tile_m: float, passes: int) -> list[float]:
    base = [0.0, 0.5, 0.25, 0.75]
    return [base[p % 4] * tile_m for p in range(passes)]


def dual_ascent(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray, row_xy: np.ndarray, *,
                tile_m: float = DUAL_TILE_M, passes: int = 3, u0: np.ndarray | None = None,
                reach: float | None = None) -> tuple[float, np.ndarray]:
    """``(L(u), u)`` after ``passes`` sweeps of block coordinate ascent on the LP dual over square tiles
    (tiles run in threads only when wider than four ``reach``, :func:`reach_m`; without it one by one)."""
    a = a.tocsr()
    need = np.asarray(need, float)
    cost = np.asarray(cost, float)
    u = np.zeros(a.shape[0]) if u0 is None else np.maximum(np.asarray(u0, float), 0.0).copy()
    aty = a.T @ u
    parallel = reach is not None and tile_m > 4 * reach

    def tile(rows):
        ar = a[rows]
        cols = np.flatnonzero(np.diff(ar.tocsc().indptr) > 0)
        if not len(cols):
            return None
        arj = ar[:, cols].tocsr()
        paid = aty[cols] - arj.T @ u[rows]              # what the rows outside the tile pay for each column
        res = linprog(cost[cols] - paid, A_ub=-arj, b_ub=-need[rows], bounds=(0, 1), method="highs-ipm")
        if res.status != 0:
            return None                                 # keep the old multipliers (the bound stays valid)
        return rows, cols, arj, np.maximum(-res.ineqlin.marginals, 0.0)

    for off in _offsets(tile_m, passes):
        for batch in tile_windows(row_xy, tile_m, off):
            for out in _map(tile, batch, parallel, apply=lambda out: _ascend(out, u, aty)):
                _ascend(out, u, aty)
    return lagrangian_bound(a, need, cost, u), u


def improve_cover(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray, chosen: np.ndarray, row_xy: np.ndarray, *,
                  tile_m: float = WINDOW_M, passes: int = 2, gap_rel: float = WINDOW_GAP,
                  node_limit: int = NODE_LIMIT, reach: float | None = None,
                  max_rows: int = MAX_WINDOW_ROWS, first_pass: int = 0, clock: list | None = None) -> np.ndarray:
    """``chosen`` improved by re-optimising windows (module docstring); never dearer, always as feasible.
    Windows run in threads only when wider than four ``reach`` (:func:`reach_m`); without it one by one.
    ``clock``: a list that gets one entry per window MIP ended by its ``SAFETY_S`` clock rather than its gap or
    node limit (its answer, and so the cover, can then differ on a faster or slower machine)."""
    a = a.tocsr()
    csc = a.tocsc()
    need = np.asarray(need, float)
    cost = np.asarray(cost, float)
    chosen = np.asarray(chosen, bool).copy()
    have = a @ chosen.astype(float)
    parallel = reach is not None and tile_m > 4 * reach

    def part(rows, chosen, have):
        cols = np.unique(a[rows].indices)
        freed = cols[chosen[cols]]
        at = _entries(csc, freed)
        touched = np.union1d(rows, csc.indices[at])
        held = have[touched].copy()                     # less what the freed columns give the touched rows
        np.add.at(held, np.searchsorted(touched, csc.indices[at]), -csc.data[at])
        short = need[touched] - held
        live = short > 0
        if not live.any():                              # the held columns cover the window: drop the freed ones
            return freed, freed[:0]
        res = milp(cost[cols], constraints=LinearConstraint(a[touched[live]][:, cols], lb=short[live], ub=np.inf),
                   integrality=np.ones(len(cols)), bounds=Bounds(0, 1),
                   options={"mip_rel_gap": gap_rel, "node_limit": node_limit, "time_limit": SAFETY_S})
        if clock is not None and "time limit" in str(res.message).lower():
            clock.append(int(rows[0]))                   # list.append: safe from the window threads
        if res.x is None:
            return None
        pick = cols[res.x > 0.5]
        return (freed, pick) if cost[pick].sum() < cost[freed].sum() - 1e-6 else None

    def window(rows):
        """One window, as MIPs over quarters of it while it holds more than ``max_rows`` rows, one by one on
        copies of the state; the net change is returned."""
        parts = split_rows(rows, row_xy, max_rows)
        if len(parts) == 1:
            return part(rows, chosen, have)
        mine, got = chosen.copy(), have.copy()
        for sub in parts:
            _swap(part(sub, mine, got), mine, got, csc)
        changed = np.flatnonzero(mine != chosen)
        return changed[chosen[changed]], changed[mine[changed]]

    for p, off in enumerate(_offsets(tile_m, first_pass + passes)[first_pass:]):
        before = float(cost[chosen].sum())
        for batch in tile_windows(row_xy, tile_m, off):
            for out in _map(window, batch, parallel, apply=lambda out: _swap(out, chosen, have, csc)):
                _swap(out, chosen, have, csc)
        log.debug("cover window pass %d: %.6g -> %.6g", p, before, float(cost[chosen].sum()))
    return chosen


@dataclass
class Cover:
    """A cover and what is proven about it. A cover solved with ``background=True`` has its bound (``bound``,
    ``u``) still being computed: :meth:`finish` waits for it."""

    chosen: np.ndarray           # bool per column
    objective: float             # its cost
    bound: float                 # L(u), a lower bound on every cover's cost
    u: np.ndarray | None         # the multipliers (reusable for the same rows at other costs)
    greedy: float                # the greedy cover's cost at these prices, before the windows
    seconds: float               # wall time of the cover and its bound (not of any wait for them)
    cost: np.ndarray | None = None   # the column costs it was solved at
    greedy_chosen: np.ndarray | None = None   # the greedy cover (of the first solve, when warm-started)
    clock_windows: int = 0       # window MIPs ended by their SAFETY_S clock (the cover may depend on the machine)
    lagrangian_greedy: float | None = None   # the Lagrangian greedy cover's cost (cold solves), before the windows
    dual_passes: int = 0         # dual-ascent passes made for the bound (0: the subgradient's or the start's u)
    window_m: float = WINDOW_M   # the windows' side as solved (the requested side, widened past four reaches)
    dual_tile_m: float = DUAL_TILE_M   # the ascent tiles' side as solved (likewise)
    _ascent: Future | None = None

    def finish(self) -> Cover:
        """Wait for the bound of a background solve (no-op otherwise); returns ``self``. Safe from several
        threads at once (the plan bound and the plan's own finish may both wait): each reads the job once, and
        the figures they store are the same."""
        job = self._ascent
        if job is not None:
            bound, u, t_end = job.result()
            self.bound, self.u = min(bound, self.objective), u
            self.seconds = round(max(self.seconds, t_end), 3)
            self._ascent = None
        return self

    @property
    def gap(self) -> float:
        self.finish()
        return 0.0 if self.objective <= 0 else max(0.0, (self.objective - self.bound) / self.objective)


def solve_cover(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray, col_xy: np.ndarray, *,
                start: np.ndarray | None = None, greedy: np.ndarray | None = None, u0: np.ndarray | None = None,
                window_passes: int = 2, dual_passes: int = 3, gap_rel: float = WINDOW_GAP,
                window_m: float = WINDOW_M, dual_tile_m: float = DUAL_TILE_M, background: bool = False,
                wide_passes: int = 0, window_rows: int = MAX_WINDOW_ROWS,
                subgradient_iterations: int = SUBGRADIENT_ITERATIONS) -> Cover:
    """The tiled cover of ``a`` (module docstring).

    Cold (no ``start``): the greedy cover, then ``subgradient_iterations`` steps of :func:`subgradient` toward
    its cost and the :func:`lagrangian_greedy` cover of the multipliers found; the cheaper of the two covers is
    improved by the windows, and the dual ascent starts from those multipliers. ``start``: a feasible cover to
    improve instead (a warm re-solve at new prices; neither greedy rule is run again, and half as many
    subgradient steps move ``u0`` to the new prices); ``greedy``: the greedy cover of the first solve, priced
    again (the cheaper of it and ``start`` is improved). ``u0``: multipliers to start from (``dual_passes = 0``:
    the bound at the multipliers themselves). The dual ascent runs in its own thread: beside the windows, or
    with ``background`` after them, while the caller solves something else (a solver in another process leaves
    a core free): the cover then returns at once and :meth:`Cover.finish` waits for the bound.
    ``wide_passes``: after the windows, passes of wide windows (``WIDE_M`` on a side; pass k quartered down to
    at most ``WIDE_ROWS * 2**k`` rows, with the windows' gap and node limit, on shifted grids): a cheaper cover
    for more time.
    """
    t0 = time.perf_counter()
    a = a.tocsr()
    cost = np.asarray(cost, float)
    need = np.minimum(np.asarray(need, np.int64), np.diff(a.indptr))   # a row short of columns takes what it can
    row_xy, reach, window_m, dual_tile_m = layout(a, col_xy, window_m, dual_tile_m)

    def ascent():
        bound, u = dual_ascent(a, need, cost, row_xy, tile_m=dual_tile_m, passes=dual_passes, u0=u0, reach=reach)
        return bound, u, time.perf_counter() - t0

    pool = ThreadPoolExecutor(1)
    lagrangian = None
    if start is None:
        chosen = greedy = greedy_cover(a, need, cost)
        if subgradient_iterations > 0:
            _, u0 = subgradient(a, need, cost, target=float(cost[greedy].sum()), iterations=subgradient_iterations,
                                u0=u0)
            lagrangian = lagrangian_greedy(a, need, cost, u0)
            if cost[lagrangian].sum() < cost[chosen].sum():
                chosen = lagrangian
    else:
        chosen = np.asarray(start, bool)
        greedy = chosen if greedy is None else np.asarray(greedy, bool)
        if cost[greedy].sum() < cost[chosen].sum():
            chosen = greedy
        if subgradient_iterations > 0 and u0 is not None:   # the old multipliers, moved to the new prices
            _, u0 = subgradient(a, need, cost, target=float(cost[chosen].sum()), u0=u0,
                                iterations=subgradient_iterations // 2)
    job = None if background else pool.submit(ascent)
    clock: list = []
    chosen = improve_cover(a, need, cost, chosen, row_xy, tile_m=window_m, passes=window_passes, gap_rel=gap_rel,
                           reach=reach, max_rows=window_rows, clock=clock)
    for k in range(wide_passes):
        chosen = improve_cover(a, need, cost, chosen, row_xy, tile_m=widened(WIDE_M, reach), passes=1,
                               gap_rel=gap_rel, reach=reach, max_rows=WIDE_ROWS * 2 ** k, first_pass=k, clock=clock)
    if clock:
        log.warning("cover: %d window MIPs stopped at their %g s safeguard clock, not their node limit: this cover "
                    "can differ on another machine", len(clock), SAFETY_S)
    if job is None:
        job = pool.submit(ascent)
    pool.shutdown(wait=False)
    objective = float(cost[chosen].sum())
    cover = Cover(chosen=chosen, objective=objective, bound=-np.inf, u=None, greedy=float(cost[greedy].sum()),
                  seconds=round(time.perf_counter() - t0, 3), cost=cost, greedy_chosen=greedy, _ascent=job,
                  clock_windows=len(clock), dual_passes=int(dual_passes), window_m=window_m, dual_tile_m=dual_tile_m,
                  lagrangian_greedy=None if lagrangian is None else float(cost[lagrangian].sum()))
    return cover if background else cover.finish()
