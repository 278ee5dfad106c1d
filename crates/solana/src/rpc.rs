//! Solana's JSON-RPC over HTTP: the calls detection needs, with failover across the configured
//! endpoints. A transport failure, a timeout, `429` or a `5xx` moves on to the next endpoint;
//! an answer with a JSON-RPC `error` is the node's word and is returned as it is (a skipped
//! slot, a context slot not reached yet). Endpoint URLs may carry a provider's key, so errors
//! name an endpoint by its position, never by its URL.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::address::SolanaAddress;

/// The commitment a read is made at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commitment {
    /// Voted on by a supermajority; rolled back only in rare forks.
    Confirmed,
    /// Rooted: never rolled back.
    Finalized,
}

impl Commitment {
    fn as_str(self) -> &'static str {
        match self {
            Commitment::Confirmed => "confirmed",
            Commitment::Finalized => "finalized",
        }
    }
}

/// A call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// No endpoint answered.
    #[error("every Solana endpoint failed: {0}")]
    Unavailable(String),
    /// The node answered with a JSON-RPC error.
    #[error("the Solana node refused {method}: {code} {message}")]
    Node {
        /// The method called.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// The node's message.
        message: String,
        /// The error's `data` (a failed preflight's `err`, say), when it has one.
        data: Option<Value>,
    },
    /// The answer was not what Solana's documentation describes.
    #[error("the Solana node answered {method} unexpectedly: {detail}")]
    Invalid {
        /// The method called.
        method: String,
        /// What was wrong.
        detail: String,
    },
}

/// The node says this slot has no block: skipped by its leader (`-32007`, `-32009`).
const SLOT_SKIPPED: [i64; 2] = [-32007, -32009];

/// Most accounts `getMultipleAccounts` takes in one call.
pub const ACCOUNTS_PER_CALL: usize = 100;

/// Most signatures `getSignaturesForAddress` returns in one call.
pub const SIGNATURES_PER_CALL: usize = 1000;

/// A Solana JSON-RPC client over one or more endpoints.
pub struct SolanaRpc {
    http: reqwest::Client,
    urls: Vec<String>,
    /// The endpoint that answered last: tried first.
    preferred: AtomicUsize,
    calls: AtomicUsize,
}

impl std::fmt::Debug for SolanaRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolanaRpc")
            .field("endpoints", &self.urls.len())
            .finish_non_exhaustive()
    }
}

/// A block's identity (`getBlock` without transactions).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockHeader {
    /// The block's hash (base58).
    pub blockhash: String,
    /// Its parent's hash.
    pub previous_blockhash: String,
    /// Its parent's slot.
    pub parent_slot: u64,
}

/// One entry of `getSignaturesForAddress`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureInfo {
    /// The transaction's first signature (its id).
    pub signature: String,
    /// The slot it is in.
    pub slot: u64,
    /// Why it failed; `None` when it succeeded.
    pub err: Option<Value>,
}

/// A transaction as `getTransaction` (`json` encoding) reports it: the parts detection reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionInfo {
    /// The slot it is in.
    pub slot: u64,
    /// Its block's time, seconds since the epoch.
    pub block_time: Option<i64>,
    /// Status and balances.
    pub meta: Option<TransactionMeta>,
    /// The message's accounts.
    pub transaction: TransactionBody,
}

/// `meta` of a transaction.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionMeta {
    /// Why it failed; `None` when it succeeded.
    pub err: Option<Value>,
    /// Token balances before it.
    #[serde(default)]
    pub pre_token_balances: Vec<TokenBalance>,
    /// Token balances after it.
    #[serde(default)]
    pub post_token_balances: Vec<TokenBalance>,
    /// Accounts loaded from lookup tables (v0 transactions).
    #[serde(default)]
    pub loaded_addresses: Option<LoadedAddresses>,
    /// Every account's lamports before it, in the order of the account keys (the fee payer
    /// first).
    #[serde(default)]
    pub pre_balances: Vec<u64>,
    /// Their lamports after it.
    #[serde(default)]
    pub post_balances: Vec<u64>,
}

