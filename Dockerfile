# kemtcp: multi-stage build.
#
#   docker build -t kemtcp .
#   docker run --rm -p 5000:5000 kemtcp                     # kem-server on 0.0.0.0:5000
#   docker run --rm -it --network host kemtcp kem-client    # a client
#
# The build stage builds the pinned liboqs with the project's own
# `make liboqs` (CMake + Ninja), then kem-server and kem-client with the liboqs
# backend compiled in, linked fully statically. The runtime image holds only
# those binaries and runs them as an unprivileged user.

# Keep these in step with the Makefile (a test checks it).
ARG LIBOQS_REPO=https://github.com/open-quantum-safe/liboqs.git
ARG LIBOQS_VERSION=0.16.0

FROM golang:1.26-bookworm AS build
ARG LIBOQS_REPO
ARG LIBOQS_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake ninja-build \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# liboqs first: it changes least, so its layer is cached longest.
COPY Makefile ./
COPY scripts/build-liboqs.sh scripts/
RUN make liboqs LIBOQS_REPO="${LIBOQS_REPO}" LIBOQS_VERSION="${LIBOQS_VERSION}" LIBOQS_PREFIX=/opt/liboqs LIBOQS_ASAN=0

COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make commands STATIC=1 LIBOQS_PREFIX=/opt/liboqs BIN=/out \
 && /out/kem-server -h | grep -q 'backend: liboqs' \
 && echo 'kemtcp:x:10001:10001:kemtcp:/home/kemtcp:/sbin/nologin' > /out/passwd \
 && echo 'kemtcp:x:10001:' > /out/group \
 && mkdir -p /out/home/kemtcp/.config/kemtcp

FROM scratch
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/kem-* /usr/local/bin/
# A home the user may write to: kem-client keeps its known hosts in
# $HOME/.config/kemtcp (mount a volume there to keep them between runs).
COPY --from=build --chown=10001:10001 /out/home/kemtcp /home/kemtcp
ENV PATH=/usr/local/bin HOME=/home/kemtcp
USER 10001:10001
EXPOSE 5000
CMD ["kem-server", "-addr", "0.0.0.0:5000"]
