//! Quantization type descriptors: ggml block sizes (elements and bytes per block) and small
//! byte-reading helpers shared by the scalar and SIMD kernels.

use half::f16;

/// Weight storage types understood by the kernels (ggml/GGUF block layouts, little endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantType {
    /// 32 weights / 18 bytes: `d: f16, qs[16]`, `w = d * (q - 8)`.
    Q4_0,
    /// 32 weights / 20 bytes: `d: f16, m: f16, qs[16]`, `w = d * q + m`.
    Q4_1,
    /// 32 weights / 34 bytes: `d: f16, qs: i8[32]`, `w = d * q`.
    Q8_0,
    /// 256 weights / 144 bytes: `d, dmin: f16, scales[12], qs[128]`.
    Q4K,
    /// 256 weights / 210 bytes: `ql[128], qh[64], scales: i8[16], d: f16`.
    Q6K,
    /// Plain little-endian f32.
    F32,
    /// Plain little-endian IEEE f16.
    F16,
}

/// Elements per block for the 32-element formats.
pub(super) const QK: usize = 32;
/// Elements per super-block for the K-quants.
pub(super) const QKK: usize = 256;

impl QuantType {
    /// Number of weights in one block (1 for the float types).
    pub fn block_elems(self) -> usize {
        match self {
            QuantType::Q4_0 | QuantType::Q4_1 | QuantType::Q8_0 => QK,
            QuantType::Q4K | QuantType::Q6K => QKK,
            QuantType::F32 | QuantType::F16 => 1,
        }
    }

    /// Bytes in one block.
    pub fn block_bytes(self) -> usize {
        match self {
            QuantType::Q4_0 => 18,
            QuantType::Q4_1 => 20,
            QuantType::Q8_0 => 34,
            QuantType::Q4K => 144,
            QuantType::Q6K => 210,
            QuantType::F32 => 4,
            QuantType::F16 => 2,
        }
    }

    /// Bytes of one row of `n` weights. Panics if `n` is not a multiple of [`Self::block_elems`].
    pub fn row_bytes(self, n: usize) -> usize {
        let be = self.block_elems();
        assert!(
            n.is_multiple_of(be),
            "{self:?}: row length {n} is not a multiple of {be}"
        );
        n / be * self.block_bytes()
    }
}

/// Reads a little-endian f16 at `off` and widens it.
#[inline(always)]
pub(super) fn f16_at(b: &[u8], off: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[off], b[off + 1]])).to_f32()
}

/// Decodes the 8 six-bit (scale, min) pairs of a Q4_K super-block (ggml's `get_scale_min_k4`).
#[inline(always)]
pub(super) fn q4k_scales(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..8 {
        if j < 4 {
            sc[j] = s[j] & 63;
            mn[j] = s[j + 4] & 63;
        } else {
            sc[j] = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
            mn[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        }
    }
    (sc, mn)
}
