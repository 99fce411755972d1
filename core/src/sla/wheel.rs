//! A hierarchical timer wheel with exact, deterministic firing.
//!
//! [`TimerWheel`] holds timers keyed by a deadline in [`Millis`] and fires
//! them when [`advance`](TimerWheel::advance) moves its clock past them.
//! It is pure: it has no clock of its own (time is whatever `advance` is
//! given), no randomness and no hashing, so replaying the same calls gives
//! the same ids, the same firings in the same order, and the same
//! checkpoints.
//!
//! # Guarantees
//!
//! - A timer never fires before its deadline and fires exactly once, on the
//!   first `advance(now)` with `now >= deadline`. Deadlines keep full ms
//!   precision ([`TICK_MS`] is 1).
//! - Timers fire in **(deadline, schedule order)** order, within one
//!   `advance` and across calls. A timer scheduled (or rescheduled) with a
//!   deadline at or before the wheel's current time fires on the next
//!   `advance`, whatever its `now`.
//! - [`TimerId`]s are never reused: an id carries the timer's unique
//!   sequence number, so a stale id (fired, cancelled) is recognised as
//!   such forever.
//! - After a serde round trip the wheel behaves identically: same firings,
//!   same [`next_deadline`](TimerWheel::next_deadline), and the same ids for
//!   timers scheduled afterwards.
//!
//! # Structure and cost
//!
//! Eight levels of 256 slots: a slot of level `L` spans `256^L` ms, so
//! level 0 has one slot per millisecond and the eight levels cover every
//! `i64` deadline without an overflow list. A timer goes to the level of the
//! highest base-256 digit in which its deadline differs from the current
//! time; as time advances, a slot of a higher level is emptied into lower
//! ones ("cascading") when its span begins, so each timer is moved at most
//! seven times (a deadline 24 h ahead: at most three), and an `advance` over
//! weeks skips empty slots through an occupancy bitmap. Level-0 slots hold a
//! single deadline; their timers are sorted by schedule order when they
//! fire, which is what makes the order exact.
//!
//! [`schedule`](TimerWheel::schedule), [`cancel`](TimerWheel::cancel) and
//! [`reschedule`](TimerWheel::reschedule) are O(1): timers live in one slab
//! (a `Vec` with a free list), linked into their slot by a doubly linked
//! list of `u32` indices, so there is no per-timer allocation once the slab
//! has grown to the peak number of pending timers. Each pending timer takes
//! `32 + size_of::<Option<T>>()` bytes of slab (48 bytes for a `u64`
//! payload); a freed entry is reused by the next `schedule`. The fixed part
//! is 2049 slot heads of 16 bytes and a 256-byte bitmap (about 33 KiB).
//!
//! Cascading is amortised, not spread: the `advance` that reaches a
//! high-level slot moves all its timers at once (with 1M timers spread over
//! 24 h, a level-3 slot spans 4.7 h and holds about 200 000 of them).

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::event::Millis;

/// Resolution of the wheel: deadlines are exact to the millisecond.
pub const TICK_MS: Millis = 1;

const SLOT_BITS: u32 = 8;
const SLOTS: usize = 1 << SLOT_BITS;
/// Enough levels for any `u64` time.
const LEVELS: usize = 64_usize.div_ceil(SLOT_BITS as usize);
/// Occupancy bitmap words per level.
const WORDS: usize = SLOTS / 64;
// `TimerWheel::words` has a bit per word of `occupied`.
const _: () = assert!(LEVELS * WORDS <= u32::BITS as usize);
/// The list of timers whose deadline was already due when they were
/// (re)scheduled; they fire on the next `advance`.
const DUE: u16 = (LEVELS * SLOTS) as u16;
const LISTS: usize = LEVELS * SLOTS + 1;
const NIL: u32 = u32::MAX;
/// `Entry::list` of a free slab entry.
const VACANT: u16 = u16::MAX;

/// Maps an instant to the wheel's unsigned time line, preserving order.
fn key(at: Millis) -> u64 {
    (at as u64) ^ (1 << 63)
}

/// The inverse of [`key`].
fn unkey(k: u64) -> Millis {
    (k ^ (1 << 63)) as Millis
}

/// The level for a timer at `when` seen from `now`, where `now < when`.
fn level_for(now: u64, when: u64) -> usize {
    let masked = (now ^ when) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (SLOT_BITS as usize * level)) & (SLOTS as u64 - 1)) as usize
}

/// Identifies one scheduled timer. Never reused: ids of fired or cancelled
/// timers stay stale forever. Ids order by schedule order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimerId {
    /// Unique, increasing with each `schedule`.
    seq: u64,
    /// Slab index.
    index: u32,
}

