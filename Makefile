# libstrapto — build, install, test.
#   make                  library (shared + static) and cli/strapto-cli
#   make test             every suite; ends with "N passed, N failed"
#   make test SANITIZE=1  the same under AddressSanitizer + UBSan
#   make fuzz             each libFuzzer target for FUZZ_SECONDS
#   make deps             Debian packages for build and tests (apt-get)
#   make install PREFIX=/usr/local DESTDIR=
#   make demo             the main job (see README)

VERSION      := 0.1.0
SOVERSION    := 0
PREFIX       ?= /usr/local
DESTDIR      ?=
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
BINDIR       ?= $(PREFIX)/bin
MANDIR       ?= $(PREFIX)/share/man
DATADIR      ?= $(PREFIX)/share
WWWDIR       ?= $(DATADIR)/strapto/www
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

CC      ?= cc
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT     := -O1 -g
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O2 -g
endif

PKGS    := glib-2.0 gthread-2.0 gio-2.0 nice openssl jansson usrsctp libsoup-3.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wpointer-arith -Wstrict-prototypes
CFLAGS  ?= $(OPT)
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) -fPIC -fvisibility=hidden \
              -Iinclude -Ilib $(PKG_CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lpthread -lm
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS)

LIB_SRC  := $(sort $(wildcard lib/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC  := $(sort $(wildcard cli/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard test/unit/*.c))
UNIT_BIN := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
TESTPROG_SRC := $(sort $(wildcard test/prog/*.c))
TESTPROG_BIN := $(TESTPROG_SRC:test/prog/%.c=$(BUILD)/test/%)
EX_SRC   := $(sort $(wildcard examples/c/*.c))
EX_BIN   := $(EX_SRC:examples/c/%.c=$(BUILD)/examples/%)
HEADERS  := $(sort $(wildcard include/strapto/*.h))
WWW_FILES := $(sort $(wildcard www/*.html www/*.js www/*.css))

SONAME   := libstrapto.so.$(SOVERSION)
SHLIB    := $(BUILD)/libstrapto.so.$(VERSION)
STLIB    := $(BUILD)/libstrapto.a
CLI      := $(BUILD)/strapto-cli

.PHONY: all deps deps-check test check fuzz install uninstall clean demo bench tests-build
all: $(SHLIB) $(STLIB) cli/strapto-cli

$(BUILD)/%.o: %.c $(HEADERS) $(wildcard lib/*/*.h) | $(BUILD)/.dirs
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/.dirs:
	@mkdir -p $(BUILD)/test $(BUILD)/examples && touch $@

$(SHLIB): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $(ALL_LDFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS_ALL)
	ln -sf libstrapto.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libstrapto.so

$(STLIB): $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $(LIB_OBJ)

$(CLI): $(CLI_OBJ) $(STLIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(STLIB) $(LDLIBS_ALL)

cli/strapto-cli: $(CLI)
	cp $(CLI) $@

$(BUILD)/test/%: test/unit/%.c $(STLIB) test/unit/testutil.h
	$(CC) $(ALL_CFLAGS) -Itest/unit -o $@ $< $(STLIB) $(ALL_LDFLAGS) $(LDLIBS_ALL)

$(BUILD)/test/%: test/prog/%.c $(STLIB) $(BUILD)/cli/sigio.o
	$(CC) $(ALL_CFLAGS) -Itest/unit -o $@ $< $(BUILD)/cli/sigio.o $(STLIB) $(ALL_LDFLAGS) $(LDLIBS_ALL)

$(BUILD)/examples/%: examples/c/%.c $(SHLIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< -L$(BUILD) -lstrapto -Wl,-rpath,'$$ORIGIN/..' $(ALL_LDFLAGS)

tests-build: all $(UNIT_BIN) $(TESTPROG_BIN) $(EX_BIN)

# The whole suite runs inside a network namespace the runner creates.
test: deps-check
	@$(MAKE) --no-print-directory tests-build
	BUILD=$(BUILD) SANITIZE=$(SANITIZE) test/run.sh

check: test

# ---- fuzzing (clang + libFuzzer) ----
FUZZ_SECONDS ?= 20
FUZZ_SRC := $(sort $(wildcard test/fuzz/*.c))
FUZZ_BIN := $(FUZZ_SRC:test/fuzz/%.c=build-fuzz/%)
FUZZ_LIB_SRC := $(LIB_SRC)
build-fuzz/%: test/fuzz/%.c $(FUZZ_LIB_SRC) $(HEADERS) $(wildcard test/fuzz/*.h lib/*/*.h)
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ilib $(PKG_CFLAGS) \
	  -o $@ $< $(FUZZ_LIB_SRC) $(LDLIBS_ALL)
fuzz: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p build-fuzz/corpus-$$n; \
	  echo "fuzz $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build-fuzz/corpus-$$n test/fuzz/corpus/$$n 2>build-fuzz/$$n.log \
	    || { tail -40 build-fuzz/$$n.log; exit 1; }; done; echo "fuzz: all targets clean"

# ---- install ----
install: all
	install -d $(DESTDIR)$(WWWDIR)
	install -m 644 $(WWW_FILES) $(DESTDIR)$(WWWDIR)/
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/strapto $(DESTDIR)$(BINDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/strapto/
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libstrapto.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libstrapto.so
	install -m 644 $(STLIB) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/strapto-cli
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@PRIVLIBS@|$(LDLIBS_ALL)|' strapto.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/strapto.pc
	for m in man/*.1; do [ -f "$$m" ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man1/; done; true
	for m in man/*.3; do [ -f "$$m" ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man3/; done; true
	@# one link per function name, so that `man strapto_peer_new` finds its page
	for m in man/*.3; do p=$$(basename $$m); for n in $$(sed -n 's/^\.Nm \(strapto_[a-z0-9_]*\).*/\1/p' $$m); do \
	  [ "$$n.3" = "$$p" ] || ln -sf $$p $(DESTDIR)$(MANDIR)/man3/$$n.3; done; done

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libstrapto.* $(DESTDIR)$(BINDIR)/strapto-cli $(DESTDIR)$(PKGCONFIGDIR)/strapto.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/strapto $(DESTDIR)$(DATADIR)/strapto

# ---- dependencies (Debian bookworm) ----
DEB_BUILD := build-essential pkg-config libglib2.0-dev libnice-dev libssl-dev libjansson-dev \
             libusrsctp-dev libsrtp2-dev libsoup-3.0-dev glib-networking clang libclang-rt-14-dev
DEB_TEST  := python3 python3-pip python3-venv python3-setuptools python3-wheel python3-aiortc python3-websockets python3-pytest iproute2 nftables \
             chromium fonts-dejavu-core openssl mandoc valgrind procps coturn
deps:
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEB_BUILD) $(DEB_TEST)
	cd test/browser && npm install --no-audit --no-fund --silent
	@# the binding's dependency (koffi) into npm's cache: the tests run in a
	@# network namespace where the registry cannot be reached
	cd bindings/node && npm install --no-audit --no-fund --silent

# `make test` and `make demo` on a fresh machine: install what is missing
# (a quick dpkg query when everything is there already).
deps-check:
	@missing=$$(dpkg-query -W -f='$${Package} $${Status}\n' $(DEB_BUILD) $(DEB_TEST) 2>&1 | grep -v ' installed$$' || true); \
	if [ -n "$$missing" ] || [ ! -d test/browser/node_modules ] || [ ! -d bindings/node/node_modules ]; then \
	  echo "make: installing dependencies (make deps)"; $(MAKE) --no-print-directory deps; fi

bench: all
	bench/dc
	bench/events

demo: deps-check all
	@echo "make demo: the model stream server with its built-in demo model on http://127.0.0.1:8080/ (Ctrl-C stops)" >&2
	$(CLI) serve --listen 127.0.0.1:8080 --www www

clean:
	rm -rf build build-san build-fuzz cli/strapto-cli
