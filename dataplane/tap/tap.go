// Package tap moves frames to and from a Linux TAP device, so that the
// team's aggregate shows up to the host stack as an ordinary interface.
//
// The device is opened with a virtio-net header and offloads on, so the
// host stack hands the Port checksum-partial frames and TCP/UDP GSO
// super-frames, and takes them back the same way; the rest of the
// dataplane carries the header through untouched.
//
// With Options.NoOffloads the device offers the stack no checksum or
// segmentation offload (TUNSETOFFLOAD 0), so every frame the Port reads
// is a wire frame with complete checksums: for a team whose other ports
// cannot take super-frames (the xdp backend).
//
// VLAN tags travel in the frame both ways. A tag the host stack holds
// beside the frame (a VLAN device on the TAP, which offers
// tx-vlan-offload) is put in by the kernel on the way to Read, which
// also counts csum_start from the tagged frame's start; hdr_len stays
// the kernel's linear length, a hint that Linux raises itself when the
// frame is sent on (tun_put_user, packet_snd_vnet_parse).
package tap

import "github.com/teamd-go/teamd-go/dataplane"

var _ dataplane.Port = (*Port)(nil)

// Options tunes a TAP Port. The zero value has offloads on.
type Options struct {
	// NoOffloads turns checksum and segmentation offload off.
	NoOffloads bool
}
