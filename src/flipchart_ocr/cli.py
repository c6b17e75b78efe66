"""The command line: a thin shell over the stages; the one place errors become exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import ExitCode, FlipchartError
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
            click.echo("interrupted: finished files are kept, nothing half-written", err=True)
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
    help="Corrections file whose per-sheet 'template' overrides are honoured.",
)
@click.option(
    "--lang", default="deu", show_default=True, help="Tesseract language(s), e.g. deu or deu+eng."
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Photos processed in parallel  [default: number of cores]",
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
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds one Tesseract call may take before it counts as hung.",
)
@handle_errors
def process(
    photos: tuple[Path, ...],
    out_dir: Path,
    templates_dir: Path | None,
    template_id: str | None,
    corrections: Path | None,
    lang: str,
    jobs: int | None,
    force: bool,
    debug: bool,
    quiet: bool,
    timeout: float,
) -> None:
    """Read flipchart photos into one sheet JSON per photo: OUT/<photo stem>.json.

    PHOTOS are image files (jpg, png, tif, webp) or folders of them. Photos whose
    JSON is up to date are skipped. Example:

        flipchart-ocr process samples/ -o out/ --debug
    """
    from . import batch
    from .io import find_photos
    from .pipeline import ProcessOptions

    templates = load_templates(templates_dir)
    if template_id is not None and template_id not in templates:
        raise click.BadParameter(
            f"unknown template {template_id!r}; known: {', '.join(templates)}",
            param_hint="--template",
        )
    overrides = template_overrides(corrections, templates) if corrections else {}
    photo_paths = find_photos(photos)
    if not photo_paths:
        raise click.UsageError("no photos found (jpg, jpeg, png, tif, tiff, webp)")
    batch.check_unique_stems(photo_paths)
    prepare_out_dir(out_dir)
    job_list = [
        batch.Job(
            photo,
            out_dir,
            ProcessOptions(
                lang=lang, template=overrides.get(photo.stem, template_id), timeout=timeout
            ),
            debug,
        )
        for photo in photo_paths
    ]
    workers = jobs or os.cpu_count() or 1
    progress = batch.Progress(len(job_list), quiet=quiet)
    outcomes = batch.run_batch(job_list, templates, workers, force, progress)
    counts = batch.summarise(outcomes)
    click.echo(
        f"{len(outcomes)} photos: {counts['done']} processed, {counts['cached']} up to date,"
        f" {counts['failed']} failed -> {out_dir}",
        err=True,
    )
    if counts["failed"]:
        sys.exit(int(ExitCode.INPUT_FAILED))


def template_overrides(corrections: Path, templates: dict[str, Any]) -> dict[str, str]:
    """Per-sheet ``template`` entries of a corrections file."""
    from .corrections import load_corrections

    loaded = load_corrections(corrections)
    overrides = {}
    for sheet_id, entry in loaded.sheets.items():
        if entry.template is None:
            continue
        if entry.template not in templates:
            raise click.BadParameter(
                f"{corrections}: sheets.{sheet_id}.template: unknown template {entry.template!r};"
                f" known: {', '.join(templates)}"
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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
