#!/usr/bin/env bash
# hardback benchmark (issue #5): hardback against rsync, an rsnapshot-style rsync --link-dest,
# cp -a and two scan floors, on the same generated tree, on tmpfs and/or a journaled ext4 loop image.
# Optional rows: backup-tool search over a 100-increment backup (--search), backup-tool recreate
# against cp -a and the Node floor of a copy that hashes every byte (--recreate); --all adds both.
#
#   bash bench/run.sh [--files N] [--where shm|ext4|both] [--runs R] [--w3] [--all] [options]
#
# See bench/README.md. Runs as root (it mounts a tmpfs and a loop image). Results (hyperfine JSON,
# GNU time output, the table) go to --out, by default /var/tmp/hardback-bench-results/<UTC time>/.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$REPO/bench"

usage() {
  cat <<'EOF'
usage: bash bench/run.sh [options]

  --files N          number of files (default 100000: W1, about 1 GiB)
  --dirs D           number of folders (default files/25)
  --total-mib M      total size of the tree (default: 1 GiB per 100,000 files)
  --w3               workload W3: 1,000,000 small files (< 16 KiB each); --files still overrides
  --seed S           generator seed (default 1)
  --where W          shm | ext4 | both (default both)
  --runs R           timed runs per row (default 5)
  --change "M D A"   the 1 % change run: percent modified, deleted, added (default "1 0.1 0.1")
  --no-hardback      time only rsync / cp / find / the floors (when build/backup.js does not exist)
  --hardback-js FILE the hardback program to time (default build/backup.js), e.g. an older build
  --tool-js FILE     the backup-tool program to time (default: backup-tool.js beside --hardback-js)

  --search           add the search rows: backup-tool search over a backup of --search-increments
                     increments of a --files tree (built once, cached in /dev/shm/hardback-bench-search)
  --recreate         add the recreate rows: backup-tool recreate of the latest state vs cp -a and
                     the Node floor (copy-floor.mjs over the backup's mirror), per place
  --all              both (--search --recreate)
  --no-standard      skip the standard rows (floors, hardback backup, rsync, rsnapshot, cp -a)
  --search-increments N   increments in the search backup (default 100)
  --search-mib M          total size of the search tree (default 200 MiB per 100,000 files: W1's
                          file count with a fifth of its content, to build the backup faster)
  --search-change "M D A" change between two increments: percent modified, deleted, added
                          (default "0.2 0.02 0.02")
  --search-rebuild        rebuild the cached search backup even when it matches
  --out DIR          where results go (default /var/tmp/hardback-bench-results/<UTC time>)
  --img-dir DIR      where the ext4 image file lives (default /var/tmp; never the bench trees)
  --img-size SIZE    size of the ext4 image (default: 20G, more for big workloads)
  --keep-ca-env      keep NODE_EXTRA_CA_CERTS for the node processes it times (by default it is
                     unset: Node 20 parses that file at every start, ~80 ms on a 2-core host)
  -h, --help
EOF
}

FILES=""
DIRS=""
TOTAL_MIB=""
MIX=default
SEED=1
WHERE=both
RUNS=5
CHANGE="1 0.1 0.1"
NO_HB=0
HB_JS="$REPO/build/backup.js"
TOOL_JS=""
DO_STD=1
DO_SEARCH=0
DO_RECREATE=0
S_INCS=100
S_MIB=""
S_CHANGE="0.2 0.02 0.02"
S_REBUILD=0
OUT=""
IMG_DIR=/var/tmp
IMG_SIZE=""
KEEP_CA_ENV=0
while [ $# -gt 0 ]; do
  case $1 in
    --files) FILES=$2; shift 2 ;;
    --dirs) DIRS=$2; shift 2 ;;
    --total-mib) TOTAL_MIB=$2; shift 2 ;;
    --w3) MIX=small; FILES=${FILES:-1000000}; shift ;;
    --seed) SEED=$2; shift 2 ;;
    --where) WHERE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --change) CHANGE=$2; shift 2 ;;
    --no-hardback) NO_HB=1; shift ;;
    --hardback-js) HB_JS=$(realpath -m -- "$2"); shift 2 ;;
    --tool-js) TOOL_JS=$(realpath -m -- "$2"); shift 2 ;;
    --search) DO_SEARCH=1; shift ;;
    --recreate) DO_RECREATE=1; shift ;;
    --all) DO_SEARCH=1; DO_RECREATE=1; shift ;;
    --no-standard) DO_STD=0; shift ;;
    --search-increments) S_INCS=$2; shift 2 ;;
    --search-mib) S_MIB=$2; shift 2 ;;
    --search-change) S_CHANGE=$2; shift 2 ;;
    --search-rebuild) S_REBUILD=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --img-dir) IMG_DIR=$2; shift 2 ;;
    --img-size) IMG_SIZE=$2; shift 2 ;;
    --keep-ca-env) KEEP_CA_ENV=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
