PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	if command -v npm >/dev/null; then npm ci --prefix tests/flume --no-audit --no-fund; fi
	$(BIN)/python -m compileall -q src
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python examples/trending_hashtags.py $(ARGS)

test: $(BIN)/.installed
	PYTHONHASHSEED=0 $(BIN)/python -m pytest tests $(PYTEST_ARGS)

BENCH_ARGS ?=
BENCH_DATA := bench/data/words.txt bench/data/events.txt

bench/data/%.txt:
	mkdir -p bench/data
	$(PY) bench/gen_data.py $* 1000000 $@

# Side-by-side benchmarks (fluvial, PySpark 4.3.0, engine-free limit); writes BENCHMARKS.md.
# Smoke: make bench BENCH_ARGS='--quick --engines fluvial,limit'
bench: $(BIN)/.installed $(BENCH_DATA)
	bash bench/pyspark_venv.sh
	FLUVIAL_BENCH_VIA_MAKE=1 $(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
