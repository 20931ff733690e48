/*
 * pidset.c — the pid set (see pidset.h). Owns its table. Load factor at
 * most 1/2. The table never shrinks: its size follows the most members
 * the set ever had at once (a run's live processes), not the adds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pidset.h"

static size_t home(const struct dn_pidset *s, pid_t pid)
{
	return ((size_t)(unsigned)pid * 2654435761u) & (s->cap - 1);
}

static int grow(struct dn_pidset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 64;
	pid_t *ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return -ENOMEM;
	pid_t *old = s->slot;
	size_t oldcap = s->cap;
	s->slot = ns;
	s->cap = ncap;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i])
			continue;
		size_t k = home(s, old[i]);
		while (s->slot[k])
			k = (k + 1) & (s->cap - 1);
		s->slot[k] = old[i];
	}
	free(old);
	return 0;
}

bool dn_pidset_has(const struct dn_pidset *s, pid_t pid)
{
	if (!s->cap || pid <= 0)
		return false;
	for (size_t k = home(s, pid);; k = (k + 1) & (s->cap - 1)) {
		if (s->slot[k] == pid)
			return true;
		if (!s->slot[k])
			return false;
	}
}

int dn_pidset_add(struct dn_pidset *s, pid_t pid)
{
	if (pid <= 0)
		return -EINVAL;
	if (dn_pidset_has(s, pid))
		return 0;
	if ((s->n + 1) * 2 > s->cap && grow(s) < 0)
		return -ENOMEM;
	size_t k = home(s, pid);
	while (s->slot[k])
		k = (k + 1) & (s->cap - 1);
	s->slot[k] = pid;
	s->n++;
	return 1;
}

bool dn_pidset_remove(struct dn_pidset *s, pid_t pid)
{
	if (!s->cap || pid <= 0)
		return false;
	size_t mask = s->cap - 1, k = home(s, pid);
	while (s->slot[k] != pid) {
		if (!s->slot[k])
			return false;
		k = (k + 1) & mask;
	}
	/* Backward shift: move later members of the probe run into the hole
	 * when their home does not lie cyclically in (hole, their slot]. */
	size_t hole = k;
	for (size_t j = (k + 1) & mask; s->slot[j]; j = (j + 1) & mask) {
		size_t h = home(s, s->slot[j]);
		bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
		if (stays)
			continue;
		s->slot[hole] = s->slot[j];
		hole = j;
	}
	s->slot[hole] = 0;
	s->n--;
	return true;
}

void dn_pidset_clear(struct dn_pidset *s)
{
	if (s->cap)
		memset(s->slot, 0, s->cap * sizeof *s->slot);
	s->n = 0;
}

void dn_pidset_free(struct dn_pidset *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}
