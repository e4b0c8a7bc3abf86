//! The development mail transport: each message is written to the log,
//! link included, instead of being sent. It carries live one-time tokens
//! into the log, so the configuration refuses it when
//! `PORTCULLIS_ENV=production`.

use crate::ports::{DeliveryError, MailTransport, RenderedMail};
use async_trait::async_trait;

pub struct LogMailer;

#[async_trait]
impl MailTransport for LogMailer {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn deliver(&self, mail: &RenderedMail) -> Result<(), DeliveryError> {
        tracing::warn!(
            to = mail.to.as_str(),
            subject = %mail.subject,
            body = %mail.text,
            "PORTCULLIS_MAILER=log: mail written to the log instead of being sent (development only)"
        );
        Ok(())
    }
}
