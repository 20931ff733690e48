/*
 * nvml_standin.c — a stand-in libnvidia-ml.so.1 for the tests: there is no
 * GPU on the development machines. It exports the subset of NVML's C API
 * that denet calls (engine/core/nvml_api.h) and answers from a script
 * file named by DENET_NVML_STANDIN_SCRIPT, reread on every call so that a
 * test (or the monitored command itself) can change the devices mid-run.
 * Built by the Makefile as build/helpers/nvml/libnvidia-ml.so.1 (soname
 * libnvidia-ml.so.1). Script lines ('#' starts a comment):
 *
 *   device UTIL_GPU UTIL_MEM TOTAL USED FREE TEMP_C POWER_MW NAME...
 *   proc DEV PID MEM_BYTES compute|graphics   (MEM_BYTES "na": not available)
 *   putil DEV PID SM_PCT MEM_PCT               (a process utilization sample)
 *   lost DEV                                   (every call on it: GPU_IS_LOST)
 *   lost_after DEV N                           (lost after N memory readings)
 *   init_error CODE                            (nvmlInit_v2 returns CODE)
 *
 * Tests reach its count of live nvmlInit_v2 calls through dlsym
 * (nvml_standin_live_inits): denet must shut NVML down on every path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "nvml_api.h"

#define MAXDEV	8
#define MAXPROC 256

struct sdev {
	unsigned util_gpu, util_mem, temp, power;
	unsigned long long total, used, free;
	char name[96];
	int lost_after; /* -1: never */
	int lost;
};

struct sproc {
	int dev;
	unsigned pid;
	unsigned long long mem;
	int graphics;
	int is_util;
	unsigned sm, memutil;
};

static struct sdev devs[MAXDEV];
static int ndev;
static struct sproc procs[MAXPROC];
static int nproc;
static int init_error;
static int inits;	      /* live nvmlInit_v2 calls not yet shut down */
static int mem_reads[MAXDEV]; /* memory readings per device, for lost_after */

/* Reread the script: the test's current truth. */
static void load(void)
{
	ndev = nproc = 0;
	init_error = 0;
	const char *path = getenv("DENET_NVML_STANDIN_SCRIPT");
	FILE *f = path ? fopen(path, "re") : NULL;
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		struct sdev d = {.lost_after = -1};
		struct sproc p = {0};
		int off = 0, n;
		char kind[16], mem[32];
		if (sscanf(line, "device %u %u %llu %llu %llu %u %u %n", &d.util_gpu, &d.util_mem,
			   &d.total, &d.used, &d.free, &d.temp, &d.power, &off) == 7 &&
		    ndev < MAXDEV) {
			snprintf(d.name, sizeof d.name, "%s", line + off);
			devs[ndev++] = d;
		} else if (sscanf(line, "proc %d %u %31s %15s", &p.dev, &p.pid, mem, kind) == 4 &&
			   nproc < MAXPROC) {
			p.mem = strcmp(mem, "na") == 0 ? DN_NVML_VALUE_NOT_AVAILABLE
						       : strtoull(mem, NULL, 10);
			p.graphics = strcmp(kind, "graphics") == 0;
			procs[nproc++] = p;
		} else if (sscanf(line, "putil %d %u %u %u", &p.dev, &p.pid, &p.sm, &p.memutil) ==
				   4 &&
			   nproc < MAXPROC) {
			p.is_util = 1;
			procs[nproc++] = p;
		} else if (sscanf(line, "lost %d", &n) == 1 && n >= 0 && n < ndev) {
			devs[n].lost = 1;
		} else if (sscanf(line, "lost_after %d %d", &n, &off) == 2 && n >= 0 && n < ndev) {
			devs[n].lost_after = off;
		} else if (sscanf(line, "init_error %d", &n) == 1) {
			init_error = n;
		}
	}
	fclose(f);
}

static int index_of(dn_nvmlDevice_t h)
{
	intptr_t i = (intptr_t)h - 1;
	return i >= 0 && i < ndev ? (int)i : -1;
}

/* The device behind a handle after a fresh look at the script; -1 with
 * *r set when it is unknown or lost. */
