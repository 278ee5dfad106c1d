//! The devnet's test stablecoin (`contracts/TestStablecoin.sol`, a minimal ERC-20 whose
//! deployer can mint): deploy it, mint, transfer and read balances.
//!
//! Transactions are signed locally with the given private key and sent raw; the node never
//! holds a key. Every call that sends a transaction waits for its receipt and fails when the
//! transaction reverts.

use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, TxHash, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::money::TokenAmount;

sol!(
    #[sol(rpc)]
    TestStablecoin,
    "../../contracts/out/TestStablecoin.json"
);

use TestStablecoin::TestStablecoinErrors;

/// Longest wait for a sent transaction's receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a stablecoin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StablecoinError {
    /// The RPC URL does not parse.
    #[error("'{0}' is not a valid RPC URL")]
    BadUrl(String),
    /// The private key does not parse.
    #[error("the private key is not 32 bytes of hex")]
    BadKey,
    /// The node refused or failed the request (unreachable, bad nonce, ...).
    #[error("{action} failed: {reason}")]
    Rpc {
        /// What was attempted.
        action: &'static str,
        /// The node's or transport's answer.
        reason: String,
    },
    /// The contract reverted (checked before sending, or in the mined transaction).
    #[error("{action} reverted: {reason}")]
    Reverted {
        /// What was attempted.
        action: &'static str,
        /// The decoded contract error, or what is known.
        reason: String,
    },
    /// A value from the chain does not fit the domain type.
    #[error("{0}")]
    Unexpected(String),
}

/// Deploys a new token from `deployer_key` (who alone may mint) and returns its address.
pub async fn deploy(
    rpc_url: &str,
    deployer_key: &str,
    name: &str,
    symbol: &str,
    decimals: u8,
) -> Result<EvmAddress, StablecoinError> {
    const ACTION: &str = "deploying the token";
    let provider = signing_provider(rpc_url, deployer_key)?;
    let builder =
        TestStablecoin::deploy_builder(&provider, name.to_owned(), symbol.to_owned(), decimals);
    let pending = builder
        .send()
        .await
        .map_err(|e| contract_error(ACTION, e))?;
    let receipt = confirmed(ACTION, pending).await?;
    let address = receipt
        .contract_address
        .ok_or_else(|| StablecoinError::Unexpected(format!("{ACTION}: no contract address")))?;
    Ok(from_alloy(address))
}

/// Mints `amount` of `token` to `to`; `minter_key` must be the deployer's. Returns the tx hash.
pub async fn mint(
    rpc_url: &str,
    minter_key: &str,
    token: EvmAddress,
    to: EvmAddress,
    amount: TokenAmount,
) -> Result<String, StablecoinError> {
    let hashes = mint_to_each(rpc_url, minter_key, token, &[to], amount).await?;
    hashes
        .into_iter()
        .next()
        .ok_or_else(|| StablecoinError::Unexpected("minting sent no transaction".into()))
}

/// Mints `amount` of `token` to each recipient: sends every transaction, then waits for all
/// receipts (one block with interval mining, instead of one per recipient). Returns the hashes.
pub async fn mint_to_each(
    rpc_url: &str,
    minter_key: &str,
    token: EvmAddress,
    recipients: &[EvmAddress],
    amount: TokenAmount,
) -> Result<Vec<String>, StablecoinError> {
    const ACTION: &str = "minting";
    let provider = signing_provider(rpc_url, minter_key)?;
    let contract = TestStablecoin::new(to_alloy(token), &provider);
    let mut pending = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let call = contract.mint(to_alloy(*recipient), to_u256(amount));
        pending.push(call.send().await.map_err(|e| contract_error(ACTION, e))?);
    }
    let mut hashes = Vec::with_capacity(pending.len());
    for transaction in pending {
        let receipt = confirmed(ACTION, transaction).await?;
        hashes.push(hash_text(receipt.transaction_hash));
    }
    Ok(hashes)
}

