#!/bin/sh
# Runs every cell of Fang et al. 2020's Table 2a (see fang-table2a.yaml):
# rules krum (f = 20), trimmed mean (beta = 0.2) and median, each with no
# attack, gaussian, labelflip, and the partial- and full-knowledge attacks
# on that rule, then prints the error rate (1 - accuracy) of each run's last
# round as a table. Cells already run are skipped, and several instances
# may run at once (each cell is claimed with a lock directory). The storage
# nodes' files are removed after each cell (KEEP_NODES=1 keeps them); an
# OUT_DIR on tmpfs (/dev/shm) spares the disk's file creation and fsync.
# Usage: fang-table2a.sh OUT_DIR [ROUNDS]
set -eu
out=${1:?usage: fang-table2a.sh OUT_DIR [ROUNDS]}
rounds=${2:-500}
here=$(dirname "$0")
floe=${FLOE:-floe}
for rule in krum trimmedmean median; do
  case $rule in
    krum) params="--rule-param f=20"; full=fang-krum; partial=fang-krum-partial ;;
    trimmedmean) params="--rule-param beta=0.2"; full=fang-trim; partial=fang-trim-partial ;;
    median) params=""; full=fang-trim; partial=fang-trim-partial ;;
  esac
  for attack in none gaussian labelflip $partial $full; do
    dir=$out/$rule-$attack
    [ -f "$dir/metrics.csv" ] && continue
    # A cell another instance of this script runs is left to it.
    mkdir "$dir.lock" 2>/dev/null || continue
    if [ "$attack" = none ]; then a="--attackers 0"; else a="--attack $attack"; fi
    # shellcheck disable=SC2086
    $floe sim --scenario "$here/fang-table2a.yaml" --rule $rule $params $a --rounds "$rounds" --out "$dir" >"$dir.log" 2>&1 || echo "$dir failed: see $dir.log"
    # The storage nodes' data (about 7 MB a round) is not needed for the
    # table; KEEP_NODES=1 keeps it.
    [ "${KEEP_NODES:-0}" = 1 ] || rm -rf "$dir/nodes"
    rmdir "$dir.lock"
  done
done
printf '%-12s %-18s %s\n' rule attack error_rate
for d in "$out"/*/; do
  [ -f "$d/metrics.csv" ] || continue
  name=$(basename "$d")
  acc=$(tail -1 "$d/metrics.csv" | cut -d, -f7)
  printf '%-12s %-18s %s\n' "${name%%-*}" "${name#*-}" "$(echo "1 - $acc" | bc -l | cut -c1-6)"
done
