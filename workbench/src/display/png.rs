//! Grayscale and RGB images as PNG, and grids of MNIST digits and of RGB images for notebooks.

use std::path::Path;

use base64::Engine as _;

use super::evcxr;
use crate::{Error, Result};

/// Side of one MNIST digit in pixels.
pub const DIGIT_SIDE: usize = 28;
/// Nearest-neighbour upscaling factor of digits in [`digits_png`].
pub const SCALE: usize = 4;
/// Width of the gray border around and between tiles in [`digits_png`].
pub const GAP: usize = 2;
/// Gray level of the border in [`digits_png`].
pub const GAP_GRAY: u8 = 128;
/// Height of the label strip under each tile when labels are given.
pub const LABEL_HEIGHT: usize = 5 * GLYPH_SCALE + 6;

const GLYPH_SCALE: usize = 3;

/// 3x5 bitmaps of the digits 0-9, one row of three bits per entry (MSB left).
const GLYPHS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111], // 0
    [0b010, 0b110, 0b010, 0b010, 0b111], // 1
    [0b111, 0b001, 0b111, 0b100, 0b111], // 2
    [0b111, 0b001, 0b111, 0b001, 0b111], // 3
    [0b101, 0b101, 0b111, 0b001, 0b001], // 4
    [0b111, 0b100, 0b111, 0b001, 0b111], // 5
    [0b111, 0b100, 0b111, 0b101, 0b111], // 6
    [0b111, 0b001, 0b010, 0b010, 0b010], // 7
    [0b111, 0b101, 0b111, 0b101, 0b111], // 8
    [0b111, 0b101, 0b111, 0b001, 0b111], // 9
];

/// An 8-bit grayscale or RGB image with its PNG encoding; evcxr shows it as `image/png`.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    width: usize,
    height: usize,
    channels: usize,
    pixels: Vec<u8>,
    png: Vec<u8>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Image {{ {}x{} {}, {} PNG bytes }}",
            self.width,
            self.height,
            if self.channels == 3 { "RGB" } else { "gray" },
            self.png.len()
        )
    }
}

impl Image {
    /// Encodes row-major grayscale `pixels` of `width x height` as PNG.
    pub fn from_gray(width: usize, height: usize, pixels: Vec<u8>) -> Result<Self> {
        Self::encode(width, height, 1, pixels)
    }

    /// Encodes row-major RGB `pixels` (3 bytes per pixel) of `width x height` as PNG.
    pub fn from_rgb(width: usize, height: usize, pixels: Vec<u8>) -> Result<Self> {
        Self::encode(width, height, 3, pixels)
    }

