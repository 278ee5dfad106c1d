//! The instructions wcheckout sends: SPL token transfers (Token and Token-2022 share these
//! instruction layouts), idempotent creation of associated token accounts, closing an emptied
//! token account, SOL transfers, and the compute budget's priority fee.

use super::{AccountMeta, Instruction, TransactionError};
use crate::address::{
    ASSOCIATED_TOKEN_PROGRAM, COMPUTE_BUDGET_PROGRAM, ProgramAddresses, SYSTEM_PROGRAM,
    SolanaAddress,
};

/// The token program's `TransferChecked`: the amount is checked against the mint's decimals.
const TOKEN_TRANSFER_CHECKED: u8 = 12;
/// The token program's `CloseAccount`: an empty account's rent goes to the destination.
const TOKEN_CLOSE_ACCOUNT: u8 = 9;
/// The associated token account program's `CreateIdempotent`: succeeds if the account exists.
const ATA_CREATE_IDEMPOTENT: u8 = 1;
/// The system program's `Transfer` (a little-endian u32 discriminator).
const SYSTEM_TRANSFER: u32 = 2;
/// The compute budget program's `SetComputeUnitLimit` and `SetComputeUnitPrice`.
const COMPUTE_UNIT_LIMIT: u8 = 2;
const COMPUTE_UNIT_PRICE: u8 = 3;

/// `TransferChecked` of `amount` base units of `mint` from the `source` token account to the
/// `destination` token account, signed by `authority` (the source's owner).
pub fn transfer_checked(
    token_program: &SolanaAddress,
    source: &SolanaAddress,
    mint: &SolanaAddress,
    destination: &SolanaAddress,
    authority: &SolanaAddress,
    amount: u64,
    decimals: u8,
) -> Result<Instruction, TransactionError> {
    if amount == 0 {
        return Err(TransactionError::ZeroAmount);
    }
    let mut data = vec![TOKEN_TRANSFER_CHECKED];
    data.extend_from_slice(&amount.to_le_bytes());
    data.push(decimals);
    Ok(Instruction {
        program: *token_program,
        accounts: vec![
            AccountMeta::writable(*source, false),
            AccountMeta::readonly(*mint, false),
            AccountMeta::writable(*destination, false),
            AccountMeta::readonly(*authority, true),
        ],
        data,
    })
}

/// Creates `owner`'s associated token account for `mint` unless it exists; `payer` pays its
/// rent (2,039,280 lamports for a Token account) and signs.
pub fn create_associated_token_account_idempotent(
    payer: &SolanaAddress,
    owner: &SolanaAddress,
    mint: &SolanaAddress,
    token_program: &SolanaAddress,
) -> Result<Instruction, TransactionError> {
    let account = owner
        .associated_token_account(mint, token_program)
        .map_err(|_| TransactionError::Derivation)?;
    Ok(Instruction {
        program: ASSOCIATED_TOKEN_PROGRAM,
        accounts: vec![
            AccountMeta::writable(*payer, true),
            AccountMeta::writable(account, false),
            AccountMeta::readonly(*owner, false),
            AccountMeta::readonly(*mint, false),
            AccountMeta::readonly(SYSTEM_PROGRAM, false),
            AccountMeta::readonly(*token_program, false),
        ],
        data: vec![ATA_CREATE_IDEMPOTENT],
    })
}

/// Closes the empty token `account`, its rent going to `destination`; `owner` signs.
pub fn close_account(
    token_program: &SolanaAddress,
    account: &SolanaAddress,
    destination: &SolanaAddress,
    owner: &SolanaAddress,
) -> Instruction {
    Instruction {
        program: *token_program,
        accounts: vec![
            AccountMeta::writable(*account, false),
            AccountMeta::writable(*destination, false),
            AccountMeta::readonly(*owner, true),
        ],
        data: vec![TOKEN_CLOSE_ACCOUNT],
    }
}

