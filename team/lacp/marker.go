package lacp

import (
	"fmt"
	"time"

	"github.com/teamd-go/teamd-go/team/lacpdu"
)

// ReceiveMarker is the Marker Responder (802.1AX-2014 6.5.4.2): for a
// Marker PDU it returns the Marker Response to send back on the same port,
// at once (the response is not queued in Output). It returns nil for a
// Marker Response (teamd-go sends no Markers) and on a disabled port.
func (r *Runner) ReceiveMarker(id int, m *lacpdu.Marker, now time.Duration) (*lacpdu.Marker, error) {
	p, ok := r.ports[id]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownPort, id)
	}
	r.step(now)
	if m == nil {
		return nil, nil
	}
	p.counters.RxMarker++
	if m.Kind != lacpdu.MarkerInformation || !p.enabled {
		p.counters.RxIgnored++
		return nil, nil
	}
	resp := m.Response()
	p.counters.TxMarker++
	return &resp, nil
}
