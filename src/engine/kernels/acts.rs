//! Quantized activations: one or several token vectors quantized once and shared by every
//! weight matrix that multiplies them.
//!
//! Three independent "families" live in one [`QuantizedActs`], each with its own reusable
//! buffers (no allocation once they have grown to size):
//! * Q8_0-style blocks for Q4_0 / Q4_1 / Q8_0 weights: per 32 elements an f32 scale `d`,
//!   `i8 qs[32]` and the block sum `s = d * sum(qs)` (so a Q4_1 min or the Q4_0 offset costs one
//!   FMA per block). Stored structure-of-arrays: `d[]`, `s[]`, `qs[]`.
//! * Q8_K blocks for Q4_K / Q6_K weights: per 256 elements an f32 `d`, `i8 qs[256]` and
//!   `i16 bsums[16]` (sums of each 16 quants).
//! * A plain f32 copy of the activations for F32 / F16 weights (no quantization).
//!
//! Every `quantize*` call invalidates all families and then fills the requested ones, so a
//! stale family can never be read: the dot functions panic if the family they need is missing.
//! Use [`QuantizedActs::quantize_rows_for`] to fill several families from the same input.

use super::types::{QuantType, QK, QKK};

/// Which activation representation a weight type consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Q8,
    Q8K,
    F32,
}

pub(super) fn family(t: QuantType) -> Family {
    match t {
        QuantType::Q4_0 | QuantType::Q4_1 | QuantType::Q8_0 => Family::Q8,
        QuantType::Q4K | QuantType::Q6K => Family::Q8K,
        QuantType::F32 | QuantType::F16 => Family::F32,
    }
}

/// One token's Q8_0-style blocks.
pub(super) struct Q8Row<'a> {
    pub d: &'a [f32],
    pub s: &'a [f32],
    pub qs: &'a [i8],
}

/// One token's Q8_K blocks.
pub(super) struct Q8KRow<'a> {
    pub d: &'a [f32],
    pub qs: &'a [i8],
    pub bsums: &'a [i16],
}

/// Activations of one vector (or of several tokens), quantized once and shared by every matrix
/// that multiplies it. See the module docs for the layout.
#[derive(Clone, Debug, Default)]
pub struct QuantizedActs {
    n_cols: usize,
    n_tokens: usize,
    q8_valid: bool,
    q8_d: Vec<f32>,
    q8_s: Vec<f32>,
    q8_qs: Vec<i8>,
    k_valid: bool,
    k_d: Vec<f32>,
    k_qs: Vec<i8>,
    k_bsums: Vec<i16>,
    f_valid: bool,
    f: Vec<f32>,
}

#[inline(always)]
fn quant_block(x: &[f32], qs: &mut [i8]) -> (f32, i32) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(x) {
        let r = (v * id).round().clamp(-127.0, 127.0) as i8;
        *q = r;
        sum += r as i32;
    }
    (d, sum)
}

impl QuantizedActs {
    /// Empty activations; buffers grow on first use and are reused afterwards.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements per token of the last quantization.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of tokens of the last quantization.
    pub fn n_tokens(&self) -> usize {
        self.n_tokens
    }

    /// Quantizes one vector for weights of type `for_type`.
    pub fn quantize(&mut self, x: &[f32], for_type: QuantType) {
        self.quantize_rows_for(x, x.len(), &[for_type]);
    }

    /// Quantizes `x.len() / n_cols` tokens (rows of `n_cols` elements) for weights of `for_type`.
    pub fn quantize_rows(&mut self, x: &[f32], n_cols: usize, for_type: QuantType) {
        self.quantize_rows_for(x, n_cols, &[for_type]);
    }

    /// Like [`Self::quantize_rows`] but fills the families of every type in `types`, so one
    /// activation vector can feed e.g. both Q4_1 and Q6_K matrices.
    pub fn quantize_rows_for(&mut self, x: &[f32], n_cols: usize, types: &[QuantType]) {
        assert!(
            n_cols > 0 && x.len().is_multiple_of(n_cols),
            "x.len() must be a multiple of n_cols"
        );
        self.n_cols = n_cols;
        self.n_tokens = x.len() / n_cols;
        self.q8_valid = false;
        self.k_valid = false;
        self.f_valid = false;
        for &t in types {
            match family(t) {
                Family::Q8 if !self.q8_valid => self.fill_q8(x),
                Family::Q8K if !self.k_valid => self.fill_q8k(x),
                Family::F32 if !self.f_valid => {
                    self.f.clear();
                    self.f.extend_from_slice(x);
                    self.f_valid = true;
                }
                _ => {}
            }
        }
    }

