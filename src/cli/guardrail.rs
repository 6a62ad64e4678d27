//! `strata guardrail …`: create (from a TOML file), list, show, version, diff, export,
//! delete, and apply (ApplyGuardrail on a text, with every policy's assessment).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use crate::guardrails::engine::{Assessment, FinalAction, Verdict};
use crate::guardrails::policy::Policy;
use crate::guardrails::store::{diff, GuardrailRef, Revision};
use crate::guardrails::{ApplyContext, Guardrails, Source};
use crate::runtime::pull::ensure_pulled;

/// Exit code of `apply` when the text would be blocked.
pub const EXIT_BLOCKED: i32 = 4;
/// Exit code when the text would wait for review.
pub const EXIT_NEEDS_REVIEW: i32 = 5;

#[derive(Debug, Subcommand)]
pub enum GuardrailCommand {
    /// Create a guardrail from a policy file (its draft); `--update` replaces the draft of
    /// an existing one.
    Create {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Replace the draft of the guardrail the file names.
        #[arg(long)]
        update: bool,
        /// Also freeze the draft as the next version.
        #[arg(long)]
        version: bool,
    },
    /// All guardrails with their versions.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A guardrail's policy (NAME, NAME@VERSION or NAME@draft) and its versions.
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Freeze the draft as the next immutable version.
    Version {
        name: String,
        /// What changed, kept with the version.
        #[arg(long)]
        note: Option<String>,
    },
    /// What changed between two revisions (default: the newest version and the draft).
    Diff { from: String, to: Option<String> },
    /// Write a revision's policy as TOML (what `create --file` reads).
    Export {
        reference: String,
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Delete a guardrail with its draft and every version.
    Delete { name: String },
    /// ApplyGuardrail: assess TEXT (or stdin with `-`) as an input or an output.
    Apply {
        reference: String,
        #[arg(long, value_enum, default_value = "input")]
        source: Source,
        /// The text; `-` or nothing with piped stdin reads stdin.
        text: Option<String>,
        /// A document the answer must be grounded in (repeatable).
        #[arg(long = "grounding-source", value_name = "FILE")]
        grounding_source: Vec<PathBuf>,
        /// The question the answer should be relevant to.
        #[arg(long)]
        query: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(guardrails: &Guardrails, cmd: GuardrailCommand) -> Result<i32> {
    let store = guardrails.store();
    let mut out = std::io::stdout();
    match cmd {
        GuardrailCommand::Create {
            file,
            update,
            version,
        } => {
            let policy = Policy::load(&file)?;
            let toml = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let entry = store.save_draft(&policy, &toml, update)?;
            let verb = if update {
                "updated the draft of"
            } else {
                "created"
            };
            eprintln!("{verb} guardrail {}", entry.name);
            if version {
                let v = store.create_version(&entry.name, None)?;
                eprintln!("froze the draft as {}@{v}", entry.name);
            }
            // Compile once so a policy whose exemplars cannot be embedded fails here,
            // not at the first call, and the exemplar embeddings are cached.
            if policy.needs_embeddings() {
                ensure_pulled(
                    guardrails.runtime(),
                    crate::guardrails::embed::DEFAULT_EMBEDDINGS_MODEL,
                )
                .await?;
            }
            guardrails.load(&format!("{}@draft", entry.name)).await?;
        }
        GuardrailCommand::List { json } => {
            let all = store.list()?;
            if json {
                serde_json::to_writer_pretty(&mut out, &all)?;
                writeln!(out)?;
            } else if all.is_empty() {
                eprintln!("no guardrails yet; `strata guardrail create --file FILE` makes one");
            } else {
                writeln!(
                    out,
                    "{:<24} {:>8}  {:<10} DESCRIPTION",
                    "NAME", "VERSIONS", "LATEST"
                )?;
                for e in all {
                    let latest = e
                        .versions
                        .last()
                        .map_or("draft".to_string(), |v| v.version.to_string());
                    let description = Policy::parse(&e.draft, &e.name)
                        .ok()
                        .and_then(|p| p.description)
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "{:<24} {:>8}  {:<10} {}",
                        e.name,
                        e.versions.len(),
                        latest,
                        description
                    )?;
                }
            }
        }
        GuardrailCommand::Show { reference, json } => {
            let r = GuardrailRef::parse(&reference)?;
            let entry = store.get(&r.name)?;
            let resolved = store.resolve(&r)?;
            if json {
                let value = serde_json::json!({
                    "name": entry.name,
                    "revision": resolved.label(),
                    "versions": entry.versions,
                    "policy": resolved.policy,
                });
                serde_json::to_writer_pretty(&mut out, &value)?;
                writeln!(out)?;
            } else {
                writeln!(out, "# {}", resolved.label())?;
                for v in &entry.versions {
                    writeln!(
                        out,
                        "#   version {}  {}{}",
                        v.version,
                        crate::store::format_micros(v.created_us),
                        v.note
                            .as_ref()
                            .map(|n| format!("  {n}"))
                            .unwrap_or_default()
                    )?;
                }
                write!(out, "{}", resolved.toml)?;
            }
        }
        GuardrailCommand::Version { name, note } => {
            let v = store.create_version(&name, note)?;
            writeln!(out, "{name}@{v}")?;
        }
        GuardrailCommand::Diff { from, to } => {
            let a = GuardrailRef::parse(&from)?;
            let (a, b) = match to {
                Some(to) => (a, GuardrailRef::parse(&to)?),
                None if a.revision == Revision::Latest => {
                    let entry = store.get(&a.name)?;
                    let Some(last) = entry.versions.last() else {
                        bail!("{} has only a draft; nothing to compare it with", a.name);
                    };
                    (
                        GuardrailRef {
                            name: a.name.clone(),
                            revision: Revision::Version(last.version),
                        },
                        GuardrailRef {
                            name: a.name.clone(),
                            revision: Revision::Draft,
                        },
                    )
                }
                None => {
                    let draft = GuardrailRef {
                        name: a.name.clone(),
                        revision: Revision::Draft,
                    };
                    (a, draft)
                }
            };
            let (ra, rb) = (store.resolve(&a)?, store.resolve(&b)?);
            let d = diff(&ra.label(), &ra.toml, &rb.label(), &rb.toml);
            if d.is_empty() {
                eprintln!("{} and {} are the same", ra.label(), rb.label());
            }
            write!(out, "{d}")?;
        }
        GuardrailCommand::Export { reference, output } => {
            let resolved = store.resolve(&GuardrailRef::parse(&reference)?)?;
            match output {
                Some(path) => std::fs::write(&path, &resolved.toml)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => write!(out, "{}", resolved.toml)?,
            }
        }
        GuardrailCommand::Delete { name } => {
            let versions = store.delete(&name)?;
            eprintln!("deleted guardrail {name} ({versions} version(s) and its draft)");
        }
        GuardrailCommand::Apply {
            reference,
            source,
            text,
            grounding_source,
            query,
            json,
        } => {
            let text = match text.as_deref() {
                Some("-") => read_stdin()?,
                Some(t) => t.to_string(),
                None if !std::io::stdin().is_terminal() => read_stdin()?,
                None => bail!("nothing to assess: give TEXT, or `-` to read stdin"),
            };
            let mut sources = Vec::new();
            for path in &grounding_source {
                sources.push(std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read --grounding-source {}", path.display())
                })?);
            }
            let g = guardrails
                .store()
                .resolve(&GuardrailRef::parse(&reference)?)?;
            if g.policy.needs_embeddings() {
                ensure_pulled(
                    guardrails.runtime(),
                    crate::guardrails::embed::DEFAULT_EMBEDDINGS_MODEL,
                )
                .await?;
            }
            let ctx = ApplyContext { query, sources };
            let assessment = guardrails.apply(&reference, source, &text, &ctx).await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &assessment)?;
                writeln!(out)?;
            } else {
                print_assessment(&mut out, &assessment)?;
            }
            return Ok(match assessment.action {
                FinalAction::Blocked => EXIT_BLOCKED,
                FinalAction::NeedsReview => EXIT_NEEDS_REVIEW,
                _ => 0,
            });
        }
    }
    Ok(0)
}

