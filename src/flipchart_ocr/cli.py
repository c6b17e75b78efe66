"""The command line: a thin shell over the stages; the one place errors become exit codes."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from . import DEFAULT_ENGINE, ENGINES, __version__
from .corrections import Corrections, load_corrections
from .errors import ExitCode, FlipchartError, UsageError
from .learn import DEFAULT_MIN_SEEN, typed_words
from .schemas import SCHEMA_NAMES, load_schema
from .templates import load_templates


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors into a one-line message and the contract's exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FlipchartError as e:
            if os.environ.get("FLIPCHART_OCR_TRACEBACK"):
                raise
            click.echo(f"error: {e}", err=True)
            sys.exit(int(e.exit_code))
        except KeyboardInterrupt:
            # Leaving anyway: a further Ctrl-C must not break off this message and exit
            # with a traceback instead of 130.
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            # on a new line: a progress bar may hold the current one
            start = "\n" if sys.stderr.isatty() else ""
            click.echo(
                f"{start}interrupted: finished files are kept, nothing half-written", err=True
            )
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flipchart-ocr")
def cli() -> None:
    """Turn phone photos of workshop flipcharts into a corrected, structured protocol.

    \b
    The workflow:
      flipchart-ocr process photos/ -o out/           # OCR every photo
      flipchart-ocr review out/ -c corrections/event.yaml   # fix the text
      flipchart-ocr merge out/ -c corrections/event.yaml -o protocol.json
      flipchart-ocr render protocol.json -o protocol.html
    """


class Seconds(click.ParamType):
    """A number of seconds for --timeout: finite and within the range Tesseract can use."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        from .preflight import MAX_TIMEOUT, MIN_TIMEOUT

        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not (math.isfinite(seconds) and MIN_TIMEOUT <= seconds <= MAX_TIMEOUT):
            self.fail(
                f"{value!r} is not between {MIN_TIMEOUT:g} and {MAX_TIMEOUT:g} seconds", param, ctx
            )
        return seconds


templates_option = click.option(
    "--templates",
    "templates_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of extra template files (*.yaml, *.yml, *.json); same id replaces a built-in.",
)


