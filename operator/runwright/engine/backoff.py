"""Retry policy resolution (block overrides pipeline, field by field) and backoff delays."""

from __future__ import annotations

from dataclasses import dataclass

from runwright.api.pipeline import Block, PipelineSpec

DEFAULT_LIMIT = 0
DEFAULT_BACKOFF_SECONDS = 10
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_MAX_BACKOFF_SECONDS = 300


@dataclass(frozen=True)
class Retry:
    """A fully resolved retry policy."""

    limit: int
    backoff_seconds: int
    backoff_factor: float
    max_backoff_seconds: int

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry `retry_number` (1 = the second attempt)."""
        raw = self.backoff_seconds * self.backoff_factor ** max(retry_number - 1, 0)
        return float(min(raw, self.max_backoff_seconds))


def resolve(spec: PipelineSpec, block: Block) -> Retry:
    """The block's policy: its own fields first, then the pipeline's, then the defaults."""
    own, base = block.retry, spec.retry

    def pick(name: str, default: float) -> float:
        for policy in (own, base):
            value = getattr(policy, name) if policy is not None else None
            if value is not None:
                return float(value)
        return default

    return Retry(
        limit=int(pick("limit", DEFAULT_LIMIT)),
        backoff_seconds=int(pick("backoff_seconds", DEFAULT_BACKOFF_SECONDS)),
        backoff_factor=pick("backoff_factor", DEFAULT_BACKOFF_FACTOR),
        max_backoff_seconds=int(pick("max_backoff_seconds", DEFAULT_MAX_BACKOFF_SECONDS)),
    )
