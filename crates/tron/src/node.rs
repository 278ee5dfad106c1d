//! The write side's view of a TRON node: its HTTP API (`/wallet/*`), as java-tron and TronGrid
//! serve it. Reads of blocks and logs go through the node's Ethereum-compatible JSON-RPC instead
//! (the EVM adapter's reader), which has no way to broadcast.
//!
//! Every call is a `POST` of a JSON body with addresses in hex (`41…`, `visible` false). Answers
//! are protobuf messages printed as JSON, which leave out every field at its default: a missing
//! number is 0, and an empty object means "not found" (an unknown account, a transaction not in a
//! block yet). Errors name the endpoint, never the node's URL (it may carry a key) or a secret.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::address::TronAddress;
use crate::transaction::{RefBlock, SignedTransaction, TxId};

/// The header TronGrid reads its API key from.
const API_KEY_HEADER: &str = "TRON-PRO-API-KEY";
/// Longest wait for one answer.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A TRON node's HTTP API.
#[derive(Clone)]
pub struct TronNode {
    http: reqwest::Client,
    base_url: String,
}

impl std::fmt::Debug for TronNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TronNode")
    }
}

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The URL, key or HTTP client could not be set up.
    #[error("cannot set up the TRON node client: {0}")]
    Setup(String),
    /// No answer: connection refused, timeout, reset.
    #[error("{endpoint}: no answer from the node: {reason}")]
    Transport {
        /// The API path called.
        endpoint: &'static str,
        /// What the transport said (without the URL).
        reason: String,
    },
    /// An HTTP status other than 200.
    #[error("{endpoint}: the node answered HTTP {status}")]
    Status {
        /// The API path called.
        endpoint: &'static str,
        /// The status code.
        status: u16,
    },
    /// The node's own `{"Error": …}` answer (a malformed request, an exception in the node).
    #[error("{endpoint}: the node refused the request: {message}")]
    Node {
        /// The API path called.
        endpoint: &'static str,
        /// The node's text.
        message: String,
    },
    /// A call the node could not run (`result.result` false), with its code.
    #[error("{endpoint}: {code}: {message}")]
    Call {
        /// The API path called.
        endpoint: &'static str,
        /// `result.code`, such as `CONTRACT_VALIDATE_ERROR`.
        code: String,
        /// `result.message`.
        message: String,
    },
    /// An answer that does not have the documented shape.
    #[error("{endpoint}: unexpected answer: {reason}")]
    Malformed {
        /// The API path called.
        endpoint: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// The head block, as `/wallet/getnowblock` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NowBlock {
    /// The height.
    pub number: u64,
    /// The block id: the 8-byte height, then 24 bytes of the block's hash.
    pub id: [u8; 32],
    /// The block's time, ms since the Unix epoch.
    pub timestamp_ms: u64,
}

impl NowBlock {
    /// The reference a transaction built now carries.
    pub fn ref_block(&self) -> RefBlock {
        RefBlock::new(self.number, &self.id)
    }
}

/// Why a node refused a broadcast (`code` of `/wallet/broadcasthex`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalCode {
    /// `SIGERROR`: the signature does not verify for the owner.
    Signature,
    /// `TRANSACTION_EXPIRATION_ERROR`: past its expiration (or too far ahead).
    Expired,
    /// `DUP_TRANSACTION_ERROR`: the node already has this txID. The first broadcast may land.
    Duplicate,
    /// `TAPOS_ERROR`: the reference block is not on the node's chain.
    Tapos,
    /// `CONTRACT_VALIDATE_ERROR`: the contract is invalid now (balance, account, contract).
    ContractValidate,
    /// `BANDWITH_ERROR` (sic): not enough bandwidth nor TRX to burn for it.
    Bandwidth,
    /// `SERVER_BUSY`, `NO_CONNECTION`, `NOT_ENOUGH_EFFECTIVE_CONNECTION`: the node could not
    /// take or relay it now; the same transaction may be sent again.
    Busy(String),
    /// Any other code, as the node wrote it.
    Other(String),
}

