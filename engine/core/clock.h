/*
 * clock.h — the three clocks denet uses, in one place:
 *   monotonic ns  — schedules and deltas (never jumps);
 *   boottime ns   — process ages (/proc starttime counts from boot, and
 *                   includes suspend, as CLOCK_BOOTTIME does);
 *   wall ms       — the ts_ms of records (upstream's unit).
 */
#ifndef DENET_CLOCK_H
#define DENET_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t dn_clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t dn_mono_ns(void)
{
	return dn_clock_ns(CLOCK_MONOTONIC);
}

static inline uint64_t dn_boot_ns(void)
{
	return dn_clock_ns(CLOCK_BOOTTIME);
}

static inline uint64_t dn_wall_ms(void)
{
	return dn_clock_ns(CLOCK_REALTIME) / 1000000ull;
}

#endif