@cli.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the sheet JSON files (created if missing).",
)
@templates_option
@click.option(
    "--template", "template_id", help="Use this template for every photo; skip identification."
)
@click.option(
    "-c",
    "--corrections",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Corrections file whose per-sheet 'template' overrides are honoured; the words"
    " typed in it join --words.",
)
@click.option(
    "--lang",
    default="deu",
    show_default=True,
    help="Language(s) of the sheets, e.g. deu or deu+eng: Tesseract's languages and the"
    " word lists (deu: German, eng: English) that doubtful words may be steered towards.",
)
@click.option(
    "--words",
    "word_lists",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A list of the event's own words (participants' names, places, terms), one or more"
    " per line, known to the reader beside the word lists. Repeatable; with -c, the words typed in the"
    " corrections file count too.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=DEFAULT_ENGINE,
    show_default=True,
    help="Who reads the handwriting: ppocr (PP-OCRv6 small, text detector and line"
    " recogniser; reads real handwriting best) or tesseract (Tesseract alone).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Cores to use: up to N photos processed in parallel, sharing N cores  [default:"
    " number of cores]",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Cores each photo's reading may use  [default: the --jobs cores shared out among"
    " the photos read at once; a photo read alone gets them all]",
)
@click.option(
    "--force", is_flag=True, help="Redo every photo, even those whose JSON is up to date."
)
@click.option(
    "--debug", is_flag=True, help="Also write OUT/debug/<id>.jpg: the sheet with field boxes drawn."
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors and the summary only.")
@click.option(
    "--timeout",
    type=Seconds(),
    default=60.0,
    show_default=True,
    help="Seconds one Tesseract call may take before it counts as hung (1 to 3600); a"
    " field whose reading times out is left empty, with a warning.",
)
@handle_errors
def process(
    photos: tuple[Path, ...],
    out_dir: Path,
    templates_dir: Path | None,
    template_id: str | None,
    corrections: Path | None,
    lang: str,
    word_lists: tuple[Path, ...],
    engine: str,
    jobs: int | None,
    threads: int | None,
    force: bool,
    debug: bool,
    quiet: bool,
    timeout: float,
) -> None:
    """Read flipchart photos into one sheet JSON per photo: OUT/<photo stem>.json.

    PHOTOS are image files (jpg, png, tif, webp, heic, heif, avif) or folders of
    them; files left out of a folder are named. Photos whose JSON is up to date
    are skipped. Tesseract and the --lang languages are checked before any work.
    Example:

        flipchart-ocr process samples/ -o out/ --debug
    """
    from dataclasses import replace

    from . import batch, outdir, preflight
    from .io import PHOTO_SUFFIXES, scan_photos
    from .pipeline import ProcessOptions

    templates = load_templates(templates_dir)
    if template_id is not None and template_id not in templates:
        raise click.BadParameter(
            f"unknown template {template_id!r}; known: {', '.join(templates)}",
            param_hint="--template",
        )
    loaded = load_corrections(corrections) if corrections else None
    overrides = template_overrides(loaded, templates) if loaded else {}
    workers = jobs or os.cpu_count() or 1
    options = ProcessOptions(
        lang=lang,
        timeout=timeout,
        engine=engine,
        words=event_vocabulary(word_lists, loaded),
        threads=threads,  # None: the cores shared out among the workers started
    )
    scan = scan_photos(photos)
    if not quiet:
        _warn_all(skipped_lines(scan.skipped))
    if not scan.photos:
        raise click.UsageError(f"no photos found ({', '.join(s[1:] for s in PHOTO_SUFFIXES)})")
    batch.check_unique_ids(scan.photos)
    preflight.check(options)
    _warn_all(preflight.warnings(options))
    prepare_out_dir(out_dir)
    job_list = [
        batch.Job(
            photo,
            out_dir,
            replace(options, template=overrides.get(outdir.sheet_id(photo), template_id)),
            debug,
        )
        for photo in scan.photos
    ]
    progress = batch.Progress(len(job_list), quiet=quiet)
    outcomes = batch.run_batch(job_list, templates, workers, force, progress, progress.warn)
    counts = batch.summarise(outcomes)
    skipped = f", {len(scan.skipped)} other files left out" if scan.skipped else ""
    click.echo(
        f"{len(outcomes)} photos: {counts['done']} processed, {counts['cached']} up to date,"
        f" {counts['failed']} failed{skipped} -> {out_dir}",
        err=True,
    )
    if counts["failed"]:
        sys.exit(int(ExitCode.INPUT_FAILED))


def skipped_lines(skipped: list[tuple[Path, str]], shown: int = 8) -> list[str]:
    """One line per folder and reason: 'left out of photos/: a.json, b.json (not a photo ...)'."""
    groups: dict[tuple[Path, str], list[str]] = {}
    for path, reason in skipped:
        groups.setdefault((path.parent, reason), []).append(path.name)
    lines = []
    for (folder, reason), names in groups.items():
        listed = ", ".join(names[:shown]) + (
            f", … ({len(names) - shown} more)" if len(names) > shown else ""
        )
        lines.append(f"left out of {folder}{os.sep}: {listed} ({reason})")
    return lines


def event_vocabulary(
    word_lists: tuple[Path, ...], corrections: Corrections | None
) -> frozenset[str]:
    """The words of the --words lists, and those typed in the corrections file."""
    from .io import read_word_list

    found: set[str] = set()
    for path in word_lists:
        found |= read_word_list(path)
    if corrections:
        found |= typed_words(corrections)
    return frozenset(found)


def template_overrides(corrections: Corrections, templates: dict[str, Any]) -> dict[str, str]:
    """Per-sheet ``template`` entries of a corrections file."""
    overrides = {}
    for sheet_id, entry in corrections.sheets.items():
        if entry.template is None:
            continue
        if entry.template not in templates:
            raise click.BadParameter(
                f"{corrections.path}: sheets.{sheet_id}.template: unknown template"
                f" {entry.template!r}; known: {', '.join(templates)}"
            )
        overrides[sheet_id] = entry.template
    return overrides


def prepare_out_dir(out_dir: Path) -> None:
    """Check the output folder before any work: a typo must not cost an hour of OCR."""
    if out_dir.exists() and not out_dir.is_dir():
        raise click.UsageError(f"{out_dir}: exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise click.UsageError(f"{out_dir}: cannot create output folder ({e.strerror})") from e
    if not os.access(out_dir, os.W_OK):
        raise click.UsageError(f"{out_dir}: output folder is not writable")


@cli.command("templates")
@templates_option
@click.option("--json", "as_json", is_flag=True, help="Print the templates as JSON.")
@handle_errors
def list_templates(templates_dir: Path | None, as_json: bool) -> None:
    """List the known templates: built-in ones and those in --templates DIR."""
    templates = load_templates(templates_dir)
    if as_json:
        click.echo(
            json.dumps([t.to_dict() for t in templates.values()], ensure_ascii=False, indent=2)
        )
        return
    for template in templates.values():
        origin = (
            "built-in"
            if "/templates/builtin/" in template.path.replace(os.sep, "/")
            else template.path
        )
        fields = ", ".join(template.field_ids())
        click.echo(f"{template.id:<16} {template.name}  [{origin}]")
        click.echo(f"{'':<16} fields: {fields}")


@cli.command()
@click.argument("name", type=click.Choice(SCHEMA_NAMES))
@handle_errors
def schema(name: str) -> None:
    """Print the JSON Schema of a document: sheet, protocol, corrections or template."""
    click.echo(json.dumps(load_schema(name), ensure_ascii=False, indent=2))


corrections_option = click.option(
    "-c",
    "--corrections",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Corrections file (YAML); only read, never changed.",
)


def _warn_all(messages: list[str]) -> None:
    for message in messages:
        click.echo(f"warning: {message}", err=True)


def _refuse_same_file(output: Path, *inputs: Path | None) -> None:
    """The user's corrections and protocol are inputs: an -o typo must not overwrite them."""
    for path in inputs:
        if path is not None and output.resolve() == path.resolve():
            raise click.UsageError(f"{output}: is an input of this command; choose another -o")


@cli.command()
@click.argument("out_dir", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@corrections_option
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The protocol JSON to write.",
)
@click.option(
    "--learn-min",
    type=click.IntRange(min=1),
    default=DEFAULT_MIN_SEEN,
    show_default=True,
    help="Learn a fix (or a word) only once people typed it in this many fields.",
)
@click.option("--no-learn", is_flag=True, help="Do not apply fixes learned from the corrections.")
@templates_option
@handle_errors
def merge(
    out_dir: Path,
    corrections: Path | None,
    output: Path,
    learn_min: int,
    no_learn: bool,
    templates_dir: Path | None,
) -> None:
    """Merge the sheet JSONs of OUT and the corrections into one protocol JSON.

    Sheets are grouped into sections by template. Warnings name photos left out
    and corrections that may no longer fit the OCR text. A misreading reviewers
    fixed repeatedly (e.g. "Kitaplatze" -> "Kitaplätze" in two fields) is applied
    to the fields nobody corrected, learned only from text people typed and never
    turning a known word into an unknown one; the protocol records each one under
    "learned".
    Example:

        flipchart-ocr merge out/ -c corrections/event.yaml -o protocol.json
    """
    from . import merge as merging
    from .io import write_json

    _refuse_same_file(output, corrections)
    templates = load_templates(templates_dir)
    loaded = load_corrections(corrections) if corrections else None
    folder = merging.load_sheets(out_dir)
    result = merging.merge(
        folder.sheets,
        loaded,
        templates,
        output,
        folder.failed_reasons,
        learn_min_seen=0 if no_learn else learn_min,
    )
    _warn_all(folder.ignored + result.warnings)
    for failure in folder.failures:
        click.echo(f"error: {failure}", err=True)
    write_json(output, result.protocol)
    sheets, sections = len(result.protocol["sheets"]), len(result.protocol["sections"])
    learned = result.protocol["learned"]
    if learned:
        fields = sum("learned" in f for sheet in result.protocol["sheets"] for f in sheet["fields"])
        click.echo(
            f"{len(learned)} fixes learned from the corrections changed {fields} fields"
            ' (listed under "learned"; --no-learn leaves them out)',
            err=True,
        )
    click.echo(f"{sheets} sheets in {sections} sections -> {output}", err=True)
    if folder.failures:
        sys.exit(int(ExitCode.INPUT_FAILED))


@cli.command()
@click.argument(
    "protocol", metavar="PROTOCOL.json", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The document to write: .md, .html, .docx or .csv.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "docx", "csv"]),
    help="Format, when the suffix of -o does not say it.",
)
@click.option(
    "--raw",
    is_flag=True,
    help="CSV only: write texts exactly as they are, for other tools. Without it, a cell"
    " that a spreadsheet would run as a formula (starting with = + - @) gets a leading '.",
)
@handle_errors
def render(protocol: Path, output: Path, fmt: str | None, raw: bool) -> None:
    """Render a protocol JSON as Markdown, one self-contained HTML file, Word, or CSV.

    The HTML file embeds the sheet images: e-mail it, or print it to PDF. The Word
    file (A4) is for editing. Text nobody has checked is marked "nicht geprüft" and
    words read unsure "[?]", in every format; sheets left out are listed with why.
    The CSV has one row per line of a field. Examples:

    \b
        flipchart-ocr render protocol.json -o protocol.html
        flipchart-ocr render protocol.json -o protocol.docx
        flipchart-ocr render protocol.json -o protocol.csv
    """
    from . import render as rendering
    from .io import atomic_write

    _refuse_same_file(output, protocol)
    chosen = rendering.format_for(output, fmt)
    if raw and chosen != "csv":
        raise UsageError(f"--raw is for CSV output; {output} is {chosen}")
    document = rendering.load_protocol(protocol)
    warnings: list[str] = []
    context = rendering.RenderContext(protocol.resolve().parent, output, warnings.append, raw)
    content = rendering.render(document, chosen, context)
    _warn_all(warnings)
    atomic_write(output, content)
    left_out = rendering.omitted(document)
    summary = f"{len(document['sheets'])} sheets"
    if left_out:
        summary += f", {len(left_out)} left out ({', '.join(o.sheet_id for o in left_out)})"
    click.echo(f"{chosen}: {summary} -> {output}", err=True)


