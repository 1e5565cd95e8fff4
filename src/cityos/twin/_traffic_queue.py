"""Mesoscopic queue-based network loading, vectorised over vehicles per time step.

The link model is the spatial queue of Gawron (1998) and MATSim's QSim (Cetin, Burri &
Nagel 2003): a vehicle entering link l may leave it no earlier than its free-flow time
later; at most ``capacity * dt`` vehicles leave l per step, first in first out; a vehicle
moves on only if the next link has storage left (length x lanes / jam spacing), otherwise
it waits at the head of l and blocks those behind it (spill-back). Within a step, exits
get evenly spaced times (rank / capacity), so queue delays are resolved below the step.

Gawron, C. (1998) An iterative algorithm to determine the dynamic user equilibrium in a
traffic simulation model. Int. J. Modern Physics C 9(3), 393-407.
Cetin, N., Burri, A., Nagel, K. (2003) A large-scale agent-based traffic microsimulation
based on queue model. Swiss Transport Research Conference (STRC), Monte Verita.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_MAX_PASSES = 8  # re-runs of a step for vehicles that cross a short link within it
_MAX_FIXPOINT = 64


@dataclass(frozen=True)
class QueueLinks:
    """Per-link inputs of the queue model."""

    free_flow_min: FloatArray  # [min]
    capacity_veh_h: FloatArray  # outflow capacity [veh/h]
    storage_veh: FloatArray  # vehicles the link holds [veh]
    length_m: FloatArray  # [m]

    def __post_init__(self) -> None:
        n = len(self.free_flow_min)
        for name in ("capacity_veh_h", "storage_veh", "length_m"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"links.{name} has the wrong length")
        if np.any(self.free_flow_min <= 0) or np.any(self.capacity_veh_h <= 0):
            raise ValueError("free-flow times [min] and capacities [veh/h] must be positive")
        if np.any(self.storage_veh < 1):
            raise ValueError("every link must hold at least one vehicle")


@dataclass(frozen=True)
class Routes:
    """Link sequences in CSR form: route r is links[start[r] : start[r] + length[r]]."""

    start: IntArray
    length: IntArray
    links: IntArray

    def __post_init__(self) -> None:
        if np.any(self.length < 1):
            raise ValueError("a route needs at least one link")


@dataclass(frozen=True)
class Loading:
    """What one network loading produced: per vehicle, per link and step, per time bin."""

    dt_min: float  # step length [min]
    arrival_min: FloatArray  # per vehicle; NaN if it never arrived [min]
    flow: NDArray[np.int32]  # (steps, links): vehicles leaving the link per step
    queue: NDArray[np.int32]  # (steps, links): vehicles ready to leave but held, end of step
    occupancy: NDArray[np.int32]  # (steps, links): vehicles on the link, end of step
    speed_kmh: NDArray[np.float32]  # (steps, links): speed of leaving vehicles [km/h]
    entered: NDArray[np.int64]  # (steps,): vehicles entering the network
    left: NDArray[np.int64]  # (steps,): vehicles reaching their destination
    waiting: NDArray[np.int64]  # (steps,): departed vehicles not yet let onto a link
    bin_time_sum: FloatArray  # (bins, links): summed traversal times by entry bin [min]
    bin_count: FloatArray  # (bins, links): traversals by entry bin


def _group_rank(keys: IntArray) -> IntArray:
    """Return each element's position within its run of equal, sorted ``keys``."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.ones(n, dtype=bool)
    start[1:] = keys[1:] != keys[:-1]
    idx = np.arange(n)
    return idx - np.maximum.accumulate(np.where(start, idx, 0))


