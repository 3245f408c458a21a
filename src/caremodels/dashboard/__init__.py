"""The web dashboard (FastAPI, NHS.UK design system): ``create_app(warehouse_path)`` builds it and
``caremodels serve`` runs it.

Boundaries: it reads the warehouse once, read-only, when it starts (``snapshot``), computes what the
pages show from that snapshot (``figures``, ``areas``, ``measures``, ``evaluations``), and publishes
every count through disclosure control. Pages (``pages``), the JSON API (``api``) and CSV downloads
(``downloads``) give the same figures; charts are server-side SVG (``charts``); assets come from the
installed npm package nhsuk-frontend (``assets``). See docs/dashboard.md.
"""

from caremodels.dashboard.app import create_app

__all__ = ["create_app"]
