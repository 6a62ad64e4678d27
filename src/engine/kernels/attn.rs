//! The attention's small vector operations on the f16 key/value cache: a query · key dot
//! and a weighted add of a value row, in f32.

use half::f16;

/// `a · b` with `b` in f16.
pub fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for (xa, xb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for (l, acc) in acc.iter_mut().enumerate() {
            *acc += xa[l] * xb[l].to_f32();
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len().min(b.len()) {
        sum += a[i] * b[i].to_f32();
    }
    sum
}

/// `out += w * v` with `v` in f16.
pub fn axpy_f16(w: f32, v: &[f16], out: &mut [f32]) {
    for (o, x) in out.iter_mut().zip(v) {
        *o += w * x.to_f32();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_f32() {
        let a: Vec<f32> = (0..67).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f16> = (0..67)
            .map(|i| f16::from_f32((i as f32 * 0.11).cos()))
            .collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y.to_f32()).sum();
        assert!((dot_f16(&a, &b) - want).abs() < 1e-4);
        let mut out = vec![1.0; 67];
        axpy_f16(0.5, &b, &mut out);
        assert!((out[3] - (1.0 + 0.5 * b[3].to_f32())).abs() < 1e-6);
    }
}
