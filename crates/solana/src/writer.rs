//! The domain's [`ChainWriter`] on Solana, over JSON-RPC: SPL token payouts built and signed
//! here ([`crate::transaction`]), sent with `sendTransaction` and followed with
//! `getSignatureStatuses` and `getTransaction`.
//!
//! - **The hot wallet pays every fee.** A refund or settlement is a `TransferChecked` from the hot
//!   wallet's token account to the recipient owner's associated token account, created
//!   idempotently first (its rent paid by the hot wallet when it is missing). A sweep is signed
//!   by the deposit owner *and* the hot wallet, which pays its fee, so deposit owners never hold
//!   SOL; when it empties the deposit's token account it also closes it, the rent going back to
//!   the hot wallet. [`ChainWriter::fee_payer`] tells the engine so.
//! - **Fees in lamports.** The engine's fee unit is one lamport at one lamport per unit
//!   (`max_fee_per_gas` is 1), and `gas_limit` is the most the transaction can cost: 5,000
//!   lamports a signature, the priority fee (its compute unit limit, set tightly for the
//!   instructions, at a price that is a percentile of `getRecentPrioritizationFees` over the
//!   accounts it writes, capped), and the rent of the recipient's account when it must be
//!   created. A receipt's fee is what the fee payer actually lost, read from the transaction's
//!   balances; the rent of a closed account is reported apart, as reclaimed.
//! - **Expiry by block height.** A transaction names a recent blockhash and can land only up to
//!   150 blocks after it. The writer stores the slot it read the blockhash at before the wire
//!   transaction (`{slot}:{base64}`), and [`ChainWriter::expired`] answers from
//!   `isBlockhashValid` at `finalized` with that slot as the minimum (a node that has not
//!   finalized that far answers so, not "invalid": the transaction is young), then the
//!   signature's status: dead only when the finalized bank no longer accepts the blockhash and a
//!   node at least that far along does not know the signature. `expires_at` is an estimate for display.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::Value;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{
    Broadcast, ChainError, ChainWriter, FeeQuote, RawTx, Receipt, SendModel, TransferTx,
};
use wcheckout_domain::payout::Signer;
use wcheckout_domain::time::Timestamp;

use crate::address::{ProgramAddresses, SolanaAddress, TOKEN_2022_PROGRAM, TOKEN_PROGRAM};
use crate::keys::{Keypair, SolanaKeys};
use crate::rpc::{Commitment, MintInfo, RpcError, SolanaRpc};
use crate::transaction::instructions::TokenPayment;
use crate::transaction::{Blockhash, Message, recent_blockhash_of};

/// Lamports a signature costs (the base fee), unchanged since genesis.
pub const LAMPORTS_PER_SIGNATURE: u64 = 5_000;
/// A Token account's size; Token-2022 associated accounts add the immutable-owner extension.
const TOKEN_ACCOUNT_SIZE: u64 = 165;
const TOKEN_2022_ACCOUNT_SIZE: u64 = 170;
/// Compute units of the instructions, with margin over what the Token and associated token
/// account programs use on mainnet (about 150 a compute budget instruction, 21,000 to 25,000
/// for the idempotent creation that creates the account and 4,000 when it exists, 6,200 for
/// `TransferChecked`, 2,900 for `CloseAccount`). The priority fee is charged on the limit, so
/// it is set from what the transaction does: whether it creates the recipient's account, and
/// whether it closes the source.
const COMPUTE_BUDGET_UNITS: u32 = 150;
const CREATE_ACCOUNT_UNITS: u32 = 30_000;
const ACCOUNT_EXISTS_UNITS: u32 = 6_000;
const TRANSFER_UNITS: u32 = 8_000;
const CLOSE_UNITS: u32 = 4_000;
/// How long a blockhash lasts, nominally (150 blocks of 400 ms): the display estimate.
pub const NOMINAL_LIFETIME: Duration = Duration::from_secs(60);
/// The percentile of recent priority fees offered, and the default cap (micro-lamports per
/// compute unit: at most one lamport a unit, 0.00004 SOL on a refund's 40,000 units).
pub const DEFAULT_PRIORITY_PERCENTILE: u8 = 75;
pub const DEFAULT_MAX_PRIORITY_MICRO_LAMPORTS: u64 = 1_000_000;
/// Micro-lamports in a lamport.
const MICRO: u128 = 1_000_000;
/// JSON-RPC codes that mean "not now" rather than a decision: the node is behind, or has not
/// reached the slot asked for.
const NODE_BEHIND: [i64; 2] = [-32005, MIN_CONTEXT_SLOT_NOT_REACHED];
/// The bank at the commitment asked is before the minimum context slot.
const MIN_CONTEXT_SLOT_NOT_REACHED: i64 = -32016;