FILES=${FILES:-100000}
DIRS=${DIRS:-$(((FILES + 24) / 25))}

die() { echo "run.sh: $*" >&2; exit 1; }
say() { printf '\n== %s\n' "$*" >&2; }

[[ $FILES =~ ^[0-9]+$ && $FILES -gt 0 ]] || die "--files wants a positive integer"
[[ $RUNS =~ ^[0-9]+$ && $RUNS -gt 0 ]] || die "--runs wants a positive integer"
case $WHERE in shm) WHERES=(shm) ;; ext4) WHERES=(ext4) ;; both) WHERES=(shm ext4) ;; *) die "--where must be shm, ext4 or both" ;; esac
read -r PCT_MOD PCT_DEL PCT_ADD <<<"$CHANGE"
[ -n "${PCT_ADD:-}" ] || die "--change wants three numbers: \"MODIFY DELETE ADD\" percents"
read -r S_MOD S_DEL S_ADD <<<"$S_CHANGE"
[ -n "${S_ADD:-}" ] || die "--search-change wants three numbers: \"MODIFY DELETE ADD\" percents"
[[ $S_INCS =~ ^[0-9]+$ && $S_INCS -gt 0 ]] || die "--search-increments wants a positive integer"
TOOL_JS=${TOOL_JS:-$(dirname "$HB_JS")/backup-tool.js}
S_MIB=${S_MIB:-$(((FILES * 200 + 99999) / 100000))} # 200 MiB per 100,000 files
if [ $NO_HB = 1 ]; then DO_SEARCH=0; DO_RECREATE=0; fi
[ $DO_STD = 1 ] || [ $DO_SEARCH = 1 ] || [ $DO_RECREATE = 1 ] || die "--no-standard leaves nothing to time: add --search, --recreate or --all"
[ "$(id -u)" = 0 ] || die "must run as root (it mounts a tmpfs and an ext4 loop image)"

# ---- tools ---------------------------------------------------------------------------------------
need=()
command -v rsync >/dev/null || need+=(rsync)
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi
command -v node >/dev/null || die "node is not installed"

# Node 20 reads and parses the certificate file NODE_EXTRA_CA_CERTS names when the process starts,
# before any of its script runs (nodejs/node#40524): ~80 ms of each start on this 2-core host, a
# tenth of a no-change run. Machines behind a TLS-inspecting proxy set it for npm; a plain install
# of Node does not, and hardback makes no network connection. So every node process timed here
# (hardback and the Node floors alike) runs without it, unless --keep-ca-env; env.txt records
# what a bare start costs either way.
CA_ENV="none"
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  if [ $KEEP_CA_ENV = 1 ]; then CA_ENV="kept ($NODE_EXTRA_CA_CERTS)"
  else
    CA_ENV="unset for the timed runs (was $NODE_EXTRA_CA_CERTS)"
    say "NODE_EXTRA_CA_CERTS is set: the node processes are timed without it (--keep-ca-env keeps it)"
  fi
fi

if [ $NO_HB = 0 ] && [ ! -f "$HB_JS" ]; then
  die "$HB_JS is missing: build it first with 'npm run build' (or pass --no-hardback to time only the other rows)"
fi
if [ $((DO_SEARCH + DO_RECREATE)) -gt 0 ] && [ ! -f "$TOOL_JS" ]; then
  die "$TOOL_JS is missing: build it first with 'npm run build' (or pass --tool-js)"
fi

