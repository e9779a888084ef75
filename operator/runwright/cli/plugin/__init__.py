"""`kubectl runwright`: see, follow, retry, cancel, export and clean up runs from a terminal.

The plugin acts with the user's own kubeconfig credentials (so RBAC applies) and
reads the run archive for runs the cluster no longer has. `commands` builds the
parser and dispatches; each command lives in a module of its own; `rows` and
`selection` are the pure parts (what a run row says, which rows a filter keeps).
"""
