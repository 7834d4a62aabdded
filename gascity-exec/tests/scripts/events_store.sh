#!/bin/sh
# An events script written to the reference's protocol (exec events), in POSIX sh
# with jq. Events live in $EVENTS_FILE, one JSON object a line.
set -eu
f="$EVENTS_FILE"
op="${1:-}"
case "$op" in
  ensure-running) echo x >> "$f.ensured" ;;
  record)
    event=$(cat)
    (
      flock 9
      last=0
      [ -s "$f" ] && last=$(tail -n 1 "$f" | jq -r .seq)
      printf '%s\n' "$event" | jq -c --argjson s "$((last + 1))" '.seq = $s' >> "$f"
    ) 9>"$f.lock"
    ;;
  list)
    filter=$(cat)
    if [ -s "$f" ]; then
      jq -c -s --argjson flt "$filter" '[.[] | select(.seq > $flt.AfterSeq)
        | select($flt.Type == "" or .type == $flt.Type)
        | select($flt.Actor == "" or .actor == $flt.Actor)
        | select(($flt.Since | startswith("0001")) or .ts >= $flt.Since)]' "$f"
    else
      echo '[]'
    fi
    ;;
  latest-seq)
    if [ -s "$f" ]; then tail -n 1 "$f" | jq -r .seq; else echo 0; fi ;;
  watch)
    after="$2"
    while :; do
      if [ -s "$f" ]; then
        out=$(jq -c --argjson a "$after" 'select(.seq > $a)' "$f")
        if [ -n "$out" ]; then
          printf '%s\n' "$out"
          after=$(printf '%s\n' "$out" | tail -n 1 | jq -r .seq)
        fi
      fi
      sleep 0.1
    done ;;
  *) exit 2 ;;
esac
