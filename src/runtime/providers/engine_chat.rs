//! Strata's CPU engine (`crate::engine`) under kalosm's model traits, so the local
//! provider drives it exactly as it drives kalosm's Llama: sessions, streamed text with a
//! sampler (`TextCompletionModel`), and generation constrained by a parser
//! (`StructuredTextCompletionModel`, for tool calls). Generation runs on a blocking
//! thread; one forward pass at a time uses the engine's pool; dropping the future stops
//! the generation before its next token.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use kalosm::language::kalosm_sample::{CreateParserState, ParseStatus, Parser};
use kalosm::language::{
    CreateTextCompletionSession, StructuredTextCompletionModel, TextCompletionModel,
    TextCompletionSession,
};
use llm_samplers::types::{HasSamplerResources, Logits, Sampler, SamplerError};
use rand::SeedableRng;

use crate::engine::{text::TokenText, Engine, Session};

/// Candidates (by logit) a constrained step checks against the parser before it looks
/// at the rest of the vocabulary.
const CONSTRAINED_TOP: usize = 64;

/// The engine as a kalosm text-completion model.
#[derive(Clone)]
pub struct EngineChat {
    pub engine: Arc<Engine>,
    /// One forward pass at a time (the pool serves one caller).
    busy: Arc<Mutex<()>>,
}

impl EngineChat {
    pub fn new(engine: Engine) -> EngineChat {
        EngineChat {
            engine: Arc::new(engine),
            busy: Arc::new(Mutex::new(())),
        }
    }

    fn forward(&self, session: &mut Session, tokens: &[u32]) -> Vec<f32> {
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        self.engine.model.forward(session, tokens)
    }

    /// The prompt `text` run after what the session holds: its last token's logits.
    /// Refused when empty or past the context window; stopped between chunks.
    fn prefill(
        &self,
        s: &mut Session,
        text: &str,
        stop: &AtomicBool,
    ) -> Result<Vec<f32>, EngineError> {
        let ids = self.engine.encode(text).map_err(EngineError::Failed)?;
        let context = self.engine.model.config.context;
        if ids.is_empty() {
            return Err(EngineError::Failed("the prompt is empty".into()));
        }
        if s.len + ids.len() >= context {
            return Err(EngineError::Failed(format!(
                "the prompt is {} tokens, past the model's context window of {context}",
                s.len + ids.len()
            )));
        }
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        self.engine
            .model
            .prefill(s, &ids, &|| stop.load(Ordering::Relaxed))
            .ok_or(EngineError::Stopped)
    }
}

/// Why engine generation stopped early.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Failed(String),
    /// The caller asked to stop (its callback said so, or the future was dropped).
    #[error("generation stopped")]
    Stopped,
}

impl From<candle_core::Error> for EngineError {
    fn from(e: candle_core::Error) -> Self {
        EngineError::Failed(e.to_string())
    }
}

/// A conversation's keys and values (taken by a generation while it runs).
pub struct EngineSession {
    session: Option<Session>,
}

impl TextCompletionSession for EngineSession {
    type Error = EngineError;

    fn write_to(&self, _into: &mut Vec<u8>) -> Result<(), Self::Error> {
        Err(EngineError::Failed(
            "sessions of the strata engine are not saved".into(),
        ))
    }

    fn from_bytes(_bytes: &[u8]) -> Result<Self, Self::Error> {
        Err(EngineError::Failed(
            "sessions of the strata engine are not loaded from bytes".into(),
        ))
    }

    fn try_clone(&self) -> Result<Self, Self::Error> {
        Ok(EngineSession {
            session: self.session.clone(),
        })
    }
}

impl CreateTextCompletionSession for EngineChat {
    type Error = EngineError;
    type Session = EngineSession;

    fn new_session(&self) -> Result<Self::Session, Self::Error> {
        Ok(EngineSession {
            session: Some(self.engine.model.new_session()),
        })
    }
}

