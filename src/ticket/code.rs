//! Ticket codes: the text in a ticket's QR code, signed so that a scanner can check it
//! offline with the deployment's public key.
//!
//! Format 1, before the text encoding:
//!
//! ```text
//! 0x01                  format
//! varint                ticket id   (the i64's 64 bits)
//! varint                concert id  (the i64's 64 bits)
//! varint                code version (u32; a ticket's new code gets a higher one)
//! u8 n, n bytes         section name, UTF-8, n ≤ 40 (0: the seed's section "")
//! u8 n, n bytes         row label, A–Z 0–9, n ≤ 4 (0: a standing place)
//! varint                seat number in the row, or the standing place's number (u32)
//! 64 bytes              Ed25519 signature of SIGNING_CONTEXT ‖ all of the above
//! ```
//!
//! Varints are LEB128 (7 bits a byte, low bits first) in their shortest form. The whole is
//! base32 (RFC 4648, upper case, no padding): a QR code holds those characters in its
//! alphanumeric mode, at 5.5 bits each rather than 8. A code is about 120 characters for
//! a seat of a seed-shaped venue (a QR code of version 5, 37×37 modules, at error
//! correction M), about 130 for a stadium's (version 6, 41×41).
//! `web/js/ticket_code.js` reads the same format in the browser.
//!
//! Decoding is strict, so every ticket has exactly one code per version: lower case is
//! taken (some scanners lower it), but no other spelling of the same bytes, no longer
//! varint, no byte after the signature and no unknown format.

use ed25519_dalek::{SIGNATURE_LENGTH, Signature, VerifyingKey};

use super::TicketKey;
use crate::domain::booking::SeatRef;
use crate::domain::sections::{MAX_SECTION_NAME, RowLabel, SectionName};

/// What a code of format 1 starts with.
const FORMAT: u8 = 1;

/// Signed before the payload: a signature of this key over anything else (should the key
/// ever sign anything else) can never pass for a ticket code. The format byte that follows
/// separates the formats.
pub const SIGNING_CONTEXT: &[u8] = b"tickitecking-ticket-code";

/// The longest payload: the format, three varints of their longest, a section name of
/// 40 bytes, a row label of 4, and the seat number's varint.
const MAX_PAYLOAD: usize = 1 + 10 + 10 + 5 + 1 + MAX_SECTION_NAME + 1 + 4 + 5;

/// The longest code, in characters.
pub const MAX_CODE_LENGTH: usize = ((MAX_PAYLOAD + SIGNATURE_LENGTH) * 8).div_ceil(5);

/// What a ticket code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketClaims {
    pub ticket_id: i64,
    pub concert_id: i64,
    /// The code's version: a ticket gets a new code (a higher version) when it moves to
    /// another fan, and the door refuses the older ones.
    pub version: u32,
    /// The seat, or the standing place (row [`RowLabel::STANDING`], its place number).
    pub seat: SeatRef,
}

/// Why a code was refused. The door answers both the same way (`INVALID_CODE`); the
/// difference is for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not a ticket code: wrong characters or length, cut short, extra bytes, a longer
    /// spelling than needed, or a format this build does not know.
    #[error("malformed ticket code: {0}")]
    Malformed(&'static str),
    /// Well formed, but not signed with this key: altered, forged, or another
    /// deployment's.
    #[error("ticket code not signed with this key")]
    BadSignature,
}

/// The code of `claims`, signed with `key`.
pub fn encode_and_sign(claims: &TicketClaims, key: &TicketKey) -> String {
    let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + MAX_PAYLOAD + SIGNATURE_LENGTH);
    message.extend_from_slice(SIGNING_CONTEXT);
    message.push(FORMAT);
    put_varint(&mut message, claims.ticket_id as u64);
    put_varint(&mut message, claims.concert_id as u64);
    put_varint(&mut message, u64::from(claims.version));
    for text in [claims.seat.section.as_str(), claims.seat.horizontal.as_str()] {
        // At most 40 and 4 bytes: the types hold no more.
        message.push(text.len() as u8);
        message.extend_from_slice(text.as_bytes());
    }
    put_varint(&mut message, u64::from(claims.seat.vertical));
    let signature = key.sign(&message);
    message.extend_from_slice(&signature.to_bytes());
    data_encoding::BASE32_NOPAD.encode(&message[SIGNING_CONTEXT.len()..])
}

