// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * switchyard socket-level service load-balancer.
 *
 * The cgroup hooks translate a service address (ClusterIP or external IP,
 * port, protocol) to a backend once, when a socket connects (TCP and
 * connected UDP) or sends a datagram (unconnected UDP); packets then flow
 * to the backend with no per-packet translation. recvmsg4 and
 * getpeername4 translate back so applications see the address they
 * dialled. The Go package github.com/switchyard-net/switchyard/bpf owns
 * every map layout below; keep the two in step (bpf/maps.go).
 *
 * The design follows Cilium's socket-LB (bpf/bpf_sock.c): a service
 * entry per frontend, a backend table and per-service backend slots. Two
 * things differ: the slot table is double-buffered (the service entry
 * names the generation in use, so a reader sees the old or the new backend
 * set, never a mix), and connected sockets remember their translation in
 * socket-local storage, freed with the socket, instead of an LRU map.
 */
#include "types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char __license[] SEC("license") = "Dual BSD/GPL";

/* Service flags (svc_val.flags). */
#define SVC_F_AFFINITY 0x1

/* Slot index bit that selects the generation of the slot table. */
#define SLOT_GEN_BIT 0x80000000U

struct svc_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct svc_val {
	__u32 id;          /* service id: slots, backends, stats, affinity */
	__u32 count;       /* backends in the current generation; 0 refuses */
	__u32 gen;         /* 0 or 1: which half of the slot table is live */
	__u32 flags;       /* SVC_F_* */
	__u32 affinity_s;  /* sessionAffinity timeout, seconds */
	__u32 pad;
};

struct backend_val {
	__be32 addr;
	__be16 port;
	__u16 pad;
	__u32 svc_id;      /* owner: a backend id belongs to one service */
};

struct slot_key {
	__u32 svc_id;
	__u32 slot;        /* index | (gen ? SLOT_GEN_BIT : 0) */
};

struct affinity_key {
	__u64 netns;       /* client network namespace cookie */
	__u32 svc_id;
	__u32 pad;
};

struct affinity_val {
	__u64 last_ns;     /* bpf_ktime_get_ns of the last use */
	__u32 backend_id;
	__u32 pad;
};

struct revnat_key {
	__u64 cookie;      /* socket cookie */
	__be32 addr;       /* backend */
	__be16 port;
	__u16 pad;
};

struct revnat_val {
	__be32 addr;       /* service address the application used */
	__be16 port;
	__u16 pad;
};

/* Per connected socket: what connect4 translated. */
struct sock_val {
	__be32 vip_addr;
	__be32 backend_addr;
	__be16 vip_port;
	__be16 backend_port;
	__u32 backend_id;
};

struct stats_val {
	__u64 connects;    /* translated connects and datagrams sent */
	__u64 refused;     /* refused for lack of backends */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, struct svc_key);
	__type(value, struct svc_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sy_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1048576);
	__type(key, __u32);
	__type(value, struct backend_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sy_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2097152);
	__type(key, struct slot_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sy_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct affinity_key);
	__type(value, struct affinity_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sy_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct revnat_key);
	__type(value, struct revnat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sy_revnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sy_sock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u32);
	__type(value, struct stats_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sy_stats SEC(".maps");

/* Backend ids whose connected sockets the iterator destroys. Filled by
 * the loader just before it runs the iterator, emptied after. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} sy_destroy SEC(".maps");

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

static __always_inline void count(__u32 svc_id, int refused)
{
	struct stats_val *st = bpf_map_lookup_elem(&sy_stats, &svc_id);

	if (!st) {
		struct stats_val init = {};

		bpf_map_update_elem(&sy_stats, &svc_id, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&sy_stats, &svc_id);
		if (!st)
			return;
	}
	/* Per-CPU values: plain increments are safe. */
	if (refused)
		st->refused++;
	else
		st->connects++;
}

static __always_inline struct svc_val *lookup_service(struct bpf_sock_addr *ctx)
{
	struct svc_key key = {
		.addr = ctx->user_ip4,
		.port = (__be16)ctx->user_port,
	};

	if (ctx->protocol == IPPROTO_TCP)
		key.proto = IPPROTO_TCP;
	else if (ctx->protocol == IPPROTO_UDP)
		key.proto = IPPROTO_UDP;
	else
		return 0;
	return bpf_map_lookup_elem(&sy_services, &key);
}

