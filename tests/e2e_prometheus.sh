#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# serve scraped by a real Prometheus (Debian's package, on a free loopback
# port, scrape interval 1 s, storage in the scratch directory) while a
# producer replays the bundled sample: Prometheus' HTTP API must then give
# the replay's own figures (those `print --format json` got from the same
# replay) for tcpwin_packets_total and for a host series, and
# `promtool check metrics` must pass on a scraped page. A second run of the
# producer is a counter reset that serve counts as a restart.
source "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
    { echo "SKIP: prometheus not installed (scripts/setup.sh)"; exit 77; }

zmq_port=$(free_port)
http_port=$(free_port)
prom_port=$(free_port)
capture=$DATA/zeek__206_example_b.pcap

cat >"$work/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tcpwin
    static_configs:
      - targets: ['127.0.0.1:$http_port']
CONF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$zmq_port" serve --listen "127.0.0.1:$http_port" \
    2>"$work/serve.err" &
serve=$!
pids+=($serve)
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$zmq_port" print --format json --until-final \
    >"$work/replay.json" 2>"$work/print.err" &
printer=$!
pids+=($printer)

ready() { curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null; }
check "prometheus is ready" wait_for 30 ready || { tail -5 "$work/prometheus.log"; exit 1; }
check "serve listens" wait_listening "$http_port" 10

# promql QUERY: the value of the first sample of an instant query, or nothing.
promql() {
    curl -sf -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
        jq -r '.data.result[0].value[1] // empty'
}
# scraped_up: Prometheus scraped serve successfully at least once.
scraped_up() { [ "$(promql 'up{job="tcpwin"}')" = 1 ]; }
check "prometheus scrapes serve" wait_for 20 scraped_up

"$PRODUCER" -r "$capture" --publish "tcp://127.0.0.1:$zmq_port" --wait-subscribers 2 \
    --wait-timeout 10 --min-pkts 2 --id sample 2>"$work/producer.err"
check "producer exit 0" [ $? -eq 0 ]
check "print got the final report" wait_pid "$printer" 10

final=$(jq -c 'select(.final)' "$work/replay.json")
packets=$(jq -r '.counters.packets' <<<"$final")
host=$(jq -r '.hosts[0].ip' <<<"$final")
host_packets=$(jq -r '.hosts[0].pktTcpCnt' <<<"$final")
echo "replay: packets $packets, host $host pktTcpCnt $host_packets"
check "the sample's figures" [ "$packets" = 1556 -a "$host" = 192.168.72.14 -a "$host_packets" = 460 ]

# has_value QUERY WANT: the query gives WANT now.
has_value() { [ "$(promql "$1")" = "$2" ]; }
check "tcpwin_packets_total in Prometheus is the replay's" \
    wait_for 20 has_value 'tcpwin_packets_total{producer="sample"}' "$packets"
check "host series in Prometheus is the replay's" \
    wait_for 20 has_value "tcpwin_host_worst_flow_packets{producer=\"sample\",host=\"$host\"}" \
    "$host_packets"
check "the final report seen" wait_for 10 has_value 'tcpwin_report_final{producer="sample"}' 1
check "every report counted, no gap" \
    has_value 'tcpwin_report_sequence_gaps_total{producer="sample"}' 0
for query in 'tcpwin_packets_total' 'tcpwin_host_worst_flow_packets' 'tcpwin_report_age_seconds'; do
    echo "PromQL $query:" $(curl -sf -G "http://127.0.0.1:$prom_port/api/v1/query" \
        --data-urlencode "query=$query" | jq -c '[.data.result[] | [.metric, .value[1]]]')
done

# A restart of the producer (same id, a new run): a counter reset, never a
# mix of the two runs; serve counts the restart and every report of both.
"$PRODUCER" -r "$capture" --publish "tcp://127.0.0.1:$zmq_port" --wait-subscribers 1 \
    --wait-timeout 10 --min-pkts 2 --id sample 2>"$work/producer2.err"
check "second run: producer exit 0" [ $? -eq 0 ]
check "second run: the restart is counted" \
    wait_for 20 has_value 'tcpwin_producer_restarts_total{producer="sample"}' 1
check "second run: every report of both runs received" \
    has_value 'tcpwin_reports_received_total{producer="sample"}' 22
check "second run: tcpwin_packets_total is the new run's" \
    has_value 'tcpwin_packets_total{producer="sample"}' "$packets"

curl -sf "http://127.0.0.1:$http_port/metrics" >"$work/metrics.txt"
promtool check metrics <"$work/metrics.txt" >"$work/promtool.out" 2>&1
check "promtool check metrics passes" [ $? -eq 0 ]
cat "$work/promtool.out"
content_type=$(curl -sf -o /dev/null -w '%{content_type}' "http://127.0.0.1:$http_port/metrics")
check "Content-Type is Prometheus' 0.0.4 text" \
    [ "$content_type" = "text/plain; version=0.0.4; charset=utf-8" ]
check "serve still running" kill -0 "$serve"
summary
