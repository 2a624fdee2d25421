# Two commands: `make` reproduces everything at the default scale, `make test` runs the tests.
# Both create .venv from the lock (requirements.txt: every package with its hashes, for Linux x86_64 and
# Python 3.11) and the system packages (LaTeX, poppler) when missing. Pass Snakemake options with ARGS,
# e.g. make ARGS="--profile profiles/gpu". `make lock` regenerates the lock from requirements.in.
# `make test` also installs SLURM and munge (the tests run a one-node cluster).
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
ARGS ?=
export PATH := $(abspath $(VENV))/bin:$(PATH)

LOCK_VENV ?= .lock-venv

.PHONY: all test setup system-deps lint report clean lock bundle test-deps rulegraph
all: setup
	snakemake --cores $(CORES) $(ARGS)

test: setup test-deps
	pytest $(ARGS)

setup: $(VENV)/.installed system-deps

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

system-deps:
	@tools/system-deps.sh

# pip-tools resolves with this machine's pip configuration (its indexes and find-links); the lock names
# no index, so it installs from whichever index serves these files (the hashes are checked).
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet pip-tools==7.6.2; }
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --custom-compile-command "make lock" --output-file requirements.txt requirements.in

bundle: setup
	snakemake --cores 1 bundle $(ARGS)  # the target first: --configfile takes every word after it

test-deps:  # the SLURM tests' one-node cluster (tests/slurm/start.sh)
	@tools/system-deps.sh slurm

rulegraph: setup  # the README's picture of the rules (graphviz: tools/system-deps.sh docs)
	@tools/system-deps.sh docs
	snakemake --rulegraph > docs/rulegraph.dot
	dot -Tpng -Gdpi=70 docs/rulegraph.dot -o docs/rulegraph.png

lint: setup
	snakemake --lint

report: setup
	snakemake --cores $(CORES) $(ARGS)
	snakemake --report report.zip

clean:
	rm -rf results logs .snakemake report.zip
