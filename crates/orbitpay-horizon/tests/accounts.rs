//! `LedgerSource::account` against the simulator's `GET /accounts/{id}`: the sequence number
//! a merchant's next transaction builds on, trustlines with their room, and a missing account
//! told apart from an unavailable Horizon.

mod common;

use common::fast_config;
use orbitpay_core::{Amount, Asset};
use orbitpay_horizon::{AccountLookup, HorizonSource, LedgerSource};
use orbitpay_horizon_sim::{Fault, HorizonSim, Op, RouteKind, Tx, derive_account, units};

fn usdc() -> Asset {
    Asset::Credit {
        code: "USDC".parse().unwrap(),
        issuer: derive_account(5, 99),
    }
}

fn found(l: AccountLookup) -> orbitpay_horizon::AccountInfo {
    match l {
        AccountLookup::Found(info) => info,
        other => panic!("expected an account, got {other:?}"),
    }
}

#[tokio::test]
async fn the_sequence_number_moves_when_the_account_sends_a_transaction() {
    let sim = HorizonSim::with_seed(5);
    let shop = derive_account(5, 0);
    let payer = derive_account(5, 1);
    sim.register_account(shop);
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    let source = HorizonSource::new(fast_config(server.base_url())).unwrap();

    let before = found(source.account(&shop).await);
    assert_eq!(before.account, shop);
    assert_eq!(before.sequence, sim.account_sequence(&shop).unwrap());
    // Receiving does not move it; sending does, by one per transaction.
    sim.close_ledger(vec![Tx::new(payer).op(Op::payment(
        payer,
        shop,
        Asset::Native,
        units(3),
    ))]);
    assert_eq!(found(source.account(&shop).await).sequence, before.sequence);
    sim.close_ledger(vec![
        Tx::new(shop).op(Op::payment(shop, payer, Asset::Native, units(1))),
        Tx::new(shop).op(Op::payment(shop, payer, Asset::Native, units(1))),
    ]);
    assert_eq!(
        found(source.account(&shop).await).sequence,
        before.sequence + 2
    );
    server.shutdown().await;
}

#[tokio::test]
async fn trustlines_come_with_their_room_and_native_always_has_room() {
    let sim = HorizonSim::with_seed(6);
    let with_room = derive_account(6, 1);
    let full = derive_account(6, 2);
    let without = derive_account(6, 3);
    sim.set_trustline(with_room, usdc(), units(10), Some(units(25)));
    sim.set_trustline(full, usdc(), units(25), Some(units(25)));
    sim.set_native_balance(without, units(2));
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    let source = HorizonSource::new(fast_config(server.base_url())).unwrap();

    let a = found(source.account(&with_room).await);
    assert_eq!(a.room_for(&usdc()), Some(units(15)));
    assert!(a.room_for(&Asset::Native).is_some());
    let b = found(source.account(&full).await);
    assert_eq!(b.room_for(&usdc()), Some(Amount::ZERO));
    let c = found(source.account(&without).await);
    assert_eq!(c.room_for(&usdc()), None);
    let native = c
        .balances
        .iter()
        .find(|b| b.asset == Asset::Native)
        .unwrap();
    assert_eq!((native.balance, native.limit), (units(2), None));
    server.shutdown().await;
}

#[tokio::test]
async fn a_missing_account_is_not_found_and_a_failing_horizon_is_unavailable() {
    let sim = HorizonSim::with_seed(7);
    let gone = derive_account(7, 1);
    let known = derive_account(7, 2);
    sim.register_account(gone);
    sim.register_account(known);
    sim.remove_account(gone);
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    let source = HorizonSource::new(fast_config(server.base_url())).unwrap();

    assert_eq!(
        source.account(&derive_account(7, 50)).await,
        AccountLookup::NotFound
    );
    assert_eq!(source.account(&gone).await, AccountLookup::NotFound);
    sim.inject_for(RouteKind::Account, Fault::Status5xx(503));
    assert!(matches!(
        source.account(&known).await,
        AccountLookup::Unavailable(_)
    ));
    assert!(matches!(
        source.account(&known).await,
        AccountLookup::Found(_)
    ));
    server.shutdown().await;
}
