# spark's container image: a static binary (no cgo: the SQLite engine is
# pure Go) on a small base with CA certificates, run as an unprivileged
# user, its state under the /data volume.
#
#   docker build -t spark .
#   docker run -p 7055:7055 -v spark-data:/data -e GS_COOKIE=... spark

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X github.com/sparkgw/spark/internal/version.Version=${VERSION}" \
      -o /out/spark ./cmd/spark

FROM alpine:3.22
# ca-certificates: the upstreams are HTTPS. wget (busybox) runs the
# health check.
RUN apk add --no-cache ca-certificates \
 && addgroup -S -g 10001 spark \
 && adduser -S -D -H -u 10001 -G spark -h /data spark \
 && mkdir -p /data && chown spark:spark /data && chmod 700 /data
COPY --from=build /out/spark /usr/local/bin/spark
USER spark:spark
ENV DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=7055 \
    LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 7055
# /healthz: the process is up (it stays 200 while draining, so a draining
# replica is not restarted); load balancers use /readyz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD wget -q -O /dev/null "http://127.0.0.1:${PORT}/healthz" || exit 1
# spark drains on SIGTERM for SHUTDOWN_TIMEOUT (30s by default): give it
# longer before SIGKILL (docker stop -t 40, stop_grace_period in compose).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/spark"]
CMD ["serve"]
