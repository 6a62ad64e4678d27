//! The invoke pipeline: the one path every model call takes. Input checks, the response
//! cache, the provider stream with bounded retries, output checks on the stream (text
//! reaches the caller only once every check released it), tool-call checks, and an
//! invocation record written when the call starts and completed when it ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::catalog::ModelSpec;
use super::checks::{Check, DecisionLog, InputDecision, Stage};
use super::context::CallContext;
use super::provider::{ErrorKind, Provider, ProviderError};
use super::record::{InvocationRecord, Operation, Outcome};
use super::release::{self, Blocked, Releaser};
use super::types::{
    Action, ChatRequest, StopReason, StreamEvent, ToolCall, ToolCallAssembler, Usage,
};
use super::Runtime;
use crate::store::crypt::ContentHasher;
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
    /// Who calls, for which session/run/step, and the checks of this call.
    pub context: CallContext,
}

impl InvokeRequest {
    pub fn new(model: impl Into<String>, chat: ChatRequest) -> InvokeRequest {
        InvokeRequest {
            model: model.into(),
            chat,
            use_cache: None,
            context: CallContext::default(),
        }
    }
}

/// The result of a call. A call whose stream broke still returns its partial text, with
/// `incomplete` set and the error in `error`. A blocked answer keeps only what was
/// released before the block, with `blocked` set.
#[derive(Debug, Clone, Serialize)]
pub struct InvokeResponse {
    pub model: String,
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    pub stop_reason: StopReason,
    pub usage: Usage,
    /// The usage is Strata's estimate (the provider reported none).
    pub usage_estimated: bool,
    pub ttft_ms: Option<f64>,
    pub latency_ms: f64,
    pub cost_usd: f64,
    pub cached: bool,
    pub incomplete: bool,
    pub retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's kind, when `error` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// The check that blocked the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
    pub blocked: bool,
    /// What to show in place of a blocked answer (the guardrail's blocked-output message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_message: Option<String>,
    /// Why the answer waits for approval (`text` is the held answer, not shown yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs_review: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<super::checks::CheckDecision>,
    pub record_id: Id,
    /// The request as sent, when an input check rewrote it (e.g. masked an email).
    #[serde(skip)]
    pub masked_request: Option<Box<ChatRequest>>,
}

/// A call that produced no answer at all.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(transparent)]
    UnknownModel(#[from] super::catalog::UnknownModel),
    #[error("{0}")]
    Provider(ProviderError),
    #[error("blocked by guardrail `{hook}`: {reason}")]
    Blocked {
        hook: String,
        reason: String,
        /// What to show in place of the answer (the guardrail's blocked-input message).
        message: Option<String>,
        record_id: Id,
    },
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

/// A cached answer (stored as the model gave it: checks run again on every hit).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedAnswer {
    text: String,
    tool_calls: Vec<ToolCall>,
    stop_reason: StopReason,
    usage: Usage,
    #[serde(default)]
    usage_estimated: bool,
}

/// The cache key of a deterministic request: the model, each check's name and
/// configuration digest (an answer cached under other checks must not bypass these), and
/// the whole request.
fn cache_key(
    mut hasher: ContentHasher,
    spec: &ModelSpec,
    checks: &[Arc<dyn Check>],
    request: &ChatRequest,
) -> Vec<u8> {
    hasher.update(spec.id.as_bytes());
    hasher.update(&[0]);
    for check in checks {
        hasher.update(check.name().as_bytes());
        hasher.update(&[0]);
        hasher.update(check.config_digest().as_bytes());
        hasher.update(&[0]);
    }
    hasher.update(&serde_json::to_vec(request).unwrap_or_default());
    hasher.finalize().to_vec()
}

/// What the stream produced so far.
#[derive(Default)]
struct Collected {
    /// The answer as checks released it (and the unreleased tail).
    answer: Releaser,
    /// The answer as the model wrote it, for the response cache.
    raw: String,
    tools: ToolCallAssembler,
    usage: Option<Usage>,
    stop: Option<StopReason>,
    first_event: Option<Instant>,
    blocked: Option<Blocked>,
    log: DecisionLog,
    /// Text pieces received (about one token each), for calls that end without usage.
    pieces: u32,
}

/// Everything a sink receives goes through here, so tests and clients see one order.
type Sink<'a> = dyn FnMut(&StreamEvent) + Send + 'a;

