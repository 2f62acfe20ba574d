#!/usr/bin/env bash
# Run each config's search to its end on a GPU box, resuming whatever stops it early.
#
#   examples/search_until_done.sh configs/a.yaml configs/b.yaml
#
# Each config gets its own run folder. A search that dies (kill -9, a crashed driver, a
# lost Ray runtime, a reboot) is continued with `nasxfer search --resume RUN` until it
# exits 0; finished trials are kept and unfinished ones run again. Exit code 2 is a
# mistake in the config (nothing to retry); 130 is Ctrl-C or SIGTERM (the script stops
# too, and prints the command that continues). Settings: NASXFER_RUNS_DIR (runs),
# MAX_ATTEMPTS (20 per config), RETRY_SECONDS (30 between attempts).
set -uo pipefail

runs_dir="${NASXFER_RUNS_DIR:-runs}"
max_attempts="${MAX_ATTEMPTS:-20}"
retry_seconds="${RETRY_SECONDS:-30}"

latest_run() {  # the run runs/latest names: a symlink, or a text file where links are not allowed
    if [ -L "$runs_dir/latest" ]; then readlink "$runs_dir/latest"
    elif [ -f "$runs_dir/latest" ]; then cat "$runs_dir/latest"
    fi
}

for config in "$@"; do
    run=""
    for attempt in $(seq 1 "$max_attempts"); do
        if [ -z "$run" ]; then
            before="$(latest_run)"
            nasxfer search "$config" --runs-dir "$runs_dir" --log-format plain
            status=$?
            # A new run id in runs/latest means the run folder exists: from now on, resume it.
            [ "$(latest_run)" != "$before" ] && run="$(latest_run)"
        else
            nasxfer search --resume "$run" --runs-dir "$runs_dir" --log-format plain
            status=$?
        fi
        case "$status" in
            0) echo "done: $config -> $runs_dir/$run"; continue 2 ;;
            2) echo "error in $config (see above); not retrying" >&2; exit 2 ;;
            130) echo "stopped; continue with: nasxfer search --resume ${run:-<run>} --runs-dir $runs_dir" >&2; exit 130 ;;
        esac
        echo "search of $config exited with $status (attempt $attempt of $max_attempts); retrying in ${retry_seconds}s" >&2
        sleep "$retry_seconds"
    done
    echo "giving up on $config after $max_attempts attempts" >&2
    exit 1
done