OUT=${OUT:-/var/tmp/hardback-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/log.txt"
: >"$OUT/rows.tsv"
FAILS=0

# ---- size estimates (for the ext4 image and the tmpfs check) -------------------------------------
if [ -n "$TOTAL_MIB" ]; then EST_BYTES=$((${TOTAL_MIB%.*} * 1048576))
elif [ $MIX = small ]; then EST_BYTES=$((FILES * 3000))
else EST_BYTES=$((FILES * 10737)); fi
# one copy: data + ~3 KiB per file (block or page rounding, inode) + folders
EST_COPY=$((EST_BYTES + FILES * 3072 + DIRS * 4096))
# peak: five copies at once (the source, a backup and its saved base copy, rsync's mirror, the
# rsnapshot-style base snapshot), parts of two more (the mutated files, the second snapshot's
# folders, the copy of the moved folder), plus room
EST_PEAK=$((EST_COPY * 7))

# ---- mounts and cleanup --------------------------------------------------------------------------
SHM_DIR=${HB_BENCH_SHM:-/dev/shm/hardback-bench}
EXT_DIR=${HB_BENCH_EXT:-/mnt/hardback-bench}
IMG="$IMG_DIR/$(basename "$EXT_DIR").img"
MOUNTED=()

unmount_all() {
  local m
  for m in "${MOUNTED[@]}"; do
    if mountpoint -q "$m"; then umount "$m" 2>/dev/null || umount -l "$m" || true; fi
    rmdir "$m" 2>/dev/null || true
  done
  MOUNTED=()
  rm -f "$IMG"
  if [ -d "$SHM_DIR" ] && ! mountpoint -q "$SHM_DIR"; then rm -rf "$SHM_DIR"; fi
}
trap 'unmount_all' EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

stale_unmount() { # a previous run killed before its trap
  if mountpoint -q "$1"; then echo "run.sh: unmounting a stale $1" >&2; umount "$1" || umount -l "$1"; fi
}

setup_shm() {
  stale_unmount "$SHM_DIR"
  rm -rf "$SHM_DIR"
  mkdir -p "$SHM_DIR"
  local avail_kb
  avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
  if [ $((EST_PEAK / 1024)) -gt "$avail_kb" ]; then
    die "the workload needs about $((EST_PEAK >> 30)) GiB on tmpfs, only $((avail_kb >> 20)) GiB of memory is available: use --where ext4 or fewer --files"
  fi
  # A private tmpfs: no inode limit (/dev/shm's is ~3 M), freed at once by umount.
  if mount -t tmpfs -o size=90%,nr_inodes=0,mode=0755 hardback-bench "$SHM_DIR"; then
    MOUNTED+=("$SHM_DIR")
  else
    echo "run.sh: could not mount a private tmpfs, using $SHM_DIR on /dev/shm itself" >&2
  fi
  BD=$SHM_DIR
}

setup_ext4() {
  stale_unmount "$EXT_DIR"
  local size inodes avail
  size=${IMG_SIZE:-$(((EST_PEAK >> 30) + 1 > 20 ? (EST_PEAK >> 30) + 1 : 20))G}
  mkdir -p "$IMG_DIR"
  rm -f "$IMG"
  avail=$(df -B1 --output=avail "$IMG_DIR" | tail -1)
  local want=$(($(numfmt --from=iec "$size")))
  [ "$avail" -gt "$want" ] || die "$IMG_DIR has $((avail >> 30)) GiB free, the $size image needs that much: use --img-dir or --img-size"
  truncate -s "$size" "$IMG"
  # enough inodes for the copies above, with a backup's increment folders (ext4's default is one
  # per 16 KiB)
  inodes=$(((FILES + DIRS) * 8 + 100000))
  if [ $inodes -gt $((want / 16384)) ]; then mkfs.ext4 -q -F -N $inodes "$IMG"; else mkfs.ext4 -q -F "$IMG"; fi
  mkdir -p "$EXT_DIR"
  mount -o loop "$IMG" "$EXT_DIR"
  MOUNTED+=("$EXT_DIR")
  BD=$EXT_DIR
}

teardown() { # WHERE
  if [ "$1" = ext4 ]; then
    umount "$EXT_DIR" || umount -l "$EXT_DIR"
    rmdir "$EXT_DIR" 2>/dev/null || true
    rm -f "$IMG"
  else
    if mountpoint -q "$SHM_DIR"; then umount "$SHM_DIR" || umount -l "$SHM_DIR"; fi
    rm -rf "$SHM_DIR"
  fi
  local keep=() m
  for m in "${MOUNTED[@]}"; do mountpoint -q "$m" && keep+=("$m"); done
  MOUNTED=("${keep[@]}")
}

# ---- measuring ------------------------------------------------------------------------------------
q() { printf '%q' "$1"; }

# Rows are queued, then timed in rounds (`timed`): each round runs every queued row once, in queue
# order, and a row's warmup runs come right before its first timed run. On a shared host a slow spell then
# falls on every row of a scenario alike, not on one row's block of runs: the ratios, which are what
# count, compare runs made at the same time. Each run is one hyperfine call; the rounds' JSON files
# are merged into one per row (bench/merge-runs.mjs) for report.mjs.
Q_ID=() Q_SCEN=() Q_LABEL=() Q_WARM=() Q_PREP=() Q_CMD=()
declare -A ROW_OK=()

# row ID SCENARIO LABEL WARMUP PREPARE COMMAND: queues a row
row() {
  Q_ID+=("$1") Q_SCEN+=("$2") Q_LABEL+=("$3") Q_WARM+=("$4") Q_PREP+=("$5") Q_CMD+=("$6")
}

# timed: runs the queued rows in RUNS rounds, records them in rows.tsv, empties the queue.
# ROW_OK[ID] says whether a row's every run succeeded (a row that fails is not run again).
timed() {
  local n=${#Q_ID[@]} i k
  for ((i = 0; i < n; i++)); do
    ROW_OK[${Q_ID[i]}]=1
    rm -f "$WOUT/${Q_ID[i]}.time.txt" "$WOUT/${Q_ID[i]}".run*.json
    printf '  %-10s %-14s %s\n' "$W" "${Q_SCEN[i]}" "${Q_LABEL[i]}" >&2
  done
  for ((k = 1; k <= RUNS; k++)); do
    echo "  round $k of $RUNS" >&2
    for ((i = 0; i < n; i++)); do
      local id=${Q_ID[i]}
      [ "${ROW_OK[$id]}" = 1 ] || continue
      local warm=0
      [ $k = 1 ] && warm=${Q_WARM[i]}
      local args=(--runs 1 --warmup "$warm" --shell bash --style basic --export-json "$WOUT/$id.run$k.json" --command-name "${Q_LABEL[i]}")
      [ -n "${Q_PREP[i]}" ] && args+=(--prepare "${Q_PREP[i]}")
      { echo; echo "### $W ${Q_SCEN[i]} ${Q_LABEL[i]} (round $k)"; echo "prepare: ${Q_PREP[i]}"; echo "command: ${Q_CMD[i]}"; } >>"$LOG"
      if ! hyperfine "${args[@]}" "/usr/bin/time -v -a -o $(q "$WOUT/$id.time.txt") ${Q_CMD[i]}" >>"$LOG" 2>&1; then
        ROW_OK[$id]=0
        FAILS=$((FAILS + 1))
        echo "  FAILED: ${Q_LABEL[i]} (${Q_SCEN[i]}); the end of $LOG:" >&2
        tail -n 15 "$LOG" | sed 's/^/    /' >&2
      fi
    done
  done
  for ((i = 0; i < n; i++)); do
    local id=${Q_ID[i]} json="$WOUT/${Q_ID[i]}.json" status=ok
    if [ "${ROW_OK[$id]}" = 1 ]; then
      local runs=()
      for ((k = 1; k <= RUNS; k++)); do runs+=("$WOUT/$id.run$k.json"); done
      if node "$BENCH/merge-runs.mjs" "$json" "${runs[@]}"; then
        rm -f "${runs[@]}"
      else
        status=FAILED
        FAILS=$((FAILS + 1))
        echo "  FAILED: merging the runs of ${Q_LABEL[i]} (${Q_SCEN[i]})" >&2
      fi
    else
      status=FAILED
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$W" "${Q_SCEN[i]}" "${Q_LABEL[i]}" "$id" "$json" "$WOUT/$id.time.txt" "$status" >>"$OUT/rows.tsv"
  done
  Q_ID=() Q_SCEN=() Q_LABEL=() Q_WARM=() Q_PREP=() Q_CMD=()
}

run_where() { # WHERE (BD set)
  W=$1
  WOUT="$OUT/$W"
  mkdir -p "$WOUT"
  local src="$BD/src" S
  S="bash $(q "$BENCH/swap.sh") $(q "$BD")"

  say "$W: generating $FILES files in $DIRS folders under $src (seed $SEED)"
  local genargs=(gen "$src" --files "$FILES" --dirs "$DIRS" --seed "$SEED" --mix "$MIX")
  [ -n "$TOTAL_MIB" ] && genargs+=(--total-mib "$TOTAL_MIB")
  node "$BENCH/gen.mjs" "${genargs[@]}" >"$WOUT/gen.json"
  node -e 'const g=JSON.parse(require("fs").readFileSync(process.argv[1]));console.error(`  ${g.files} files, ${g.dirs} folders, ${g.mib} MiB, ${g.empty} empty, ${g.special_names} unicode/space names, largest file ${(g.largest_file/1048576).toFixed(1)} MiB`)' "$WOUT/gen.json"
  local hb="$BD/hb" cfg="$WOUT/hardback.json"
  printf '{"src": %s, "dist": %s}\n' "$(node -p 'JSON.stringify(process.argv[1])' "$src")" "$(node -p 'JSON.stringify(process.argv[1])' "$hb")" >"$cfg"
  echo A >"$BD/state"
  if [ $DO_STD = 1 ]; then run_standard; fi
  if [ $DO_RECREATE = 1 ]; then run_recreate; fi
  rm -rf "$hb" "$hb.base"
}

# The standard rows: initial, no-change, 1% change, moved folder (src, hb, cfg, S set by run_where).
run_standard() {
  # state B: a hard-linked copy of A, mutated (gen.mjs mutate replaces files by rename, so A is untouched)
  mkdir -p "$BD/trees/A" "$BD/trees/B"
  cp -al "$src/." "$BD/trees/B/"
  node "$BENCH/gen.mjs" mutate "$BD/trees/B" --seed $((SEED + 1)) --modify "$PCT_MOD" --delete "$PCT_DEL" --add "$PCT_ADD" >"$WOUT/mutate.json"
  # state M: one top-level folder renamed
  node "$BENCH/gen.mjs" move "$src" --seed "$SEED" --dry-run >"$WOUT/move.json"
  node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1]));process.stdout.write(m.from)' "$WOUT/move.json" >"$BD/move.from"
  node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1]));process.stdout.write(m.to)' "$WOUT/move.json" >"$BD/move.to"
  sync

  local A="$S A" SB="$S B" SM="$S M"
  local mirror="$BD/mirror" snap="$BD/snap" cpd="$BD/cp" hb_ok=0
  local HB="node $(q "$HB_JS") $(q "$cfg") --quiet"
  local reset="rm -rf $(q "$hb") && cp -a $(q "$hb.base") $(q "$hb")"
  local RS="rsync -a --delete $(q "$src/") $(q "$mirror/")"
  local SN="rsync -a --delete --link-dest=../snap.0 $(q "$src/") $(q "$snap/snap.1/")"
  local clear="rm -rf $(q "$snap/snap.1")"

  # Each scenario's rows are timed in rounds (timed, above). The initial rows leave what the later
  # scenarios start from: hardback's last initial run is saved as hb.base, rsync's leaves the mirror.
  say "$W: initial"
  [ $NO_HB = 0 ] && row hb-initial initial hardback 0 "rm -rf $(q "$hb") && $A && sync" "$HB"
  row rs-initial initial "rsync -a --delete" 0 "rm -rf $(q "$mirror") && $A && sync" "$RS"
  row cp-initial initial "cp -a" 0 "rm -rf $(q "$cpd") && $A && sync" "cp -a $(q "$src") $(q "$cpd")"
  # rsync made as durable as a hardback run: its data flushed before it ends (a reference, not a target)
  row rsd-initial initial "durable rsync (rsync -a --delete && sync -f)" 0 "rm -rf $(q "$mirror") && $A && sync" "$RS && sync -f $(q "$mirror")"
  # the Node floors of a first run (bench/copy-floor.mjs): copy and hash on two threads; then also
  # flushed as hardback flushes (a sync -f per 4,096 files or 256 MiB, in the background) with increment 1's links; then also through
  # temp names, as hardback places its copies (references, not targets)
  local fl="$BD/floor" CF="node $(q "$BENCH/copy-floor.mjs") $(q "$src") $(q "$BD/floor")"
  local flclear="rm -rf $(q "$fl") $(q "$fl.inc") && $A && sync"
  row fl-copy initial "floor: node copy+sha256, 2 threads" 0 "$flclear" "$CF"
  row fl-durable initial "floor: node copy+sha256, durable, increment 1 linked" 0 "$flclear" "$CF --flush --link $(q "$fl.inc")"
  row fl-tmp initial "floor: the same, through temp names" 0 "$flclear" "$CF --flush --link $(q "$fl.inc") --via-tmp"
  # and with the records a backup keeps of each file (a journal, a manifest, increment.json's), made
  # the plainest way on both threads: what hardback's own bookkeeping is to be weighed against
  row fl-rec initial "floor: also the records of each file" 0 "rm -rf $(q "$fl") $(q "$fl.inc") $(q "$fl.rec") && $A && sync" "$CF --flush --link $(q "$fl.inc") --via-tmp --records $(q "$fl.rec")"
  timed
  rm -rf "$cpd" "$fl" "$fl.inc" "$fl.rec"
  eval "$A"
  if [ $NO_HB = 0 ] && [ "${ROW_OK[hb-initial]}" = 1 ]; then
    # What every later row starts from is a backup as it is after its second run: that run read the
    # manifest in full and left its index beside it (docs/format.md, manifest.index), which each run
    # after reads through. The first run after a first (or any whole) write is the row "1% change,
    # no index yet".
    eval "$HB" >/dev/null
    cp -a "$hb" "$hb.base"
    hb_ok=1
  fi
  [ "${ROW_OK[rs-initial]}" = 1 ] || rsync -a --delete "$src/" "$mirror/" || echo "  WARNING: rsync's mirror could not be made; its later rows will fail" >&2
  mkdir -p "$snap"
  rsync -a "$src/" "$snap/snap.0/"
  sync

  say "$W: no-change"
  row floor-find no-change "floor: find -printf" 1 "$A" "find $(q "$src") -printf '%s %T@\n' >/dev/null"
  row floor-walk no-change "floor: node readdir+lstat" 1 "$A" "node $(q "$BENCH/walk-floor.mjs") $(q "$src") --quiet"
  # the same walk with each lstat read from Node's fs binding, as hardback's scan reads it (a reference)
  row floor-walk-raw no-change "floor: node readdir + binding lstat" 1 "$A" "node $(q "$BENCH/walk-floor.mjs") $(q "$src") --quiet --binding"
  [ $hb_ok = 1 ] && row hb-nochange no-change hardback 1 "$A" "$HB"
  row rs-nochange no-change "rsync -a --delete" 1 "$A" "$RS"
  row snap-nochange no-change "rsnapshot (rsync --link-dest)" 0 "$clear && $A && sync" "$SN"
  timed

  say "$W: 1% change"
  [ $hb_ok = 1 ] && row hb-change "1% change" hardback 0 "$reset && $SB && sync" "$HB"
  [ $hb_ok = 1 ] && row hb-change-noindex "1% change" "hardback, no index yet (the first run after a whole write)" 0 "$reset && rm -f $(q "$hb/.hardback/manifest.index") && $SB && sync" "$HB"
  row rs-change "1% change" "rsync -a --delete" 0 "$A && $RS && $SB && sync" "$RS"
  row rsd-change "1% change" "durable rsync (rsync -a --delete && sync -f)" 0 "$A && $RS && $SB && sync" "$RS && sync -f $(q "$mirror")"
  row snap-change "1% change" "rsnapshot (rsync --link-dest)" 0 "$clear && $SB && sync" "$SN"
  timed

  say "$W: moved folder"
  [ $hb_ok = 1 ] && row hb-moved "moved folder" hardback 0 "$reset && $SM && sync" "$HB"
  row rs-moved "moved folder" "rsync -a --delete" 0 "$A && $RS && $SM && sync" "$RS"
  row snap-moved "moved folder" "rsnapshot (rsync --link-dest)" 0 "$clear && $SM && sync" "$SN"
  # what the moved folder costs to copy: the yardstick of the moved-folder target
  row cp-moved "moved folder" "cp -a of the moved folder" 0 "rm -rf $(q "$cpd") && $A && sync" "cp -a $(q "$src/$(cat "$BD/move.from")") $(q "$cpd")"
  timed

  eval "$A"
  rm -rf "$hb" "$mirror" "$snap" "$cpd"
  # hb.base (a backup of A) is kept for run_recreate; run_where removes it
}

