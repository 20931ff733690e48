"""psutil_sampler.py — what psrecord does per sample, for the same tree:
the root's children(recursive=True), then cpu_times, memory_info,
io_counters and num_threads of every process. Process objects are kept
between samples (as a long-running monitor would).

usage: python3 psutil_sampler.py PID ITERS [REPS]
prints one line per repetition: "us_per_sample=X procs=N"
"""
import sys
import time

import psutil


def sample(root, cache):
    procs = [root] + root.children(recursive=True)
    out = []
    for p in procs:
        q = cache.get(p.pid)
        if q is None:
            q = cache[p.pid] = p
        try:
            out.append((q.cpu_times(), q.memory_info(), q.io_counters(), q.num_threads()))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return len(out)


def main():
    pid, iters = int(sys.argv[1]), int(sys.argv[2])
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    root = psutil.Process(pid)
    cache = {}
    n = sample(root, cache)  # warm-up
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            n = sample(root, cache)
        t1 = time.perf_counter()
        print("us_per_sample=%.2f procs=%d" % ((t1 - t0) * 1e6 / iters, n), flush=True)


if __name__ == "__main__":
    main()
