# mk/sim.mk - the data-center simulator (ember/sim, ember/cluster/policy).
# Pure Python + NumPy; nothing to build. The demo runs one policy over one
# PlanetLab day from ../shared (skipped with a note when it is absent).

SIM_DAY ?= ../shared/data/planetlab/20110303

DEMO += sim-demo
.PHONY: sim-demo

# The Makefile includes fragments before its own first rule; keep `all` the default goal.
.DEFAULT_GOAL := all

sim-demo:
	@if [ -d "$(SIM_DAY)" ]; then \
	  echo "== ember sim: CloudSim's THR-MMT-0.8 and the DVFS baseline on PlanetLab day $(notdir $(SIM_DAY)) =="; \
	  $(BIN)/ember sim compare --trace $(SIM_DAY) --model cloudsim --policies dvfs,thr-mmt-0.8 --jobs 2; \
	else \
	  echo "sim-demo: $(SIM_DAY) is absent; running a synthetic day instead"; \
	  $(BIN)/ember sim run --synthetic 1000 --policy thr-mmt-0.8 --model cloudsim; \
	fi