/// Signs with the Solana keys (the hot wallet pays) and sends through the JSON-RPC endpoints.
pub struct SolanaChainWriter {
    rpc: Arc<SolanaRpc>,
    keys: Arc<SolanaKeys>,
    percentile: u8,
    max_priority_micro_lamports: u64,
    attempts: u32,
    pause: Duration,
    mints: Mutex<HashMap<SolanaAddress, MintInfo>>,
    rents: Mutex<HashMap<u64, u64>>,
}

impl std::fmt::Debug for SolanaChainWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolanaChainWriter")
            .field("rpc", &self.rpc)
            .finish_non_exhaustive()
    }
}

/// What a transfer does on chain, decided from its signer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// From the hot wallet (refund, settlement): one signature.
    FromHotWallet,
    /// From a deposit owner (sweep), the hot wallet paying: two signatures, and the source
    /// account closed when `close`.
    Sweep { close: bool },
}

impl Shape {
    fn signatures(self) -> u64 {
        match self {
            Shape::FromHotWallet => 1,
            Shape::Sweep { .. } => 2,
        }
    }

    /// The compute unit limit, when the recipient's account is created or exists.
    fn compute_units(self, creates: bool) -> u32 {
        let create = if creates {
            CREATE_ACCOUNT_UNITS
        } else {
            ACCOUNT_EXISTS_UNITS
        };
        let base = 2 * COMPUTE_BUDGET_UNITS + create + TRANSFER_UNITS;
        match self {
            Shape::FromHotWallet | Shape::Sweep { close: false } => base,
            Shape::Sweep { close: true } => base + CLOSE_UNITS,
        }
    }
}

fn chain_error(error: RpcError) -> ChainError {
    match error {
        RpcError::Unavailable(reason) => ChainError::Unavailable(reason),
        RpcError::Node { code, .. } if NODE_BEHIND.contains(&code) => {
            ChainError::Unavailable(error.to_string())
        }
        other => ChainError::Invalid(other.to_string()),
    }
}

fn solana(address: &Address, what: &str) -> Result<SolanaAddress, ChainError> {
    match address {
        Address::Solana(address) => Ok(*address),
        other @ (Address::Evm(_) | Address::Tron(_)) => Err(ChainError::Invalid(format!(
            "{what} {other} is not a Solana address"
        ))),
    }
}

/// The stored form: the slot the blockhash was read at, and the base64 wire transaction.
fn envelope(slot: u64, base64: &str) -> String {
    format!("{slot}:{base64}")
}

fn open_envelope(raw: &str) -> Result<(u64, &str), ChainError> {
    raw.split_once(':')
        .and_then(|(slot, base64)| Some((slot.parse().ok()?, base64)))
        .ok_or_else(|| ChainError::Invalid("not a stored Solana transaction".into()))
}

/// The `p`-th percentile of `fees` (0 when there are none).
fn percentile(mut fees: Vec<u64>, p: u8) -> u64 {
    if fees.is_empty() {
        return 0;
    }
    fees.sort_unstable();
    let last = fees.len() - 1;
    let at = last.saturating_mul(usize::from(p.min(100))).div_ceil(100);
    fees.get(at).copied().unwrap_or(0)
}

/// Lamports of a priority fee: `units` at `micro_lamports` each, rounded up as the runtime does.
fn priority_lamports(units: u32, micro_lamports: u64) -> u128 {
    (u128::from(units) * u128::from(micro_lamports)).div_ceil(MICRO)
}

/// The fee payer's cost in a transaction and the coin closed accounts gave back to it, from the
/// lamports before and after (the fee payer first): `(fee, reclaimed)`, the fee being what it
/// lost plus what it got back.
fn fee_and_reclaimed(pre: &[u64], post: &[u64]) -> Result<(u128, u128), ChainError> {
    let bad = || ChainError::Invalid("a transaction without its balances".into());
    if pre.len() != post.len() || pre.is_empty() {
        return Err(bad());
    }
    let reclaimed: u128 = pre
        .iter()
        .zip(post)
        .skip(1)
        .filter(|(before, after)| **before > 0 && **after == 0)
        .map(|(before, _)| u128::from(*before))
        .sum();
    let lost = i128::from(pre[0]) - i128::from(post[0]);
    let fee = lost
        .checked_add(i128::try_from(reclaimed).map_err(|_| bad())?)
        .and_then(|fee| u128::try_from(fee).ok())
        .ok_or_else(|| {
            ChainError::Invalid("the fee payer gained more than closed accounts gave back".into())
        })?;
    Ok((fee, reclaimed))
}