impl RefusalCode {
    fn parse(code: &str) -> RefusalCode {
        match code {
            "SIGERROR" => RefusalCode::Signature,
            "TRANSACTION_EXPIRATION_ERROR" => RefusalCode::Expired,
            "DUP_TRANSACTION_ERROR" => RefusalCode::Duplicate,
            "TAPOS_ERROR" => RefusalCode::Tapos,
            "CONTRACT_VALIDATE_ERROR" => RefusalCode::ContractValidate,
            "BANDWITH_ERROR" => RefusalCode::Bandwidth,
            "SERVER_BUSY" | "NO_CONNECTION" | "NOT_ENOUGH_EFFECTIVE_CONNECTION" => {
                RefusalCode::Busy(code.to_owned())
            }
            other => RefusalCode::Other(other.to_owned()),
        }
    }
}

/// What the node did with a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broadcast {
    /// In the node's pool: it may be mined until its expiration.
    Accepted,
    /// Refused, with the node's code and message.
    Refused {
        /// The reason.
        code: RefusalCode,
        /// The node's text.
        message: String,
    },
}

/// A transaction's state, from `/wallet/gettransactioninfobyid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionState {
    /// Not in a block (yet): pending, or unknown to this node.
    Pending,
    /// In a block.
    Mined(MinedTransaction),
}

/// A transaction in a block: where, what it cost, whether it did what it was sent for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinedTransaction {
    /// The block's height.
    pub block: u64,
    /// The block's time, ms.
    pub block_time_ms: u64,
    /// All the TRX burned, sun (energy, bandwidth, account activation).
    pub fee_sun: u64,
    /// Energy used.
    pub energy: u64,
    /// TRX burned for energy, sun.
    pub energy_fee_sun: u64,
    /// Bandwidth points used from the account's allowance or stake.
    pub bandwidth: u64,
    /// TRX burned for bandwidth, sun.
    pub bandwidth_fee_sun: u64,
    /// Success, or the failure a TRC-20 call ended in (in a block, with its fee burned).
    pub outcome: Outcome,
}

/// How a mined transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It did what it was sent for.
    Success,
    /// `result` is `FAILED`: `receipt.result` (`REVERT`, `OUT_OF_ENERGY`, …) and `resMessage`.
    Failed {
        /// `receipt.result`.
        reason: String,
        /// `resMessage`, decoded.
        message: String,
    },
}

/// An account's bandwidth and energy, from `/wallet/getaccountresource`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AccountResource {
    /// Free bandwidth used in the current window.
    #[serde(rename = "freeNetUsed")]
    pub free_net_used: u64,
    /// Free bandwidth per day (600 on mainnet).
    #[serde(rename = "freeNetLimit")]
    pub free_net_limit: u64,
    /// Staked bandwidth used.
    #[serde(rename = "NetUsed")]
    pub net_used: u64,
    /// Staked bandwidth.
    #[serde(rename = "NetLimit")]
    pub net_limit: u64,
    /// Staked (or delegated) energy used.
    #[serde(rename = "EnergyUsed")]
    pub energy_used: u64,
    /// Staked (or delegated) energy.
    #[serde(rename = "EnergyLimit")]
    pub energy_limit: u64,
}

impl AccountResource {
    /// Bandwidth left today from the free allowance and stake.
    pub fn bandwidth_left(&self) -> u64 {
        self.free_net_limit.saturating_sub(self.free_net_used)
            + self.net_limit.saturating_sub(self.net_used)
    }

    /// Energy left from stake and delegation.
    pub fn energy_left(&self) -> u64 {
        self.energy_limit.saturating_sub(self.energy_used)
    }
}

/// The chain's prices, from its parameters (changed only by the network's governance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prices {
    /// Sun burned per unit of energy beyond the account's own (`getEnergyFee`).
    pub energy_sun: u64,
    /// Sun burned per byte of bandwidth beyond the account's own (`getTransactionFee`).
    pub bandwidth_sun: u64,
    /// Sun burned for creating an account by sending it TRX (`getCreateAccountFee` plus
    /// `getCreateNewAccountFeeInSystemContract`), an upper bound.
    pub activation_sun: u64,
}

/// An activated account, from `/wallet/getaccount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// TRX held, sun.
    pub balance_sun: u64,
}

