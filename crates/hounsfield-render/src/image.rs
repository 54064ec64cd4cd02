//! An RGB picture and its PNG encoding.

use std::path::Path;

use hounsfield_core::{Error, Result, fs};

/// An 8-bit RGB picture, rows from the top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` pixels, row by row.
    pub pixels: Vec<[u8; 3]>,
}

impl RgbImage {
    /// A `width x height` picture filled with `colour`.
    pub fn new(width: usize, height: usize, colour: [u8; 3]) -> Self {
        RgbImage { width, height, pixels: vec![colour; width * height] }
    }

    /// The pixel at column `x`, row `y`.
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        self.pixels[y * self.width + x]
    }

    /// Sets the pixel at column `x`, row `y`.
    pub fn set(&mut self, x: usize, y: usize, colour: [u8; 3]) {
        self.pixels[y * self.width + x] = colour;
    }

    /// Copies `tile` with its top-left corner at `(x, y)` (clipped to this picture).
    pub fn paste(&mut self, tile: &RgbImage, x: usize, y: usize) {
        for ty in 0..tile.height.min(self.height.saturating_sub(y)) {
            for tx in 0..tile.width.min(self.width.saturating_sub(x)) {
                self.set(x + tx, y + ty, tile.get(tx, ty));
            }
        }
    }

    /// The picture as PNG bytes.
    pub fn encode_png(&self) -> Result<Vec<u8>> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::Empty("picture with no pixels".into()));
        }
        let (w, h) = (u32::try_from(self.width), u32::try_from(self.height));
        let (Ok(w), Ok(h)) = (w, h) else {
            return Err(Error::TooLarge(format!("{} x {} picture", self.width, self.height)));
        };
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let err = |e: png::EncodingError| Error::param("png", e.to_string());
        let mut writer = encoder.write_header().map_err(err)?;
        let data: Vec<u8> = self.pixels.iter().flatten().copied().collect();
        writer.write_image_data(&data).map_err(err)?;
        writer.finish().map_err(err)?;
        Ok(bytes)
    }

    /// Writes the picture as a PNG file, atomically.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        fs::write_bytes_atomic(path, &self.encode_png()?)
    }
}

/// Writes 16-bit grey samples (`width * height`, rows from the top) as a PNG file, atomically:
/// depth maps and other measurements that 8 bits would coarsen.
pub fn write_grey16_png(path: &Path, width: usize, height: usize, samples: &[u16]) -> Result<()> {
    if width == 0 || height == 0 || width.checked_mul(height) != Some(samples.len()) {
        return Err(Error::param(
            "png",
            format!("{} samples for {width} x {height}", samples.len()),
        ));
    }
    let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(Error::TooLarge(format!("{width} x {height} picture")));
    };
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Sixteen);
    let err = |e: png::EncodingError| Error::param("png", e.to_string());
    let mut writer = encoder.write_header().map_err(err)?;
    let data: Vec<u8> = samples.iter().flat_map(|v| v.to_be_bytes()).collect();
    writer.write_image_data(&data).map_err(err)?;
    writer.finish().map_err(err)?;
    fs::write_bytes_atomic(path, &bytes)
}

/// Reads a 16-bit grey PNG as written by [`write_grey16_png`]: `(width, height, samples)`.
pub fn read_grey16_png(path: &Path) -> Result<(usize, usize, Vec<u16>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let bad = |what: String| Error::param("png", format!("{}: {what}", path.display()));
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
    let size = reader.output_buffer_size().ok_or_else(|| bad("image too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| bad(e.to_string()))?;
    if info.color_type != png::ColorType::Grayscale || info.bit_depth != png::BitDepth::Sixteen {
        return Err(bad(format!(
            "{:?} {:?}, expected 16-bit grey",
            info.color_type, info.bit_depth
        )));
    }
    let samples = buf[..info.buffer_size()]
        .chunks_exact(2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .collect();
    Ok((info.width as usize, info.height as usize, samples))
}

/// Reads an 8-bit RGB or grey PNG (for tests and round trips).
pub fn read_png(path: &Path) -> Result<RgbImage> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let bad = |what: String| Error::param("png", format!("{}: {what}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
    let size = reader.output_buffer_size().ok_or_else(|| bad("image too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| bad(e.to_string()))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| match channels {
            1 | 2 => [p[0]; 3],
            _ => [p[0], p[1], p[2]],
        })
        .collect();
    Ok(RgbImage { width: w, height: h, pixels })
}
