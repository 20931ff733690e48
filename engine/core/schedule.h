/*
 * schedule.h — upstream denet's adaptive sampling period, on absolute
 * deadlines: the base interval for the first second, rising linearly to
 * the max interval at 10 s, the max after that. Deadlines advance from
 * the previous deadline, not from "now", so the time a sample takes
 * never stretches the period; a deadline missed (a stalled machine) is
 * skipped, not queued.
 */
#ifndef DENET_SCHEDULE_H
#define DENET_SCHEDULE_H

#include <stdint.h>

struct dn_schedule {
	uint64_t base_ns, max_ns;
	uint64_t start_ns;    /* monotonic */
	uint64_t deadline_ns; /* the next sample */
	uint64_t missed;      /* deadlines skipped so far */
};

void dn_schedule_init(struct dn_schedule *s, unsigned base_ms, unsigned max_ms, uint64_t start_ns);
/* The period in force `elapsed_ns` after the start. */
uint64_t dn_schedule_interval(const struct dn_schedule *s, uint64_t elapsed_ns);
/* Advance the deadline past `now_ns`; `fast` forces the base interval
 * (threshold-aware sampling). Returns the new deadline. */
uint64_t dn_schedule_next(struct dn_schedule *s, uint64_t now_ns, int fast);

#endif
