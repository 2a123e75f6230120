//! Our signatures checked by the spec's reference library, never by our own code.

use http::{HeaderMap, HeaderValue};
use orbitpay_webhooks::signing::{Secret, SignedHeaders, Signer};
use standardwebhooks::Webhook;

const BODY: &[u8] = br#"{"id":"0190","type":"session.paid","data":{"amount":"10.0000000"}}"#;

fn headers(h: &SignedHeaders) -> HeaderMap {
    let mut m = HeaderMap::new();
    m.insert("webhook-id", HeaderValue::from_str(&h.id).unwrap());
    m.insert("webhook-timestamp", HeaderValue::from(h.timestamp));
    m.insert(
        "webhook-signature",
        HeaderValue::from_str(&h.signature).unwrap(),
    );
    m
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn signer(current: &str, previous: Option<&str>) -> Signer {
    Signer {
        current: Secret::parse(current).unwrap(),
        previous: previous.map(|p| Secret::parse(p).unwrap()),
    }
}

#[test]
fn reference_library_verifies_a_signature() {
    let secret = Secret::generate();
    let h = signer(&secret, None).sign("01900000-0000-7000-8000-000000000001", now(), BODY);
    assert!(h.signature.starts_with("v1,"));
    Webhook::new(&secret)
        .unwrap()
        .verify(BODY, &headers(&h))
        .unwrap();
}

#[test]
fn during_rotation_either_secret_verifies() {
    let (new, old) = (Secret::generate(), Secret::generate());
    let h = signer(&new, Some(&old)).sign("evt_1", now(), BODY);
    assert_eq!(h.signature.split(' ').count(), 2, "{}", h.signature);
    for s in [&new, &old] {
        Webhook::new(s).unwrap().verify(BODY, &headers(&h)).unwrap();
    }
    let stranger = Secret::generate();
    assert!(
        Webhook::new(&stranger)
            .unwrap()
            .verify(BODY, &headers(&h))
            .is_err()
    );
}

#[test]
fn tampered_body_id_or_timestamp_fails() {
    let secret = Secret::generate();
    let ts = now();
    let h = signer(&secret, None).sign("evt_1", ts, BODY);
    let wh = Webhook::new(&secret).unwrap();
    let mut tampered = BODY.to_vec();
    tampered[30] ^= 1;
    assert!(wh.verify(&tampered, &headers(&h)).is_err());
    let mut other_id = h.clone();
    other_id.id = "evt_2".into();
    assert!(wh.verify(BODY, &headers(&other_id)).is_err());
    let mut other_ts = h.clone();
    other_ts.timestamp = ts - 1;
    assert!(wh.verify(BODY, &headers(&other_ts)).is_err());
    wh.verify(BODY, &headers(&h)).unwrap();
}
