//! Power-cut simulator and a small deterministic PRNG for tests.
//!
//! [`CrashStorage`] keeps, for every file, the durable image (what the last
//! successful sync made durable) and the current image (what the page cache
//! holds), and for the directory the durable and current name tables. It
//! counts mutating operations (writes, syncs, directory changes); when the
//! count reaches the armed crash point the power is cut: the operation in
//! progress may be partially applied, every operation from then on fails, and
//! [`CrashStorage::crash_image`] builds what a reboot would find:
//!
//! - each file starts from its durable image;
//! - each sector written since the last sync is, at random, left old, made
//!   new, zeroed, or trashed with random bytes (whole sectors);
//! - a file whose size changed since its last sync gets either size;
//! - each directory entry changed since the last directory sync is, at
//!   random, the old or the new one (independently per name).
//!
//! It can also inject I/O errors (the Nth write or the Nth sync fails)
//! without cutting power, to test how the store reacts to a failing medium.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::storage::{Storage, StorageFile};

/// SplitMix64: tiny, deterministic, good enough for test workloads.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// Seeded generator.
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// Fill with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// What becomes of an unsynced sector at a power cut, as weights.
#[derive(Clone, Copy, Debug)]
pub struct SectorFate {
    /// Keeps its durable (old) contents.
    pub old: u32,
    /// Gets the new contents.
    pub new: u32,
    /// Reads back as zeros.
    pub zero: u32,
    /// Trashed with random bytes.
    pub garbage: u32,
}

impl Default for SectorFate {
    fn default() -> Self {
        SectorFate {
            old: 3,
            new: 3,
            zero: 1,
            garbage: 2,
        }
    }
}

/// Kind of operation for error injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOp {
    /// `StorageFile::write_at`
    Write,
    /// `StorageFile::sync`
    Sync,
    /// `Storage::sync_dir`
    SyncDir,
}

#[derive(Clone, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    dirty: BTreeSet<u64>,
}

struct Sim {
    sector: u64,
    inodes: Vec<Inode>,
    dir: BTreeMap<String, usize>,
    dir_durable: BTreeMap<String, usize>,
    ops: u64,
    crash_at: Option<u64>,
    crashed: bool,
    faults: Vec<(FaultOp, u64)>,
    counts: [u64; 3],
    rng: SimRng,
    fate: SectorFate,
}

impl Sim {
    fn powered(&self) -> io::Result<()> {
        if self.crashed {
            Err(io::Error::other("simulated power loss"))
        } else {
            Ok(())
        }
    }

    /// Count a mutating operation; returns true if power is cut by it.
    fn tick(&mut self) -> bool {
        self.ops += 1;
        if self.crash_at == Some(self.ops) {
            self.crashed = true;
        }
        self.crashed
    }

    fn fault(&mut self, op: FaultOp) -> io::Result<()> {
        let i = op as usize;
        self.counts[i] += 1;
        let n = self.counts[i];
        if let Some(pos) = self.faults.iter().position(|&(o, at)| o == op && at == n) {
            self.faults.remove(pos);
            return Err(io::Error::other(format!("injected {op:?} error")));
        }
        Ok(())
    }

    fn write(&mut self, ino: usize, buf: &[u8], off: u64) {
        let sector = self.sector;
        let f = &mut self.inodes[ino];
        let start = off as usize;
        let end = start + buf.len();
        if end > f.data.len() {
            f.data.resize(end, 0);
        }
        f.data[start..end].copy_from_slice(buf);
        if !buf.is_empty() {
            for s in off / sector..=(end as u64 - 1) / sector {
                f.dirty.insert(s);
            }
        }
    }

    fn sync_file(&mut self, ino: usize) {
        let sector = self.sector as usize;
        let f = &mut self.inodes[ino];
        f.durable.resize(f.data.len(), 0);
        for &s in &f.dirty {
            let a = s as usize * sector;
            if a >= f.data.len() {
                continue;
            }
            let b = (a + sector).min(f.data.len());
            f.durable[a..b].copy_from_slice(&f.data[a..b]);
        }
        f.dirty.clear();
    }

