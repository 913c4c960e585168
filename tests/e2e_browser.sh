#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The web view in a real browser: headless Chromium (Debian's package)
# loads / from serve while two producers replay, one the bundled sample
# (its host row, 192.168.72.14: 460 packets, 0.123913) to its end, the other
# a capture whose receiver stays stalled (172.31.136.85 -> 195.81.202.68:80),
# held open on stdin so its run is still going, and a third whose capture
# time is beyond what a JavaScript Date holds (the sample shifted by 9e12 s
# with editcap: 9e18 us), which must not stop the others being drawn. The
# rendered DOM must show the stalled receiver and the host row; a
# screenshot is kept beside the programs (build/e2e_browser.png) for CI's
# artifacts.
source "$(dirname "$0")/lib.sh"
browser=$(command -v chromium || command -v chromium-browser) ||
    { echo "SKIP: chromium not installed (scripts/setup.sh)"; exit 77; }

sample_port=$(free_port)
stalled_port=$(free_port)
future_port=$(free_port)
http_port=$(free_port)
url="http://127.0.0.1:$http_port/"
screenshot=$(dirname "$SUBSCRIBER")/e2e_browser.png

"$SUBSCRIBER" --connect "tcp://127.0.0.1:$sample_port" --connect "tcp://127.0.0.1:$stalled_port" \
    --connect "tcp://127.0.0.1:$future_port" serve --listen "127.0.0.1:$http_port" 2>"$work/serve.err" &
serve=$!
pids+=($serve)
check "serve listens" wait_listening "$http_port" 10
(cat "$DATA/chrissanders-packets__tcp_zerowindowdead.pcapng" && sleep 120) |
    "$PRODUCER" -r - --publish "tcp://127.0.0.1:$stalled_port" --wait-subscribers 1 \
        --wait-timeout 10 --interval 1 --min-pkts 2 --id stalled-link 2>"$work/stalled.err" &
pids+=($!)
editcap -F pcapng -t 9000000000000 "$DATA/zeek__206_example_b.pcap" "$work/future.pcapng" \
    >/dev/null 2>&1
check "a capture of the year 287,000 made (editcap)" has_size "$work/future.pcapng" 1000
"$PRODUCER" -r "$work/future.pcapng" --publish "tcp://127.0.0.1:$future_port" --wait-subscribers 1 \
    --wait-timeout 10 --min-pkts 2 --id future 2>"$work/future.err" &
pids+=($!)
"$PRODUCER" -r "$DATA/zeek__206_example_b.pcap" --publish "tcp://127.0.0.1:$sample_port" \
    --wait-subscribers 1 --wait-timeout 10 --min-pkts 2 --id sample 2>"$work/sample.err"
check "sample producer exit 0" [ $? -eq 0 ]

# api_has PATTERN: /api/report matches the extended regex.
api_has() { curl -sf "${url}api/report" | grep -qE "$1"; }
check "the stalled receiver reached serve" wait_for 10 api_has '"srcIp":"172\.31\.136\.85"'
check "the sample's final report reached serve" wait_for 10 api_has '"producerId":"sample".*"final":true'
check "the future's report reached serve" wait_for 10 api_has '"producerId":"future".*"timeUs":"9'

# Chromium runs as root in CI containers: no sandbox there. Virtual time
# lets the page's first poll and drawing finish before the DOM is dumped.
chrome() {
    timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --user-data-dir="$work/chrome" --window-size=1400,1000 \
        --virtual-time-budget=5000 "$@" 2>>"$work/chrome.err"
}
chrome --dump-dom "$url" >"$work/dom.html"
check "chromium rendered the page" grep -q '<h1>tcpwin</h1>' "$work/dom.html"
check "the DOM shows the stalled receiver" grep -qE \
    '<td>stalled-link</td><td>172\.31\.136\.85 \(port 38760\)</td><td>195\.81\.202\.68:80</td>' \
    "$work/dom.html"
check "the DOM shows the sample's host row, legacy columns included" grep -qE \
    '<td>sample</td><td>192\.168\.72\.14</td><td>460</td><td>0\.123913</td>' "$work/dom.html"
check "the DOM lists the three producers" grep -qE \
    '3 producer\(s\), updated' "$work/dom.html"
check "the future's capture time is shown as a number, not a date" grep -qE \
    '<td>future</td><td>[0-9]+</td><td>[^<]*</td><td>9[0-9]{18} µs \(no date\)</td>' "$work/dom.html"
check "the chart was drawn (uPlot)" grep -q 'class="uplot' "$work/dom.html"
check "no error shown" bash -c "! grep -qE 'cannot (update|draw)' '$work/dom.html'"

rm -f "$screenshot"
chrome --screenshot="$screenshot" "$url" >/dev/null
check "screenshot kept: $screenshot" has_size "$screenshot" 10000
check "serve still running" kill -0 "$serve"
summary
