//! The `openai` provider: any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp
//! server, LM Studio, gateways) through async-openai, with HTTP errors classified for retries.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::{OpenAIError, StreamError};
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionNamedToolChoice,
    ChatCompletionRequestAssistantMessageArgs, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestToolMessageArgs,
    ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions, ChatCompletionTool,
    ChatCompletionToolChoiceOption, ChatCompletionTools, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs, FinishReason, FunctionCall, FunctionName, FunctionObject,
    ToolChoiceOptions,
};
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use async_openai::Client;
use async_trait::async_trait;
use futures::StreamExt;

use crate::runtime::provider::{ErrorKind, EventStream, Provider, ProviderError};
use crate::runtime::types::{
    ChatRequest, EmbedRequest, EmbedResponse, Message, Role, StopReason, StreamEvent, ToolChoice,
    Usage,
};

/// Where the API key comes from (never stored by Strata).
#[derive(Debug, Clone, Default)]
pub struct KeySource {
    /// Name of the env var holding the key.
    pub env: Option<String>,
    /// A file holding the key.
    pub file: Option<std::path::PathBuf>,
}

impl KeySource {
    /// Reads the key now; `None` when neither source is set or has one.
    fn read(&self) -> Option<String> {
        if let Some(var) = &self.env {
            if let Ok(key) = std::env::var(var) {
                if !key.trim().is_empty() {
                    return Some(key.trim().to_string());
                }
            }
        }
        let file = self.file.as_ref()?;
        std::fs::read_to_string(file)
            .ok()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
    }

    /// What the user should set, for auth errors.
    fn hint(&self) -> String {
        match (&self.env, &self.file) {
            (Some(var), _) => format!("set {var} to a valid API key"),
            (None, Some(file)) => format!("put a valid API key in {}", file.display()),
            (None, None) => {
                "add `api_key_env = \"VAR\"` to the provider profile and set VAR".into()
            }
        }
    }
}

/// An HTTP error status with what we need to retry it.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}: {body}")]
struct HttpStatusError {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

/// An OpenAI-compatible endpoint.
#[derive(Clone)]
pub struct OpenAiProvider {
    name: String,
    base_url: String,
    key: KeySource,
    http: reqwest::Client,
}

impl OpenAiProvider {
    pub fn new(name: &str, base_url: &str, key: KeySource, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(timeout)
            .build()
            .unwrap_or_default();
        OpenAiProvider {
            name: name.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            http,
        }
    }

    /// Whether this is OpenAI's own API (which wants `max_completion_tokens`).
    fn is_openai(&self) -> bool {
        reqwest::Url::parse(&self.base_url)
            .ok()
            .and_then(|u| u.host_str().map(|h| h == "api.openai.com"))
            .unwrap_or(false)
    }

    /// Fails early, naming what to set, when a key is configured but missing.
    fn require_key(&self) -> Result<(), ProviderError> {
        if (self.key.env.is_some() || self.key.file.is_some()) && self.key.read().is_none() {
            return Err(ProviderError::new(
                ErrorKind::Auth,
                format!("{} needs an API key: {}", self.name, self.key.hint()),
            ));
        }
        Ok(())
    }

    /// A client that does not retry by itself (the invoke pipeline does) and keeps the
    /// status and Retry-After of failed responses.
    fn client(&self) -> Client<OpenAIConfig> {
        let config = OpenAIConfig::new()
            .with_api_base(&self.base_url)
            .with_api_key(self.key.read().unwrap_or_default());
        let http = self.http.clone();
        let service = tower::service_fn(move |factory: HttpRequestFactory| {
            let http = http.clone();
            async move {
                let request = factory.build().await?;
                let response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
                if response.status().is_success() {
                    return Ok::<_, OpenAIError>(response);
                }
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let body = response.text().await.unwrap_or_default();
                Err(OpenAIError::Boxed(Box::new(HttpStatusError {
                    status,
                    retry_after,
                    body,
                })))
            }
        });
        Client::build(self.http.clone(), config).with_http_service(service)
    }

