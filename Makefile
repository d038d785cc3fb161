# tandem — build, test and demo.
#
# `make` builds build/bin/tandem-*; `make check` runs every test; `make demo`
# starts a loopback target and bastion and shows a session.  Both install
# their Debian dependencies first when run as root and something is missing.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build

CC      ?= cc
PKGS    := libssh libseccomp libzstd uuid libcrypto jansson vterm sqlite3
CFLAGS_PKG := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS_PKG   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wconversion \
	   -Wstrict-prototypes -Wmissing-prototypes
HARDEN  := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
OPT     ?= -O2 -g
SAN     ?=
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(SAN) \
	   -Icommon $(CFLAGS_PKG) -MMD -MP
LDFLAGS := -pie -Wl,-z,relro,-z,now $(SAN)
LDLIBS  := -lpthread $(LIBS_PKG)

# Debian packages the build, the tests and the demo need.
DEB_BUILD := build-essential pkg-config libssh-dev libseccomp-dev \
	     libzstd-dev uuid-dev libssl-dev libjansson-dev libvterm-dev \
	     libsqlite3-dev libcmocka-dev
DEB_TEST  := openssh-server openssh-client tmux asciinema zstd python3 \
	     procps

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libtandem.a

PROGS := recorder escort replay policy
BINS  := $(PROGS:%=$(BUILD)/bin/tandem-%)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps check unit integration demo bench fuzz install uninstall \
	lint clean
all: $(BINS)

# Installs what is missing, only as root; others get a list to install.
deps:
	@sh tests/install-deps.sh $(DEB_BUILD) $(DEB_TEST)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

define prog_rule
$(BUILD)/bin/tandem-$(1): $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard $(1)/*.c)) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< \
		$(filter %.o,$^) $(LIB) $(LDLIBS) -lcmocka

# Unit tests of a program's own modules link those objects too.
$(BUILD)/tests/test_lineedit: $(BUILD)/recorder/lineedit.o

unit: $(UNIT_BINS)

ASAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

# Unit tests run twice: plain, and under ASan+UBSan with leak checking.
check: deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan SAN="$(ASAN)" \
		OPT="-O1 -g" unit
	@sh tests/run-all.sh $(BUILD) $(BUILD)/asan

demo: deps
	@$(MAKE) --no-print-directory all
	@sh tests/integration/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(BUILD)

# libFuzzer targets, one per parser of untrusted bytes; each runs briefly
# (FUZZ_SECONDS) on its seed corpus in tests/fuzz/corpus/NAME.
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 \
	-fsanitize=fuzzer,address,undefined -Icommon $(CFLAGS_PKG)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(COMMON_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(COMMON_SRC) $(LIBS_PKG)

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
		name=$${f##*/fuzz_}; work=$$(mktemp -d); \
		echo "== fuzz $$name for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$$work tests/fuzz/corpus/$$name || exit 1; \
		rm -rf $$work; \
	done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(PREFIX)/bin/tandem-%)

lint:
	clang-format --dry-run -Werror common/*.[ch] recorder/*.[ch] \
		escort/*.[ch] replay/*.[ch] policy/*.[ch]

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' -not -path '$(BUILD)/asan/*' 2>/dev/null)
