//! Transactions a payer's own wallet signs: the payment page's "Pay with wallet" on Solana
//! (the wallet standard's `solana:signAndSendTransaction`). The gateway builds the whole
//! payment and the wallet only signs it with the payer's key, so what is paid (mint, amount,
//! decimals, recipient) is exactly the order's, as in a Solana Pay transaction request.
//!
//! The transaction, a legacy one with the payer as fee payer and only signer:
//!
//! 1. `SetComputeUnitLimit` ([`COMPUTE_UNIT_LIMIT`]) and `SetComputeUnitPrice`
//!    ([`PRIORITY_MICRO_LAMPORTS`]): a small priority fee, charged on that limit;
//! 2. `CreateIdempotent` of the deposit owner's associated token account for the mint, its rent
//!    paid by the payer (nothing happens when it exists);
//! 3. `TransferChecked` of the amount from the payer's associated token account, with the
//!    order's reference key appended as a read-only non-signer account (Solana Pay's
//!    convention: `getSignaturesForAddress(reference)` finds the payment, and the token
//!    program ignores accounts past the ones it reads).
//!
//! Its one signature is left empty (64 zero bytes), as wallets expect an unsigned transaction.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{ChainError, PayerPayment, PayerTransactions, UnsignedPayment};

use crate::address::{ProgramAddresses, SolanaAddress, TOKEN_2022_PROGRAM, TOKEN_PROGRAM};
use crate::rpc::{Commitment, RpcError, SolanaRpc};
use crate::transaction::instructions::{
    create_associated_token_account_idempotent, set_compute_unit_limit, set_compute_unit_price,
    transfer_checked,
};
use crate::transaction::{
    AccountMeta, Blockhash, Instruction, MAX_TRANSACTION_SIZE, Message, TransactionError,
};

/// Compute units the payment may use: the account creation (about 25,000 with the System
/// program's allocation, more for Token-2022) and the transfer (about 6,500) fit with room.
pub const COMPUTE_UNIT_LIMIT: u32 = 80_000;

/// The priority fee, micro-lamports per compute unit: 80,000 × 20,000 / 10⁶ = 1,600 lamports
/// on top of the 5,000-lamport signature fee.
pub const PRIORITY_MICRO_LAMPORTS: u64 = 20_000;

/// One payment of an order from a payer's wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayerTransfer {
    /// Pays the fee and the rent, owns the tokens sent, signs.
    pub payer: SolanaAddress,
    /// The deposit owner: its associated token account for `mint` receives.
    pub recipient: SolanaAddress,
    pub mint: SolanaAddress,
    /// The mint's program (Token or Token-2022).
    pub token_program: SolanaAddress,
    pub decimals: u8,
    /// Base units.
    pub amount: u64,
    /// The order's reference key.
    pub reference: SolanaAddress,
}

impl PayerTransfer {
    /// The instructions, in order: compute limit, priority fee, recipient account, transfer.
    pub fn instructions(&self) -> Result<Vec<Instruction>, TransactionError> {
        let ata = |owner: &SolanaAddress| {
            owner
                .associated_token_account(&self.mint, &self.token_program)
                .map_err(|_| TransactionError::Derivation)
        };
        let mut transfer = transfer_checked(
            &self.token_program,
            &ata(&self.payer)?,
            &self.mint,
            &ata(&self.recipient)?,
            &self.payer,
            self.amount,
            self.decimals,
        )?;
        transfer
            .accounts
            .push(AccountMeta::readonly(self.reference, false));
        Ok(vec![
            set_compute_unit_limit(COMPUTE_UNIT_LIMIT),
            set_compute_unit_price(PRIORITY_MICRO_LAMPORTS),
            create_associated_token_account_idempotent(
                &self.payer,
                &self.recipient,
                &self.mint,
                &self.token_program,
            )?,
            transfer,
        ])
    }

    /// The compiled message, anchored to `blockhash`.
    pub fn message(&self, blockhash: Blockhash) -> Result<Message, TransactionError> {
        Message::compile(&self.payer, &self.instructions()?, blockhash)
    }

    /// The unsigned transaction's bytes: the signature count, an empty signature per signer
    /// (only the payer), then the message.
    pub fn unsigned_transaction(&self, blockhash: Blockhash) -> Result<Vec<u8>, TransactionError> {
        unsigned_transaction(&self.message(blockhash)?)
    }
}