# recreate: the latest state of a backup of A into a fresh folder, against cp -a of A.
run_recreate() {
  local A="$S A" rt="$BD/restored"
  eval "$A"
  say "$W: recreate"
  if [ ! -d "$hb.base" ]; then # the standard rows did not run (or their initial backup failed)
    rm -rf "$hb"
    node "$HB_JS" "$cfg" --quiet || { echo "  FAILED: the untimed backup for recreate" >&2; FAILS=$((FAILS + 1)); return; }
    mv "$hb" "$hb.base"
  fi
  row rc-hardback recreate hardback 0 "rm -rf $(q "$rt") && sync" \
    "node $(q "$TOOL_JS") $(q "$hb.base") recreate --to $(q "$rt") >/dev/null"
  row rc-cp recreate "cp -a" 0 "rm -rf $(q "$rt") && sync" "cp -a $(q "$src") $(q "$rt")"
  # a reference: cp -a made as durable as a restore (which flushes its files before it renames them)
  row rc-cpd recreate "durable cp -a (cp -a && sync -f)" 0 "rm -rf $(q "$rt") && sync" "cp -a $(q "$src") $(q "$rt") && sync -f $(q "$rt")"
  # the Node floor of a recreate (bench/copy-floor.mjs over the backup's mirror): read, sha256 and
  # write every file on two threads, then one flush, as a restore must to check each stored version
  row rc-floor recreate "floor: node copy+sha256 of the mirror, durable" 0 "rm -rf $(q "$rt") && sync" \
    "node $(q "$BENCH/copy-floor.mjs") $(q "$hb.base/mirror") $(q "$rt") --flush-at-end"
  timed
  if [ "${ROW_OK[rc-hardback]}" = 1 ]; then # untimed: is what recreate makes the source?
    rm -rf "$rt"
    if node "$TOOL_JS" "$hb.base" recreate --to "$rt" >/dev/null && diff -r --no-dereference "$src" "$rt" >"$WOUT/recreate-diff.txt" 2>&1; then
      echo "identical" >"$WOUT/recreate-diff.txt"
    else
      echo "  WARNING: the recreated tree differs from the source, see $WOUT/recreate-diff.txt" >&2
    fi
  fi
  rm -rf "$rt"
}

