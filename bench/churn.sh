#!/bin/bash
# churn.sh SECS [COUNTFILE] — a workload that keeps starting processes:
# for SECS seconds, one after another, a 10 ms `sleep` (it blocks: an
# off-CPU stack per process) and a `true` (about 50 processes a second on
# an idle machine; fewer under load). One byte per process started is
# appended to COUNTFILE, so a watcher can tell the rate it got.
secs=${1:?usage: churn.sh SECS [COUNTFILE]}
count=${2:-/dev/null}
now() { echo "${EPOCHREALTIME/./}"; } # µs, bash's own clock: no process
end=$(($(now) + secs * 1000000))
while [ "$(now)" -lt "$end" ]; do
	/bin/sleep 0.01
	/bin/true
	printf xx >>"$count"
done
