//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// The XDP program of a teamd-go port on the xdp backend: every frame the
// interface receives on RX queue q goes to the AF_XDP socket registered at
// index q of the xsks map, so the team sees the whole stream (data, LACPDUs,
// Marker PDUs, ARP) exactly as an AF_PACKET socket would, and the host's
// stack sees none of it: the daemon owns the interface.
//
// A queue with no socket registered (the map entry is empty) passes its
// frames to the stack instead of dropping them, which is what the interface
// did before the program was attached; the passed counter shows it.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Queue index -> AF_XDP socket. Sized for the RX queues of a large NIC;
// the loader checks the interface has no more.
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

enum counter {
	COUNTER_REDIRECTED = 0, // handed to a socket's RX ring
	COUNTER_PASSED     = 1, // no socket on the queue: to the stack
	COUNTER_MAX        = 2,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);

	if (v)
		(*v)++; // per CPU: no atomics needed
}

SEC("xdp")
int xsk_redirect(struct xdp_md *ctx)
{
	// The low bits of flags are the action when the entry is empty.
	long act = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);

	count(act == XDP_REDIRECT ? COUNTER_REDIRECTED : COUNTER_PASSED);
	return act;
}

char __license[] SEC("license") = "Dual BSD/GPL";
