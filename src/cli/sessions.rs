//! `strata sessions list/show/export/delete`: chat sessions from scripts (the TUI is the
//! other client of the same store).

use std::io::Write;

use anyhow::{bail, Context, Result};

use super::SessionsCommand;
use crate::orchestrator::Orchestrator;
use crate::sessions::{Session, SessionStore};

pub fn run(orchestrator: &Orchestrator, cmd: SessionsCommand) -> Result<i32> {
    let store = &orchestrator.sessions;
    let mut out = std::io::stdout().lock();
    match cmd {
        SessionsCommand::List { json } => {
            let sessions = store.list()?;
            if json {
                let rows: Vec<_> = sessions
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "id": s.id.to_string(),
                            "title": s.title,
                            "model": s.agent.model,
                            "messages": store.messages(s.id).map(|m| m.len()).unwrap_or(0),
                            "created_us": s.created_us,
                            "updated_us": s.updated_us,
                        })
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else if sessions.is_empty() {
                writeln!(
                    out,
                    "no sessions yet; `strata` or `strata -p \"question\"` starts one"
                )?;
            } else {
                for s in sessions {
                    let n = store.messages(s.id).map(|m| m.len()).unwrap_or(0);
                    writeln!(
                        out,
                        "{}  {:<40}  {:<24}  {n} messages",
                        s.id, s.title, s.agent.model
                    )?;
                }
            }
        }
        SessionsCommand::Show { id, json } => {
            let session = find(store, &id)?;
            let messages = store.messages(session.id)?;
            if json {
                let runs: Vec<_> = orchestrator
                    .runs
                    .for_session(session.id)?
                    .into_iter()
                    .map(|run| {
                        let steps = orchestrator.runs.steps(run.id).unwrap_or_default();
                        serde_json::json!({ "run": run, "steps": steps })
                    })
                    .collect();
                serde_json::to_writer_pretty(
                    &mut out,
                    &serde_json::json!({
                        "session": session,
                        "messages": messages,
                        "runs": runs,
                    }),
                )?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{}  {}  ({})",
                    session.id, session.title, session.agent.model
                )?;
                for m in messages {
                    let mut meta = vec![m.status.as_str().to_string()];
                    if let Some(model) = &m.model {
                        meta.push(model.clone());
                    }
                    if let Some(u) = m.usage {
                        let est = if m.usage_estimated { "~" } else { "" };
                        meta.push(format!(
                            "{est}{} in / {est}{} out tokens",
                            u.input_tokens, u.output_tokens
                        ));
                    }
                    if m.cost_usd > 0.0 {
                        meta.push(format!("${:.6}", m.cost_usd));
                    }
                    if let Some(ms) = m.latency_ms {
                        meta.push(format!("{ms:.0} ms"));
                    }
                    if let Some(r) = m.record_id {
                        meta.push(format!("record {r}"));
                    }
                    writeln!(out, "\n[{}] {}", m.role.as_str(), meta.join(" · "))?;
                    writeln!(out, "{}", m.content.trim_end())?;
                }
            }
        }
        SessionsCommand::Export { id, format, output } => {
            let session = find(store, &id)?;
            let text = match format.as_str() {
                "md" | "markdown" => store.export_markdown(session.id)?,
                "json" => store.export_json(session.id)?,
                other => bail!("unknown export format `{other}`; use md or json"),
            };
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => out.write_all(text.as_bytes())?,
            }
        }
        SessionsCommand::Delete { id } => {
            let session = find(store, &id)?;
            crate::orchestrator::delete_session(store, session.id)?;
            writeln!(out, "deleted {} ({})", session.id, session.title)?;
        }
        SessionsCommand::Prune { origin } => {
            if origin.trim().is_empty() {
                anyhow::bail!("--origin is empty; give `compare`, `eval:ID` or `batch:ID`");
            }
            let made = store.made_by(&origin)?;
            for s in &made {
                crate::orchestrator::delete_session(store, s.id)?;
            }
            writeln!(out, "deleted {} session(s) made by {origin}", made.len())?;
        }
    }
    Ok(0)
}

/// A session by its id, or a unique start or end of it (ids begin with their creation
/// time, so the end, which is random, is the short handle).
pub fn find(store: &SessionStore, id: &str) -> Result<Session> {
    let id = id.trim().to_lowercase();
    if id.is_empty() {
        bail!("give a session id; `strata sessions list` shows them");
    }
    let mut matches = store.list()?.into_iter().filter(|s| {
        let full = s.id.to_string();
        full.starts_with(&id) || full.ends_with(&id)
    });
    match (matches.next(), matches.next()) {
        (Some(session), None) => Ok(session),
        (None, _) => bail!("no session `{id}`; `strata sessions list` shows them"),
        (Some(_), Some(_)) => bail!("`{id}` matches several sessions; give more of the id"),
    }
}