/// What a node said to a transaction, in the domain's terms. A simulation that fails refuses
/// it (with the node's reason); a transaction the node has seen is already known (validators
/// say `AlreadyProcessed` in the error's data, Surfnet only in its message).
fn broadcast_answer(answer: Result<String, RpcError>) -> Result<Broadcast, ChainError> {
    match answer {
        Ok(_) => Ok(Broadcast::Accepted),
        Err(RpcError::Node {
            code,
            message,
            data,
            ..
        }) => {
            let err = data.as_ref().and_then(|d| d.get("err")).cloned();
            let processed = err == Some(Value::from("AlreadyProcessed"))
                || message.contains("already been processed");
            if processed {
                return Ok(Broadcast::AlreadyKnown);
            }
            if NODE_BEHIND.contains(&code) {
                return Err(ChainError::Unavailable(format!(
                    "the node could not take the transaction now: {code} {message}"
                )));
            }
            let reason = match err {
                Some(Value::String(name)) => format!("{name}: {message}"),
                Some(other) => format!("{other}: {message}"),
                None => format!("{code} {message}"),
            };
            Ok(Broadcast::Refused(reason))
        }
        Err(other) => Err(chain_error(other)),
    }
}

fn now() -> Timestamp {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_micros(i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
}

impl SolanaChainWriter {
    /// A writer sending through `rpc` (with its failover) with `keys`.
    pub fn new(rpc: Arc<SolanaRpc>, keys: Arc<SolanaKeys>) -> SolanaChainWriter {
        SolanaChainWriter {
            rpc,
            keys,
            percentile: DEFAULT_PRIORITY_PERCENTILE,
            max_priority_micro_lamports: DEFAULT_MAX_PRIORITY_MICRO_LAMPORTS,
            attempts: 1,
            pause: Duration::ZERO,
            mints: Mutex::new(HashMap::new()),
            rents: Mutex::new(HashMap::new()),
        }
    }

    /// The same, offering the `percentile`-th of recent priority fees, at most
    /// `max_micro_lamports` per compute unit.
    pub fn with_priority_fee(mut self, percentile: u8, max_micro_lamports: u64) -> Self {
        self.percentile = percentile.min(100);
        self.max_priority_micro_lamports = max_micro_lamports;
        self
    }

    /// The same, passing over the endpoints up to `attempts` times while none answers, after a
    /// pause of `pause`, then twice that, and so on. Every call is a read or the sending of
    /// signed bytes, so asking again is harmless.
    pub fn with_retries(mut self, attempts: u32, pause: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.pause = pause;
        self
    }

    /// Calls the endpoints until one answers, again after growing pauses while none does.
    async fn ask<'a, T, F, Fut>(&'a self, call: F) -> Result<T, RpcError>
    where
        F: Fn(&'a SolanaRpc) -> Fut,
        Fut: std::future::Future<Output = Result<T, RpcError>>,
    {
        let mut pause = self.pause;
        let mut pass = 0;
        loop {
            match call(&self.rpc).await {
                Err(RpcError::Unavailable(_)) if pass + 1 < self.attempts => {
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                    pass += 1;
                }
                other => return other,
            }
        }
    }

    fn key(&self, signer: Signer) -> Result<Keypair, ChainError> {
        match signer {
            Signer::HotWallet => Ok(self.keys.hot_wallet().clone()),
            Signer::Deposit(index) => self
                .keys
                .deposit(index)
                .map_err(|e| ChainError::Invalid(e.to_string())),
        }
    }

    fn hot_wallet(&self) -> SolanaAddress {
        self.keys.hot_wallet().address()
    }

    /// A mint's program and decimals, read once.
    async fn mint(&self, mint: SolanaAddress) -> Result<MintInfo, ChainError> {
        if let Some(info) = self.lock_mints().get(&mint) {
            return Ok(*info);
        }
        let info = self
            .ask(|rpc| rpc.mint(&mint, Commitment::Confirmed))
            .await
            .map_err(chain_error)?
            .ok_or_else(|| ChainError::Invalid(format!("the mint {mint} does not exist")))?;
        if info.program != TOKEN_PROGRAM && info.program != TOKEN_2022_PROGRAM {
            return Err(ChainError::Invalid(format!(
                "{mint} is not a token mint (owned by {})",
                info.program
            )));
        }
        self.lock_mints().insert(mint, info);
        Ok(info)
    }

    fn lock_mints(&self) -> std::sync::MutexGuard<'_, HashMap<SolanaAddress, MintInfo>> {
        self.mints.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rent of a new token account of the mint's program, read once per size.
    async fn account_rent(&self, program: &SolanaAddress) -> Result<u64, ChainError> {
        let size = if *program == TOKEN_2022_PROGRAM {
            TOKEN_2022_ACCOUNT_SIZE
        } else {
            TOKEN_ACCOUNT_SIZE
        };
        let known = self
            .rents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&size)
            .copied();
        if let Some(rent) = known {
            return Ok(rent);
        }
        let rent = self
            .ask(|rpc| rpc.rent_exempt_minimum(size))
            .await
            .map_err(chain_error)?;
        self.rents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(size, rent);
        Ok(rent)
    }

    /// Whether an account exists.
    async fn exists(&self, account: &SolanaAddress) -> Result<bool, ChainError> {
        let owner = self
            .ask(|rpc| rpc.account_owner(account, Commitment::Confirmed))
            .await
            .map_err(chain_error)?;
        Ok(owner.is_some())
    }

    /// The token amount `owner`'s associated account for the mint holds (0 without one).
    async fn token_balance(
        &self,
        owner: &SolanaAddress,
        mint: SolanaAddress,
    ) -> Result<u64, ChainError> {
        let info = self.mint(mint).await?;
        let account = associated(owner, &mint, &info.program)?;
        let (_, amounts) = self
            .ask(|rpc| rpc.token_amounts(std::slice::from_ref(&account), Commitment::Confirmed, 0))
            .await
            .map_err(chain_error)?;
        Ok(amounts.first().copied().unwrap_or(0))
    }

    /// The priority fee offered now: the percentile of recent fees on the accounts the
    /// transfer writes, within the cap.
    async fn priority_price(&self, writes: &[SolanaAddress]) -> Result<u64, ChainError> {
        let fees = self
            .ask(|rpc| rpc.recent_prioritization_fees(writes))
            .await
            .map_err(chain_error)?;
        Ok(percentile(fees, self.percentile).min(self.max_priority_micro_lamports))
    }

    /// Everything about a transfer from `sender` that its cost depends on.
    async fn plan(&self, sender: SolanaAddress, tx: &TransferTx) -> Result<Plan, ChainError> {
        let Some(contract) = &tx.contract else {
            return Err(ChainError::Invalid(
                "no SOL payouts on Solana: the hot wallet pays every fee, so nothing needs SOL \
                 sent"
                    .into(),
            ));
        };
        let mint = solana(contract, "mint")?;
        let recipient = solana(&tx.to, "recipient")?;
        let amount = u64::try_from(tx.amount)
            .map_err(|_| ChainError::Invalid("a token amount beyond 64 bits".into()))?;
        let info = self.mint(mint).await?;
        let source = associated(&sender, &mint, &info.program)?;
        let destination = associated(&recipient, &mint, &info.program)?;
        let shape = if sender == self.hot_wallet() {
            Shape::FromHotWallet
        } else {
            let held = self.token_balance(&sender, mint).await?;
            Shape::Sweep {
                close: held == amount,
            }
        };
        let rent = if self.exists(&destination).await? {
            0
        } else {
            self.account_rent(&info.program).await?
        };
        let price = self
            .priority_price(&[self.hot_wallet(), source, destination])
            .await?;
        Ok(Plan {
            mint,
            info,
            recipient,
            amount,
            shape,
            rent,
            price,
        })
    }
}

