# geomaug's two commands: `make test` and `make demo` set everything up on a fresh machine
# (virtualenv in .venv/, torch and the other dependencies, the extension) and skip what is current.
SHELL := /bin/bash
PY_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.stamp-deps
EXT_STAMP := build/.stamp-ext
ARCH_STAMP := build/.arch-list
SOURCES := $(shell find csrc -name '*.h' -o -name '*.cpp' -o -name '*.cu') setup.py geomaug/_arch.py geomaug/_version.py
export CUDA_HOME ?= $(if $(wildcard /usr/local/cuda/bin/nvcc),/usr/local/cuda,)

.PHONY: test demo build bench wheel sdist gpu-check info clean FORCE

test: $(EXT_STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(EXT_STAMP)
	$(PY) -m geomaug demo

info: $(EXT_STAMP)
	$(PY) -m geomaug info

bench: $(EXT_STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

build: $(EXT_STAMP)

$(DEPS_STAMP): pyproject.toml
	test -x $(PY) || $(PY_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel ninja pybind11
	GEOMAUG_NO_EXT=1 $(PY) -m pip install -q --no-build-isolation -e '.[test,bench,demo]'
	touch $@

# Rebuild when the requested arch list changes, not only when sources do.
$(ARCH_STAMP): FORCE
	@mkdir -p build
	@echo "$(GEOMAUG_CUDA_ARCH_LIST)|$(GEOMAUG_FORCE_CUDA)|$(GEOMAUG_NO_CUDA)|$(GEOMAUG_NO_EXT)" | cmp -s - $@ || \
		echo "$(GEOMAUG_CUDA_ARCH_LIST)|$(GEOMAUG_FORCE_CUDA)|$(GEOMAUG_NO_CUDA)|$(GEOMAUG_NO_EXT)" > $@

$(EXT_STAMP): $(DEPS_STAMP) $(SOURCES) $(ARCH_STAMP)
	if [ "$(GEOMAUG_NO_EXT)" = "1" ]; then rm -f geomaug/_C*.so geomaug/_build_info.json; \
	else $(PY) setup.py -q build_ext --inplace; fi
	touch $@

# The sdist, and a wheel built from it (so the wheel holds only what the sdist ships) for the archs
# in GEOMAUG_CUDA_ARCH_LIST: CUDA forced, no GPU needed (GEOMAUG_NO_CUDA=1: CPU kernels only);
# its version labelled (+pt214cu130; GEOMAUG_LOCAL_VERSION=0: plain); its cubins/PTX checked.
wheel: $(DEPS_STAMP)
	rm -rf build/dist && mkdir -p dist
	$(PY) -m build --sdist --no-isolation -o build/dist .
	GEOMAUG_FORCE_CUDA=$(if $(filter 1,$(GEOMAUG_NO_CUDA)),0,1) GEOMAUG_LOCAL_VERSION=$${GEOMAUG_LOCAL_VERSION-1} \
		$(PY) -m pip wheel --no-build-isolation --no-deps -w build/dist build/dist/geomaug-*.tar.gz
	$(PY) tools/list_cubins.py build/dist/geomaug-*.whl
	mv -f build/dist/* dist/
	@ls -l dist

sdist: $(DEPS_STAMP)
	$(PY) -m build --sdist --no-isolation -o dist .

# On a machine with an NVIDIA GPU and no network: build in place, CUDA tests, compute-sanitizer,
# GPU benchmarks, summary table.  Uses the system python (torch already installed there).
gpu-check:
	bash tools/gpu_check.sh

clean:
	rm -rf build dist geomaug/_C*.so geomaug/_build_info.json *.egg-info
