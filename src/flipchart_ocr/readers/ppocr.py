"""PP-OCRv6 small: PaddleOCR's text detector and line recogniser, run with onnxruntime.

The two ONNX files ship inside the ``rapidocr`` wheel from PyPI (Apache-2.0); we load
them from the installed package, check their checksums, and never reach for the
network. We run them ourselves rather than through rapidocr's pipeline so that the
decoding is ours: the recogniser's 18 710 classes (mostly CJK) are cut down to the
letters we use, and unknown words may be steered towards the word lists (``decode``).

Detection is a DB (differentiable binarisation) text-probability map; its regions
above a threshold become rotated boxes, grown by the ratio the model was trained to
shrink them by. Recognition reads each box, straightened and scaled to 48 px rows,
into per-frame class probabilities (CTC, one frame per 8 px of the scaled row).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .. import fields, wordlists
from ..document import BBox, Line
from ..errors import ModelError
from . import Reading, Region, ctc, is_noise, joined, line_confidence
from .ink import has_ink, ink_image, ink_rows, line_height, remove_box_lines

PACKAGE = "rapidocr"
INSTALL_HINT = "pip install 'rapidocr>=3.9' onnxruntime"
OWN_MODELS = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    own: bool = False  # shipped in this package (models/), not in the rapidocr wheel


DETECTOR = ModelFile(
    "PP-OCRv6_det_small.onnx", "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f"
)
RECOGNISER = ModelFile(
    "PP-OCRv6_rec_small.onnx", "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"
)
# PP-OCRv6 small's recogniser cut to our letters and fine-tuned on real German
# handwriting (DHSD writers 1-21, CC BY 4.0) and generated lines: three fine-tuning runs
# averaged (a model soup), blended back towards the original weights three quarters of
# the way, its output layer half (training/ppocr/README.md). DHSD writers 25-29 through
# this reader, greedy: CER 0.131 (the wheel's) -> 0.054 (labels fixed, session 11).
RECOGNISER_DE = ModelFile(
    "ppocr_rec_de.onnx",
    "b18ef397d1840416cba77de30f5d7bc0e5ee8c4901754c3684e6a9aee65341aa",
    own=True,
)
RECOGNISERS = {"de": RECOGNISER_DE, "base": RECOGNISER}
DEFAULT_RECOGNISER = "de"

# The letters we let the recogniser emit: Latin, German, digits, the punctuation people
# write on flipcharts, and the accented letters of names. Everything else the model
# knows (CJK, Cyrillic, Greek, IPA, ...) is cut: on German and English sheets such a
# class is always a misreading.
CHARSET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "äöüßÄÖÜ"
    "0123456789"
    "!\"#%&'()*+,-./:;<=>?@"
    "–‘’“”•…€§°"
    "àáâçèéêëíîïñóôøúûÀÁÂÇÈÉÊÍÎÑÓÔÚÛ"
)

# Detection: the threshold on the probability map, the mean probability a box needs,
# and how far a box is grown (PaddleOCR's defaults: 0.3, 0.6, 1.5; rapidocr's 0.3,
# 0.5, 1.6). A row grown less carries less of its neighbours' ascenders and descenders:
# field CER (readers.py run), real-hand posters / seed 1000 / user templates / samples,
# at 1.6: 0.117 / 0.132 / 0.183 / 0.099; 1.4: 0.108 / 0.131 / 0.177 / 0.097 (real
# hands' word F1 0.537 -> 0.579); 1.2: 0.107 / 0.134 on the first two; 1.8: 0.120 / 0.140.
DET_THRESHOLD = 0.3
DET_BOX_THRESHOLD = 0.5
DET_UNCLIP_RATIO = 1.4
DET_MIN_SIDE = 3  # pixels of the probability map
DET_MAX_BOXES = 1000

REC_HEIGHT = 48
# Shorter rows are padded to this width. The model was trained padded to 320, yet it
# reads a short row better padded by less: DHSD writers 25-29 word CER 0.150 at 320,
# 0.116 at 240, 0.113 at 160 and at 64; the poster sets the same within 0.004 (field
# CER samples / seed 1000 / real hands / user templates 0.103 / 0.128 / 0.115 / 0.183
# at 320, 0.099 / 0.132 / 0.117 / 0.183 at 160), and a short row costs half the time.
REC_MIN_WIDTH = 160
# A row is scaled to 48 px high, then this much wider: its letters come out as wide as
# the recogniser was fine-tuned on (DHSD words were stretched to 0.36-0.6 of their ink
# height per letter), where the detected row's margins above and below made them
# narrower. Reading stage, field CER / word F1 at 1.0 -> 1.2 (benchmarks/readers.py
# run): real-hand posters 0.108 / 0.579 -> 0.106 / 0.590, user templates 0.177 / 0.693
# -> 0.173 / 0.701, seed 1000 0.131 / 0.674 -> 0.128 / 0.667, samples 0.097 / 0.652 ->
# 0.098 / 0.648; boards with real hands 0.479 -> 0.501, real photos 0.768 -> 0.780
# (benchmarks/boards.py); DHSD's words (squeezed to 256 x 64 px by the dataset) 0.113
# -> 0.075. At 1.3 and 1.4 the real-hand posters stay at 0.106 and seed 1000 loses
# (0.134, 0.138); at 0.85 real hands lose (0.121). It costs a fifth more recognition.
REC_STRETCH = 1.2
REC_MAX_WIDTH = 3200  # a row wider than this (ratio 67) is squeezed
REC_BATCH = 8  # rows per model call at most
BATCH_PADDING = 1.1  # rows share a call only if the widest is at most this much wider


@dataclass(frozen=True)
class Box:
    """A detected text region: its four corners (clockwise from top-left) and score."""

    corners: np.ndarray  # 4 x 2 float32, in pixels of the image given to ``detect``
    score: float

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        x0, y0 = np.floor(self.corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(self.corners.max(axis=0)).astype(int)
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def model_dir() -> Path:
    """Where the installed ``rapidocr`` package keeps its models (not imported: it is slow)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError(f"the text reader's models are missing: {INSTALL_HINT}")
    return Path(spec.origin).parent / "models"