impl Runtime {
    /// What the input checks (the process's and `extra`) would make of a question before
    /// any call: the masked text when a check masks part of it, so a caller can store the
    /// question as it will be sent and never write the raw value. Blocks are left to the
    /// call itself (it records and reports them).
    pub async fn masked_question(
        &self,
        question: &str,
        extra: &[Arc<dyn Check>],
    ) -> Option<String> {
        let mut request = ChatRequest {
            model: String::new(),
            system: None,
            messages: vec![super::types::Message::new(
                super::types::Role::User,
                question,
            )],
            params: Default::default(),
            tools: Vec::new(),
            tool_choice: Default::default(),
        };
        let mut masked = false;
        for check in self.checks().iter().chain(extra) {
            match check.check_input(&mut request).await {
                InputDecision::Masked { .. } => masked = true,
                InputDecision::Block { .. } => return None,
                InputDecision::Allow => {}
            }
        }
        masked
            .then(|| request.messages.pop().map(|m| m.content))
            .flatten()
    }

    /// Runs one chat call through the pipeline. `sink` sees every event once every check
    /// has released it; `cancel` stops generation and keeps the partial answer.
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
        let mut checks = self.checks();
        checks.extend(request.context.checks.iter().cloned());

        let mut record = InvocationRecord::start(
            &spec.id,
            &spec.provider,
            Operation::Chat,
            request.context.ids.clone(),
        );
        self.begin_record(&record);
        let mut log = DecisionLog::default();
        let mut input_masked = false;

        for check in &checks {
            let t = Instant::now();
            let decision = check.check_input(&mut chat).await;
            match decision {
                InputDecision::Allow => {
                    log.note(check.name(), Stage::Input, Action::Allow, None, t.elapsed())
                }
                InputDecision::Masked { detail } => {
                    input_masked = true;
                    sink(&StreamEvent::Intervention {
                        check: check.name().to_string(),
                        action: Action::Mask,
                        detail: detail.clone(),
                    });
                    log.note(
                        check.name(),
                        Stage::Input,
                        Action::Mask,
                        Some(detail),
                        t.elapsed(),
                    );
                }
                InputDecision::Block { reason } => {
                    log.note(
                        check.name(),
                        Stage::Input,
                        Action::Block,
                        Some(reason.clone()),
                        t.elapsed(),
                    );
                    sink(&StreamEvent::Intervention {
                        check: check.name().to_string(),
                        action: Action::Block,
                        detail: reason.clone(),
                    });
                    record.outcome = Outcome::Blocked;
                    record.guardrail = Some(check.name().to_string());
                    record.error = Some(reason.clone());
                    record.latency_ms = ms(started.elapsed());
                    record.checks = log.entries;
                    self.finish_record(&record);
                    return Err(InvokeError::Blocked {
                        hook: check.name().to_string(),
                        reason,
                        message: check.blocked_message(Stage::Input),
                        record_id: record.id,
                    });
                }
            }
        }

        let use_cache =
            request.use_cache.unwrap_or(self.cache_responses) && chat.params.is_deterministic();
        let key = cache_key(self.store.content_hasher(), &spec, &checks, &chat);
        let mut collected = Collected {
            log,
            ..Collected::default()
        };
        if use_cache {
            if let Ok(Some(hit)) =
                self.store
                    .get::<CachedAnswer>(trees::RESPONSE_CACHE, &key, "cached answer")
            {
                record.cached = true;
                record.usage_estimated = hit.usage_estimated;
                // A cached answer passes the same checks as a streamed one.
                let events = [
                    StreamEvent::TextDelta { text: hit.text },
                    StreamEvent::Usage(hit.usage),
                    StreamEvent::Stop {
                        reason: hit.stop_reason,
                    },
                ];
                for event in events {
                    if !self
                        .on_event(event, &checks, &mut sink, &mut collected)
                        .await
                    {
                        break;
                    }
                }
                for (i, call) in hit.tool_calls.iter().enumerate() {
                    collected.tools.push(
                        i as u32,
                        Some(&call.id),
                        Some(&call.name),
                        &call.arguments,
                    );
                }
                let mut response = self
                    .complete(
                        &spec, record, collected, &chat, None, started, &checks, &mut sink,
                    )
                    .await;
                response.masked_request = input_masked.then(|| Box::new(chat.clone()));
                return Ok(response);
            }
        }

