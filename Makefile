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
# A build directory named asan (make asan makes build/asan) is always the
# ASan+UBSan build, whoever runs make in it (the install test does too).
ASAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
ifeq ($(notdir $(BUILD)),asan)
SAN     ?= $(ASAN)
OPT     ?= -O1 -g
endif
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
DEB_TEST  := openssh-server openssh-client tmux asciinema zstd python3 systemd \
	     procps

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libtandem.a

PROGS := recorder escort replay policy
BINS  := $(PROGS:%=$(BUILD)/bin/tandem-%)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps check asan unit integration demo bench fuzz fuzz-run install \
	uninstall lint clean
all: $(BINS)

# Installs what is missing, only as root; others get a list to install.
deps:
	@sh tests/install-deps.sh $(DEB_BUILD) $(DEB_TEST)

# The built-in risk rules are compiled in (common/builtin_rules.c).
$(BUILD)/common/builtin_rules.o: policy/builtin.rules

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# The sanitizer build (SAN set) links tests/sanitizer/runtime.c into each
# program: it runs the leak check just before the seccomp sandbox and keeps
# reports writable inside it (see that file).  Never in a plain build.
SAN_REPORTS := $(abspath $(BUILD))/reports
SAN_OBJ     := $(if $(SAN),$(BUILD)/tests/sanitizer/runtime.o)
SAN_WRAP    := -Wl,--wrap=tdm_sandbox_enter
PROG_LDFLAGS := $(LDFLAGS) $(if $(SAN),$(SAN_WRAP))
$(BUILD)/tests/sanitizer/runtime.o: CFLAGS += -fsanitize-recover=alignment \
	-DTDM_SANITIZER_REPORTS='"$(SAN_REPORTS)"' \
	-DTDM_SANITIZER_SUPP='"$(abspath tests/sanitizer/ubsan.supp)"'

define prog_rule
$(BUILD)/bin/tandem-$(1): $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard $(1)/*.c)) $(SAN_OBJ) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(PROG_LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< \
		$(filter %.o,$^) $(LIB) $(LDLIBS) -lcmocka

# Unit tests of a program's own modules link those objects too.
$(BUILD)/tests/test_lineedit: $(BUILD)/recorder/lineedit.o

# The recorder with its test-only sandbox probe (recorder/probe.h).
PROBE_OBJ := $(patsubst %.c,$(BUILD)/probe/%.o,$(wildcard recorder/*.c))
$(BUILD)/probe/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DTDM_TEST_HOOKS -c $< -o $@
$(BUILD)/probe/tandem-recorder: $(PROBE_OBJ) $(SAN_OBJ) $(LIB)
	$(CC) $(PROG_LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(UNIT_BINS)

# Everything runs twice: plain, and built with ASan+UBSan with leak
# checking (build/asan/bin, build/asan/tests); sanitizer reports land in
# build/asan/reports and each one fails the run.
check: deps
	@$(MAKE) --no-print-directory all unit $(BUILD)/probe/tandem-recorder
	@$(MAKE) --no-print-directory asan
	@sh tests/run-all.sh $(BUILD) $(BUILD)/asan

# The sanitizer build alone: programs, probe recorder and unit tests.
asan:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan all unit \
		$(BUILD)/asan/probe/tandem-recorder

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
# An input that takes longer than this (seconds, sanitizer build) is a
# failure: untrusted input must not stall the recorder or the tools.
FUZZ_TIMEOUT ?= 5
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 \
	-fsanitize=fuzzer,address,undefined -Icommon $(CFLAGS_PKG)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(COMMON_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(COMMON_SRC) $(LIBS_PKG)

# clang and its fuzzer runtime (only recommended by clang, so named) are
# needed only here; installed like the rest when root.
DEB_FUZZ := clang libclang-rt-dev

fuzz:
	@sh tests/install-deps.sh $(DEB_BUILD) $(DEB_FUZZ)
	@$(MAKE) --no-print-directory fuzz-run

fuzz-run: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
		name=$${f##*/fuzz_}; work=$$(mktemp -d); \
		echo "== fuzz $$name for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
			-print_final_stats=1 \
			$$work tests/fuzz/corpus/$$name || exit 1; \
		rm -rf $$work; \
	done

# Where the deployment files go; the defaults suit a bastion whose admin
# installs into /usr/local and configures in /etc.
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
UNITDIR     ?= /etc/systemd/system
SYSUSERSDIR ?= /etc/sysusers.d
TMPFILESDIR ?= /etc/tmpfiles.d
SSHDCONFDIR ?= /etc/ssh/sshd_config.d
CONFDIR     ?= /etc/tandem
MAN1 := $(wildcard docs/man/*.1)
MAN5 := $(wildcard docs/man/*.5)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(SSHDCONFDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	$(if $(MAN1),install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/)
	$(if $(MAN5),install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/)
	sed 's|@BINDIR@|$(BINDIR)|g' systemd/tandem-verify.service.in \
		> $(BUILD)/tandem-verify.service
	install -m 0644 $(BUILD)/tandem-verify.service $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/tandem-verify.timer $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/tandem.sysusers $(DESTDIR)$(SYSUSERSDIR)/tandem.conf
	install -m 0644 systemd/tandem.tmpfiles $(DESTDIR)$(TMPFILESDIR)/tandem.conf
	install -m 0644 systemd/tandem-sshd.conf $(DESTDIR)$(SSHDCONFDIR)/tandem.conf
	install -m 0644 docs/policy.conf.example $(DESTDIR)$(CONFDIR)/policy.conf.example

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(BINDIR)/tandem-%)
	rm -f $(MAN1:docs/man/%=$(DESTDIR)$(MANDIR)/man1/%)
	rm -f $(MAN5:docs/man/%=$(DESTDIR)$(MANDIR)/man5/%)
	rm -f $(DESTDIR)$(UNITDIR)/tandem-verify.service \
		$(DESTDIR)$(UNITDIR)/tandem-verify.timer \
		$(DESTDIR)$(SYSUSERSDIR)/tandem.conf \
		$(DESTDIR)$(TMPFILESDIR)/tandem.conf \
		$(DESTDIR)$(SSHDCONFDIR)/tandem.conf \
		$(DESTDIR)$(CONFDIR)/policy.conf.example

# Layout (.clang-format) of every C file, then the static analyser's checks
# (.clang-tidy) over the programs' code, two files at a time.
LINT_FORMAT := $(wildcard common/*.[ch] recorder/*.[ch] escort/*.[ch] \
		 replay/*.[ch] policy/*.[ch] tests/*/*.c bench/*.c)
LINT_TIDY   := $(wildcard common/*.c recorder/*.c escort/*.c replay/*.c \
		 policy/*.c)
lint:
	@sh tests/install-deps.sh clang-format clang-tidy
	clang-format --dry-run -Werror $(LINT_FORMAT)
	@echo "clang-tidy: $(words $(LINT_TIDY)) files"
	@printf '%s\n' $(LINT_TIDY) | xargs -P2 -n1 sh -c \
		'clang-tidy --quiet "$$0" -- -std=c11 -D_GNU_SOURCE -Icommon \
		$(CFLAGS_PKG) 2>/dev/null || { echo "lint: $$0" >&2; exit 255; }'
	@echo "lint: clean"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
