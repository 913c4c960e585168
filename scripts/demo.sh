#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# demo.sh: installs what is missing, builds, then replays the bundled sample
# capture (a real HTTP download whose receiver advertised a zero window)
# through tcpwin-producer while tcpwin-subscriber prints the reports in the
# legacy tcpWinSink format. No flags needed; any given are passed to the
# producer (e.g. --min-pkts 1, or -r another.pcap).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" "$root/build" >/dev/null
endpoint=tcp://127.0.0.1:${TCPWIN_DEMO_PORT:-5556}
capture=$root/tests/data/zeek__206_example_b.pcap

"$root/build/tcpwin-subscriber" --connect "$endpoint" print --until-final &
subscriber=$!
trap 'kill $subscriber 2>/dev/null || true' EXIT
"$root/build/tcpwin-producer" -r "$capture" --publish "$endpoint" --wait-subscribers 1 "$@"
wait "$subscriber"
trap - EXIT
