//! The ledger postings of every money movement, in one place. A merchant's `pending` bucket
//! holds what arrived for orders not paid yet (unconfirmed transfers, and confirmed parts of an
//! order still short); `available` what paid orders brought; `reserved` what refunds and
//! settlements in progress will take. Abnormal amounts wait in their own account for refunds.

use wcheckout_domain::address::Address;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ledger::{Account, Asset, Bucket, Posting, PostingKind};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::Transfer;
use wcheckout_domain::token::{ChainKey, TokenId};

/// A merchant's bucket of a token.
pub fn merchant_account(app: &AppId, merchant: &str, token: &TokenId, bucket: Bucket) -> Account {
    Account::Merchant {
        app: app.clone(),
        merchant: merchant.to_owned(),
        token: token.clone(),
        bucket,
    }
}

/// A merchant bucket of an order's merchant.
pub fn merchant_of(order: &Order, bucket: Bucket) -> Account {
    merchant_account(&order.app_id, &order.merchant_id, &order.token, bucket)
}

/// The abnormal account of an order's merchant.
pub fn abnormal_of(order: &Order) -> Account {
    Account::Abnormal {
        app: order.app_id.clone(),
        merchant: order.merchant_id.clone(),
        token: order.token.clone(),
    }
}

/// What `address` holds of `token` on `chain`.
pub fn custody(chain: &ChainKey, address: Address, token: &TokenId) -> Account {
    Account::Custody {
        chain: chain.clone(),
        address,
        asset: Asset::Token(token.clone()),
    }
}

/// What `address` holds of `chain`'s native coin.
pub fn native_custody(chain: &ChainKey, address: Address) -> Account {
    Account::Custody {
        chain: chain.clone(),
        address,
        asset: Asset::Native(chain.clone()),
    }
}

fn posting(
    debit: Account,
    credit: Account,
    amount: TokenAmount,
    kind: PostingKind,
    reference: String,
) -> Posting {
    Posting {
        debit,
        credit,
        amount,
        kind,
        reference,
        correction: false,
    }
}

fn transfer_ref(transfer: &Transfer) -> String {
    format!("transfer:{}", transfer.key())
}

/// A transfer seen at a deposit address: held for the merchant, pending.
pub fn seen(order: &Order, transfer: &Transfer) -> Posting {
    posting(
        custody(&transfer.chain, transfer.to, &transfer.token),
        merchant_of(order, Bucket::Pending),
        transfer.amount,
        PostingKind::PaymentSeen,
        transfer_ref(transfer),
    )
}

/// A pending transfer gone with its block.
pub fn vanished(order: &Order, transfer: &Transfer) -> Posting {
    posting(
        merchant_of(order, Bucket::Pending),
        custody(&transfer.chain, transfer.to, &transfer.token),
        transfer.amount,
        PostingKind::PaymentVanished,
        transfer_ref(transfer),
    )
}

/// A credited transfer undone by a deep reorganisation: a correction that may overdraw.
pub fn reversed(order: &Order, transfer: &Transfer) -> Posting {
    Posting {
        correction: true,
        ..posting(
            merchant_of(order, Bucket::Available),
            custody(&transfer.chain, transfer.to, &transfer.token),
            transfer.amount,
            PostingKind::PaymentReversed,
            transfer_ref(transfer),
        )
    }
}

/// A reversed transfer back on the chain under the same key: credited again.
pub fn revived(order: &Order, transfer: &Transfer) -> Posting {
    posting(
        custody(&transfer.chain, transfer.to, &transfer.token),
        merchant_of(order, Bucket::Available),
        transfer.amount,
        PostingKind::PaymentFinal,
        transfer_ref(transfer),
    )
}

/// What a paid order brought: up to the amount due becomes available, any excess abnormal.
pub fn order_paid(order_after: &Order, excess: TokenAmount) -> Vec<Posting> {
    let reference = format!("order:{}", order_after.sysid);
    let counted = order_after.paid_amount.saturating_sub(excess);
    vec![
        posting(
            merchant_of(order_after, Bucket::Pending),
            merchant_of(order_after, Bucket::Available),
            counted,
            PostingKind::PaymentFinal,
            reference.clone(),
        ),
        posting(
            merchant_of(order_after, Bucket::Pending),
            abnormal_of(order_after),
            excess,
            PostingKind::PaymentAbnormal,
            reference,
        ),
    ]
}

