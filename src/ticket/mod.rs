//! Tickets' codes: what a ticket's QR code says (its ticket, concert, seat and version),
//! signed with the deployment's Ed25519 key so that the door can check it offline, with
//! only the public key.
//!
//! - [`key`]: the signing key, from `TICKET_SIGNING_KEY` or kept in the data dir;
//! - [`code`]: the codes' format, made and checked;
//! - [`qr`]: a code as a QR code, in SVG for pages and in PNG ([`png`]) for e-mails.
//!
//! The browser's side, for scanners offline, is `web/js/ticket_code.js`.

pub mod code;
pub mod key;
pub mod png;
pub mod qr;

pub use code::{CodeError, TicketClaims, decode_and_verify, encode_and_sign};
pub use ed25519_dalek::VerifyingKey;
pub use key::TicketKey;
pub use qr::{QrImageError, qr_png, qr_svg};
