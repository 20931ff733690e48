# bench.mk — benchmarks (included by the top Makefile: `include bench/bench.mk`).
#
#   make bench        the full run, minutes: figures for docs/performance.md
#                     (installs its peers first: tools/deps.sh bench)
#   make bench-smoke  the same runner, seconds: CI runs it so it never rots
#
# Programs go to $(BUILD)/bench/; results to $(BUILD)/bench/results.md.

BENCH_DIR := $(BUILD)/bench
# Programs that link the engine (libdenet.a) and those that stand alone.
BENCH_ENGINE := sampler symbolize psi_read
BENCH_STANDALONE := floor sleeptree pingpong getppid_loop selfcpu
BENCH_BINS := $(BENCH_ENGINE:%=$(BENCH_DIR)/%) $(BENCH_STANDALONE:%=$(BENCH_DIR)/%)

.PHONY: bench bench-run bench-smoke bench-bins

bench-bins: all $(BENCH_BINS) $(BUILD)/helpers/rusage_of $(BUILD)/helpers/forkstorm

$(BENCH_ENGINE:%=$(BENCH_DIR)/%): $(BENCH_DIR)/%: bench/%.c $(BUILD)/libdenet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(INC_ENGINE) $(LDFLAGS) -o $@ $< $(BUILD)/libdenet.a $(LDLIBS_ALL)

$(BENCH_STANDALONE:%=$(BENCH_DIR)/%): $(BENCH_DIR)/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -o $@ $< -lpthread

# The full run installs its peers first (tools/deps.sh bench: python3-psutil,
# bpftrace), then builds in a new make, as `make test` does; the smoke run
# installs nothing and reports a missing peer as skipped.
bench: deps-bench
	@$(MAKE) --no-print-directory bench-run

bench-run: bench-bins
	@BUILD=$(BUILD) bench/run.sh

bench-smoke: bench-bins
	@BUILD=$(BUILD) BENCH_SMOKE=1 bench/run.sh
