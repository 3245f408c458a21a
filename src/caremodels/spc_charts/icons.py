"""Making Data Count's variation and assurance icons, drawn as small inline SVGs.

The shapes follow the icons NHS England's Making Data Count programme publishes (a ring in
the colour of the signal, a little run of points inside it, H or L for a high or low special
cause, P / F / ? for the assurance icon), drawn from scratch here so that no artwork is copied.
Colours are MDC's: grey for common cause and hit-and-miss, blue for improvement and pass,
orange for concern and fail, purple for a special cause where neither direction is better.

Boundaries: pure functions returning SVG markup; every icon carries a <title> so that it reads
out in a screen reader and shows as a tooltip.
"""

from __future__ import annotations

from html import escape

__all__ = ["ASSURANCE_LABELS", "COLOURS", "VARIATION_LABELS", "assurance_icon_svg", "variation_icon_svg"]

COLOURS = {
    "common": "#7b7d7d",
    "improvement": "#289de0",
    "concern": "#fab428",
    "neither": "#7030a0",
}

VARIATION_LABELS = {
    "common_cause": "Common cause variation",
    "improvement_high": "Special cause improvement (high)",
    "improvement_low": "Special cause improvement (low)",
    "concern_high": "Special cause concern (high)",
    "concern_low": "Special cause concern (low)",
    "neither_high": "Special cause, neither improvement nor concern (high)",
    "neither_low": "Special cause, neither improvement nor concern (low)",
}

ASSURANCE_LABELS = {
    "pass": "The system is expected to meet the target consistently",
    "fail": "The system is expected to miss the target consistently",
    "hit_and_miss": "The system will hit and miss the target at random",
}

_ASSURANCE_COLOURS = {
    "pass": COLOURS["improvement"],
    "fail": COLOURS["concern"],
    "hit_and_miss": COLOURS["common"],
}
_ASSURANCE_LETTERS = {"pass": "P", "fail": "F", "hit_and_miss": "?"}


def _frame(colour: str, title: str, body: str, size: int) -> str:
    return (
        f'<svg class="mdc-icon" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" '
        f'width="{size}" height="{size}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<circle cx="50" cy="50" r="44" fill="#fff" stroke="{colour}" stroke-width="8"/>'
        f"{body}</svg>"
    )


def variation_icon_svg(icon: str, size: int = 40) -> str:
    """The variation icon for :attr:`caremodels.evaluation.spc.SpcResult.variation_icon`."""
    if icon not in VARIATION_LABELS:
        raise ValueError(f"unknown variation icon {icon!r}")
    kind, _, side = icon.partition("_")
    side = side if side in ("high", "low") else ""
    colour = COLOURS["common"] if icon == "common_cause" else COLOURS[kind]
    # Seven points: level for common cause; the last four climb (or fall) for a special cause.
    heights = [50, 54, 46, 52, 48, 51, 49]
    if side == "high":
        heights = [60, 62, 58, 50, 44, 38, 32]
    elif side == "low":
        heights = [40, 38, 42, 50, 56, 62, 68]
    dots = "".join(
        f'<circle cx="{20 + 10 * i}" cy="{y}" r="4" fill="{colour if i >= 3 and side else COLOURS["common"]}"/>'
        for i, y in enumerate(heights)
    )
    line = " ".join(f"{20 + 10 * i},{y}" for i, y in enumerate(heights))
    letter = ""
    if side:
        letter = (
            f'<text x="50" y="{30 if side == "high" else 86}" text-anchor="middle" font-family="Arial, sans-serif" '
            f'font-size="22" font-weight="bold" fill="{colour}">{"H" if side == "high" else "L"}</text>'
        )
    body = (
        f'<polyline points="{line}" fill="none" stroke="{COLOURS["common"]}" stroke-width="2"/>{dots}{letter}'
    )
    return _frame(colour, VARIATION_LABELS[icon], body, size)


def assurance_icon_svg(icon: str | None, size: int = 40) -> str:
    """The assurance icon, or an empty string when there is no target (MDC shows none)."""
    if icon is None:
        return ""
    if icon not in ASSURANCE_LABELS:
        raise ValueError(f"unknown assurance icon {icon!r}")
    colour = _ASSURANCE_COLOURS[icon]
    body = (
        f'<line x1="18" y1="66" x2="82" y2="66" stroke="{COLOURS["concern"]}" stroke-width="4" '
        'stroke-dasharray="8 5"/>'
        f'<text x="50" y="58" text-anchor="middle" font-family="Arial, sans-serif" font-size="40" '
        f'font-weight="bold" fill="{colour}">{_ASSURANCE_LETTERS[icon]}</text>'
    )
    return _frame(colour, ASSURANCE_LABELS[icon], body, size)