/// A transfer's accounts and costs, as planned.
#[derive(Clone, Copy, Debug)]
struct Plan {
    mint: SolanaAddress,
    info: MintInfo,
    recipient: SolanaAddress,
    amount: u64,
    shape: Shape,
    /// The recipient account's rent, when it must be created.
    rent: u64,
    /// Micro-lamports per compute unit.
    price: u64,
}

impl Plan {
    /// The compute unit limit.
    fn compute_units(&self) -> u32 {
        self.shape.compute_units(self.rent > 0)
    }

    /// The most the transaction can cost the fee payer at `price`, lamports.
    fn cost(&self, price: u64) -> u128 {
        u128::from(LAMPORTS_PER_SIGNATURE * self.shape.signatures())
            + priority_lamports(self.compute_units(), price)
            + u128::from(self.rent)
    }
}

fn associated(
    owner: &SolanaAddress,
    mint: &SolanaAddress,
    program: &SolanaAddress,
) -> Result<SolanaAddress, ChainError> {
    owner
        .associated_token_account(mint, program)
        .map_err(|e| ChainError::Invalid(e.to_string()))
}

#[async_trait]
impl ChainWriter for SolanaChainWriter {
    fn send_model(&self) -> SendModel {
        SendModel::Expiring
    }

    fn address_of(&self, signer: Signer) -> Result<Address, ChainError> {
        Ok(Address::Solana(self.key(signer)?.address()))
    }

