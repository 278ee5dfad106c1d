//! Legacy Solana transactions: instructions compiled into a message (header, account keys,
//! recent blockhash, instructions indexing the keys), signed with ed25519 by every signer the
//! message requires, the fee payer first. The first signature, in base58, is the transaction's
//! id; the whole transaction in base64 is what `sendTransaction` takes.
//!
//! Account keys are ordered as Solana's clients compile them: the fee payer, then writable
//! signers, read-only signers, writable non-signers and read-only non-signers, each group in
//! the order the keys first appear (an instruction's program before its accounts).

pub mod instructions;
mod wire;

use std::fmt;

use base64::Engine;

use crate::address::{SolanaAddress, SolanaAddressError};
use crate::keys::Keypair;
use wire::{compact_len, push_compact_u16, read_compact_u16};

/// The largest transaction a validator accepts (an IPv6 packet minus headers), in bytes.
pub const MAX_TRANSACTION_SIZE: usize = 1232;

/// An account an instruction reads or writes, and whether it must sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountMeta {
    pub address: SolanaAddress,
    pub signer: bool,
    pub writable: bool,
}

impl AccountMeta {
    /// A writable account, signing or not.
    pub const fn writable(address: SolanaAddress, signer: bool) -> AccountMeta {
        AccountMeta {
            address,
            signer,
            writable: true,
        }
    }

    /// A read-only account, signing or not.
    pub const fn readonly(address: SolanaAddress, signer: bool) -> AccountMeta {
        AccountMeta {
            address,
            signer,
            writable: false,
        }
    }
}

/// One call of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub program: SolanaAddress,
    pub accounts: Vec<AccountMeta>,
    pub data: Vec<u8>,
}

/// A recent blockhash: the transaction is valid until about 150 blocks after it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Blockhash([u8; 32]);

impl Blockhash {
    pub const fn from_bytes(bytes: [u8; 32]) -> Blockhash {
        Blockhash(bytes)
    }

    /// Parses the base58 form `getLatestBlockhash` returns.
    pub fn parse(text: &str) -> Result<Blockhash, SolanaAddressError> {
        SolanaAddress::parse(text).map(|hash| Blockhash(*hash.as_bytes()))
    }
}

impl fmt::Display for Blockhash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&SolanaAddress::from_bytes(self.0), f)
    }
}

impl fmt::Debug for Blockhash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blockhash({self})")
    }
}

/// Why a transaction cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("a transfer of zero base units")]
    ZeroAmount,
    #[error("{0} accounts; a legacy transaction indexes at most 256")]
    TooManyAccounts(usize),
    #[error("the transaction has {0} bytes; Solana accepts at most {MAX_TRANSACTION_SIZE}")]
    TooLarge(usize),
    #[error("{0} must sign but no key for it was given")]
    MissingSigner(SolanaAddress),
    #[error("a key for {0} was given but the transaction does not need its signature")]
    UnexpectedSigner(SolanaAddress),
    #[error("no program-derived address for these seeds")]
    Derivation,
    #[error("not a legacy transaction in Solana's wire form")]
    Malformed,
}

/// An instruction with its program and accounts as indices into the message's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CompiledInstruction {
    program: u8,
    accounts: Vec<u8>,
    data: Vec<u8>,
}

/// A compiled legacy message: what every signer signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    required_signatures: u8,
    readonly_signed: u8,
    readonly_unsigned: u8,
    account_keys: Vec<SolanaAddress>,
    recent_blockhash: Blockhash,
    instructions: Vec<CompiledInstruction>,
}

/// What a key does in the message, merged over every instruction that names it.
#[derive(Clone, Copy)]
struct KeyUse {
    address: SolanaAddress,
    signer: bool,
    writable: bool,
}

impl Message {
    /// Compiles `instructions` with `fee_payer` (a writable signer, listed first).
    pub fn compile(
        fee_payer: &SolanaAddress,
        instructions: &[Instruction],
        recent_blockhash: Blockhash,
    ) -> Result<Message, TransactionError> {
        let uses = key_uses(fee_payer, instructions);
        let group = |signer: bool, writable: bool| {
            uses.iter()
                .filter(move |u| u.signer == signer && u.writable == writable)
                .map(|u| u.address)
        };
        let account_keys: Vec<SolanaAddress> = group(true, true)
            .chain(group(true, false))
            .chain(group(false, true))
            .chain(group(false, false))
            .collect();
        let count = |signer: bool, writable: bool| small(group(signer, writable).count());
        let message = Message {
            required_signatures: small(uses.iter().filter(|u| u.signer).count())?,
            readonly_signed: count(true, false)?,
            readonly_unsigned: count(false, false)?,
            instructions: instructions
                .iter()
                .map(|instruction| compile_instruction(instruction, &account_keys))
                .collect::<Result<_, _>>()?,
            account_keys,
            recent_blockhash,
        };
        Ok(message)
    }

