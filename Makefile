# Osprey: the two commands a newcomer needs are `make serve` and `make test`.
# Every target installs what is missing (scripts/setup.sh), configures and builds first.
PRESET ?= release
BUILD := build/$(PRESET)
JOBS ?= $(shell nproc)
MODELS := build/models

.PHONY: all setup configure build test test-asan test-e2e soak bench bench-serve bench-llama-cpp serve fuzz format format-check clean

all: build

setup:
	@bash scripts/setup.sh

configure: setup
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Unit, integration and end-to-end tests (the server driven by the official openai npm client).
test: build
	@bash scripts/fetch-tokenizers.sh
	@ctest --test-dir $(BUILD) -L 'unit|integration|e2e' --output-on-failure -j $(JOBS)

# The end-to-end tests alone.
test-e2e: build
	@bash scripts/fetch-tokenizers.sh
	@ctest --test-dir $(BUILD) -L e2e --output-on-failure

# 1,000 concurrent streaming clients, 20% hanging up, two rounds: every request accounted for, KV
# blocks free, no memory growth (tests/e2e/soak.mjs; a few minutes, loopback only).
soak: build
	@bash scripts/fetch-tokenizers.sh
	@cd tests/e2e && npm ci --no-audit --no-fund --silent && OSPREY_BINARY=$(CURDIR)/$(BUILD)/osprey node soak.mjs

test-asan: setup
	@cmake --preset asan >/dev/null
	@cmake --build build/asan -j $(JOBS) --target unit_tests
	@bash scripts/fetch-tokenizers.sh
	@ctest --test-dir build/asan -L unit --output-on-failure -j $(JOBS)

# Microbenchmarks and end-to-end figures (see README.md, Benchmarks); generated models live in build/models.
bench: build
	@bash scripts/bench.sh $(BUILD) $(MODELS)

# Serving figures: osprey serve under osprey bench serve at 1/16/64 clients vs the in-process engine.
bench-serve: build
	@bash scripts/bench-serve.sh $(BUILD) $(MODELS)

# Osprey and llama.cpp (its own CPU build, from npm) side by side on the same GGUF files.
bench-llama-cpp: build
	@bash scripts/fetch-tokenizers.sh
	@bash scripts/bench-vs-llama-cpp.sh $(BUILD) $(MODELS)

# `make serve`: osprey serve on the default model (OSPREY_MODEL overrides), on http://127.0.0.1:8000.
serve: build
	@bash scripts/serve.sh $(BUILD) $(MODELS)

fuzz: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build build/fuzz -j $(JOBS)
	@bash scripts/fuzz.sh build/fuzz

format:
	@git ls-files '*.cc' '*.h' '*.cu' '*.cuh' | xargs clang-format -i

# Fails on any file clang-format would change (CI runs it).
format-check: setup
	@git ls-files '*.cc' '*.h' '*.cu' '*.cuh' | xargs clang-format --dry-run -Werror

clean:
	@rm -rf build
