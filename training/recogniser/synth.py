"""Synthetic German handwriting-like text lines for training the line recogniser.

Fonts: only fonts that the sample generator (samples/generate.py) does NOT use, so that
every generated sample photo is an unseen-font test. Text: random word sequences from
the Debian word list /usr/share/dict/ngerman (package wngerman), never the generator's
CORPUS/NAMES.
"""

from __future__ import annotations

import random
import unicodedata

import cv2
import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont

# Training fonts (Debian packages in brackets). Excluded on purpose (the sample generator's
# test fonts): dkg, dkgBd, Breip, femkeklaver, Humor-Sans, Rufscript, Delphine, SteveHand,
# BecauseWe{Build,Connect,Create,Learn,Mentor,Organize}.
HAND_FONTS = [
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf",  # fonts-comic-neue
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Bold.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Italic.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Light.otf",
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf",  # fonts-dancingscript
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Bold.otf",
    "/usr/share/fonts/opentype/kaushanscript/KaushanScript-Regular.otf",  # fonts-kaushanscript
    "/usr/share/fonts/opentype/lobster/lobster.otf",  # fonts-lobster
    "/usr/share/fonts/truetype/kristi/Kristi.ttf",  # fonts-kristi
    "/usr/share/fonts/truetype/leckerli-one/LeckerliOne-Regular.ttf",  # fonts-leckerli-one
    "/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf",  # fonts-klee
    "/usr/share/fonts/truetype/klee/KleeOne-SemiBold.ttf",
    "/usr/share/fonts/truetype/seto/setofont.ttf",  # fonts-seto
    "/usr/share/fonts/truetype/yozvox-yozfont/YOzBAF.ttf",  # fonts-yozvox-yozfont
    "/usr/share/fonts/truetype/yozvox-yozfont/YOzBNF.ttf",
    "/usr/share/fonts/truetype/cabinsketch/CabinSketch-Regular.ttf",  # fonts-cabinsketch
    "/usr/share/fonts/truetype/cabinsketch/CabinSketch-Bold.ttf",
    "/usr/share/fonts/truetype/dustin/El_Abogado_Loco.ttf",  # fonts-dustin
    "/usr/share/fonts/truetype/dustin/Domestic_Manners.ttf",
    "/usr/share/fonts/truetype/tlwg/Purisa.ttf",  # fonts-tlwg-purisa
    "/usr/share/fonts/truetype/tlwg/Purisa-Bold.ttf",
    "/usr/share/fonts/truetype/tlwg/Purisa-Oblique.ttf",
    "/usr/share/fonts/truetype/ecolier-court/Ecolier-court.ttf",  # fonts-ecolier-court
    "/usr/share/fonts/truetype/andika/Andika-Regular.ttf",  # fonts-sil-andika
    "/usr/share/fonts/truetype/andika/Andika-Bold.ttf",
    "/usr/share/fonts/truetype/averia-gwf/AveriaGWF-Regular.ttf",  # fonts-averia-gwf
    "/usr/share/fonts/truetype/averia-gwf/AveriaGWF-Bold.ttf",
    "/usr/share/fonts/truetype/comfortaa/Comfortaa-Bold.ttf",  # fonts-comfortaa
    "/usr/share/fonts/truetype/fantasque-sans/Normal/TTF/FantasqueSansMono-Regular.ttf",  # fonts-fantasque-sans
    "/usr/share/fonts/truetype/fantasque-sans/Normal/TTF/FantasqueSansMono-BoldItalic.ttf",
    "/usr/share/fonts/truetype/kiloji/kiloji.ttf",  # fonts-kiloji (no umlauts: dots drawn)
    "/usr/share/fonts/truetype/kiloji/kiloji_b.ttf",
    "/usr/share/fonts/truetype/tomsontalks/TomsonTalks.ttf",  # fonts-tomsontalks (capitals)
]
# Fonts whose lower case is drawn as small capitals: their lines are written in capitals.
CAPS_ONLY_FONTS = {"/usr/share/fonts/truetype/tomsontalks/TomsonTalks.ttf"}
PRINT_FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # fonts-dejavu-core
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Oblique.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",  # fonts-liberation
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Regular.ttf",
    "/usr/share/fonts/truetype/tlwg/Umpush.ttf",  # fonts-tlwg-umpush
    "/usr/share/fonts/truetype/gnutypewriter/GNUTypewriter.ttf",  # fonts-gnutypewriter
    "/usr/share/fonts/opentype/mplus/Mplus1-Medium.otf",  # fonts-mplus
    "/usr/share/fonts/truetype/okolaks/okolaksRegular.ttf",  # fonts-okolaks
]
TEST_FONT_NAMES = {
    "dkg.ttf",
    "dkgBd.ttf",
    "Breip.ttf",
    "femkeklaver.ttf",
    "Humor-Sans.ttf",
    "Rufscript010.ttf",
    "Delphine.ttf",
    "SteveHand.ttf",
}
assert not any(
    p.split("/")[-1] in TEST_FONT_NAMES or "BecauseWe" in p for p in HAND_FONTS + PRINT_FONTS
)

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZäöüÄÖÜß"
CHARSET = " " + LETTERS + "0123456789" + "-/:,.?!()&+%\"'"
CHAR_INDEX = {c: i + 1 for i, c in enumerate(CHARSET)}  # 0 = CTC blank
HEIGHT = 32
ELASTIC = 0.6  # share of lines with elastic distortion