def load_network(
    links: QueueLinks,
    routes: Routes,
    route: IntArray,
    depart_min: FloatArray,
    *,
    dt_min: float = 1.0,
    horizon_min: float = 1800.0,
    stuck_after_min: float | None = None,
    bin_min: float = 15.0,
) -> Loading:
    """Load vehicles (route index, departure time [min]) onto the queue network.

    ``stuck_after_min`` lets a vehicle held that long at a link's head enter the next link
    regardless of its storage (MATSim's stuck time), which keeps coarse networks out of
    gridlock; ``None`` never does.
    """
    n_l = len(links.free_flow_min)
    n_v = len(route)
    n_steps = int(np.ceil(horizon_min / dt_min))
    n_bins = int(np.ceil(horizon_min / bin_min)) + 1
    cap_step = links.capacity_veh_h * dt_min / 60.0
    budget_cap = np.maximum(cap_step, 1.0)
    budget = np.zeros(n_l)
    storage = links.storage_veh.astype(np.float64)
    occ = np.zeros(n_l, dtype=np.int64)

    cur = np.full(n_v, -1, dtype=np.int64)
    pos = np.full(n_v, -1, dtype=np.int64)
    ready = np.asarray(depart_min, dtype=np.float64).copy()
    entry = np.full(n_v, np.nan)
    seq = np.arange(n_v, dtype=np.int64)
    next_seq = n_v
    arrival = np.full(n_v, np.nan)
    r_start, r_len, r_links = routes.start[route], routes.length[route], routes.links

    flow = np.zeros((n_steps, n_l), dtype=np.int32)
    queue = np.zeros((n_steps, n_l), dtype=np.int32)
    occupancy = np.zeros((n_steps, n_l), dtype=np.int32)
    speed = np.full((n_steps, n_l), np.nan, dtype=np.float32)
    entered = np.zeros(n_steps, dtype=np.int64)
    left = np.zeros(n_steps, dtype=np.int64)
    waiting = np.zeros(n_steps, dtype=np.int64)
    t_sum = np.zeros(n_bins * n_l)
    t_cnt = np.zeros(n_bins * n_l)

    buckets: list[list[IntArray]] = [[] for _ in range(n_steps + 1)]
    dep_step = np.floor(ready / dt_min).astype(np.int64)
    order = np.argsort(dep_step, kind="stable")
    cuts = np.searchsorted(dep_step[order], np.arange(n_steps + 1))
    for k in range(n_steps):
        if cuts[k + 1] > cuts[k]:
            buckets[k].append(order[cuts[k] : cuts[k + 1]])
    last_dep_step = int(dep_step.max()) if n_v else -1
    blocked = np.zeros(0, dtype=np.int64)
    big = np.iinfo(np.int64).max

    steps_run = n_steps
    for k in range(n_steps):
        t0, t1 = k * dt_min, (k + 1) * dt_min
        budget = np.minimum(budget + cap_step, budget_cap)
        used = np.zeros(n_l)
        tt_sum = np.zeros(n_l)
        tt_cnt = np.zeros(n_l)
        pool = np.concatenate([blocked, *buckets[k]]) if buckets[k] else blocked
        buckets[k] = []
        blocked_parts: list[IntArray] = []
        for _ in range(_MAX_PASSES):
            if not len(pool):
                break
            c_cur = cur[pool]
            nxt_pos = pos[pool] + 1
            at_end = nxt_pos >= r_len[pool]
            nxt = np.where(
                at_end, -1, r_links[r_start[pool] + np.minimum(nxt_pos, r_len[pool] - 1)]
            )
            group = np.where(c_cur >= 0, c_cur, n_l + nxt)
            o = np.lexsort((seq[pool], ready[pool], group))
            pool, c_cur, nxt, group = pool[o], c_cur[o], nxt[o], group[o]
            rank = _group_rank(group)
            on_link = c_cur >= 0
            lk = np.where(on_link, c_cur, 0)
            # At most a step's capacity leaves a link; at most its free storage (plus what
            # leaves it this step) can enter from the origin: the rest need no further work.
            entry_room = np.floor(storage - occ + np.maximum(cap_step - used, 0.0) + 1e-9)
            allowed = np.where(
                on_link,
                np.floor(budget[lk] + 1e-9),
                np.maximum(entry_room[np.maximum(nxt, 0)], 0.0),
            )
            elig = np.flatnonzero(rank < allowed)
            e_cur, e_nxt, e_group, e_rank = c_cur[elig], nxt[elig], group[elig], rank[elig]
            e_on = e_cur >= 0
            e_lk = lk[elig]
            slot = used[e_lk] + e_rank
            tau = np.where(
                e_on,
                np.maximum(
                    ready[pool[elig]], t0 + slot * dt_min / np.maximum(cap_step[e_lk], 1e-9)
                ),
                np.maximum(ready[pool[elig]], t0),
            )
            # Downstream priority: earliest exit first among those entering the same link.
            od = np.lexsort((tau, e_nxt))
            nd = e_nxt[od]
            alive = np.ones(len(elig), dtype=bool)
            stuck = (
                e_on & (ready[pool[elig]] < t0 - stuck_after_min)
                if stuck_after_min is not None
                else np.zeros(len(elig), dtype=bool)
            )
            for _ in range(_MAX_FIXPOINT):
                exits = np.bincount(e_cur[alive & e_on], minlength=n_l)
                space = storage - occ + exits
                a = alive[od]
                cs = np.cumsum(a)
                start = np.ones(len(nd), dtype=bool)
                start[1:] = nd[1:] != nd[:-1]
                idx = np.arange(len(nd))
                first = np.maximum.accumulate(np.where(start, idx, 0))
                rank_d = cs - 1 - (cs[first] - a[first])
                ok_sorted = a & ((nd < 0) | (rank_d < space[np.maximum(nd, 0)]))
                ok = np.empty(len(elig), dtype=bool)
                ok[od] = ok_sorted
                ok |= alive & stuck
                rej = alive & ~ok
                if not rej.any():
                    break
                min_rej = np.full(2 * n_l, big, dtype=np.int64)
                np.minimum.at(min_rej, e_group[rej], e_rank[rej])
                alive = ok & (e_rank < min_rej[e_group])
            mv = elig[alive]
            m, m_cur, m_nxt, m_tau = pool[mv], c_cur[mv], nxt[mv], tau[alive]
            out = m_cur >= 0
            out_cnt = np.bincount(m_cur[out], minlength=n_l)
            occ -= out_cnt
            budget -= out_cnt
            used += out_cnt
            flow[k] += out_cnt.astype(np.int32)
            tt = m_tau[out] - entry[m[out]]
            tt_sum += np.bincount(m_cur[out], weights=tt, minlength=n_l)
            tt_cnt += out_cnt
            flat = np.minimum(np.floor(entry[m[out]] / bin_min), n_bins - 1).astype(np.int64)
            flat = flat * n_l + m_cur[out]
            t_sum += np.bincount(flat, weights=tt, minlength=n_bins * n_l)
            t_cnt += np.bincount(flat, minlength=n_bins * n_l)
            done = m_nxt < 0
            arrival[m[done]] = m_tau[done]
            left[k] += int(done.sum())
            entered[k] += int((~out).sum())
            go, go_link, go_tau = m[~done], m_nxt[~done], m_tau[~done]
            by_time = np.argsort(go_tau, kind="stable")
            seq[go[by_time]] = next_seq + np.arange(len(go))
            next_seq += len(go)
            cur[go] = go_link
            pos[go] += 1
            entry[go] = go_tau
            ready[go] = go_tau + links.free_flow_min[go_link]
            occ += np.bincount(go_link, minlength=n_l)
            moved = np.zeros(len(pool), dtype=bool)
            moved[mv] = True
            held = pool[~moved]
            soon = ready[go] < t1
            for b, vs in _by_step(go[~soon], ready[go[~soon]], dt_min, n_steps):
                buckets[b].append(vs)
            # Only vehicles that crossed a short link within the step go round again; one
            # joining a link with held vehicles waits behind them (first in, first out).
            again = go[soon]
            held_on = np.bincount(cur[held][cur[held] >= 0], minlength=n_l)
            behind = held_on[cur[again]] > 0
            blocked_parts.append(held)
            blocked_parts.append(again[behind])
            pool = again[~behind]
            if not len(pool):
                break
        else:
            blocked_parts.append(pool)
        blocked = np.concatenate(blocked_parts) if blocked_parts else np.zeros(0, np.int64)
        on = cur[blocked] >= 0
        queue[k] = np.bincount(cur[blocked[on]], minlength=n_l)
        waiting[k] = int((~on).sum())
        occupancy[k] = occ
        with np.errstate(invalid="ignore", divide="ignore"):
            speed[k] = links.length_m / 1000.0 / (tt_sum / tt_cnt / 60.0)
        if k >= last_dep_step and not len(blocked) and occ.sum() == 0:
            steps_run = k + 1
            break
    ff = (links.length_m / 1000.0 / (links.free_flow_min / 60.0)).astype(np.float32)
    sp = speed[:steps_run]
    sp = np.where(np.isnan(sp), np.where(queue[:steps_run] > 0, 0.0, ff), sp)
    return Loading(
        dt_min=dt_min,
        arrival_min=arrival,
        flow=flow[:steps_run],
        queue=queue[:steps_run],
        occupancy=occupancy[:steps_run],
        speed_kmh=sp.astype(np.float32),
        entered=entered[:steps_run],
        left=left[:steps_run],
        waiting=waiting[:steps_run],
        bin_time_sum=t_sum.reshape(n_bins, n_l),
        bin_count=t_cnt.reshape(n_bins, n_l),
    )


def _by_step(
    vehicles: IntArray, ready: FloatArray, dt_min: float, n_steps: int
) -> list[tuple[int, IntArray]]:
    """Group vehicles by the step in which they become ready (capped at the horizon)."""
    if not len(vehicles):
        return []
    step = np.minimum(np.floor(ready / dt_min).astype(np.int64), n_steps)
    o = np.argsort(step, kind="stable")
    s, v = step[o], vehicles[o]
    cut = np.flatnonzero(s[1:] != s[:-1]) + 1
    lo = np.r_[0, cut].tolist()
    hi = np.r_[cut, len(s)].tolist()
    first = s[lo].tolist()
    return [(b, v[a:e]) for b, a, e in zip(first, lo, hi, strict=True)]
