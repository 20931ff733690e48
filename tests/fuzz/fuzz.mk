# tests/fuzz/fuzz.mk — libFuzzer harnesses (included by the Makefile).
#
#   make fuzz         every harness for FUZZ_SECONDS (default 60) each
#   make fuzz-smoke   every harness for FUZZ_SMOKE_SECONDS (default 5) each, for CI
#   make fuzz-build   only build them ($(BUILD)/fuzz/fuzz_NAME)
#   make fuzz-NAME    one harness, e.g. make fuzz-proc_stat FUZZ_SECONDS=180
#
# Needs clang with the libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
# Seeds are in tests/fuzz/corpus/NAME; what the fuzzer finds goes to
# $(BUILD)/fuzz/corpus/NAME, crashes to $(BUILD)/fuzz/artifacts/. A harness
# that finds a crash, leak or sanitizer report fails the target.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_ARGS ?=
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = $(filter-out -fsanitize=% -O% -Werror,$(CFLAGS_ALL)) $(INC_ENGINE) $(LUA_CFLAGS) -O1 -g -DDN_FUZZING \
	-Wno-unused-command-line-argument $(FUZZ_SAN)
FUZZ_LIBS = $(shell pkg-config --libs lua5.4 libdw libelf 2>/dev/null) -lm

FUZZ_PROC := stat status statm io children schedstat net_dev cmdline maps
FUZZ_NAMES := $(FUZZ_PROC:%=proc_%) cgroup psi procevents tasksnap json_escape lua_json symbolizer sym_maps
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_ENGINE := core/procfs core/cgroup core/psi core/procevents core/tasksnap core/json core/buf profiler/procmaps profiler/cfi \
	profiler/symbolizer
FUZZ_OBJS := $(FUZZ_ENGINE:%=$(BUILD)/fuzz/obj/%.o)

.PHONY: fuzz fuzz-smoke fuzz-build $(FUZZ_NAMES:%=fuzz-%)

$(BUILD)/fuzz/obj/%.o: engine/%.c $(wildcard engine/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/fuzz_proc_%: tests/fuzz/fuzz_proc.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -DFUZZ_PROC_$(shell echo $* | tr a-z A-Z) \
		-o $@ $< $(FUZZ_OBJS) $(FUZZ_LIBS)

$(BUILD)/fuzz/fuzz_sym_maps: tests/fuzz/fuzz_symbolizer.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -DFUZZ_SYM_MAPS -o $@ $< $(FUZZ_OBJS) $(FUZZ_LIBS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

# One harness for $(FUZZ_TIME) seconds: new inputs into the build corpus,
# seeds read from tests/fuzz/corpus. The last line of its log is the count.
define fuzz_run
	@mkdir -p $(BUILD)/fuzz/corpus/$(1) $(BUILD)/fuzz/artifacts $(BUILD)/fuzz/logs
	@echo "fuzz: $(1) for $(2) s"
	@DENET_JSON_LUA=lua/denet/json.lua $(BUILD)/fuzz/fuzz_$(1) -max_total_time=$(2) \
		-print_final_stats=1 -rss_limit_mb=2048 -timeout=25 \
		-artifact_prefix=$(BUILD)/fuzz/artifacts/$(1)- $(FUZZ_ARGS) \
		$(if $(wildcard tests/fuzz/dict/$(1).dict),-dict=tests/fuzz/dict/$(1).dict) \
		$(BUILD)/fuzz/corpus/$(1) tests/fuzz/corpus/$(1) \
		> $(BUILD)/fuzz/logs/$(1).log 2>&1 \
		|| { tail -40 $(BUILD)/fuzz/logs/$(1).log; echo "fuzz: $(1) FAILED"; exit 1; }
	@grep -h 'stat::number_of_executed_units' $(BUILD)/fuzz/logs/$(1).log \
		| sed 's/.*: */fuzz: $(1): executions: /'
endef

$(FUZZ_NAMES:%=fuzz-%): fuzz-%: $(BUILD)/fuzz/fuzz_%
	$(call fuzz_run,$*,$(FUZZ_SECONDS))

# Harnesses run one after another (make -jN fuzz runs N at once).
fuzz: $(FUZZ_NAMES:%=fuzz-%)

fuzz-smoke:
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) fuzz \
		FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)
