//! The invoke pipeline: the one path every model call takes. Input hooks, the response
//! cache, the provider stream with bounded retries, output hooks on the stream, and an
//! invocation record stored in sled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::catalog::ModelSpec;
use super::hooks::{Hook, Verdict};
use super::provider::{ErrorKind, Provider, ProviderError};
use super::record::{InvocationRecord, Operation, Outcome};
use super::types::{ChatRequest, StopReason, StreamEvent, ToolCall, ToolCallAssembler, Usage};
use super::Runtime;
use crate::store::{trees, Id};

/// Retry policy for throttled and failed calls (before any output was streamed).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based): the server's Retry-After when it
    /// gave one, else exponential backoff with jitter; never more than `max_delay`.
    pub fn delay(&self, attempt: u32, error: &ProviderError) -> Duration {
        let wait = match error.retry_after {
            Some(after) => after,
            None => {
                let exp = self.base_delay.saturating_mul(1u32 << attempt.min(16));
                let jitter = rand::random::<f64>() * 0.25 + 0.875;
                exp.mul_f64(jitter)
            }
        };
        wait.min(self.max_delay)
    }
}

/// A model call as a client makes it.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// Catalog id (or unambiguous name) of the model.
    pub model: String,
    pub chat: ChatRequest,
    /// Override the config's response-cache setting for this call.
    pub use_cache: Option<bool>,
}

/// The result of a call. A call whose stream broke still returns its partial text, with
/// `incomplete` set and the error in `error`.
#[derive(Debug, Clone, Serialize)]
pub struct InvokeResponse {
    pub model: String,
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    pub stop_reason: StopReason,
    pub usage: Usage,
    pub ttft_ms: Option<f64>,
    pub latency_ms: f64,
    pub cost_usd: f64,
    pub cached: bool,
    pub incomplete: bool,
    pub retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
    pub record_id: Id,
}

/// A call that produced no answer at all.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(transparent)]
    UnknownModel(#[from] super::catalog::UnknownModel),
    #[error("{0}")]
    Provider(ProviderError),
    #[error("blocked by guardrail `{hook}`: {reason}")]
    Blocked { hook: String, reason: String },
    #[error("model `{model}` cannot {what}")]
    Unsupported { model: String, what: &'static str },
}

impl InvokeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            InvokeError::Provider(e) => e.kind,
            _ => ErrorKind::Client,
        }
    }
}

/// A cached answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedAnswer {
    text: String,
    tool_calls: Vec<ToolCall>,
    stop_reason: StopReason,
    usage: Usage,
}

/// The cache key of a deterministic request: the model, the hooks in force (an answer
/// cached before a guardrail existed must not bypass it) and the whole request.
fn cache_key(spec: &ModelSpec, hooks: &[Arc<dyn Hook>], request: &ChatRequest) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(spec.id.as_bytes());
    hasher.update([0]);
    for hook in hooks {
        hasher.update(hook.name().as_bytes());
        hasher.update([0]);
    }
    hasher.update(serde_json::to_vec(request).unwrap_or_default());
    hasher.finalize().to_vec()
}

/// What the stream produced so far.
#[derive(Default)]
struct Collected {
    text: String,
    tools: ToolCallAssembler,
    usage: Option<Usage>,
    stop: Option<StopReason>,
    first_event: Option<Instant>,
    guardrail: Option<String>,
    /// Text pieces received (about one token each), for calls that end without usage.
    pieces: u32,
}

