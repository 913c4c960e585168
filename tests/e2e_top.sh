#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# tcpwin-subscriber top in a real terminal: a detached tmux session of a
# fixed size runs it, send-keys presses its keys and capture-pane reads the
# screen. Replays of two captures (two producers, two sections): the host
# rows with their legacy columns, the order and the heading of each sort
# key, a resize, pause, and q ending it with status 0. Then, as root, a live
# loopback connection whose receiver stops reading: top lists the stalled
# receiver -> its sender while it is stalled, "stalled for" growing.
source "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || { echo "FAIL: tmux is missing (scripts/setup.sh)" && exit 1; }

# A tmux server of our own (its socket in $work), ended before cleanup:
# it is no child of ours, so stop_all would not find it.
tmux_socket=$work/tmux.socket
t() { tmux -S "$tmux_socket" -f /dev/null "$@"; }
trap 't kill-server 2>/dev/null; cleanup' EXIT

# start_top NAME COLS ROWS ENDPOINT...: top in session NAME, stderr on its
# terminal too; its exit status goes to $work/NAME.rc, and the session
# stays to show what top wrote after it gave the screen back.
start_top() {
    local name=$1 cols=$2 rows=$3 args=() ep
    shift 3
    for ep in "$@"; do args+=(--connect "$ep"); done
    t new-session -d -s "$name" -x "$cols" -y "$rows" \
        "$(printf '%q ' "$SUBSCRIBER" "${args[@]}" top); echo \$? >$work/$name.rc; sleep 300"
}

# screen NAME: the screen as it is now. on_screen NAME REGEX: a line matches.
screen() { t capture-pane -p -t "$1" 2>/dev/null; }
on_screen() { screen "$1" | grep -Eq -- "$2"; }
# row NAME REGEX: the number of the first screen line matching, or 0.
row() { screen "$1" | grep -nE -- "$2" | head -1 | cut -d: -f1 | grep . || echo 0; }
# above NAME REGEX1 REGEX2: both on screen, the first one higher.
above() {
    local a b
    a=$(row "$1" "$2") b=$(row "$1" "$3")
    [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ "$a" -lt "$b" ]
}
# show NAME: the screen, for the log of a failed check.
show() { echo "--- screen of $1:" && screen "$1"; }

# --- Replays: two producers, one view ----------------------------------
p1=$(free_port)
p2=$(free_port)
start_top replay 150 40 "tcp://127.0.0.1:$p1" "tcp://127.0.0.1:$p2"
check "top draws its screen on a terminal" wait_for 10 on_screen replay '^tcpwin top  sort: stall time' ||
    show replay
"$PRODUCER" -r "$DATA/zeek__206_example_b.pcap" --min-pkts 2 --id replay-zeek \
    --publish "tcp://127.0.0.1:$p1" --wait-subscribers 1 2>"$work/p1.err"
check "producer 1 replays" [ $? -eq 0 ] || cat "$work/p1.err"
# ndpi's capture has three hosts at --threshold 100: enough for an order.
"$PRODUCER" -r "$DATA/ndpi__mining.pcapng" --min-pkts 1 --threshold 100 --id replay-ndpi \
    --publish "tcp://127.0.0.1:$p2" --wait-subscribers 1 2>"$work/p2.err"
check "producer 2 replays" [ $? -eq 0 ] || cat "$work/p2.err"

# The legacy table of this capture has 192.168.72.14 460 0.123913.
check "the host row, legacy columns as the legacy table" \
    wait_for 10 on_screen replay '^  192\.168\.72\.14 +460 +0\.123913 .* 65\.54\.95\.206:80$' || show replay
check "a section per producer, final reports" \
    wait_for 5 on_screen replay '^producer replay-ndpi  report .* UTC \(final\)'
check "... both of them" on_screen replay '^producer replay-zeek  report 2011-01-12 07:33:46 UTC \(final\)'
check "run counters: reports, producers seen" on_screen replay '^reports [0-9]+  last .* producers seen 2 '
check "no receiver stalled at the end of a replay" on_screen replay '^  \(no receiver stalled\)'
# Our own log goes on the screen, not over it.
check "the log line of a producer gone, under the counters" \
    wait_for 5 on_screen replay '^log \([0-9]+\): tcpwin-subscriber: disconnected from tcp://127' ||
    show replay

# Stall time ties (0 in every row today), so the ratio orders them.
check "sort by stall time: [STALL TIME], ties by ratio" \
    above replay '^  178\.32\.196\.217 ' '^  185\.71\.66\.39 '
check "... and its heading" on_screen replay '\[STALL TIME\]'
t send-keys -t replay 4
check "key 4: sort by address, title and heading" wait_for 5 on_screen replay '^tcpwin top  sort: address'
check "... [HOST] heading" on_screen replay '^  \[HOST\] '
check "... and the order changed" above replay '^  147\.229\.13\.222 ' '^  178\.32\.196\.217 ' ||
    show replay
check "... 185.71.66.39 after 178.32.196.217" above replay '^  178\.32\.196\.217 ' '^  185\.71\.66\.39 '
t send-keys -t replay s
check "s: the next order (stall time again)" wait_for 5 on_screen replay 'sort: stall time'
t send-keys -t replay S
check "S: the previous one (address)" wait_for 5 on_screen replay 'sort: address'
t send-keys -t replay 3
check "key 3: zero-window adverts" wait_for 5 on_screen replay '\[ZERO-WIN\]'

