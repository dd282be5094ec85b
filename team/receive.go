package team

import (
	"errors"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// receive is a member's goroutine: frames from the physical switch go to
// the vnic that owns their destination MAC. Nothing is ever forwarded
// from one member to another.
func (t *Team) receive(m *member) {
	defer t.wg.Done()
	defer close(m.done)
	bufs, sizes := newBatch()
	r := memberReceiver{t: t, m: m}
	for {
		n, err := m.dp.Read(bufs, sizes)
		if err != nil {
			if errors.Is(err, dataplane.ErrClosed) {
				return
			}
			t.log.Warn("member read failed", "member", m.name, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		r.batch(bufs[:n], sizes[:n])
	}
}

type memberReceiver struct {
	t   *Team
	m   *member
	out outbox
	f   frame.Frame
}

func (r *memberReceiver) batch(bufs [][]byte, sizes []int) {
	t, m := r.t, r.m
	s := t.snap.Load()
	var rxBytes uint64
	for i := range bufs {
		fr := bufs[i][:sizes[i]]
		if len(fr) < dataplane.VnetHdrLen+14 {
			t.c.rxMalformed.Add(1)
			continue
		}
		eth := fr[dataplane.VnetHdrLen:]
		rxBytes += uint64(len(eth))
		f := &r.f
		_ = frame.Parse(eth, f)
		if f.EtherType == frame.EtherTypeSlowProtocol {
			t.c.rxSlowProtocol.Add(1)
			t.slowProtocol(m, eth)
			continue
		}
		if !s.collecting[m.id] {
			t.c.rxDroppedNotCollecting.Add(1)
			continue
		}
		if f.Dst.IsMulticast() {
			if s.bcastRx >= 0 && s.bcastRx != m.id {
				// The switch floods broadcasts to every member; in
				// switch-independent mode only one takes them in.
				t.c.rxDroppedDupBroadcast.Add(1)
				continue
			}
			for _, v := range s.vnics {
				if v != nil {
					r.out.toVNIC(v.id, fr)
				}
			}
			continue
		}
		owner := t.fdb.lookup(f.Dst)
		if owner < 0 || owner >= len(s.vnics) || s.vnics[owner] == nil {
			// SPEC §1: the virtual switch delivers only to MACs a vnic
			// owns. A reply sent to a member's own MAC (the first seed)
			// ends here.
			t.c.rxDroppedNotOwned.Add(1)
			continue
		}
		if s.mode == modeSwitchIndependent {
			if h := s.home(owner); h >= 0 && h != m.id {
				// The switch learned this MAC on its home member; a copy
				// on another member is a flood and would duplicate.
				t.c.rxDroppedWrongMember.Add(1)
				continue
			}
		}
		r.out.toVNIC(owner, fr)
	}
	m.stats.rxPackets.Add(uint64(len(bufs)))
	m.stats.rxBytes.Add(rxBytes)
	r.out.flush(s)
}

// slowProtocol handles a LACPDU or Marker received on a member. Without
// LACP they are counted and dropped; they never reach a vnic.
func (t *Team) slowProtocol(m *member, eth []byte) {
	if h := t.slowHandler.Load(); h != nil {
		(*h)(m.id, eth)
	}
}
