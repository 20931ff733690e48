/*
 * envinfo.c — gathers the `env` record (see envinfo.h) from uname, sysconf,
 * /proc and /sys. Every source is optional: containers, VMs and non-x86
 * kernels lack some of them, and a missing one is written as null.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "envinfo.h"
#include "json.h"

/* Read a small file into buf (NUL-terminated, trailing whitespace removed).
 * Returns its length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, size - 1, f);
	int failed = ferror(f);
	fclose(f);
	if (failed)
		return -EIO;
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	return (ssize_t)n;
}

static void str_or_null(struct dn_json *j, const char *key, const char *path)
{
	char buf[256];

	dn_json_key(j, key);
	if (read_small(path, buf, sizeof buf) > 0)
		dn_json_str(j, buf);
	else
		dn_json_null(j);
}

/* The value after "key<spaces>:" on the first line of `path` starting with
 * `key`, copied into out. 0 or -ENOENT. */
static int find_field(const char *path, const char *key, char *out, size_t outlen)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, klen = strlen(key);
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, key, klen) != 0)
			continue;
		char *p = line + klen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != ':')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, "\n");
		snprintf(out, outlen, "%.*s", (int)n, p);
		rc = 0;
		break;
	}
	free(line);
	fclose(f);
	return rc;
}

static void write_uname(struct dn_json *j)
{
	struct utsname u;
	char host[256];
	int ok = uname(&u) == 0;

	dn_json_key(j, "host");
	if (gethostname(host, sizeof host) == 0) {
		host[sizeof host - 1] = '\0';
		dn_json_str(j, host);
	} else if (ok) {
		dn_json_str(j, u.nodename);
	} else {
		dn_json_null(j);
	}
	dn_json_key(j, "kernel");
	if (ok) {
		char kernel[sizeof u.release + sizeof u.version + 1];
		snprintf(kernel, sizeof kernel, "%s %s", u.release, u.version);
		dn_json_str(j, kernel);
	} else {
		dn_json_null(j);
	}
	dn_json_key(j, "arch");
	dn_json_str(j, ok ? u.machine : NULL);
}

static void write_long_or_null(struct dn_json *j, const char *key, long v)
{
	dn_json_key(j, key);
	if (v > 0)
		dn_json_int(j, v);
	else
		dn_json_null(j);
}

