//! The SEP-7 pay URI a session hands out.

use orbitpay_core::{AccountId, Asset, PositiveAmount, Reference};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::config::PUBLIC_PASSPHRASE;

/// Query characters SEP-7 values may carry unescaped: RFC 3986 unreserved.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The SEP-7 `web+stellar:pay` URI for paying `amount` of `asset` to `destination` with memo id
/// `reference`. The network passphrase is included only off the public network (SEP-7). The
/// amount is a [`PositiveAmount`]: a URI asking a wallet to pay zero (or less) cannot be made.
pub fn pay_uri(
    destination: &AccountId,
    amount: PositiveAmount,
    asset: &Asset,
    reference: Reference,
    passphrase: &str,
) -> String {
    let mut params: Vec<(&str, String)> = vec![
        ("destination", destination.to_string()),
        ("amount", amount.to_string()),
    ];
    if let Asset::Credit { code, issuer } = asset {
        params.push(("asset_code", code.as_str().to_owned()));
        params.push(("asset_issuer", issuer.to_string()));
    }
    params.push(("memo", reference.to_string()));
    params.push(("memo_type", "MEMO_ID".to_owned()));
    if passphrase != PUBLIC_PASSPHRASE {
        params.push(("network_passphrase", passphrase.to_owned()));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
        .collect();
    format!("web+stellar:pay?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TESTNET_PASSPHRASE;
    use orbitpay_core::Amount;

    fn amount(text: &str) -> PositiveAmount {
        text.parse::<Amount>().unwrap().positive().unwrap()
    }

    const G: &str = "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN";

    #[test]
    fn pay_uri_is_sep7_and_percent_encoded() {
        let account: AccountId = G.parse().unwrap();
        let usdc: Asset = format!("USDC:{G}").parse().unwrap();
        let uri = pay_uri(
            &account,
            amount("12.5"),
            &usdc,
            Reference(42),
            TESTNET_PASSPHRASE,
        );
        assert_eq!(
            uri,
            format!(
                "web+stellar:pay?destination={G}&amount=12.5000000&asset_code=USDC&asset_issuer={G}\
                 &memo=42&memo_type=MEMO_ID&network_passphrase=Test%20SDF%20Network%20%3B%20September%202015"
            )
        );
        let public = pay_uri(
            &account,
            amount("1"),
            &Asset::Native,
            Reference(u64::MAX),
            PUBLIC_PASSPHRASE,
        );
        assert_eq!(
            public,
            format!(
                "web+stellar:pay?destination={G}&amount=1.0000000&memo=18446744073709551615&memo_type=MEMO_ID"
            )
        );
    }
}
