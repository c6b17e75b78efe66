"""Text-line crops of the real photos in ../shared/realdata that have a transcription, cut
by PP-OCRv6 small's detector (rapidocr, its defaults), for evaluate.py --pages.

    python training/ppocr/real_crops.py --out /tmp/ppocr/real_pages

Writes OUT/<photo>/NNN.png (the crops, in reading order by box top) and OUT/<photo>/gt.txt.
The transcriptions have no line order, so evaluate.py scores a page as a bag of words.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
from data import shared_folder
from rapidocr import RapidOCR
from rapidocr.utils.process_img import get_rotate_crop_image

SETS = ["1_whiteboard_flipchart_photos", "2_handwritten_paper_photos"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"}


def photos_with_truth(root: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for folder in SETS:
        for truth in sorted((root / folder).rglob("*.gt.txt")):
            stem = truth.name.removesuffix(".gt.txt")
            images = [
                p for p in truth.parent.glob(stem + ".*") if p.suffix.lower() in IMAGE_SUFFIXES
            ]
            if images:
                pairs.append((images[0], truth))
    return pairs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    engine = RapidOCR()
    for image_path, truth in photos_with_truth(shared_folder() / "realdata"):
        image = cv2.imread(str(image_path))
        boxes = engine(image, use_det=True, use_cls=False, use_rec=False).boxes
        page = args.out / f"{image_path.parent.name}_{image_path.stem}"
        page.mkdir(parents=True, exist_ok=True)
        order = sorted(
            range(len(boxes)), key=lambda i: (boxes[i][:, 1].min(), boxes[i][:, 0].min())
        )
        for n, i in enumerate(order):
            cv2.imwrite(str(page / f"{n:03d}.png"), get_rotate_crop_image(image, boxes[i]))
        (page / "gt.txt").write_text(truth.read_text(encoding="utf-8"), encoding="utf-8")
        print(f"{page.name}: {len(boxes)} lines")


if __name__ == "__main__":
    main()