def model_path(model: ModelFile) -> Path:
    """The model's file, checked against its checksum."""
    path = (OWN_MODELS if model.own else model_dir()) / model.name
    install = "pip install flipchart-ocr again" if model.own else INSTALL_HINT
    if not path.is_file():
        raise ModelError(f"{path}: model file missing; reinstall it: {install}")
    if _sha256(path) != model.sha256:
        raise ModelError(
            f"{path}: model file differs from the one this version was made with (checksum);"
            f" reinstall it: {install}"
        )
    return path


@lru_cache(maxsize=8)
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_models(recogniser: str = DEFAULT_RECOGNISER) -> None:
    """Both model files present and intact, and onnxruntime importable: ``ModelError`` if not."""
    model_path(DETECTOR)
    model_path(RECOGNISERS[recogniser])
    if importlib.util.find_spec("onnxruntime") is None:
        raise ModelError(f"onnxruntime is not installed: {INSTALL_HINT}")


def settings(recogniser: str = DEFAULT_RECOGNISER) -> dict[str, object]:
    """What shapes this reader's output, for the sheet JSON and the cache key."""
    model = RECOGNISERS[recogniser]
    return {
        "detector": {"model": DETECTOR.name, "sha256": DETECTOR.sha256},
        "recogniser": {"model": model.name, "sha256": model.sha256},
        "charset": hashlib.sha256(CHARSET.encode()).hexdigest()[:12],
        "detection": [DET_THRESHOLD, DET_BOX_THRESHOLD, DET_UNCLIP_RATIO],
        "label_glance": LABEL_GLANCE,
        # A field's ink left out of every row: share for a second look, for profile rows.
        "missed_ink": [MISSED_INK, STILL_MISSED],
        "rows": {"height": REC_HEIGHT, "stretch": REC_STRETCH, "min_width": REC_MIN_WIDTH},
    }


def _session(path: Path, threads: int, arena: bool = True):  # noqa: ANN202 (lazy import)
    try:
        import onnxruntime
    except ImportError as e:
        raise ModelError(f"onnxruntime is not installed: {INSTALL_HINT}") from e
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # No memory plan per input shape: every sheet has its own sizes and onnxruntime
    # kept a plan (and its buffers) for each, a worker growing to 955 MB over 14 photos
    # at 12 MP (benchmarks/throughput.py). The arena stays: without it the detector was
    # 20-30 % slower; with it and no plans its peak over five sizes was 485 MB, not 680.
    # The recogniser's arena grew with every new row width (188 -> 232 MB held between
    # photos, 14 photos at 12 MP): it runs without one, as fast within the noise.
    options.enable_mem_pattern = False
    options.enable_cpu_mem_arena = arena
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _arena_returned():  # noqa: ANN202 (onnxruntime is imported lazily)
    """Run options that hand the arena's free memory back after the run.

    The detector runs once per sheet size and needs most memory of all (about 175 MB at
    1152 x 864); its arena kept that, and more as sheet sizes varied, while the
    recogniser ran and across photos: a worker's peak over the 12 MP samples 436 -> 375
    MB (benchmarks/throughput.py), at no measurable cost in time.
    """
    import onnxruntime

    options = onnxruntime.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


