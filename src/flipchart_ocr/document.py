"""The one document type passed between the pipeline's stages: a ``Sheet``.

``Sheet.to_dict()`` is exactly the sheet JSON of the contract (plus documented
extensions); ``Sheet.from_dict()`` reads it back, so JSON round-trips.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import SCHEMA_VERSION

# A word or line its reader doubts this much (confidence 0-100) is flagged for review,
# not trusted: merge lists it as doubtful, review and the debug image mark it.
LOW_CONFIDENCE = 60.0

Point = tuple[float, float]
BBox = tuple[int, int, int, int]  # x, y, w, h


def enclosing(boxes: Iterable[BBox]) -> BBox:
    """The smallest box that holds all of ``boxes``."""
    corners = [(x, y, x + w, y + h) for x, y, w, h in boxes]
    left, top = min(c[0] for c in corners), min(c[1] for c in corners)
    right, bottom = max(c[2] for c in corners), max(c[3] for c in corners)
    return (left, top, right - left, bottom - top)


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float
    # What the reader saw, where a word list replaced it with ``text`` (kept for review).
    read_as: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "confidence": round(self.confidence, 1)}
        if self.read_as is not None:
            d["read_as"] = self.read_as
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Word:
        return cls(d["text"], float(d["confidence"]), d.get("read_as"))


@dataclass(frozen=True)
class Line:
    text: str
    confidence: float
    bbox: BBox  # in pixels of the rectified sheet
    words: tuple[Word, ...] = ()
    reader: str = ""  # which reader produced the line ("tesseract", "ppocr", ...)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "text": self.text,
            "confidence": round(self.confidence, 1),
            "bbox": list(self.bbox),
            "words": [w.to_dict() for w in self.words],
        }
        if self.reader:
            d["reader"] = self.reader
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Line:
        words = tuple(Word.from_dict(w) for w in d.get("words", []))
        return cls(
            d["text"],
            float(d["confidence"]),
            tuple(d["bbox"]),  # type: ignore[arg-type]
            words,
            d.get("reader", ""),
        )


@dataclass(frozen=True)
class Block:
    """A group of a freeform field's lines that belong together: a card, a sticky note,
    a bullet with its continuation lines, a heading. Blocks are in reading order."""

    bbox: BBox  # in pixels of the rectified sheet
    lines: tuple[int, ...]  # indices into the field's lines
    kind: str = ""  # "heading", "card", "bullet", "paragraph", ... (informative)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"bbox": list(self.bbox), "lines": list(self.lines)}
        if self.kind:
            d["kind"] = self.kind
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Block:
        return cls(tuple(d["bbox"]), tuple(d["lines"]), d.get("kind", ""))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    text: str = ""
    confidence: float = 0.0
    lines: tuple[Line, ...] = ()
    box: BBox | None = None  # where the field lies on the rectified sheet, in pixels
    blocks: tuple[Block, ...] = ()  # freeform fields: lines grouped into cards, bullets, ...

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "label": self.label,
            "text": self.text,
            "confidence": round(self.confidence, 1),
            "lines": [line.to_dict() for line in self.lines],
        }
        if self.box is not None:
            d["box"] = list(self.box)
        if self.blocks:
            d["blocks"] = [b.to_dict() for b in self.blocks]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Field:
        box = d.get("box")
        return cls(
            id=d["id"],
            label=d.get("label", ""),
            text=d.get("text", ""),
            confidence=float(d.get("confidence", 0.0)),
            lines=tuple(Line.from_dict(x) for x in d.get("lines", [])),
            box=tuple(box) if box else None,  # type: ignore[arg-type]
            blocks=tuple(Block.from_dict(b) for b in d.get("blocks", [])),
        )


@dataclass(frozen=True)
class Source:
    path: str
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class Step:
    """One pipeline stage as it ran: kept in the JSON so output records how it was made."""

    name: str
    seconds: float
    detail: str = ""
    # The settings that shaped the step's output (model and checksum, word lists, decoder).
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "seconds": self.seconds}
        if self.detail:
            d["detail"] = self.detail
        if self.settings:
            d["settings"] = self.settings
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(d["name"], float(d["seconds"]), d.get("detail", ""), dict(d.get("settings", {})))


@dataclass(frozen=True)
class Sheet:
    id: str
    source: Source
    template: str | None = None
    template_score: float = 0.0
    corners: tuple[Point, ...] = ()
    size: tuple[int, int] | None = None  # rectified sheet width, height
    fields: tuple[Field, ...] = ()
    warnings: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    pipeline: dict[str, Any] = field(default_factory=dict)  # version + options, for the cache

    def warn(self, message: str) -> Sheet:
        return replace(self, warnings=(*self.warnings, message))

    def field_by_id(self, field_id: str) -> Field | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def to_dict(self) -> dict[str, Any]:
        sheet: dict[str, Any] = {"corners": [[round(x, 1), round(y, 1)] for x, y in self.corners]}
        if self.size:
            sheet["width"], sheet["height"] = self.size
        return {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "source": asdict(self.source),
            "template": self.template,
            "template_score": round(self.template_score, 3),
            "sheet": sheet,
            "fields": [f.to_dict() for f in self.fields],
            "warnings": list(self.warnings),
            "steps": [s.to_dict() for s in self.steps],
            "pipeline": self.pipeline,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sheet:
        sheet = d.get("sheet", {})
        size = (sheet["width"], sheet["height"]) if "width" in sheet else None
        return cls(
            id=d["id"],
            source=Source(**d["source"]),
            template=d.get("template"),
            template_score=float(d.get("template_score", 0.0)),
            corners=tuple(tuple(c) for c in sheet.get("corners", [])),  # type: ignore[misc]
            size=size,
            fields=tuple(Field.from_dict(f) for f in d.get("fields", [])),
            warnings=tuple(d.get("warnings", [])),
            steps=tuple(Step.from_dict(s) for s in d.get("steps", [])),
            pipeline=dict(d.get("pipeline", {})),
        )
