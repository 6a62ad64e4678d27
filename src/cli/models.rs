//! `strata models list/get/pull`.

use anyhow::Result;
use serde::Serialize;

use super::ModelsCommand;
use crate::runtime::catalog::ModelSpec;
use crate::runtime::pull::{installed_sha256, pull_with_bar};
use crate::runtime::Runtime;

/// A catalog entry as `models list/get --json` prints it.
#[derive(Serialize)]
struct ModelView<'a> {
    #[serde(flatten)]
    spec: &'a ModelSpec,
    downloaded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

fn view<'a>(runtime: &Runtime, spec: &'a ModelSpec) -> ModelView<'a> {
    let downloaded = spec.is_downloaded(&runtime.paths.model_dir);
    ModelView {
        spec,
        downloaded,
        path: downloaded.then(|| spec.dir(&runtime.paths.model_dir).display().to_string()),
    }
}

pub async fn run(runtime: &Runtime, cmd: ModelsCommand) -> Result<i32> {
    match cmd {
        ModelsCommand::List { json } => {
            let models: Vec<ModelView> = runtime
                .catalog
                .models()
                .iter()
                .map(|m| view(runtime, m))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&models)?);
            } else {
                println!(
                    "{:<28} {:<8} {:>9} {:>16} {:<20} DOWNLOADED",
                    "ID", "PROVIDER", "CONTEXT", "PRICE IN/OUT $/M", "CAPABILITIES"
                );
                for m in &models {
                    let caps: Vec<String> = m
                        .spec
                        .capabilities
                        .iter()
                        .map(|c| format!("{c:?}").to_lowercase())
                        .collect();
                    let downloaded = if !m.spec.is_local() {
                        "remote"
                    } else if m.downloaded {
                        "yes"
                    } else {
                        "no"
                    };
                    println!(
                        "{:<28} {:<8} {:>9} {:>16} {:<20} {}{}",
                        m.spec.id,
                        m.spec.provider,
                        m.spec.context_window,
                        format!("{:.2}/{:.2}", m.spec.input_price, m.spec.output_price),
                        caps.join(","),
                        downloaded,
                        if m.spec.default { "  (default)" } else { "" }
                    );
                }
            }
            Ok(0)
        }
        ModelsCommand::Get { id, json } => {
            let spec = runtime.catalog.get(&id)?;
            let v = view(runtime, spec);
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_model(runtime, spec, v.downloaded);
            }
            Ok(0)
        }
        ModelsCommand::Pull { id, from } => {
            let spec = runtime.catalog.get(&id)?.clone();
            if spec.is_downloaded(&runtime.paths.model_dir) && from.is_none() {
                println!(
                    "{} is already downloaded in {}",
                    spec.id,
                    spec.dir(&runtime.paths.model_dir).display()
                );
                return Ok(0);
            }
            let dir = pull_with_bar(runtime, &spec.id, from.as_deref()).await?;
            println!("{} is ready in {}", spec.id, dir.display());
            Ok(0)
        }
    }
}

fn print_model(runtime: &Runtime, spec: &ModelSpec, downloaded: bool) {
    println!("id:             {}", spec.id);
    if !spec.name.is_empty() {
        println!("name:           {}", spec.name);
    }
    println!("provider:       {}", spec.provider);
    if let Some(family) = &spec.family {
        println!("architecture:   {family}");
    }
    println!("context window: {} tokens", spec.context_window);
    println!(
        "price:          ${} in / ${} out per 1M tokens",
        spec.input_price, spec.output_price
    );
    let caps: Vec<String> = spec
        .capabilities
        .iter()
        .map(|c| format!("{c:?}").to_lowercase())
        .collect();
    println!("capabilities:   {}", caps.join(", "));
    if spec.is_local() {
        println!(
            "downloaded:     {}",
            if downloaded {
                spec.dir(&runtime.paths.model_dir).display().to_string()
            } else {
                "no (strata models pull ".to_string() + &spec.id + ")"
            }
        );
        for file in &spec.files {
            let sha = file
                .sha256
                .clone()
                .or_else(|| installed_sha256(spec, &runtime.paths.model_dir, &file.name))
                .unwrap_or_else(|| "(pinned at first download)".into());
            println!("file:           {}  sha256 {sha}", file.name);
            for source in &file.sources {
                println!("  source:       {}", source.describe());
            }
        }
    }
}
