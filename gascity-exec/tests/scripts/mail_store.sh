#!/bin/sh
# A mail script written to the reference's protocol (exec mail), in POSIX sh with jq.
# Messages live in $MAIL_FILE as one JSON object, changed under an flock.
set -eu
f="$MAIL_FILE"
op="${1:-}"
arg="${2:-}"
now=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
case "$op" in
  ensure-running) exit 0 ;;
  send|reply|inbox|check|all|get|read|mark-read|mark-unread|archive|delete|thread|count) ;;
  *) exit 2 ;;
esac
letter='{}'
case "$op" in send|reply) letter=$(cat) ;; esac
exec 9>"$f.lock"
flock 9
[ -s "$f" ] || echo '{"next":1,"messages":{}}' > "$f"
pub='del(.archived, .n)'
need() {
  if [ "$(jq --arg id "$arg" '.messages | has($id)' "$f")" != true ]; then
    echo "message $arg not found" >&2
    exit 1
  fi
}
save() { jq "$@" "$f" > "$f.tmp" && mv "$f.tmp" "$f"; }
case "$op" in
  send|reply)
    to="$arg"; thread=""; reply_to=""
    if [ "$op" = reply ]; then
      need
      to=$(jq -r --arg id "$arg" '.messages[$id].from' "$f")
      thread=$(jq -r --arg id "$arg" '.messages[$id].thread_id' "$f")
      reply_to="$arg"
    fi
    n=$(jq -r .next "$f")
    id="msg-$n"
    save --arg id "$id" --arg to "$to" --arg now "$now" --arg th "$thread" \
      --arg rt "$reply_to" --argjson l "$letter" --argjson n "$n" \
      '.next = $n + 1 | .messages[$id] = ({id: $id, from: $l.from, to: $to,
        subject: $l.subject, body: $l.body, created_at: $now, read: false,
        thread_id: (if $th == "" then $id else $th end), n: $n}
        + (if $rt == "" then {} else {reply_to: $rt} end))'
    jq -c --arg id "$id" ".messages[\$id] | $pub" "$f" ;;
  inbox|check)
    jq -c --arg to "$arg" "[.messages[] | select(.to == \$to and (.archived | not) and (.read | not))] | sort_by(.n) | map($pub)" "$f" ;;
  all)
    jq -c --arg to "$arg" "[.messages[] | select(.to == \$to and (.archived | not))] | sort_by(.n) | map($pub)" "$f" ;;
  get) need; jq -c --arg id "$arg" ".messages[\$id] | $pub" "$f" ;;
  read)
    need; save --arg id "$arg" '.messages[$id].read = true'
    jq -c --arg id "$arg" ".messages[\$id] | $pub" "$f" ;;
  mark-read) need; save --arg id "$arg" '.messages[$id].read = true' ;;
  mark-unread) need; save --arg id "$arg" '.messages[$id].read = false' ;;
  archive|delete)
    need
    if [ "$(jq --arg id "$arg" '.messages[$id].archived // false' "$f")" = true ]; then
      echo "message $arg already archived" >&2
      exit 1
    fi
    save --arg id "$arg" '.messages[$id].archived = true' ;;
  thread)
    jq -c --arg t "$arg" "[.messages[] | select(.thread_id == \$t)] | sort_by(.n) | map($pub)" "$f" ;;
  count)
    jq -c --arg to "$arg" '[.messages[] | select(.to == $to and (.archived | not))]
      | {total: length, unread: (map(select(.read | not)) | length)}' "$f" ;;
esac
