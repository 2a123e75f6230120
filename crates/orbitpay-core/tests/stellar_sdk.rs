//! The refund envelope and its SEP-7 URI judged by an independent implementation: the official
//! Python Stellar SDK (`stellar-sdk`, pinned) decodes both and reports every field, which must
//! be exactly what was asked for: source, sequence, fee, time bounds, operation, destination,
//! asset, amount, memo, no signatures, and the URI's network passphrase and message.
//!
//! The SDK lives in a venv at `target/stellar-sdk-venv`; the test makes it (`python3 -m venv`,
//! `pip install stellar-sdk==PIN`) when it is absent, so a plain `cargo test` works on a fresh
//! machine. `.ci/run` prepares the same venv before the tests.

mod stellar_sdk_support;

use orbitpay_core::{
    AccountId, Address, Amount, Asset, Memo, MuxedAccount, RefundOperation, RefundTx,
    envelope_hash, sep7_tx_uri,
};
use serde_json::{Value, json};
use stellar_sdk_support::{TESTNET, judge};

fn shop() -> AccountId {
    "GAFK7XFZHMLSNV7OJTBO7BAIZA66X6QIBV5RMZZYXK4Q7ZSO52J5C3WQ"
        .parse()
        .unwrap()
}
fn payer() -> AccountId {
    "GC5LF63GRVIT5ZXXCXLPI3RX2YXKJQFZVBSAO6AUELN3YIMSWPD6Z6FH"
        .parse()
        .unwrap()
}
fn usdc() -> Asset {
    Asset::credit(
        "USDC",
        "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN",
    )
    .unwrap()
}

const PAID_WITH: [u8; 32] = [0x5c; 32];

fn refund(asset: Asset, operation: RefundOperation) -> RefundTx {
    RefundTx {
        source: shop(),
        sequence: 4_299_262_263_297,
        fee: 2_000,
        valid_until: 1_765_000_000,
        memo: Memo::Return(PAID_WITH),
        asset,
        amount: Amount::from_stroops(123_456_789).unwrap(),
        operation,
    }
}

/// Judges `tx` and checks every field the SDK read, in the envelope and in the URI alike.
fn assert_judged(tx: &RefundTx, operation: Value) {
    let xdr = tx.to_xdr_base64().unwrap();
    let msg = "Refund of 12.3456789 for order 7 & co";
    let uri = sep7_tx_uri(&xdr, TESTNET, msg);
    let seen = judge(&xdr, &uri, TESTNET).unwrap();
    let expected = json!({
        "source": shop().to_string(),
        "sequence": "4299262263297",
        "fee": 2000,
        "min_time": 0,
        "max_time": 1_765_000_000u64,
        "memo": {"type": "return", "hex": hex::encode(PAID_WITH)},
        "signatures": 0,
        "operations": [operation],
    });
    assert_eq!(
        seen["envelope"], expected,
        "the envelope as the SDK reads it"
    );
    assert_eq!(seen["uri"]["envelope"], expected, "the URI's envelope");
    assert_eq!(seen["uri"]["same_xdr"], true);
    assert_eq!(seen["uri"]["network_passphrase"], TESTNET);
    assert_eq!(seen["uri"]["msg"], msg);
}

#[test]
fn a_native_payment_back_to_the_payer_reads_field_for_field() {
    let tx = refund(
        Asset::Native,
        RefundOperation::Payment {
            destination: Address::Account(payer()),
        },
    );
    assert_judged(
        &tx,
        json!({"type": "payment", "destination": payer().to_string(), "asset": "native",
               "amount": 123_456_789, "source": null}),
    );
}

#[test]
fn a_muxed_payer_is_paid_back_at_its_m_address() {
    let m = MuxedAccount::new(payer(), 18_446_744_073_709_551_615);
    let tx = refund(
        usdc(),
        RefundOperation::Payment {
            destination: Address::Muxed(m),
        },
    );
    assert_judged(
        &tx,
        json!({"type": "payment", "destination": m.to_string(), "asset": usdc().to_string(),
               "amount": 123_456_789, "source": null}),
    );
}

#[test]
fn a_claimable_balance_names_the_payer_as_its_only_unconditional_claimant() {
    let tx = refund(
        usdc(),
        RefundOperation::ClaimableBalance { claimant: payer() },
    );
    assert_judged(
        &tx,
        json!({"type": "create_claimable_balance", "asset": usdc().to_string(),
               "amount": 123_456_789,
               "claimants": [{"destination": payer().to_string(),
                              "predicate": "CLAIM_PREDICATE_UNCONDITIONAL"}],
               "source": null}),
    );
}

#[test]
fn a_merchant_memo_override_is_what_the_sdk_reads() {
    let mut tx = refund(
        Asset::Native,
        RefundOperation::Payment {
            destination: Address::Account(payer()),
        },
    );
    tx.memo = Memo::Id(9_007_199_254_740_993);
    let xdr = tx.to_xdr_base64().unwrap();
    let seen = judge(&xdr, &sep7_tx_uri(&xdr, TESTNET, "m"), TESTNET).unwrap();
    assert_eq!(
        seen["envelope"]["memo"],
        json!({"type": "id", "id": "9007199254740993"})
    );
}

#[test]
fn a_uri_for_another_network_is_refused_by_the_sdk() {
    let tx = refund(
        Asset::Native,
        RefundOperation::Payment {
            destination: Address::Account(payer()),
        },
    );
    let xdr = tx.to_xdr_base64().unwrap();
    let public = "Public Global Stellar Network ; September 2015";
    let uri = sep7_tx_uri(&xdr, public, "refund");
    let err = judge(&xdr, &uri, TESTNET).unwrap_err();
    assert!(err.contains("network_passphrase"), "{err}");
}

#[test]
fn the_envelope_hash_is_the_one_the_sdk_computes_for_the_network() {
    let tx = refund(
        usdc(),
        RefundOperation::Payment {
            destination: Address::Account(payer()),
        },
    );
    let xdr = tx.to_xdr_base64().unwrap();
    let seen = judge(&xdr, &sep7_tx_uri(&xdr, TESTNET, "m"), TESTNET).unwrap();
    let ours = envelope_hash(&xdr, TESTNET).unwrap().to_string();
    assert_eq!(seen["hash"], ours.as_str());
    let public = "Public Global Stellar Network ; September 2015";
    assert_ne!(envelope_hash(&xdr, public).unwrap().to_string(), ours);
}
