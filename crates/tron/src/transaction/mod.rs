//! The transactions wcheckout signs on TRON: a TRC-20 `transfer` (refunds, settlements, sweeps)
//! and a plain TRX transfer (gas top-ups, and the 1 TRX that activates a new address).
//!
//! A transaction is the protobuf `Transaction { raw raw_data = 1; repeated bytes signature = 2 }`.
//! `raw_data` holds `ref_block_bytes` (1), `ref_block_hash` (4), `expiration` (8, ms), one
//! `contract` (11), `timestamp` (14, ms) and `fee_limit` (18, sun). A contract is its `type` (1)
//! and an `Any` parameter (2) of `type_url` (1) and the encoded contract message (2):
//! `TriggerSmartContract` (type 31: `owner_address` 1, `contract_address` 2, `data` 4) or
//! `TransferContract` (type 1: `owner_address` 1, `to_address` 2, `amount` 3). The txID is
//! sha256 of the `raw_data` bytes, so the encoding has to be byte-exact.
//!
//! The node accepts a transaction until its `expiration`, and only if its reference block is
//! one of the recent blocks of the chain it follows.

mod signature;

use k256::ecdsa::SigningKey;

pub use self::signature::{Signature, SignatureError, TxId};
use crate::abi;
use crate::address::TronAddress;
use crate::protobuf::Message;

/// `Transaction.Contract.ContractType` of a TRX transfer.
const TRANSFER_CONTRACT: u64 = 1;
/// `Transaction.Contract.ContractType` of a smart-contract call.
const TRIGGER_SMART_CONTRACT: u64 = 31;
/// The `Any` type URL prefix of TRON's contract messages.
const TYPE_URL_PREFIX: &str = "type.googleapis.com/protocol.";

/// The reference to a recent block that ties a transaction to one chain and fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefBlock {
    bytes: [u8; 2],
    hash: [u8; 8],
}

impl RefBlock {
    /// The reference to block `number` whose block id is `id`: bytes 6..8 of the big-endian
    /// number and bytes 8..16 of the id (a TRON block id starts with the 8-byte number).
    pub fn new(number: u64, id: &[u8; 32]) -> RefBlock {
        let number = number.to_be_bytes();
        let mut bytes = [0u8; 2];
        bytes.copy_from_slice(&number[6..8]);
        let mut hash = [0u8; 8];
        hash.copy_from_slice(&id[8..16]);
        RefBlock { bytes, hash }
    }

    /// `ref_block_bytes`.
    pub const fn bytes(&self) -> [u8; 2] {
        self.bytes
    }

    /// `ref_block_hash`.
    pub const fn hash(&self) -> [u8; 8] {
        self.hash
    }
}

/// What every transaction carries besides its contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The recent block the transaction refers to.
    pub ref_block: RefBlock,
    /// When the transaction was made, in ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// The node refuses the transaction after this time (ms since the Unix epoch).
    pub expiration_ms: u64,
    /// The most TRX (in sun) the call may burn for energy; 0 leaves the field out, as TRX
    /// transfers do.
    pub fee_limit_sun: u64,
}

/// What a transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `owner` sends `amount` base units of the TRC-20 `token` to `to`.
    Trc20Transfer {
        /// The sender, whose key signs.
        owner: TronAddress,
        /// The token contract.
        token: TronAddress,
        /// The recipient.
        to: TronAddress,
        /// Base units of the token.
        amount: u128,
    },
    /// `owner` sends `amount_sun` TRX (1 TRX = 10^6 sun) to `to`.
    TrxTransfer {
        /// The sender, whose key signs.
        owner: TronAddress,
        /// The recipient; a new address is activated by its first TRX.
        to: TronAddress,
        /// Sun.
        amount_sun: u64,
    },
}

impl Call {
    /// The address whose key must sign.
    pub const fn owner(&self) -> TronAddress {
        match self {
            Call::Trc20Transfer { owner, .. } | Call::TrxTransfer { owner, .. } => *owner,
        }
    }
}

/// Why a transaction cannot be built or signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// A protobuf `int64` field given a value above `i64::MAX`.
    #[error("{field} is {value}, above the largest int64")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The value given.
        value: u64,
    },
    /// Nothing to transfer.
    #[error("the amount is zero")]
    ZeroAmount,
    /// The node refuses TRX sent to its own sender.
    #[error("a TRX transfer to its own sender")]
    SelfTransfer,
    /// Expired before it was made.
    #[error("expiration {expiration_ms} is not after timestamp {timestamp_ms}")]
    Expiration {
        /// `expiration`, ms.
        expiration_ms: u64,
        /// `timestamp`, ms.
        timestamp_ms: u64,
    },
    /// The key given is not the owner's: the node would refuse the signature.
    #[error("the key of {signer} cannot sign for {owner}")]
    WrongKey {
        /// The transaction's owner.
        owner: TronAddress,
        /// The address of the key given.
        signer: TronAddress,
    },
    /// Signing failed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// A transaction built and identified, not yet signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedTransaction {
    owner: TronAddress,
    raw_data: Vec<u8>,
    id: TxId,
}

