//! Reading one image file as 8-bit RGB.

use std::path::Path;

use image::RgbImage;

use crate::{Error, Result};

/// The image at `path` (JPEG or PNG, told by its bytes) as 8-bit RGB; a
/// missing, truncated or undecodable file is an error naming it.
pub fn read_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let format = image::guess_format(&bytes)
        .map_err(|_| Error::bad_file(path, "not a JPEG or PNG image (unknown signature)"))?;
    // The JPEG decoder fills a cut-off scan with grey instead of failing.
    if format == image::ImageFormat::Jpeg && !jpeg_is_complete(&bytes) {
        return Err(Error::bad_file(
            path,
            format!(
                "truncated JPEG ({} bytes, no end-of-image marker after the last scan)",
                bytes.len()
            ),
        ));
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(&bytes), format);
    // Hostile headers (a 60000 x 60000 JPEG) fail instead of allocating gigabytes.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(256 << 20);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| Error::bad_file(path, format!("cannot decode {format:?} image: {e}")))?;
    Ok(img.into_rgb8())
}

/// Whether the last scan of a JPEG is followed by its end-of-image marker.
///
/// Entropy-coded data escapes 0xFF as 0xFF 0x00 and only restart markers
/// (0xFFD0-0xFFD7) appear inside it, so the last start-of-scan (0xFFDA) and
/// end-of-image (0xFFD9) markers found are the main image's, whatever an
/// embedded thumbnail holds before them.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |m: u8| bytes.windows(2).rposition(|w| w == [0xFF, m]);
    matches!((last(0xDA), last(0xD9)), (Some(sos), Some(eoi)) if eoi > sos)
}
