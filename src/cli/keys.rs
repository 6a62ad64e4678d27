//! `strata init` and `strata keys`: encrypting a data dir, its key status, rotating the data
//! key (a resumable pass) and re-wrapping it under another key-encryption key.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::config::{Config, Paths};
use crate::store::keyring::{KeyAccess, KeySource};
use crate::store::rotate::PassEnd;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Encrypt the data dir at rest (records already there are encrypted too).
    #[arg(long)]
    encrypt: bool,
    /// Where the key-encryption key comes from: file:PATH (made when missing), env:VAR
    /// (64 hex digits) or passphrase (STRATA_PASSPHRASE, or asked). Default: the config's
    /// `[encryption] key`, else file:<config dir>/data.key.
    #[arg(long, value_name = "SOURCE", requires = "encrypt")]
    key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Whether the data dir is encrypted, with which key source, and how many stored values
    /// each data key seals.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// A new data key seals every write from now on, and the stored values are sealed again
    /// with it (stopped with Ctrl-C, the next run resumes); the old key is then dropped.
    RotateDataKey,
    /// Wrap the data key with another key-encryption key (the data is not rewritten);
    /// the old key stops opening the data dir.
    Rewrap {
        /// file:PATH (made when missing), env:VAR or passphrase (STRATA_NEW_PASSPHRASE, or
        /// asked twice).
        #[arg(long, value_name = "SOURCE")]
        key: String,
    },
}

/// Opens the store on a blocking thread (a passphrase may be asked, Argon2id runs).
async fn open(paths: &Paths, access: KeyAccess) -> Result<Store> {
    let dir = paths.data_dir.clone();
    Ok(tokio::task::spawn_blocking(move || Store::open_with(&dir, &access)).await??)
}

pub async fn init(paths: &Paths, args: InitArgs) -> Result<i32> {
    let mut access = KeyAccess::from_env()?;
    let config = Config::load(&paths.config_file)?;
    if args.encrypt {
        let source: KeySource = match &args.key {
            Some(text) => text.parse()?,
            None => config.encryption.source(&paths.config_dir)?,
        };
        let made = matches!(&source, KeySource::File { path } if !path.exists());
        access.enable = Some(source.clone());
        let store = open(paths, access).await?;
        println!(
            "{} is encrypted; its data key is wrapped by {}",
            paths.data_dir.display(),
            store.key_source().map_or("?".into(), |s| s.to_string())
        );
        if made {
            println!(
                "made the key file {}: keep a copy somewhere safe; without it this data cannot be read",
                match &source {
                    KeySource::File { path } => path.display().to_string(),
                    other => other.to_string(),
                }
            );
        }
        let code = reseal(&store).await?;
        crate::cli::settle(&store);
        return Ok(code);
    }
    let store = open(paths, access).await?;
    println!("data dir: {}", paths.data_dir.display());
    println!("config:   {}", paths.config_file.display());
    println!("models:   {}", paths.model_dir.display());
    println!(
        "encrypted: {}",
        if store.is_encrypted() {
            "yes"
        } else {
            "no (strata init --encrypt)"
        }
    );
    crate::cli::settle(&store);
    Ok(0)
}

pub async fn run(paths: &Paths, cmd: KeysCommand) -> Result<i32> {
    let store = open(paths, KeyAccess::from_env()?).await?;
    let code = match cmd {
        KeysCommand::Status { json } => {
            let s = store.clone();
            let status = tokio::task::spawn_blocking(move || s.key_status()).await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else if !status.encrypted {
                println!("not encrypted: `strata init --encrypt` encrypts it");
            } else {
                println!(
                    "encrypted, key from {}",
                    status.source.as_deref().unwrap_or("?")
                );
                println!(
                    "data keys: {} (current {})",
                    status
                        .generations
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    status.current.unwrap_or(0)
                );
                for (generation, count) in &status.values_by_generation {
                    match generation {
                        0 => println!("  {count} values in clear"),
                        g => println!("  {count} values sealed with key {g}"),
                    }
                }
                if let Some(r) = &status.rotation {
                    println!(
                        "re-encryption to key {} under way ({} done): `strata keys rotate-data-key` resumes it",
                        r.to, r.done
                    );
                }
            }
            0
        }
        KeysCommand::RotateDataKey => {
            if !store.is_encrypted() {
                anyhow::bail!(
                    "{} is not encrypted: `strata init --encrypt` encrypts it",
                    paths.data_dir.display()
                );
            }
            let s = store.clone();
            let to = tokio::task::spawn_blocking(move || s.start_rotation()).await??;
            println!("data key {to} seals every new write");
            reseal(&store).await?
        }
        KeysCommand::Rewrap { key } => {
            let source: KeySource = key.parse()?;
            let s = store.clone();
            let to = source.clone();
            tokio::task::spawn_blocking(move || s.rewrap(&to)).await??;
            println!(
                "the data key is now wrapped by {source}; the old key no longer opens {}",
                paths.data_dir.display()
            );
            0
        }
    };
    crate::cli::settle(&store);
    Ok(code)
}

/// Runs the pending re-encryption pass with a progress line; Ctrl-C stops it where it is.
async fn reseal(store: &Store) -> Result<i32> {
    if !store.rotation_pending() {
        return Ok(0);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let on_ctrl_c = stop.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.store(true, Ordering::Relaxed);
        }
    });
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message("sealing stored values with the new data key");
    let (s, flag, b) = (store.clone(), stop.clone(), bar.clone());
    let end = tokio::task::spawn_blocking(move || {
        s.continue_rotation(&flag, |done| b.set_message(format!("{done} values sealed")))
    })
    .await??;
    watcher.abort();
    bar.finish_and_clear();
    Ok(match end {
        PassEnd::Finished { resealed } => {
            println!("{resealed} stored values sealed again; older data keys dropped");
            0
        }
        PassEnd::Stopped { resealed } => {
            eprintln!(
                "stopped after {resealed} values; run `strata keys rotate-data-key` to resume"
            );
            130
        }
    })
}
