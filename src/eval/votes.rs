//! Votes from the compare view: which model's answer won a prompt (or a tie), stored in
//! sled (`compare_votes`), and tallied per model pair as a win rate with a 95% interval.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::{self, WinRate};
use crate::store::{now_micros, Id, Store, StoreError};

const VOTES: &str = "compare_votes";

/// One comparison's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub id: Id,
    pub prompt: String,
    /// The models compared, in column order.
    pub models: Vec<String>,
    /// The winning model; `None` for a tie.
    pub winner: Option<String>,
    /// The runs that wrote each column's answer (same order as `models`).
    #[serde(default)]
    pub runs: Vec<Option<Id>>,
    pub at_us: u64,
}

impl Vote {
    pub fn new(prompt: String, models: Vec<String>, winner: Option<String>) -> Vote {
        Vote {
            id: Id::new(),
            prompt,
            models,
            winner,
            runs: Vec::new(),
            at_us: now_micros(),
        }
    }
}

/// Votes between two models (`a` < `b` by name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairTally {
    pub a: String,
    pub b: String,
    pub a_wins: u32,
    pub b_wins: u32,
    pub ties: u32,
    /// `a`'s win rate against `b` (ties count half).
    pub win_rate: Option<WinRate>,
}

impl PairTally {
    pub fn total(&self) -> u32 {
        self.a_wins + self.b_wins + self.ties
    }
}

/// Per pair of models: a winner beats every other column; a tie ties every pair.
pub fn tally(votes: &[Vote]) -> Vec<PairTally> {
    let mut pairs: BTreeMap<(String, String), (u32, u32, u32)> = BTreeMap::new();
    for vote in votes {
        let mut models = vote.models.clone();
        models.sort();
        models.dedup();
        for (i, a) in models.iter().enumerate() {
            for b in &models[i + 1..] {
                let entry = pairs.entry((a.clone(), b.clone())).or_default();
                match vote.winner.as_deref() {
                    None => entry.2 += 1,
                    Some(w) if w == a => entry.0 += 1,
                    Some(w) if w == b => entry.1 += 1,
                    // Neither of these two won: no verdict between them.
                    Some(_) => {}
                }
            }
        }
    }
    pairs
        .into_iter()
        .filter(|(_, (a, b, t))| a + b + t > 0)
        .map(|((a, b), (a_wins, b_wins, ties))| PairTally {
            a,
            b,
            a_wins,
            b_wins,
            ties,
            win_rate: stats::win_rate(a_wins, b_wins, ties),
        })
        .collect()
}

/// The stored votes.
#[derive(Clone)]
pub struct VoteStore {
    store: Store,
}

impl VoteStore {
    pub fn new(store: Store) -> VoteStore {
        VoteStore { store }
    }

    pub fn put(&self, vote: &Vote) -> Result<(), StoreError> {
        self.store.put(VOTES, vote.id.as_bytes(), vote)?;
        self.store.flush()
    }

    /// Every vote, newest first.
    pub fn list(&self) -> Result<Vec<Vote>, StoreError> {
        self.store.latest(VOTES, usize::MAX, "vote")
    }

    /// The tally of every stored vote.
    pub fn tally(&self) -> Result<Vec<PairTally>, StoreError> {
        Ok(tally(&self.list()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winners_beat_every_other_column_and_ties_tie_every_pair() {
        let v = |models: &[&str], w: Option<&str>| {
            Vote::new(
                "q".into(),
                models.iter().map(|m| m.to_string()).collect(),
                w.map(str::to_string),
            )
        };
        let votes = [
            v(&["x", "y"], Some("x")),
            v(&["y", "x"], Some("x")),
            v(&["x", "y"], None),
            v(&["x", "y", "z"], Some("z")),
        ];
        let t = tally(&votes);
        let xy = t.iter().find(|p| p.a == "x" && p.b == "y").unwrap();
        assert_eq!((xy.a_wins, xy.b_wins, xy.ties), (2, 0, 1));
        // 2 wins and a tie of 3: (2 + 0.5) / 3.
        let rate = xy.win_rate.unwrap().rate;
        assert!((rate - 2.5 / 3.0).abs() < 1e-9);
        let xz = t.iter().find(|p| p.a == "x" && p.b == "z").unwrap();
        assert_eq!((xz.a_wins, xz.b_wins, xz.ties), (0, 1, 0));
        assert_eq!(t.len(), 3);
    }
}