/// Moves `lamports` of SOL from `from` (signing) to `to`.
pub fn system_transfer(
    from: &SolanaAddress,
    to: &SolanaAddress,
    lamports: u64,
) -> Result<Instruction, TransactionError> {
    if lamports == 0 {
        return Err(TransactionError::ZeroAmount);
    }
    let mut data = SYSTEM_TRANSFER.to_le_bytes().to_vec();
    data.extend_from_slice(&lamports.to_le_bytes());
    Ok(Instruction {
        program: SYSTEM_PROGRAM,
        accounts: vec![
            AccountMeta::writable(*from, true),
            AccountMeta::writable(*to, false),
        ],
        data,
    })
}

/// The priority fee: `micro_lamports` per compute unit on top of the base fee.
pub fn set_compute_unit_price(micro_lamports: u64) -> Instruction {
    let mut data = vec![COMPUTE_UNIT_PRICE];
    data.extend_from_slice(&micro_lamports.to_le_bytes());
    Instruction {
        program: COMPUTE_BUDGET_PROGRAM,
        accounts: Vec::new(),
        data,
    }
}

/// The most compute units the transaction may use (the priority fee is charged on this).
pub fn set_compute_unit_limit(units: u32) -> Instruction {
    let mut data = vec![COMPUTE_UNIT_LIMIT];
    data.extend_from_slice(&units.to_le_bytes());
    Instruction {
        program: COMPUTE_BUDGET_PROGRAM,
        accounts: Vec::new(),
        data,
    }
}

/// A token payment from `sender`'s associated token account to `recipient`'s, as refunds,
/// settlements and sweeps send it.
#[derive(Debug, Clone, Copy)]
pub struct TokenPayment {
    /// Pays the fee and, if needed, the recipient account's rent (the hot wallet).
    pub fee_payer: SolanaAddress,
    /// Owns the source token account and signs the transfer.
    pub sender: SolanaAddress,
    /// The recipient's wallet (owner); its associated token account receives.
    pub recipient: SolanaAddress,
    pub mint: SolanaAddress,
    pub token_program: SolanaAddress,
    pub decimals: u8,
    pub amount: u64,
    /// The most compute units the transaction may use; the priority fee is charged on this
    /// limit (the runtime's default is 200,000 per instruction).
    pub compute_unit_limit: Option<u32>,
    /// The priority fee in micro-lamports per compute unit, if any.
    pub priority_micro_lamports: Option<u64>,
    /// Whether to create the recipient's account when it is missing (refunds, settlements).
    pub create_recipient_account: bool,
    /// Whether to close the sender's token account afterwards, its rent to the fee payer
    /// (a sweep that empties a deposit account).
    pub close_source: bool,
}

impl TokenPayment {
    /// The instructions, in order: compute limit, priority fee, recipient account, transfer,
    /// close.
    pub fn instructions(&self) -> Result<Vec<Instruction>, TransactionError> {
        let ata = |owner: &SolanaAddress| {
            owner
                .associated_token_account(&self.mint, &self.token_program)
                .map_err(|_| TransactionError::Derivation)
        };
        let source = ata(&self.sender)?;
        let mut out = Vec::new();
        if let Some(units) = self.compute_unit_limit {
            out.push(set_compute_unit_limit(units));
        }
        if let Some(price) = self.priority_micro_lamports {
            out.push(set_compute_unit_price(price));
        }
        if self.create_recipient_account {
            out.push(create_associated_token_account_idempotent(
                &self.fee_payer,
                &self.recipient,
                &self.mint,
                &self.token_program,
            )?);
        }
        out.push(transfer_checked(
            &self.token_program,
            &source,
            &self.mint,
            &ata(&self.recipient)?,
            &self.sender,
            self.amount,
            self.decimals,
        )?);
        if self.close_source {
            out.push(close_account(
                &self.token_program,
                &source,
                &self.fee_payer,
                &self.sender,
            ));
        }
        Ok(out)
    }
}
