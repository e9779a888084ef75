"""The kopf operator: `runwright operator`, or `kopf run --standalone -A -m runwright.controller`.

Importing this package registers the handlers (controller.handlers) with kopf.
"""

from runwright.controller import handlers as handlers
