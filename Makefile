# Loupe — top-level commands. See README.md.
#   make demo   install what is missing, build, run the server with demo data dir
#   make test   install what is missing, build, run every test
#   make build  build into build/ (server binary: build/loupe)

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
export CCACHE_DIR ?= $(HOME)/.cache/loupe-ccache
# Paths relative to the tree, so clones and worktrees (and CI's fresh clone) share the cache.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

.PHONY: all deps build test test-unit test-integration test-web demo bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	LOUPE_WITH_BROWSER=1 scripts/install-deps.sh
	scripts/run-tests.sh $(BUILD_DIR)

demo: build
	scripts/demo.sh $(BUILD_DIR)

bench: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target benchmarks

clean:
	rm -rf $(BUILD_DIR)
