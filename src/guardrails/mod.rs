//! Guardrails: named policies with immutable versions (`store`, `policy`), compiled into an
//! engine that assesses a text (`engine`, ApplyGuardrail) and a streaming check on the
//! `runtime::checks` contract (`check`), with the detectors they use (`sensitive`,
//! `words`, `classify`, `embed`). `service` is the entry point for the CLI, TUI and
//! orchestrator.

pub mod check;
pub mod classify;
pub mod embed;
pub mod engine;
pub mod policy;
pub mod sensitive;
pub mod service;
pub mod store;
pub mod template;
pub mod words;

pub use check::{GuardrailCheck, GuardrailUpdate};
pub use engine::{ApplyContext, Assessment, FinalAction, Guardrail, Source};
pub use service::Guardrails;
pub use store::{GuardrailError, GuardrailRef, GuardrailStore};
