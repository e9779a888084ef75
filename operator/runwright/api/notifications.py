"""Notifications: who hears about a run's outcome (spec.notifications) and what was sent.

A Pipeline and a Trigger each carry a short list of targets (`spec.notifications`):
a generic webhook (a JSON POST, optionally signed with HMAC-SHA256) or a
Slack-compatible incoming webhook. URLs and keys live in Secrets of the run's
namespace, never in the spec, so reading a Pipeline never reveals where it reports.
What the operator sent is recorded on the run (`status.notifications`), which is what
makes each event go out at most once (docs/notifications.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from runwright.api.common import Model, SecretKeyReference, Time

#: Targets per Pipeline or Trigger: a run merges both lists, and each target costs a
#: status entry per event; the bound keeps a run's status small.
MAX_NOTIFICATIONS = 10
#: Deliveries a run records: each target of the Pipeline and the Trigger, for an SLA
#: miss and for the run's end (the other end events replace that entry).
MAX_DELIVERIES = 4 * MAX_NOTIFICATIONS
#: How long a delivery's last error is kept in status (the start of it).
MAX_ERROR_CHARS = 300


class NotificationEvent(StrEnum):
    """What a run can notify about."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SLA_MISSED = "SLAMissed"
    TIMED_OUT = "TimedOut"


class WebhookTarget(Model):
    """A generic webhook: a JSON POST to the URL in a Secret, optionally signed."""

    url_secret_ref: SecretKeyReference = Field(
        description="The Secret key holding the http(s) URL to POST to."
    )
    hmac_secret_ref: SecretKeyReference | None = Field(
        default=None,
        description="The Secret key holding the HMAC-SHA256 key; when set, every request "
        "carries X-Runwright-Signature (see docs/notifications.md).",
    )


class SlackTarget(Model):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, ...)."""

    webhook_secret_ref: SecretKeyReference = Field(
        description="The Secret key holding the incoming webhook's URL."
    )


class Notification(Model):
    """One notification target and the events it hears about."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.webhook) != has(self.slack)",
                    "message": "spec.notifications[]: set exactly one of webhook or slack",
                    "reason": "FieldValueInvalid",
                }
            ]
        }
    )

    on: list[NotificationEvent] = Field(
        min_length=1,
        max_length=len(NotificationEvent),
        description="Events that notify: Succeeded, Failed, Cancelled, SLAMissed, TimedOut. "
        'Quote the key in YAML ("on":): unquoted, YAML reads on as true.',
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    webhook: WebhookTarget | None = Field(default=None, description="A generic JSON webhook.")
    slack: SlackTarget | None = Field(
        default=None, description="A Slack-compatible incoming webhook."
    )

    @model_validator(mode="before")
    @classmethod
    def _on_quoted(cls, value: Any) -> Any:
        """YAML 1.1 (PyYAML, kubectl) reads an unquoted `on:` key as the boolean true."""
        if isinstance(value, dict) and True in value and "on" not in value:
            raise ValueError(
                'write the key "on" in quotes ("on": [Failed]): unquoted, YAML reads it as true'
            )
        return value

    @field_validator("on")
    @classmethod
    def _each_once(cls, events: list[NotificationEvent]) -> list[NotificationEvent]:
        seen: set[NotificationEvent] = set()
        for event in events:
            if event in seen:
                raise ValueError(f'"{event}" is listed twice; list each event once')
            seen.add(event)
        return events

    @model_validator(mode="after")
    def _one_target(self) -> Notification:
        if (self.webhook is None) == (self.slack is None):
            raise ValueError("set exactly one of webhook or slack")
        return self


class NotificationState(StrEnum):
    """Where one delivery stands."""

    PENDING = "Pending"
    """Not sent yet, or waiting for its next attempt (nextAttemptAt)."""
    SENDING = "Sending"
    """An attempt is in flight; found so after a restart, it is not sent again."""
    SENT = "Sent"
    """The receiver answered 2xx."""
    FAILED = "Failed"
    """Given up: attempts spent, a final answer, or interrupted (lastError says which)."""


class NotificationStatus(Model):
    """One delivery: an event of this run to one target, at most once."""

    event: NotificationEvent = Field(description="The event notified.")
    target: str = Field(
        description='The target: "webhook:SECRET/KEY" or "slack:SECRET/KEY" (the URL\'s Secret).'
    )
    state: NotificationState = Field(description="Pending, Sending, Sent or Failed.")
    attempts: int = Field(default=0, ge=0, description="Attempts made so far.")
    last_error: str = Field(default="", description="Why the latest attempt failed, if it did.")
    next_attempt_at: Time | None = Field(
        default=None, description="While Pending after a failure: when the next attempt is due."
    )
    sent_at: Time | None = Field(default=None, description="When the receiver accepted it.")
