"""The NHS.UK frontend assets, from ``caremodels.web_assets`` (shared with the care record)."""

from pathlib import Path

from caremodels.errors import CaremodelsError
from caremodels.web_assets import ASSETS_ENVIRONMENT_VARIABLE, frontend_dist, offline_stylesheet

__all__ = ["ASSETS_ENVIRONMENT_VARIABLE", "frontend_dist", "offline_stylesheet", "swagger_ui_dist"]


def swagger_ui_dist() -> Path:
    """The installed npm package swagger-ui-dist (the API documentation's script and styles), found
    beside nhsuk-frontend's node_modules."""
    node_modules = frontend_dist().parents[2]
    candidate = node_modules / "swagger-ui-dist"
    if not (candidate / "swagger-ui-bundle.js").is_file():
        raise CaremodelsError("the API documentation assets are not installed: run ./run setup (npm ci)")
    return candidate
