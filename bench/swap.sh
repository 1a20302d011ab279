#!/usr/bin/env bash
# swap.sh BENCHDIR A|B|M — puts one state of the benchmark source into BENCHDIR/src, by renames only
# (instant, whatever the tree's size). Used by bench/run.sh between timed runs.
#
#   A  the generated tree (pristine)
#   B  A after `gen.mjs mutate` (the "1 % change" run): its content is kept in BENCHDIR/trees/B
#      while A is in src, and the other way round
#   M  A with one top-level folder renamed (the "moved folder" run): names in BENCHDIR/move.{from,to}
#
# The src folder itself is never replaced, only its top-level entries move, as when a user edits
# files in place. BENCHDIR/state says which state src holds.
set -euo pipefail
B=$1
want=$2
case $want in A | B | M) ;; *) echo "swap.sh: state must be A, B or M, not '$want'" >&2; exit 2 ;; esac
cur=$(<"$B/state")
[ "$cur" = "$want" ] && exit 0
shopt -s dotglob nullglob

move_children() { # FROM TO
  local entries=("$1"/*)
  if [ ${#entries[@]} -gt 0 ]; then mv -t "$2" -- "${entries[@]}"; fi
}

from=$(<"$B/move.from")
to=$(<"$B/move.to")
# back to A
case $cur in
  M) mv -T -- "$B/src/$to" "$B/src/$from" ;;
  B) move_children "$B/src" "$B/trees/B"; move_children "$B/trees/A" "$B/src" ;;
esac
echo A >"$B/state"
case $want in
  M) mv -T -- "$B/src/$from" "$B/src/$to" ;;
  B) move_children "$B/src" "$B/trees/A"; move_children "$B/trees/B" "$B/src" ;;
esac
echo "$want" >"$B/state"
