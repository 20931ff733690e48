# bpf.mk — builds the eBPF programs (off-CPU profiler, task-iterator sampler)
# and their light skeletons.
# Included by the Makefile (`include bpf.mk`); uses $(BUILD).
#
#   $(BUILD)/gen/vmlinux.h            from the running kernel's BTF (CO-RE)
#   $(BUILD)/gen/offcpu_{btf,raw}.bpf.o   clang -target bpf, sched_switch as
#                                     tp_btf / raw_tp (-DDN_OFFCPU_RAW_TP)
#   $(BUILD)/gen/offcpu_{btf,raw}.lskel.h bpftool gen skeleton -L: loaded by
#                                     an in-kernel loader program, no BTF
#                                     parsed in user space (docs/ebpf.md)
#   $(BUILD)/gen/tasks.lskel.h        the task-iterator sampler, likewise
#
# The engine side needs: $(BUILD)/engine/offcpu.o: $(BPF_SKEL),
# CFLAGS_ALL += -I$(BUILD)/gen and LDLIBS_ALL += $(BPF_LIBS).

BPF_CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' \
	-e 's/ppc64le/powerpc/' -e 's/riscv64/riscv/' -e 's/s390x/s390/')
BPF_CFLAGS ?= -g -O2 -Wall -mcpu=v3

BPF_GEN := $(BUILD)/gen
BPF_VMLINUX := $(BPF_GEN)/vmlinux.h
BPF_SKEL := $(BPF_GEN)/offcpu_btf.lskel.h $(BPF_GEN)/offcpu_raw.lskel.h
BPF_LIBS := -lbpf -lelf -ldw -lz

$(BPF_VMLINUX): | check-build-deps
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

# offcpu: a light skeleton loads every program of its object, so one object
# per sched_switch flavour (engine/profiler/offcpu.c tries tp_btf, then raw_tp).
$(BPF_GEN)/offcpu_btf.bpf.o: bpf/offcpu.bpf.c bpf/offcpu.h bpf/syscalls.bpf.h bpf/syscalls.h $(BPF_VMLINUX)
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -target bpf -D__TARGET_ARCH_$(BPF_ARCH) \
		-DDN_OFFCPU_RAW_TP=0 -I$(BPF_GEN) -Ibpf -c $< -o $@

$(BPF_GEN)/offcpu_raw.bpf.o: bpf/offcpu.bpf.c bpf/offcpu.h bpf/syscalls.bpf.h bpf/syscalls.h $(BPF_VMLINUX)
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -target bpf -D__TARGET_ARCH_$(BPF_ARCH) \
		-DDN_OFFCPU_RAW_TP=1 -I$(BPF_GEN) -Ibpf -c $< -o $@

$(BPF_GEN)/offcpu_btf.lskel.h: $(BPF_GEN)/offcpu_btf.bpf.o
	$(BPFTOOL) gen skeleton -L $< name offcpu_btf > $@.tmp && mv $@.tmp $@

$(BPF_GEN)/offcpu_raw.lskel.h: $(BPF_GEN)/offcpu_raw.bpf.o
	$(BPFTOOL) gen skeleton -L $< name offcpu_raw > $@.tmp && mv $@.tmp $@

# The task-iterator sampler: a light skeleton (-L). The kernel relocates
# it (CO-RE in the kernel, 5.17+), so loading parses no BTF in user space
# and needs no libbpf: skel_internal.h's raw syscalls.
TASKS_OBJ := $(BPF_GEN)/tasks.bpf.o
TASKS_SKEL := $(BPF_GEN)/tasks.lskel.h

$(TASKS_OBJ): bpf/tasks.bpf.c bpf/tasks.h $(BPF_VMLINUX)
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -target bpf -D__TARGET_ARCH_$(BPF_ARCH) \
		-I$(BPF_GEN) -Ibpf -c $< -o $@

$(TASKS_SKEL): $(TASKS_OBJ)
	$(BPFTOOL) gen skeleton -L $< name tasks_bpf > $@.tmp && mv $@.tmp $@

.PHONY: bpf vmlinux
bpf: $(BPF_SKEL) $(TASKS_SKEL)

# Regenerate vmlinux.h (after a kernel upgrade).
vmlinux:
	rm -f $(BPF_VMLINUX)
	$(MAKE) $(BPF_VMLINUX)
