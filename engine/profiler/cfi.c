/*
 * cfi.c — dn_cfi_rule: one DWARF CFI row (libdw) reduced to the offsets from
 * the stack pointer that an unwinder without DWARF (the BPF program, the
 * drain's stack copies) can apply. Owns nothing; the Dwarf_CFI is the
 * module's (procmaps).
 */
#include <errno.h>
#include <stdlib.h>

#include <dwarf.h>

#include "arch.h"
#include "cfi.h"

/* The value of a CFI register rule "saved at CFA + N": N, or -1. */
static int cfa_rel(const Dwarf_Op *ops, size_t nops, int64_t *n)
{
	if (nops < 1 || ops[0].atom != DW_OP_call_frame_cfa)
		return -1;
	if (nops == 1)
		*n = 0;
	else if (nops == 2 && ops[1].atom == DW_OP_plus_uconst)
		*n = (int64_t)ops[1].number;
	else if (nops == 3 && ops[1].atom == DW_OP_consts && ops[2].atom == DW_OP_plus)
		*n = (int64_t)ops[1].number;
	else
		return -1;
	return 0;
}

int dn_cfi_rule(Dwarf_CFI *cfi, uint64_t addr, struct dn_cfi_rule *rule)
{
	Dwarf_Op ops_mem[3], *ops;
	Dwarf_Frame *fr = NULL;
	int64_t cfa, ra = DN_ARCH_RA_FROM_CFA, bpo;
	size_t nops;
	int ret = -ENOENT;

	if (!cfi || dwarf_cfi_addrframe(cfi, addr, &fr) != 0)
		return -ENOENT;
	if (dwarf_frame_cfa(fr, &ops, &nops) != 0 || nops != 1 || ops[0].atom != DW_OP_bregx)
		goto out;
	if (ops[0].number != DN_DWARF_REG_SP) {
		ret = -EOPNOTSUPP; /* frame-pointer based: the FP walk has the caller */
		goto out;
	}
	cfa = (int64_t)ops[0].number2;
	if (dwarf_frame_register(fr, DN_DWARF_REG_RA, ops_mem, &ops, &nops) == 0)
		(void)cfa_rel(ops, nops, &ra);
	rule->bp = DN_CFI_BP_SAME;
	/* the frame pointer: "same value" (nops 0, ops NULL), or saved at
	 * CFA + N; other rules (undefined, in a register) are rare: keep it */
	if (dwarf_frame_register(fr, DN_DWARF_REG_BP, ops_mem, &ops, &nops) == 0 &&
	    cfa_rel(ops, nops, &bpo) == 0 && cfa + bpo >= 0 && cfa + bpo <= 65535)
		rule->bp = (int32_t)(cfa + bpo);
	if (cfa + ra < 0 || cfa + ra > 65535 || cfa <= 0 || cfa > 65536 || cfa + ra >= cfa) {
		ret = -ERANGE;
	} else {
		rule->cfa = (int32_t)cfa;
		rule->ra = (int32_t)(cfa + ra);
		ret = 0;
	}
out:
	free(fr);
	return ret;
}
