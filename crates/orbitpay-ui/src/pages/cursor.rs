//! The keyset cursor of a newest-first session list in a link: `{created_at µs}_{id}`.

use orbitpay_store::session_search::After;

pub fn encode(after: After) -> String {
    format!("{}_{}", after.created_at.timestamp_micros(), after.id)
}

/// `None` for anything that is not a cursor this page wrote: the list starts over.
pub fn decode(s: &str) -> Option<After> {
    let (micros, id) = s.split_once('_')?;
    Some(After {
        created_at: chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: id.parse().ok()?,
    })
}

/// A link to `path` with `params` (empty values left out), percent-encoded.
pub fn link(path: &str, params: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(k, v);
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_a_forged_one_starts_over() {
        let after = After {
            created_at: chrono::DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap(),
            id: uuid::Uuid::now_v7(),
        };
        assert_eq!(decode(&encode(after)), Some(after));
        assert_eq!(decode("<script>"), None);
        assert_eq!(
            link("/ui/sessions", &[("q", "a b&c"), ("after", "")]),
            "/ui/sessions?q=a+b%26c"
        );
    }
}
