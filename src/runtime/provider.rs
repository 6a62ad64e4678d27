//! The one trait every model provider implements (chat streaming and embeddings), and
//! the error type that tells the invoke pipeline whether and when to retry.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::types::{ChatRequest, EmbedRequest, EmbedResponse, StreamEvent};

/// A stream of events for one chat call. Dropping it cancels generation.
pub type EventStream = BoxStream<'static, Result<StreamEvent, ProviderError>>;

/// How a provider call failed, in the terms the runtime's metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request was wrong (4xx other than auth and throttling, bad parameters).
    Client,
    /// The credentials were missing or refused (401/403).
    Auth,
    /// The provider asked us to slow down (429).
    Throttled,
    /// The provider failed (5xx, broken or malformed stream).
    Server,
    /// The endpoint could not be reached at all.
    Unreachable,
    /// The model is not available locally (not pulled, failed to load).
    ModelUnavailable,
}

/// An error from a provider, with what the caller needs to decide on a retry.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    /// HTTP status, where there was one.
    pub status: Option<u16>,
    /// The server's Retry-After, where it sent one.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }

    /// Throttling, server errors and unreachable endpoints may succeed on a later try.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Throttled | ErrorKind::Server | ErrorKind::Unreachable
        )
    }
}

/// A model provider: an OpenAI-compatible endpoint or the in-process local runtime.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Short name for messages ("openai", "local", a profile name).
    fn name(&self) -> &str;

    /// Starts a streamed chat call. Errors before the first event (connection refused,
    /// HTTP status) come back here; errors mid-way come as stream items.
    async fn chat_stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError>;

    /// Embeds texts.
    async fn embed(&self, request: EmbedRequest) -> Result<EmbedResponse, ProviderError>;

    /// Model names the provider serves, where it can list them.
    async fn list_models(&self) -> Result<Vec<String>, ProviderError>;
}
