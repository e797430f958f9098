//! Taking money for orders: the payment providers behind one trait, and their protocols,
//! free of the database and of the service's routes.

pub mod stripe;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// An order to be paid for, as a provider needs it.
#[derive(Debug, Clone)]
pub struct Charge<'a> {
    pub order_id: i64,
    /// In the currency's minor unit.
    pub amount: i64,
    /// ISO 4217.
    pub currency: &'a str,
    /// What the fan pays for ("Spring Live 2027, 2 seats").
    pub description: &'a str,
    pub customer_email: Option<&'a str>,
    /// Where the fan comes back to, paid or not.
    pub return_url: &'a str,
    /// When the order's hold ends.
    pub hold_ends: DateTime<Utc>,
}

/// A payment started with a provider.
#[derive(Debug, Clone, Default)]
pub struct Started {
    /// The provider's reference of the payment (a Stripe Checkout Session id).
    pub reference: Option<String>,
    /// The provider's payment page, where the fan goes to pay.
    pub redirect_url: Option<String>,
}

/// A payment provider: how a payment starts, how money goes back, and how an unpaid
/// payment is called off. Each call may be repeated (the provider deduplicates it by the
/// key it is given), so a retry after a crash never charges or refunds twice.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The name stored with payments and refunds (`stripe`).
    fn name(&self) -> &'static str;
    /// Starts paying for an order.
    async fn start(&self, charge: &Charge<'_>) -> anyhow::Result<Started>;
    /// Gives `amount` (minor unit) of a payment (`reference`: what the provider named the
    /// money) back; `key` names this refund. Answers the provider's refund reference.
    async fn refund(&self, reference: &str, amount: i64, key: &str) -> anyhow::Result<String>;
    /// Calls off a payment that was started and is no longer wanted (the hold ended).
    async fn call_off(&self, reference: &str) -> anyhow::Result<()>;
}

/// Stripe: a Checkout Session per order, refunds through the Refunds API.
pub struct Stripe {
    client: stripe::StripeClient,
}

impl Stripe {
    pub fn new(api_base: &str, secret_key: &str) -> anyhow::Result<Self> {
        Ok(Self { client: stripe::StripeClient::new(api_base.to_owned(), secret_key.to_owned())? })
    }
}

#[async_trait]
impl Provider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn start(&self, charge: &Charge<'_>) -> anyhow::Result<Started> {
        let session = self
            .client
            .create_checkout_session(&stripe::CheckoutRequest {
                order_id: charge.order_id,
                amount: charge.amount,
                currency: charge.currency,
                description: charge.description,
                customer_email: charge.customer_email,
                success_url: charge.return_url,
                cancel_url: charge.return_url,
                expires_at: charge.hold_ends,
            })
            .await?;
        Ok(Started { reference: Some(session.id), redirect_url: session.url })
    }

    async fn refund(&self, reference: &str, amount: i64, key: &str) -> anyhow::Result<String> {
        Ok(self.client.create_refund(reference, amount, key).await?.id)
    }

    async fn call_off(&self, reference: &str) -> anyhow::Result<()> {
        match self.client.expire_checkout_session(reference).await {
            Ok(_) => Ok(()),
            // Paid or expired meanwhile: nothing left to call off (a payment's webhook
            // follows and is settled by the late-payment rule).
            Err(stripe::StripeError::Api { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
