//! Siemens CSA headers: the private (0029,xx10) image and (0029,xx20) series blobs where Siemens
//! MR keeps what standard attributes do not say (the number of slices in a mosaic, the slice
//! normal's sign, slice times, b-values and gradient directions, the phase-encoding polarity).
//!
//! The layout, as nibabel's `csareader` and dcm2niix read it: an optional `SV10\4\3\2\1` magic
//! (CSA2; without it CSA1), the tag count and a check word, then per tag a 64-byte name, VM, a
//! 4-byte VR, SyngoDT, the item count and a check word; per item four 32-bit words (the second
//! is the length in CSA2; in CSA1 the first minus the item count of tag 1) and the text, padded
//! to 4 bytes. Every count and length is checked against the blob before use.

/// Most tags and items per tag accepted (nibabel's `MAX_CSA_ITEMS`): more means a corrupt blob.
const MAX_ITEMS: usize = 1000;

/// One CSA element: its VR and its values as text.
#[derive(Clone, Debug, PartialEq)]
pub struct CsaElement {
    /// Name (e.g. `NumberOfImagesInMosaic`).
    pub name: String,
    /// The VR Siemens gives it (`IS`, `FD`, `DS`, `SL`, `UL`, `CS`, `LO`...).
    pub vr: String,
    /// The values, as the text items hold them (up to their NUL). Numeric elements keep only
    /// the non-empty items (the rest are padding).
    pub items: Vec<String>,
}

/// A parsed CSA header.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsaHeader {
    /// The elements in the order stored.
    pub elements: Vec<CsaElement>,
}

fn numeric(vr: &str) -> bool {
    matches!(vr, "FL" | "FD" | "DS" | "IS" | "SL" | "SS" | "UL" | "US")
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!(
                "CSA header ends inside {what} (needs {n} bytes at offset {}, has {})",
                self.at,
                self.bytes.len()
            )
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn i32(&mut self, what: &str) -> Result<i32, String> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Text up to the first NUL (as nibabel reads items: blanks are kept).
fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl CsaHeader {
    /// Parses a CSA1 or CSA2 blob; the error says what is wrong and where.
    pub fn parse(bytes: &[u8]) -> Result<CsaHeader, String> {
        let mut c = Cursor { bytes, at: 0 };
        let csa2 = bytes.starts_with(b"SV10");
        if csa2 {
            c.take(8, "the SV10 magic")?;
        }
        let n_tags = c.u32("the tag count")? as usize;
        c.u32("the check word")?;
        if n_tags == 0 || n_tags > MAX_ITEMS {
            return Err(format!("CSA header declares {n_tags} tags, expected 1 to {MAX_ITEMS}"));
        }
        let mut elements = Vec::with_capacity(n_tags);
        // CSA1 item lengths are stored offset by the item count of tag 1 (nibabel's reading).
        let mut tag1_items = 0i64;
        for tag in 0..n_tags {
            let name = c_text(c.take(64, "a tag name")?).trim().to_owned();
            let vm = c.i32("a tag's VM")?;
            let vr = c_text(c.take(4, "a tag's VR")?).trim().to_owned();
            c.i32("a tag's SyngoDT")?;
            let n_items = c.i32("a tag's item count")?;
            c.i32("a tag's check word")?;
            if n_items < 0 || n_items as usize > MAX_ITEMS {
                return Err(format!("CSA tag {name} declares {n_items} items"));
            }
            if tag == 1 {
                tag1_items = i64::from(n_items);
            }
            let n_values = if vm == 0 { n_items as usize } else { vm.max(0) as usize };
            let mut items = Vec::new();
            for item in 0..n_items as usize {
                let words = [
                    c.i32("an item header")?,
                    c.i32("an item header")?,
                    c.i32("an item header")?,
                    c.i32("an item header")?,
                ];
                let len = if csa2 { i64::from(words[1]) } else { i64::from(words[0]) - tag1_items };
                if !csa2 && (len < 0 || c.at as i64 + len > bytes.len() as i64) {
                    break; // CSA1's last items may be stored without their text (nibabel: stop)
                }
                let len = usize::try_from(len)
                    .map_err(|_| format!("CSA tag {name} item {item} has length {len}"))?;
                let text = c_text(c.take(len, &format!("item {item} of CSA tag {name}"))?);
                c.take((4 - len % 4) % 4, "item padding").ok();
                if item < n_values && !(numeric(&vr) && text.trim().is_empty()) {
                    items.push(text);
                }
            }
            elements.push(CsaElement { name, vr, items });
        }
        Ok(CsaHeader { elements })
    }

    /// The element called `name`.
    pub fn get(&self, name: &str) -> Option<&CsaElement> {
        self.elements.iter().find(|e| e.name == name)
    }

    /// The numeric values of `name`; `None` when absent, empty or not numbers.
    pub fn floats(&self, name: &str) -> Option<Vec<f64>> {
        let e = self.get(name)?;
        let values: Option<Vec<f64>> =
            e.items.iter().map(|t| t.trim().parse::<f64>().ok()).collect();
        values.filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()))
    }

    /// The first numeric value of `name`.
    pub fn float(&self, name: &str) -> Option<f64> {
        self.floats(name).map(|v| v[0])
    }

    /// The first value of `name` as text (as stored: blanks kept).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|e| e.items.first()).map(String::as_str)
    }
}

