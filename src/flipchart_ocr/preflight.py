"""Checks before any work: what every photo needs is there, so that a typo costs nothing.

Without them a mistyped ``--lang de`` failed every photo one by one, and each
failure record replaced a good sheet JSON of an earlier run. ``check`` runs
before the output folder is touched; what it finds missing is a ``SetupError``
(exit 2) naming the missing piece and how to install it. Whatever else every
photo needs (a reader's model file) gets its check here, called from ``check``.
"""

from __future__ import annotations

import difflib
import math
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SetupError

if TYPE_CHECKING:
    from .pipeline import ProcessOptions

# Tesseract 4.0 brought the LSTM models and the "--psm" spelling of its options.
MIN_TESSERACT = (4, 0)
# Seconds a Tesseract call may be given (process --timeout). Below a second even a
# blank field times out (Tesseract loads its model for every call); beyond an hour a
# hang is no longer told from work.
MIN_TIMEOUT = 1.0
MAX_TIMEOUT = 3600.0
PROBE_SECONDS = 30  # for `tesseract --version` and `--list-langs`, which answer at once

INSTALL_TESSERACT = (
    "install it (Debian/Ubuntu: apt-get install tesseract-ocr tesseract-ocr-deu;"
    " macOS: brew install tesseract tesseract-lang), or see README.md, 'Without root'"
)
# Two-letter codes people type for the three-letter ones Tesseract wants.
_TESSERACT_CODES = {
    "de": "deu",
    "en": "eng",
    "fr": "fra",
    "es": "spa",
    "it": "ita",
    "nl": "nld",
    "pl": "pol",
    "pt": "por",
    "tr": "tur",
    "ru": "rus",
    "uk": "ukr",
    "ar": "ara",
}
_LANGUAGE = re.compile(r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)?$")  # deu, chi_sim, script/Latin


@dataclass(frozen=True)
class Tesseract:
    command: str
    version: tuple[int, int]
    languages: tuple[str, ...]
    tessdata: str  # the folder its languages come from, as it reports it


def check(options: ProcessOptions) -> Tesseract:
    """Everything ``process`` with these options needs; raises ``SetupError`` (or, for a
    reader's model, ``ModelError``) naming the gap."""
    check_timeout(options.timeout)
    tesseract = find_tesseract()
    check_languages(options.lang, tesseract)
    check_reading(options, tesseract)
    check_reader(options)
    return tesseract


def check_reader(options: ProcessOptions) -> None:
    """The reader's model files are installed and intact (PP-OCR: from the rapidocr wheel)."""
    if options.engine == "ppocr":
        from .readers import ppocr

        ppocr.check_models(options.recogniser)


def warnings(options: ProcessOptions) -> list[str]:
    """What works but reads worse than it could: a word list not installed."""
    if options.engine != "ppocr" or not options.decode_words:
        return []
    from . import wordlists

    return [
        f"--lang {options.lang}: word list missing (install the Debian package {package});"
        " doubtful words are left as read"
        for package in wordlists.missing_lists(options.lang)
    ]


def check_timeout(seconds: float) -> None:
    if not (math.isfinite(seconds) and MIN_TIMEOUT <= seconds <= MAX_TIMEOUT):
        raise SetupError(
            f"timeout {seconds} s: give {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} seconds per Tesseract call"
        )


def tesseract_command() -> str:
    """The Tesseract program pytesseract runs (``tesseract`` on the PATH unless set)."""
    import pytesseract

    return str(pytesseract.pytesseract.tesseract_cmd)


def find_tesseract() -> Tesseract:
    """Tesseract found, recent enough, and the languages it has."""
    command = tesseract_command()
    version_text = _output(command, "--version")
    match = re.search(r"tesseract\s+v?(\d+)\.(\d+)", version_text, re.IGNORECASE)
    if match is None:
        first = version_text.strip().splitlines()[0] if version_text.strip() else "no output"
        raise SetupError(
            f"{command} --version says {first!r}, not a Tesseract version: {INSTALL_TESSERACT}"
        )
    version = (int(match.group(1)), int(match.group(2)))
    if version < MIN_TESSERACT:
        raise SetupError(
            f"{command} is Tesseract {version[0]}.{version[1]}; flipchart-ocr needs"
            f" {MIN_TESSERACT[0]}.{MIN_TESSERACT[1]} or later: {INSTALL_TESSERACT}"
        )
    listing = _output(command, "--list-langs").strip().splitlines()
    folder = re.search(r'"([^"]*)"', listing[0]) if listing else None
    languages = tuple(line.strip() for line in listing[1:] if _LANGUAGE.match(line.strip()))
    return Tesseract(command, version, languages, folder.group(1) if folder else "")


