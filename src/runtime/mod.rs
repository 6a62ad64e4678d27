//! The model runtime: catalog, providers, model pull and the invoke pipeline, behind one
//! `Runtime` handle that the CLI, the TUI and every later feature share.

pub mod catalog;
pub mod checks;
pub mod context;
pub mod converse;
pub mod embeddings;
pub mod invoke;
pub mod params;
pub mod provider;
pub mod providers;
pub mod pull;
pub mod record;
pub mod release;
pub mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::config::{Config, Paths, ProviderKind};
use crate::store::{trees, Store, StoreError};
use catalog::{Capability, Catalog, ModelSpec};
use checks::Check;
use context::CallIds;
use invoke::{InvokeError, RetryPolicy};
use provider::{ErrorKind, Provider, ProviderError};
use providers::local::LocalProvider;
use providers::openai::{KeySource, OpenAiProvider};
use record::{InvocationRecord, Operation, Outcome};
use types::{EmbedRequest, EmbedResponse};

/// Everything a client needs to call models.
pub struct Runtime {
    pub paths: Paths,
    pub config: Config,
    pub catalog: Arc<Catalog>,
    pub store: Store,
    local: Arc<LocalProvider>,
    remote: Mutex<HashMap<String, Arc<dyn Provider>>>,
    /// Process-wide checks (on top of each call's own).
    checks: RwLock<Vec<Arc<dyn Check>>>,
    cache_responses: bool,
    retry: RetryPolicy,
    /// Completed invocation records, for observers (metrics, audit).
    records: tokio::sync::broadcast::Sender<InvocationRecord>,
}

