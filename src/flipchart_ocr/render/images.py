"""A sheet's rectified image, downscaled to a JPEG for the HTML and Word documents."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from . import RenderContext


@dataclass(frozen=True)
class SheetPicture:
    jpeg: bytes
    width: int
    height: int

    @property
    def landscape(self) -> bool:
        return self.width > self.height


def sheet_picture(
    sheet: dict[str, Any], context: RenderContext, long_side: int, quality: int
) -> SheetPicture | None:
    """The sheet image at most ``long_side`` pixels long (never enlarged), or None with a
    warning naming the sheet when it is not recorded, missing or unreadable."""
    path = context.image_path(sheet)
    if path is None:
        context.warn(f"{sheet['id']}: no sheet image recorded; the protocol shows a placeholder")
        return None
    try:
        with Image.open(path) as image:
            picture = image.convert("RGB")
    except FileNotFoundError:
        context.warn(
            f"{sheet['id']}: sheet image {path} not found; the protocol shows a placeholder"
        )
        return None
    except (OSError, UnidentifiedImageError) as e:
        context.warn(f"{sheet['id']}: sheet image {path} cannot be read ({e}); placeholder shown")
        return None
    picture.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    return SheetPicture(buffer.getvalue(), picture.width, picture.height)