#[derive(Debug, Clone)]
struct Entry<T> {
    deadline: Millis,
    /// Schedule order; also the id's generation check.
    seq: u64,
    prev: u32,
    /// Next in the slot's list, or in the free list when vacant.
    next: u32,
    /// The list the timer is in, or [`VACANT`].
    list: u16,
    payload: Option<T>,
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    /// A lower bound of the deadlines in the list, exact when `min_exact`.
    min: Millis,
    min_exact: bool,
}

const EMPTY_LIST: List = List {
    head: NIL,
    min: Millis::MAX,
    min_exact: true,
};

/// A hierarchical timer wheel; see the [module docs](self).
#[derive(Clone)]
pub struct TimerWheel<T> {
    entries: Vec<Entry<T>>,
    free_head: u32,
    lists: Box<[List]>,
    /// Per level, bit `s` set when slot `s` is non-empty.
    occupied: [u64; LEVELS * WORDS],
    /// Bit `w` set when `occupied[w]` is non-zero: the earliest slot is two
    /// bit scans away, not a walk over every level's words (it is looked
    /// up several times per event).
    words: u32,
    /// Current time ([`key`]ed): every timer with a deadline at or before it
    /// has fired or is in the [`DUE`] list; every other one is on a level
    /// `L` in a slot after the current digit of `now` at `L`.
    now: u64,
    next_seq: u64,
    len: usize,
    /// Reused buffer for sorting a batch of firing timers.
    scratch: Vec<(Millis, u64, u32)>,
}

impl<T> std::fmt::Debug for TimerWheel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerWheel")
            .field("now", &self.now())
            .field("len", &self.len)
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}

impl<T> TimerWheel<T> {
    /// An empty wheel whose clock reads `start`.
    pub fn new(start: Millis) -> Self {
        TimerWheel {
            entries: Vec::new(),
            free_head: NIL,
            lists: vec![EMPTY_LIST; LISTS].into_boxed_slice(),
            occupied: [0; LEVELS * WORDS],
            words: 0,
            now: key(start),
            next_seq: 0,
            len: 0,
            scratch: Vec::new(),
        }
    }

    /// The wheel's current time: the latest `now` given to
    /// [`advance`](Self::advance), or the start.
    pub fn now(&self) -> Millis {
        unkey(self.now)
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `payload` to fire at `deadline`. O(1).
    ///
    /// A deadline at or before [`now`](Self::now) fires on the next
    /// [`advance`](Self::advance).
    ///
    /// # Panics
    ///
    /// If `u32::MAX - 1` timers are pending at once.
    pub fn schedule(&mut self, deadline: Millis, payload: T) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry {
            deadline,
            seq,
            prev: NIL,
            next: NIL,
            list: VACANT,
            payload: Some(payload),
        };
        let index = if self.free_head != NIL {
            let index = self.free_head;
            let slot = &mut self.entries[index as usize];
            self.free_head = slot.next;
            *slot = entry;
            index
        } else {
            let index = u32::try_from(self.entries.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("TimerWheel: more than u32::MAX - 1 pending timers");
            self.entries.push(entry);
            index
        };
        self.link(index);
        self.len += 1;
        TimerId { seq, index }
    }

    /// Cancels a pending timer and returns its payload; `None` for a stale
    /// id (already fired or cancelled). O(1).
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let index = self.resolve(id)?;
        self.unlink(index);
        Some(self.release(index))
    }

    /// Moves a pending timer to `new_deadline`, keeping its id and its place
    /// in schedule order. Returns `false` for a stale id. O(1).
    pub fn reschedule(&mut self, id: TimerId, new_deadline: Millis) -> bool {
        let Some(index) = self.resolve(id) else {
            return false;
        };
        self.unlink(index);
        self.entries[index as usize].deadline = new_deadline;
        self.link(index);
        true
    }

    /// The deadline of a pending timer.
    pub fn deadline(&self, id: TimerId) -> Option<Millis> {
        self.resolve(id).map(|i| self.entries[i as usize].deadline)
    }

    /// Whether `id` is a pending timer.
    pub fn contains(&self, id: TimerId) -> bool {
        self.resolve(id).is_some()
    }

    /// The earliest pending deadline (exact). It may be before
    /// [`now`](Self::now) for a timer scheduled in the past.
    ///
    /// O(1), except after the earliest timer of a higher-level slot was
    /// cancelled or rescheduled: then that slot's timers are scanned.
    pub fn next_deadline(&self) -> Option<Millis> {
        if self.lists[DUE as usize].head != NIL {
            return Some(self.list_min(DUE as usize));
        }
        let (level, slot) = self.earliest_slot()?;
        Some(self.list_min(level * SLOTS + slot))
    }

