//! Chains and tokens: the table that says what can be paid with, and where.

use std::collections::BTreeMap;
use std::fmt;

use crate::address::{Address, ChainFamily};
use crate::error::{ErrorCode, Rejection};

/// A configured chain's short key (`ETH`, `BSC`, ...), the prefix of its token ids.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainKey(String);

impl ChainKey {
    /// Upper-case letters and digits, 2 to 16 of them.
    pub fn parse(text: &str) -> Option<ChainKey> {
        let ok = (2..=16).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        ok.then(|| ChainKey(text.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token id of the form `{CHAIN}_{ASSET}` (`ETH_USDT`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(String);

impl TokenId {
    /// Parses `{CHAIN}_{ASSET}`, both parts upper-case letters and digits.
    pub fn parse(text: &str) -> Option<TokenId> {
        let (chain, asset) = text.split_once('_')?;
        let asset_ok = (1..=16).contains(&asset.len())
            && asset
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        (ChainKey::parse(chain).is_some() && asset_ok).then(|| TokenId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The chain part (`ETH` of `ETH_USDT`).
    pub fn chain_key(&self) -> ChainKey {
        let chain = self.0.split_once('_').map_or(self.0.as_str(), |(c, _)| c);
        ChainKey(chain.to_owned())
    }

    /// The asset part (`USDT` of `ETH_USDT`).
    pub fn asset(&self) -> &str {
        self.0.split_once('_').map_or("", |(_, a)| a)
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// When a transfer counts as final on a chain.
///
/// On Solana, whose commitment levels are `processed`, `confirmed` and `finalized`, blocks are
/// slots: [`Finality::Finalized`] is the `finalized` commitment (the default), and
/// [`Finality::Confirmations`] is `confirmed` plus a slot count: the transfer's slot is
/// confirmed and the `confirmed` slot is that many slots on, its own included (1 = as soon as it
/// is confirmed). [`Finality::Safe`] has no Solana counterpart and is refused there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// After this many blocks including the transfer's own (1 = as soon as it is mined).
    Confirmations(u32),
    /// Once the node's `safe` block has reached it.
    Safe,
    /// Once the node's `finalized` block has reached it.
    Finalized,
}

/// A configured chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Short key, prefix of the chain's token ids.
    pub key: ChainKey,
    /// How it is built (addresses, transactions).
    pub family: ChainFamily,
    /// Name shown to payers (`Ethereum`).
    pub display_name: String,
    /// The id its node reports (EIP-155 on EVM chains; TRON's JSON-RPC `eth_chainId`); 0 on
    /// Solana, which has no chain id (a cluster is told by its genesis hash).
    pub chain_id: u64,
    /// When transfers are final.
    pub finality: Finality,
    /// Whether orders may be created on it.
    pub enabled: bool,
    /// Explorer page of a transaction, with `{tx}` standing for the hash.
    pub explorer_tx_url: Option<String>,
    /// Public JSON-RPC endpoint the payment page offers a browser wallet that lacks the chain.
    pub wallet_rpc_url: Option<String>,
}

/// A configured payment token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// `{CHAIN}_{ASSET}`.
    pub id: TokenId,
    /// The token contract (ERC-20, TRC-20), in its chain's family.
    pub contract: Address,
    /// Decimals of the contract's base unit (6 for USDT and USDC on Ethereum).
    pub decimals: u8,
    /// Decimal places a paying amount is rounded up to (2 for stablecoins).
    pub payment_scale: u8,
    /// Whether new orders may use it.
    pub enabled: bool,
}

/// All chains and tokens the gateway knows.
#[derive(Clone, Debug, Default)]
pub struct TokenRegistry {
    chains: BTreeMap<ChainKey, Chain>,
    tokens: BTreeMap<TokenId, Token>,
}

/// Why a registry cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// A token names a chain that is not configured.
    #[error("token {token} is on chain {chain}, which is not configured")]
    UnknownChain {
        /// The token.
        token: TokenId,
        /// Its missing chain.
        chain: ChainKey,
    },
    /// The payment scale is finer than the token's own decimals.
    #[error("token {0}: payment_scale must not exceed decimals")]
    ScaleAboveDecimals(TokenId),
    /// Two chains of families with chain ids share one.
    #[error("chains {0} and {1} have the same chain_id")]
    DuplicateChainId(ChainKey, ChainKey),
    /// A token's contract is an address of another family than its chain's.
    #[error("token {0}: its contract is not an address of its chain's family")]
    ContractFamily(TokenId),
}

impl TokenRegistry {
    /// Checks that every token's chain exists and its scales are consistent.
    pub fn new(chains: Vec<Chain>, tokens: Vec<Token>) -> Result<TokenRegistry, RegistryError> {
        let mut by_key = BTreeMap::new();
        for chain in chains {
            let same_id = |c: &&Chain| {
                c.family.has_chain_id()
                    && chain.family.has_chain_id()
                    && c.chain_id == chain.chain_id
            };
            if let Some(other) = by_key.values().find(same_id) {
                return Err(RegistryError::DuplicateChainId(
                    other.key.clone(),
                    chain.key.clone(),
                ));
            }
            by_key.insert(chain.key.clone(), chain);
        }
        let mut by_id = BTreeMap::new();
        for token in tokens {
            let chain = token.id.chain_key();
            let Some(family) = by_key.get(&chain).map(|c: &Chain| c.family) else {
                return Err(RegistryError::UnknownChain {
                    token: token.id.clone(),
                    chain,
                });
            };
            if token.contract.family() != family {
                return Err(RegistryError::ContractFamily(token.id.clone()));
            }
            if token.payment_scale > token.decimals {
                return Err(RegistryError::ScaleAboveDecimals(token.id.clone()));
            }
            by_id.insert(token.id.clone(), token);
        }
        Ok(TokenRegistry {
            chains: by_key,
            tokens: by_id,
        })
    }

    /// A token with its chain, if configured (enabled or not).
    pub fn get(&self, id: &TokenId) -> Option<(&Token, &Chain)> {
        let token = self.tokens.get(id)?;
        let chain = self.chains.get(&token.id.chain_key())?;
        Some((token, chain))
    }

    /// The token for a new order: it must be configured and enabled, on an enabled chain.
    pub fn payable(&self, id: &str) -> Result<(&Token, &Chain), Rejection> {
        let invalid = |message: String| Rejection::new(ErrorCode::InvalidParameter, message);
        let token_id = TokenId::parse(id)
            .ok_or_else(|| invalid(format!("token: '{id}' is not a supported token")))?;
        let (token, chain) = self
            .get(&token_id)
            .ok_or_else(|| invalid(format!("token: '{id}' is not a supported token")))?;
        if !token.enabled {
            return Err(invalid(format!(
                "token: '{id}' is disabled on this gateway"
            )));
        }
        if !chain.enabled {
            return Err(invalid(format!(
                "token: '{id}' is on chain {}, which is disabled",
                chain.key
            )));
        }
        Ok((token, chain))
    }

    /// Every chain.
    pub fn chains(&self) -> impl Iterator<Item = &Chain> {
        self.chains.values()
    }

    /// Every token.
    pub fn tokens(&self) -> impl Iterator<Item = &Token> {
        self.tokens.values()
    }

    /// A chain by key.
    pub fn chain(&self, key: &ChainKey) -> Option<&Chain> {
        self.chains.get(key)
    }

    /// The tokens of one chain.
    pub fn tokens_of<'a>(&'a self, chain: &'a ChainKey) -> impl Iterator<Item = &'a Token> + 'a {
        self.tokens
            .values()
            .filter(move |t| &t.id.chain_key() == chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> TokenRegistry {
        let chain = |key: &str, id, enabled| Chain {
            key: ChainKey::parse(key).unwrap(),
            family: ChainFamily::Evm,
            display_name: key.into(),
            chain_id: id,
            finality: Finality::Confirmations(1),
            enabled,
            explorer_tx_url: None,
            wallet_rpc_url: None,
        };
        let token = |id: &str, enabled| Token {
            id: TokenId::parse(id).unwrap(),
            contract: Address::Evm(crate::address::EvmAddress::ZERO),
            decimals: 6,
            payment_scale: 2,
            enabled,
        };
        TokenRegistry::new(
            vec![chain("ETH", 1, true), chain("BSC", 56, false)],
            vec![
                token("ETH_USDT", true),
                token("ETH_USDC", false),
                token("BSC_USDT", true),
            ],
        )
        .unwrap()
    }

    #[test]
    fn refuses_unknown_and_disabled_tokens_by_name() {
        let r = registry();
        assert!(r.payable("ETH_USDT").is_ok());
        for (id, words) in [
            ("ETH_DAI", "'ETH_DAI' is not a supported token"),
            ("eth_usdt", "'eth_usdt' is not a supported token"),
            ("ETH_USDC", "'ETH_USDC' is disabled"),
            ("BSC_USDT", "chain BSC, which is disabled"),
        ] {
            let rejection = r.payable(id).unwrap_err();
            assert_eq!(rejection.code, ErrorCode::InvalidParameter);
            assert!(rejection.message.contains(words), "{}", rejection.message);
        }
    }

    #[test]
    fn chain_ids_are_compared_only_between_families_that_have_them() {
        let chain = |key: &str, family, id| Chain {
            key: ChainKey::parse(key).unwrap(),
            family,
            display_name: key.into(),
            chain_id: id,
            finality: Finality::Finalized,
            enabled: true,
            explorer_tx_url: None,
            wallet_rpc_url: None,
        };
        let two_solana = vec![
            chain("SOL", ChainFamily::Solana, 0),
            chain("SOLDEV", ChainFamily::Solana, 0),
        ];
        assert!(TokenRegistry::new(two_solana, Vec::new()).is_ok());
        let two_evm = vec![
            chain("ETH", ChainFamily::Evm, 1),
            chain("ETH2", ChainFamily::Evm, 1),
        ];
        assert!(matches!(
            TokenRegistry::new(two_evm, Vec::new()),
            Err(RegistryError::DuplicateChainId(..))
        ));
    }

    #[test]
    fn token_ids_split_into_chain_and_asset() {
        let id = TokenId::parse("ETH_USDT").unwrap();
        assert_eq!(id.chain_key().as_str(), "ETH");
        assert_eq!(id.asset(), "USDT");
        assert!(TokenId::parse("ETHUSDT").is_none());
    }
}