/// Sends `amount` of `token` from the owner of `from_key` to `to`. Returns the tx hash once
/// mined; a transfer the contract refuses (over balance, to the zero address) is an error.
pub async fn transfer(
    rpc_url: &str,
    from_key: &str,
    token: EvmAddress,
    to: EvmAddress,
    amount: TokenAmount,
) -> Result<String, StablecoinError> {
    const ACTION: &str = "the transfer";
    let provider = signing_provider(rpc_url, from_key)?;
    let contract = TestStablecoin::new(to_alloy(token), &provider);
    let call = contract.transfer(to_alloy(to), to_u256(amount));
    let pending = call.send().await.map_err(|e| contract_error(ACTION, e))?;
    let receipt = confirmed(ACTION, pending).await?;
    Ok(hash_text(receipt.transaction_hash))
}

/// The balance of `owner` in `token`.
pub async fn balance_of(
    rpc_url: &str,
    token: EvmAddress,
    owner: EvmAddress,
) -> Result<TokenAmount, StablecoinError> {
    const ACTION: &str = "reading the balance";
    let provider = read_provider(rpc_url)?;
    let contract = TestStablecoin::new(to_alloy(token), &provider);
    let balance = contract
        .balanceOf(to_alloy(owner))
        .call()
        .await
        .map_err(|e| contract_error(ACTION, e))?;
    u128::try_from(balance)
        .map(TokenAmount::from_base_units)
        .map_err(|_| StablecoinError::Unexpected(format!("balance {balance} exceeds 128 bits")))
}

/// Sends `wei` of the chain's coin from the owner of `from_key` to `to` (devnet gas money).
/// Returns the tx hash once mined.
pub async fn send_native(
    rpc_url: &str,
    from_key: &str,
    to: EvmAddress,
    wei: u128,
) -> Result<String, StablecoinError> {
    const ACTION: &str = "sending coin";
    let provider = signing_provider(rpc_url, from_key)?;
    let request = alloy::rpc::types::TransactionRequest::default()
        .to(to_alloy(to))
        .value(U256::from(wei));
    let pending = provider
        .send_transaction(request)
        .await
        .map_err(|e| StablecoinError::Rpc {
            action: ACTION,
            reason: e.to_string(),
        })?;
    let receipt = confirmed(ACTION, pending).await?;
    Ok(hash_text(receipt.transaction_hash))
}

/// The anvil account of an address of any secp256k1 family: the devnet's chains, TRON's
/// stand-in included, all run on anvil, where an address is its 20 account bytes. A Solana
/// address has no anvil account: it gives the zero account, which holds nothing and to which
/// the test stablecoin refuses to mint or transfer, so a mix-up fails loudly on the chain.
pub fn anvil_account(address: &wcheckout_domain::address::Address) -> EvmAddress {
    address
        .account_bytes()
        .map_or(EvmAddress::ZERO, EvmAddress::from_bytes)
}

/// What `owner` holds of the chain's coin, wei.
pub async fn native_balance(rpc_url: &str, owner: EvmAddress) -> Result<u128, StablecoinError> {
    let provider = read_provider(rpc_url)?;
    let wei = provider
        .get_balance(to_alloy(owner))
        .await
        .map_err(|e| StablecoinError::Rpc {
            action: "reading the coin balance",
            reason: e.to_string(),
        })?;
    u128::try_from(wei)
        .map_err(|_| StablecoinError::Unexpected(format!("balance {wei} exceeds 128 bits")))
}

/// Whether `address` holds contract code.
pub async fn has_code(rpc_url: &str, address: EvmAddress) -> Result<bool, StablecoinError> {
    let provider = read_provider(rpc_url)?;
    let code = provider
        .get_code_at(to_alloy(address))
        .await
        .map_err(|e| StablecoinError::Rpc {
            action: "reading contract code",
            reason: e.to_string(),
        })?;
    Ok(!code.is_empty())
}

/// The EVM address of a private key.
pub fn address_of_key(private_key: &str) -> Result<EvmAddress, StablecoinError> {
    let signer: PrivateKeySigner = private_key.parse().map_err(|_| StablecoinError::BadKey)?;
    Ok(from_alloy(signer.address()))
}

