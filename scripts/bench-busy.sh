#!/bin/sh
# bench-busy.sh - the cpu decode sweep (batch 1, 1K-32K tokens) of one or
# more qkv-bench builds while BUSY other processes spin on the cores, to see
# how the cpu backend degrades on a shared machine.  Builds run in turn,
# REPS times each (odd runs in the order given, even runs reversed); the
# table gives each build's median per benchmark in ms.
#
#   scripts/bench-busy.sh [-n BUSY] [-r REPS] [-f FILTER] [-o DIR] 'NAME=BENCH [FLAG...]' ...
#   e.g. scripts/bench-busy.sh -n 1 before=/tmp/old/bench/qkv-bench \
#            'after=bench/qkv-bench --qkv_warm'
set -eu
busy=1 reps=3 out=${TMPDIR:-/tmp}/qkv-bench-busy
filter='(f16|kivi)_decode_attention/sweep-b1-ctx[0-9]+/'
usage() { sed -n '2,10p' "$0"; exit 2; }
while getopts n:r:f:o: opt; do
    case $opt in
    n) busy=$OPTARG ;;
    r) reps=$OPTARG ;;
    f) filter=$OPTARG ;;
    o) out=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
mkdir -p "$out"
pids=
i=0
while [ "$i" -lt "$busy" ]; do
    sh -c 'while :; do :; done' &
    pids="$pids $!"
    i=$((i + 1))
done
trap 'kill $pids 2>/dev/null || true' EXIT INT TERM
r=1
while [ "$r" -le "$reps" ]; do
    k=1
    while [ "$k" -le $# ]; do
        if [ $((r % 2)) = 1 ]; then i=$k; else i=$(($# + 1 - k)); fi
        eval "build=\${$i}"
        name=${build%%=*} cmd=${build#*=}
        echo "bench-busy: run $r/$reps, $name, $busy busy process(es)" >&2
        # shellcheck disable=SC2086 # cmd holds the binary and its flags
        $cmd --qkv_backends=cpu --qkv_roof_trials=1 --benchmark_filter="$filter" \
            --benchmark_min_time=0.3 --benchmark_out="$out/$name-$r.json" \
            --benchmark_out_format=json >/dev/null 2>&1
        k=$((k + 1))
    done
    r=$((r + 1))
done
python3 - "$out" "$@" <<'PY'
import glob, json, os, statistics, sys
out, builds = sys.argv[1], [b.split('=', 1)[0] for b in sys.argv[2:]]
times = {}
for b in builds:
    for path in glob.glob(os.path.join(out, b + '-*.json')):
        for bm in json.load(open(path))['benchmarks']:
            if bm.get('run_type') == 'iteration':
                name = bm['run_name'].replace('/manual_time', '')
                unit = {'ns': 1e-6, 'us': 1e-3, 'ms': 1.0, 's': 1e3}[bm.get('time_unit', 'ns')]
                times.setdefault(name, {}).setdefault(b, []).append(bm['real_time'] * unit)
print('| benchmark | ' + ' | '.join(builds) + ' |')
print('|---|' + '---:|' * len(builds))
def key(n):
    return (n.split('/')[0], int(n.split('ctx')[1].split('/')[0].split('-')[0]))
for name in sorted(times, key=key):
    row = ['%.3f' % statistics.median(times[name][b]) if b in times[name] else '-'
           for b in builds]
    print('| %s | %s |' % (name, ' | '.join(row)))
PY