/// `message` as a transaction with every signature empty (64 zero bytes each).
pub fn unsigned_transaction(message: &Message) -> Result<Vec<u8>, TransactionError> {
    let signers = message.signers().len();
    // A legacy message has fewer than 128 signers here, so the compact-u16 count is one byte.
    let count = u8::try_from(signers)
        .ok()
        .filter(|n| *n < 0x80)
        .ok_or(TransactionError::TooManyAccounts(signers))?;
    let body = message.serialize();
    let mut out = Vec::with_capacity(1 + 64 * signers + body.len());
    out.push(count);
    out.resize(1 + 64 * signers, 0);
    out.extend_from_slice(&body);
    if out.len() > MAX_TRANSACTION_SIZE {
        return Err(TransactionError::TooLarge(out.len()));
    }
    Ok(out)
}

/// The wallet standard's name of the cluster whose genesis block hash is `genesis`; any other
/// cluster (a local validator, Surfnet) is `solana:localnet`.
pub fn wallet_chain(genesis: &str) -> &'static str {
    match genesis {
        "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d" => "solana:mainnet",
        "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG" => "solana:devnet",
        "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY" => "solana:testnet",
        _ => "solana:localnet",
    }
}

/// How long a blockhash read is reused. A transaction stays valid for 150 blocks (about a
/// minute) after its blockhash, so a few seconds' reuse costs payers nothing, and pressing the
/// button on many pages at once (or a script posting to the route) costs the node one read per
/// period rather than one per request.
pub const BLOCKHASH_REUSE: Duration = Duration::from_secs(5);

/// [`PayerTransactions`] over a Solana cluster's JSON-RPC: the mint's program and the cluster's
/// name are read once and kept; the blockhash is read at `confirmed` and reused for
/// [`BLOCKHASH_REUSE`].
pub struct SolanaPayerTransactions {
    rpc: SolanaRpc,
    token_programs: Mutex<HashMap<SolanaAddress, SolanaAddress>>,
    wallet_chain: Mutex<Option<&'static str>>,
    blockhash: Mutex<Option<(Instant, Blockhash)>>,
}

impl std::fmt::Debug for SolanaPayerTransactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolanaPayerTransactions")
            .field("rpc", &self.rpc)
            .finish_non_exhaustive()
    }
}

impl SolanaPayerTransactions {
    pub fn new(rpc: SolanaRpc) -> SolanaPayerTransactions {
        SolanaPayerTransactions {
            rpc,
            token_programs: Mutex::new(HashMap::new()),
            wallet_chain: Mutex::new(None),
            blockhash: Mutex::new(None),
        }
    }

    async fn blockhash(&self) -> Result<Blockhash, ChainError> {
        let kept = self.blockhash.lock().ok().and_then(|kept| *kept);
        if let Some((read_at, hash)) = kept
            && read_at.elapsed() < BLOCKHASH_REUSE
        {
            return Ok(hash);
        }
        let text = self
            .rpc
            .latest_blockhash(Commitment::Confirmed)
            .await
            .map_err(chain_error)?
            .blockhash;
        let hash = Blockhash::parse(&text)
            .map_err(|e| ChainError::Invalid(format!("getLatestBlockhash: {text:?}: {e}")))?;
        if let Ok(mut kept) = self.blockhash.lock() {
            *kept = Some((Instant::now(), hash));
        }
        Ok(hash)
    }

    async fn token_program(&self, mint: &SolanaAddress) -> Result<SolanaAddress, ChainError> {
        if let Some(program) = self
            .token_programs
            .lock()
            .ok()
            .and_then(|m| m.get(mint).copied())
        {
            return Ok(program);
        }
        let program = self
            .rpc
            .account_owner(mint, Commitment::Confirmed)
            .await
            .map_err(chain_error)?
            .ok_or_else(|| ChainError::Invalid(format!("the mint {mint} does not exist")))?;
        if program != TOKEN_PROGRAM && program != TOKEN_2022_PROGRAM {
            return Err(ChainError::Invalid(format!(
                "{mint} is owned by {program}, not a token program"
            )));
        }
        if let Ok(mut programs) = self.token_programs.lock() {
            programs.insert(*mint, program);
        }
        Ok(program)
    }

    async fn wallet_chain(&self) -> Result<&'static str, ChainError> {
        if let Some(chain) = self.wallet_chain.lock().ok().and_then(|c| *c) {
            return Ok(chain);
        }
        let chain = wallet_chain(&self.rpc.genesis_hash().await.map_err(chain_error)?);
        if let Ok(mut kept) = self.wallet_chain.lock() {
            *kept = Some(chain);
        }
        Ok(chain)
    }
}

fn chain_error(error: RpcError) -> ChainError {
    match error {
        RpcError::Unavailable(reason) => ChainError::Unavailable(reason),
        other => ChainError::Invalid(other.to_string()),
    }
}

fn solana(address: &Address) -> Result<SolanaAddress, ChainError> {
    match address {
        Address::Solana(address) => Ok(*address),
        other => Err(ChainError::Invalid(format!(
            "{other} is not a Solana address"
        ))),
    }
}

