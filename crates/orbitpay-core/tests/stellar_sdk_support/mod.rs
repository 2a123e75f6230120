//! The independent judge, shared by every test that judges a refund envelope (this crate's,
//! and the admin API's in `crates/orbitpay/tests/admin_refunds.rs`, which includes this file
//! by path): the official Python Stellar SDK in a venv, and the script that reads a refund
//! with it (`stellar_sdk_judge.py`, beside this directory).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// Keep in step with `.ci/run`.
const STELLAR_SDK_VERSION: &str = "16.1.1";
pub const TESTNET: &str = "Test SDF Network ; September 2015";

/// Every crate is under `crates/`, so this holds for whichever crate includes the file.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python, made once per test binary (pip is not safe to run twice at once).
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"));
        let venv = target.join("stellar-sdk-venv");
        let py = venv.join("bin/python");
        let has_pin = || {
            Command::new(&py)
                .args([
                    "-c",
                    "import stellar_sdk, sys; print(stellar_sdk.__version__)",
                ])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == STELLAR_SDK_VERSION)
        };
        if !has_pin() {
            let _ = std::fs::remove_dir_all(&venv);
            let ok = Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv)
                .status()
                .expect("python3 runs")
                .success();
            assert!(ok, "python3 -m venv {venv:?} failed");
            let ok = Command::new(venv.join("bin/pip"))
                .args(["install", "-q"])
                .arg(format!("stellar-sdk=={STELLAR_SDK_VERSION}"))
                .status()
                .expect("pip runs")
                .success();
            assert!(ok, "pip install stellar-sdk=={STELLAR_SDK_VERSION} failed");
            assert!(
                has_pin(),
                "the venv does not import stellar_sdk {STELLAR_SDK_VERSION}"
            );
        }
        py
    })
}

/// What the SDK read from the envelope and the URI (the URI parsed against `passphrase`).
pub fn judge(xdr: &str, uri: &str, passphrase: &str) -> Result<Value, String> {
    let script = workspace().join("crates/orbitpay-core/tests/stellar_sdk_judge.py");
    let out = Command::new(python())
        .arg(script)
        .args([xdr, uri, passphrase])
        .output()
        .expect("the judge runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("the judge prints JSON"))
}
