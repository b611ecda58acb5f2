GO ?= go
BIN ?= tui
FUZZTIME ?= 5s

.PHONY: all build test vet race fuzz bench redis-server run clean

all: build

build:
	$(GO) build -o $(BIN) .

run:
	$(GO) run .

vet:
	$(GO) vet ./...

# redis-server is needed by the tests of the send path; they start their own
# on a free loopback port. Install it when missing and we are allowed to.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
	      || echo "warning: could not install redis-server; tests that need it will be skipped"; \
	  else \
	    echo "warning: redis-server is missing; install it (apt-get install redis-server) or tests that need it will be skipped"; \
	  fi; }

race:
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz:
	$(GO) test ./store -run '^$$' -fuzz '^FuzzImportCSV$$' -fuzztime $(FUZZTIME)

test: redis-server vet race fuzz

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

clean:
	rm -f $(BIN)