fn signing_provider(rpc_url: &str, private_key: &str) -> Result<DynProvider, StablecoinError> {
    let signer: PrivateKeySigner = private_key.parse().map_err(|_| StablecoinError::BadKey)?;
    let url = rpc_url
        .parse()
        .map_err(|_| StablecoinError::BadUrl(rpc_url.to_owned()))?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url);
    Ok(provider.erased())
}

fn read_provider(rpc_url: &str) -> Result<DynProvider, StablecoinError> {
    let url = rpc_url
        .parse()
        .map_err(|_| StablecoinError::BadUrl(rpc_url.to_owned()))?;
    Ok(ProviderBuilder::new().connect_http(url).erased())
}

/// Waits for the receipt; a mined transaction that reverted is an error.
async fn confirmed(
    action: &'static str,
    pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
) -> Result<TransactionReceipt, StablecoinError> {
    let receipt = pending
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|e| StablecoinError::Rpc {
            action,
            reason: e.to_string(),
        })?;
    if receipt.status() {
        Ok(receipt)
    } else {
        Err(StablecoinError::Reverted {
            action,
            reason: format!("transaction {}", hash_text(receipt.transaction_hash)),
        })
    }
}

/// Names the contract's custom error when the node reports one (gas estimation runs the call
/// first, so a transfer over balance fails here, before anything is signed).
fn contract_error(action: &'static str, error: alloy::contract::Error) -> StablecoinError {
    match error.as_decoded_interface_error::<TestStablecoinErrors>() {
        Some(decoded) => StablecoinError::Reverted {
            action,
            reason: describe(&decoded),
        },
        None if error.as_revert_data().is_some() => StablecoinError::Reverted {
            action,
            reason: error.to_string(),
        },
        None => StablecoinError::Rpc {
            action,
            reason: error.to_string(),
        },
    }
}

fn describe(error: &TestStablecoinErrors) -> String {
    match error {
        TestStablecoinErrors::NotMinter(e) => {
            format!("{} is not the token's minter", e.caller)
        }
        TestStablecoinErrors::ZeroAddress(_) => "the zero address is not allowed".into(),
        TestStablecoinErrors::InsufficientBalance(e) => format!(
            "{} holds {} base units, {} needed",
            e.account, e.balance, e.needed
        ),
        TestStablecoinErrors::InsufficientAllowance(e) => format!(
            "{} may spend {} base units, {} needed",
            e.spender, e.allowance, e.needed
        ),
    }
}

fn to_alloy(address: EvmAddress) -> Address {
    Address::from(*address.as_bytes())
}

fn from_alloy(address: Address) -> EvmAddress {
    EvmAddress::from_bytes(address.into_array())
}

fn to_u256(amount: TokenAmount) -> U256 {
    U256::from(amount.base_units())
}

fn hash_text(hash: TxHash) -> String {
    format!("{hash:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_cross_the_boundary_unchanged() {
        let address = EvmAddress::parse("0x5FbDB2315678afecb367f032d93F642f64180aa3").unwrap();
        assert_eq!(from_alloy(to_alloy(address)), address);
        assert_eq!(
            to_alloy(address).to_checksum(None),
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        );
    }

    #[test]
    fn hashes_are_lower_hex_with_prefix() {
        let hash = TxHash::repeat_byte(0xab);
        assert_eq!(hash_text(hash), format!("0x{}", "ab".repeat(32)));
    }

    #[test]
    fn keys_give_their_addresses() {
        let key = crate::anvil::DEV_PRIVATE_KEYS[0];
        let address = address_of_key(key).unwrap();
        assert_eq!(address.to_checksum(), crate::anvil::DEV_ACCOUNTS[0]);
        assert!(matches!(
            address_of_key("0x12"),
            Err(StablecoinError::BadKey)
        ));
    }

    #[test]
    fn the_artifact_carries_the_bytecode() {
        assert!(TestStablecoin::BYTECODE.len() > 1000);
    }
}
