package lb

// memberSet caches the member set of the View a Picker last saw, as a
// bitmask, so a membership test costs one AND. The View is immutable and
// the cache holds a pointer to it, so while cached its address cannot be
// reused by another View: comparing pointers is enough to notice a new one.
type memberSet struct {
	v   *View
	set uint64
}

// of returns the bitmask of v.Members (IDs at or above MaxMembers, which
// the View contract rules out, are left out).
func (c *memberSet) of(v *View) uint64 {
	if c.v != v {
		var set uint64
		for _, id := range v.Members {
			if uint(id) < MaxMembers {
				set |= 1 << uint(id)
			}
		}
		c.v, c.set = v, set
	}
	return c.set
}

// has reports whether id is one of set's members.
func has(set uint64, id int) bool {
	return uint(id) < MaxMembers && set&(1<<uint(id)) != 0
}
