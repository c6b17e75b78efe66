"""flipchart-ocr: phone photos of workshop flipcharts to a corrected, structured protocol."""

__version__ = "0.1.0"

# Bumped whenever a change to the pipeline can change its output, so that
# cached sheet JSON made by an older pipeline is recomputed.
PIPELINE_VERSION = "27"

# Who reads the handwriting (process --engine): PP-OCRv6 small, text detector and line
# recogniser (readers/ppocr.py), or Tesseract alone (readers/tesseract.py). Here, not in
# pipeline.py, so that the command line knows them without importing OpenCV.
ENGINES = ("ppocr", "tesseract")
DEFAULT_ENGINE = "ppocr"

SCHEMA_VERSION = 1
