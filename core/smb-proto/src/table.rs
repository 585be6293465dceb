//! Fixed-size slot tables with generation-checked handles (smoltcp `SocketSet`, lent once at
//! start-up). A full table is an error, never a panic or a reallocation; a stale handle (its
//! slot freed and reused) does not resolve.
//!
//! Tables are sized for the board's worst case (thousands of opens), but hold few entries
//! most of the time, and the engine scans them (share modes, oplocks, a session's trees). So a
//! new entry takes the lowest free slot and the table remembers one past its highest live
//! slot: scans stop there, and cost what is live, not what the board could hold (measured:
//! with 8,192 open slots, those scans were half of the server's CPU time for `allinfo`).

/// A handle to a slot: index plus the slot's generation when it was allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle {
    pub index: u32,
    pub generation: u32,
}

impl Handle {
    /// Packs the handle into a u64 id (generation high, index+1 low, so 0 is never produced).
    pub fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index + 1)
    }

    /// Reverses [`Handle::to_u64`]; `None` for 0 or out-of-range indexes.
    pub fn from_u64(v: u64) -> Option<Self> {
        let low = (v & 0xffff_ffff) as u32;
        if low == 0 {
            return None;
        }
        Some(Self {
            index: low - 1,
            generation: (v >> 32) as u32,
        })
    }
}

/// One table slot.
///
/// An empty slot is all zero bytes: `generation` 0 and the tag of [`Entry`] (a `#[repr(u8)]`
/// enum, whose layout is defined: a one-byte tag, then the payload) 0 for `Empty`, whatever
/// the payload bytes hold. That is this type's contract, so a host may lend freshly mapped,
/// zero-filled memory as table storage without writing it: the kernel backs a page only when
/// a slot on it is first used, so a table sized for the board's worst case costs what has
/// been in use, not what it could hold (tables grow with use, and never move).
#[derive(Debug)]
pub struct Slot<T> {
    generation: u32,
    value: Entry<T>,
}

/// A slot's content. `#[repr(u8)]` gives it an explicit tag with `Empty` = 0 (no niche
/// layout), which is what makes an all-zero [`Slot`] empty.
#[derive(Debug)]
#[repr(u8)]
enum Entry<T> {
    Empty = 0,
    Live(T) = 1,
}

impl<T> Entry<T> {
    fn is_none(&self) -> bool {
        matches!(self, Entry::Empty)
    }
    fn as_ref(&self) -> Option<&T> {
        match self {
            Entry::Live(v) => Some(v),
            Entry::Empty => None,
        }
    }
    fn as_mut(&mut self) -> Option<&mut T> {
        match self {
            Entry::Live(v) => Some(v),
            Entry::Empty => None,
        }
    }
    fn take(&mut self) -> Option<T> {
        match core::mem::replace(self, Entry::Empty) {
            Entry::Live(v) => Some(v),
            Entry::Empty => None,
        }
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            generation: 0,
            value: Entry::Empty,
        }
    }
}

/// The table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// A table over lent slot storage.
#[derive(Debug)]
pub struct Table<'r, T> {
    slots: &'r mut [Slot<T>],
    used: usize,
    /// One past the highest live slot: every slot at or above it is free.
    high: usize,
}

impl<'r, T> Table<'r, T> {
    /// Uses `slots` as the table's storage. All slots must be empty ([`Slot::default`] or
    /// zeroed memory, see [`Slot`]); they are not written here, so untouched storage stays
    /// untouched until the table grows into it.
    pub fn new(slots: &'r mut [Slot<T>]) -> Self {
        debug_assert!(slots.iter().all(|s| s.value.is_none()));
        Self {
            slots,
            used: 0,
            high: 0,
        }
    }