/// Accounts a v0 transaction loaded from lookup tables.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct LoadedAddresses {
    /// Writable ones, after the message's own keys.
    #[serde(default)]
    pub writable: Vec<String>,
    /// Read-only ones, after the writable ones.
    #[serde(default)]
    pub readonly: Vec<String>,
}

/// A token account's balance in a transaction's `meta`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenBalance {
    /// The account's index in the transaction's account keys.
    pub account_index: usize,
    /// The mint.
    pub mint: String,
    /// The account's owner.
    pub owner: Option<String>,
    /// The amount.
    pub ui_token_amount: UiTokenAmount,
}

/// A token amount as the node prints it; only the exact base-unit string is read.
#[derive(Clone, Debug, Deserialize)]
pub struct UiTokenAmount {
    /// Base units, as a decimal string.
    pub amount: String,
}

/// The transaction part of `getTransaction`.
#[derive(Clone, Debug, Deserialize)]
pub struct TransactionBody {
    /// The message.
    pub message: MessageKeys,
}

/// A message's static account keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageKeys {
    /// Account keys in the message's order.
    pub account_keys: Vec<String>,
}

impl TransactionInfo {
    /// Every account key of the transaction in index order: the message's, then those loaded
    /// from lookup tables (writable, then read-only), as `accountIndex` counts them.
    pub fn account_keys(&self) -> Vec<&str> {
        let mut keys = self
            .transaction
            .message
            .account_keys
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>();
        if let Some(loaded) = self.meta.as_ref().and_then(|m| m.loaded_addresses.as_ref()) {
            keys.extend(loaded.writable.iter().map(String::as_str));
            keys.extend(loaded.readonly.iter().map(String::as_str));
        }
        keys
    }
}

/// A recent blockhash (`getLatestBlockhash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatestBlockhash {
    /// The slot of the bank it was read from.
    pub slot: u64,
    /// The blockhash (base58).
    pub blockhash: String,
    /// The last block height at which a transaction naming it can land.
    pub last_valid_block_height: u64,
}

/// A transaction's status (`getSignatureStatuses`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureStatus {
    /// The slot it is in.
    pub slot: u64,
    /// Why it failed; `None` when it succeeded.
    pub err: Option<Value>,
    /// `processed`, `confirmed` or `finalized`.
    pub confirmation_status: Option<String>,
}

