//! The `local` provider: in-process GGUF chat models and BERT embeddings. Chat models of
//! the architectures Strata's own engine covers (llama, qwen2) run on it
//! (`engine_chat`); others, or all with `local_engine = "kalosm"`, run on kalosm's Llama.
//! Both sit under kalosm's model traits, so sampling, tool-call constraints and templates
//! are the same code. Each model is loaded once and shared. Models load independently: a
//! slow load never holds up calls to models already loaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use kalosm::language::{
    Bert, BertSource, CreateTextCompletionSession, FileSource, Llama, LlamaSource,
    TextCompletionModel,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::chat_template::ChatTemplate;
use super::engine_chat::EngineChat;
use super::gguf;
use super::sampler::ParamSampler;
use super::tool_calls;
use crate::runtime::catalog::{Catalog, ModelSpec};
use crate::runtime::provider::{ErrorKind, EventStream, Provider, ProviderError};
use crate::runtime::types::{
    ChatRequest, EmbedRequest, EmbedResponse, StopReason, StreamEvent, ToolChoice, Usage,
};

/// Which engine runs a loaded chat model.
pub enum Backend {
    /// Strata's CPU engine.
    Engine(EngineChat),
    /// kalosm's Llama (candle).
    Kalosm(Llama),
}

/// A loaded chat model with its prompt template.
pub struct LoadedChat {
    pub backend: Backend,
    template: ChatTemplate,
    /// The GGUF file the model and its template came from.
    file: PathBuf,
}

impl LoadedChat {
    /// The exact prompt text the model sees for a request.
    /// Tools are written into the conversation (`tool_calls::in_prompt`) in the one form
    /// the constrained call generation produces, whatever the template knows of tools.
    pub fn prompt(&self, request: &ChatRequest) -> Result<String, ProviderError> {
        let messages = request.all_messages();
        let tools: &[_] = if request.tool_choice == ToolChoice::None {
            &[]
        } else {
            &request.tools
        };
        let messages =
            if tools.is_empty() && !request.messages.iter().any(|m| !m.tool_calls.is_empty()) {
                messages
            } else {
                tool_calls::in_prompt(&messages, tools)
            };
        self.template.render(&messages, &[]).map_err(|e| {
            ProviderError::new(
                ErrorKind::Client,
                format!(
                    "the chat template of {} rejected the conversation: {e}",
                    self.file.display()
                ),
            )
        })
    }

    /// Number of tokens in `text` as the model tokenizes it.
    pub fn count_tokens(&self, text: &str) -> u32 {
        let tokenizer: &tokenizers::Tokenizer = match &self.backend {
            Backend::Engine(e) => &e.engine.tokenizer,
            Backend::Kalosm(llama) => llama.tokenizer(),
        };
        tokenizer
            .encode_fast(text, false)
            .map(|e| e.get_ids().len() as u32)
            .unwrap_or(0)
    }

    /// Which engine runs it (`strata` or `kalosm`).
    pub fn engine_name(&self) -> &'static str {
        match &self.backend {
            Backend::Engine(_) => "strata",
            Backend::Kalosm(_) => "kalosm",
        }
    }
}

/// Models by catalog id, each loaded once on first use. The map lock is held only to find
/// a model's cell; the load itself runs under that model's own cell.
type Loaded<T> = Mutex<HashMap<String, Arc<tokio::sync::OnceCell<T>>>>;

/// In-process models, loaded on first use.
pub struct LocalProvider {
    model_dir: PathBuf,
    catalog: Arc<Catalog>,
    /// Which engine runs chat models the Strata engine covers.
    engine: crate::config::LocalEngine,
    chats: Loaded<Arc<LoadedChat>>,
    embedders: Loaded<Embedder>,
}

/// The cell of model `id` in `loaded` (created empty on first use).
fn cell<T>(loaded: &Loaded<T>, id: &str) -> Arc<tokio::sync::OnceCell<T>> {
    // A poisoned map only means another thread panicked while inserting: the map is fine.
    let mut map = loaded.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(id.to_string()).or_default().clone()
}

/// Picks the compute device once, with stdout muted: kalosm prints a notice there when it
/// falls back to the CPU, which would corrupt `--json` output and the TUI.
fn init_device_quietly() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let muted = gag::Gag::stdout().ok();
        let _ = kalosm::language::accelerated_device_if_available();
        let _ = std::io::stdout().flush();
        drop(muted);
    });
}

