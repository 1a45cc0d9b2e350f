# cheese-maze: every command sets up .venv first (once; cheap when nothing changed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build of torch. Where no such wheel is at hand, `make TORCH_SPEC=torch ...` (or a CUDA
# build from the PyTorch index) works the same.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.stamp-installed
ARGS ?=

.PHONY: setup procgen-textures train test test-slow lint typecheck docs bench peer-venv clean-venv pretrained \
	pretrained-easy pretrained-hard pretrained-hard-g999 pretrained-study9-fullres pretrained-easy-spread pretrained-easy-steer pretrained-easy-steer-seed2 gpu-check gpu-wheels analysis-2023

setup: $(STAMP)

# The installer: uv (installed into the venv by pip first; it resolves and installs the same
# wheels from the same registry several times faster), or pip alone with `make setup PIP=pip`.
# The venv is made without pip and the Python's own pip installs uv into it (`pip --python`):
# `python -m venv` spends 4.5 s of a fast CPU's time (15 s on the slow EPYC) installing the pip
# it bundles; uv then installs pip with the rest, so .venv/bin/pip is there either way. Where
# the Python has no pip of its own, the venv gets its bundled one (ensurepip).
# torch: a CPU build. Where pip's configuration names a folder of local wheels (find-links) that
# holds $(TORCH_SPEC), uv installs it from there with the rest, in one go; elsewhere pip installs
# torch first (pip sees such local wheels where uv would fetch the registry's multi-GB default
# build). A failed uv install falls back to pip.
# Bytecode: nothing is compiled at install time. Python writes each module's bytecode when it is
# first imported (make unexports PYTHONDONTWRITEBYTECODE, which some machines set, so that the
# commands below write it once instead of recompiling torch's modules at every start);
# compiling whole packages up front (pip's default, uv's --compile-bytecode) cost more than the
# rest of the install, mostly for modules never imported (docs/benchmarks-speed.md).
unexport PYTHONDONTWRITEBYTECODE
PIP ?= uv
UV := $(VENV)/bin/uv
# pip inside the venv, from Python's bundled copy, where it is not there yet
ENSUREPIP = { $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null; }
# uv itself: pip installs it into the first venv a machine makes (2.4 s of a fast CPU, 20 s on
# the slow EPYC, mostly pip's own start), and a copy kept in the user's cache folder, beside
# uv's cache of wheels, goes into every later venv (a fresh clone's): hard-linked, or copied.
UV_KEEP ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cheese-maze/uv
GET_UV = test -x $(UV) \
	|| { $(UV_KEEP)/uv --version >/dev/null 2>&1 \
		&& { ln -f $(UV_KEEP)/uv $(UV) 2>/dev/null || cp $(UV_KEEP)/uv $(UV); }; } \
	|| { { $(PYTHON) -m pip --python $(PY) install -q uv 2>/dev/null \
			|| { $(ENSUREPIP) && $(PY) -m pip install -q uv; }; } \
		&& { mkdir -p $(UV_KEEP) && cp $(UV) $(UV_KEEP)/uv.$$$$ && mv -f $(UV_KEEP)/uv.$$$$ $(UV_KEEP)/uv \
			|| true; }; }
