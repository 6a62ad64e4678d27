//! Two runs side by side: their steps paired by position, each pair marked same or
//! different, and the first divergence found (the first step where the kind, the tool
//! calls or the output differ). Used by `strata agent diff` and the Agents screen.

use serde::Serialize;

use super::runs::{Step, StepKind};
use super::tools::canonical_arguments;

/// One step as a diff shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepView {
    pub index: u32,
    pub kind: StepKind,
    /// `name(arguments)` of each tool call (the calls a model step made, or the call a
    /// tool step ran).
    pub calls: Vec<String>,
    pub output: String,
    pub outcome: String,
}

impl StepView {
    pub fn of(step: &Step) -> StepView {
        StepView {
            index: step.index,
            kind: step.kind,
            calls: step
                .tool_calls
                .iter()
                .map(|c| format!("{}({})", c.name, canonical_arguments(&c.arguments)))
                .collect(),
            output: step.output.clone(),
            outcome: step.outcome.clone(),
        }
    }

    /// Same kind, same calls, same output.
    fn same_as(&self, other: &StepView) -> bool {
        self.kind == other.kind && self.calls == other.calls && self.output == other.output
    }
}

/// A pair of steps at one position (either side may have run out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffRow {
    pub a: Option<StepView>,
    pub b: Option<StepView>,
    pub same: bool,
}

/// Two runs' steps, paired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDiff {
    pub rows: Vec<DiffRow>,
    /// The index (into `rows`) of the first pair that differs; none when the runs match.
    pub first_divergence: Option<usize>,
}

/// Pairs the steps of two runs by position.
pub fn diff_steps(a: &[Step], b: &[Step]) -> RunDiff {
    let len = a.len().max(b.len());
    let rows: Vec<DiffRow> = (0..len)
        .map(|i| {
            let a = a.get(i).map(StepView::of);
            let b = b.get(i).map(StepView::of);
            let same = matches!((&a, &b), (Some(x), Some(y)) if x.same_as(y));
            DiffRow { a, b, same }
        })
        .collect();
    let first_divergence = rows.iter().position(|r| !r.same);
    RunDiff {
        rows,
        first_divergence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::types::ToolCall;
    use crate::store::Id;

    fn step(index: u32, kind: StepKind, output: &str, call: Option<(&str, &str)>) -> Step {
        Step {
            output: output.into(),
            tool_calls: call
                .map(|(name, args)| ToolCall {
                    id: format!("c{index}"),
                    name: name.into(),
                    arguments: args.into(),
                })
                .into_iter()
                .collect(),
            outcome: "ok".into(),
            ..Step::start(Id::new(), index, kind)
        }
    }

    #[test]
    fn the_first_divergence_is_the_first_pair_that_differs() {
        let a = vec![
            step(
                1,
                StepKind::ModelCall,
                "",
                Some(("lookup", r#"{"id": "1"}"#)),
            ),
            step(
                2,
                StepKind::ToolCall,
                "shipped",
                Some(("lookup", r#"{"id":"1"}"#)),
            ),
            step(3, StepKind::ModelCall, "It shipped.", None),
        ];
        let mut b = a.clone();
        // Same arguments written differently are the same call.
        b[0].tool_calls[0].arguments = r#"{"id":"1"}"#.into();
        b[1].output = "delayed".into();
        b[2].output = "It is delayed.".into();
        b.push(step(4, StepKind::ModelCall, "more", None));
        let diff = diff_steps(&a, &b);
        assert_eq!(diff.rows.len(), 4);
        assert!(diff.rows[0].same);
        assert_eq!(diff.first_divergence, Some(1));
        assert!(diff.rows[3].a.is_none() && !diff.rows[3].same);
        assert_eq!(diff_steps(&a, &a).first_divergence, None);
    }
}