static int device(dn_nvmlDevice_t h, dn_nvmlReturn_t *r)
{
	load();
	int i = index_of(h);
	if (i < 0) {
		*r = DN_NVML_ERROR_INVALID_ARGUMENT;
		return -1;
	}
	if (devs[i].lost || (devs[i].lost_after >= 0 && mem_reads[i] >= devs[i].lost_after)) {
		*r = DN_NVML_ERROR_GPU_IS_LOST;
		return -1;
	}
	*r = DN_NVML_SUCCESS;
	return i;
}

int nvml_standin_live_inits(void);
int nvml_standin_live_inits(void)
{
	return inits;
}

dn_nvmlReturn_t nvmlInit_v2(void);
dn_nvmlReturn_t nvmlInit_v2(void)
{
	load();
	if (init_error)
		return init_error;
	inits++;
	return DN_NVML_SUCCESS;
}

dn_nvmlReturn_t nvmlShutdown(void);
dn_nvmlReturn_t nvmlShutdown(void)
{
	if (inits == 0)
		return DN_NVML_ERROR_UNINITIALIZED;
	inits--;
	return DN_NVML_SUCCESS;
}

const char *nvmlErrorString(dn_nvmlReturn_t r);
const char *nvmlErrorString(dn_nvmlReturn_t r)
{
	switch (r) {
	case DN_NVML_SUCCESS: return "Success";
	case DN_NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case DN_NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
	case DN_NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case DN_NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
	case DN_NVML_ERROR_NOT_FOUND: return "Not Found";
	case DN_NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
	case DN_NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
	case 9: return "Driver Not Loaded";
	default: return "Unknown Error";
	}
}

dn_nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *count);
dn_nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *count)
{
	if (!inits)
		return DN_NVML_ERROR_UNINITIALIZED;
	load();
	*count = (unsigned)ndev;
	return DN_NVML_SUCCESS;
}

dn_nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, dn_nvmlDevice_t *h);
dn_nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, dn_nvmlDevice_t *h)
{
	if (!inits)
		return DN_NVML_ERROR_UNINITIALIZED;
	dn_nvmlReturn_t r;
	if (device((dn_nvmlDevice_t)(intptr_t)(index + 1), &r) < 0)
		return r;
	*h = (dn_nvmlDevice_t)(intptr_t)(index + 1);
	return DN_NVML_SUCCESS;
}

dn_nvmlReturn_t nvmlDeviceGetName(dn_nvmlDevice_t h, char *name, unsigned len);
dn_nvmlReturn_t nvmlDeviceGetName(dn_nvmlDevice_t h, char *name, unsigned len)
{
	dn_nvmlReturn_t r;
	int i = device(h, &r);
	if (i < 0)
		return r;
	if (strlen(devs[i].name) + 1 > len)
		return DN_NVML_ERROR_INSUFFICIENT_SIZE;
	strcpy(name, devs[i].name);
	return DN_NVML_SUCCESS;
}

dn_nvmlReturn_t nvmlDeviceGetUtilizationRates(dn_nvmlDevice_t h, dn_nvmlUtilization_t *u);
dn_nvmlReturn_t nvmlDeviceGetUtilizationRates(dn_nvmlDevice_t h, dn_nvmlUtilization_t *u)
{
	dn_nvmlReturn_t r;
	int i = device(h, &r);
	if (i < 0)
		return r;
	u->gpu = devs[i].util_gpu;
	u->memory = devs[i].util_mem;
	return DN_NVML_SUCCESS;
}

dn_nvmlReturn_t nvmlDeviceGetMemoryInfo(dn_nvmlDevice_t h, dn_nvmlMemory_t *m);
dn_nvmlReturn_t nvmlDeviceGetMemoryInfo(dn_nvmlDevice_t h, dn_nvmlMemory_t *m)
{
	dn_nvmlReturn_t r;
	int i = device(h, &r);
	if (i < 0)
		return r;
	mem_reads[i]++;
	m->total = devs[i].total;
	m->used = devs[i].used;
	m->free = devs[i].free;
	return DN_NVML_SUCCESS;
}