# Common short German words (function words, generic), weighted in beside the dictionary.
SHORT = [
    "und",
    "oder",
    "der",
    "die",
    "das",
    "den",
    "dem",
    "des",
    "ein",
    "eine",
    "einen",
    "mit",
    "für",
    "von",
    "zu",
    "zum",
    "zur",
    "im",
    "in",
    "an",
    "am",
    "auf",
    "bei",
    "aus",
    "nach",
    "über",
    "unter",
    "vor",
    "nicht",
    "mehr",
    "wenig",
    "viel",
    "alle",
    "neue",
    "neu",
    "gut",
    "sehr",
    "auch",
    "noch",
    "wir",
    "ihr",
    "sie",
    "es",
    "ist",
    "sind",
    "gibt",
    "was",
    "wie",
    "wo",
    "wer",
    "warum",
    "wann",
    "ohne",
    "durch",
    "gegen",
    "seit",
    "bis",
    "so",
    "dass",
    "mehr",
    "weniger",
    "kein",
    "keine",
    "schon",
    "immer",
    "oft",
    "klein",
    "groß",
]
ABBREV = ["Fr.", "Hr.", "Dr.", "z.B.", "ca.", "usw.", "bzw.", "ggf.", "Nr.", "u.a.", "evtl."]


def load_words(path: str = "/usr/share/dict/ngerman") -> list[str]:
    ok = set(LETTERS)
    out = []
    with open(path, encoding="utf-8") as f:
        for w in f:
            w = unicodedata.normalize("NFC", w.strip())
            if 2 <= len(w) <= 16 and set(w) <= ok:
                out.append(w)
    return out


class Font:
    def __init__(self, path: str, size: int):
        self.font = ImageFont.truetype(path, size)
        self.size = size
        self._ok: dict[str, bool] = {}

    def has(self, ch: str) -> bool:
        if ch not in self._ok:
            try:
                box = self.font.getmask(ch).getbbox()
            except Exception:
                box = None
            self._ok[ch] = ch == " " or box is not None
        return self._ok[ch]


