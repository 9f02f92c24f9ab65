"""The package's shape, declared once: each area may import only the areas before it in ``AREAS``.

``core`` knows no area; access control (``auth``) guards every area's routes, so it sits below the
organisation tree and reaches it through a port (``auth.tree``); money (``fund``) sits above the
registry it pays; pages (``web``) and the demo county sit on top. The modules directly in the package
(``app``, ``cli``, ``models``) assemble the areas and may import any of them. ``tests/test_layers.py``
checks every import, including those inside functions.
"""

from __future__ import annotations

AREAS: tuple[str, ...] = ("core", "auth", "orgs", "people", "members", "fund", "households", "relief", "entitlements",
                         "reports", "ops", "web", "demo")