class Models:
    """The detector and recogniser sessions, and the recogniser's classes cut to ``CHARSET``."""

    def __init__(self, threads: int = 1, recogniser: str = DEFAULT_RECOGNISER) -> None:
        model = RECOGNISERS[recogniser]
        self.detector = _session(model_path(DETECTOR), threads)
        self.detector_run = _arena_returned()
        self.recogniser = _session(model_path(model), threads, arena=False)
        if model.own:
            # Ours was cut to its letters in training: class k is charset[k - 1].
            path = model_path(model).with_suffix(".charset.txt")
            self.charset = path.read_text(encoding="utf-8")
            self.columns = np.arange(len(self.charset) + 1)
            return
        meta = self.recogniser.get_modelmeta().custom_metadata_map
        classes = meta["character"].split("\n")
        # The wheel's model: class 0 is CTC's blank, 1..n its dictionary, n+1 a space.
        position = {char: i + 1 for i, char in enumerate(classes)}
        kept = [c for c in CHARSET if c in position]
        self.charset = "".join(kept) + " "
        self.columns = np.array([0, *(position[c] for c in kept), len(classes) + 1])

    # -- detection ---------------------------------------------------------------------

    def detect(self, image: np.ndarray, sides: tuple[int, ...]) -> list[Box]:
        """Text regions of a BGR image, detected at each of ``sides`` (pixels on its longer
        side) and merged (``merge_scales``)."""
        found = [self.detect_at(image, side) for side in sorted(sides)]
        merged = found[0]
        for finer in found[1:]:
            merged = merge_scales(merged, finer)
        return merged

    def detect_at(self, image: np.ndarray, max_side: int) -> list[Box]:
        """Text regions of a BGR image, detected at most ``max_side`` pixels on its longer side."""
        height, width = image.shape[:2]
        scale = min(1.0, max_side / max(height, width))
        scaled_h = max(32, int(round(height * scale / 32)) * 32)
        scaled_w = max(32, int(round(width * scale / 32)) * 32)
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        scaled = cv2.resize(image, (scaled_w, scaled_h), interpolation=interpolation)
        tensor = (scaled.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        probability = self.detector.run(None, {"x": tensor}, self.detector_run)[0][0, 0]
        boxes = boxes_from_map(probability)
        to_image = np.array([width / scaled_w, height / scaled_h], np.float32)
        return [Box(b.corners * to_image, b.score) for b in boxes]

    # -- recognition -------------------------------------------------------------------

    def recognise(self, rows: list[np.ndarray], stretch: float = REC_STRETCH) -> list[np.ndarray]:
        """Per row image (BGR), its class probabilities, classes x frames, over ``charset``
        (class 0 blank, class k the charset's k-th letter). A row is scaled to
        ``REC_HEIGHT`` and made ``stretch`` times as wide as that keeps it."""
        widths = [_scaled_width(row, stretch) for row in rows]
        results: list[np.ndarray] = [np.zeros((len(self.columns), 0), np.float32)] * len(rows)
        for batch in _batches(widths):
            width = max(REC_MIN_WIDTH, max(widths[i] for i in batch))
            tensor = np.zeros((len(batch), 3, REC_HEIGHT, width), np.float32)
            for slot, i in enumerate(batch):
                scaled = cv2.resize(
                    rows[i], (widths[i], REC_HEIGHT), interpolation=_shrink(rows[i])
                )
                tensor[slot, :, :, : widths[i]] = scaled.transpose(2, 0, 1) / 127.5 - 1.0
            output = self.recogniser.run(None, {"x": tensor})[0]
            frames_per_pixel = output.shape[1] / width
            for slot, i in enumerate(batch):
                # Frames over the padding carry nothing: only the row's own frames are kept.
                frames = max(1, math.ceil(widths[i] * frames_per_pixel))
                kept = output[slot, :frames][:, self.columns]
                kept /= np.maximum(kept.sum(axis=1, keepdims=True), 1e-9)
                results[i] = kept.T.astype(np.float32)
        return results


def _batches(widths: list[int]) -> list[list[int]]:
    """Rows grouped for the model by width, so that a row is padded by little.

    The recogniser attends across the whole row, padding included: a short row padded
    to a long one's width reads worse ("Räumlichkeiten für alle Gruppen" lost its last
    two words beside a row twice as wide), and the padding costs time. Rows narrower
    than ``REC_MIN_WIDTH`` are padded to it.
    """
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    batches: list[list[int]] = []
    for i in order:
        padded = max(REC_MIN_WIDTH, widths[i])
        if (
            batches
            and len(batches[-1]) < REC_BATCH
            and padded <= BATCH_PADDING * max(REC_MIN_WIDTH, widths[batches[-1][0]])
        ):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _scaled_width(row: np.ndarray, stretch: float) -> int:
    height, width = row.shape[:2]
    scaled = stretch * REC_HEIGHT * width / max(height, 1)
    return int(np.clip(math.ceil(scaled), 8, REC_MAX_WIDTH))


def _shrink(row: np.ndarray) -> int:
    return cv2.INTER_AREA if row.shape[0] > REC_HEIGHT else cv2.INTER_LINEAR


# A coarse box is replaced by the finer boxes inside it when they cover this share of it.
FINER_COVER = 0.5


def merge_scales(coarse: list[Box], fine: list[Box]) -> list[Box]:
    """Boxes found at two scales, merged.

    The detector is scale-sensitive: a fine scale reads small print and keeps close
    handwritten lines apart, but misses thick marker writing, which a coarse scale
    finds (the delphine sample's two fields: found at 640 px, not at 1280). A coarse
    box that the fine boxes cover well gives way to them; one they do not cover stays,
    and the fine fragments inside it go.
    """
    kept_coarse = [b for b in coarse if _covered(b, fine) < FINER_COVER]
    kept_fine = [f for f in fine if not any(_inside(f, c) > 0.5 for c in kept_coarse)]
    return kept_coarse + kept_fine


def _covered(box: Box, others: list[Box]) -> float:
    """The share of ``box``'s bounding rectangle covered by ``others``' rectangles."""
    x, y, w, h = box.bbox
    if w <= 0 or h <= 0:
        return 1.0
    mask = np.zeros((h, w), np.uint8)
    for other in others:
        ox, oy, ow, oh = other.bbox
        mask[max(oy - y, 0) : max(oy + oh - y, 0), max(ox - x, 0) : max(ox + ow - x, 0)] = 1
    return float(mask.mean())


def _inside(box: Box, container: Box) -> float:
    """The share of ``box``'s rectangle that lies inside ``container``'s."""
    x, y, w, h = box.bbox
    cx, cy, cw, ch = container.bbox
    overlap_w = min(x + w, cx + cw) - max(x, cx)
    overlap_h = min(y + h, cy + ch) - max(y, cy)
    return max(overlap_w, 0) * max(overlap_h, 0) / max(w * h, 1)


# A line crosses into a region if this share of its width lies there (and at least
# one line height: a letter poking over a box line does not count).
REGION_SHARE = 0.15


def split_at_regions(box: Box, regions: list[BBox]) -> list[Box]:
    """``box`` cut at the borders of the regions it runs across, or ``box`` itself."""
    x, y, w, h = box.bbox
    parts = []
    for rx, ry, rw, rh in regions:
        left, right = max(x, rx), min(x + w, rx + rw)
        top, bottom = max(y, ry), min(y + h, ry + rh)
        if right - left >= max(REGION_SHARE * w, min(h, w)) and bottom - top >= 0.5 * h:
            parts.append((left, right, top, bottom))
    if len(parts) < 2:
        return [box]
    return [
        Box(np.clip(box.corners, [left, top], [right, bottom]).astype(np.float32), box.score)
        for left, right, top, bottom in parts
    ]


def boxes_from_map(probability: np.ndarray) -> list[Box]:
    """DB post-processing: regions of the probability map as grown, rotated boxes."""
    mask = (probability > DET_THRESHOLD).astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for contour in contours[:DET_MAX_BOXES]:
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        if min(w, h) < DET_MIN_SIDE:
            continue
        score = _mean_inside(probability, cv2.boxPoints(((cx, cy), (w, h), angle)))
        if score < DET_BOX_THRESHOLD:
            continue
        # The model marks a shrunk core of each text line; grow it back by the distance
        # PaddleOCR's training shrank it by: area * ratio / perimeter.
        grow = w * h * DET_UNCLIP_RATIO / (2 * (w + h))
        grown = ((cx, cy), (w + 2 * grow, h + 2 * grow), angle)
        if min(grown[1]) < DET_MIN_SIDE + 2:
            continue
        boxes.append(Box(clockwise(cv2.boxPoints(grown)), float(score)))
    return boxes


def _mean_inside(probability: np.ndarray, corners: np.ndarray) -> float:
    height, width = probability.shape
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [width - 1, height - 1])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int), 0, [width - 1, height - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(corners - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(probability[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def clockwise(points: np.ndarray) -> np.ndarray:
    """Four points ordered top-left, top-right, bottom-right, bottom-left."""
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def straightened(image: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels, warped upright to a rectangle (its longer sides horizontal)."""
    tl, tr, br, bl = box.corners
    width = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    height = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(box.corners, target)
    return cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


class PPOCRReader:
    """PP-OCRv6 small over the whole sheet in one pass; lines handed to the regions."""

    name = "ppocr"

    def __init__(
        self,
        lang: str = "deu",
        words: frozenset[str] = frozenset(),
        decode_words: bool = True,
        sides: tuple[int, ...] = (),
        threads: int = 1,
        recogniser: str = DEFAULT_RECOGNISER,
    ) -> None:
        self.lang = lang
        self.words = words  # the event's own words, known beside the word lists
        self.decode_words = decode_words  # unknown words steered towards the word lists
        self.sides = sides  # detection sizes (the sheet's longer side); empty: per sheet
        self.threads = threads
        self.recogniser = recogniser  # RECOGNISERS: "de" (fine-tuned, ours) or "base"

    @property
    def lexicon(self) -> ctc.Lexicon | None:
        return ctc.lexicon(self.lang, self.words) if self.decode_words else None

    def read(self, image: np.ndarray, regions: list[Region]) -> Reading:
        found = models(self.threads, self.recogniser)
        sides = self.sides or sides_for(image, regions)
        boxes = found.detect(image, sides)
        if len(regions) > 1:
            # Writing in two neighbouring fields can come close enough for the detector
            # to take it for one line ("BEGEGNUNGEN" beside "FR. LIBUDA").
            field_boxes = [region.box for region in regions]
            boxes = [part for box in boxes for part in split_at_regions(box, field_boxes)]
        # Each box goes to its region before it is read: a box in none (the printed
        # title, a note in the margin) costs no recognition.
        per_region = assign_to_regions(boxes, [region.box for region in regions])
        per_region = with_missed_writing(image, per_region, regions, found, sides)
        per_region = without_label_rows(image, per_region, regions, found)
        in_order = [box for boxes_of_region in per_region for box in boxes_of_region]
        lines = iter(read_boxes(image, in_order, self.lexicon, found))
        return Reading(
            [
                in_reading_order([next(lines) for _ in part], join=not region.sparse)
                for part, region in zip(per_region, regions, strict=True)
            ]
        )

    def settings(self) -> dict[str, object]:
        return {
            "engine": self.name,
            **settings(self.recogniser),
            "detector_sides": list(self.sides)
            or f"per sheet, rows {DETECT_ROW} px; freeform {DETECT_SIDES[1]}",
            "decoder": (
                f"ctc, word lists (margin {ctc.MARGIN:g}, case doubt {ctc.CASE_DOUBT:g}),"
                f" word frequencies (rare below {ctc.RARE:g}, commoner by {ctc.COMMONER:g})"
                if self.decode_words
                else "ctc greedy"
            ),
            "word_lists": wordlists.describe(self.lang, self.words) if self.decode_words else {},
        }


# The detector finds a text row best when it is about this tall in the image it sees
# (pixels): thick marker writing 35 per mille of the sheet tall was found at 640 px and
# missed at 960 and 1280; writing 12 per mille tall was missed at 960 and found at 1280.
# Rows of 22 px (sizes from 640 px) gave field CER 0.129 on the samples (thin lines run
# together), 28 px (sizes from 736 px) 0.099.
DETECT_ROW = 28
# The smallest and largest size the detector is run at. The largest bounds a worker's
# memory (the detector's activations: about 175 MB at 1152 x 864, 380 at 1600 x 1152).
# Field CER, samples / seed 1000 / real-hand posters / user templates, largest 1600:
# 0.099 / 0.136 / 0.121 / 0.173; 1280: 0.099 / 0.134 / 0.117 / 0.180; 1152: 0.103 /
# 0.128 / 0.115 / 0.183 (benchmarks/readers.py run); real photos' word F1 0.782 -> 0.785.
DETECT_SIDES = (736, 1152)
MEASURE_SIDE = 1200  # the sheet is measured at this size


def sides_for(image: np.ndarray, regions: list[Region]) -> tuple[int, ...]:
    """The sizes to detect at, from how tall the writing is in each region.

    One size that brings the typical row to ``DETECT_ROW`` pixels, and a finer one as
    well where some region's writing is much smaller than the rest. A freeform sheet
    is detected at the finest size: its rows cannot be measured (cards, notes and
    drawings side by side run into one band of ink), and small writing on a card or
    a note is lost at a coarser one (generated boards' word F1 0.51-0.56 -> 0.57-0.59,
    CER in reading order 0.17-0.35 -> 0.12-0.28; measured and finest merged read the
    real photos worse, 0.771 -> 0.764, against 0.769).
    """
    if any(region.sparse for region in regions):
        return (DETECT_SIDES[1],)
    heights = _row_heights(image, regions)
    if not heights:
        return (960,)
    typical = float(np.median(heights))
    smallest = min(h for h in heights if h >= 0.5 * typical)
    main, fine = _side_for(typical), _side_for(smallest)
    return (main, fine) if fine >= 1.3 * main else (main,)


def _side_for(row_share: float) -> int:
    side = DETECT_ROW / max(row_share, 1e-3)
    return int(np.clip(round(side / 32) * 32, *DETECT_SIDES))


def _measuring_copy(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The sheet shrunk to ``MEASURE_SIDE`` pixels on its longer side (never enlarged),
    and the scale from the sheet's pixels to the copy's."""
    scale = min(1.0, MEASURE_SIDE / max(image.shape[:2]))
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale


def _field_crop(
    small: np.ndarray, box: BBox, scale: float, top: int | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """A field's inside on the shrunk sheet, inset from its box lines (from ``top`` down,
    in the sheet's pixels, if given), and where that crop starts on the copy."""
    x, y, w, h = (round(v * scale) for v in box)
    first = round(top * scale) if top is not None else y
    inset = max(2, round(0.01 * min(w, h)))
    crop = small[first + inset : y + h - inset, x + inset : x + w - inset]
    return crop, (x + inset, first + inset)


def _row_heights(image: np.ndarray, regions: list[Region]) -> list[float]:
    """Each inked region's median text-row height, as a share of the sheet's longer side
    (measured below the label strip, on a copy ``MEASURE_SIDE`` pixels long)."""
    small, scale = _measuring_copy(image)
    heights = []
    for region in regions:
        crop, _ = _field_crop(small, region.box, scale, region.writing_top)
        if min(crop.shape[:2], default=0) < 8:
            continue
        gray = remove_box_lines(ink_image(crop))
        height = line_height(gray) if has_ink(gray) else None
        if height:
            heights.append(height / max(small.shape[:2]))
    return heights


def read_boxes(
    image: np.ndarray, boxes: list[Box], lexicon: ctc.Lexicon | None, found: Models
) -> list[Line | None]:
    """Each box straightened, read and decoded: its line, or None for noise."""
    probabilities = found.recognise([straightened(image, box) for box in boxes])
    lines = []
    for box, row in zip(boxes, probabilities, strict=True):
        words = tuple(ctc.read_words(row, found.charset, lexicon))
        text = " ".join(w.text for w in words)
        line = Line(text, line_confidence(words), box.bbox, words, reader="ppocr")
        lines.append(None if is_noise(line) else line)
    return lines


# A field whose ink lies mostly outside the rows detected on the sheet is detected again
# on its own, at twice the scale (at most its own pixels). Thick marker rows packed close
# run together for the detector at the size chosen for the whole sheet: five rows of heavy
# capitals were found at 1600 px and none at 736 or 1152 (a user template's field).
MISSED_INK = 0.5  # the share of a field's ink in no detected row that calls for a second look
RETRY_SCALE = 2.0
# Where a fifth of the field's ink is still in no row after that, the rows of that ink
# are cut from its horizontal profile (``ink.ink_rows``) and read as they are. Reading
# stage, field CER / word F1, before and after: user templates 0.120 / 0.748 -> 0.090 /
# 0.742, seed 3000 0.095 / 0.729 -> 0.088 / 0.723, samples 0.058 / 0.762 -> 0.052 / 0.775,
# seed 1000 0.077 / 0.700 -> 0.074 / 0.695; sets made afterwards for the check: fonts seed
# 9000 0.131 -> 0.124, user templates seed 9300 0.110 -> 0.099; real-hand posters unchanged
# (no row added). Any share from 0.12 to 0.3 read the user templates within 0.005. A row
# read this way is mostly flagged: the detector could not see it, and its reading is
# often poor.
STILL_MISSED = 0.2
MISSED_ROW_PAD = 0.2  # of the row's height, each side: the profile's band is tight
# A detected box is widened by this share of its height, up and down, before the ink it
# leaves is looked at: the tips of its letters are not a row of their own.
DETECTED_GROW = 0.2


def with_missed_writing(
    image: np.ndarray,
    per_region: list[list[Box]],
    regions: list[Region],
    found: Models,
    sides: tuple[int, ...],
) -> list[list[Box]]:
    """Each region's boxes; for a field whose writing the detector mostly missed, the
    boxes a second, larger look at the field finds, if they cover more of its ink; and
    for a field with ink still in no box, rows cut from that ink's profile."""
    if all(region.sparse for region in regions):  # a freeform sheet: text anywhere
        return per_region
    small, scale = _measuring_copy(image)
    blue, green, red = cv2.split(small)
    darkest = cv2.min(cv2.min(blue, green), red)  # every marker colour is dark in one
    sheet_scale = max(sides) / max(image.shape[:2])
    result = []
    for boxes, region in zip(per_region, regions, strict=True):
        ink = None if region.sparse else field_ink(darkest, region.box, scale)
        if ink is not None:
            missed = ink.missed_by(boxes)
            if missed > MISSED_INK:
                again = _looked_at_again(image, region.box, found, sheet_scale)
                if (missed_again := ink.missed_by(again)) < missed:
                    boxes, missed = again, missed_again
            if missed > STILL_MISSED:
                boxes = boxes + rows_of_missed_ink(small, region.box, scale, boxes)
        result.append(boxes)
    return result


def _looked_at_again(image: np.ndarray, box: BBox, found: Models, sheet_scale: float) -> list[Box]:
    """The boxes of the field detected on its own at ``RETRY_SCALE`` times the sheet's
    scale (at most its own pixels), in the sheet's pixels."""
    x, y, w, h = box
    side = round(min(1.0, RETRY_SCALE * sheet_scale) * max(w, h))
    offset = np.array([x, y], np.float32)
    crop = image[y : y + h, x : x + w]
    again = [Box(b.corners + offset, b.score) for b in found.detect_at(crop, side)]
    return [b for b in again if _overlap(b.bbox, box) >= 0.5 * _area(b.bbox)]


def rows_of_missed_ink(small: np.ndarray, box: BBox, scale: float, boxes: list[Box]) -> list[Box]:
    """The rows of the field's ink outside ``boxes``, from its horizontal profile on the
    shrunk sheet ``small``, in the sheet's pixels (score 0: no detector vouched for them).
    A row mostly inside a box already found is that box's leftover ink and is dropped."""
    crop, origin = _field_crop(small, box, scale)
    if min(crop.shape[:2], default=0) < 8:
        return []
    gray = remove_box_lines(ink_image(crop))
    shift = np.array(origin, np.float32)
    for detected in boxes:
        corners = detected.corners.copy()
        middle = corners[:, 1].mean()
        corners[:, 1] = middle + (corners[:, 1] - middle) * (1 + DETECTED_GROW)
        cv2.fillPoly(gray, [np.round(corners * scale - shift).astype(np.int32)], 255)
    if not has_ink(gray):
        return []
    rows = []
    for x, y, w, h in ink_rows(gray):
        if w < h:  # a mark, a stroke: no row of writing
            continue
        pad = MISSED_ROW_PAD * h
        left, top = (x + origin[0] - pad) / scale, (y + origin[1] - pad) / scale
        right, bottom = (x + w + origin[0] + pad) / scale, (y + h + origin[1] + pad) / scale
        corners = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)
        row = Box(corners, 0.0)
        if not any(_inside(row, b) > 0.5 for b in boxes):
            rows.append(row)
    return rows


# Ink, for the second look: darker than this share of the field's paper in the sheet's
# darkest channel. Cheaper than ``ink_image``'s flattened paper, which the sheet's
# measuring has already paid for once (0.07 s a photo).
INK_SHARE = 0.6


@dataclass(frozen=True)
class FieldInk:
    """A field's ink on the shrunk sheet: a mask, where it starts there, and the scale
    from the sheet's pixels to the shrunk sheet's."""

    mask: np.ndarray
    origin: tuple[int, int]
    scale: float

    def missed_by(self, boxes: list[Box]) -> float:
        """The share of the ink that lies in none of ``boxes`` (in the sheet's pixels)."""
        covered = np.zeros(self.mask.shape, np.uint8)
        shift = np.array(self.origin, np.float32)
        for box in boxes:
            cv2.fillPoly(covered, [np.round(box.corners * self.scale - shift).astype(np.int32)], 1)
        total = int(self.mask.sum())
        return float((self.mask & (covered == 0)).sum() / total) if total else 0.0


def field_ink(darkest: np.ndarray, box: BBox, scale: float) -> FieldInk | None:
    """The field's ink (box lines out) on the shrunk sheet's darkest channel; None if it
    has none."""
    crop, origin = _field_crop(darkest, box, scale)
    if min(crop.shape[:2], default=0) < 8:
        return None
    paper = float(np.percentile(crop, 75))
    gray = remove_box_lines(np.where(crop < INK_SHARE * paper, 0, 255).astype(np.uint8))
    if not has_ink(gray):
        return None
    return FieldInk(gray < 128, origin, scale)


def _area(bbox: BBox) -> int:
    return max(bbox[2] * bbox[3], 1)


# A row in the top half of a field with a printed label is first glanced at: read at
# this share of its width (print reads well squeezed), and where the glance is the label
# and nothing more (``fields.is_label``) it is not read again. Labels took about 60 % of
# the recogniser's work on a templated sheet. A row the glance does not show to be all
# label (handwriting, or the label with writing after it) is read in full, as any row,
# and the pipeline takes the label out of what it reads.
LABEL_GLANCE = 0.5


def without_label_rows(
    image: np.ndarray, per_region: list[list[Box]], regions: list[Region], found: Models
) -> list[list[Box]]:
    """Each region's boxes without the rows a glance shows to be its printed label."""
    candidates = [
        (region, box)
        for boxes, region in zip(per_region, regions, strict=True)
        if region.label
        for box in boxes
        if fields.in_label_zone(box.bbox, region.box)
    ]
    if not candidates:
        return per_region
    rows = [straightened(image, box) for _, box in candidates]
    glances = found.recognise(rows, LABEL_GLANCE * REC_STRETCH)
    labels = {
        id(box)
        for (region, box), glance in zip(candidates, glances, strict=True)
        if fields.is_label(_greedy_text(glance, found.charset), region.label)
    }
    return [[box for box in boxes if id(box) not in labels] for boxes in per_region]


def _greedy_text(probabilities: np.ndarray, charset: str) -> str:
    return "".join(emission.char for emission in ctc.greedy(probabilities, charset))


def assign_to_regions(boxes: list[Box], regions: list[BBox]) -> list[list[Box]]:
    """Per region, the boxes that lie mostly inside it (the one they overlap most).
    Boxes in no region are left out."""
    per_region: list[list[Box]] = [[] for _ in regions]
    for box in boxes:
        overlaps = [_overlap(box.bbox, region) for region in regions]
        best = int(np.argmax(overlaps)) if overlaps else -1
        if best >= 0 and overlaps[best] >= 0.5 * max(box.bbox[2] * box.bbox[3], 1):
            per_region[best].append(box)
    return per_region


# Rows the detector found apart on one line of writing (a word set a little higher, or
# one box's middle lowered by its descenders: "Bezirk" read before "ruhiger") are one line,
# joined left to right: they overlap this share of the lower one's height, lie side by side
# (overlapping by at most this share of it across) and at most SAME_LINE_GAP row heights
# apart. Writers leave wide gaps on a wide field ("Buschhäuser", 1.9 heights, then
# "Mühlenbecker Land" was read as two lines in the wrong order); the real-hand posters
# read the same from 2 to 8 heights, the font sets the same from 1.5 to 4. Rows further
# apart on one line are the same text in the same order either way.
SAME_LINE_OVERLAP = 0.5
SAME_LINE_GAP = 2.5


def in_reading_order(lines: list[Line | None], join: bool = True) -> list[Line]:
    """The lines (noise dropped) top to bottom by their middles; with ``join``, rows on
    one line of writing joined into one, left to right. A freeform sheet's lines are not
    joined: cards and notes side by side are blocks of their own (``layout.arrange``), and
    joining them cost the boards their reading order (CER in reading order, boards with
    real hands, 0.177 -> 0.362)."""
    found = sorted(
        (line for line in lines if line is not None),
        key=lambda line: (line.bbox[1] + line.bbox[3] / 2, line.bbox[0]),
    )
    if not join:
        return found
    text_lines: list[list[Line]] = []
    for line in found:
        home = next((rows for rows in reversed(text_lines) if _on_the_line(line, rows)), None)
        if home is None:
            text_lines.append([line])
        else:
            home.append(line)
    return [joined(sorted(rows, key=lambda row: row.bbox[0])) for rows in text_lines]


def _on_the_line(line: Line, rows: list[Line]) -> bool:
    """``line`` lies beside one of ``rows`` on their line of writing, and across none."""
    return any(_beside(line.bbox, row.bbox) for row in rows) and not any(
        _across(line.bbox, row.bbox) for row in rows
    )


def _beside(a: BBox, b: BBox) -> bool:
    height = min(a[3], b[3])
    vertical = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    gap = max(a[0], b[0]) - min(a[0] + a[2], b[0] + b[2])
    return vertical >= SAME_LINE_OVERLAP * height and gap <= SAME_LINE_GAP * max(a[3], b[3])


def _across(a: BBox, b: BBox) -> bool:
    """The boxes overlap across (left to right) by more than half the lower one's height."""
    horizontal = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    return horizontal > SAME_LINE_OVERLAP * min(a[3], b[3])


def _overlap(a: BBox, b: BBox) -> int:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(width, 0) * max(height, 0)


@lru_cache(maxsize=2)
def models(threads: int = 1, recogniser: str = DEFAULT_RECOGNISER) -> Models:
    """One pair of sessions per process: loading them costs more than reading a sheet."""
    return Models(threads, recogniser)


def default_threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))
