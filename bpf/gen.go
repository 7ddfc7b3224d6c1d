package bpf

// The objects and Go bindings (lb_bpfel.go, lb_bpfel.o) are generated from
// c/lb.c and committed, so a build needs only Go. Regenerate with
// `make generate` (needs clang); hack/check-bpf-generated.sh checks that
// the committed output matches the sources.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -go-package bpf -type svc_key -type svc_val -type backend_val -type slot_key -type stats_val -type sock_val lb c/lb.c -- -I./c
