// Package tap moves frames to and from a Linux TAP device, so that the
// team's aggregate shows up to the host stack as an ordinary interface.
//
// The device is opened with a virtio-net header and offloads on, so the
// host stack hands the Port checksum-partial frames and TCP/UDP GSO
// super-frames, and takes them back the same way; the rest of the
// dataplane carries the header through untouched.
package tap

import "github.com/teamd-go/teamd-go/dataplane"

var _ dataplane.Port = (*Port)(nil)
