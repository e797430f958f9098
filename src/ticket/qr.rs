//! A ticket code as a QR code, in SVG: sharp at any size on a phone's screen or on paper.

use qrcode::render::svg;
use qrcode::types::QrError;
use qrcode::{EcLevel, QrCode};

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
}
