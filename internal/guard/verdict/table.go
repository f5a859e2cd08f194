package verdict

import (
	"encoding/binary"
	"math/bits"
)

// table is a shard's index: an open-addressing hash table of slot numbers
// (plus one; 0 is empty) with linear probing. It holds no pointers and
// needs no hashing of its own: keys are HMAC digests, uniformly random and
// unpredictable to anyone without the process key, so eight of their bytes
// are the hash. Its size is fixed when the shard is made, at least twice
// the most slots the shard's budget allows, so the load stays at or below
// one half and it never rehashes.
type table []int32

// tableBytesPerSlot is the table's cost per slot at its lowest load factor
// (a power of two up to four entries per slot, four bytes each).
const tableBytesPerSlot = 16

// newTable sizes a table for a shard whose budget is budget bytes.
func newTable(budget int) table {
	most := max(1, budget/(slotSize+tableBytesPerSlot/2))
	return make(table, 1<<bits.Len(uint(2*most-1)))
}

func (t table) bytes() int { return 4 * len(t) }

// home is where k's probe sequence starts. Byte 0 of the digest picked
// the shard; bytes 8 to 15 pick the position.
func (t table) home(k Key) int {
	h := binary.LittleEndian.Uint64(k[8:16])
	return int(h & uint64(len(t)-1)) //nolint:gosec // G115: masked to the table's length
}

// find returns the slot holding k and the table position naming it.
func (t table) find(slots []slot, k Key) (slotNum int32, pos int, ok bool) {
	for p := t.home(k); ; p = (p + 1) & (len(t) - 1) {
		v := t[p]
		if v == 0 {
			return 0, p, false
		}
		if slots[v-1].key == k {
			return v - 1, p, true
		}
	}
}

// insert records that slot i holds k, which is not in the table.
func (t table) insert(slots []slot, k Key, i int32) {
	_, p, _ := t.find(slots, k)
	t[p] = i + 1
}

// remove empties position p and shifts later entries of the probe run
// back over the hole, so every entry stays reachable from its home without
// tombstones.
func (t table) remove(slots []slot, p int) {
	mask := len(t) - 1
	for j := (p + 1) & mask; t[j] != 0; j = (j + 1) & mask {
		h := t.home(slots[t[j]-1].key)
		// The entry at j may fill the hole at p unless its home lies
		// cyclically in (p, j].
		if p <= j && (h <= p || h > j) || p > j && h <= p && h > j {
			t[p] = t[j]
			p = j
		}
	}
	t[p] = 0
}
