//! Where agents come from: the examples shipped in the binary (installed on first use into
//! `<config_dir>/agents/`) and every `*.toml` there; listing and loading by name or path.
//! Not responsible for the file format (see `spec`) or for running agents.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::Paths;

use super::spec::{AgentSpec, SpecError};

/// One file of the shipped examples, as installed under the agents folder.
#[derive(Debug, Clone, Copy)]
pub struct ShippedFile {
    /// Path relative to the agents folder.
    pub path: &'static str,
    pub text: &'static str,
    /// Installed with the executable bit (scripts of command tools).
    pub executable: bool,
}

/// The examples embedded from the repository's top-level `agents/` folder.
pub const SHIPPED: &[ShippedFile] = &[
    ShippedFile {
        path: "order-status.toml",
        text: include_str!("../../agents/order-status.toml"),
        executable: false,
    },
    ShippedFile {
        path: "order-status/lookup_order.sh",
        text: include_str!("../../agents/order-status/lookup_order.sh"),
        executable: true,
    },
    ShippedFile {
        path: "order-status/cancel_order.sh",
        text: include_str!("../../agents/order-status/cancel_order.sh"),
        executable: true,
    },
    ShippedFile {
        path: "rust-book.toml",
        text: include_str!("../../agents/rust-book.toml"),
        executable: false,
    },
    ShippedFile {
        path: "files.toml",
        text: include_str!("../../agents/files.toml"),
        executable: false,
    },
    ShippedFile {
        path: "time-mcp.toml",
        text: include_str!("../../agents/time-mcp.toml"),
        executable: false,
    },
];

/// Records which shipped files were installed and with what content, so that an edited
/// or deleted example is left alone and an untouched one follows newer versions.
const MANIFEST: &str = ".shipped";

/// One agent file as `list` sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEntry {
    /// The agent's name (the file stem when the file does not load).
    pub name: String,
    pub description: String,
    pub model: String,
    /// Tools defined in the file (MCP servers' tools not counted).
    pub tools: usize,
    pub mcp_servers: usize,
    pub path: PathBuf,
    /// Why the file does not load (`file:line: key: message` lines), or that another file
    /// has the same name; empty when all is well.
    pub problems: Vec<String>,
}

/// Why the catalog could not answer.
#[derive(Debug)]
pub enum CatalogError {
    /// The agents folder could not be created, written or read.
    Io { path: PathBuf, source: io::Error },
    /// The agent's file does not load.
    Spec(SpecError),
    /// No agent by that name or path; the message says what was tried.
    NotFound(String),
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            CatalogError::Spec(e) => e.fmt(f),
            CatalogError::NotFound(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CatalogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CatalogError::Io { source, .. } => Some(source),
            CatalogError::Spec(e) => Some(e),
            CatalogError::NotFound(_) => None,
        }
    }
}

