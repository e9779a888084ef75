"""Building blocks shared by the three resources: the base model, times, conditions, refs."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

#: DNS-1123 label: what Kubernetes accepts as a name segment (and we accept as a block name).
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: Names of our objects are at most this long: each one is also a label value on the
#: runs and Jobs it makes (runwright.dev/pipeline, /trigger, /run), and label values
#: are limited to 63 characters.
MAX_NAME = 63

#: The longest duration any field may hold (ten years, in seconds): durations are added
#: to times, and a bigger one would overflow Python's datetime (the year 9999).
MAX_SECONDS = 10 * 366 * 24 * 3600
#: The latest logical date a run may have, for the same reason.
LATEST_DATE = "9000-01-01T00:00:00Z"

#: DNS-1123 subdomain: what Kubernetes accepts as an object name.
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class Model(BaseModel):
    """Base of every spec/status model: camelCase on the wire, unknown fields rejected.

    Unknown fields are an error rather than silently dropped, so a typo such as
    `upstreams:` is reported at validate time instead of producing a DAG with no edges.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=False,
        validate_default=True,
    )

    def dump(self) -> dict[str, Any]:
        """The object as Kubernetes wants it: camelCase keys, no unset/None fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time needs a zone: write it as RFC 3339, e.g. 2026-11-21T02:00:00Z")
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with a Z, second precision, as Kubernetes writes times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: A point in time: RFC 3339 on the wire, always an aware UTC datetime in Python.
Time = Annotated[
    datetime,
    AfterValidator(_to_utc),
    PlainSerializer(format_time, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Model):
    """A Kubernetes-style condition: the latest observation of one aspect of the object."""

    type: str = Field(description="What the condition is about, e.g. Ready.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="CamelCase machine-readable cause.")
    message: str = Field(default="", description="Human-readable details, naming the field.")
    last_transition_time: Time | None = Field(default=None, description="When status last changed.")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this condition was computed from."
    )


class LocalObjectReference(Model):
    """A reference to another object in the same namespace, by name."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS1123_SUBDOMAIN,
        description="Name of the object in the same namespace.",
    )


class SecretKeyReference(Model):
    """A key of a Secret in the same namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS1123_SUBDOMAIN,
        description="Name of the Secret in the same namespace.",
    )
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret's data (required: the Secret may hold several).",
    )


class ObjectMeta(BaseModel):
    """The part of Kubernetes metadata Runwright reads; everything else passes through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None


class TimeoutStatus(StrEnum):
    """The phase a run ends in when it exceeds its timeout."""

    FAILED = "Failed"
    CANCELLED = "Cancelled"


class RunRecord(Model):
    """A short record of a run, as shown on Pipelines and Triggers."""

    name: str = Field(description="Name of the PipelineRun.")
    phase: str | None = Field(default=None, description="Its phase when last seen.")
    completed_at: Time | None = Field(default=None, description="When it finished, if it has.")


Variables = Annotated[
    dict[str, str],
    Field(description="Runtime variables: string names to string values."),
]
