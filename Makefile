# Two commands: `make` reproduces everything at the default scale, `make test` runs the tests.
# Both create .venv with the pinned packages (requirements.txt) and the system packages (LaTeX,
# poppler) when missing; `make test` also SLURM and munge (the tests run a one-node cluster).
# Pass Snakemake options with ARGS, e.g. make ARGS="--profile profiles/gpu".
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
ARGS ?=
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: all test setup system-deps test-deps lint report clean
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

test-deps:  # the SLURM tests' one-node cluster (tests/slurm/start.sh)
	@tools/system-deps.sh slurm

lint: setup
	snakemake --lint

report: setup
	snakemake --cores $(CORES) $(ARGS)
	snakemake --report report.zip

clean:
	rm -rf results logs .snakemake report.zip