    fn encode(width: usize, height: usize, channels: usize, pixels: Vec<u8>) -> Result<Self> {
        if width == 0 || height == 0 || pixels.len() != width * height * channels {
            return Err(Error::Shape(format!(
                "image: {} bytes do not make a {width}x{height} image of {channels} channel(s)",
                pixels.len()
            )));
        }
        let (w, h) = match (u32::try_from(width), u32::try_from(height)) {
            (Ok(w), Ok(h)) => (w, h),
            _ => {
                return Err(Error::Shape(format!(
                    "image: {width}x{height} is too large for PNG"
                )))
            }
        };
        let mut png = Vec::new();
        let mut enc = ::png::Encoder::new(&mut png, w, h);
        enc.set_color(if channels == 3 {
            ::png::ColorType::Rgb
        } else {
            ::png::ColorType::Grayscale
        });
        enc.set_depth(::png::BitDepth::Eight);
        let err = |e: ::png::EncodingError| Error::Data(format!("image: png encoding: {e}"));
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(&pixels).map_err(err)?;
        writer.finish().map_err(err)?;
        Ok(Image {
            width,
            height,
            channels,
            pixels,
            png,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Bytes per pixel: 1 (gray) or 3 (RGB).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Row-major pixels, [`Image::channels`] bytes each.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The PNG file bytes.
    pub fn png_bytes(&self) -> &[u8] {
        &self.png
    }

    /// Writes the PNG file to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, &self.png).map_err(|e| Error::io(path, e))
    }

    /// The PNG bytes in standard base64 with padding.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.png)
    }

    /// An HTML `<img>` with the PNG inlined as a data URL.
    pub fn to_html(&self) -> String {
        format!(
            "<img src=\"data:image/png;base64,{}\" width=\"{}\" height=\"{}\" style=\"image-rendering:pixelated\">",
            self.to_base64(),
            self.width,
            self.height
        )
    }

    /// The evcxr `image/png` block with the base64 PNG.
    pub fn evcxr_block(&self) -> String {
        evcxr::mime_block("image/png", &self.to_base64())
    }

    /// Shows the image in an evcxr notebook.
    pub fn evcxr_display(&self) {
        evcxr::print_block(&self.evcxr_block());
    }
}

/// Top-left corner of tile (`r`, `c`) in a [`digits_png`] grid with label strips of `label_h`.
pub fn tile_origin(r: usize, c: usize, label_h: usize) -> (usize, usize) {
    let side = DIGIT_SIDE * SCALE;
    (GAP + c * (side + GAP), GAP + r * (side + label_h + GAP))
}

/// Tiles the first `rows * cols` 28x28 digits of `images` in a grid, each scaled up 4x, with optional labels drawn under them.
pub fn digits_png(images: &[u8], rows: usize, cols: usize, labels: Option<&[u8]>) -> Result<Image> {
    let n = rows * cols;
    let px = DIGIT_SIDE * DIGIT_SIDE;
    if n == 0 {
        return Err(Error::Data(format!(
            "digits_png: empty grid of {rows}x{cols} tiles"
        )));
    }
    if images.len() < n * px {
        return Err(Error::Shape(format!(
            "digits_png: {rows}x{cols} tiles need {} bytes of 28x28 images, got {}",
            n * px,
            images.len()
        )));
    }
    if let Some(l) = labels {
        if l.len() < n {
            return Err(Error::Shape(format!(
                "digits_png: {n} tiles need {n} labels, got {}",
                l.len()
            )));
        }
        if let Some((i, &bad)) = l[..n].iter().enumerate().find(|(_, &v)| v > 9) {
            return Err(Error::Shape(format!(
                "digits_png: label {bad} at index {i} is not a digit 0-9"
            )));
        }
    }
    let side = DIGIT_SIDE * SCALE;
    let label_h = if labels.is_some() { LABEL_HEIGHT } else { 0 };
    let width = cols * side + (cols + 1) * GAP;
    let height = rows * (side + label_h) + (rows + 1) * GAP;
    let mut pixels = vec![GAP_GRAY; width * height];
    for r in 0..rows {
        for c in 0..cols {
            let k = r * cols + c;
            let digit = &images[k * px..(k + 1) * px];
            let (x0, y0) = tile_origin(r, c, label_h);
            for y in 0..side {
                let src = &digit[(y / SCALE) * DIGIT_SIDE..(y / SCALE + 1) * DIGIT_SIDE];
                let dst = &mut pixels[(y0 + y) * width + x0..(y0 + y) * width + x0 + side];
                for (x, d) in dst.iter_mut().enumerate() {
                    *d = src[x / SCALE];
                }
            }
            if let Some(l) = labels {
                draw_label(&mut pixels, width, x0, y0 + side, side, l[k]);
            }
        }
    }
    Image::from_gray(width, height, pixels)
}

/// Tiles `side x side` RGB images (row-major, 3 bytes per pixel) in rows of `cols`, each
/// scaled up `scale` times (nearest neighbour), with a gray border around and between them.
pub fn rgb_grid_png(tiles: &[Vec<u8>], side: usize, cols: usize, scale: usize) -> Result<Image> {
    if tiles.is_empty() || side == 0 || cols == 0 || scale == 0 {
        return Err(Error::Data(format!(
            "rgb_grid_png: {} tiles of side {side} in {cols} columns at scale {scale}: nothing to draw",
            tiles.len()
        )));
    }
    if let Some((i, t)) = tiles
        .iter()
        .enumerate()
        .find(|(_, t)| t.len() != side * side * 3)
    {
        return Err(Error::Shape(format!(
            "rgb_grid_png: tile {i} has {} bytes, a {side}x{side} RGB tile has {}",
            t.len(),
            side * side * 3
        )));
    }
    let rows = tiles.len().div_ceil(cols);
    let cols = cols.min(tiles.len());
    let s = side * scale;
    let width = cols * s + (cols + 1) * GAP;
    let height = rows * s + (rows + 1) * GAP;
    let mut pixels = vec![GAP_GRAY; width * height * 3];
    for (k, tile) in tiles.iter().enumerate() {
        let (x0, y0) = (GAP + (k % cols) * (s + GAP), GAP + (k / cols) * (s + GAP));
        for y in 0..s {
            let src = &tile[(y / scale) * side * 3..(y / scale + 1) * side * 3];
            let at = ((y0 + y) * width + x0) * 3;
            for (x, d) in pixels[at..at + s * 3].chunks_exact_mut(3).enumerate() {
                d.copy_from_slice(&src[(x / scale) * 3..(x / scale) * 3 + 3]);
            }
        }
    }
    Image::from_rgb(width, height, pixels)
}

/// Draws digit `d` white on a black strip of `side x LABEL_HEIGHT` at (`x0`, `y0`).
fn draw_label(pixels: &mut [u8], width: usize, x0: usize, y0: usize, side: usize, d: u8) {
    for y in 0..LABEL_HEIGHT {
        pixels[(y0 + y) * width + x0..(y0 + y) * width + x0 + side].fill(0);
    }
    let gx = x0 + (side - 3 * GLYPH_SCALE) / 2;
    let gy = y0 + (LABEL_HEIGHT - 5 * GLYPH_SCALE) / 2;
    for (row, bits) in GLYPHS[d as usize].iter().enumerate() {
        for col in 0..3 {
            if bits & (0b100 >> col) != 0 {
                for dy in 0..GLYPH_SCALE {
                    let y = gy + row * GLYPH_SCALE + dy;
                    let x = gx + col * GLYPH_SCALE;
                    pixels[y * width + x..y * width + x + GLYPH_SCALE].fill(255);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_grid_places_scaled_tiles_between_gray_borders() {
        // two 1x1 tiles, red and blue, scaled 2x in one row: [gap, red, red, gap, blue, blue, gap]
        let grid = rgb_grid_png(&[vec![255, 0, 0], vec![0, 0, 255]], 1, 2, 2).unwrap();
        assert_eq!(
            (grid.width(), grid.height(), grid.channels()),
            (4 + 3 * GAP, 2 + 2 * GAP, 3)
        );
        let px = |x: usize, y: usize| &grid.pixels()[(y * grid.width() + x) * 3..][..3];
        assert_eq!(px(0, 0), [GAP_GRAY; 3]);
        assert_eq!(px(GAP + 1, GAP + 1), [255, 0, 0]);
        assert_eq!(px(2 * GAP + 2, GAP), [0, 0, 255]);
        assert!(format!("{grid:?}").contains("RGB"));
        let e = rgb_grid_png(&[vec![0; 5]], 1, 1, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tile 0 has 5 bytes"), "{e}");
    }
}
