"""Graph steps of the OSM import: the largest strongly connected part and chain merging.

Both work on directed segments given as node-index arrays; they compute, they read no file.
Merging follows the usual simplification of OSM road graphs (as in OSMnx or MATSim's
network simplifier): a node where a road only passes through, with the same attributes on
both sides, is dropped and its two segments become one link with the combined geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

IntArray = NDArray[np.int64]


def largest_strong_component(a: IntArray, b: IntArray, n_nodes: int) -> NDArray[np.bool_]:
    """Return a mask of the segments inside the largest strongly connected component."""
    if not len(a):
        return np.zeros(0, dtype=bool)
    graph = csr_matrix((np.ones(len(a)), (a, b)), shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=True, connection="strong")
    used = np.zeros(n_nodes, dtype=bool)
    used[a] = used[b] = True
    sizes = np.bincount(label[used], minlength=int(label.max()) + 1)
    big = int(np.argmax(sizes))
    return (label[a] == big) & (label[b] == big)


@dataclass(frozen=True)
class Chains:
    """Merged links: link k is segments ``order[start[k] : start[k] + length[k]]``."""

    start: IntArray
    length: IntArray
    order: IntArray

    def segments(self, k: int) -> IntArray:
        """Return the segment indices of link ``k`` in driving order."""
        s = int(self.start[k])
        return self.order[s : s + int(self.length[k])]


def _successors(
    a: IntArray, b: IntArray, key: IntArray, n_nodes: int, endpoint: NDArray[np.bool_]
) -> dict[int, int]:
    """Return segment -> next segment through each pass-through node; mark the others."""
    outs: list[list[int]] = [[] for _ in range(n_nodes)]
    ins: list[list[int]] = [[] for _ in range(n_nodes)]
    for i, (u, v) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        outs[u].append(i)
        ins[v].append(i)
    succ: dict[int, int] = {}
    for node in range(n_nodes):
        if endpoint[node]:
            continue
        i_in, i_out = ins[node], outs[node]
        pairs: list[tuple[int, int]] = []
        if len(i_in) == 1 and len(i_out) == 1 and a[i_in[0]] != b[i_out[0]]:
            pairs = [(i_in[0], i_out[0])]
        elif (
            len(i_in) == 2
            and len(i_out) == 2
            and {int(a[i]) for i in i_in} == {int(b[o]) for o in i_out}
            and a[i_in[0]] != a[i_in[1]]
        ):
            # A two-way road passing through: carry on away from where you came from.
            for i in i_in:
                pairs.append((i, next(o for o in i_out if b[o] != a[i])))
        if pairs and all(key[i] == key[o] for i, o in pairs):
            succ.update(pairs)
        else:
            endpoint[node] = True
    return succ


def merge_chains(a: IntArray, b: IntArray, key: IntArray, n_nodes: int) -> Chains:
    """Merge segments through pass-through nodes with equal ``key`` into longer links.

    ``key`` is one integer per segment standing for its attributes (class, lanes, speed);
    only segments with equal keys merge. No merged link starts and ends at the same node:
    a loop (a cul-de-sac ring, a roundabout with one entry) keeps a node in its middle.
    """
    endpoint = np.zeros(n_nodes, dtype=bool)
    used = np.zeros(n_nodes, dtype=bool)
    used[a] = used[b] = True
    endpoint[~used] = True
    while True:
        succ = _successors(a, b, key, n_nodes, endpoint)
        chains: list[list[int]] = []
        seen = np.zeros(len(a), dtype=bool)
        for i in np.flatnonzero(endpoint[a]).tolist():
            chain = [i]
            while not endpoint[b[chain[-1]]]:
                chain.append(succ[chain[-1]])
            seen[chain] = True
            chains.append(chain)
        changed = False
        if not seen.all():  # rings of pass-through nodes only: cut each at one node
            endpoint[a[int(np.flatnonzero(~seen)[0])]] = True
            changed = True
        for chain in chains:
            if a[chain[0]] == b[chain[-1]]:
                endpoint[b[chain[(len(chain) - 1) // 2]]] = True
                changed = True
        if not changed:
            break
    length = np.array([len(c) for c in chains], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    order = np.array([i for c in chains for i in c], dtype=np.int64)
    return Chains(start=start, length=length, order=order)
