"""Generated test lines in the sample generator's fonts, which no training here uses.

    python training/ppocr/test_lines.py --out /tmp/ppocr/unseen_fonts --count 300

Writes OUT/NNNNNN.png (BGR line crop) and OUT/labels.tsv (file, text), the same text mix as
training (German and English words, digits, punctuation, one to four words a line) with a
seed of its own, for evaluate.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import synthetic
from base import CHARSET
from data import colourise, in_charset

FONT_FOLDER = Path("/usr/share/fonts")


def test_fonts() -> list[str]:
    """The generator's fonts (synth.TEST_FONT_NAMES and the BecauseWe family), as installed."""
    names = synthetic.synth.TEST_FONT_NAMES
    found = [p for p in FONT_FOLDER.rglob("*") if p.name in names or p.name.startswith("BecauseWe")]
    if not found:
        raise FileNotFoundError("no test fonts: scripts/setup.sh --dev installs them")
    return sorted(str(p) for p in found)


def test_line(maker: synthetic.SyntheticLines, fonts: list[str]) -> tuple[np.ndarray, str]:
    """One line as SyntheticLines makes it, but in a test font."""
    synth = synthetic.synth
    rng = maker.rng
    while True:
        text = maker.maker.text.line()
        path = rng.choice(fonts)
        if "BecauseWe" in path or "Humor" in path:  # capitals-only fonts, as the generator
            text = text.upper()
        raw, label = synth.render(text, path, rng)
        ink = synth.crop_ink(raw, rng) if label else None
        if ink is None or not in_charset(label, CHARSET):
            continue
        grey = synth.augment(ink, rng, None, 64)
        return colourise(grey, rng), label


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--seed", type=int, default=2027)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    maker = synthetic.SyntheticLines(args.seed)
    fonts = test_fonts()
    rows = []
    for i in range(args.count):
        image, text = test_line(maker, fonts)
        name = f"{i:06d}.png"
        cv2.imwrite(str(args.out / name), image)
        rows.append(f"{name}\t{text}\n")
    (args.out / "labels.tsv").write_text("".join(rows), encoding="utf-8")
    print(f"{len(rows)} lines in {len(fonts)} unseen fonts -> {args.out}")


if __name__ == "__main__":
    main()
