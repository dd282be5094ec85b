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
//
// A VLAN tag that the driver holds beside the frame (a NIC's receive VLAN
// stripping, or on a veth an skb whose sender left the tag out of band:
// a VLAN device or a VLAN-filtering bridge on a device with
// tx-vlan-offload) is not in the frame XDP sees, and AF_XDP carries
// nothing else. xsk_redirect_vlan, loaded bound to its device for
// driver mode, asks the driver's bpf_xdp_metadata_rx_vlan_tag for the
// tag and puts it in the metadata area in front of the frame (struct
// xsk_meta) for the socket's reader to put back in the frame.
// xsk_redirect, for generic XDP, cannot ask.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Linux 6.8; weak, so that the program loads where it is missing.
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto,
					__u16 *vlan_tci) __ksym __weak;

// The metadata in front of a frame, ending where the frame starts. The
// reader in dataplane/afxdp knows this layout (xskMeta*); it clears flags
// once it has used the tag, so a UMEM frame never shows a stale one.
struct xsk_meta {
	__u16 vlan_tci;   // host order, PCP and DEI included
	__be16 vlan_tpid; // network order: 0x8100 or 0x88a8
	__u32 flags;
};

#define XSK_META_VLAN 1 // vlan_tci and vlan_tpid are set

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
	COUNTER_VLAN       = 2, // out-of-band VLAN tag put in the metadata
	COUNTER_META_LOST  = 3, // such a tag for which no metadata room was made
	COUNTER_MAX        = 4,
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

// save_vlan_tag puts the frame's out-of-band VLAN tag, if the driver has
// one, in the metadata area.
static __always_inline void save_vlan_tag(struct xdp_md *ctx)
{
	__be16 tpid;
	__u16 tci;

	// A missing weak kfunc has address 0 (Debian's libbpf headers have
	// no bpf_ksym_exists yet).
	if (!bpf_xdp_metadata_rx_vlan_tag ||
	    bpf_xdp_metadata_rx_vlan_tag(ctx, &tpid, &tci) != 0)
		return; // no tag beside the frame (or no way to ask)
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct xsk_meta)) != 0) {
		count(COUNTER_META_LOST);
		return;
	}
	void *data = (void *)(long)ctx->data;
	struct xsk_meta *m = (void *)(long)ctx->data_meta;

	if ((void *)(m + 1) > data) { // what the verifier needs to hear
		count(COUNTER_META_LOST);
		return;
	}
	m->vlan_tci = tci;
	m->vlan_tpid = tpid;
	m->flags = XSK_META_VLAN;
	count(COUNTER_VLAN);
}

static __always_inline int redirect(struct xdp_md *ctx)
{
	// The low bits of flags are the action when the entry is empty.
	long act = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);

	count(act == XDP_REDIRECT ? COUNTER_REDIRECTED : COUNTER_PASSED);
	return act;
}

// The program for generic mode, and for kernels that cannot bind one to
// the device.
SEC("xdp")
int xsk_redirect(struct xdp_md *ctx)
{
	return redirect(ctx);
}

// The program for driver mode, loaded bound to the device: the verifier
// accepts the metadata kfunc only in a device-bound program.
SEC("xdp")
int xsk_redirect_vlan(struct xdp_md *ctx)
{
	save_vlan_tag(ctx);
	return redirect(ctx);
}

char __license[] SEC("license") = "Dual BSD/GPL";