impl LocalProvider {
    pub fn new(model_dir: &Path, catalog: Arc<Catalog>) -> Self {
        init_device_quietly();
        LocalProvider {
            model_dir: model_dir.to_path_buf(),
            catalog,
            engine: crate::config::LocalEngine::default(),
            chats: Default::default(),
            embedders: Default::default(),
        }
    }

    /// Runs chat models on `engine` (`STRATA_LOCAL_ENGINE=strata|kalosm` overrides it).
    pub fn with_engine(mut self, engine: crate::config::LocalEngine) -> Self {
        self.engine = match std::env::var("STRATA_LOCAL_ENGINE").as_deref() {
            Ok("kalosm") => crate::config::LocalEngine::Kalosm,
            Ok("strata") => crate::config::LocalEngine::Strata,
            _ => engine,
        };
        self
    }

    fn spec(&self, name: &str) -> Result<&ModelSpec, ProviderError> {
        self.catalog
            .models()
            .iter()
            .find(|m| m.is_local() && (m.remote_name() == name || m.id == name))
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::ModelUnavailable,
                    format!("no local model named `{name}` in the catalog"),
                )
            })
    }

    fn files(&self, spec: &ModelSpec) -> Result<PathBuf, ProviderError> {
        spec.check_paths()
            .map_err(|e| ProviderError::new(ErrorKind::ModelUnavailable, e))?;
        if !spec.is_downloaded(&self.model_dir) {
            return Err(ProviderError::new(
                ErrorKind::ModelUnavailable,
                format!(
                    "model {} is not downloaded; run `strata models pull {}`",
                    spec.id, spec.id
                ),
            ));
        }
        Ok(spec.dir(&self.model_dir))
    }

    /// Loads (once) and returns a chat model.
    pub async fn chat_model(&self, name: &str) -> Result<Arc<LoadedChat>, ProviderError> {
        let spec = self.spec(name)?;
        cell(&self.chats, &spec.id)
            .get_or_try_init(|| self.load_chat(spec))
            .await
            .cloned()
    }

    async fn load_chat(&self, spec: &ModelSpec) -> Result<Arc<LoadedChat>, ProviderError> {
        let dir = self.files(spec)?;
        let gguf = spec
            .files
            .iter()
            .find(|f| f.name.ends_with(".gguf"))
            .map(|f| dir.join(&f.name))
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::ModelUnavailable,
                    format!("{} has no GGUF file to load as a chat model", spec.id),
                )
            })?;
        let unavailable = |e: String| {
            ProviderError::new(
                ErrorKind::ModelUnavailable,
                format!("cannot load {}: {e}", spec.id),
            )
        };
        let meta_path = gguf.clone();
        let inspected = tokio::task::spawn_blocking(move || gguf::inspect(&meta_path))
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .map_err(unavailable)?;
        if self.engine == crate::config::LocalEngine::Strata
            && crate::engine::model::covers(&inspected.architecture)
        {
            // The file as it is (no requantized copy): the engine runs its formats.
            let path = gguf.clone();
            let loaded = tokio::task::spawn_blocking(move || crate::engine::Engine::load(&path, 0))
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            match loaded {
                Ok(engine) => {
                    return Ok(Arc::new(LoadedChat {
                        backend: Backend::Engine(EngineChat::new(engine)),
                        template: inspected.template,
                        file: gguf,
                    }))
                }
                // A tensor format or shape it does not run: kalosm runs it.
                Err(e) => tracing::info!(
                    "{}: the strata engine does not run it ({e}); using kalosm",
                    spec.id
                ),
            }
        }
        // Faster kernels: load a Q8_0 copy of Q4/K-quant files (made once). Opt out with
        // STRATA_LOCAL_REQUANTIZE=0.
        let gguf = if enabled("STRATA_LOCAL_REQUANTIZE") {
            let src = gguf.clone();
            let q8 = tokio::task::spawn_blocking(move || super::requantize::ensure_q8(&src))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            match q8 {
                Ok(Some(q8)) => q8,
                Ok(None) => gguf,
                Err(e) => {
                    tracing::warn!("requantizing failed: {e}; loading the original file");
                    gguf
                }
            }
        } else {
            gguf
        };
        let meta_path = gguf.clone();
        let template = tokio::task::spawn_blocking(move || gguf::inspect(&meta_path))
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .map_err(unavailable)?
            .template;
        let llama = Llama::builder()
            .with_source(LlamaSource::new(FileSource::local(gguf.clone())))
            .build_with_loading_handler(|_| {})
            .await
            .map_err(|e| unavailable(gguf::without_backtrace(&e.to_string()).to_string()))?;
        if enabled("STRATA_JOIN_RAYON") {
            join_rayon_pool(&llama).await;
        }
        Ok(Arc::new(LoadedChat {
            backend: Backend::Kalosm(llama),
            template,
            file: gguf,
        }))
    }

    async fn embedder(&self, name: &str) -> Result<Embedder, ProviderError> {
        let spec = self.spec(name)?;
        cell(&self.embedders, &spec.id)
            .get_or_try_init(|| self.load_embedder(spec))
            .await
            .cloned()
    }

    async fn load_embedder(&self, spec: &ModelSpec) -> Result<Embedder, ProviderError> {
        let dir = self.files(spec)?;
        let source = BertSource::new()
            .with_model(FileSource::local(dir.join("model.safetensors")))
            .with_tokenizer(FileSource::local(dir.join("tokenizer.json")))
            .with_config(FileSource::local(dir.join("config.json")));
        let bert = Bert::builder()
            .with_source(source)
            .build_with_loading_handler(|_| {})
            .await
            .map_err(|e| {
                ProviderError::new(
                    ErrorKind::ModelUnavailable,
                    format!(
                        "cannot load {}: {}",
                        spec.id,
                        gguf::without_backtrace(&e.to_string())
                    ),
                )
            })?;
        let tokenizer =
            tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| {
                ProviderError::new(
                    ErrorKind::ModelUnavailable,
                    format!("cannot read {}'s tokenizer: {e}", spec.id),
                )
            })?;
        Ok(Embedder {
            bert,
            tokenizer: Arc::new(tokenizer),
            // A catalog entry without a window (0) gets BERT's usual 512.
            max_tokens: if spec.context_window == 0 {
                512
            } else {
                spec.context_window as usize
            },
        })
    }
}

