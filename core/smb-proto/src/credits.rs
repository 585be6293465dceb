//! Credit accounting and message-id validation ([MS-SMB2] 3.3.1.1, 3.3.5.2.3, 3.3.5.2.5):
//! a sliding window of message ids the client may use, as a bitmap of the ids already used.

/// Credits the window can describe; board limits above this are clamped.
pub const MAX_CREDITS: usize = 8192;

/// The per-connection command-sequence window.
#[derive(Debug, Clone)]
pub struct Credits {
    /// Lowest message id not yet used.
    low: u64,
    /// Ids `low..low + range` may be used (the outstanding credits).
    range: u64,
    /// Bit `i` (relative to `low`) is set when id `low + i` was used out of order.
    used: [u64; MAX_CREDITS / 64],
}

impl Default for Credits {
    fn default() -> Self {
        // A new connection may send message id 0 (one credit).
        Self {
            low: 0,
            range: 1,
            used: [0; MAX_CREDITS / 64],
        }
    }
}

/// Why a message id was refused; the connection is dropped (Windows and Samba do the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidMessageId;

impl Credits {
    fn bit(&self, i: u64) -> bool {
        let i = i as usize;
        self.used[(i / 64) % self.used.len()] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: u64, v: bool) {
        let i = i as usize;
        let w = &mut self.used[(i / 64) % (MAX_CREDITS / 64)];
        if v {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
    }

    /// Consumes ids `id..id + charge`. The bitmap is indexed by absolute id modulo its size,
    /// which is safe because the window never exceeds [`MAX_CREDITS`].
    pub fn consume(&mut self, id: u64, charge: u16) -> Result<(), InvalidMessageId> {
        let charge = u64::from(charge.max(1));
        let end = id.checked_add(charge).ok_or(InvalidMessageId)?;
        if id < self.low || end > self.low + self.range || id == u64::MAX {
            return Err(InvalidMessageId);
        }
        if (id..end).any(|i| self.bit(i)) {
            return Err(InvalidMessageId);
        }
        for i in id..end {
            self.set(i, true);
        }
        while self.range > 0 && self.bit(self.low) {
            self.set(self.low, false);
            self.low += 1;
            self.range -= 1;
        }
        Ok(())
    }

    /// Grants up to `requested` credits (at least one when the client would otherwise have
    /// none), without letting the outstanding window exceed `max`. Returns the grant.
    pub fn grant(&mut self, requested: u16, max: u16) -> u16 {
        let max = u64::from(max).clamp(1, MAX_CREDITS as u64);
        let room = max.saturating_sub(self.range);
        let mut g = u64::from(requested).min(room);
        if g == 0 && self.range == 0 {
            g = 1;
        }
        self.range += g;
        g as u16
    }

    /// Outstanding credits.
    pub fn outstanding(&self) -> u64 {
        self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_out_of_order_ids() {
        let mut c = Credits::default();
        c.consume(0, 1).unwrap();
        assert_eq!(c.grant(10, 64), 10);
        c.consume(3, 1).unwrap();
        c.consume(1, 2).unwrap();
        assert_eq!(c.consume(2, 1), Err(InvalidMessageId), "reused id");
        assert_eq!(c.consume(11, 1), Err(InvalidMessageId), "beyond the window");
        c.consume(4, 4).unwrap();
        assert_eq!(c.outstanding(), 3);
    }

    #[test]
    fn grant_is_bounded() {
        let mut c = Credits::default();
        c.consume(0, 1).unwrap();
        assert_eq!(c.grant(1000, 128), 128);
        assert_eq!(c.grant(1000, 128), 0);
        assert_eq!(c.consume(u64::MAX - 1, 5), Err(InvalidMessageId));
    }
}
