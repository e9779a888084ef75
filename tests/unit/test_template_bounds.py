"""Bounded templates (issue 16): the attack strings are refused at validation, with the
field named; what slips through to a render fails with InvalidTemplate; memory stays small.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from runwright.api.pipeline import PipelineSpec
from runwright.cli.main import main
from runwright.engine import templating
from runwright.engine.template_lang import MAX_ATTEMPT_CHARS, MAX_FIELD_CHARS

#: The issue's attack strings and their cousins: (template, words of the refusal).
ATTACKS = [
    ("{% for a in 'x'*40000 %}{% for b in 'x'*40000 %}{% endfor %}{% endfor %}", "statements"),
    ("{{ 'x' * 300000000 }}", "'*'"),
    ("{{ variables.env * 100000000 }}", "'*'"),
    (
        "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
        "statements",
    ),
    ("{{ range(10**9) | join }}", "a call"),
    ("{{ 10 ** 10 ** 10 }}", "'**'"),
    ("{{ '%s%s' % (variables.env, variables.env) }}", "'%'"),
    ("{{ '{0:>999999999}'.format(1) }}", "a call"),
    ("{{ '{0:>999999999}'.format }}", "only variables, run, blocks and item"),
    ("{{ variables.env.format(1) }}", "a call"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "a call"),
    ("{{ ''.__class__ }}", "only variables, run, blocks and item"),
    ("{{ variables.__class__ }}", "unsafe"),
    ("{{ variables['__class__'] }}", "unsafe"),
    ("{{ run.name.upper }}", "at most 1 field"),
    ("{{ lipsum() }}", "a call"),
    ("{{ cycler.__init__.__globals__ }}", "only variables, run, blocks and item"),
    ("{{ variables.env | center(999999999) }}", 'filter "center" is not allowed'),
    ("{{ variables.env | indent(999999999) }}", 'filter "indent" is not allowed'),
    ("{{ variables.env | format(1) }}", 'filter "format" is not allowed'),
    ("{{ variables.env is defined }}", "'is' test"),
    ("{{ variables[::-1] }}", "a slice"),
    ("{% set x = 1 %}", "statements"),
    ("{% raw %}{{{% endraw %}", "statements"),
    ("{{ " + "(" * 400 + "1" + ")" * 400 + " }}", "nested too deeply"),
    ("{{ " + " ~ ".join(["variables.env"] * 60) + " }}", "too long an expression"),
    ("{{ " + "9" * 5000 + " }}", "at most 4096 characters"),
    ("{{ 'x' }}" * 500, "at most 4096 characters"),
]


def pipeline(arg: str) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {
            "variables": {"env": "prod"},
            "blocks": [
                {"name": "a", "image": "i"},
                {"name": "b", "image": "i"},
                {"name": "c", "image": "i", "args": ["plain", arg]},
            ],
        }
    )


@pytest.mark.parametrize(("text", "words"), ATTACKS, ids=[a[0][:40] for a in ATTACKS])
def test_an_attack_string_is_refused_at_validation_with_the_field_named(
    text: str, words: str
) -> None:
    tracemalloc.start()
    try:
        [problem] = templating.validate(pipeline(text))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problem.field == "spec.blocks[2].args[1]"
    assert problem.reason == "InvalidTemplate"
    assert words in problem.message
    assert peak < 4 * 1024 * 1024, f"validation allocated {peak} bytes"


@pytest.mark.parametrize(("text", "words"), ATTACKS, ids=[a[0][:40] for a in ATTACKS])
def test_an_attack_string_that_reaches_a_render_fails_without_running(
    text: str, words: str
) -> None:
    ctx = templating.context(
        variables={"env": "prod"},
        run_name="r",
        pipeline="p",
        execution_date="2026-01-01T00:00:00Z",
        attempt=1,
        upstream_outputs={},
    )
    tracemalloc.start()
    try:
        with pytest.raises(templating.TemplateError, match="block c: args"):
            templating.render(text, ctx, "block c: args[1]")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"the render allocated {peak} bytes"


def big_context(value: str) -> dict[str, object]:
    return templating.context(
        variables={"env": value, "sep": "-" * 1000},
        run_name="r",
        pipeline="p",
        execution_date="d",
        attempt=1,
        upstream_outputs={"load": {"rows": value}},
    )


HALF = "y" * (MAX_FIELD_CHARS // 2 + 1)
OVER = "y" * (MAX_FIELD_CHARS + 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("{{ variables.env }}", OVER),
        ("{{ variables.env ~ variables.env }}", HALF),
        ("{{ variables.env | replace('', variables.sep) }}", HALF),
        ("{{ variables.env | join(variables.sep) }}", HALF),
        ("{{ [variables.env, variables.env, variables.env] | tojson }}", HALF),
        ("{{ blocks.load.outputs.rows | upper }}", OVER),
    ],
)
def test_output_over_the_field_cap_fails_before_it_is_built(text: str, value: str) -> None:
    ctx = big_context(value)
    tracemalloc.start()
    try:
        with pytest.raises(templating.TemplateError, match="characters"):
            templating.render(text, ctx, "f")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"the render allocated {peak} bytes"


def test_an_attempt_has_a_total_cap_over_its_fields() -> None:
    ctx = big_context("z" * (MAX_FIELD_CHARS - 10))
    budget = templating.Budget()
    with pytest.raises(templating.TemplateError, match="one block attempt"):
        for i in range(MAX_ATTEMPT_CHARS // MAX_FIELD_CHARS + 1):
            templating.render("{{ variables.env }}", ctx, f"block c: args[{i}]", budget)


def test_the_language_renders_what_it_allows() -> None:
    ctx = templating.context(
        variables={"env": "prod", "list": "a,b"},
        run_name="nightly-1",
        pipeline="nightly",
        execution_date="2026-01-01T00:00:00Z",
        attempt=2,
        upstream_outputs={"load": {"rows": "42"}},
    )
    cases = {
        "{{ variables.env | upper }}-{{ run.attempt + 1 }}": "PROD-3",
        "{{ blocks.load.outputs.rows | default('0') }}": "42",
        "{{ blocks.load.outputs.missing | default('0') }}": "0",
        "{{ 'big' if variables.env == 'prod' else 'small' }}": "big",
        "{{ variables.list | replace(',', ' ') | trim }}": "a b",
        "{{ ['x', run.name] | join('/') }}": "x/nightly-1",
        "{{ blocks.load.outputs | tojson }}": '{"rows": "42"}',
        "{{ variables.env | length }}": "4",
        "{{ run.pipeline ~ '@' ~ run.executionDate | lower }}": "nightly@2026-01-01t00:00:00z",
        "{{ variables['env'] }} {# a comment #}": "prod ",
    }
    for text, expected in cases.items():
        assert templating.render(text, ctx) == expected, text
    assert (
        templating.check(
            "{{ blocks.load.outputs.rows | default('0') }}", variables=[], upstream=["load"]
        )
        == []
    )


def test_item_is_reserved_for_fan_out() -> None:
    [message] = templating.check("{{ item }}", variables=[], upstream=[])
    assert "reserved" in message
    assert templating.check("{{ item.name }}", variables=[], upstream=[], item=True) == []


def test_template_env_of_the_pod_template_is_checked() -> None:
    spec = PipelineSpec.model_validate(
        {
            "template": {"env": [{"name": "A", "value": "{{ 'x' * 9 }}"}]},
            "blocks": [{"name": "a", "image": "i"}],
        }
    )
    [problem] = templating.validate(spec)
    assert problem.field == "spec.template.env[0].value"


def test_runwright_validate_names_the_field_of_an_attack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: runwright.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n"
        "  blocks:\n  - {name: a, image: i}\n  - {name: b, image: i}\n"
        "  - {name: c, image: i, args: [\"{{ 'x' * 300000000 }}\"]}\n"
    )
    assert main(["validate", str(path)]) == 2
    _, err = capsys.readouterr()
    assert "spec.blocks[2].args[0]" in err and "'*'" in err
