"""`runwright server`: the web Runs view, acting as each user's own Kubernetes identity.

app.py wires pages, the JSON API (api.py), live updates (sse.py) and the
guards (auth.py: token, cookie, CSRF); kubeapi.py makes every Kubernetes call
with the user's token; runs.py and export.py are the pure list and export;
archived.py merges the run archive in, limited by scope.py. See docs/web.md.
"""

from runwright.web.app import create_app
from runwright.web.kubeapi import ClusterAccess, Identity
from runwright.web.settings import Settings

__all__ = ["ClusterAccess", "Identity", "Settings", "create_app"]
