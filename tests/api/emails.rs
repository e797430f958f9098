//! The e-mails a service wrote as `.eml` files (no `SMTP_URL`), read back: a small MIME
//! reader (headers, nested multiparts, 7bit, quoted-printable and base64 bodies), and a
//! PNG reader (chunks and their CRCs, inflated, unfiltered) to check that an inline QR
//! code shows what it should.

use std::io::Read;

use base64::Engine;

use crate::helpers::TestApp;

impl TestApp {
    /// The `.eml` files the service wrote, waited for until `count` are there (the sender
    /// looks every few seconds; a retry comes 10 s after a failure).
    pub async fn emails(&self, count: usize) -> Vec<String> {
        let dir = self.dir.path().join("outbox");
        for _ in 0..300 {
            let mut found: Vec<String> = std::fs::read_dir(&dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                        .map(|e| std::fs::read_to_string(e.path()).unwrap())
                        .collect()
                })
                .unwrap_or_default();
            if found.len() >= count {
                found.sort();
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("fewer than {count} e-mails in {}", dir.display());
    }
}

/// One leaf of a message: its content type, the multiparts it sits in (outermost first),
/// its headers and its decoded body.
#[derive(Debug, Clone)]
pub struct Part {
    pub content_type: String,
    pub within: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Part {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A message: its headers and its leaves in order.
#[derive(Debug, Clone)]
pub struct Mail {
    pub headers: Vec<(String, String)>,
    pub parts: Vec<Part>,
}

impl Mail {
    pub fn parse(raw: &str) -> Mail {
        let (headers, body) = split_head(raw);
        let mut parts = Vec::new();
        leaves(&headers, body, &mut Vec::new(), &mut parts);
        Mail { headers, parts }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The one leaf of this content type.
    pub fn only(&self, content_type: &str) -> &Part {
        let found: Vec<&Part> = self.parts.iter().filter(|p| p.content_type == content_type).collect();
        assert_eq!(found.len(), 1, "one {content_type} part in {self:#?}");
        found[0]
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.only("text/plain").body.clone()).unwrap()
    }

    pub fn html(&self) -> String {
        String::from_utf8(self.only("text/html").body.clone()).unwrap()
    }

    /// The inline images: `(Content-ID without brackets, content type, data)`.
    pub fn images(&self) -> Vec<(String, String, Vec<u8>)> {
        self.parts
            .iter()
            .filter(|p| p.content_type.starts_with("image/"))
            .map(|p| {
                let id = p.header("Content-ID").unwrap_or_default();
                (id.trim_matches(['<', '>']).to_owned(), p.content_type.clone(), p.body.clone())
            })
            .collect()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Headers (continuation lines unfolded) and the body after the blank line.
fn split_head(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

/// The type of a Content-Type value and its `boundary` parameter.
fn content_type(headers: &[(String, String)]) -> (String, Option<String>) {
    let value = header(headers, "Content-Type").unwrap_or("text/plain");
    let mut pieces = value.split(';');
    let kind = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
    let boundary = pieces.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        (name.trim().eq_ignore_ascii_case("boundary")).then(|| value.trim().trim_matches('"').to_owned())
    });
    (kind, boundary)
}

fn leaves(headers: &[(String, String)], body: &str, within: &mut Vec<String>, found: &mut Vec<Part>) {
    let (kind, boundary) = content_type(headers);
    if let (true, Some(boundary)) = (kind.starts_with("multipart/"), boundary) {
        within.push(kind);
        let delimiter = format!("--{boundary}");
        let inside = body.split(&format!("{delimiter}--")).next().unwrap_or_default();
        for piece in inside.split(&delimiter).skip(1) {
            let piece = piece.strip_prefix("\r\n").unwrap_or(piece);
            let piece = piece.strip_suffix("\r\n").unwrap_or(piece);
            let (headers, body) = split_head(piece);
            leaves(&headers, body, within, found);
        }
        within.pop();
        return;
    }
    let encoding = header(headers, "Content-Transfer-Encoding").unwrap_or("7bit").to_ascii_lowercase();
    let body = match encoding.as_str() {
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(body.chars().filter(|c| !c.is_whitespace()).collect::<String>())
            .expect("base64 body"),
        "quoted-printable" => quoted_printable(body),
        _ => body.replace("\r\n", "\n").into_bytes(),
    };
    found.push(Part { content_type: kind, within: within.clone(), headers: headers.to_vec(), body });
}

fn quoted_printable(body: &str) -> Vec<u8> {
    let joined = body.replace("=\r\n", "").replace("\r\n", "\n");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).expect("quoted-printable escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// A greyscale PNG of 1 bit a pixel, read: `(width, height, dark pixels row by row)`.
/// Every chunk's CRC is checked, and every filter type undone.
pub fn bilevel_png(png: &[u8]) -> (usize, usize, Vec<bool>) {
    assert_eq!(png[..8], [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'], "the PNG signature");
    let (mut rest, mut header, mut deflated, mut ended) = (&png[8..], None, Vec::new(), false);
    while !rest.is_empty() {
        let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let kind = &rest[4..8];
        let data = &rest[8..8 + length];
        let crc = u32::from_be_bytes(rest[8 + length..12 + length].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&rest[4..8 + length]), "the CRC of chunk {kind:?}");
        match kind {
            b"IHDR" => header = Some(data.to_vec()),
            b"IDAT" => deflated.extend_from_slice(data),
            b"IEND" => ended = true,
            _ => {}
        }
        rest = &rest[12 + length..];
    }
    assert!(ended, "an IEND chunk");
    let header = header.expect("an IHDR chunk");
    let width = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
    let height = u32::from_be_bytes(header[4..8].try_into().unwrap()) as usize;
    assert_eq!(header[8..], [1, 0, 0, 0, 0], "greyscale, 1 bit a pixel, not interlaced");
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&deflated[..]).read_to_end(&mut raw).unwrap();
    let stride = width.div_ceil(8);
    assert_eq!(raw.len(), height * (stride + 1), "one filtered scanline per row");
    let mut previous = vec![0u8; stride];
    let mut dark = Vec::with_capacity(width * height);
    for line in raw.chunks(stride + 1) {
        let mut row = line[1..].to_vec();
        for i in 0..stride {
            // At 1 bit a pixel, the byte to the left is the "pixel" before (PNG's filters).
            let (a, b, c) =
                if i > 0 { (row[i - 1], previous[i], previous[i - 1]) } else { (0, previous[i], 0) };
            row[i] = row[i].wrapping_add(match line[0] {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => paeth(a, b, c),
                other => panic!("filter type {other}"),
            });
        }
        dark.extend((0..width).map(|x| row[x / 8] & (0x80 >> (x % 8)) == 0));
        previous = row;
    }
    (width, height, dark)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Whether a PNG shows the QR code of `text`: the symbol the standard makes of it (level
/// M), drawn module by module as squares of whole pixels inside a quiet zone of four
/// modules, every pixel as the symbol says.
pub fn png_shows_qr_code_of(png: &[u8], text: &str) -> bool {
    let (width, height, dark) = bilevel_png(png);
    let symbol = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).unwrap();
    let modules = symbol.width();
    let colors = symbol.to_colors();
    let across = modules + 8;
    if width != height || width % across != 0 {
        return false;
    }
    let scale = width / across;
    (0..height).all(|y| {
        (0..width).all(|x| {
            let (column, row) = ((x / scale).wrapping_sub(4), (y / scale).wrapping_sub(4));
            let expected =
                column < modules && row < modules && colors[row * modules + column] == qrcode::Color::Dark;
            dark[y * width + x] == expected
        })
    })
}

/// Checks an order's confirmation: the text and the HTML alternatives (the HTML with its
/// images as `multipart/related`), each of `tickets` — `(id, its current code)` — linked in
/// the text and shown in the HTML as one inline PNG, named by `cid:`, that shows the QR
/// code of its code; and no other image.
pub fn assert_carries_tickets(mail: &Mail, tickets: &[(i64, &str)]) {
    assert!(mail.header("Content-Type").unwrap().starts_with("multipart/alternative"), "{mail:#?}");
    assert_eq!(mail.only("text/plain").within, ["multipart/alternative"]);
    assert_eq!(mail.only("text/html").within, ["multipart/alternative", "multipart/related"]);
    let (text, html, images) = (mail.text(), mail.html(), mail.images());
    assert_eq!(images.len(), tickets.len(), "one image per ticket: {mail:#?}");
    for &(id, code) in tickets {
        assert!(text.contains(&format!("/tickets/{id}\n")), "the link of ticket {id} in {text}");
        let cid = format!("ticket-{id}@tickitecking");
        assert!(html.contains(&format!("src=\"cid:{cid}\"")), "ticket {id}'s image in {html}");
        let image = images.iter().find(|(found, _, _)| *found == cid).unwrap_or_else(|| panic!("{cid}"));
        assert_eq!(image.1, "image/png");
        let part = mail.parts.iter().find(|p| p.header("Content-ID") == Some(&format!("<{cid}>"))).unwrap();
        assert_eq!(part.within, ["multipart/alternative", "multipart/related"]);
        assert!(part.header("Content-Disposition").unwrap().starts_with("inline"), "{part:?}");
        assert!(png_shows_qr_code_of(&image.2, code), "ticket {id}'s image shows its code {code}");
    }
}