@cli.group("corrections")
def corrections_group() -> None:
    """Start or check a corrections file: a person's fixes to the OCR text.

    \b
      flipchart-ocr corrections init out/ -o corrections/event.yaml
      flipchart-ocr corrections check corrections/event.yaml out/
    """


@corrections_group.command("init")
@click.argument("out_dir", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The corrections file to write, e.g. corrections/EVENT.yaml.",
)
@click.option(
    "--force", is_flag=True, help="Overwrite an existing file (its corrections are lost)."
)
@templates_option
@handle_errors
def corrections_init(out_dir: Path, output: Path, force: bool, templates_dir: Path | None) -> None:
    """Start a corrections file: every field of OUT with its OCR text.

    Edit the texts in any editor, then merge with -c. Never overwrites an existing
    file unless --force is given. Example:

        flipchart-ocr corrections init out/ -o corrections/event.yaml
    """
    from .corrections import starting_file
    from .io import atomic_write
    from .merge import load_sheets

    if output.exists() and not force:
        raise click.UsageError(
            f"{output}: exists; it may hold corrections. Use --force to overwrite it."
        )
    templates = load_templates(templates_dir)
    folder = load_sheets(out_dir)
    for failure in folder.failures:
        click.echo(f"error: {failure}", err=True)
    atomic_write(output, starting_file([s.sheet for s in folder.sheets], templates, out_dir))
    click.echo(f"{len(folder.sheets)} sheets -> {output}", err=True)
    if folder.failures:
        sys.exit(int(ExitCode.INPUT_FAILED))


