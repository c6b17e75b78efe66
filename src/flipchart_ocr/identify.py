"""Which template is this sheet? Scored from what is printed on it.

Three kinds of evidence, each 0..1:
- lines: how well the template's box outlines match the long straight lines on
  the sheet after alignment (the strongest cue: every template has its own grid);
- text: how well the printed headings read from the sheet's top band match the
  template's ``printed`` texts;
- aspect: how close the sheet's shape in the photo is to the template's aspect
  (weak: perspective distorts it).
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .segment import Alignment, align, has_box_lines, rough_line_score
from .templates import Template

# Below this score no template fits and the sheet is read as freeform.
MIN_TEMPLATE_SCORE = 0.45
# Reading the printed header costs a Tesseract call; it is only needed when the
# box lines leave the choice open: no template this good, or two this close.
CLEAR_SCORE = 0.7
CLEAR_MARGIN = 0.2


@dataclass(frozen=True)
class Candidate:
    template: Template
    score: float
    alignment: Alignment | None
    evidence: dict[str, float] = field(default_factory=dict)


def score_template(
    template: Template, observed: np.ndarray, measured_aspect: float, aligned: bool = True
) -> Candidate:
    """Score one template by its lines and aspect.

    ``observed`` is the line mask of the sheet warped to the template's aspect (align
    size). Without ``aligned``, the lines are only roughly compared, at no cost.
    """
    alignment = None
    evidence: dict[str, float] = {}
    if has_box_lines(template):
        if aligned:
            alignment = align(template, observed)
            evidence["lines"] = alignment.score
        else:
            evidence["lines"] = rough_line_score(template, observed)
    if template.aspect is not None:
        evidence["aspect"] = math.exp(-abs(math.log(measured_aspect / template.aspect)) / 0.2)
    return Candidate(template, combine(evidence), alignment, evidence)


# Templates whose rough line score is this close to the best one are aligned and
# scored properly; the others cannot win and are spared the ECC alignment.
ALIGN_MARGIN = 0.2


def with_text(candidate: Candidate, header_text: str) -> Candidate:
    """The candidate rescored with how well its printed texts match the sheet's header."""
    if not candidate.template.printed:
        return candidate
    printed = [p.text for p in candidate.template.printed]
    evidence = {**candidate.evidence, "text": text_score(printed, header_text)}
    return Candidate(candidate.template, combine(evidence), candidate.alignment, evidence)


def is_clear_winner(candidates: list[Candidate]) -> bool:
    """Lines alone decide: the best fits well and far better than the runner-up."""
    ranked = sorted((c.score for c in candidates), reverse=True)
    if not ranked:
        return False
    runner_up = ranked[1] if len(ranked) > 1 else 0.0
    return ranked[0] >= CLEAR_SCORE and ranked[0] - runner_up >= CLEAR_MARGIN


def combine(evidence: dict[str, float]) -> float:
    weights = {"lines": 0.5, "text": 0.35, "aspect": 0.15}
    present = {k: w for k, w in weights.items() if k in evidence}
    if "lines" not in present:  # without box lines nothing places the fields reliably
        return 0.0
    total = sum(present.values())
    return sum(evidence[k] * w for k, w in present.items()) / total


def best_candidate(candidates: Iterable[Candidate]) -> Candidate | None:
    ranked = sorted(candidates, key=lambda c: c.score, reverse=True)
    if not ranked or ranked[0].score < MIN_TEMPLATE_SCORE:
        return None
    return ranked[0]


def text_score(printed: list[str], read: str) -> float:
    """Mean, over the printed texts, of how well each occurs in what was read."""
    read = _normalise(read)
    if not printed:
        return 0.0
    return sum(partial_ratio(_normalise(p), read) for p in printed) / len(printed)


def partial_ratio(needle: str, haystack: str) -> float:
    """Similarity of ``needle`` to its best-matching stretch of ``haystack`` (0..1)."""
    if not needle:
        return 0.0
    if len(haystack) <= len(needle):
        return _similarity(needle, haystack)
    step = max(1, len(needle) // 4)
    best = 0.0
    for start in range(0, len(haystack) - len(needle) + step, step):
        best = max(best, _similarity(needle, haystack[start : start + len(needle)]))
    return best


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text).split())
