//! Guardrails in sled: per name an editable draft and immutable numbered versions (each
//! the policy's TOML as it was frozen), plus references `NAME`, `NAME@3`, `NAME@draft`.

use serde::{Deserialize, Serialize};

use super::policy::{Policy, PolicyError};
use crate::store::{now_micros, Store, StoreError};

/// Tree of guardrails by name (`GuardrailEntry`).
pub const GUARDRAILS: &str = "guardrails";
/// Tree of frozen versions, keyed `name \0 version(u32 BE)` (`StoredVersion`).
pub const VERSIONS: &str = "guardrail_versions";
/// The highest version number each name ever had (u32 BE), kept after a delete.
pub const VERSION_FLOOR: &str = "guardrail_version_floor";

/// Which policy text a reference means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revision {
    /// The newest version, or the draft while there is none.
    Latest,
    Draft,
    Version(u32),
}

/// `NAME`, `NAME@draft` or `NAME@N`, as users write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailRef {
    pub name: String,
    pub revision: Revision,
}

impl GuardrailRef {
    pub fn parse(text: &str) -> Result<GuardrailRef, GuardrailError> {
        let (name, rev) = match text.split_once('@') {
            None => (text, Revision::Latest),
            Some((n, "draft" | "DRAFT")) => (n, Revision::Draft),
            Some((n, v)) => match v.trim_start_matches(['v', 'V']).parse::<u32>() {
                Ok(v) if v > 0 => (n, Revision::Version(v)),
                _ => {
                    return Err(GuardrailError::BadRef(format!(
                    "{text:?}: the part after @ must be a version number (like {n}@2) or `draft`"
                )))
                }
            },
        };
        if !super::policy::valid_name(name) {
            return Err(GuardrailError::BadRef(format!(
                "{text:?} is not a guardrail name (NAME, NAME@VERSION or NAME@draft)"
            )));
        }
        Ok(GuardrailRef {
            name: name.to_string(),
            revision: rev,
        })
    }
}

impl std::fmt::Display for GuardrailRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.revision {
            Revision::Latest => write!(f, "{}", self.name),
            Revision::Draft => write!(f, "{}@draft", self.name),
            Revision::Version(v) => write!(f, "{}@{v}", self.name),
        }
    }
}

/// One guardrail: its draft and the list of its versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailEntry {
    pub name: String,
    /// The draft policy as TOML (what `version` freezes).
    pub draft: String,
    pub versions: Vec<VersionInfo>,
    pub created_us: u64,
    pub updated_us: u64,
}

/// A frozen version's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: u32,
    pub created_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredVersion {
    version: u32,
    toml: String,
    created_us: u64,
    #[serde(default)]
    note: Option<String>,
}

/// A policy resolved from a reference: the text and the revision it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub name: String,
    /// The version number; None for the draft.
    pub version: Option<u32>,
    pub policy: Policy,
    pub toml: String,
}

