/*
 * gpu.h — NVIDIA GPUs through NVML, loaded at run time: libnvidia-ml.so.1
 * is dlopen'ed by its soname (the library path and LD_LIBRARY_PATH find it
 * as they do for NVIDIA's own tools), or from DENET_NVML_LIBRARY when that
 * names a file. No build dependency: without the library, or without a
 * device, dn_gpu_open says why and nothing else changes.
 *
 * One reading per sample: every device's system-wide figures and every
 * process NVML lists on them (running compute and graphics processes,
 * with their memory, and per-process utilization samples where the
 * driver has them). Records then keep the processes of the monitored
 * tree only (dn_gpu_write_json's filter). JSON shape and units are
 * upstream denet's `gpu` object (docs/data-format.md).
 */
#ifndef DENET_GPU_H
#define DENET_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json.h"

#define DN_GPU_MAX_DEVICES 16
#define DN_GPU_MAX_ERRORS  4

struct dn_gpu;

/* One device's system-wide figures; has_* false: NVML gave none (null). */
struct dn_gpu_device {
	unsigned index;
	char name[96];
	bool has_util, has_mem, has_temp, has_power;
	unsigned util_gpu, util_mem;		/* percent */
	uint64_t mem_total, mem_used, mem_free; /* bytes */
	unsigned temperature;			/* °C */
	unsigned power_mw;			/* milliwatts, as NVML gives it */
};

/* A process NVML lists on some device (memory summed over devices and
 * over its compute and graphics contexts). */
struct dn_gpu_proc {
	pid_t pid;
	bool has_mem, has_util;
	uint64_t mem_bytes;
	unsigned sm_util, mem_util; /* percent, the latest utilization sample */
	/* reading scratch: the device whose lists are being read and the
	 * memory this process has on it so far (a process with compute and
	 * graphics contexts is in both lists, with the same figure) */
	int cur_dev;
	uint64_t cur_dev_mem;
};

/* A reading. Devices that NVML could not read (lost, fallen off the bus)
 * are left out and named in err[] with NVML's reason. */
struct dn_gpu_sample {
	int ndev;
	struct dn_gpu_device dev[DN_GPU_MAX_DEVICES];
	size_t nproc, cap;
	struct dn_gpu_proc *proc; /* sorted by pid */
	int nerr;
	char err[DN_GPU_MAX_ERRORS][160];
};

/* Open NVML (nvmlInit_v2) and count the devices. NULL, with why filled,
 * when the library does not load, lacks a required entry point, fails to
 * initialize or finds no device. */
struct dn_gpu *dn_gpu_open(char *why, size_t whylen);
unsigned dn_gpu_device_count(const struct dn_gpu *g);
/* Read every device and its processes now; never fails (errors go into
 * the reading). The reading stays valid until the next read or close. */
const struct dn_gpu_sample *dn_gpu_read(struct dn_gpu *g);
/* nvmlShutdown and dlclose; NULL is fine. */
void dn_gpu_close(struct dn_gpu *g);

/* Which processes a record keeps: those of the monitored tree. */
typedef bool (*dn_gpu_pid_filter)(pid_t pid, const void *ctx);

/* Upstream's `gpu` object: system_metrics, process_data (the processes
 * `in` keeps), has_process_data, collection_method, and `errors` when
 * NVML reported any. */
void dn_gpu_write_json(struct dn_json *j, const struct dn_gpu_sample *s, dn_gpu_pid_filter in,
		       const void *ctx);
/* GPU memory of the processes `in` keeps, bytes. */
uint64_t dn_gpu_proc_memory(const struct dn_gpu_sample *s, dn_gpu_pid_filter in, const void *ctx);

#endif