impl TronNode {
    /// A client of the node at `base_url` (such as `https://api.trongrid.io`), with TronGrid's
    /// API key when given, and the default timeout (10 s per call).
    pub fn new(base_url: &str, api_key: Option<&SecretString>) -> Result<TronNode, NodeError> {
        TronNode::with_timeout(base_url, api_key, DEFAULT_TIMEOUT)
    }

    /// As [`TronNode::new`], with another timeout per call.
    pub fn with_timeout(
        base_url: &str,
        api_key: Option<&SecretString>,
        timeout: Duration,
    ) -> Result<TronNode, NodeError> {
        let base = reqwest::Url::parse(base_url)
            .map_err(|e| NodeError::Setup(format!("the node URL does not parse: {e}")))?;
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            let mut value = HeaderValue::from_str(key.expose_secret())
                .map_err(|_| NodeError::Setup("the API key is not a valid header value".into()))?;
            value.set_sensitive(true);
            headers.insert(API_KEY_HEADER, value);
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .default_headers(headers)
            .build()
            .map_err(|e| NodeError::Setup(e.without_url().to_string()))?;
        Ok(TronNode {
            http,
            base_url: base.as_str().trim_end_matches('/').to_owned(),
        })
    }

    /// The head block.
    pub async fn now_block(&self) -> Result<NowBlock, NodeError> {
        const ENDPOINT: &str = "/wallet/getnowblock";
        let answer: NowBlockAnswer = self.call(ENDPOINT, json!({})).await?;
        let id = parse_hex32(&answer.block_id).ok_or_else(|| NodeError::Malformed {
            endpoint: ENDPOINT,
            reason: format!("blockID '{}' is not 32 bytes of hex", answer.block_id),
        })?;
        let raw = answer.block_header.raw_data;
        Ok(NowBlock {
            number: raw.number,
            id,
            timestamp_ms: raw.timestamp,
        })
    }

    /// Sends a signed transaction (`/wallet/broadcasthex`). A transport error leaves it unknown
    /// whether the node got it: follow its txID until it is mined or expired.
    pub async fn broadcast(&self, transaction: &SignedTransaction) -> Result<Broadcast, NodeError> {
        self.broadcast_hex(&transaction.to_hex()).await
    }

    /// Sends a signed transaction given as the hex of its protobuf bytes (as stored).
    pub async fn broadcast_hex(&self, transaction: &str) -> Result<Broadcast, NodeError> {
        const ENDPOINT: &str = "/wallet/broadcasthex";
        let body = json!({ "transaction": transaction });
        let answer: BroadcastAnswer = self.call(ENDPOINT, body).await?;
        if answer.result {
            return Ok(Broadcast::Accepted);
        }
        let code = answer.code.ok_or_else(|| NodeError::Malformed {
            endpoint: ENDPOINT,
            reason: "refused without a code".into(),
        })?;
        Ok(Broadcast::Refused {
            code: RefusalCode::parse(&code),
            message: readable(&answer.message.unwrap_or_default()),
        })
    }

    /// Where the transaction stands.
    pub async fn transaction_info(&self, id: &TxId) -> Result<TransactionState, NodeError> {
        const ENDPOINT: &str = "/wallet/gettransactioninfobyid";
        let answer: TransactionInfoAnswer = self
            .call(ENDPOINT, json!({ "value": id.to_string() }))
            .await?;
        let Some(block) = answer.block_number else {
            return Ok(TransactionState::Pending);
        };
        let receipt = answer.receipt;
        let outcome = if answer.result.as_deref() == Some("FAILED") {
            Outcome::Failed {
                reason: receipt.result.clone().unwrap_or_default(),
                message: readable(&answer.res_message.unwrap_or_default()),
            }
        } else {
            Outcome::Success
        };
        Ok(TransactionState::Mined(MinedTransaction {
            block,
            block_time_ms: answer.block_time_stamp,
            fee_sun: answer.fee,
            energy: receipt.energy_usage_total,
            energy_fee_sun: receipt.energy_fee,
            bandwidth: receipt.net_usage,
            bandwidth_fee_sun: receipt.net_fee,
            outcome,
        }))
    }