/// The runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Runtime {
    /// Loads the config at `paths.config_file` and opens the database.
    pub fn open(paths: Paths) -> Result<Runtime, OpenError> {
        let config = Config::load(&paths.config_file)?;
        Ok(Runtime::with_config(paths, config)?)
    }

    /// Opens the database with an already parsed config.
    pub fn with_config(mut paths: Paths, config: Config) -> Result<Runtime, StoreError> {
        if let Some(dir) = &config.model_dir {
            paths.model_dir = dir.clone();
        }
        let mut access = crate::store::keyring::KeyAccess::from_env()?;
        if config.encryption.enabled {
            access.enable = Some(config.encryption.source(&paths.config_dir)?);
        }
        let store = Store::open_with(&paths.data_dir, &access)?;
        let catalog = Arc::new(Catalog::with_overrides(&config.models));
        let local = Arc::new(
            LocalProvider::new(&paths.model_dir, catalog.clone()).with_engine(config.local_engine),
        );
        let retry = RetryPolicy {
            max_retries: config
                .max_retries
                .unwrap_or(RetryPolicy::default().max_retries),
            ..RetryPolicy::default()
        };
        let runtime = Runtime {
            cache_responses: config.cache_responses,
            paths,
            config,
            catalog,
            store,
            local,
            remote: Mutex::new(HashMap::new()),
            checks: RwLock::new(Vec::new()),
            retry,
            records: tokio::sync::broadcast::channel(1024).0,
        };
        runtime.mark_interrupted_records()?;
        Ok(runtime)
    }

    /// Records still marked running from an earlier process (it crashed or was killed)
    /// become `interrupted`.
    fn mark_interrupted_records(&self) -> Result<(), StoreError> {
        self.store.settle_in_flight(
            trees::INVOCATIONS,
            "invocation",
            |record: &mut InvocationRecord| {
                let running = record.outcome == Outcome::Running;
                if running {
                    record.outcome = Outcome::Interrupted;
                    record.error = Some("the process ended while the call was running".into());
                }
                running
            },
        )?;
        Ok(())
    }

    /// Turns the response cache on or off for calls that do not say.
    pub fn set_cache_responses(&mut self, on: bool) {
        self.cache_responses = on;
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn set_retry_policy(&mut self, retry: RetryPolicy) {
        self.retry = retry;
    }

    /// Adds a check that runs around every call of this process (per-call checks come
    /// with each call's context).
    pub fn add_check(&self, check: Arc<dyn Check>) {
        if let Ok(mut checks) = self.checks.write() {
            checks.push(check);
        }
    }

    fn checks(&self) -> Vec<Arc<dyn Check>> {
        self.checks.read().map(|h| h.clone()).unwrap_or_default()
    }

    /// The default chat model.
    pub fn default_model(&self) -> Result<&ModelSpec, catalog::UnknownModel> {
        self.catalog
            .default_model(self.config.default_model.as_deref())
    }

    /// The model a chat should use: the one asked for, else the default; refused when it
    /// cannot chat (an embeddings model).
    pub fn chat_model(&self, requested: Option<&str>) -> Result<&ModelSpec, InvokeError> {
        let spec = match requested {
            Some(id) => self.catalog.get(id)?,
            None => self.default_model()?,
        };
        if !spec.has(Capability::Chat) {
            return Err(InvokeError::Unsupported {
                model: spec.id.clone(),
                what:
                    "chat (it is an embeddings model); pick a chat model from `strata models list`",
            });
        }
        Ok(spec)
    }

    /// The in-process provider (for direct access to loaded models, e.g. benchmarks).
    pub fn local(&self) -> &Arc<LocalProvider> {
        &self.local
    }

    /// Serves the profile `name` with `provider` instead of the one its kind would make
    /// (an in-process model for benchmarks; the profile must still exist in the config).
    pub fn set_provider(&self, name: &str, provider: Arc<dyn Provider>) {
        if let Ok(mut remote) = self.remote.lock() {
            remote.insert(name.to_string(), provider);
        }
    }

    /// The provider serving `spec`, created on first use from its profile.
    pub fn provider(&self, spec: &ModelSpec) -> Result<Arc<dyn Provider>, ProviderError> {
        let profiles = self.config.provider_profiles();
        let profile = profiles.get(&spec.provider).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Client,
                format!(
                    "model {} names provider `{}`, which has no profile; add [providers.{}] to {}",
                    spec.id,
                    spec.provider,
                    spec.provider,
                    self.paths.config_file.display()
                ),
            )
        })?;
        if profile.kind == ProviderKind::Local {
            return Ok(self.local.clone());
        }
        let mut remote = self
            .remote
            .lock()
            .map_err(|_| ProviderError::new(ErrorKind::Server, "provider registry poisoned"))?;
        if let Some(p) = remote.get(&spec.provider) {
            return Ok(p.clone());
        }
        let base_url = profile.base_url.clone().ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Client,
                format!(
                    "provider `{}` needs a base_url in {}",
                    spec.provider,
                    self.paths.config_file.display()
                ),
            )
        })?;
        let provider: Arc<dyn Provider> = Arc::new(OpenAiProvider::new(
            &spec.provider,
            &base_url,
            KeySource {
                env: profile.api_key_env.clone(),
                file: profile.api_key_file.clone(),
            },
            Duration::from_secs(profile.timeout_secs.unwrap_or(120)),
        ));
        remote.insert(spec.provider.clone(), provider.clone());
        Ok(provider)
    }

    /// The catalog entry of an embeddings model (an error for a chat-only one).
    fn embeddings_model(&self, model: &str) -> Result<ModelSpec, InvokeError> {
        let spec = self.catalog.get(model)?.clone();
        if !spec.has(Capability::Embeddings) {
            return Err(InvokeError::Unsupported {
                model: spec.id,
                what: "embed text",
            });
        }
        Ok(spec)
    }

    /// Embeds texts without an invocation record: for checks that run inside a call,
    /// whose own record keeps their time.
    pub async fn embed_unrecorded(
        &self,
        model: &str,
        inputs: Vec<String>,
    ) -> Result<EmbedResponse, InvokeError> {
        let spec = self.embeddings_model(model)?;
        let provider = self.provider(&spec).map_err(InvokeError::Provider)?;
        provider
            .embed(EmbedRequest {
                model: spec.remote_name().to_string(),
                inputs,
            })
            .await
            .map_err(InvokeError::Provider)
    }

    /// Embeds texts with an embeddings model, recording the call.
    pub async fn embed(
        &self,
        model: &str,
        inputs: Vec<String>,
    ) -> Result<EmbedResponse, InvokeError> {
        let spec = self.embeddings_model(model)?;
        let started = Instant::now();
        let mut record = InvocationRecord::start(
            &spec.id,
            &spec.provider,
            Operation::Embed,
            CallIds::default(),
        );
        self.begin_record(&record);
        let result = match self.provider(&spec) {
            Ok(p) => {
                p.embed(EmbedRequest {
                    model: spec.remote_name().to_string(),
                    inputs,
                })
                .await
            }
            Err(e) => Err(e),
        };
        record.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(r) => {
                record.input_tokens = r.usage.input_tokens;
                record.cost_usd = spec.cost(r.usage.input_tokens, 0);
            }
            Err(e) => {
                record.outcome = Outcome::from_error(e.kind);
                record.error = Some(e.message.clone());
            }
        }
        if record.outcome == Outcome::Running {
            record.outcome = Outcome::Ok;
        }
        self.finish_record(&record);
        result.map_err(InvokeError::Provider)
    }
}