    fn fee_payer(&self, _signer: Signer) -> Result<Option<Address>, ChainError> {
        Ok(Some(Address::Solana(self.hot_wallet())))
    }

    async fn sign(&self, signer: Signer, tx: &TransferTx) -> Result<RawTx, ChainError> {
        let key = self.key(signer)?;
        let hot = self.keys.hot_wallet();
        let plan = self.plan(key.address(), tx).await?;
        // The budget the engine checked the hot wallet against; the priority fee takes what the
        // signatures and a new account's rent leave of it.
        let budget = u128::from(tx.gas_limit).saturating_mul(tx.max_fee_per_gas);
        let fixed = plan.cost(0);
        let Some(left) = budget.checked_sub(fixed) else {
            return Err(ChainError::Invalid(format!(
                "the transfer costs at least {fixed} lamports now, over its budget of {budget} \
                 (the recipient's account was closed since the estimate?)"
            )));
        };
        let units = plan.compute_units();
        let affordable = left.saturating_mul(MICRO) / u128::from(units);
        let price = u64::try_from(affordable.min(u128::from(plan.price))).unwrap_or(plan.price);
        let payment = TokenPayment {
            fee_payer: hot.address(),
            sender: key.address(),
            recipient: plan.recipient,
            mint: plan.mint,
            token_program: plan.info.program,
            decimals: plan.info.decimals,
            amount: plan.amount,
            compute_unit_limit: Some(units),
            priority_micro_lamports: (price > 0).then_some(price),
            create_recipient_account: true,
            close_source: plan.shape == Shape::Sweep { close: true },
        };
        let instructions = payment
            .instructions()
            .map_err(|e| ChainError::Invalid(e.to_string()))?;
        let latest = self
            .ask(|rpc| rpc.latest_blockhash(Commitment::Confirmed))
            .await
            .map_err(chain_error)?;
        let blockhash = Blockhash::parse(&latest.blockhash)
            .map_err(|e| ChainError::Invalid(format!("blockhash: {e}")))?;
        let message = Message::compile(&hot.address(), &instructions, blockhash)
            .map_err(|e| ChainError::Invalid(e.to_string()))?;
        let signers: Vec<&Keypair> = match plan.shape {
            Shape::FromHotWallet => vec![hot],
            Shape::Sweep { .. } => vec![hot, &key],
        };
        let signed = message
            .sign(&signers)
            .map_err(|e| ChainError::Invalid(e.to_string()))?;
        let lifetime = i64::try_from(NOMINAL_LIFETIME.as_micros()).unwrap_or(i64::MAX);
        Ok(RawTx {
            hash: signed.id(),
            raw: envelope(latest.slot, &signed.to_base64()),
            expires_at: Some(Timestamp::from_micros(
                now().micros().saturating_add(lifetime),
            )),
        })
    }

    fn resign(
        &self,
        _signer: Signer,
        _original: &RawTx,
        _max_fee_per_gas: u128,
        _max_priority_fee_per_gas: u128,
    ) -> Result<RawTx, ChainError> {
        Err(ChainError::Invalid(
            "a Solana transaction is not replaced with higher fees: its blockhash expires".into(),
        ))
    }

    async fn nonce(&self, _address: &Address, _pending: bool) -> Result<u64, ChainError> {
        Err(ChainError::Invalid(
            "Solana accounts have no nonce for payouts".into(),
        ))
    }

