//! What a page is true as of: the client returns each payments page with the ledger the source
//! had ingested when it served it (Horizon's `Latest-Ledger` header, which the simulator sends
//! on every REST response), and reads a ledger's close time by its sequence.

mod common;

use common::fast_config;
use orbitpay_core::Asset;
use orbitpay_horizon::{HorizonSource, LedgerSource, SourceError};
use orbitpay_horizon_sim::{HorizonSim, Op, RouteKind, Tx, derive_account, stroops};

#[tokio::test]
async fn a_page_carries_the_latest_ledger_it_was_served_at_and_a_ledger_its_close_time() {
    let sim = HorizonSim::with_seed(5);
    let (shop, payer) = (derive_account(5, 0), derive_account(5, 1));
    sim.register_account(shop);
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    let source = HorizonSource::new(fast_config(server.base_url())).unwrap();
    let paid = sim.close_ledger(vec![Tx::new(payer).op(Op::payment(
        payer,
        shop,
        Asset::Native,
        stroops(5),
    ))]);
    sim.close_empty_ledgers(3);
    let latest = sim.latest_ledger();

    let page = source.payments_page(&shop, 0, 200).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.latest_ledger, Some(latest));
    let empty = source
        .payments_page(&shop, page.records[0].as_ref().unwrap().op_id, 200)
        .await
        .unwrap();
    assert!(empty.records.is_empty());
    assert_eq!(empty.latest_ledger, Some(latest));
    assert_eq!(sim.request_count(RouteKind::AccountPayments), 2);

    let closed = chrono::DateTime::parse_from_rfc3339(&paid.closed_at)
        .unwrap()
        .timestamp();
    assert_eq!(source.ledger_closed_at(paid.sequence).await, Ok(closed));
    assert_eq!(
        source.ledger_closed_at(latest).await,
        Ok(closed + 5 * 3),
        "ledgers close 5 s apart"
    );
    assert!(matches!(
        source.ledger_closed_at(latest + 1).await,
        Err(SourceError::NotFound { problem: true, .. })
    ));
}
