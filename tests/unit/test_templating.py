"""Templates: strict validation against the pipeline, sandboxed rendering."""

from __future__ import annotations

import pytest

from runwright.engine import templating


def check(text: str) -> list[str]:
    return templating.check(text, variables=["env", "region"], upstream=["load"])


def test_known_names_validate() -> None:
    assert check("{{ variables.env }}-{{ run.name }}-{{ blocks.load.outputs.rows }}") == []


def test_plain_text_is_not_a_template() -> None:
    assert check("hello") == []
    assert templating.render("hello", {}) == "hello"


def test_an_unknown_variable_is_an_error_with_a_did_you_mean() -> None:
    [message] = check("{{ variables.evn }}")
    assert "variables.evn is not a variable of this pipeline" in message
    assert 'did you mean "env"' in message


def test_reading_a_block_that_is_not_upstream_is_an_error() -> None:
    [message] = check("{{ blocks.other.outputs.x }}")
    assert 'add "other" to its upstream' in message


def test_an_unknown_root_and_run_field_are_errors() -> None:
    assert "is not defined" in check("{{ secrets }}")[0]
    assert "run.date does not exist" in check("{{ run.date }}")[0]


def test_loops_are_statements_and_are_refused() -> None:
    # Issue 16: a template is {{ expression }} only (this test used to accept a loop).
    [message] = check("{% for x in ['a'] %}{{ x }}{% endfor %}")
    assert "{% %} statements" in message


def test_a_syntax_error_is_reported() -> None:
    assert "not a valid template" in check("{{ variables.env ")[0]


def test_rendering_uses_filters_and_the_context() -> None:
    ctx = {"variables": {"env": "prod"}, "run": {"attempt": 2}}
    assert templating.render("{{ variables.env | upper }}-{{ run.attempt }}", ctx) == "PROD-2"


def test_a_missing_output_at_run_time_is_a_template_error() -> None:
    with pytest.raises(templating.TemplateError, match="rows"):
        templating.render("{{ blocks.a.outputs.rows }}", {"blocks": {"a": {"outputs": {}}}})


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(templating.TemplateError, match="unsafe"):
        templating.render("{{ variables.__class__.__mro__ }}", {"variables": {}})