/// A mint's program and decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MintInfo {
    /// Token or Token-2022.
    pub program: SolanaAddress,
    /// Its decimals, which `TransferChecked` repeats.
    pub decimals: u8,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockhashValue {
    blockhash: String,
    last_valid_block_height: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrioritizationFee {
    prioritization_fee: u64,
}

#[derive(Deserialize)]
struct RpcAnswer {
    result: Option<Value>,
    error: Option<RpcErrorBody>,
}

#[derive(Deserialize)]
struct RpcErrorBody {
    code: i64,
    message: String,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct WithContext<T> {
    context: Context,
    value: T,
}

#[derive(Deserialize)]
struct Context {
    slot: u64,
}

#[derive(Deserialize)]
struct AccountData {
    data: (String, String),
    owner: String,
}

impl SolanaRpc {
    /// A client of these endpoints (tried in turn), each call bounded by `timeout`.
    pub fn new(urls: &[String], timeout: Duration) -> Result<SolanaRpc, RpcError> {
        if urls.is_empty() {
            return Err(RpcError::Unavailable("no endpoint configured".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| RpcError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(SolanaRpc {
            http,
            urls: urls.to_vec(),
            preferred: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        })
    }

    /// How many calls this client has made (each endpoint tried counts), for measurements.
    pub fn calls_made(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls `method` and reads its `result`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let first = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for step in 0..self.urls.len() {
            let index = (first + step) % self.urls.len();
            self.calls.fetch_add(1, Ordering::Relaxed);
            match self.post(index, &body).await {
                Ok(answer) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return read_answer(method, answer);
                }
                Err(reason) => failures.push(format!("endpoint {}: {reason}", index + 1)),
            }
        }
        Err(RpcError::Unavailable(format!(
            "{method}: {}",
            failures.join("; ")
        )))
    }

    async fn post(&self, index: usize, body: &Value) -> Result<RpcAnswer, String> {
        let response = self
            .http
            .post(&self.urls[index])
            .json(body)
            .send()
            .await
            .map_err(|e| {
                String::from(if e.is_timeout() {
                    "timed out"
                } else {
                    "no answer"
                })
            })?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(format!("HTTP {status}"));
        }
        response
            .json::<RpcAnswer>()
            .await
            .map_err(|_| format!("HTTP {status} without a JSON-RPC answer"))
    }

    /// The highest slot at `commitment`.
    pub async fn slot(&self, commitment: Commitment) -> Result<u64, RpcError> {
        self.call("getSlot", json!([{"commitment": commitment.as_str()}]))
            .await
    }

    /// The block at `slot`, or `None` when the slot was skipped.
    pub async fn block(
        &self,
        slot: u64,
        commitment: Commitment,
    ) -> Result<Option<BlockHeader>, RpcError> {
        let params = json!([slot, {
            "commitment": commitment.as_str(),
            "transactionDetails": "none",
            "rewards": false,
            "maxSupportedTransactionVersion": 0,
        }]);
        match self.call::<Option<BlockHeader>>("getBlock", params).await {
            Err(RpcError::Node { code, .. }) if SLOT_SKIPPED.contains(&code) => Ok(None),
            other => other,
        }
    }

    /// The time of the block at `slot`, seconds since the epoch (`None` when skipped).
    pub async fn block_time(&self, slot: u64) -> Result<Option<i64>, RpcError> {
        match self
            .call::<Option<i64>>("getBlockTime", json!([slot]))
            .await
        {
            Err(RpcError::Node { code, .. }) if SLOT_SKIPPED.contains(&code) => Ok(None),
            other => other,
        }
    }

    /// The first slot at or after `slot` that has a block, up to the commitment's head.
    pub async fn next_block_slot(
        &self,
        slot: u64,
        commitment: Commitment,
    ) -> Result<Option<u64>, RpcError> {
        let slots: Vec<u64> = self
            .call(
                "getBlocksWithLimit",
                json!([slot, 1, {"commitment": commitment.as_str()}]),
            )
            .await?;
        Ok(slots.first().copied())
    }

    /// The program that owns `address` (`None` when the account does not exist).
    pub async fn account_owner(
        &self,
        address: &SolanaAddress,
        commitment: Commitment,
    ) -> Result<Option<SolanaAddress>, RpcError> {
        let params = json!([address.to_string(), {
            "commitment": commitment.as_str(),
            "encoding": "base64",
            "dataSlice": {"offset": 0, "length": 0},
        }]);
        let answer: WithContext<Option<AccountData>> = self.call("getAccountInfo", params).await?;
        answer
            .value
            .map(|account| parse_address("getAccountInfo", &account.owner))
            .transpose()
    }

    /// The amounts of these token accounts (0 for one that does not exist) and the slot they
    /// were read at, which is at least `min_slot`. At most [`ACCOUNTS_PER_CALL`] accounts.
    pub async fn token_amounts(
        &self,
        accounts: &[SolanaAddress],
        commitment: Commitment,
        min_slot: u64,
    ) -> Result<(u64, Vec<u64>), RpcError> {
        const METHOD: &str = "getMultipleAccounts";
        let keys = accounts.iter().map(ToString::to_string).collect::<Vec<_>>();
        // A token account's amount is the u64 at byte 64 (after the mint and the owner), for
        // the Token and Token-2022 programs alike.
        let params = json!([keys, {
            "commitment": commitment.as_str(),
            "encoding": "base64",
            "dataSlice": {"offset": 64, "length": 8},
            "minContextSlot": min_slot,
        }]);
        let answer: WithContext<Vec<Option<AccountData>>> = self.call(METHOD, params).await?;
        if answer.value.len() != accounts.len() {
            return Err(invalid(METHOD, "not one answer per account"));
        }
        let amounts = answer
            .value
            .iter()
            .map(|account| match account {
                None => Ok(0),
                Some(account) => amount_of(&account.data.0),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((answer.context.slot, amounts))
    }

    /// Signatures of transactions that touched `address`, newest first, older than `before`
    /// when given; at most [`SIGNATURES_PER_CALL`].
    pub async fn signatures(
        &self,
        address: &SolanaAddress,
        before: Option<&str>,
        commitment: Commitment,
    ) -> Result<Vec<SignatureInfo>, RpcError> {
        let mut options = json!({
            "commitment": commitment.as_str(),
            "limit": SIGNATURES_PER_CALL,
        });
        if let Some(before) = before {
            options["before"] = json!(before);
        }
        self.call(
            "getSignaturesForAddress",
            json!([address.to_string(), options]),
        )
        .await
    }

    /// The latest blockhash at `commitment`, and the slot it was read at.
    pub async fn latest_blockhash(
        &self,
        commitment: Commitment,
    ) -> Result<LatestBlockhash, RpcError> {
        let answer: WithContext<BlockhashValue> = self
            .call(
                "getLatestBlockhash",
                json!([{"commitment": commitment.as_str()}]),
            )
            .await?;
        Ok(LatestBlockhash {
            slot: answer.context.slot,
            blockhash: answer.value.blockhash,
            last_valid_block_height: answer.value.last_valid_block_height,
        })
    }

    /// Whether a transaction naming `blockhash` can still land, by the bank at `commitment`
    /// (which must be at `min_slot` or later: a node behind it answers an error instead), and
    /// the slot of that bank.
    pub async fn blockhash_valid(
        &self,
        blockhash: &str,
        commitment: Commitment,
        min_slot: u64,
    ) -> Result<(u64, bool), RpcError> {
        let params = json!([blockhash, {
            "commitment": commitment.as_str(),
            "minContextSlot": min_slot,
        }]);
        let answer: WithContext<bool> = self.call("isBlockhashValid", params).await?;
        Ok((answer.context.slot, answer.value))
    }

    /// Sends a signed transaction (base64) after the node's simulation at `confirmed`; its
    /// signature. The node forwards it to the leaders and retries it until its blockhash
    /// expires.
    pub async fn send_transaction(&self, base64: &str) -> Result<String, RpcError> {
        let params = json!([base64, {
            "encoding": "base64",
            "preflightCommitment": "confirmed",
        }]);
        self.call("sendTransaction", params).await
    }

    /// The statuses of transactions by signature (`None` for one the node does not know),
    /// searching the node's whole history, and the slot the node answered at.
    pub async fn signature_statuses(
        &self,
        signatures: &[&str],
    ) -> Result<(u64, Vec<Option<SignatureStatus>>), RpcError> {
        const METHOD: &str = "getSignatureStatuses";
        let params = json!([signatures, {"searchTransactionHistory": true}]);
        let answer: WithContext<Vec<Option<SignatureStatus>>> = self.call(METHOD, params).await?;
        if answer.value.len() != signatures.len() {
            return Err(invalid(METHOD, "not one status per signature"));
        }
        Ok((answer.context.slot, answer.value))
    }

    /// The lamports of `address` (0 when it does not exist).
    pub async fn balance(
        &self,
        address: &SolanaAddress,
        commitment: Commitment,
    ) -> Result<u64, RpcError> {
        let answer: WithContext<u64> = self
            .call(
                "getBalance",
                json!([address.to_string(), {"commitment": commitment.as_str()}]),
            )
            .await?;
        Ok(answer.value)
    }

    /// The priority fees (micro-lamports per compute unit) paid in recent slots by transactions
    /// writing any of `accounts` (the cluster's when empty), one per slot.
    pub async fn recent_prioritization_fees(
        &self,
        accounts: &[SolanaAddress],
    ) -> Result<Vec<u64>, RpcError> {
        let keys = accounts.iter().map(ToString::to_string).collect::<Vec<_>>();
        let fees: Vec<PrioritizationFee> = self
            .call("getRecentPrioritizationFees", json!([keys]))
            .await?;
        Ok(fees.into_iter().map(|f| f.prioritization_fee).collect())
    }

    /// The lamports an account of `size` bytes must hold to exist (its rent-exempt minimum).
    pub async fn rent_exempt_minimum(&self, size: u64) -> Result<u64, RpcError> {
        self.call("getMinimumBalanceForRentExemption", json!([size]))
            .await
    }

    /// A mint's program and decimals (`None` when the account does not exist). The decimals
    /// are the byte at 44 of a mint (after the mint authority and the supply), for the Token
    /// and Token-2022 programs alike.
    pub async fn mint(
        &self,
        mint: &SolanaAddress,
        commitment: Commitment,
    ) -> Result<Option<MintInfo>, RpcError> {
        const METHOD: &str = "getAccountInfo";
        let params = json!([mint.to_string(), {
            "commitment": commitment.as_str(),
            "encoding": "base64",
            "dataSlice": {"offset": 44, "length": 1},
        }]);
        let answer: WithContext<Option<AccountData>> = self.call(METHOD, params).await?;
        let Some(account) = answer.value else {
            return Ok(None);
        };
        let data = base64::engine::general_purpose::STANDARD
            .decode(&account.data.0)
            .map_err(|_| invalid(METHOD, "data is not base64"))?;
        let [decimals] = data[..] else {
            return Err(invalid(METHOD, "not a mint (data too short)"));
        };
        Ok(Some(MintInfo {
            program: parse_address(METHOD, &account.owner)?,
            decimals,
        }))
    }

    /// A transaction by its signature (`None` when the node does not have it).
    pub async fn transaction(
        &self,
        signature: &str,
        commitment: Commitment,
    ) -> Result<Option<TransactionInfo>, RpcError> {
        let params = json!([signature, {
            "commitment": commitment.as_str(),
            "encoding": "json",
            "maxSupportedTransactionVersion": 0,
        }]);
        self.call("getTransaction", params).await
    }
}

/// What the payment page's wallet transactions need (`crate::payer`).
impl SolanaRpc {
    /// The hash of the cluster's genesis block, which tells mainnet, devnet and testnet apart.
    pub async fn genesis_hash(&self) -> Result<String, RpcError> {
        self.call("getGenesisHash", json!([])).await
    }
}

fn read_answer<T: DeserializeOwned>(method: &str, answer: RpcAnswer) -> Result<T, RpcError> {
    if let Some(error) = answer.error {
        return Err(RpcError::Node {
            method: method.to_owned(),
            code: error.code,
            message: error.message,
            data: error.data,
        });
    }
    serde_json::from_value(answer.result.unwrap_or(Value::Null))
        .map_err(|e| invalid(method, &e.to_string()))
}

fn invalid(method: &str, detail: &str) -> RpcError {
    RpcError::Invalid {
        method: method.to_owned(),
        detail: detail.to_owned(),
    }
}

fn parse_address(method: &str, text: &str) -> Result<SolanaAddress, RpcError> {
    SolanaAddress::parse(text).map_err(|e| invalid(method, &format!("address {text:?}: {e}")))
}

/// The little-endian u64 of an 8-byte data slice in base64.
fn amount_of(data: &str) -> Result<u64, RpcError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| invalid("getMultipleAccounts", "data is not base64"))?;
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| {
        invalid(
            "getMultipleAccounts",
            "not a token account (data too short)",
        )
    })?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_amounts_are_the_little_endian_u64_of_the_slice() {
        let data = base64::engine::general_purpose::STANDARD.encode(1_500_000u64.to_le_bytes());
        assert_eq!(amount_of(&data), Ok(1_500_000));
        assert!(amount_of("AAAA").is_err());
        assert!(amount_of("not base64!").is_err());
    }

    #[test]
    fn account_keys_count_loaded_addresses_after_the_message() {
        let info: TransactionInfo = serde_json::from_value(json!({
            "slot": 7,
            "blockTime": 1_700_000_000,
            "meta": {"err": null, "preTokenBalances": [], "postTokenBalances": [],
                     "loadedAddresses": {"writable": ["W"], "readonly": ["R"]}},
            "transaction": {"message": {"accountKeys": ["A", "B"]}},
        }))
        .unwrap();
        assert_eq!(info.account_keys(), ["A", "B", "W", "R"]);
    }
}
