/*
 * fuzz_symbolizer.c — libFuzzer harness for the ELF symbolizer
 * (engine/profiler/symbolizer.c, built with -DDN_FUZZING). The input is written to a
 * temporary file which is then loaded as a module: program headers, .symtab
 * and .dynsym, build-id and .gnu_debuglink lookups, DWARF lines and CFI
 * (.eh_frame) at the addresses the file names. With -DFUZZ_SYM_MAPS the
 * input is /proc/PID/maps text instead, turned into mappings and modules by
 * procmaps (engine/profiler/procmaps.c), then resolved in each mapping.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef FUZZ_SYM_MAPS
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* names are opened as files: keep away from devices, FIFOs and /proc */
	static const char *const avoid[] = {"/dev", "/proc", "/sys", "/run", "/tmp", "/var"};
	for (size_t i = 0; i < sizeof avoid / sizeof avoid[0]; i++)
		if (memmem(data, size, avoid[i], strlen(avoid[i])))
			return -1;
	dn_sym_fuzz_maps((const char *)data, size);
	return 0;
}
#else
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		snprintf(path, sizeof path, "/tmp/denet-fuzz-elf-%d/mod.so", (int)getpid());
		char dir[64];
		snprintf(dir, sizeof dir, "/tmp/denet-fuzz-elf-%d", (int)getpid());
		mkdir(dir, 0700);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	dn_sym_fuzz_file(path);
	return 0;
}
#endif