    /// Stores `value` in a free slot.
    pub fn insert(&mut self, value: T) -> Result<Handle, Full> {
        let (index, slot) = self
            .slots
            .iter_mut()
            .enumerate()
            .find(|(_, s)| s.value.is_none())
            .ok_or(Full)?;
        // Generations stay within 16 bits so every id format (tree ids pack 16) can carry
        // them; 0 is skipped so a packed id is never all zero.
        slot.generation = (slot.generation % 0xffff) + 1;
        slot.value = Entry::Live(value);
        self.used += 1;
        self.high = self.high.max(index + 1);
        Ok(Handle {
            index: index as u32,
            generation: slot.generation,
        })
    }

    /// Removes and returns the value behind `h`.
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let v = slot.value.take();
        if v.is_some() {
            self.used -= 1;
            while self.high > 0 && self.slots[self.high - 1].value.is_none() {
                self.high -= 1;
            }
        }
        v
    }

    pub fn get(&self, h: Handle) -> Option<&T> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.value.as_ref()
    }

    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Live entries with their handles.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &T)> {
        self.slots[..self.high]
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.value.as_ref().map(|v| {
                    (
                        Handle {
                            index: i as u32,
                            generation: s.generation,
                        },
                        v,
                    )
                })
            })
    }

    /// Live entries, mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Handle, &mut T)> {
        self.slots[..self.high]
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| {
                let g = s.generation;
                s.value.as_mut().map(|v| {
                    (
                        Handle {
                            index: i as u32,
                            generation: g,
                        },
                        v,
                    )
                })
            })
    }

    /// The first live entry matching `f`.
    pub fn find(&self, mut f: impl FnMut(&T) -> bool) -> Option<Handle> {
        self.iter().find(|(_, v)| f(v)).map(|(h, _)| h)
    }

    pub fn len(&self) -> usize {
        self.used
    }
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn full_table_and_stale_handles() {
        let mut storage: Vec<Slot<u32>> = (0..2).map(|_| Slot::default()).collect();
        let mut t = Table::new(&mut storage);
        let a = t.insert(1).unwrap();
        let b = t.insert(2).unwrap();
        assert_eq!(t.insert(3), Err(Full));
        assert_eq!(t.remove(a), Some(1));
        let c = t.insert(4).unwrap();
        assert_eq!(c.index, a.index);
        assert!(t.get(a).is_none(), "stale handle must not resolve");
        assert_eq!(t.get(c), Some(&4));
        assert_eq!(t.get(b), Some(&2));
        assert_eq!(Handle::from_u64(c.to_u64()), Some(c));
        assert_eq!(Handle::from_u64(0), None);
    }

    #[test]
    fn scans_stop_at_the_highest_live_slot() {
        let mut storage: Vec<Slot<u32>> = (0..8).map(|_| Slot::default()).collect();
        let mut t = Table::new(&mut storage);
        let h: Vec<Handle> = (0..5).map(|i| t.insert(i).unwrap()).collect();
        assert_eq!(t.high, 5);
        t.remove(h[4]);
        t.remove(h[2]);
        assert_eq!(t.high, 4, "slot 3 is still live");
        t.remove(h[3]);
        assert_eq!(t.high, 2, "trailing free slots are dropped");
        let v: Vec<u32> = t.iter().map(|(_, v)| *v).collect();
        assert_eq!(v, [0, 1]);
        // The lowest free slot is taken first, so live entries stay packed at the bottom.
        let n = t.insert(9).unwrap();
        assert_eq!(n.index, 2);
        assert_eq!(t.high, 3);
        for (_, v) in t.iter_mut() {
            *v += 1;
        }
        let v: Vec<u32> = t.iter().map(|(_, v)| *v).collect();
        assert_eq!(v, [1, 2, 10]);
        t.remove(h[0]);
        t.remove(h[1]);
        t.remove(n);
        assert_eq!((t.high, t.len()), (0, 0));
        assert_eq!(t.iter().count(), 0);
        // A stale handle's remove changes nothing.
        assert_eq!(t.remove(n), None);
        assert_eq!(t.high, 0);
    }
}
