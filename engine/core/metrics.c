/*
 * metrics.c — the run-time form of metrics_schema.h's table, the JSON form
 * of a dn_metrics sample and the sum that turns the samples of a tree into
 * its aggregate (see metrics.h). All three walk the schema: nothing here
 * names a metric.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

const struct dn_metric_info dn_metric_schema[] = {
#define DN_METRIC_ROW(name, type, scope, agg, watch, unit, doc) \
	{#name,                                                 \
	 DN_METRIC_##type,                                      \
	 DN_METRIC_##scope,                                     \
	 DN_METRIC_##agg,                                       \
	 DN_METRIC_##watch,                                     \
	 offsetof(struct dn_metrics, name),                     \
	 unit,                                                  \
	 doc},
	DN_METRICS(DN_METRIC_ROW)
#undef DN_METRIC_ROW
};

const size_t dn_metric_count = sizeof dn_metric_schema / sizeof dn_metric_schema[0];

const struct dn_metric_info *dn_metrics_find(const char *name)
{
	for (size_t i = 0; i < dn_metric_count; i++)
		if (strcmp(dn_metric_schema[i].name, name) == 0)
			return &dn_metric_schema[i];
	return NULL;
}

double dn_metric_number(const struct dn_metrics *m, const struct dn_metric_info *f)
{
	switch (f->type) {
	case DN_METRIC_U64: return (double)dn_metric_u64(m, f);
	case DN_METRIC_PCT:
	case DN_METRIC_SECS: return dn_metric_double(m, f);
	case DN_METRIC_CORE: return dn_metric_core(m, f);
	case DN_METRIC_SRC: break;
	}
	return 0;
}

double dn_metrics_round(double v, int decimals)
{
	/* Fast path (this runs for every double of every process on every
	 * sample a Lua hook sees): scale, round to an integer, divide back.
	 * An integer below 2^53 divided by an exact power of ten is the
	 * double nearest the decimal, as strtod gives. It can only disagree
	 * with printf's rounding of the exact binary value when the scaled
	 * value lies within its own rounding error of a half; those few
	 * take the slow path. */
	static const double scale[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
	if (!isfinite(v))
		return v;
	if (decimals >= 0 && decimals <= 6) {
		double s = fabs(v) * scale[decimals];
		if (s < 0x1p50) {
			double whole = floor(s), frac = s - whole;
			if (fabs(frac - 0.5) > s * 0x1p-46 + 0x1p-30)
				return copysign((frac < 0.5 ? whole : whole + 1) / scale[decimals],
						v);
		}
	}
	/* printf rounds the exact binary value, as dn_json_fixed does; strtod
	 * reads it back in the same locale. */
	char text[512];
	int n = snprintf(text, sizeof text, "%.*f", decimals, v);
	if (n < 0 || (size_t)n >= sizeof text)
		return v;
	return strtod(text, NULL);
}

static void write_value(struct dn_json *j, const struct dn_metrics *m,
			const struct dn_metric_info *f)
{
	switch (f->type) {
	case DN_METRIC_U64: dn_json_uint(j, dn_metric_u64(m, f)); break;
	case DN_METRIC_PCT:
	case DN_METRIC_SECS: dn_json_fixed(j, dn_metric_double(m, f), dn_metric_decimals(f)); break;
	case DN_METRIC_CORE:
		if (dn_metric_core(m, f) < 0)
			dn_json_null(j);
		else
			dn_json_int(j, dn_metric_core(m, f));
		break;
	case DN_METRIC_SRC: dn_json_str(j, dn_metric_src(m, f)); break;
	}
}

/* The keys in their JSON form, in schema order: copied, not escaped, for
 * every metric of every process on every sample. */
static const struct {
	const char *text;
	size_t len;
} quoted_key[] = {
#define DN_METRIC_KEY(name, type, scope, agg, watch, unit, doc) \
	{"\"" #name "\":", sizeof "\"" #name "\":" - 1},
	DN_METRICS(DN_METRIC_KEY)
#undef DN_METRIC_KEY
};

void dn_metrics_write_json(struct dn_json *j, const struct dn_metrics *m, bool aggregated)
{
	dn_json_obj_begin(j);
	for (size_t i = 0; i < dn_metric_count; i++) {
		const struct dn_metric_info *f = &dn_metric_schema[i];
		if (!dn_metric_in(f, aggregated))
			continue;
		dn_json_key_quoted(j, quoted_key[i].text, quoted_key[i].len);
		write_value(j, m, f);
	}
	dn_json_obj_end(j);
}

static void fold(struct dn_metrics *agg, const struct dn_metrics *m, const struct dn_metric_info *f)
{
	void *a = (char *)agg + f->offset;
	if (f->type == DN_METRIC_PCT || f->type == DN_METRIC_SECS) {
		double *d = a, v = dn_metric_double(m, f);
		switch (f->agg) {
		case DN_METRIC_SUM: *d += v; break;
		case DN_METRIC_MAX: *d = v > *d ? v : *d; break;
		case DN_METRIC_FIRST: *d = *d == 0 ? v : *d; break;
		case DN_METRIC_COUNT: *d += 1; break;
		case DN_METRIC_NONE: break;
		}
	} else if (f->type == DN_METRIC_U64) {
		uint64_t *u = a, v = dn_metric_u64(m, f);
		switch (f->agg) {
		case DN_METRIC_SUM: *u += v; break;
		case DN_METRIC_MAX: *u = v > *u ? v : *u; break;
		case DN_METRIC_FIRST: *u = *u == 0 ? v : *u; break;
		case DN_METRIC_COUNT: *u += 1; break;
		case DN_METRIC_NONE: break;
		}
	}
	/* CORE and SRC have no sum: the schema gives them agg NONE. */
}

void dn_metrics_accumulate(struct dn_metrics *agg, const struct dn_metrics *m)
{
	for (size_t i = 0; i < dn_metric_count; i++)
		fold(agg, m, &dn_metric_schema[i]);
}