#[async_trait]
impl PayerTransactions for SolanaPayerTransactions {
    async fn unsigned_payment(
        &self,
        payment: &PayerPayment,
    ) -> Result<UnsignedPayment, ChainError> {
        let mint = solana(&payment.contract)?;
        let amount = u64::try_from(payment.amount.base_units())
            .map_err(|_| ChainError::Invalid("amount over 64 bits".into()))?;
        let transfer = PayerTransfer {
            payer: solana(&payment.payer)?,
            recipient: solana(&payment.recipient)?,
            mint,
            token_program: self.token_program(&mint).await?,
            decimals: payment.decimals,
            amount,
            reference: solana(&payment.reference)?,
        };
        let wallet_chain = self.wallet_chain().await?;
        let blockhash = self.blockhash().await?;
        let bytes = transfer
            .unsigned_transaction(blockhash)
            .map_err(|e| ChainError::Invalid(e.to_string()))?;
        Ok(UnsignedPayment {
            transaction: base64::engine::general_purpose::STANDARD.encode(bytes),
            wallet_chain: wallet_chain.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{ASSOCIATED_TOKEN_PROGRAM, COMPUTE_BUDGET_PROGRAM, SYSTEM_PROGRAM};

    fn address(text: &str) -> SolanaAddress {
        SolanaAddress::parse(text).unwrap()
    }

    fn transfer() -> PayerTransfer {
        PayerTransfer {
            payer: address("Hh8QwFUA6MtVu1qAoq12ucvFHNwCcVTV7hpWjeY1Hztb"),
            recipient: address("HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"),
            mint: address("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
            token_program: TOKEN_PROGRAM,
            decimals: 6,
            amount: 6_000_000,
            reference: SolanaAddress::from_bytes([7; 32]),
        }
    }

    #[test]
    fn the_payer_signs_alone_and_the_reference_is_a_read_only_account_of_the_transfer() {
        let t = transfer();
        let blockhash = Blockhash::from_bytes([9; 32]);
        let message = t.message(blockhash).unwrap();
        assert_eq!(message.signers(), [t.payer]);
        let keys = message.account_keys();
        let payer_ata = t
            .payer
            .associated_token_account(&t.mint, &TOKEN_PROGRAM)
            .unwrap();
        let deposit_ata = t
            .recipient
            .associated_token_account(&t.mint, &TOKEN_PROGRAM)
            .unwrap();
        // Fee payer; writable non-signers; read-only non-signers in order of first use.
        assert_eq!(
            keys,
            [
                t.payer,
                deposit_ata,
                payer_ata,
                COMPUTE_BUDGET_PROGRAM,
                ASSOCIATED_TOKEN_PROGRAM,
                t.recipient,
                t.mint,
                SYSTEM_PROGRAM,
                TOKEN_PROGRAM,
                t.reference,
            ]
        );
        let instructions = t.instructions().unwrap();
        assert_eq!(instructions.len(), 4);
        let transfer = &instructions[3];
        assert_eq!(transfer.program, TOKEN_PROGRAM);
        assert_eq!(
            transfer.accounts.last(),
            Some(&AccountMeta::readonly(t.reference, false))
        );
        let mut data = vec![12];
        data.extend_from_slice(&6_000_000u64.to_le_bytes());
        data.push(6);
        assert_eq!(transfer.data, data);
        // The creation is the deposit owner's account, paid by the payer.
        assert_eq!(
            instructions[2].accounts[0],
            AccountMeta::writable(t.payer, true)
        );
        assert_eq!(instructions[2].accounts[1].address, deposit_ata);
        assert_eq!(instructions[2].accounts[2].address, t.recipient);

        let bytes = t.unsigned_transaction(blockhash).unwrap();
        assert_eq!(bytes[0], 1, "one signature");
        assert!(bytes[1..65].iter().all(|b| *b == 0), "left empty");
        assert_eq!(&bytes[65..], message.serialize().as_slice());
    }

    #[test]
    fn a_zero_amount_is_refused() {
        let t = PayerTransfer {
            amount: 0,
            ..transfer()
        };
        assert_eq!(
            t.unsigned_transaction(Blockhash::from_bytes([1; 32])),
            Err(TransactionError::ZeroAmount)
        );
    }

    #[test]
    fn clusters_are_named_by_their_genesis_hash() {
        assert_eq!(
            wallet_chain("5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"),
            "solana:mainnet"
        );
        assert_eq!(
            wallet_chain("EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"),
            "solana:devnet"
        );
        assert_eq!(wallet_chain("anything else"), "solana:localnet");
    }
}
