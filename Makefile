# The README's Quick start: `make demo` and `make test` on a fresh machine.
.PHONY: setup setup-dev demo test lint bench samples clean

VENV := .venv/bin

setup:
	bash scripts/setup.sh

setup-dev:
	bash scripts/setup.sh --dev

demo: setup
	$(VENV)/flipchart-ocr process samples/ -o demo-out/sheets --debug
	$(VENV)/flipchart-ocr merge demo-out/sheets -c corrections/samples.yaml -o demo-out/protocol.json
	$(VENV)/flipchart-ocr render demo-out/protocol.json -o demo-out/protocol.html
	@echo "demo: open demo-out/protocol.html; sheet JSON in demo-out/sheets/, field boxes in demo-out/sheets/debug/"

test: setup-dev
	$(VENV)/python -m pytest

lint: setup-dev
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

bench: setup-dev
	$(VENV)/python benchmarks/accuracy.py --heldout 30 --realdata ../shared/realdata
	$(VENV)/python benchmarks/throughput.py

samples: setup-dev
	$(VENV)/python samples/generate.py --out samples

clean:
	rm -rf demo-out .pytest_cache
