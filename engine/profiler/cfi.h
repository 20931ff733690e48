/*
 * cfi.h — the unwind rule at one address, from DWARF call frame
 * information (.eh_frame): where the return address and the saved frame
 * pointer are, as offsets from the stack pointer at that address. The one
 * CFI lookup of denet: offcpu's frame recovery uses it, and so do the tests.
 * The registers are the architecture's (arch.h).
 */
#ifndef DENET_CFI_H
#define DENET_CFI_H

#include <stdint.h>

#include <elfutils/libdw.h>

#define DN_CFI_BP_SAME INT32_MIN /* the frame pointer is not saved: unchanged */

struct dn_cfi_rule {
	int32_t cfa; /* CFA = sp + cfa */
	int32_t ra;  /* the return address is at sp + ra */
	int32_t bp;  /* the caller's frame pointer is at sp + bp, or DN_CFI_BP_SAME */
};

/* The rule at ELF virtual address addr. 0; -ENOENT (no CFI for addr);
 * -EOPNOTSUPP when the CFA is not sp-based (a frame-pointer function: its
 * caller is the frame-pointer walk's); -ERANGE when the offsets are not
 * plausible (beyond 64 KiB, or the return address not below the CFA). */
int dn_cfi_rule(Dwarf_CFI *cfi, uint64_t addr, struct dn_cfi_rule *out);

#endif
