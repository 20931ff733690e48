/*
 * envinfo.h — the fields of the `env` record (docs/data-format.md, --write-env): where
 * a run happened, so that two recordings can be compared fairly.
 */
#ifndef DENET_ENVINFO_H
#define DENET_ENVINFO_H

#include <sys/types.h>

struct dn_json;

/* Write the env fields as key/value pairs into an object the caller has
 * already opened (and given its "kind"): host, kernel, arch, cpu_model,
 * cpus_online, cpus_configured, sockets, cores (physical cores in total),
 * threads_per_core, numa_nodes, mem_total_kb, affinity (CPUs `target` may
 * run on; target <= 0 means the caller), governor, thp, smt, cgroup (lines of
 * /proc/TARGET/cgroup). A source that is missing or unreadable gives null.
 * Returns 0; the JSON writer's buffer carries any allocation failure. */
int dn_envinfo_write(struct dn_json *j, pid_t target);

#endif