/// The human-readable form of an assessment: a row per policy, then the output text.
pub fn print_assessment(out: &mut impl Write, a: &Assessment) -> Result<()> {
    writeln!(
        out,
        "{} on {:?}: {}{}  ({:.2} ms)",
        a.guardrail,
        a.source,
        action_word(a.action),
        a.blocked_by
            .as_ref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default(),
        a.time_us as f64 / 1000.0
    )?;
    writeln!(
        out,
        "  {:<22} {:<24} {:<12} {:>6} {:>9} {:>9}",
        "POLICY", "NAME", "VERDICT", "SCORE", "THRESHOLD", "TIME ms"
    )?;
    for r in &a.assessments {
        let policy = serde_json::to_value(r.policy)?
            .as_str()
            .unwrap_or_default()
            .to_string();
        let verdict = serde_json::to_value(r.verdict)?
            .as_str()
            .unwrap_or_default()
            .to_string();
        writeln!(
            out,
            "  {:<22} {:<24} {:<12} {:>6} {:>9} {:>9.2}",
            policy,
            truncate(&r.name, 24),
            verdict,
            r.score.map_or("-".into(), |s| format!("{s:.2}")),
            r.threshold.map_or("-".into(), |s| format!("{s:.2}")),
            r.time_us as f64 / 1000.0
        )?;
        if r.verdict > Verdict::Pass {
            for i in &r.items {
                writeln!(
                    out,
                    "      {}..{}  {}",
                    i.start,
                    i.end,
                    truncate(&i.label, 60)
                )?;
            }
        }
        if let Some(note) = &r.note {
            writeln!(out, "      ({note})")?;
        }
    }
    writeln!(out, "output:\n{}", a.output)?;
    Ok(())
}

fn action_word(a: FinalAction) -> &'static str {
    match a {
        FinalAction::None => "none",
        FinalAction::Anonymized => "anonymized",
        FinalAction::Blocked => "blocked",
        FinalAction::NeedsReview => "needs_review",
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read stdin")?;
    Ok(text)
}