/* affine returns the backend the client's namespace used last for this
 * service, if still valid, and refreshes its timestamp. */
static __always_inline struct backend_val *affine(struct bpf_sock_addr *ctx,
						  struct svc_val *svc,
						  struct affinity_key *key,
						  __u32 *backend_id, __u64 now)
{
	struct affinity_val *av;
	struct backend_val *be;

	key->netns = bpf_get_netns_cookie(ctx);
	key->svc_id = svc->id;
	av = bpf_map_lookup_elem(&sy_affinity, key);
	if (!av)
		return 0;
	if (now - av->last_ns > (__u64)svc->affinity_s * 1000000000ULL)
		return 0;
	*backend_id = av->backend_id;
	be = bpf_map_lookup_elem(&sy_backends, backend_id);
	/* The id may have been freed and given to another service. */
	if (!be || be->svc_id != svc->id)
		return 0;
	av->last_ns = now;
	return be;
}

static __always_inline struct backend_val *pick(struct bpf_sock_addr *ctx,
						struct svc_val *svc,
						__u32 *backend_id)
{
	struct affinity_key akey = {};
	struct backend_val *be;
	struct slot_key skey;
	__u32 *id;
	__u64 now = 0;
	int affinity = svc->flags & SVC_F_AFFINITY;

	if (affinity) {
		now = bpf_ktime_get_ns();
		be = affine(ctx, svc, &akey, backend_id, now);
		if (be)
			return be;
	}
	skey.svc_id = svc->id;
	skey.slot = bpf_get_prandom_u32() % svc->count;
	if (svc->gen)
		skey.slot |= SLOT_GEN_BIT;
	id = bpf_map_lookup_elem(&sy_slots, &skey);
	if (!id)
		return 0;
	*backend_id = *id;
	be = bpf_map_lookup_elem(&sy_backends, backend_id);
	if (be && affinity) {
		struct affinity_val av = { .last_ns = now, .backend_id = *id };

		bpf_map_update_elem(&sy_affinity, &akey, &av, BPF_ANY);
	}
	return be;
}

/* translate picks a backend for the service the context addresses and
 * rewrites the destination. It returns 1 when the context was rewritten,
 * 0 when the address is not a service, and -1 when the service has no
 * backend (the caller refuses the operation). */
static __always_inline int translate(struct bpf_sock_addr *ctx,
				     struct sock_val *out)
{
	struct svc_val *svc = lookup_service(ctx);
	struct backend_val *be;
	__u32 backend_id = 0;

	if (!svc)
		return 0;
	if (svc->count == 0) {
		count(svc->id, 1);
		return -1;
	}
	be = pick(ctx, svc, &backend_id);
	if (!be) {
		count(svc->id, 1);
		return -1;
	}
	out->vip_addr = ctx->user_ip4;
	out->vip_port = (__be16)ctx->user_port;
	out->backend_addr = be->addr;
	out->backend_port = be->port;
	out->backend_id = backend_id;
	ctx->user_ip4 = be->addr;
	ctx->user_port = (__u32)be->port;
	count(svc->id, 0);
	return 1;
}

/* refuse makes the syscall fail with ECONNREFUSED (not the EPERM a plain
 * "return 0" gives), like a closed port: the client learns at once that
 * the service has no endpoints instead of timing out. */
static __always_inline int refuse(void)
{
	bpf_set_retval(-ECONNREFUSED);
	return 0;
}