    fn image(&mut self) -> Sim {
        let names: BTreeSet<String> = self
            .dir
            .keys()
            .chain(self.dir_durable.keys())
            .cloned()
            .collect();
        let mut dir = BTreeMap::new();
        for name in names {
            let pick = if self.rng.chance(1, 2) {
                &self.dir
            } else {
                &self.dir_durable
            };
            if let Some(&ino) = pick.get(&name) {
                dir.insert(name, ino);
            }
        }
        let sector = self.sector as usize;
        let mut inodes = Vec::with_capacity(self.inodes.len());
        let fate = self.fate;
        let total = u64::from(fate.old + fate.new + fate.zero + fate.garbage).max(1);
        for ino in 0..self.inodes.len() {
            let f = &self.inodes[ino];
            let mut img = f.durable.clone();
            if f.data.len() != f.durable.len() && self.rng.chance(1, 2) {
                img.resize(f.data.len(), 0);
            }
            let dirty: Vec<u64> = f.dirty.iter().copied().collect();
            for s in dirty {
                let a = s as usize * sector;
                if a >= img.len() {
                    continue;
                }
                let b = (a + sector).min(img.len());
                let mut r = self.rng.below(total);
                let f = &self.inodes[ino];
                if r < u64::from(fate.old) {
                    continue;
                }
                r -= u64::from(fate.old);
                if r < u64::from(fate.new) {
                    let nb = b.min(f.data.len());
                    if a < nb {
                        img[a..nb].copy_from_slice(&f.data[a..nb]);
                    }
                    continue;
                }
                r -= u64::from(fate.new);
                if r < u64::from(fate.zero) {
                    img[a..b].fill(0);
                } else {
                    self.rng.fill(&mut img[a..b]);
                }
            }
            inodes.push(Inode {
                data: img.clone(),
                durable: img,
                dirty: BTreeSet::new(),
            });
        }
        Sim {
            sector: self.sector,
            inodes,
            dir_durable: dir.clone(),
            dir,
            ops: 0,
            crash_at: None,
            crashed: false,
            faults: Vec::new(),
            counts: [0; 3],
            rng: SimRng::new(self.rng.next_u64()),
            fate: self.fate,
        }
    }
}

/// Storage that simulates power cuts and I/O errors. Clones share state.
#[derive(Clone)]
pub struct CrashStorage {
    sim: Arc<Mutex<Sim>>,
}

fn lock(sim: &Mutex<Sim>) -> io::Result<MutexGuard<'_, Sim>> {
    sim.lock()
        .map_err(|_| io::Error::other("simulator lock poisoned"))
}

impl CrashStorage {
    /// Empty storage with the given sector size (the unit of damage) and
    /// PRNG seed (used to decide the fate of unsynced sectors).
    pub fn new(sector_size: u64, seed: u64) -> CrashStorage {
        CrashStorage {
            sim: Arc::new(Mutex::new(Sim {
                sector: sector_size.max(1),
                inodes: Vec::new(),
                dir: BTreeMap::new(),
                dir_durable: BTreeMap::new(),
                ops: 0,
                crash_at: None,
                crashed: false,
                faults: Vec::new(),
                counts: [0; 3],
                rng: SimRng::new(seed),
                fate: SectorFate::default(),
            })),
        }
    }

    /// Set the weights deciding what happens to unsynced sectors.
    pub fn set_sector_fate(&self, fate: SectorFate) {
        if let Ok(mut s) = self.sim.lock() {
            s.fate = fate;
        }
    }

    /// Cut the power during the `n`th mutating operation from now (1 = the
    /// next one). Mutating operations: file writes, size changes, syncs,
    /// directory changes and directory syncs.
    pub fn crash_after(&self, n: u64) {
        if let Ok(mut s) = self.sim.lock() {
            s.crash_at = Some(s.ops + n.max(1));
        }
    }

    /// Make the `nth` (1-based, counted from the start) operation of kind
    /// `op` fail with an I/O error, without cutting power.
    pub fn inject_fault(&self, op: FaultOp, nth: u64) {
        if let Ok(mut s) = self.sim.lock() {
            s.faults.push((op, nth));
        }
    }

    /// Number of operations of kind `op` so far (for choosing fault points).
    pub fn op_count(&self, op: FaultOp) -> u64 {
        self.sim.lock().map(|s| s.counts[op as usize]).unwrap_or(0)
    }

    /// Mutating operations so far (for choosing crash points).
    pub fn mutations(&self) -> u64 {
        self.sim.lock().map(|s| s.ops).unwrap_or(0)
    }

    /// Whether the power has been cut.
    pub fn crashed(&self) -> bool {
        self.sim.lock().map(|s| s.crashed).unwrap_or(true)
    }

    /// Cut the power now (if not already) and return what a reboot finds, as
    /// a fresh storage with no crash armed. This storage stays powered off.
    /// On a storage with nothing unsynced (e.g. a previous image) the result
    /// is an exact copy, which is how tests fork a state.
    pub fn crash_image(&self) -> CrashStorage {
        let img = match self.sim.lock() {
            Ok(mut s) => {
                s.crashed = true;
                s.image()
            }
            Err(p) => p.into_inner().image(),
        };
        CrashStorage {
            sim: Arc::new(Mutex::new(img)),
        }
    }

