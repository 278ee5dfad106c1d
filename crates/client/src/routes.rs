//! The W Checkout API's paths, named once: the server's router, the [`Client`](crate::Client)'s
//! typed calls and the tests all use these.

/// Access and refresh tokens (`grant_type` in the query).
pub const TOKEN: &str = "/user/auth/oauth2/token";
/// CreateCheckoutOrder (POST).
pub const CREATE_ORDER: &str = "/checkout/order/create";
/// CancelCheckoutOrder (GET `?orderNo=`).
pub const CANCEL_ORDER: &str = "/checkout/order/cancel";
/// QueryCheckoutOrder (GET `?orderNo=`).
pub const ORDER_INFO: &str = "/checkout/order/info";
/// ListCheckoutOrders (POST).
pub const LIST_ORDERS: &str = "/checkout/order/list";
/// ListAbnormalPayments (POST).
pub const LIST_ABNORMAL_PAYMENTS: &str = "/checkout/abnormal-payment/list";
/// RefundAbnormalPayment (POST).
pub const REFUND_ABNORMAL_PAYMENT: &str = "/checkout/abnormal-payment/refund";
/// CreateRefundOrder (POST).
pub const CREATE_REFUND: &str = "/checkout/refund/create";
/// CancelRefundOrder (GET `?refundOrderNo=`, or POST).
pub const CANCEL_REFUND: &str = "/checkout/refund/cancel";
/// QueryRefundOrder (GET `?refundOrderNo=`).
pub const REFUND_INFO: &str = "/checkout/refund/info";
/// ListRefundOrders (POST).
pub const LIST_REFUNDS: &str = "/checkout/refund/list";
/// CreateSettlementOrder, on chain (POST).
pub const CREATE_SETTLEMENT: &str = "/checkout/settlement/create";
/// CreateFiatSettlementOrder (POST).
pub const CREATE_FIAT_SETTLEMENT: &str = "/checkout/settlement/fiat/create";
/// CancelSettlementOrder (GET `?settlementOrderNo=`).
pub const CANCEL_SETTLEMENT: &str = "/checkout/settlement/cancel";
/// QuerySettlementOrder (GET `?settlementOrderNo=`).
pub const SETTLEMENT_INFO: &str = "/checkout/settlement/info";
/// ListSettlementOrders (POST).
pub const LIST_SETTLEMENTS: &str = "/checkout/settlement/list";

/// `path?name=value`, the value percent-encoded (all but RFC 3986's unreserved characters).
pub fn with_query(path: &str, name: &str, value: &str) -> String {
    let mut url = format!("{path}?{name}=");
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            with_query(ORDER_INFO, "orderNo", "a-1"),
            "/checkout/order/info?orderNo=a-1"
        );
        assert_eq!(
            with_query(REFUND_INFO, "refundOrderNo", "r 1&x=é"),
            "/checkout/refund/info?refundOrderNo=r%201%26x%3D%C3%A9"
        );
    }
}