    /// Turns an async-openai error into a classified provider error.
    fn classify(&self, error: OpenAIError) -> ProviderError {
        match error {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpStatusError>() {
                Ok(http) => self.status_error(http.status, http.retry_after, &http.body),
                Err(other) => ProviderError::new(ErrorKind::Server, other.to_string()),
            },
            OpenAIError::ApiError(api) => {
                self.status_error(api.status_code.as_u16(), None, &api.api_error.message)
            }
            OpenAIError::Reqwest(e) if e.is_connect() => ProviderError::new(
                ErrorKind::Unreachable,
                format!(
                    "cannot reach {} at {} ({}); is the server running?",
                    self.name,
                    self.base_url,
                    root_cause(&e)
                ),
            ),
            OpenAIError::Reqwest(e) if e.is_timeout() => ProviderError::new(
                ErrorKind::Server,
                format!("{} at {} timed out", self.name, self.base_url),
            ),
            OpenAIError::Reqwest(e) => ProviderError::new(
                ErrorKind::Server,
                format!("{} at {}: {}", self.name, self.base_url, root_cause(&e)),
            ),
            OpenAIError::StreamError(e) => ProviderError::new(
                ErrorKind::Server,
                match *e {
                    StreamError::EventStream(msg) => {
                        format!("the stream from {} broke: {msg}", self.base_url)
                    }
                    StreamError::UnknownEvent(ev) => {
                        format!(
                            "unexpected stream event `{}` from {}",
                            ev.event, self.base_url
                        )
                    }
                },
            ),
            OpenAIError::JSONDeserialize(e, body) => ProviderError::new(
                ErrorKind::Server,
                format!(
                    "malformed response from {}: {e} (got: {})",
                    self.base_url,
                    truncate(&body, 200)
                ),
            ),
            OpenAIError::InvalidArgument(msg) => ProviderError::new(ErrorKind::Client, msg),
            other => ProviderError::new(ErrorKind::Server, other.to_string()),
        }
    }

    fn status_error(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
    ) -> ProviderError {
        let detail = error_message(body);
        let (kind, message) = match status {
            401 | 403 => (
                ErrorKind::Auth,
                format!(
                    "{} refused the credentials (HTTP {status}): {detail}\n  {}",
                    self.name,
                    self.key.hint()
                ),
            ),
            429 => (
                ErrorKind::Throttled,
                format!("{} is throttling requests (HTTP 429): {detail}", self.name),
            ),
            500..=599 => (
                ErrorKind::Server,
                format!("{} failed (HTTP {status}): {detail}", self.name),
            ),
            404 => (
                ErrorKind::Client,
                format!(
                    "{} at {} answered 404: {detail}\n  check the model name and that base_url ends in /v1",
                    self.name, self.base_url
                ),
            ),
            _ => (
                ErrorKind::Client,
                format!("{} rejected the request (HTTP {status}): {detail}", self.name),
            ),
        };
        ProviderError {
            kind,
            message,
            status: Some(status),
            retry_after,
        }
    }

    fn build_request(
        &self,
        request: &ChatRequest,
    ) -> Result<CreateChatCompletionRequest, ProviderError> {
        let bad = |e: OpenAIError| ProviderError::new(ErrorKind::Client, e.to_string());
        let messages = request
            .all_messages()
            .iter()
            .map(to_openai_message)
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let mut args = CreateChatCompletionRequestArgs::default();
        args.model(request.model.clone())
            .messages(messages)
            .stream_options(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            });
        let p = &request.params;
        if let Some(t) = p.temperature {
            args.temperature(t);
        }
        if let Some(t) = p.top_p {
            args.top_p(t);
        }
        if let Some(n) = p.max_tokens {
            // OpenAI rejects requests that carry both names; most compatible servers
            // (llama.cpp, Ollama, older vLLM) only know the older one.
            if self.is_openai() {
                args.max_completion_tokens(n);
            } else {
                args.max_tokens(n);
            }
        }
        if let Some(seed) = p.seed {
            args.seed(seed as i64);
        }
        if !p.stop.is_empty() {
            args.stop(p.stop.clone());
        }
        if !request.tools.is_empty() {
            args.tools(
                request
                    .tools
                    .iter()
                    .map(|t| {
                        ChatCompletionTools::Function(ChatCompletionTool {
                            function: FunctionObject {
                                name: t.name.clone(),
                                description: Some(t.description.clone()).filter(|d| !d.is_empty()),
                                parameters: Some(t.parameters.clone()),
                                strict: None,
                            },
                        })
                    })
                    .collect::<Vec<_>>(),
            );
            let choice = match &request.tool_choice {
                ToolChoice::Auto => None,
                ToolChoice::Required => Some(ChatCompletionToolChoiceOption::Mode(
                    ToolChoiceOptions::Required,
                )),
                ToolChoice::None => Some(ChatCompletionToolChoiceOption::Mode(
                    ToolChoiceOptions::None,
                )),
                ToolChoice::Tool(name) => Some(ChatCompletionToolChoiceOption::Function(
                    ChatCompletionNamedToolChoice {
                        function: FunctionName { name: name.clone() },
                    },
                )),
            };
            if let Some(choice) = choice {
                args.tool_choice(choice);
            }
        }
        args.build().map_err(bad)
    }
}

