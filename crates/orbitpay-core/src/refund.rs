//! The refund transaction: what orbitpay hands a merchant to sign, built with the official
//! `stellar-xdr` types and encoder (no XDR is written by hand here).
//!
//! orbitpay never holds a signing key, so the envelope is unsigned (no signatures): the
//! merchant's wallet signs it. Everything that makes it valid on the ledger is fixed here: the
//! merchant account as source, the sequence number its next transaction must carry, a fee the
//! merchant bounded, time bounds after which it can no longer land (so a stale envelope cannot
//! pay twice after a fresh one was prepared, as long as the two are not both signed in time),
//! and one operation.

use stellar_xdr::{
    AccountId as XdrAccountId, AlphaNum4, AlphaNum12, Asset as XdrAsset, AssetCode4, AssetCode12,
    ClaimPredicate, Claimant, ClaimantV0, CreateClaimableBalanceOp, Hash, Limits, Memo as XdrMemo,
    MuxedAccount as XdrMuxed, MuxedAccountMed25519, Operation, OperationBody, PaymentOp,
    Preconditions, PublicKey, ReadXdr, SequenceNumber, StringM, TimeBounds, TimePoint, Transaction,
    TransactionEnvelope, TransactionExt, TransactionSignaturePayload,
    TransactionSignaturePayloadTaggedTransaction, TransactionV1Envelope, Uint256, VecM, WriteXdr,
};

use crate::{AccountId, Address, Amount, Asset, Memo, TxHash};

/// How the money goes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOperation {
    /// A `payment` to a G or M address (an M address as the payer paid from it).
    Payment { destination: Address },
    /// A `create_claimable_balance` the claimant can claim whenever it likes (unconditional):
    /// Stellar's way to pay an account that has no trustline (or no room) yet.
    ClaimableBalance { claimant: AccountId },
}

/// Everything an unsigned refund transaction holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundTx {
    /// The merchant account that received the payment and now sends it back.
    pub source: AccountId,
    /// The sequence number this transaction carries: the account's current one + 1.
    pub sequence: i64,
    /// The most the merchant pays in fees (stroops); the network charges at most this.
    pub fee: u32,
    /// The last unix second the transaction may land in (`max_time`); `min_time` is 0.
    pub valid_until: u64,
    pub memo: Memo,
    pub asset: Asset,
    pub amount: Amount,
    pub operation: RefundOperation,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundTxError {
    #[error("a refund cannot be sent to a contract ({0})")]
    ContractDestination(String),
    #[error("a refund amount must be more than zero")]
    ZeroAmount,
    #[error("XDR: {0}")]
    Xdr(String),
}

fn key(a: &AccountId) -> Uint256 {
    Uint256(*a.as_bytes())
}

fn account_id(a: &AccountId) -> XdrAccountId {
    XdrAccountId(PublicKey::PublicKeyTypeEd25519(key(a)))
}

fn muxed(a: &Address) -> Result<XdrMuxed, RefundTxError> {
    match a {
        Address::Account(g) => Ok(XdrMuxed::Ed25519(key(g))),
        Address::Muxed(m) => Ok(XdrMuxed::MuxedEd25519(MuxedAccountMed25519 {
            id: m.id,
            ed25519: key(&m.account),
        })),
        Address::Contract(c) => Err(RefundTxError::ContractDestination(c.to_string())),
    }
}

/// An asset code in XDR: the code's bytes, right-padded with NULs to 4 or 12.
fn asset(a: &Asset) -> XdrAsset {
    match a {
        Asset::Native => XdrAsset::Native,
        Asset::Credit { code, issuer } => {
            let bytes = code.as_str().as_bytes();
            if bytes.len() <= 4 {
                let mut c = [0u8; 4];
                c[..bytes.len()].copy_from_slice(bytes);
                XdrAsset::CreditAlphanum4(AlphaNum4 {
                    asset_code: AssetCode4(c),
                    issuer: account_id(issuer),
                })
            } else {
                let mut c = [0u8; 12];
                c[..bytes.len()].copy_from_slice(bytes);
                XdrAsset::CreditAlphanum12(AlphaNum12 {
                    asset_code: AssetCode12(c),
                    issuer: account_id(issuer),
                })
            }
        }
    }
}

fn memo(m: &Memo) -> Result<XdrMemo, RefundTxError> {
    Ok(match m {
        Memo::None => XdrMemo::None,
        Memo::Text(t) => XdrMemo::Text(
            StringM::<28>::try_from(t.as_bytes().to_vec())
                .map_err(|e| RefundTxError::Xdr(e.to_string()))?,
        ),
        Memo::Id(id) => XdrMemo::Id(*id),
        Memo::Hash(h) => XdrMemo::Hash(Hash(*h)),
        Memo::Return(h) => XdrMemo::Return(Hash(*h)),
    })
}

