# The README's commands. Everything runs from the project's own virtualenv.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit soak lint bench clean venv

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## Start broker, four services and gateway on embedded defaults (Ctrl-C stops all).
run: $(STAMP)
	$(BIN)/xinfang up

## Run the whole test suite (unit, service, end-to-end).
test: $(STAMP)
	$(BIN)/python -m pytest -q -ra

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

## The fault suite with 10,000 petitions per scenario (needs what .ci/run starts: the Kafka
## jars and PostgreSQL's server): 80,000 petitions, four to five hours on 2 cores.
soak: $(STAMP)
	XINFANG_RELIABILITY_PETITIONS=$${XINFANG_RELIABILITY_PETITIONS:-10000} \
		$(BIN)/python -m pytest -q -ra -s tests/reliability/test_faults.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Run every benchmark of bench/ and write BENCHMARKS.md (about 30 minutes; bench/README.md).
bench: $(STAMP)
	$(BIN)/python bench/report.py

clean:
	rm -rf var .pytest_cache
