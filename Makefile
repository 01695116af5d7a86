PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python examples/trending_hashtags.py $(ARGS)

test: $(BIN)/.installed
	PYTHONHASHSEED=0 $(BIN)/python -m pytest tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
