"""The operator's one way to talk to the Kubernetes API.

- `client`: `Kube`, every request the operator sends (custom objects, Jobs, Events,
  Secrets), each through the one retry policy and counted in
  runwright_kube_requests_total;
- `retry`: that policy: what is transient, the capped backoff, Retry-After;
- `errors`: what an API error says (the server's Status message, a missing RBAC
  permission);
- `expectations`: objects created but not yet delivered by the watch, so a decision
  taken in that window still counts them.
"""
