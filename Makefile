# kws-mcu: the two commands are `make run` and `make test`. Both set up what is missing first
# (Debian packages, the .venv) and are idempotent: a second call does no work.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Programs the pipeline calls, and the Debian packages that provide them.
APT_PACKAGES := espeak-ng sox gcc-arm-none-eabi libnewlib-arm-none-eabi chromium chromium-driver
NEEDED_COMMANDS := espeak-ng sox arm-none-eabi-gcc chromium chromedriver
# flite: a second TTS engine for the synthetic data (skipped with a message if missing)
APT_PACKAGES += flite
NEEDED_COMMANDS += flite
# festival with the ked voice (issue 16): a third diphone speaker for the synthetic data
APT_PACKAGES += festival festvox-kdlpc16k festlex-cmu festlex-poslex
NEEDED_COMMANDS += festival
# qemu-user: tests/test_featurize.py runs the featurize stage on an emulated CPU of another
# instruction set (issue 19: the same features on any x86-64 machine)
APT_PACKAGES += qemu-user
NEEDED_COMMANDS += qemu-x86_64
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Keep torch/numpy from oversubscribing the 2 cores when pytest-xdist runs two workers.
PYTEST_WORKERS ?= 2

.PHONY: setup system-deps run test bench clean help

help:
	@echo "make run    set up (Debian packages, .venv) and run the whole pipeline (dvc repro)"
	@echo "make test   set up and run the test suite"
	@echo "make bench  set up and print the benchmark figures"
	@echo "make clean  remove build outputs (keeps .venv and the DVC cache)"

setup: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for c in $(NEEDED_COMMANDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $(APT_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "missing programs:$$missing. Install them with:"; \
	    echo "  sudo apt-get install -y $(APT_PACKAGES)"; exit 1; \
	  fi; \
	fi

# onnx2tf and tf-keras go in --no-deps (requirements-nodeps.txt): their declared dependencies
# would pull the full `tensorflow` wheel with old pins (numpy 1.26) over tensorflow-cpu 2.21 and
# numpy 2; everything they import is already installed by pyproject.toml. So `pip check`
# complains about them by design: keep it out of CI.
$(VENV)/.installed: pyproject.toml requirements.lock requirements-nodeps.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	@touch $@

run: setup
	dvc repro

test: setup
	$(PY) -m pytest -q -n $(PYTEST_WORKERS)

bench: setup
	$(PY) -m kws.bench featurize
	$(PY) -m kws.bench finetune
	$(PY) -m kws.bench firmware
	$(PY) -m kws.bench frontend
	$(PY) -m kws.bench models

clean:
	rm -rf build
