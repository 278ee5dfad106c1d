//! `SolanaChainReader` against a real local cluster (Surfnet): payments made by
//! `@solana/web3.js` to deposit owners are read per account as transfer logs, once each, with
//! the payer, the amount and the slot; a failed transaction, a deposit nobody watches and
//! another mint give nothing; a range that ends before a payment leaves it for the next one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{
    ChainError, ChainReader, TransferLog, WatchedDeposit, WatchedDeposits,
};
use wcheckout_solana::address::SolanaAddress;
use wcheckout_solana::reader::SolanaChainReader;
use wcheckout_solana::rpc::{Commitment, SolanaRpc};
use wcheckout_solana::surfnet::{MintSpec, Setup, Surfnet};
use wcheckout_testkit::node_tools::tools_available;

/// A watch list the test sets.
#[derive(Default)]
struct Watching(Mutex<Vec<WatchedDeposit>>);

#[async_trait]
impl WatchedDeposits for Watching {
    async fn watched_deposits(&self) -> Result<Vec<WatchedDeposit>, ChainError> {
        Ok(self.0.lock().unwrap().clone())
    }
}

fn owner(byte: u8) -> SolanaAddress {
    wcheckout_solana::keys::Keypair::from_secret(&[byte; 32]).address()
}

async fn finalized_past(node: &Surfnet, slot: u64) -> u64 {
    for _ in 0..600 {
        let finalized = node.slot("finalized").await.unwrap();
        if finalized >= slot {
            return finalized;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("slot {slot} not finalized in 30 s");
}

#[tokio::test]
async fn payments_to_watched_accounts_are_read_once_with_their_payer() {
    if !tools_available(
        "the Solana detection test",
        &[wcheckout_solana::surfnet::PACKAGE],
        true,
    ) {
        return;
    }
    let setup = Setup {
        mints: vec![MintSpec { decimals: 6 }, MintSpec { decimals: 6 }],
        payers: 2,
        balance: "1000000000".into(),
        fund: Vec::new(),
    };
    let node = Surfnet::start(&setup).await.unwrap();
    let (usdc, other) = (node.mints[0], node.mints[1]);
    let (alice, bob, stranger) = (owner(1), owner(2), owner(3));
    let watching = Arc::new(Watching::default());
    *watching.0.lock().unwrap() = [alice, bob]
        .iter()
        .map(|o| WatchedDeposit {
            address: Address::Solana(*o),
            contract: Address::Solana(usdc),
        })
        .collect();
    let rpc = SolanaRpc::new(&[node.rpc_url.clone()], Duration::from_secs(5)).unwrap();
    let reader = SolanaChainReader::new(
        Arc::new(rpc),
        Commitment::Finalized,
        Some(Arc::clone(&watching) as Arc<dyn WatchedDeposits>),
    );
    let contracts = [Address::Solana(usdc)];
    let start = reader.head().await.unwrap().number;
    // Nothing paid yet: nothing read (and the accounts' amounts are remembered as 0).
    assert!(
        reader
            .transfer_logs(&contracts, start, start)
            .await
            .unwrap()
            .is_empty()
    );

    let paid = node
        .pay(0, &usdc, &alice.to_string(), 12_500_000)
        .await
        .unwrap();
    let twice = node
        .pay(1, &usdc, &bob.to_string(), 1_000_000)
        .await
        .unwrap();
    let again = node
        .pay(0, &usdc, &bob.to_string(), 2_000_000)
        .await
        .unwrap();
    let failed = node
        .pay_and_fail(1, &usdc, &alice.to_string())
        .await
        .unwrap();
    node.pay(0, &usdc, &stranger.to_string(), 5).await.unwrap();
    node.pay(0, &other, &alice.to_string(), 7).await.unwrap();
    let confirmed = node.slot("confirmed").await.unwrap();
    let head = finalized_past(&node, confirmed).await;

    let logs = reader
        .transfer_logs(&contracts, start + 1, head)
        .await
        .unwrap();
    let summary = |logs: &[TransferLog]| {
        logs.iter()
            .map(|l| (l.tx_hash.clone(), l.to, l.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        summary(&logs),
        [
            (paid.clone(), Address::Solana(alice), Some(12_500_000)),
            (twice.clone(), Address::Solana(bob), Some(1_000_000)),
            (again.clone(), Address::Solana(bob), Some(2_000_000)),
        ],
        "the failed transfer ({failed}), the stranger and the other mint give nothing"
    );
    let first = &logs[0];
    assert_eq!(first.from, Address::Solana(node.payers[0]), "the payer");
    assert_eq!(logs[1].from, Address::Solana(node.payers[1]));
    assert_eq!(first.contract, Address::Solana(usdc));
    assert!((start + 1..=head).contains(&first.block_number));
    assert!(first.block_time.is_some());
    let block = reader.blocks(&[first.block_number]).await.unwrap();
    assert_eq!(block[0].hash, first.block_hash, "the block's own hash");

    // Read again (a rescan): the same observations, under the same keys.
    let again_logs = reader
        .transfer_logs(&contracts, start + 1, head)
        .await
        .unwrap();
    assert_eq!(again_logs, logs);
    let keys = logs
        .iter()
        .map(|l| (l.tx_hash.clone(), l.log_index))
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        keys.len(),
        logs.len(),
        "(signature, account index) is unique"
    );

    // A payment after a range's end: that range changes the account's amount but lists
    // nothing past its end; the next range reads it.
    let late = node
        .pay(1, &usdc, &alice.to_string(), 3_000_000)
        .await
        .unwrap();
    let early = reader
        .transfer_logs(&contracts, head + 1, head + 1)
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    let confirmed = node.slot("confirmed").await.unwrap();
    let later = finalized_past(&node, confirmed).await;
    let next = reader
        .transfer_logs(&contracts, head + 2, later)
        .await
        .unwrap();
    assert_eq!(
        summary(&next),
        [(late, Address::Solana(alice), Some(3_000_000))]
    );
    node.stop().await;
}
