"""Generate simulated phone photos of filled-in flipchart templates, with ground truth.

    python samples/generate.py --out samples                       # the committed set
    python samples/generate.py --out /tmp/heldout --seed 1000 --count 30   # photos never seen
    python samples/generate.py --out /tmp/hands --count 30 --hands ../shared/handwriting/dhsd
    python samples/generate.py --out /tmp/user --count 30 --user-templates 4
    python samples/generate.py --out /tmp/boards --count 30 --boards [--hands DIR]

Each photo NAME.jpg gets NAME.truth.json: template, sheet corners in the upright
photo, every field's handwritten text. The sheet is rendered from the project's
own templates (so photos always match them), filled in with handwriting fonts in
marker colours, then photographed: perspective, rotation, background, uneven
light, shadow, blur, noise, JPEG, sometimes an EXIF rotation.

The varied sets (samples/README.md) write with real hands (DHSD word images,
``handwords.py``), fill templates invented as users write them (``user_templates.py``)
or draw freeform boards with their truth in reading order (``board_scenes.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))  # the generator's helper modules beside it
import board_scenes  # noqa: E402
import user_templates  # noqa: E402
from flipchart_ocr.templates import (  # noqa: E402
    FREEFORM_ID,
    Template,
    TemplateField,
    load_templates,
)
from handwords import HandPen, WordImage, load_words, parse_writers  # noqa: E402

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DEJAVU_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
FONTS = {
    "dkg": "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
    "dkgbold": "/usr/share/fonts/truetype/fifthhorseman/dkgBd.ttf",
    "breip": "/usr/share/fonts/truetype/breip/Breip.ttf",
    "femke": "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
    "humor": "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf",
    "rufscript": "/usr/share/fonts/truetype/rufscript/Rufscript010.ttf",
    "delphine": "/usr/share/fonts/truetype/sjfonts/Delphine.ttf",
    "steve": "/usr/share/fonts/truetype/sjfonts/SteveHand.ttf",
    "bwbuild": "/usr/share/fonts/opentype/bwht/BecauseWeBuild-Regular.otf",
    "bwconnect": "/usr/share/fonts/opentype/bwht/BecauseWeConnect-Regular.otf",
    "bwcreate": "/usr/share/fonts/opentype/bwht/BecauseWeCreate-Regular.otf",
    "bwlearn": "/usr/share/fonts/opentype/bwht/BecauseWeLearn-Regular.otf",
    "bwmentor": "/usr/share/fonts/opentype/bwht/BecauseWeMentor-Regular.otf",
    "bworganize": "/usr/share/fonts/opentype/bwht/BecauseWeOrganize-Regular.otf",
}
CAPITALS_ONLY = {Path(p).name for k, p in FONTS.items() if k.startswith(("bw", "humor"))}
# Femke Klaver draws each letter in several close sketch lines: the marker stroke every
# other font gets (a sixteenth of the size) fills them into blobs nobody could read, so it
# gets a fine one.
SKETCHED = {Path(FONTS["femke"]).name}
# Letters some fonts lack and that have no base letter to fall back on: written as a
# writer without that letter would write them (a box drawn instead would be unreadable).
FALLBACK_LETTERS = {"ı": "i"}
INKS = {  # RGB marker colours
    "blue": (25, 50, 165),
    "black": (25, 25, 30),
    "green": (20, 115, 55),
    "red": (185, 30, 35),
    "pale-blue": (95, 135, 205),
}
# More marker colours for the varied sets (kept apart: the sets above pick from INKS).
MARKERS = {**INKS, "orange": (225, 110, 25), "purple": (105, 45, 140), "brown": (110, 70, 40)}

# Handwritten content, as on the seed protocol's flipcharts.
CORPUS = [
    "Verbindung Natur und Einkaufsmöglichkeiten",
    "ruhiger Bezirk",
    "viele Unterstützungsmöglichkeiten",
    "gute Mischung der Bevölkerung",
    "Begegnungen ermöglichen",
    "Informationen zum System",
    "Mehr Kitaplätze",
    "Aufklärung über Wohnsituation",
    "Sozialarbeiter in den Wohnquartieren",
    "Akzeptanz durch Begegnung",
    "Anlaufstelle im Stadtteil",
    "Perspektiven schaffen",
    "könnte besser laufen",
    "Integration von Kindern in Sportvereine",
    "keine Brennpunkte",
    "soziale Begleitung",
    "Angebote müssen angenommen werden",
    "Treffpunkte kontrollieren",
    "Hilfe bei Problemen",
    "Ehrenamt stärken",
    "Runde Tische im Quartier",
    "aktive Integration in Sportvereinen",
    "Kitas gelebte Integration",
    "Interkulturelle Begegnungen",
    "fehlender Respekt",
    "Vermittlung geltender Regeln",
    "Veranstaltungen für alle",
    "Vertrauen aufbauen",
    "Kommunikation auf Augenhöhe",
    "Blick auf Positives und Ressourcen",
    "gute Nachbarschaft",
    "man kennt sich schon sehr lange",
    "gute Seniorenangebote",
    "kompetenter Bürgermeister",
    "Zusammenhalt aller Vereine",
    "wenig Geschäfte",
    "Begegnungsstätten",
    "Bräuche und Sitten",
    "Patenschaften",
    "Gleichstellung von Mann und Frau",
    "Transparenz von Angeboten",
    "miteinander sprechen",
    "Integrationsbegriff weiter fassen",
    "gut funktionierende Schulen",
    "Wiederbeleben des Zentrums",
    "Kleingärten öffnen",
    "aufeinander zugehen",
    "mehr Kontakte",
    "gute Infrastruktur",
    "immer wieder gute Ideen",
    "wenig Leerstände",
    "fehlende Fachkräfte",
    "Straßenzüge",
    "Jugendliche",
    "Offenheit und Toleranz",
    "Räumlichkeiten für alle Gruppen",
    "interessierte Bürger",
    "Begegnungsräume im Quartier",
    "Mögliche Räume öffnen",
    "Interessierte finden",
    "Koordinator fehlt",
    "fehlende Struktur",
    "alle Bürgerinnen",
    "Generationsübergreifend",
    "digitale Medien nutzen",
    "Zeitung und Flyer",
    "Werbegemeinschaft",
    "bestehende Akteure einladen",
    "Fehlendes Interesse",
    "Vorträge",
    "Kommunikation",
    "Austausch von Akteuren",
    "Förderverein gründen",
    "Geeigneten Ort finden",
    "Bedarfsanalyse erstellen",
    "Vereine ansprechen",
    "Begegnungsstätte Resser Mark",
    "Bürgerzentrum Erle",
    "Runder Tisch",
    "Interkulturelle Angebote",
    "Größere Säle",
    "Grüße an alle",
    "Fußgängerzone",
    "schöne Spielplätze",
    "Müll auf Straßen",
]
NAMES = [
    "Fr. Küsgen",
    "Heiner Grahs",
    "A. Bartlett",
    "J. Brehme",
    "Dana Willimzik",
    "Hr. Gröns",
    "Fr. Libuda",
    "Fr. Krauß",
    "Hr. Losner",
    "Tatjana Urban",
    "Ingrid Breme",
    "Christel Hein",
    "Irmgard Murach",
    "Ulrich Kattler",
    "Jörg Müller",
    "Özlem Yılmaz",
]
# Fields that hold names rather than statements.
NAME_FIELDS = ("initiator", "interessenten", "verantwortung", "teilnehmende")


@dataclass
class Spec:
    """What one photo shows and how it was taken."""

    name: str
    template: str | None  # None: a photo with no sheet
    font: str = "dkg"
    inks: tuple[str, ...] = ("blue",)
    tilt: float = 0.0  # degrees
    keystone: float = 0.0  # 0..0.12, how much the far edge shrinks
    cover: float = 0.7  # share of the frame's height (or width) the sheet spans
    light: float = 0.25  # strength of the uneven light
    shadow: bool = False
    blur: float = 0.6
    noise: float = 3.0
    quality: int = 85
    exif: int = 1
    suffix: str = ".jpg"
    text_size: float = 0.035  # cap height as share of the sheet's height
    neighbour: bool = False
    cards: bool = False
    notes: str = ""
    long_side: int = 0  # 0: the --long-side default
    # The varied sets (--hands, --boards, --user-templates):
    varied: bool = False  # per-field sizes, more colours, writing that touches the label
    hands: bool = False  # real handwriting (DHSD words) instead of the font
    board: str = ""  # a freeform board (board_scenes.SCENES) instead of a poster
    touch: float = 0.0  # share of fields whose first line touches the printed label


COMMITTED = [
    Spec(
        "austausch-01-dkg-blue",
        "austausch",
        "dkg",
        ("blue",),
        tilt=2,
        keystone=0.03,
        notes="the plain case: mild angle, even light",
    ),
    Spec(
        "austausch-02-breip-black-keystone",
        "austausch",
        "breip",
        ("black",),
        tilt=-4,
        keystone=0.12,
        quality=70,
        notes="strong keystone, shot from below",
    ),
    Spec(
        "austausch-03-humor-red-exif6",
        "austausch",
        "humor",
        ("red", "blue"),
        tilt=6,
        keystone=0.05,
        shadow=True,
        exif=6,
        notes="EXIF orientation 6 (portrait stored sideways), shadow, synthesised umlauts",
    ),
    Spec(
        "austausch-04-delphine-green-dim",
        "austausch",
        "delphine",
        ("green",),
        tilt=-8,
        light=0.5,
        noise=7,
        notes="dim, uneven light, sensor noise",
    ),
    Spec(
        "austausch-05-bwconnect-pale-cards",
        "austausch",
        "bwconnect",
        ("pale-blue", "black"),
        tilt=3,
        cards=True,
        neighbour=True,
        notes="pale marker, pinned cards, neighbouring sheet in view",
    ),
    Spec(
        "themensammlung-01-femke-blue",
        "themensammlung",
        "femke",
        ("blue",),
        tilt=-2,
        keystone=0.04,
        notes="topic collection, four rows",
    ),
    Spec(
        "themensammlung-02-steve-black-rotated",
        "themensammlung",
        "steve",
        ("black", "red"),
        tilt=10,
        keystone=0.06,
        blur=1.4,
        notes="10 degrees rotation, blur",
    ),
    Spec(
        "themensammlung-03-bwlearn-green-exif8",
        "themensammlung",
        "bwlearn",
        ("green", "blue"),
        tilt=-6,
        exif=8,
        quality=65,
        notes="EXIF orientation 8, heavy JPEG",
    ),
    Spec(
        "themenarbeit-01-rufscript-blue",
        "themenarbeit",
        "rufscript",
        ("blue",),
        tilt=1,
        keystone=0.05,
        notes="topic work sheet, landscape",
    ),
    Spec(
        "themenarbeit-02-dkgbold-black-keystone",
        "themenarbeit",
        "dkgbold",
        ("black",),
        tilt=-5,
        keystone=0.11,
        shadow=True,
        notes="strong keystone and a shadow across the sheet",
    ),
    Spec(
        "themenarbeit-03-bwcreate-green-blur",
        "themenarbeit",
        "bwcreate",
        ("green", "red"),
        tilt=7,
        blur=1.8,
        suffix=".png",
        long_side=1400,
        notes="PNG (smaller, lossless), blur, two colours",
    ),
    Spec(
        "themenarbeit-04-breip-red-exif3",
        "themenarbeit",
        "breip",
        ("red",),
        tilt=-9,
        keystone=0.07,
        exif=3,
        light=0.45,
        notes="EXIF orientation 3 (upside down), uneven light",
    ),
    Spec(
        "freeform-01-steve-mixed",
        FREEFORM_ID,
        "steve",
        ("black", "blue", "red"),
        tilt=-3,
        keystone=0.04,
        notes="a free-drawn flipchart: no template fits",
    ),
    Spec("nosheet-01-room", None, notes="a wall and furniture, no sheet at all"),
]


# -- handwriting ------------------------------------------------------------------------


# Letters whose ink spans a line's height: the tallest ascenders, the deepest descenders.
LINE_PROBE = "Hbdfklgjpqy"


@cache
def font_glyphs(path: str) -> frozenset[int]:
    """The code points a font has glyphs for."""
    return frozenset(TTFont(path).getBestCmap())


class Hand:
    """A handwriting font at one size, with umlauts drawn where the font lacks them."""

    def __init__(self, path: str, size: int, rng: np.random.Generator) -> None:
        self.font = ImageFont.truetype(path, size)
        self.size = size
        self.rng = rng
        self.glyphs = font_glyphs(path)
        # Some marker fonts draw small capitals for lower case: what is written is capitals.
        self.capitals_only = Path(path).name in CAPITALS_ONLY
        self.stroke = max(1, size // (50 if Path(path).name in SKETCHED else 16))

    @classmethod
    def for_x_height(cls, path: str, x_height: float, rng: np.random.Generator) -> Hand:
        """The font at the size whose lower-case letters are ``x_height`` pixels tall."""
        _, top, _, bottom = ImageFont.truetype(path, 100).getbbox("x")
        return cls(path, max(int(100 * x_height / max(bottom - top, 1)), 8), rng)

    @property
    def line_height(self) -> float:
        """From the top of the tallest letters to the bottom of the descenders, in pixels."""
        _, top, _, bottom = self.font.getbbox(LINE_PROBE)
        return float(bottom - top)

    def phrases(
        self, rng: np.random.Generator, pool: list[str], count: int, max_width: float
    ) -> list[str]:
        """Phrases from ``pool`` as this font spells them, wrapped to ``max_width``, in at
        most ``count`` lines; a phrase is written whole or not at all, and not where one of
        its words alone is wider than the field (a writer would write it smaller, not on
        into the next field)."""
        lines: list[str] = []
        for index in rng.permutation(len(pool)):
            wrapped = fit_lines([self.spell(pool[index])], self, max_width)
            fits = all(self.width(line) <= max_width for line in wrapped)
            if fits and len(lines) + len(wrapped) <= count:
                lines += wrapped
            if len(lines) == count:
                break
        return lines

    def write_line(
        self, image: Image.Image, x: float, top: float, text: str, ink: tuple[int, int, int]
    ) -> tuple[float, float, float, float]:
        """Write ``text`` with the top of its tallest letters at ``top``; returns its box."""
        offset = self.font.getbbox(LINE_PROBE)[1]
        self.write(ImageDraw.Draw(image), x, top - offset, text, ink)
        return (x, top, x + self.width(text), top + self.line_height)

    def spell(self, text: str) -> str:
        """The text as this font writes it: capitals only, ss where it has no ß, a letter
        it lacks as its fallback."""
        if self.capitals_only:
            return text.upper()
        for letter, fallback in FALLBACK_LETTERS.items():
            if ord(letter) not in self.glyphs:
                text = text.replace(letter, fallback)
        return text if ord("ß") in self.glyphs else text.replace("ß", "ss")

    def width(self, text: str) -> float:
        return sum(self.font.getlength(self._base(ch)) for ch in text)

    def _base(self, ch: str) -> str:
        if ord(ch) in self.glyphs:
            return ch
        return unicodedata.normalize("NFD", ch)[0]

    def write(
        self, draw: ImageDraw.ImageDraw, x: float, y: float, text: str, ink: tuple[int, int, int]
    ) -> None:
        for ch in text:
            base = self._base(ch)
            jitter = self.rng.normal(0, self.size * 0.025)
            draw.text(
                (x, y + jitter),
                base,
                font=self.font,
                fill=ink,
                stroke_width=self.stroke,
                stroke_fill=ink,
            )
            if base != ch:  # an umlaut the font lacks: two dots above the vowel
                advance = self.font.getlength(base)
                top = self.font.getbbox(base)[1]
                r = max(2, self.size // 14)
                for dx in (0.3, 0.7):
                    cx, cy = x + advance * dx, y + jitter + top - r * 2.2
                    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)
            x += self.font.getlength(base) + self.rng.normal(0, self.size * 0.01)


def field_lines(field_id: str, rng: np.random.Generator, max_lines: int) -> list[str]:
    if rng.random() < 0.12:
        return []  # some boxes stay empty
    pool = NAMES if field_id.startswith(NAME_FIELDS) else CORPUS
    if field_id == "thema" or field_id.startswith("thema_"):
        max_lines = min(max_lines, 2)
    count = int(rng.integers(1, max(max_lines, 1) + 1))
    picks = rng.choice(len(pool), size=count, replace=False)
    return [pool[i] for i in picks]


def fit_lines(lines: list[str], hand: Hand, width: float) -> list[str]:
    """Wrap lines that do not fit the box's width at a word boundary."""
    fitted: list[str] = []
    for line in lines:
        words, current = line.split(), ""
        for word in words:
            candidate = f"{current} {word}".strip()
            if current and hand.width(candidate) > width:
                fitted.append(current)
                current = word
            else:
                current = candidate
        if current:
            fitted.append(current)
    return fitted


