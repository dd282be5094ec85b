// Package udpprobe is a paced, sequence-numbered UDP stream from a socket
// in one network namespace to a socket in another, for the integration
// tests and the bench. The receiver counts every sequence number, so
// loss, duplicates and reordering are exact (ping and iperf3 see neither
// duplicates nor how far a datagram was displaced).
//
// The sender wakes every millisecond and sends what the schedule (rate
// datagrams per second since Start) says is due, so a late tick sends a
// bigger burst instead of lowering the rate, and the stream leaves in
// bursts a millisecond apart: at the default flowlet_gap (500µs) every
// burst may start a new flowlet, the worst case for reordering under
// balance: dynamic. Each datagram carries its sequence number (8 bytes)
// and the stream's random tag (8 bytes); anything else arriving on the
// port is counted as stray and ignored.
package udpprobe