    /// A lower bound of the earliest pending deadline, in O(1) always: the
    /// exact one unless the earliest timer of the earliest slot was
    /// cancelled or rescheduled. [`advance`](Self::advance) to it fires
    /// only timers at it, in order, and brings the slot down to exact
    /// lists; so a caller that advances step by step to this bound (and
    /// never past its own clock) fires every timer in deadline order
    /// without ever scanning a slot. [`next_deadline`](Self::next_deadline)
    /// may scan a whole slot per call, which with a million timers in
    /// one far slot made each watermark step cost a million reads.
    pub fn next_deadline_bound(&self) -> Option<Millis> {
        if self.lists[DUE as usize].head != NIL {
            return Some(self.lists[DUE as usize].min);
        }
        let (level, slot) = self.earliest_slot()?;
        Some(self.lists[level * SLOTS + slot].min)
    }

    /// Moves the clock to `now` and fires every timer with a deadline at or
    /// before it, calling `fire(id, deadline, payload)` in (deadline,
    /// schedule order) order. A `now` before [`now`](Self::now) does not
    /// move the clock back (it still fires timers scheduled in the past).
    ///
    /// Cost: O(1) amortised per timer fired or moved down a level, plus
    /// O(levels) per non-empty slot reached.
    pub fn advance(&mut self, now: Millis, mut fire: impl FnMut(TimerId, Millis, T)) {
        let target = key(now);
        // Everything in DUE is at or before the current time, hence before
        // every timer on the levels.
        let head = self.take_list(DUE as usize);
        self.fire_list(head, &mut fire);
        while let Some((level, slot)) = self.earliest_slot() {
            let start = self.slot_start(level, slot);
            if start > target {
                break;
            }
            // Everything before `start` has fired; the slot's timers are in
            // [start, start + 256^level).
            self.now = start;
            let mut cursor = self.take_list(level * SLOTS + slot);
            let mut batch = std::mem::take(&mut self.scratch);
            while cursor != NIL {
                let entry = &self.entries[cursor as usize];
                let next = entry.next;
                if key(entry.deadline) == start {
                    batch.push((entry.deadline, entry.seq, cursor));
                } else {
                    self.link(cursor);
                }
                cursor = next;
            }
            self.fire_batch(&mut batch, &mut fire);
            self.scratch = batch;
        }
        self.now = self.now.max(target);
    }

    /// The slab index of a pending timer.
    fn resolve(&self, id: TimerId) -> Option<u32> {
        let entry = self.entries.get(id.index as usize)?;
        (entry.list != VACANT && entry.seq == id.seq).then_some(id.index)
    }

    /// The level and slot of the earliest non-empty slot.
    fn earliest_slot(&self) -> Option<(usize, usize)> {
        // A timer on level L has a later digit at L than `now`, and every
        // lower level is before every slot of L, so the first non-empty
        // slot of the lowest non-empty level comes first.
        if self.words == 0 {
            return None;
        }
        let word = self.words.trailing_zeros() as usize;
        debug_assert!(self.occupied[word] != 0, "`words` out of step");
        let list = word * 64 + self.occupied[word].trailing_zeros() as usize;
        Some((list / SLOTS, list % SLOTS))
    }

    /// The first instant ([`key`]ed) of `slot` on `level`, in the current
    /// rotation of that level.
    fn slot_start(&self, level: usize, slot: usize) -> u64 {
        let shift = SLOT_BITS as usize * level;
        let rotation = shift + SLOT_BITS as usize;
        let base = if rotation >= 64 {
            0
        } else {
            self.now & !((1u64 << rotation) - 1)
        };
        base | ((slot as u64) << shift)
    }

    fn list_min(&self, list: usize) -> Millis {
        let l = &self.lists[list];
        if l.min_exact {
            return l.min;
        }
        let mut min = Millis::MAX;
        let mut cursor = l.head;
        while cursor != NIL {
            let e = &self.entries[cursor as usize];
            min = min.min(e.deadline);
            cursor = e.next;
        }
        min
    }