# -- the sheet ----------------------------------------------------------------------------


def sheet_pixels(template: Template) -> tuple[int, int]:
    aspect = template.aspect or 0.72
    return (int(1600 * aspect), 1600) if aspect <= 1 else (1900, int(1900 / aspect))


def fit_font(text: str, path: str, max_width: float, max_height: float) -> ImageFont.FreeTypeFont:
    size = int(max_height)
    while size > 8:
        font = ImageFont.truetype(path, size)
        if font.getlength(text) <= max_width:
            return font
        size -= 1
    return ImageFont.truetype(path, 8)


def render_sheet(
    template: Template, spec: Spec, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, str]]:
    width, height = sheet_pixels(template)
    tint = rng.integers(236, 252)
    paper = (int(tint), int(tint - rng.integers(0, 5)), int(tint - rng.integers(0, 10)))
    image = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(image)
    for printed in template.printed:
        x, y, w, h = printed.box
        font = fit_font(printed.text, DEJAVU_BOLD, w * width, h * height * 0.8)
        draw.text((x * width, y * height), printed.text, font=font, fill=(20, 20, 20))
    line_width = int(rng.integers(2, 5))
    line_grey = int(rng.integers(0, 90))
    for template_field in template.fields:
        if template.id == FREEFORM_ID:
            break
        x, y, w, h = template_field.box
        draw.rectangle(
            [x * width, y * height, (x + w) * width, (y + h) * height],
            outline=(line_grey,) * 3,
            width=line_width,
        )
        if template_field.label:
            font = fit_font(
                template_field.label,
                DEJAVU,
                w * width - 20,
                template_field.label_height * height * 0.55,
            )
            draw.text(
                (x * width + 10, y * height + template_field.label_height * height * 0.2),
                template_field.label,
                font=font,
                fill=(30, 30, 30),
            )
    truth = {}
    base_size = int(spec.text_size * height * rng.uniform(0.8, 1.25) / 0.7)
    for template_field in template.fields:
        truth[template_field.id] = write_field(
            draw, template, template_field, spec, rng, (width, height), base_size
        )
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR), truth


