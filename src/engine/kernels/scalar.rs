//! Portable scalar kernels: row dequantization (embedding lookups, tests) and the reference
//! dot products against [`QuantizedActs`](super::QuantizedActs) blocks. Integer sums per block,
//! exactly as the SIMD kernels compute them; only the float accumulation order differs.

use super::acts::{Q8KRow, Q8Row};
use super::types::{f16_at, q4k_scales, QuantType, QK, QKK};

/// Dequantizes one row of `t` into `out` (`out.len()` weights, `row.len() == t.row_bytes(out.len())`).
pub fn dequantize_row(t: QuantType, row: &[u8], out: &mut [f32]) {
    assert_eq!(
        row.len(),
        t.row_bytes(out.len()),
        "dequantize_row: row/out length mismatch"
    );
    let bb = t.block_bytes();
    match t {
        QuantType::Q4_0 | QuantType::Q4_1 => {
            for (blk, y) in row.chunks_exact(bb).zip(out.chunks_exact_mut(QK)) {
                let d = f16_at(blk, 0);
                let (m, qs) = if t == QuantType::Q4_1 {
                    (f16_at(blk, 2), &blk[4..])
                } else {
                    (-8.0 * d, &blk[2..])
                };
                for j in 0..16 {
                    y[j] = d * (qs[j] & 0x0F) as f32 + m;
                    y[j + 16] = d * (qs[j] >> 4) as f32 + m;
                }
            }
        }
        QuantType::Q8_0 => {
            for (blk, y) in row.chunks_exact(bb).zip(out.chunks_exact_mut(QK)) {
                let d = f16_at(blk, 0);
                for j in 0..QK {
                    y[j] = d * (blk[2 + j] as i8) as f32;
                }
            }
        }
        QuantType::Q4K => {
            for (blk, y) in row.chunks_exact(bb).zip(out.chunks_exact_mut(QKK)) {
                let d = f16_at(blk, 0);
                let dmin = f16_at(blk, 2);
                let (sc, mn) = q4k_scales(&blk[4..16]);
                let qs = &blk[16..144];
                for j in 0..4 {
                    let (d1, m1) = (d * sc[2 * j] as f32, dmin * mn[2 * j] as f32);
                    let (d2, m2) = (d * sc[2 * j + 1] as f32, dmin * mn[2 * j + 1] as f32);
                    for l in 0..32 {
                        let q = qs[32 * j + l];
                        y[64 * j + l] = d1 * (q & 0x0F) as f32 - m1;
                        y[64 * j + 32 + l] = d2 * (q >> 4) as f32 - m2;
                    }
                }
            }
        }
        QuantType::Q6K => {
            for (blk, y) in row.chunks_exact(bb).zip(out.chunks_exact_mut(QKK)) {
                let d = f16_at(blk, 208);
                for (i, v) in q6k_block_quants(blk).iter().enumerate() {
                    y[i] = d * (blk[192 + i / 16] as i8) as f32 * *v as f32;
                }
            }
        }
        QuantType::F32 => {
            for (b, y) in row.chunks_exact(4).zip(out.iter_mut()) {
                *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        QuantType::F16 => {
            for (i, y) in out.iter_mut().enumerate() {
                *y = f16_at(row, 2 * i);
            }
        }
    }
}

/// The 256 signed 6-bit quants (-32..31) of one Q6_K block, in element order.
#[inline(always)]
fn q6k_block_quants(blk: &[u8]) -> [i8; QKK] {
    let mut q = [0i8; QKK];
    for h in 0..2 {
        let ql = &blk[64 * h..64 * h + 64];
        let qh = &blk[128 + 32 * h..128 + 32 * h + 32];
        let y = &mut q[128 * h..128 * h + 128];
        for l in 0..32 {
            y[l] = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i8 - 32;
            y[l + 32] = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            y[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            y[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
        }
    }
    q
}

/// Q4_0 (`has_min = false`, offset -8 folded into the block sum) and Q4_1 rows.
pub(super) fn q4(row: &[u8], a: &Q8Row, has_min: bool) -> f32 {
    let bb = if has_min { 20 } else { 18 };
    let mut acc = 0.0f32;
    for (b, blk) in row.chunks_exact(bb).enumerate() {
        let d = f16_at(blk, 0);
        let (m, qs) = if has_min {
            (f16_at(blk, 2), &blk[4..20])
        } else {
            (-8.0 * d, &blk[2..18])
        };
        let y = &a.qs[b * QK..b * QK + QK];
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += (qs[j] & 0x0F) as i32 * y[j] as i32 + (qs[j] >> 4) as i32 * y[j + 16] as i32;
        }
        acc += d * a.d[b] * sumi as f32 + m * a.s[b];
    }
    acc
}

pub(super) fn q8_0(row: &[u8], a: &Q8Row) -> f32 {
    let mut acc = 0.0f32;
    for (b, blk) in row.chunks_exact(34).enumerate() {
        let y = &a.qs[b * QK..b * QK + QK];
        let sumi: i32 = blk[2..34]
            .iter()
            .zip(y)
            .map(|(&w, &v)| (w as i8) as i32 * v as i32)
            .sum();
        acc += f16_at(blk, 0) * a.d[b] * sumi as f32;
    }
    acc
}

pub(super) fn q4k(row: &[u8], a: &Q8KRow) -> f32 {
    let mut acc = 0.0f32;
    for (b, blk) in row.chunks_exact(144).enumerate() {
        let (sc, mn) = q4k_scales(&blk[4..16]);
        let qs = &blk[16..144];
        let y = &a.qs[b * QKK..b * QKK + QKK];
        let bs = &a.bsums[b * 16..b * 16 + 16];
        let mut sumi = 0i32;
        let mut summ = 0i32;
        for j in 0..4 {
            let (mut lo, mut hi) = (0i32, 0i32);
            for l in 0..32 {
                let q = qs[32 * j + l];
                lo += (q & 0x0F) as i32 * y[64 * j + l] as i32;
                hi += (q >> 4) as i32 * y[64 * j + 32 + l] as i32;
            }
            sumi += lo * sc[2 * j] as i32 + hi * sc[2 * j + 1] as i32;
            summ += mn[2 * j] as i32 * (bs[4 * j] as i32 + bs[4 * j + 1] as i32)
                + mn[2 * j + 1] as i32 * (bs[4 * j + 2] as i32 + bs[4 * j + 3] as i32);
        }
        acc += f16_at(blk, 0) * a.d[b] * sumi as f32 - f16_at(blk, 2) * a.d[b] * summ as f32;
    }
    acc
}

pub(super) fn q6k(row: &[u8], a: &Q8KRow) -> f32 {
    let mut acc = 0.0f32;
    for (b, blk) in row.chunks_exact(210).enumerate() {
        let q = q6k_block_quants(blk);
        let y = &a.qs[b * QKK..b * QKK + QKK];
        let mut sumi = 0i32;
        for g in 0..16 {
            let s: i32 = (0..16)
                .map(|i| q[16 * g + i] as i32 * y[16 * g + i] as i32)
                .sum();
            sumi += s * (blk[192 + g] as i8) as i32;
        }
        acc += f16_at(blk, 208) * a.d[b] * sumi as f32;
    }
    acc
}

pub(super) fn f32_dot(row: &[u8], x: &[f32]) -> f32 {
    row.chunks_exact(4)
        .zip(x)
        .map(|(b, &v)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * v)
        .sum()
}

pub(super) fn f16_dot(row: &[u8], x: &[f32]) -> f32 {
    x.iter()
        .enumerate()
        .map(|(i, &v)| f16_at(row, 2 * i) * v)
        .sum()
}