t send-keys -t replay p
check "p pauses" wait_for 5 on_screen replay 'PAUSED \(0 held\)'
t send-keys -t replay p
check "p again resumes" wait_for 5 eval '! on_screen replay PAUSED'

# A smaller terminal: the layout is done again for it (one section fits).
t resize-window -t replay -x 70 -y 12
check "resize: laid out again for 70x12" wait_for 5 on_screen replay 'shown 1 of 2' || show replay
# Cut at the edge, not wrapped: the heading's first columns are there, its
# last one (past column 90) is on no line.
check "... lines cut at the edge" on_screen replay '^  HOST +PKTS +RATIO +\[ZERO-WIN\]'
check "... not wrapped" eval '! on_screen replay "WORST PEER"'
t resize-window -t replay -x 150 -y 40
check "... and back to two sections" wait_for 5 on_screen replay 'shown 2 of 2'

t send-keys -t replay q
check "q quits with status 0" wait_for 5 eval '[ "$(cat "$work/replay.rc" 2>/dev/null)" = 0 ]' ||
    show replay
check "... and writes its log lines to the terminal it gave back" \
    on_screen replay '^tcpwin-subscriber: disconnected from tcp://127' || show replay

# SIGTERM: the screen is given back (the terminal's own screen returns, so
# the view's title is gone) and the status is 0.
start_top term 100 20 "tcp://127.0.0.1:$p1"
check "SIGTERM: top runs" wait_for 10 on_screen term '^tcpwin top ' || show term
shell=$(t list-panes -t term -F '#{pane_pid}')
top_pid=$(ps -o pid= --ppid "$shell" | head -1 | tr -d ' ')
check "... its pid" [ -n "$top_pid" ]
kill -TERM "$top_pid"
check "... exits 0" wait_for 5 eval '[ "$(cat "$work/term.rc" 2>/dev/null)" = 0 ]'
check "... and gives the terminal back" eval '! on_screen term "^tcpwin top "' || show term

# Not on a terminal: refused with a hint, status 2.
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$p1" top </dev/null >"$work/notty.out" 2>"$work/notty.err"
check "top without a terminal: exit 2" [ $? -eq 2 ]
check "... saying why" grep -q 'needs a terminal' "$work/notty.err"

# --- Live: a receiver stalled right now ---------------------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: the live part (capture on lo) needs root"
    summary
    exit
fi
port=$(free_port)
zport=$(free_port)
start_top live 130 30 "tcp://127.0.0.1:$zport"
"$PRODUCER" -i lo -f "tcp port $port" --interval 1 --min-pkts 1 --id live-lo \
    --publish "tcp://127.0.0.1:$zport" 2>"$work/producer.err" &
producer=$!
pids+=($producer)
check "live: reports every second" wait_for 10 on_screen live '^producer live-lo ' || show live

# As in e2e_live.sh: nc writes into a FIFO nobody drains, so its socket
# buffer fills and the kernel advertises window 0 to the sender.
mkfifo "$work/undrained"
exec 7<>"$work/undrained"
nc -l 127.0.0.1 "$port" >"$work/undrained" 2>"$work/receiver.err" </dev/null &
receiver=$!
pids+=($receiver)
check "the receiver listens" wait_listening "$port" 10
nc 127.0.0.1 "$port" </dev/zero >/dev/null 2>"$work/sender.err" &
sender=$!
pids+=($sender)

stalled="^  127\\.0\\.0\\.1:$port -> 127\\.0\\.0\\.1:[0-9]+ "
check "the stalled receiver -> its sender is listed" wait_for 20 on_screen live "$stalled" ||
    show live
check "... while it is stalled (the receiver still runs)" kill -0 "$receiver"
# stalled_for_at_least S: the row's "stalled for" shows S seconds or more.
stalled_for_at_least() {
    local shown
    shown=$(screen live | grep -E -- "$stalled" | awk '{print $4}')
    case $shown in
    *m[0-9]*s | *h*m | *d*h) return 0 ;;
    *ms | "" | -) return 1 ;;
    *s) [ "${shown%%.*}" -ge "$1" ] ;;
    *) return 1 ;;
    esac
}
check "... stalled for grows with each report (>= 3 s)" wait_for 15 stalled_for_at_least 3 ||
    show live
check "... stalled now counted" on_screen live '^  packets [0-9]+  drops [0-9]+  stalled now [1-9]'
screen live >"$work/live.screen"
t send-keys -t live 3
check "live: key 3 sorts by zero-window adverts" wait_for 5 on_screen live '\[ZERO-WIN\]'
echo "--- top during a real stall (130x30):"
sed -e '/^$/d' "$work/live.screen"
echo "---"
t send-keys -t live q
check "live: q quits with status 0" wait_for 5 eval '[ "$(cat "$work/live.rc" 2>/dev/null)" = 0 ]'

kill "$receiver"
wait "$receiver" 2>/dev/null
exec 7<&-
wait_pid "$sender" 10 >/dev/null 2>&1
kill -INT "$producer"
wait_pid "$producer" 10
check "the producer exits 0" [ $? -eq 0 ]
summary