def check_languages(lang: str, tesseract: Tesseract) -> None:
    """Every part of ``deu+eng`` is a language this Tesseract has."""
    parts = lang.split("+")
    for part in parts:
        if not _LANGUAGE.match(part):
            raise SetupError(
                f"--lang {lang!r}: {part!r} is not a language code; write e.g. deu or deu+eng"
            )
    missing = [part for part in parts if part not in tesseract.languages]
    if missing:
        raise SetupError(_missing_language(lang, missing[0], tesseract))


def _missing_language(lang: str, code: str, tesseract: Tesseract) -> str:
    installed = [name for name in tesseract.languages if name != "osd"]
    where = f" in {tesseract.tessdata}" if tesseract.tessdata else ""
    listing = f"installed{where}: {', '.join(installed) or 'none'}"
    guess = _TESSERACT_CODES.get(code.lower())
    if guess is None:
        close = difflib.get_close_matches(code, installed, n=1, cutoff=0.6)
        guess = close[0] if close else None
    message = f"--lang {lang!r}: Tesseract has no language {code!r}"
    if guess in installed:
        return f"{message}; did you mean {guess!r}? ({listing})"
    if guess is not None:
        message += f"; did you mean {guess!r}? It is not installed either"
    wanted = guess or code
    return (
        f"{message} ({listing}); to add it: apt-get install"
        f" tesseract-ocr-{wanted.lower().replace('_', '-')} (Debian/Ubuntu), or put"
        f" {wanted}.traineddata into that folder"
    )


def check_reading(options: ProcessOptions, tesseract: Tesseract) -> None:
    """One small read with these languages: a damaged language file fails here, not per photo.

    Tesseract reads on when one of several languages fails to load (``deu+xyz``
    reads German alone) and says so only on stderr, which pytesseract drops.
    """
    with tempfile.TemporaryDirectory(prefix="flipchart-ocr-") as folder:
        blank = Path(folder) / "blank.pgm"
        blank.write_bytes(b"P5\n120 40\n255\n" + b"\xff" * 120 * 40)
        arguments = (str(blank), "stdout", "-l", options.lang, "--psm", "6")
        code, output = _run(tesseract.command, *arguments)
    failed = re.findall(r"Failed loading language '([^']*)'", output)
    if failed:
        where = f" in {tesseract.tessdata}" if tesseract.tessdata else ""
        raise SetupError(
            f"--lang {options.lang!r}: Tesseract cannot load {failed[0]!r} (a damaged"
            f" {failed[0]}.traineddata{where}? install the language package again)"
        )
    if code != 0:
        raise SetupError(f"{tesseract.command} cannot read a test image: {_reason(output)}")


def _output(command: str, *arguments: str) -> str:
    """What ``command arguments`` prints; a failure is a ``SetupError``."""
    code, output = _run(command, *arguments)
    if code != 0:
        call = " ".join([command, *arguments])
        raise SetupError(f"{call} failed (exit {code}: {_reason(output)}): {INSTALL_TESSERACT}")
    return output


def _run(command: str, *arguments: str) -> tuple[int, str]:
    """The exit code and everything printed (Tesseract 4 and 5 print their version to
    stdout, older ones to stderr; language errors go to stderr)."""
    try:
        done = subprocess.run(
            [command, *arguments],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PROBE_SECONDS,
            check=False,
        )
    except FileNotFoundError as e:
        raise SetupError(
            f"Tesseract not found ({command!r} is not on the PATH): {INSTALL_TESSERACT}"
        ) from e
    except PermissionError as e:
        raise SetupError(
            f"{command}: cannot run Tesseract ({e.strerror}): {INSTALL_TESSERACT}"
        ) from e
    except subprocess.TimeoutExpired as e:
        raise SetupError(
            f"{command} {arguments[0]} did not answer within {PROBE_SECONDS} s:"
            " is Tesseract working?"
        ) from e
    return done.returncode, done.stdout + done.stderr


def _reason(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return "; ".join(lines[-3:]) if lines else "no message"
