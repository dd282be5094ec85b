# teamd-go — build, test, lab and bench.
#
#   sudo make lab    build and run the lab demo (installs what it needs)
#   sudo make test   install what the tests need, then run every test tier
#   sudo make bench  measure pps and TCP against veth, bridge and Open vSwitch

GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
PREFIX    ?= /usr/local
DESTDIR   ?=
UNITDIR   ?= /etc/systemd/system
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin/teamd-go
APT_PKGS  := iproute2 iputils-ping ethtool openvswitch-switch tshark iperf3 netsniff-ng tcpdump procps \
             clang llvm libbpf-dev bpftool libteam-utils prometheus
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build deps test unit tiers lab bench generate check-generate install clean fuzz

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/teamd-go

# deps installs the Debian packages the namespace tests, the lab and the
# bench use (when running as root and any is missing), and the Go modules.
deps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: cannot install$$missing (namespace tests will skip)"; fi; \
	fi
	$(GO) mod download

# test runs all tiers: unit tests with fakes (race detector on), then,
# one package at a time, the packages whose tests need root: real sockets
# on veths, network namespaces, Open vSwitch, XDP. Outside CI the
# privileged tests skip with a message when not root; with CI=true they
# fail instead.
#
# The tiers are derived, not listed: a package is privileged when its
# tests import one of the namespace harness packages (HARNESS), unit
# otherwise, so a new package cannot fall out of the run. `make tiers`
# prints them.
HARNESS   := test/nstest test/ovstest internal/testbed
MODULE    := github.com/teamd-go/teamd-go
TEST_DEPS  = $(GO) list -f '{{.ImportPath}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}' ./...
PRIV_PKGS  = $(shell $(TEST_DEPS) | awk -v h='$(addprefix $(MODULE)/,$(HARNESS))' \
               'BEGIN { split(h, hs, " "); for (i in hs) harness[hs[i]] = 1 } \
                { for (i = 2; i <= NF; i++) if ($$i in harness) { print $$1; next } }')
ALL_PKGS   = $(shell $(GO) list ./...)
UNIT_PKGS  = $(filter-out $(PRIV_PKGS),$(ALL_PKGS))

# RACE_PRIV are privileged packages whose tests also drive in-process
# code with fakes (the load-balancer emulator's forwarder, the metrics
# collector, the probe stream): they run a second time under the race
# detector, as they did before the tiers were derived.
RACE_PRIV := ./lab/lbemu/ ./metrics/ ./internal/udpprobe/

# XDP_PKGS are the privileged packages whose tests build their teams on
# the backend TEAMD_TEST_BACKEND names (the integration suite, the labs):
# derived, like the tiers, from the tests that read it. They run a second
# time, every test, with TEAMD_TEST_BACKEND=xdp; the first pass runs them
# on the default backend, af_packet.
XDP_PKGS   = $(filter $(PRIV_PKGS),$(addprefix $(MODULE)/,$(patsubst ./%/,%,$(sort $(dir \
               $(shell grep -rl --include='*_test.go' TEAMD_TEST_BACKEND .))))))

test: deps build check-generate
	$(GO) vet ./...
	$(GO) test -race -count=1 $(UNIT_PKGS)
	$(GO) test -count=1 -run 'Alloc' $(UNIT_PKGS)
	$(GO) test -count=1 -timeout 60m -p 1 $(PRIV_PKGS)
	$(GO) test -race -count=1 -p 1 $(RACE_PRIV)
	TEAMD_TEST_BACKEND=xdp $(GO) test -count=1 -timeout 60m -p 1 $(XDP_PKGS)

unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)

tiers:
	@echo "unit (race detector, in parallel):"; for p in $(UNIT_PKGS); do echo "  $$p"; done
	@echo "privileged (one package at a time):"; for p in $(PRIV_PKGS); do echo "  $$p"; done
	@echo "privileged, again on backend xdp (TEAMD_TEST_BACKEND=xdp):"; for p in $(XDP_PKGS); do echo "  $$p"; done

# fuzz runs every fuzz target of the module (each `func Fuzz...` in a
# _test.go file) for FUZZTIME each, one after the other; the seed corpora
# (testdata/fuzz/) also run in every `go test`. FUZZ=FuzzARP runs only
# the targets whose name matches.
FUZZTIME ?= 10s
FUZZ     ?= .
fuzz:
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do \
	  for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f" | grep -E -- '$(FUZZ)'); do \
	    echo "== $$fn $$(dirname $$f)"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "$$(dirname $$f)"; \
	  done; done

lab: deps build
	./$(BIN) lab

bench: deps build
	$(GO) run ./bench -teamd ./$(BIN)

# generate recompiles the XDP programs in ebpf/ with clang (bpf2go, pinned
# in go.mod's tool block) and rewrites their committed objects and Go.
generate:
	$(GO) generate ./...

# check-generate fails when the committed eBPF objects are not what the
# C sources compile to (bpf2go's output is deterministic: no paths, no
# timestamps, DWARF stripped).
check-generate:
	$(GO) generate ./ebpf/...
	@if ! git diff --quiet -- ebpf/ || [ -n "$$(git ls-files --others --exclude-standard -- ebpf/)" ]; then \
	  git status --short -- ebpf/; \
	  echo "ebpf/: committed objects differ from the sources; run make generate and commit"; exit 1; fi

# install puts the binary in $(PREFIX)/bin and the unit in $(UNITDIR), its
# ExecStart pointing at that binary; example configs go to
# $(PREFIX)/share/teamd-go/examples, /etc/teamd-go is left to the admin.
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/teamd-go
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/share/teamd-go/examples
	sed 's|/usr/local/bin/teamd-go|$(PREFIX)/bin/teamd-go|g' configs/teamd-go@.service > $(DESTDIR)$(UNITDIR)/teamd-go@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/teamd-go@.service
	install -m 0644 configs/*.yaml configs/*.json $(DESTDIR)$(PREFIX)/share/teamd-go/examples/
	install -d -m 0755 $(DESTDIR)/etc/teamd-go

clean:
	rm -rf bin
