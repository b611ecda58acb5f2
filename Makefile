GO ?= go
BIN ?= tui
FUZZTIME ?= 5s

.PHONY: all build test vet race fuzz bench deps run clean

all: build

build:
	$(GO) build -o $(BIN) .

run:
	$(GO) run .

vet:
	$(GO) vet ./...

# The tests start their own redis-server on a free loopback port and drive the
# real binary in tmux. Install both when missing and we are allowed to.
TEST_PACKAGES = redis-server tmux

deps:
	@missing=""; for p in $(TEST_PACKAGES); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; tests that need them will be skipped"; \
	  else \
	    echo "warning:$$missing missing (apt-get install$$missing); tests that need them will be skipped"; \
	  fi; \
	fi

race:
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz:
	$(GO) test ./store -run '^$$' -fuzz '^FuzzImportCSV$$' -fuzztime $(FUZZTIME)

test: deps vet race fuzz

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

clean:
	rm -f $(BIN)
