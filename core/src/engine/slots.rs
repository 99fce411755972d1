//! A slab: values addressed by small integer slots, freed slots reused
//! last-freed first. The engine's open interactions and SLA clocks live in
//! these, and slots are referenced elsewhere (waiting sets, SLA clocks,
//! timer payloads), so a checkpoint must give back every slot *and* the
//! order in which free slots will be reused; this slab exposes both
//! ([`Slots::free_list`], [`Slots::from_parts`]), which the `slab` crate
//! does not. Same behaviour as `slab::Slab` for the calls the engine makes.
//! A leaf.

/// One entry: a value, or a free slot linking to the next free one.
#[derive(Debug, Clone)]
enum Entry<T> {
    /// The next free slot; `entries.len()` ends the list.
    Vacant(usize),
    Occupied(T),
}

#[derive(Debug, Clone)]
pub(super) struct Slots<T> {
    entries: Vec<Entry<T>>,
    /// The slot the next insert takes (`entries.len()`: a new one).
    next: usize,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            entries: Vec::new(),
            next: 0,
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Number of values held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Store `v`, returning its slot: the last freed one, else a new one.
    pub(super) fn insert(&mut self, v: T) -> usize {
        let key = self.next;
        self.len += 1;
        if key == self.entries.len() {
            self.entries.push(Entry::Occupied(v));
            self.next = key + 1;
        } else {
            self.next = match self.entries.get(key) {
                Some(&Entry::Vacant(next)) => next,
                // The free list only links vacant entries.
                _ => unreachable!("Slots: the free list points at an occupied slot"),
            };
            self.entries[key] = Entry::Occupied(v);
        }
        key
    }

    /// Take the value out of `key`, freeing the slot.
    ///
    /// # Panics
    /// If `key` holds no value (as `slab::Slab::remove`).
    pub(super) fn remove(&mut self, key: usize) -> T {
        let Some(entry) = self.entries.get_mut(key) else {
            panic!("Slots: remove of slot {key}, which holds no value");
        };
        match std::mem::replace(entry, Entry::Vacant(self.next)) {
            Entry::Occupied(v) => {
                self.len -= 1;
                self.next = key;
                v
            }
            vacant => {
                *entry = vacant;
                panic!("Slots: remove of slot {key}, which holds no value");
            }
        }
    }

    pub(super) fn get(&self, key: usize) -> Option<&T> {
        match self.entries.get(key) {
            Some(Entry::Occupied(v)) => Some(v),
            _ => None,
        }
    }

    pub(super) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        match self.entries.get_mut(key) {
            Some(Entry::Occupied(v)) => Some(v),
            _ => None,
        }
    }

    /// The values with their slots, by slot.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(k, e)| match e {
                Entry::Occupied(v) => Some((k, v)),
                Entry::Vacant(_) => None,
            })
    }

    /// Every slot ever used, by slot: its value, or `None` when free.
    pub(super) fn entries(&self) -> impl ExactSizeIterator<Item = Option<&T>> {
        self.entries.iter().map(|e| match e {
            Entry::Occupied(v) => Some(v),
            Entry::Vacant(_) => None,
        })
    }

    /// The free slots in the order inserts will reuse them.
    pub(super) fn free_list(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.entries.len() - self.len);
        let mut k = self.next;
        while let Some(Entry::Vacant(next)) = self.entries.get(k) {
            out.push(k as u32);
            k = *next;
        }
        out
    }

    /// Rebuild from [`Slots::entries`] and [`Slots::free_list`], checking
    /// that the free list names every free slot exactly once.
    pub(super) fn from_parts(entries: Vec<Option<T>>, free: &[u32]) -> Result<Self, String> {
        let n = entries.len();
        let vacant = entries.iter().filter(|e| e.is_none()).count();
        if free.len() != vacant {
            return Err(format!(
                "{} free slots listed for {vacant} free entries",
                free.len()
            ));
        }
        let mut entries: Vec<Entry<T>> = entries
            .into_iter()
            .map(|e| match e {
                Some(v) => Entry::Occupied(v),
                // Marked unlinked until the free list links it.
                None => Entry::Vacant(usize::MAX),
            })
            .collect();
        for (i, &k) in free.iter().enumerate() {
            let next = free.get(i + 1).map_or(n, |&k| k as usize);
            match entries.get_mut(k as usize) {
                Some(Entry::Vacant(link)) if *link == usize::MAX => *link = next,
                _ => return Err(format!("free slot {k} is not a free entry, or repeated")),
            }
        }
        Ok(Slots {
            entries,
            next: free.first().map_or(n, |&k| k as usize),
            len: n - vacant,
        })
    }
}

impl<T> std::ops::Index<usize> for Slots<T> {
    type Output = T;

    fn index(&self, key: usize) -> &T {
        match self.get(key) {
            Some(v) => v,
            None => panic!("Slots: slot {key} holds no value"),
        }
    }
}

impl<T> std::ops::IndexMut<usize> for Slots<T> {
    fn index_mut(&mut self, key: usize) -> &mut T {
        match self.get_mut(key) {
            Some(v) => v,
            None => panic!("Slots: slot {key} holds no value"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_slots_are_reused_last_freed_first() {
        let mut s = Slots::new();
        let keys: Vec<usize> = (0..5).map(|i| s.insert(i)).collect();
        assert_eq!(keys, vec![0, 1, 2, 3, 4]);
        assert_eq!(s.remove(1), 1);
        assert_eq!(s.remove(3), 3);
        assert_eq!(s.free_list(), vec![3, 1]);
        assert_eq!((s.insert(10), s.insert(11), s.insert(12)), (3, 1, 5));
        assert_eq!(s.len(), 6);
        let got: Vec<(usize, i32)> = s.iter().map(|(k, v)| (k, *v)).collect();
        assert_eq!(got, vec![(0, 0), (1, 11), (2, 2), (3, 10), (4, 4), (5, 12)]);
    }

    #[test]
    fn rebuilt_from_its_parts_it_reuses_slots_in_the_same_order() {
        let mut a = Slots::new();
        for i in 0..8 {
            a.insert(i);
        }
        for k in [6, 2, 4, 0] {
            a.remove(k);
        }
        let entries: Vec<Option<i32>> = a.entries().map(|e| e.copied()).collect();
        let mut b = Slots::from_parts(entries, &a.free_list()).unwrap();
        assert_eq!(b.len(), a.len());
        for i in 0..6 {
            assert_eq!(b.insert(100 + i), a.insert(100 + i));
        }
    }

    #[test]
    fn a_free_list_that_does_not_match_the_free_entries_is_refused() {
        let parts = || vec![Some(1), None, None];
        assert!(Slots::from_parts(parts(), &[1]).is_err());
        assert!(Slots::from_parts(parts(), &[1, 1]).is_err());
        assert!(Slots::from_parts(parts(), &[0, 1]).is_err());
        assert!(Slots::from_parts(parts(), &[1, 7]).is_err());
        assert!(Slots::from_parts(parts(), &[2, 1]).is_ok());
    }
}
