"""Where the NHS.UK frontend assets are (shared by the dashboard and the care record, which must not import
each other): the npm package ``nhsuk-frontend``, installed by
``./run setup`` from the project's package-lock.json and served by the app itself (never a CDN).

The package's stylesheet loads the Frutiger web font from assets.nhs.uk (the font is licensed and
not in the package). ``offline_stylesheet`` serves the same stylesheet without those ``@font-face``
rules, so that pages make no network call and fall back to Arial, the design system's own fallback.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from markupsafe import Markup

from caremodels.errors import CaremodelsError

__all__ = ["ASSETS_ENVIRONMENT_VARIABLE", "frontend_dist", "offline_stylesheet", "without_nhs_logo"]

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


_REMOTE_FONT_FACE = re.compile(r"@font-face\{[^}]*url\(\s*['\"]?(?:https?:)?//[^}]*\}")


@functools.cache
def offline_stylesheet(dist: Path) -> str:
    """The package's minified stylesheet without ``@font-face`` rules that fetch remote fonts."""
    css = (dist / "nhsuk-frontend.min.css").read_text(encoding="utf-8")
    return _REMOTE_FONT_FACE.sub("", css)


_NHS_LOGO = re.compile(r'<svg class="nhsuk-header__logo".*?</svg>', re.S)


def without_nhs_logo(html: str) -> Markup:
    """The NHS.UK header's markup without its built-in NHS logo: an unofficial tool may not use the
    NHS identity, so every page (the dashboard's and the care record's) is drawn without it unless
    the deploying organisation sets its own logo."""
    # The input is the NHS.UK header macro's own escaped output; only an element is removed.
    return Markup(_NHS_LOGO.sub("", str(html)))  # noqa: S704