@corrections_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out_dir", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@templates_option
@handle_errors
def corrections_check(file: Path, out_dir: Path, templates_dir: Path | None) -> None:
    """Check a corrections file against the sheets of OUT; write nothing.

    Exit 2 and every problem with its line when the file is invalid; warnings for
    corrections that may no longer fit the OCR text. Example:

        flipchart-ocr corrections check corrections/event.yaml out/
    """
    from . import merge as merging

    templates = load_templates(templates_dir)
    loaded = load_corrections(file)
    folder = merging.load_sheets(out_dir)
    protocol = out_dir / "protocol.json"  # only for image paths; nothing is written
    result = merging.merge(folder.sheets, loaded, templates, protocol, folder.failed_reasons)
    _warn_all(folder.ignored + result.warnings)
    for failure in folder.failures:
        click.echo(f"error: {failure}", err=True)
    fields = sum(len(entry.fields) for entry in loaded.sheets.values())
    click.echo(f"{file}: ok ({len(loaded.sheets)} sheets, {fields} field entries)", err=True)
    if folder.failures:
        sys.exit(int(ExitCode.INPUT_FAILED))


@cli.command()
@click.argument("out_dir", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-c",
    "--corrections",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The corrections file to edit  [default: corrections/<OUT name>.yaml beside OUT;"
    " created at the first save]",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option("--no-browser", is_flag=True, help="Only print the URL; do not open a browser.")
@templates_option
@handle_errors
def review(
    out_dir: Path,
    corrections: Path | None,
    port: int,
    no_browser: bool,
    templates_dir: Path | None,
) -> None:
    """Fix the OCR text in the browser: each field's photo beside its text.

    A local web app on 127.0.0.1 (Ctrl-C stops it). Edits are saved into the
    corrections file, keeping its comments and order; the previous version is
    kept as FILE.bak. Example:

        flipchart-ocr review out/ -c corrections/event.yaml
    """
    from .review import default_corrections_path, serve

    path = corrections or default_corrections_path(out_dir)
    serve(out_dir, path, port, not no_browser, templates_dir, echo=click.echo)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
