/*
 * test_gpu.c — gpu.c against the tests' stand-in NVML (no GPU here): the
 * stand-in libnvidia-ml.so.1 (tests/helpers/nvml/nvml_standin.c) answers
 * from a script file; these tests write the script, open NVML through
 * DENET_NVML_LIBRARY and check the reading, the JSON, the errors of a
 * lost device, the reasons of a failed open, and that every open is shut
 * down (the stand-in counts live nvmlInit_v2 calls).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"
#include "unit.h"

static char lib_path[4096], script_path[64];
static int (*live_inits)(void);
static void *own_handle;

static bool have_standin(void)
{
	return own_handle != NULL;
}

static void script(const char *text)
{
	FILE *f = fopen(script_path, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static const char *DEVICES = "device 37 12 85899345920 10737418240 75161927680 61 245123 NVIDIA "
			     "A100-SXM4-80GB\n"
			     "device 5 1 24152899584 1073741824 23079157760 40 16250 NVIDIA L4\n";

static bool keep_4242(pid_t pid, const void *ctx)
{
	(void)ctx;
	return pid == 4242;
}

static void test_standin_reading_and_json(void)
{
	if (!have_standin())
		UNIT_SKIP("the stand-in NVML is not built: %.150s", lib_path);
	char text[1024];
	snprintf(text, sizeof text,
		 "%sproc 0 4242 1000 compute\nproc 1 4242 24 graphics\nproc 0 1 4096 compute\n"
		 /* a C+G process: listed in both lists of device 0, its
		  * memory once (NVML gives it per process, not per context) */
		 "proc 0 4242 1000 graphics\n"
		 "putil 0 4242 55 20\nputil 1 4242 60 10\nputil 0 1 99 99\nproc 1 77 na compute\n",
		 DEVICES);
	script(text);
	char why[256] = "";
	struct dn_gpu *g = dn_gpu_open(why, sizeof why);
	CHECK(g != NULL);
	if (!g) {
		printf("# %s\n", why);
		return;
	}
	CHECK_INT(dn_gpu_device_count(g), 2);
	CHECK_INT(live_inits(), 1);
	const struct dn_gpu_sample *s = dn_gpu_read(g);
	CHECK_INT(s->ndev, 2);
	CHECK_INT(s->nerr, 0);
	CHECK_STR(s->dev[1].name, "NVIDIA L4");
	CHECK_INT(s->dev[0].power_mw, 245123);
	CHECK_INT(s->dev[0].temperature, 61);
	CHECK(s->dev[0].mem_total == 85899345920ull);
	/* three processes, sorted; 77's memory not available */
	CHECK_INT(s->nproc, 3);
	CHECK_INT(s->proc[0].pid, 1);
	CHECK_INT(s->proc[1].pid, 77);
	CHECK(!s->proc[1].has_mem && !s->proc[1].has_util);
	CHECK_INT(s->proc[2].pid, 4242);
	CHECK_INT(s->proc[2].mem_bytes, 1024); /* summed over devices, once per device */
	CHECK_INT(s->proc[2].sm_util, 60);     /* the busier of its two devices */
	CHECK_INT(dn_gpu_proc_memory(s, keep_4242, NULL), 1024);
	CHECK_INT(dn_gpu_proc_memory(s, NULL, NULL), 1024 + 4096);
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_gpu_write_json(&j, s, keep_4242, NULL);
	dn_buf_putc(&b, '\0');
	CHECK_STR(b.data,
		  "{\"system_metrics\":[{\"device_index\":0,\"name\":\"NVIDIA A100-SXM4-80GB\","
		  "\"system_utilization_gpu\":37,\"system_utilization_memory\":12,"
		  "\"memory_total\":85899345920,\"memory_used\":10737418240,"
		  "\"memory_free\":75161927680,\"temperature\":61,\"power_usage\":245123},"
		  "{\"device_index\":1,\"name\":\"NVIDIA L4\",\"system_utilization_gpu\":5,"
		  "\"system_utilization_memory\":1,\"memory_total\":24152899584,"
		  "\"memory_used\":1073741824,\"memory_free\":23079157760,\"temperature\":40,"
		  "\"power_usage\":16250}],\"process_data\":[{\"pid\":4242,\"gpu_utilization\":60,"
		  "\"memory_usage\":1024,\"memory_utilization_pct\":20}],\"has_process_data\":true,"
		  "\"collection_method\":\"nvml\"}");
	/* a second read starts afresh (no doubled memory) */
	s = dn_gpu_read(g);
	CHECK_INT(s->nproc, 3);
	CHECK_INT(dn_gpu_proc_memory(s, keep_4242, NULL), 1024);
	dn_gpu_close(g);
	CHECK_INT(live_inits(), 0);
	dn_buf_free(&b);
}

static bool keep_none(pid_t pid, const void *ctx)
{
	(void)pid;
	(void)ctx;
	return false;
}