static bool is_numbered(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(name, prefix, n) != 0 || !name[n])
		return false;
	for (const char *p = name + n; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

struct core_id {
	long pkg, core;
};

static int cmp_core(const void *a, const void *b)
{
	const struct core_id *x = a, *y = b;
	if (x->pkg != y->pkg)
		return x->pkg < y->pkg ? -1 : 1;
	if (x->core != y->core)
		return x->core < y->core ? -1 : 1;
	return 0;
}

/* sockets, cores and threads_per_core from the topology of the CPUs that are
 * online (offline CPUs have no topology directory). */
static void write_topology(struct dn_json *j)
{
	const char *base = "/sys/devices/system/cpu";
	DIR *d = opendir(base);
	struct core_id *ids = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	long sockets = 0, cores = 0, tpc = 0;

	while (d && (e = readdir(d))) {
		char path[512], v1[32], v2[32];
		if (!is_numbered(e->d_name, "cpu"))
			continue;
		snprintf(path, sizeof path, "%s/%s/topology/physical_package_id", base, e->d_name);
		if (read_small(path, v1, sizeof v1) <= 0)
			continue;
		snprintf(path, sizeof path, "%s/%s/topology/core_id", base, e->d_name);
		if (read_small(path, v2, sizeof v2) <= 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct core_id *p = realloc(ids, ncap * sizeof *ids);
			if (!p) {
				n = 0;
				break;
			}
			ids = p;
			cap = ncap;
		}
		ids[n].pkg = strtol(v1, NULL, 10);
		ids[n].core = strtol(v2, NULL, 10);
		n++;
	}
	if (d)
		closedir(d);

	if (n > 0) {
		qsort(ids, n, sizeof *ids, cmp_core);
		long run = 0;
		for (size_t k = 0; k < n; k++) {
			bool new_pkg = k == 0 || ids[k].pkg != ids[k - 1].pkg;
			bool new_core = new_pkg || ids[k].core != ids[k - 1].core;
			sockets += new_pkg;
			cores += new_core;
			run = new_core ? 1 : run + 1;
			if (run > tpc)
				tpc = run;
		}
	}
	free(ids);
	write_long_or_null(j, "sockets", sockets);
	write_long_or_null(j, "cores", cores);
	write_long_or_null(j, "threads_per_core", tpc);
}

static void write_numa(struct dn_json *j)
{
	DIR *d = opendir("/sys/devices/system/node");
	struct dirent *e;
	long nodes = 0;

	while (d && (e = readdir(d)))
		nodes += is_numbered(e->d_name, "node");
	if (d)
		closedir(d);
	write_long_or_null(j, "numa_nodes", nodes);
}

static void write_mem_total(struct dn_json *j)
{
	char v[64];

	dn_json_key(j, "mem_total_kb");
	if (find_field("/proc/meminfo", "MemTotal", v, sizeof v) == 0)
		dn_json_uint(j, strtoull(v, NULL, 10));
	else
		dn_json_null(j);
}

static void write_affinity(struct dn_json *j, pid_t target)
{
	/* Grow the mask until the kernel's fits (EINVAL means too small). */
	for (int ncpus = 1024; ncpus <= (1 << 20); ncpus *= 2) {
		cpu_set_t *set = CPU_ALLOC(ncpus);
		size_t size = CPU_ALLOC_SIZE(ncpus);
		if (!set)
			break;
		CPU_ZERO_S(size, set);
		if (sched_getaffinity(target > 0 ? target : 0, size, set) == 0) {
			dn_json_key(j, "affinity");
			dn_json_arr_begin(j);
			for (int c = 0; c < ncpus; c++)
				if (CPU_ISSET_S(c, size, set))
					dn_json_int(j, c);
			dn_json_arr_end(j);
			CPU_FREE(set);
			return;
		}
		int err = errno;
		CPU_FREE(set);
		if (err != EINVAL)
			break;
	}
	dn_json_key(j, "affinity");
	dn_json_null(j);
}

/* "always [madvise] never" -> "madvise". */
static void write_thp(struct dn_json *j)
{
	char buf[256];
	char *lb, *rb;

	dn_json_key(j, "thp");
	if (read_small("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf) > 0 &&
	    (lb = strchr(buf, '[')) && (rb = strchr(lb, ']')))
		dn_json_strn(j, lb + 1, (size_t)(rb - lb - 1));
	else
		dn_json_null(j);
}

static void write_smt(struct dn_json *j)
{
	char buf[16];

	dn_json_key(j, "smt");
	if (read_small("/sys/devices/system/cpu/smt/active", buf, sizeof buf) > 0 &&
	    (strcmp(buf, "0") == 0 || strcmp(buf, "1") == 0))
		dn_json_bool(j, buf[0] == '1');
	else
		dn_json_null(j);
}

static void write_cgroup(struct dn_json *j, pid_t target)
{
	char path[64];
	FILE *f;

	if (target > 0)
		snprintf(path, sizeof path, "/proc/%ld/cgroup", (long)target);
	else
		snprintf(path, sizeof path, "/proc/self/cgroup");
	dn_json_key(j, "cgroup");
	f = fopen(path, "re");
	if (!f) {
		dn_json_null(j);
		return;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	dn_json_arr_begin(j);
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			len--;
		if (len > 0)
			dn_json_strn(j, line, (size_t)len);
	}
	dn_json_arr_end(j);
	free(line);
	fclose(f);
}

int dn_envinfo_write(struct dn_json *j, pid_t target)
{
	char model[256];

	write_uname(j);
	dn_json_key(j, "cpu_model");
	dn_json_str(j, find_field("/proc/cpuinfo", "model name", model, sizeof model) == 0 ? model
											   : NULL);
	write_long_or_null(j, "cpus_online", sysconf(_SC_NPROCESSORS_ONLN));
	write_long_or_null(j, "cpus_configured", sysconf(_SC_NPROCESSORS_CONF));
	write_topology(j);
	write_numa(j);
	write_mem_total(j);
	write_affinity(j, target);
	str_or_null(j, "governor", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
	write_thp(j);
	write_smt(j);
	write_cgroup(j, target);
	return 0;
}
