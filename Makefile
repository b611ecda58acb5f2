GO ?= go
BIN ?= tui
# A count, not a duration: Go 1.26's fuzz coordinator can report a bare
# "context deadline exceeded" when a duration runs out on a loaded machine
# (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME ?= 10000x

.PHONY: all build test vet race fuzz bench bench-processes deps run clean

all: build

build:
	$(GO) build -o $(BIN) .

run:
	$(GO) run .

vet:
	$(GO) vet ./...

# The tests start their own redis-server on a free loopback port, drive the
# real binary in tmux, and connect with OpenSSH's client. Install what is
# missing (command:package) when we are allowed to.
TEST_TOOLS = redis-server:redis-server tmux:tmux ssh:openssh-client

deps:
	@missing=""; for t in $(TEST_TOOLS); do command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
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
	$(GO) test ./store -run '^$$' -fuzz '^FuzzRecordSplitterIsInvisible$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/jsonstr -run '^$$' -fuzz '^FuzzAppendMatchesEncodingJSON$$' -fuzztime $(FUZZTIME)
	$(GO) test ./queue -run '^$$' -fuzz '^FuzzParseReadReply$$' -fuzztime $(FUZZTIME)

test: deps vet race fuzz

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# The binary as people run it (campaign send, --headless-worker), beside
# the ceilings measured in the same run: three runs, ratios per run.
bench-processes:
	$(GO) test -run '^$$' -bench '^BenchmarkProcesses' -benchtime 1x -count 3 -timeout 30m .

clean:
	rm -f $(BIN)
