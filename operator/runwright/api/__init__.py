"""Pydantic models of the three resources: the single source of truth for fields and CRDs."""

from runwright.api.common import Condition, ConditionStatus, LocalObjectReference, ObjectMeta
from runwright.api.pipeline import Block, Pipeline, PipelineSpec, PipelineStatus
from runwright.api.run import (
    BlockPhase,
    BlockStatus,
    PipelineRun,
    PipelineRunSpec,
    PipelineRunStatus,
    RetryMode,
    TriggeredBy,
)
from runwright.api.trigger import RunPhase, Trigger, TriggerSpec, TriggerStatus, TriggerType

__all__ = [
    "Block",
    "BlockPhase",
    "BlockStatus",
    "Condition",
    "ConditionStatus",
    "LocalObjectReference",
    "ObjectMeta",
    "Pipeline",
    "PipelineRun",
    "PipelineRunSpec",
    "PipelineRunStatus",
    "PipelineSpec",
    "PipelineStatus",
    "RetryMode",
    "RunPhase",
    "Trigger",
    "TriggerSpec",
    "TriggerStatus",
    "TriggerType",
    "TriggeredBy",
]
