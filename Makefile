# phiportal — build, run and test. The README's two commands are `make run` and `make test`.
# Every source file under src/<module>/ is compiled; unit tests link only the modules they need.

BUILD ?= build
CC ?= cc
PKGS := libmicrohttpd gnutls jansson sqlite3 liboath libqrencode librhonabwy libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-missing-field-initializers
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
OPT ?= -O2 -g
SAN ?=
CFLAGS_ALL = $(WARN) $(OPT) $(HARDEN) $(SAN) -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL = -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack $(SAN)
LIBS = $(PKG_LIBS) -largon2 -lmagic -lpthread -lm

MODULES := core store crypto audit auth policy oauth fhir http portal notify files msg jobs
# module -> the modules it may use (arrows point down only); used to link unit tests
DEPS_core := core
DEPS_store := core store
DEPS_crypto := core store crypto
DEPS_audit := core store crypto audit
DEPS_auth := core store crypto auth
DEPS_policy := core store crypto policy
DEPS_fhir := core store crypto audit auth policy http oauth fhir
DEPS_oauth := core store crypto audit auth policy http oauth
DEPS_http := core http
DEPS_portal := $(MODULES)
DEPS_notify := core store crypto audit auth http notify
DEPS_files := core store crypto audit auth policy http oauth fhir files
DEPS_msg := $(MODULES)
DEPS_jobs := $(MODULES)

srcs_of = $(wildcard src/$(1)/*.c)
objs_of = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(call srcs_of,$(1)))
ALL_OBJS := $(foreach m,$(MODULES),$(call objs_of,$(m))) $(BUILD)/obj/gen/web_assets.o
WEB_FILES := $(shell find web -type f 2>/dev/null | sort)

.PHONY: all run test asan fuzz bench deps clean unit checksrc docs
all: $(BUILD)/phiportal

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -c $< -o $@

$(BUILD)/gen/web_assets.c: $(WEB_FILES) scripts/embed_web.py
	@mkdir -p $(dir $@)
	python3 scripts/embed_web.py web $@

$(BUILD)/obj/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/phiportal: $(ALL_OBJS) $(BUILD)/obj/main.o
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# unit tests: tests/unit/test_<module>.c linked with that module's dependency closure
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
$(BUILD)/obj/tests/%.o: tests/unit/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -c $< -o $@

define unit_rule
$(BUILD)/tests/test_$(1): $(BUILD)/obj/tests/test_$(1).o $(foreach d,$(DEPS_$(1)),$(call objs_of,$(d))) $(if $(filter http portal fhir oauth notify files msg jobs,$(1)),$(BUILD)/obj/gen/web_assets.o)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS_ALL) -o $$@ $$^ $(LIBS) -lcmocka $(if $(filter http,$(1)),-lcurl)
endef
$(foreach m,$(MODULES),$(eval $(call unit_rule,$(m))))
# jobs/ retention and legal holds (tests/unit/test_retention.c): linked like a jobs unit test
$(BUILD)/tests/test_retention: $(BUILD)/obj/tests/test_retention.o $(foreach d,$(DEPS_jobs),$(call objs_of,$(d))) $(BUILD)/obj/gen/web_assets.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) -lcmocka
# fhir/encounter.c's parser (tests/unit/test_encounter.c): part of fhir/, so linked like test_fhir
$(BUILD)/tests/test_encounter: $(BUILD)/obj/tests/test_encounter.o $(foreach d,$(DEPS_fhir),$(call objs_of,$(d))) $(BUILD)/obj/gen/web_assets.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) -lcmocka
# auth/sso's checks (tests/unit/test_sso.c): part of auth/, so linked like test_auth
$(BUILD)/tests/test_sso: $(BUILD)/obj/tests/test_sso.o $(foreach d,$(DEPS_auth),$(call objs_of,$(d)))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) -lcmocka

# benchmarks: bench/<name>.c linked with the modules it exercises (run by scripts/bench.sh)
$(BUILD)/obj/bench/%.o: bench/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@
$(BUILD)/bench/audit_bench: $(BUILD)/obj/bench/audit_bench.o $(foreach d,$(DEPS_audit),$(call objs_of,$(d)))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/bench/files_bench: $(BUILD)/obj/bench/files_bench.o $(foreach d,$(DEPS_files),$(call objs_of,$(d))) $(BUILD)/obj/gen/web_assets.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do $$t; done

deps:
	@scripts/deps.sh

run: deps $(BUILD)/phiportal
	@scripts/run.sh $(BUILD)/phiportal

test: deps
	@scripts/test.sh

asan:
	@scripts/deps.sh
	@SANITIZE=1 scripts/test.sh --asan

fuzz:
	@scripts/deps.sh
	@scripts/fuzz.sh

bench:
	@scripts/deps.sh
	@scripts/bench.sh

checksrc:
	@scripts/checksrc.sh

docs: $(BUILD)/phiportal
	$(BUILD)/phiportal config docs > docs/config.md
	$(BUILD)/phiportal roles docs > docs/roles.md

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
