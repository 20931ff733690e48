/*
 * psi.h — pressure stall information: how much of the time tasks waited for
 * CPU, memory or I/O, as the kernel keeps it (Documentation/accounting/
 * psi.rst) for the whole system (/proc/pressure/{cpu,memory,io}) and for a
 * cgroup2 cgroup (its cpu.pressure, memory.pressure, io.pressure, which count
 * the stalls of its tasks and of its descendants').
 *
 * A reader keeps the six files open and preads them at each sample; the
 * window of a reading is the time since the previous one, and its stall is
 * the growth of the kernel's `total` (microseconds) over it.
 *
 * Errors are values: 0 / -errno. Nothing prints.
 */
#ifndef DENET_PSI_H
#define DENET_PSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dn_json;

enum dn_psi_res { DN_PSI_CPU, DN_PSI_MEMORY, DN_PSI_IO, DN_PSI_NRES };

/* One line of a pressure file: "some avg10=0.00 avg60=0.00 avg300=0.00
 * total=12345". avg* are percentages (the kernel's two decimals), total is
 * the cumulative stall in microseconds. */
struct dn_psi_line {
	bool present;
	double avg10, avg60, avg300;
	uint64_t total_us;
};

/* A whole pressure file: `some` (at least one task stalled) and `full` (all
 * non-idle tasks stalled at once; absent from the system's cpu file before
 * Linux 5.13). */
struct dn_psi_file {
	struct dn_psi_line some, full;
};

/* Parses pressure-file text (no NUL needed). Unknown keys are skipped, so a
 * later kernel's additions do not break it. 0 when a `some` line was there,
 * -EINVAL on text that is not a pressure file (a line that is neither some
 * nor full, a value that is not a number, a total above 2^64-1). */
int dn_psi_parse(const char *buf, size_t len, struct dn_psi_file *out);

/* The files of one place (the system, or one cgroup), and two readings. */
struct dn_psi_scope {
	int fd[DN_PSI_NRES];		     /* -1: not there */
	struct dn_psi_file now[DN_PSI_NRES]; /* the latest reading */
	struct dn_psi_file prev[DN_PSI_NRES];
	struct dn_psi_file
		start[DN_PSI_NRES]; /* the first reading: the run's totals count from it */
	bool ok[DN_PSI_NRES];	    /* now[] holds a reading (and prev[] one before) */
};

/* A kernel PSI trigger: an fd of a pressure file with "some|full STALL_US
 * WINDOW_US" written to it; poll reports POLLPRI (EPOLLPRI) when the stall
 * within any window of that length exceeds STALL_US, at most once per
 * window. One trigger per open file, so each has its own fd. */
struct dn_psi_trigger {
	int fd;
	bool cgroup, full;
	enum dn_psi_res res;
	uint64_t stall_us, window_us;
};

#define DN_PSI_MAX_TRIGGERS 8

struct dn_psi {
	bool has_system, has_cgroup; /* which scopes opened */
	struct dn_psi_scope sys, cg;
	uint64_t now_ns, prev_ns; /* monotonic times of the two readings */
	uint64_t start_ns;	  /* and of the first */
	struct dn_psi_trigger trig[DN_PSI_MAX_TRIGGERS];
	int ntrig;
};

/* The closed state: every fd -1. dn_psi_close on it closes nothing. */
void dn_psi_init(struct dn_psi *p);

/* Opens the files of /proc/pressure and, when cgroup_dir is not NULL, the pressure
 * files of that cgroup2 directory, then takes the first reading (the start
 * of the first window) at now_ns. 0 when at least one file opened and
 * parsed; else -errno (-ENOENT: a kernel without CONFIG_PSI, or booted with
 * psi=0; -EOPNOTSUPP: cgroup PSI disabled) and a one-line reason in why. A
 * scope that failed stays closed (has_* false). */
int dn_psi_open(struct dn_psi *p, const char *cgroup_dir, uint64_t now_ns, char *why,
		size_t whylen);

/* A new window: the latest reading becomes the previous one and every open
 * file is read again at now_ns. A file that no longer reads (its cgroup is
 * gone) keeps ok false from then on. 0, or -ENODEV when nothing read. */
int dn_psi_read(struct dn_psi *p, uint64_t now_ns);

/* Registers a kernel trigger for `pct` % of stall (0 < pct < 100) of one
 * line, of the cgroup at cgroup_dir or (NULL) of the system, with a 1 s
 * window (2 s where the kernel allows unprivileged triggers only on
 * multiples of 2 s). The trigger's fd (owned by p: dn_psi_close closes
 * it), or -errno: -EINVAL for pct out of range, -ENOSPC when
 * DN_PSI_MAX_TRIGGERS are set, else the kernel's refusal (-EOPNOTSUPP: a
 * kernel before 5.2, -EPERM, ...). */
int dn_psi_trigger_add(struct dn_psi *p, const char *cgroup_dir, enum dn_psi_res res, bool full,
		       double pct);

/* Closes every fd (idempotent); the struct is left as dn_psi_init leaves it. */
void dn_psi_close(struct dn_psi *p);

/* The latest window's stall of one line, in % of the window (0..100),
 * unrounded. 0 when that scope, file or line is absent. */
double dn_psi_window_pct(const struct dn_psi *p, bool cgroup, enum dn_psi_res res, bool full);

/* The figures of one line as the `psi` object writes them: avg10 and
 * window_pct rounded to 2 decimals. false (and *out zeroed) when that
 * scope, file or line is absent. */
struct dn_psi_figures {
	double avg10;
	uint64_t total_us, delta_us;
	double window_pct;
};
bool dn_psi_figures(const struct dn_psi *p, bool cgroup, enum dn_psi_res res, bool full,
		    struct dn_psi_figures *out);
/* The latest window in ms (rounded), and whether a scope has any file. */
uint64_t dn_psi_window_ms(const struct dn_psi *p);
bool dn_psi_scope_ok(const struct dn_psi *p, bool cgroup);
/* "cpu", "memory", "io". */
const char *dn_psi_res_name(enum dn_psi_res res);

/* The `psi` object of docs/data-format.md (window_ms, cgroup, system). */
void dn_psi_write_json(struct dn_json *j, const struct dn_psi *p);

/* The `psi` object of the exit record: the stall of each line from the
 * first reading to the latest (`secs` between them), in µs and in % of
 * that span. A file that stopped reading (its cgroup went) is left out. */
void dn_psi_write_run_json(struct dn_json *j, const struct dn_psi *p);

/* "cpu", "memory", "io"; DN_PSI_NRES for another name. */
enum dn_psi_res dn_psi_res_by_name(const char *name, size_t len);

#endif
