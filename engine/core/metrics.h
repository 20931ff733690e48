/*
 * metrics.h — one sample of one process or of a whole tree, in upstream
 * denet's units, and its JSON form (the `metrics`/`parent`/`aggregated`
 * objects of a `tree` record and the body of a flat `sample` record).
 * The fields, their order, format and aggregation are metrics_schema.h's.
 */
#ifndef DENET_METRICS_H
#define DENET_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "metrics_schema.h"

/* One field per DN_METRICS row, named as the row (see metrics_schema.h for
 * what each means and which of them a process or an aggregate has). */
struct dn_metrics {
#define DN_METRIC_FIELD(name, type, scope, agg, watch, unit, doc) DN_METRIC_CTYPE_##type name;
	DN_METRICS(DN_METRIC_FIELD)
#undef DN_METRIC_FIELD
};

enum dn_metric_type { DN_METRIC_U64, DN_METRIC_PCT, DN_METRIC_SECS, DN_METRIC_CORE, DN_METRIC_SRC };
/* Bits: a per-process object has the PROC ones, an aggregate the AGG ones. */
enum dn_metric_scope { DN_METRIC_PROC = 1, DN_METRIC_AGG = 2, DN_METRIC_BOTH = 3 };
enum dn_metric_agg {
	DN_METRIC_SUM,
	DN_METRIC_MAX,
	DN_METRIC_FIRST,
	DN_METRIC_COUNT,
	DN_METRIC_NONE
};
enum dn_metric_watch { DN_METRIC_NO, DN_METRIC_TREE, DN_METRIC_ANY };

/* One DN_METRICS row at run time. */
struct dn_metric_info {
	const char *name;
	enum dn_metric_type type;
	enum dn_metric_scope scope;
	enum dn_metric_agg agg;
	enum dn_metric_watch watch;
	size_t offset; /* into struct dn_metrics */
	const char *unit, *doc;
};

/* The rows in JSON order; dn_metric_count of them. */
extern const struct dn_metric_info dn_metric_schema[];
extern const size_t dn_metric_count;

/* The row named `name`, or NULL. */
const struct dn_metric_info *dn_metrics_find(const char *name);

/* Whether an object of this kind (aggregate or not) has the field. */
static inline bool dn_metric_in(const struct dn_metric_info *f, bool aggregated)
{
	return (f->scope & (aggregated ? DN_METRIC_AGG : DN_METRIC_PROC)) != 0;
}

/* The field's value as a number (U64, PCT, SECS, CORE; 0 for SRC). */
double dn_metric_number(const struct dn_metrics *m, const struct dn_metric_info *f);

/* The field's value, by type. */
static inline uint64_t dn_metric_u64(const struct dn_metrics *m, const struct dn_metric_info *f)
{
	return *(const uint64_t *)(const void *)((const char *)m + f->offset);
}

static inline double dn_metric_double(const struct dn_metrics *m, const struct dn_metric_info *f)
{
	return *(const double *)(const void *)((const char *)m + f->offset);
}

static inline int dn_metric_core(const struct dn_metrics *m, const struct dn_metric_info *f)
{
	return *(const int *)(const void *)((const char *)m + f->offset);
}

/* A SRC field's text: "proc" when unset (the aggregate of a run whose CPU
 * came from /proc). */
static inline const char *dn_metric_src(const struct dn_metrics *m, const struct dn_metric_info *f)
{
	const char *s = *(const char *const *)(const void *)((const char *)m + f->offset);
	return s ? s : "proc";
}

/* Decimals of a PCT or SECS field in JSON. */
static inline int dn_metric_decimals(const struct dn_metric_info *f)
{
	return f->type == DN_METRIC_SECS ? 6 : 2;
}

/* `v` as the JSON text shows it with `decimals` (dn_json_fixed), as a
 * double: what Lua tables and rules see, so that they equal the file's
 * figure also where round(v * 1e6) / 1e6 would round the other way.
 * Non-finite values pass through. */
double dn_metrics_round(double v, int decimals);

/* Write the fields as a JSON object: the BOTH and PROC rows, or with
 * `aggregated` the BOTH and AGG rows, in schema order. */
void dn_metrics_write_json(struct dn_json *j, const struct dn_metrics *m, bool aggregated);

/* Fold `m` into the aggregate `agg` as each row's `agg` column says. */
void dn_metrics_accumulate(struct dn_metrics *agg, const struct dn_metrics *m);

#endif