    /// Whether the node has the transaction, in its pool or in a block
    /// (`/wallet/gettransactionbyid`).
    pub async fn transaction_known(&self, id: &TxId) -> Result<bool, NodeError> {
        const ENDPOINT: &str = "/wallet/gettransactionbyid";
        let answer: Value = self
            .call(ENDPOINT, json!({ "value": id.to_string() }))
            .await?;
        Ok(!is_empty(&answer))
    }

    /// The prices the chain's parameters set (`/wallet/getchainparameters`).
    pub async fn prices(&self) -> Result<Prices, NodeError> {
        const ENDPOINT: &str = "/wallet/getchainparameters";
        let answer: ChainParametersAnswer = self.call(ENDPOINT, json!({})).await?;
        let find = |key: &str| {
            answer
                .chain_parameter
                .iter()
                .find(|p| p.key == key)
                .map(|p| p.value)
        };
        let required = |key: &str| {
            find(key).ok_or_else(|| NodeError::Malformed {
                endpoint: ENDPOINT,
                reason: format!("no {key}"),
            })
        };
        Ok(Prices {
            energy_sun: required("getEnergyFee")?,
            bandwidth_sun: required("getTransactionFee")?,
            activation_sun: find("getCreateAccountFee")
                .unwrap_or(0)
                .saturating_add(find("getCreateNewAccountFeeInSystemContract").unwrap_or(0)),
        })
    }

    /// What `owner` holds of the TRC-20 `token`, base units: its `balanceOf`, called without a
    /// transaction (`/wallet/triggerconstantcontract`).
    pub async fn trc20_balance(
        &self,
        owner: &TronAddress,
        token: &TronAddress,
    ) -> Result<u128, NodeError> {
        const ENDPOINT: &str = "/wallet/triggerconstantcontract";
        let body = json!({
            "owner_address": owner.to_hex(),
            "contract_address": token.to_hex(),
            "data": hex::encode(crate::abi::balance_of_call(owner)),
        });
        let answer: ConstantAnswer = self.call(ENDPOINT, body).await?;
        if !answer.result.result {
            return Err(NodeError::Call {
                endpoint: ENDPOINT,
                code: answer.result.code.unwrap_or_default(),
                message: readable(&answer.result.message.unwrap_or_default()),
            });
        }
        let word = answer.constant_result.first().map(String::as_str);
        let bytes = word
            .and_then(|w| hex::decode(w).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| NodeError::Malformed {
                endpoint: ENDPOINT,
                reason: "balanceOf did not answer one 32-byte word".into(),
            })?;
        if bytes[..16].iter().any(|b| *b != 0) {
            return Err(NodeError::Malformed {
                endpoint: ENDPOINT,
                reason: "a balance beyond 128 bits".into(),
            });
        }
        let mut low = [0u8; 16];
        low.copy_from_slice(&bytes[16..]);
        Ok(u128::from_be_bytes(low))
    }

    /// The energy `owner` calling `contract` with `data` (selector and arguments) would use now.
    pub async fn estimate_energy(
        &self,
        owner: &TronAddress,
        contract: &TronAddress,
        data: &[u8],
    ) -> Result<u64, NodeError> {
        const ENDPOINT: &str = "/wallet/estimateenergy";
        let body = json!({
            "owner_address": owner.to_hex(),
            "contract_address": contract.to_hex(),
            "data": hex::encode(data),
        });
        let answer: EstimateAnswer = self.call(ENDPOINT, body).await?;
        if answer.result.result {
            return Ok(answer.energy_required);
        }
        Err(NodeError::Call {
            endpoint: ENDPOINT,
            code: answer.result.code.unwrap_or_default(),
            message: readable(&answer.result.message.unwrap_or_default()),
        })
    }

    /// The account's bandwidth and energy; `None` when the account does not exist.
    pub async fn account_resource(
        &self,
        address: &TronAddress,
    ) -> Result<Option<AccountResource>, NodeError> {
        const ENDPOINT: &str = "/wallet/getaccountresource";
        let answer: Value = self
            .call(ENDPOINT, json!({ "address": address.to_hex() }))
            .await?;
        if is_empty(&answer) {
            return Ok(None);
        }
        serde_json::from_value(answer)
            .map(Some)
            .map_err(|e| malformed(ENDPOINT, &e))
    }

