"""The NHS.UK frontend assets, from ``caremodels.web_assets`` (shared with the care record)."""

from caremodels.web_assets import ASSETS_ENVIRONMENT_VARIABLE, frontend_dist, offline_stylesheet

__all__ = ["ASSETS_ENVIRONMENT_VARIABLE", "frontend_dist", "offline_stylesheet"]