/// The `key = value` lines between `### ASCCONV BEGIN` and `### ASCCONV END ###` of the series
/// header's MrPhoenixProtocol, values unquoted (the protocol as the scanner ran it).
pub fn ascconv(protocol: &str) -> Vec<(String, String)> {
    let Some(start) = protocol.find("### ASCCONV BEGIN") else { return Vec::new() };
    let body = &protocol[start..];
    let body = &body[body.find('\n').map_or(body.len(), |i| i + 1)..];
    let end = body.find("### ASCCONV END").unwrap_or(body.len());
    body[..end]
        .lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.trim();
            let (key, value) = line.split_once('=')?;
            let value = value.trim().trim_matches('"');
            Some((key.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(name: &str, vr: &str, vm: i32, items: &[&str]) -> Vec<u8> {
        let mut b = Vec::new();
        let mut n = name.as_bytes().to_vec();
        n.resize(64, 0);
        b.extend(n);
        b.extend(vm.to_le_bytes());
        let mut v = vr.as_bytes().to_vec();
        v.resize(4, 0);
        b.extend(v);
        b.extend(0i32.to_le_bytes());
        b.extend((items.len() as i32).to_le_bytes());
        b.extend(77i32.to_le_bytes());
        for t in items {
            let len = t.len() as i32 + 1;
            for w in [len, len, 77, len] {
                b.extend(w.to_le_bytes());
            }
            b.extend(t.as_bytes());
            b.push(0);
            b.resize(b.len() + (4 - len as usize % 4) % 4, 0);
        }
        b
    }

    fn csa2(elements: &[Vec<u8>]) -> Vec<u8> {
        let mut b = b"SV10\x04\x03\x02\x01".to_vec();
        b.extend((elements.len() as u32).to_le_bytes());
        b.extend(77u32.to_le_bytes());
        for e in elements {
            b.extend(e);
        }
        b
    }

    #[test]
    fn csa2_values_and_padding_items() {
        let blob = csa2(&[
            element("NumberOfImagesInMosaic", "US", 1, &["48"]),
            element("SliceNormalVector", "FD", 3, &["0.0", "0.0052", "0.99998", ""]),
            element("ImaCoilString", "LO", 1, &["T:HEA;HEP"]),
            element("B_value", "IS", 1, &[]),
        ]);
        let h = CsaHeader::parse(&blob).unwrap();
        assert_eq!(h.float("NumberOfImagesInMosaic"), Some(48.0));
        assert_eq!(h.floats("SliceNormalVector"), Some(vec![0.0, 0.0052, 0.99998]));
        assert_eq!(h.text("ImaCoilString"), Some("T:HEA;HEP"));
        assert_eq!(h.float("B_value"), None);
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let blob = csa2(&[
            element("MosaicRefAcqTimes", "FD", 0, &["0", "52.5", "105"]),
            element("PhaseEncodingDirectionPositive", "IS", 1, &["1"]),
        ]);
        assert!(CsaHeader::parse(&blob).is_ok());
        for cut in 0..blob.len() - 1 {
            // Cut short, a blob either fails or (cut inside trailing padding) parses as a prefix.
            if let Ok(h) = CsaHeader::parse(&blob[..cut]) {
                assert!(h.elements.len() <= 2);
            }
        }
        let mut huge = blob.clone();
        huge[8..12].copy_from_slice(&5000u32.to_le_bytes());
        assert!(CsaHeader::parse(&huge).unwrap_err().contains("5000 tags"));
    }

    #[test]
    fn ascconv_lines() {
        let text = "junk\n### ASCCONV BEGIN object=MrProtDataImpl@MrProtocolData ###\n\
            sSliceArray.lSize = 48\n\
            sSliceArray.ucMode = 0x4 # interleaved\n\
            tSequenceFileName = \"%SiemensSeq%\\ep2d_diff\"\n\
            ### ASCCONV END ###\nafter = 1";
        let lines = ascconv(text);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], ("sSliceArray.lSize".into(), "48".into()));
        assert_eq!(lines[1].1, "0x4");
        assert_eq!(lines[2].1, "%SiemensSeq%\\ep2d_diff");
    }
}