impl UnsignedTransaction {
    /// Encodes `call` under `header`.
    pub fn new(call: &Call, header: &Header) -> Result<UnsignedTransaction, TransactionError> {
        if header.expiration_ms <= header.timestamp_ms {
            return Err(TransactionError::Expiration {
                expiration_ms: header.expiration_ms,
                timestamp_ms: header.timestamp_ms,
            });
        }
        let raw_data = Message::new()
            .bytes(1, &header.ref_block.bytes)
            .bytes(4, &header.ref_block.hash)
            .varint(8, int64("expiration", header.expiration_ms)?)
            .message(11, &contract(call)?)
            .varint(14, int64("timestamp", header.timestamp_ms)?)
            .varint(18, int64("fee_limit", header.fee_limit_sun)?)
            .into_bytes();
        Ok(UnsignedTransaction {
            owner: call.owner(),
            id: TxId::of_raw_data(&raw_data),
            raw_data,
        })
    }

    /// The encoded `raw_data`.
    pub fn raw_data(&self) -> &[u8] {
        &self.raw_data
    }

    /// The txID.
    pub const fn id(&self) -> TxId {
        self.id
    }

    /// Signs with the owner's key.
    pub fn sign(self, key: &SigningKey) -> Result<SignedTransaction, TransactionError> {
        let signer = crate::address::of_public_key(key.verifying_key());
        if signer != self.owner {
            return Err(TransactionError::WrongKey {
                owner: self.owner,
                signer,
            });
        }
        let signature = Signature::sign(key, &self.id)?;
        Ok(SignedTransaction {
            unsigned: self,
            signature,
        })
    }
}

/// A signed transaction, ready to broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    unsigned: UnsignedTransaction,
    signature: Signature,
}

impl SignedTransaction {
    /// The txID.
    pub const fn id(&self) -> TxId {
        self.unsigned.id
    }

    /// The encoded `raw_data`.
    pub fn raw_data(&self) -> &[u8] {
        &self.unsigned.raw_data
    }

    /// The owner's signature over the txID.
    pub const fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The whole protobuf `Transaction`.
    pub fn to_bytes(&self) -> Vec<u8> {
        Message::new()
            .bytes(1, &self.unsigned.raw_data)
            .bytes(2, self.signature.as_bytes())
            .into_bytes()
    }

    /// The whole `Transaction` in hex: the `transaction` of `/wallet/broadcasthex`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

/// `raw_data.contract`: the call's type and its message wrapped in an `Any`.
fn contract(call: &Call) -> Result<Message, TransactionError> {
    let (kind, name, value) = match *call {
        Call::Trc20Transfer {
            owner,
            token,
            to,
            amount,
        } => {
            if amount == 0 {
                return Err(TransactionError::ZeroAmount);
            }
            let value = Message::new()
                .bytes(1, &owner.to_prefixed_bytes())
                .bytes(2, &token.to_prefixed_bytes())
                .bytes(4, &abi::transfer_call(&to, amount));
            (TRIGGER_SMART_CONTRACT, "TriggerSmartContract", value)
        }
        Call::TrxTransfer {
            owner,
            to,
            amount_sun,
        } => {
            if amount_sun == 0 {
                return Err(TransactionError::ZeroAmount);
            }
            if owner == to {
                return Err(TransactionError::SelfTransfer);
            }
            let value = Message::new()
                .bytes(1, &owner.to_prefixed_bytes())
                .bytes(2, &to.to_prefixed_bytes())
                .varint(3, int64("amount", amount_sun)?);
            (TRANSFER_CONTRACT, "TransferContract", value)
        }
    };
    let type_url = format!("{TYPE_URL_PREFIX}{name}");
    let parameter = Message::new()
        .bytes(1, type_url.as_bytes())
        .message(2, &value);
    Ok(Message::new().varint(1, kind).message(2, &parameter))
}

/// A value for a protobuf `int64` field: non-negative values encode as the same varint as
/// `u64`, and TRON refuses negative times and amounts, so values above `i64::MAX` are refused.
fn int64(field: &'static str, value: u64) -> Result<u64, TransactionError> {
    if i64::try_from(value).is_ok() {
        Ok(value)
    } else {
        Err(TransactionError::OutOfRange { field, value })
    }
}

#[cfg(test)]
mod tests;