fn to_openai_message(m: &Message) -> Result<ChatCompletionRequestMessage, OpenAIError> {
    Ok(match m.role {
        Role::System => ChatCompletionRequestSystemMessageArgs::default()
            .content(m.content.clone())
            .build()?
            .into(),
        Role::User => ChatCompletionRequestUserMessageArgs::default()
            .content(m.content.clone())
            .build()?
            .into(),
        Role::Assistant => {
            // Always a string: OpenAI takes "" beside tool calls, and some servers
            // (llama-cpp-python) refuse a missing content.
            let mut args = ChatCompletionRequestAssistantMessageArgs::default();
            args.content(m.content.clone());
            if !m.tool_calls.is_empty() {
                args.tool_calls(
                    m.tool_calls
                        .iter()
                        .map(|c| {
                            ChatCompletionMessageToolCalls::Function(
                                ChatCompletionMessageToolCall {
                                    id: c.id.clone(),
                                    function: FunctionCall {
                                        name: c.name.clone(),
                                        arguments: c.arguments.clone(),
                                    },
                                },
                            )
                        })
                        .collect::<Vec<_>>(),
                );
            }
            args.build()?.into()
        }
        Role::Tool => ChatCompletionRequestToolMessageArgs::default()
            .tool_call_id(m.tool_call_id.clone().unwrap_or_default())
            .content(m.content.clone())
            .build()?
            .into(),
    })
}

/// Reading state of one chat stream.
struct StreamState {
    stream: async_openai::types::chat::ChatCompletionResponseStream,
    provider: OpenAiProvider,
    /// A finish reason was seen.
    finished: bool,
    /// Nothing more to read.
    done: bool,
}

impl StreamState {
    /// The events of the next chunk (or the closing events); sets `done` at the end.
    async fn next_events(&mut self) -> Vec<Result<StreamEvent, ProviderError>> {
        loop {
            match self.stream.next().await {
                Some(Ok(chunk)) => {
                    let events = self.chunk_events(chunk);
                    if !events.is_empty() {
                        return events;
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return vec![Err(self.provider.classify(e))];
                }
                None => {
                    self.done = true;
                    if !self.finished {
                        return vec![Err(ProviderError::new(
                            ErrorKind::Server,
                            format!(
                                "the stream from {} ended before the answer was complete",
                                self.provider.base_url
                            ),
                        ))];
                    }
                    // Servers that ignore stream_options.include_usage send none: the
                    // pipeline counts the pieces and estimates the prompt, and flags it.
                    return Vec::new();
                }
            }
        }
    }

    fn chunk_events(
        &mut self,
        chunk: async_openai::types::chat::CreateChatCompletionStreamResponse,
    ) -> Vec<Result<StreamEvent, ProviderError>> {
        let mut events = Vec::new();
        for choice in chunk.choices {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                events.push(Ok(StreamEvent::TextDelta { text }));
            }
            for call in choice.delta.tool_calls.into_iter().flatten() {
                let (name, arguments) = call
                    .function
                    .map(|f| (f.name, f.arguments.unwrap_or_default()))
                    .unwrap_or_default();
                events.push(Ok(StreamEvent::ToolCallDelta {
                    index: call.index,
                    id: call.id,
                    name,
                    arguments,
                }));
            }
            if let Some(reason) = choice.finish_reason {
                self.finished = true;
                events.push(Ok(StreamEvent::Stop {
                    reason: stop_reason(reason),
                }));
            }
        }
        if let Some(u) = chunk.usage {
            events.push(Ok(StreamEvent::Usage(Usage {
                input_tokens: u.prompt_tokens,
                output_tokens: u.completion_tokens,
            })));
        }
        events
    }
}

fn stop_reason(reason: FinishReason) -> StopReason {
    match reason {
        FinishReason::Stop => StopReason::EndTurn,
        FinishReason::Length => StopReason::MaxTokens,
        FinishReason::ToolCalls | FinishReason::FunctionCall => StopReason::ToolUse,
        FinishReason::ContentFilter => StopReason::ContentFiltered,
    }
}

