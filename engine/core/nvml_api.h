/*
 * nvml_api.h — the part of NVIDIA's NVML C API that denet calls, declared
 * here so that building needs neither the CUDA toolkit nor the driver's
 * headers: libnvidia-ml.so.1 is opened at run time (gpu.c). Types, values
 * and prototypes follow NVIDIA's nvml.h as documented in the "NVML API
 * Reference Manual" (docs.nvidia.com/deploy/nvml-api/): the versioned
 * entry points (nvmlInit_v2, nvmlDeviceGetCount_v2,
 * nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGet*RunningProcesses_v3/_v2)
 * are the ones nvml.h maps the plain names to, so the real library and
 * the tests' stand-in (tests/helpers/nvml/) are called alike.
 */
#ifndef DENET_NVML_API_H
#define DENET_NVML_API_H

/* nvmlReturn_t: the values denet tells apart (nvml.h has more). */
typedef int dn_nvmlReturn_t;
#define DN_NVML_SUCCESS			0
#define DN_NVML_ERROR_UNINITIALIZED	1
#define DN_NVML_ERROR_INVALID_ARGUMENT	2
#define DN_NVML_ERROR_NOT_SUPPORTED	3
#define DN_NVML_ERROR_NO_PERMISSION	4
#define DN_NVML_ERROR_NOT_FOUND		6
#define DN_NVML_ERROR_INSUFFICIENT_SIZE 7
#define DN_NVML_ERROR_GPU_IS_LOST	15
#define DN_NVML_ERROR_UNKNOWN		999

/* nvmlDevice_t: an opaque handle. */
typedef struct dn_nvmlDevice_st *dn_nvmlDevice_t;

/* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define DN_NVML_DEVICE_NAME_BUFFER_SIZE 96
/* NVML_TEMPERATURE_GPU of nvmlTemperatureSensors_t */
#define DN_NVML_TEMPERATURE_GPU 0
/* NVML_VALUE_NOT_AVAILABLE: usedGpuMemory when the driver cannot tell
 * (e.g. Windows WDDM, or without permission) */
#define DN_NVML_VALUE_NOT_AVAILABLE (~0ULL)

/* nvmlUtilization_t: percent of the last sample period */
typedef struct {
	unsigned int gpu;
	unsigned int memory;
} dn_nvmlUtilization_t;

/* nvmlMemory_t (v1): bytes */
typedef struct {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
} dn_nvmlMemory_t;

/* nvmlProcessInfo_t (nvmlProcessInfo_v2_t) as the _v2 and _v3
 * running-process calls fill it (the unversioned v1 call has a shorter one) */
typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory; /* bytes */
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
} dn_nvmlProcessInfo_t;

/* nvmlProcessUtilizationSample_t */
typedef struct {
	unsigned int pid;
	unsigned long long timeStamp; /* CPU timestamp, microseconds */
	unsigned int smUtil;
	unsigned int memUtil;
	unsigned int encUtil;
	unsigned int decUtil;
} dn_nvmlProcessUtilizationSample_t;

/* The prototypes, as function pointer types for dlsym. */
typedef dn_nvmlReturn_t (*dn_nvmlInit_v2_fn)(void);
typedef dn_nvmlReturn_t (*dn_nvmlShutdown_fn)(void);
typedef const char *(*dn_nvmlErrorString_fn)(dn_nvmlReturn_t result);
typedef dn_nvmlReturn_t (*dn_nvmlDeviceGetCount_v2_fn)(unsigned int *deviceCount);
typedef dn_nvmlReturn_t (*dn_nvmlDeviceGetHandleByIndex_v2_fn)(unsigned int index,
							       dn_nvmlDevice_t *device);
typedef dn_nvmlReturn_t (*dn_nvmlDeviceGetName_fn)(dn_nvmlDevice_t device, char *name,
						   unsigned int length);
typedef dn_nvmlReturn_t (*dn_nvmlDeviceGetUtilizationRates_fn)(dn_nvmlDevice_t device,
							       dn_nvmlUtilization_t *utilization);
typedef dn_nvmlReturn_t (*dn_nvmlDeviceGetMemoryInfo_fn)(dn_nvmlDevice_t device,
							 dn_nvmlMemory_t *memory);
typedef dn_nvmlReturn_t (*dn_nvmlDeviceGetTemperature_fn)(dn_nvmlDevice_t device, int sensorType,
							  unsigned int *temp);
typedef dn_nvmlReturn_t (*dn_nvmlDeviceGetPowerUsage_fn)(dn_nvmlDevice_t device,
							 unsigned int *power);
typedef dn_nvmlReturn_t (*dn_nvmlDeviceGetRunningProcesses_fn)(dn_nvmlDevice_t device,
							       unsigned int *infoCount,
							       dn_nvmlProcessInfo_t *infos);
typedef dn_nvmlReturn_t (*dn_nvmlDeviceGetProcessUtilization_fn)(
	dn_nvmlDevice_t device, dn_nvmlProcessUtilizationSample_t *utilization,
	unsigned int *processSamplesCount, unsigned long long lastSeenTimeStamp);

#endif