# ---- search: backup-tool search over a backup of S_INCS increments ------------------------------
# The backup is expensive to make (an initial run, then S_INCS-1 rounds of gen.mjs mutate + backup),
# so it is cached in SEARCH_DIR (on /dev/shm, outside the private mount that is removed at exit)
# and reused by later runs with the same workload and the same search options.
SEARCH_DIR=/dev/shm/hardback-bench-search

run_search() {
  W=search
  WOUT="$OUT/search"
  mkdir -p "$WOUT"
  local d=$SEARCH_DIR
  local key="files=$FILES dirs=$DIRS mix=$MIX seed=$SEED total_mib=$S_MIB increments=$S_INCS change=\"$S_CHANGE\""
  local src="$d/src" hb="$d/hb" cfg="$d/hardback.json"
  if [ $S_REBUILD = 0 ] && [ -f "$d/key.txt" ] && [ "$(<"$d/key.txt")" = "$key" ]; then
    say "search: reusing the cached backup in $d ($key, made $(stat -c %y "$d/key.txt" | cut -d. -f1))"
  else
    stale_unmount "$d"
    rm -rf "$d"
    mkdir -p "$d"
    local avail_kb
    avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
    [ $(((S_MIB * 1048576 * 3 + FILES * 9216) / 1024)) -lt "$avail_kb" ] || die "the search backup does not fit in memory: use a smaller --search-mib or --files"
    say "search: building a backup of $S_INCS increments of $FILES files ($S_MIB MiB) in $d (cached for later runs)"
    local t0=$SECONDS
    node "$BENCH/gen.mjs" gen "$src" --files "$FILES" --dirs "$DIRS" --seed "$SEED" --mix "$MIX" --total-mib "$S_MIB" >"$d/gen.json"
    printf '{"src": %s, "dist": %s}\n' "$(node -p 'JSON.stringify(process.argv[1])' "$src")" "$(node -p 'JSON.stringify(process.argv[1])' "$hb")" >"$cfg"
    node "$HB_JS" "$cfg" --quiet || die "search: the initial backup failed (node $HB_JS $cfg)"
    local i
    for ((i = 1; i < S_INCS; i++)); do
      node "$BENCH/gen.mjs" mutate "$src" --seed $((SEED * 1000 + i)) --modify "$S_MOD" --delete "$S_DEL" --add "$S_ADD" >>"$d/mutate.jsonl"
      node "$HB_JS" "$cfg" --quiet || die "search: backup $((i + 1)) of $S_INCS failed (node $HB_JS $cfg)"
      if [ $((i % 10)) = 0 ]; then echo "  $((i + 1)) increments, $((SECONDS - t0)) s" >&2; fi
    done
    echo "built in $((SECONDS - t0)) s with $HB_JS ($(sha256sum "$HB_JS" | cut -c1-12)) at $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$d/built.txt"
    echo "$key" >"$d/key.txt"
  fi
  # One run of this build over the unchanged source (no increment is made): the backup then has this
  # build's index of its manifest (.hardback/manifest.index), as any backup has after a run. A cache
  # made by an older build may hold an index of an older format, which this build would not use.
  node "$HB_JS" "$cfg" --quiet || die "search: the run that refreshes the cached backup failed (node $HB_JS $cfg)"
  cp "$d/gen.json" "$WOUT/gen.json"
  cp "$d/built.txt" "$WOUT/built.txt"
  # the top-level folder with the most files ("Taxes" at seed 1) for the path mask
  local top
  top=$(node -e 'const g=JSON.parse(require("fs").readFileSync(process.argv[1]));const t=[...g.top_level].sort((a,b)=>b.files-a.files)[0];process.stdout.write(t.name)' "$d/gen.json")
  local TOOL="node $(q "$TOOL_JS") $(q "$hb") search"
  # untimed: what the backup holds and what each mask finds (and that search works at all)
  local m
  for m in '*.md' "$top/**"; do
    if ! node "$TOOL_JS" "$hb" search --mask "$m" --json >"$WOUT/search-out.json" 2>"$WOUT/search-err.txt"; then
      echo "  search --mask '$m' --json exited non-zero: $(head -c 300 "$WOUT/search-err.txt")" >&2
    fi
    node -e 'const fs=require("fs");let n="?",v="?";try{const j=JSON.parse(fs.readFileSync(process.argv[1]));n=j.results.length;v=j.results.reduce((a,r)=>a+(r.versions?r.versions.length:0),0)}catch(e){};fs.appendFileSync(process.argv[2],JSON.stringify({mask:process.argv[3],paths:n,versions:v})+"\n")' "$WOUT/search-out.json" "$WOUT/matches.jsonl" "$m"
  done
  rm -f "$WOUT/search-out.json"
  node -e 'const fs=require("fs");const p=require("path");const d=process.argv[1];const incs=fs.readdirSync(p.join(d,"increments")).length;let stored=0;const walk=(x)=>{for(const e of fs.readdirSync(x,{withFileTypes:true})){if(e.isDirectory())walk(p.join(x,e.name));else stored++}};for(const i of fs.readdirSync(p.join(d,"increments")))for(const s of ["files","deleted"]){const q=p.join(d,"increments",i,s);if(fs.existsSync(q))walk(q)};process.stdout.write(JSON.stringify({increments:incs,stored_versions:stored})+"\n")' "$hb" >"$WOUT/backup.json"
  say "search: $(<"$WOUT/backup.json")"

  row search-md search "hardback --mask '*.md'" 1 "" "$TOOL --mask '*.md' >/dev/null"
  row search-md-json search "hardback --mask '*.md' --json" 1 "" "$TOOL --mask '*.md' --json >/dev/null"
  row search-top search "hardback --mask '$top/**'" 1 "" "$TOOL --mask $(q "$top/**") >/dev/null"
  row search-top-json search "hardback --mask '$top/**' --json" 1 "" "$TOOL --mask $(q "$top/**") --json >/dev/null"
  row search-find search "anchor: find increments -name '*.md' | wc -l" 1 "" "find $(q "$hb/increments") -name '*.md' | wc -l"
  timed
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "node: $(node --version)"
  echo "build: $HB_JS $(sha256sum "$HB_JS" 2>/dev/null | cut -c1-12), $TOOL_JS $(sha256sum "$TOOL_JS" 2>/dev/null | cut -c1-12)"
  echo "rsync: $(rsync --version | head -1)"
  echo "hyperfine: $(hyperfine --version)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
  echo "mem: $(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "timing: rounds"
  echo "NODE_EXTRA_CA_CERTS: $CA_ENV"
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && command -v hyperfine >/dev/null; then
    { hyperfine -N -w 3 -r 20 --export-json "$OUT/node-start.json" 'node -e 0' 'env -u NODE_EXTRA_CA_CERTS node -e 0' >>"$LOG" 2>&1 &&
      node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1])).results;console.log(`node start: ${(r[0].median*1000).toFixed(0)} ms with NODE_EXTRA_CA_CERTS, ${(r[1].median*1000).toFixed(0)} ms without (medians of 20)`)' "$OUT/node-start.json"; } ||
      echo "node start: ? (not measured, see $LOG)"
  fi
  echo "workload: files=$FILES dirs=$DIRS mix=$MIX seed=$SEED total_mib=${TOTAL_MIB:-auto} runs=$RUNS change=\"$CHANGE\""
  echo "rows: $([ $DO_STD = 1 ] && echo -n 'standard ')$([ $DO_RECREATE = 1 ] && echo -n 'recreate ')$([ $DO_SEARCH = 1 ] && echo -n "search(increments=$S_INCS total_mib=$S_MIB change=\"$S_CHANGE\")")"
} >"$OUT/env.txt"
[ $KEEP_CA_ENV = 1 ] || unset NODE_EXTRA_CA_CERTS

echo "results: $OUT (hyperfine output in $LOG)" >&2
if [ $DO_STD = 1 ] || [ $DO_RECREATE = 1 ]; then
  for w in "${WHERES[@]}"; do
    if [ "$w" = shm ]; then setup_shm; else setup_ext4; fi
    run_where "$w"
    teardown "$w"
  done
fi
if [ $DO_SEARCH = 1 ]; then run_search; fi

node "$BENCH/report.mjs" "$OUT" | tee "$OUT/table.txt"
echo "results: $OUT (table.txt, results.md, per-row hyperfine JSON and GNU time output)" >&2
[ $FAILS = 0 ] || die "$FAILS row(s) failed, see $LOG"