/// A loaded embeddings model with its tokenizer (for counting and truncation).
#[derive(Clone)]
pub struct Embedder {
    bert: Bert,
    tokenizer: Arc<tokenizers::Tokenizer>,
    /// The model's sequence limit (special tokens included).
    max_tokens: usize,
}

impl Embedder {
    fn fit<'a>(&self, text: &'a str) -> (&'a str, u32) {
        fit_to_window(&self.tokenizer, self.max_tokens, text)
    }
}

/// `text` cut to what a model with a `max_tokens` window can see, and its token count
/// (special tokens included).
pub fn fit_to_window<'a>(
    tokenizer: &tokenizers::Tokenizer,
    max_tokens: usize,
    text: &'a str,
) -> (&'a str, u32) {
    let Ok(encoding) = tokenizer.encode(text, true) else {
        return (text, 0);
    };
    // Count real tokens only: tokenizer.json files often pad to a fixed length.
    let ids = encoding
        .get_attention_mask()
        .iter()
        .filter(|&&m| m == 1)
        .count();
    if ids <= max_tokens {
        return (text, ids as u32);
    }
    // Keep the text up to the last token that fits (the final slot holds [SEP]).
    let end = encoding
        .get_offsets()
        .get(max_tokens.saturating_sub(2))
        .map_or(text.len(), |(_, end)| *end);
    let end = (0..=end.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    (&text[..end], max_tokens as u32)
}

/// An on-by-default switch: off only when the env var is `0`.
fn enabled(var: &str) -> bool {
    std::env::var(var).map_or(true, |v| v != "0")
}

/// A do-nothing parser whose state creation runs on kalosm's model thread before any
/// model work: it makes that thread a worker of rayon's global pool. Candle splits every
/// mat-vec over the pool; a caller outside the pool sleeps on a futex for each of the
/// ~200 small operations per token, and the wake-ups cost as much as the maths.
struct JoinRayonPool;

impl kalosm::language::Parser for JoinRayonPool {
    type Output = ();
    type PartialState = ();

    fn parse<'a>(
        &self,
        _state: &(),
        input: &'a [u8],
    ) -> kalosm::language::ParseResult<kalosm::language::ParseStatus<'a, (), ()>> {
        Ok(kalosm::language::ParseStatus::Finished {
            result: (),
            remaining: input,
        })
    }
}