    /// The account; `None` until it is activated (by its first TRX).
    pub async fn account(&self, address: &TronAddress) -> Result<Option<Account>, NodeError> {
        const ENDPOINT: &str = "/wallet/getaccount";
        let answer: AccountAnswer = self
            .call(ENDPOINT, json!({ "address": address.to_hex() }))
            .await?;
        Ok(answer.address.map(|_| Account {
            balance_sun: answer.balance,
        }))
    }

    /// Whether the account is activated: a TRX transfer to an address that is not pays 1 TRX.
    pub async fn account_exists(&self, address: &TronAddress) -> Result<bool, NodeError> {
        Ok(self.account(address).await?.is_some())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: Value,
    ) -> Result<T, NodeError> {
        let response = self
            .http
            .post(format!("{}{endpoint}", self.base_url))
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(endpoint, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(NodeError::Status {
                endpoint,
                status: status.as_u16(),
            });
        }
        let answer: Value = response.json().await.map_err(|e| transport(endpoint, e))?;
        if let Some(message) = answer.get("Error") {
            return Err(NodeError::Node {
                endpoint,
                message: message.as_str().unwrap_or_default().to_owned(),
            });
        }
        serde_json::from_value(answer).map_err(|e| malformed(endpoint, &e))
    }
}

fn transport(endpoint: &'static str, error: reqwest::Error) -> NodeError {
    let reason = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.without_url().to_string()
    };
    NodeError::Transport { endpoint, reason }
}

fn malformed(endpoint: &'static str, error: &serde_json::Error) -> NodeError {
    NodeError::Malformed {
        endpoint,
        reason: error.to_string(),
    }
}

fn is_empty(answer: &Value) -> bool {
    answer.as_object().is_some_and(serde_json::Map::is_empty)
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(bytes)
}

/// Messages come as UTF-8, or as the hex of UTF-8 when `visible` is false: either way, text.
fn readable(message: &str) -> String {
    hex::decode(message)
        .ok()
        .filter(|bytes| !bytes.is_empty())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| message.to_owned())
}

#[derive(Deserialize)]
struct NowBlockAnswer {
    #[serde(rename = "blockID")]
    block_id: String,
    block_header: BlockHeader,
}

#[derive(Deserialize)]
struct BlockHeader {
    raw_data: BlockRaw,
}

#[derive(Deserialize)]
struct BlockRaw {
    #[serde(default)]
    number: u64,
    #[serde(default)]
    timestamp: u64,
}