impl RefundTx {
    /// The unsigned V1 envelope.
    pub fn envelope(&self) -> Result<TransactionEnvelope, RefundTxError> {
        if self.amount.is_zero() {
            return Err(RefundTxError::ZeroAmount);
        }
        let body = match &self.operation {
            RefundOperation::Payment { destination } => OperationBody::Payment(PaymentOp {
                destination: muxed(destination)?,
                asset: asset(&self.asset),
                amount: self.amount.stroops(),
            }),
            RefundOperation::ClaimableBalance { claimant } => {
                let claimants = vec![Claimant::ClaimantTypeV0(ClaimantV0 {
                    destination: account_id(claimant),
                    predicate: ClaimPredicate::Unconditional,
                })];
                OperationBody::CreateClaimableBalance(CreateClaimableBalanceOp {
                    asset: asset(&self.asset),
                    amount: self.amount.stroops(),
                    claimants: VecM::try_from(claimants)
                        .map_err(|e| RefundTxError::Xdr(e.to_string()))?,
                })
            }
        };
        let operations = VecM::try_from(vec![Operation {
            source_account: None,
            body,
        }])
        .map_err(|e| RefundTxError::Xdr(e.to_string()))?;
        Ok(TransactionEnvelope::Tx(TransactionV1Envelope {
            tx: Transaction {
                source_account: XdrMuxed::Ed25519(key(&self.source)),
                fee: self.fee,
                seq_num: SequenceNumber(self.sequence),
                cond: Preconditions::Time(TimeBounds {
                    min_time: TimePoint(0),
                    max_time: TimePoint(self.valid_until),
                }),
                memo: memo(&self.memo)?,
                operations,
                ext: TransactionExt::V0,
            },
            signatures: VecM::default(),
        }))
    }

    /// The unsigned envelope as standard base64 XDR, as wallets and `stellar tx sign` read it.
    pub fn to_xdr_base64(&self) -> Result<String, RefundTxError> {
        self.envelope()?
            .to_xdr_base64(Limits::none())
            .map_err(|e| RefundTxError::Xdr(e.to_string()))
    }
}

/// The hash of a V1 envelope's transaction on the network `network_passphrase` names: sha256 of
/// its signature payload, the id Horizon knows it by once it lands. It lets a stale envelope
/// be looked up before a fresh one replaces it (the sequence number moving on may be that
/// envelope itself landing).
pub fn envelope_hash(
    envelope_xdr: &str,
    network_passphrase: &str,
) -> Result<TxHash, RefundTxError> {
    use sha2::{Digest, Sha256};
    let xdr = |e: stellar_xdr::Error| RefundTxError::Xdr(e.to_string());
    let TransactionEnvelope::Tx(v1) =
        TransactionEnvelope::from_xdr_base64(envelope_xdr, Limits::none()).map_err(xdr)?
    else {
        return Err(RefundTxError::Xdr("not a V1 transaction envelope".into()));
    };
    let payload = TransactionSignaturePayload {
        network_id: Hash(Sha256::digest(network_passphrase.as_bytes()).into()),
        tagged_transaction: TransactionSignaturePayloadTaggedTransaction::Tx(v1.tx),
    };
    let bytes = payload.to_xdr(Limits::none()).map_err(xdr)?;
    Ok(TxHash::from_bytes(Sha256::digest(&bytes).into()))
}

