#!/usr/bin/env bash
# Checks that the committed bpf2go output (bpf/*_bpfel.go, bpf/*_bpfel.o)
# matches bpf/c/*.c: regenerates into a temporary directory with the
# exact command of bpf/gen.go's //go:generate line and compares. Skips
# (exit 0) when clang is not installed, so a Go-only build host passes;
# CI hosts with clang catch stale or hand-edited output.
#
# The object is byte-for-byte reproducible only with the clang that made
# it (Debian bookworm's clang 14, below); with another major version a
# differing .o is reported as a warning and only the Go bindings must
# match.
set -euo pipefail
cd "$(dirname "$0")/.."

GENERATED_WITH_CLANG=14

if ! command -v clang >/dev/null; then
	echo "check-bpf-generated: clang not installed; skipping" >&2
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

line=$(grep -m1 '^//go:generate ' bpf/gen.go | sed 's|^//go:generate ||')
# bpf2go takes its flags before the positional arguments: add ours first.
cmd=${line/bpf2go /bpf2go -output-dir $tmp }
(cd bpf && eval "$cmd") >/dev/null

major=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
status=0
for f in "$tmp"/*; do
	name=$(basename "$f")
	cmp -s "$f" "bpf/$name" && continue
	if [[ $name == *.o && $major != "$GENERATED_WITH_CLANG" ]]; then
		echo "check-bpf-generated: warning: bpf/$name differs, but clang $major is not clang $GENERATED_WITH_CLANG that made it" >&2
		continue
	fi
	echo "check-bpf-generated: bpf/$name differs from what bpf/c generates; run 'make generate'" >&2
	status=1
done
exit $status
