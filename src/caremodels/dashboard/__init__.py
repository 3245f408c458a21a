"""The web dashboard (FastAPI, NHS.UK design system). ``create_app(warehouse_path)`` builds it."""

from caremodels.dashboard.app import create_app

__all__ = ["create_app"]
