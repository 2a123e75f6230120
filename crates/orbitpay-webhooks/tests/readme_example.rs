//! The README's verification example, run as written against this crate's signatures: a
//! merchant who copies it gets a working verifier.

use std::process::Command;

use orbitpay_webhooks::{Secret, Signer};

const README: &str = include_str!("../../../README.md");

fn example() -> &'static str {
    let start = README
        .find("<!-- verify-example:start -->")
        .expect("start marker");
    let block = &README[start..];
    let code = block.find("```python\n").expect("a python block") + "```python\n".len();
    let end = block[code..].find("```").expect("the block ends");
    &block[code..code + end]
}

/// Runs the example's `verify` on a request; true when it verifies.
fn python_verifies(secret: &str, id: &str, timestamp: i64, signature: &str, body: &[u8]) -> bool {
    let script = format!(
        "{}\nimport sys\nbody = bytes.fromhex(sys.argv[5])\nheaders = {{'webhook-id': sys.argv[2], 'webhook-timestamp': sys.argv[3], 'webhook-signature': sys.argv[4]}}\nprint('verified' if verify(sys.argv[1], headers, body) else 'refused')\n",
        example()
    );
    let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new("python3")
        .args([
            "-c",
            &script,
            secret,
            id,
            &timestamp.to_string(),
            signature,
            &hex,
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match String::from_utf8_lossy(&out.stdout).trim() {
        "verified" => true,
        "refused" => false,
        other => panic!("unexpected output {other:?}"),
    }
}

#[test]
fn the_readme_example_verifies_signatures_including_rotation_and_refuses_tampering() {
    let (current, previous) = (Secret::generate(), Secret::generate());
    let signer = Signer {
        current: Secret::parse(&current).unwrap(),
        previous: Some(Secret::parse(&previous).unwrap()),
    };
    let body = br#"{"version":1,"id":"01a2","type":"session.paid","data":{"amount":"10.0000000"}}"#;
    let now = chrono::Utc::now().timestamp();
    let h = signer.sign("01a2", now, body);
    assert!(python_verifies(
        &current,
        &h.id,
        h.timestamp,
        &h.signature,
        body
    ));
    assert!(
        python_verifies(&previous, &h.id, h.timestamp, &h.signature, body),
        "rotation"
    );
    assert!(!python_verifies(
        &Secret::generate(),
        &h.id,
        h.timestamp,
        &h.signature,
        body
    ));
    let mut tampered = body.to_vec();
    tampered[20] ^= 1;
    assert!(!python_verifies(
        &current,
        &h.id,
        h.timestamp,
        &h.signature,
        &tampered
    ));
    let old = signer.sign("01a2", now - 3600, body);
    assert!(
        !python_verifies(&current, &old.id, old.timestamp, &old.signature, body),
        "stale timestamp"
    );
}
