# `make demo` and `make test` create (or reuse) a local virtual environment, install the pinned
# dependencies and run. Nothing here depends on anything installed by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test bench results clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU build from the local wheel, never the CUDA one.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/irtnet demo

# The tests run in TEST_WORKERS processes (pytest-xdist), each test file whole in one of them, so a file's
# module fixtures are built once; TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(PY) bench/run_all.py

# docs/results.md from scratch: the three comparisons behind it, then the document (46 minutes on the project's
# 2-core AMD EPYC with every table's embeddings cached, 2026-12-02; encoding the texts the first time adds
# tens of minutes, MMLU-Pro's alone about 18 (docs/estimation.md); each comparison resumes from its cells).
IRTNET := $(VENV)/bin/irtnet
results: $(STAMP)
	$(IRTNET) compare --config configs/text-only.toml --quiet
	$(PY) scripts/routerbench_to_long.py ../shared/data/routerdc/datasets/routerbench_zs runs/unseen/routerbench-long.csv.gz
	$(IRTNET) compare --config configs/unseen-long.toml --quiet
	$(IRTNET) compare --config configs/fidelity.toml --quiet
	$(IRTNET) results runs/compare/text-only runs/compare/unseen-long runs/compare/fidelity -o docs/results.md \
		--summary > runs/compare/summary.md
	@echo "the README's summary tables: runs/compare/summary.md"

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