impl From<SpecError> for CatalogError {
    fn from(e: SpecError) -> Self {
        CatalogError::Spec(e)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CatalogError + '_ {
    move |source| CatalogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The agents folder and what is in it.
#[derive(Debug, Clone)]
pub struct Catalog {
    dir: PathBuf,
}

impl Catalog {
    /// The catalog in `<config_dir>/agents/`.
    pub fn new(paths: &Paths) -> Catalog {
        Catalog::at(paths.config_dir.join("agents"))
    }

    /// The catalog in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Catalog {
        Catalog { dir: dir.into() }
    }

    /// The agents folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Installs the shipped examples: a file never installed before is written unless a
    /// file is already there; an installed one is updated only while the user has not
    /// edited or deleted it. Returns the files written.
    pub fn install_examples(&self) -> Result<Vec<PathBuf>, CatalogError> {
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let manifest_path = self.dir.join(MANIFEST);
        let mut manifest = read_manifest(&manifest_path)?;
        let mut written = Vec::new();
        let mut changed = false;
        for shipped in SHIPPED {
            let path = self.dir.join(shipped.path);
            let new_hash = sha256_hex(shipped.text.as_bytes());
            let current = match std::fs::read(&path) {
                Ok(bytes) => Some(sha256_hex(&bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err(&path)(e)),
            };
            let write = match (manifest.get(shipped.path), &current) {
                // Never installed: only into an empty spot.
                (None, None) => true,
                (None, Some(_)) => false,
                // Installed, then deleted by the user: stays deleted.
                (Some(_), None) => false,
                // Installed and untouched: follow the shipped version.
                (Some(recorded), Some(current)) => recorded == current && *current != new_hash,
            };
            if write {
                write_shipped(&path, shipped)?;
                written.push(path);
            }
            let recorded = if write {
                Some(new_hash)
            } else {
                manifest.get(shipped.path).cloned().or(current)
            };
            if let Some(hash) = recorded {
                if manifest.get(shipped.path) != Some(&hash) {
                    manifest.insert(shipped.path.to_string(), hash);
                    changed = true;
                }
            }
        }
        if changed {
            let text: String = manifest
                .iter()
                .map(|(path, hash)| format!("{hash} {path}\n"))
                .collect();
            std::fs::write(&manifest_path, text).map_err(io_err(&manifest_path))?;
        }
        Ok(written)
    }

    /// Every agent file in the folder (after installing the examples), sorted by file
    /// name; a file that does not load is listed with its problems.
    pub fn list(&self) -> Result<Vec<AgentEntry>, CatalogError> {
        self.install_examples()?;
        let mut entries: Vec<AgentEntry> = self
            .files()?
            .into_iter()
            .map(|path| match AgentSpec::load(&path) {
                Ok(spec) => AgentEntry {
                    name: spec.name.clone(),
                    description: spec.description.clone(),
                    model: spec.model.clone(),
                    tools: spec.tools.len(),
                    mcp_servers: spec.mcp_servers.len(),
                    path,
                    problems: Vec::new(),
                },
                Err(e) => AgentEntry {
                    name: file_stem(&path),
                    description: String::new(),
                    model: String::new(),
                    tools: 0,
                    mcp_servers: 0,
                    problems: e.lines(),
                    path,
                },
            })
            .collect();
        let mut first: BTreeMap<String, PathBuf> = BTreeMap::new();
        for entry in &mut entries {
            if !entry.problems.is_empty() {
                continue;
            }
            match first.get(&entry.name) {
                Some(other) => entry.problems.push(format!(
                    "{}: another file ({}) also defines agent \"{}\"",
                    entry.path.display(),
                    other.display(),
                    entry.name
                )),
                None => {
                    first.insert(entry.name.clone(), entry.path.clone());
                }
            }
        }
        Ok(entries)
    }

    /// Loads an agent by path (it ends in `.toml` or has a `/`) or by name: the file
    /// `<name>.toml` in the folder, else the file whose `name` key matches.
    pub fn load(&self, name_or_path: &str) -> Result<AgentSpec, CatalogError> {
        let looks_like_path = name_or_path.ends_with(".toml")
            || name_or_path.contains('/')
            || name_or_path.contains(std::path::MAIN_SEPARATOR);
        if looks_like_path {
            let path = super::spec::expand_home(Path::new(name_or_path));
            if !path.is_file() {
                return Err(CatalogError::NotFound(format!(
                    "no agent file at {}",
                    path.display()
                )));
            }
            return Ok(AgentSpec::load(&path)?);
        }
        self.install_examples()?;
        let by_file = self.dir.join(format!("{name_or_path}.toml"));
        if by_file.is_file() {
            return Ok(AgentSpec::load(&by_file)?);
        }
        let files = self.files()?;
        let mut known = Vec::new();
        let mut broken = Vec::new();
        for path in &files {
            match AgentSpec::load(path) {
                Ok(spec) if spec.name == name_or_path => return Ok(spec),
                Ok(spec) => known.push(spec.name),
                Err(_) => broken.push(file_stem(path)),
            }
        }
        let mut message = format!(
            "no agent named \"{name_or_path}\": looked for {} and at the `name` of the {} \
             agent file(s) in {}",
            by_file.display(),
            files.len(),
            self.dir.display()
        );
        if let Some(close) = known
            .iter()
            .filter(|k| strsim::levenshtein(k, name_or_path) <= 2)
            .min_by_key(|k| strsim::levenshtein(k, name_or_path))
        {
            message.push_str(&format!("; did you mean \"{close}\"?"));
        }
        if !known.is_empty() {
            message.push_str(&format!("\nknown agents: {}", known.join(", ")));
        }
        if !broken.is_empty() {
            message.push_str(&format!(
                "\nfiles that do not load (see `strata agent list`): {}",
                broken.join(", ")
            ));
        }
        Err(CatalogError::NotFound(message))
    }

    /// The `*.toml` files directly in the folder, sorted.
    fn files(&self) -> Result<Vec<PathBuf>, CatalogError> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.dir)(e)),
        };
        let mut files = Vec::new();
        for entry in read {
            let path = entry.map_err(io_err(&self.dir))?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `hash path` lines; a missing manifest is empty.
fn read_manifest(path: &Path) -> Result<BTreeMap<String, String>, CatalogError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_err(path)(e)),
    };
    Ok(text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(hash, file)| (file.to_string(), hash.to_string()))
        .collect())
}