    /// The message's bytes: what is signed.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = vec![
            self.required_signatures,
            self.readonly_signed,
            self.readonly_unsigned,
        ];
        push_compact_u16(&mut out, self.account_keys.len());
        for key in &self.account_keys {
            out.extend_from_slice(key.as_bytes());
        }
        out.extend_from_slice(&self.recent_blockhash.0);
        push_compact_u16(&mut out, self.instructions.len());
        for instruction in &self.instructions {
            out.push(instruction.program);
            push_compact_u16(&mut out, instruction.accounts.len());
            out.extend_from_slice(&instruction.accounts);
            push_compact_u16(&mut out, instruction.data.len());
            out.extend_from_slice(&instruction.data);
        }
        out
    }

    /// Every account the message names, in its order.
    pub fn account_keys(&self) -> &[SolanaAddress] {
        &self.account_keys
    }

    /// The accounts that must sign, the fee payer first.
    pub fn signers(&self) -> &[SolanaAddress] {
        &self.account_keys[..usize::from(self.required_signatures)]
    }

    /// The blockhash the message expires with.
    pub fn recent_blockhash(&self) -> Blockhash {
        self.recent_blockhash
    }

    /// Signs with exactly the keys the message needs (in any order).
    pub fn sign(&self, keys: &[&Keypair]) -> Result<SignedTransaction, TransactionError> {
        if let Some(extra) = keys.iter().find(|k| !self.signers().contains(&k.address())) {
            return Err(TransactionError::UnexpectedSigner(extra.address()));
        }
        let message = self.serialize();
        let signatures = self
            .signers()
            .iter()
            .map(|signer| {
                keys.iter()
                    .find(|key| key.address() == *signer)
                    .map(|key| key.sign(&message))
                    .ok_or(TransactionError::MissingSigner(*signer))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let signed = SignedTransaction {
            signatures,
            message,
        };
        let size = signed.to_bytes().len();
        if size > MAX_TRANSACTION_SIZE {
            return Err(TransactionError::TooLarge(size));
        }
        Ok(signed)
    }
}

/// The keys in order of first appearance, the fee payer first, each instruction's program
/// before its accounts, with the signer and writable flags of all their uses.
fn key_uses(fee_payer: &SolanaAddress, instructions: &[Instruction]) -> Vec<KeyUse> {
    let mut uses = vec![KeyUse {
        address: *fee_payer,
        signer: true,
        writable: true,
    }];
    let mut merge = |address: SolanaAddress, signer: bool, writable: bool| match uses
        .iter_mut()
        .find(|u| u.address == address)
    {
        Some(known) => {
            known.signer |= signer;
            known.writable |= writable;
        }
        None => uses.push(KeyUse {
            address,
            signer,
            writable,
        }),
    };
    for instruction in instructions {
        merge(instruction.program, false, false);
        for meta in &instruction.accounts {
            merge(meta.address, meta.signer, meta.writable);
        }
    }
    uses
}

fn compile_instruction(
    instruction: &Instruction,
    keys: &[SolanaAddress],
) -> Result<CompiledInstruction, TransactionError> {
    let index = |address: &SolanaAddress| {
        let at = keys
            .iter()
            .position(|key| key == address)
            .unwrap_or(keys.len());
        small(at)
    };
    Ok(CompiledInstruction {
        program: index(&instruction.program)?,
        accounts: instruction
            .accounts
            .iter()
            .map(|meta| index(&meta.address))
            .collect::<Result<_, _>>()?,
        data: instruction.data.clone(),
    })
}

/// A count or index that must fit the message's single bytes.
fn small(value: usize) -> Result<u8, TransactionError> {
    u8::try_from(value).map_err(|_| TransactionError::TooManyAccounts(value))
}

/// A signed transaction, ready for `sendTransaction`.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    signatures: Vec<[u8; 64]>,
    message: Vec<u8>,
}

impl SignedTransaction {
    /// The transaction id: the fee payer's signature in base58.
    pub fn id(&self) -> String {
        self.signatures
            .first()
            .map(|signature| bs58::encode(signature).into_string())
            .unwrap_or_default()
    }

    /// The signatures, in the order of the message's signers.
    pub fn signatures(&self) -> &[[u8; 64]] {
        &self.signatures
    }

    /// The signed message's bytes.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The wire form: the signatures, then the message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            compact_len(self.signatures.len()) + 64 * self.signatures.len() + self.message.len(),
        );
        push_compact_u16(&mut out, self.signatures.len());
        for signature in &self.signatures {
            out.extend_from_slice(signature);
        }
        out.extend_from_slice(&self.message);
        out
    }

    /// The wire form in base64, for `sendTransaction` with `encoding: "base64"`.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }
}

/// The recent blockhash of a signed legacy transaction in wire form: after the signatures, the
/// message header (3 bytes) and the account keys.
pub fn recent_blockhash_of(wire: &[u8]) -> Result<Blockhash, TransactionError> {
    let (signatures, len) = read_compact_u16(wire).ok_or(TransactionError::Malformed)?;
    let header = signatures
        .checked_mul(64)
        .and_then(|bytes| bytes.checked_add(len))
        .ok_or(TransactionError::Malformed)?;
    let message = wire.get(header..).ok_or(TransactionError::Malformed)?;
    // A versioned message starts with a byte whose high bit is set; only legacy ones are ours.
    if message.first().is_none_or(|first| first & 0x80 != 0) {
        return Err(TransactionError::Malformed);
    }
    let keys_at = message.get(3..).ok_or(TransactionError::Malformed)?;
    let (keys, len) = read_compact_u16(keys_at).ok_or(TransactionError::Malformed)?;
    let hash_at = keys
        .checked_mul(32)
        .and_then(|bytes| bytes.checked_add(len))
        .ok_or(TransactionError::Malformed)?;
    let hash: [u8; 32] = keys_at
        .get(hash_at..hash_at.saturating_add(32))
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(TransactionError::Malformed)?;
    Ok(Blockhash(hash))
}

impl fmt::Debug for SignedTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedTransaction({})", self.id())
    }
}

#[cfg(test)]
mod tests;
