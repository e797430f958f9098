//! The browser's ticket-code checker (`web/js/ticket_code.js`) against the service's: codes
//! made here, good and spoiled, go to `tests/ticket_codes/verify.mjs` in node, which must
//! read each one as `decode_and_verify` does (the same claims, or the same refusal for the
//! same reason), through WebCrypto and through the vendored verifier, and then times one
//! verification on each. Needs node (`scripts/test` installs it, for the browser tests);
//! without it this test fails and says so, it never skips.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use tickitecking::domain::booking::SeatRef;
use tickitecking::domain::sections::{RowLabel, SectionName};
use tickitecking::ticket::code::SIGNING_CONTEXT;
use tickitecking::ticket::{CodeError, TicketClaims, TicketKey, decode_and_verify, encode_and_sign};

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn seat(section: &str, row: &str, number: u32) -> SeatRef {
    SeatRef {
        section: SectionName::stored(section),
        horizontal: RowLabel::stored(row).unwrap(),
        vertical: number,
    }
}

fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// A payload however formed, signed properly.
fn signed(payload: &[u8], key: &SigningKey) -> String {
    let signature = key.sign(&[SIGNING_CONTEXT, payload].concat());
    base32(&[payload, &signature.to_bytes()].concat())
}

/// What the service makes of `code`, as the browser module answers it.
fn expected(code: &str, key: &TicketKey) -> Value {
    match decode_and_verify(code, &key.verifying_key()) {
        Ok(c) => {
            let section = c.seat.section.as_str();
            let seat = if c.seat.is_standing() {
                json!({"section": section, "standing": c.seat.vertical})
            } else {
                json!({"section": section, "row": c.seat.horizontal.as_str(), "number": c.seat.vertical})
            };
            json!({"claims": {"ticketId": c.ticket_id, "concertId": c.concert_id, "version": c.version, "seat": seat}})
        }
        Err(CodeError::Malformed(reason)) => json!({"error": "MALFORMED", "reason": reason}),
        Err(CodeError::BadSignature) => json!({"error": "BAD_SIGNATURE"}),
    }
}

#[test]
fn the_browser_reads_every_code_as_the_service_does_on_both_of_its_verifiers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seed = [0x5au8; 32];
    let key = TicketKey::from_setting(&URL_SAFE_NO_PAD.encode(seed)).unwrap();
    let raw = SigningKey::from_bytes(&seed);
    let other = TicketKey::generate();

    let claims = |ticket_id, concert_id, version, seat| TicketClaims { ticket_id, concert_id, version, seat };
    let good = [
        claims(1_234_567, 4_321, 1, seat("", "B", 12)),
        claims(1, 1, 0, seat("", "A", 1)),
        claims(12_345_678, 98_765, 2, seat("A12", "AB", 200)),
        claims(77, 5, 3, seat("2층 VIP석", "ZZZ9", 150)),
        claims(78, 5, 1, seat(&"x".repeat(40), "WXYZ", u32::MAX)),
        claims(79, 5, u32::MAX, seat("Floor", "", 1)),
        claims(80, 5, 1, seat("Floor", "", 100_000)),
        claims(81, 5, 1, seat("\u{feff}Stage Left", "C", 3)),
        claims((1 << 53) - 1, (1 << 53) - 1, 1, seat("", "D", 4)),
    ];
    let mut codes: Vec<String> = Vec::new();
    for c in &good {
        let code = encode_and_sign(c, &key);
        codes.push(code.to_ascii_lowercase());
        // One character changed, here and there.
        for at in [0, 1, 3, 7, 12, code.len() / 2, code.len() - 40, code.len() - 2, code.len() - 1] {
            let mut altered = code.clone().into_bytes();
            altered[at] = ALPHABET[(ALPHABET.iter().position(|b| *b == altered[at]).unwrap() + 9) % 32];
            codes.push(String::from_utf8(altered).unwrap());
        }
        // Cut short, and run long.
        for length in [0, 1, 2, 4, 5, 7, 8, 16, code.len() - 103, code.len() - 8, code.len() - 1] {
            codes.push(code[..length].to_owned());
        }
        let bytes = data_encoding::BASE32_NOPAD.decode(code.as_bytes()).unwrap();
        codes.push(base32(&[&bytes[..], &[0]].concat()));
        codes.push(format!("{code}="));
        codes.push(encode_and_sign(c, &other));
        codes.push(code);
    }
    // Other spellings of claims, and formats this build does not know, signed properly.
    let section_of_41 = [&[1, 1, 1, 1, 41][..], &[b'x'; 41], &[1, b'E', 5]].concat();
    for payload in [
        &[1, 1, 1, 1, 0, 1, b'E', 5][..],
        &[2, 1, 1, 1, 0, 1, b'E', 5],
        &[0, 1, 1, 1, 0, 1, b'E', 5],
        &[1, 0x81, 0, 1, 1, 0, 1, b'E', 5],
        &[1, 1, 1, 0x85, 0x80, 0x80, 0x80, 0x10, 0, 1, b'E', 5],
        &[1, 1, 1, 1, 0, 1, b'E', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        &[1, 1, 1, 1, 0, 1, b'E', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81],
        &[1, 1, 1, 1, 0, 1, b'e', 5],
        &[1, 1, 1, 1, 0, 1, b'-', 5],
        &[1, 1, 1, 1, 0, 5, b'A', b'B', b'C', b'D', b'E', 5],
        &section_of_41,
        &[1, 1, 1, 1, 2, 0xc3, 0x28, 1, b'E', 5],
        &[1, 1, 1, 1, 3, 0xed, 0xa0, 0x80, 1, b'E', 5],
        &[1, 1, 1, 1, 2, b'A', 0, 1, b'E', 5],
        &[1, 1, 1, 1, 0, 1, b'E'],
        &[1, 1, 1, 1, 0, 1, b'E', 0x80],
    ] {
        codes.push(signed(payload, &raw));
    }
    // Text that is no code at all.
    for text in
        ["", "A", "AB", "========", "ıA", "ÀÀÀÀÀÀÀÀ", "0189", "AAAA AAA", &"A".repeat(227), &"é".repeat(120)]
    {
        codes.push(text.to_owned());
    }
    let cases: Vec<Value> =
        codes.iter().map(|code| json!({"code": code, "expect": expected(code, &key)})).collect();
    let accepted = cases.iter().filter(|c| c["expect"].get("claims").is_some()).count();
    assert_eq!(
        accepted,
        2 * good.len() + 1,
        "each good code and its lower case, and the one payload spelled right"
    );
    let vectors = json!({
        "publicKey": key.public_key_base64url(),
        "timed": encode_and_sign(&good[2], &key),
        "cases": cases,
    });

    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("vectors.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&vectors).unwrap()).unwrap();
    let output = Command::new("node")
        .arg(dir.join("tests/ticket_codes/verify.mjs"))
        .arg(&file)
        .output()
        .expect("node runs (is nodejs installed? `scripts/test` installs it)");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser's checker disagrees with the service's: {}", output.status);
}
