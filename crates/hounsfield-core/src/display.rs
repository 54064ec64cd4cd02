//! Display windows: which values map onto black..white (or 0..1), the one definition every
//! crate shares: CT presets, a window over a range, and one over a volume's 1st..99th
//! percentiles.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::volume::Volume;

/// A display window: values `centre ± width / 2` map onto 0..1 (black..white).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Centre (the level; HU for CT).
    pub centre: f64,
    /// Width (> 0).
    pub width: f64,
}

/// The CT windows in common clinical use, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowPreset {
    /// Brain (level 40, width 80).
    Brain,
    /// Subdural (level 75, width 215).
    Subdural,
    /// Stroke (level 40, width 40).
    Stroke,
    /// Bone (level 400, width 1800).
    Bone,
    /// Lung (level -600, width 1500).
    Lung,
    /// Soft tissue / mediastinum (level 50, width 350).
    SoftTissue,
    /// Abdomen (level 40, width 400).
    Abdomen,
    /// Liver (level 60, width 160).
    Liver,
}

impl WindowPreset {
    /// Every preset, in the order listed.
    pub const ALL: [WindowPreset; 8] = [
        WindowPreset::Brain,
        WindowPreset::Subdural,
        WindowPreset::Stroke,
        WindowPreset::Bone,
        WindowPreset::Lung,
        WindowPreset::SoftTissue,
        WindowPreset::Abdomen,
        WindowPreset::Liver,
    ];

    /// The name: brain, subdural, stroke, bone, lung, soft-tissue, abdomen, liver.
    pub fn name(self) -> &'static str {
        match self {
            WindowPreset::Brain => "brain",
            WindowPreset::Subdural => "subdural",
            WindowPreset::Stroke => "stroke",
            WindowPreset::Bone => "bone",
            WindowPreset::Lung => "lung",
            WindowPreset::SoftTissue => "soft-tissue",
            WindowPreset::Abdomen => "abdomen",
            WindowPreset::Liver => "liver",
        }
    }

    /// The window.
    pub fn window(self) -> Window {
        let (centre, width) = match self {
            WindowPreset::Brain => (40.0, 80.0),
            WindowPreset::Subdural => (75.0, 215.0),
            WindowPreset::Stroke => (40.0, 40.0),
            WindowPreset::Bone => (400.0, 1800.0),
            WindowPreset::Lung => (-600.0, 1500.0),
            WindowPreset::SoftTissue => (50.0, 350.0),
            WindowPreset::Abdomen => (40.0, 400.0),
            WindowPreset::Liver => (60.0, 160.0),
        };
        Window { centre, width }
    }
}

impl Window {
    /// A window by centre (level) and width.
    pub fn new(centre: f64, width: f64) -> Result<Self> {
        if !(centre.is_finite() && width.is_finite() && width > 0.0) {
            return Err(Error::param(
                "window",
                format!("needs a finite centre and a width > 0, got centre {centre} width {width}"),
            ));
        }
        Ok(Window { centre, width })
    }

    /// The window over `[lo, hi]`.
    pub fn from_range(lo: f64, hi: f64) -> Result<Self> {
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            return Err(Error::param(
                "window",
                format!("needs finite lo < hi, found {lo} and {hi}"),
            ));
        }
        Ok(Window { centre: (lo + hi) / 2.0, width: hi - lo })
    }

    /// A preset by name (see [`WindowPreset::name`]; `mediastinum` is soft tissue).
    pub fn preset(name: &str) -> Result<Self> {
        let name = name.to_ascii_lowercase().replace('_', "-");
        let name = if name == "mediastinum" { "soft-tissue".to_owned() } else { name };
        WindowPreset::ALL.iter().find(|p| p.name() == name).map(|p| p.window()).ok_or_else(|| {
            let known: Vec<&str> = WindowPreset::ALL.iter().map(|p| p.name()).collect();
            Error::param("preset", format!("unknown window `{name}`; known: {}", known.join(", ")))
        })
    }

    /// The 1st to 99th percentile of the volume's finite values (robust to a few extreme
    /// voxels); a constant volume gets a window of width 1 around its value.
    pub fn auto<T: Element>(volume: &Volume<T>) -> Result<Self> {
        let mut values: Vec<f64> =
            volume.as_slice().iter().map(|v| v.to_f64()).filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return Err(Error::Empty("volume without finite values".into()));
        }
        let k = values.len() - 1;
        let lo = *values.select_nth_unstable_by(k / 100, f64::total_cmp).1;
        let hi = *values.select_nth_unstable_by(k * 99 / 100, f64::total_cmp).1;
        if hi > lo { Self::from_range(lo, hi) } else { Self::from_range(lo - 0.5, lo + 0.5) }
    }

    /// Where `v` lands in 0..1 (clamped).
    #[inline]
    pub fn unit(&self, v: f64) -> f64 {
        ((v - (self.centre - self.width / 2.0)) / self.width).clamp(0.0, 1.0)
    }

    /// The grey level (0..=255) of `v`.
    #[inline]
    pub fn grey(&self, v: f64) -> u8 {
        (self.unit(v) * 255.0).round() as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Geometry;

    #[test]
    fn presets_ranges_and_percentiles() {
        let bone = Window::preset("bone").unwrap();
        assert_eq!((bone.centre, bone.width), (400.0, 1800.0));
        assert_eq!(Window::preset("Mediastinum").unwrap(), WindowPreset::SoftTissue.window());
        assert!(Window::preset("skin").unwrap_err().to_string().contains("liver"));
        let w = Window::from_range(-100.0, 300.0).unwrap();
        assert_eq!((w.unit(-100.0), w.unit(100.0), w.unit(1e9)), (0.0, 0.5, 1.0));
        assert_eq!((w.grey(-1e9), w.grey(300.0)), (0, 255));
        assert!(Window::new(0.0, 0.0).is_err() && Window::from_range(1.0, 1.0).is_err());
        let g = Geometry::axis_aligned([1.0; 3], [0.0; 3]).unwrap();
        let v = Volume::from_vec([1, 1, 101], (0..101).map(|i| i as f32).collect(), g).unwrap();
        let auto = Window::auto(&v).unwrap();
        assert_eq!((auto.centre - auto.width / 2.0, auto.centre + auto.width / 2.0), (1.0, 99.0));
    }
}