    fn fill_q8(&mut self, x: &[f32]) {
        assert!(
            self.n_cols.is_multiple_of(QK),
            "n_cols must be a multiple of 32 for Q4_0/Q4_1/Q8_0"
        );
        let nb = x.len() / QK;
        self.q8_d.resize(nb, 0.0);
        self.q8_s.resize(nb, 0.0);
        self.q8_qs.resize(nb * QK, 0);
        for b in 0..nb {
            let (d, sum) = quant_block(
                &x[b * QK..(b + 1) * QK],
                &mut self.q8_qs[b * QK..(b + 1) * QK],
            );
            self.q8_d[b] = d;
            self.q8_s[b] = d * sum as f32;
        }
        self.q8_valid = true;
    }

    fn fill_q8k(&mut self, x: &[f32]) {
        assert!(
            self.n_cols.is_multiple_of(QKK),
            "n_cols must be a multiple of 256 for Q4_K/Q6_K"
        );
        let nb = x.len() / QKK;
        self.k_d.resize(nb, 0.0);
        self.k_qs.resize(nb * QKK, 0);
        self.k_bsums.resize(nb * 16, 0);
        for b in 0..nb {
            let qs = &mut self.k_qs[b * QKK..(b + 1) * QKK];
            let (d, _) = quant_block(&x[b * QKK..(b + 1) * QKK], qs);
            self.k_d[b] = d;
            for g in 0..16 {
                self.k_bsums[b * 16 + g] = qs[g * 16..g * 16 + 16].iter().map(|&q| q as i16).sum();
            }
        }
        self.k_valid = true;
    }

    fn check(&self, ok: bool, token: usize, what: &str) {
        assert!(
            ok,
            "QuantizedActs: {what} activations not quantized (call quantize for this type)"
        );
        assert!(
            token < self.n_tokens,
            "token {token} out of range ({} tokens)",
            self.n_tokens
        );
    }

    pub(super) fn q8(&self, token: usize) -> Q8Row<'_> {
        self.check(self.q8_valid, token, "Q8_0");
        let nb = self.n_cols / QK;
        let r = token * nb..(token + 1) * nb;
        Q8Row {
            d: &self.q8_d[r.clone()],
            s: &self.q8_s[r.clone()],
            qs: &self.q8_qs[r.start * QK..r.end * QK],
        }
    }

    pub(super) fn q8k(&self, token: usize) -> Q8KRow<'_> {
        self.check(self.k_valid, token, "Q8_K");
        let nb = self.n_cols / QKK;
        let r = token * nb..(token + 1) * nb;
        Q8KRow {
            d: &self.k_d[r.clone()],
            qs: &self.k_qs[r.start * QKK..r.end * QKK],
            bsums: &self.k_bsums[r.start * 16..r.end * 16],
        }
    }

    pub(super) fn f32_row(&self, token: usize) -> &[f32] {
        self.check(self.f_valid, token, "f32");
        &self.f[token * self.n_cols..(token + 1) * self.n_cols]
    }

    /// Dequantized activations of `token` in the family used by `t` (for tests / debugging).
    pub fn dequantized(&self, t: QuantType, token: usize) -> Vec<f32> {
        match family(t) {
            Family::Q8 => {
                let a = self.q8(token);
                a.qs.iter()
                    .enumerate()
                    .map(|(i, &q)| a.d[i / QK] * q as f32)
                    .collect()
            }
            Family::Q8K => {
                let a = self.q8k(token);
                a.qs.iter()
                    .enumerate()
                    .map(|(i, &q)| a.d[i / QKK] * q as f32)
                    .collect()
            }
            Family::F32 => self.f32_row(token).to_vec(),
        }
    }
}