    /// One lamport per fee unit: [`ChainWriter::estimate_gas`] counts lamports.
    async fn fee_quote(&self) -> Result<FeeQuote, ChainError> {
        Ok(FeeQuote {
            base_fee: 1,
            priority_fee: 0,
        })
    }

    /// The most the transfer can cost the hot wallet, lamports: signatures, the priority fee
    /// at today's price and the recipient account's rent when it is missing.
    async fn estimate_gas(&self, from: &Address, tx: &TransferTx) -> Result<u64, ChainError> {
        let plan = self.plan(solana(from, "sender")?, tx).await?;
        u64::try_from(plan.cost(plan.price))
            .map_err(|_| ChainError::Invalid("a fee beyond 64 bits".into()))
    }

    async fn broadcast(&self, raw: &RawTx) -> Result<Broadcast, ChainError> {
        let (_, base64) = open_envelope(&raw.raw)?;
        broadcast_answer(self.ask(|rpc| rpc.send_transaction(base64)).await)
    }

    async fn receipt(&self, tx_hash: &str) -> Result<Option<Receipt>, ChainError> {
        let info = self
            .ask(|rpc| rpc.transaction(tx_hash, Commitment::Confirmed))
            .await
            .map_err(chain_error)?;
        let Some(info) = info else {
            return Ok(None);
        };
        let meta = info
            .meta
            .ok_or_else(|| ChainError::Invalid(format!("transaction {tx_hash} without meta")))?;
        let (fee, reclaimed) = fee_and_reclaimed(&meta.pre_balances, &meta.post_balances)?;
        Ok(Some(Receipt {
            block_number: info.slot,
            success: meta.err.is_none(),
            fee,
            reclaimed,
        }))
    }

    async fn known(&self, tx_hash: &str) -> Result<bool, ChainError> {
        let (_, statuses) = self
            .ask(|rpc| rpc.signature_statuses(std::slice::from_ref(&tx_hash)))
            .await
            .map_err(chain_error)?;
        Ok(statuses.first().is_some_and(Option::is_some))
    }

    /// Dead when the finalized bank, at or past the slot the blockhash was read at, no longer
    /// accepts the blockhash, and then a node at least as far along does not know the signature
    /// (had it landed before the blockhash expired, that block would be final and known).
    async fn expired(&self, raw: &RawTx) -> Result<Option<bool>, ChainError> {
        let (slot, base64) = open_envelope(&raw.raw)?;
        let wire = base64::engine::general_purpose::STANDARD
            .decode(base64)
            .map_err(|_| ChainError::Invalid("a stored transaction that is not base64".into()))?;
        let blockhash =
            recent_blockhash_of(&wire).map_err(|e| ChainError::Invalid(e.to_string()))?;
        let text = blockhash.to_string();
        let answer = self
            .ask(|rpc| rpc.blockhash_valid(&text, Commitment::Finalized, slot))
            .await;
        let (checked_at, valid) = match answer {
            Ok(answer) => answer,
            // Not finalized as far as the blockhash yet: the transaction is young.
            Err(RpcError::Node { code, .. }) if code == MIN_CONTEXT_SLOT_NOT_REACHED => {
                return Ok(Some(false));
            }
            Err(error) => return Err(chain_error(error)),
        };
        if valid {
            return Ok(Some(false));
        }
        let hash = raw.hash.as_str();
        let (status_at, statuses) = self
            .ask(|rpc| rpc.signature_statuses(std::slice::from_ref(&hash)))
            .await
            .map_err(chain_error)?;
        let known = statuses.first().is_some_and(Option::is_some);
        Ok(Some(!known && status_at >= checked_at))
    }

    async fn balance(
        &self,
        address: &Address,
        contract: Option<&Address>,
    ) -> Result<u128, ChainError> {
        let owner = solana(address, "holder")?;
        match contract {
            None => self
                .ask(|rpc| rpc.balance(&owner, Commitment::Confirmed))
                .await
                .map(u128::from)
                .map_err(chain_error),
            Some(mint) => Ok(u128::from(
                self.token_balance(&owner, solana(mint, "mint")?).await?,
            )),
        }
    }

    async fn head_number(&self) -> Result<u64, ChainError> {
        self.ask(|rpc| rpc.slot(Commitment::Confirmed))
            .await
            .map_err(chain_error)
    }

