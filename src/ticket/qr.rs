//! A ticket code as a QR code: in SVG, sharp at any size on a phone's screen or on paper;
//! in PNG for e-mails, whose readers seldom show SVG.

use qrcode::render::svg;
use qrcode::types::QrError;
use qrcode::{Color, EcLevel, QrCode};

use super::png;

/// The drawing's size in CSS pixels, quiet zone included, at least: about 8 cm printed,
/// most of a phone's width. It scales without blurring, as it is drawn with paths.
const MIN_SIZE: u32 = 300;

/// The QR code of `code` as an SVG document: black on white, error correction level M
/// (15% of it may be smudged or covered), with the standard quiet zone of 4 modules.
/// Fails only for text longer than a QR code holds, which a ticket code never is.
pub fn qr_svg(code: &str) -> Result<String, QrError> {
    let symbol = symbol(code)?;
    Ok(symbol
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(MIN_SIZE, MIN_SIZE)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build())
}

/// The modules of quiet zone around a symbol, as the standard asks.
const QUIET_ZONE: usize = 4;

/// Why a QR code could not be drawn as a PNG.
#[derive(Debug, thiserror::Error)]
pub enum QrImageError {
    #[error(transparent)]
    Symbol(#[from] QrError),
    #[error("encoding the PNG: {0}")]
    Png(#[from] std::io::Error),
}

/// The QR code of `code` as a PNG image: the symbol of [`qr_svg`] (level M, a quiet zone
/// of 4 modules), each module a square of whole pixels, at least [`MIN_SIZE`] pixels
/// across, black on white at 1 bit a pixel (about 1 KB).
pub fn qr_png(code: &str) -> Result<Vec<u8>, QrImageError> {
    let symbol = symbol(code)?;
    let modules = symbol.width();
    let across = modules + 2 * QUIET_ZONE;
    let scale = (MIN_SIZE as usize).div_ceil(across);
    let width = across * scale;
    let colors = symbol.to_colors();
    // One scanline per row of modules, each repeated `scale` times.
    let lines: Vec<Vec<u8>> = (0..across)
        .map(|row| {
            let mut line = vec![0xff; width.div_ceil(8)];
            for column in 0..across {
                let dark = (QUIET_ZONE..QUIET_ZONE + modules).contains(&row)
                    && (QUIET_ZONE..QUIET_ZONE + modules).contains(&column)
                    && colors[(row - QUIET_ZONE) * modules + column - QUIET_ZONE] == Color::Dark;
                if dark {
                    for x in column * scale..(column + 1) * scale {
                        line[x / 8] &= !(0x80 >> (x % 8));
                    }
                }
            }
            line
        })
        .collect();
    let rows = (0..width).map(|y| lines[y / scale].as_slice());
    // Far below u32 pixels: a QR code has at most 177 modules a side.
    Ok(png::bilevel(width as u32, rows)?)
}

/// Upper-case base32 is all alphanumeric-mode characters, so the encoder packs it at 5.5
/// bits a character.
fn symbol(code: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(code, EcLevel::M)
}

#[cfg(test)]
mod tests {
    use qrcode::Version;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    use super::*;
    use crate::domain::booking::SeatRef;
    use crate::domain::sections::{RowLabel, SectionName};
    use crate::ticket::{TicketClaims, TicketKey, encode_and_sign};

    fn code(ticket_id: i64, section: &str, row: &str) -> String {
        let seat = SeatRef {
            section: SectionName::stored(section),
            horizontal: RowLabel::stored(row).unwrap(),
            vertical: 12,
        };
        encode_and_sign(
            &TicketClaims { ticket_id, concert_id: 4_321, version: 1, seat },
            &TicketKey::generate(),
        )
    }

    #[test]
    fn a_ticket_code_makes_a_small_qr_code_in_alphanumeric_mode() {
        // In byte mode they would need versions 7 and 8.
        let small_venue = symbol(&code(1_234_567, "", "B")).unwrap();
        assert_eq!(small_venue.version(), Version::Normal(5));
        let stadium = symbol(&code(12_345_678, "Upper Tier 512", "AB")).unwrap();
        assert_eq!(stadium.version(), Version::Normal(6));
        assert_eq!(stadium.error_correction_level(), EcLevel::M);
    }

    #[test]
    fn the_qr_code_is_a_well_formed_svg_document_with_a_quiet_zone() {
        let text = code(1_234_567, "101", "C");
        let svg = qr_svg(&text).unwrap();
        let mut reader = Reader::from_str(&svg);
        let mut elements = Vec::new();
        let mut attributes = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) => {
                    elements.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
                    if e.name().as_ref() == b"svg" {
                        for a in e.attributes() {
                            let a = a.unwrap();
                            attributes.push((
                                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                a.unescape_value().unwrap().into_owned(),
                            ));
                        }
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(elements, ["svg", "rect", "path"]);
        let attribute = |name: &str| attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(attribute("xmlns"), Some("http://www.w3.org/2000/svg"));
        // Version 6: 41 modules and 4 of quiet zone each side, 7 pixels a module.
        let size: u32 = attribute("width").unwrap().parse().unwrap();
        assert_eq!(size, (41 + 8) * 7);
        assert!(size >= MIN_SIZE);
        assert_eq!(attribute("height"), attribute("width"));
        assert_eq!(attribute("viewBox"), Some(format!("0 0 {size} {size}").as_str()));
        // Nothing dark in the quiet zone: every path starts at 4 modules in or more.
        let path = svg.split(" d=\"").nth(1).unwrap();
        let first: u32 = path[1..].split(' ').next().unwrap().parse().unwrap();
        assert!(first >= 4 * 7, "{first}");
    }

    #[test]
    fn the_png_shows_every_module_of_the_symbol_as_a_square_in_a_quiet_zone() {
        use std::io::Read;

        let text = code(1_234_567, "101", "C");
        let png = qr_png(&text).unwrap();
        assert_eq!(png[..8], png::SIGNATURE);
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap()) as usize;
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap()) as usize;
        assert_eq!((width, height, png[24], png[25]), ((41 + 8) * 7, (41 + 8) * 7, 1, 0));
        assert!(png.len() < 2_000, "{} bytes", png.len());
        let idat_length = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&png[41..41 + idat_length]).read_to_end(&mut raw).unwrap();
        let row_bytes = width.div_ceil(8) + 1;
        let dark = |x: usize, y: usize| raw[y * row_bytes + 1 + x / 8] & (0x80 >> (x % 8)) == 0;
        let symbol = symbol(&text).unwrap();
        let modules = symbol.width();
        let colors = symbol.to_colors();
        for y in 0..height {
            for x in 0..width {
                let (column, row) = ((x / 7).wrapping_sub(4), (y / 7).wrapping_sub(4));
                let expected =
                    column < modules && row < modules && colors[row * modules + column] == Color::Dark;
                assert_eq!(dark(x, y), expected, "pixel ({x}, {y})");
            }
        }
    }
}
