//! Reading TRON through its Ethereum-compatible JSON-RPC, as the watcher does: the EVM reader
//! with TRON's address family, against the stand-in's `/jsonrpc`, which refuses what java-tron
//! refuses (more than 5,000 blocks, or more than the result limit, in one `eth_getLogs`).

use std::time::Duration;

use wcheckout_domain::address::{Address, ChainFamily, TronAddress};
use wcheckout_domain::chain::ChainReader;
use wcheckout_domain::money::TokenAmount;
use wcheckout_evm::anvil::{self, Anvil, AnvilOptions, DEV_PRIVATE_KEYS};
use wcheckout_evm::reader::EvmChainReader;
use wcheckout_evm::stablecoin;
use wcheckout_testkit::node_tools::tools_available;
use wcheckout_tron::standin::{LogLimits, Standin};

/// java-tron's refusals, at limits small enough to meet in a few blocks.
const LIMITS: LogLimits = LogLimits {
    blocks: 4,
    results: 3,
};
const TRANSFERS: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_refused_for_its_size_is_read_in_halves_in_tron_form() {
    if !tools_available(
        "the TRON JSON-RPC test",
        &["tronweb"],
        anvil::find_binary().is_ok(),
    ) {
        return;
    }
    let anvil = Anvil::spawn(&AnvilOptions::default()).expect("anvil starts");
    let standin = Standin::spawn_with_log_limits(&anvil.rpc_url(), LIMITS).unwrap();
    let rpc = anvil.rpc_url();
    let token = stablecoin::deploy(&rpc, DEV_PRIVATE_KEYS[0], "Tether USD", "USDT", 6)
        .await
        .unwrap();
    let recipient = TronAddress::from_bytes([0x42; 20]);
    let from_block = head(&rpc).await + 1;
    let mut hashes = Vec::new();
    for i in 1..=TRANSFERS {
        let amount = TokenAmount::from_base_units(u128::from(i));
        // One block each (anvil mines every transaction at once).
        let hash = stablecoin::mint(&rpc, DEV_PRIVATE_KEYS[0], token, recipient.to_evm(), amount)
            .await
            .unwrap();
        hashes.push(hash);
    }
    let to_block = head(&rpc).await;
    let reader = EvmChainReader::new(
        "TRX",
        &[standin.jsonrpc_url()],
        None,
        Duration::from_secs(5),
    )
    .unwrap()
    .with_family(ChainFamily::Tron);
    let contract = Address::Tron(TronAddress::from_evm(token));
    let logs = reader
        .transfer_logs(&[contract], from_block, to_block)
        .await
        .expect("the reader splits the refused range");
    assert_eq!(logs.len() as u64, TRANSFERS, "every transfer, once");
    let amounts: Vec<u128> = logs.iter().filter_map(|log| log.value).collect();
    assert_eq!(
        amounts,
        (1..=u128::from(TRANSFERS)).collect::<Vec<_>>(),
        "in chain order"
    );
    for (log, hash) in logs.iter().zip(&hashes) {
        assert_eq!(log.to, Address::Tron(recipient));
        assert_eq!(log.contract, contract);
        assert!(log.to.to_string().starts_with('T'), "{}", log.to);
        assert_eq!(
            &log.tx_hash,
            hash.trim_start_matches("0x"),
            "TRON txIDs have no 0x"
        );
    }
    // java-tron's block-range refusal (here more than 4 blocks), answered the same way.
    let whole = reader
        .transfer_logs(&[contract], 0, to_block)
        .await
        .expect("a range of more than 5,000 blocks is read in parts");
    assert_eq!(whole, logs);
}

async fn rpc_call(rpc_url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let request =
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let answer: serde_json::Value = reqwest::Client::new()
        .post(rpc_url)
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["result"].clone()
}

async fn head(rpc_url: &str) -> u64 {
    let number = rpc_call(rpc_url, "eth_blockNumber", serde_json::json!([])).await;
    u64::from_str_radix(number.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}
