# Two commands on a fresh machine (Python 3.11 and nothing else):
#   make run   - create .venv if missing, install, run the nightly batch on sample_data/
#   make test  - the same set-up, then the test suite (all but the Spark extra's: make test-spark)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SAMPLE_AS_OF := 2026-04-01T00:00:00Z

.PHONY: run test test-spark test-fast lint lock sample bench bench-check mutate docs wheel clean frozen-pack

# The package (editable) and the dev dependency group, every version pinned by constraints.txt.
$(BIN)/recordcheck: pyproject.toml setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade -c constraints.txt pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e . --group dev
	touch $@

# Re-pin constraints.txt to what the environment has now (after changing a dependency).
lock: $(BIN)/recordcheck
	{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^recordcheck'; } > constraints.tmp
	mv constraints.tmp constraints.txt

run: $(BIN)/recordcheck
	$(BIN)/recordcheck run sample_data/extract --out out --as-of $(SAMPLE_AS_OF)

# Both cores (pytest-xdist); a test file stays on one worker so its module fixtures are built once,
# and the longest files start first (tests/file_seconds.json) so the two workers finish together.
# Every test but those marked spark, which run in test-spark (CI runs both).
test: $(BIN)/recordcheck
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder -m "not spark"

# The tests of the Spark extra (a JVM each: every rule case on Spark, a standalone cluster), in one
# process with one driver JVM. They skip where Java is missing; here a skip fails the target.
test-spark: $(BIN)/recordcheck
	$(BIN)/pytest -q -m spark --fail-on-skip

# The edit-test loop: everything but the tests marked slow (fuzzing, whole generated runs),
# browser (chromium) or spark (a JVM).
test-fast: $(BIN)/recordcheck
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder -m "not slow and not browser and not spark"

# mypy sees the code under its installed names through a `recordcheck` link to this folder, made
# in a temporary directory (it cannot follow the editable install's import hook; ARCHITECTURE.md,
# "Static tools", says why no cleaner arrangement exists). pyproject.toml holds checks/ to --strict.
lint: $(BIN)/recordcheck
	$(BIN)/ruff check checks commands reports cli.py spark_submit.py tests benchmarks
	$(BIN)/ruff format --check checks commands reports cli.py spark_submit.py tests benchmarks
	@view=$$(mktemp -d) && ln -s "$(CURDIR)" "$$view/recordcheck" && cd "$$view" && \
	  "$(CURDIR)/$(BIN)/mypy" --config-file "$(CURDIR)/pyproject.toml" --cache-dir "$(CURDIR)/.mypy_cache" \
	    recordcheck/checks recordcheck/commands recordcheck/reports recordcheck/cli.py recordcheck/spark_submit.py; \
	  status=$$?; rm -rf "$$view"; exit $$status

# Mutation testing (minutes; not in CI): each rule's SQL against its own cases, then the statistics
# helpers against their unit tests. Fails on a surviving mutant that is not explained.
mutate: $(BIN)/recordcheck
	$(BIN)/recordcheck rules mutate
	$(BIN)/python -m tests.mutation "checks/base/stats.py::tests/test_stats.py" \
	  "checks/national/funnel.py::tests/test_national.py -k funnel"

# The README's command synopsis and docs/rules.md's rule table, regenerated from the code.
docs: $(BIN)/recordcheck
	$(BIN)/python -m tests.docgen --write

# The wheel a force pins in its rule-change CI (deploy/ci/): dist/recordcheck-VERSION-py3-none-any.whl.
wheel: $(BIN)/recordcheck
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .

# Regenerate the committed sample extract (deterministic for the seed).
# The engine's tests run on a frozen copy of the pack (tests/frozen/), not on rules/. Refresh it when
# the project itself changes what those tests expect; a force editing its own pack never needs to.
frozen-pack:
	rm -rf tests/frozen/rules tests/frozen/expected
	cp -r rules tests/frozen/rules
	rm -rf tests/frozen/rules/__init__.py tests/frozen/rules/__pycache__
	cp -r sample_data/expected tests/frozen/expected

sample: $(BIN)/recordcheck
	rm -rf sample_data/extract
	$(BIN)/recordcheck generate sample_data/extract --seed 7 --scale 0.02 --as-of $(SAMPLE_AS_OF)

# Generates (once, cached in .bench-cache/) and times scale 1 and 10 extracts, CSV and Parquet.
bench: $(BIN)/recordcheck
	$(BIN)/python benchmarks/run.py --scales 1 10

# The regression guard CI runs: scale 0.5, recordcheck against plain SQL alternately; fails when peak
# memory rises 25% or the ratio 50% over benchmarks/baseline.json (update it only with a reason).
bench-check: $(BIN)/recordcheck
	$(BIN)/python benchmarks/check.py

clean:
	rm -rf out .pytest_cache
