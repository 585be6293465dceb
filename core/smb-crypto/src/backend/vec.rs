//! The NEON backend's [`Kernel`], written against [`Simd`] so that it also runs (slowly, as a
//! model) on any host in the unit tests: bit-sliced AES for CTR, vector-permute AES for single
//! blocks and CBC-MAC, 8-bit-`pmull` GHASH.

use super::bitsliced::{self, BsKey};
use super::ghash_p8::{self, GhashKey};
use super::modes::Kernel;
use super::simd::Simd;
use super::vperm::{self, VpKey};
use core::marker::PhantomData;

/// Key material for one AES key. The bit-sliced keys are only built when CTR is needed
/// (sealing), the GHASH tables only for GCM/GMAC.
pub(crate) struct VecKernel<V> {
    vp: VpKey,
    bs: Option<BsKey>,
    gh: Option<GhashKey>,
    _v: PhantomData<fn() -> V>,
}

impl<V> Clone for VecKernel<V> {
    fn clone(&self) -> Self {
        Self {
            vp: self.vp.clone(),
            bs: self.bs.clone(),
            gh: self.gh.clone(),
            _v: PhantomData,
        }
    }
}

impl<V: Simd> VecKernel<V> {
    /// Key schedules for a 16- or 32-byte key.
    pub(crate) fn new(key: &[u8], with_ctr: bool, with_ghash: bool) -> Option<Self> {
        let vp = VpKey::new::<V>(key)?;
        let bs = if with_ctr {
            Some(BsKey::new::<V>(key)?)
        } else {
            None
        };
        let mut k = Self {
            vp,
            bs,
            gh: None,
            _v: PhantomData,
        };
        if with_ghash {
            let mut h = [0u8; 16];
            k.encrypt_block(&mut h);
            k.gh = Some(GhashKey::new(&h));
        }
        Some(k)
    }
}

#[allow(clippy::big_endian_bytes)] // The CTR counter is big-endian by definition (SP 800-38D).
fn counter_block(ctr: &[u8; 16], add: u32) -> [u8; 16] {
    let mut b = *ctr;
    let c = u32::from_be_bytes([ctr[12], ctr[13], ctr[14], ctr[15]]).wrapping_add(add);
    b[12..].copy_from_slice(&c.to_be_bytes());
    b
}

impl<V: Simd> Kernel for VecKernel<V> {
    fn encrypt_block(&self, block: &mut [u8; 16]) {
        vperm::encrypt(&self.vp, V::load(block)).store(block);
    }

    fn ctr32(&self, ctr: &mut [u8; 16], data: &mut [u8]) {
        let Some(bs) = &self.bs else {
            for blk in data.chunks_exact_mut(16) {
                let mut s = *ctr;
                self.encrypt_block(&mut s);
                blk.iter_mut().zip(s).for_each(|(d, k)| *d ^= k);
                *ctr = counter_block(ctr, 1);
            }
            return;
        };
        for chunk in data.chunks_mut(128) {
            let n = chunk.len() / 16;
            let blocks: [V; 8] = core::array::from_fn(|i| V::load(&counter_block(ctr, i as u32)));
            let ks = bitsliced::encrypt8(bs, blocks);
            for (blk, s) in chunk.chunks_exact_mut(16).zip(ks) {
                let blk: &mut [u8; 16] = blk.try_into().expect("16 bytes");
                V::load(blk).xor(s).store(blk);
            }
            *ctr = counter_block(ctr, n as u32);
        }
    }

    fn cbc_mac(&self, mac: &mut [u8; 16], data: &[u8]) {
        let mut m = V::load(mac);
        for blk in data.chunks_exact(16) {
            m = vperm::encrypt(&self.vp, m.xor(V::load(blk.try_into().expect("16 bytes"))));
        }
        m.store(mac);
    }

    fn ghash(&self, y: &mut [u8; 16], data: &[u8]) {
        match &self.gh {
            Some(g) => ghash_p8::ghash::<V>(g, y, data),
            None => {
                // Not used by the callers (GHASH tables are built for GCM/GMAC keys); kept
                // correct rather than panicking.
                let g = Self::new_ghash(self);
                ghash_p8::ghash::<V>(&g, y, data);
            }
        }
    }
}

impl<V: Simd> VecKernel<V> {
    fn new_ghash(&self) -> GhashKey {
        let mut h = [0u8; 16];
        self.encrypt_block(&mut h);
        GhashKey::new(&h)
    }
}
