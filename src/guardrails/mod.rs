//! The guardrails module: checks around model calls built on the `runtime::checks`
//! contract. For now it holds the sensitive-information detectors and their check.

pub mod sensitive;
