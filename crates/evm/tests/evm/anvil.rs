//! The devnet pieces against a real anvil node (installed by `npm ci`): spawning, the test
//! stablecoin's deployment addresses, mint, transfer, balances, reverts, and stopping.

use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::money::TokenAmount;
use wcheckout_evm::anvil::{Anvil, AnvilError, AnvilOptions, DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::stablecoin::{self, StablecoinError};

/// `wcheckout::config::DEVNET_USDT`: the first contract dev account 0 deploys.
const DEVNET_USDT: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
/// `wcheckout::config::DEVNET_USDC`: the second one.
const DEVNET_USDC: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";

fn account(index: usize) -> EvmAddress {
    EvmAddress::parse(DEV_ACCOUNTS[index]).unwrap()
}

fn tokens(amount: u128) -> TokenAmount {
    TokenAmount::from_base_units(amount * 1_000_000)
}

fn answers(address: std::net::SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
}

fn spawn() -> Anvil {
    Anvil::spawn(&AnvilOptions::default()).expect("anvil starts (run `npm ci` first)")
}

async fn deploy_both(rpc_url: &str) -> (EvmAddress, EvmAddress) {
    let key = DEV_PRIVATE_KEYS[0];
    let usdt = stablecoin::deploy(rpc_url, key, "Tether USD", "USDT", 6)
        .await
        .unwrap();
    let usdc = stablecoin::deploy(rpc_url, key, "USD Coin", "USDC", 6)
        .await
        .unwrap();
    (usdt, usdc)
}

#[tokio::test]
async fn tokens_land_at_the_sandbox_addresses_and_move() {
    let anvil = spawn();
    let rpc = anvil.rpc_url();
    assert_eq!(anvil.chain_id(), 31337);
    assert!(rpc.starts_with("http://127.0.0.1:"), "{rpc}");
    assert_eq!(anvil.ws_url(), rpc.replace("http://", "ws://"));

    let (usdt, usdc) = deploy_both(&rpc).await;
    assert_eq!(usdt.to_checksum(), DEVNET_USDT);
    assert_eq!(usdc.to_checksum(), DEVNET_USDC);
    assert!(stablecoin::has_code(&rpc, usdt).await.unwrap());
    assert!(!stablecoin::has_code(&rpc, account(1)).await.unwrap());

    let minter = DEV_PRIVATE_KEYS[0];
    let payer = account(1);
    let mint_hash = stablecoin::mint(&rpc, minter, usdt, payer, tokens(1_000))
        .await
        .unwrap();
    assert_eq!(mint_hash.len(), 66, "{mint_hash}");
    assert_eq!(
        stablecoin::balance_of(&rpc, usdt, payer).await.unwrap(),
        tokens(1_000)
    );
    assert_eq!(
        stablecoin::balance_of(&rpc, usdc, payer).await.unwrap(),
        TokenAmount::ZERO
    );

    let deposit = account(7);
    let amount = TokenAmount::from_base_units(123_450_000);
    let hash = stablecoin::transfer(&rpc, DEV_PRIVATE_KEYS[1], usdt, deposit, amount)
        .await
        .unwrap();
    assert!(hash.starts_with("0x") && hash.len() == 66, "{hash}");
    assert_ne!(hash, mint_hash);
    assert_eq!(
        stablecoin::balance_of(&rpc, usdt, deposit).await.unwrap(),
        amount
    );
    assert_eq!(
        stablecoin::balance_of(&rpc, usdt, payer).await.unwrap(),
        tokens(1_000).checked_sub(amount).unwrap()
    );
}

#[tokio::test]
async fn refused_calls_are_errors() {
    let anvil = spawn();
    let rpc = anvil.rpc_url();
    let (usdt, _) = deploy_both(&rpc).await;
    let payer_key = DEV_PRIVATE_KEYS[2];
    stablecoin::mint(&rpc, DEV_PRIVATE_KEYS[0], usdt, account(2), tokens(5))
        .await
        .unwrap();

    let over = stablecoin::transfer(&rpc, payer_key, usdt, account(3), tokens(6)).await;
    match over {
        Err(StablecoinError::Reverted { reason, .. }) => {
            assert!(
                reason.contains("5000000 base units, 6000000 needed"),
                "{reason}"
            )
        }
        other => panic!("an over-balance transfer must revert, got {other:?}"),
    }
    let burn = stablecoin::transfer(&rpc, payer_key, usdt, EvmAddress::ZERO, tokens(1)).await;
    assert!(
        matches!(burn, Err(StablecoinError::Reverted { .. })),
        "{burn:?}"
    );
    let not_minter = stablecoin::mint(&rpc, payer_key, usdt, account(2), tokens(1)).await;
    match not_minter {
        Err(StablecoinError::Reverted { reason, .. }) => {
            assert!(reason.contains("is not the token's minter"), "{reason}")
        }
        other => panic!("only the deployer may mint, got {other:?}"),
    }
    assert_eq!(
        stablecoin::balance_of(&rpc, usdt, account(2))
            .await
            .unwrap(),
        tokens(5)
    );
}

#[test]
fn dropping_the_handle_stops_the_node() {
    let anvil = spawn();
    let address = anvil.address();
    let pid = anvil.pid();
    assert!(answers(address));
    drop(anvil);
    assert!(!answers(address), "anvil still listens on {address}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "anvil process {pid} still exists"
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let first = spawn();
    let options = AnvilOptions {
        port: first.port(),
        ..AnvilOptions::default()
    };
    match Anvil::spawn(&options) {
        Err(error @ AnvilError::PortInUse { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&first.port().to_string()), "{message}");
            assert!(message.contains("already in use"), "{message}");
        }
        other => panic!("expected PortInUse, got {other:?}"),
    }
}

#[test]
fn a_missing_binary_is_a_clear_error() {
    let options = AnvilOptions {
        binary: Some("/nonexistent/anvil".into()),
        ..AnvilOptions::default()
    };
    let error = Anvil::spawn(&options).unwrap_err();
    assert!(error.to_string().contains("/nonexistent/anvil"), "{error}");
}

#[tokio::test]
async fn a_state_file_keeps_the_chain_across_restarts() {
    let dir = std::env::temp_dir().join(format!("wcheckout-anvil-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let options = AnvilOptions {
        state_file: Some(dir.join("state.json")),
        block_time: Some(Duration::from_millis(200)),
        ..AnvilOptions::default()
    };
    let anvil = Anvil::spawn(&options).unwrap();
    let (usdt, _) = deploy_both(&anvil.rpc_url()).await;
    stablecoin::mint(
        &anvil.rpc_url(),
        DEV_PRIVATE_KEYS[0],
        usdt,
        account(4),
        tokens(7),
    )
    .await
    .unwrap();
    anvil.stop();

    let again = Anvil::spawn(&options).unwrap();
    let balance = stablecoin::balance_of(&again.rpc_url(), usdt, account(4)).await;
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(balance.unwrap(), tokens(7));
}
