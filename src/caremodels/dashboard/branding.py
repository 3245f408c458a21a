"""The deploying organisation's branding: the service name, an optional organisation name and logo,
and the footer's lines. Settings, not code: CLI options, ``CAREMODELS_BRAND_*`` environment variables
or a YAML file (``load_branding``).

The default is the NHS.UK design system's styles with no NHS logo and no crown-copyright or
"© NHS England" line: an unofficial deployment may not use them (the NHS identity guidelines).

Boundaries: settings only; the templates (``templates/base.html``) draw them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

from caremodels.errors import DataError
from caremodels.web_assets import without_nhs_logo

__all__ = [
    "BRAND_ENVIRONMENT_PREFIX",
    "Branding",
    "branding_from_environment",
    "load_branding",
    "without_nhs_logo",
]

BRAND_ENVIRONMENT_PREFIX = "CAREMODELS_BRAND_"
_LOGO_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass(frozen=True)
class Branding:
    name: str = "caremodels"
    organisation: str | None = None
    logo: Path | None = None
    footer: str | None = None
    copyright: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise DataError("the service name must not be empty", field="name")
        if self.logo is not None:
            if self.logo.suffix.lower() not in _LOGO_TYPES:
                raise DataError("a logo must be a .png, .svg or .jpg file", file=self.logo, field="logo")
            if not self.logo.is_file():
                raise DataError("no such logo file", file=self.logo, field="logo")

    @property
    def logo_media_type(self) -> str:
        return _LOGO_TYPES[self.logo.suffix.lower()] if self.logo else "image/png"

    def with_overrides(self, **values: str | Path | None) -> Branding:
        """A copy with every given (not None) setting replaced."""
        given = {key: value for key, value in values.items() if value is not None}
        if "logo" in given:
            given["logo"] = Path(given["logo"])
        return replace(self, **given)  # type: ignore[arg-type]


def load_branding(path: Path) -> Branding:
    """A YAML mapping of name, organisation, logo (a path, relative to the file), footer, copyright."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise DataError(f"cannot read branding: {error.strerror}", file=path) from error
    except yaml.YAMLError as error:
        raise DataError(f"not valid YAML: {error}", file=path) from error
    if not isinstance(document, dict):
        raise DataError("expected a mapping of name, organisation, logo, footer, copyright", file=path)
    known = {field.name for field in fields(Branding)}
    for key, value in document.items():
        if key not in known:
            raise DataError(f"unknown setting (known: {', '.join(sorted(known))})", file=path, field=str(key))
        if value is not None and not isinstance(value, str):
            raise DataError("must be text", file=path, field=str(key))
    if document.get("logo"):
        document["logo"] = path.parent / document["logo"]
    return Branding().with_overrides(**document)


def branding_from_environment(base: Branding | None = None) -> Branding:
    """``base`` with ``CAREMODELS_BRAND_NAME``, ``_ORGANISATION``, ``_LOGO``, ``_FOOTER`` and
    ``_COPYRIGHT`` applied when set."""
    values = {
        field.name: os.environ.get(BRAND_ENVIRONMENT_PREFIX + field.name.upper())
        for field in fields(Branding)
    }
    return (base or Branding()).with_overrides(**values)
