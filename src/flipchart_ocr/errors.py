"""One error tree for the whole tool; only ``cli.py`` turns these into exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INPUT_FAILED = 1  # some inputs failed; the rest were written
    BAD_USAGE = 2  # bad arguments, invalid template or corrections file; nothing written


class FlipchartError(Exception):
    """Base of every error flipchart-ocr raises on purpose."""

    exit_code: ExitCode = ExitCode.INPUT_FAILED


class UsageError(FlipchartError):
    exit_code = ExitCode.BAD_USAGE


class PhotoError(FlipchartError):
    """A photo cannot be read: missing, empty, truncated, not an image, too large."""


class SheetNotFound(FlipchartError):
    """No sheet outline in the photo."""


class SetupError(FlipchartError):
    """Something every photo needs is missing or broken (Tesseract, its language data):
    found before any work, so that nothing is written."""

    exit_code = ExitCode.BAD_USAGE


class DiskFull(FlipchartError):
    """No room to write: the batch stops, as every further photo would fail the same way."""


class OcrError(FlipchartError):
    """Tesseract is missing, failed, or timed out."""


class OcrTimeout(OcrError):
    """One Tesseract call took longer than its timeout: only what it was reading is lost."""


class TemplateError(FlipchartError):
    """A template file is malformed."""

    exit_code = ExitCode.BAD_USAGE


class UnknownTemplate(TemplateError):
    pass


class CorrectionsError(FlipchartError):
    """A corrections file is malformed or names unknown sheets or fields."""

    exit_code = ExitCode.BAD_USAGE


class ModelError(FlipchartError):
    """A reader's model is missing or damaged: nothing can be read, so nothing is started."""

    exit_code = ExitCode.BAD_USAGE
