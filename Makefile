# weft — the two commands:  make run   and   make test
# Both install missing Debian packages (when root), configure build/ once,
# build, then run the demo or the whole test suite.

BUILD   ?= build
MESON_OPTS ?=
# Debian 12 packages the build needs (oneTBB and g++ for bench/overhead).
PACKAGES := meson ninja-build pkg-config gcc g++ make libhwloc-dev libjemalloc-dev libtbb-dev util-linux

.PHONY: all deps build run test bench clean

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
	./$(BUILD)/examples/heat

test: build
	meson test -C $(BUILD) --print-errorlogs

bench: build
	./$(BUILD)/bench/overhead

clean:
	rm -rf $(BUILD)