/// The SEP-7 `tx` operation's URI: `web+stellar:tx?xdr=…&network_passphrase=…&msg=…`. Each
/// value is percent-encoded (everything but RFC 3986's unreserved characters), as SEP-7
/// requires for the base64 `+`, `/` and `=` and the passphrase's spaces and `;`. `msg` is cut to
/// SEP-7's 300 characters.
pub fn sep7_tx_uri(xdr: &str, network_passphrase: &str, msg: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const VALUE: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let msg: String = msg.chars().take(300).collect();
    format!(
        "web+stellar:tx?xdr={}&network_passphrase={}&msg={}",
        utf8_percent_encode(xdr, VALUE),
        utf8_percent_encode(network_passphrase, VALUE),
        utf8_percent_encode(&msg, VALUE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MuxedAccount;

    fn shop() -> AccountId {
        AccountId::from_bytes([7; 32])
    }
    fn payer() -> AccountId {
        AccountId::from_bytes([9; 32])
    }

    fn tx(operation: RefundOperation, asset: Asset) -> RefundTx {
        RefundTx {
            source: shop(),
            sequence: 4_294_967_297,
            fee: 1000,
            valid_until: 1_717_200_900,
            memo: Memo::Return([0xab; 32]),
            asset,
            amount: Amount::from_stroops(12_500_000).unwrap(),
            operation,
        }
    }

    fn decode(b64: &str) -> Transaction {
        match TransactionEnvelope::from_xdr_base64(b64, Limits::none()).unwrap() {
            TransactionEnvelope::Tx(e) => {
                assert!(e.signatures.is_empty(), "unsigned");
                e.tx
            }
            other => panic!("not a V1 envelope: {other:?}"),
        }
    }

    #[test]
    fn a_payment_to_a_muxed_payer_keeps_its_id_and_every_field() {
        let m = MuxedAccount::new(payer(), 42);
        let t = tx(
            RefundOperation::Payment {
                destination: Address::Muxed(m),
            },
            Asset::Native,
        );
        let d = decode(&t.to_xdr_base64().unwrap());
        assert_eq!(d.source_account, XdrMuxed::Ed25519(Uint256([7; 32])));
        assert_eq!(d.seq_num, SequenceNumber(4_294_967_297));
        assert_eq!(d.fee, 1000);
        assert_eq!(
            d.cond,
            Preconditions::Time(TimeBounds {
                min_time: TimePoint(0),
                max_time: TimePoint(1_717_200_900)
            })
        );
        assert_eq!(d.memo, XdrMemo::Return(Hash([0xab; 32])));
        let [op] = d.operations.as_slice() else {
            panic!("one operation")
        };
        assert_eq!(
            op.body,
            OperationBody::Payment(PaymentOp {
                destination: XdrMuxed::MuxedEd25519(MuxedAccountMed25519 {
                    id: 42,
                    ed25519: Uint256([9; 32])
                }),
                asset: XdrAsset::Native,
                amount: 12_500_000,
            })
        );
    }

    #[test]
    fn a_claimable_balance_names_the_payer_as_its_unconditional_claimant() {
        let usdc = Asset::credit("USDC", &shop().to_string()).unwrap();
        let t = tx(
            RefundOperation::ClaimableBalance { claimant: payer() },
            usdc,
        );
        let d = decode(&t.to_xdr_base64().unwrap());
        let OperationBody::CreateClaimableBalance(cb) = &d.operations[0].body else {
            panic!("not a claimable balance: {:?}", d.operations[0].body)
        };
        assert_eq!(cb.amount, 12_500_000);
        assert_eq!(
            cb.asset,
            XdrAsset::CreditAlphanum4(AlphaNum4 {
                asset_code: AssetCode4(*b"USDC"),
                issuer: account_id(&shop()),
            })
        );
        assert_eq!(
            cb.claimants.as_slice(),
            &[Claimant::ClaimantTypeV0(ClaimantV0 {
                destination: account_id(&payer()),
                predicate: ClaimPredicate::Unconditional,
            })]
        );
    }

    #[test]
    fn a_long_asset_code_is_padded_to_twelve_bytes() {
        let long = Asset::credit("LONGCODE", &shop().to_string()).unwrap();
        let XdrAsset::CreditAlphanum12(a) = asset(&long) else {
            panic!("alphanum12")
        };
        assert_eq!(&a.asset_code.0, b"LONGCODE\0\0\0\0");
    }

    #[test]
    fn a_contract_destination_and_a_zero_amount_are_refused() {
        let c = Address::Contract(crate::ContractId::from_bytes([1; 32]));
        let t = tx(RefundOperation::Payment { destination: c }, Asset::Native);
        assert!(matches!(
            t.envelope(),
            Err(RefundTxError::ContractDestination(_))
        ));
        let mut z = tx(
            RefundOperation::Payment {
                destination: Address::Account(payer()),
            },
            Asset::Native,
        );
        z.amount = Amount::ZERO;
        assert_eq!(z.envelope(), Err(RefundTxError::ZeroAmount));
    }

    #[test]
    fn the_uri_percent_encodes_base64_and_the_passphrase() {
        let uri = sep7_tx_uri(
            "AA+/B==",
            "Test SDF Network ; September 2015",
            "Refund & thanks",
        );
        assert_eq!(
            uri,
            "web+stellar:tx?xdr=AA%2B%2FB%3D%3D\
             &network_passphrase=Test%20SDF%20Network%20%3B%20September%202015\
             &msg=Refund%20%26%20thanks"
        );
    }
}
