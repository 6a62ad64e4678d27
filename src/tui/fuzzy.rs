//! Fuzzy matching: the score the model picker and the command palette sort by.
//! Not responsible for drawing or filtering lists (that is the picker's and palette's).

/// Subsequence match score: higher for contiguous and early matches; None if no match.
pub fn fuzzy_score(query: &str, candidate: &str) -> Option<i64> {
    if query.is_empty() {
        return Some(0);
    }
    let mut score = 0i64;
    let mut last: Option<usize> = None;
    let mut chars = candidate.char_indices();
    for q in query.chars() {
        let (i, _) = chars.by_ref().find(|(_, c)| *c == q)?;
        score += match last {
            Some(l) if i == l + 1 => 10,
            _ => 1,
        };
        if last.is_none() {
            score -= i as i64 / 4;
        }
        last = Some(i);
    }
    Some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_prefers_contiguous_matches() {
        assert!(fuzzy_score("smol", "local/smollm2-135m") > fuzzy_score("smol", "local/s-m-o-l"));
        assert_eq!(fuzzy_score("xyz", "local/smollm2-135m"), None);
        assert_eq!(fuzzy_score("", "anything"), Some(0));
    }
}
