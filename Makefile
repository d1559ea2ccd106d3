# ember — `make demo` sets everything up and shows ember working; `make test` runs the tests.
#
# Each area of the project adds its Debian packages, build steps and demo steps
# in its own fragment under mk/ (mk/vmm.mk, mk/guest.mk, mk/isa.mk, mk/sim.mk).

SHELL := /bin/bash
# The distribution's Python 3.11 first: Debian builds it with PGO and LTO and ships
# the standard library's bytecode, which halves start-up (importing argparse, ctypes
# and threading: 41 ms against 80 ms with a source-built pyenv 3.11 on the same
# host), and start-up is part of `ember run`'s boot time.
PYTHON ?= $(shell for p in /usr/bin/python3.11 python3.11 python3; do command -v $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := .stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

# Debian/Ubuntu packages every part needs; fragments append theirs.
APT_PACKAGES := build-essential python3-venv python3-dev binutils
# Build steps (targets) and demo steps; fragments append theirs.
BUILD :=
DEMO :=

# Fragments define rules too: keep `all` the default goal whatever comes first.
.DEFAULT_GOAL := all

include $(sort $(wildcard mk/*.mk))

.PHONY: all setup build bytecode demo test bench lint clean
all: setup

setup: $(STAMP)/apt $(STAMP)/venv build

$(STAMP)/apt: Makefile $(wildcard mk/*.mk)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/venv: pyproject.toml | $(STAMP)/apt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --config-settings editable_mode=compat -e '.[dev]'
	@mkdir -p $(STAMP) && touch $@

build: $(BUILD) bytecode

# Start-up time is part of boot time: compile ember's bytecode up front, so a run
# never recompiles sources (even where PYTHONDONTWRITEBYTECODE is set).
bytecode: $(STAMP)/venv
	@$(BIN)/python -m compileall -q -j 0 ember

demo: setup
	@$(MAKE) --no-print-directory $(DEMO)

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check ember tests bench
	$(BIN)/python -m mypy ember

clean:
	rm -rf $(STAMP) build guest/build