EXTRAS := -e ".[agents,viewer,dev,docs]"
TORCH_VERSION = $(patsubst torch==%,%,$(TORCH_SPEC))

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	@if [ "$(PIP)" = uv ] && { $(GET_UV); }; then \
		links=$$($(PY) -m pip config list 2>/dev/null || $(PYTHON) -m pip config list 2>/dev/null); \
		links=$$(echo "$$links" | sed -n "s/^[^.]*\.find-links='\(.*\)'$$/\1/p" | head -1); \
		if [ -n "$$links" ] && ls "$$links"/torch-$(TORCH_VERSION)*.whl >/dev/null 2>&1; then \
			echo "$(UV) pip install -q --python $(PY) --find-links $$links $(TORCH_SPEC) pip $(EXTRAS)"; \
			$(UV) pip install -q --python $(PY) --find-links "$$links" "$(TORCH_SPEC)" pip $(EXTRAS) \
				|| { $(ENSUREPIP) && $(PY) -m pip install -q "$(TORCH_SPEC)" $(EXTRAS); }; \
		else \
			if ! $(PY) -c "import torch" 2>/dev/null; then \
				echo "$(PY) -m pip install -q --no-deps $(TORCH_SPEC)"; \
				$(ENSUREPIP) && $(PY) -m pip install -q --no-compile --no-deps "$(TORCH_SPEC)" || exit 1; \
			fi; \
			echo "$(UV) pip install -q --python $(PY) pip $(EXTRAS)"; \
			$(UV) pip install -q --python $(PY) pip $(EXTRAS) \
				|| { $(ENSUREPIP) && $(PY) -m pip install -q --no-compile $(EXTRAS); }; \
		fi; \
	elif $(ENSUREPIP) && $(PY) -c "import torch" 2>/dev/null; then \
		echo "$(PY) -m pip install -q --no-compile $(EXTRAS)"; \
		$(PY) -m pip install -q --no-compile $(EXTRAS); \
	else \
		echo "$(PY) -m pip install -q --no-compile $(TORCH_SPEC) $(EXTRAS)"; \
		$(ENSUREPIP) && $(PY) -m pip install -q --no-compile "$(TORCH_SPEC)" $(EXTRAS); \
	fi
	@touch $@

# The main job: train the default (quick) preset on the CPU; pass overrides with ARGS="...".
train: setup
	$(PY) -m experiments.train $(ARGS)

# procgen's textures for the procgen-faithful mode (env=procgen_hard, mazegen/ProcgenMaze-v0):
# pip downloads procgen's wheel, the few images are decoded once into a cache
# (~/.cache/cheese-maze/procgen-textures, or $$CHEESE_MAZE_PROCGEN_TEXTURES) and checked
# against the checksums in mazegen/procgen_textures.py. Nothing to do when they are there.
procgen-textures: setup
	$(PY) -m experiments.procgen_textures

# The test suite (slow tests excluded; see test-slow).
# Beside mypy, .ci/warm-bytecode imports what the tests will (in two processes, so the three
# keep both cores busy), writing each module's bytecode once instead of in both test workers at
# the same time.
# mypy's incremental cache lives in the user's cache folder, shared by every checkout on the
# machine (it is keyed by each file's contents, so a fresh clone re-checks only what differs):
# a cold check costs 7 s of a fast CPU (25 s on the slow EPYC) beside the warming above, a
# warm one under a second. MYPY_CACHE_DIR=.mypy_cache keeps it in the checkout.
export MYPY_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cheese-maze/mypy
test: setup procgen-textures
	$(PY) -m ruff check .
	$(PY) .ci/warm-bytecode >/dev/null 2>&1 & warm=$$!; $(PY) -m mypy; status=$$?; wait $$warm; exit $$status
	$(PY) -m pytest $(ARGS)