    /// Overwrite a file's contents durably (tests: corruption).
    pub fn poke(&self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut s = lock(&self.sim)?;
        let ino = *s.dir.get(name).ok_or(io::ErrorKind::NotFound)?;
        s.write(ino, bytes, offset);
        s.sync_file(ino);
        Ok(())
    }
}

struct CrashFile {
    sim: Arc<Mutex<Sim>>,
    ino: usize,
}

impl StorageFile for CrashFile {
    fn len(&self) -> io::Result<u64> {
        let s = lock(&self.sim)?;
        s.powered()?;
        Ok(s.inodes[self.ino].data.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let s = lock(&self.sim)?;
        s.powered()?;
        let data = &s.inodes[self.ino].data;
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        if end > data.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&data[start..end]);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut s = lock(&self.sim)?;
        s.powered()?;
        s.fault(FaultOp::Write)?;
        s.write(self.ino, buf, offset);
        if s.tick() {
            return Err(io::Error::other("simulated power loss during write"));
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = lock(&self.sim)?;
        s.powered()?;
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        let sector = s.sector;
        let f = &mut s.inodes[self.ino];
        let old = f.data.len();
        f.data.resize(len, 0);
        if len > old {
            for sec in old as u64 / sector..=(len as u64 - 1) / sector {
                f.dirty.insert(sec);
            }
        }
        if s.tick() {
            return Err(io::Error::other("simulated power loss during set_len"));
        }
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut s = lock(&self.sim)?;
        s.powered()?;
        if s.tick() {
            return Err(io::Error::other("simulated power loss during sync"));
        }
        // An injected sync error leaves the dirty sectors undecided, like
        // Linux dropping dirty pages after a failed writeback.
        s.fault(FaultOp::Sync)?;
        s.sync_file(self.ino);
        Ok(())
    }
}

impl Storage for CrashStorage {
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let s = lock(&self.sim)?;
        s.powered()?;
        let ino = *s.dir.get(name).ok_or(io::ErrorKind::NotFound)?;
        Ok(Box::new(CrashFile {
            sim: self.sim.clone(),
            ino,
        }))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let mut s = lock(&self.sim)?;
        s.powered()?;
        let ino = s.inodes.len();
        s.inodes.push(Inode::default());
        s.dir.insert(name.to_string(), ino);
        if s.tick() {
            return Err(io::Error::other("simulated power loss during create"));
        }
        Ok(Box::new(CrashFile {
            sim: self.sim.clone(),
            ino,
        }))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let s = lock(&self.sim)?;
        s.powered()?;
        Ok(s.dir.keys().cloned().collect())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut s = lock(&self.sim)?;
        s.powered()?;
        s.dir.remove(name).ok_or(io::ErrorKind::NotFound)?;
        if s.tick() {
            return Err(io::Error::other("simulated power loss during remove"));
        }
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut s = lock(&self.sim)?;
        s.powered()?;
        let ino = s.dir.remove(from).ok_or(io::ErrorKind::NotFound)?;
        s.dir.insert(to.to_string(), ino);
        if s.tick() {
            return Err(io::Error::other("simulated power loss during rename"));
        }
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut s = lock(&self.sim)?;
        s.powered()?;
        if s.tick() {
            return Err(io::Error::other(
                "simulated power loss during directory sync",
            ));
        }
        s.fault(FaultOp::SyncDir)?;
        s.dir_durable = s.dir.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_data_survives_unsynced_may_not() {
        let st = CrashStorage::new(512, 1);
        let f = st.create("a").unwrap();
        st.sync_dir().unwrap();
        f.write_at(&[1u8; 1024], 0).unwrap();
        f.sync().unwrap();
        f.write_at(&[2u8; 512], 1024).unwrap();
        let img = st.crash_image();
        assert!(st.list().is_err());
        let g = img.open("a").unwrap();
        let mut b = [0u8; 1024];
        g.read_at(&mut b, 0).unwrap();
        assert_eq!(b, [1u8; 1024]);
    }

    #[test]
    fn unsynced_dir_entries_may_vanish() {
        let mut vanished = 0;
        for seed in 0..64 {
            let st = CrashStorage::new(512, seed);
            st.create("x").unwrap();
            let img = st.crash_image();
            if img.list().unwrap().is_empty() {
                vanished += 1;
            }
        }
        assert!(vanished > 0 && vanished < 64);
    }

    #[test]
    fn crash_point_and_faults() {
        let st = CrashStorage::new(512, 2);
        let f = st.create("a").unwrap();
        st.inject_fault(FaultOp::Sync, 1);
        assert!(f.sync().is_err());
        assert!(f.sync().is_ok());
        st.crash_after(2);
        f.write_at(b"x", 0).unwrap();
        assert!(f.write_at(b"y", 1).is_err());
        assert!(st.crashed());
        assert!(f.len().is_err());
    }
}