/// The claims of `code` if it is well formed and signed with `key`'s private half.
/// Whether it is for the concert at hand, and its version the ticket's current one, is for
/// the caller to check.
pub fn decode_and_verify(code: &str, key: &VerifyingKey) -> Result<TicketClaims, CodeError> {
    if code.len() > MAX_CODE_LENGTH {
        return Err(CodeError::Malformed("too long"));
    }
    let bytes = data_encoding::BASE32_NOPAD
        .decode(code.to_ascii_uppercase().as_bytes())
        .map_err(|_| CodeError::Malformed("not base32 of whole bytes"))?;
    let (claims, payload_length) = parse_payload(&bytes)?;
    let (payload, signature) = bytes.split_at(payload_length);
    let signature: &[u8; SIGNATURE_LENGTH] = signature.try_into().map_err(|_| {
        CodeError::Malformed(if signature.len() < SIGNATURE_LENGTH {
            "cut short"
        } else {
            "bytes after the signature"
        })
    })?;
    let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + payload.len());
    message.extend_from_slice(SIGNING_CONTEXT);
    message.extend_from_slice(payload);
    key.verify_strict(&message, &Signature::from_bytes(signature)).map_err(|_| CodeError::BadSignature)?;
    Ok(claims)
}

/// The claims at the start of `bytes`, and how many bytes they took.
fn parse_payload(bytes: &[u8]) -> Result<(TicketClaims, usize), CodeError> {
    let mut reader = Reader { rest: bytes };
    if reader.byte()? != FORMAT {
        return Err(CodeError::Malformed("unknown format"));
    }
    let ticket_id = reader.varint()? as i64;
    let concert_id = reader.varint()? as i64;
    let version = reader.varint_u32()?;
    let section = reader.text(MAX_SECTION_NAME)?;
    if section.contains('\0') {
        return Err(CodeError::Malformed("a section name with a NUL character"));
    }
    let row = RowLabel::stored(reader.text(4)?).map_err(|_| CodeError::Malformed("not a row label"))?;
    let number = reader.varint_u32()?;
    let seat = SeatRef { section: SectionName::stored(section), horizontal: row, vertical: number };
    let claims = TicketClaims { ticket_id, concert_id, version, seat };
    Ok((claims, bytes.len() - reader.rest.len()))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a payload from the front.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, CodeError> {
        let (&first, rest) = self.rest.split_first().ok_or(CodeError::Malformed("cut short"))?;
        self.rest = rest;
        Ok(first)
    }

    /// A LEB128 number of at most 64 bits, in its shortest form.
    fn varint(&mut self) -> Result<u64, CodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(CodeError::Malformed("a number of more than 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err(CodeError::Malformed("a number longer than needed"));
                }
                return Ok(value);
            }
        }
        Err(CodeError::Malformed("a number of more than 64 bits"))
    }

    fn varint_u32(&mut self) -> Result<u32, CodeError> {
        u32::try_from(self.varint()?).map_err(|_| CodeError::Malformed("a number of more than 32 bits"))
    }

    /// UTF-8 text of at most `max` bytes, after its length.
    fn text(&mut self, max: usize) -> Result<&'a str, CodeError> {
        let length = usize::from(self.byte()?);
        if length > max {
            return Err(CodeError::Malformed("a name too long"));
        }
        if self.rest.len() < length {
            return Err(CodeError::Malformed("cut short"));
        }
        let (text, rest) = self.rest.split_at(length);
        self.rest = rest;
        std::str::from_utf8(text).map_err(|_| CodeError::Malformed("a name that is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(section: &str, row: &str, number: u32) -> SeatRef {
        SeatRef {
            section: SectionName::stored(section),
            horizontal: RowLabel::stored(row).unwrap(),
            vertical: number,
        }
    }

    fn claims(seat: SeatRef) -> TicketClaims {
        TicketClaims { ticket_id: 1_234_567, concert_id: 4_321, version: 1, seat }
    }

    /// The payload of `code`, undone from base32 without any check.
    fn bytes_of(code: &str) -> Vec<u8> {
        data_encoding::BASE32_NOPAD.decode(code.as_bytes()).unwrap()
    }

    /// `payload` signed properly with `key`, however it is formed.
    fn signed(payload: &[u8], key: &TicketKey) -> String {
        let mut message = SIGNING_CONTEXT.to_vec();
        message.extend_from_slice(payload);
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&key.sign(&message).to_bytes());
        data_encoding::BASE32_NOPAD.encode(&bytes)
    }

    #[test]
    fn every_seat_shape_comes_back_as_it_was_signed() {
        let key = TicketKey::generate();
        let seats = [
            seat("", "A", 1),
            seat("", "Z", 100),
            seat("101", "AA", 200),
            seat("Balcony Left", "12", 7),
            seat("2층 VIP석", "ZZZ9", 150),
            seat(&"x".repeat(MAX_SECTION_NAME), "WXYZ", u32::MAX),
            seat("Floor", "", 1),
            seat("Floor", "", 100_000),
            seat("", "", 3),
        ];
        for seat in seats {
            for (ticket_id, concert_id, version) in
                [(1, 1, 0), (1_234_567, 4_321, 3), (i64::MAX, i64::MAX, u32::MAX)]
            {
                let claims = TicketClaims { ticket_id, concert_id, version, seat };
                let code = encode_and_sign(&claims, &key);
                assert!(code.len() <= MAX_CODE_LENGTH, "{code}");
                assert!(code.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)), "{code}");
                assert_eq!(decode_and_verify(&code, &key.verifying_key()), Ok(claims));
            }
        }
    }

    #[test]
    fn a_negative_id_never_issued_still_comes_back_as_it_was() {
        let key = TicketKey::generate();
        let claims = TicketClaims { ticket_id: -1, concert_id: i64::MIN, version: 0, seat: seat("", "B", 2) };
        assert_eq!(decode_and_verify(&encode_and_sign(&claims, &key), &key.verifying_key()), Ok(claims));
    }

    #[test]
    fn a_typical_code_is_short_enough_for_a_small_qr_code() {
        let key = TicketKey::generate();
        let seed_seat = encode_and_sign(&claims(seat("", "B", 12)), &key);
        let stadium = TicketClaims {
            ticket_id: 12_345_678,
            concert_id: 98_765,
            version: 2,
            seat: seat("A12", "AB", 17),
        };
        let stadium = encode_and_sign(&stadium, &key);
        assert_eq!(seed_seat.len(), 120);
        assert_eq!(stadium.len(), 130);
        assert_eq!(MAX_CODE_LENGTH, 226);
    }

    #[test]
    fn lower_case_is_accepted_as_some_scanners_send_it() {
        let key = TicketKey::generate();
        let code = encode_and_sign(&claims(seat("", "C", 3)), &key);
        assert_eq!(
            decode_and_verify(&code.to_ascii_lowercase(), &key.verifying_key()),
            Ok(claims(seat("", "C", 3)))
        );
        let mixed: String = code
            .chars()
            .enumerate()
            .map(|(i, c)| if i % 2 == 0 { c.to_ascii_lowercase() } else { c })
            .collect();
        assert!(decode_and_verify(&mixed, &key.verifying_key()).is_ok());
    }

    #[test]
    fn any_one_character_changed_is_refused() {
        let key = TicketKey::generate();
        let code = encode_and_sign(&claims(seat("101", "AA", 17)), &key);
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        // The characters all of whose bits are the signature's (the last 64 bytes); the
        // last one may have spare bits, whose change makes the code malformed instead.
        let signature_from = ((bytes_of(&code).len() - SIGNATURE_LENGTH) * 8).div_ceil(5);
        for at in 0..code.len() {
            let old = code.as_bytes()[at];
            for new in alphabet.bytes().filter(|b| *b != old).step_by(5) {
                let mut altered = code.clone().into_bytes();
                altered[at] = new;
                let altered = String::from_utf8(altered).unwrap();
                let result = decode_and_verify(&altered, &key.verifying_key());
                assert!(result.is_err(), "{altered} passed");
                if at >= signature_from && at < code.len() - 1 {
                    assert_eq!(result, Err(CodeError::BadSignature), "{altered}");
                }
            }
        }
        // The ticket id's first byte, one higher: well formed, badly signed.
        let mut bytes = bytes_of(&code);
        bytes[1] ^= 1;
        let forged = data_encoding::BASE32_NOPAD.encode(&bytes);
        assert_eq!(decode_and_verify(&forged, &key.verifying_key()), Err(CodeError::BadSignature));
    }

    #[test]
    fn another_keys_code_is_badly_signed() {
        let (ours, theirs) = (TicketKey::generate(), TicketKey::generate());
        let code = encode_and_sign(&claims(seat("", "D", 4)), &theirs);
        assert_eq!(decode_and_verify(&code, &ours.verifying_key()), Err(CodeError::BadSignature));
    }

    #[test]
    fn a_code_cut_short_or_run_long_is_malformed() {
        let key = TicketKey::generate();
        let code = encode_and_sign(&claims(seat("Floor", "", 9)), &key);
        for length in 0..code.len() {
            let result = decode_and_verify(&code[..length], &key.verifying_key());
            assert!(matches!(result, Err(CodeError::Malformed(_))), "{length}: {result:?}");
        }
        let mut longer = bytes_of(&code);
        longer.push(0);
        let longer = data_encoding::BASE32_NOPAD.encode(&longer);
        assert_eq!(
            decode_and_verify(&longer, &key.verifying_key()),
            Err(CodeError::Malformed("bytes after the signature"))
        );
        let padded = format!("{code}=");
        assert!(matches!(decode_and_verify(&padded, &key.verifying_key()), Err(CodeError::Malformed(_))));
        let endless = "A".repeat(10_000);
        assert_eq!(decode_and_verify(&endless, &key.verifying_key()), Err(CodeError::Malformed("too long")));
    }

    #[test]
    fn other_spellings_of_the_same_claims_are_refused_even_when_signed() {
        let key = TicketKey::generate();
        let good = bytes_of(&encode_and_sign(&claims(seat("", "E", 5)), &key));
        let payload = &good[..good.len() - SIGNATURE_LENGTH];
        assert_eq!(payload, [1, 0x87, 0xad, 0x4b, 0xe1, 0x21, 1, 0, 1, b'E', 5]);
        let cases: [(&[u8], &str); 8] = [
            (&[2, 1, 1, 1, 0, 1, b'E', 5], "unknown format"),
            (&[1, 0x81, 0, 1, 1, 0, 1, b'E', 5], "a number longer than needed"),
            (&[1, 1, 1, 0x85, 0x80, 0x80, 0x80, 0x10, 0, 1, b'E', 5], "a number of more than 32 bits"),
            (
                &[1, 1, 1, 1, 0, 1, b'E', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                "a number of more than 64 bits",
            ),
            (&[1, 1, 1, 1, 0, 1, b'e', 5], "not a row label"),
            (&[1, 1, 1, 1, 0, 5, b'A', b'B', b'C', b'D', b'E', 5], "a name too long"),
            (&[1, 1, 1, 1, 2, 0xc3, 0x28, 1, b'E', 5], "a name that is not UTF-8"),
            (&[1, 1, 1, 1, 2, b'A', 0, 1, b'E', 5], "a section name with a NUL character"),
        ];
        for (payload, why) in cases {
            let code = signed(payload, &key);
            assert_eq!(
                decode_and_verify(&code, &key.verifying_key()),
                Err(CodeError::Malformed(why)),
                "{payload:?}"
            );
        }
        // Base32 whose last character carries bits beyond the last byte spells the same
        // bytes another way.
        let short = TicketClaims { ticket_id: 1_000, ..claims(seat("", "E", 5)) };
        let code = encode_and_sign(&short, &key);
        let last = code.as_bytes()[code.len() - 1];
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let value = alphabet.bytes().position(|b| b == last).unwrap();
        let other = alphabet.as_bytes()[value | 1];
        assert_ne!(other, last, "a code of 74 bytes ends in a character with 3 spare bits");
        let respelled = format!("{}{}", &code[..code.len() - 1], other as char);
        assert!(matches!(decode_and_verify(&respelled, &key.verifying_key()), Err(CodeError::Malformed(_))));
    }
}
