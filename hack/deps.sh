#!/usr/bin/env bash
# Installs what `make test` and `make demo` need on a fresh Debian host.
# Idempotent and quiet when everything is present.
set -euo pipefail

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v kubectl >/dev/null || echo "deps: kubectl not found; the kubectl tests will skip" >&2

if ((${#need[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: missing ${need[*]}; run as root to install" >&2
		exit 1
	fi
	echo "deps: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "deps: Go is required (see README)" >&2; exit 1; }