/// Retry-After as seconds (the HTTP-date form is rare from model APIs and is ignored).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// The `error.message` of an OpenAI-style error body, else the body itself.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.pointer("/message"))
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .and_then(|m| m.as_str())
            .map(str::to_string)
    });
    message.unwrap_or_else(|| truncate(body.trim(), 300))
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError> {
        self.require_key()?;
        let body = self.build_request(&request)?;
        let stream = self
            .client()
            .chat()
            .create_stream(body)
            .await
            .map_err(|e| self.classify(e))?;
        // Map chunks to events; a stream that ends without a finish reason was cut.
        let state = StreamState {
            stream,
            provider: self.clone(),
            finished: false,
            done: false,
        };
        let events = futures::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            let events = st.next_events().await;
            Some((futures::stream::iter(events), st))
        })
        .flatten();
        Ok(events.boxed())
    }

    async fn embed(&self, request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        self.require_key()?;
        let body = CreateEmbeddingRequestArgs::default()
            .model(request.model.clone())
            .input(request.inputs.clone())
            .build()
            .map_err(|e| ProviderError::new(ErrorKind::Client, e.to_string()))?;
        let response = self
            .client()
            .embeddings()
            .create(body)
            .await
            .map_err(|e| self.classify(e))?;
        let mut data = response.data;
        data.sort_by_key(|e| e.index);
        Ok(EmbedResponse {
            vectors: data.into_iter().map(|e| e.embedding).collect(),
            usage: Usage {
                input_tokens: response.usage.prompt_tokens,
                output_tokens: 0,
            },
        })
    }

    /// Lists model ids. Read loosely (only `data[].id`): many compatible servers omit
    /// fields that async-openai's strict `Model` type requires.
    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        self.require_key()?;
        let url = format!("{}/models", self.base_url);
        let mut request = self.http.get(&url);
        if let Some(key) = self.key.read() {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.classify(OpenAIError::Reqwest(e)))?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(self.status_error(status, None, &body));
        }
        let value: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
            ProviderError::new(
                ErrorKind::Server,
                format!("malformed model list from {url}: {e}"),
            )
        })?;
        Ok(value["data"]
            .as_array()
            .map(|models| {
                models
                    .iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_and_retry_after_are_read() {
        assert_eq!(
            error_message(r#"{"error":{"message":"slow down"}}"#),
            "slow down"
        );
        assert_eq!(error_message(r#"{"message":"bad","code":400}"#), "bad");
        assert_eq!(error_message("plain text"), "plain text");
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(
            parse_retry_after("1e20"),
            None,
            "absurd values do not panic"
        );
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn token_limit_uses_one_field_per_endpoint_kind() {
        let request = ChatRequest {
            model: "m".into(),
            system: None,
            messages: vec![Message::user("hi")],
            params: crate::runtime::types::Params {
                max_tokens: Some(9),
                ..Default::default()
            },
            tools: vec![],
            tool_choice: Default::default(),
        };
        let body = |base: &str| {
            let p = OpenAiProvider::new("p", base, KeySource::default(), Duration::from_secs(1));
            serde_json::to_value(p.build_request(&request).unwrap()).unwrap()
        };
        let openai = body("https://api.openai.com/v1");
        assert_eq!(openai["max_completion_tokens"], 9);
        assert!(
            openai.get("max_tokens").is_none(),
            "OpenAI refuses both at once"
        );
        let local = body("http://127.0.0.1:8080/v1");
        assert_eq!(local["max_tokens"], 9);
        assert!(local.get("max_completion_tokens").is_none());
    }

    #[test]
    fn auth_errors_name_the_env_var() {
        let p = OpenAiProvider::new(
            "acme",
            "http://127.0.0.1:1/v1",
            KeySource {
                env: Some("ACME_KEY".into()),
                file: None,
            },
            Duration::from_secs(5),
        );
        let e = p.status_error(401, None, r#"{"error":{"message":"invalid key"}}"#);
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.contains("set ACME_KEY"), "{}", e.message);
        assert_eq!(p.status_error(429, None, "").kind, ErrorKind::Throttled);
        assert_eq!(p.status_error(503, None, "").kind, ErrorKind::Server);
        assert_eq!(p.status_error(400, None, "").kind, ErrorKind::Client);
    }
}
