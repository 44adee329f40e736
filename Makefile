# duress: build, test and install.  See README.md.
#
#   make            build build/duress
#   make deps       install every Debian package needed (root; idempotent)
#   make check      deps + build + unit tests + integration tests (VM if needed)
#   make demo       deps + build + a short experiment on a sandbox (live table, reverts)
#   make asan       build with ASan+UBSan into build-asan/
#   make bench      benchmarks (docs/performance.md)
#   make fuzz       libFuzzer on the manifest loader, FUZZ_SECONDS (build-fuzz/)
#   make install    PREFIX=/usr/local DESTDIR= (binary, man page, bash completion,
#                   systemd unit, docs, manifests as examples; README.md)

PREFIX ?= /usr/local
DESTDIR ?=
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
EXAMPLESDIR ?= $(PREFIX)/share/doc/duress/examples
BUILD ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config

# Debian packages: build, tests, VM harness.  `make deps` installs them.
DEPS_BUILD := build-essential pkg-config libcgroup-dev libnl-3-dev libnl-route-3-dev \
	libyaml-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev \
	libnftnl-dev libmnl-dev libhttp-parser-dev libldns-dev
DEPS_TEST := clang-format libcmocka-dev valgrind iproute2 iputils-ping util-linux procps e2fsprogs \
	fio stress-ng jq time curl groff-base man-db mandoc systemd nodejs crun runc umoci \
	python3 python3-pytest python3-setuptools python3-pip python3-venv python3-jsonschema \
	nginx haproxy wrk apache2-utils nftables bind9-dnsutils dnsmasq-base \
	postgresql postgresql-contrib python3-psycopg2 chromium tmux python3-yaml
DEPS_VM := qemu-system-x86 busybox-static cpio kmod
DEPS_FUZZ := clang libclang-rt-14-dev
# the mysql fault's tests and bench (MariaDB, its clients, sysbench; openssl for a TLS cert)
DEPS_TEST += mariadb-server mariadb-client python3-pymysql sysbench openssl
DEPS := $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_VM) $(DEPS_FUZZ)

# The release: VERSION is its one source.  The agent (`duress version`, the
# API's GET /v1/version) gets it as DURESS_VERSION; the Python package reads
# the same file (python/VERSION is a link to it).
VERSION := $(shell cat VERSION)

PKGS := libcgroup libnl-3.0 libnl-route-3.0 jansson yaml-0.1 libcurl libmicrohttpd libnftnl libmnl ldns
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -Wvla -Wpointer-arith
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu17 $(WARN) $(CFLAGS) -D_GNU_SOURCE -DDURESS_VERSION='"$(VERSION)"' -Iinclude \
	$(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) -MMD -MP
# libhttp-parser ships no pkg-config file
LDLIBS_ALL = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lhttp_parser -lm -lpthread

