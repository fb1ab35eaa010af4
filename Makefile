# kemtcp: `make help` lists the targets.
#
# liboqs is found through pkg-config: in LIBOQS_PREFIX (where `make liboqs`
# installs it) or anywhere pkg-config already looks (e.g. /usr/local).

LIBOQS_REPO    ?= https://github.com/open-quantum-safe/liboqs.git
LIBOQS_VERSION ?= 0.16.0
LIBOQS_COMMIT  ?= 5a1a854b0dc9f2141bdc771c555ee60c37950183
LIBOQS_PREFIX  ?= $(CURDIR)/.liboqs
# make liboqs also builds liboqs with AddressSanitizer, beside the real one,
# for make test's memory check of the cgo bindings (LIBOQS_ASAN=0: not).
LIBOQS_ASAN    ?= 1
LIBOQS_ASAN_PREFIX = $(LIBOQS_PREFIX)/share/kemtcp/liboqs-asan

export LIBOQS_REPO LIBOQS_VERSION LIBOQS_COMMIT LIBOQS_PREFIX
export PKG_CONFIG_PATH := $(LIBOQS_PREFIX)/lib/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))
export CGO_ENABLED ?= 1

GO          ?= go
BIN         ?= bin
IMAGE       ?= kemtcp
FUZZTIME    ?= 10s
# STATIC=1 links the commands fully statically (the Docker image does).
STATIC      ?=
COMMANDS    := $(notdir $(wildcard app/cmd/kem-*))
# kem-bench lives in its own Go module (app/bench), so that the library's
# go.mod lists only what the library needs.
BENCH_MOD   := app/bench
# Set when pkg-config finds liboqs 0.15.0 or newer; decides the liboqs build tag.
# (make 4.3 does not pass exported variables to $(shell): pass PKG_CONFIG_PATH by hand.)
PKGCONFIG    = PKG_CONFIG_PATH='$(PKG_CONFIG_PATH)' pkg-config
HAVE_LIBOQS  = $(shell $(PKGCONFIG) --atleast-version=0.15.0 liboqs 2>/dev/null && echo yes)
TAGS         = $(if $(HAVE_LIBOQS),liboqs)$(if $(STATIC), netgo osusergo)
LDFLAGS      = $(if $(STATIC),-s -w -linkmode external -extldflags -static)

.DEFAULT_GOAL := help
.PHONY: help liboqs build commands test flaky mutate bench fuzz demo docker lint clean

help: ## List the targets
	@echo "kemtcp make targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables: LIBOQS_PREFIX=$(LIBOQS_PREFIX) LIBOQS_VERSION=$(LIBOQS_VERSION) LIBOQS_REPO=$(LIBOQS_REPO)"

liboqs: ## Build and install the pinned liboqs into LIBOQS_PREFIX, and an AddressSanitizer copy for the tests (CMake + Ninja)
	@echo ">> liboqs $(LIBOQS_VERSION) into $(LIBOQS_PREFIX)"
	scripts/build-liboqs.sh
ifeq ($(LIBOQS_ASAN),1)
	@echo ">> liboqs $(LIBOQS_VERSION) with AddressSanitizer into $(LIBOQS_ASAN_PREFIX) (for make test; LIBOQS_ASAN=0 skips it)"
	LIBOQS_PREFIX='$(LIBOQS_ASAN_PREFIX)' LIBOQS_BUILD='$(CURDIR)/.liboqs-build-asan' \
	  LIBOQS_CMAKE_FLAGS='-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-fsanitize=address' scripts/build-liboqs.sh
endif

build: commands ## Build kem-server, kem-client and kem-bench into bin/ (with liboqs when installed)
	$(GO) -C $(BENCH_MOD) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(abspath $(BIN))/ ./cmd/kem-bench

commands: ## Build kem-server and kem-client only into bin/ (what the Docker image holds)
	@echo ">> building $(COMMANDS) into $(BIN)/ $(if $(HAVE_LIBOQS),with liboqs $(shell $(PKGCONFIG) --modversion liboqs),WITHOUT liboqs (run 'make liboqs' first to include it))"
	@mkdir -p $(BIN)
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./app/cmd/,$(COMMANDS))

test: ## Run every test (the liboqs ones only when liboqs is installed)
	scripts/test.sh

flaky: ## Run every test -count=50, then -race -count=20: any failure is a flaky test (about an hour)
	scripts/flaky.sh

mutate: ## Mutation testing with gremlins (efficacy per package; see the README's Tests section)
	scripts/mutate.sh

bench: build ## Run bin/kem-bench, not the Go benchmarks (BENCHFLAGS=-quick: under a minute, judges no target)
	@echo ">> kem-bench $(BENCHFLAGS)"
	$(BIN)/kem-bench $(BENCHFLAGS)

fuzz: ## Run every fuzz target for FUZZTIME (default 10s)
	scripts/fuzz.sh $(FUZZTIME)

demo: build ## Start a server, talk to it with a client over each protocol, clean up
	scripts/demo.sh

docker: ## Build the Docker image $(IMAGE)
	@echo ">> docker build -t $(IMAGE) ."
	docker build --build-arg LIBOQS_REPO=$(LIBOQS_REPO) --build-arg LIBOQS_VERSION=$(LIBOQS_VERSION) -t $(IMAGE) .

lint: ## gofmt, go vet (with and without liboqs), Dockerfile check
	scripts/lint.sh

clean: ## Remove bin/ and the liboqs build folders (not an installed liboqs)
	@echo ">> removing $(BIN)/ .liboqs-build/ .liboqs-build-asan/"
	rm -rf $(BIN) .liboqs-build .liboqs-build-asan
