//! The audit log as the console shows it: newest first, a page at a time. An operator bound to
//! an app sees the entries of the operators bound to that app (its own team's actions), never
//! those of operators who see every app or of the command line.

use wcheckout_domain::operator::Operator;
use wcheckout_domain::ports::AuditRow;

use crate::error::ServiceError;
use crate::gateway::Gateway;

/// Entries per page.
pub const AUDIT_PAGE_SIZE: u32 = 50;

/// A page of the audit log.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Newest first.
    pub rows: Vec<AuditRow>,
    /// Where the next (older) page starts, when there is one.
    pub next: Option<i64>,
}

impl Gateway {
    /// The entries `operator` may see older than `before` (from the newest when `None`).
    pub async fn console_audit(
        &self,
        operator: &Operator,
        before: Option<i64>,
    ) -> Result<AuditPage, ServiceError> {
        let limit = AUDIT_PAGE_SIZE + 1;
        let mut rows = self
            .store
            .audit_page(operator.app.as_ref(), before, limit)
            .await?;
        let more = rows.len() > AUDIT_PAGE_SIZE as usize;
        rows.truncate(AUDIT_PAGE_SIZE as usize);
        let next = if more {
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok(AuditPage { rows, next })
    }
}