SEC("cgroup/connect4")
int sy_connect4(struct bpf_sock_addr *ctx)
{
	struct sock_val sv = {};
	struct sock_val *stored;
	int r = translate(ctx, &sv);

	if (r < 0)
		return refuse();
	if (r == 0) {
		/* A UDP socket may reconnect elsewhere: forget the old
		 * translation so getpeername and the destroyer ignore it. */
		bpf_sk_storage_delete(&sy_sock, ctx->sk);
		return 1;
	}
	stored = bpf_sk_storage_get(&sy_sock, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (stored)
		*stored = sv;
	return 1;
}

SEC("cgroup/sendmsg4")
int sy_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct sock_val sv = {};
	struct revnat_key key = {};
	struct revnat_val val = {};
	int r = translate(ctx, &sv);

	if (r < 0)
		return refuse();
	if (r == 0)
		return 1;
	key.cookie = bpf_get_socket_cookie(ctx);
	key.addr = sv.backend_addr;
	key.port = sv.backend_port;
	val.addr = sv.vip_addr;
	val.port = sv.vip_port;
	bpf_map_update_elem(&sy_revnat, &key, &val, BPF_ANY);
	return 1;
}

/* unxlate_connected returns the service address connect4 translated
 * this socket from, when ip:port is the backend it translated to. The
 * context fields are read once by the callers: clang would otherwise
 * keep a pointer into the context, which the verifier rejects. */
static __always_inline struct sock_val *unxlate_connected(struct bpf_sock_addr *ctx,
							   __u32 ip, __u16 port)
{
	struct sock_val *sv = bpf_sk_storage_get(&sy_sock, ctx->sk, 0, 0);

	if (!sv || sv->backend_addr != ip || sv->backend_port != port)
		return 0;
	return sv;
}

/* recvmsg4 reports the source of a reply as the service address: from
 * socket storage for a connected socket (glibc's resolver compares the
 * source of a reply with the server it asked, even when connected), from
 * the reverse map that sendmsg4 filled for an unconnected one. */
SEC("cgroup/recvmsg4")
int sy_recvmsg4(struct bpf_sock_addr *ctx)
{
	__u32 ip = ctx->user_ip4;
	__u16 port = (__u16)ctx->user_port;
	struct sock_val *sv = unxlate_connected(ctx, ip, port);
	struct revnat_key key = {};
	struct revnat_val *val;

	if (sv) {
		ctx->user_ip4 = sv->vip_addr;
		ctx->user_port = (__u32)sv->vip_port;
		return 1;
	}
	key.cookie = bpf_get_socket_cookie(ctx);
	key.addr = ip;
	key.port = port;
	val = bpf_map_lookup_elem(&sy_revnat, &key);
	if (val) {
		ctx->user_ip4 = val->addr;
		ctx->user_port = (__u32)val->port;
	}
	return 1;
}

SEC("cgroup/getpeername4")
int sy_getpeername4(struct bpf_sock_addr *ctx)
{
	struct sock_val *sv = unxlate_connected(ctx, ctx->user_ip4, (__u16)ctx->user_port);

	if (sv) {
		ctx->user_ip4 = sv->vip_addr;
		ctx->user_port = (__u32)sv->vip_port;
	}
	return 1;
}

/* marked reports whether a full socket was translated by connect4 to a
 * backend listed in sy_destroy and is still connected to it. */
static __always_inline int marked(struct sock *sk)
{
	struct sock_val *sv = bpf_sk_storage_get(&sy_sock, sk, 0, 0);

	if (!sv || !bpf_map_lookup_elem(&sy_destroy, &sv->backend_id))
		return 0;
	return sk->__sk_common.skc_daddr == sv->backend_addr &&
	       sk->__sk_common.skc_dport == sv->backend_port;
}

/* sy_destroy_udp walks the UDP sockets of the namespace it runs in and
 * destroys the connected ones that connect4 translated to a backend listed
 * in sy_destroy: their next send or receive fails with ECONNABORTED and
 * the client reconnects through connect4 to a live backend (the fix for
 * cilium/cilium#12859's stale DNS sockets). */
SEC("iter/udp")
int sy_destroy_udp(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;

	if (sk && marked(sk))
		bpf_sock_destroy(&sk->__sk_common);
	return 0;
}

/* sy_destroy_tcp does the same for TCP connections (the peer sees a
 * reset, the application ECONNABORTED), for services that ask for it.
 * Request and time-wait sockets are skipped: only full sockets carry
 * socket storage. */
SEC("iter/tcp")
int sy_destroy_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct sock *sk;

	if (!skc)
		return 0;
	sk = (struct sock *)bpf_skc_to_tcp_sock(skc);
	if (sk && marked(sk))
		bpf_sock_destroy(skc);
	return 0;
}