impl Resolved {
    /// `name@3` or `name@draft`: the exact revision, for records and the status bar.
    pub fn label(&self) -> String {
        match self.version {
            Some(v) => format!("{}@{v}", self.name),
            None => format!("{}@draft", self.name),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GuardrailError {
    #[error("{0}")]
    BadRef(String),
    #[error("no guardrail named {name:?}{hint}; `strata guardrail list` shows them, `strata guardrail create --file FILE` makes one")]
    NotFound { name: String, hint: String },
    #[error("guardrail {name:?} has no version {version} (it has {have}); `strata guardrail show {name}` lists them")]
    NoVersion {
        name: String,
        version: u32,
        have: String,
    },
    #[error("a guardrail named {0:?} exists already; change its draft with `strata guardrail create --file FILE --update` or pick another name")]
    Exists(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("guardrail {label}: {message}")]
    Compile { label: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn version_key(name: &str, version: u32) -> Vec<u8> {
    let mut k = name.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// Guardrail persistence on the shared store.
#[derive(Clone)]
pub struct GuardrailStore {
    store: Store,
}

impl GuardrailStore {
    pub fn new(store: Store) -> GuardrailStore {
        GuardrailStore { store }
    }

    /// All guardrails, by name.
    pub fn list(&self) -> Result<Vec<GuardrailEntry>, GuardrailError> {
        Ok(self.store.scan_prefix(GUARDRAILS, b"", "guardrail")?)
    }

    pub fn get(&self, name: &str) -> Result<GuardrailEntry, GuardrailError> {
        self.store
            .get(GUARDRAILS, name.as_bytes(), "guardrail")?
            .ok_or_else(|| self.not_found(name))
    }

    fn not_found(&self, name: &str) -> GuardrailError {
        let names: Vec<String> = self
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.name)
            .collect();
        let hint = names
            .iter()
            .map(|n| (strsim::jaro_winkler(n, name), n))
            .filter(|(s, _)| *s > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| format!(" (did you mean {n:?}?)"))
            .unwrap_or_default();
        GuardrailError::NotFound {
            name: name.to_string(),
            hint,
        }
    }

    /// Stores a new guardrail whose draft is `policy` (`toml` as the user wrote it); with
    /// `update`, replaces the draft of an existing one (its versions stay).
    pub fn save_draft(
        &self,
        policy: &Policy,
        toml: &str,
        update: bool,
    ) -> Result<GuardrailEntry, GuardrailError> {
        let now = now_micros();
        let entry = match self.store.get::<GuardrailEntry>(
            GUARDRAILS,
            policy.name.as_bytes(),
            "guardrail",
        )? {
            Some(_) if !update => return Err(GuardrailError::Exists(policy.name.clone())),
            Some(mut e) => {
                e.draft = toml.to_string();
                e.updated_us = now;
                e
            }
            None => GuardrailEntry {
                name: policy.name.clone(),
                draft: toml.to_string(),
                versions: Vec::new(),
                created_us: now,
                updated_us: now,
            },
        };
        self.store.put(GUARDRAILS, entry.name.as_bytes(), &entry)?;
        Ok(entry)
    }

    /// Freezes the draft as the next version and returns its number. Numbers are never
    /// reused, not even after the guardrail was deleted and made again: a session pinned
    /// to `name@1` never silently gets another policy.
    pub fn create_version(&self, name: &str, note: Option<String>) -> Result<u32, GuardrailError> {
        let entry = self.get(name)?;
        // The draft was valid when saved; parse again so a version is always loadable.
        Policy::parse(&entry.draft, &format!("{name}@draft"))?;
        let versions = self.store.tree(VERSIONS)?;
        let guardrails = self.store.tree(GUARDRAILS)?;
        let floors = self.store.tree(VERSION_FLOOR)?;
        let store = &self.store;
        use sled::transaction::{ConflictableTransactionError as Abort, TransactionError};
        use sled::Transactional;
        let result = (&versions, &guardrails, &floors).transaction(|(v, g, f)| {
            // Read inside the transaction: a concurrent edit retries it.
            let Some(bytes) = g.get(name.as_bytes())? else {
                return Err(Abort::Abort(None));
            };
            let mut entry: GuardrailEntry = store
                .decode_at(GUARDRAILS, name.as_bytes(), &bytes, "guardrail")
                .map_err(|e| Abort::Abort(Some(e.to_string())))?;
            // Sealed like every value in an encrypted data dir.
            let floor = f
                .get(name.as_bytes())?
                .and_then(|b| {
                    let plain = store
                        .unseal(VERSION_FLOOR, name.as_bytes(), &b, "version floor")
                        .ok()?;
                    <[u8; 4]>::try_from(plain.as_ref()).ok()
                })
                .map_or(0, u32::from_be_bytes);
            let version = entry.versions.last().map_or(0, |v| v.version).max(floor) + 1;
            let key = version_key(name, version);
            if v.get(&key)?.is_some() {
                return Err(Abort::Abort(Some(format!(
                    "version {version} exists already"
                ))));
            }
            let now = now_micros();
            let stored = StoredVersion {
                version,
                toml: entry.draft.clone(),
                created_us: now,
                note: note.clone(),
            };
            entry.versions.push(VersionInfo {
                version,
                created_us: now,
                note: note.clone(),
            });
            entry.updated_us = now;
            v.insert(key.clone(), store.encode_at(VERSIONS, &key, &stored))?;
            g.insert(
                name.as_bytes(),
                store.encode_at(GUARDRAILS, name.as_bytes(), &entry),
            )?;
            f.insert(
                name.as_bytes(),
                store.seal(
                    VERSION_FLOOR,
                    name.as_bytes(),
                    version.to_be_bytes().to_vec(),
                ),
            )?;
            Ok(version)
        });
        match result {
            Ok(v) => Ok(v),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e).into()),
            Err(TransactionError::Abort(None)) => Err(self.not_found(name)),
            Err(TransactionError::Abort(Some(detail))) => Err(StoreError::Corrupt {
                what: "guardrail",
                detail,
            }
            .into()),
        }
    }

    /// The policy a reference means.
    pub fn resolve(&self, r: &GuardrailRef) -> Result<Resolved, GuardrailError> {
        let entry = self.get(&r.name)?;
        let version = match r.revision {
            Revision::Draft => None,
            Revision::Latest => entry.versions.last().map(|v| v.version),
            Revision::Version(v) => Some(v),
        };
        let toml = match version {
            None => entry.draft.clone(),
            Some(v) => {
                let stored: Option<StoredVersion> =
                    self.store
                        .get(VERSIONS, &version_key(&r.name, v), "guardrail version")?;
                match stored {
                    Some(s) => s.toml,
                    None => {
                        let have: Vec<String> = entry
                            .versions
                            .iter()
                            .map(|v| v.version.to_string())
                            .collect();
                        return Err(GuardrailError::NoVersion {
                            name: r.name.clone(),
                            version: v,
                            have: if have.is_empty() {
                                "only a draft".into()
                            } else {
                                format!("versions {}", have.join(", "))
                            },
                        });
                    }
                }
            }
        };
        let label = match version {
            Some(v) => format!("{}@{v}", r.name),
            None => format!("{}@draft", r.name),
        };
        let policy = Policy::parse(&toml, &label)?;
        Ok(Resolved {
            name: r.name.clone(),
            version,
            policy,
            toml,
        })
    }

    /// Removes a guardrail with its draft and every version.
    pub fn delete(&self, name: &str) -> Result<usize, GuardrailError> {
        let entry = self.get(name)?;
        let versions = self.store.tree(VERSIONS)?;
        let guardrails = self.store.tree(GUARDRAILS)?;
        use sled::transaction::TransactionError;
        use sled::Transactional;
        (&versions, &guardrails)
            .transaction(|(v, g)| {
                for info in &entry.versions {
                    v.remove(version_key(name, info.version))?;
                }
                g.remove(name.as_bytes())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(()) => StoreError::Corrupt {
                    what: "guardrail",
                    detail: "the delete was aborted".into(),
                },
            })?;
        Ok(entry.versions.len())
    }
}

/// A unified diff between two policy texts, labelled with their references.
pub fn diff(old_label: &str, old: &str, new_label: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}
