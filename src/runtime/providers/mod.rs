//! Provider implementations: `openai` (any OpenAI-compatible endpoint) and `local`
//! (in-process kalosm), plus the local runtime's chat templates, GGUF header checks,
//! sampler, and its constrained tool calls.

pub mod chat_template;
pub mod engine_chat;
pub mod gguf;
pub mod local;
pub mod openai;
pub mod requantize;
pub mod sampler;
pub mod tool_calls;