#[derive(Deserialize)]
struct BroadcastAnswer {
    #[serde(default)]
    result: bool,
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct TransactionInfoAnswer {
    #[serde(rename = "blockNumber")]
    block_number: Option<u64>,
    #[serde(rename = "blockTimeStamp", default)]
    block_time_stamp: u64,
    #[serde(default)]
    fee: u64,
    #[serde(default)]
    receipt: Receipt,
    result: Option<String>,
    #[serde(rename = "resMessage")]
    res_message: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Receipt {
    energy_usage_total: u64,
    energy_fee: u64,
    net_usage: u64,
    net_fee: u64,
    result: Option<String>,
}

#[derive(Deserialize)]
struct EstimateAnswer {
    result: CallResult,
    #[serde(default)]
    energy_required: u64,
}

#[derive(Deserialize)]
struct CallResult {
    #[serde(default)]
    result: bool,
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct ChainParametersAnswer {
    #[serde(rename = "chainParameter", default)]
    chain_parameter: Vec<ChainParameter>,
}

#[derive(Deserialize)]
struct ChainParameter {
    key: String,
    #[serde(default)]
    value: u64,
}

#[derive(Deserialize)]
struct ConstantAnswer {
    result: CallResult,
    #[serde(default)]
    constant_result: Vec<String>,
}

#[derive(Deserialize)]
struct AccountAnswer {
    address: Option<String>,
    #[serde(default)]
    balance: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_codes_are_read_by_name() {
        assert_eq!(RefusalCode::parse("SIGERROR"), RefusalCode::Signature);
        assert_eq!(
            RefusalCode::parse("TRANSACTION_EXPIRATION_ERROR"),
            RefusalCode::Expired
        );
        assert_eq!(
            RefusalCode::parse("DUP_TRANSACTION_ERROR"),
            RefusalCode::Duplicate
        );
        assert_eq!(RefusalCode::parse("TAPOS_ERROR"), RefusalCode::Tapos);
        assert_eq!(
            RefusalCode::parse("SERVER_BUSY"),
            RefusalCode::Busy("SERVER_BUSY".into())
        );
        assert_eq!(
            RefusalCode::parse("OTHER_ERROR"),
            RefusalCode::Other("OTHER_ERROR".into())
        );
    }

    #[test]
    fn messages_in_hex_are_decoded() {
        // "Tapos check error" as the node writes it with visible false.
        assert_eq!(
            readable("5461706f7320636865636b206572726f72"),
            "Tapos check error"
        );
        assert_eq!(readable("transaction expired"), "transaction expired");
        assert_eq!(readable(""), "");
    }

    #[test]
    fn the_documented_transaction_info_reads_as_mined_with_its_costs() {
        // The Nile example of TRON's HTTP API reference, without its logs.
        let answer = json!({
            "id": "01b4cde4197b9d1a1ff09ef5d2b1d939d3ec2401b3f002ebd0802c0f30a6e4ca",
            "fee": 5_254_500,
            "blockNumber": 66_985_120,
            "blockTimeStamp": 1_777_437_762_000u64,
            "contractResult": [""],
            "receipt": {"energy_fee": 4_458_500, "energy_usage_total": 44_585,
                        "net_fee": 796_000, "result": "SUCCESS"},
        });
        let info: TransactionInfoAnswer = serde_json::from_value(answer).unwrap();
        assert_eq!(info.block_number, Some(66_985_120));
        assert_eq!(info.fee, 5_254_500);
        assert_eq!(info.receipt.energy_usage_total, 44_585);
        assert_eq!(info.receipt.net_usage, 0);
        assert!(info.result.is_none());
        let pending: TransactionInfoAnswer = serde_json::from_value(json!({})).unwrap();
        assert!(pending.block_number.is_none());
    }

    #[test]
    fn the_documented_account_resource_reads_with_defaults() {
        let answer = json!({"freeNetUsed": 441, "freeNetLimit": 600,
                            "TotalNetLimit": 43_200_000_000u64});
        let resource: AccountResource = serde_json::from_value(answer).unwrap();
        assert_eq!(resource.free_net_used, 441);
        assert_eq!(resource.bandwidth_left(), 159);
        assert_eq!(resource.energy_left(), 0);
    }

    #[test]
    fn the_now_block_gives_the_reference_block() {
        let id = "0000000003fe266bf6b6d392f654dc2e5011601546ed04623d9fcc4e9d439a25";
        let block = NowBlock {
            number: 66_987_627,
            id: parse_hex32(id).unwrap(),
            timestamp_ms: 1_777_445_307_000,
        };
        assert_eq!(block.ref_block().bytes(), [0x26, 0x6b]);
        assert_eq!(hex::encode(block.ref_block().hash()), "f6b6d392f654dc2e");
        assert!(parse_hex32("00").is_none());
    }

    #[tokio::test]
    async fn errors_name_no_url_or_key() {
        // A closed loopback port: the node URL carries credentials, the client a key.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let key = SecretString::from("super-secret-key");
        let url = format!("http://user:pw@127.0.0.1:{port}/");
        let node = TronNode::new(&url, Some(&key)).unwrap();
        assert_eq!(format!("{node:?}"), "TronNode");
        let error = node.now_block().await.unwrap_err();
        assert!(matches!(error, NodeError::Transport { .. }), "{error:?}");
        let text = format!("{error} {error:?}");
        assert!(text.contains("/wallet/getnowblock"), "{text}");
        for secret in ["super-secret-key", "pw@", &port.to_string()] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(TronNode::new("not a url", None).is_err());
    }
}