def write_field(draw, template, template_field, spec, rng, size, base_size) -> str:  # noqa: ANN001
    width, height = size
    x, y, w, h = template_field.content_box
    left, top = x * width + base_size * 0.5, y * height + base_size * 0.35
    box_w, box_h = w * width - base_size * 1.2, h * height - base_size * 0.5
    if template.id == FREEFORM_ID:
        left, top, box_w, box_h = width * 0.08, height * 0.06, width * 0.84, height * 0.86
    font_size = base_size
    while True:
        hand = Hand(FONTS[spec.font], font_size, rng)
        pitch = font_size * 1.45
        max_lines = max(int(box_h // pitch), 0)
        if max_lines >= 1 or font_size < 18:
            break
        font_size = int(font_size * 0.85)
    if template.id == FREEFORM_ID:
        lines = [str(rng.choice(CORPUS[-12:]))] + field_lines("text", rng, 5)
    else:
        lines = field_lines(template_field.id, rng, min(max_lines, 4))
    # Each phrase wrapped to the box; one with a word wider than the box alone would run
    # on into the next field, over its writing: not written.
    wrapped = [fit_lines([hand.spell(line)], hand, box_w) for line in lines]
    lines = [
        line
        for phrase in wrapped
        if all(hand.width(part) <= box_w for part in phrase)
        for line in phrase
    ][:max_lines]
    if spec.cards and lines and rng.random() < 0.6:
        card_w = max(hand.width(line) for line in lines) + font_size
        card = [
            left - font_size * 0.4,
            top - font_size * 0.2,
            left + card_w,
            top + len(lines) * pitch + font_size * 0.2,
        ]
        draw.rectangle([c + 6 for c in card], fill=(200, 200, 195))
        draw.rectangle(
            card,
            fill=tuple(
                int(v) for v in rng.choice([(250, 240, 150), (190, 225, 245), (250, 250, 250)])
            ),
        )
    for i, line in enumerate(lines):
        ink = INKS[spec.inks[int(rng.integers(len(spec.inks)))]]
        indent = rng.uniform(0, font_size * 0.6)
        hand.write(
            draw, left + indent, top + i * pitch + rng.normal(0, font_size * 0.05), line, ink
        )
    return unicodedata.normalize("NFC", "\n".join(lines))


# -- the varied sets: real hands, invented layouts, labels touched -------------------------


@dataclass
class Sources:
    """What the varied sets draw on beyond the fonts: real hands and invented layouts."""

    hands: dict[int, list[WordImage]] = field(default_factory=dict)  # DHSD words by writer
    layouts: dict[str, user_templates.Layout] = field(default_factory=dict)  # by template id


@dataclass
class PenBox:
    """Where one photo's handwriting comes from: its fonts, or the real hands of the
    chosen writers (a word is written at most once on a photo)."""

    fonts: list[str]
    shelves: dict[int, list[WordImage]]  # each writer's words not yet written; empty: fonts
    used: set[str] = field(default_factory=set)  # font names or "writer NN"

    @classmethod
    def for_photo(cls, spec: Spec, sources: Sources, fonts: list[str]) -> PenBox:
        if spec.hands:
            return cls(fonts, {w: list(words) for w, words in sources.hands.items()})
        return cls(fonts, {})

    def pen(self, x_height: float, rng: np.random.Generator) -> board_scenes.Pen:
        if self.shelves:
            writer = sorted(self.shelves)[int(rng.integers(len(self.shelves)))]
            self.used.add(f"writer {writer}")
            return HandPen(self.shelves[writer], x_height, rng)
        font = self.fonts[int(rng.integers(len(self.fonts)))]
        self.used.add(font)
        return Hand.for_x_height(FONTS[font], x_height, rng)


def render_varied_poster(
    template: Template, spec: Spec, rng: np.random.Generator, sources: Sources, pens: PenBox
) -> tuple[np.ndarray, dict[str, str], dict[str, list[float]], list[str]]:
    """A poster filled in by ``pens``: each field its own letter size and writer, some
    first lines touching the label. Returns the sheet, the field texts, where each
    printed label's ink lies (sheet fractions) and the fields whose writing touches it."""
    width, height = sheet_pixels(template)
    tint = int(rng.integers(232, 252))
    image = Image.new(
        "RGB",
        (width, height),
        (tint, tint - int(rng.integers(0, 6)), tint - int(rng.integers(0, 12))),
    )
    draw = ImageDraw.Draw(image)
    for printed in template.printed:
        x, y, w, h = printed.box
        font = fit_font(printed.text, DEJAVU_BOLD, w * width, h * height * 0.8)
        draw.text((x * width, y * height), printed.text, font=font, fill=(20, 20, 20))
    line_width, line_grey = int(rng.integers(2, 6)), int(rng.integers(0, 110))
    layout = sources.layouts.get(template.id)
    fields, labels, touching = {}, {}, []
    for template_field in template.fields:
        x, y, w, h = template_field.box
        draw.rectangle(
            [x * width, y * height, (x + w) * width, (y + h) * height],
            outline=(line_grey,) * 3,
            width=line_width,
        )
        if layout:
            style = layout.labels[template_field.id]
            ink = user_templates.draw_label(
                draw, style, template_field.label, template_field.box, (width, height)
            )
        else:
            ink = builtin_label(draw, template_field, (width, height))
        x0, y0, x1, y1 = ink
        labels[template_field.id] = [
            round(v, 4) for v in (x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height)
        ]
        label = (ink[1], ink[3]) if template_field.label else None
        fields[template_field.id], touches = fill_field(
            image, template_field, label, spec, rng, pens, (width, height)
        )
        if touches:
            touching.append(template_field.id)
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR), fields, labels, touching


def builtin_label(
    draw: ImageDraw.ImageDraw, template_field: TemplateField, size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """A built-in template's label, printed as on the committed samples; returns its ink box."""
    width, height = size
    x, y, w, _ = template_field.box
    font = fit_font(
        template_field.label, DEJAVU, w * width - 20, template_field.label_height * height * 0.55
    )
    origin = (x * width + 10, y * height + template_field.label_height * height * 0.2)
    draw.text(origin, template_field.label, font=font, fill=(30, 30, 30))
    return draw.textbbox(origin, template_field.label, font=font)


def fill_field(
    image: Image.Image,
    template_field: TemplateField,
    label: tuple[float, float] | None,
    spec: Spec,
    rng: np.random.Generator,
    pens: PenBox,
    size: tuple[int, int],
) -> tuple[str, bool]:
    """Write a few lines into a field below its printed label (top and bottom of its ink,
    in pixels); returns the text and whether its first line touches the label."""
    width, height = size
    x, y, w, h = template_field.box
    if rng.random() < 0.1:
        return "", False  # some boxes stay empty
    x_height = spec.text_size * height / 1.6 * rng.uniform(0.75, 1.3)
    touch = label is not None and rng.random() < spec.touch
    label_top, label_bottom = label or (y * height, y * height + 4)
    while True:
        pen = pens.pen(x_height, rng)
        if touch:  # the tallest letters reach into the label's lower part
            reach = min(rng.uniform(0.1, 0.25) * pen.line_height, (label_bottom - label_top) * 0.35)
            top = label_bottom - reach
        else:
            top = label_bottom + rng.uniform(0.05, 0.4) * pen.line_height
        pitch = pen.line_height * rng.uniform(1.0, 1.25)
        room = (y + h) * height - top - pen.line_height * 1.1
        max_lines = int(room // pitch) + 1 if room >= 0 else 0
        if max_lines >= 1 or x_height < 10:
            break
        x_height *= 0.85
    if template_field.id == "thema" or template_field.id.startswith("thema_"):
        max_lines = min(max_lines, 2)
    left = x * width + pen.line_height * rng.uniform(0.15, 0.5)
    pool = NAMES if template_field.id.startswith(NAME_FIELDS) else CORPUS
    most = min(max_lines, 5)
    count = int(rng.integers(min(2, most), most + 1)) if most else 0
    lines = pen.phrases(rng, pool, count, (x + w) * width - left - pen.line_height * 0.4)
    for i, line in enumerate(lines):
        ink = MARKERS[spec.inks[int(rng.integers(len(spec.inks)))]]
        indent = rng.uniform(0, pen.line_height * 0.3)
        pen.write_line(image, left + indent, top + i * pitch, line, ink)
    return unicodedata.normalize("NFC", "\n".join(lines)), touch and bool(lines)


# -- the photo ------------------------------------------------------------------------------


def background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    width, height = size
    base = np.array(
        rng.choice(
            [(120, 140, 160), (95, 110, 125), (150, 150, 140), (80, 95, 110), (130, 120, 100)]
        ),
        np.float32,
    )
    noise = cv2.resize(
        rng.normal(0, 1, (height // 40 + 2, width // 40 + 2)).astype(np.float32), (width, height)
    )
    gradient = np.linspace(-25, 20, height, dtype=np.float32)[:, None]
    canvas = base[None, None, :] + (noise * 12 + gradient)[:, :, None]
    canvas += rng.normal(0, 4, canvas.shape).astype(np.float32)
    floor = int(height * rng.uniform(0.85, 0.97))
    canvas[floor:] *= 0.55
    return np.clip(canvas, 0, 255).astype(np.uint8)


def sheet_corners(
    sheet_size: tuple[int, int], frame: tuple[int, int], spec: Spec, rng: np.random.Generator
) -> np.ndarray:
    sw, sh = sheet_size
    fw, fh = frame
    scale = min(fw * spec.cover / sw, fh * spec.cover / sh)
    w, h = sw * scale, sh * scale
    cx, cy = fw / 2 + rng.uniform(-0.05, 0.05) * fw, fh / 2 + rng.uniform(-0.04, 0.04) * fh
    corners = np.array(
        [[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float32
    )
    corners = keystone_and_tilt(corners, (w, h), spec, rng)
    # The whole sheet in view, with a margin: what a person photographing it aims for.
    margin = 0.03 * min(fw, fh)
    while True:
        placed = corners + np.array([cx, cy], np.float32)
        inside = (placed[:, 0] >= margin) & (placed[:, 0] <= fw - margin)
        inside &= (placed[:, 1] >= margin) & (placed[:, 1] <= fh - margin)
        if inside.all():
            return placed
        corners *= 0.97


def keystone_and_tilt(
    corners: np.ndarray, size: tuple[float, float], spec: Spec, rng: np.random.Generator
) -> np.ndarray:
    """A sheet's corners (around its centre) seen at an angle and turned by the tilt."""
    w, h = size
    k = spec.keystone
    if k:
        side = rng.integers(4)  # which edge is further from the camera
        shrink = np.array([[k, 0], [-k, 0], [0, 0], [0, 0]], np.float32) * w
        if side == 1:
            shrink = np.array([[0, 0], [0, 0], [-k, 0], [k, 0]], np.float32) * w
        elif side == 2:
            shrink = np.array([[0, k], [0, 0], [0, 0], [0, -k]], np.float32) * h
        elif side == 3:
            shrink = np.array([[0, 0], [0, k], [0, -k], [0, 0]], np.float32) * h
        corners += shrink
    theta = math.radians(spec.tilt)
    rotation = np.array(
        [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], np.float32
    )
    return corners @ rotation.T


def board_corners(
    board_size: tuple[int, int],
    content: tuple[float, float, float, float],
    frame: tuple[int, int],
    spec: Spec,
    rng: np.random.Generator,
) -> np.ndarray:
    """Corners for a board bigger than the frame: its ``content`` (the cards) fills
    ``spec.cover`` of the frame and stays in view; the board's edges may not."""
    bw, bh = board_size
    fw, fh = frame
    x0, y0, x1, y1 = content
    scale = min(fw * spec.cover / (x1 - x0), fh * spec.cover / (y1 - y0))
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float32)
    board = np.array([[0, 0], [bw, 0], [bw, bh], [0, bh]], np.float32)
    shift = np.array(
        [fw / 2 + rng.uniform(-0.03, 0.03) * fw, fh / 2 + rng.uniform(-0.03, 0.03) * fh],
        np.float32,
    )
    outline = keystone_and_tilt((board - centre) * scale, (bw * scale, bh * scale), spec, rng)
    seen = cv2.getPerspectiveTransform(board, outline)
    inner = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32).reshape(-1, 1, 2)
    inner = cv2.perspectiveTransform(inner, seen).reshape(-1, 2)
    margin = 0.02 * min(fw, fh)
    while True:  # the content in view, whatever the angle did to it
        placed = inner + shift
        inside = (placed[:, 0] >= margin) & (placed[:, 0] <= fw - margin)
        inside &= (placed[:, 1] >= margin) & (placed[:, 1] <= fh - margin)
        if inside.all():
            return outline + shift
        outline *= 0.97
        inner *= 0.97


def light_field(size: tuple[int, int], spec: Spec, rng: np.random.Generator) -> np.ndarray:
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xx / width - 0.5) * math.cos(angle) + (yy / height - 0.5) * math.sin(angle)
    vignette = (xx / width - 0.5) ** 2 + (yy / height - 0.5) ** 2
    light = 1.0 - spec.light * (ramp + 0.5) * 0.8 - spec.light * vignette * 0.8
    if spec.shadow:
        mask = np.zeros((height, width), np.float32)
        x0 = int(rng.uniform(0.1, 0.6) * width)
        poly = np.array(
            [
                [x0, 0],
                [x0 + width * 0.5, 0],
                [x0 + width * 0.2, height],
                [x0 - width * 0.2, height],
            ],
            np.int32,
        )
        cv2.fillConvexPoly(mask, poly, 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), width * 0.02)
        light *= 1.0 - 0.35 * mask
    return light


def photograph(
    sheet: np.ndarray,
    spec: Spec,
    rng: np.random.Generator,
    long_side: int,
    content: tuple[float, float, float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The sheet photographed; with ``content`` (a box on a board bigger than the
    frame) only that part is sure to be in view."""
    sh, sw = sheet.shape[:2]
    frame = (int(long_side * 0.75), long_side) if sh >= sw else (long_side, int(long_side * 0.75))
    photo = background(frame, rng)
    if content is None:
        corners = sheet_corners((sw, sh), frame, spec, rng)
    else:
        corners = board_corners((sw, sh), content, frame, spec, rng)
    if spec.neighbour:
        offset = np.array([corners[1][0] - corners[0][0] + 30, 15], np.float32)
        neighbour = np.full_like(sheet, 240)
        cv2.rectangle(neighbour, (60, 200), (sw - 60, sh - 100), (40, 40, 40), 4)
        place(photo, neighbour, corners + offset)
    place(photo, sheet, corners)
    photo = photo.astype(np.float32) * light_field(frame, spec, rng)[:, :, None]
    photo *= np.array(rng.uniform(0.93, 1.05, 3), np.float32)  # white balance
    if spec.blur:
        photo = cv2.GaussianBlur(photo, (0, 0), spec.blur)
    photo += rng.normal(0, spec.noise, photo.shape).astype(np.float32)
    return np.clip(photo, 0, 255).astype(np.uint8), corners


def place(photo: np.ndarray, sheet: np.ndarray, corners: np.ndarray) -> None:
    sh, sw = sheet.shape[:2]
    source = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]])
    matrix = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    cv2.warpPerspective(
        sheet,
        matrix,
        (photo.shape[1], photo.shape[0]),
        dst=photo,
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_TRANSPARENT,
    )


def room_photo(spec: Spec, rng: np.random.Generator, long_side: int) -> np.ndarray:
    frame = (long_side, int(long_side * 0.75))
    photo = background(frame, rng).astype(np.float32)
    for _ in range(5):  # furniture: dark boxes
        x, y = rng.integers(0, frame[0] - 200), rng.integers(frame[1] // 2, frame[1] - 100)
        colour = rng.uniform(30, 90, 3)
        cv2.rectangle(
            photo,
            (int(x), int(y)),
            (int(x + rng.integers(100, 400)), int(y + rng.integers(60, 300))),
            colour.tolist(),
            -1,
        )
    photo = cv2.GaussianBlur(photo, (0, 0), 1.0) + rng.normal(0, 3, photo.shape)
    return np.clip(photo, 0, 255).astype(np.uint8)


# -- saving ---------------------------------------------------------------------------------

# How to store upright pixels so that a viewer applying the EXIF tag shows them upright.
STORE_ROTATION = {
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def save(photo: np.ndarray, path: Path, spec: Spec) -> None:
    image = Image.fromarray(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB))
    rotation = STORE_ROTATION[spec.exif]
    if rotation is not None:
        image = image.transpose(rotation)
    exif = Image.Exif()
    if spec.exif != 1:
        exif[0x0112] = spec.exif
    if path.suffix == ".png":
        image.save(path, exif=exif)
    else:
        image.save(path, quality=spec.quality, exif=exif)


def rounded(points: np.ndarray | list) -> list[list[float]]:
    return [[round(float(x), 1), round(float(y), 1)] for x, y in points]


def make(
    spec: Spec,
    out: Path,
    seed: int,
    long_side: int,
    templates: dict[str, Template],
    sources: Sources | None = None,
) -> None:
    rng = np.random.default_rng(seed)
    truth: dict = {"photo": spec.name + spec.suffix, "template": spec.template}
    extra: dict = {}
    if spec.template is None:
        photo = room_photo(spec, rng, long_side)
        truth.update(corners=None, fields={})
    elif spec.board:
        photo, extra = make_board(spec, rng, long_side, sources or Sources())
        truth.update(corners=extra.pop("corners"), fields=extra.pop("fields"))
    elif spec.varied:
        pens = PenBox.for_photo(spec, sources or Sources(), [spec.font])
        template = templates[spec.template]
        sheet, fields, labels, touching = render_varied_poster(
            template, spec, rng, sources or Sources(), pens
        )
        photo, corners = photograph(sheet, spec, rng, long_side)
        truth.update(corners=rounded(corners), fields=fields)
        extra = {"labels": labels, "touching": touching, "writers": sorted(pens.used)}
    else:
        sheet, fields = render_sheet(templates[spec.template], spec, rng)
        photo, corners = photograph(sheet, spec, rng, long_side)
        truth.update(corners=rounded(corners), fields=fields)
    truth.update(
        size=[photo.shape[1], photo.shape[0]],
        exif_orientation=spec.exif,
        font=spec.font,
        ink=list(spec.inks),
        notes=spec.notes,
        **extra,
    )
    save(photo, out / truth["photo"], spec)
    (out / f"{spec.name}.truth.json").write_text(
        json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def make_board(
    spec: Spec, rng: np.random.Generator, long_side: int, sources: Sources
) -> tuple[np.ndarray, dict]:
    """A freeform board photographed, and its truth: the text in reading order, its
    blocks and the marks that must yield no text, in pixels of the upright photo."""
    fonts = [spec.font]
    if spec.board != "flipchart":  # every card its writer: a few fonts on one board
        fonts += [str(f) for f in rng.choice(list(FONTS), size=2, replace=False)]
    pens = PenBox.for_photo(spec, sources, fonts)
    inks = {name: MARKERS[name] for name in spec.inks}
    board = board_scenes.SCENES[spec.board](rng, pens.pen, inks, CORPUS)
    sheet = cv2.cvtColor(np.array(board.image), cv2.COLOR_RGB2BGR)
    content = board.content if board.oversize else None
    photo, corners = photograph(sheet, spec, rng, long_side, content)
    height, width = sheet.shape[:2]
    matrix = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [width, 0], [width, height], [0, height]]), corners.astype(np.float32)
    )

    def to_photo(quad: board_scenes.Quad) -> list:
        points = np.array(quad, np.float32).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(points, matrix).reshape(-1, 2).tolist()

    truth = {
        # a board bigger than the frame has no outline in the photo
        "corners": None if board.oversize else rounded(corners),
        "fields": {"text": unicodedata.normalize("NFC", board.text())},
        "board": board.kind,
        "board_corners": rounded(corners),
        **board.to_truth(to_photo),
        "writers": sorted(pens.used),
    }
    return photo, truth


def random_spec(index: int, rng: np.random.Generator) -> Spec:
    template = str(
        rng.choice(
            [
                "austausch",
                "themensammlung",
                "themenarbeit",
                "austausch",
                "themenarbeit",
                FREEFORM_ID,
            ]
        )
    )
    font = str(rng.choice(list(FONTS)))
    inks = tuple(
        str(i) for i in rng.choice(list(INKS), size=int(rng.integers(1, 3)), replace=False)
    )
    return Spec(
        f"{template}-{index:03d}-{font}",
        template,
        font,
        inks,
        tilt=float(rng.uniform(-10, 10)),
        keystone=float(rng.choice([0, rng.uniform(0, 0.12)])),
        cover=float(rng.uniform(0.62, 0.9)),
        light=float(rng.uniform(0.05, 0.5)),
        shadow=bool(rng.random() < 0.3),
        blur=float(rng.uniform(0, 1.6)),
        noise=float(rng.uniform(1, 7)),
        quality=int(rng.integers(60, 93)),
        exif=int(rng.choice([1, 1, 1, 6, 8, 3])),
        text_size=float(rng.uniform(0.025, 0.05)),
        neighbour=bool(rng.random() < 0.2),
        cards=bool(rng.random() < 0.2),
        notes="random",
    )


POSTERS = ["austausch", "themensammlung", "themenarbeit"]


def random_varied_spec(
    index: int, rng: np.random.Generator, kinds: list[str], hand_share: float
) -> Spec:
    """A photo of one of ``kinds`` (template ids or board scenes), everything about it
    drawn at random: font or real hand, letter size, colours, angle, light, camera."""
    kind = kinds[int(rng.integers(len(kinds)))]
    board = kind if kind in board_scenes.SCENES else ""
    hands = bool(rng.random() < hand_share)
    font = "dhsd" if hands else str(rng.choice(list(FONTS)))
    ink_count = 2 if board == "flipchart" else int(rng.integers(1, 4))
    inks = tuple(str(i) for i in rng.choice(list(MARKERS), size=ink_count, replace=False))
    return Spec(
        f"{kind}-{index:03d}-{font}",
        FREEFORM_ID if board else kind,
        font,
        inks,
        tilt=float(rng.uniform(-8, 8)),
        keystone=float(rng.choice([0, rng.uniform(0, 0.1)])),
        cover=float(rng.uniform(0.7, 0.92)),
        light=float(rng.uniform(0.05, 0.45)),
        shadow=bool(rng.random() < 0.25),
        blur=float(rng.uniform(0, 1.3)),
        noise=float(rng.uniform(1, 6)),
        quality=int(rng.integers(65, 93)),
        exif=int(rng.choice([1, 1, 1, 1, 6, 8, 3])),
        text_size=float(rng.uniform(0.024, 0.05)),
        notes="random board" if board else "random poster",
        varied=True,
        hands=hands,
        board=board,
        touch=0.3,
    )


def load_sources(args: argparse.Namespace, out: Path) -> Sources:
    """The real hands (--hands) and the invented templates (--user-templates), the latter
    written to OUT/templates/ for ``flipchart-ocr process --templates``."""
    sources = Sources()
    if args.hands:
        sources.hands = load_words(args.hands, parse_writers(args.writers))
    if args.user_templates:
        folder = out / "templates"
        folder.mkdir(exist_ok=True)
        rng = np.random.default_rng([args.seed, 7])  # its own stream: photos stay as they were
        for layout in user_templates.invent_layouts(args.user_templates, args.seed, rng):
            user_templates.write_yaml(layout, folder)
            sources.layouts[layout.template.id] = layout
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, help="random photos instead of the committed set")
    parser.add_argument("--long-side", type=int, default=2000, help="photo size in pixels")
    varied = parser.add_argument_group("varied sets (each needs --count)")
    varied.add_argument(
        "--hands", type=Path, help="DHSD folder (labels.tsv): write with real hands, not fonts"
    )
    varied.add_argument(
        "--writers", default="25-29", help="DHSD writers to use (default 25-29: never trained on)"
    )
    varied.add_argument(
        "--hand-share", type=float, default=1.0, help="with --hands: share of photos by hand"
    )
    varied.add_argument(
        "--boards", action="store_true", help="freeform flipcharts, pinboards and sticky notes"
    )
    varied.add_argument(
        "--user-templates",
        type=int,
        default=0,
        metavar="N",
        help="invent N poster layouts (labels of many sizes, no label_height) into OUT/templates/",
    )
    args = parser.parse_args()
    is_varied = bool(args.hands or args.boards or args.user_templates)
    if is_varied and not args.count:
        parser.error("--hands, --boards and --user-templates make random photos: give --count")
    args.out.mkdir(parents=True, exist_ok=True)
    templates = load_templates()
    sources = load_sources(args, args.out)
    templates.update({t: layout.template for t, layout in sources.layouts.items()})
    if is_varied:
        rng = np.random.default_rng(args.seed)
        kinds = list(board_scenes.SCENES) if args.boards else POSTERS + list(sources.layouts)
        share = args.hand_share if args.hands else 0.0
        specs = [random_varied_spec(i, rng, kinds, share) for i in range(args.count)]
    elif args.count:
        rng = np.random.default_rng(args.seed)
        specs = [random_spec(i, rng) for i in range(args.count)]
    else:
        specs = COMMITTED
    for i, spec in enumerate(specs):
        long_side = spec.long_side or args.long_side
        make(spec, args.out, args.seed * 1000 + i, long_side, templates, sources)
        print(f"{args.out / (spec.name + spec.suffix)}", file=sys.stderr)


if __name__ == "__main__":
    main()
