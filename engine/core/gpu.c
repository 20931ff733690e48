/*
 * gpu.c — NVML opened with dlopen and read once per sample (see gpu.h).
 * Owns the library handle (one nvmlInit_v2 ... nvmlShutdown per run), the
 * resolved entry points and the reading's process array.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "nvml_api.h"

#define NVML_SONAME "libnvidia-ml.so.1"

struct dn_gpu {
	void *lib;
	unsigned ndev;
	/* required */
	dn_nvmlShutdown_fn shutdown;
	dn_nvmlErrorString_fn error_string;
	dn_nvmlDeviceGetHandleByIndex_v2_fn handle_by_index;
	/* optional: a missing one leaves its figures null */
	dn_nvmlDeviceGetName_fn name;
	dn_nvmlDeviceGetUtilizationRates_fn utilization;
	dn_nvmlDeviceGetMemoryInfo_fn memory;
	dn_nvmlDeviceGetTemperature_fn temperature;
	dn_nvmlDeviceGetPowerUsage_fn power;
	dn_nvmlDeviceGetRunningProcesses_fn compute_procs, graphics_procs;
	dn_nvmlDeviceGetProcessUtilization_fn proc_util;
	/* per device: the newest utilization sample seen (µs), so each read
	 * asks only for what is new */
	unsigned long long last_seen[DN_GPU_MAX_DEVICES];
	dn_nvmlProcessInfo_t *infos; /* scratch for the process lists */
	unsigned ninfos;
	dn_nvmlProcessUtilizationSample_t *utils;
	unsigned nutils;
	struct dn_gpu_sample s;
};

static void *sym(void *lib, const char *name)
{
	return dlsym(lib, name);
}

/* The newest version of an entry point the library has. */
static void *sym2(void *lib, const char *v_new, const char *v_old)
{
	void *f = sym(lib, v_new);
	return f ? f : sym(lib, v_old);
}

static const char *nvml_error(const struct dn_gpu *g, dn_nvmlReturn_t r)
{
	const char *s = g->error_string ? g->error_string(r) : NULL;
	return s ? s : "unknown NVML error";
}

struct dn_gpu *dn_gpu_open(char *why, size_t whylen)
{
	/* not from the environment of a user running a setcap'ed denet */
	const char *path = secure_getenv("DENET_NVML_LIBRARY");
	if (!path || !*path)
		path = NVML_SONAME;
	struct dn_gpu *g = calloc(1, sizeof *g);
	if (!g) {
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		return NULL;
	}
	/* RTLD_LOCAL: its symbols stay its own (the stand-in's too). */
	g->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!g->lib) {
		const char *e = dlerror();
		snprintf(why, whylen, "%s", e ? e : path);
		free(g);
		return NULL;
	}
	dn_nvmlInit_v2_fn init = (dn_nvmlInit_v2_fn)sym(g->lib, "nvmlInit_v2");
	dn_nvmlDeviceGetCount_v2_fn count =
		(dn_nvmlDeviceGetCount_v2_fn)sym(g->lib, "nvmlDeviceGetCount_v2");
	g->shutdown = (dn_nvmlShutdown_fn)sym(g->lib, "nvmlShutdown");
	g->error_string = (dn_nvmlErrorString_fn)sym(g->lib, "nvmlErrorString");
	g->handle_by_index =
		(dn_nvmlDeviceGetHandleByIndex_v2_fn)sym(g->lib, "nvmlDeviceGetHandleByIndex_v2");
	const char *missing = !init		    ? "nvmlInit_v2"
			      : !count		    ? "nvmlDeviceGetCount_v2"
			      : !g->shutdown	    ? "nvmlShutdown"
			      : !g->error_string    ? "nvmlErrorString"
			      : !g->handle_by_index ? "nvmlDeviceGetHandleByIndex_v2"
						    : NULL;
	if (missing) {
		snprintf(why, whylen, "%s has no %s", path, missing);
		dlclose(g->lib);
		free(g);
		return NULL;
	}
	g->name = (dn_nvmlDeviceGetName_fn)sym(g->lib, "nvmlDeviceGetName");
	g->utilization =
		(dn_nvmlDeviceGetUtilizationRates_fn)sym(g->lib, "nvmlDeviceGetUtilizationRates");
	g->memory = (dn_nvmlDeviceGetMemoryInfo_fn)sym(g->lib, "nvmlDeviceGetMemoryInfo");
	g->temperature = (dn_nvmlDeviceGetTemperature_fn)sym(g->lib, "nvmlDeviceGetTemperature");
	g->power = (dn_nvmlDeviceGetPowerUsage_fn)sym(g->lib, "nvmlDeviceGetPowerUsage");
	/* _v3 (drivers >= 510) and _v2 fill the same nvmlProcessInfo_t */
	g->compute_procs = (dn_nvmlDeviceGetRunningProcesses_fn)sym2(
		g->lib, "nvmlDeviceGetComputeRunningProcesses_v3",
		"nvmlDeviceGetComputeRunningProcesses_v2");
	g->graphics_procs = (dn_nvmlDeviceGetRunningProcesses_fn)sym2(
		g->lib, "nvmlDeviceGetGraphicsRunningProcesses_v3",
		"nvmlDeviceGetGraphicsRunningProcesses_v2");
	g->proc_util = (dn_nvmlDeviceGetProcessUtilization_fn)sym(
		g->lib, "nvmlDeviceGetProcessUtilization");
	dn_nvmlReturn_t r = init();
	if (r != DN_NVML_SUCCESS) {
		snprintf(why, whylen, "nvmlInit_v2: %s", nvml_error(g, r));
		dlclose(g->lib);
		free(g);
		return NULL;
	}
	r = count(&g->ndev);
	if (r != DN_NVML_SUCCESS || g->ndev == 0) {
		if (r != DN_NVML_SUCCESS)
			snprintf(why, whylen, "nvmlDeviceGetCount_v2: %s", nvml_error(g, r));
		else
			snprintf(why, whylen, "no NVIDIA GPU (NVML lists 0 devices)");
		g->shutdown();
		dlclose(g->lib);
		free(g);
		return NULL;
	}
	if (g->ndev > DN_GPU_MAX_DEVICES)
		g->ndev = DN_GPU_MAX_DEVICES;
	return g;
}

