//! GetAbnormalPaymentList.

use wcheckout_domain::app::App;
use wcheckout_domain::error::Rejection;
use wcheckout_domain::payment::{AbnormalKind, AbnormalStatus};
use wcheckout_domain::ports::AbnormalFilter;

use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::orders::{non_empty, page_request, time_filter};
use crate::wire::{AbnormalPaymentView, ListAbnormalPaymentsRequest, PageView};

impl Gateway {
    /// A page of the app's abnormal payments, newest first.
    pub async fn list_abnormal_payments(
        &self,
        app: &App,
        request: ListAbnormalPaymentsRequest,
    ) -> Result<PageView<AbnormalPaymentView>, ServiceError> {
        let page = page_request(request.page_num, request.page_size)?;
        let kind = match non_empty(request.kind) {
            Some(text) => Some(AbnormalKind::parse(&text).ok_or_else(|| {
                Rejection::invalid("type", "must be OVER_PAID, UNDER_PAID or LATE_PAYMENT")
            })?),
            None => None,
        };
        let status = match non_empty(request.status) {
            Some(text) => Some(
                AbnormalStatus::parse(&text)
                    .ok_or_else(|| Rejection::invalid("status", "must be PENDING or HANDLED"))?,
            ),
            None => None,
        };
        let filter = AbnormalFilter {
            order_no: non_empty(request.order_no),
            kind,
            status,
            token: non_empty(request.token),
            created_from: time_filter("startTime", request.start_time)?,
            created_to: time_filter("endTime", request.end_time)?,
        };
        let found = self
            .store
            .list_abnormal_payments(&app.id, &filter, page)
            .await?;
        let records = found
            .records
            .iter()
            .map(|p| Ok(AbnormalPaymentView::new(p, self.token_of(&p.token)?.0)))
            .collect::<Result<_, ServiceError>>()?;
        Ok(PageView {
            records,
            total: found.total,
            page_no: page.page,
            page_size: page.size,
        })
    }
}
