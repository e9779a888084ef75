"""Every label, annotation and API-group string Runwright puts on objects, defined once."""

from typing import Final

GROUP: Final = "runwright.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

PIPELINE: Final = f"{GROUP}/pipeline"
TRIGGER: Final = f"{GROUP}/trigger"
PHASE: Final = f"{GROUP}/phase"
RUN: Final = f"{GROUP}/run"
BLOCK: Final = f"{GROUP}/block"
ATTEMPT: Final = f"{GROUP}/attempt"
#: The item index of a fan-out (forEach) attempt; absent on a plain block's attempt.
ITEM: Final = f"{GROUP}/item"

#: Namespace annotation: at most this many blocks run at once in the namespace.
MAX_CONCURRENT_BLOCKS: Final = f"{GROUP}/max-concurrent-blocks"

#: The block container contract (API.md): every block process gets these.
ENV_RUN: Final = "RUNWRIGHT_RUN"
ENV_PIPELINE: Final = "RUNWRIGHT_PIPELINE"
ENV_BLOCK: Final = "RUNWRIGHT_BLOCK"
ENV_ATTEMPT: Final = "RUNWRIGHT_ATTEMPT"
ENV_EXECUTION_DATE: Final = "RUNWRIGHT_EXECUTION_DATE"
ENV_VARIABLES: Final = "RUNWRIGHT_VARIABLES"
ENV_UPSTREAM_OUTPUTS: Final = "RUNWRIGHT_UPSTREAM_OUTPUTS"
ENV_OUTPUT_PATH: Final = "RUNWRIGHT_OUTPUT_PATH"
#: Fan-out items only: the item (itself if a string, else its JSON) and its index.
ENV_ITEM: Final = "RUNWRIGHT_ITEM"
ENV_ITEM_INDEX: Final = "RUNWRIGHT_ITEM_INDEX"
