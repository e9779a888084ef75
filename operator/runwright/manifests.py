"""Manifest files in, typed resources or one clear line per problem out.

This is the edge where user YAML becomes `Pipeline`, `Trigger` and `PipelineRun`
objects. Whatever is wrong (broken YAML, a document that is not an object, a wrong
apiVersion or kind, a schema error, a DAG or template or schedule problem) comes
back as a `ManifestProblem` that names the file and line, the resource, the field
(camelCase, as the user wrote it) and the fix -- never as a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from runwright import labels
from runwright.api.common import DNS1123_SUBDOMAIN, MAX_NAME
from runwright.api.explain import (
    NAME_RULE,
    Loc,
    describe,
    error_reason,
    explain,
    format_loc,
    parse_field,
    show,
    slug_hint,
)
from runwright.api.pipeline import Pipeline
from runwright.api.run import PipelineRun
from runwright.api.trigger import Trigger
from runwright.checks import check as check
from runwright.checks import check_skeleton
from runwright.engine.dag import did_you_mean

Resource = Pipeline | Trigger | PipelineRun
KINDS: dict[str, type[Pipeline] | type[Trigger] | type[PipelineRun]] = {
    "Pipeline": Pipeline,
    "Trigger": Trigger,
    "PipelineRun": PipelineRun,
}


@dataclass(frozen=True)
class ManifestProblem:
    """One thing wrong in a manifest file, printable as one line."""

    source: str
    message: str
    reason: str
    line: int | None = None
    resource: str | None = None
    """e.g. "Pipeline data/etl"; None when the document is not a resource at all."""
    field: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.source}:{self.line}" if self.line else self.source]
        if self.resource:
            parts.append(self.resource)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


@dataclass(frozen=True)
class Manifest:
    """One valid resource and where it came from."""

    source: str
    line: int
    resource: Resource

    @property
    def kind(self) -> str:
        """Pipeline, Trigger or PipelineRun."""
        return self.resource.kind

    @property
    def name(self) -> str:
        """metadata.name (always set on a loaded manifest)."""
        return self.resource.metadata.name or ""

    @property
    def display(self) -> str:
        """`Kind namespace/name` as messages show it."""
        return display_name(
            self.kind, self.resource.metadata.name, self.resource.metadata.namespace
        )


@dataclass(frozen=True)
class SkippedDocument:
    """A document of another API (a Secret, a ConfigMap): not ours to check, not an error."""

    source: str
    line: int
    display: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.display}: not a Runwright kind"


@dataclass
class LoadResult:
    """Every valid resource of the files, every problem found in them, what was skipped."""

    manifests: list[Manifest] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)
    skipped: list[SkippedDocument] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def extend(self, other: LoadResult) -> None:
        """Add another file's result to this one."""
        self.manifests.extend(other.manifests)
        self.problems.extend(other.problems)
        self.skipped.extend(other.skipped)


def display_name(kind: str, name: str | None, namespace: str | None = None) -> str:
    """`Pipeline data/etl`, `Pipeline etl`, or `Pipeline (unnamed)`."""
    if not name:
        return f"{kind} (unnamed)"
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def load_files(paths: Iterable[str | Path]) -> LoadResult:
    """Load and check every manifest in the files (multi-document YAML)."""
    result = LoadResult()
    for path in paths:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            result.problems.append(ManifestProblem(source, "no such file", "FileNotFound"))
            continue
        except IsADirectoryError:
            result.problems.append(
                ManifestProblem(source, "is a directory; pass the YAML files in it", "NotAFile")
            )
            continue
        except (OSError, UnicodeDecodeError) as exc:
            result.problems.append(ManifestProblem(source, f"cannot read: {exc}", "Unreadable"))
            continue
        result.extend(load_text(text, source))
    return result


def load_text(text: str, source: str = "<stdin>") -> LoadResult:
    """Load and check every manifest in one YAML text; `source` names it in problems."""
    result = LoadResult()
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        result.problems.append(_yaml_problem(source, exc))
        return result
    if not any(d is not None for d in documents):
        result.problems.append(
            ManifestProblem(
                source, "no manifests found; expected a Pipeline, Trigger or PipelineRun", "Empty"
            )
        )
        return result
    for index, (node, document) in enumerate(zip(nodes, documents, strict=True)):
        if document is None:
            continue
        loaded = _load_document(source, index, node, document)
        loaded.problems.sort(key=lambda p: p.line or 0)
        result.extend(loaded)
    return result


def _yaml_problem(source: str, exc: yaml.YAMLError) -> ManifestProblem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    detail = f"{context}, {problem}" if context else problem
    if mark is None:
        return ManifestProblem(source, f"invalid YAML: {detail}", "InvalidYAML")
    if context_mark is not None and "<stream end>" in problem:
        # Something opened and never closed: where it opened is where the fix goes.
        detail += f" at line {mark.line + 1}; close what line {context_mark.line + 1} opened"
        mark = context_mark
    elif context_mark is not None and context_mark.line != mark.line:
        detail += f" (the construct began on line {context_mark.line + 1})"
    return ManifestProblem(
        source,
        f"invalid YAML at column {mark.column + 1}: {detail}",
        "InvalidYAML",
        line=mark.line + 1,
    )


