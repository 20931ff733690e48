/*
 * arch.h — the CPU architecture's facts that the profiler's user-space code
 * relies on, behind one #if: DWARF register numbers of the CFI rules, where
 * a call leaves the return address, and the user address limit. Any other
 * architecture stops the build here with the list of supported ones.
 *
 * The BPF side keeps its facts where libbpf's conventions put them:
 * bpf/offcpu.bpf.c reads the interrupted ip/sp/frame pointer with
 * bpf_tracing.h's PT_REGS_IP/SP/FP_CORE, selected by -D__TARGET_ARCH_x86
 * (bpf.mk), and has its own USER_TOP under the same kind of #if.
 */
#ifndef DENET_ARCH_H
#define DENET_ARCH_H

#if defined(__x86_64__)
#define DN_ARCH_NAME	    "x86_64"
#define DN_DWARF_REG_BP	    6	 /* rbp */
#define DN_DWARF_REG_SP	    7	 /* rsp */
#define DN_DWARF_REG_RA	    16	 /* the return address column */
#define DN_ARCH_RA_FROM_CFA (-8) /* call pushes the return address just below the CFA */
#define DN_ARCH_USER_TOP    0x00007fffffffffffULL /* highest user address, 4-level paging */
#else
#error "denet's profiler supports x86_64 only (engine/profiler/arch.h)"
#endif

#endif
