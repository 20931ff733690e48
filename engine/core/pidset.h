/*
 * pidset.h — a set of pids (open addressing, linear probing, deletion by
 * backward shift: no tombstones, so a set that sees a million adds and
 * removes stays as small as its largest population).
 */
#ifndef DENET_PIDSET_H
#define DENET_PIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct dn_pidset {
	pid_t *slot; /* 0 = empty (pid 0 is never a member) */
	size_t cap;  /* a power of two, or 0 before the first add */
	size_t n;
};

/* 1 added, 0 already there, -ENOMEM (the set is unchanged), -EINVAL for
 * pid <= 0. */
int dn_pidset_add(struct dn_pidset *s, pid_t pid);
bool dn_pidset_has(const struct dn_pidset *s, pid_t pid);
/* true if it was there. */
bool dn_pidset_remove(struct dn_pidset *s, pid_t pid);
void dn_pidset_clear(struct dn_pidset *s);
/* Frees the table; the set is empty and usable again. */
void dn_pidset_free(struct dn_pidset *s);

#endif
