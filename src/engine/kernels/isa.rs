//! CPU feature detection (once, cached) and the `STRATA_KERNELS` override.
//!
//! `STRATA_KERNELS=scalar|avx2|avxvnni|avx512|avx512vnni` selects a lower kernel set for
//! comparison; a request the CPU cannot run falls back to the best supported set below it.

use std::sync::OnceLock;

/// Kernel sets, ordered from slowest to fastest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust.
    Scalar,
    /// AVX2 + FMA + F16C (`vpmaddubsw`/`vpmaddwd`), 256-bit.
    Avx2,
    /// AVX-VNNI (VEX `vpdpbusd`), 256-bit.
    AvxVnni,
    /// AVX-512 F+BW without VNNI (`vpmaddubsw`/`vpmaddwd`), 512-bit.
    Avx512,
    /// AVX-512 F+BW+VNNI (`vpdpbusd`), 512-bit.
    Avx512Vnni,
}

impl Isa {
    /// All kernel sets, slowest first.
    pub const ALL: [Isa; 5] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::AvxVnni,
        Isa::Avx512,
        Isa::Avx512Vnni,
    ];

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> u8 {
    let mut m = Isa::Scalar.bit();
    let avx2 = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c");
    if avx2 {
        m |= Isa::Avx2.bit();
        if is_x86_feature_detected!("avxvnni") {
            m |= Isa::AvxVnni.bit();
        }
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") {
            m |= Isa::Avx512.bit();
            if is_x86_feature_detected!("avx512vnni") {
                m |= Isa::Avx512Vnni.bit();
            }
        }
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> u8 {
    Isa::Scalar.bit()
}

fn mask() -> u8 {
    static M: OnceLock<u8> = OnceLock::new();
    *M.get_or_init(detect)
}

/// Whether this CPU can run the kernel set `isa`.
pub fn supported(isa: Isa) -> bool {
    mask() & isa.bit() != 0
}

/// Kernel sets this CPU can run, slowest first.
pub fn supported_isas() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|&i| supported(i)).collect()
}

/// The kernel set used by [`dot`](super::dot) / [`matvec`](super::matvec) / [`matmul`](super::matmul):
/// the best supported one, or the one requested by `STRATA_KERNELS` (or the best below it).
pub fn isa() -> Isa {
    static I: OnceLock<Isa> = OnceLock::new();
    *I.get_or_init(|| {
        let cap = match std::env::var("STRATA_KERNELS")
            .ok()
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("scalar") => Isa::Scalar,
            Some("avx2") => Isa::Avx2,
            Some("avxvnni") => Isa::AvxVnni,
            Some("avx512") => Isa::Avx512,
            _ => Isa::Avx512Vnni,
        };
        Isa::ALL
            .into_iter()
            .rev()
            .find(|&i| i <= cap && supported(i))
            .unwrap_or(Isa::Scalar)
    })
}
