"""DAG validation messages name the field and suggest the fix; topology is stable."""

from __future__ import annotations

from runwright.api import Block
from runwright.engine import dag


def blocks(*specs: tuple[str, list[str]]) -> list[Block]:
    return [Block(name=name, command=["x"], upstream=ups) for name, ups in specs]


def test_a_valid_dag_has_no_problems_and_a_topological_order() -> None:
    bs = blocks(("export", ["clean"]), ("extract", []), ("clean", ["extract"]))
    assert dag.validate(bs) == []
    assert dag.build(bs).order == ("extract", "clean", "export")


def test_ties_in_the_order_follow_the_spec_order() -> None:
    bs = blocks(("b", []), ("a", []), ("c", ["a", "b"]))
    assert dag.build(bs).order == ("b", "a", "c")


def test_an_unknown_upstream_is_named_with_a_did_you_mean() -> None:
    [problem] = dag.validate(blocks(("load", []), ("use", ["lod"])))
    assert problem.field == "spec.blocks[1].upstream[0]"
    assert problem.reason == "UnknownUpstream"
    assert 'names "lod", no such block (did you mean "load"?)' in problem.message


def test_a_duplicate_block_name_points_at_the_first_one() -> None:
    [problem] = dag.validate(blocks(("a", []), ("a", [])))
    assert problem.field == "spec.blocks[1].name"
    assert problem.reason == "DuplicateBlock"
    assert "spec.blocks[0]" in problem.message


def test_a_cycle_is_shown_as_a_path() -> None:
    [problem] = dag.validate(blocks(("a", ["c"]), ("b", ["a"]), ("c", ["b"]), ("d", [])))
    assert problem.reason == "CycleDetected"
    assert "a -> b -> c -> a" in problem.message or "c -> a -> b -> c" in problem.message


def test_a_block_that_names_itself_is_a_cycle() -> None:
    [problem] = dag.validate(blocks(("a", ["a"])))
    assert problem.reason == "CycleDetected"
    assert "its own upstream" in problem.message


def test_descendants_are_transitive() -> None:
    graph = dag.build(blocks(("a", []), ("b", ["a"]), ("c", ["b"]), ("d", [])))
    assert graph.descendants("a") == {"b", "c"}
    assert graph.descendants("d") == set()


def test_the_graph_of_a_frozen_spec_is_built_once_and_equals_a_fresh_build() -> None:
    bs = blocks(("export", ["clean"]), ("extract", []), ("clean", ["extract"]))
    first = dag.cached_build(bs)
    assert dag.cached_build(bs) is first
    assert first == dag.build(bs)
    same_content = list(bs)
    assert dag.cached_build(same_content) is not first
    assert dag.cached_build(same_content) == first
