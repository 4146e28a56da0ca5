# dynahate-qlora: the two commands are `make demo` and `make test` (`make test-fast` while editing;
# `make docs` builds the documentation site into site/, `make docs-serve` serves it on localhost:8000).
#   VENV=path  use another virtual environment (created if missing)
#   PYTHON=..  the interpreter that creates it (Python >= 3.11)
#   TEST_WORKERS=N  pytest-xdist processes for the test targets (default 2: measured faster than 1 on 2 cores)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo
STAMP := $(VENV)/.dynahate-installed
DOCS_STAMP := $(VENV)/.dynahate-docs-installed
TEST_WORKERS ?= 2
export HF_HUB_OFFLINE := 1
export DISABLE_VERSION_CHECK := 1

.PHONY: install test test-fast coverage lint typecheck check-types docs docs-serve demo loop-demo clean

install: $(STAMP)

$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e '.[test]'
	touch $@

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# ruff (rules and line length in pyproject.toml's [tool.ruff]) on the whole tree, then the type checker; CI runs it
# before the tests (.pre-commit-config.yaml runs the same two before a commit).
lint: install
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory check-types

# basedpyright ([tool.basedpyright] in pyproject.toml: standard, strict on core/, eval/decision/,
# plugin/eval_record.py and plugin/round_summary.py). The packages import as dynahate.<folder> through setuptools'
# package-dir, which pyright cannot follow, so build/typecheck/dynahate/ links each name to its folder (the config's
# extraPaths).
TYPECHECK_LINKS := core:core plugin:plugin inference:inference eval:eval publish:publish serve:serve collect:collect testing:tests/helpers

typecheck: install
	$(MAKE) --no-print-directory check-types

# the type checker in the environment as it is (no install step): `make lint`'s second half and the pre-commit hook
check-types:
	mkdir -p build/typecheck/dynahate
	for link in $(TYPECHECK_LINKS); do ln -sfn ../../../$${link#*:} build/typecheck/dynahate/$${link%%:*}; done
	$(BIN)/basedpyright --pythonpath $(BIN)/python

# The tests that neither train nor need a trained run (tests/conftest.py marks those `integration`): ~1 min on 2 cores.
test-fast: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not integration"

# The whole suite with line coverage of the package, the subprocesses the tests start included
# ([tool.coverage.*] in pyproject.toml); the figure is the TOTAL line.
coverage: install
	rm -rf .coverage-data && mkdir -p .coverage-data
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --cov --cov-report=term-missing:skip-covered

# The documentation site (mkdocs.yml, docs/) with the `docs` extra's MkDocs and mkdocs-material. --strict: a broken
# link, a missing anchor or a page left out of the navigation is an error (CI runs `make docs`).
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e '.[docs]'
	touch $@

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict

# A pipeline check on CPU with a tiny random model and a synthetic sample: NOT the real result.
# The tiny model's training overrides are defined once (TINY_TRAIN_OVERRIDES in plugin/tiny_model.py);
# make prints the training command with them filled in.
TINY_TRAIN_OVERRIDES = $(or $(shell $(BIN)/dynahate tiny-model --print-train-overrides),\
	$(error `dynahate tiny-model --print-train-overrides` printed nothing; run `make install`))

demo: install
	@echo "== dynahate demo: tiny RANDOM model, synthetic sample, CPU. A pipeline check, not the published result. =="
	$(BIN)/dynahate tiny-model $(DEMO)/tiny-model
	$(BIN)/dynahate prepare --csv tests/fixtures/dynahate_sample.csv --out $(DEMO)/data
	mkdir -p $(DEMO)/lf_data
	$(BIN)/dynahate register --dataset-dir $(DEMO)/lf_data --data $(DEMO)/data
	rm -rf $(DEMO)/run
	$(BIN)/llamafactory-cli train recipes/dynahate_qlora.yaml \
		model_name_or_path=$(DEMO)/tiny-model dataset_dir=$(DEMO)/lf_data output_dir=$(DEMO)/run \
		$(TINY_TRAIN_OVERRIDES)
	@echo "== adapter written to $(DEMO)/run (adapter_config.json, adapter_model.safetensors) =="
	$(BIN)/dynahate eval --adapter $(DEMO)/run --data-dir $(DEMO)/data
	$(BIN)/dynahate hatecheck --adapter $(DEMO)/run --csv tests/fixtures/hatecheck_sample.csv
	$(BIN)/dynahate predict --adapter $(DEMO)/run "the Drellans next door brought us soup"
	$(BIN)/dynahate publish $(DEMO)/run --repo-id your-name/dynahate-demo --data-dir $(DEMO)/data --dry-run
	@echo "== model card: $(DEMO)/run/hub/README.md (staged, not uploaded) =="

# One adversarial round on top of `make demo`, on CPU with the tiny model (docs/collecting.md): collect serve against
# demo/run, scripted annotators write, perturb and validate over HTTP, export, prepare the sample with the new round,
# train the next adapter continuing demo/run, evaluate both, compare, stage the next card. Outputs in demo/loop/.
loop-demo: demo
	$(BIN)/python -m dynahate.testing.loop_demo --demo $(DEMO)

clean:
	rm -rf $(DEMO) build site *.egg-info .coverage-data
