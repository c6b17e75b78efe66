"""flipchart-ocr: phone photos of workshop flipcharts to a corrected, structured protocol."""

__version__ = "0.1.0"

# Bumped whenever a change to the pipeline can change its output, so that
# cached sheet JSON made by an older pipeline is recomputed.
PIPELINE_VERSION = "8"

SCHEMA_VERSION = 1
