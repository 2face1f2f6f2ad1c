# weft — the two commands:  make run   and   make test
# Both install missing Debian packages (when root), configure build/ once,
# build, then run the demo or the whole test suite.

BUILD   ?= build
MESON_OPTS ?=
# Debian 12 packages the build needs (SQLite for the run store; oneTBB and
# g++ for bench/overhead; python3 and procps for the tests; Open MPI for
# libweft-mpi and its example).
PACKAGES := meson ninja-build pkg-config gcc g++ make libhwloc-dev libjemalloc-dev libsqlite3-dev libtbb-dev util-linux procps python3 \
            libopenmpi-dev openmpi-bin

.PHONY: all deps build run test bench fuzz clean

all: build

deps:
	@missing=""; \
	for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null || exit 1; \
	  else \
	    echo "make: missing packages; run:"; \
	    echo "  sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/weft run examples/poisson-sweep.toml

test: build
	meson test -C $(BUILD) --print-errorlogs

bench: build
	./$(BUILD)/bench/overhead

# make fuzz [FUZZ_TIME=seconds]: the TOML parser under libFuzzer with ASan and
# UBSan (clang), seeded with tests/data and the toml-test inputs when
# ../shared/toml-test is there. Fails on any crash, leak or timeout; the
# input that did it is left in $(FUZZ_BUILD)/ as crash-*/leak-*/timeout-*.
FUZZ_TIME  ?= 60
FUZZ_BUILD ?= build-fuzz
TOML_TEST  ?= ../shared/toml-test/tests

fuzz:
	@$(MAKE) --no-print-directory deps PACKAGES="meson ninja-build pkg-config clang make libhwloc-dev"
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all \
	  -Djemalloc=disabled -Dcuda=disabled -Dbench=disabled >/dev/null
	ninja -C $(FUZZ_BUILD) tests/fuzz_toml
	@rm -rf $(FUZZ_BUILD)/seeds && mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/seeds
	@cp tests/data/*.toml $(FUZZ_BUILD)/seeds/
	@if [ -d $(TOML_TEST) ]; then \
	  find $(TOML_TEST) -name '*.toml' | while read -r f; do \
	    cp "$$f" "$(FUZZ_BUILD)/seeds/$$(printf '%s' "$$f" | md5sum | cut -c1-16).toml"; done; fi
	ASAN_OPTIONS=detect_leaks=1 ./$(FUZZ_BUILD)/tests/fuzz_toml -max_total_time=$(FUZZ_TIME) \
	  -timeout=10 -rss_limit_mb=2048 -max_len=65536 -dict=tests/fuzz/toml.dict \
	  -artifact_prefix=$(FUZZ_BUILD)/ -print_final_stats=1 $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/seeds

clean:
	rm -rf $(BUILD)
