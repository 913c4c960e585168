# SPDX-License-Identifier: MPL-2.0
# Prometheus for the tcpwin stack, from Debian's package (no registry serves
# an image here): scrapes `tcpwin-subscriber serve` (TCPWIN_SERVE_LISTEN) every
# 5 s. Build from the repository root:
#   DOCKER_BUILDKIT=0 docker build --network=host -f docker/prometheus.Dockerfile -t tcpwin-prometheus .
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update --error-on=any \
 && apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log \
 && mkdir -p /prometheus && chown prometheus:prometheus /prometheus
COPY docker/tcpwin-prometheus-run /usr/local/bin/
RUN chmod 0755 /usr/local/bin/tcpwin-prometheus-run
USER prometheus
VOLUME /prometheus
CMD ["tcpwin-prometheus-run"]
