"""The independent judge: decodes a refund envelope and its SEP-7 URI with the official Python
Stellar SDK and prints every field as JSON, for the Rust test to compare with what it asked for.

Usage: stellar_sdk_judge.py XDR URI NETWORK_PASSPHRASE
Parsing the URI with the expected passphrase fails (exit 1) if the URI carries another one.
"""

import json
import sys
from decimal import Decimal

from stellar_sdk import CreateClaimableBalance, Payment, TransactionEnvelope
from stellar_sdk.memo import HashMemo, IdMemo, NoneMemo, ReturnHashMemo, TextMemo
from stellar_sdk.sep.stellar_uri import TransactionStellarUri


def stroops(amount):
    return int(Decimal(amount) * 10**7)


def asset(a):
    return "native" if a.is_native() else f"{a.code}:{a.issuer}"


def memo(m):
    if isinstance(m, NoneMemo):
        return {"type": "none"}
    if isinstance(m, ReturnHashMemo):
        return {"type": "return", "hex": m.memo_return.hex()}
    if isinstance(m, HashMemo):
        return {"type": "hash", "hex": m.memo_hash.hex()}
    if isinstance(m, IdMemo):
        return {"type": "id", "id": str(m.memo_id)}
    if isinstance(m, TextMemo):
        return {"type": "text", "hex": m.memo_text.hex()}
    raise ValueError(f"unknown memo {m!r}")


def operation(op):
    if isinstance(op, Payment):
        return {
            "type": "payment",
            "destination": op.destination.universal_account_id,
            "asset": asset(op.asset),
            "amount": stroops(op.amount),
            "source": op.source.universal_account_id if op.source else None,
        }
    if isinstance(op, CreateClaimableBalance):
        return {
            "type": "create_claimable_balance",
            "asset": asset(op.asset),
            "amount": stroops(op.amount),
            "claimants": [
                {
                    "destination": c.destination,
                    "predicate": c.predicate.claim_predicate_type.name,
                }
                for c in op.claimants
            ],
            "source": op.source.universal_account_id if op.source else None,
        }
    raise ValueError(f"unexpected operation {op!r}")


def describe(env):
    tx = env.transaction
    tb = tx.preconditions.time_bounds if tx.preconditions else None
    return {
        "source": tx.source.universal_account_id,
        "sequence": str(tx.sequence),
        "fee": tx.fee,
        "min_time": tb.min_time if tb else None,
        "max_time": tb.max_time if tb else None,
        "memo": memo(tx.memo),
        "signatures": len(env.signatures),
        "operations": [operation(op) for op in tx.operations],
    }


def main():
    xdr, uri, passphrase = sys.argv[1:4]
    env = TransactionEnvelope.from_xdr(xdr, passphrase)
    parsed = TransactionStellarUri.from_uri(uri, passphrase)
    print(
        json.dumps(
            {
                "envelope": describe(env),
                "hash": env.hash_hex(),
                "uri": {
                    "envelope": describe(parsed.transaction_envelope),
                    "same_xdr": parsed.transaction_envelope.to_xdr() == xdr,
                    "network_passphrase": parsed.network_passphrase,
                    "msg": parsed.msg,
                },
            }
        )
    )


main()