/// The sampler's view of the generation: a random generator and the tokens so far.
struct Resources<'a> {
    rng: &'a mut rand::rngs::StdRng,
    tokens: &'a [u32],
}

impl std::fmt::Debug for Resources<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Resources({} tokens)", self.tokens.len())
    }
}

impl HasSamplerResources for Resources<'_> {
    fn with_rng_mut(
        &mut self,
        fun: &mut dyn FnMut(&mut dyn rand::RngCore),
    ) -> Result<(), SamplerError> {
        fun(self.rng);
        Ok(())
    }

    fn with_last_tokens(&self, fun: &mut dyn FnMut(&[u32])) -> Result<(), SamplerError> {
        fun(self.tokens);
        Ok(())
    }
}

/// Sets the flag when the generation's future is dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Samples one token from `logits` restricted to `allowed` (all when `None`).
fn sample(
    sampler: &mut dyn Sampler,
    logits: &[f32],
    allowed: Option<&[u32]>,
    rng: &mut rand::rngs::StdRng,
    tokens: &[u32],
) -> Result<u32, EngineError> {
    let mut l: Logits = match allowed {
        Some(ids) => Logits::try_from_iter(ids.iter().map(|&i| logits[i as usize]))
            .map_err(|e| EngineError::Failed(e.to_string()))?,
        None => Logits::try_from_iter(logits.iter().copied())
            .map_err(|e| EngineError::Failed(e.to_string()))?,
    };
    // The entries carry the real token ids (the repetition penalty compares them with
    // the tokens so far).
    if let Some(ids) = allowed {
        for (entry, id) in l.iter_mut().zip(ids) {
            entry.token_id = *id;
        }
    }
    let mut res = Resources { rng, tokens };
    let picked = sampler
        .sample_token(&mut res, &mut l)
        .map_err(|e| EngineError::Failed(e.to_string()))?
        .ok_or_else(|| EngineError::Failed("the sampler chose no token".into()))?;
    match allowed {
        Some(ids) if !ids.contains(&picked) => Err(EngineError::Failed(
            "the sampler chose a token the constraint does not allow".into(),
        )),
        _ => Ok(picked),
    }
}

/// Runs `work` on a blocking thread with the session, puts the session back after.
async fn blocking<T: Send + 'static>(
    session: &mut EngineSession,
    work: impl FnOnce(&mut Session, &AtomicBool) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    let mut s = session
        .session
        .take()
        .ok_or_else(|| EngineError::Failed("the session is in use by another generation".into()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let _guard = StopOnDrop(stop.clone());
    let (s, result) = tokio::task::spawn_blocking(move || {
        let result = work(&mut s, &stop);
        (s, result)
    })
    .await
    .map_err(|e| EngineError::Failed(format!("the generation thread failed: {e}")))?;
    session.session = Some(s);
    result
}

impl<S: Sampler + 'static> TextCompletionModel<S> for EngineChat {
    fn stream_text_with_callback<'a>(
        &'a self,
        session: &'a mut Self::Session,
        text: &str,
        mut sampler: S,
        mut on_token: impl FnMut(String) -> Result<(), Self::Error> + Send + Sync + 'static,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a {
        let text = text.to_string();
        let me = self.clone();
        async move {
            blocking(session, move |s, stop| {
                let engine = &me.engine;
                let mut logits = me.prefill(s, &text, stop)?;
                let mut rng = rand::rngs::StdRng::from_entropy();
                let mut out = TokenText::new();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return Err(EngineError::Stopped);
                    }
                    let next = sample(&mut sampler, &logits, None, &mut rng, &s.tokens)?;
                    if engine.stop_tokens.contains(&next) {
                        return Ok(());
                    }
                    let piece = out.push(&engine.tokenizer, next);
                    if !piece.is_empty() {
                        on_token(piece)?;
                    }
                    if s.len >= engine.model.config.context {
                        return Ok(());
                    }
                    logits = me.forward(s, &[next]);
                }
            })
            .await
        }
    }
}

