/*
 * schedule.c — the adaptive sampling period (see schedule.h).
 */
#include "schedule.h"

void dn_schedule_init(struct dn_schedule *s, unsigned base_ms, unsigned max_ms, uint64_t start_ns)
{
	s->base_ns = (uint64_t)base_ms * 1000000ull;
	s->max_ns = (uint64_t)(max_ms > base_ms ? max_ms : base_ms) * 1000000ull;
	s->start_ns = start_ns;
	s->deadline_ns = start_ns + s->base_ns;
	s->missed = 0;
}

uint64_t dn_schedule_interval(const struct dn_schedule *s, uint64_t elapsed_ns)
{
	const uint64_t one = 1000000000ull, ten = 10 * one;
	if (elapsed_ns <= one)
		return s->base_ns;
	if (elapsed_ns >= ten)
		return s->max_ns;
	double f = (double)(elapsed_ns - one) / (double)(ten - one);
	return s->base_ns + (uint64_t)(f * (double)(s->max_ns - s->base_ns));
}

uint64_t dn_schedule_next(struct dn_schedule *s, uint64_t now_ns, int fast)
{
	uint64_t prev = s->deadline_ns;
	uint64_t step = fast ? s->base_ns : dn_schedule_interval(s, prev - s->start_ns);
	uint64_t next = prev + step;
	if (next <= now_ns) {
		/* Fell behind: keep the phase, drop the missed ticks. */
		uint64_t missed = (now_ns - next) / step + 1;
		next += missed * step;
		s->missed += missed;
	}
	s->deadline_ns = next;
	return next;
}