dn_nvmlReturn_t nvmlDeviceGetTemperature(dn_nvmlDevice_t h, int sensor, unsigned *t);
dn_nvmlReturn_t nvmlDeviceGetTemperature(dn_nvmlDevice_t h, int sensor, unsigned *t)
{
	dn_nvmlReturn_t r;
	int i = device(h, &r);
	if (i < 0)
		return r;
	if (sensor != DN_NVML_TEMPERATURE_GPU)
		return DN_NVML_ERROR_INVALID_ARGUMENT;
	*t = devs[i].temp;
	return DN_NVML_SUCCESS;
}

dn_nvmlReturn_t nvmlDeviceGetPowerUsage(dn_nvmlDevice_t h, unsigned *mw);
dn_nvmlReturn_t nvmlDeviceGetPowerUsage(dn_nvmlDevice_t h, unsigned *mw)
{
	dn_nvmlReturn_t r;
	int i = device(h, &r);
	if (i < 0)
		return r;
	*mw = devs[i].power;
	return DN_NVML_SUCCESS;
}

/* NVML's contract: *count in = room, out = how many; INSUFFICIENT_SIZE
 * (with the count needed) when the room is short. */
static dn_nvmlReturn_t running(dn_nvmlDevice_t h, unsigned *count, dn_nvmlProcessInfo_t *infos,
			       int graphics)
{
	dn_nvmlReturn_t r;
	int i = device(h, &r);
	if (i < 0)
		return r;
	unsigned n = 0;
	for (int k = 0; k < nproc; k++)
		if (!procs[k].is_util && procs[k].dev == i && procs[k].graphics == graphics)
			n++;
	if (n > *count || (n && !infos)) {
		*count = n;
		return DN_NVML_ERROR_INSUFFICIENT_SIZE;
	}
	n = 0;
	for (int k = 0; k < nproc; k++)
		if (!procs[k].is_util && procs[k].dev == i && procs[k].graphics == graphics)
			infos[n++] = (dn_nvmlProcessInfo_t){procs[k].pid, procs[k].mem, 0xFFFFFFFF,
							    0xFFFFFFFF};
	*count = n;
	return DN_NVML_SUCCESS;
}

dn_nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(dn_nvmlDevice_t h, unsigned *count,
							dn_nvmlProcessInfo_t *infos);
dn_nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(dn_nvmlDevice_t h, unsigned *count,
							dn_nvmlProcessInfo_t *infos)
{
	return running(h, count, infos, 0);
}

dn_nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(dn_nvmlDevice_t h, unsigned *count,
							 dn_nvmlProcessInfo_t *infos);
dn_nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(dn_nvmlDevice_t h, unsigned *count,
							 dn_nvmlProcessInfo_t *infos)
{
	return running(h, count, infos, 1);
}

dn_nvmlReturn_t nvmlDeviceGetProcessUtilization(dn_nvmlDevice_t h,
						dn_nvmlProcessUtilizationSample_t *u,
						unsigned *count, unsigned long long last_seen);
dn_nvmlReturn_t nvmlDeviceGetProcessUtilization(dn_nvmlDevice_t h,
						dn_nvmlProcessUtilizationSample_t *u,
						unsigned *count, unsigned long long last_seen)
{
	dn_nvmlReturn_t r;
	int i = device(h, &r);
	if (i < 0)
		return r;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	unsigned long long now = (unsigned long long)tv.tv_sec * 1000000ull + (unsigned)tv.tv_usec;
	if (now <= last_seen)
		now = last_seen + 1;
	unsigned n = 0;
	for (int k = 0; k < nproc; k++)
		if (procs[k].is_util && procs[k].dev == i)
			n++;
	if (!n)
		return DN_NVML_ERROR_NOT_FOUND;
	/* the sizing call NVML's documentation describes: no buffer, the
	 * count back (and success); a buffer too small: INSUFFICIENT_SIZE */
	if (!u) {
		*count = n;
		return DN_NVML_SUCCESS;
	}
	if (n > *count) {
		*count = n;
		return DN_NVML_ERROR_INSUFFICIENT_SIZE;
	}
	n = 0;
	for (int k = 0; k < nproc; k++)
		if (procs[k].is_util && procs[k].dev == i)
			u[n++] = (dn_nvmlProcessUtilizationSample_t){
				procs[k].pid, now, procs[k].sm, procs[k].memutil, 0, 0};
	*count = n;
	return DN_NVML_SUCCESS;
}
