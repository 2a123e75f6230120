//! Takes the `ssl*` keys out of a connection string, leaving the rest for tokio-postgres.
//!
//! Both of libpq's forms are read, as tokio-postgres reads them: a URL
//! (`postgres://user@host/db?sslmode=verify-full&sslrootcert=/etc/ca.pem`, values
//! percent-encoded) and `key=value` pairs (`host=db sslmode=require`, values optionally
//! single-quoted, `\` escaping). Everything else is passed on byte for byte.

use std::borrow::Cow;

use super::{TlsError, TlsOptions};

/// The keys read here; tokio-postgres knows `sslmode` (three of its values) and
/// `sslnegotiation`, and rejects the others as unknown.
const KEYS: [&str; 5] = [
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslnegotiation",
];

/// The string without its TLS keys, and their options.
pub(crate) fn split(url: &str) -> Result<(String, TlsOptions), TlsError> {
    let (rest, params) = match ["postgres://", "postgresql://"]
        .iter()
        .find(|p| url.starts_with(*p))
    {
        Some(prefix) => split_url(url, prefix.len())?,
        None => split_pairs(url)?,
    };
    Ok((rest, TlsOptions::from_params(params)?))
}

fn split_url(url: &str, prefix: usize) -> Result<(String, Vec<(String, String)>), TlsError> {
    // tokio-postgres ends the credentials at the first `@`, and the host and path at the `?`
    // after them.
    let after_credentials = url[prefix..].find('@').map_or(prefix, |at| prefix + at + 1);
    let Some(question) = url[after_credentials..].find('?') else {
        return Ok((url.to_owned(), Vec::new()));
    };
    let query_start = after_credentials + question;
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    for param in url[query_start + 1..].split('&') {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let key = decode(key)?;
        if KEYS.contains(&key.as_ref()) {
            ours.push((key.into_owned(), decode(value)?.into_owned()));
        } else {
            kept.push(param);
        }
    }
    let mut rest = url[..query_start].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, ours))
}

fn decode(s: &str) -> Result<Cow<'_, str>, TlsError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_err(|e| TlsError::Option(format!("connection string: {e}")))
}

fn split_pairs(s: &str) -> Result<(String, Vec<(String, String)>), TlsError> {
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    let mut it = s.char_indices().peekable();
    loop {
        while it.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = it.peek() else { break };
        while it
            .next_if(|(_, c)| !c.is_whitespace() && *c != '=')
            .is_some()
        {}
        let key_end = it.peek().map_or(s.len(), |&(i, _)| i);
        let key = &s[start..key_end];
        while it.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if it.next_if(|(_, c)| *c == '=').is_none() {
            return Err(TlsError::Option(format!(
                "connection string: expected `=` after {key:?}"
            )));
        }
        while it.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let quoted = it.next_if(|(_, c)| *c == '\'').is_some();
        let mut value = String::new();
        loop {
            match it.peek().copied() {
                None if quoted => {
                    return Err(TlsError::Option(
                        "connection string: unterminated quoted value".into(),
                    ));
                }
                None => break,
                Some((_, '\'')) if quoted => {
                    it.next();
                    break;
                }
                Some((_, c)) if !quoted && c.is_whitespace() => break,
                Some((_, '\\')) => {
                    it.next();
                    if let Some((_, escaped)) = it.next() {
                        value.push(escaped);
                    }
                }
                Some((_, c)) => {
                    it.next();
                    value.push(c);
                }
            }
        }
        let end = it.peek().map_or(s.len(), |&(i, _)| i);
        if KEYS.contains(&key) {
            ours.push((key.to_owned(), value));
        } else {
            kept.push(&s[start..end]);
        }
    }
    Ok((kept.join(" "), ours))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::tls::SslMode;

    #[test]
    fn a_url_keeps_everything_but_its_tls_keys() {
        let (rest, tls) = split(
            "postgres://app:p%40ss@db.example.com:5432,db2:5433/pay?connect_timeout=5\
             &sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20bundle.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://app:p%40ss@db.example.com:5432,db2:5433/pay?connect_timeout=5\
             &application_name=x"
        );
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca bundle.pem")));
    }

    #[test]
    fn a_url_with_only_tls_keys_loses_its_query() {
        let (rest, tls) =
            split("postgresql://db/pay?sslmode=require&sslcert=/c.pem&sslkey=/k.pem").unwrap();
        assert_eq!(rest, "postgresql://db/pay");
        assert_eq!(
            tls.client_cert,
            Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem")))
        );
        assert_eq!(split("postgres://db/pay").unwrap().1, TlsOptions::default());
    }

    #[test]
    fn key_value_pairs_keep_everything_but_their_tls_keys() {
        let (rest, tls) = split(
            "host=db  sslmode = 'verify-ca' password='it\\'s' sslrootcert='/a b/c\\'d.pem' user=x",
        )
        .unwrap();
        assert_eq!(rest, "host=db password='it\\'s' user=x");
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/a b/c'd.pem")));
    }

    #[test]
    fn what_libpq_has_and_orbitpay_does_not_is_refused_by_name() {
        for (url, words) in [
            ("postgres://db/x?sslmode=allow", "sslmode=allow"),
            ("postgres://db/x?sslmode=verify_full", "verify-full"),
            ("postgres://db/x?sslcert=/c.pem", "sslcert and sslkey"),
            ("postgres://db/x?sslnegotiation=direct", "sslnegotiation"),
        ] {
            let e = split(url).unwrap_err().to_string();
            assert!(e.contains(words), "{url}: {e}");
        }
    }

    #[test]
    fn sslrootcert_system_is_the_system_store() {
        let tls = split("postgres://db/x?sslmode=verify-full&sslrootcert=system")
            .unwrap()
            .1;
        assert_eq!(tls.root_cert, None);
    }
}
