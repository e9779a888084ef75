"""DAG validation (duplicates, unknown upstream, cycles) and topology of a pipeline's blocks."""

from __future__ import annotations

import difflib
import heapq
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from runwright.api.pipeline import Block
from runwright.engine.reasons import ProblemReason


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest: the field path, what is wrong and a CamelCase reason."""

    field: str
    message: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


#: How many unknown names get a did-you-mean: each compares with every block's name.
SUGGESTIONS = 20


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


@dataclass(frozen=True)
class Graph:
    """The blocks of a pipeline as a DAG, with the orderings the planner needs.

    Built once per spec; every lookup is O(1) so a plan over 5,000 blocks stays linear.
    """

    blocks: Mapping[str, Block]
    order: tuple[str, ...]
    """Block names in topological order, ties broken by spec order (stable, deterministic)."""
    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]
    index: Mapping[str, int] = field(default_factory=dict)

    def descendants(self, name: str) -> set[str]:
        """Every block downstream of `name`, transitively (not including it)."""
        seen: set[str] = set()
        stack = list(self.downstream[name])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.downstream[current])
        return seen


def validate(blocks: Sequence[Block]) -> list[Problem]:
    """Every structural problem of the DAG, each naming the field and suggesting a fix."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, block in enumerate(blocks):
        if block.name in seen:
            problems.append(
                Problem(
                    f"spec.blocks[{i}].name",
                    f'"{block.name}" is already the name of spec.blocks[{seen[block.name]}]; '
                    "block names must be unique",
                    ProblemReason.DUPLICATE_BLOCK,
                )
            )
        else:
            seen[block.name] = i
    for i, block in enumerate(blocks):
        for j, up in enumerate(block.upstream):
            if up == block.name:
                problems.append(
                    Problem(
                        f"spec.blocks[{i}].upstream[{j}]",
                        f'block "{block.name}" names itself; a block cannot be its own upstream',
                        ProblemReason.CYCLE_DETECTED,
                    )
                )
            elif up not in seen:
                # A suggestion compares the name with every block's: only for the first
                # few, so a 1,000-block Pipeline full of typos is still checked in
                # linear time.
                hint = did_you_mean(up, seen) if len(problems) < SUGGESTIONS else ""
                problems.append(
                    Problem(
                        f"spec.blocks[{i}].upstream[{j}]",
                        f'names "{up}", no such block'
                        + (hint or "; name a block of spec.blocks, or remove this upstream"),
                        ProblemReason.UNKNOWN_UPSTREAM,
                    )
                )
    if not problems:
        cycle = find_cycle(blocks)
        if cycle:
            first = seen[cycle[0]]
            problems.append(
                Problem(
                    f"spec.blocks[{first}].upstream",
                    "cycle " + " -> ".join(cycle) + "; remove one of these upstream edges",
                    ProblemReason.CYCLE_DETECTED,
                )
            )
    return problems


def find_cycle(blocks: Sequence[Block]) -> list[str] | None:
    """A cycle as a path that starts and ends on the same block, or None. Iterative DFS."""
    upstream = {b.name: list(b.upstream) for b in blocks}
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(upstream, white)
    for root in upstream:
        if color[root] != white:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                color[node] = grey
                path.append(node)
            ups = upstream.get(node, [])
            if i < len(ups):
                stack.append((node, i + 1))
                nxt = ups[i]
                if nxt not in color:
                    continue
                if color[nxt] == grey:
                    # Report in execution order: upstream first.
                    cycle = [*path[path.index(nxt) :], nxt]
                    return list(reversed(cycle))
                if color[nxt] == white:
                    stack.append((nxt, 0))
            else:
                color[node] = black
                path.pop()
    return None


def build(blocks: Sequence[Block]) -> Graph:
    """The Graph of valid blocks (call `validate` first: this assumes a DAG)."""
    by_name = {b.name: b for b in blocks}
    index = {b.name: i for i, b in enumerate(blocks)}
    upstream = {b.name: tuple(dict.fromkeys(b.upstream)) for b in blocks}
    downstream: dict[str, list[str]] = {b.name: [] for b in blocks}
    in_spec_order = True
    for b in blocks:
        mine = index[b.name]
        for up in upstream[b.name]:
            downstream[up].append(b.name)
            in_spec_order = in_spec_order and index[up] < mine
    if in_spec_order:
        # The common case (blocks written upstream-first): spec order already is the
        # order Kahn's algorithm below would produce, at a fraction of the cost.
        order = [b.name for b in blocks]
    else:
        order = _kahn(blocks, index, upstream, downstream)
    return Graph(
        blocks=by_name,
        order=tuple(order),
        upstream=upstream,
        downstream={k: tuple(v) for k, v in downstream.items()},
        index=index,
    )


def _kahn(
    blocks: Sequence[Block],
    index: Mapping[str, int],
    upstream: Mapping[str, tuple[str, ...]],
    downstream: Mapping[str, list[str]],
) -> list[str]:
    """Topological order with ties broken by spec index (a heap): stable, deterministic."""
    indegree = {name: len(ups) for name, ups in upstream.items()}
    ready = [index[n] for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    names = [b.name for b in blocks]
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for child in downstream[name]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, index[child])
    if len(order) != len(blocks):
        raise ValueError("blocks do not form a DAG; call dag.validate first")
    return order


#: Graphs of recent block lists, by identity (see `cached_build`).
_GRAPHS: OrderedDict[int, tuple[Sequence[Block], Graph]] = OrderedDict()
_GRAPHS_KEPT = 256


def cached_build(blocks: Sequence[Block]) -> Graph:
    """`build`, remembered for the same block list object (a run's frozen spec).

    The frozen spec never changes, and the planner is called for a run again and again
    with the same status object (the local runner, the simulator; the controller when
    it keeps the parsed status): building the graph once per spec, not per call, keeps
    a plan call cheap. Keyed by identity, holding the list so its id is not reused; a
    different list always misses, so the result is the same as `build`'s.
    """
    key = id(blocks)
    hit = _GRAPHS.get(key)
    if hit is not None and hit[0] is blocks:
        _GRAPHS.move_to_end(key)
        return hit[1]
    graph = build(blocks)
    _GRAPHS[key] = (blocks, graph)
    if len(_GRAPHS) > _GRAPHS_KEPT:
        _GRAPHS.popitem(last=False)
    return graph
