# tlslogd: the two commands of the README, and the pieces they are made of.
#   make demo   installs what is needed, builds, runs a relay and a central tlslogd over mutual TLS
#   make test   installs what is needed, builds (normal and ASan+UBSan), runs every test

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps build build-asan test test-unit demo bench clean install deb

all: build

deps:
	@scripts/install-deps

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# clang, so that the libFuzzer targets build too.
build-asan:
	@CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTL_SANITIZE=ON -DTL_FUZZ=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test: deps build build-asan
	@echo "== tests: normal build =="
	@cd $(BUILD) && ctest -j $(JOBS) --output-on-failure
	@echo "== tests: ASan + UBSan build =="
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j $(JOBS) --output-on-failure

test-unit: build
	@cd $(BUILD) && ctest -j $(JOBS) --output-on-failure -R '^unit\.'

demo: deps build
	@scripts/demo $(BUILD)

# Side-by-side benchmark against rsyslog and syslog-ng (not part of make test): see bench/README.md.
bench: deps
	@bench/install-deps
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTL_TESTS=OFF >/dev/null
	@cmake --build build-bench -j $(JOBS)
	@bench/run $(BENCH_ARGS)

# Installs into $(DESTDIR)$(PREFIX): sbin/tlslogd, bin/tlslog, the man pages,
# share/doc/tlslogd (examples/ too), the systemd unit and a logrotate file. The prefix is
# compiled in: without -c tlslogd reads SYSCONFDIR/tlslogd/tlslogd.yaml, /etc with
# PREFIX=/usr. No configuration is installed (the Debian package installs one).
install:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
		$(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD) >/dev/null
	@echo "installed into $(DESTDIR)$(PREFIX)"

# The Debian package $(BUILD)/tlslogd_VERSION_amd64.deb, built by dpkg-buildpackage from a
# copy of the source tree (debian/), then checked with lintian. See scripts/make-deb.
deb:
	@scripts/make-deb $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