    /// Puts the timer at `index` (with its deadline set) in its list.
    fn link(&mut self, index: u32) {
        let deadline = self.entries[index as usize].deadline;
        let when = key(deadline);
        let list = if when <= self.now {
            DUE as usize
        } else {
            let level = level_for(self.now, when);
            let slot = slot_for(when, level);
            let list = level * SLOTS + slot;
            self.mark(list);
            list
        };
        let l = &mut self.lists[list];
        let old_head = l.head;
        if old_head == NIL || deadline < l.min {
            // Below a lower bound of the others: the exact minimum.
            l.min = deadline;
            l.min_exact = true;
        }
        l.head = index;
        let e = &mut self.entries[index as usize];
        e.list = list as u16;
        e.prev = NIL;
        e.next = old_head;
        if old_head != NIL {
            self.entries[old_head as usize].prev = index;
        }
    }

    /// Takes the timer at `index` out of its list (it stays allocated).
    fn unlink(&mut self, index: u32) {
        let Entry {
            prev,
            next,
            list,
            deadline,
            ..
        } = self.entries[index as usize];
        let list = list as usize;
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else {
            self.lists[list].head = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        let l = &mut self.lists[list];
        if l.head == NIL {
            *l = EMPTY_LIST;
            if list != DUE as usize {
                self.unmark(list);
            }
        } else if deadline == l.min {
            l.min_exact = false;
        }
    }

    /// Empties a list, returning its old head (the chain stays linked
    /// through `next`).
    fn take_list(&mut self, list: usize) -> u32 {
        let head = self.lists[list].head;
        self.lists[list] = EMPTY_LIST;
        if list != DUE as usize {
            self.unmark(list);
        }
        head
    }

    /// Note `list` (a level's slot) as non-empty.
    fn mark(&mut self, list: usize) {
        self.occupied[list / 64] |= 1 << (list % 64);
        self.words |= 1 << (list / 64);
    }

    /// Note `list` (a level's slot) as empty.
    fn unmark(&mut self, list: usize) {
        let word = &mut self.occupied[list / 64];
        *word &= !(1 << (list % 64));
        if *word == 0 {
            self.words &= !(1 << (list / 64));
        }
    }

    /// Frees the (unlinked) entry at `index`, returning its payload.
    fn release(&mut self, index: u32) -> T {
        let e = &mut self.entries[index as usize];
        e.list = VACANT;
        e.prev = NIL;
        e.next = self.free_head;
        self.free_head = index;
        self.len -= 1;
        match e.payload.take() {
            Some(payload) => payload,
            None => unreachable!("TimerWheel: a linked entry always has a payload"),
        }
    }

    /// Fires a detached chain of timers in (deadline, seq) order.
    fn fire_list(&mut self, mut cursor: u32, fire: &mut impl FnMut(TimerId, Millis, T)) {
        if cursor == NIL {
            return;
        }
        let mut batch = std::mem::take(&mut self.scratch);
        while cursor != NIL {
            let e = &self.entries[cursor as usize];
            batch.push((e.deadline, e.seq, cursor));
            cursor = e.next;
        }
        self.fire_batch(&mut batch, fire);
        self.scratch = batch;
    }

    /// Sorts a batch by (deadline, seq) — unique keys, so the order is total
    /// — then frees and fires each timer; leaves `batch` empty.
    fn fire_batch(
        &mut self,
        batch: &mut Vec<(Millis, u64, u32)>,
        fire: &mut impl FnMut(TimerId, Millis, T),
    ) {
        batch.sort_unstable();
        for (deadline, seq, index) in batch.drain(..) {
            let payload = self.release(index);
            fire(TimerId { seq, index }, deadline, payload);
        }
    }
}

// ---------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------

/// The serialized form: the logical content only (the slot layout is
/// rebuilt on load, and does not affect behaviour).
#[derive(Serialize)]
struct WheelOut<'a, T> {
    now: Millis,
    next_seq: u64,
    /// The slab, by index: `None` for a free entry.
    timers: Vec<Option<TimerOut<'a, T>>>,
    /// Free slab indices in reuse order.
    free: Vec<u32>,
}

#[derive(Serialize)]
struct TimerOut<'a, T> {
    seq: u64,
    deadline: Millis,
    payload: &'a T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WheelIn<T> {
    now: Millis,
    next_seq: u64,
    timers: Vec<Option<TimerIn<T>>>,
    free: Vec<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimerIn<T> {
    seq: u64,
    deadline: Millis,
    payload: T,
}

impl<T: Serialize> Serialize for TimerWheel<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let timers = self
            .entries
            .iter()
            .map(|e| {
                e.payload.as_ref().map(|payload| TimerOut {
                    seq: e.seq,
                    deadline: e.deadline,
                    payload,
                })
            })
            .collect();
        let mut free = Vec::new();
        let mut cursor = self.free_head;
        while cursor != NIL {
            free.push(cursor);
            cursor = self.entries[cursor as usize].next;
        }
        WheelOut {
            now: self.now(),
            next_seq: self.next_seq,
            timers,
            free,
        }
        .serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TimerWheel<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let input = WheelIn::<T>::deserialize(deserializer)?;
        TimerWheel::from_checkpoint(input).map_err(de::Error::custom)
    }
}

