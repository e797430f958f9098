//! PNG images of black and white pixels (1 bit a pixel, greyscale), what a QR code needs:
//! a signature and three chunks, the pixels deflated with flate2 and each chunk checked
//! with crc32fast (both in the tree already), instead of an image crate.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// What every PNG file starts with.
pub const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The PNG of an image `width` pixels wide whose rows are `rows`, each `width` bits packed
/// into bytes, leftmost pixel in the highest bit, a 1 white and a 0 black (PNG's
/// greyscale at 1 bit a pixel).
pub fn bilevel<'a>(width: u32, rows: impl ExactSizeIterator<Item = &'a [u8]>) -> io::Result<Vec<u8>> {
    let row_bytes = width.div_ceil(8) as usize;
    let height = u32::try_from(rows.len()).map_err(|_| io::Error::other("too many rows for a PNG"))?;
    let mut pixels = ZlibEncoder::new(Vec::with_capacity(1024), Compression::default());
    for row in rows {
        if row.len() != row_bytes {
            return Err(io::Error::other(format!("a row of {} bytes, not {row_bytes}", row.len())));
        }
        // Each scanline starts with its filter, here none: the rows repeat, which deflate
        // packs as well as any filter would.
        pixels.write_all(&[0])?;
        pixels.write_all(row)?;
    }
    let pixels = pixels.finish()?;
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // Bit depth 1, colour type 0 (greyscale), deflate, adaptive filtering, no interlace.
    header.extend_from_slice(&[1, 0, 0, 0, 0]);
    let mut png = Vec::with_capacity(SIGNATURE.len() + 3 * 12 + header.len() + pixels.len());
    png.extend_from_slice(&SIGNATURE);
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &pixels);
    chunk(&mut png, b"IEND", &[]);
    Ok(png)
}

/// Appends one chunk: its length, type, data, and the CRC-32 of type and data.
fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    // The data of this module's chunks is far below PNG's 2^31 bytes.
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    png.extend_from_slice(&crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// The chunks of a PNG, their CRCs checked: `(type, data)`.
    fn chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(png[..8], SIGNATURE);
        let (mut rest, mut found) = (&png[8..], Vec::new());
        while !rest.is_empty() {
            let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = rest[4..8].try_into().unwrap();
            let data = rest[8..8 + length].to_vec();
            let crc = u32::from_be_bytes(rest[8 + length..12 + length].try_into().unwrap());
            assert_eq!(crc, crc32fast::hash(&rest[4..8 + length]), "the CRC of {kind:?}");
            found.push((kind, data));
            rest = &rest[12 + length..];
        }
        found
    }

    #[test]
    fn a_bilevel_image_is_a_png_whose_pixels_read_back() {
        // 10 × 3: a black first column, a white row, a checkerboard.
        let rows: [[u8; 2]; 3] = [[0b0111_1111, 0b1100_0000], [0xff, 0xc0], [0b0101_0101, 0b0100_0000]];
        let png = bilevel(10, rows.iter().map(|r| &r[..])).unwrap();
        let chunks = chunks(&png);
        let kinds: Vec<&[u8; 4]> = chunks.iter().map(|(kind, _)| kind).collect();
        assert_eq!(kinds, [b"IHDR", b"IDAT", b"IEND"]);
        assert_eq!(chunks[0].1, [0, 0, 0, 10, 0, 0, 0, 3, 1, 0, 0, 0, 0]);
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&chunks[1].1[..]).read_to_end(&mut raw).unwrap();
        assert_eq!(raw, [0, 0x7f, 0xc0, 0, 0xff, 0xc0, 0, 0x55, 0x40]);
    }

    #[test]
    fn a_row_of_the_wrong_length_is_refused() {
        assert!(bilevel(9, [&[0u8][..]].into_iter()).is_err());
    }
}
