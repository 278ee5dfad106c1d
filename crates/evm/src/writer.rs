//! [`ChainWriter`] over JSON-RPC with alloy: EIP-1559 transfers signed locally with keys from
//! the operator's seed, broadcast through the reader's endpoints.

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{TransactionInput, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use async_trait::async_trait;
use wcheckout_domain::address::{Address as ChainAddress, EvmAddress};
use wcheckout_domain::chain::{
    Broadcast, ChainError, ChainWriter, FeeQuote, RawTx, Receipt, TransferTx,
};
use wcheckout_domain::payout::Signer;
use wcheckout_domain::time::Timestamp;

use crate::keys::PayoutKeys;
use crate::reader::{EvmChainReader, to_alloy};

/// Signs with the payout keys and sends through the reader's endpoints.
pub struct EvmChainWriter {
    reader: std::sync::Arc<EvmChainReader>,
    keys: PayoutKeys,
    chain_id: u64,
}

/// `transfer(address,uint256)` calldata.
fn transfer_call(to: &ChainAddress, amount: u128) -> Result<Vec<u8>, ChainError> {
    let mut data = Vec::with_capacity(68);
    data.extend_from_slice(&[0xa9, 0x05, 0x9c, 0xbb]);
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(to_alloy(to)?.as_slice());
    data.extend_from_slice(&U256::from(amount).to_be_bytes::<32>());
    Ok(data)
}

/// `(to, value, input)` of a transfer: the token contract with calldata, or the recipient.
fn call_of(tx: &TransferTx) -> Result<(Address, U256, Vec<u8>), ChainError> {
    Ok(match &tx.contract {
        Some(contract) => (
            to_alloy(contract)?,
            U256::ZERO,
            transfer_call(&tx.to, tx.amount)?,
        ),
        None => (to_alloy(&tx.to)?, U256::from(tx.amount), Vec::new()),
    })
}

/// Classifies a node's refusal by the standard messages of geth-compatible nodes (the JSON-RPC
/// error carries no code that tells them apart).
fn classify(message: &str) -> Broadcast {
    let lower = message.to_ascii_lowercase();
    if lower.contains("already known")
        || lower.contains("known transaction")
        || lower.contains("already imported")
    {
        Broadcast::AlreadyKnown
    } else if lower.contains("nonce too low") || lower.contains("nonce is too low") {
        Broadcast::NonceTooLow
    } else {
        Broadcast::Refused(message.to_owned())
    }
}

impl EvmChainWriter {
    /// A writer for the chain `chain_id`.
    pub fn new(
        reader: std::sync::Arc<EvmChainReader>,
        keys: PayoutKeys,
        chain_id: u64,
    ) -> EvmChainWriter {
        EvmChainWriter {
            reader,
            keys,
            chain_id,
        }
    }

    fn signed(&self, signer: Signer, mut unsigned: TxEip1559) -> Result<RawTx, ChainError> {
        let key = self.signer(signer)?;
        let signature = key
            .sign_transaction_sync(&mut unsigned)
            .map_err(|e| ChainError::Invalid(e.to_string()))?;
        let envelope = TxEnvelope::Eip1559(unsigned.into_signed(signature));
        Ok(RawTx {
            hash: format!("{:#x}", envelope.tx_hash()),
            raw: format!("0x{}", alloy::hex::encode(envelope.encoded_2718())),
            expires_at: None,
        })
    }

    fn signer(&self, signer: Signer) -> Result<PrivateKeySigner, ChainError> {
        let key = match signer {
            Signer::HotWallet => self.keys.hot_wallet(),
            Signer::Deposit(index) => self
                .keys
                .deposit(index)
                .map_err(|e| ChainError::Invalid(e.to_string()))?,
        };
        Ok(PrivateKeySigner::from_signing_key(key))
    }
}

#[async_trait]
impl ChainWriter for EvmChainWriter {
    fn address_of(&self, signer: Signer) -> Result<ChainAddress, ChainError> {
        Ok(ChainAddress::Evm(EvmAddress::from_bytes(
            self.signer(signer)?.address().into_array(),
        )))
    }

    async fn sign(&self, signer: Signer, tx: &TransferTx) -> Result<RawTx, ChainError> {
        let (to, value, input) = call_of(tx)?;
        let unsigned = TxEip1559 {
            chain_id: self.chain_id,
            nonce: tx.nonce,
            gas_limit: tx.gas_limit,
            max_fee_per_gas: tx.max_fee_per_gas,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
            to: TxKind::Call(to),
            value,
            access_list: Default::default(),
            input: Bytes::from(input),
        };
        self.signed(signer, unsigned)
    }

    fn resign(
        &self,
        signer: Signer,
        original: &RawTx,
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: u128,
    ) -> Result<RawTx, ChainError> {
        let bytes = alloy::hex::decode(original.raw.trim_start_matches("0x"))
            .map_err(|e| ChainError::Invalid(format!("stored transaction: {e}")))?;
        let envelope = TxEnvelope::decode_2718(&mut bytes.as_slice())
            .map_err(|e| ChainError::Invalid(format!("stored transaction: {e}")))?;
        let TxEnvelope::Eip1559(signed) = envelope else {
            return Err(ChainError::Invalid(
                "stored transaction is not EIP-1559".into(),
            ));
        };
        let mut unsigned = signed.tx().clone();
        unsigned.max_fee_per_gas = max_fee_per_gas;
        unsigned.max_priority_fee_per_gas = max_priority_fee_per_gas;
        self.signed(signer, unsigned)
    }

    async fn nonce(&self, address: &ChainAddress, pending: bool) -> Result<u64, ChainError> {
        let address = to_alloy(address)?;
        self.reader
            .call("eth_getTransactionCount", |provider, _| async move {
                let request = provider.get_transaction_count(address);
                let request = if pending {
                    request.pending()
                } else {
                    request.latest()
                };
                request.await.map_err(|e| e.to_string())
            })
            .await
    }

    async fn fee_quote(&self) -> Result<FeeQuote, ChainError> {
        self.reader
            .call("eth_feeHistory", |provider, _| async move {
                let base = provider
                    .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                    .await
                    .map_err(|e| e.to_string())?
                    .and_then(|b| b.header.base_fee_per_gas)
                    .unwrap_or(1_000_000_000);
                let tip = provider
                    .get_max_priority_fee_per_gas()
                    .await
                    .unwrap_or(1_000_000_000);
                Ok(FeeQuote {
                    base_fee: u128::from(base),
                    priority_fee: tip,
                })
            })
            .await
    }

    async fn estimate_gas(&self, from: &ChainAddress, tx: &TransferTx) -> Result<u64, ChainError> {
        let (to, value, input) = call_of(tx)?;
        let request = TransactionRequest::default()
            .from(to_alloy(from)?)
            .to(to)
            .value(value)
            .input(TransactionInput::new(Bytes::from(input)));
        self.reader
            .call("eth_estimateGas", |provider, _| {
                let request = request.clone();
                async move {
                    provider
                        .estimate_gas(request)
                        .await
                        .map_err(|e| e.to_string())
                }
            })
            .await
    }

    async fn broadcast(&self, raw: &RawTx) -> Result<Broadcast, ChainError> {
        let bytes = alloy::hex::decode(raw.raw.trim_start_matches("0x"))
            .map_err(|e| ChainError::Invalid(e.to_string()))?;
        // A refusal is an answer, not a failure: only transport errors fail over.
        self.reader
            .call("eth_sendRawTransaction", |_, client| {
                let bytes = Bytes::from(bytes.clone());
                async move {
                    let sent: Result<alloy::primitives::TxHash, _> =
                        client.request("eth_sendRawTransaction", (bytes,)).await;
                    match sent {
                        Ok(_) => Ok(Broadcast::Accepted),
                        Err(alloy::transports::RpcError::ErrorResp(payload)) => {
                            Ok(classify(&payload.message))
                        }
                        Err(error) => Err(error.to_string()),
                    }
                }
            })
            .await
    }

    async fn receipt(&self, tx_hash: &str) -> Result<Option<Receipt>, ChainError> {
        let hash: alloy::primitives::TxHash = tx_hash
            .parse()
            .map_err(|_| ChainError::Invalid(format!("bad hash {tx_hash}")))?;
        self.reader
            .call("eth_getTransactionReceipt", |provider, _| async move {
                let receipt = provider
                    .get_transaction_receipt(hash)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(receipt.and_then(|r| {
                    Some(Receipt {
                        block_number: r.block_number?,
                        success: r.status(),
                        fee: u128::from(r.gas_used).saturating_mul(r.effective_gas_price),
                        reclaimed: 0,
                    })
                }))
            })
            .await
    }

    async fn known(&self, tx_hash: &str) -> Result<bool, ChainError> {
        let hash: alloy::primitives::TxHash = tx_hash
            .parse()
            .map_err(|_| ChainError::Invalid(format!("bad hash {tx_hash}")))?;
        self.reader
            .call("eth_getTransactionByHash", |provider, _| async move {
                let found = provider
                    .get_transaction_by_hash(hash)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(found.is_some())
            })
            .await
    }

    async fn balance(
        &self,
        address: &ChainAddress,
        contract: Option<&ChainAddress>,
    ) -> Result<u128, ChainError> {
        let owner = to_alloy(address)?;
        let value = match contract {
            None => {
                self.reader
                    .call("eth_getBalance", |provider, _| async move {
                        provider.get_balance(owner).await.map_err(|e| e.to_string())
                    })
                    .await?
            }
            Some(contract) => {
                let mut data = vec![0x70, 0xa0, 0x82, 0x31];
                data.extend_from_slice(&[0u8; 12]);
                data.extend_from_slice(owner.as_slice());
                let request = TransactionRequest::default()
                    .to(to_alloy(contract)?)
                    .input(TransactionInput::new(Bytes::from(data)));
                let answer = self
                    .reader
                    .call("eth_call balanceOf", |provider, _| {
                        let request = request.clone();
                        async move { provider.call(request).await.map_err(|e| e.to_string()) }
                    })
                    .await?;
                U256::try_from_be_slice(&answer).unwrap_or(U256::ZERO)
            }
        };
        u128::try_from(value).map_err(|_| ChainError::Invalid("balance beyond 128 bits".into()))
    }

    async fn head_number(&self) -> Result<u64, ChainError> {
        self.reader
            .call("eth_blockNumber", |provider, _| async move {
                provider.get_block_number().await.map_err(|e| e.to_string())
            })
            .await
    }

    async fn head_time(&self) -> Result<Timestamp, ChainError> {
        use wcheckout_domain::chain::ChainReader;
        Ok(self.reader.head().await?.time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_calldata_layout() {
        let to = ChainAddress::Evm(EvmAddress::from_bytes([0x11; 20]));
        let data = transfer_call(&to, 1_500_000).unwrap();
        assert_eq!(data.len(), 68);
        assert_eq!(&data[..4], &[0xa9, 0x05, 0x9c, 0xbb]);
        assert_eq!(&data[16..36], &[0x11; 20]);
        assert_eq!(U256::from_be_slice(&data[36..]), U256::from(1_500_000u64));
    }

    #[test]
    fn node_refusals_are_classified() {
        assert_eq!(classify("already known"), Broadcast::AlreadyKnown);
        assert_eq!(
            classify("nonce too low: next nonce 5, tx nonce 4"),
            Broadcast::NonceTooLow
        );
        assert!(matches!(
            classify("replacement transaction underpriced"),
            Broadcast::Refused(_)
        ));
    }
}
