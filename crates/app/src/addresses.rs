//! Deposit address allocation: every order gets an index never handed out before, reserved
//! from the store in blocks so that allocation costs no database round trip per order. An
//! index reserved by a process that stops before using it is simply never used.

use std::ops::Range;
use std::sync::Arc;

use tokio::sync::Mutex;
use wcheckout_domain::address::{Address, ChainFamily};
use wcheckout_domain::ports::{DepositAddresses, Store};

use crate::error::OrInternal;
use crate::error::ServiceError;

/// BIP-32 non-hardened child indexes stop below 2^31.
const MAX_INDEX: u64 = (1 << 31) - 1;

/// Hands out fresh deposit addresses.
pub struct AddressAllocator {
    store: Arc<dyn Store>,
    deriver: Arc<dyn DepositAddresses>,
    block_size: u64,
    reserved: Mutex<Range<u64>>,
}

impl AddressAllocator {
    /// An allocator reserving `block_size` indexes at a time.
    pub fn new(
        store: Arc<dyn Store>,
        deriver: Arc<dyn DepositAddresses>,
        block_size: u64,
    ) -> AddressAllocator {
        AddressAllocator {
            store,
            deriver,
            block_size: block_size.max(1),
            reserved: Mutex::new(0..0),
        }
    }

    /// The next fresh index and its address on a chain of `family`.
    pub async fn next(&self, family: ChainFamily) -> Result<(u64, Address), ServiceError> {
        let index = {
            let mut reserved = self.reserved.lock().await;
            if reserved.is_empty() {
                *reserved = self.store.reserve_address_indexes(self.block_size).await?;
            }
            let index = reserved.start;
            reserved.start = reserved.start.saturating_add(1);
            index
        };
        if index > MAX_INDEX {
            return Err(ServiceError::internal("deposit address indexes exhausted"));
        }
        let address = self.address_at(family, index)?;
        Ok((index, address))
    }

    /// The address of `family` at a known index.
    pub fn address_at(&self, family: ChainFamily, index: u64) -> Result<Address, ServiceError> {
        self.deriver
            .address_at(family, index)
            .or_internal("deriving a deposit address")
    }
}
