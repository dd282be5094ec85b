package lacp

import "time"

// txMachine is the Transmit machine of 802.1AX-2014 6.4.16: it sends a
// LACPDU when NTT is set, but no more than MaxTxPerFastPeriod in any
// FastPeriodicTime interval; a request over the limit waits (NTT stays
// set) until the oldest of the recent transmissions is FastPeriodicTime
// old.
type txMachine struct {
	sent [MaxTxPerFastPeriod]time.Duration // recent transmission times, a ring
	n    int                               // transmissions so far, saturating
	next int                               // ring index of the oldest
}

// txIn holds what the Transmit machine reads.
type txIn struct {
	ntt         bool
	portEnabled bool
	lacpEnabled bool
	// periodic is false in NO_PERIODIC: a port that is not to send
	// periodic LACPDUs (both ends passive, 6.4.13) sends none at all.
	periodic bool
}

// step reports whether to send a LACPDU now; the caller then clears NTT.
func (m txMachine) step(in txIn, now time.Duration) (_ txMachine, send bool) {
	if !in.ntt || !in.portEnabled || !in.lacpEnabled || !in.periodic || !m.allowed(now) {
		return m, false
	}
	m.sent[m.next] = now
	m.next = (m.next + 1) % len(m.sent)
	m.n = min(m.n+1, len(m.sent))
	return m, true
}

func (m txMachine) allowed(now time.Duration) bool {
	return now >= m.nextAllowed()
}

// nextAllowed returns the earliest time another LACPDU may be sent.
func (m txMachine) nextAllowed() time.Duration {
	if m.n < len(m.sent) {
		return 0
	}
	return m.sent[m.next] + FastPeriodicTime
}
