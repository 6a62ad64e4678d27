//! Strata: a local-first terminal workbench for foundation models. The library holds the
//! engine (runtime, store, telemetry); the binary adds the CLI and the TUI on top.
// `unsafe` only in the CPU engine's kernels (`engine::kernels`, which allows it); tests/architecture.rs
// checks no other file has any.
#![deny(unsafe_code)]

pub mod agents;
pub mod bench;
pub mod cli;
pub mod config;
pub mod confine;
pub mod engine;
pub mod eval;
pub mod guardrails;
pub mod knowledge;
pub mod orchestrator;
pub mod runtime;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod tilde;
pub mod tools;
pub mod tui;
