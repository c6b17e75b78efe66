"""flipchart-ocr: phone photos of workshop flipcharts to a corrected, structured protocol."""

__version__ = "0.1.0"

# Bumped whenever a change to the pipeline can change its output, so that
# cached sheet JSON made by an older pipeline is recomputed.
PIPELINE_VERSION = "12"

# Who reads the handwriting (process --engine): Tesseract alone, or per text row (on a
# freeform sheet, per line Tesseract found) Tesseract or our own line recogniser,
# whichever reading fits the German word list better (pipeline.read_fields,
# handwriting.py). Here, not in pipeline.py, so that the command line knows them
# without importing OpenCV.
ENGINES = ("ppocr", "tesseract", "hybrid")
DEFAULT_ENGINE = "hybrid"

SCHEMA_VERSION = 1
