//! Shared test setup: the real models pulled by Strata's own pull into a cache outside the
//! clone, runtimes on temporary data dirs, and servers on loopback.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::config::{Config, Paths};
use strata::runtime::pull::Puller;
use strata::runtime::Runtime;
use tokio::sync::OnceCell;

pub const CHAT_MODEL: &str = "local/smollm2-135m";
pub const EMBED_MODEL: &str = "local/all-minilm-l6-v2";

/// Where test models and the llama.cpp venv live (outside the clone, kept between runs).
pub fn test_cache() -> PathBuf {
    std::env::var_os("STRATA_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp"));
            home.join(".cache/strata-ci")
        })
}

pub fn model_dir() -> PathBuf {
    test_cache().join("models")
}

static PULLED: OnceCell<()> = OnceCell::const_new();

/// Pulls the test models once per test binary (a no-op when they are cached).
pub async fn ensure_models() {
    PULLED
        .get_or_init(|| async {
            let catalog = strata::runtime::catalog::Catalog::builtin();
            let mut puller = Puller::new(&model_dir(), Arc::new(|_| {}));
            for id in [CHAT_MODEL, EMBED_MODEL] {
                let spec = catalog.get(id).unwrap();
                if !spec.is_downloaded(&model_dir()) {
                    puller
                        .pull(spec, None)
                        .await
                        .unwrap_or_else(|e| panic!("pulling {id} for the tests failed: {e}"));
                }
            }
        })
        .await;
}

/// Runs a turn through the orchestrator and collects every event it reported.
pub async fn run_turn(
    o: &strata::orchestrator::Orchestrator,
    turn: strata::orchestrator::Turn,
) -> (
    strata::orchestrator::TurnOutcome,
    Vec<strata::orchestrator::events::RunEvent>,
) {
    let mut events = Vec::new();
    let outcome = o.run_turn(turn, |e| events.push(e)).await.unwrap();
    (outcome, events)
}

/// The answer text the caller was shown (the run's text deltas).
pub fn streamed_text(events: &[strata::orchestrator::events::RunEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            strata::orchestrator::events::RunEvent::TextDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// A runtime on a fresh temporary data dir, sharing the test model cache.
pub async fn runtime(dir: &Path, config: Config) -> Runtime {
    ensure_models().await;
    let mut paths = Paths::under(dir);
    paths.model_dir = model_dir();
    Runtime::with_config(paths, config).expect("open runtime")
}

/// The built binary on `dir` (config, data and state there; models from the test cache).
pub fn strata(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("strata").unwrap();
    cmd.env("STRATA_CONFIG", dir.join("config.toml"))
        .env("STRATA_DATA_DIR", dir.join("data"))
        .env("STRATA_CACHE_DIR", model_dir())
        .env("XDG_STATE_HOME", dir.join("state"))
        // Agent files and other config-dir files stay in the test's folder.
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env_remove("STRATA_LOG");
    cmd
}

/// The SmolLM2 GGUF in the test cache (after `ensure_models`).
pub fn chat_gguf() -> PathBuf {
    let catalog = strata::runtime::catalog::Catalog::builtin();
    let spec = catalog.get(CHAT_MODEL).unwrap();
    spec.dir(&model_dir()).join(&spec.files[0].name)
}

/// The Python of the llama-cpp-python venv, built once by `.ci/llama-server-venv.sh` (which
/// smoke-tests a multi-token chat completion on `gguf` before declaring the venv good).
pub fn llama_python(gguf: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/llama-server-venv.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(gguf)
        .env("STRATA_TEST_CACHE", test_cache())
        .output()
        .expect("run .ci/llama-server-venv.sh");
    assert!(
        out.status.success(),
        "building llama-cpp-python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A llama.cpp OpenAI-compatible server on loopback, killed on drop.
pub struct LlamaServer {
    child: std::process::Child,
    pub base_url: String,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    /// Starts the server on the SmolLM2 GGUF and waits until it answers.
    pub async fn start() -> LlamaServer {
        LlamaServer::start_with(&[]).await
    }

    /// `start` with more server arguments (e.g. `--chat_format chatml-function-calling`).
    pub async fn start_with(extra: &[&str]) -> LlamaServer {
        ensure_models().await;
        let gguf = chat_gguf();
        let python = {
            let gguf = gguf.clone();
            tokio::task::spawn_blocking(move || llama_python(&gguf))
                .await
                .unwrap()
        };
        let port = free_port();
        let child = std::process::Command::new(python)
            .args([
                "-m",
                "llama_cpp.server",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .arg("--model")
            .arg(&gguf)
            .args([
                "--model_alias",
                "smollm2",
                "--n_ctx",
                "2048",
                "--embedding",
                "true",
            ])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start llama_cpp.server");
        let server = LlamaServer {
            child,
            base_url: format!("http://127.0.0.1:{port}/v1"),
        };
        let client = reqwest::Client::new();
        for _ in 0..240 {
            if let Ok(r) = client
                .get(format!("{}/models", server.base_url))
                .send()
                .await
            {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("llama_cpp.server did not come up on port {port}");
    }
}

/// Makes `spec` (a one-GGUF chat model) downloaded in `model_dir` by linking the cached
/// SmolLM2 file under its name; returns the link. Call `ensure_models` first.
#[cfg(unix)]
pub fn link_chat_model(model_dir: &Path, spec: &strata::runtime::catalog::ModelSpec) -> PathBuf {
    let dir = spec.dir(model_dir);
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join(&spec.files[0].name);
    std::os::unix::fs::symlink(chat_gguf(), &link).unwrap();
    link
}

/// Writes a small GGUF file (metadata only, no tensors) with `general.architecture` set to
/// `architecture` and, if given, a chat template.
pub fn tiny_gguf(path: &Path, architecture: &str, template: Option<&str>) {
    use candle_core::quantized::gguf_file::{self, Value};
    let mut metadata = vec![(
        "general.architecture",
        Value::String(architecture.to_string()),
    )];
    if let Some(template) = template {
        metadata.push((
            "tokenizer.chat_template",
            Value::String(template.to_string()),
        ));
    }
    let refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &refs, &[]).unwrap();
}

/// A local chat model of one file, as a test's catalog entry.
pub fn one_file_model(
    id: &str,
    file: &str,
    sources: Vec<strata::runtime::catalog::Source>,
    sha256: Option<String>,
) -> strata::runtime::catalog::ModelSpec {
    use strata::runtime::catalog::{Capability, ModelFile, ModelSpec};
    ModelSpec {
        id: id.into(),
        name: String::new(),
        provider: "local".into(),
        family: None,
        context_window: 0,
        input_price: 0.0,
        output_price: 0.0,
        capabilities: vec![Capability::Chat],
        default: false,
        remote_name: None,
        files: vec![ModelFile {
            name: file.into(),
            sha256,
            size: None,
            sources,
        }],
    }
}

pub mod scripted;
