# The two commands of the README. Both set up a fresh machine by themselves.
VENV := .venv
BIN := $(VENV)/bin
TASK ?= stack
SEED ?= 0

.PHONY: setup run test lint fuzz bench clean

setup:
	@bash .ci/setup.sh

run: setup
	$(BIN)/embodied run --task $(TASK) --seed $(SEED)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

# The robustness suite with its long hypothesis profile (tens of minutes); `make test` runs the short one.
fuzz: setup
	EMBODIED_FUZZ_PROFILE=fuzz $(BIN)/python -m pytest tests/robustness -n 2 --dist load -q

bench: setup
	$(BIN)/embodied bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
