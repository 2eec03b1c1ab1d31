# ricochet: `make run` starts the demo, `make test` runs every test.
GO      ?= go
BIN     := bin
PROGS   := server client balancer
FUZZTIME ?= 30s

.PHONY: all build test race run bench fuzz vet clean

all: build

build:
	$(GO) build -o $(BIN)/ $(addprefix ./,$(PROGS))

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

test: vet
	$(GO) test -count=1 -timeout 280s ./...

# The race detector on the unit tests and on the end-to-end tests' binaries.
race:
	RICOCHET_RACE=1 $(GO) test -race -count=1 -timeout 600s ./...

run: build
	./scripts/demo.sh

bench: build
	./bench/run.sh

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf $(BIN) bench/out
