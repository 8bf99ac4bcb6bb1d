# depth_node developer tasks. `make` (= `make venv`), then `make test`, `make demo`,
# `make bench`. See DEVELOPERS.md for what each step installs and why.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# This machine's pip.conf lists local indexes that lack most packages; pip warns once per
# package ("Location ... is ignored"). Drop that noise, keep pip's exit status.
QUIET := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
STAMP := $(VENV)/.depth_node.stamp

# Exactly this torch: a CPU wheel is provided locally; an unpinned torch pulls GBs of CUDA.
TORCH ?= torch==2.13.0
ROS_WHEELS := 'ros-kilted-rclpy[fastrtps]' ros-kilted-sensor-msgs ros-kilted-std-msgs \
	ros-kilted-geometry-msgs ros-kilted-diagnostic-msgs ros-kilted-rcl-interfaces \
	ros-kilted-lifecycle-msgs
DEV_TOOLS := pytest pytest-timeout flake8 flake8-import-order pydocstyle ai-edge-litert
# Test-only reference for the Depth Anything 3 equivalence tests: the official package without
# its heavy dependencies (xformers, torchvision, open3d, numpy<2...), plus what its model
# modules and input processor import. Optional: the tests skip if it is missing.
DA3_REFERENCE := depth-anything-3==0.1.1
DA3_REFERENCE_DEPS := addict omegaconf einops imageio

MODEL ?= depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf
BENCH_ARGS ?=
PYTEST_ARGS ?=
TEST_TIMEOUT ?= 300

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := venv
.PHONY: venv test demo bench clean distclean

venv: $(STAMP)

# Rebuilt only when the install recipe changes; otherwise `make` is instant.
$(STAMP): setup.py setup.cfg Makefile
	@set -e; \
	if [ ! -x $(PY) ]; then \
	  if [ -n "$$ROS_DISTRO" ] && $(PYTHON) -c 'import rclpy' 2>/dev/null; then \
	    echo "venv: ROS 2 $$ROS_DISTRO found; $(VENV) sees its system packages"; \
	    $(PYTHON) -m venv --system-site-packages $(VENV); \
	  else \
	    echo "venv: creating $(VENV)"; \
	    $(PYTHON) -m venv $(VENV); \
	  fi; \
	fi; \
	if ! $(PY) -c 'import rclpy' 2>/dev/null; then \
	  echo "venv: installing ROS 2 kilted wheels (rclpy, messages)"; \
	  $(PIP) install $(ROS_WHEELS) $(QUIET); \
	fi; \
	if ! $(PY) -c 'import torch' 2>/dev/null; then \
	  echo "venv: installing $(TORCH)"; \
	  $(PIP) install '$(TORCH)' $(QUIET); \
	fi; \
	echo "venv: installing depth_node (editable) and the test tools"; \
	$(PIP) install -e . $(DEV_TOOLS) $(QUIET); \
	echo "venv: installing $(DA3_REFERENCE) (test reference, --no-deps)"; \
	{ $(PIP) install $(DA3_REFERENCE_DEPS) && $(PIP) install --no-deps '$(DA3_REFERENCE)'; } \
	  $(QUIET) || echo "venv: $(DA3_REFERENCE) not installed; its equivalence tests will skip"; \
	touch $@; \
	echo "venv: ready ($(VENV))"

# Expanded when the recipe runs, i.e. after the venv exists.
TIMEOUT_ARG = $(shell $(PY) -c 'import pytest_timeout' 2>/dev/null && echo --timeout=$(TEST_TIMEOUT))

# Tests keep DDS discovery on this machine and never wait on the Hugging Face Hub.
test: export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
test: export HF_HUB_OFFLINE ?= 1
test: venv
	$(PY) -m pytest -q $(TIMEOUT_ARG) $(PYTEST_ARGS) test

demo: venv
	DEPTH_NODE_DEMO_VIA_MAKE=1 $(VENV)/bin/depth_node_demo --model $(MODEL) --out demo_out

bench: venv
	$(VENV)/bin/depth_node_bench $(BENCH_ARGS)

# Build and run outputs; the venv stays (rebuilding it takes minutes): see distclean.
clean:
	rm -rf build install log dist demo_out bench_out .pytest_cache *.egg-info
	find depth_node test launch -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
