"""Where the NHS.UK frontend assets are: the npm package ``nhsuk-frontend``, installed by
``./run setup`` from the project's package-lock.json and served by the app itself (never a CDN)."""

from __future__ import annotations

import os
from pathlib import Path

from caremodels.errors import CaremodelsError

__all__ = ["ASSETS_ENVIRONMENT_VARIABLE", "frontend_dist"]

ASSETS_ENVIRONMENT_VARIABLE = "CAREMODELS_NHSUK_FRONTEND"
_RELATIVE = Path("node_modules") / "nhsuk-frontend" / "dist" / "nhsuk"


def frontend_dist() -> Path:
    """The ``dist/nhsuk`` folder of the installed nhsuk-frontend package."""
    configured = os.environ.get(ASSETS_ENVIRONMENT_VARIABLE)
    candidates = [Path(configured)] if configured else []
    here = Path(__file__).resolve()
    candidates += [parent / _RELATIVE for parent in here.parents]
    candidates.append(Path.cwd() / _RELATIVE)
    for candidate in candidates:
        if (candidate / "nhsuk-frontend.min.css").is_file():
            return candidate
    raise CaremodelsError(
        "the NHS.UK frontend assets are not installed: run ./run setup (npm ci) in the caremodels folder, "
        f"or set {ASSETS_ENVIRONMENT_VARIABLE} to node_modules/nhsuk-frontend/dist/nhsuk"
    )