static void test_standin_lost_device(void)
{
	if (!have_standin())
		UNIT_SKIP("the stand-in NVML is not built: %.150s", lib_path);
	char text[1024];
	snprintf(text, sizeof text, "%sproc 1 4242 1000 compute\n", DEVICES);
	script(text);
	char why[256];
	struct dn_gpu *g = dn_gpu_open(why, sizeof why);
	CHECK(g != NULL);
	if (!g)
		return;
	/* lost after the open: the next read lists the error, the other
	 * device and its process stay */
	snprintf(text, sizeof text, "%sproc 1 4242 1000 compute\nlost 0\n", DEVICES);
	script(text);
	const struct dn_gpu_sample *s = dn_gpu_read(g);
	CHECK_INT(s->ndev, 1);
	CHECK_INT(s->dev[0].index, 1);
	CHECK_INT(s->nerr, 1);
	CHECK_STR(s->err[0], "device 0: nvmlDeviceGetHandleByIndex_v2: GPU is lost");
	CHECK_INT(dn_gpu_proc_memory(s, keep_4242, NULL), 1000);
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_gpu_write_json(&j, s, keep_none, NULL);
	dn_buf_putc(&b, '\0');
	CHECK(strstr(b.data, "\"process_data\":[],\"has_process_data\":false,"
			     "\"collection_method\":\"none\",\"errors\":[\"device 0: "
			     "nvmlDeviceGetHandleByIndex_v2: GPU is lost\"]}") != NULL);
	dn_buf_free(&b);
	/* both lost: no device, two errors, still a reading */
	snprintf(text, sizeof text, "%slost 0\nlost 1\n", DEVICES);
	script(text);
	s = dn_gpu_read(g);
	CHECK_INT(s->ndev, 0);
	CHECK_INT(s->nerr, 2);
	CHECK_INT(s->nproc, 0);
	dn_gpu_close(g);
	CHECK_INT(live_inits(), 0);
}

static void test_standin_open_failures(void)
{
	if (!have_standin())
		UNIT_SKIP("the stand-in NVML is not built: %.150s", lib_path);
	char why[256] = "";
	script("init_error 9\n");
	CHECK(dn_gpu_open(why, sizeof why) == NULL);
	CHECK_STR(why, "nvmlInit_v2: Driver Not Loaded");
	CHECK_INT(live_inits(), 0);
	/* initialized, no device: shut down again */
	script("# nothing\n");
	CHECK(dn_gpu_open(why, sizeof why) == NULL);
	CHECK_STR(why, "no NVIDIA GPU (NVML lists 0 devices)");
	CHECK_INT(live_inits(), 0);
	/* a library that is not there: dlopen's reason */
	setenv("DENET_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
	CHECK(dn_gpu_open(why, sizeof why) == NULL);
	CHECK(strncmp(why, "/nonexistent/libnvidia-ml.so.1: cannot open shared object file",
		      strlen("/nonexistent/libnvidia-ml.so.1: cannot open shared object file")) ==
	      0);
	/* a library without NVML's entry points */
	setenv("DENET_NVML_LIBRARY", "libm.so.6", 1);
	CHECK(dn_gpu_open(why, sizeof why) == NULL);
	CHECK_STR(why, "libm.so.6 has no nvmlInit_v2");
	setenv("DENET_NVML_LIBRARY", lib_path, 1);
	dn_gpu_close(NULL);
}

static void test_standin_many_processes(void)
{
	if (!have_standin())
		UNIT_SKIP("the stand-in NVML is not built: %.150s", lib_path);
	/* more processes than the first call has room for: NVML's
	 * INSUFFICIENT_SIZE, then the list in full (on device 0; their
	 * utilization samples on device 1) */
	char text[4096];
	int n = snprintf(text, sizeof text, "%s", DEVICES);
	for (int i = 0; i < 40; i++)
		n += snprintf(text + n, sizeof text - (size_t)n,
			      "proc 0 %d 10 compute\nputil 1 %d %d 1\n", 1000 + i, 1000 + i, i);
	script(text);
	char why[256];
	struct dn_gpu *g = dn_gpu_open(why, sizeof why);
	CHECK(g != NULL);
	if (!g)
		return;
	const struct dn_gpu_sample *s = dn_gpu_read(g);
	CHECK_INT(s->nproc, 40);
	CHECK_INT(dn_gpu_proc_memory(s, NULL, NULL), 400);
	for (size_t i = 1; i < s->nproc; i++)
		CHECK(s->proc[i - 1].pid < s->proc[i].pid);
	/* the utilization samples too: NVML's sizing call (no buffer, the
	 * count back), then all of them */
	for (size_t i = 0; i < s->nproc; i++)
		CHECK(s->proc[i].has_util && s->proc[i].sm_util == i);
	s = dn_gpu_read(g); /* newer samples on the next read */
	CHECK_INT(s->nproc, 40);
	CHECK(s->nproc == 40 && s->proc[39].has_util && s->proc[39].sm_util == 39);
	dn_gpu_close(g);
	CHECK_INT(live_inits(), 0);
}

int main(void)
{
	const char *helpers = getenv("DENET_HELPERS");
	snprintf(lib_path, sizeof lib_path, "%s/nvml/libnvidia-ml.so.1",
		 helpers ? helpers : "build/helpers");
	snprintf(script_path, sizeof script_path, "/tmp/denet-test-gpu-%d.txt", (int)getpid());
	setenv("DENET_NVML_LIBRARY", lib_path, 1);
	setenv("DENET_NVML_STANDIN_SCRIPT", script_path, 1);
	/* our own reference: the stand-in's counters stay between opens */
	own_handle = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
	if (own_handle)
		*(void **)&live_inits = dlsym(own_handle, "nvml_standin_live_inits");
	if (!live_inits && own_handle) {
		dlclose(own_handle);
		own_handle = NULL;
	}
	RUN(test_standin_reading_and_json);
	RUN(test_standin_lost_device);
	RUN(test_standin_open_failures);
	RUN(test_standin_many_processes);
	if (own_handle)
		dlclose(own_handle);
	unlink(script_path);
	return unit_done();
}