AGENT_SRCS := $(sort $(wildcard agent/*/*.c))
LIB_SRCS := $(filter-out agent/cmd/main.c,$(AGENT_SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/tests/helpers/%)
BENCH_SRCS := $(sort $(wildcard tests/bench/*.c))
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/tests/bench/%)

.PHONY: all deps check unit integration demo asan valgrind bench fuzz install uninstall clean image \
	format format-check

all: $(BUILD)/duress

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# the objects that print the version are made again when it changes
$(BUILD)/agent/cmd/main.o $(BUILD)/agent/serve/serve_api.o: VERSION

$(BUILD)/libduress.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/duress: $(BUILD)/agent/cmd/main.o $(BUILD)/libduress.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS_ALL)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libduress.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libduress.a -o $@ $(LDFLAGS) $(LDLIBS_ALL) \
		$(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/tests/helpers/%: tests/helpers/%.c $(BUILD)/libduress.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libduress.a -o $@ $(LDFLAGS) $(LDLIBS_ALL)

$(BUILD)/tests/bench/%: tests/bench/%.c $(BUILD)/libduress.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libduress.a -o $@ $(LDFLAGS) $(LDLIBS_ALL)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/libduress.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libduress.a -o $@ $(LDFLAGS) $(LDLIBS_ALL)

tests-build: $(BUILD)/duress $(UNIT_BINS) $(HELPER_BINS) $(BENCH_BINS)
.PHONY: tests-build

deps:
	@scripts/install-deps $(DEPS)
	@$(MAKE) --no-print-directory tests/k8s/node_modules/.installed

# the Kubernetes manifest check (docs/kubernetes.md), pinned by its lock
# file; installed again only when the lock file changes
tests/k8s/node_modules/.installed: tests/k8s/package-lock.json tests/k8s/package.json
	cd tests/k8s && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Every test: unit tests here, integration tests on a real cgroup v2 kernel
# (directly where the host has one, else in a throwaway VM).
check: deps
	@$(MAKE) --no-print-directory format-check
	$(MAKE) -j2 tests-build
	$(MAKE) -j2 asan
	scripts/run-tests all

unit: tests-build
	scripts/run-tests unit

integration: tests-build
	scripts/run-tests integration

demo: deps
	$(MAKE) all
	scripts/demo

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
		LDFLAGS="-fsanitize=address,undefined" tests-build

valgrind: tests-build
	scripts/run-tests valgrind

bench: deps
	$(MAKE) tests-build
	scripts/bench

# libFuzzer on the manifest loader and validator (clang; not part of check).
# The corpus in build-fuzz/corpus grows from run to run; a crash, leak or
# broken invariant leaves its input in build-fuzz/artifacts/ and fails.
FUZZ_SECONDS ?= 60
FUZZ_DIR := build-fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined

fuzz:
	$(MAKE) BUILD=$(FUZZ_DIR) CC=clang \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -Wno-format-nonliteral -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
		LDFLAGS="-fsanitize=fuzzer $(FUZZ_SAN)" $(FUZZ_DIR)/fuzz/fuzz_manifest
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	cp manifests/*.yaml $(FUZZ_DIR)/corpus/
	printf '%s\n' '{"name": "j", "steady_state": {"probes": [{"name": "p", "type": "metric",' \
		'  "check": "cpu.usage_pct < 95"}]},' \
		' "method": [{"type": "pause", "name": "w", "duration": "1s"}]}' >$(FUZZ_DIR)/corpus/seed-duress.json
	printf '%s\n' '{"title": "t", "description": "d", "steady-state-hypothesis": {"title": "h", "probes": []},' \
		' "method": [{"type": "action", "name": "a",' \
		'  "provider": {"type": "process", "path": "/bin/true", "arguments": "$${x}"}}],' \
		' "configuration": {"x": {"type": "env", "key": "HOME", "default": "/"}}}' >$(FUZZ_DIR)/corpus/seed-ctk.json
	$(FUZZ_DIR)/fuzz/fuzz_manifest -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/artifacts/ $(FUZZ_DIR)/corpus

install: $(BUILD)/duress
	install -D -m 0755 $(BUILD)/duress $(DESTDIR)$(PREFIX)/bin/duress
	install -d $(DESTDIR)$(PREFIX)/share/doc/duress/faults
	install -m 0644 README.md LICENSE docs/*.md $(DESTDIR)$(PREFIX)/share/doc/duress/
	if ls docs/faults/*.md >/dev/null 2>&1; then \
		install -m 0644 docs/faults/*.md $(DESTDIR)$(PREFIX)/share/doc/duress/faults/; fi
	install -D -m 0644 docs/duress.1 $(DESTDIR)$(MANDIR)/man1/duress.1
	install -D -m 0644 scripts/completion/duress.bash $(DESTDIR)$(BASHCOMPDIR)/duress
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|/usr/local/bin/duress|$(PREFIX)/bin/duress|g' manifests/systemd/duress.service \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/duress.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/duress.service
	for d in $$(cd manifests && find . -type d); do \
		install -d $(DESTDIR)$(EXAMPLESDIR)/$$d; \
		find manifests/$$d -maxdepth 1 -type f -exec install -m 0644 {} $(DESTDIR)$(EXAMPLESDIR)/$$d/ \; ; \
	done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/duress
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/duress
	rm -f $(DESTDIR)$(MANDIR)/man1/duress.1 $(DESTDIR)$(BASHCOMPDIR)/duress \
		$(DESTDIR)$(SYSTEMDUNITDIR)/duress.service

# The C style is .clang-format's: `make format` applies it, `make check`
# fails on a difference (format-check).
FORMAT_SRCS = $(AGENT_SRCS) $(sort $(wildcard include/duress/*/*.h)) $(UNIT_SRCS) \
	$(wildcard tests/unit/*.h) $(HELPER_SRCS) $(BENCH_SRCS) $(wildcard tests/fuzz/*.c)

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRCS) && echo "format: $(words $(FORMAT_SRCS)) files as .clang-format says"

# The sidecar image as an OCI image layout, without a registry or daemon
# (docs/containers.md): the root filesystem of scripts/image-rootfs in one
# layer, made with umoci.  Import: skopeo copy oci:$(BUILD)/image:latest ...
image: $(BUILD)/duress
	rm -rf $(BUILD)/image-rootfs $(BUILD)/image
	DURESS_BIN=$(BUILD)/duress scripts/image-rootfs $(BUILD)/image-rootfs
	umoci init --layout $(BUILD)/image
	umoci new --image $(BUILD)/image:latest
	umoci insert --image $(BUILD)/image:latest $(BUILD)/image-rootfs /
	umoci config --image $(BUILD)/image:latest --os linux --architecture amd64 \
		--config.user 0:0 --config.entrypoint /usr/bin/duress --config.cmd --help \
		--config.workingdir / --author duress
	umoci gc --layout $(BUILD)/image
	umoci stat --image $(BUILD)/image:latest

clean:
	rm -rf build build-asan $(FUZZ_DIR)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
