"""What the controlled methods say together, in one sentence with their intervals, and the small
grammar helpers every plain-English output uses (plurals, ranges of percentages).

Boundaries: formats ``EvaluationResult`` estimates as they are; computes nothing from data. The
report (``caremodels.reports``) puts the sentence first; anything else that shows the same
results can call the same function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from caremodels.evaluation.result import Estimate, EvaluationResult

__all__ = ["CONTROLLED_METHODS", "change_text", "controlled_together", "count_text", "interval_text"]

CONTROLLED_METHODS = ("did", "synthetic", "matched")
"""Methods that compare the site with a constructed comparison (not programme monitoring's
uncontrolled growth against the rest of England, nor the site's own before-and-after)."""

_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def count_text(count: int, singular: str, plural: str | None = None) -> str:
    """``1 placebo area``, ``12 placebo areas``."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def change_text(ratio: float) -> str:
    """A rate ratio as a signed percentage change: 0.95 -> ``-5.0%`` (with a true minus sign)."""
    return f"{(ratio - 1) * 100:+.1f}%".replace("-", "\u2212")


def interval_text(estimate: Estimate) -> str:
    """``95% CI -8.0% to -0.1%``, or that there is none."""
    if math.isfinite(estimate.ci_low) and math.isfinite(estimate.ci_high):
        return f"95% CI {change_text(estimate.ci_low)} to {change_text(estimate.ci_high)}"
    return "no interval"


def _has_interval(estimate: Estimate) -> bool:
    return math.isfinite(estimate.ci_low) and math.isfinite(estimate.ci_high)


def controlled_together(results: Sequence[tuple[str, EvaluationResult]], *, measure: str) -> str:
    """One sentence: whether the controlled methods (``(name, result)`` pairs) find a change in
    ``measure`` they can tell from no change, and which way, with each estimate and its interval."""
    if not results:
        return f"No controlled method could be run for {measure} on these data."
    estimates = [result.estimate for _, result in results]
    listed = [
        f"{name.lower()} {change_text(e.rate_ratio)} ({interval_text(e)})"
        for (name, _), e in zip(results, estimates, strict=True)
    ]
    evidence = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
    count = len(results)
    subject = (
        "The one controlled method"
        if count == 1
        else "Both controlled methods"
        if count == 2
        else f"All {_NUMBER_WORDS.get(count, str(count))} controlled methods"
    )
    below = sum(1 for e in estimates if _has_interval(e) and e.ci_high < 1)
    above = sum(1 for e in estimates if _has_interval(e) and e.ci_low > 1)
    lower = sum(1 for e in estimates if e.rate_ratio < 1)
    verb = "finds" if count == 1 else "find"
    if below == count:
        verdict = f"{subject} {verb} a fall in {measure} that the data tell apart from no change"
    elif above == count:
        verdict = f"{subject} {verb} a rise in {measure} that the data tell apart from no change"
    elif below == 0 and above == 0:
        lean = "to a fall" if lower == count else "to a rise" if lower == 0 else "in different directions"
        if count == 1:
            verdict = (
                f"{subject} cannot tell a change in {measure} from no change (its estimate points {lean})"
            )
        elif count == 2:
            verdict = (
                f"Neither controlled method can tell a change in {measure} from no change (their estimates "
                f"point {lean})"
            )
        else:
            verdict = (
                f"None of the {_NUMBER_WORDS.get(count, str(count))} controlled methods can tell a change "
                f"in {measure} from no change (their estimates point {lean})"
            )
    else:
        verdict = (
            f"The controlled methods disagree about {measure} ({below + above} of {count} can tell a "
            "change from no change)"
        )
    return f"{verdict}: {evidence}."
