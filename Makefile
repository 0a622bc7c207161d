# axle - front door. `make demo` and `make test` set up everything on a fresh
# Debian 12 machine: they install dependencies (make deps), build and run.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_GEN  := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps build asan test test-unit test-asan test-conformance test-e2e \
        demo bench fuzz clean

all: build

deps:
	@tools/deps.sh

build:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release
	@cmake --build $(BUILD) -j $(JOBS)

asan:
	@test -f $(BUILD_ASAN)/CMakeCache.txt || cmake -S . -B $(BUILD_ASAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DAXLE_SANITIZE=ON
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# Every test: unit + corpus replay (ctest), ONNX conformance, end-to-end,
# then the same suites under ASan+UBSan.
test: deps
	@tests/run_all.sh

test-unit: build
	@cd $(BUILD) && ctest --output-on-failure

demo: deps build
	@examples/demo.sh

bench: deps build
	@bench/run_all.sh

fuzz: deps
	@test -f $(BUILD_FUZZ)/CMakeCache.txt || CC=clang cmake -S . -B $(BUILD_FUZZ) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DAXLE_FUZZ=ON
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)
	@tests/fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