/// An abnormal amount (late payment, overpayment, underpayment) set aside for refunding.
pub fn set_aside(order: &Order, amount: TokenAmount, reference: String) -> Posting {
    posting(
        merchant_of(order, Bucket::Pending),
        abnormal_of(order),
        amount,
        PostingKind::PaymentAbnormal,
        reference,
    )
}

/// A re-included payment counted again for the merchant.
pub fn reincluded(order: &Order, transfer: &Transfer) -> Posting {
    posting(
        merchant_of(order, Bucket::Pending),
        merchant_of(order, Bucket::Available),
        transfer.amount,
        PostingKind::PaymentFinal,
        transfer_ref(transfer),
    )
}

/// Funds promised to a payout: from `source` (available, or the abnormal account) to reserved.
pub fn reserve(
    source: Account,
    reserved: Account,
    amount: TokenAmount,
    reference: String,
) -> Posting {
    posting(source, reserved, amount, PostingKind::Reserve, reference)
}

/// A payout that will not happen gives its funds back.
pub fn release(
    source: Account,
    reserved: Account,
    amount: TokenAmount,
    reference: String,
) -> Posting {
    posting(reserved, source, amount, PostingKind::Release, reference)
}

/// Tokens sent out of the hot wallet for a refund or settlement.
pub fn paid_out(
    reserved: Account,
    chain: &ChainKey,
    hot: Address,
    token: &TokenId,
    amount: TokenAmount,
    reference: String,
) -> Posting {
    posting(
        reserved,
        custody(chain, hot, token),
        amount,
        PostingKind::PaidOut,
        reference,
    )
}

/// Gas burned by a transaction from `from`.
pub fn fee(chain: &ChainKey, from: Address, amount: TokenAmount, reference: String) -> Posting {
    posting(
        Account::Fees {
            chain: chain.clone(),
        },
        native_custody(chain, from),
        amount,
        PostingKind::NetworkFee,
        reference,
    )
}

/// Coin a transaction gave back to its fee payer `to` (on Solana, the rent of the token account
/// a sweep closed), credited against the chain's fees: the fees account holds what the network
/// cost, net.
pub fn reclaimed(chain: &ChainKey, to: Address, amount: TokenAmount, reference: String) -> Posting {
    posting(
        native_custody(chain, to),
        Account::Fees {
            chain: chain.clone(),
        },
        amount,
        PostingKind::RentReclaimed,
        reference,
    )
}

/// Tokens moved from a deposit address to the hot wallet.
pub fn swept(
    chain: &ChainKey,
    deposit: Address,
    hot: Address,
    token: &TokenId,
    amount: TokenAmount,
    reference: String,
) -> Posting {
    posting(
        custody(chain, hot, token),
        custody(chain, deposit, token),
        amount,
        PostingKind::Sweep,
        reference,
    )
}

/// Gas money moved from the hot wallet to a deposit address.
pub fn topped_up(
    chain: &ChainKey,
    hot: Address,
    deposit: Address,
    amount: TokenAmount,
    reference: String,
) -> Posting {
    posting(
        native_custody(chain, deposit),
        native_custody(chain, hot),
        amount,
        PostingKind::GasTopUp,
        reference,
    )
}

/// A fiat settlement the operator paid: the merchant's reserved tokens become the operator's.
pub fn fiat_paid(
    reserved: Account,
    token: &TokenId,
    amount: TokenAmount,
    reference: String,
) -> Posting {
    posting(
        reserved,
        Account::Operator {
            asset: Asset::Token(token.clone()),
        },
        amount,
        PostingKind::FiatPaid,
        reference,
    )
}

/// Operator money put into an address of ours (gas for the hot wallet).
pub fn funded(account: Account, asset: Asset, amount: TokenAmount, reference: String) -> Posting {
    posting(
        account,
        Account::Operator { asset },
        amount,
        PostingKind::Funding,
        reference,
    )
}