class TextSource:
    def __init__(self, rng: random.Random):
        self.rng = rng
        words = load_words()
        # Prefer shorter words: long compounds are plentiful in the list, rare on flipcharts.
        self.by_len: dict[int, list[str]] = {}
        for w in words:
            self.by_len.setdefault(len(w), []).append(w)
        self.lengths = sorted(self.by_len)
        self.len_weights = [1.0 / (1 + abs(n - 7)) ** 1.3 for n in self.lengths]

    def word(self) -> str:
        r = self.rng.random()
        if r < 0.2:
            return self.rng.choice(SHORT)
        if r < 0.23:
            return self.rng.choice(ABBREV)
        if r < 0.29:
            return self.number()
        n = self.rng.choices(self.lengths, self.len_weights)[0]
        return self.rng.choice(self.by_len[n])

    def number(self) -> str:
        rng = self.rng
        k = rng.random()
        if k < 0.3:
            return str(rng.randint(1, 99))
        if k < 0.5:
            return str(rng.randint(1950, 2035))
        if k < 0.7:
            return f"{rng.randint(7, 21)}:{rng.choice(['00', '15', '30', '45'])}"
        if k < 0.85:
            return f"{rng.randint(1, 31)}.{rng.randint(1, 12)}."
        return f"{rng.randint(1, 20)}."

    def line(self) -> str:
        rng = self.rng
        count = rng.choices([1, 2, 3, 4], [0.25, 0.35, 0.25, 0.15])[0]
        words = [self.word() for _ in range(count)]
        if rng.random() < 0.5 and words[0][:1].islower():
            words[0] = words[0][0].upper() + words[0][1:]
        if rng.random() < 0.08:
            words[0] = "- " + words[0]
        if count > 1 and rng.random() < 0.12:
            i = rng.randrange(count - 1)
            words[i] += rng.choice([",", ":", " /", " -", " +", " &"])
        if rng.random() < 0.15:
            words[-1] += rng.choice(["?", "!", ".", "!!", "?!", ":", "..."])
        if rng.random() < 0.04:
            words[-1] = "(" + words[-1] + ")"
        if rng.random() < 0.03:
            words[-1] = '"' + words[-1] + '"'
        text = " ".join(words)
        r = rng.random()
        if r < 0.3:  # block capitals, as many people write on flipcharts
            text = text.upper()  # ß -> SS, as a writer in capitals does
        elif r < 0.33:
            text = text.lower()
        return text[:40].strip()