fn write_shipped(path: &Path, shipped: &ShippedFile) -> Result<(), CatalogError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::write(path, shipped.text).map_err(io_err(path))?;
    #[cfg(unix)]
    if shipped.executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(io_err(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_example_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Catalog::at(dir.path());
        let written = catalog.install_examples().expect("install");
        assert_eq!(written.len(), SHIPPED.len());
        let mut agents = 0;
        for shipped in SHIPPED.iter().filter(|s| s.path.ends_with(".toml")) {
            let path = dir.path().join(shipped.path);
            let spec = AgentSpec::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(spec.model, "local/smollm2-135m");
            assert_eq!(format!("{}.toml", spec.name), shipped.path);
            let config = spec.to_agent_config();
            assert_eq!(config.tools.len(), spec.tools.len());
            agents += 1;
        }
        assert_eq!(agents, 4);
        let order = catalog.load("order-status").expect("by name");
        assert!(order.tool("cancel_order").is_some_and(|t| t.confirm));
        assert!(Path::new(&order.tools[0].command[0]).is_file());
        let time = catalog.load("time-mcp").expect("by name");
        assert_eq!(time.mcp_servers[0].command[0], "mcp-server-time");
    }

    #[test]
    fn shipped_examples_in_the_repo_load_in_place() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents");
        for shipped in SHIPPED.iter().filter(|s| s.path.ends_with(".toml")) {
            AgentSpec::load(&dir.join(shipped.path)).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn shipped_lookup_script_answers() {
        let dir = tempfile::tempdir().expect("tempdir");
        Catalog::at(dir.path()).install_examples().expect("install");
        let script = dir.path().join("order-status/lookup_order.sh");
        let run = |input: &str| {
            use std::io::Write;
            let mut child = std::process::Command::new(&script)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write");
            let out = child.wait_with_output().expect("run");
            serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
        };
        assert_eq!(run(r#"{"order_id": "A1001"}"#)["status"], "shipped");
        assert!(run(r#"{"order_id": "Z9"}"#)["error"].is_string());
    }

    #[test]
    fn lists_a_bad_file_with_its_problem_and_the_good_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Catalog::at(dir.path());
        catalog.install_examples().expect("install");
        std::fs::write(
            dir.path().join("broken.toml"),
            "name = \"broken\"\nmodel = \"m\"\nmax_steps = \"many\"\n",
        )
        .expect("write");
        let entries = catalog.list().expect("list");
        assert_eq!(entries.len(), 5);
        let broken = entries.iter().find(|e| e.name == "broken").expect("listed");
        assert_eq!(broken.problems.len(), 1);
        assert!(
            broken.problems[0]
                .ends_with("broken.toml:3: max_steps: invalid type: string \"many\", expected u32"),
            "{:?}",
            broken.problems
        );
        let good: Vec<_> = entries.iter().filter(|e| e.problems.is_empty()).collect();
        assert_eq!(good.len(), 4);
        let order = good
            .iter()
            .find(|e| e.name == "order-status")
            .expect("order-status");
        assert_eq!(order.tools, 2);

        let err = catalog.load("broken").expect_err("does not load");
        assert!(
            err.to_string().contains("broken.toml:3: max_steps"),
            "{err}"
        );
        let err = catalog.load("order-statu").expect_err("no such agent");
        let message = err.to_string();
        assert!(
            message.contains("did you mean \"order-status\""),
            "{message}"
        );
        assert!(message.contains("broken"), "{message}");
    }

    #[test]
    fn loads_by_path_and_by_name_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Catalog::at(dir.path().join("agents"));
        let file = dir.path().join("elsewhere.toml");
        std::fs::write(&file, "name = \"helper\"\nmodel = \"m\"\n").expect("write");
        let spec = catalog
            .load(file.to_str().expect("utf-8"))
            .expect("by path");
        assert_eq!(spec.name, "helper");
        std::fs::create_dir_all(catalog.dir()).expect("mkdir");
        std::fs::copy(&file, catalog.dir().join("other-file.toml")).expect("copy");
        assert_eq!(catalog.load("helper").expect("by name key").name, "helper");
        let err = catalog.load("./missing.toml").expect_err("missing");
        assert!(
            err.to_string().contains("no agent file at ./missing.toml"),
            "{err}"
        );
    }

    #[test]
    fn install_does_not_overwrite_an_edited_or_deleted_example() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Catalog::at(dir.path());
        catalog.install_examples().expect("install");
        let files = dir.path().join("files.toml");
        let edited = "name = \"files\"\nmodel = \"ollama/llama3.2\"\n";
        std::fs::write(&files, edited).expect("edit");
        std::fs::remove_file(dir.path().join("rust-book.toml")).expect("delete");
        let written = catalog.install_examples().expect("again");
        assert!(written.is_empty(), "{written:?}");
        assert_eq!(std::fs::read_to_string(&files).expect("read"), edited);
        assert!(!dir.path().join("rust-book.toml").exists());

        // A user file already where an example would go is kept too.
        let fresh = tempfile::tempdir().expect("tempdir");
        let mine = "name = \"files\"\nmodel = \"mine/model\"\n";
        std::fs::write(fresh.path().join("files.toml"), mine).expect("write");
        Catalog::at(fresh.path())
            .install_examples()
            .expect("install");
        assert_eq!(
            std::fs::read_to_string(fresh.path().join("files.toml")).expect("read"),
            mine
        );
        assert!(fresh.path().join("time-mcp.toml").is_file());
    }

    #[test]
    fn untouched_example_follows_the_shipped_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Catalog::at(dir.path());
        let old = "name = \"files\"\nmodel = \"local/smollm2-135m\"\n";
        // Pretend an older version was installed and left alone.
        std::fs::write(dir.path().join("files.toml"), old).expect("write");
        std::fs::write(
            dir.path().join(MANIFEST),
            format!("{} files.toml\n", sha256_hex(old.as_bytes())),
        )
        .expect("manifest");
        let written = catalog.install_examples().expect("install");
        assert!(written.contains(&dir.path().join("files.toml")));
        let now = std::fs::read_to_string(dir.path().join("files.toml")).expect("read");
        assert!(now.contains("list_dir"));
    }
}