impl kalosm::language::CreateParserState for JoinRayonPool {
    fn create_parser_state(&self) {
        // 0 threads: rayon's default, which honours RAYON_NUM_THREADS.
        let joined = rayon::ThreadPoolBuilder::new()
            .num_threads(0)
            .use_current_thread()
            .build_global();
        tracing::debug!("model thread joins the rayon pool: {}", joined.is_ok());
    }
}

/// Runs `JoinRayonPool` on the model's thread (a no-op when the pool already exists).
async fn join_rayon_pool(llama: &Llama) {
    use kalosm::language::StructuredTextCompletionModel;
    let Ok(mut session) = llama.new_session() else {
        return;
    };
    let sampler = ParamSampler::new(&crate::runtime::types::Params::default());
    let _ = llama
        .stream_text_with_callback_and_parser(&mut session, "", sampler, JoinRayonPool, |_| Ok(()))
        .await;
}

/// Streams free text from `model` into `generation` until the model stops, or `done`
/// fires (a stop sequence, the token budget, a tool call starting, a closed receiver).
async fn stream_plain<M>(
    model: &M,
    prompt: &str,
    sampler: ParamSampler,
    generation: &Arc<Mutex<Generation>>,
    done: &Arc<tokio::sync::Notify>,
) -> Result<(), String>
where
    M: TextCompletionModel<ParamSampler>,
    M::Error: std::fmt::Display,
{
    let on_token = {
        let generation = generation.clone();
        let done = done.clone();
        move |piece: String| {
            let keep_going = generation
                .lock()
                .map(|mut g| g.push(piece))
                .unwrap_or(false);
            if !keep_going {
                done.notify_one();
            }
            Ok(())
        }
    };
    let mut session = model.new_session().map_err(|e| e.to_string())?;
    tokio::select! {
        r = model.stream_text_with_callback(&mut session, prompt, sampler, on_token) => r.map_err(|e| e.to_string()),
        _ = done.notified() => Ok(()),
    }
}

/// What generation has produced so far, shared with the model's token callback.
struct Generation {
    tx: mpsc::UnboundedSender<Result<StreamEvent, ProviderError>>,
    stop_sequences: Vec<String>,
    max_tokens: u32,
    /// Text held back because it may be the start of a stop sequence.
    pending: String,
    tokens: u32,
    stopped: Option<StopReason>,
    /// Tools are offered and the model has not yet shown whether it answers or calls one:
    /// its first character decides (`<` starts a call; the answer ends there with
    /// `ToolUse`, and the call is generated under its constraint).
    choosing: bool,
}

impl Generation {
    /// Takes one decoded token; returns false once generation should end.
    fn push(&mut self, piece: String) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        if self.tx.is_closed() {
            self.stopped = Some(StopReason::Cancelled);
            return false;
        }
        self.tokens += 1;
        self.pending.push_str(&piece);
        if self.choosing {
            let start = self.pending.trim_start();
            if start.starts_with(tool_calls::CALL_INTENT) {
                self.pending.clear();
                self.stopped = Some(StopReason::ToolUse);
                return false;
            }
            // Nothing yet, or what may still become a call: held.
            if start.is_empty() || tool_calls::CALL_INTENT.starts_with(start) {
                if self.tokens >= self.max_tokens {
                    self.flush_all();
                    self.stopped = Some(StopReason::MaxTokens);
                    return false;
                }
                return true;
            }
            // An answer: it starts without the whitespace before it.
            self.pending = start.to_string();
            self.choosing = false;
        }
        if let Some((pos, _)) = self
            .stop_sequences
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()).map(|p| (p, s)))
            .min_by_key(|(p, _)| *p)
        {
            self.pending.truncate(pos);
            self.flush_all();
            self.stopped = Some(StopReason::StopSequence);
            return false;
        }
        // Emit everything that cannot be the start of a stop sequence.
        let hold = self
            .stop_sequences
            .iter()
            .map(|s| longest_suffix_prefix(&self.pending, s))
            .max()
            .unwrap_or(0);
        let emit_to = self.pending.len() - hold;
        if emit_to > 0 {
            let text: String = self.pending.drain(..emit_to).collect();
            let _ = self.tx.send(Ok(StreamEvent::TextDelta { text }));
        }
        if self.tokens >= self.max_tokens {
            self.flush_all();
            self.stopped = Some(StopReason::MaxTokens);
            return false;
        }
        true
    }

    fn flush_all(&mut self) {
        if !self.pending.is_empty() {
            let text = std::mem::take(&mut self.pending);
            let _ = self.tx.send(Ok(StreamEvent::TextDelta { text }));
        }
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    (1..stop.len().min(text.len() + 1))
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n)
                && stop.is_char_boundary(n)
                && text.ends_with(&stop[..n])
        })
        .unwrap_or(0)
}