test-slow: setup procgen-textures peer-venv
	$(PY) -m pytest -m slow $(ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy

# The documentation site, built strictly into site/ (open site/index.html); `mkdocs serve`
# serves a copy that rebuilds on every edit.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench: setup
	$(PY) -m experiments.benchmark $(ARGS)

# procgen (the benchmark's peer) needs numpy<2 and gym3: it lives in a venv of its own.
peer-venv: .venv-procgen/.stamp
.venv-procgen/.stamp:
	$(PYTHON) -m venv .venv-procgen
	.venv-procgen/bin/pip install -q "numpy<2" gym3 procgen-mirror
	@touch $@

clean-venv:
	rm -rf $(VENV) .venv-procgen

# Retrain a shipped policy with its preset and copy it into agents/pretrained/<name>/ (with
# provenance.json). quick: ~4 min; easy: ~1 h on one core; hard: hours (README).
pretrained: setup
	rm -rf outputs/pretrained/quick
	$(PY) -m experiments.train experiment=quick progress=false hydra.run.dir=outputs/pretrained/quick
	$(PY) -m experiments.ship run=outputs/pretrained/quick name=quick

# easy: the preset's 4M steps, 1M more, then 1M with the entropy bonus lowered to sharpen the
# policy (the shipped run's three sessions).
pretrained-easy: setup
	rm -rf outputs/pretrained/easy
	$(PY) -m experiments.train experiment=easy progress=false hydra.run.dir=outputs/pretrained/easy
	$(PY) -m experiments.train resume=outputs/pretrained/easy total_steps=5000000
	$(PY) -m experiments.train resume=outputs/pretrained/easy total_steps=6000000 \
		agent.ppo.ent_coef=0.002
	$(PY) -m experiments.ship run=outputs/pretrained/easy name=easy

# hard: the preset's first 4M steps, then to 7.5M with the entropy bonus lowered, then to 16.5M
# (the shipped run's phases; it flattened at 0.72-0.76, short of the 0.9 goal: docs/agents.md).
# About 5.5 h on one AMX Xeon thread in bf16.
pretrained-hard: setup
	rm -rf outputs/pretrained/hard
	$(PY) -m experiments.train experiment=hard progress=false total_steps=4000000 \
		hydra.run.dir=outputs/pretrained/hard
	$(PY) -m experiments.train resume=outputs/pretrained/hard total_steps=7500000 \
		agent.ppo.ent_coef=0.003
	$(PY) -m experiments.train resume=outputs/pretrained/hard total_steps=16500000
	$(PY) -m experiments.ship run=outputs/pretrained/hard name=hard

# hard_g999: hard's first two phases (to 7.5M), then procgen's discount and learning rate
# (gamma 0.999, lr 5e-4) to 30M, the branch that rose past the shipped hard's plateau
# (docs/agents.md#hard_g999). About 8.5 h of two Zen 4 EPYC threads in bf16 (ARGS="torch_threads=2").
pretrained-hard-g999: setup
	rm -rf outputs/pretrained/hard_g999
	$(PY) -m experiments.train experiment=hard progress=false total_steps=4000000 \
		hydra.run.dir=outputs/pretrained/hard_g999 $(ARGS)
	$(PY) -m experiments.train resume=outputs/pretrained/hard_g999 total_steps=7500000 \
		agent.ppo.ent_coef=0.003 $(ARGS)
	$(PY) -m experiments.train resume=outputs/pretrained/hard_g999 total_steps=30000000 \
		agent.ppo.gamma=0.999 agent.ppo.learning_rate=0.0005 $(ARGS)
	$(PY) -m experiments.ship run=outputs/pretrained/hard_g999 name=hard_g999

# The study's full-resolution agent (docs/study/index.md): 2M steps, ~90 min on one EPYC core.
pretrained-study9-fullres: setup
	rm -rf outputs/pretrained/study9_fullres
	$(PY) -m experiments.train experiment=study9_fullres progress=false \
		hydra.run.dir=outputs/pretrained/study9_fullres
	$(PY) -m experiments.ship run=outputs/pretrained/study9_fullres name=study9_fullres

# The study's best-steering agent (docs/study/index.md): `easy`'s recipe with the spread and L1
# penalties (conf/experiment/easy_spread.yaml). About 80 min on two AMX Xeon threads in fp32
# (ARGS="torch_threads=2"), 3 h on two AVX2 EPYC threads.
pretrained-easy-spread: setup
	rm -rf outputs/pretrained/easy_spread
	$(PY) -m experiments.train experiment=easy_spread progress=false \
		hydra.run.dir=outputs/pretrained/easy_spread $(ARGS)
	$(PY) -m experiments.train resume=outputs/pretrained/easy_spread total_steps=5000000 $(ARGS)
	$(PY) -m experiments.train resume=outputs/pretrained/easy_spread total_steps=6000000 \
		agent.ppo.ent_coef=0.002 $(ARGS)
	$(PY) -m experiments.ship run=outputs/pretrained/easy_spread name=easy_spread

# The study's steering agents (docs/study/index.md): the spread penalty at 0.3, radius 1, 1M steps
# (conf/experiment/easy_steer.yaml), on seed 0 and on seed 2 (easy_steer_seed2.yaml). Timed: 18-19
# min on one AMX Xeon thread beside another job (~930 steps/s); about 10-12 on two idle threads
# (estimated from the run's idle ~1,700 steps/s).
pretrained-easy-steer: STEER = easy_steer
pretrained-easy-steer-seed2: STEER = easy_steer_seed2
pretrained-easy-steer pretrained-easy-steer-seed2: setup
	rm -rf outputs/pretrained/$(STEER)
	$(PY) -m experiments.train experiment=$(STEER) precision=fp32 progress=false \
		hydra.run.dir=outputs/pretrained/$(STEER) $(ARGS)
	$(PY) -m experiments.ship run=outputs/pretrained/$(STEER) name=$(STEER)

# The 2023 analysis, side by side (README): every figure of the table for one policy.
POLICY ?= easy
# POLICY: a shipped name, a run folder, or a 2023 checkpoint file (.pth: smaller sizes by default,
# each command printing how long its full size would take; PTH='pth.full=true' for the full ones,
# PTH='pth.distribution=easy pth.rand_region=3' for another environment).
POLICY_NAME = $(notdir $(basename $(patsubst %/,%,$(POLICY))))
analysis-2023: setup
	$(PY) -m experiments.evaluate run=$(POLICY) $(PTH) out=outputs/analysis/$(POLICY_NAME)/evaluate
	$(PY) -m experiments.patch cheese-vector run=$(POLICY) $(PTH) mazes=500 out=outputs/analysis/$(POLICY_NAME)/cheese-vector
	$(PY) -m experiments.patch top-right-vector run=$(POLICY) $(PTH) mazes=500 out=outputs/analysis/$(POLICY_NAME)/top-right-vector
	$(PY) -m experiments.patch find-channels run=$(POLICY) $(PTH) mazes=500 out=outputs/analysis/$(POLICY_NAME)/find-channels
	$(PY) -m experiments.patch resample-channels run=$(POLICY) $(PTH) mazes=200 num_channels=3 out=outputs/analysis/$(POLICY_NAME)/resample-channels
	$(PY) -m experiments.patch retarget run=$(POLICY) $(PTH) mazes=100 targets_per_maze=30 num_channels=3 out=outputs/analysis/$(POLICY_NAME)/retarget
	@# SAE features (docs/features.md): a policy without a shipped SAE prints the command that trains one
	-$(PY) -m experiments.sae find-features run=$(POLICY) out=outputs/analysis/$(POLICY_NAME)/sae
	-$(PY) -m experiments.sae resample-features run=$(POLICY) out=outputs/analysis/$(POLICY_NAME)/sae
	-$(PY) -m experiments.sae retarget-features run=$(POLICY) out=outputs/analysis/$(POLICY_NAME)/sae

# A few minutes of the langosco preset (IMPALA s=4, 64x64 RGB, 15 actions) on a CUDA GPU:
# prints steps/s and the first curve points (.ci/gpu-check; needs a CUDA build of torch).
gpu-check:
	.ci/gpu-check

# Wheels of what a GPU image with torch usually lacks (Python 3.12, x86-64), into .whl/ for
# machines that cannot reach PyPI; .ci/gpu-check installs them when .whl/ exists.
gpu-wheels:
	rm -rf .whl && mkdir -p .whl
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform any -d .whl stable-baselines3==2.9.2 gymnasium==1.4.0 \
		farama-notifications==0.0.6 hydra-core==1.3.8 omegaconf==2.3.1
	$(PYTHON) -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