unsigned dn_gpu_device_count(const struct dn_gpu *g)
{
	return g ? g->ndev : 0;
}

void dn_gpu_close(struct dn_gpu *g)
{
	if (!g)
		return;
	g->shutdown();
	dlclose(g->lib);
	free(g->infos);
	free(g->utils);
	free(g->s.proc);
	free(g);
}

/* A reason worth a record: the device, not a figure it does not have. */
static bool hard_error(dn_nvmlReturn_t r)
{
	return r != DN_NVML_SUCCESS && r != DN_NVML_ERROR_NOT_SUPPORTED &&
	       r != DN_NVML_ERROR_NO_PERMISSION && r != DN_NVML_ERROR_NOT_FOUND;
}

static void add_error(struct dn_gpu *g, unsigned dev, const char *call, dn_nvmlReturn_t r)
{
	struct dn_gpu_sample *s = &g->s;
	if (s->nerr < DN_GPU_MAX_ERRORS)
		snprintf(s->err[s->nerr++], sizeof s->err[0], "device %u: %s: %s", dev, call,
			 nvml_error(g, r));
}

/* The reading's entry for pid, added (sorted) if new; NULL without memory. */
static struct dn_gpu_proc *proc_of(struct dn_gpu_sample *s, pid_t pid)
{
	size_t lo = 0, hi = s->nproc;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->proc[mid].pid == pid)
			return &s->proc[mid];
		if (s->proc[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (s->nproc == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct dn_gpu_proc *np = realloc(s->proc, ncap * sizeof *np);
		if (!np)
			return NULL;
		s->proc = np;
		s->cap = ncap;
	}
	memmove(&s->proc[lo + 1], &s->proc[lo], (s->nproc - lo) * sizeof *s->proc);
	s->nproc++;
	s->proc[lo] = (struct dn_gpu_proc){.pid = pid, .cur_dev = -1};
	return &s->proc[lo];
}

/* A scratch array of at least n entries (arr, or arr grown: *cap says
 * how many); NULL without memory, arr then untouched. */
static void *grow(void *arr, unsigned *cap, unsigned n, size_t size)
{
	if (n <= *cap)
		return arr;
	void *p = realloc(arr, (size_t)n * size);
	if (p)
		*cap = n;
	return p;
}

/* Whether an NVML list call must be made again with more room: the
 * documented answer is INSUFFICIENT_SIZE with the count needed; a sizing
 * call (no buffer) may also succeed with the count. */
static bool short_of_room(dn_nvmlReturn_t r, unsigned n, unsigned room)
{
	return r == DN_NVML_ERROR_INSUFFICIENT_SIZE || (r == DN_NVML_SUCCESS && n > room);
}

/* One of the running-process lists of a device, into the reading; false
 * when the device failed (it is asked nothing more in this read). */
static bool read_procs(struct dn_gpu *g, unsigned dev, dn_nvmlDevice_t h,
		       dn_nvmlDeviceGetRunningProcesses_fn fn, const char *call)
{
	if (!fn)
		return true;
	unsigned n = g->ninfos;
	dn_nvmlReturn_t r = fn(h, &n, g->infos);
	if (short_of_room(r, n, g->ninfos)) {
		/* n is how many there are; a few more may start before the
		 * second call: room for them */
		dn_nvmlProcessInfo_t *more = grow(g->infos, &g->ninfos, n + 16, sizeof *more);
		if (!more)
			return true; /* no memory: no list this time */
		g->infos = more;
		n = g->ninfos;
		r = fn(h, &n, g->infos);
	}
	if (r != DN_NVML_SUCCESS) {
		if (!hard_error(r))
			return true;
		add_error(g, dev, call, r);
		return false;
	}
	for (unsigned i = 0; i < n && i < g->ninfos; i++) {
		struct dn_gpu_proc *p = proc_of(&g->s, (pid_t)g->infos[i].pid);
		uint64_t used = g->infos[i].usedGpuMemory;
		if (!p || used == DN_NVML_VALUE_NOT_AVAILABLE)
			continue;
		/* NVML's figure is the process's on the device, not the
		 * context's: a C+G process counts once per device (its
		 * larger figure), then devices add up */
		if (p->cur_dev != (int)dev) {
			p->cur_dev = (int)dev;
			p->cur_dev_mem = 0;
		}
		p->has_mem = true;
		if (used > p->cur_dev_mem) {
			p->mem_bytes += used - p->cur_dev_mem;
			p->cur_dev_mem = used;
		}
	}
	return true;
}

/* The per-process utilization samples of a device newer than the last
 * read: each process gets the highest of its samples (on every device). */
static void read_proc_util(struct dn_gpu *g, unsigned dev, dn_nvmlDevice_t h)
{
	if (!g->proc_util)
		return;
	unsigned n = g->nutils;
	dn_nvmlReturn_t r = g->proc_util(h, g->utils, &n, g->last_seen[dev]);
	if (short_of_room(r, n, g->nutils)) {
		dn_nvmlProcessUtilizationSample_t *more =
			grow(g->utils, &g->nutils, n + 16, sizeof *more);
		if (!more)
			return;
		g->utils = more;
		n = g->nutils;
		r = g->proc_util(h, g->utils, &n, g->last_seen[dev]);
	}
	if (r != DN_NVML_SUCCESS) {
		/* NOT_FOUND: no sample since the last read */
		if (hard_error(r))
			add_error(g, dev, "nvmlDeviceGetProcessUtilization", r);
		return;
	}
	unsigned long long newest = g->last_seen[dev];
	for (unsigned i = 0; i < n && i < g->nutils; i++) {
		const dn_nvmlProcessUtilizationSample_t *u = &g->utils[i];
		struct dn_gpu_proc *p = proc_of(&g->s, (pid_t)u->pid);
		if (u->timeStamp > newest)
			newest = u->timeStamp;
		if (!p)
			continue;
		if (!p->has_util || u->smUtil > p->sm_util)
			p->sm_util = u->smUtil;
		if (!p->has_util || u->memUtil > p->mem_util)
			p->mem_util = u->memUtil;
		p->has_util = true;
	}
	/* the next read asks only for what is newer */
	g->last_seen[dev] = newest;
}

const struct dn_gpu_sample *dn_gpu_read(struct dn_gpu *g)
{
	struct dn_gpu_sample *s = &g->s;
	s->ndev = 0;
	s->nproc = 0;
	s->nerr = 0;
	for (unsigned i = 0; i < g->ndev; i++) {
		dn_nvmlDevice_t h;
		dn_nvmlReturn_t r = g->handle_by_index(i, &h);
		if (r != DN_NVML_SUCCESS) {
			add_error(g, i, "nvmlDeviceGetHandleByIndex_v2", r);
			continue;
		}
		struct dn_gpu_device d = {.index = i};
		/* The memory reading first: a device that has gone answers
		 * every call with the same error, and is left out. */
		dn_nvmlMemory_t mem;
		r = g->memory ? g->memory(h, &mem) : DN_NVML_ERROR_NOT_SUPPORTED;
		if (hard_error(r)) {
			add_error(g, i, "nvmlDeviceGetMemoryInfo", r);
			continue;
		}
		if (r == DN_NVML_SUCCESS) {
			d.has_mem = true;
			d.mem_total = mem.total;
			d.mem_used = mem.used;
			d.mem_free = mem.free;
		}
		if (!g->name || g->name(h, d.name, sizeof d.name) != DN_NVML_SUCCESS)
			snprintf(d.name, sizeof d.name, "GPU %u", i);
		d.name[sizeof d.name - 1] = '\0';
		dn_nvmlUtilization_t u;
		if (g->utilization && g->utilization(h, &u) == DN_NVML_SUCCESS) {
			d.has_util = true;
			d.util_gpu = u.gpu;
			d.util_mem = u.memory;
		}
		d.has_temp = g->temperature && g->temperature(h, DN_NVML_TEMPERATURE_GPU,
							      &d.temperature) == DN_NVML_SUCCESS;
		d.has_power = g->power && g->power(h, &d.power_mw) == DN_NVML_SUCCESS;
		s->dev[s->ndev++] = d;
		/* a device lost half-way through this read keeps the figures
		 * read, and reports the call that failed once */
		if (read_procs(g, i, h, g->compute_procs, "nvmlDeviceGetComputeRunningProcesses") &&
		    read_procs(g, i, h, g->graphics_procs, "nvmlDeviceGetGraphicsRunningProcesses"))
			read_proc_util(g, i, h);
	}
	return s;
}

static void opt_uint(struct dn_json *j, const char *key, bool has, uint64_t v)
{
	dn_json_key(j, key);
	if (has)
		dn_json_uint(j, v);
	else
		dn_json_null(j);
}

void dn_gpu_write_json(struct dn_json *j, const struct dn_gpu_sample *s, dn_gpu_pid_filter in,
		       const void *ctx)
{
	dn_json_obj_begin(j);
	dn_json_key(j, "system_metrics");
	dn_json_arr_begin(j);
	for (int i = 0; i < s->ndev; i++) {
		const struct dn_gpu_device *d = &s->dev[i];
		dn_json_obj_begin(j);
		dn_json_key(j, "device_index");
		dn_json_uint(j, d->index);
		dn_json_key(j, "name");
		dn_json_str(j, d->name);
		opt_uint(j, "system_utilization_gpu", d->has_util, d->util_gpu);
		opt_uint(j, "system_utilization_memory", d->has_util, d->util_mem);
		opt_uint(j, "memory_total", d->has_mem, d->mem_total);
		opt_uint(j, "memory_used", d->has_mem, d->mem_used);
		opt_uint(j, "memory_free", d->has_mem, d->mem_free);
		opt_uint(j, "temperature", d->has_temp, d->temperature);
		opt_uint(j, "power_usage", d->has_power, d->power_mw);
		dn_json_obj_end(j);
	}
	dn_json_arr_end(j);
	dn_json_key(j, "process_data");
	dn_json_arr_begin(j);
	size_t kept = 0;
	bool any_util = false;
	for (size_t i = 0; i < s->nproc; i++) {
		const struct dn_gpu_proc *p = &s->proc[i];
		if (!(p->has_mem || p->has_util) || (in && !in(p->pid, ctx)))
			continue;
		kept++;
		any_util |= p->has_util;
		dn_json_obj_begin(j);
		dn_json_key(j, "pid");
		dn_json_int(j, p->pid);
		opt_uint(j, "gpu_utilization", p->has_util, p->sm_util);
		opt_uint(j, "memory_usage", p->has_mem, p->mem_bytes);
		opt_uint(j, "memory_utilization_pct", p->has_util, p->mem_util);
		dn_json_obj_end(j);
	}
	dn_json_arr_end(j);
	dn_json_key(j, "has_process_data");
	dn_json_bool(j, kept > 0);
	/* upstream's names: "nvml-memory-only" when only the memory is
	 * known; "nvml" (upstream: "nvidia-smi") with utilization too */
	dn_json_key(j, "collection_method");
	dn_json_str(j, !kept ? "none" : any_util ? "nvml" : "nvml-memory-only");
	if (s->nerr) {
		dn_json_key(j, "errors");
		dn_json_arr_begin(j);
		for (int i = 0; i < s->nerr; i++)
			dn_json_str(j, s->err[i]);
		dn_json_arr_end(j);
	}
	dn_json_obj_end(j);
}

uint64_t dn_gpu_proc_memory(const struct dn_gpu_sample *s, dn_gpu_pid_filter in, const void *ctx)
{
	uint64_t sum = 0;
	for (size_t i = 0; s && i < s->nproc; i++)
		if (s->proc[i].has_mem && (!in || in(s->proc[i].pid, ctx)))
			sum += s->proc[i].mem_bytes;
	return sum;
}
