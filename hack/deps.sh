#!/usr/bin/env bash
# Installs what `make test` and `make demo` need on a fresh Debian host.
# Idempotent and quiet when everything is present.
set -euo pipefail

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
# nft (inspecting rules in tests), iptables-restore (the kube-proxy-style
# baseline of `bench services`), conntrack (tests), dig (demo, DNS tests).
command -v nft >/dev/null || need+=(nftables)
command -v iptables-restore >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
command -v dig >/dev/null || need+=(dnsutils)
# clang, llvm, libbpf-dev: make test checks that the committed eBPF objects
# match bpf/c (hack/check-bpf-generated.sh).
command -v clang >/dev/null || need+=(clang)
command -v llvm-strip >/dev/null || need+=(llvm)
[[ -f /usr/include/bpf/bpf_helpers.h ]] || need+=(libbpf-dev)
# The peers the benchmarks compare with: dnsperf, nginx, wrk, iperf3.
if [[ ${SWITCHYARD_DEPS_BENCH:-0} == 1 ]]; then
	command -v dnsperf >/dev/null || need+=(dnsperf)
	command -v nginx >/dev/null || need+=(nginx-light)
	command -v wrk >/dev/null || need+=(wrk)
	command -v iperf3 >/dev/null || need+=(iperf3)
fi
command -v kubectl >/dev/null || echo "deps: kubectl not found; the kubectl tests will skip" >&2

if ((${#need[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: missing ${need[*]}; run as root to install" >&2
		exit 1
	fi
	echo "deps: installing ${need[*]}"
	apt-get update -qq
	# policy-rc.d: packages such as nginx must not start services on the
	# host while they are installed.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "deps: Go is required (see README)" >&2; exit 1; }