def render(text: str, path: str, rng: random.Random) -> tuple[np.ndarray, str]:
    """Dark ink on white, character by character with jitter; returns image and label."""
    size = rng.randint(34, 64)
    font = Font(path, size)
    if not font.has("ß"):
        text = text.replace("ß", "ss")
    chars = [c for c in text]
    width = int(sum(font.font.getlength(c) for c in chars) * 1.4 + size * 4)
    height = int(size * 3)
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    ink = 0
    stroke = rng.choice(
        [
            0,
            1,
            max(1, size // 24),
            max(1, size // 16),
            max(1, size // 16),
            max(1, size // 12),
            max(1, size // 10),
        ]
    )
    x, y0 = size * 1.0, size * 0.8
    jit_y = size * rng.uniform(0.0, 0.045)
    jit_x = size * rng.uniform(0.0, 0.03)
    spacing = size * rng.uniform(-0.04, 0.1)
    wobble_a, wobble_f = size * rng.uniform(0, 0.08), rng.uniform(0.002, 0.01)
    phase = rng.uniform(0, 6.28)
    # Half the lines: every letter drawn a little differently, as no hand repeats a letter.
    shaky = rng.random() < 0.5
    label = []
    for ch in chars:
        base = ch
        if not font.has(ch):
            base = unicodedata.normalize("NFD", ch)[0]
            if not font.has(base):
                continue  # the font cannot write it: leave it out of the label too
        y = y0 + rng.gauss(0, jit_y) + wobble_a * np.sin(phase + x * wobble_f)
        if shaky and base != " ":
            letter_scale = shaky_letter(img, (x, y), base, font, stroke, rng)
        else:
            letter_scale = 1.0
            draw.text((x, y), base, font=font.font, fill=ink, stroke_width=stroke, stroke_fill=ink)
        if base != ch:  # umlaut the font lacks: two dots, as the hand would draw them
            adv = font.font.getlength(base)
            top = font.font.getbbox(base)[1]
            r = max(2, size // 14)
            for dx in (0.3, 0.7):
                cx, cy = x + adv * dx, y + top - r * 2.2
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)
        adv = font.font.getlength(base) * letter_scale
        x += adv + (spacing if ch != " " else spacing * 0.5) + rng.gauss(0, jit_x)
        label.append(ch)
    return np.array(img), "".join(label).strip()


def shaky_letter(
    img: Image.Image, at: tuple[float, float], letter: str, font: Font, stroke: int, rng
) -> float:
    """Draw one letter turned, scaled and sheared at random onto ``img``; its scale."""
    size = font.size
    canvas = Image.new("L", (3 * size, 3 * size), 255)
    ImageDraw.Draw(canvas).text(
        (size, size), letter, font=font.font, fill=0, stroke_width=stroke, stroke_fill=0
    )
    scale = rng.uniform(0.85, 1.15)
    angle = np.radians(rng.uniform(-8, 8))
    shear = rng.uniform(-0.2, 0.2)
    c, s_ = np.cos(angle) / scale, np.sin(angle) / scale
    # PIL's affine maps output to input pixels: the inverse transform, about the anchor.
    a, b = c, -s_ + shear
    d, e = s_, c
    ox, oy = size * 1.3, size * 1.6  # roughly the letter's middle
    coeffs = (a, b, ox - a * ox - b * oy, d, e, oy - d * ox - e * oy)
    turned = canvas.transform(
        canvas.size, Image.Transform.AFFINE, coeffs, Image.BILINEAR, fillcolor=255
    )
    x, y = int(round(at[0] - size)), int(round(at[1] - size))
    region = (x, y, x + turned.width, y + turned.height)
    img.paste(ImageChops.darker(img.crop(region), turned), region[:2])
    return scale


def crop_ink(img: np.ndarray, rng: random.Random) -> np.ndarray | None:
    ys, xs = np.where(img < 128)
    if len(ys) == 0:
        return None
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    h = bottom - top
    # Margins like the row bands of the pipeline (+-5 px at ~50 px rows), varied.
    mt = int(h * rng.uniform(0.0, 0.3))
    mb = int(h * rng.uniform(0.0, 0.3))
    ml = int(h * rng.uniform(0.0, 0.6))
    mr = int(h * rng.uniform(0.0, 0.6))
    img = cv2.copyMakeBorder(img, h, h, h, h, cv2.BORDER_CONSTANT, value=255)
    top, bottom, left, right = top + h, bottom + h, left + h, right + h
    return img[top - mt : bottom + mb, left - ml : right + mr]


def elastic(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Smooth random displacement field: letter shapes vary like a hand's, not a font's."""
    h, w = img.shape
    sigma = h * rng.uniform(0.12, 0.3)
    amp = h * rng.uniform(0.02, 0.06)
    small = (max(2, int(w / sigma)), max(2, int(h / sigma)))
    dx = (
        cv2.resize(
            np.random.uniform(-1, 1, small[::-1]).astype(np.float32),
            (w, h),
            interpolation=cv2.INTER_CUBIC,
        )
        * amp
    )
    dy = (
        cv2.resize(
            np.random.uniform(-1, 1, small[::-1]).astype(np.float32),
            (w, h),
            interpolation=cv2.INTER_CUBIC,
        )
        * amp
    )
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=255)


def hollow(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Thicken the strokes, then keep only their outline: hollow letters."""
    h = img.shape[0]
    k = max(2, int(round(h * rng.uniform(0.025, 0.05))))
    fat = cv2.erode(img, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    ink = (fat < 128).astype(np.uint8)
    edge = max(1, int(round(k * rng.uniform(0.4, 0.8))))
    inner = cv2.erode(
        ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * edge + 1, 2 * edge + 1))
    )
    out = fat.copy()
    out[inner > 0] = 255
    return out


def augment(  # noqa: C901 (one switch per augmentation, in the order applied)
    img: np.ndarray, rng: random.Random, clutter_src=None, height: int = HEIGHT
) -> np.ndarray:
    """Geometric and photometric variation; input and output dark ink on white (uint8)."""
    if rng.random() < ELASTIC:
        img = elastic(img, rng)
    h, w = img.shape
    # Stroke width: erode (thicker) / dilate (thinner) the grey image.
    r = rng.random()
    k = max(1, int(round(h / 60)))
    if r < 0.15:
        img = cv2.erode(img, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    elif r < 0.45:
        img = cv2.dilate(img, np.ones((2, 2), np.uint8))
    elif r < 0.55:  # a fat marker: strokes so thick that small counters close
        k = max(2, int(round(h * rng.uniform(0.025, 0.045))))
        img = cv2.erode(img, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    elif r < 0.63:  # outlined (hollow) letters, as some writers and fonts draw them
        img = hollow(img, rng)
    # Shear (slant), rotation, horizontal scale.
    shear = rng.uniform(-0.35, 0.35) if rng.random() < 0.7 else 0.0
    angle = np.radians(rng.uniform(-1.5, 1.5))
    sx = rng.uniform(0.8, 1.2)
    pad = h
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    H, W = img.shape
    c, s = np.cos(angle), np.sin(angle)
    A = np.array([[sx * c, -s + shear, 0], [sx * s, c, 0]], np.float32)
    cx, cy = W / 2, H / 2
    A[:, 2] = [cx - A[0, 0] * cx - A[0, 1] * cy, cy - A[1, 0] * cx - A[1, 1] * cy]
    img = cv2.warpAffine(img, A, (W, H), flags=cv2.INTER_LINEAR, borderValue=255)
    # Re-crop tightly with margins.
    cropped = crop_ink(img, rng)
    img = cropped if cropped is not None else img
    h, w = img.shape
    # Clutter: a box line or the bottom/top of a neighbouring text row at an edge.
    if rng.random() < 0.25:
        t = max(1, int(h * rng.uniform(0.03, 0.1)))
        y = rng.choice([rng.randint(0, max(0, h // 8)), h - 1 - rng.randint(0, max(0, h // 8))])
        x0, x1 = (0, w) if rng.random() < 0.6 else sorted([rng.randint(0, w), rng.randint(0, w)])
        g = rng.randint(0, 150)
        cv2.line(img, (x0, y), (x1, y), g, t)
    if clutter_src is not None and rng.random() < 0.2:
        other = clutter_src
        oh = int(h * rng.uniform(0.05, 0.25))
        piece = (
            cv2.resize(other, (w, max(h, 1)))[:oh]
            if rng.random() < 0.5
            else cv2.resize(other, (w, max(h, 1)))[-oh:]
        )
        if oh > 0:
            if rng.random() < 0.5:
                img[:oh] = np.minimum(img[:oh], piece[-oh:] if piece.shape[0] >= oh else img[:oh])
            else:
                img[-oh:] = np.minimum(img[-oh:], piece[:oh])
    # Resize to the model height (the only size the model sees).
    scale = height / h
    nw = max(8, int(round(w * scale)))
    # Sometimes via a lower resolution first (small writing in the photo).
    if rng.random() < 0.3:
        f = rng.uniform(0.5, 0.9)
        img = cv2.resize(
            img, (max(4, int(nw * f)), max(4, int(height * f))), interpolation=cv2.INTER_AREA
        )
    img = cv2.resize(img, (nw, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    # Photometric: ink darkness (pale markers), paper shade, blur, noise, JPEG.
    ink = rng.choice([0, 0, 20, 50, 80, 120, 150])
    paper = rng.uniform(225, 255)
    img = ink + (paper - ink) * (img / 255.0)
    if rng.random() < 0.6:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.6))
    if rng.random() < 0.5:
        img = img + np.random.normal(0, rng.uniform(1, 10), img.shape)
    if rng.random() < 0.3:  # uneven paper
        grad = np.linspace(0, rng.uniform(-25, 25), img.shape[1])[None, :]
        img = img + grad
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(30, 90)])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    if rng.random() < 0.3:  # the pipeline's gamma darkening
        img = (255 * (img / 255.0) ** rng.uniform(1.0, 1.8)).astype(np.uint8)
    return img


class LineMaker:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        np.random.seed(seed % (2**32))
        self.text = TextSource(self.rng)
        self.last = None

    def sample(self, height: int = HEIGHT) -> tuple[np.ndarray, str]:
        while True:
            text = self.text.line()
            path = (
                self.rng.choice(HAND_FONTS)
                if self.rng.random() < 0.85
                else self.rng.choice(PRINT_FONTS)
            )
            if path in CAPS_ONLY_FONTS:
                text = text.upper()
            raw, label = render(text, path, self.rng)
            if not label:
                continue
            img = crop_ink(raw, self.rng)
            if img is None:
                continue
            out = augment(img, self.rng, self.last, height)
            self.last = img
            if (
                out.shape[1] * HEIGHT / height > 900
                or out.shape[1] * HEIGHT / height < len(label) * 4
            ):
                continue
            return out, label


def encode(label: str) -> list[int]:
    return [CHAR_INDEX[c] for c in label if c in CHAR_INDEX]