def _load_document(source: str, index: int, node: yaml.Node, document: object) -> LoadResult:
    result = LoadResult()
    line = node.start_mark.line + 1

    def problem(message: str, reason: str, resource: str | None, loc: Loc = ()) -> None:
        at = _line_of(node, loc) if loc else line
        field_path = format_loc(loc) if loc else None
        result.problems.append(ManifestProblem(source, message, reason, at, resource, field_path))

    if not isinstance(document, dict):
        problem(
            f"document {index + 1} is {describe(document)}, not a mapping; each document must be "
            "an object with apiVersion, kind, metadata and spec",
            "NotAMapping",
            None,
        )
        return result
    if _foreign(document):
        # A file applied with kubectl often holds a Secret or ConfigMap beside the
        # Pipeline: another API's object, skipped with a note, never an error.
        meta = document.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        shown = display_name(str(document["kind"]), meta.get("name"), meta.get("namespace"))
        result.skipped.append(SkippedDocument(source, line, shown))
        return result
    for key_node, duplicate in _duplicate_keys(node):
        result.problems.append(
            ManifestProblem(
                source,
                f'key "{duplicate}" appears twice in the same mapping; keep one',
                "DuplicateKey",
                key_node.start_mark.line + 1,
            )
        )
    kind = document.get("kind")
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    label = display_name(kind if isinstance(kind, str) and kind else "document", name, namespace)
    if kind is None:
        problem(
            "missing; set it to Pipeline, Trigger or PipelineRun", "MissingKind", label, ("kind",)
        )
    elif not isinstance(kind, str) or kind not in KINDS:
        problem(
            f"{show(kind)} is not a Runwright kind; use Pipeline, Trigger or PipelineRun"
            f"{did_you_mean(str(kind), KINDS)}",
            "UnknownKind",
            label,
            ("kind",),
        )
    api_version = document.get("apiVersion")
    if api_version is None:
        problem(
            f"missing; set apiVersion: {labels.API_VERSION}",
            "MissingAPIVersion",
            label,
            ("apiVersion",),
        )
    elif api_version != labels.API_VERSION:
        problem(
            f"{show(api_version)} is not supported; use {labels.API_VERSION}",
            "UnknownAPIVersion",
            label,
            ("apiVersion",),
        )
    if result.problems or not isinstance(kind, str):
        return result
    model = KINDS[kind]
    if not isinstance(name, str) or not name:
        problem(f"missing; every {kind} needs a name", "MissingName", label, ("metadata", "name"))
    elif not re.fullmatch(DNS1123_SUBDOMAIN, name) or len(name) > 253:
        problem(
            f"{show(name)} is not a valid name: {NAME_RULE}{slug_hint(name)}",
            "InvalidName",
            label,
            ("metadata", "name"),
        )
    elif len(name) > MAX_NAME:
        problem(
            f"{show(name)} is {len(name)} characters; at most {MAX_NAME} (it is also a label "
            "value on the runs and Jobs it makes)",
            "InvalidName",
            label,
            ("metadata", "name"),
        )
    # Every problem in one pass: the schema's, then the engine's (DAG, templates,
    # schedule) on what parsed, so a user fixes them all after one run.
    resource: Resource | None = None
    try:
        resource = model.model_validate(document)
    except pydantic.ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            problem(explain(error, model), error_reason(error), label, loc)
    found = check(resource) if resource is not None else check_skeleton(kind, document)
    for item in found:
        problem(item.message, item.reason, label, parse_field(item.field))
    if resource is not None and not result.problems:
        result.manifests.append(Manifest(source, line, resource))
    return result


def _foreign(document: dict[str, Any]) -> bool:
    """A document of another API group (apiVersion v1, apps/v1...) with a kind not ours."""
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if not isinstance(kind, str) or kind in KINDS or not isinstance(api_version, str):
        return False
    return api_version.split("/")[0] != labels.API_VERSION.split("/")[0]


# ----- where things are in the file -------------------------------------------------


def _line_of(node: yaml.Node, loc: Loc) -> int:
    """The 1-based line of the deepest node of `loc` that exists in the document."""
    line = node.start_mark.line + 1
    current: yaml.Node | None = node
    for part in loc:
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            match = next(
                (kv for kv in current.value if getattr(kv[0], "value", None) == part), None
            )
            if match is None:
                break
            line = match[0].start_mark.line + 1
            current = match[1]
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                break
            current = current.value[part]
            line = current.start_mark.line + 1
        else:
            break
    return line


def _duplicate_keys(node: yaml.Node) -> list[tuple[yaml.Node, str]]:
    """Keys written twice in one mapping (PyYAML keeps the last silently; kubectl refuses)."""
    found: list[tuple[yaml.Node, str]] = []
    stack = [node]
    seen_nodes: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:  # aliases may share nodes
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in keys:
                        found.append((key, key.value))
                    keys.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return found