    async fn head_time(&self) -> Result<Timestamp, ChainError> {
        let slot = self.head_number().await?;
        let seconds = self
            .ask(|rpc| rpc.block_time(slot))
            .await
            .map_err(chain_error)?
            .unwrap_or(0);
        Ok(Timestamp::from_micros(seconds.saturating_mul(1_000_000)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fee_is_what_the_payer_lost_and_closed_rent_is_reclaimed() {
        // A refund creating the recipient's account: fee 5,000, priority 100, rent 2,039,280.
        let pre = [1_000_000_000, 0, 2_039_280, 1];
        let post = [997_955_620, 2_039_280, 2_039_280, 1];
        assert_eq!(fee_and_reclaimed(&pre, &post), Ok((2_044_380, 0)));
        // A sweep closing the deposit account: the payer gains the rent less 10,100.
        let pre = [1_000_000_000, 0, 2_039_280, 2_039_280];
        let post = [1_002_029_180, 0, 0, 2_039_280];
        assert_eq!(fee_and_reclaimed(&pre, &post), Ok((10_100, 2_039_280)));
        assert!(fee_and_reclaimed(&[1], &[2]).is_err());
        assert!(fee_and_reclaimed(&[], &[]).is_err());
        assert!(fee_and_reclaimed(&[1, 2], &[1]).is_err());
    }

    #[test]
    fn the_priority_fee_is_a_percentile_rounded_up_to_lamports() {
        assert_eq!(percentile(Vec::new(), 75), 0);
        assert_eq!(percentile(vec![0, 0, 0, 100], 75), 100);
        assert_eq!(percentile(vec![5, 1, 3, 2, 4], 50), 3);
        assert_eq!(percentile(vec![5, 1, 3, 2, 4], 100), 5);
        assert_eq!(percentile(vec![5, 1, 3, 2, 4], 0), 1);
        assert_eq!(priority_lamports(100_000, 1_000), 100);
        assert_eq!(priority_lamports(38_300, 1), 1);
        assert_eq!(priority_lamports(0, u64::MAX), 0);
    }

    #[test]
    fn node_answers_map_onto_the_domain() {
        let node = |code, message: &str, data: Option<Value>| {
            Err(RpcError::Node {
                method: "sendTransaction".into(),
                code,
                message: message.into(),
                data,
            })
        };
        assert_eq!(
            broadcast_answer(Ok("sig".into())).unwrap(),
            Broadcast::Accepted
        );
        assert_eq!(
            broadcast_answer(node(
                -32002,
                "Transaction simulation failed: This transaction has already been processed",
                Some(json!({"err": "AlreadyProcessed"}))
            ))
            .unwrap(),
            Broadcast::AlreadyKnown
        );
        assert_eq!(
            broadcast_answer(node(
                -32002,
                "Transaction verification failed: This transaction has already been processed",
                None
            ))
            .unwrap(),
            Broadcast::AlreadyKnown
        );
        assert_eq!(
            broadcast_answer(node(
                -32002,
                "Transaction simulation failed: Blockhash not found",
                Some(json!({"err": "BlockhashNotFound"}))
            ))
            .unwrap(),
            Broadcast::Refused(
                "BlockhashNotFound: Transaction simulation failed: Blockhash not found".into()
            )
        );
        assert!(matches!(
            broadcast_answer(node(-32005, "Node is behind", None)),
            Err(ChainError::Unavailable(_))
        ));
        assert!(matches!(
            broadcast_answer(Err(RpcError::Unavailable("x".into()))),
            Err(ChainError::Unavailable(_))
        ));
    }

    #[test]
    fn stored_transactions_carry_their_blockhash_slot() {
        assert_eq!(open_envelope(&envelope(42, "AQID")).unwrap(), (42, "AQID"));
        assert!(open_envelope("AQID").is_err());
        assert!(open_envelope("x:AQID").is_err());
    }

    #[test]
    fn a_sweep_that_empties_its_account_closes_it_and_costs_two_signatures() {
        assert_eq!(Shape::FromHotWallet.signatures(), 1);
        assert_eq!(Shape::Sweep { close: true }.signatures(), 2);
        let close = Shape::Sweep { close: true };
        assert!(close.compute_units(false) > Shape::Sweep { close: false }.compute_units(false));
        assert_eq!(Shape::FromHotWallet.compute_units(true), 38_300);
        assert_eq!(Shape::FromHotWallet.compute_units(false), 14_300);
        assert_eq!(close.compute_units(false), 18_300);
    }
}
