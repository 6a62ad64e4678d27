//! `strata bench store`: what encryption at rest costs. The same records (message-sized
//! JSON) are written, read one by one and listed newest-first in a data dir in clear and in
//! an encrypted one, alternately in one run, so the ratio is what to read.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::store::keyring::{KeyAccess, KeySource};
use crate::store::{Id, Store};

/// Options of `strata bench store`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreBenchArgs {
    /// Records per round.
    #[arg(long, default_value_t = 20_000)]
    pub records: usize,
    /// Rounds per data dir (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    #[arg(long)]
    pub json: bool,
}

/// A record shaped like a stored message.
#[derive(Serialize, Deserialize)]
struct Message {
    id: Id,
    role: String,
    text: String,
    tokens: u32,
}

/// Microseconds per operation, median over the rounds.
#[derive(Debug, Default, Serialize, Clone, Copy)]
struct Figures {
    put_us: f64,
    get_us: f64,
    list_us_per_record: f64,
}

fn round(store: &Store, tree: &str, records: usize) -> Result<Figures> {
    let text = "A message of about a paragraph, as chats store them. ".repeat(8);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(records);
    for i in 0..records {
        let id = Id::new();
        let m = Message {
            id,
            role: "assistant".into(),
            text: text.clone(),
            tokens: i as u32,
        };
        store.put(tree, id.as_bytes(), &m)?;
        ids.push(id);
    }
    let put_us = started.elapsed().as_secs_f64() * 1e6 / records as f64;
    let started = Instant::now();
    for id in &ids {
        let _: Option<Message> = store.get(tree, id.as_bytes(), "message")?;
    }
    let get_us = started.elapsed().as_secs_f64() * 1e6 / records as f64;
    let started = Instant::now();
    let listed: Vec<Message> = store.latest(tree, records, "message")?;
    let list_us_per_record = started.elapsed().as_secs_f64() * 1e6 / listed.len().max(1) as f64;
    store.tree(tree)?.clear()?;
    Ok(Figures {
        put_us,
        get_us,
        list_us_per_record,
    })
}

fn medians(rounds: &[Figures]) -> Figures {
    let median =
        |pick: fn(&Figures) -> f64| super::median(&mut rounds.iter().map(pick).collect::<Vec<_>>());
    Figures {
        put_us: median(|f| f.put_us),
        get_us: median(|f| f.get_us),
        list_us_per_record: median(|f| f.list_us_per_record),
    }
}

pub fn run(args: &StoreBenchArgs) -> Result<i32> {
    let dir = tempfile::tempdir()?;
    let plain = Store::open(&dir.path().join("plain"))?;
    let access = KeyAccess {
        enable: Some(KeySource::File {
            path: dir.path().join("keys/data.key"),
        }),
        source: None,
    };
    let sealed = Store::open_with(&dir.path().join("sealed"), &access)?;
    let (mut p, mut s) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        p.push(round(&plain, "bench", args.records)?);
        s.push(round(&sealed, "bench", args.records)?);
    }
    let (p, s) = (medians(&p), medians(&s));
    // The re-encryption pass, over one round's records.
    for i in 0..args.records {
        sealed.put("bench", &(i as u64).to_be_bytes(), &i)?;
    }
    sealed.start_rotation()?;
    let started = Instant::now();
    sealed.continue_rotation(&AtomicBool::new(false), |_| {})?;
    let reseal_per_s = args.records as f64 / started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "records": args.records, "runs": args.runs,
                "clear": p, "encrypted": s, "rotation_values_per_s": reseal_per_s })
        );
        return Ok(0);
    }
    println!(
        "store, {} message-sized records, median of {} rounds (µs per record)",
        args.records, args.runs
    );
    println!(
        "{:<12} {:>10} {:>10} {:>8}",
        "", "clear", "encrypted", "ratio"
    );
    for (name, a, b) in [
        ("put", p.put_us, s.put_us),
        ("get", p.get_us, s.get_us),
        ("list", p.list_us_per_record, s.list_us_per_record),
    ] {
        println!("{name:<12} {a:>10.2} {b:>10.2} {:>7.2}x", b / a.max(1e-9));
    }
    println!("data-key rotation: {reseal_per_s:.0} values re-sealed per second");
    Ok(0)
}