impl Runtime {
    /// Runs one chat call through the pipeline. `sink` sees every event as it arrives
    /// (after output hooks); `cancel` stops generation and keeps the partial answer.
    pub async fn invoke(
        &self,
        request: InvokeRequest,
        mut sink: impl FnMut(&StreamEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<InvokeResponse, InvokeError> {
        let spec = self.catalog.get(&request.model)?.clone();
        let started = Instant::now();
        let mut chat = request.chat;
        chat.model = spec.remote_name().to_string();
        let hooks = self.hooks();

        let mut record = InvocationRecord::start(&spec.id, &spec.provider, Operation::Chat);

        for hook in &hooks {
            if let Verdict::Block { reason } = hook.before(&mut chat) {
                record.outcome = Outcome::ClientError;
                record.guardrail = Some(hook.name().to_string());
                record.error = Some(reason.clone());
                record.latency_ms = ms(started.elapsed());
                self.save_record(&record);
                return Err(InvokeError::Blocked {
                    hook: hook.name().to_string(),
                    reason,
                });
            }
        }

        let use_cache =
            request.use_cache.unwrap_or(self.cache_responses) && chat.params.is_deterministic();
        let key = cache_key(&spec, &hooks, &chat);
        if use_cache {
            if let Ok(Some(hit)) =
                self.store
                    .get::<CachedAnswer>(trees::RESPONSE_CACHE, &key, "cached answer")
            {
                sink(&StreamEvent::TextDelta {
                    text: hit.text.clone(),
                });
                sink(&StreamEvent::Usage(hit.usage));
                sink(&StreamEvent::Stop {
                    reason: hit.stop_reason,
                });
                let latency = ms(started.elapsed());
                record.ttft_ms = Some(latency);
                record.latency_ms = latency;
                record.input_tokens = hit.usage.input_tokens;
                record.output_tokens = hit.usage.output_tokens;
                record.stop_reason = Some(hit.stop_reason);
                record.cached = true;
                self.save_record(&record);
                return Ok(self.response(&record, hit.text, hit.tool_calls));
            }
        }

        let provider = match self.provider(&spec) {
            Ok(p) => p,
            Err(e) => {
                record.outcome = Outcome::from_error(e.kind);
                record.error = Some(e.message.clone());
                self.save_record(&record);
                return Err(InvokeError::Provider(e));
            }
        };
        let mut collected = Collected::default();
        let failure = self
            .stream_with_retries(
                provider.as_ref(),
                &chat,
                &hooks,
                &mut sink,
                &cancel,
                &mut collected,
                &mut record,
            )
            .await;

        let latency = started.elapsed();
        record.latency_ms = ms(latency);
        record.ttft_ms = collected.first_event.map(|t| ms(t - started));
        // A cancelled or cut call gets no usage from its provider: count what arrived.
        let usage = collected.usage.unwrap_or(Usage {
            input_tokens: 0,
            output_tokens: collected.pieces,
        });
        record.input_tokens = usage.input_tokens;
        record.output_tokens = usage.output_tokens;
        record.cost_usd = spec.cost(usage.input_tokens, usage.output_tokens);
        record.guardrail = collected.guardrail.clone();
        let tool_calls = std::mem::take(&mut collected.tools).finish();

        match failure {
            Some(error) if collected.first_event.is_none() => {
                record.outcome = Outcome::from_error(error.kind);
                record.error = Some(error.message.clone());
                self.save_record(&record);
                Err(InvokeError::Provider(error))
            }
            Some(error) => {
                // The stream broke after output began: keep the partial answer.
                record.outcome = Outcome::from_error(error.kind);
                record.error = Some(error.message.clone());
                record.incomplete = true;
                record.stop_reason = Some(StopReason::Incomplete);
                self.save_record(&record);
                Ok(self.response(&record, collected.text, tool_calls))
            }
            None => {
                let stop = collected.stop.unwrap_or(StopReason::EndTurn);
                record.stop_reason = Some(stop);
                if stop == StopReason::Cancelled {
                    record.outcome = Outcome::Cancelled;
                }
                if use_cache && record.outcome == Outcome::Ok && collected.guardrail.is_none() {
                    let answer = CachedAnswer {
                        text: collected.text.clone(),
                        tool_calls: tool_calls.clone(),
                        stop_reason: stop,
                        usage,
                    };
                    if let Err(e) = self.store.put(trees::RESPONSE_CACHE, &key, &answer) {
                        tracing::warn!("could not cache the answer: {e}");
                    }
                }
                self.save_record(&record);
                Ok(self.response(&record, collected.text, tool_calls))
            }
        }
    }

    /// Opens the provider stream, retrying while nothing has been streamed yet, and
    /// consumes it. Returns the error that ended the call, if any.
    #[allow(clippy::too_many_arguments)]
    async fn stream_with_retries(
        &self,
        provider: &dyn Provider,
        chat: &ChatRequest,
        hooks: &[Arc<dyn Hook>],
        sink: &mut (impl FnMut(&StreamEvent) + Send),
        cancel: &CancellationToken,
        collected: &mut Collected,
        record: &mut InvocationRecord,
    ) -> Option<ProviderError> {
        let mut attempt = 0;
        loop {
            let opened = tokio::select! {
                r = provider.chat_stream(chat.clone()) => r,
                _ = cancel.cancelled() => {
                    collected.stop = Some(StopReason::Cancelled);
                    return None;
                }
            };
            let error = match opened {
                Ok(stream) => match self.consume(stream, hooks, sink, cancel, collected).await {
                    None => return None,
                    Some(e) => e,
                },
                Err(e) => e,
            };
            let may_retry = error.is_retryable()
                && collected.first_event.is_none()
                && attempt < self.retry.max_retries;
            if !may_retry {
                return Some(error);
            }
            let wait = self.retry.delay(attempt, &error);
            tracing::info!(
                "retrying {} in {:?} after: {}",
                record.model,
                wait,
                error.message
            );
            attempt += 1;
            record.retries = attempt;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => {
                    collected.stop = Some(StopReason::Cancelled);
                    return None;
                }
            }
        }
    }

    /// Reads events until the stream ends, the caller cancels, a hook blocks or an error.
    async fn consume(
        &self,
        mut stream: super::provider::EventStream,
        hooks: &[Arc<dyn Hook>],
        sink: &mut (impl FnMut(&StreamEvent) + Send),
        cancel: &CancellationToken,
        collected: &mut Collected,
    ) -> Option<ProviderError> {
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = cancel.cancelled() => {
                    collected.stop = Some(StopReason::Cancelled);
                    sink(&StreamEvent::Stop { reason: StopReason::Cancelled });
                    return None;
                }
            };
            let event = match next {
                None => return None,
                Some(Err(e)) => return Some(e),
                Some(Ok(event)) => event,
            };
            match &event {
                StreamEvent::TextDelta { text } => {
                    let so_far = format!("{}{}", collected.text, text);
                    if let Some((hook, reason)) =
                        hooks.iter().find_map(|h| match h.on_output(&so_far, text) {
                            Verdict::Block { reason } => Some((h.name().to_string(), reason)),
                            Verdict::Allow => None,
                        })
                    {
                        tracing::info!("guardrail {hook} stopped the answer: {reason}");
                        collected.guardrail = Some(hook);
                        collected.stop = Some(StopReason::ContentFiltered);
                        sink(&StreamEvent::Stop {
                            reason: StopReason::ContentFiltered,
                        });
                        return None;
                    }
                    collected.first_event.get_or_insert_with(Instant::now);
                    collected.text = so_far;
                    collected.pieces += 1;
                }
                StreamEvent::ToolCallDelta {
                    index,
                    id,
                    name,
                    arguments,
                } => {
                    collected.first_event.get_or_insert_with(Instant::now);
                    collected
                        .tools
                        .push(*index, id.as_deref(), name.as_deref(), arguments);
                }
                StreamEvent::Usage(usage) => collected.usage = Some(*usage),
                StreamEvent::Stop { reason } => collected.stop = Some(*reason),
            }
            sink(&event);
        }
    }

    fn response(
        &self,
        record: &InvocationRecord,
        text: String,
        tool_calls: Vec<ToolCall>,
    ) -> InvokeResponse {
        InvokeResponse {
            model: record.model.clone(),
            text,
            tool_calls,
            stop_reason: record.stop_reason.unwrap_or(StopReason::EndTurn),
            usage: Usage {
                input_tokens: record.input_tokens,
                output_tokens: record.output_tokens,
            },
            ttft_ms: record.ttft_ms,
            latency_ms: record.latency_ms,
            cost_usd: record.cost_usd,
            cached: record.cached,
            incomplete: record.incomplete,
            retries: record.retries,
            error: record.error.clone(),
            guardrail: record.guardrail.clone(),
            record_id: record.id,
        }
    }

    /// Stores a record; a storage failure is logged, never fails the call.
    pub(crate) fn save_record(&self, record: &InvocationRecord) {
        if let Err(e) = self
            .store
            .put(trees::INVOCATIONS, record.id.as_bytes(), record)
        {
            tracing::error!("could not store invocation record {}: {e}", record.id);
        }
    }

    /// The most recent invocation records, newest first.
    pub fn recent_records(
        &self,
        limit: usize,
    ) -> Result<Vec<InvocationRecord>, crate::store::StoreError> {
        self.store.latest(trees::INVOCATIONS, limit, "invocation")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