/// Tokens a constrained tool call may take (arguments included).
const CALL_BUDGET: u32 = 512;

/// A tool call to generate under its constraint: the prompt with the call opened, the
/// regular expression of a call to one of the tools, the sampler.
struct CallRequest {
    prompt: String,
    regex: String,
    /// `regex` with every tool's arguments unconstrained (one-line objects).
    loose: String,
    sampler: ParamSampler,
}

/// Generates the call the model started (`<`) under the tools' constraint, in at most
/// `room` tokens. Gives the call as a provider streams one and the tokens it took, or
/// how the answer ends instead (cancelled, out of tokens) and the tokens.
async fn generate_call<M>(
    model: &M,
    call: CallRequest,
    room: u32,
    tx: &mpsc::UnboundedSender<Result<StreamEvent, ProviderError>>,
) -> Result<(StreamEvent, u32), (StopReason, u32)>
where
    M: kalosm::language::StructuredTextCompletionModel<kalosm::language::RegexParser, ParamSampler>,
    M::Error: std::fmt::Display + From<candle_core::Error>,
{
    use kalosm::language::RegexParser;
    use std::sync::atomic::{AtomicU32, Ordering};
    let fail = |kind: ErrorKind, message: String| {
        let _ = tx.send(Err(ProviderError::new(kind, message)));
    };
    // Schemas too large for the automaton: the call is still one of the tools, with any
    // one-line object as arguments.
    let compiled = match RegexParser::new(&call.regex) {
        Ok(parser) => Ok(parser),
        Err(_) => RegexParser::new(&call.loose),
    };
    let parser = match compiled {
        Ok(parser) => parser,
        Err(e) => {
            fail(
                ErrorKind::Client,
                format!("the tools give no usable call constraint: {e}"),
            );
            return Err((StopReason::EndTurn, 0));
        }
    };
    let mut session = match model.new_session() {
        Ok(session) => session,
        Err(e) => {
            fail(
                ErrorKind::Server,
                format!("cannot start the tool call: {e}"),
            );
            return Err((StopReason::EndTurn, 0));
        }
    };
    let tokens = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(Mutex::new(None));
    let on_token = {
        let (tokens, stop, tx) = (tokens.clone(), stop.clone(), tx.clone());
        move |_piece: String| {
            let n = tokens.fetch_add(1, Ordering::Relaxed) + 1;
            // Returning an error is the only way to stop kalosm's constrained loop.
            let reason = if tx.is_closed() {
                Some(StopReason::Cancelled)
            } else if n > room {
                Some(StopReason::MaxTokens)
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    if let Ok(mut stop) = stop.lock() {
                        *stop = Some(reason);
                    }
                    Err(candle_core::Error::Msg("generation stopped".into()).into())
                }
                None => Ok(()),
            }
        }
    };
    let raw = model
        .stream_text_with_callback_and_parser(
            &mut session,
            &call.prompt,
            call.sampler,
            parser,
            on_token,
        )
        .await;
    let used = tokens.load(Ordering::Relaxed);
    let stopped = stop.lock().ok().and_then(|s| *s);
    match (raw, stopped) {
        (_, Some(StopReason::MaxTokens)) => {
            fail(
                ErrorKind::Server,
                format!("the model's tool call did not finish within {room} tokens"),
            );
            Err((StopReason::MaxTokens, used))
        }
        (_, Some(reason)) => Err((reason, used)),
        (Ok(raw), None) => match tool_calls::parse_call(&raw) {
            Some((name, arguments)) => Ok((
                StreamEvent::ToolCallDelta {
                    index: 0,
                    id: Some(format!("call_{}", crate::store::Id::new())),
                    name: Some(name),
                    arguments,
                },
                used,
            )),
            None => {
                fail(
                    ErrorKind::Server,
                    format!("the constrained tool call could not be read back: {raw}"),
                );
                Err((StopReason::EndTurn, used))
            }
        },
        (Err(e), None) => {
            fail(
                ErrorKind::Server,
                format!("generating the tool call failed: {e}"),
            );
            Err((StopReason::EndTurn, used))
        }
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError> {
        let model = self.chat_model(&request.model).await?;
        let prompt = model.prompt(&request)?;
        let input_tokens = model.count_tokens(&prompt);
        let context = self.spec(&request.model)?.context_window;
        if context > 0 && input_tokens >= context {
            return Err(ProviderError::new(
                ErrorKind::Client,
                format!(
                    "the conversation is {input_tokens} tokens, more than {}'s context window of {context}; start a new session or shorten it",
                    request.model
                ),
            ));
        }
        // Never generate past the context window.
        let room = if context > 0 {
            context - input_tokens
        } else {
            u32::MAX
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let offered = !request.tools.is_empty() && request.tool_choice != ToolChoice::None;
        let must_call = offered && request.tool_choice != ToolChoice::Auto;
        // A named tool: the call may only be to it.
        let callable: Vec<_> = match &request.tool_choice {
            ToolChoice::Tool(name) => request
                .tools
                .iter()
                .filter(|t| &t.name == name)
                .cloned()
                .collect(),
            _ => request.tools.clone(),
        };
        if offered && callable.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::Client,
                format!(
                    "tool_choice names a tool the request does not offer: {:?}",
                    request.tool_choice
                ),
            ));
        }
        let generation = Arc::new(Mutex::new(Generation {
            tx: tx.clone(),
            stop_sequences: request
                .params
                .stop
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
            max_tokens: request
                .params
                .max_tokens
                .unwrap_or(u32::MAX)
                .min(room)
                .max(1),
            pending: String::new(),
            tokens: 0,
            choosing: offered && request.tool_choice == ToolChoice::Auto,
            // A call required: nothing is generated freely; the call comes at once.
            stopped: must_call.then_some(StopReason::ToolUse),
        }));
        let done = Arc::new(tokio::sync::Notify::new());
        let sampler = ParamSampler::new(&request.params);
        let call = offered.then(|| CallRequest {
            regex: tool_calls::call_regex(&callable),
            loose: tool_calls::loose_call_regex(&callable),
            prompt: format!("{prompt}{}\n", tool_calls::CALL_OPEN),
            sampler: ParamSampler::new(&request.params),
        });
        tokio::spawn(async move {
            // Dropping the model's future (when `done` fires) stops its generation loop.
            let outcome = if must_call {
                Ok(())
            } else {
                match &model.backend {
                    Backend::Engine(m) => {
                        stream_plain(m, &prompt, sampler, &generation, &done).await
                    }
                    Backend::Kalosm(m) => {
                        stream_plain(m, &prompt, sampler, &generation, &done).await
                    }
                }
            };
            if let Err(e) = outcome {
                let _ = tx.send(Err(ProviderError::new(
                    ErrorKind::Server,
                    format!("local generation failed: {e}"),
                )));
                return;
            }
            // The guard is gone before the call (if any) is generated.
            let Some((mut reason, mut output_tokens, room)) =
                generation.lock().ok().map(|mut g| {
                    g.flush_all();
                    (
                        g.stopped.unwrap_or(StopReason::EndTurn),
                        g.tokens,
                        // The call gets its own budget (a cut call is of no use), within
                        // what the context window has left.
                        room.saturating_sub(g.tokens).min(CALL_BUDGET),
                    )
                })
            else {
                return;
            };
            if let (StopReason::ToolUse, Some(call)) = (reason, call) {
                let made = match &model.backend {
                    Backend::Engine(m) => generate_call(m, call, room, &tx).await,
                    Backend::Kalosm(m) => generate_call(m, call, room, &tx).await,
                };
                match made {
                    Ok((tool_call, tokens)) => {
                        output_tokens += tokens;
                        let _ = tx.send(Ok(tool_call));
                    }
                    Err((stop, tokens)) => {
                        output_tokens += tokens;
                        reason = stop;
                    }
                }
            }
            let _ = tx.send(Ok(StreamEvent::Usage(Usage {
                input_tokens,
                output_tokens,
            })));
            let _ = tx.send(Ok(StreamEvent::Stop { reason }));
        });
        Ok(UnboundedReceiverStream::new(rx).boxed())
    }

    async fn embed(&self, request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let embedder = self.embedder(&request.model).await?;
        let inputs = request.inputs;
        tokio::task::spawn_blocking(move || {
            // Longer texts are cut to the model's window (as sentence-transformers does).
            let fitted: Vec<(&str, u32)> = inputs.iter().map(|s| embedder.fit(s)).collect();
            let refs: Vec<&str> = fitted.iter().map(|(t, _)| *t).collect();
            let vectors = embedder
                .bert
                .embed_batch_with_pooling(refs, rbert::Pooling::Mean)
                .map_err(|e| {
                    ProviderError::new(ErrorKind::Server, format!("embedding failed: {e}"))
                })?;
            let input_tokens = fitted.iter().map(|(_, n)| n).sum();
            Ok(EmbedResponse {
                vectors: vectors.into_iter().map(|v| v.vector().to_vec()).collect(),
                usage: Usage {
                    input_tokens,
                    output_tokens: 0,
                },
            })
        })
        .await
        .map_err(|e| {
            ProviderError::new(ErrorKind::Server, format!("embedding worker failed: {e}"))
        })?
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        Ok(self
            .catalog
            .models()
            .iter()
            .filter(|m| m.is_local() && m.is_downloaded(&self.model_dir))
            .map(|m| m.remote_name().to_string())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(
        stops: &[&str],
        max: u32,
    ) -> (
        Generation,
        mpsc::UnboundedReceiver<Result<StreamEvent, ProviderError>>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Generation {
                tx,
                stop_sequences: stops.iter().map(|s| s.to_string()).collect(),
                max_tokens: max,
                pending: String::new(),
                tokens: 0,
                stopped: None,
                choosing: false,
            },
            rx,
        )
    }

    fn text(rx: &mut mpsc::UnboundedReceiver<Result<StreamEvent, ProviderError>>) -> String {
        let mut out = String::new();
        while let Ok(Ok(StreamEvent::TextDelta { text })) = rx.try_recv() {
            out.push_str(&text);
        }
        out
    }

    #[test]
    fn stop_sequence_split_across_tokens_is_cut() {
        let (mut g, mut rx) = generation(&["END"], 100);
        assert!(g.push("Hello E".into()));
        assert_eq!(text(&mut rx), "Hello ", "`E` is held back");
        assert!(g.push("N".into()));
        assert!(!g.push("Dless".into()));
        g.flush_all();
        assert_eq!(text(&mut rx), "");
        assert_eq!(g.stopped, Some(StopReason::StopSequence));
    }

    #[test]
    fn held_text_is_released_when_it_is_not_a_stop() {
        let (mut g, mut rx) = generation(&["END"], 100);
        g.push("a E".into());
        g.push("x".into());
        assert_eq!(text(&mut rx), "a Ex");
    }

    #[test]
    fn a_first_angle_bracket_is_a_tool_call_and_anything_else_an_answer() {
        let (mut g, mut rx) = generation(&[], 100);
        g.choosing = true;
        assert!(g.push(" \n".into()), "whitespace decides nothing");
        assert!(g.push("<".into()), "a `<` may still be an answer");
        assert!(!g.push("tool_".into()));
        assert_eq!(g.stopped, Some(StopReason::ToolUse));
        assert_eq!(text(&mut rx), "", "nothing of a call is shown as text");
        let (mut g, mut rx) = generation(&[], 100);
        g.choosing = true;
        assert!(g.push(" ".into()));
        assert!(g.push("It is".into()));
        assert!(g.push(" <b>".into()), "a later `<` is text");
        assert_eq!(text(&mut rx), "It is <b>");
        assert_eq!(g.stopped, None);
        let (mut g, mut rx) = generation(&[], 100);
        g.choosing = true;
        assert!(g.push("<".into()));
        assert!(g.push("b>bold".into()), "an answer that starts with a tag");
        assert_eq!(text(&mut rx), "<b>bold");
    }

    #[test]
    fn max_tokens_stops() {
        let (mut g, mut rx) = generation(&[], 2);
        assert!(g.push("a".into()));
        assert!(!g.push("b".into()));
        assert_eq!(g.stopped, Some(StopReason::MaxTokens));
        assert_eq!(text(&mut rx), "ab");
        assert_eq!(g.tokens, 2);
    }
}