impl<S, Constraints> StructuredTextCompletionModel<Constraints, S> for EngineChat
where
    Constraints: CreateParserState + Send + 'static,
    <Constraints as Parser>::Output: Send,
    <Constraints as Parser>::PartialState: Send,
    S: Sampler + 'static,
{
    fn stream_text_with_callback_and_parser<'a>(
        &'a self,
        session: &'a mut Self::Session,
        text: &str,
        mut sampler: S,
        parser: Constraints,
        mut on_token: impl FnMut(String) -> Result<(), Self::Error> + Send + Sync + 'static,
    ) -> impl Future<Output = Result<Constraints::Output, Self::Error>> + Send + 'a {
        let text = text.to_string();
        let me = self.clone();
        async move {
            blocking(session, move |s, stop| {
                let engine = &me.engine;
                let mut logits = me.prefill(s, &text, stop)?;
                let mut rng = rand::rngs::StdRng::from_entropy();
                let mut state = parser.create_parser_state();
                let vocab = logits.len();
                // Each token's text on its own (byte-level pieces), decoded once.
                let mut pieces: Vec<Option<String>> = vec![None; vocab];
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return Err(EngineError::Stopped);
                    }
                    if vocab == 0 {
                        return Err(EngineError::Failed("the model gave no logits".into()));
                    }
                    let mut order: Vec<u32> = (0..vocab as u32).collect();
                    let top = CONSTRAINED_TOP.min(vocab);
                    let by_logit =
                        |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]);
                    order.select_nth_unstable_by(top - 1, by_logit);
                    let mut allowed = Vec::new();
                    let mut outcomes = Vec::new();
                    let mut check = |ids: &[u32], allowed: &mut Vec<u32>| {
                        for &id in ids {
                            if allowed.len() >= CONSTRAINED_TOP {
                                break;
                            }
                            if engine.stop_tokens.contains(&id) {
                                continue;
                            }
                            let piece = pieces[id as usize].get_or_insert_with(|| {
                                engine.tokenizer.decode(&[id], false).unwrap_or_default()
                            });
                            if piece.is_empty() {
                                continue;
                            }
                            if let Ok(status) = parser.parse(&state, piece.as_bytes()) {
                                let taken = match &status {
                                    ParseStatus::Finished { remaining, .. } => {
                                        piece.len() - remaining.len()
                                    }
                                    ParseStatus::Incomplete { .. } => piece.len(),
                                };
                                allowed.push(id);
                                outcomes.push((status.without_remaining(), taken));
                            }
                        }
                    };
                    check(&order[..top], &mut allowed);
                    if allowed.is_empty() {
                        // None of the top: the rest in logit order, so the best allowed
                        // tokens are the ones offered.
                        order[top..].sort_unstable_by(by_logit);
                        check(&order[top..], &mut allowed);
                    }
                    if allowed.is_empty() {
                        return Err(EngineError::Failed(
                            "no token continues the constrained output".into(),
                        ));
                    }
                    let next = sample(&mut sampler, &logits, Some(&allowed), &mut rng, &s.tokens)?;
                    let at = allowed.iter().position(|&a| a == next).unwrap_or(0);
                    let (status, taken) = outcomes.swap_remove(at);
                    let piece = pieces[next as usize].clone().unwrap_or_default();
                    let emitted = piece.get(..taken).unwrap_or(&piece);
                    on_token(emitted.to_string())?;
                    match status {
                        ParseStatus::Finished { result, .. } => return Ok(result),
                        ParseStatus::Incomplete { new_state, .. } => state = new_state,
                    }
                    if s.len >= engine.model.config.context {
                        return Err(EngineError::Failed(
                            "the context window ended inside the constrained output".into(),
                        ));
                    }
                    logits = me.forward(s, &[next]);
                }
            })
            .await
        }
    }
}