impl<T> TimerWheel<T> {
    /// Rebuilds a wheel from its serialized form, checking it is consistent.
    fn from_checkpoint(input: WheelIn<T>) -> Result<Self, String> {
        let WheelIn {
            now,
            next_seq,
            timers,
            free,
        } = input;
        if timers.len() >= NIL as usize {
            return Err(format!(
                "timer wheel: {} slab entries is too many",
                timers.len()
            ));
        }
        let mut seqs: Vec<u64> = timers.iter().flatten().map(|t| t.seq).collect();
        seqs.sort_unstable();
        if seqs.windows(2).any(|w| w[0] == w[1]) {
            return Err("timer wheel: two timers share a sequence number".to_owned());
        }
        if seqs.last().is_some_and(|&last| last >= next_seq) {
            return Err("timer wheel: a timer's sequence number is not below next_seq".to_owned());
        }
        let vacant = timers.iter().filter(|t| t.is_none()).count();
        let mut seen = vec![false; timers.len()];
        for &i in &free {
            let ok = timers.get(i as usize).is_some_and(Option::is_none);
            if !ok || std::mem::replace(&mut seen[i as usize], true) {
                return Err(format!(
                    "timer wheel: free index {i} is not a free entry, or repeated"
                ));
            }
        }
        if free.len() != vacant {
            return Err("timer wheel: the free list misses free entries".to_owned());
        }

        let mut wheel = TimerWheel::new(now);
        wheel.next_seq = next_seq;
        wheel.entries = timers
            .into_iter()
            .map(|t| match t {
                Some(t) => Entry {
                    deadline: t.deadline,
                    seq: t.seq,
                    prev: NIL,
                    next: NIL,
                    list: VACANT,
                    payload: Some(t.payload),
                },
                None => Entry {
                    deadline: 0,
                    seq: 0,
                    prev: NIL,
                    next: NIL,
                    list: VACANT,
                    payload: None,
                },
            })
            .collect();
        // Free list in the recorded reuse order.
        for &i in free.iter().rev() {
            wheel.entries[i as usize].next = wheel.free_head;
            wheel.free_head = i;
        }
        for i in 0..wheel.entries.len() {
            if wheel.entries[i].payload.is_some() {
                wheel.link(i as u32);
                wheel.len += 1;
            }
        }
        Ok(wheel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_size_is_as_documented() {
        // 8 deadline + 8 seq + 4 prev + 4 next + 2 list, padded to 32, then
        // the payload.
        assert_eq!(std::mem::size_of::<Entry<()>>(), 32);
        assert_eq!(std::mem::size_of::<Entry<u64>>(), 32 + 16);
        assert_eq!(std::mem::size_of::<List>(), 16);
    }

    #[test]
    fn key_preserves_order() {
        let xs = [Millis::MIN, -1, 0, 1, 1_780_000_000_000, Millis::MAX];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]));
        }
        for x in xs {
            assert_eq!(unkey(key(x)), x);
        }
    }

    #[test]
    fn levels_follow_the_highest_differing_base256_digit() {
        assert_eq!((LEVELS, SLOTS), (8, 256));
        assert_eq!(level_for(0, 1), 0);
        assert_eq!(level_for(0, 255), 0);
        assert_eq!(level_for(0, 256), 1);
        assert_eq!(level_for(255, 256), 1);
        assert_eq!(level_for(256, 511), 0);
        assert_eq!(level_for(0, 65_535), 1);
        assert_eq!(level_for(0, 65_536), 2);
        // 24 h ahead (86 400 000 ms < 2^32): level 3.
        assert_eq!(level_for(0, 86_400_000), 3);
        assert_eq!(level_for(0, u64::MAX), 7);
    }

    #[test]
    fn slot_start_is_the_first_instant_of_the_slot_in_this_rotation() {
        let mut wheel: TimerWheel<()> = TimerWheel::new(0);
        wheel.now = 0x0102_0304_0506_0708;
        assert_eq!(wheel.slot_start(0, 0x09), 0x0102_0304_0506_0709);
        assert_eq!(wheel.slot_start(1, 0x08), 0x0102_0304_0506_0800);
        assert_eq!(wheel.slot_start(7, 0x02), 0x0200_0000_0000_0000);
    }
}