        let provider = match self.provider(&spec) {
            Ok(p) => p,
            Err(e) => {
                record.outcome = Outcome::from_error(e.kind);
                record.error = Some(e.message.clone());
                record.checks = collected.log.entries;
                self.finish_record(&record);
                return Err(InvokeError::Provider(e));
            }
        };
        let failure = self
            .stream_with_retries(
                provider.as_ref(),
                &chat,
                &checks,
                &mut sink,
                &cancel,
                &mut collected,
                &mut record,
            )
            .await;
        if let Some(error) = failure.as_ref().filter(|_| collected.first_event.is_none()) {
            record.latency_ms = ms(started.elapsed());
            record.outcome = Outcome::from_error(error.kind);
            record.error = Some(error.message.clone());
            (record.input_tokens, record.usage_estimated) = match error.kind {
                // The model did not load: counting would only try to load it again.
                ErrorKind::ModelUnavailable => (0, false),
                _ => self.input_tokens(&spec, &chat).await,
            };
            record.checks = collected.log.entries;
            self.finish_record(&record);
            return Err(InvokeError::Provider(error.clone()));
        }

        let cacheable = use_cache && failure.is_none();
        let raw = cacheable.then(|| collected.raw.clone());
        let raw_tools = cacheable.then(|| collected.tools.clone().finish());
        let mut response = self
            .complete(
                &spec, record, collected, &chat, failure, started, &checks, &mut sink,
            )
            .await;
        response.masked_request = input_masked.then(|| Box::new(chat.clone()));
        if let (Some(text), Some(tool_calls)) = (raw, raw_tools) {
            // A check that masked, held or blocked something saw a value that must not be
            // stored: only answers every check allowed as they were are cached.
            let untouched = response
                .checks
                .iter()
                .all(|c| c.stage != Stage::Output || c.action <= Action::Hold);
            if response.stop_reason != StopReason::Cancelled && !response.blocked && untouched {
                // Stored as the model gave it: every hit passes the checks again.
                let answer = CachedAnswer {
                    text,
                    tool_calls,
                    stop_reason: response.stop_reason,
                    usage: response.usage,
                    usage_estimated: response.usage_estimated,
                };
                if let Err(e) = self.store.put(trees::RESPONSE_CACHE, &key, &answer) {
                    tracing::warn!("could not cache the answer: {e}");
                }
            }
        }
        Ok(response)
    }

    /// Ends a call that produced output (or a cache hit): final checks on the held text
    /// and the tool calls, usage (counted when the provider gave none), the record.
    #[allow(clippy::too_many_arguments)]
    async fn complete(
        &self,
        spec: &ModelSpec,
        mut record: InvocationRecord,
        mut collected: Collected,
        chat: &ChatRequest,
        failure: Option<ProviderError>,
        started: Instant,
        checks: &[Arc<dyn Check>],
        sink: &mut Sink<'_>,
    ) -> InvokeResponse {
        // The stream ended by itself: held text is checked once more and released, and
        // the tool calls are checked. A cancelled, cut or blocked answer ends with what
        // was released: a held tail may be the start of a secret, and is dropped.
        let ended_by_itself = collected.blocked.is_none()
            && failure.is_none()
            && collected.stop != Some(StopReason::Cancelled);
        if ended_by_itself {
            self.release(String::new(), true, checks, sink, &mut collected)
                .await;
        }
        let mut tool_calls = std::mem::take(&mut collected.tools).finish();
        // An answer held for review stops here: its tool calls wait with it.
        if collected.answer.review().is_some() {
            tool_calls.clear();
        }
        if ended_by_itself && collected.blocked.is_none() {
            for call in tool_calls.iter_mut() {
                match release::check_tool_call(call, checks, &mut collected.log).await {
                    Ok(interventions) => {
                        for i in interventions {
                            sink(&StreamEvent::Intervention {
                                check: i.check,
                                action: i.action,
                                detail: i.detail,
                            });
                        }
                        sink(&StreamEvent::ToolCall(call.clone()));
                    }
                    Err(blocked) => {
                        self.note_block(blocked, sink, &mut collected);
                        break;
                    }
                }
            }
        }
        if !ended_by_itself || collected.blocked.is_some() {
            tool_calls.clear();
        }

        record.latency_ms = ms(started.elapsed());
        record.ttft_ms = collected.first_event.map(|t| ms(t - started));
        let usage = match collected.usage {
            Some(usage) => usage,
            None => {
                // Cancelled, cut or blocked calls get no usage from their provider.
                let (input_tokens, estimated) = self.input_tokens(spec, chat).await;
                record.usage_estimated = estimated;
                Usage {
                    input_tokens,
                    output_tokens: collected.pieces,
                }
            }
        };
        record.input_tokens = usage.input_tokens;
        record.output_tokens = usage.output_tokens;
        record.cost_usd = spec.cost(usage.input_tokens, usage.output_tokens);
        record.checks = std::mem::take(&mut collected.log.entries);
        let mut stop = collected.stop.unwrap_or(StopReason::EndTurn);
        let review = collected.answer.review().cloned();
        let blocked_message = collected.blocked.as_ref().and_then(|b| {
            checks
                .iter()
                .find(|c| c.name() == b.check)
                .and_then(|c| c.blocked_message(Stage::Output))
        });
        if let Some(blocked) = &collected.blocked {
            record.outcome = Outcome::Blocked;
            record.guardrail = Some(blocked.check.clone());
            record.error = Some(blocked.reason.clone());
            stop = StopReason::ContentFiltered;
        } else if let Some(error) = &failure {
            // The stream broke after output began: keep the partial answer.
            record.outcome = Outcome::from_error(error.kind);
            record.error = Some(error.message.clone());
            record.incomplete = true;
            stop = StopReason::Incomplete;
        } else if stop == StopReason::Cancelled {
            record.outcome = Outcome::Cancelled;
        } else if let Some(review) = &review {
            record.outcome = Outcome::NeedsReview;
            record.guardrail = Some(review.check.clone());
            record.error = Some(review.reason.clone());
        } else {
            record.outcome = Outcome::Ok;
        }
        record.stop_reason = Some(stop);
        sink(&StreamEvent::Stop { reason: stop });
        self.finish_record(&record);
        InvokeResponse {
            model: record.model.clone(),
            text: if review.is_some() {
                collected.answer.text().to_string()
            } else {
                collected.answer.released().to_string()
            },
            tool_calls,
            stop_reason: stop,
            usage,
            usage_estimated: record.usage_estimated,
            ttft_ms: record.ttft_ms,
            latency_ms: record.latency_ms,
            cost_usd: record.cost_usd,
            cached: record.cached,
            incomplete: record.incomplete,
            retries: record.retries,
            error: record.error.clone(),
            error_kind: failure.map(|e| e.kind),
            guardrail: record.guardrail.clone(),
            blocked: collected.blocked.is_some(),
            blocked_message,
            needs_review: review.map(|r| format!("{}: {}", r.check, r.reason)),
            checks: record.checks.clone(),
            record_id: record.id,
            masked_request: None,
        }
    }

    /// Opens the provider stream, retrying while nothing has been streamed yet, and
    /// consumes it. Returns the error that ended the call, if any.
    #[allow(clippy::too_many_arguments)]
    async fn stream_with_retries(
        &self,
        provider: &dyn Provider,
        chat: &ChatRequest,
        checks: &[Arc<dyn Check>],
        sink: &mut Sink<'_>,
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
                Ok(stream) => match self.consume(stream, checks, sink, cancel, collected).await {
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

    /// Reads events until the stream ends, the caller cancels, a check blocks or an error.
    async fn consume(
        &self,
        mut stream: super::provider::EventStream,
        checks: &[Arc<dyn Check>],
        sink: &mut Sink<'_>,
        cancel: &CancellationToken,
        collected: &mut Collected,
    ) -> Option<ProviderError> {
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = cancel.cancelled() => {
                    collected.stop = Some(StopReason::Cancelled);
                    return None;
                }
            };
            let event = match next {
                None => return None,
                Some(Err(e)) => return Some(e),
                Some(Ok(event)) => event,
            };
            collected.first_event.get_or_insert_with(Instant::now);
            if !self.on_event(event, checks, sink, collected).await {
                return None;
            }
        }
    }

    /// Takes one provider event; false when the answer must end (a check blocked it).
    async fn on_event(
        &self,
        event: StreamEvent,
        checks: &[Arc<dyn Check>],
        sink: &mut Sink<'_>,
        collected: &mut Collected,
    ) -> bool {
        match event {
            StreamEvent::TextDelta { text } => {
                collected.pieces += 1;
                collected.raw.push_str(&text);
                self.release(text, false, checks, sink, collected).await;
                return collected.blocked.is_none();
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                // Tool calls reach the caller whole, after their checks (at the end).
                collected
                    .tools
                    .push(index, id.as_deref(), name.as_deref(), &arguments);
            }
            // Providers stream pieces; a whole call is checked with the others all the same.
            StreamEvent::ToolCall(call) => collected.tools.push_whole(call),
            StreamEvent::Usage(usage) => {
                collected.usage = Some(usage);
                sink(&StreamEvent::Usage(usage));
            }
            StreamEvent::Stop { reason } => collected.stop = Some(reason),
            StreamEvent::Intervention { .. } => sink(&event),
        }
        true
    }

    /// Runs the output checks on `delta` and passes what they release to the sink.
    async fn release(
        &self,
        delta: String,
        end: bool,
        checks: &[Arc<dyn Check>],
        sink: &mut Sink<'_>,
        collected: &mut Collected,
    ) {
        match collected
            .answer
            .push(&delta, end, checks, &mut collected.log)
            .await
        {
            Ok((text, interventions)) => {
                for i in interventions {
                    sink(&StreamEvent::Intervention {
                        check: i.check,
                        action: i.action,
                        detail: i.detail,
                    });
                }
                if !text.is_empty() {
                    sink(&StreamEvent::TextDelta { text });
                }
            }
            Err(blocked) => self.note_block(blocked, sink, collected),
        }
    }

    fn note_block(&self, blocked: Blocked, sink: &mut Sink<'_>, collected: &mut Collected) {
        tracing::info!(
            "check {} stopped the answer: {}",
            blocked.check,
            blocked.reason
        );
        sink(&StreamEvent::Intervention {
            check: blocked.check.clone(),
            action: Action::Block,
            detail: blocked.reason.clone(),
        });
        collected.blocked = Some(blocked);
    }

    /// Prompt tokens of a request, for calls whose provider reported no usage: by the
    /// model's own tokenizer (local models), else estimated (the flag says which).
    async fn input_tokens(&self, spec: &ModelSpec, chat: &ChatRequest) -> (u32, bool) {
        if spec.is_local() {
            if let Ok(model) = self.local.chat_model(&spec.id).await {
                if let Ok(prompt) = model.prompt(chat) {
                    return (model.count_tokens(&prompt), false);
                }
            }
        }
        let estimate = chat
            .all_messages()
            .iter()
            .map(super::types::estimate_tokens)
            .sum();
        (estimate, true)
    }

    /// Stores a record as it starts (outcome running) and marks it in flight, so a crash
    /// leaves it to be found as interrupted at the next start.
    pub(crate) fn begin_record(&self, record: &InvocationRecord) {
        if let Err(e) = self
            .store
            .mark_in_flight(trees::INVOCATIONS, record.id.as_bytes())
        {
            tracing::error!("could not mark record {} in flight: {e}", record.id);
        }
        self.save_record(record);
    }

    /// Stores a finished record, clears its in-flight mark and tells the observers.
    pub(crate) fn finish_record(&self, record: &InvocationRecord) {
        self.save_record(record);
        if let Err(e) = self
            .store
            .clear_in_flight(trees::INVOCATIONS, record.id.as_bytes())
        {
            tracing::error!("could not clear record {} in flight: {e}", record.id);
        }
        // No subscriber is not an error.
        let _ = self.records.send(record.clone());
    }

    /// Stores a record; a storage failure is logged, never fails the call.
    fn save_record(&self, record: &InvocationRecord) {
        if let Err(e) = self
            .store
            .put(trees::INVOCATIONS, record.id.as_bytes(), record)
        {
            tracing::error!("could not store invocation record {}: {e}", record.id);
        }
    }

    /// Observers (metrics, audit) receive every record as it is completed.
    pub fn subscribe_records(&self) -> tokio::sync::broadcast::Receiver<InvocationRecord> {
        self.records.subscribe()
    }

    /// The most recent invocation records, newest first.
    pub fn recent_records(
        &self,
        limit: usize,
    ) -> Result<Vec<InvocationRecord>, crate::store::StoreError> {
        self.store.latest(trees::INVOCATIONS, limit, "invocation")
    }

    /// One record by id.
    pub fn record(&self, id: Id) -> Result<Option<InvocationRecord>, crate::store::StoreError> {
        self.store
            .get(trees::INVOCATIONS, id.as_bytes(), "invocation")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
