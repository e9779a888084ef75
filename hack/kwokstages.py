"""Scripted pod outcomes for the local control plane (kwok), defined once.

The integration tests run against a real kube-apiserver, controller-manager
and scheduler, but pods land on one fake Node managed by kwok, which plays
the kubelet's part through Stage documents (``hack/kwok/stages.yaml``). Those
stages read the keys below, so a test (or a Pipeline's block template) scripts
what each pod does:

- every pod is scheduled, goes ``Running`` at once, then ``Succeeded`` after
  ``DURATION`` (a Go duration string such as ``"3s"``; default: immediately),
  its containers terminated with exit code 0, reason ``Completed``;
- a pod labelled ``OUTCOME: FAIL`` ends ``Failed`` instead, its containers
  terminated with exit code ``EXIT_CODE`` (default ``"1"``) and reason
  ``REASON`` (default ``"Error"``);
- on either outcome each container's ``state.terminated.message`` (the
  termination message, where a block writes its outputs JSON) is ``MESSAGE``
  when that annotation is set, and ``finishedAt`` is set;
- a deleted pod first turns terminal like a kubelet would (``Failed``, exit
  code 143, unless it already finished), then goes away.

Example pod template metadata::

    metadata:
      labels: {sim.runwright.dev/outcome: fail}
      annotations:
        sim.runwright.dev/duration: "2s"
        sim.runwright.dev/exit-code: "7"
        sim.runwright.dev/message: "disk full"

The unit test ``tests/unit/test_kwok_stages.py`` checks that the Stage YAML
uses exactly these keys.
"""

from typing import Final

PREFIX: Final = "sim.runwright.dev"

#: Label: ``fail`` makes the pod end Failed; anything else (or absent) Succeeded.
OUTCOME: Final = f"{PREFIX}/outcome"
#: The label value selecting the failure stage.
FAIL: Final = "fail"

#: Annotation: how long the pod stays Running before its outcome (``"3s"``, ``"1m"``).
DURATION: Final = f"{PREFIX}/duration"
#: Annotation: the containers' exit code on failure (decimal integer, default 1).
EXIT_CODE: Final = f"{PREFIX}/exit-code"
#: Annotation: the containers' termination reason (default Error / Completed).
REASON: Final = f"{PREFIX}/reason"
#: Annotation: the containers' termination message, on success or failure.
MESSAGE: Final = f"{PREFIX}/message"

#: Exit code of a pod deleted while still running (SIGTERM, like a kubelet).
DELETED_EXIT_CODE: Final = 143

#: Label and annotation on the one fake Node kwok manages.
NODE_NAME: Final = "kwok-node-0"
NODE_ANNOTATION: Final = "kwok.x-k8s.io/node"
NODE_ANNOTATION_VALUE: Final = "fake"

LABEL_KEYS: Final = frozenset({OUTCOME})
ANNOTATION_KEYS: Final = frozenset({DURATION, EXIT_CODE, REASON, MESSAGE})
