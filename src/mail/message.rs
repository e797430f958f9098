//! An [`Email`] as an RFC 5322 message, with a Message-ID fixed by its key.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

use super::{Email, MailError};

/// The message for `email`, from `from`. An address that cannot be parsed is a permanent
/// failure: no retry will make it valid.
pub(crate) fn build(email: &Email, from: &Mailbox) -> Result<Message, MailError> {
    let address = email
        .to
        .parse()
        .map_err(|e| MailError::Rejected(format!("invalid recipient address {:?}: {e}", email.to)))?;
    let builder = Message::builder()
        .from(from.clone())
        .to(Mailbox::new(email.to_name.clone(), address))
        .subject(email.subject.as_str())
        .message_id(Some(message_id(&email.key, from)));
    let message = match &email.html {
        Some(html) if !email.images.is_empty() => {
            // The HTML and its images together, as the text's alternative.
            let mut related = MultiPart::related().singlepart(SinglePart::html(html.clone()));
            for image in &email.images {
                let content_type = ContentType::parse(image.content_type).map_err(|e| {
                    MailError::Rejected(format!("content type {:?}: {e}", image.content_type))
                })?;
                related = related.singlepart(
                    Attachment::new_inline(image.content_id.clone()).body(image.data.clone(), content_type),
                );
            }
            builder.multipart(
                MultiPart::alternative().singlepart(SinglePart::plain(email.text.clone())).multipart(related),
            )
        }
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(email.text.clone(), html.clone())),
        None => builder.singlepart(SinglePart::plain(email.text.clone())),
    };
    message.map_err(|e| MailError::Rejected(format!("cannot build the message: {e}")))
}

/// `<digest-of-key@sender's-domain>`: the same for every send of one e-mail, so a receiver
/// that got it before (a crash between the server's acceptance and the outbox's "sent")
/// can tell the second copy is a resend.
pub(crate) fn message_id(key: &str, from: &Mailbox) -> String {
    format!("<{}@{}>", key_digest(key), from.email.domain())
}

/// The first 128 bits of the key's SHA-256, in hex: short, and as unique as the key.
pub(crate) fn key_digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::InlineImage;

    fn from() -> Mailbox {
        "tickitecking <tickets@example.com>".parse().unwrap()
    }

    fn email(key: &str) -> Email {
        Email {
            key: key.into(),
            to: "fan@example.com".into(),
            to_name: Some("Kim Min-ji".into()),
            subject: "Your tickets".into(),
            text: "Seat A-1".into(),
            html: None,
            images: Vec::new(),
        }
    }

    fn formatted(email: &Email) -> String {
        String::from_utf8(build(email, &from()).unwrap().formatted()).unwrap()
    }

    #[test]
    fn the_message_id_depends_on_the_key_alone() {
        let a = message_id("order-12-paid/fan@example.com", &from());
        assert_eq!(a, message_id("order-12-paid/fan@example.com", &from()));
        assert_ne!(a, message_id("order-13-paid/fan@example.com", &from()));
        assert!(a.starts_with('<') && a.ends_with("@example.com>"), "{a}");
        assert!(formatted(&email("order-12-paid/fan@example.com")).contains(&format!("Message-ID: {a}\r\n")));
    }

    #[test]
    fn html_goes_with_the_text_as_alternatives() {
        let plain = formatted(&email("k"));
        assert!(plain.contains("Content-Type: text/plain; charset=utf-8"), "{plain}");
        assert!(!plain.contains("multipart"), "{plain}");

        let both = formatted(&Email { html: Some("<p>Seat A-1</p>".into()), ..email("k") });
        assert!(both.contains("Content-Type: multipart/alternative"), "{both}");
        assert!(both.contains("text/plain") && both.contains("text/html"), "{both}");
    }

    #[test]
    fn inline_images_go_with_the_html_as_related_parts() {
        let image = InlineImage {
            content_id: "ticket-7@tickets".into(),
            content_type: "image/png",
            data: crate::ticket::png::SIGNATURE.to_vec(),
        };
        let message = formatted(&Email {
            html: Some("<img src=\"cid:ticket-7@tickets\">".into()),
            images: vec![image],
            ..email("k")
        });
        let at = |needle: &str| message.find(needle).unwrap_or_else(|| panic!("{needle:?} in {message}"));
        assert!(at("Content-Type: multipart/alternative") < at("Content-Type: text/plain"), "{message}");
        assert!(at("Content-Type: text/plain") < at("Content-Type: multipart/related"), "{message}");
        assert!(at("Content-Type: multipart/related") < at("Content-Type: text/html"), "{message}");
        assert!(at("Content-Type: text/html") < at("Content-ID: <ticket-7@tickets>"), "{message}");
        assert!(message.contains("Content-Disposition: inline"), "{message}");
        assert!(message.contains("Content-Type: image/png"), "{message}");
        assert!(message.contains("Content-Transfer-Encoding: base64"), "{message}");
        assert!(message.contains("iVBORw0KGgo"), "the image in base64: {message}");
    }

    #[test]
    fn a_line_break_in_the_subject_cannot_add_a_header() {
        let message = formatted(&Email { subject: "Hi\r\nBcc: spy@example.org".into(), ..email("k") });
        assert!(!message.contains("\r\nBcc:"), "{message}");
    }

    #[test]
    fn an_invalid_recipient_is_a_permanent_failure() {
        let error = build(&Email { to: "not an address".into(), ..email("k") }, &from()).unwrap_err();
        assert!(error.is_permanent(), "{error}");
    }
}
